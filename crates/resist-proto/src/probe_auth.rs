//! How a probe authenticates its API calls: an ed25519 signature by its
//! enrolled key over the method, the path and the time, in one header.
//!
//! ```text
//! Authorization: ResistProbe <public key hex>.<unix seconds>.<signature hex>
//! signed: "resist-probe-auth-v1\0" || METHOD || " " || PATH || " " || SECONDS
//! ```
//!
//! The coordinator accepts a header only within a small skew of its own
//! clock. Reports carry their own signatures; this header guards reads (the
//! assignments, which hold node credentials) and names the caller.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

/// The scheme name in the `Authorization` header.
pub const SCHEME: &str = "ResistProbe";

fn signed_bytes(method: &str, path: &str, at: i64) -> Vec<u8> {
    format!("resist-probe-auth-v1\0{method} {path} {at}").into_bytes()
}

/// The header value for a call.
pub fn header(key: &SigningKey, method: &str, path: &str, at: i64) -> String {
    let signature = key.sign(&signed_bytes(method, path, at));
    format!(
        "{SCHEME} {}.{at}.{}",
        hex::encode(key.verifying_key().to_bytes()),
        hex::encode(signature.to_bytes())
    )
}

/// A header that verified: who signed, and when they said they did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The probe's public key.
    pub key: [u8; 32],
    /// The time in the header (Unix seconds).
    pub at: i64,
}

/// Checks a header value for `method` and `path`. The caller still has to
/// check `at` against its clock and that the key is enrolled.
pub fn verify(value: &str, method: &str, path: &str) -> Option<Caller> {
    let rest = value.strip_prefix(SCHEME)?.strip_prefix(' ')?;
    if rest.len() > 256 {
        return None;
    }
    let mut parts = rest.split('.');
    let (key, at, sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let key: [u8; 32] = hex::decode(key).ok()?.try_into().ok()?;
    let at: i64 = at.parse().ok()?;
    let sig = Signature::from_slice(&hex::decode(sig).ok()?).ok()?;
    VerifyingKey::from_bytes(&key)
        .ok()?
        .verify(&signed_bytes(method, path, at), &sig)
        .ok()?;
    Some(Caller { key, at })
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn header_verifies_for_its_request_only() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let h = header(&key, "GET", "/api/probe/assignments", 1000);
        let caller = verify(&h, "GET", "/api/probe/assignments").unwrap();
        assert_eq!(caller.key, key.verifying_key().to_bytes());
        assert_eq!(caller.at, 1000);
        assert!(verify(&h, "POST", "/api/probe/assignments").is_none());
        assert!(verify(&h, "GET", "/api/probe/reports").is_none());
        assert!(
            verify(
                &h.replace(".1000.", ".1001."),
                "GET",
                "/api/probe/assignments"
            )
            .is_none()
        );
        assert!(verify("Bearer x", "GET", "/").is_none());
        assert!(verify("ResistProbe a.b.c.d", "GET", "/").is_none());
    }
}
