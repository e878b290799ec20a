//! The one `resist` binary: command-line parsing, configuration layering,
//! logging and signals around the library crates. Each subcommand is a module
//! that owns its arguments and its `run`.

// The doc comments of the argument structs are clap's help text: their
// indented examples are shell commands, not Rust.
#![allow(rustdoc::invalid_rust_codeblocks)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod admin;
pub mod coordinator;
pub mod grants;
pub mod lab;
pub mod layered;
pub mod logging;
pub mod node;
pub mod operator;
pub mod probe;
pub mod shared_args;
mod signals;
pub mod up;

/// resist: proxies for censored users, measured honestly, paid in Bitcoin.
///
/// See everything work together on this machine, in one command (a local
/// demonstration network: a coordinator, two nodes, two probes):
///
///     resist up
///
/// Run a SOCKS5 proxy node that censored users can reach from Telegram or any
/// SOCKS5 application, safely and privately, in one command:
///
///     resist node
///
/// The funder runs a coordinator; operators register their nodes with it and
/// prove their Bitcoin payout address by signing; the funder enrols probes:
///
///     resist coordinator --network signet
///     resist operator register --coordinator URL --payout ADDR --node HOST:PORT
///     resist admin probe enrol --public-key HEX --region censored:RU
///
/// Probes measure from censored and free networks which nodes really relay:
///
///     resist probe --coordinator URL --region censored:RU
///
/// The funder pays grants from verified service, one epoch at a time:
///
///     resist grants close --epoch 1 --budget SATS
///
/// And the whole loop against a censor, in network namespaces (root):
///
///     resist lab ban
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
    Coordinator(coordinator::CoordinatorArgs),
    Operator(operator::OperatorArgs),
    Admin(admin::AdminArgs),
    Probe(probe::ProbeArgs),
    Grants(grants::GrantsArgs),
    Lab(lab::LabArgs),
    Up(up::UpArgs),
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

/// A single-threaded runtime for the commands that make a few API calls.
pub(crate) fn client_runtime() -> Result<tokio::runtime::Runtime, Failure> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Runtime)
}

/// resist's data directory when none is configured: `$XDG_DATA_HOME/resist`,
/// else `~/.local/share/resist`, else `./resist-data`.
pub fn default_data_dir() -> PathBuf {
    match (std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME")) {
        (Some(xdg), _) if !xdg.is_empty() => PathBuf::from(xdg).join("resist"),
        (_, Some(home)) if !home.is_empty() => PathBuf::from(home).join(".local/share/resist"),
        _ => PathBuf::from("resist-data"),
    }
}

/// Parses the command line and runs the chosen subcommand.
pub fn main() -> ExitCode {
    // A child of `resist up` stops when `resist up` does, even if killed.
    resist_process::parent::die_with_parent();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Node(args) => node::run(args),
        Command::Coordinator(args) => coordinator::run(args),
        Command::Operator(args) => operator::run(args),
        Command::Admin(args) => admin::run(args),
        Command::Probe(args) => probe::run(args),
        Command::Grants(args) => grants::run(args),
        Command::Lab(args) => lab::run(args),
        Command::Up(args) => up::run(args),
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
