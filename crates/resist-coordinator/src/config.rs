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

use resist_measure::{AdmissionRules, ProbesPerNode, Windows};
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
    /// Measurement windows, probe assignment and the canary.
    pub measurement: MeasurementConfig,
    /// The scoring rules of grant epochs.
    pub grants: GrantsConfig,
    /// The treasury that pays grants, and its fee rate.
    pub payout: PayoutConfig,
    /// Handing proxies to users: buckets and their rate limit.
    pub distribution: DistributionConfig,
    /// Logging.
    pub log: LogConfig,
}

/// The scoring rules of grant epochs, as configured (any key may be left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrantsConfig {
    /// Throughput (bits/s) that earns a capacity factor of 1000 per mille.
    pub capacity_target_bps: u64,
    /// Lowest capacity factor, per mille.
    pub capacity_min_permille: u32,
    /// Highest capacity factor, per mille.
    pub capacity_max_permille: u32,
    /// Most one operator receives of a budget, in basis points.
    pub operator_cap_bps: u32,
    /// Smallest payment; smaller sums carry over.
    pub payout_minimum_sat: u64,
}

/// The treasury that pays the grants (watch-only: public descriptors only),
/// as configured in `[payout]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PayoutConfig {
    /// Receive descriptor with an xpub and key origin, e.g.
    /// `wpkh([fingerprint/84'/0'/0']xpub…/0/*)`; unset: no payouts.
    pub treasury_external: Option<String>,
    /// Change descriptor, the same with `/1/*`.
    pub treasury_internal: Option<String>,
    /// Fee rate of payout transactions, sat/vB.
    pub fee_rate_sat_per_vb: u64,
    /// Where the treasury's coins are read and payouts broadcast
    /// (`[payout.chain]`: Esplora, Electrum or Bitcoin Core).
    pub chain: Option<resist_chain::ChainConfig>,
}

impl Default for PayoutConfig {
    fn default() -> Self {
        Self {
            treasury_external: None,
            treasury_internal: None,
            fee_rate_sat_per_vb: 2,
            chain: None,
        }
    }
}

impl Default for GrantsConfig {
    fn default() -> Self {
        Self {
            capacity_target_bps: 10_000_000,
            capacity_min_permille: 100,
            capacity_max_permille: 2_000,
            operator_cap_bps: 2_500,
            payout_minimum_sat: 10_000,
        }
    }
}

impl GrantsConfig {
    /// The rules as resist-grants takes them.
    pub fn params(&self) -> resist_grants::ScoringParams {
        resist_grants::ScoringParams {
            capacity_target_bps: self.capacity_target_bps,
            capacity_min_permille: self.capacity_min_permille,
            capacity_max_permille: self.capacity_max_permille,
            operator_cap_bps: self.operator_cap_bps,
            payout_minimum_sat: self.payout_minimum_sat,
        }
    }
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
            measurement: MeasurementConfig::default(),
            grants: GrantsConfig::default(),
            payout: PayoutConfig::default(),
            distribution: DistributionConfig::default(),
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
            .field("measurement", &self.measurement)
            .field("grants", &self.grants)
            .field("payout", &self.payout)
            .field("distribution", &self.distribution)
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

/// Measurement windows, probe assignment and the canary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeasurementConfig {
    /// Length of a measurement window.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Where the canary listens.
    pub canary_listen: SocketAddr,
    /// `HOST:PORT` probes reach the canary at through nodes (default: `canary_listen`).
    pub canary_advertise: Option<String>,
    /// Censored-region probes assigned to each node per window.
    pub censored_probes_per_node: usize,
    /// Free-region probes assigned to each node per window.
    pub free_probes_per_node: usize,
    /// Oldest report accepted.
    #[serde(with = "humantime_serde")]
    pub max_report_age: Duration,
    /// How far a probe's clock may be ahead of the coordinator's.
    #[serde(with = "humantime_serde")]
    pub max_clock_skew: Duration,
}

impl Default for MeasurementConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(600),
            canary_listen: SocketAddr::from(([127, 0, 0, 1], 8741)),
            canary_advertise: None,
            censored_probes_per_node: 2,
            free_probes_per_node: 1,
            max_report_age: Duration::from_secs(24 * 3600),
            max_clock_skew: Duration::from_secs(120),
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

/// What measurement runs with.
#[derive(Clone)]
pub struct MeasurementSettings {
    /// Length of a window.
    pub window: Duration,
    /// `HOST:PORT` probes CONNECT to through each node.
    pub canary_advertise: String,
    /// The canary's HMAC key (from the database, shared by all coordinators).
    pub canary_key: [u8; 32],
    /// Censored-region probes assigned to each node per window.
    pub censored_per_node: usize,
    /// Free-region probes assigned to each node per window.
    pub free_per_node: usize,
    /// Oldest report accepted (a probe's queue may hold reports through a
    /// coordinator outage).
    pub max_report_age: Duration,
    /// How far ahead of the coordinator's clock a probe's clock may be.
    pub max_clock_skew: Duration,
}

impl std::fmt::Debug for MeasurementSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeasurementSettings")
            .field("window", &self.window)
            .field("canary_advertise", &self.canary_advertise)
            .field("canary_key", &"[redacted]")
            .field("censored_per_node", &self.censored_per_node)
            .field("free_per_node", &self.free_per_node)
            .field("max_report_age", &self.max_report_age)
            .field("max_clock_skew", &self.max_clock_skew)
            .finish()
    }
}

impl MeasurementSettings {
    /// How time is cut into windows.
    pub fn windows(&self) -> Windows {
        Windows::new(self.window)
    }

    /// The time rules reports are admitted by.
    pub fn admission(&self) -> AdmissionRules {
        AdmissionRules {
            windows: self.windows(),
            max_age: self.max_report_age,
            max_skew: self.max_clock_skew,
        }
    }

    /// How many probes of each side every node gets per window.
    pub fn probes_per_node(&self) -> ProbesPerNode {
        ProbesPerNode {
            censored: self.censored_per_node,
            free: self.free_per_node,
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
    /// Windows, assignments, the canary.
    pub measurement: MeasurementSettings,
    /// The scoring rules of grant epochs.
    pub grants: resist_grants::ScoringParams,
    /// Buckets, their rate limit and the distributor's secret.
    pub distribution: DistributionSettings,
    /// The treasury and where its coins are seen; `None`: payouts are not
    /// configured (closing epochs still works).
    pub payout: Option<PayoutSettings>,
}

/// What paying an epoch needs.
#[derive(Clone, Debug)]
pub struct PayoutSettings {
    /// Receive descriptor (public keys only; checked when the server starts).
    pub treasury_external: String,
    /// Change descriptor.
    pub treasury_internal: String,
    /// Fee rate of payout transactions, sat/vB.
    pub fee_rate_sat_per_vb: u64,
    /// Where the treasury's coins are seen and payouts broadcast; `None`:
    /// PSBTs cannot be built here (finalizing still works).
    pub chain: Option<std::sync::Arc<dyn crate::chain::ChainAccess>>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("network", &self.network)
            .field("challenge_ttl", &self.challenge_ttl)
            .field("endpoint_rules", &self.endpoint_rules)
            .field("admin_token_hash", &"[redacted]")
            .field("limits", &self.limits)
            .field("measurement", &self.measurement)
            .field("grants", &self.grants)
            .field("payout", &self.payout)
            .field("distribution", &self.distribution)
            .finish()
    }
}

// --- distribution --------------------------------------------------------------

/// Handing proxies to users, as configured (any key may be left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistributionConfig {
    /// Buckets requester keys are hashed into.
    pub buckets: u32,
    /// Proxies each bucket shows.
    pub nodes_per_bucket: usize,
    /// Requests per requester key (a /16, a /32 or an invitation) and minute.
    pub requests_per_minute: u32,
    /// Burst allowance on top of the rate.
    pub burst: u32,
    /// Measurement windows looked back for a node's latest status.
    pub status_windows: u32,
}

impl Default for DistributionConfig {
    fn default() -> Self {
        Self {
            buckets: resist_distribute::DEFAULT_BUCKETS,
            nodes_per_bucket: resist_distribute::DEFAULT_PER_BUCKET,
            requests_per_minute: 60,
            burst: 30,
            status_windows: 3,
        }
    }
}

impl DistributionConfig {
    /// The settings, with `secret` (from the database).
    pub fn settings(
        &self,
        secret: [u8; 32],
    ) -> Result<DistributionSettings, resist_distribute::ParamsError> {
        let distributor = resist_distribute::Distributor::new(
            &secret,
            resist_distribute::Params {
                buckets: self.buckets,
                per_bucket: self.nodes_per_bucket,
            },
        )?;
        Ok(DistributionSettings {
            distributor,
            requests_per_minute: self.requests_per_minute,
            burst: self.burst,
            status_windows: self.status_windows.clamp(1, 1000),
        })
    }
}

/// What the distributor runs with.
#[derive(Debug, Clone)]
pub struct DistributionSettings {
    /// Requester key → bucket → nodes, keyed with the database's secret.
    pub distributor: resist_distribute::Distributor,
    /// Requests per requester key and minute.
    pub requests_per_minute: u32,
    /// Burst allowance on top of the rate.
    pub burst: u32,
    /// Measurement windows looked back for a node's latest status (1–1000).
    pub status_windows: u32,
}

impl DistributionSettings {
    /// The same settings keyed with `secret`.
    pub fn with_secret(&self, secret: &[u8; 32]) -> Result<Self, resist_distribute::ParamsError> {
        Ok(Self {
            distributor: resist_distribute::Distributor::new(secret, self.distributor.params())?,
            ..self.clone()
        })
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
