//! Diversity groups: the subnet a censor would block in one rule.
//!
//! A censor blocks subnets, so nodes in one IPv4 /24 or IPv6 /48 are one
//! chance for users, not several. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`)
//! are the IPv4 address they carry; otherwise the same host could pose as a
//! second group. Other transition forms (6to4, Teredo) are plain IPv6.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A node's group: its /24 or /48. Ordered IPv4 first, then by prefix bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Prefix {
    /// The first three octets of an IPv4 address.
    V4([u8; 3]),
    /// The first three 16-bit segments of an IPv6 address.
    V6([u16; 3]),
}

impl Prefix {
    pub(crate) fn of(ip: IpAddr) -> Prefix {
        let v4 = |v4: Ipv4Addr| {
            let [a, b, c, _] = v4.octets();
            Prefix::V4([a, b, c])
        };
        match ip {
            IpAddr::V4(addr) => v4(addr),
            IpAddr::V6(addr) => match addr.to_ipv4_mapped() {
                Some(mapped) => v4(mapped),
                None => {
                    let [a, b, c, ..] = addr.segments();
                    Prefix::V6([a, b, c])
                }
            },
        }
    }
}

/// `203.0.113.0/24` or `2001:db8:1::/48`, as published.
impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Prefix::V4([a, b, c]) => write!(f, "{}/24", Ipv4Addr::new(a, b, c, 0)),
            Prefix::V6([a, b, c]) => write!(f, "{}/48", Ipv6Addr::new(a, b, c, 0, 0, 0, 0, 0)),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn group(s: &str) -> String {
        Prefix::of(s.parse().unwrap()).to_string()
    }

    #[test]
    fn prefixes() {
        assert_eq!(group("203.0.113.7"), "203.0.113.0/24");
        assert_eq!(group("203.0.113.255"), "203.0.113.0/24");
        assert_eq!(group("203.0.114.1"), "203.0.114.0/24");
        assert_eq!(group("::ffff:203.0.113.9"), "203.0.113.0/24");
        assert_eq!(group("2001:db8:1:2::1"), "2001:db8:1::/48");
        assert_eq!(group("2001:db8:1:ffff::1"), "2001:db8:1::/48");
        assert_eq!(group("2001:db8:2::1"), "2001:db8:2::/48");
        assert_eq!(group("::1"), "::/48");
        // 6to4 keeps its IPv4 inside the /48: its own group.
        assert_eq!(group("2002:cb00:7107::1"), "2002:cb00:7107::/48");
    }

    #[test]
    fn ipv4_sorts_first() {
        let v4 = Prefix::of("255.255.255.1".parse().unwrap());
        let v6 = Prefix::of("::2".parse().unwrap());
        assert!(v4 < v6);
    }
}
