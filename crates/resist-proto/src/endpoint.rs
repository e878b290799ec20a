//! Node endpoints and credentials as operators submit them: parsed and
//! normalised here once, so the coordinator stores one spelling of each host
//! and probes dial only what passed these checks.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Invalid;
use crate::ip::special_range;

/// Longest DNS name (RFC 1035, without the trailing dot).
const MAX_HOST_NAME: usize = 253;
/// Longest DNS label.
const MAX_LABEL: usize = 63;
/// RFC 1929 allows 1–255 bytes for the username and for the password.
const MAX_CREDENTIAL: usize = 255;

/// Where a node listens: an IP literal or a DNS name, and a port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct Endpoint {
    /// IP address literal (no brackets) or DNS name (ASCII; use punycode for
    /// internationalised names).
    #[schema(example = "203.0.113.7")]
    pub host: String,
    /// TCP port.
    #[schema(example = 1080)]
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// What a node is allowed to be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointRules {
    /// Accept loopback, private and other special-purpose addresses (a local
    /// test network only: probes would otherwise be steered into their own
    /// networks).
    pub danger_allow_private: bool,
}

impl Endpoint {
    /// Parses `HOST:PORT`, `[V6]:PORT`.
    pub fn parse(s: &str) -> Result<Endpoint, Invalid> {
        let bad = || {
            Invalid::new(
                "endpoint",
                format!(
                    "{s:?} is not HOST:PORT; write e.g. 203.0.113.7:1080, [2001:db8::7]:1080 or proxy.example.org:1080"
                ),
            )
        };
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
            (h, p)
        } else {
            let (h, p) = s.rsplit_once(':').ok_or_else(bad)?;
            if h.contains(':') {
                return Err(bad());
            }
            (h, p)
        };
        let port = port.parse::<u16>().map_err(|_| bad())?;
        Ok(Endpoint {
            host: host.to_owned(),
            port,
        })
    }

    /// Checks the endpoint and returns its normalised form: IP literals in
    /// their canonical spelling, names in lower case without a trailing dot.
    pub fn validate(&self, rules: EndpointRules) -> Result<Endpoint, Invalid> {
        if self.port == 0 {
            return Err(Invalid::new(
                "port",
                "port 0 cannot be dialled; give the port the node listens on",
            ));
        }
        let host = if let Ok(ip) = self.host.parse::<IpAddr>() {
            let ip = ip.to_canonical();
            if !rules.danger_allow_private
                && let Some(kind) = special_range(ip)
            {
                return Err(Invalid::new(
                    "host",
                    format!(
                        "{ip} is a {kind} address, which probes will not dial; register the node's public address"
                    ),
                ));
            }
            ip.to_string()
        } else {
            normalise_host_name(&self.host)?
        };
        Ok(Endpoint {
            host,
            port: self.port,
        })
    }
}

/// Lower-cases and checks a DNS name (letters, digits, hyphens; labels of
/// 1–63 characters not starting or ending with a hyphen).
fn normalise_host_name(host: &str) -> Result<String, Invalid> {
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let bad = |why: &str| Invalid::new("host", format!("{host:?} is not a host name: {why}"));
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > MAX_HOST_NAME {
        return Err(bad("longer than 253 characters"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > MAX_LABEL {
            return Err(bad("each dot-separated part must have 1 to 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(bad(
                "use letters, digits and hyphens only (punycode for other scripts), or an IP address",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("a part cannot start or end with a hyphen"));
        }
    }
    if name
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad("it looks like a malformed IP address"));
    }
    if name == "localhost" || name.ends_with(".localhost") {
        return Err(bad("localhost is not reachable by probes"));
    }
    Ok(name)
}

/// RFC 1929 credentials a node requires of probes (and users).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct Credentials {
    /// Username, 1–255 bytes.
    pub username: String,
    /// Password, 1–255 bytes.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl Credentials {
    /// Checks the RFC 1929 length limits.
    pub fn validate(&self) -> Result<(), Invalid> {
        for (field, value) in [("username", &self.username), ("password", &self.password)] {
            if value.is_empty() || value.len() > MAX_CREDENTIAL {
                return Err(Invalid::new(
                    field,
                    format!(
                        "must be 1 to {MAX_CREDENTIAL} bytes (RFC 1929), got {}",
                        value.len()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A node as an operator describes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Where it listens.
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// What it speaks: `socks5`.
    #[schema(example = "socks5")]
    pub protocol: String,
    /// The credentials probes log in with; omit for a node without authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
}

impl NodeSpec {
    /// Checks every field and returns the normalised spec.
    pub fn validate(&self, rules: EndpointRules) -> Result<NodeSpec, Invalid> {
        let endpoint = self.endpoint.validate(rules)?;
        if self.protocol != "socks5" {
            return Err(Invalid::new(
                "protocol",
                format!(
                    "{:?} is not supported; the only protocol is \"socks5\"",
                    self.protocol
                ),
            ));
        }
        if let Some(c) = &self.credentials {
            c.validate().map_err(|e| e.within("credentials"))?;
        }
        Ok(NodeSpec {
            endpoint,
            protocol: self.protocol.clone(),
            credentials: self.credentials.clone(),
        })
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const PUBLIC: EndpointRules = EndpointRules {
        danger_allow_private: false,
    };

    fn ep(host: &str, port: u16) -> Endpoint {
        Endpoint {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parses_host_port_forms() {
        assert_eq!(
            Endpoint::parse("203.0.113.7:1080").unwrap(),
            ep("203.0.113.7", 1080)
        );
        assert_eq!(
            Endpoint::parse("[2001:db8::7]:443").unwrap(),
            ep("2001:db8::7", 443)
        );
        assert_eq!(
            Endpoint::parse("proxy.example.org:1080").unwrap(),
            ep("proxy.example.org", 1080)
        );
        for bad in [
            "203.0.113.7",
            "2001:db8::7:1080",
            "[2001:db8::7]",
            "h:99999",
            "h:",
            ":1080x",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn normalises_hosts() {
        assert_eq!(
            ep("Proxy.Example.ORG.", 1).validate(PUBLIC).unwrap().host,
            "proxy.example.org"
        );
        assert_eq!(
            ep("2001:DB8::7", 1).validate(PUBLIC).unwrap().host,
            "2001:db8::7"
        );
        assert_eq!(
            ep("::ffff:203.0.113.7", 1).validate(PUBLIC).unwrap().host,
            "203.0.113.7"
        );
    }

    #[test]
    fn refuses_private_endpoints_unless_allowed() {
        for host in [
            "127.0.0.1",
            "10.0.0.5",
            "::1",
            "169.254.169.254",
            "::ffff:192.168.0.1",
        ] {
            let e = ep(host, 1080).validate(PUBLIC).unwrap_err();
            assert_eq!(e.field, "host");
            assert!(e.problem.contains("probes will not dial"), "{e}");
            let allowed = EndpointRules {
                danger_allow_private: true,
            };
            assert!(ep(host, 1080).validate(allowed).is_ok());
        }
        assert!(ep("localhost", 1080).validate(PUBLIC).is_err());
    }

    #[test]
    fn refuses_malformed_names_and_ports() {
        for host in [
            "",
            "a..b",
            "-a.org",
            "a-.org",
            "a_b.org",
            "1.2.3.999",
            "ex ample.org",
            "é.org",
        ] {
            assert_eq!(
                ep(host, 1080).validate(PUBLIC).unwrap_err().field,
                "host",
                "{host:?}"
            );
        }
        assert_eq!(
            ep(&"a".repeat(64), 1).validate(PUBLIC).unwrap_err().field,
            "host"
        );
        assert_eq!(
            ep("example.org", 0).validate(PUBLIC).unwrap_err().field,
            "port"
        );
    }

    #[test]
    fn node_spec_checks_protocol_and_credentials() {
        let spec = NodeSpec {
            endpoint: ep("example.org", 1080),
            protocol: "socks4".into(),
            credentials: None,
        };
        assert_eq!(spec.validate(PUBLIC).unwrap_err().field, "protocol");
        let spec = NodeSpec {
            protocol: "socks5".into(),
            credentials: Some(Credentials {
                username: "u".into(),
                password: "p".repeat(256),
            }),
            ..spec
        };
        let e = spec.validate(PUBLIC).unwrap_err();
        assert_eq!(e.field, "credentials.password");
        assert!(!format!("{:?}", spec.credentials).contains("ppp"));
    }
}
