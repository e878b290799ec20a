//! `resist coordinator`: run the funder's coordinator (HTTP API over SQLite or
//! PostgreSQL).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use clap::Args;
use rand::RngCore;
use resist_clock::SystemClock;
use resist_coordinator::config::{MeasurementSettings, redact_url};
use resist_coordinator::{AppState, CoordinatorConfig, Settings};
use resist_proto::endpoint::EndpointRules;
use resist_store::{AnyStore, Store};
use tokio::signal::unix::SignalKind;
use tracing::{info, warn};

use crate::layered::{self, Layered};
use crate::{Failure, logging, signals};

/// The prefix of environment variables that set coordinator options.
pub const ENV_PREFIX: &str = "RESIST_COORDINATOR_";
/// The environment variable that holds the admin token (overrides the file).
pub const ADMIN_TOKEN_ENV: &str = "RESIST_ADMIN_TOKEN";
/// The key under which a database remembers its network.
const NETWORK_META_KEY: &str = "network";
/// The key under which a database keeps the canary's HMAC key (hex).
const CANARY_KEY_META_KEY: &str = "canary_key";
/// Where the distributor's bucket secret is kept in the database.
const DISTRIBUTION_SECRET_META_KEY: &str = "distribution_secret";

/// Run the coordinator: the funder's service that operators register with.
///
/// It keeps operators (with proven Bitcoin payout addresses), their nodes, and
/// the probes the funder enrols, and serves a JSON API documented at
/// /api/openapi.json. With no options it listens on 127.0.0.1:8740 and keeps an
/// SQLite database in the data directory, created on first start:
///
///     resist coordinator --network signet
///
/// Several coordinators can serve from one PostgreSQL database:
///
///     resist coordinator --listen 0.0.0.0:8740 --database postgres://resist@db/resist
///
/// The admin token (for `resist admin`) is read from RESIST_ADMIN_TOKEN, or from
/// --admin-token-file, which is created with a random token if missing. Settings
/// come from built-in defaults, then --config FILE, then RESIST_COORDINATOR_*
/// variables, then these flags. SIGTERM or Ctrl-C finishes the requests in flight
/// and stops.
#[derive(Debug, Clone, Default, Args)]
#[command(verbatim_doc_comment, args_conflicts_with_subcommands = true)]
pub struct CoordinatorArgs {
    #[command(subcommand)]
    pub command: Option<CoordinatorCommand>,

    /// TOML configuration file (see --print-default-config)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address of the HTTP API [default: 127.0.0.1:8740]
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,

    /// Directory for the SQLite database and the admin token [default: $XDG_DATA_HOME/resist/coordinator]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Database URL: postgres://… or sqlite://… [default: SQLite in the data directory]
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,

    /// Bitcoin network of the payout addresses: mainnet, testnet, signet or regtest [default: mainnet]
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<String>,

    /// Where the canary listens; nodes must allow it as a destination [default: 127.0.0.1:8741]
    #[arg(long, value_name = "ADDR:PORT")]
    pub canary_listen: Option<SocketAddr>,

    /// File holding the admin token [default: DATA_DIR/admin-token]
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,

    /// Accept loopback and private node endpoints (local test networks only)
    #[arg(long)]
    pub danger_allow_private_endpoints: bool,

    /// Log level or tracing filter [default: info]
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Print the example configuration, every option at its default, and exit
    #[arg(long)]
    pub print_default_config: bool,

    /// Check the configuration and exit without opening the database or listening
    #[arg(long)]
    pub check: bool,
}

/// Commands that talk to a running coordinator.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum CoordinatorCommand {
    /// Show every node's measured status and recent windows (admin token)
    Status(crate::admin::StatusArgs),
}

impl CoordinatorArgs {
    /// The keys set by flags, as a table to layer over file and environment.
    fn overrides(&self) -> toml::Table {
        let mut t = toml::Table::new();
        if let Some(l) = self.listen {
            t.insert("listen".into(), l.to_string().into());
        }
        if let Some(d) = &self.data_dir {
            t.insert("data_dir".into(), d.display().to_string().into());
        }
        if let Some(d) = &self.database {
            t.insert("database".into(), d.as_str().into());
        }
        if let Some(n) = &self.network {
            t.insert("network".into(), n.as_str().into());
        }
        if let Some(f) = &self.admin_token_file {
            t.insert("admin_token_file".into(), f.display().to_string().into());
        }
        if let Some(c) = self.canary_listen {
            let mut m = toml::Table::new();
            m.insert("canary_listen".into(), c.to_string().into());
            t.insert("measurement".into(), toml::Value::Table(m));
        }
        if self.danger_allow_private_endpoints {
            t.insert("danger_allow_private_endpoints".into(), true.into());
        }
        if let Some(l) = &self.log_level {
            let mut log = toml::Table::new();
            log.insert("level".into(), l.as_str().into());
            t.insert("log".into(), toml::Value::Table(log));
        }
        t
    }

    /// The configuration from every layer.
    pub fn load(&self) -> anyhow::Result<Layered<CoordinatorConfig>> {
        layered::load(self.config.as_deref(), ENV_PREFIX, self.overrides())
    }
}

/// The coordinator's data directory: configured, or `<resist data dir>/coordinator`.
pub fn data_dir(config: &CoordinatorConfig) -> PathBuf {
    config
        .data_dir
        .clone()
        .unwrap_or_else(|| crate::default_data_dir().join("coordinator"))
}

/// Where the admin token lives for this configuration.
pub fn admin_token_file(config: &CoordinatorConfig) -> PathBuf {
    config
        .admin_token_file
        .clone()
        .unwrap_or_else(|| data_dir(config).join("admin-token"))
}

/// The admin token: the environment variable, else the file, created with a
/// random token when missing (unless `create` is false).
fn admin_token(file: &Path, create: bool) -> anyhow::Result<(String, &'static str)> {
    if let Ok(t) = std::env::var(ADMIN_TOKEN_ENV)
        && !t.trim().is_empty()
    {
        return Ok((t.trim().to_owned(), "environment"));
    }
    match std::fs::read_to_string(file) {
        Ok(t) if !t.trim().is_empty() => Ok((t.trim().to_owned(), "file")),
        Ok(_) => Err(anyhow!(
            "the admin token file {} is empty; delete it to have a new token generated",
            file.display()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let token = hex::encode(bytes);
            resist_node::credentials::write_private(file, &format!("{token}\n")).with_context(
                || format!("cannot create the admin token file {}", file.display()),
            )?;
            Ok((token, "generated"))
        }
        Err(e) => Err(anyhow!(
            "cannot read the admin token file {}: {e}",
            file.display()
        )),
    }
}

/// Runs `resist coordinator`.
pub fn run(args: CoordinatorArgs) -> Result<(), Failure> {
    if let Some(CoordinatorCommand::Status(status)) = args.command {
        return crate::admin::status(status);
    }
    if args.print_default_config {
        print!("{}", resist_coordinator::config::EXAMPLE);
        return Ok(());
    }
    let layered = args.load().map_err(Failure::Config)?;
    let config = layered.value.clone();
    logging::init(&config.log.level, false)
        .map_err(|e| Failure::Config(layered.invalid("log.level", &format!("{e:#}"))))?;
    if config.limits.requests_per_minute == 0 {
        return Err(Failure::Config(
            layered.invalid("limits.requests_per_minute", "must be at least 1"),
        ));
    }
    let g = &config.grants;
    for (key, problem) in [
        (
            "grants.capacity_target_bps",
            (g.capacity_target_bps == 0).then_some("must be above 0"),
        ),
        (
            "grants.operator_cap_bps",
            (!(1..=10_000).contains(&g.operator_cap_bps))
                .then_some("must be 1 to 10000 (10000 = no cap)"),
        ),
        (
            "grants.capacity_max_permille",
            (g.capacity_max_permille < g.capacity_min_permille)
                .then_some("must be at least grants.capacity_min_permille"),
        ),
    ] {
        if let Some(problem) = problem {
            return Err(Failure::Config(layered.invalid(key, problem)));
        }
    }
    if let Some(url) = &config.database
        && !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
    {
        return Err(Failure::Config(layered.invalid(
            "database",
            "use postgres://USER@HOST/DB, sqlite://PATH, or leave it unset for SQLite in the data directory",
        )));
    }
    payout_settings(&config).map_err(Failure::Config)?;
    if args.check {
        println!(
            "configuration OK: listen {}, network {}, database {}",
            config.listen,
            config.network,
            config
                .database
                .as_deref()
                .map_or_else(|| "SQLite in the data directory".to_owned(), redact_url)
        );
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("resist-coordinator")
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Runtime)?;
    runtime.block_on(serve(config))
}

async fn serve(config: CoordinatorConfig) -> Result<(), Failure> {
    let mut term = signals::handler(SignalKind::terminate()).map_err(Failure::Runtime)?;
    let mut interrupt = signals::handler(SignalKind::interrupt()).map_err(Failure::Runtime)?;
    let dir = data_dir(&config);
    let token_file = admin_token_file(&config);
    let (token, token_source) = admin_token(&token_file, true).map_err(Failure::Config)?;
    let store = AnyStore::open(config.database.as_deref(), &dir)
        .await
        .map_err(|e| Failure::Runtime(anyhow!("cannot open the database: {e}")))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another coordinator running? choose another with --listen",
                config.listen
            )
        })
        .map_err(Failure::Runtime)?;
    let canary = tokio::net::TcpListener::bind(config.measurement.canary_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen for the canary on {}; choose another with measurement.canary_listen",
                config.measurement.canary_listen
            )
        })
        .map_err(Failure::Runtime)?;
    let bound = listener
        .local_addr()
        .map_err(|e| Failure::Runtime(e.into()))?;
    let settings = Settings {
        network: config.network,
        challenge_ttl: config.challenge_ttl,
        endpoint_rules: EndpointRules {
            danger_allow_private: config.danger_allow_private_endpoints,
        },
        admin_token_hash: resist_coordinator::token_hash(&token),
        limits: config.limits.clone(),
        measurement: MeasurementSettings {
            window: config.measurement.window,
            // With port 0 the kernel picks the port: advertise what was bound.
            canary_advertise: match &config.measurement.canary_advertise {
                Some(a) => a.clone(),
                None => canary
                    .local_addr()
                    .map_err(|e| Failure::Runtime(e.into()))?
                    .to_string(),
            },
            // Replaced by the database's key in `run_with`.
            canary_key: [0; 32],
            censored_per_node: config.measurement.censored_probes_per_node,
            free_per_node: config.measurement.free_probes_per_node,
            max_report_age: config.measurement.max_report_age,
            max_clock_skew: config.measurement.max_clock_skew,
        },
        grants: config.grants.params(),
        payout: payout_settings(&config).map_err(Failure::Config)?,
        // The secret is replaced by the database's in `run_with`; this
        // checks the parameters before anything listens.
        distribution: config
            .distribution
            .settings([0; 32])
            .map_err(|e| Failure::Config(anyhow!("distribution: {e}")))?,
    };
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM: finishing requests in flight"),
            _ = interrupt.recv() => info!("interrupted: finishing requests in flight"),
        }
    };
    let database = config
        .database
        .as_deref()
        .map_or_else(|| format!("SQLite in {}", dir.display()), redact_url);
    if config.danger_allow_private_endpoints {
        warn!(
            "danger_allow_private_endpoints = true: operators can point probes at loopback and private addresses"
        );
    }
    let announce = |network: &str| {
        println!("resist coordinator listening on http://{bound} (network {network})");
        println!("database: {database}");
        match token_source {
            "environment" => println!("admin token: from {ADMIN_TOKEN_ENV}"),
            "generated" => println!("admin token: generated in {}", token_file.display()),
            _ => println!("admin token: {}", token_file.display()),
        }
        println!("API description: http://{bound}/api/openapi.json");
    };
    run_with(store, settings, (listener, canary), shutdown, announce).await
}

async fn run_with<S: Store>(
    store: S,
    mut settings: Settings,
    (listener, canary): (tokio::net::TcpListener, tokio::net::TcpListener),
    shutdown: impl Future<Output = ()> + Send + 'static,
    announce: impl FnOnce(&str),
) -> Result<(), Failure> {
    // A database serves one network for its whole life: addresses of another
    // network would be paid nowhere.
    let network = settings.network.to_string();
    let stored = store
        .meta_get_or_insert(NETWORK_META_KEY, &network)
        .await
        .map_err(|e| Failure::Runtime(anyhow!("cannot read the database: {e}")))?;
    if stored != network {
        return Err(Failure::Config(anyhow!(
            "this database belongs to a coordinator on {stored}, but `network` is {network}; \
             use --network {stored}, or another database for {network}"
        )));
    }
    // The canary key is shared by every coordinator on the database: the
    // first one to start makes it.
    let mut fresh = [0u8; 32];
    rand::rng().fill_bytes(&mut fresh);
    let stored = store
        .meta_get_or_insert(CANARY_KEY_META_KEY, &hex::encode(fresh))
        .await
        .map_err(|e| Failure::Runtime(anyhow!("cannot read the database: {e}")))?;
    settings.measurement.canary_key = hex::decode(&stored)
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| {
            Failure::Runtime(anyhow!("the canary key stored in the database is damaged"))
        })?;
    // The distributor's secret, likewise: coordinators sharing a database
    // put every requester in the same bucket.
    let mut fresh = [0u8; 32];
    rand::rng().fill_bytes(&mut fresh);
    let stored = store
        .meta_get_or_insert(DISTRIBUTION_SECRET_META_KEY, &hex::encode(fresh))
        .await
        .map_err(|e| Failure::Runtime(anyhow!("cannot read the database: {e}")))?;
    let secret = hex::decode(&stored)
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| {
            Failure::Runtime(anyhow!(
                "the distribution secret stored in the database is damaged"
            ))
        })?;
    settings.distribution = settings
        .distribution
        .with_secret(&secret)
        .map_err(|e| Failure::Config(anyhow!("distribution: {e}")))?;
    announce(&network);
    let canary_addr = canary
        .local_addr()
        .map_err(|e| Failure::Runtime(e.into()))?;
    println!(
        "canary: {canary_addr} (probes reach it at {}; nodes must allow it as a destination)",
        settings.measurement.canary_advertise
    );
    let canary_task = tokio::spawn(resist_coordinator::canary::serve(
        canary,
        settings.measurement.canary_key,
        std::future::pending(),
    ));
    let state = AppState::new(store, Arc::new(SystemClock), settings);
    let served = resist_coordinator::serve(listener, state, shutdown).await;
    canary_task.abort();
    served
        .context("the HTTP server failed")
        .map_err(Failure::Runtime)?;
    info!("stopped");
    Ok(())
}

/// The treasury of `[payout]`, checked: both descriptors or neither, public
/// keys only, valid on the coordinator's network.
fn payout_settings(
    config: &CoordinatorConfig,
) -> anyhow::Result<Option<resist_coordinator::config::PayoutSettings>> {
    let p = &config.payout;
    let (external, internal) = match (&p.treasury_external, &p.treasury_internal) {
        (None, None) => return Ok(None),
        (Some(e), Some(i)) => (e.trim().to_owned(), i.trim().to_owned()),
        _ => anyhow::bail!(
            "[payout] needs both treasury_external (receive) and treasury_internal (change) descriptors, or neither"
        ),
    };
    if p.fee_rate_sat_per_vb == 0 {
        anyhow::bail!("[payout] fee_rate_sat_per_vb must be at least 1 sat/vB");
    }
    resist_payout::Treasury::new(&external, &internal, config.network)
        .with_context(|| "[payout] treasury descriptors".to_owned())?;
    Ok(Some(resist_coordinator::config::PayoutSettings {
        treasury_external: external,
        treasury_internal: internal,
        fee_rate_sat_per_vb: p.fee_rate_sat_per_vb,
        chain: match &p.chain {
            None => None,
            Some(c) => Some(std::sync::Arc::new(
                resist_coordinator::chain::ConfiguredChain::new(c).context("[payout.chain]")?,
            )),
        },
    }))
}
