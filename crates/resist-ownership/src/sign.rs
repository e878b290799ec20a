//! Signing on test networks, for `resist up` and for tests.
//!
//! A local demo needs an operator with a payout address and a proof for it,
//! without a wallet. These helpers make a throwaway key, its address, and a
//! signature in the format a wallet would produce. They refuse mainnet keys
//! and mainnet addresses outright: the private key of real money never
//! belongs on a command line, in a config file, or in this process.

use bitcoin::key::{Keypair, Secp256k1};
use bitcoin::secp256k1::{SecretKey, rand};
use bitcoin::{Address, CompressedPublicKey, KnownHrp, NetworkKind, PrivateKey};

use crate::verify::MAX_MESSAGE_LEN;
use crate::{AddressKind, Network, PayoutAddress, parse_address};

/// Longest WIF text accepted (a WIF is 51 or 52 characters).
const MAX_WIF_LEN: usize = 64;

/// Why a test-network signing helper refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The address or network is mainnet.
    #[error(
        "refusing mainnet: these helpers are for test networks only. Keys of real money never belong on a command line; sign the challenge in your wallet instead"
    )]
    Mainnet,

    /// The WIF is a mainnet key (starts with 5, K or L).
    #[error(
        "refusing a mainnet private key: keys of real money never belong on a command line. If this key holds coins, treat it as exposed and move them to a new wallet; for tests, use a test-network key (starts with c or 9)"
    )]
    MainnetKey,

    /// Not a WIF private key.
    #[error(
        "that is not a WIF private key: give a test-network key in WIF form (base58, starts with c or 9), e.g. from `resist` key generation or `bitcoin-cli dumpprivkey`"
    )]
    NotAWif,

    /// The key's address of this type is not the given address.
    #[error(
        "this key does not belong to {address}: its {kind} address is {derived}; give the key of {address}"
    )]
    KeyMismatch {
        /// The address to sign for.
        address: String,
        /// The address type.
        kind: AddressKind,
        /// The key's own address of that type.
        derived: String,
    },

    /// P2WPKH, P2SH-P2WPKH and P2TR need a compressed public key.
    #[error(
        "this WIF is for an uncompressed key, which {kind} addresses cannot use: use a compressed key (WIF starting with c) or a P2PKH address"
    )]
    UncompressedKey {
        /// The address type asked for.
        kind: AddressKind,
    },

    /// No single-key signing for this address type (P2WSH).
    #[error(
        "signing for {kind} addresses is not supported here: use a P2WPKH, P2TR, P2SH-P2WPKH or P2PKH address"
    )]
    Unsupported {
        /// The address type.
        kind: AddressKind,
    },

    /// The message is longer than the verifier accepts.
    #[error("the message is {len} bytes, more than the {MAX_MESSAGE_LEN} allowed")]
    MessageTooLong {
        /// Length in bytes.
        len: usize,
    },

    /// The signing library failed, or what it produced did not verify. A
    /// bug: report it.
    #[error("signing failed ({reason}): this is a bug, please report it")]
    Failed {
        /// What failed.
        reason: String,
    },
}

/// Signs `message` for `address` with the test-network key `wif`, in the
/// format a wallet would use for that address type: BIP-322 simple for
/// P2WPKH, P2SH-P2WPKH and P2TR; legacy `signmessage` for P2PKH.
///
/// BIP-322 output carries no `smp` prefix (older verifiers such as
/// bip322-js do not know it). The result is checked with [`crate::verify`]
/// before it is returned.
pub fn sign_for_test_network(
    wif: &str,
    address: &PayoutAddress,
    message: &str,
) -> Result<String, SignError> {
    let key = parse_test_wif(wif)?;
    if address.network().is_mainnet() {
        return Err(SignError::Mainnet);
    }
    if message.len() > MAX_MESSAGE_LEN {
        return Err(SignError::MessageTooLong { len: message.len() });
    }
    let kind = address.kind();
    let derived = address_of_key(&key, kind, address.network())?;
    if derived != *address.as_bitcoin() {
        return Err(SignError::KeyMismatch {
            address: address.as_str().to_owned(),
            kind,
            derived: derived.to_string(),
        });
    }
    let failed = |e: bip322::Error| SignError::Failed {
        reason: e.to_string(),
    };
    let signature = match kind {
        AddressKind::P2pkh => {
            let sig = bip322::sign_legacy(address.as_bitcoin(), message, &key).map_err(failed)?;
            base64_encode(&sig.serialize())
        }
        AddressKind::P2wpkh | AddressKind::P2sh | AddressKind::P2tr => {
            let witness =
                bip322::sign_simple(address.as_bitcoin(), message, &[key], None).map_err(failed)?;
            base64_encode(&bitcoin::consensus::serialize(&witness))
        }
        AddressKind::P2wsh => return Err(SignError::Unsupported { kind }),
    };
    crate::verify(address, message, &signature).map_err(|e| SignError::Failed {
        reason: format!("own signature did not verify: {e}"),
    })?;
    Ok(signature)
}

/// The address of type `kind` on `network` for the test-network key `wif`.
///
/// `AddressKind::P2sh` means P2SH-wrapped P2WPKH. P2TR is the BIP-86 style
/// key-path address (internal key = the key, no script tree).
pub fn address_for_test_wif(
    wif: &str,
    kind: AddressKind,
    network: Network,
) -> Result<PayoutAddress, SignError> {
    let key = parse_test_wif(wif)?;
    if network.is_mainnet() {
        return Err(SignError::Mainnet);
    }
    let address = address_of_key(&key, kind, network)?;
    parse_address(&address.to_string(), network).map_err(|e| SignError::Failed {
        reason: format!("derived address did not parse: {e}"),
    })
}

/// A fresh random compressed key for a test network, as WIF (`c…`).
pub fn generate_test_wif(network: Network) -> Result<String, SignError> {
    if network.is_mainnet() {
        return Err(SignError::Mainnet);
    }
    let secret = SecretKey::new(&mut rand::thread_rng());
    Ok(PrivateKey::new(secret, NetworkKind::Test).to_wif())
}

/// Parses a WIF and refuses mainnet keys.
fn parse_test_wif(wif: &str) -> Result<PrivateKey, SignError> {
    let wif = wif.trim();
    if wif.is_empty() || wif.len() > MAX_WIF_LEN {
        return Err(SignError::NotAWif);
    }
    let key = PrivateKey::from_wif(wif).map_err(|_| SignError::NotAWif)?;
    if key.network == NetworkKind::Main {
        return Err(SignError::MainnetKey);
    }
    Ok(key)
}

/// The rust-bitcoin address of type `kind` for `key` on `network`.
fn address_of_key(
    key: &PrivateKey,
    kind: AddressKind,
    network: Network,
) -> Result<Address, SignError> {
    let secp = Secp256k1::new();
    let public = key.public_key(&secp);
    let compressed =
        || CompressedPublicKey::try_from(public).map_err(|_| SignError::UncompressedKey { kind });
    let hrp = KnownHrp::from(network.to_bitcoin());
    let net_kind = NetworkKind::from(network.to_bitcoin());
    Ok(match kind {
        AddressKind::P2pkh => Address::p2pkh(public, net_kind),
        AddressKind::P2sh => Address::p2shwpkh(&compressed()?, net_kind),
        AddressKind::P2wpkh => Address::p2wpkh(&compressed()?, hrp),
        AddressKind::P2tr => {
            compressed()?;
            let keypair = Keypair::from_secret_key(&secp, &key.inner);
            let (internal, _parity) = keypair.x_only_public_key();
            // Address::p2tr applies the BIP-341 tweak with no script tree.
            Address::p2tr(&secp, internal, None, hrp)
        }
        AddressKind::P2wsh => return Err(SignError::Unsupported { kind }),
    })
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod test;
