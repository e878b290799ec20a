//! `resist admin`: the funder's operations on a coordinator (enrol, list,
//! disable probes; list operators), authenticated with the admin token.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use resist_coordinator::client::Client;
use resist_proto::api::{EnrolProbeRequest, NodeStatusView, OperatorView, ProbeView};

use crate::Failure;
use crate::coordinator::ADMIN_TOKEN_ENV;

/// The coordinator URL used when none is given.
pub const DEFAULT_COORDINATOR: &str = "http://127.0.0.1:8740";

/// The funder's operations on a coordinator, with the admin token.
///
/// The token is read from RESIST_ADMIN_TOKEN, else from --admin-token-file
/// (default: the file `resist coordinator` generates in its data directory, so
/// on the coordinator's own machine no option is needed):
///
///     resist admin probe enrol --public-key 3b6a27bc… --region censored:RU
///     resist admin probe list
///     resist admin probe disable 4
///     resist admin operators
#[derive(Debug, Clone, Args)]
#[command(verbatim_doc_comment)]
pub struct AdminArgs {
    /// The coordinator's URL
    #[arg(long, value_name = "URL", env = "RESIST_COORDINATOR", default_value = DEFAULT_COORDINATOR)]
    pub coordinator: String,

    /// File holding the admin token [default: the coordinator's data directory/admin-token]
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: AdminCommand,
}

/// What to do.
#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Probes: enrol, list, disable, enable
    #[command(subcommand)]
    Probe(ProbeCommand),
    /// List operators with their nodes
    Operators,
}

/// Probe operations.
#[derive(Debug, Clone, Subcommand)]
pub enum ProbeCommand {
    /// Enrol a probe: its reports will be accepted
    Enrol {
        /// The probe's ed25519 public key, 64 hex digits (printed by `resist probe`)
        #[arg(long, value_name = "HEX")]
        public_key: String,
        /// Where it measures from: censored:CC or free:CC, e.g. censored:RU
        #[arg(long, value_name = "LABEL")]
        region: String,
    },
    /// List enrolled probes
    List,
    /// Refuse a probe's reports from now on
    Disable {
        /// Probe id (see `list`)
        id: i64,
    },
    /// Accept a disabled probe's reports again
    Enable {
        /// Probe id (see `list`)
        id: i64,
    },
}

/// The admin token: `RESIST_ADMIN_TOKEN`, else the file (by default the one the
/// coordinator generated in its data directory on this machine).
fn read_token(file: Option<&std::path::Path>) -> anyhow::Result<String> {
    if let Ok(t) = std::env::var(ADMIN_TOKEN_ENV)
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_owned());
    }
    let file = file
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| crate::default_data_dir().join("coordinator/admin-token"));
    let t = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "cannot read the admin token from {}; set {ADMIN_TOKEN_ENV} or pass --admin-token-file",
            file.display()
        )
    })?;
    Ok(t.trim().to_owned())
}

/// A client for `url` carrying the admin token.
pub(crate) fn admin_client(
    url: &str,
    token_file: Option<&std::path::Path>,
) -> Result<Client, Failure> {
    let token = read_token(token_file).map_err(Failure::Config)?;
    Ok(Client::new(url)
        .map_err(|e| Failure::Config(e.into()))?
        .with_token(&token))
}

/// Runs `resist admin`.
pub fn run(args: AdminArgs) -> Result<(), Failure> {
    let client = admin_client(&args.coordinator, args.admin_token_file.as_deref())?;
    let runtime = crate::client_runtime()?;
    runtime
        .block_on(execute(&client, args.command))
        .map_err(Failure::Runtime)
}

async fn execute(client: &Client, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Probe(ProbeCommand::Enrol { public_key, region }) => {
            let probe: ProbeView = client
                .post(
                    "/api/admin/probes",
                    Some(&EnrolProbeRequest { public_key, region }),
                )
                .await?;
            println!(
                "enrolled probe {} ({}) with key {}",
                probe.id, probe.region, probe.public_key
            );
        }
        AdminCommand::Probe(ProbeCommand::List) => {
            let probes: Vec<ProbeView> = client.get("/api/admin/probes").await?;
            if probes.is_empty() {
                println!("no probes enrolled; `resist admin probe enrol --help` says how");
            }
            for p in probes {
                let state = if p.enabled { "enabled" } else { "disabled" };
                println!(
                    "{:>4}  {:<16} {:<8} {}",
                    p.id, p.region, state, p.public_key
                );
            }
        }
        AdminCommand::Probe(ProbeCommand::Disable { id }) => {
            let p: ProbeView = client
                .post::<(), _>(&format!("/api/admin/probes/{id}/disable"), None)
                .await?;
            println!(
                "probe {} ({}) disabled: its reports are refused from now on",
                p.id, p.region
            );
        }
        AdminCommand::Probe(ProbeCommand::Enable { id }) => {
            let p: ProbeView = client
                .post::<(), _>(&format!("/api/admin/probes/{id}/enable"), None)
                .await?;
            println!("probe {} ({}) enabled", p.id, p.region);
        }
        AdminCommand::Operators => {
            let operators: Vec<OperatorView> = client.get("/api/admin/operators").await?;
            if operators.is_empty() {
                println!("no operators registered yet");
            }
            for o in operators {
                println!(
                    "operator {}  payout {}  ({} nodes)",
                    o.id,
                    o.payout_address,
                    o.nodes.len()
                );
                for n in o.nodes {
                    let auth = if n.has_password {
                        "password"
                    } else {
                        "no auth"
                    };
                    println!(
                        "    node {:>4}  {}  {}  {auth}",
                        n.id, n.endpoint, n.protocol
                    );
                }
            }
        }
    }
    Ok(())
}

/// Every node's measured status, now and in recent windows.
///
/// OK: a probe in a censored region relayed through the node. BLOCKED: censored
/// probes failed while a free one relayed. DOWN: probes failed on both sides.
/// UNKNOWN: no censored-region report. History reads newest first, one letter a
/// window (O, B, D, U; `.` for a window without reports); `!` marks probes of one
/// region that disagreed.
#[derive(Debug, Clone, Args)]
#[command(verbatim_doc_comment)]
pub struct StatusArgs {
    /// The coordinator's URL
    #[arg(long, value_name = "URL", env = "RESIST_COORDINATOR", default_value = DEFAULT_COORDINATOR)]
    pub coordinator: String,

    /// File holding the admin token [default: the coordinator's data directory/admin-token]
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,

    /// Windows of history to show
    #[arg(long, value_name = "N", default_value_t = 12)]
    pub windows: u32,
}

/// Runs `resist coordinator status`.
pub fn status(args: StatusArgs) -> Result<(), Failure> {
    let client = admin_client(&args.coordinator, args.admin_token_file.as_deref())?;
    let runtime = crate::client_runtime()?;
    runtime
        .block_on(async {
            let nodes: Vec<NodeStatusView> = client
                .get(&format!("/api/admin/status?windows={}", args.windows))
                .await?;
            print!("{}", render_status(&nodes));
            anyhow::Ok(())
        })
        .map_err(Failure::Runtime)
}

/// The status table, one line per node.
pub fn render_status(nodes: &[NodeStatusView]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if nodes.is_empty() {
        out.push_str("no nodes registered yet\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:>5}  {:<28} {:<8} {:<34} history (newest first)",
        "node", "endpoint", "status", "latest window"
    );
    for n in nodes {
        let (status, counts) = match &n.latest {
            Some(w) => (
                w.status.to_uppercase(),
                format!(
                    "censored {}/{} relayed, free {}/{}",
                    w.censored_relayed,
                    w.censored_relayed + w.censored_failed,
                    w.free_relayed,
                    w.free_relayed + w.free_failed
                ),
            ),
            None => ("-".to_owned(), "no reports yet".to_owned()),
        };
        let mut history = String::new();
        let mut expected = n.history.first().map(|w| w.window);
        for w in &n.history {
            // Windows without any report show as gaps.
            while let Some(e) = expected
                && e > w.window
            {
                history.push('.');
                expected = Some(e - 1);
            }
            history.push(match w.status.as_str() {
                "ok" => 'O',
                "blocked" => 'B',
                "down" => 'D',
                _ => 'U',
            });
            if w.disagreement {
                history.push('!');
            }
            expected = Some(w.window - 1);
        }
        let _ = writeln!(
            out,
            "{:>5}  {:<28} {:<8} {:<34} {history}",
            n.node,
            n.endpoint.to_string(),
            status,
            counts
        );
    }
    out
}

#[cfg(test)]
mod test {
    use resist_proto::api::WindowStatusView;
    use resist_proto::endpoint::Endpoint;

    use super::*;

    fn window(window: i64, status: &str, disagreement: bool) -> WindowStatusView {
        WindowStatusView {
            window,
            window_start: window * 600,
            status: status.into(),
            censored_relayed: u32::from(status == "ok"),
            censored_failed: 1,
            free_relayed: 1,
            free_failed: 0,
            disagreement,
        }
    }

    #[test]
    fn status_table_shows_latest_counts_and_history_with_gaps() {
        let history = vec![
            window(10, "ok", true),
            window(9, "blocked", false),
            window(7, "down", false),
        ];
        let nodes = vec![
            NodeStatusView {
                node: 3,
                operator: 1,
                endpoint: Endpoint {
                    host: "203.0.113.7".into(),
                    port: 1080,
                },
                latest: history.first().cloned(),
                history,
            },
            NodeStatusView {
                node: 4,
                operator: 1,
                endpoint: Endpoint {
                    host: "2001:db8::7".into(),
                    port: 443,
                },
                latest: None,
                history: vec![],
            },
        ];
        let table = render_status(&nodes);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(
            lines[1].contains("203.0.113.7:1080") && lines[1].contains("OK"),
            "{table}"
        );
        assert!(
            lines[1].contains("censored 1/2 relayed, free 1/1"),
            "{table}"
        );
        assert!(lines[1].ends_with("O!B.D"), "{table}");
        assert!(
            lines[2].contains("[2001:db8::7]:443") && lines[2].contains("no reports yet"),
            "{table}"
        );
        assert_eq!(render_status(&[]), "no nodes registered yet\n");
    }
}
