//! `resist grants`: the funder's grant epochs. `preview` scores a range of
//! measured windows without changing anything; `verify`, which anyone can run,
//! recomputes a published report. Closing epochs and the payout PSBT follow.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use resist_grants::{Report, verify};

use crate::Failure;
use crate::admin::DEFAULT_COORDINATOR;

/// Grants: epochs scored from verified service, paid in one batched transaction.
#[derive(Debug, Clone, Args)]
pub struct GrantsArgs {
    #[command(subcommand)]
    pub command: GrantsCommand,
}

/// What to do.
#[derive(Debug, Clone, Subcommand)]
pub enum GrantsCommand {
    /// Show what an epoch over recent windows would pay, without changing anything.
    ///
    /// The coordinator gathers every node's OK windows (a censored-region probe
    /// relayed) and throughput samples in the range, scores them with the rules in
    /// its `[grants]` configuration, and returns the report an epoch would publish.
    /// Needs the admin token. Next (not yet): `close` the epoch, then `psbt`.
    #[command(verbatim_doc_comment)]
    Preview {
        /// The coordinator's URL
        #[arg(long, value_name = "URL", env = "RESIST_COORDINATOR", default_value = DEFAULT_COORDINATOR)]
        coordinator: String,
        /// File holding the admin token [default: the coordinator's data directory/admin-token]
        #[arg(long, value_name = "FILE")]
        admin_token_file: Option<PathBuf>,
        /// Satoshis to distribute
        #[arg(long, value_name = "SATS")]
        budget: u64,
        /// Days of windows, ending now
        #[arg(long, value_name = "N", default_value_t = 7)]
        days: u32,
        /// Also write the report (JSON) here, for `resist grants verify`
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
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
        GrantsCommand::Preview {
            coordinator,
            admin_token_file,
            budget,
            days,
            json,
        } => {
            let client = crate::admin::admin_client(&coordinator, admin_token_file.as_deref())?;
            let report: Report = crate::client_runtime()?
                .block_on(async {
                    let now = resist_clock::Clock::now(&resist_clock::SystemClock).seconds();
                    let from = now - i64::from(days) * 86_400;
                    client
                        .get(&format!(
                            "/api/admin/grants/preview?budget_sat={budget}&from={from}&to={now}"
                        ))
                        .await
                })
                .map_err(|e| Failure::Runtime(e.into()))?;
            print!("{}", render(&report));
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&report)
                    .map_err(|e| Failure::Runtime(e.into()))?;
                std::fs::write(&path, text + "\n")
                    .with_context(|| format!("cannot write {}", path.display()))
                    .map_err(Failure::Runtime)?;
                println!("report written to {}", path.display());
            }
            Ok(())
        }
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

/// One line per operator, then the totals.
pub fn render(report: &Report) -> String {
    use std::fmt::Write as _;
    let r = &report.result;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>8}  {:<44} {:>10} {:>12} {:>12} {:>12}",
        "operator", "payout address", "points", "paid sat", "carried sat", "credit in"
    );
    for o in &r.per_operator {
        let _ = writeln!(
            out,
            "{:>8}  {:<44} {:>10} {:>12} {:>12} {:>12}{}",
            o.operator,
            o.payout_address,
            o.points,
            o.paid_sat,
            o.carried_out_sat,
            o.credit_in_sat,
            if o.capped { "  (capped)" } else { "" }
        );
    }
    let paid: u64 = r.per_operator.iter().map(|o| o.paid_sat).sum();
    let carried: u64 = r.per_operator.iter().map(|o| o.carried_out_sat).sum();
    let ok: u64 = report
        .inputs
        .nodes
        .iter()
        .map(|n| u64::from(n.ok_windows))
        .sum();
    let _ = writeln!(
        out,
        "budget {} sat: paid {paid}, carried over {carried}, remainder {}; {} nodes, {ok} OK node-windows",
        report.inputs.budget_sat,
        r.remainder_sat,
        report.inputs.nodes.len()
    );
    out
}
