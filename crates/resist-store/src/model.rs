//! The rows the store keeps, as the rest of resist sees them. Validation
//! (address syntax, host names, region labels) happens before a value gets
//! here; the schema's constraints are the last line, not the first.

use resist_clock::UnixTime;
use resist_measure::Observation;
pub use resist_proto::api::epochs::EpochState;
use resist_proto::region::Region;
use resist_proto::report::Outcome;
use serde::{Deserialize, Serialize};

/// Database id of an operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OperatorId(pub i64);

/// Database id of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub i64);

/// Database id of a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProbeId(pub i64);

/// What a node speaks. Stored as text with a CHECK constraint, so adding a
/// protocol is a migration plus a variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Protocol {
    /// SOCKS5 (RFC 1928), optionally with RFC 1929 username/password.
    Socks5,
}

impl Protocol {
    /// The name stored in the database and used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Socks5 => "socks5",
        }
    }

    /// The protocol stored as `s`, if known.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "socks5" => Some(Protocol::Socks5),
            _ => None,
        }
    }
}

/// A payout address that was checked before it reached the store: the
/// normalised text (bech32 lower-case) of an address the caller parsed for
/// its network (in resist, `resist_ownership::parse_address`).
///
/// The store cannot check an address itself (that takes the network and
/// rust-bitcoin, which only the coordinator has), so the type carries the
/// caller's word: it is made from checked text ([`CheckedAddress::new`]) and
/// read back as that text. A reader that needs the rust-bitcoin address
/// parses it again; a failure then means a corrupt row, never user input.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckedAddress(String);

impl CheckedAddress {
    /// `normalised` must be the text of an address already checked for the
    /// network, in its normal form (what `PayoutAddress::as_str` gives).
    pub fn new(normalised: impl Into<String>) -> CheckedAddress {
        CheckedAddress(normalised.into())
    }

    /// The address text, as stored and shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for CheckedAddress {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for CheckedAddress {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Display for CheckedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An operator about to be registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOperator {
    /// The proven payout address.
    pub payout_address: CheckedAddress,
    /// SHA-256 of the operator's access token (the token itself is never stored).
    pub token_hash: [u8; 32],
}

/// A registered operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// Its id.
    pub id: OperatorId,
    /// Where its grants go.
    pub payout_address: CheckedAddress,
    /// When it registered.
    pub created_at: UnixTime,
    /// When its payout address or token last changed.
    pub updated_at: UnixTime,
}

/// A node about to be added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNode {
    /// Host name or IP address literal (no brackets), as probes will dial it.
    pub host: String,
    /// TCP port, 1–65535.
    pub port: u16,
    /// What it speaks.
    pub protocol: Protocol,
    /// The username probes log in with, if the node requires one.
    pub username: Option<String>,
    /// The password probes log in with, if the node requires one.
    pub password: Option<String>,
}

/// A change to a node; `None` fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeUpdate {
    /// New host and port.
    pub endpoint: Option<(String, u16)>,
    /// New credentials: `Some(None)` removes them, `Some(Some((user, pass)))` sets them.
    pub credentials: Option<Option<(String, String)>>,
}

/// A registered node.
#[derive(Clone, PartialEq, Eq)]
pub struct Node {
    /// Its id.
    pub id: NodeId,
    /// Who runs it.
    pub operator: OperatorId,
    /// Host name or IP address literal.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// What it speaks.
    pub protocol: Protocol,
    /// Username for probes.
    pub username: Option<String>,
    /// Password for probes.
    pub password: Option<String>,
    /// When it was added.
    pub created_at: UnixTime,
    /// When its endpoint or credentials last changed.
    pub updated_at: UnixTime,
}

impl std::fmt::Debug for Node {
    // The password is for probes only; it never appears in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("operator", &self.operator)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("protocol", &self.protocol)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// One address's signature over a change message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The address that signed.
    pub address: String,
    /// The signature as the wallet produced it (base64).
    pub signature: String,
}

/// The evidence for a signed change: the challenge it answers, the exact
/// message, and the signatures the coordinator verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeProof {
    /// The challenge nonce, consumed by the change.
    pub nonce: String,
    /// What the change was (`register`, `add-node`, …), for the audit trail.
    pub action: String,
    /// The exact signed message.
    pub message: String,
    /// One signature per address that had to sign (two for a payout change).
    pub signatures: Vec<Signature>,
}

/// A signed change as recorded, for audits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofRecord {
    /// The operator it changed.
    pub operator: OperatorId,
    /// The action name.
    pub action: String,
    /// The address that signed.
    pub address: String,
    /// The signed message.
    pub message: String,
    /// The signature.
    pub signature: String,
    /// When the change was applied.
    pub created_at: UnixTime,
}

/// A probe about to be enrolled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewProbe {
    /// Its ed25519 public key.
    pub public_key: [u8; 32],
    /// Its region, e.g. `censored:RU` or `free:DE`.
    pub region: Region,
}

/// An enrolled probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Its id.
    pub id: ProbeId,
    /// Its ed25519 public key.
    pub public_key: [u8; 32],
    /// Its region.
    pub region: Region,
    /// Whether its reports are accepted.
    pub enabled: bool,
    /// When it was enrolled.
    pub enrolled_at: UnixTime,
    /// When it was last enabled or disabled.
    pub updated_at: UnixTime,
}

/// One probe's assignment to one node in one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssignmentRow {
    /// The window.
    pub window: i64,
    /// The node to test.
    pub node: NodeId,
    /// The probe that tests it.
    pub probe: ProbeId,
    /// Whether the probe's report has arrived.
    pub reported: bool,
}

/// A verified report about to be stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReport {
    /// The probe that signed it.
    pub probe: ProbeId,
    /// The probe's id for it.
    pub report_id: [u8; 16],
    /// The window it is for.
    pub window: i64,
    /// The node tested.
    pub node: NodeId,
    /// When the probe measured (its clock).
    pub measured_at: UnixTime,
    /// How the test ended.
    pub outcome: Outcome,
    /// SOCKS5 reply code on a refused CONNECT, else 0.
    pub reply_code: u8,
    /// Microseconds to connect.
    pub connect_us: u32,
    /// Microseconds for the SOCKS5 handshake.
    pub handshake_us: u32,
    /// Microseconds for the canary round trip.
    pub rtt_us: u32,
    /// Bytes of throughput sample.
    pub sample_bytes: u32,
    /// Microseconds to receive it.
    pub sample_us: u32,
    /// The signed bytes exactly as received, for audits.
    pub signed: Vec<u8>,
}

/// A stored report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReport {
    /// The report as received.
    pub report: NewReport,
    /// When the coordinator stored it.
    pub received_at: UnixTime,
}

/// What became of an ingested report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ingested {
    /// Stored now.
    Accepted,
    /// Stored before (same probe and report id); nothing changed.
    Duplicate,
}

/// What classification needs of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportSummary {
    /// The window.
    pub window: i64,
    /// The node.
    pub node: NodeId,
    /// The probe.
    pub probe: ProbeId,
    /// The probe's region at the time of reading.
    pub region: Region,
    /// How the test ended.
    pub outcome: Outcome,
    /// Microseconds for the canary round trip.
    pub rtt_us: u32,
    /// Bytes of throughput sample.
    pub sample_bytes: u32,
    /// Microseconds to receive it.
    pub sample_us: u32,
}

impl ReportSummary {
    /// What classification counts of it: the probe's side, and whether the
    /// node relayed to the canary.
    pub fn observation(&self) -> Observation {
        Observation {
            side: self.region.side(),
            relayed: self.outcome.relayed(),
        }
    }
}

// Grant epochs.

/// The epoch state stored as `name`; any other text is a corrupt row.
pub(crate) fn parse_epoch_state(name: &str) -> Result<EpochState, crate::StoreError> {
    EpochState::from_name(name)
        .ok_or_else(|| crate::StoreError::Corrupt(format!("epoch state {name:?}")))
}

/// An epoch to close: its whole windows, budget and published report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEpoch {
    /// Its number: 1 for the first, then one more than the last closed.
    pub epoch: i64,
    /// Its first window; for epoch n > 1, the window after epoch n−1's last.
    pub first_window: i64,
    /// Its last window (inclusive).
    pub last_window: i64,
    /// Satoshis distributed (without the credits carried in).
    pub budget_sat: u64,
    /// The report (resist-grants JSON), as published.
    pub report: String,
}

/// A closed epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Epoch {
    /// Its number.
    pub epoch: i64,
    /// Its first window.
    pub first_window: i64,
    /// Its last window (inclusive).
    pub last_window: i64,
    /// Satoshis distributed.
    pub budget_sat: u64,
    /// The report, as published.
    pub report: String,
    /// Where its payout stands.
    pub state: EpochState,
    /// How many payout batches it has (from the export on).
    pub batches: Option<u32>,
    /// When it was closed.
    pub closed_at: UnixTime,
    /// When its batches were recorded.
    pub exported_at: Option<UnixTime>,
    /// When its last batch was recorded signed.
    pub signed_at: Option<UnixTime>,
    /// When its last batch was broadcast.
    pub broadcast_at: Option<UnixTime>,
}

/// An unsigned payout batch to record with an epoch's export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBatch {
    /// Its index in the epoch, from 0.
    pub batch: u32,
    /// The unsigned PSBT (BIP-174 binary).
    pub psbt: Vec<u8>,
    /// Its txid (internal byte order).
    pub txid: [u8; 32],
    /// How many payees it pays.
    pub payees: u32,
    /// What it pays them in all, in satoshis.
    pub amount_sat: u64,
    /// Its fee.
    pub fee_sat: u64,
}

/// A recorded payout batch and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The epoch.
    pub epoch: i64,
    /// As exported.
    pub unsigned: NewBatch,
    /// The checked, signed transaction (consensus encoding), once finalized.
    pub signed_tx: Option<Vec<u8>>,
    /// When it was recorded signed.
    pub signed_at: Option<UnixTime>,
    /// When it was broadcast.
    pub broadcast_at: Option<UnixTime>,
}

/// What recording an export, a signature or a broadcast did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// This call recorded it; the epoch is now in this state.
    Now(EpochState),
    /// It was recorded before (by this or another coordinator); nothing
    /// changed. The epoch is in this state.
    Already(EpochState),
}

// Invitations.

/// An invitation's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InvitationId(pub i64);

/// An invitation to create: the hash of its token and a label for the funder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewInvitation {
    /// SHA-256 of the token (the token itself is never stored).
    pub token_hash: [u8; 32],
    /// The funder's note (who it was given to); may be empty.
    pub label: String,
}

/// A stored invitation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    /// Its id.
    pub id: InvitationId,
    /// The funder's note.
    pub label: String,
    /// When it was created.
    pub created_at: UnixTime,
    /// When it was revoked, if it was: a revoked token is refused.
    pub revoked_at: Option<UnixTime>,
}
