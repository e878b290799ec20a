//! Which clients may use the node and which destinations it will relay to.
//!
//! A node must never become a way into its operator's own network (SSRF) or an
//! open relay for abuse, so destinations in special-purpose ranges are refused by
//! default and the check runs on the *resolved* address: a domain that resolves to
//! 127.0.0.1 is refused like 127.0.0.1 itself, whatever DNS says later.
//!
//! This module is pure: addresses in, verdicts out.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
pub use resist_proto::ip::special_range;
use resist_proto::ip::special_ranges;

use crate::config::PolicyConfig;
use serde::{Deserialize, Serialize};

/// Telegram's published address ranges (core.telegram.org/resources/cidr.txt).
pub const TELEGRAM_RANGES: &[&str] = &[
    "91.108.56.0/22",
    "91.108.4.0/22",
    "91.108.8.0/22",
    "91.108.16.0/22",
    "91.108.12.0/22",
    "149.154.160.0/20",
    "91.105.192.0/23",
    "91.108.20.0/22",
    "185.76.151.0/24",
    "2001:b28:f23d::/48",
    "2001:b28:f23f::/48",
    "2001:67c:4e8::/48",
    "2001:b28:f23c::/48",
    "2a0a:f280::/32",
];

/// Which destinations a node serves before its allow and deny lists apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Any public destination.
    #[default]
    Any,
    /// Only Telegram's published ranges ([`TELEGRAM_RANGES`]): the node helps
    /// Telegram users without being an open proxy for everything else.
    Telegram,
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Preset::Any => "any",
            Preset::Telegram => "telegram",
        })
    }
}

/// Why a destination or client was refused. Each maps to a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The address is in a special-purpose range (loopback, private, …).
    SpecialRange(&'static str),
    /// The address is one of the node's own.
    OwnAddress,
    /// The address matches `deny_destinations`.
    DenyList,
    /// The preset (e.g. `telegram`) does not cover the address.
    Preset,
    /// The port is denied, or not in a non-empty `allow_ports`.
    Port,
}

impl Refusal {
    /// The label used in metrics.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::SpecialRange(_) => "special_range",
            Refusal::OwnAddress => "own_address",
            Refusal::DenyList => "deny_list",
            Refusal::Preset => "preset",
            Refusal::Port => "port",
        }
    }
}

/// A compiled destination and client policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The ranges the preset admits; `None` admits every public address.
    preset: Option<Vec<IpNet>>,
    /// Admitted even in special ranges or outside the preset (explicit choice).
    allow: Vec<IpNet>,
    /// Always refused.
    deny: Vec<IpNet>,
    /// If non-empty, only these ports.
    allow_ports: Vec<u16>,
    /// Never these ports.
    deny_ports: Vec<u16>,
    /// If non-empty, only clients from these ranges.
    allow_clients: Vec<IpNet>,
    /// Admit special ranges (the `danger_` switch).
    danger_allow_private: bool,
    /// The node's own addresses.
    own: Vec<IpAddr>,
}

impl Policy {
    /// Compiles the `[policy]` section; `own` are the node's own addresses
    /// (refused as destinations).
    pub fn new(rules: &PolicyConfig, own: Vec<IpAddr>) -> Self {
        let preset = match rules.preset {
            Preset::Any => None,
            Preset::Telegram => Some(
                TELEGRAM_RANGES
                    .iter()
                    .filter_map(|r| r.parse().ok())
                    .collect(),
            ),
        };
        Self {
            preset,
            allow: rules.allow_destinations.clone(),
            deny: rules.deny_destinations.clone(),
            allow_ports: rules.allow_ports.clone(),
            deny_ports: rules.deny_ports.clone(),
            allow_clients: rules.allow_clients.clone(),
            danger_allow_private: rules.danger_allow_private_destinations,
            own: own.into_iter().map(|ip| ip.to_canonical()).collect(),
        }
    }

    /// Whether a client at `ip` may use the node.
    pub fn client_allowed(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.allow_clients.is_empty() || self.allow_clients.iter().any(|n| n.contains(&ip))
    }

    /// Whether the node may relay to `dest`.
    pub fn check_destination(&self, dest: SocketAddr) -> Result<(), Refusal> {
        let ip = dest.ip().to_canonical();
        let port = dest.port();
        if self.deny_ports.contains(&port)
            || !(self.allow_ports.is_empty() || self.allow_ports.contains(&port))
        {
            return Err(Refusal::Port);
        }
        if self.deny.iter().any(|n| n.contains(&ip)) {
            return Err(Refusal::DenyList);
        }
        if self.allow.iter().any(|n| n.contains(&ip)) {
            return Ok(());
        }
        if !self.danger_allow_private
            && let Some(kind) = special_range(ip)
        {
            return Err(Refusal::SpecialRange(kind));
        }
        if self.own.contains(&ip) {
            return Err(Refusal::OwnAddress);
        }
        match &self.preset {
            Some(ranges) if !ranges.iter().any(|n| n.contains(&ip)) => Err(Refusal::Preset),
            _ => Ok(()),
        }
    }
}

/// Whether any allow entry overlaps a special range (worth a warning at start).
pub fn allow_list_overlaps_special(allow: &[IpNet]) -> Vec<IpNet> {
    allow
        .iter()
        .filter(|net| {
            special_range(net.network()).is_some()
                || special_ranges()
                    .filter_map(|(addr, len)| IpNet::new(addr, len).ok())
                    .any(|s| net.contains(&s))
        })
        .copied()
        .collect()
}

#[cfg(test)]
mod test {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn policy(rules: PolicyConfig) -> Policy {
        Policy::new(&rules, vec!["203.0.113.9".parse().unwrap()])
    }

    #[test]
    fn special_ranges_are_refused_by_default() {
        let p = policy(PolicyConfig::default());
        for (dest, kind) in [
            ("127.0.0.1:80", "loopback"),
            ("[::1]:80", "loopback"),
            ("[::ffff:127.0.0.1]:80", "loopback"),
            ("10.1.2.3:80", "private"),
            ("172.31.255.255:80", "private"),
            ("192.168.1.1:80", "private"),
            ("100.64.0.1:80", "shared"),
            ("169.254.169.254:80", "link-local"),
            ("[fe80::1]:80", "link-local"),
            ("[fd00::1]:80", "private"),
            ("224.0.0.1:80", "multicast"),
            ("[ff02::1]:80", "multicast"),
            ("0.0.0.0:80", "unspecified"),
            ("[::]:80", "unspecified"),
            ("255.255.255.255:80", "reserved"),
            ("[64:ff9b::a9fe:a9fe]:80", "link-local"),
        ] {
            assert_eq!(
                p.check_destination(sa(dest)),
                Err(Refusal::SpecialRange(kind)),
                "{dest}"
            );
        }
        assert_eq!(
            p.check_destination(sa("203.0.113.9:22")),
            Err(Refusal::OwnAddress)
        );
        assert_eq!(p.check_destination(sa("8.8.8.8:53")), Ok(()));
        assert_eq!(p.check_destination(sa("[2606:4700::1111]:443")), Ok(()));
    }

    #[test]
    fn explicit_allow_and_danger_switch() {
        let allow_lo = policy(PolicyConfig {
            allow_destinations: vec!["127.0.0.1/32".parse().unwrap()],
            ..Default::default()
        });
        assert_eq!(allow_lo.check_destination(sa("127.0.0.1:8080")), Ok(()));
        assert!(allow_lo.check_destination(sa("127.0.0.2:8080")).is_err());
        let danger = policy(PolicyConfig {
            danger_allow_private_destinations: true,
            ..Default::default()
        });
        assert_eq!(danger.check_destination(sa("10.0.0.1:80")), Ok(()));
        assert_eq!(
            danger.check_destination(sa("203.0.113.9:80")),
            Err(Refusal::OwnAddress)
        );
    }

    #[test]
    fn deny_lists_and_ports_win() {
        let p = policy(PolicyConfig {
            allow_destinations: vec!["127.0.0.0/8".parse().unwrap()],
            deny_destinations: vec![
                "127.0.0.5/32".parse().unwrap(),
                "8.8.0.0/16".parse().unwrap(),
            ],
            deny_ports: vec![25],
            ..Default::default()
        });
        assert_eq!(
            p.check_destination(sa("127.0.0.5:80")),
            Err(Refusal::DenyList)
        );
        assert_eq!(
            p.check_destination(sa("8.8.8.8:80")),
            Err(Refusal::DenyList)
        );
        assert_eq!(p.check_destination(sa("127.0.0.1:25")), Err(Refusal::Port));
        let only_443 = policy(PolicyConfig {
            allow_ports: vec![443],
            ..Default::default()
        });
        assert_eq!(
            only_443.check_destination(sa("1.1.1.1:80")),
            Err(Refusal::Port)
        );
        assert_eq!(only_443.check_destination(sa("1.1.1.1:443")), Ok(()));
    }

    #[test]
    fn telegram_preset_admits_only_telegram_plus_explicit_allows() {
        let p = policy(PolicyConfig {
            preset: Preset::Telegram,
            allow_destinations: vec!["198.51.100.7/32".parse().unwrap()],
            ..Default::default()
        });
        assert_eq!(p.check_destination(sa("149.154.167.51:443")), Ok(()));
        assert_eq!(p.check_destination(sa("91.108.56.100:443")), Ok(()));
        assert_eq!(
            p.check_destination(sa("[2001:b28:f23d:f001::a]:443")),
            Ok(())
        );
        assert_eq!(
            p.check_destination(sa("198.51.100.7:9")),
            Ok(()),
            "canary added by the operator"
        );
        assert_eq!(p.check_destination(sa("8.8.8.8:443")), Err(Refusal::Preset));
        assert_eq!(
            TELEGRAM_RANGES
                .iter()
                .filter(|r| r.parse::<IpNet>().is_ok())
                .count(),
            TELEGRAM_RANGES.len()
        );
    }

    #[test]
    fn client_allowlist() {
        let p = policy(PolicyConfig {
            allow_clients: vec!["192.0.2.0/24".parse().unwrap()],
            ..Default::default()
        });
        assert!(p.client_allowed("192.0.2.44".parse().unwrap()));
        assert!(p.client_allowed("::ffff:192.0.2.44".parse().unwrap()));
        assert!(!p.client_allowed("198.51.100.1".parse().unwrap()));
        assert!(policy(PolicyConfig::default()).client_allowed("198.51.100.1".parse().unwrap()));
    }

    #[test]
    fn overlap_warning() {
        let nets: Vec<IpNet> = ["127.0.0.1/32", "8.8.8.0/24", "0.0.0.0/0"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(allow_list_overlaps_special(&nets), vec![nets[0], nets[2]]);
    }
}
