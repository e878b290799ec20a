//! A probe's measurement of one node in one window, its canonical encoding
//! and its signature.
//!
//! The encoding is fixed-width and versioned, so there is exactly one byte
//! string per report: what the probe signs is what the coordinator verifies
//! and stores, with no JSON ambiguity in between. Layout (big-endian):
//!
//! ```text
//! version u8 (= 1) | report_id [16] | probe_key [32] | window i64 | node i64
//! | measured_at i64 | outcome u8 | reply_code u8 | connect_us u32
//! | handshake_us u32 | rtt_us u32 | sample_requested u32 | sample_bytes u32
//! | sample_us u32 | canary_nonce [32] | canary_answer [32]
//! ```
//!
//! The probe cannot check the canary's answer: only the coordinator knows the
//! key. It reports the nonce it sent and the answer it got, and the
//! coordinator verifies them when the report arrives; an outcome of
//! `Relayed` with a wrong answer is stored as `CanaryMismatch`.
//!
//! The signature is ed25519 over `SIGNING_CONTEXT || encoding`, so a report
//! signature can never be mistaken for a signature over anything else.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

/// The encoding version this crate writes and reads.
pub const REPORT_VERSION: u8 = 1;
/// Length of an encoded report.
pub const REPORT_LEN: usize = 1 + 16 + 32 + 8 + 8 + 8 + 1 + 1 + 4 * 6 + 32 + 32;
/// Domain separation for report signatures.
pub const SIGNING_CONTEXT: &[u8] = b"resist-report-v1\0";
/// Length of a signed report: the encoding followed by the 64-byte signature.
pub const SIGNED_REPORT_LEN: usize = REPORT_LEN + 64;

/// How a test of a node ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The node relayed to the canary and the canary's answer verified.
    Relayed,
    /// No TCP connection to the node (refused, unreachable, reset).
    ConnectFailed,
    /// The node did not answer the SOCKS5 greeting properly.
    HandshakeFailed,
    /// The node refused the probe's credentials (or offered no usable method).
    AuthFailed,
    /// The node answered CONNECT with an error reply (`reply_code`).
    ConnectRefused,
    /// The node said it connected, but the canary's answer was missing or wrong:
    /// it does not really relay (or relays somewhere else).
    CanaryMismatch,
    /// A step did not finish within its time limit.
    Timeout,
}

impl Outcome {
    /// Whether the node proved it relays.
    pub fn relayed(self) -> bool {
        self == Outcome::Relayed
    }

    /// Stable name for APIs and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Relayed => "relayed",
            Outcome::ConnectFailed => "connect_failed",
            Outcome::HandshakeFailed => "handshake_failed",
            Outcome::AuthFailed => "auth_failed",
            Outcome::ConnectRefused => "connect_refused",
            Outcome::CanaryMismatch => "canary_mismatch",
            Outcome::Timeout => "timeout",
        }
    }

    /// The outcome named `s`.
    pub fn from_name(s: &str) -> Option<Self> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Every outcome.
    pub const ALL: [Outcome; 7] = [
        Outcome::Relayed,
        Outcome::ConnectFailed,
        Outcome::HandshakeFailed,
        Outcome::AuthFailed,
        Outcome::ConnectRefused,
        Outcome::CanaryMismatch,
        Outcome::Timeout,
    ];

    fn code(self) -> u8 {
        match self {
            Outcome::Relayed => 0,
            Outcome::ConnectFailed => 1,
            Outcome::HandshakeFailed => 2,
            Outcome::AuthFailed => 3,
            Outcome::ConnectRefused => 4,
            Outcome::CanaryMismatch => 5,
            Outcome::Timeout => 6,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        Outcome::ALL.into_iter().find(|o| o.code() == c)
    }
}

/// One measurement. Durations are microseconds, saturated at `u32::MAX`;
/// zero means the step was not reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Random id chosen by the probe; the coordinator stores a report once.
    pub report_id: [u8; 16],
    /// The probe's ed25519 public key.
    pub probe_key: [u8; 32],
    /// The measurement window the assignment was for.
    pub window: i64,
    /// The node tested.
    pub node: i64,
    /// When the test finished (Unix seconds, probe's clock).
    pub measured_at: i64,
    /// How it ended.
    pub outcome: Outcome,
    /// The SOCKS5 reply code when `outcome` is `ConnectRefused`, else 0.
    pub reply_code: u8,
    /// TCP connect time to the node.
    pub connect_us: u32,
    /// SOCKS5 greeting, authentication and CONNECT.
    pub handshake_us: u32,
    /// Nonce sent to canary answer received, through the node.
    pub rtt_us: u32,
    /// Size of the throughput sample asked of the canary.
    pub sample_requested: u32,
    /// Size of the throughput sample received.
    pub sample_bytes: u32,
    /// Time to receive it.
    pub sample_us: u32,
    /// The nonce sent to the canary (zero if not reached).
    pub canary_nonce: [u8; 32],
    /// The canary's answer as received (zero if none).
    pub canary_answer: [u8; 32],
}

/// A signed report could not be decoded or verified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Not exactly [`SIGNED_REPORT_LEN`] bytes.
    #[error("a signed report is {SIGNED_REPORT_LEN} bytes, got {0}")]
    Length(usize),
    /// A version this coordinator does not know; upgrade it.
    #[error(
        "report version {0} is not supported (this coordinator reads version {REPORT_VERSION})"
    )]
    Version(u8),
    /// An outcome code this version does not define.
    #[error("unknown outcome code {0}")]
    Outcome(u8),
    /// The embedded probe key is not an ed25519 public key.
    #[error("the probe key is not a valid ed25519 public key")]
    Key,
    /// The signature does not verify under the embedded probe key.
    #[error("the signature does not verify")]
    Signature,
}

impl Report {
    /// The canonical encoding.
    pub fn encode(&self) -> [u8; REPORT_LEN] {
        let mut out = [0u8; REPORT_LEN];
        let mut w = Writer {
            buf: &mut out,
            at: 0,
        };
        w.put(&[REPORT_VERSION]);
        w.put(&self.report_id);
        w.put(&self.probe_key);
        w.put(&self.window.to_be_bytes());
        w.put(&self.node.to_be_bytes());
        w.put(&self.measured_at.to_be_bytes());
        w.put(&[self.outcome.code(), self.reply_code]);
        for v in [
            self.connect_us,
            self.handshake_us,
            self.rtt_us,
            self.sample_requested,
            self.sample_bytes,
            self.sample_us,
        ] {
            w.put(&v.to_be_bytes());
        }
        w.put(&self.canary_nonce);
        w.put(&self.canary_answer);
        out
    }

    /// Decodes a canonical encoding (exactly [`REPORT_LEN`] bytes).
    pub fn decode(bytes: &[u8; REPORT_LEN]) -> Result<Report, ReportError> {
        let mut r = Reader { buf: bytes, at: 0 };
        let version = r.u8();
        if version != REPORT_VERSION {
            return Err(ReportError::Version(version));
        }
        let report_id = r.array::<16>();
        let probe_key = r.array::<32>();
        let window = i64::from_be_bytes(r.array());
        let node = i64::from_be_bytes(r.array());
        let measured_at = i64::from_be_bytes(r.array());
        let code = r.u8();
        let outcome = Outcome::from_code(code).ok_or(ReportError::Outcome(code))?;
        let reply_code = r.u8();
        let mut times = [0u32; 6];
        for t in &mut times {
            *t = u32::from_be_bytes(r.array());
        }
        let [
            connect_us,
            handshake_us,
            rtt_us,
            sample_requested,
            sample_bytes,
            sample_us,
        ] = times;
        Ok(Report {
            report_id,
            probe_key,
            window,
            node,
            measured_at,
            outcome,
            reply_code,
            connect_us,
            handshake_us,
            rtt_us,
            sample_requested,
            sample_bytes,
            sample_us,
            canary_nonce: r.array(),
            canary_answer: r.array(),
        })
    }

    /// A report that has not measured anything yet: every time, size and
    /// canary field zero, so a test fills in only what it reaches.
    pub fn blank(
        report_id: [u8; 16],
        probe_key: [u8; 32],
        window: i64,
        node: i64,
        outcome: Outcome,
    ) -> Report {
        Report {
            report_id,
            probe_key,
            window,
            node,
            measured_at: 0,
            outcome,
            reply_code: 0,
            connect_us: 0,
            handshake_us: 0,
            rtt_us: 0,
            sample_requested: 0,
            sample_bytes: 0,
            sample_us: 0,
            canary_nonce: [0; 32],
            canary_answer: [0; 32],
        }
    }

    /// The canary request the probe says it sent.
    pub fn canary_request(&self) -> crate::canary::Request {
        crate::canary::Request {
            nonce: self.canary_nonce,
            sample_len: self.sample_requested,
        }
    }

    /// Whether the report's canary answer is right under `key` (the
    /// coordinator's check; a probe cannot make it).
    pub fn canary_verifies(&self, key: &[u8; 32]) -> bool {
        crate::canary::verify(key, &self.canary_request(), &self.canary_answer)
    }

    /// The encoding followed by the probe's signature over it.
    pub fn sign(&self, key: &SigningKey) -> Vec<u8> {
        let encoded = self.encode();
        let signature = key.sign(&signed_bytes(&encoded));
        let mut out = Vec::with_capacity(SIGNED_REPORT_LEN);
        out.extend_from_slice(&encoded);
        out.extend_from_slice(&signature.to_bytes());
        out
    }

    /// Decodes a signed report and verifies its signature under the probe key
    /// it names. Whether that key is enrolled is the caller's question.
    pub fn verify_signed(signed: &[u8]) -> Result<Report, ReportError> {
        if signed.len() != SIGNED_REPORT_LEN {
            return Err(ReportError::Length(signed.len()));
        }
        let (encoded, signature) = signed.split_at(REPORT_LEN);
        let encoded: &[u8; REPORT_LEN] = encoded
            .try_into()
            .map_err(|_| ReportError::Length(signed.len()))?;
        let report = Report::decode(encoded)?;
        let key = VerifyingKey::from_bytes(&report.probe_key).map_err(|_| ReportError::Key)?;
        let signature = Signature::from_slice(signature).map_err(|_| ReportError::Signature)?;
        key.verify(&signed_bytes(encoded), &signature)
            .map_err(|_| ReportError::Signature)?;
        Ok(report)
    }
}

fn signed_bytes(encoded: &[u8; REPORT_LEN]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNING_CONTEXT.len() + REPORT_LEN);
    m.extend_from_slice(SIGNING_CONTEXT);
    m.extend_from_slice(encoded);
    m
}

struct Writer<'a> {
    buf: &'a mut [u8; REPORT_LEN],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        // The layout above adds up to REPORT_LEN exactly (tested), so `get_mut`
        // cannot miss; if it ever did, the bytes would be dropped, not panic.
        if let Some(dst) = self.buf.get_mut(self.at..self.at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.at += bytes.len();
    }
}

struct Reader<'a> {
    buf: &'a [u8; REPORT_LEN],
    at: usize,
}

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = self.buf.get(self.at..self.at + N) {
            out.copy_from_slice(src);
        }
        self.at += N;
        out
    }

    fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[42; 32])
    }

    fn sample() -> Report {
        Report {
            report_id: [7; 16],
            probe_key: key().verifying_key().to_bytes(),
            window: 2_992_000,
            node: 12,
            measured_at: 1_795_200_000,
            outcome: Outcome::ConnectRefused,
            reply_code: 2,
            connect_us: 350,
            handshake_us: 1200,
            rtt_us: 0,
            sample_requested: 65_536,
            sample_bytes: 0,
            sample_us: u32::MAX,
            canary_nonce: [3; 32],
            canary_answer: [4; 32],
        }
    }

    #[test]
    fn encoding_round_trips_and_is_fixed() {
        let r = sample();
        let bytes = r.encode();
        assert_eq!(bytes.len(), REPORT_LEN);
        assert_eq!(Report::decode(&bytes).unwrap(), r);
        // A pinned prefix: changing the layout must be a new version.
        assert_eq!(&bytes[..2], &[1, 7]);
        assert_eq!(&bytes[49..57], &2_992_000i64.to_be_bytes());
        assert_eq!(bytes[73], 4);
        assert_eq!(bytes[74], 2);
        assert_eq!(&bytes[REPORT_LEN - 64..REPORT_LEN - 32], &[3; 32]);
        assert_eq!(REPORT_LEN, 163);
        for o in Outcome::ALL {
            assert_eq!(Outcome::from_name(o.as_str()), Some(o));
        }
    }

    #[test]
    fn signatures_verify_and_bind_every_byte() {
        let signed = sample().sign(&key());
        assert_eq!(Report::verify_signed(&signed).unwrap(), sample());
        for i in 0..signed.len() {
            let mut bad = signed.clone();
            bad[i] ^= 0x01;
            assert!(
                Report::verify_signed(&bad).is_err(),
                "flipping byte {i} went unnoticed"
            );
        }
        assert_eq!(
            Report::verify_signed(&signed[1..]),
            Err(ReportError::Length(SIGNED_REPORT_LEN - 1))
        );
    }

    #[test]
    fn the_canary_answer_is_checked_with_the_coordinators_key() {
        let key = [11; 32];
        let mut r = sample();
        assert!(!r.canary_verifies(&key));
        r.canary_answer = crate::canary::answer(&key, &r.canary_request());
        assert!(r.canary_verifies(&key));
        r.sample_requested += 1;
        assert!(!r.canary_verifies(&key));
    }

    #[test]
    fn a_key_cannot_sign_for_another() {
        let mut r = sample();
        r.probe_key = SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes();
        let signed = r.sign(&key());
        assert_eq!(Report::verify_signed(&signed), Err(ReportError::Signature));
    }

    #[test]
    fn unknown_versions_and_outcomes_are_refused() {
        let mut bytes = sample().encode();
        bytes[0] = 2;
        assert_eq!(Report::decode(&bytes), Err(ReportError::Version(2)));
        let mut bytes = sample().encode();
        bytes[73] = 99;
        assert_eq!(Report::decode(&bytes), Err(ReportError::Outcome(99)));
    }
}
