//! Subnets: what a censor blocks in one rule, and so what a bucket should not
//! hold twice.
//!
//! The same grouping as grants' diversity factor: an IPv4 /24 or an IPv6 /48
//! (IPv4-mapped addresses count as their IPv4 address). A node listed by host
//! name is its own group, named by the lower-cased name: the distributor does
//! not resolve names (no I/O), and a name the censor resolves and blocks is
//! one target.

use std::net::IpAddr;

/// A node's subnet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subnet {
    /// The first three octets of an IPv4 address.
    V4([u8; 3]),
    /// The first three 16-bit segments of an IPv6 address.
    V6([u16; 3]),
    /// A host name, lower-cased.
    Name(String),
}

impl Subnet {
    /// The subnet of a node at `ip`.
    pub fn of_addr(ip: IpAddr) -> Subnet {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                Subnet::V4([a, b, c])
            }
            IpAddr::V6(v6) => {
                let [a, b, c, ..] = v6.segments();
                Subnet::V6([a, b, c])
            }
        }
    }

    /// The subnet of a node at `host`: an IP address (IPv6 with or without
    /// brackets), else a host name.
    pub fn of_host(host: &str) -> Subnet {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        match bare.parse::<IpAddr>() {
            Ok(ip) => Subnet::of_addr(ip),
            Err(_) => Subnet::Name(host.trim_end_matches('.').to_ascii_lowercase()),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn hosts_group_by_24_48_or_name() {
        assert_eq!(Subnet::of_host("203.0.113.7"), Subnet::V4([203, 0, 113]));
        assert_eq!(
            Subnet::of_host("203.0.113.7"),
            Subnet::of_host("203.0.113.200")
        );
        assert_ne!(
            Subnet::of_host("203.0.113.7"),
            Subnet::of_host("203.0.114.7")
        );
        assert_eq!(
            Subnet::of_host("::ffff:203.0.113.9"),
            Subnet::of_host("203.0.113.1")
        );
        assert_eq!(
            Subnet::of_host("2001:db8:1:2::1"),
            Subnet::of_host("[2001:db8:1:ffff::9]")
        );
        assert_ne!(
            Subnet::of_host("2001:db8:1::1"),
            Subnet::of_host("2001:db8:2::1")
        );
        assert_eq!(
            Subnet::of_host("Proxy.Example.ORG."),
            Subnet::Name("proxy.example.org".into())
        );
    }
}
