//! Checking an operator's signature of the coordinator's challenge.
//!
//! One entry point, [`verify`], accepts the formats that wallets in use
//! produce: BIP-322 simple (with or without the `smp` prefix), BIP-322 full
//! (`ful`), and legacy `signmessage` (Bitcoin Core, Electrum, Sparrow
//! "Standard", Trezor/BIP-137). The format is recognised from the decoded
//! bytes; the caller does not have to ask the operator which one it is.
//!
//! Sizes are capped before anything is decoded, and every failure is an
//! [`ProofError`] that tells the operator what to do next.

// Format detection: an explicit prefix wins. Otherwise 65 bytes with a
// header in 27..=42 is legacy (a BIP-322 simple witness is never 65 bytes
// with such a first byte: its first byte is the item count, 1 or 2 for
// single-key addresses, and a P2TR witness is 66 or 67 bytes). Then a
// witness that consumes every byte is BIP-322 simple, then a transaction
// that does is BIP-322 full.

use std::fmt;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use bitcoin::absolute::LockTime;
use bitcoin::{Sequence, Transaction, Witness};
use serde::Serialize;

use crate::legacy::{self, Legacy};
use crate::{AddressKind, PayoutAddress};

/// Longest signature text [`verify`] accepts, in bytes (after trimming).
/// A BIP-322 full proof for a 2-of-3 P2WSH is about 500 characters.
pub const MAX_SIGNATURE_LEN: usize = 4096;

/// Longest message [`verify`] accepts, in bytes. The challenge is one line.
pub const MAX_MESSAGE_LEN: usize = 2048;

/// Which proof format a signature was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ProofKind {
    /// BIP-322 "simple": the witness of the `to_sign` transaction.
    Bip322Simple,
    /// BIP-322 "full": the whole `to_sign` transaction.
    Bip322Full,
    /// Legacy `signmessage`: 65 bytes, recoverable ECDSA over the "Bitcoin
    /// Signed Message" hash (Core, Electrum, Sparrow "Standard", BIP-137).
    Legacy,
}

impl ProofKind {
    /// Stable name for storage and JSON: `bip322-simple`, `bip322-full`,
    /// `legacy`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProofKind::Bip322Simple => "bip322-simple",
            ProofKind::Bip322Full => "bip322-full",
            ProofKind::Legacy => "legacy",
        }
    }

    /// Name for people.
    fn describe(self) -> &'static str {
        match self {
            ProofKind::Bip322Simple => "BIP-322 simple",
            ProofKind::Bip322Full => "BIP-322 full",
            ProofKind::Legacy => "legacy \"sign message\"",
        }
    }
}

impl fmt::Display for ProofKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a signature does not prove control of the address.
///
/// Messages are meant for the operator. They never echo the signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The message is longer than [`MAX_MESSAGE_LEN`]. The coordinator's own
    /// challenge never is, so this is a caller bug or a wrong paste.
    #[error(
        "the message is {len} bytes, more than the {MAX_MESSAGE_LEN} allowed: sign the one-line challenge only"
    )]
    MessageTooLong {
        /// Length in bytes.
        len: usize,
    },

    /// The signature text is longer than [`MAX_SIGNATURE_LEN`].
    #[error(
        "the signature is {len} characters, more than the {MAX_SIGNATURE_LEN} allowed: paste only the signature your wallet shows"
    )]
    SignatureTooLong {
        /// Length in bytes after trimming.
        len: usize,
    },

    /// Nothing but whitespace was given.
    #[error("no signature given: sign the challenge line in your wallet and paste the signature")]
    EmptySignature,

    /// A whole "BEGIN BITCOIN SIGNED MESSAGE" block was pasted.
    #[error(
        "that is a whole signed-message block: paste only the signature (the base64 line under the address)"
    )]
    Armored,

    /// The text is not base64.
    #[error(
        "the signature is not base64 text: paste the signature exactly as your wallet shows it, without quotes"
    )]
    NotBase64,

    /// Base64 that decodes to neither a BIP-322 proof nor a legacy
    /// signature.
    #[error(
        "the signature is not in a format this coordinator understands ({reason}): use BIP-322 or your wallet's standard \"sign message\""
    )]
    Malformed {
        /// What was wrong, in a few words.
        reason: &'static str,
    },

    /// A BIP-322 "proof of funds" (`pof` prefix); registration wants a plain
    /// proof of the address.
    #[error(
        "that is a BIP-322 proof of funds: sign the challenge as a plain BIP-322 message (simple) instead"
    )]
    ProofOfFunds,

    /// This format cannot prove this address type: legacy for P2TR or P2WSH,
    /// BIP-322 simple for P2PKH.
    #[error("a {} signature cannot prove a {kind} address: {}", format.describe(), advice(*kind))]
    FormatNotForAddress {
        /// The format that was given.
        format: ProofKind,
        /// The payout address type.
        kind: AddressKind,
    },

    /// A well-formed signature that does not verify: wrong key, wrong
    /// message (a changed character, a trailing newline), or another
    /// address.
    #[error(
        "the signature does not match this address and message: sign exactly the challenge line, with the key of {address}"
    )]
    Mismatch {
        /// The payout address (normalised).
        address: String,
    },

    /// BIP-322 signed with a sighash type other than ALL/DEFAULT.
    #[error(
        "the signature uses an unusual sighash type: sign again with your wallet's default settings"
    )]
    UnsupportedSighash,

    /// A BIP-322 full proof with a lock time or sequence: it claims validity
    /// only from some time on.
    #[error("the BIP-322 proof is time-locked: sign again without a lock time or sequence")]
    Timelocked,

    /// BIP-322 "inconclusive": the proof's script is one the verifier cannot
    /// interpret: a P2WSH that is not plain multisig, or a witness whose
    /// shape fits no form of this address type (often a proof made for
    /// another address).
    #[error(
        "the proof cannot be checked against this {kind} address: sign exactly the challenge line with the key of this address; if it is a custom script (not single-key or multisig), register another address"
    )]
    Inconclusive {
        /// The payout address type.
        kind: AddressKind,
    },
}

/// What to tell an operator whose signature format cannot prove `kind`.
fn advice(kind: AddressKind) -> &'static str {
    match kind {
        AddressKind::P2pkh => {
            "sign with your wallet's \"sign message\" (Bitcoin Core, Electrum, Sparrow \"Standard\") or BIP-322 full"
        }
        AddressKind::P2tr => {
            "taproot addresses can only be proven with BIP-322: sign with a wallet that supports it (e.g. Sparrow's BIP-322 option), or register a bc1q address"
        }
        AddressKind::P2wsh => {
            "P2WSH addresses can only be proven with BIP-322 (for multisig, with all required keys)"
        }
        AddressKind::P2wpkh | AddressKind::P2sh => {
            "sign with BIP-322 or your wallet's \"sign message\""
        }
    }
}

/// Checks that `signature` signs exactly `message` with the key(s) of
/// `address`, and says which format it was.
///
/// `message` must be byte-for-byte what the operator signed: no trailing
/// newline is added or removed. Whitespace around and inside the signature
/// is ignored (wallets wrap long base64). Never panics.
pub fn verify(
    address: &PayoutAddress,
    message: &str,
    signature: &str,
) -> Result<ProofKind, ProofError> {
    if message.len() > MAX_MESSAGE_LEN {
        return Err(ProofError::MessageTooLong { len: message.len() });
    }
    let signature = signature.trim();
    if signature.len() > MAX_SIGNATURE_LEN {
        return Err(ProofError::SignatureTooLong {
            len: signature.len(),
        });
    }
    if signature.is_empty() {
        return Err(ProofError::EmptySignature);
    }
    if signature.contains("-----BEGIN") {
        return Err(ProofError::Armored);
    }

    // The "smp"/"ful"/"pof" variant prefixes cannot collide with real
    // unprefixed signatures: those start with 'A' (BIP-322) or an upper-case
    // letter from 'G' to 'K' (legacy headers 27..=42).
    let (declared, body) =
        if let Some(rest) = signature.strip_prefix(bip322::SIMPLE_SIGNATURE_PREFIX) {
            (Some(ProofKind::Bip322Simple), rest)
        } else if let Some(rest) = signature.strip_prefix(bip322::FULL_SIGNATURE_PREFIX) {
            (Some(ProofKind::Bip322Full), rest)
        } else if signature.starts_with(bip322::POF_SIGNATURE_PREFIX) {
            return Err(ProofError::ProofOfFunds);
        } else {
            (None, signature)
        };

    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = BASE64
        .decode(compact.as_bytes())
        .map_err(|_| ProofError::NotBase64)?;

    let decoded = match declared {
        Some(ProofKind::Bip322Simple) => Decoded::Simple(
            bitcoin::consensus::deserialize::<Witness>(&bytes).map_err(|_| {
                ProofError::Malformed {
                    reason: "the BIP-322 simple signature is not a valid witness",
                }
            })?,
        ),
        Some(_) => Decoded::Full(
            bitcoin::consensus::deserialize::<Transaction>(&bytes).map_err(|_| {
                ProofError::Malformed {
                    reason: "the BIP-322 full signature is not a valid transaction",
                }
            })?,
        ),
        None => detect(&bytes)?,
    };

    let kind = address.kind();
    let mismatch = || ProofError::Mismatch {
        address: address.as_str().to_owned(),
    };
    match decoded {
        Decoded::Legacy(sig) => {
            if matches!(kind, AddressKind::P2tr | AddressKind::P2wsh) {
                return Err(ProofError::FormatNotForAddress {
                    format: ProofKind::Legacy,
                    kind,
                });
            }
            match legacy::check(address, message, sig) {
                Legacy::Matches => Ok(ProofKind::Legacy),
                Legacy::NoMatch => Err(mismatch()),
                Legacy::Malformed => Err(ProofError::Malformed {
                    reason: "the legacy signature's numbers are out of range",
                }),
            }
        }
        Decoded::Simple(witness) => {
            if kind == AddressKind::P2pkh {
                return Err(ProofError::FormatNotForAddress {
                    format: ProofKind::Bip322Simple,
                    kind,
                });
            }
            let outcome = bip322::verify_simple(address.as_bitcoin(), message, witness);
            bip322_outcome(outcome, address).map(|()| ProofKind::Bip322Simple)
        }
        Decoded::Full(tx) => {
            let outcome = bip322::verify_full(address.as_bitcoin(), message, tx);
            bip322_outcome(outcome, address).map(|()| ProofKind::Bip322Full)
        }
    }
}

/// Standard alphabet; padding optional, since some tools strip it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A signature after decoding, before checking.
enum Decoded<'a> {
    Legacy(&'a [u8]),
    Simple(Witness),
    Full(Transaction),
}

/// Recognises an unprefixed signature's format from its bytes.
fn detect(bytes: &[u8]) -> Result<Decoded<'_>, ProofError> {
    if bytes.len() == legacy::LEGACY_LEN {
        return match bytes.first() {
            Some(h) if legacy::LEGACY_HEADERS.contains(h) => Ok(Decoded::Legacy(bytes)),
            _ => Err(ProofError::Malformed {
                reason: "65 bytes like a legacy signature, but with an invalid first byte",
            }),
        };
    }
    if let Ok(witness) = bitcoin::consensus::deserialize::<Witness>(bytes) {
        return Ok(Decoded::Simple(witness));
    }
    if let Ok(tx) = bitcoin::consensus::deserialize::<Transaction>(bytes) {
        return Ok(Decoded::Full(tx));
    }
    Err(ProofError::Malformed {
        reason: "neither a BIP-322 proof nor a 65-byte legacy signature",
    })
}

/// Maps the `bip322` crate's result onto ours.
fn bip322_outcome(
    outcome: Result<bip322::Verification, bip322::Error>,
    address: &PayoutAddress,
) -> Result<(), ProofError> {
    match outcome {
        Ok(bip322::Verification::Valid { time, age }) => {
            if time == LockTime::ZERO && age == Sequence::ZERO {
                Ok(())
            } else {
                Err(ProofError::Timelocked)
            }
        }
        Ok(bip322::Verification::Inconclusive) => Err(ProofError::Inconclusive {
            kind: address.kind(),
        }),
        Err(
            bip322::Error::SigHashTypeUnsupported { .. }
            | bip322::Error::SigHashTypeNonStandard { .. }
            | bip322::Error::SigHashTypeInvalid { .. },
        ) => Err(ProofError::UnsupportedSighash),
        // Everything else (bad signature, other key, witness shape of
        // another address type, to_sign not spending this message's
        // to_spend) means the proof is not for this address and message.
        Err(_) => Err(ProofError::Mismatch {
            address: address.as_str().to_owned(),
        }),
    }
}

#[cfg(test)]
mod test;
