//! Payout addresses: parse once, keep the normalised form.
//!
//! Operators paste addresses from many wallets. This module turns such a
//! string into a [`PayoutAddress`] that is known to be a standard address of
//! a supported type for the coordinator's network, or into an
//! [`AddressError`] whose message tells the operator what to fix.
//!
//! rust-bitcoin's own errors are accurate but say the wrong thing to a
//! person: a bech32 address with one typo fails as "base58 error", because
//! its parser falls back to base58 when bech32 decoding fails. So the
//! decision "which encoding is this meant to be?" is made here, from the
//! prefix, before rust-bitcoin sees the string.

use std::fmt;
use std::str::FromStr;

use bitcoin::base58;
use bitcoin::bech32::primitives::decode::{CharError, UncheckedHrpstring, UncheckedHrpstringError};
use bitcoin::bech32::{Bech32, Bech32m};
use bitcoin::{Address, AddressType, ScriptBuf};
use serde::{Serialize, Serializer};

use crate::Network;

/// Longest input [`parse_address`] looks at, in bytes, after trimming.
///
/// The longest valid address is 64 characters (a regtest P2WSH or P2TR
/// address) and BIP-173 caps bech32 strings at 90. The limit is higher so
/// that an extended public key (111 characters) is recognised and gets its
/// own message.
pub const MAX_ADDRESS_INPUT_LEN: usize = 128;

/// A payout address that parsed, is of a supported type and belongs to the
/// coordinator's network.
///
/// The text is normalised: bech32 addresses are lower case, base58 ones are
/// as given (base58 is case-sensitive). Two `PayoutAddress`es are equal when
/// their text and network are.
#[derive(Debug, Clone)]
pub struct PayoutAddress {
    /// The checked rust-bitcoin address (for scripts and signing).
    address: Address,
    /// The normalised text, `address.to_string()`, kept to hand out `&str`.
    text: String,
    /// Which of the supported types it is.
    kind: AddressKind,
    /// The network it was checked against.
    network: Network,
}

impl PayoutAddress {
    /// The normalised address text, the form to store and to show.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The address type.
    pub fn kind(&self) -> AddressKind {
        self.kind
    }

    /// The network this address was checked against (the coordinator's).
    ///
    /// For `tb1…` addresses this is whatever the caller passed to
    /// [`parse_address`]: testnet, testnet4 and signet addresses look the same.
    pub fn network(&self) -> Network {
        self.network
    }

    /// The output script that pays this address.
    pub fn script_pubkey(&self) -> ScriptBuf {
        self.address.script_pubkey()
    }

    /// The rust-bitcoin address, for building transactions.
    pub fn as_bitcoin(&self) -> &Address {
        &self.address
    }
}

impl PartialEq for PayoutAddress {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text && self.network == other.network
    }
}

impl Eq for PayoutAddress {}

impl std::hash::Hash for PayoutAddress {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
        self.network.hash(state);
    }
}

impl fmt::Display for PayoutAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for PayoutAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// The address types a payout can go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum AddressKind {
    /// Pay to public key hash: `1…` (mainnet), `m…`/`n…` (test networks).
    P2pkh,
    /// Pay to script hash: `3…` / `2…`. Often P2SH-wrapped P2WPKH.
    P2sh,
    /// Segwit v0 key hash: `bc1q…`, 42 characters on mainnet.
    P2wpkh,
    /// Segwit v0 script hash: `bc1q…`, 62 characters on mainnet.
    P2wsh,
    /// Taproot, segwit v1: `bc1p…`.
    P2tr,
}

impl AddressKind {
    /// Lowercase name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressKind::P2pkh => "p2pkh",
            AddressKind::P2sh => "p2sh",
            AddressKind::P2wpkh => "p2wpkh",
            AddressKind::P2wsh => "p2wsh",
            AddressKind::P2tr => "p2tr",
        }
    }
}

impl fmt::Display for AddressKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which network an address that failed the network check was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressNetwork {
    /// `bc1…`, `1…`, `3…`.
    Mainnet,
    /// `tb1…`: testnet, testnet4 or signet, which share the prefix.
    TestnetOrSignet,
    /// `bcrt1…`.
    Regtest,
    /// `m…`, `n…`, `2…`: any test network, regtest included.
    AnyTestNetwork,
}

impl fmt::Display for AddressNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressNetwork::Mainnet => "a mainnet address",
            AddressNetwork::TestnetOrSignet => "a testnet/signet address",
            AddressNetwork::Regtest => "a regtest address",
            AddressNetwork::AnyTestNetwork => "a test-network address",
        })
    }
}

/// Why a string is not an acceptable payout address.
///
/// Each message names the problem and what the operator should do. None
/// echoes the input: it may be long, contain control characters, or be a
/// private key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Nothing but whitespace was given.
    #[error("no address given: paste a receive address from your wallet")]
    Empty,

    /// The input is longer than [`MAX_ADDRESS_INPUT_LEN`] bytes.
    #[error(
        "that is {len} characters, far longer than any Bitcoin address: paste only one receive address"
    )]
    TooLong {
        /// Length of the trimmed input in bytes.
        len: usize,
    },

    /// A `bitcoin:` payment URI rather than a bare address.
    #[error(
        "that is a payment link (bitcoin:…), not an address: paste only the address part, without \"bitcoin:\" and anything after \"?\""
    )]
    PaymentUri,

    /// A bech32 address with both upper- and lower-case letters (BIP-173
    /// forbids it; a typo is the usual cause).
    #[error(
        "the address mixes upper- and lower-case letters, which bech32 addresses never do: copy it again from your wallet"
    )]
    MixedCase,

    /// The string looks like an address but contains a character that its
    /// encoding never uses (bech32: `1`, `b`, `i`, `o` after the prefix;
    /// base58: `0`, `O`, `I`, `l`): a typo.
    #[error(
        "the address contains a character that never appears in Bitcoin addresses of this kind (a typo, e.g. o for 0): copy it again from your wallet instead of typing it"
    )]
    InvalidCharacter,

    /// The characters are plausible but the checksum does not match: a typo
    /// or a truncated copy.
    #[error(
        "the address has a typo or is incomplete (its checksum does not match): copy it again from your wallet instead of typing it"
    )]
    BadChecksum,

    /// A segwit address whose checksum is the wrong one of bech32/bech32m
    /// for its witness version (BIP-350: version 0 uses bech32, later
    /// versions bech32m). Made by outdated software.
    #[error(
        "the address is encoded with the wrong checksum variant for a version-{witness_version} segwit address (an outdated wallet or tool made it): get a receive address from an up-to-date wallet"
    )]
    WrongChecksumVariant {
        /// The witness version of the address.
        witness_version: u8,
    },

    /// A valid address, but for another network.
    #[error(
        "this is {found}; the coordinator runs on {expected}: give a {expected} address ({shapes})",
        shapes = expected.address_shapes()
    )]
    WrongNetwork {
        /// What the address is for.
        found: AddressNetwork,
        /// The coordinator's network.
        expected: Network,
    },

    /// A WIF private key. Refused, and the operator is warned.
    #[error(
        "that is a PRIVATE KEY, not an address: never paste it anywhere. Anyone who saw it can spend its coins, so move them to a new wallet. Then give a receive address (it starts with bc1, 1 or 3 on mainnet)"
    )]
    PrivateKey,

    /// An extended public or private key (xpub, zpub, tpub, xprv…).
    #[error(
        "that is an extended key (xpub/zpub/tpub…), not an address: give one receive address from your wallet instead (if it was an xprv/tprv, it is private: move the funds to a new wallet)"
    )]
    ExtendedKey,

    /// A well-formed address of a type payouts cannot go to: a future
    /// segwit version, or a version-1 program that is not 32 bytes.
    #[error(
        "{what} addresses are not supported: give a P2WPKH (bc1q…), P2TR (bc1p…), P2WSH, P2PKH (1…) or P2SH (3…) address"
    )]
    Unsupported {
        /// Short description, e.g. "segwit version 2".
        what: String,
    },

    /// Not a Bitcoin address at all.
    #[error(
        "that is not a Bitcoin address: paste a receive address from your wallet (on {network} it looks like {shapes})",
        shapes = network.address_shapes()
    )]
    NotAnAddress {
        /// The coordinator's network, to show what an address looks like.
        network: Network,
    },
}

/// Parses `s` as a payout address for `network`.
///
/// Leading and trailing whitespace is ignored. Accepts P2PKH, P2SH, P2WPKH,
/// P2WSH and P2TR. All-upper-case bech32 is accepted and stored lower case.
/// Testnet, testnet4 and signet accept the same `tb1…` addresses; regtest
/// wants `bcrt1…`; all test networks accept base58 `m…`/`n…`/`2…`
/// addresses (rust-bitcoin's `require_network` semantics).
///
/// Checks run in the order that gives the most useful message: shape, then
/// checksum, then network, then type.
pub fn parse_address(s: &str, network: Network) -> Result<PayoutAddress, AddressError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(AddressError::Empty);
    }
    if s.len() > MAX_ADDRESS_INPUT_LEN {
        return Err(AddressError::TooLong { len: s.len() });
    }
    if starts_with_ignore_case(s, "bitcoin:") {
        return Err(AddressError::PaymentUri);
    }
    let not_an_address = AddressError::NotAnAddress { network };

    let found = match bech32_family(s) {
        Some(found) => check_bech32(s, found, network)?,
        None => check_base58(s, network)?,
    };
    if !found.accepts(network) {
        return Err(AddressError::WrongNetwork {
            found,
            expected: network,
        });
    }

    // The string now has a valid checksum and the right prefix; what is
    // left is rust-bitcoin's structural checks (program lengths, padding).
    let unchecked = Address::from_str(s).map_err(|_| not_an_address.clone())?;
    let address = unchecked
        .require_network(network.to_bitcoin())
        .map_err(|_| AddressError::WrongNetwork {
            found,
            expected: network,
        })?;
    let kind = match address.address_type() {
        Some(AddressType::P2pkh) => AddressKind::P2pkh,
        Some(AddressType::P2sh) => AddressKind::P2sh,
        Some(AddressType::P2wpkh) => AddressKind::P2wpkh,
        Some(AddressType::P2wsh) => AddressKind::P2wsh,
        Some(AddressType::P2tr) => AddressKind::P2tr,
        Some(AddressType::P2a) => {
            return Err(AddressError::Unsupported {
                what: "pay-to-anchor (P2A)".to_owned(),
            });
        }
        // Anything rust-bitcoin adds later.
        Some(other) => {
            return Err(AddressError::Unsupported {
                what: other.to_string(),
            });
        }
        None => {
            let what = match address.witness_program() {
                Some(p) => format!("segwit version {}", p.version().to_num()),
                None => "these".to_owned(),
            };
            return Err(AddressError::Unsupported { what });
        }
    };
    Ok(PayoutAddress {
        text: address.to_string(),
        address,
        kind,
        network,
    })
}

impl AddressNetwork {
    /// Whether an address of this family is valid on `network`.
    fn accepts(self, network: Network) -> bool {
        match self {
            AddressNetwork::Mainnet => network == Network::Mainnet,
            AddressNetwork::TestnetOrSignet => matches!(
                network,
                Network::Testnet | Network::Testnet4 | Network::Signet
            ),
            AddressNetwork::Regtest => network == Network::Regtest,
            AddressNetwork::AnyTestNetwork => network != Network::Mainnet,
        }
    }
}

// The human-readable parts of BIP-173 (mainnet, testnet/signet) and
// Bitcoin Core's regtest, with the separator.
const BECH32_PREFIXES: [(&str, AddressNetwork); 3] = [
    ("bcrt1", AddressNetwork::Regtest),
    ("bc1", AddressNetwork::Mainnet),
    ("tb1", AddressNetwork::TestnetOrSignet),
];

/// The network family if `s` is meant to be a bech32 address. No base58
/// address starts with `b` or `t`, so the prefix decides.
fn bech32_family(s: &str) -> Option<AddressNetwork> {
    bech32_prefix(s).map(|(_, family)| family)
}

fn bech32_prefix(s: &str) -> Option<(&'static str, AddressNetwork)> {
    BECH32_PREFIXES
        .iter()
        .find(|(prefix, _)| starts_with_ignore_case(s, prefix))
        .copied()
}

/// The 32 characters of bech32's data part (BIP-173).
const BECH32_CHARSET: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// Checks case, characters and checksum of a bech32 address; returns its
/// network family.
fn check_bech32(
    s: &str,
    family: AddressNetwork,
    network: Network,
) -> Result<AddressNetwork, AddressError> {
    let not_an_address = AddressError::NotAnAddress { network };
    // Case first, then characters: the bech32 crate would take a `1` typed
    // into the data part for the separator and report something obscure.
    let has_lower = s.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = s.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper {
        return Err(AddressError::MixedCase);
    }
    let prefix_len = bech32_prefix(s).map_or(0, |(prefix, _)| prefix.len());
    let data = s.get(prefix_len..).unwrap_or_default();
    if !data
        .chars()
        .all(|c| BECH32_CHARSET.contains(c.to_ascii_lowercase()))
    {
        return Err(AddressError::InvalidCharacter);
    }
    let unchecked = match UncheckedHrpstring::new(s) {
        Ok(u) => u,
        Err(UncheckedHrpstringError::Char(CharError::MixedCase)) => {
            return Err(AddressError::MixedCase);
        }
        Err(UncheckedHrpstringError::Char(CharError::InvalidChar(_))) => {
            return Err(AddressError::InvalidCharacter);
        }
        Err(_) => return Err(not_an_address),
    };
    // At least a witness version, some program, and the 6-character checksum.
    if unchecked.data_part_ascii().len() <= 7 {
        return Err(not_an_address);
    }
    let Some(version) = unchecked.witness_version() else {
        return Err(not_an_address);
    };
    let version = version.to_u8();
    let bech32_ok = unchecked.has_valid_checksum::<Bech32>();
    let bech32m_ok = unchecked.has_valid_checksum::<Bech32m>();
    let (right, wrong) = if version == 0 {
        (bech32_ok, bech32m_ok)
    } else {
        (bech32m_ok, bech32_ok)
    };
    if right {
        Ok(family)
    } else if wrong {
        Err(AddressError::WrongChecksumVariant {
            witness_version: version,
        })
    } else {
        Err(AddressError::BadChecksum)
    }
}

/// Checks a base58 string: checksum, payload and version byte; returns its
/// network family.
fn check_base58(s: &str, network: Network) -> Result<AddressNetwork, AddressError> {
    let not_an_address = AddressError::NotAnAddress { network };
    let payload = match base58::decode_check(s) {
        Ok(p) => p,
        // Only call it a typo when it looked like an address: random text
        // in the base58 alphabet also fails its checksum.
        Err(base58::Error::IncorrectChecksum(_)) if looks_like_base58_address(s) => {
            return Err(AddressError::BadChecksum);
        }
        Err(base58::Error::Decode(_)) if looks_like_base58_address(s) => {
            return Err(AddressError::InvalidCharacter);
        }
        Err(_) => return Err(not_an_address),
    };
    match (payload.first(), payload.len()) {
        // BIP-13 / Bitcoin Core chainparams version bytes.
        (Some(0x00 | 0x05), 21) => Ok(AddressNetwork::Mainnet),
        (Some(0x6f | 0xc4), 21) => Ok(AddressNetwork::AnyTestNetwork),
        // WIF: 0x80 mainnet, 0xef test; 32-byte key, plus 0x01 if compressed.
        (Some(0x80 | 0xef), 33 | 34) => Err(AddressError::PrivateKey),
        // BIP-32 serialisation is 78 bytes whatever the version bytes.
        (_, 78) => Err(AddressError::ExtendedKey),
        _ => Err(not_an_address),
    }
}

/// Base58 addresses are 26 to 35 characters and start with one of these.
fn looks_like_base58_address(s: &str) -> bool {
    (26..=35).contains(&s.len()) && s.starts_with(['1', '3', 'm', 'n', '2'])
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod test;
