//! Legacy `signmessage` signatures, including the segwit variants that
//! wallets actually produce.
//!
//! The `bip322` crate verifies legacy (BIP-137) signatures for P2PKH
//! addresses only. Electrum, Sparrow's "Standard (Electrum)" format and
//! Trezor sign `bc1q…` and `3…` addresses with the same 65-byte scheme: a
//! recoverable ECDSA signature over Bitcoin Core's "Bitcoin Signed Message"
//! hash. Electrum uses the plain compressed-key header (31..=34); BIP-137
//! (Trezor) uses 35..=38 for P2SH-P2WPKH and 39..=42 for P2WPKH. The public
//! key is recovered from the signature and the address is accepted if it is
//! the P2PKH, P2WPKH or P2SH-P2WPKH address of that key.

use bitcoin::secp256k1::Secp256k1;
use bitcoin::sign_message::{MessageSignature, signed_msg_hash};
use bitcoin::{CompressedPublicKey, ScriptBuf};

use crate::PayoutAddress;

/// Length of a legacy signature in bytes: header, r, s.
pub(crate) const LEGACY_LEN: usize = 65;

/// Headers that a legacy signature may carry (BIP-137): 27..=30
/// uncompressed P2PKH, 31..=34 compressed P2PKH, 35..=38 P2SH-P2WPKH,
/// 39..=42 P2WPKH. The low two bits of `header - 27` are the recovery id.
pub(crate) const LEGACY_HEADERS: std::ops::RangeInclusive<u8> = 27..=42;

/// What a legacy signature check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Legacy {
    /// The recovered key's P2PKH, P2WPKH or P2SH-P2WPKH address is the
    /// payout address.
    Matches,
    /// The bytes form a signature but it recovers a key of another address
    /// or no key at all (a signature of another message looks the same).
    NoMatch,
    /// The bytes are not a legacy signature (bad header, r or s out of
    /// range).
    Malformed,
}

/// Checks a 65-byte legacy signature of `message` against `address`.
pub(crate) fn check(address: &PayoutAddress, message: &str, sig: &[u8]) -> Legacy {
    let Some((&header, rest)) = sig.split_first() else {
        return Legacy::Malformed;
    };
    if sig.len() != LEGACY_LEN || !LEGACY_HEADERS.contains(&header) {
        return Legacy::Malformed;
    }
    // Map every header onto the two forms rust-bitcoin knows:
    // 27 + recid (uncompressed) and 31 + recid (compressed).
    let recid = (header - 27) & 0x03;
    let compressed = header >= 31;
    let mut normalised = [0u8; LEGACY_LEN];
    normalised[0] = 27 + recid + if compressed { 4 } else { 0 };
    normalised[1..].copy_from_slice(rest);
    let Ok(signature) = MessageSignature::from_slice(&normalised) else {
        return Legacy::Malformed;
    };
    let secp = Secp256k1::verification_only();
    // Whether a key can be recovered depends on the message too, so a
    // failure here is a mismatch, not a malformed signature.
    let Ok(pubkey) = signature.recover_pubkey(&secp, signed_msg_hash(message)) else {
        return Legacy::NoMatch;
    };

    let target = address.script_pubkey();
    let mut candidates = vec![ScriptBuf::new_p2pkh(&pubkey.pubkey_hash())];
    if let Ok(key) = CompressedPublicKey::try_from(pubkey) {
        let wpkh = ScriptBuf::new_p2wpkh(&key.wpubkey_hash());
        candidates.push(ScriptBuf::new_p2sh(&wpkh.script_hash()));
        candidates.push(wpkh);
    }
    if candidates.contains(&target) {
        Legacy::Matches
    } else {
        Legacy::NoMatch
    }
}
