//! Special-purpose address ranges: loopback, private, link-local, multicast,
//! reserved. Nodes refuse to relay into them (no SSRF into the operator's
//! network), the coordinator refuses them as node endpoints (probes must not
//! be steered into their own networks), and probes check resolved addresses
//! against them. One table, so the three agree.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Special ranges and what they are (IANA special-purpose registries).
const SPECIAL_RANGES: &[(IpAddr, u8, &str)] = &[
    (IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0)), 8, "unspecified"),
    (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 128, "unspecified"),
    (IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8, "loopback"),
    (IpAddr::V6(Ipv6Addr::LOCALHOST), 128, "loopback"),
    (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8, "private"),
    (IpAddr::V4(Ipv4Addr::new(172, 16, 0, 0)), 12, "private"),
    (IpAddr::V4(Ipv4Addr::new(192, 168, 0, 0)), 16, "private"),
    (
        IpAddr::V6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0)),
        7,
        "private",
    ),
    (
        IpAddr::V6(Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0)),
        10,
        "private",
    ),
    (IpAddr::V4(Ipv4Addr::new(100, 64, 0, 0)), 10, "shared"),
    (IpAddr::V4(Ipv4Addr::new(169, 254, 0, 0)), 16, "link-local"),
    (
        IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0)),
        10,
        "link-local",
    ),
    (IpAddr::V4(Ipv4Addr::new(224, 0, 0, 0)), 4, "multicast"),
    (
        IpAddr::V6(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0)),
        8,
        "multicast",
    ),
    (IpAddr::V4(Ipv4Addr::new(240, 0, 0, 0)), 4, "reserved"),
    (IpAddr::V4(Ipv4Addr::new(192, 0, 0, 0)), 24, "reserved"),
    (IpAddr::V4(Ipv4Addr::new(198, 18, 0, 0)), 15, "reserved"),
    (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 96, "reserved"),
    (
        IpAddr::V6(Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0)),
        48,
        "reserved",
    ),
];

/// The special-purpose range `ip` falls in, if any. IPv4-mapped IPv6
/// addresses and NAT64 addresses (64:ff9b::/96) are judged by the IPv4
/// address they carry.
pub fn special_range(ip: IpAddr) -> Option<&'static str> {
    let ip = ip.to_canonical();
    if let IpAddr::V6(v6) = ip
        && let Some(v4) = nat64_embedded(v6)
    {
        return special_range(IpAddr::V4(v4));
    }
    SPECIAL_RANGES
        .iter()
        .find(|(net, len, _)| in_prefix(ip, *net, *len))
        .map(|(_, _, kind)| *kind)
}

/// Every special range as `(network, prefix length)`, e.g. to warn about an
/// allow list that overlaps one.
pub fn special_ranges() -> impl Iterator<Item = (IpAddr, u8)> {
    SPECIAL_RANGES.iter().map(|(net, len, _)| (*net, *len))
}

/// Whether `ip` lies in `net/len` (false across address families).
pub fn in_prefix(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The IPv4 address inside a well-known-prefix NAT64 address (RFC 6052).
fn nat64_embedded(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0])
        .then(|| Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7])))
}

#[cfg(test)]
mod test {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn classifies_special_ranges() {
        for (addr, kind) in [
            ("127.0.0.1", "loopback"),
            ("::1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("fd00::1", "private"),
            ("169.254.169.254", "link-local"),
            ("fe80::1", "link-local"),
            ("224.0.0.1", "multicast"),
            ("100.64.0.1", "shared"),
            ("0.0.0.0", "unspecified"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::a00:1", "private"),
            ("64:ff9b::7f00:1", "loopback"),
        ] {
            assert_eq!(special_range(ip(addr)), Some(kind), "{addr}");
        }
    }

    #[test]
    fn public_addresses_are_not_special() {
        for addr in [
            "1.1.1.1",
            "149.154.167.51",
            "172.32.0.1",
            "2001:67c:4e8::1",
            "64:ff9b::95.154.167.51",
        ] {
            assert_eq!(special_range(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn prefix_edges() {
        assert!(in_prefix(ip("10.255.255.255"), ip("10.0.0.0"), 8));
        assert!(!in_prefix(ip("11.0.0.0"), ip("10.0.0.0"), 8));
        assert!(in_prefix(ip("1.2.3.4"), ip("0.0.0.0"), 0));
        assert!(!in_prefix(ip("::1"), ip("0.0.0.0"), 0));
    }
}
