//! `resist probe`: measure which nodes really relay, from where this machine
//! stands (inside a censored network or outside), and report to a coordinator.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use resist_client::Client;
use resist_clock::SystemClock;
use resist_probe::{Agent, AgentConfig, ProbeKey, Queue};
use resist_proto::endpoint::EndpointRules;
use resist_proto::region::Region;
use tokio::signal::unix::SignalKind;
use tracing::info;

use crate::shared_args::CoordinatorUrl;
use crate::{Failure, logging, signals};

/// Measure nodes for a coordinator, from this machine's vantage point.
///
/// A probe asks the coordinator which nodes to test (it cannot choose), and for
/// each one connects, logs in with the node's credentials, and CONNECTs through
/// it to the coordinator's canary, which answers a fresh nonce with a code only
/// the coordinator can compute: proof that the node relays, not just that a port
/// is open. Reports are signed with the probe's key and kept on disk until the
/// coordinator confirms them, so an outage or a restart loses none.
///
///     resist probe --coordinator https://coordinator.example.org --region censored:RU
///
/// On first start it creates its key and prints the public key; the funder enrols
/// it with `resist admin probe enrol --public-key HEX --region LABEL`. Until then
/// it keeps asking, and says so.
#[derive(Debug, Clone, Args)]
#[command(verbatim_doc_comment)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub coordinator: CoordinatorUrl,

    /// The probe's ed25519 key, created on first start [default: DATA_DIR/probe-key]
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,

    /// Where this probe measures from, as enrolled: censored:CC or free:CC (checked against the coordinator)
    #[arg(long, value_name = "LABEL")]
    pub region: Option<String>,

    /// Directory for the key and the queue of reports [default: $XDG_DATA_HOME/resist/probe]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Seconds between asking for assignments
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub poll_interval: u64,

    /// Seconds allowed for each step of a test: connect, handshake, canary answer (the sample gets twice as long)
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub check_timeout: u64,

    /// Longest wait between attempts while the coordinator cannot be reached
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub max_backoff: u64,

    /// Local address to connect to nodes from (a machine in several networks)
    #[arg(long, value_name = "IP")]
    pub source: Option<std::net::IpAddr>,

    /// Dial nodes at loopback and private addresses (local test networks only)
    #[arg(long)]
    pub danger_allow_private_nodes: bool,

    /// Log level or tracing filter [default: info]
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log_level: String,

    /// Print the public key (creating the key if needed) and exit
    #[arg(long)]
    pub print_public_key: bool,
}

/// Runs `resist probe`.
pub fn run(args: ProbeArgs) -> Result<(), Failure> {
    logging::init(&args.log_level, false).map_err(Failure::Config)?;
    if let Some(r) = &args.region {
        r.parse::<Region>()
            .map_err(|e| Failure::Config(anyhow!("--region: {}", e.problem)))?;
    }
    if args.poll_interval == 0 {
        return Err(Failure::Config(anyhow!(
            "--poll-interval must be at least 1 second"
        )));
    }
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| crate::default_data_dir().join("probe"));
    let key_file = args.key.clone().unwrap_or_else(|| dir.join("probe-key"));
    let (key, created) = ProbeKey::load_or_generate(&key_file)
        .with_context(|| format!("cannot load or create the probe key {}", key_file.display()))
        .map_err(Failure::Config)?;
    if args.print_public_key {
        println!("{}", key.public_key_hex());
        return Ok(());
    }
    let region = args.region.clone().unwrap_or_else(|| "LABEL".to_owned());
    println!(
        "probe key {}: {}",
        if created { "created" } else { "loaded" },
        key_file.display()
    );
    println!("public key: {}", key.public_key_hex());
    println!(
        "to enrol it, the funder runs: resist admin probe enrol --public-key {} --region {region}",
        key.public_key_hex()
    );
    let queue = Queue::open(&dir.join("queue"))
        .with_context(|| format!("cannot open the report queue in {}", dir.display()))
        .map_err(Failure::Config)?;
    let client = Client::new(&args.coordinator.url).map_err(|e| Failure::Config(e.into()))?;
    let config = AgentConfig {
        region: args.region.clone(),
        poll_interval: Duration::from_secs(args.poll_interval),
        rules: EndpointRules {
            danger_allow_private: args.danger_allow_private_nodes,
        },
        max_backoff: Duration::from_secs(args.max_backoff),
        limits: resist_probe::CheckLimits {
            connect: Duration::from_secs(args.check_timeout),
            handshake: Duration::from_secs(args.check_timeout),
            canary_answer: Duration::from_secs(args.check_timeout),
            sample: Duration::from_secs(args.check_timeout.saturating_mul(2)),
            source: args.source,
            ..resist_probe::CheckLimits::default()
        },
        ..AgentConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("resist-probe")
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Runtime)?;
    runtime.block_on(async move {
        let mut term = signals::handler(SignalKind::terminate()).map_err(Failure::Runtime)?;
        let mut interrupt = signals::handler(SignalKind::interrupt()).map_err(Failure::Runtime)?;
        println!("probing for {} (queue: {})", client.base(), dir.join("queue").display());
        let agent = Agent::new(client, key, queue, Arc::new(SystemClock), config);
        agent
            .run(async move {
                tokio::select! {
                    _ = term.recv() => info!("SIGTERM: stopping; queued reports stay on disk"),
                    _ = interrupt.recv() => info!("interrupted: stopping; queued reports stay on disk"),
                }
            })
            .await;
        Ok(())
    })
}
