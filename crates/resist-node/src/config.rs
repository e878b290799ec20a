//! The node's configuration as the operator writes it, and its compilation into
//! the [`Settings`] the server runs with.
//!
//! The layering (defaults, file, environment, flags) happens in the `resist`
//! binary; this module owns the shape, the defaults, the example file and the
//! checks that need no I/O.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use resist_socks5::auth::{User, UserTable};
use resist_socks5::server::AuthPolicy;
use serde::{Deserialize, Serialize};

use crate::policy::{Policy, Preset};

/// The example configuration: every option, commented out, at its default.
pub const EXAMPLE: &str = include_str!("../node.example.toml");

/// The node's configuration file (`resist node --config FILE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Addresses to accept SOCKS5 clients on.
    pub listen: Vec<SocketAddr>,
    /// HOST:PORT for share links.
    pub advertise: Option<String>,
    /// Where generated credentials are stored.
    pub data_dir: Option<PathBuf>,
    /// Event-loop threads: 1 (the default) runs everything on one thread, with
    /// no cross-thread wake-ups; 0 means one per CPU. Read at start only.
    pub threads: usize,
    /// Who may use the node.
    pub auth: AuthConfig,
    /// Which destinations and clients are served.
    pub policy: PolicyConfig,
    /// Timeouts and caps.
    pub limits: LimitsConfig,
    /// The Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// Logging.
    pub log: LogConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 1080))],
            advertise: None,
            data_dir: None,
            threads: 1,
            auth: AuthConfig::default(),
            policy: PolicyConfig::default(),
            limits: LimitsConfig::default(),
            metrics: MetricsConfig::default(),
            log: LogConfig::default(),
        }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Password or none.
    pub mode: AuthMode,
    /// The users allowed in (mode = "password").
    pub users: Vec<UserConfig>,
}

/// How clients authenticate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// RFC 1929 username and password.
    #[default]
    Password,
    /// No authentication: anyone who reaches the node may use it.
    None,
}

impl std::fmt::Display for AuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthMode::Password => "password",
            AuthMode::None => "none",
        })
    }
}

/// One user. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The username.
    pub name: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserConfig")
            .field("name", &self.name)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// `[policy]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Which destinations the node serves before the lists apply.
    pub preset: Preset,
    /// Admitted in addition to the preset, even in special ranges.
    pub allow_destinations: Vec<IpNet>,
    /// Always refused.
    pub deny_destinations: Vec<IpNet>,
    /// If non-empty, only these destination ports.
    pub allow_ports: Vec<u16>,
    /// Destination ports always refused.
    pub deny_ports: Vec<u16>,
    /// If non-empty, only clients from these CIDRs.
    pub allow_clients: Vec<IpNet>,
    /// Serve UDP ASSOCIATE.
    pub allow_udp: bool,
    /// Relay into loopback, private and other special ranges.
    pub danger_allow_private_destinations: bool,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            preset: Preset::Any,
            allow_destinations: Vec::new(),
            deny_destinations: Vec::new(),
            allow_ports: Vec::new(),
            deny_ports: vec![25],
            allow_clients: Vec::new(),
            allow_udp: true,
            danger_allow_private_destinations: false,
        }
    }
}

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Time allowed for the whole SOCKS5 handshake.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// Time allowed for resolving a destination name.
    #[serde(with = "humantime_serde")]
    pub resolve_timeout: Duration,
    /// Time allowed for connecting to a destination.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Relays and UDP associations idle this long are closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// How long SIGTERM waits for open connections.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// Connections at once, in total.
    pub max_connections: usize,
    /// Connections at once per client address (IPv6: per /64).
    pub max_connections_per_client: usize,
    /// Pipes for zero-copy relaying with splice(2), two descriptors each; only
    /// connections moving data hold one. 0 relays through user-space buffers.
    /// Read at start only.
    pub max_pipes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            resolve_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            drain_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_connections_per_client: 64,
            max_pipes: 1024,
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Where to serve `/metrics`; off when unset.
    pub listen: Option<SocketAddr>,
    /// Allow a non-loopback address.
    pub danger_allow_public: bool,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A level or tracing filter.
    pub level: String,
    /// Log client addresses and destinations in the clear.
    pub danger_log_sensitive: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            danger_log_sensitive: false,
        }
    }
}

/// A configuration that cannot run, naming the offending key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key holds a value that is well-formed but unusable.
    #[error("`{key}`: {problem}")]
    Invalid {
        /// The dotted key, e.g. `limits.max_connections`.
        key: &'static str,
        /// What is wrong and what to do.
        problem: String,
    },
}

fn invalid(key: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        problem: problem.into(),
    }
}

/// Everything the server needs per connection, swapped whole on reload.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Who passes the handshake.
    pub auth: AuthPolicy,
    /// Destination and client policy.
    pub policy: Arc<Policy>,
    /// Serve UDP ASSOCIATE.
    pub allow_udp: bool,
    /// Timeouts and caps.
    pub limits: LimitsConfig,
}

impl NodeConfig {
    /// Checks the configuration and compiles it into [`Settings`].
    ///
    /// `generated` is the stored generated user, used when `auth.mode` is
    /// "password" and no users are configured; `own` are the node's addresses.
    pub fn compile(
        &self,
        generated: Option<User>,
        own: Vec<IpAddr>,
    ) -> Result<Settings, ConfigError> {
        if self.listen.is_empty() {
            return Err(invalid(
                "listen",
                "at least one address is needed, e.g. \"0.0.0.0:1080\"",
            ));
        }
        let l = &self.limits;
        for (key, d) in [
            ("limits.handshake_timeout", l.handshake_timeout),
            ("limits.resolve_timeout", l.resolve_timeout),
            ("limits.connect_timeout", l.connect_timeout),
            ("limits.idle_timeout", l.idle_timeout),
        ] {
            if d.is_zero() {
                return Err(invalid(key, "must be longer than zero, e.g. \"10s\""));
            }
        }
        if l.max_connections == 0 || l.max_connections > 1_000_000 {
            return Err(invalid(
                "limits.max_connections",
                "must be between 1 and 1000000",
            ));
        }
        if l.max_pipes > 100_000 {
            return Err(invalid(
                "limits.max_pipes",
                "must be at most 100000 (each pipe holds two file descriptors)",
            ));
        }
        if l.max_connections_per_client == 0 {
            return Err(invalid(
                "limits.max_connections_per_client",
                "must be at least 1",
            ));
        }
        if let Some(addr) = self.metrics.listen
            && !addr.ip().is_loopback()
            && !self.metrics.danger_allow_public
        {
            return Err(invalid(
                "metrics.listen",
                format!(
                    "{addr} is not a loopback address; metrics are for the operator only (set metrics.danger_allow_public = true to override)"
                ),
            ));
        }
        if let Some(adv) = &self.advertise {
            parse_host_port(adv).map_err(|p| invalid("advertise", p))?;
        }
        let auth =
            match self.auth.mode {
                AuthMode::None => AuthPolicy::Open,
                AuthMode::Password => {
                    let mut users = Vec::with_capacity(self.auth.users.len());
                    for u in &self.auth.users {
                        users.push(User::new(&u.name, &u.password).map_err(|e| {
                            invalid("auth.users", format!("user {:?}: {e}", u.name))
                        })?);
                    }
                    if users.is_empty() {
                        users.extend(generated);
                    }
                    if users.is_empty() {
                        return Err(invalid(
                            "auth.users",
                            "no users configured; add one, or set auth.mode = \"none\"",
                        ));
                    }
                    AuthPolicy::Password(Arc::new(UserTable::new(users)))
                }
            };
        Ok(Settings {
            auth,
            policy: Arc::new(Policy::new(&self.policy, own)),
            allow_udp: self.policy.allow_udp,
            limits: self.limits.clone(),
        })
    }

    /// The host and port for share links: `advertise`, or the first listen address.
    pub fn advertised(&self) -> (String, u16) {
        if let Some(Ok((host, port))) = self.advertise.as_deref().map(parse_host_port) {
            return (host, port);
        }
        let first = self
            .listen
            .first()
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 1080)));
        (first.ip().to_string(), first.port())
    }
}

/// Splits `host:port` or `[v6]:port`.
pub fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    let bad = || {
        format!(
            "{s:?} is not HOST:PORT (e.g. \"proxy.example.org:1080\" or \"[2001:db8::1]:1080\")"
        )
    };
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 || host.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn example_parses_to_default() {
        let parsed: NodeConfig = toml::from_str(EXAMPLE).unwrap();
        assert_eq!(parsed, NodeConfig::default());
        // And with every option uncommented, it parses too (catches typos in the example).
        let uncommented: String = EXAMPLE
            .lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest) if !rest.starts_with(' ') && !rest.is_empty() => rest,
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let full: NodeConfig = toml::from_str(&uncommented).unwrap();
        assert_eq!(full.auth.users.len(), 1);
        assert_eq!(full.metrics.listen, Some("127.0.0.1:9180".parse().unwrap()));
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = toml::from_str::<NodeConfig>("[limits]\nidle_timout = \"1s\"\n").unwrap_err();
        assert!(err.to_string().contains("idle_timout"), "{err}");
    }

    #[test]
    fn compile_checks_values_and_names_the_key() {
        let mut c = NodeConfig::default();
        assert!(matches!(
            c.compile(None, vec![]),
            Err(ConfigError::Invalid {
                key: "auth.users",
                ..
            })
        ));
        c.auth.mode = AuthMode::None;
        c.metrics.listen = Some("0.0.0.0:9180".parse().unwrap());
        assert!(matches!(
            c.compile(None, vec![]),
            Err(ConfigError::Invalid {
                key: "metrics.listen",
                ..
            })
        ));
        c.metrics.danger_allow_public = true;
        c.limits.idle_timeout = Duration::ZERO;
        assert!(matches!(
            c.compile(None, vec![]),
            Err(ConfigError::Invalid {
                key: "limits.idle_timeout",
                ..
            })
        ));
        c.limits.idle_timeout = Duration::from_secs(1);
        assert!(c.compile(None, vec![]).is_ok());
        c.advertise = Some("nope".into());
        assert!(matches!(
            c.compile(None, vec![]),
            Err(ConfigError::Invalid {
                key: "advertise",
                ..
            })
        ));
    }

    #[test]
    fn generated_user_only_when_none_configured() {
        let mut c = NodeConfig::default();
        let generated = User::new("gen", "pw").unwrap();
        let s = c.compile(Some(generated.clone()), vec![]).unwrap();
        let AuthPolicy::Password(t) = s.auth else {
            panic!()
        };
        assert_eq!(t.users()[0].name(), "gen");
        c.auth.users = vec![UserConfig {
            name: "alice".into(),
            password: "pw".into(),
        }];
        let AuthPolicy::Password(t) = c.compile(Some(generated), vec![]).unwrap().auth else {
            panic!()
        };
        assert_eq!(t.users().len(), 1);
        assert_eq!(t.users()[0].name(), "alice");
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(
            parse_host_port("a.example:1080").unwrap(),
            ("a.example".into(), 1080)
        );
        assert_eq!(
            parse_host_port("[2001:db8::1]:443").unwrap(),
            ("2001:db8::1".into(), 443)
        );
        assert!(parse_host_port("a.example").is_err());
        assert!(parse_host_port(":80").is_err());
        assert!(parse_host_port("a:0").is_err());
    }
}
