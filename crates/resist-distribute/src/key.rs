//! Requester keys: who is asking, coarsened so that one person (or one censor
//! agent) cannot cheaply pose as many.
//!
//! An address is cut to its IPv4 /16 or IPv6 /32: a censor can use any number
//! of addresses inside its own networks, but each of them is the same key.
//! An invitation is its own key, issued by the funder one at a time.

use std::net::IpAddr;

/// Who is asking for proxies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequesterKey {
    /// The first two octets of an IPv4 address (its /16).
    V4([u8; 2]),
    /// The first four octets of an IPv6 address (its /32).
    V6([u8; 4]),
    /// An invitation, by its id in the coordinator's database.
    Invitation(u64),
}

impl RequesterKey {
    /// The key of a requester at `ip`: its /16 or /32. IPv4-mapped IPv6
    /// addresses (`::ffff:a.b.c.d`) count as the IPv4 address they carry.
    pub fn of_addr(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let [a, b, ..] = v4.octets();
                RequesterKey::V4([a, b])
            }
            IpAddr::V6(v6) => {
                let [a, b, c, d, ..] = v6.octets();
                RequesterKey::V6([a, b, c, d])
            }
        }
    }

    /// A distinct, unambiguous byte string per key (a tag byte, then the
    /// key), which is what gets hashed.
    pub(crate) fn encode(&self) -> ([u8; 9], usize) {
        let mut out = [0u8; 9];
        match *self {
            RequesterKey::V4(p) => {
                out[0] = 4;
                out[1..3].copy_from_slice(&p);
                (out, 3)
            }
            RequesterKey::V6(p) => {
                out[0] = 6;
                out[1..5].copy_from_slice(&p);
                (out, 5)
            }
            RequesterKey::Invitation(id) => {
                out[0] = b'i';
                out[1..9].copy_from_slice(&id.to_be_bytes());
                (out, 9)
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn key(s: &str) -> RequesterKey {
        RequesterKey::of_addr(s.parse().unwrap())
    }

    #[test]
    fn addresses_are_cut_to_their_16_or_32() {
        assert_eq!(key("203.0.113.7"), RequesterKey::V4([203, 0]));
        assert_eq!(key("203.0.1.1"), key("203.0.255.254"));
        assert_ne!(key("203.0.1.1"), key("203.1.1.1"));
        assert_eq!(key("::ffff:203.0.113.9"), key("203.0.7.7"));
        assert_eq!(
            key("2001:db8:1:2::1"),
            RequesterKey::V6([0x20, 0x01, 0x0d, 0xb8])
        );
        assert_eq!(key("2001:db8:ffff::1"), key("2001:db8::2"));
        assert_ne!(key("2001:db8::1"), key("2001:db9::1"));
    }

    #[test]
    fn encodings_never_collide_across_kinds() {
        let keys = [
            RequesterKey::V4([0, 0]),
            RequesterKey::V6([0, 0, 0, 0]),
            RequesterKey::Invitation(0),
            RequesterKey::V4([4, 0]),
            RequesterKey::Invitation(u64::MAX),
        ];
        let mut seen = std::collections::HashSet::new();
        for k in keys {
            let (bytes, len) = k.encode();
            assert!(seen.insert(bytes[..len].to_vec()), "{k:?}");
        }
    }
}
