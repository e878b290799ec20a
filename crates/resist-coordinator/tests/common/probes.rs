//! Probes made here: enrolled through the admin API, signing their requests
//! and reports as `resist probe` does.

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use resist_client::{ClientError, Method};
use resist_proto::api::{Assignments, EnrolProbeRequest, ProbeView, ReportBatch, ReportReceipts};
use resist_proto::canary;
use resist_proto::report::{Outcome, Report};
use resist_store::Store;

use super::{CANARY_KEY, Harness};

/// An enrolled probe and its key.
pub struct Probe {
    pub key: SigningKey,
    pub view: ProbeView,
}

pub async fn enrol<S: Store>(h: &Harness<S>, seed: u8, region: &str) -> Probe {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let view: ProbeView = h
        .admin()
        .post(
            "/api/admin/probes",
            Some(&EnrolProbeRequest {
                public_key: hex::encode(key.verifying_key().to_bytes()),
                region: region.into(),
            }),
        )
        .await
        .unwrap();
    Probe { key, view }
}

pub fn auth<S: Store>(
    h: &Harness<S>,
    key: &SigningKey,
    method: &str,
    path: &str,
    skew: i64,
) -> String {
    let now = resist_clock::Clock::now(&h.clock).seconds();
    resist_proto::probe_auth::header(key, method, path, now + skew)
}

pub async fn assignments<S: Store>(h: &Harness<S>, p: &Probe) -> Result<Assignments, ClientError> {
    let a = auth(h, &p.key, "GET", "/api/probe/assignments", 0);
    h.client()
        .call_authorized::<(), _>(Method::GET, "/api/probe/assignments", Some(&a), None)
        .await
}

pub async fn send<S: Store>(h: &Harness<S>, p: &Probe, signed: &[Vec<u8>]) -> ReportReceipts {
    let a = auth(h, &p.key, "POST", "/api/probe/reports", 0);
    let batch = ReportBatch {
        reports: signed
            .iter()
            .map(|s| base64::engine::general_purpose::STANDARD.encode(s))
            .collect(),
    };
    h.client()
        .call_authorized(Method::POST, "/api/probe/reports", Some(&a), Some(&batch))
        .await
        .unwrap()
}

/// A report by `p` on `node` in `window`, relayed with a correct canary answer.
pub fn relayed<S: Store>(h: &Harness<S>, p: &Probe, window: i64, node: i64, id: u8) -> Report {
    let nonce = [id; 32];
    let request = canary::Request {
        nonce,
        sample_len: 1024,
    };
    Report {
        report_id: [id; 16],
        probe_key: p.key.verifying_key().to_bytes(),
        window,
        node,
        measured_at: resist_clock::Clock::now(&h.clock).seconds(),
        outcome: Outcome::Relayed,
        reply_code: 0,
        connect_us: 100,
        handshake_us: 200,
        rtt_us: 300,
        sample_requested: 1024,
        sample_bytes: 1024,
        sample_us: 400,
        canary_nonce: nonce,
        canary_answer: canary::answer(&CANARY_KEY, &request),
    }
}
