//! `resist node`: run a SOCKS5 proxy node.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use clap::Args;
use resist_node::config::{AuthMode, ConfigError};
use resist_node::policy::{Preset, allow_list_overlaps_special};
use resist_node::{Metrics, Node, NodeConfig, Settings, credentials, share};
use resist_socks5::auth::User;
use resist_socks5::server::AuthPolicy;
use tokio::signal::unix::{Signal, SignalKind};
use tracing::{error, info, warn};

use crate::layered::{self, Layered};
use crate::{Failure, logging, signals};

/// The prefix of environment variables that set node options.
pub const ENV_PREFIX: &str = "RESIST_NODE_";

/// Run a SOCKS5 proxy node for censored users.
///
/// With no options the node listens on 127.0.0.1:1080, generates a username and
/// password (kept in the data directory, so the share link survives restarts), and
/// prints a tg:// link and a QR code to hand to users. To serve others, listen on a
/// public address and advertise the address users should dial:
///
///     resist node --listen 0.0.0.0:1080 --advertise proxy.example.org:1080
///
/// Destinations in loopback, private, link-local and other special ranges are
/// refused unless named with --allow-destination. Settings come from built-in
/// defaults, then --config FILE, then RESIST_NODE_* variables (e.g.
/// RESIST_NODE_LIMITS__IDLE_TIMEOUT=2m), then these flags.
///
/// Signals: SIGTERM or Ctrl-C stops accepting and lets open connections finish
/// (up to limits.drain_timeout); SIGHUP re-reads the config file and applies users
/// and policy to new connections without dropping open ones.
#[derive(Debug, Clone, Default, Args)]
#[command(verbatim_doc_comment)]
pub struct NodeArgs {
    /// TOML configuration file (see --print-default-config)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address to accept SOCKS5 clients on; repeat for several (IPv4 and IPv6)
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<SocketAddr>,

    /// A user allowed in; repeat for several. Replaces the users of the config file
    #[arg(long, value_name = "NAME:PASSWORD", conflicts_with = "no_auth")]
    pub user: Vec<String>,

    /// No authentication: anyone who can reach the node may use it (warned about at start)
    #[arg(long)]
    pub no_auth: bool,

    /// Destination range to serve even if private or loopback; repeat for several
    #[arg(long, value_name = "CIDR")]
    pub allow_destination: Vec<String>,

    /// Limit destinations to a preset: `telegram` (Telegram's published ranges) or `any`
    #[arg(long, value_name = "PRESET")]
    pub preset: Option<String>,

    /// HOST:PORT to put in the share links (for nodes behind NAT or with a DNS name)
    #[arg(long, value_name = "HOST:PORT")]
    pub advertise: Option<String>,

    /// Directory for generated credentials [default: $XDG_DATA_HOME/resist or ~/.local/share/resist]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Serve Prometheus metrics on this (loopback) address
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<SocketAddr>,

    /// Log level or tracing filter [default: info]
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Print the example configuration, every option at its default, and exit
    #[arg(long)]
    pub print_default_config: bool,

    /// Check the configuration and exit without listening
    #[arg(long)]
    pub check: bool,
}

impl NodeArgs {
    /// The keys set by flags, as a table to layer over file and environment.
    pub fn overrides(&self) -> Result<toml::Table, anyhow::Error> {
        let mut t = toml::Table::new();
        let mut section = |name: &str| -> toml::Table {
            match t.remove(name) {
                Some(toml::Value::Table(s)) => s,
                _ => toml::Table::new(),
            }
        };
        let mut auth = section("auth");
        let mut policy = section("policy");
        let mut metrics = section("metrics");
        let mut log = section("log");
        if !self.listen.is_empty() {
            t.insert(
                "listen".into(),
                strings(self.listen.iter().map(ToString::to_string)),
            );
        }
        if !self.user.is_empty() {
            let mut users = Vec::new();
            for spec in &self.user {
                // The value is not echoed: it may hold a mistyped password.
                let (name, password) = spec.split_once(':').ok_or_else(|| {
                    anyhow!("--user: expected NAME:PASSWORD (no ':' in the value)")
                })?;
                let mut u = toml::Table::new();
                u.insert("name".into(), name.into());
                u.insert("password".into(), password.into());
                users.push(toml::Value::Table(u));
            }
            auth.insert("users".into(), toml::Value::Array(users));
            auth.insert("mode".into(), "password".into());
        }
        if self.no_auth {
            auth.insert("mode".into(), "none".into());
        }
        if !self.allow_destination.is_empty() {
            policy.insert(
                "allow_destinations".into(),
                strings(self.allow_destination.iter().cloned()),
            );
        }
        if let Some(p) = &self.preset {
            policy.insert("preset".into(), p.as_str().into());
        }
        if let Some(a) = &self.advertise {
            t.insert("advertise".into(), a.as_str().into());
        }
        if let Some(d) = &self.data_dir {
            t.insert("data_dir".into(), d.display().to_string().into());
        }
        if let Some(m) = self.metrics {
            metrics.insert("listen".into(), m.to_string().into());
        }
        if let Some(l) = &self.log_level {
            log.insert("level".into(), l.as_str().into());
        }
        for (name, s) in [
            ("auth", auth),
            ("policy", policy),
            ("metrics", metrics),
            ("log", log),
        ] {
            if !s.is_empty() {
                t.insert(name.into(), toml::Value::Table(s));
            }
        }
        Ok(t)
    }

    /// The node configuration from every layer.
    pub fn load(&self) -> anyhow::Result<Layered<NodeConfig>> {
        layered::load(self.config.as_deref(), ENV_PREFIX, self.overrides()?)
    }
}

fn strings(items: impl Iterator<Item = String>) -> toml::Value {
    toml::Value::Array(items.map(toml::Value::String).collect())
}

/// The data directory: configured, or the XDG default.
pub fn data_dir(config: &NodeConfig) -> PathBuf {
    config
        .data_dir
        .clone()
        .unwrap_or_else(crate::default_data_dir)
}

/// Whether compiling may create the generated user's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credentials {
    /// Read it, or create and store it (a real start).
    LoadOrCreate,
    /// Read it if it exists, else use a throw-away user (`--check` writes nothing).
    ReadOnly,
}

/// Compiles the layered configuration into settings, with the generated user
/// when password auth has no configured users. Errors name key, value and source.
fn compile(
    layered: &Layered<NodeConfig>,
    data_dir: &Path,
    creds: Credentials,
) -> anyhow::Result<(Settings, Option<GeneratedUser>)> {
    let config = &layered.value;
    let generated = if config.auth.mode == AuthMode::Password && config.auth.users.is_empty() {
        let stored = credentials::path(data_dir).exists();
        let (user, created) = match creds {
            Credentials::LoadOrCreate => credentials::load_or_generate(data_dir)?,
            Credentials::ReadOnly if stored => credentials::load_or_generate(data_dir)?,
            Credentials::ReadOnly => (credentials::generate(), true),
        };
        Some(GeneratedUser { user, created })
    } else {
        None
    };
    let own = resist_node::own_addresses(&config.listen);
    let settings = config
        .compile(generated.as_ref().map(|g| g.user.clone()), own)
        .map_err(|e| match e {
            ConfigError::Invalid { key, problem } => layered.invalid(key, &problem),
            other => anyhow!("invalid configuration: {other}"),
        })?;
    Ok((settings, generated))
}

/// The user generated for a node with no configured users.
struct GeneratedUser {
    user: User,
    /// Created on this start (rather than read back from the data directory).
    created: bool,
}

/// Runs `resist node`.
pub fn run(args: NodeArgs) -> Result<(), Failure> {
    if args.print_default_config {
        print!("{}", resist_node::config::EXAMPLE);
        return Ok(());
    }
    let layered = args.load().map_err(Failure::Config)?;
    let config = &layered.value;
    logging::init(&config.log.level, config.log.danger_log_sensitive)
        .map_err(|e| Failure::Config(layered.invalid("log.level", &format!("{e:#}"))))?;
    let data_dir = data_dir(config);
    let creds = if args.check {
        Credentials::ReadOnly
    } else {
        Credentials::LoadOrCreate
    };
    let (settings, generated) = compile(&layered, &data_dir, creds).map_err(Failure::Config)?;
    if args.check {
        println!(
            "configuration OK: {} listen address(es), auth {}, preset {}",
            config.listen.len(),
            config.auth.mode,
            config.policy.preset
        );
        return Ok(());
    }
    let config = layered.value;
    let mut builder = match config.threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if n > 1 {
                b.worker_threads(n);
            }
            b
        }
    };
    let runtime = builder
        .enable_all()
        .thread_name("resist-node")
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Runtime)?;
    runtime
        .block_on(serve(args, config, settings, generated, data_dir))
        .map_err(Failure::Runtime)
}

async fn serve(
    args: NodeArgs,
    config: NodeConfig,
    settings: Settings,
    generated: Option<GeneratedUser>,
    data_dir: PathBuf,
) -> anyhow::Result<()> {
    // Signal handlers first: a SIGTERM or SIGHUP that arrives as soon as the
    // banner is out must be handled, not kill the process by default action.
    let mut term = signals::handler(SignalKind::terminate())?;
    let mut interrupt = signals::handler(SignalKind::interrupt())?;
    let hangup = signals::handler(SignalKind::hangup())?;
    check_open_file_limit(config.limits.max_connections);
    let mut listeners = Vec::new();
    for addr in &config.listen {
        let l = resist_node::bind(*addr).with_context(
            || "is another node running on that port? choose another with --listen",
        )?;
        listeners.push(l);
    }
    let bound: Vec<SocketAddr> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    warn_about_risky_settings(&config);
    print_banner(&config, &bound, &settings, generated.as_ref(), &data_dir);

    let metrics = Arc::new(Metrics::new());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    if let Some(addr) = config.metrics.listen {
        let listener = resist_node::metrics::bind(addr).await?;
        info!("metrics at http://{addr}/metrics");
        let mut rx = stop_rx.clone();
        tokio::spawn(resist_node::metrics::serve(
            listener,
            Arc::clone(&metrics),
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            },
        ));
    }
    let node = Node::new(settings, metrics);
    tokio::spawn(reload_on_sighup(args, hangup, Arc::clone(&node)));

    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM: draining"),
            _ = interrupt.recv() => info!("interrupted: draining"),
        }
        let _ = stop_tx.send(true);
    };
    node.serve(listeners, shutdown).await;
    info!("stopped");
    Ok(())
}

/// Raises the open-file limit to the hard limit and warns if even that cannot
/// hold `max_connections` relayed connections (two sockets each, plus pipes).
fn check_open_file_limit(max_connections: usize) {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            warn!(error = %e, "cannot raise the open-file limit");
            return;
        }
    };
    let needed = 2 * max_connections as u64 + 64;
    if limit < needed {
        warn!(
            "the open-file limit is {limit}, but limits.max_connections = {max_connections} needs about {needed}; \
             raise it (ulimit -n, LimitNOFILE=) or lower limits.max_connections"
        );
    } else {
        tracing::debug!(open_files = limit, "file descriptor limit");
    }
}

async fn reload_on_sighup(args: NodeArgs, mut hup: Signal, node: Arc<Node>) {
    while hup.recv().await.is_some() {
        let reloaded = args.load().and_then(|layered| {
            let dir = data_dir(&layered.value);
            compile(&layered, &dir, Credentials::LoadOrCreate).map(|(s, _)| (layered.value, s))
        });
        match reloaded {
            Ok((config, settings)) => {
                node.reload(settings);
                info!(
                    "SIGHUP: configuration reloaded for new connections (auth {}, {} configured users, preset {})",
                    config.auth.mode,
                    config.auth.users.len(),
                    config.policy.preset
                );
            }
            Err(e) => {
                node.metrics()
                    .reloads
                    .get_or_create(&resist_node::metrics::Outcome { outcome: "error" })
                    .inc();
                error!("SIGHUP: keeping the previous configuration: {e:#}");
            }
        }
    }
}

fn warn_about_risky_settings(config: &NodeConfig) {
    let public = config.listen.iter().any(|a| !a.ip().is_loopback());
    if config.auth.mode == AuthMode::None {
        if public {
            warn!(
                "auth.mode = \"none\" on a public address: anyone who finds this node can use it, and open proxies are found and abused within days"
            );
        } else {
            warn!("auth.mode = \"none\": any local program can use this node");
        }
    }
    let overlap = allow_list_overlaps_special(&config.policy.allow_destinations);
    if !overlap.is_empty() {
        let list: Vec<String> = overlap.iter().map(ToString::to_string).collect();
        warn!(
            "policy.allow_destinations opens special-purpose ranges to every user of this node: {}",
            list.join(", ")
        );
    }
    if config.policy.danger_allow_private_destinations {
        warn!(
            "policy.danger_allow_private_destinations = true: users of this node can reach your private network"
        );
    }
    if config.log.danger_log_sensitive {
        warn!(
            "log.danger_log_sensitive = true: client addresses and destinations will appear in the logs"
        );
    }
}

fn print_banner(
    config: &NodeConfig,
    bound: &[SocketAddr],
    settings: &Settings,
    generated: Option<&GeneratedUser>,
    data_dir: &Path,
) {
    let (host, mut port) = config.advertised();
    // With --listen …:0 the advertised port is the one the kernel chose.
    if config.advertise.is_none() && port == 0 {
        port = bound.first().map_or(0, SocketAddr::port);
    }
    let user = match &settings.auth {
        AuthPolicy::Password(t) => t.users().first().cloned(),
        _ => None,
    };
    let links = share::links(&host, port, user.as_ref().map(|u| (u.name(), u.password())));
    let addrs: Vec<String> = bound.iter().map(ToString::to_string).collect();
    println!("resist node listening on {}", addrs.join(", "));
    let mut destinations = match config.policy.preset {
        Preset::Telegram => "Telegram's published ranges (preset telegram)".to_string(),
        Preset::Any => "any public address".to_string(),
    };
    if !config.policy.allow_destinations.is_empty() {
        let extra: Vec<String> = config
            .policy
            .allow_destinations
            .iter()
            .map(ToString::to_string)
            .collect();
        destinations.push_str(&format!(", plus {}", extra.join(", ")));
    }
    println!("destinations: {destinations}");
    if let Some(g) = generated {
        let what = if g.created { "generated" } else { "loaded" };
        println!(
            "credentials {what}: {} (in {})",
            g.user.name(),
            credentials::path(data_dir).display()
        );
    }
    println!(
        "\nShare with users (Telegram: open the link, or scan the code):\n  {}\n  {}",
        links.tg, links.tme
    );
    if let Some(qr) = share::qr_terminal(&links.tg) {
        println!("{qr}");
    }
    if bound.iter().all(|a| a.ip().is_loopback()) && config.advertise.is_none() {
        println!(
            "note: listening on loopback only, reachable from this machine alone. To serve users:\n      resist node --listen 0.0.0.0:1080 --advertise YOUR_PUBLIC_ADDRESS:1080"
        );
    } else if bound.iter().any(|a| a.ip().is_unspecified()) && config.advertise.is_none() {
        println!("note: the links show {host}; set --advertise to the address users should dial");
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// Precedence: defaults < file < environment < flags, key by key.
    /// Environment variables are process-wide, so this is the only test here
    /// that sets them, and it uses keys no other test reads.
    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("node.toml");
        std::fs::write(
            &file,
            "listen = [\"127.0.0.1:2001\"]\nadvertise = \"file.example:1\"\n[limits]\nidle_timeout = \"11s\"\nconnect_timeout = \"12s\"\nhandshake_timeout = \"13s\"\n",
        )
        .unwrap();
        // SAFETY: single-threaded at this point of the test; no other test reads these keys.
        unsafe {
            std::env::set_var("RESIST_NODE_LIMITS__CONNECT_TIMEOUT", "22s");
            std::env::set_var("RESIST_NODE_LIMITS__HANDSHAKE_TIMEOUT", "23s");
        }
        let args = NodeArgs {
            config: Some(file),
            listen: vec!["127.0.0.1:3001".parse().unwrap()],
            ..Default::default()
        };
        let mut flags = args.overrides().unwrap();
        // A flag for handshake_timeout does not exist; emulate the top layer directly.
        flags.insert(
            "limits".into(),
            toml::Value::Table(toml::toml! { handshake_timeout = "33s" }),
        );
        let c: NodeConfig = layered::load(args.config.as_deref(), ENV_PREFIX, flags)
            .unwrap()
            .value;
        unsafe {
            std::env::remove_var("RESIST_NODE_LIMITS__CONNECT_TIMEOUT");
            std::env::remove_var("RESIST_NODE_LIMITS__HANDSHAKE_TIMEOUT");
        }
        assert_eq!(
            c.limits.drain_timeout,
            NodeConfig::default().limits.drain_timeout,
            "default"
        );
        assert_eq!(c.limits.idle_timeout.as_secs(), 11, "file over default");
        assert_eq!(c.limits.connect_timeout.as_secs(), 22, "env over file");
        assert_eq!(c.limits.handshake_timeout.as_secs(), 33, "flag over env");
        assert_eq!(
            c.listen,
            vec!["127.0.0.1:3001".parse::<SocketAddr>().unwrap()],
            "flag over file"
        );
        assert_eq!(c.advertise.as_deref(), Some("file.example:1"));
    }

    #[test]
    fn user_flags_parse_and_conflict_with_no_auth() {
        let args = NodeArgs {
            user: vec!["a:b:c".into()],
            ..Default::default()
        };
        let t = args.overrides().unwrap();
        assert_eq!(
            t["auth"]["users"][0]["password"].as_str(),
            Some("b:c"),
            "password may contain ':'"
        );
        assert!(
            NodeArgs {
                user: vec!["nocolon".into()],
                ..Default::default()
            }
            .overrides()
            .is_err()
        );
    }
}
