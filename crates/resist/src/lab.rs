//! `resist lab`: run a censorship scenario in network namespaces, with real
//! resist processes on both sides of an nftables censor (crate resist-lab).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use resist_lab::{LabError, Options, Scenario};
use tokio::signal::unix::SignalKind;

use crate::{Failure, signals};

/// Re-enact the 2018 Telegram block in network namespaces, and watch resist cope.
///
/// Builds a small internet out of Linux network namespaces: a censored user and
/// a censored probe behind a censor's router, and outside it a free probe, two
/// clouds with two proxy nodes each (on different /24s, plus a bank and a shop),
/// the messenger (a stand-in for Telegram's data centres) and the coordinator.
/// Everything runs as real processes; nothing leaves the namespaces; all is torn
/// down at the end, also on failure or Ctrl-C. The timeline is printed as it
/// happens and the run ends in checks (exit 1 if one fails).
///
/// Scenarios:
///
///     ban           the censor drops the messenger's addresses: the user reaches
///                   it only through a node, and probes keep measuring nodes OK
///     whack-a-mole  a censor agent asks the distributor like a user, learns its
///                   bucket's nodes and blocks them after a delay: probes classify
///                   them BLOCKED within two windows, the user's bucket (another
///                   requester key) keeps a working node, and the grant preview
///                   pays only for windows in which a node served censored users
///     subnet        the censor blocks a whole cloud subnet: that cloud's nodes are
///                   BLOCKED, the other cloud's serve on, and the collateral damage
///                   (innocent addresses, the bank and the shop) is counted
///     dpi           the censor drops every flow that opens with a SOCKS5 greeting:
///                   every SOCKS5 node is BLOCKED wherever it lives, the case for
///                   an obfuscated transport
///
///     sudo resist lab ban
///     sudo resist lab subnet --window 4s --keep-logs /tmp/lab-logs
///
/// Needs root (network namespaces and nftables), iproute2, nftables and curl.
#[derive(Debug, Clone, Args)]
#[command(verbatim_doc_comment)]
pub struct LabArgs {
    /// The scenario: ban, whack-a-mole, subnet or dpi
    #[arg(value_name = "SCENARIO", required_unless_present = "serve_fixture", value_parser = parse_scenario)]
    pub scenario: Option<Scenario>,

    /// Keep every process's log in DIR (by default kept only when the run fails)
    #[arg(long, value_name = "DIR")]
    pub keep_logs: Option<PathBuf>,

    /// Length of a measurement window, e.g. 4s (2s to 60s)
    #[arg(long, value_name = "DURATION", default_value = "4s", value_parser = parse_window)]
    pub window: Duration,

    /// Internal: serve the lab's HTTP fixture NAME at ADDR:PORT (run by the lab inside a namespace)
    #[arg(long, value_name = "NAME=ADDR:PORT", hide = true)]
    pub serve_fixture: Option<String>,
}

fn parse_scenario(s: &str) -> Result<Scenario, String> {
    s.parse()
}

/// `4s`, `4` (seconds) or `1m`, between 2 s and 60 s.
fn parse_window(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (digits, unit) = match t.strip_suffix('s') {
        Some(d) => (d, 1),
        None => match t.strip_suffix('m') {
            Some(d) => (d, 60),
            None => (t, 1),
        },
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration: write e.g. 4s"))?;
    let secs = n.saturating_mul(unit);
    if !(2..=60).contains(&secs) {
        return Err(format!(
            "{s:?}: a window must be 2s to 60s (short, so a scenario ends in minutes)"
        ));
    }
    Ok(Duration::from_secs(secs))
}

/// Runs `resist lab`.
pub fn run(args: LabArgs) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Runtime)?;
    if let Some(spec) = &args.serve_fixture {
        return runtime.block_on(serve_fixture(spec));
    }
    let scenario = args.scenario.ok_or_else(|| {
        Failure::Config(anyhow!("name a scenario: ban, whack-a-mole, subnet or dpi"))
    })?;
    let binary = std::env::current_exe()
        .context("cannot find the resist binary to run in the namespaces")
        .map_err(Failure::Runtime)?;
    let options = Options {
        binary,
        window: args.window,
        keep_logs: args.keep_logs,
        print: true,
    };
    runtime.block_on(async {
        let mut interrupt = signals::handler(SignalKind::interrupt()).map_err(Failure::Runtime)?;
        let mut term = signals::handler(SignalKind::terminate()).map_err(Failure::Runtime)?;
        let stop = async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
        };
        match resist_lab::run(scenario, &options, stop).await {
            Ok(_) => {
                println!("\n{scenario}: all checks passed");
                Ok(())
            }
            Err(e) if e.is_precondition() => Err(Failure::Config(e.into())),
            Err(e @ LabError::ChecksFailed { .. }) => Err(Failure::Runtime(e.into())),
            Err(e) => Err(Failure::Runtime(e.into())),
        }
    })
}

async fn serve_fixture(spec: &str) -> Result<(), Failure> {
    let (name, addr) = resist_lab::fixture::parse_spec(spec)
        .map_err(|e| Failure::Config(anyhow!("--serve-fixture {e}")))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
        .map_err(Failure::Runtime)?;
    let mut term = signals::handler(SignalKind::terminate()).map_err(Failure::Runtime)?;
    println!("fixture {name} listening on {addr}");
    resist_lab::fixture::serve(listener, name, async move {
        term.recv().await;
    })
    .await;
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn windows_parse_within_bounds() {
        assert_eq!(parse_window("4s").unwrap(), Duration::from_secs(4));
        assert_eq!(parse_window("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_window("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_window("1s").is_err());
        assert!(parse_window("2m").is_err());
        assert!(parse_window("soon").is_err());
    }
}
