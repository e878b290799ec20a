//! The censor's policies as nftables text, and what blocking costs. Pure: the
//! rulesets are generated here and loaded elsewhere (`nft -f -` inside the
//! censor's namespace), so they can be read and tested without root.
//!
//! Two tables, each with its own forward hook, so that turning DPI on never
//! reloads (and zeroes the counters of) the address blocks:
//!
//! - `ip censor`: named sets of blocked destinations (the messenger's range,
//!   single proxy addresses, whole subnets), one named counter per kind of
//!   block. Blocks are added as set elements while traffic flows.
//! - `ip censor_dpi`: drops every flow whose first payload bytes are a SOCKS5
//!   greeting, and everything after it in that flow.
//!
//! What identifies a SOCKS5 greeting (RFC 1928 §3): the client speaks first
//! with `VER=0x05`, `NMETHODS=n` (1–255), then exactly `n` method bytes, and
//! then waits for the server's choice. So the first payload of the flow is
//! exactly `2 + n` bytes long and starts with `05 n`: `05 01 00` (curl
//! without credentials), `05 02 00 02` (curl with), `05 01 02`. nftables
//! cannot compare a field with another field, but a payload load past the end
//! of a packet fails and the rule does not match; so for each `n` a chain
//! checks "byte `2 + n` exists → longer, not a greeting (return)" and "byte
//! `1 + n` exists → exactly `2 + n` bytes: drop", and a verdict map on the
//! `n` byte jumps to the right chain. `@ih` is the inner header, the bytes
//! after the TCP header and its options.
//!
//! Only the first payload of a flow is inspected (a later segment that
//! happens to start with `05 01` is somebody's data): conntrack mark bit 0x1
//! records "payload seen", bit 0x2 "greeting seen"; a marked flow loses every
//! later packet, retransmissions included, so the client times out as it
//! would behind a real DPI box.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Deserialize;

/// The table holding the address blocks.
pub const TABLE: &str = "censor";
/// The table holding the DPI rule.
pub const DPI_TABLE: &str = "censor_dpi";

/// What the censor blocks, each its own set and counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlockKind {
    /// The messenger's own addresses (the ban).
    Messenger,
    /// A proxy address learned one by one (/32).
    Proxy,
    /// A proxy's /24, or a whole cloud subnet.
    Subnet,
}

impl BlockKind {
    /// Every kind, in the order of the rules.
    pub const ALL: [BlockKind; 3] = [BlockKind::Messenger, BlockKind::Proxy, BlockKind::Subnet];

    /// The set's (and the counter's) name.
    pub fn set(self) -> &'static str {
        match self {
            BlockKind::Messenger => "messenger",
            BlockKind::Proxy => "proxies",
            BlockKind::Subnet => "subnets",
        }
    }
}

/// The DPI counter: greetings recognised (one per blocked flow).
pub const DPI_GREETINGS: &str = "socks5_greetings";
/// The DPI counter: later packets of flagged flows (retransmissions, FIN).
pub const DPI_FLOW_PACKETS: &str = "socks5_flow_packets";

/// The `ip censor` table with empty sets: it forwards everything until
/// elements are added. Deletes an existing table of that name first, in the
/// same transaction (`add` makes the delete valid when there is none).
pub fn base_ruleset() -> String {
    let mut t = String::new();
    let _ = writeln!(t, "add table ip {TABLE}");
    let _ = writeln!(t, "delete table ip {TABLE}");
    let _ = writeln!(t, "table ip {TABLE} {{");
    for kind in BlockKind::ALL {
        let _ = writeln!(t, "\tcounter {} {{ }}", kind.set());
        let _ = writeln!(
            t,
            "\tset {} {{ type ipv4_addr; flags interval; }}",
            kind.set()
        );
    }
    let _ = writeln!(t, "\tchain forward {{");
    let _ = writeln!(
        t,
        "\t\ttype filter hook forward priority filter; policy accept;"
    );
    for kind in BlockKind::ALL {
        let _ = writeln!(t, "\t\tip daddr @{0} counter name \"{0}\" drop", kind.set());
    }
    let _ = writeln!(t, "\t}}");
    let _ = writeln!(t, "}}");
    t
}

/// The command that adds `net` to the blocks of `kind` (takes effect for the
/// next packet; established flows die with it).
pub fn block_command(kind: BlockKind, net: Ipv4Net) -> String {
    format!(
        "add element ip {TABLE} {} {{ {} }}\n",
        kind.set(),
        net.trunc()
    )
}

/// The DPI table (see the module docs), replacing any earlier one.
pub fn dpi_ruleset() -> String {
    const SEEN: u32 = 0x1;
    const GREETING: u32 = 0x2;
    let mut t = String::new();
    let _ = writeln!(t, "add table ip {DPI_TABLE}");
    let _ = writeln!(t, "delete table ip {DPI_TABLE}");
    let _ = writeln!(t, "table ip {DPI_TABLE} {{");
    let _ = writeln!(t, "\tcounter {DPI_GREETINGS} {{ }}");
    let _ = writeln!(t, "\tcounter {DPI_FLOW_PACKETS} {{ }}");
    for n in 1u32..=255 {
        let _ = writeln!(t, "\tchain greeting_{n} {{");
        // A byte at offset 2 + n: the payload is longer than a greeting.
        let _ = writeln!(t, "\t\t@ih,{},8 0-255 return", (2 + n) * 8);
        // A byte at offset 1 + n (and none after): exactly 2 + n bytes.
        let _ = writeln!(
            t,
            "\t\t@ih,{},8 0-255 ct mark set ct mark or {GREETING:#x} counter name \"{DPI_GREETINGS}\" drop",
            (1 + n) * 8
        );
        let _ = writeln!(t, "\t}}");
    }
    let _ = writeln!(t, "\tchain socks5 {{");
    let arms: Vec<String> = (1u32..=255)
        .map(|n| format!("{n} : goto greeting_{n}"))
        .collect();
    let _ = writeln!(t, "\t\t@ih,8,8 vmap {{ {} }}", arms.join(", "));
    let _ = writeln!(t, "\t}}");
    let _ = writeln!(t, "\tchain forward {{");
    let _ = writeln!(
        t,
        "\t\ttype filter hook forward priority filter; policy accept;"
    );
    let _ = writeln!(
        t,
        "\t\tct mark and {GREETING:#x} == {GREETING:#x} counter name \"{DPI_FLOW_PACKETS}\" drop"
    );
    let _ = writeln!(
        t,
        "\t\tmeta l4proto tcp ct direction original ct mark and {SEEN:#x} == 0 @ih,0,8 0x05 jump socks5"
    );
    let _ = writeln!(
        t,
        "\t\tmeta l4proto tcp ct direction original @ih,0,8 0-255 ct mark set ct mark or {SEEN:#x}"
    );
    let _ = writeln!(t, "\t}}");
    let _ = writeln!(t, "}}");
    t
}

/// Whether `payload`, the first payload of a TCP flow from the client, is a
/// SOCKS5 greeting: the same test [`dpi_ruleset`] makes, for unit tests and
/// for explaining it.
pub fn is_socks5_greeting(payload: &[u8]) -> bool {
    match payload {
        [5, n, methods @ ..] => *n >= 1 && methods.len() == usize::from(*n),
        _ => false,
    }
}

/// A named counter's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    /// Packets counted.
    pub packets: u64,
    /// Bytes counted.
    pub bytes: u64,
}

/// Why `nft -j list counters` output could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read nft's JSON counter listing: {0}; is nftables 0.9.3 or newer installed?")]
pub struct CounterParseError(#[from] serde_json::Error);

/// The named counters in `nft -j list counters` output, as `(table, name, count)`.
pub fn parse_counters(json: &str) -> Result<Vec<(String, String, Count)>, CounterParseError> {
    #[derive(Deserialize)]
    struct Listing {
        nftables: Vec<serde_json::Map<String, serde_json::Value>>,
    }
    #[derive(Deserialize)]
    struct Counter {
        table: String,
        name: String,
        packets: u64,
        bytes: u64,
    }
    let listing: Listing = serde_json::from_str(json)?;
    let mut out = Vec::new();
    for mut item in listing.nftables {
        if let Some(c) = item.remove("counter") {
            let c: Counter = serde_json::from_value(c)?;
            out.push((
                c.table,
                c.name,
                Count {
                    packets: c.packets,
                    bytes: c.bytes,
                },
            ));
        }
    }
    Ok(out)
}

/// What a block hit besides its targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collateral {
    /// The blocked prefix.
    pub net: Ipv4Net,
    /// Addresses in it.
    pub addresses: u64,
    /// Of those, addresses of proxies (the targets).
    pub targets: u64,
    /// `addresses − targets`: innocent addresses blocked with them.
    pub innocent_addresses: u64,
    /// Known hosts that are not targets and were blocked (a bank, a shop).
    pub innocent_hosts: Vec<Ipv4Addr>,
}

/// What blocking `net` costs, given the proxies the censor aims at and the
/// other hosts known to live somewhere.
pub fn collateral(net: Ipv4Net, targets: &[Ipv4Addr], known_hosts: &[Ipv4Addr]) -> Collateral {
    let net = net.trunc();
    let addresses = 1u64 << (32 - u32::from(net.prefix_len()));
    let mut hit: Vec<Ipv4Addr> = targets
        .iter()
        .copied()
        .filter(|a| net.contains(a))
        .collect();
    hit.sort();
    hit.dedup();
    let targets_in = u64::try_from(hit.len()).unwrap_or(u64::MAX);
    let mut innocent_hosts: Vec<Ipv4Addr> = known_hosts
        .iter()
        .copied()
        .filter(|a| net.contains(a) && !hit.contains(a))
        .collect();
    innocent_hosts.sort();
    innocent_hosts.dedup();
    Collateral {
        net,
        addresses,
        targets: targets_in,
        innocent_addresses: addresses.saturating_sub(targets_in),
        innocent_hosts,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn n(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn base_ruleset_has_a_set_a_counter_and_a_drop_per_kind() {
        let r = base_ruleset();
        assert!(
            r.starts_with("add table ip censor\ndelete table ip censor\n"),
            "{r}"
        );
        for kind in BlockKind::ALL {
            let s = kind.set();
            assert!(r.contains(&format!("counter {s} {{ }}")), "{r}");
            assert!(r.contains(&format!("set {s} {{ type ipv4_addr; flags interval; }}")));
            assert!(r.contains(&format!("ip daddr @{s} counter name \"{s}\" drop")));
        }
        assert!(r.contains("hook forward"));
    }

    #[test]
    fn block_commands_truncate_to_the_network() {
        assert_eq!(
            block_command(BlockKind::Subnet, n("10.64.1.10/16")),
            "add element ip censor subnets { 10.64.0.0/16 }\n"
        );
        assert_eq!(
            block_command(BlockKind::Proxy, n("10.64.1.10/32")),
            "add element ip censor proxies { 10.64.1.10/32 }\n"
        );
    }

    #[test]
    fn dpi_chain_for_n_methods_checks_length_two_plus_n() {
        let r = dpi_ruleset();
        // n = 1: "05 01 00" is 3 bytes: byte 3 must not exist, byte 2 must.
        assert!(r.contains(
            "chain greeting_1 {\n\t\t@ih,24,8 0-255 return\n\t\t@ih,16,8 0-255 ct mark set"
        ));
        // n = 2: "05 02 00 02" is 4 bytes.
        assert!(r.contains(
            "chain greeting_2 {\n\t\t@ih,32,8 0-255 return\n\t\t@ih,24,8 0-255 ct mark set"
        ));
        assert!(r.contains("chain greeting_255 {\n\t\t@ih,2056,8 0-255 return\n\t\t@ih,2048,8"));
        assert!(!r.contains("greeting_0"), "NMETHODS = 0 is not a greeting");
        assert!(r.contains("vmap { 1 : goto greeting_1, 2 : goto greeting_2,"));
        assert!(r.contains("255 : goto greeting_255 }"));
        assert!(r.contains("@ih,0,8 0x05 jump socks5"));
        assert!(r.contains("ct mark and 0x1 == 0"));
    }

    #[test]
    fn greeting_recognition_follows_rfc_1928() {
        assert!(is_socks5_greeting(&[5, 1, 0]));
        assert!(is_socks5_greeting(&[5, 2, 0, 2]));
        assert!(is_socks5_greeting(&[5, 1, 2]));
        let mut all = vec![5u8, 255];
        all.extend(0..=254u8);
        assert!(is_socks5_greeting(&all));
        assert!(!is_socks5_greeting(&[5, 0]), "no methods");
        assert!(!is_socks5_greeting(&[5, 2, 0]), "one method short");
        assert!(
            !is_socks5_greeting(&[5, 1, 0, 1, 0, 1]),
            "a greeting and a request in one segment is longer"
        );
        assert!(!is_socks5_greeting(&[4, 1, 0, 80]), "SOCKS4");
        assert!(!is_socks5_greeting(b"GET / HTTP/1.1\r\n"));
        assert!(!is_socks5_greeting(&[]));
    }

    #[test]
    fn counters_parse_from_nft_json() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"counter": {"family": "ip", "name": "messenger", "table": "censor", "handle": 1, "packets": 3, "bytes": 180}}, {"counter": {"family": "ip", "name": "socks5_greetings", "table": "censor_dpi", "handle": 2, "packets": 7, "bytes": 420}}]}"#;
        let c = parse_counters(json).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[0],
            (
                "censor".into(),
                "messenger".into(),
                Count {
                    packets: 3,
                    bytes: 180
                }
            )
        );
        assert_eq!(c[1].2.packets, 7);
        assert!(parse_counters("not json").is_err());
    }

    #[test]
    fn collateral_counts_innocents() {
        let targets = [a("10.64.1.10"), a("10.64.2.10"), a("10.96.1.10")];
        let known = [
            a("10.64.3.20"),
            a("10.64.4.30"),
            a("10.96.0.2"),
            a("10.64.1.10"),
        ];
        let whole = collateral(n("10.64.0.0/16"), &targets, &known);
        assert_eq!(whole.addresses, 65_536);
        assert_eq!(whole.targets, 2);
        assert_eq!(whole.innocent_addresses, 65_534);
        assert_eq!(whole.innocent_hosts, vec![a("10.64.3.20"), a("10.64.4.30")]);
        let one = collateral(n("10.64.1.10/32"), &targets, &known);
        assert_eq!(
            (one.addresses, one.targets, one.innocent_addresses),
            (1, 1, 0)
        );
        assert!(one.innocent_hosts.is_empty());
        let slash24 = collateral(n("10.64.3.0/24"), &targets, &known);
        assert_eq!(slash24.targets, 0);
        assert_eq!(slash24.innocent_addresses, 256);
        assert_eq!(slash24.innocent_hosts, vec![a("10.64.3.20")]);
    }
}
