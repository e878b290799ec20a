//! The canary protocol: how a probe proves that a node really relays.
//!
//! The coordinator runs the canary on its own TCP port. A probe CONNECTs
//! through the node under test to the canary and sends a fresh random nonce;
//! the canary answers HMAC-SHA256(key, request), where only the coordinator
//! knows the key, then a throughput sample of the requested size. A node that
//! does not relay to the canary cannot produce the answer, so an open port or
//! a fake SOCKS5 server fails the test.
//!
//! ```text
//! probe → canary: "RSC1" | nonce [32] | sample_len u32 (big-endian)   40 bytes
//! canary → probe: hmac [32] | sample_len zero bytes
//! ```
//!
//! The sample's content is predictable, so it measures throughput rather than
//! proving anything; the proof is the HMAC.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// First four bytes of a request: protocol and version.
pub const MAGIC: [u8; 4] = *b"RSC1";
/// Length of a request.
pub const REQUEST_LEN: usize = 40;
/// Length of the answer before the sample.
pub const ANSWER_LEN: usize = 32;
/// Largest throughput sample a canary sends (bounds the canary's work).
pub const MAX_SAMPLE: u32 = 1 << 20;

/// What a probe asks the canary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Fresh random bytes for each test.
    pub nonce: [u8; 32],
    /// Bytes of throughput sample wanted after the answer (≤ [`MAX_SAMPLE`]).
    pub sample_len: u32,
}

/// A canary request could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CanaryError {
    /// The first bytes are not `RSC1`: not a canary request (or another version).
    #[error("not a canary request")]
    Magic,
    /// The requested sample is larger than [`MAX_SAMPLE`].
    #[error("sample of {0} bytes requested; at most {MAX_SAMPLE}")]
    SampleTooLarge(u32),
}

impl Request {
    /// The 40 bytes on the wire.
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut out = [0u8; REQUEST_LEN];
        out[..4].copy_from_slice(&MAGIC);
        out[4..36].copy_from_slice(&self.nonce);
        out[36..].copy_from_slice(&self.sample_len.to_be_bytes());
        out
    }

    /// Reads a request.
    pub fn decode(bytes: &[u8; REQUEST_LEN]) -> Result<Request, CanaryError> {
        let (magic, rest) = bytes.split_at(4);
        if magic != MAGIC {
            return Err(CanaryError::Magic);
        }
        let (nonce, len) = rest.split_at(32);
        let mut n = [0u8; 32];
        n.copy_from_slice(nonce);
        let mut l = [0u8; 4];
        l.copy_from_slice(len);
        let sample_len = u32::from_be_bytes(l);
        if sample_len > MAX_SAMPLE {
            return Err(CanaryError::SampleTooLarge(sample_len));
        }
        Ok(Request {
            nonce: n,
            sample_len,
        })
    }
}

/// The canary's answer to `request` under `key`.
pub fn answer(key: &[u8; 32], request: &Request) -> [u8; ANSWER_LEN] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail here.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0; ANSWER_LEN];
    };
    mac.update(b"resist-canary-v1\0");
    mac.update(&request.encode());
    mac.finalize().into_bytes().into()
}

/// Whether `got` is the right answer (compared in constant time).
pub fn verify(key: &[u8; 32], request: &Request, got: &[u8; ANSWER_LEN]) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return false;
    };
    mac.update(b"resist-canary-v1\0");
    mac.update(&request.encode());
    mac.verify_slice(got).is_ok()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn request_round_trips() {
        let r = Request {
            nonce: [3; 32],
            sample_len: 65_536,
        };
        let bytes = r.encode();
        assert_eq!(&bytes[..4], b"RSC1");
        assert_eq!(Request::decode(&bytes).unwrap(), r);
    }

    #[test]
    fn refuses_foreign_and_oversized_requests() {
        let mut bytes = Request {
            nonce: [0; 32],
            sample_len: 1,
        }
        .encode();
        bytes[0] = 0x05; // a SOCKS5 greeting, say
        assert_eq!(Request::decode(&bytes), Err(CanaryError::Magic));
        let bytes = Request {
            nonce: [0; 32],
            sample_len: MAX_SAMPLE + 1,
        }
        .encode();
        assert_eq!(
            Request::decode(&bytes),
            Err(CanaryError::SampleTooLarge(MAX_SAMPLE + 1))
        );
    }

    #[test]
    fn answers_depend_on_key_nonce_and_length() {
        let key = [9; 32];
        let r = Request {
            nonce: [1; 32],
            sample_len: 0,
        };
        let a = answer(&key, &r);
        assert!(verify(&key, &r, &a));
        assert!(!verify(&[8; 32], &r, &a));
        assert!(!verify(
            &key,
            &Request {
                nonce: [2; 32],
                ..r
            },
            &a
        ));
        assert!(!verify(&key, &Request { sample_len: 1, ..r }, &a));
        assert_ne!(
            answer(&key, &r),
            answer(
                &key,
                &Request {
                    nonce: [2; 32],
                    ..r
                }
            )
        );
    }
}
