//! The coordinator's configuration as the funder writes it, and the
//! [`Settings`] the server runs with.
//!
//! Layering (defaults, file, environment, flags) happens in the `resist`
//! binary, as for the node; this module owns the shape, the defaults and the
//! example file.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use resist_ownership::Network;
use resist_proto::endpoint::EndpointRules;
use serde::{Deserialize, Serialize};

/// The example configuration: every option, commented out, at its default.
pub const EXAMPLE: &str = include_str!("../coordinator.example.toml");

/// The coordinator's configuration file (`resist coordinator --config FILE`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoordinatorConfig {
    /// Address of the HTTP API.
    pub listen: SocketAddr,
    /// Where the SQLite database and the generated admin token live.
    pub data_dir: Option<PathBuf>,
    /// `postgres://…` or `sqlite://…`; unset means SQLite in `data_dir`.
    pub database: Option<String>,
    /// The Bitcoin network grants are paid on.
    pub network: Network,
    /// File holding the admin token.
    pub admin_token_file: Option<PathBuf>,
    /// How long an operator has to sign a challenge.
    #[serde(with = "humantime_serde")]
    pub challenge_ttl: Duration,
    /// Accept loopback and private node endpoints (local test networks only).
    pub danger_allow_private_endpoints: bool,
    /// Sizes, times and rates.
    pub limits: LimitsConfig,
    /// Logging.
    pub log: LogConfig,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8740)),
            data_dir: None,
            database: None,
            network: Network::Mainnet,
            admin_token_file: None,
            challenge_ttl: Duration::from_secs(600),
            danger_allow_private_endpoints: false,
            limits: LimitsConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl fmt::Debug for CoordinatorConfig {
    // The database URL may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoordinatorConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database", &self.database.as_deref().map(redact_url))
            .field("network", &self.network)
            .field("admin_token_file", &self.admin_token_file)
            .field("challenge_ttl", &self.challenge_ttl)
            .field(
                "danger_allow_private_endpoints",
                &self.danger_allow_private_endpoints,
            )
            .field("limits", &self.limits)
            .field("log", &self.log)
            .finish()
    }
}

/// `scheme://user:password@host/db` with the password replaced.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    format!("{}{user}:[redacted]{}", &url[..scheme_end + 3], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Sizes, times and rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Time allowed for one request.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Unauthenticated and signed requests per client address and minute.
    pub requests_per_minute: u32,
    /// Burst allowance on top of the rate.
    pub burst: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(15),
            requests_per_minute: 30,
            burst: 10,
        }
    }
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// error, warn, info, debug or trace.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
        }
    }
}

/// What the running server needs, resolved from the configuration.
#[derive(Clone)]
pub struct Settings {
    /// The network payout addresses must belong to.
    pub network: Network,
    /// How long a challenge stays valid.
    pub challenge_ttl: Duration,
    /// Which node endpoints are accepted.
    pub endpoint_rules: EndpointRules,
    /// SHA-256 of the admin token.
    pub admin_token_hash: [u8; 32],
    /// Sizes, times and rates.
    pub limits: LimitsConfig,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("network", &self.network)
            .field("challenge_ttl", &self.challenge_ttl)
            .field("endpoint_rules", &self.endpoint_rules)
            .field("admin_token_hash", &"[redacted]")
            .field("limits", &self.limits)
            .finish()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn example_parses_to_the_defaults() {
        let parsed: CoordinatorConfig = toml::from_str(EXAMPLE).unwrap();
        assert_eq!(parsed, CoordinatorConfig::default());
    }

    #[test]
    fn example_uncommented_is_valid() {
        // Every commented option, uncommented, must still parse: the example
        // cannot drift from the struct.
        let uncommented: String = EXAMPLE
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if rest.contains(" = ") => rest,
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let parsed: CoordinatorConfig = toml::from_str(&uncommented).unwrap();
        assert_eq!(parsed.limits.requests_per_minute, 30);
        assert!(parsed.database.is_some());
    }

    #[test]
    fn debug_redacts_the_database_password() {
        let config = CoordinatorConfig {
            database: Some("postgres://resist:s3cret@db.example/resist".into()),
            ..CoordinatorConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://resist:[redacted]@db.example/resist"));
    }
}
