//! The `[grants.chain]` table: which chain source, where, how long to wait,
//! how deep a coin must be. It exists so that a configuration error is found
//! when the file is read, with a message naming the key, and not at the first
//! sync.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};

/// Default wait for one call to Esplora or Electrum.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default wait for one call to bitcoind: `scantxoutset` reads the whole UTXO
/// set, which takes minutes on mainnet.
pub const DEFAULT_BITCOIND_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest `timeout` accepted.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// Default number of confirmations a coin needs to count.
pub const DEFAULT_MIN_CONFIRMATIONS: u32 = 1;
/// Most confirmations that may be required (about ten weeks).
pub const MAX_MIN_CONFIRMATIONS: u32 = 10_000;
/// Default number of consecutive unfunded scripts that ends a scan.
pub const DEFAULT_GAP_LIMIT: u32 = 20;
/// Largest gap limit accepted.
pub const MAX_GAP_LIMIT: u32 = 1_000;

/// Where the treasury's coins are looked up and payouts are broadcast, with
/// the settings common to every backend.
///
/// In TOML (`[grants.chain]`), one table whose `kind` picks the backend:
///
/// ```toml
/// kind = "esplora"
/// url = "https://blockstream.info/api"
/// timeout = "30s"          # optional, per call
/// min_confirmations = 1    # optional
/// gap_limit = 20           # optional
/// ```
///
/// `kind = "electrum"` takes `address = "host:port"` (plain TCP);
/// `kind = "bitcoind"` takes `url` and either `cookie_file` or `user` and
/// `password`. Unknown keys are refused. Values built in code are checked by
/// [`ChainConfig::validate`], which [`crate::ChainSource::new`] calls.
///
/// `Debug` never prints the bitcoind password ([`Secret`]); `Serialize`
/// writes it back (it is the file's own content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawChainConfig", into = "RawChainConfig")]
pub struct ChainConfig {
    /// Which server, and where.
    pub backend: Backend,
    /// Longest wait for one call (connect, request, whole answer).
    pub timeout: Duration,
    /// Confirmations a coin needs to be funding (1 = in the tip block).
    pub min_confirmations: u32,
    /// Consecutive unfunded scripts that end the scan of a keychain.
    pub gap_limit: u32,
}

/// The three kinds of chain source.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// An Esplora REST API (electrs/esplora, mempool.space), e.g.
    /// `https://blockstream.info/api`.
    Esplora {
        /// Base URL, `http` or `https`, without credentials.
        url: String,
    },
    /// An Electrum server (ElectrumX, Fulcrum, electrs) over plain TCP.
    /// For TLS (`ssl://`, port 50002) run a local TLS client such as stunnel
    /// and point `address` at it; TLS is not built in yet.
    Electrum {
        /// `host:port`, optionally written `tcp://host:port`.
        address: String,
    },
    /// Bitcoin Core's JSON-RPC.
    Bitcoind {
        /// `http://127.0.0.1:8332` (mainnet), `…:18443` (regtest), …
        url: String,
        /// How to log in.
        auth: CoreAuth,
    },
}

/// How to authenticate to Bitcoin Core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreAuth {
    /// The `.cookie` file bitcoind writes at start (read again on every call,
    /// so a restart of bitcoind does not need a restart here).
    CookieFile(PathBuf),
    /// `rpcuser`/`rpcpassword` (or an `rpcauth` entry).
    UserPassword {
        /// The user name.
        user: String,
        /// The password, never printed.
        password: Secret,
    },
}

/// A password: `Debug` prints `[redacted]`, there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The password itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A `[grants.chain]` value that cannot work. The message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A URL that does not parse or is not http(s).
    #[error("[grants.chain] url {url:?}: {why}")]
    Url {
        /// The URL (never one holding credentials: those are refused
        /// without being echoed).
        url: String,
        /// What is wrong and what to write instead.
        why: String,
    },
    /// An Electrum address that is not `host:port`.
    #[error("[grants.chain] address {address:?}: {why}")]
    Address {
        /// The address as written.
        address: String,
        /// What is wrong and what to write instead.
        why: String,
    },
    /// Missing, half or double bitcoind credentials.
    #[error("[grants.chain] bitcoind credentials: {0}")]
    Auth(String),
    /// A number or duration outside its range.
    #[error("[grants.chain] {key} = {value} is out of range; use {min} to {max}")]
    OutOfRange {
        /// The key.
        key: &'static str,
        /// The value as given.
        value: String,
        /// Smallest accepted value.
        min: String,
        /// Largest accepted value.
        max: String,
    },
}

impl ChainConfig {
    /// A configuration for `backend` with the default timeout (30 s, or
    /// 300 s for bitcoind), 1 confirmation and a gap limit of 20.
    pub fn new(backend: Backend) -> Self {
        let timeout = match backend {
            Backend::Bitcoind { .. } => DEFAULT_BITCOIND_TIMEOUT,
            _ => DEFAULT_TIMEOUT,
        };
        ChainConfig {
            backend,
            timeout,
            min_confirmations: DEFAULT_MIN_CONFIRMATIONS,
            gap_limit: DEFAULT_GAP_LIMIT,
        }
    }

    /// Checks every value (deserializing does this already).
    pub fn validate(&self) -> Result<(), ConfigError> {
        match &self.backend {
            Backend::Esplora { url } | Backend::Bitcoind { url, .. } => {
                http_url(url)?;
            }
            Backend::Electrum { address } => {
                electrum_address(address)?;
            }
        }
        if let Backend::Bitcoind {
            auth: CoreAuth::UserPassword { user, password },
            ..
        } = &self.backend
        {
            if user.is_empty() || user.contains(':') {
                return Err(ConfigError::Auth(
                    "user must be non-empty and without ':' (HTTP basic authentication)".into(),
                ));
            }
            if password.expose().is_empty() {
                return Err(ConfigError::Auth("password is empty".into()));
            }
        }
        if self.timeout < Duration::from_millis(100) || self.timeout > MAX_TIMEOUT {
            return Err(ConfigError::OutOfRange {
                key: "timeout",
                value: format!("{:?}", self.timeout),
                min: "100ms".into(),
                max: "1h".into(),
            });
        }
        if !(1..=MAX_MIN_CONFIRMATIONS).contains(&self.min_confirmations) {
            return Err(ConfigError::OutOfRange {
                key: "min_confirmations",
                value: self.min_confirmations.to_string(),
                min: "1 (unconfirmed coins are never funding)".into(),
                max: MAX_MIN_CONFIRMATIONS.to_string(),
            });
        }
        check_gap_limit(self.gap_limit)
    }
}

pub(crate) fn check_gap_limit(gap_limit: u32) -> Result<(), ConfigError> {
    if (1..=MAX_GAP_LIMIT).contains(&gap_limit) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            key: "gap_limit",
            value: gap_limit.to_string(),
            min: "1".into(),
            max: MAX_GAP_LIMIT.to_string(),
        })
    }
}

/// Parses an `http(s)` base URL without credentials, query or fragment.
pub(crate) fn http_url(url: &str) -> Result<Url, ConfigError> {
    let parsed = Url::parse(url).map_err(|e| ConfigError::Url {
        url: if url.contains('@') {
            "(not shown: it may hold a password)".into()
        } else {
            url.to_owned()
        },
        why: format!("{e}; write e.g. https://blockstream.info/api or http://127.0.0.1:8332"),
    })?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ConfigError::Url {
            url: "(not shown: it holds credentials)".into(),
            why: "credentials in the URL are refused (they would end up in logs); for bitcoind use cookie_file or user/password".into(),
        });
    }
    let why = if !matches!(parsed.scheme(), "http" | "https") {
        Some("the scheme must be http or https")
    } else if parsed.host_str().is_none_or(str::is_empty) {
        Some("the URL has no host")
    } else if parsed.query().is_some() || parsed.fragment().is_some() {
        Some("a query (?…) or fragment (#…) is not allowed in a base URL")
    } else {
        None
    };
    match why {
        Some(why) => Err(ConfigError::Url {
            url: url.to_owned(),
            why: why.into(),
        }),
        None => Ok(parsed),
    }
}

/// Checks `host:port` (or `tcp://host:port`) and returns `host:port`.
pub(crate) fn electrum_address(address: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| ConfigError::Address {
        address: address.to_owned(),
        why: why.to_owned(),
    };
    if address.starts_with("ssl://") || address.starts_with("tls://") {
        return Err(bad(
            "TLS is not built in: run a local TLS client (e.g. stunnel with `client = yes`) towards the server's SSL port and set address to its plain local port, e.g. 127.0.0.1:50001",
        ));
    }
    let rest = address.strip_prefix("tcp://").unwrap_or(address);
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| bad("write host:port, e.g. electrum.example.org:50001"))?;
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    };
    if !host_ok {
        return Err(bad(
            "the host must be a name, an IPv4 address or [an IPv6 address]",
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(rest.to_owned()),
        _ => Err(bad("the port must be a number from 1 to 65535")),
    }
}

/// The table as written in the file; [`ChainConfig`] is what is checked.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum RawChainConfig {
    Esplora {
        url: String,
        #[serde(default, with = "humantime_serde::option")]
        timeout: Option<Duration>,
        #[serde(default)]
        min_confirmations: Option<u32>,
        #[serde(default)]
        gap_limit: Option<u32>,
    },
    Electrum {
        address: String,
        #[serde(default, with = "humantime_serde::option")]
        timeout: Option<Duration>,
        #[serde(default)]
        min_confirmations: Option<u32>,
        #[serde(default)]
        gap_limit: Option<u32>,
    },
    Bitcoind {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cookie_file: Option<PathBuf>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        #[serde(default, with = "humantime_serde::option")]
        timeout: Option<Duration>,
        #[serde(default)]
        min_confirmations: Option<u32>,
        #[serde(default)]
        gap_limit: Option<u32>,
    },
}

/// The keys every kind takes (serde's `flatten` would defeat
/// `deny_unknown_fields`, so the variants repeat them).
struct Common {
    timeout: Option<Duration>,
    min_confirmations: Option<u32>,
    gap_limit: Option<u32>,
}

impl TryFrom<RawChainConfig> for ChainConfig {
    type Error = ConfigError;

    fn try_from(raw: RawChainConfig) -> Result<Self, ConfigError> {
        let (backend, common) = match raw {
            RawChainConfig::Esplora {
                url,
                timeout,
                min_confirmations,
                gap_limit,
            } => (
                Backend::Esplora { url },
                Common {
                    timeout,
                    min_confirmations,
                    gap_limit,
                },
            ),
            RawChainConfig::Electrum {
                address,
                timeout,
                min_confirmations,
                gap_limit,
            } => (
                Backend::Electrum { address },
                Common {
                    timeout,
                    min_confirmations,
                    gap_limit,
                },
            ),
            RawChainConfig::Bitcoind {
                url,
                cookie_file,
                user,
                password,
                timeout,
                min_confirmations,
                gap_limit,
            } => {
                let common = Common {
                    timeout,
                    min_confirmations,
                    gap_limit,
                };
                let auth = match (cookie_file, user, password) {
                    (Some(path), None, None) => CoreAuth::CookieFile(path),
                    (None, Some(user), Some(password)) => CoreAuth::UserPassword {
                        user,
                        password: Secret(password),
                    },
                    (None, None, None) => {
                        return Err(ConfigError::Auth(
                            "set cookie_file (e.g. ~/.bitcoin/.cookie) or user and password".into(),
                        ));
                    }
                    (Some(_), _, _) => {
                        return Err(ConfigError::Auth(
                            "set cookie_file or user/password, not both".into(),
                        ));
                    }
                    (None, _, _) => {
                        return Err(ConfigError::Auth(
                            "user and password go together; set both".into(),
                        ));
                    }
                };
                (Backend::Bitcoind { url, auth }, common)
            }
        };
        let mut config = ChainConfig::new(backend);
        if let Some(t) = common.timeout {
            config.timeout = t;
        }
        if let Some(m) = common.min_confirmations {
            config.min_confirmations = m;
        }
        if let Some(g) = common.gap_limit {
            config.gap_limit = g;
        }
        config.validate()?;
        Ok(config)
    }
}

impl From<ChainConfig> for RawChainConfig {
    fn from(c: ChainConfig) -> Self {
        let timeout = Some(c.timeout);
        let min_confirmations = Some(c.min_confirmations);
        let gap_limit = Some(c.gap_limit);
        match c.backend {
            Backend::Esplora { url } => RawChainConfig::Esplora {
                url,
                timeout,
                min_confirmations,
                gap_limit,
            },
            Backend::Electrum { address } => RawChainConfig::Electrum {
                address,
                timeout,
                min_confirmations,
                gap_limit,
            },
            Backend::Bitcoind { url, auth } => {
                let (cookie_file, user, password) = match auth {
                    CoreAuth::CookieFile(p) => (Some(p), None, None),
                    CoreAuth::UserPassword { user, password } => {
                        (None, Some(user), Some(password.0))
                    }
                };
                RawChainConfig::Bitcoind {
                    url,
                    cookie_file,
                    user,
                    password,
                    timeout,
                    min_confirmations,
                    gap_limit,
                }
            }
        }
    }
}
