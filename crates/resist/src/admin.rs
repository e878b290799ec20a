//! `resist admin`: the funder's operations on a coordinator (enrol, list,
//! disable probes; list operators), authenticated with the admin token.

use anyhow::Context;
use clap::{Args, Subcommand};
use resist_client::Client;
use resist_measure::Status;
use resist_proto::api::{EnrolProbeRequest, NodeStatusView, OperatorView, ProbeView};
use resist_proto::distribution::{CreateInvitationsRequest, InvitationView, InvitationsIssued};

use crate::Failure;
use crate::coordinator::ADMIN_TOKEN_ENV;
use crate::shared_args::AdminConnection;

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
///     resist admin invite create --label "for Alice" --count 5
#[derive(Debug, Clone, Args)]
#[command(verbatim_doc_comment)]
pub struct AdminArgs {
    #[command(flatten)]
    pub admin: AdminConnection,

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
    /// Invitations: create, list, revoke
    ///
    /// A user who opens the coordinator's page /proxies?invite=TOKEN (or asks
    /// /api/proxies with `Authorization: Bearer TOKEN`) gets the proxies of
    /// that invitation's own bucket instead of those of their network (IPv4
    /// /16, IPv6 /32). Give one to each person you trust, above all people who
    /// share a network with many others or with a censor: everyone in one /16
    /// sees the same proxies. A censor holding k invitations learns at most
    /// what k buckets hold.
    ///
    /// A token is printed once, when it is created; the coordinator keeps only
    /// its hash. Revoking takes effect with the next request.
    ///
    ///     resist admin invite create --label "for Alice"
    ///     resist admin invite create --label "Kazan meetup" --count 20
    ///     resist admin invite list
    ///     resist admin invite revoke 7
    #[command(subcommand, verbatim_doc_comment)]
    Invite(InviteCommand),
}

/// Invitation operations.
#[derive(Debug, Clone, Subcommand)]
pub enum InviteCommand {
    /// Create invitation tokens and print each with its link (shown only now)
    Create {
        /// A note for yourself: who the invitation is for (not shown to users)
        #[arg(long, value_name = "TEXT", default_value = "")]
        label: String,
        /// How many tokens to create, 1 to 100, all with this label
        #[arg(long, value_name = "N", default_value_t = 1)]
        count: u32,
    },
    /// List invitations (ids, labels, dates; never the tokens)
    List,
    /// Revoke an invitation: its token stops working at once
    Revoke {
        /// Invitation id (see `list`)
        id: i64,
    },
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
    let client = args.admin.client()?;
    let runtime = crate::client_runtime()?;
    runtime
        .block_on(execute(&client, args.command))
        .map_err(Failure::Runtime)
}

async fn execute(client: &Client, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Invite(command) => invite(client, command).await?,
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

/// Runs `resist admin invite …`.
async fn invite(client: &Client, command: InviteCommand) -> anyhow::Result<()> {
    match command {
        InviteCommand::Create { label, count } => {
            let issued: InvitationsIssued = client
                .post(
                    "/api/admin/invitations",
                    Some(&CreateInvitationsRequest {
                        label: Some(label),
                        count: Some(count),
                    }),
                )
                .await?;
            let base = client.base().trim_end_matches('/');
            for i in &issued.invitations {
                println!("invitation {}  token {}", i.id, i.token);
                println!("    {base}/proxies?invite={}", i.token);
            }
            println!(
                "{} invitation(s) created; the tokens are shown only now. Give each person \
                 their own link (with the address users reach this coordinator at).",
                issued.invitations.len()
            );
        }
        InviteCommand::List => {
            let all: Vec<InvitationView> = client.get("/api/admin/invitations").await?;
            if all.is_empty() {
                println!("no invitations yet; `resist admin invite create --help` says how");
            }
            for i in all {
                let state = match i.revoked_at {
                    Some(t) => format!("revoked {}", date(t)),
                    None => "active".to_owned(),
                };
                println!(
                    "{:>5}  created {}  {:<21} {}",
                    i.id,
                    date(i.created_at),
                    state,
                    i.label
                );
            }
        }
        InviteCommand::Revoke { id } => {
            let i: InvitationView = client
                .post::<(), _>(&format!("/api/admin/invitations/{id}/revoke"), None)
                .await?;
            println!(
                "invitation {} revoked: its token is refused from now on",
                i.id
            );
        }
    }
    Ok(())
}

/// Unix seconds as a UTC date, `YYYY-MM-DD`.
fn date(unix: i64) -> String {
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
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
    #[command(flatten)]
    pub admin: AdminConnection,

    /// Windows of history to show
    #[arg(long, value_name = "N", default_value_t = 12)]
    pub windows: u32,
}

/// Runs `resist coordinator status`.
pub fn status(args: StatusArgs) -> Result<(), Failure> {
    let client = args.admin.client()?;
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
                w.status.as_str().to_uppercase(),
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
            history.push(match w.status {
                Status::Ok => 'O',
                Status::Blocked => 'B',
                Status::Down => 'D',
                Status::Unknown => 'U',
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

    fn window(window: i64, status: Status, disagreement: bool) -> WindowStatusView {
        WindowStatusView {
            window,
            window_start: window * 600,
            status,
            censored_relayed: u32::from(status == Status::Ok),
            censored_failed: 1,
            free_relayed: 1,
            free_failed: 0,
            disagreement,
        }
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_523_923_199), "2018-04-16");
        assert_eq!(date(1_523_923_200), "2018-04-17");
        assert_eq!(date(-1), "1969-12-31");
    }

    #[test]
    fn status_table_shows_latest_counts_and_history_with_gaps() {
        let history = vec![
            window(10, Status::Ok, true),
            window(9, Status::Blocked, false),
            window(7, Status::Down, false),
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
