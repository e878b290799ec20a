//! `resist admin`: the funder's operations on a coordinator (enrol, list,
//! disable probes; list operators), authenticated with the admin token.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use resist_coordinator::client::Client;
use resist_proto::api::{EnrolProbeRequest, OperatorView, ProbeView};

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

fn token(args: &AdminArgs) -> anyhow::Result<String> {
    if let Ok(t) = std::env::var(ADMIN_TOKEN_ENV)
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_owned());
    }
    let file = args
        .admin_token_file
        .clone()
        .unwrap_or_else(|| crate::default_data_dir().join("coordinator/admin-token"));
    let t = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "cannot read the admin token from {}; set {ADMIN_TOKEN_ENV} or pass --admin-token-file",
            file.display()
        )
    })?;
    Ok(t.trim().to_owned())
}

/// Runs `resist admin`.
pub fn run(args: AdminArgs) -> Result<(), Failure> {
    let token = token(&args).map_err(Failure::Config)?;
    let client = Client::new(&args.coordinator)
        .map_err(|e| Failure::Config(e.into()))?
        .with_token(&token);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Runtime)?;
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
