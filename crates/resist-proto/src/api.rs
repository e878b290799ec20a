//! The coordinator's HTTP API bodies, shared by the server (which documents
//! them in its OpenAPI document) and the CLI clients. JSON field names are the
//! API; changing one is a breaking change.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::action::CredentialsChange;
use crate::endpoint::{Endpoint, NodeSpec};

pub mod epochs;

/// Most nodes one registration or one operator may list.
pub const MAX_NODES_PER_OPERATOR: usize = 64;
/// Longest signature accepted (BIP-322 full proofs of multisig can be long).
pub const MAX_SIGNATURE_LEN: usize = 4096;

/// An error answer: a stable code for programs, a sentence for people, and the
/// offending field when one input was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid`, `conflict`, `bad_signature`.
    #[schema(example = "invalid")]
    pub error: String,
    /// What happened and what to do.
    pub message: String,
    /// The JSON path of the refused input, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// `GET /api/info`: what a client needs before it talks to this coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Info {
    /// The Bitcoin network grants are paid on: `mainnet`, `testnet`, `signet`, `regtest`.
    pub network: String,
    /// The coordinator's version.
    pub version: String,
    /// How long a challenge stays valid.
    pub challenge_ttl_seconds: u64,
}

/// `POST /api/challenges`: a one-time nonce to put in a signed message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Challenge {
    /// 32 hex digits; good for one change.
    pub nonce: String,
    /// When it stops being accepted (Unix seconds).
    pub expires_at: i64,
    /// The coordinator's network, which the message names.
    pub network: String,
}

/// `POST /api/operators`: register with a proven payout address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Where grants go; must be on the coordinator's network.
    pub payout_address: String,
    /// The operator's nodes (at least one).
    pub nodes: Vec<NodeSpec>,
    /// The challenge nonce the message names.
    pub nonce: String,
    /// Signature of `Action::Register` by the payout address (BIP-322 or legacy signmessage, base64).
    pub signature: String,
}

/// `POST /api/operators` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Registered {
    /// What the coordinator stored.
    pub operator: OperatorView,
    /// The operator's access token for reading its own state; shown once, keep it secret.
    pub token: String,
}

/// An operator with its nodes, as the operator sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OperatorView {
    /// Operator id (used in signed messages).
    pub id: i64,
    /// Where grants go.
    pub payout_address: String,
    /// Registered at (Unix seconds).
    pub created_at: i64,
    /// Payout address or token last changed at (Unix seconds).
    pub updated_at: i64,
    /// The operator's nodes.
    pub nodes: Vec<NodeView>,
}

/// A node as its operator (or the funder) sees it; the password is never sent back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NodeView {
    /// Node id (used in signed messages).
    pub id: i64,
    /// The operator's id.
    pub operator: i64,
    /// Where it listens.
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// What it speaks.
    pub protocol: String,
    /// The username probes use, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Whether probes have a password for it.
    pub has_password: bool,
    /// Added at (Unix seconds).
    pub created_at: i64,
    /// Endpoint or credentials last changed at (Unix seconds).
    pub updated_at: i64,
}

/// `POST /api/operators/{id}/nodes`: add a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddNodeRequest {
    /// The node.
    pub node: NodeSpec,
    /// The challenge nonce.
    pub nonce: String,
    /// Signature of `Action::AddNode` by the payout address.
    pub signature: String,
}

/// `PATCH /api/operators/{id}/nodes/{node}`: change a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNodeRequest {
    /// The new endpoint, if it changes.
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    /// What happens to the credentials (default: keep).
    #[serde(default)]
    pub credentials: CredentialsChange,
    /// The challenge nonce.
    pub nonce: String,
    /// Signature of `Action::UpdateNode` by the payout address.
    pub signature: String,
}

/// `PUT /api/operators/{id}/payout`: send grants elsewhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePayoutRequest {
    /// The new payout address.
    pub new_payout_address: String,
    /// The challenge nonce.
    pub nonce: String,
    /// Signature of `Action::ChangePayout` by the current payout address.
    pub signature_current: String,
    /// Signature of the same message by the new payout address.
    pub signature_new: String,
}

/// `POST /api/operators/{id}/token`: replace a lost or leaked access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateTokenRequest {
    /// The challenge nonce.
    pub nonce: String,
    /// Signature of `Action::RotateToken` by the payout address.
    pub signature: String,
}

/// `POST /api/operators/{id}/token` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenIssued {
    /// The new access token; the old one no longer works.
    pub token: String,
}

/// `POST /api/admin/probes`: enrol a probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolProbeRequest {
    /// The probe's ed25519 public key, 64 hex digits (`resist probe` prints it).
    pub public_key: String,
    /// `censored:CC` or `free:CC`, e.g. `censored:RU`.
    pub region: String,
}

/// A probe, as the funder sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProbeView {
    /// Probe id.
    pub id: i64,
    /// Its ed25519 public key, hex.
    pub public_key: String,
    /// Its region label.
    pub region: String,
    /// Whether its reports are accepted.
    pub enabled: bool,
    /// Enrolled at (Unix seconds).
    pub enrolled_at: i64,
    /// Last enabled or disabled at (Unix seconds).
    pub updated_at: i64,
}

/// Most reports one `POST /api/probe/reports` may carry.
pub const MAX_REPORTS_PER_BATCH: usize = 256;

/// `GET /api/probe/assignments`: what the calling probe must test now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Assignments {
    /// The current window's number (Unix seconds / window length).
    pub window: i64,
    /// When it started (Unix seconds).
    pub window_start: i64,
    /// When it ends (Unix seconds); reports are accepted for a while after.
    pub window_end: i64,
    /// The canary to CONNECT to through each node, `HOST:PORT`.
    pub canary: String,
    /// The region the funder enrolled this probe for.
    pub region: String,
    /// The nodes this probe was assigned, chosen by the coordinator.
    pub nodes: Vec<Assignment>,
}

/// One node to test, with the credentials the operator registered.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Assignment {
    /// Node id (goes into the report).
    pub node: i64,
    /// Where it listens.
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// What it speaks.
    pub protocol: String,
    /// Username to log in with, if the node needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password to log in with, if the node needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Whether this probe's report for it has already arrived.
    pub reported: bool,
}

impl std::fmt::Debug for Assignment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assignment")
            .field("node", &self.node)
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("reported", &self.reported)
            .finish()
    }
}

/// `POST /api/probe/reports`: signed reports, each the base64 of
/// `resist_proto::report` signed bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportBatch {
    /// Signed reports (base64, standard alphabet, padded).
    pub reports: Vec<String>,
}

/// What became of each report, in the order sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportReceipts {
    /// One receipt per report.
    pub receipts: Vec<Receipt>,
}

/// What became of one report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Receipt {
    /// The report's id (hex), or empty if it could not be decoded.
    pub report_id: String,
    /// `accepted` (stored now), `duplicate` (stored before: drop it from the
    /// queue), or `refused` (never stored; `reason` says why; do not resend).
    #[schema(schema_with = receipt_status_schema)]
    pub status: ReceiptStatus,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What the coordinator did with a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptStatus {
    /// Stored now.
    Accepted,
    /// Stored before: drop it from the queue.
    Duplicate,
    /// Never stored (`reason` says why); do not resend.
    Refused,
    /// A status this version does not know, from a newer coordinator: a probe
    /// keeps the report and sends it again later. Never sent by this version.
    #[serde(untagged)]
    Unrecognised(String),
}

impl ReceiptStatus {
    /// The statuses this version sends, by name.
    pub const SENT: [ReceiptStatus; 3] = [
        ReceiptStatus::Accepted,
        ReceiptStatus::Duplicate,
        ReceiptStatus::Refused,
    ];

    /// The status's name on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ReceiptStatus::Accepted => "accepted",
            ReceiptStatus::Duplicate => "duplicate",
            ReceiptStatus::Refused => "refused",
            ReceiptStatus::Unrecognised(name) => name,
        }
    }
}

impl PartialEq<&str> for ReceiptStatus {
    /// Whether this is the status named `name` on the wire.
    fn eq(&self, name: &&str) -> bool {
        self.as_str() == *name
    }
}

impl From<&str> for ReceiptStatus {
    /// The status named `name`; a name this version does not send is
    /// [`ReceiptStatus::Unrecognised`].
    fn from(name: &str) -> ReceiptStatus {
        ReceiptStatus::SENT
            .into_iter()
            .find(|s| s.as_str() == name)
            .unwrap_or_else(|| ReceiptStatus::Unrecognised(name.to_owned()))
    }
}

/// A string schema listing `values`, for fields whose Rust type carries its
/// own names (a status of `resist-measure`, or an enum with a catch-all).
pub(crate) fn names_schema<'a>(
    description: &str,
    values: impl IntoIterator<Item = &'a str>,
) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(description))
        .enum_values(Some(values))
        .build()
}

fn receipt_status_schema() -> utoipa::openapi::Object {
    names_schema(
        "`accepted` (stored now), `duplicate` (stored before: drop it from the queue), or \
         `refused` (never stored; `reason` says why; do not resend).",
        ["accepted", "duplicate", "refused"],
    )
}

fn window_status_schema() -> utoipa::openapi::Object {
    names_schema(
        "`ok`, `blocked`, `down` or `unknown`.",
        resist_measure::Status::ALL.map(resist_measure::Status::as_str),
    )
}

/// `resist_measure::Status` by its name (`ok`, `blocked`, `down`, `unknown`).
mod status_name {
    use resist_measure::Status;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(status: &Status, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(status.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
        let name = String::deserialize(d)?;
        Status::from_name(&name)
            .ok_or_else(|| D::Error::custom(format!("unknown window status {name:?}")))
    }
}

/// A node's measured status, now and over past windows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NodeStatusView {
    /// The node.
    pub node: i64,
    /// Its operator.
    pub operator: i64,
    /// Where it listens.
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// The newest window with any report, if any.
    pub latest: Option<WindowStatusView>,
    /// Windows with reports, newest first.
    pub history: Vec<WindowStatusView>,
}

/// One node's classification in one window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WindowStatusView {
    /// The window's number.
    pub window: i64,
    /// When it started (Unix seconds).
    pub window_start: i64,
    /// `ok`, `blocked`, `down` or `unknown`.
    #[serde(with = "status_name")]
    #[schema(schema_with = window_status_schema)]
    pub status: resist_measure::Status,
    /// Censored-region reports that relayed.
    pub censored_relayed: u32,
    /// Censored-region reports that failed.
    pub censored_failed: u32,
    /// Free-region reports that relayed.
    pub free_relayed: u32,
    /// Free-region reports that failed.
    pub free_failed: u32,
    /// Probes of one region disagreed (some relayed, some failed).
    pub disagreement: bool,
}

#[cfg(test)]
mod test {
    use resist_measure::Status;

    use super::*;

    #[test]
    fn statuses_keep_their_wire_names() {
        for status in Status::ALL {
            let view = WindowStatusView {
                window: 1,
                window_start: 2,
                status,
                censored_relayed: 0,
                censored_failed: 0,
                free_relayed: 0,
                free_failed: 0,
                disagreement: false,
            };
            let json = serde_json::to_value(&view).unwrap();
            assert_eq!(json["status"], status.as_str());
            assert_eq!(
                serde_json::from_value::<WindowStatusView>(json).unwrap(),
                view
            );
        }
        let mut json = serde_json::to_value(WindowStatusView {
            window: 1,
            window_start: 2,
            status: Status::Ok,
            censored_relayed: 0,
            censored_failed: 0,
            free_relayed: 0,
            free_failed: 0,
            disagreement: false,
        })
        .unwrap();
        json["status"] = "OK".into();
        assert!(serde_json::from_value::<WindowStatusView>(json).is_err());
    }

    #[test]
    fn receipt_statuses_keep_their_wire_names_and_tolerate_new_ones() {
        for (status, name) in
            ReceiptStatus::SENT
                .into_iter()
                .zip(["accepted", "duplicate", "refused"])
        {
            assert_eq!(serde_json::to_value(&status).unwrap(), name);
            assert_eq!(
                serde_json::from_value::<ReceiptStatus>(name.into()).unwrap(),
                status
            );
            assert_eq!(ReceiptStatus::from(name), status);
        }
        let later: ReceiptStatus = serde_json::from_value("postponed".into()).unwrap();
        assert_eq!(later, ReceiptStatus::Unrecognised("postponed".into()));
        assert_eq!(serde_json::to_value(&later).unwrap(), "postponed");
    }

    #[test]
    fn status_schemas_list_the_names() {
        use utoipa::PartialSchema as _;
        let receipt = serde_json::to_value(Receipt::schema()).unwrap();
        assert_eq!(
            receipt["properties"]["status"]["enum"],
            serde_json::json!(["accepted", "duplicate", "refused"])
        );
        let window = serde_json::to_value(WindowStatusView::schema()).unwrap();
        assert_eq!(
            window["properties"]["status"]["enum"],
            serde_json::json!(["ok", "blocked", "down", "unknown"])
        );
        assert_eq!(window["properties"]["status"]["type"], "string");
    }
}
