//! The one `resist` binary: command-line parsing, configuration layering,
//! logging and signals around the library crates. Each subcommand is a module
//! that owns its arguments and its `run`.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod layered;
pub mod logging;
pub mod node;

/// resist: proxies for censored users, measured honestly, paid in Bitcoin.
///
/// Run a SOCKS5 proxy node that censored users can reach from Telegram or any
/// SOCKS5 application, safely and privately, in one command:
///
///     resist node
///
/// More roles (coordinator, probe, operator, grants, lab, up) arrive as the
/// project grows; see the README.
#[derive(Debug, Parser)]
#[command(
    name = "resist",
    version,
    propagate_version = true,
    max_term_width = 100,
    verbatim_doc_comment
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Node(node::NodeArgs),
}

/// Why the process exits non-zero. The class decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// The configuration or the command line is wrong (exit 2).
    Config(anyhow::Error),
    /// Something failed at run time: a port in use, a signal handler (exit 1).
    Runtime(anyhow::Error),
}

impl Failure {
    fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Config(_) => ExitCode::from(2),
            Failure::Runtime(_) => ExitCode::from(1),
        }
    }
}

/// Parses the command line and runs the chosen subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Node(args) => node::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let (Failure::Config(e) | Failure::Runtime(e)) = &failure;
            eprintln!("error: {e:#}");
            failure.exit_code()
        }
    }
}
