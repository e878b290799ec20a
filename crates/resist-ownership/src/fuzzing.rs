//! Fuzz target bodies, so that a cargo-fuzz workspace and an ordinary
//! `#[test]` replaying a corpus run the same code (practice 9 in
//! docs/dev/style.md). Not part of the API.
#![doc(hidden)]

use crate::{Network, parse_address, verify};

/// Parses `data` as an address on every network. Must never panic.
pub fn address(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        for network in Network::ALL {
            let _ = parse_address(s, network);
        }
    }
}

/// Addresses the `signature` target checks against: one of each type.
const ADDRESSES: [(&str, Network); 6] = [
    (
        "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
        Network::Testnet,
    ),
    (
        "bc1ppv609nr0vr25u07u95waq5lucwfm6tde4nydujnu8npg4q75mr5sxq8lt3",
        Network::Mainnet,
    ),
    ("14vV3aCHBeStb5bkenkNHbe2YAFinYdXgc", Network::Mainnet),
    ("3HSVzEhCFuH9Z3wvoWTexy7BMVVp3PjS6f", Network::Mainnet),
    (
        "bc1qg8r3cl47rrr75dwvr7jhzdukptegnmq8v0nmjd2jdn4qvlczqkts0rqtav",
        Network::Mainnet,
    ),
    (
        "bc1q9vza2e8x573nczrlzms0wvx3gsqjx7vavgkx0l",
        Network::Mainnet,
    ),
];

/// Input layout: first byte picks the address, then the message up to the
/// first `\n`, then the signature. Must never panic and, for random input,
/// never verify.
pub fn signature(data: &[u8]) -> bool {
    let Some((&pick, rest)) = data.split_first() else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return false;
    };
    let (message, sig) = text.split_once('\n').unwrap_or((text, ""));
    let (addr, network) = ADDRESSES[usize::from(pick) % ADDRESSES.len()];
    match parse_address(addr, network) {
        Ok(address) => verify(&address, message, sig).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn every_fuzz_address_parses() {
        for (address, network) in ADDRESSES {
            assert!(parse_address(address, network).is_ok(), "{address}");
        }
    }

    #[test]
    fn the_bodies_accept_anything() {
        for data in [
            &b""[..],
            b"\x00",
            b"\x05m\nAAAA",
            b"\xff\xfe",
            b"\x01\n\n\n",
        ] {
            address(data);
            assert!(!signature(data));
        }
    }
}
