//! The Bitcoin network the coordinator runs on.
//!
//! This exists so that the rest of the project names networks in one
//! vocabulary (`mainnet`, `testnet`, `testnet4`, `signet`, `regtest`) in
//! config files, JSON and messages, instead of rust-bitcoin's `bitcoin` /
//! `testnet` names, and so that "is this real money?" is one method.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A Bitcoin network.
///
/// Testnet, testnet4 and signet use the same address encodings (`tb1…`,
/// `m…`, `n…`, `2…`): an address cannot say which of them it was made for,
/// so [`crate::parse_address`] accepts the same strings for all three.
/// Regtest has its own bech32 prefix (`bcrt1…`) but shares the base58
/// prefixes of the test networks.
///
/// Deliberately not `#[non_exhaustive]`: callers should match every network
/// (a new one would need a decision everywhere, e.g. "is it real money?").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Bitcoin mainnet: real money.
    Mainnet,
    /// The old public test network (testnet3).
    Testnet,
    /// The public test network of BIP-94, which Bitcoin Core 28+ recommends
    /// over testnet3.
    Testnet4,
    /// The default signet.
    Signet,
    /// A private regression-test chain.
    Regtest,
}

impl Network {
    /// Every network, in a fixed order (for help texts and tests).
    pub const ALL: [Network; 5] = [
        Network::Mainnet,
        Network::Testnet,
        Network::Testnet4,
        Network::Signet,
        Network::Regtest,
    ];

    /// The lowercase name used in config, JSON and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Testnet4 => "testnet4",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
        }
    }

    /// True for the one network where coins are worth money.
    pub fn is_mainnet(self) -> bool {
        self == Network::Mainnet
    }

    /// The same network as rust-bitcoin names it.
    pub fn to_bitcoin(self) -> bitcoin::Network {
        match self {
            Network::Mainnet => bitcoin::Network::Bitcoin,
            Network::Testnet => bitcoin::Network::Testnet,
            Network::Testnet4 => bitcoin::Network::Testnet4,
            Network::Signet => bitcoin::Network::Signet,
            Network::Regtest => bitcoin::Network::Regtest,
        }
    }

    /// What an address for this network looks like, for error messages.
    pub(crate) fn address_shapes(self) -> &'static str {
        match self {
            Network::Mainnet => "bc1q…, bc1p…, 1… or 3…",
            Network::Testnet | Network::Testnet4 | Network::Signet => "tb1q…, tb1p…, m…, n… or 2…",
            Network::Regtest => "bcrt1q…, bcrt1p…, m…, n… or 2…",
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was none of `mainnet`, `testnet`, `testnet4`, `signet`, `regtest`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown network {0:?}: use one of mainnet, testnet, testnet4, signet, regtest")]
#[non_exhaustive]
pub struct UnknownNetwork(pub String);

impl FromStr for Network {
    type Err = UnknownNetwork;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Network::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| UnknownNetwork(s.chars().take(32).collect()))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn names_round_trip_through_fromstr_display_and_serde() {
        for n in Network::ALL {
            assert_eq!(n.to_string().parse::<Network>().unwrap(), n);
            let json = serde_json::to_string(&n).unwrap();
            assert_eq!(json, format!("\"{}\"", n.as_str()));
            assert_eq!(serde_json::from_str::<Network>(&json).unwrap(), n);
        }
    }

    #[test]
    fn unknown_names_are_refused() {
        for s in ["", "Mainnet", "bitcoin", "main", "testnet3", " regtest"] {
            let err = s.parse::<Network>().unwrap_err();
            assert!(err.to_string().contains("use one of"), "{err}");
        }
        assert!(serde_json::from_str::<Network>("\"bitcoin\"").is_err());
    }

    #[test]
    fn maps_to_rust_bitcoin() {
        assert_eq!(Network::Mainnet.to_bitcoin(), bitcoin::Network::Bitcoin);
        assert_eq!(Network::Testnet4.to_bitcoin(), bitcoin::Network::Testnet4);
        assert!(Network::Mainnet.is_mainnet());
        assert!(!Network::Signet.is_mainnet());
    }
}
