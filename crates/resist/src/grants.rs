//! `resist grants`: the funder's grant epochs, step by step: `preview` (changes
//! nothing), `close`, `psbt`, `finalize` (with `--broadcast`), and `show` and
//! `verify`, which anyone can run on a published epoch. Each step is one
//! request to the coordinator, which keeps the epoch's state; repeating a
//! step after a crash or a lost answer is safe.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use resist_grants::{Report, verify};

use resist_client::Client;
use resist_proto::api::epochs::{
    Broadcasted, CloseRequest, EpochDetail, EpochView, FinalizeRequest, Finalized, PsbtExport,
};

use crate::Failure;
use crate::shared_args::{AdminConnection, CoordinatorUrl};

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
    /// Needs the admin token. Next: `resist grants close`.
    #[command(verbatim_doc_comment)]
    Preview {
        #[command(flatten)]
        admin: AdminConnection,
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
    /// Close the next epoch: score its windows and publish its report.
    ///
    /// The epoch takes every whole measurement window since the previous epoch
    /// ended (the first epoch: the last `--days`, or from `--from`), scores
    /// each node's OK windows and throughput with the `[grants]` rules, adds
    /// the credits the previous epoch carried over, and stores the report for
    /// good: from now on anyone can read it (`resist grants show N`) and
    /// recompute it (`resist grants verify`). Nothing is paid yet.
    ///
    /// Name the epoch (`--epoch N`, the next number; `resist grants show` lists
    /// the closed ones): repeating the same command then finds it closed and
    /// changes nothing, so a lost answer never closes a second epoch.
    ///
    /// Next: `resist grants psbt --epoch N`.
    #[command(verbatim_doc_comment)]
    Close {
        #[command(flatten)]
        admin: AdminConnection,
        /// The epoch to close (1 for the first, then the next number)
        #[arg(long, value_name = "N")]
        epoch: i64,
        /// Satoshis to distribute (credits carried in come on top)
        #[arg(long, value_name = "SATS")]
        budget: u64,
        /// First epoch only: days of windows before now to include
        #[arg(long, value_name = "N", default_value_t = 7, conflicts_with = "from")]
        days: u32,
        /// First epoch only: start, in Unix seconds
        #[arg(long, value_name = "UNIX")]
        from: Option<i64>,
        /// Also write the report (JSON) here
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Build the epoch's payout: one unsigned PSBT per batch, to sign in your wallet.
    ///
    /// The coordinator reads the treasury's confirmed coins from its chain
    /// source (`[payout]` in its configuration; it holds public keys only),
    /// builds one batched transaction paying every operator the report says,
    /// change back to the treasury, RBF on, at the configured fee rate, and
    /// records it. Asking again returns the recorded PSBT byte for byte; coins
    /// another epoch's payout spends are never used again.
    ///
    /// Writes `epoch-N-batch-K.psbt` (binary, BIP-174) for each batch into
    /// `--out`. Load it in Sparrow, Bitcoin Core (`walletprocesspsbt`),
    /// Electrum or a hardware wallet, check the payees, sign, save.
    ///
    /// Next: `resist grants finalize --epoch N SIGNED.psbt`.
    #[command(verbatim_doc_comment)]
    Psbt {
        #[command(flatten)]
        admin: AdminConnection,
        /// The epoch to pay
        #[arg(long, value_name = "N")]
        epoch: i64,
        /// Directory for the PSBT files
        #[arg(long, value_name = "DIR", default_value = ".")]
        out: PathBuf,
    },
    /// Check a signed PSBT and record its transaction (and broadcast it).
    ///
    /// The coordinator checks the signed PSBT against the batch it recorded:
    /// the same inputs, exactly the payees and amounts of the report, the one
    /// change output to the treasury, and every input's signature through
    /// Bitcoin Core's consensus code. A PSBT that pays anything else is
    /// refused with the reason. The checked transaction is recorded once; the
    /// epoch is "signed" when every batch is.
    ///
    /// With `--broadcast`, once every batch is signed, sends the transactions
    /// through the coordinator's chain source (repeating it is harmless).
    /// Without it, broadcast the printed hex from any Bitcoin node or wallet,
    /// or run this again with `--broadcast`.
    #[command(verbatim_doc_comment)]
    Finalize {
        #[command(flatten)]
        admin: AdminConnection,
        /// The epoch
        #[arg(long, value_name = "N")]
        epoch: i64,
        /// The signed PSBT (binary or base64 file)
        signed: PathBuf,
        /// Then broadcast the epoch's transactions through the chain source
        #[arg(long)]
        broadcast: bool,
    },
    /// Show the closed epochs, or one epoch's report and payout (public).
    ///
    /// Without N: every closed epoch with its state (closed, psbt_exported,
    /// signed, broadcast), amounts and txids. With N: the per-operator amounts
    /// and the batches; `--json FILE` saves the report for `resist grants
    /// verify`. Needs no token: reports are public.
    #[command(verbatim_doc_comment)]
    Show {
        #[command(flatten)]
        coordinator: CoordinatorUrl,
        /// The epoch to show
        epoch: Option<i64>,
        /// Write the epoch's report (JSON) here
        #[arg(long, value_name = "FILE", requires = "epoch")]
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
            admin,
            budget,
            days,
            json,
        } => preview(&admin, budget, days, json.as_deref()),
        GrantsCommand::Close {
            admin,
            epoch,
            budget,
            days,
            from,
            json,
        } => close(&admin, epoch, budget, days, from, json.as_deref()),
        GrantsCommand::Psbt { admin, epoch, out } => psbt(&admin, epoch, &out),
        GrantsCommand::Finalize {
            admin,
            epoch,
            signed,
            broadcast,
        } => finalize(&admin, epoch, &signed, broadcast),
        GrantsCommand::Show {
            coordinator,
            epoch,
            json,
        } => show(&coordinator, epoch, json.as_deref()),
        GrantsCommand::Verify { report } => verify_report(&report),
    }
}

/// `resist grants preview`: what an epoch over the last `days` would pay.
fn preview(
    admin: &AdminConnection,
    budget: u64,
    days: u32,
    json: Option<&Path>,
) -> Result<(), Failure> {
    let client = admin.client()?;
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
    write_report(json, &report)
}

/// `resist grants close`: closes epoch `epoch` and shows its report.
fn close(
    admin: &AdminConnection,
    epoch: i64,
    budget: u64,
    days: u32,
    from: Option<i64>,
    json: Option<&Path>,
) -> Result<(), Failure> {
    let client = admin.client()?;
    let from = from.or_else(|| {
        let now = resist_clock::Clock::now(&resist_clock::SystemClock).seconds();
        (epoch == 1).then(|| now - i64::from(days) * 86_400)
    });
    let detail: EpochDetail = crate::client_runtime()?
        .block_on(client.post(
            "/api/admin/epochs",
            Some(&CloseRequest {
                epoch,
                budget_sat: budget,
                to: None,
                from,
            }),
        ))
        .map_err(|e| Failure::Runtime(e.into()))?;
    print!("{}", render(&detail.report));
    println!("{}", summary_line(&detail.summary));
    write_report(json, &detail.report)?;
    println!("next: resist grants psbt --epoch {epoch}   (report: resist grants show {epoch})");
    Ok(())
}

/// `resist grants psbt`: writes the epoch's unsigned PSBTs into `out`.
fn psbt(admin: &AdminConnection, epoch: i64, out: &Path) -> Result<(), Failure> {
    let client = admin.client()?;
    let export: PsbtExport = crate::client_runtime()?
        .block_on(client.post(&format!("/api/admin/epochs/{epoch}/psbt"), None::<&()>))
        .map_err(|e| Failure::Runtime(e.into()))?;
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create {}", out.display()))
        .map_err(Failure::Runtime)?;
    use base64::Engine as _;
    for b in &export.batches {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&b.psbt)
            .context("the coordinator sent a PSBT that is not base64")
            .map_err(Failure::Runtime)?;
        let path = out.join(format!("epoch-{epoch}-batch-{}.psbt", b.batch.batch));
        write_atomically(&path, &bytes).map_err(Failure::Runtime)?;
        println!(
            "{}  batch {}: {} payees, {} sat, fee {} sat, txid {}",
            path.display(),
            b.batch.batch,
            b.batch.payees,
            b.batch.amount_sat,
            b.batch.fee_sat,
            b.batch.txid
        );
    }
    println!(
        "{} (state {}). Sign each file in your wallet, then: resist grants finalize --epoch {epoch} SIGNED.psbt",
        if export.built_now {
            "built and recorded now"
        } else {
            "recorded before; unchanged"
        },
        export.state
    );
    Ok(())
}

/// `resist grants finalize`: records a signed batch and, with `broadcast`
/// once every batch is signed, sends the epoch's transactions.
fn finalize(
    admin: &AdminConnection,
    epoch: i64,
    signed: &Path,
    broadcast: bool,
) -> Result<(), Failure> {
    let client = admin.client()?;
    let psbt = read_psbt(signed).map_err(Failure::Config)?;
    let runtime = crate::client_runtime()?;
    let done: Finalized = runtime
        .block_on(client.post(
            &format!("/api/admin/epochs/{epoch}/finalize"),
            Some(&FinalizeRequest { psbt }),
        ))
        .map_err(|e| Failure::Runtime(e.into()))?;
    println!(
        "batch {} of epoch {epoch}: {} txid {}; epoch {}, {} batch(es) left to sign",
        done.batch,
        if done.recorded_now {
            "checked and recorded,"
        } else {
            "recorded before (the first signed transaction stands),"
        },
        done.txid,
        done.state,
        done.unsigned_batches
    );
    if !broadcast {
        println!(
            "transaction (hex, to broadcast with any node): {}",
            done.tx_hex
        );
        if done.unsigned_batches == 0 {
            println!(
                "next: resist grants finalize --epoch {epoch} SIGNED.psbt --broadcast, or broadcast the hex yourself"
            );
        }
        return Ok(());
    }
    if done.unsigned_batches > 0 {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "not broadcasting yet: {} batch(es) of epoch {epoch} still to sign and finalize",
            done.unsigned_batches
        )));
    }
    let sent: Broadcasted = runtime
        .block_on(client.post(&format!("/api/admin/epochs/{epoch}/broadcast"), None::<&()>))
        .map_err(|e| Failure::Runtime(e.into()))?;
    println!("epoch {epoch} {}: {}", sent.state, sent.txids.join(", "));
    Ok(())
}

/// `resist grants show`: every closed epoch, or epoch `epoch` in full.
fn show(
    coordinator: &CoordinatorUrl,
    epoch: Option<i64>,
    json: Option<&Path>,
) -> Result<(), Failure> {
    let client = Client::new(&coordinator.url).map_err(|e| Failure::Config(e.into()))?;
    let runtime = crate::client_runtime()?;
    match epoch {
        None => {
            let epochs: Vec<EpochView> = runtime
                .block_on(client.get("/api/epochs"))
                .map_err(|e| Failure::Runtime(e.into()))?;
            if epochs.is_empty() {
                println!("no epoch is closed yet (resist grants close --epoch 1 --budget SATS)");
            }
            for e in &epochs {
                println!("{}", summary_line(e));
            }
        }
        Some(n) => {
            let detail: EpochDetail = runtime
                .block_on(client.get(&format!("/api/epochs/{n}")))
                .map_err(|e| Failure::Runtime(e.into()))?;
            print!("{}", render(&detail.report));
            println!("{}", summary_line(&detail.summary));
            for b in &detail.batches {
                println!(
                    "batch {}: txid {}, {} payees, {} sat, fee {} sat, {}",
                    b.batch,
                    b.txid,
                    b.payees,
                    b.amount_sat,
                    b.fee_sat,
                    match (b.signed, b.broadcast) {
                        (_, true) => "broadcast",
                        (true, false) => "signed",
                        _ => "awaiting signature",
                    }
                );
            }
            write_report(json, &detail.report)?;
        }
    }
    Ok(())
}

/// `resist grants verify`: recomputes the report in the file `report`.
fn verify_report(report: &Path) -> Result<(), Failure> {
    let text = std::fs::read_to_string(report)
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

/// `epoch 3  broadcast  windows 100–200 (…)  budget …`
fn summary_line(e: &EpochView) -> String {
    format!(
        "epoch {}  {}  windows {}..={} (Unix {}..{})  budget {} sat: paid {}, carried {}, remainder {}{}",
        e.epoch,
        e.state,
        e.first_window,
        e.last_window,
        e.starts_at,
        e.ends_at,
        e.budget_sat,
        e.paid_sat,
        e.carried_sat,
        e.remainder_sat,
        if e.txids.is_empty() {
            String::new()
        } else {
            format!("  txid {}", e.txids.join(", "))
        }
    )
}

fn write_report(path: Option<&std::path::Path>, report: &Report) -> Result<(), Failure> {
    let Some(path) = path else { return Ok(()) };
    let text = serde_json::to_string_pretty(report).map_err(|e| Failure::Runtime(e.into()))?;
    write_atomically(path, (text + "\n").as_bytes()).map_err(Failure::Runtime)?;
    println!("report written to {}", path.display());
    Ok(())
}

/// Writes through a temporary file and a rename: never half a file.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Largest PSBT file read.
const MAX_PSBT_FILE: u64 = 4 << 20;

/// A PSBT file as base64: binary (BIP-174, starts `psbt\xff`) or base64 text.
fn read_psbt(path: &std::path::Path) -> anyhow::Result<String> {
    use base64::Engine as _;
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .take(MAX_PSBT_FILE + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > MAX_PSBT_FILE {
        anyhow::bail!(
            "{} is larger than {MAX_PSBT_FILE} bytes: not a payout PSBT",
            path.display()
        );
    }
    if bytes.starts_with(b"psbt\xff") {
        return Ok(base64::engine::general_purpose::STANDARD.encode(&bytes));
    }
    let text = String::from_utf8(bytes)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| t.starts_with("cHNidP"))
        .with_context(|| {
            format!(
                "{} is neither a binary PSBT nor base64 text starting with cHNidP",
                path.display()
            )
        })?;
    Ok(text)
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
