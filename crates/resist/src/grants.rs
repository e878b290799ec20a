//! `resist grants`: the funder's grant epochs. For now `verify`, which anyone
//! can run on a published report; closing epochs and the payout PSBT follow.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use resist_grants::{Report, verify};

use crate::Failure;

/// Grants: epochs scored from verified service, paid in one batched transaction.
#[derive(Debug, Clone, Args)]
pub struct GrantsArgs {
    #[command(subcommand)]
    pub command: GrantsCommand,
}

/// What to do.
#[derive(Debug, Clone, Subcommand)]
pub enum GrantsCommand {
    /// Recompute a published epoch report and say whether every amount follows.
    ///
    /// Reads the report's inputs (nodes, their OK windows and throughput, the
    /// operators, the budget and the rules' parameters), scores them again with
    /// the same code the coordinator uses, and compares every published number.
    /// Exits 0 when all follow, 1 when any differs (each difference is listed),
    /// 2 when the file cannot be read as a report. Changes nothing.
    #[command(verbatim_doc_comment)]
    Verify {
        /// The report, as published (JSON)
        report: PathBuf,
    },
}

/// Runs `resist grants`.
pub fn run(args: GrantsArgs) -> Result<(), Failure> {
    match args.command {
        GrantsCommand::Verify { report } => {
            let text = std::fs::read_to_string(&report)
                .with_context(|| format!("cannot read {}", report.display()))
                .map_err(Failure::Config)?;
            let parsed = Report::from_json(&text)
                .with_context(|| format!("{} is not an epoch report", report.display()))
                .map_err(Failure::Config)?;
            let verdict = verify(&parsed);
            println!("{verdict}");
            if verdict.is_ok() {
                Ok(())
            } else {
                Err(Failure::Runtime(anyhow::anyhow!(
                    "the report of epoch {} does not verify",
                    parsed.inputs.epoch
                )))
            }
        }
    }
}
