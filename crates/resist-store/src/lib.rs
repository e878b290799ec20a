#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

use std::future::Future;

use resist_clock::UnixTime;

mod any;
#[cfg(feature = "testing")]
pub mod conformance;
mod error;
mod model;
mod postgres;
mod sql;
mod sqlite;
#[cfg(test)]
mod test;

pub use any::AnyStore;
pub use error::{ConflictKind, StoreError};
pub use model::{
    AssignmentRow, Batch, ChangeProof, Epoch, EpochState, Ingested, NewBatch, NewEpoch, NewNode,
    NewOperator, NewProbe, NewReport, Node, NodeId, NodeUpdate, Operator, OperatorId, Probe,
    ProbeId, ProofRecord, Protocol, Recorded, ReportSummary, Signature, StoredReport,
};
pub use model::{Invitation, InvitationId, NewInvitation};
pub use postgres::PostgresStore;
pub use sqlite::{SQLITE_FILE_NAME, SqliteStore};

/// Everything the coordinator keeps. Implemented by [`SqliteStore`] and
/// [`PostgresStore`]; the conformance suite (feature `testing`) runs the same
/// tests against both.
///
/// Every method that changes more than one row does so in one transaction: it
/// either happens whole or not at all. Methods that take a [`ChangeProof`]
/// consume its challenge nonce in that same transaction, so a signed request
/// cannot be applied twice, and record the proof next to the change.
pub trait Store: Send + Sync + 'static {
    /// Succeeds when the database answers (for `GET /healthz`).
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The value stored under `key`, storing `value` first if there is none.
    /// Coordinators sharing a database agree on such values (the network, the
    /// canary key) through this: the first writer wins.
    fn meta_get_or_insert(
        &self,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// Stores a fresh challenge nonce that may be used once until `expires_at`.
    fn create_challenge(
        &self,
        nonce: &str,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes challenges that expired at or before `now`; returns how many.
    fn purge_expired_challenges(
        &self,
        now: UnixTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Creates an operator with its first nodes, consuming the proof's nonce.
    ///
    /// Fails with [`StoreError::Conflict`] if the payout address is already
    /// registered or a node endpoint is taken, and with
    /// [`StoreError::ChallengeInvalid`] if the nonce is unknown, used or expired;
    /// in both cases nothing is stored and the nonce is not consumed.
    fn register_operator(
        &self,
        operator: &NewOperator,
        nodes: &[NewNode],
        proof: &ChangeProof,
        now: UnixTime,
    ) -> impl Future<Output = Result<(Operator, Vec<Node>), StoreError>> + Send;

    /// The operator with this id.
    fn operator(
        &self,
        id: OperatorId,
    ) -> impl Future<Output = Result<Option<Operator>, StoreError>> + Send;

    /// The operator whose current payout address is `address` (exact match;
    /// the caller normalises the address first).
    fn operator_by_payout(
        &self,
        address: &str,
    ) -> impl Future<Output = Result<Option<Operator>, StoreError>> + Send;

    /// The operator whose access token hashes to `token_hash`.
    fn operator_by_token(
        &self,
        token_hash: &[u8; 32],
    ) -> impl Future<Output = Result<Option<Operator>, StoreError>> + Send;

    /// Every operator, oldest first.
    fn operators(&self) -> impl Future<Output = Result<Vec<Operator>, StoreError>> + Send;

    /// Moves an operator's payout to `new_address`; the proof carries
    /// signatures by the old and the new address. Conflict if another operator
    /// already uses `new_address`.
    fn change_payout(
        &self,
        operator: OperatorId,
        new_address: &str,
        proof: &ChangeProof,
        now: UnixTime,
    ) -> impl Future<Output = Result<Operator, StoreError>> + Send;

    /// Replaces the operator's access token (the old one stops working).
    fn set_operator_token(
        &self,
        operator: OperatorId,
        token_hash: &[u8; 32],
        proof: &ChangeProof,
        now: UnixTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Adds a node to an operator. Conflict if the endpoint is taken.
    fn add_node(
        &self,
        operator: OperatorId,
        node: &NewNode,
        proof: &ChangeProof,
        now: UnixTime,
    ) -> impl Future<Output = Result<Node, StoreError>> + Send;

    /// Changes a node's endpoint and/or credentials. NotFound if the node does
    /// not exist or belongs to another operator; Conflict if the new endpoint
    /// is taken.
    fn update_node(
        &self,
        operator: OperatorId,
        node: NodeId,
        update: &NodeUpdate,
        proof: &ChangeProof,
        now: UnixTime,
    ) -> impl Future<Output = Result<Node, StoreError>> + Send;

    /// The node with this id.
    fn node(&self, id: NodeId) -> impl Future<Output = Result<Option<Node>, StoreError>> + Send;

    /// Every node, oldest first.
    fn nodes(&self) -> impl Future<Output = Result<Vec<Node>, StoreError>> + Send;

    /// The operator's nodes, oldest first.
    fn nodes_of(
        &self,
        operator: OperatorId,
    ) -> impl Future<Output = Result<Vec<Node>, StoreError>> + Send;

    /// The signed changes recorded for an operator, oldest first.
    fn proofs_of(
        &self,
        operator: OperatorId,
    ) -> impl Future<Output = Result<Vec<ProofRecord>, StoreError>> + Send;

    /// Enrols a probe (enabled). Conflict if the key is already enrolled.
    fn enrol_probe(
        &self,
        probe: &NewProbe,
        now: UnixTime,
    ) -> impl Future<Output = Result<Probe, StoreError>> + Send;

    /// Every probe, oldest first.
    fn probes(&self) -> impl Future<Output = Result<Vec<Probe>, StoreError>> + Send;

    /// The probe with this public key.
    fn probe_by_key(
        &self,
        public_key: &[u8; 32],
    ) -> impl Future<Output = Result<Option<Probe>, StoreError>> + Send;

    /// Enables or disables a probe. NotFound if there is no such probe.
    fn set_probe_enabled(
        &self,
        id: ProbeId,
        enabled: bool,
        now: UnixTime,
    ) -> impl Future<Output = Result<Probe, StoreError>> + Send;

    // --- measurement (issue 5) ------------------------------------------------

    /// Plans `window`: records it and inserts every `(node, probe)` pair of
    /// `plan` as an assignment, in one transaction. Returns `true` if this
    /// call planned it, `false` if the window was already planned (by this or
    /// another coordinator sharing the database), in which case nothing is
    /// inserted and the existing plan stands.
    ///
    /// A pair named twice is stored once. If a pair names a node or probe
    /// that does not exist, the answer is `NotFound { what: "node or probe" }`
    /// and nothing is stored: the window stays unplanned.
    fn plan_window(
        &self,
        window: i64,
        plan: &[(NodeId, ProbeId)],
        now: UnixTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Whether `window` has been planned.
    fn window_planned(&self, window: i64) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The nodes assigned to `probe` in `window` (with the credentials probes
    /// use), oldest node first, each with whether the probe's report for it
    /// has arrived.
    fn assignments_for(
        &self,
        window: i64,
        probe: ProbeId,
    ) -> impl Future<Output = Result<Vec<(Node, bool)>, StoreError>> + Send;

    /// Every assignment of `window`, ordered by node then probe.
    fn assignments_in(
        &self,
        window: i64,
    ) -> impl Future<Output = Result<Vec<AssignmentRow>, StoreError>> + Send;

    /// Stores a verified report.
    ///
    /// - the same `(probe, report_id)` again: [`Ingested::Duplicate`], nothing
    ///   changes (a probe resending after a lost answer);
    /// - another report for the same `(probe, window, node)`:
    ///   `Conflict(AlreadyReported)`;
    /// - no assignment `(window, node, probe)`: `NotFound { what: "assignment" }`.
    fn insert_report(
        &self,
        report: &NewReport,
        now: UnixTime,
    ) -> impl Future<Output = Result<Ingested, StoreError>> + Send;

    /// Summaries of every report in windows `from..=to`, with the probe's
    /// region, ordered by window, node, probe.
    fn report_summaries(
        &self,
        from: i64,
        to: i64,
    ) -> impl Future<Output = Result<Vec<ReportSummary>, StoreError>> + Send;

    /// Every stored report of `probe`, in the order received (for audits and tests).
    fn reports_of(
        &self,
        probe: ProbeId,
    ) -> impl Future<Output = Result<Vec<StoredReport>, StoreError>> + Send;

    // --- grant epochs (issue 6) -----------------------------------------------
    //
    // An epoch is paid at most once: its state moves closed → psbt_exported →
    // signed → broadcast, each step one conditional change, and the schema
    // refuses any other (see migrations/*/0003_grants.sql).

    /// Closes an epoch: stores its range, budget and report, in state closed.
    ///
    /// Epoch 1 may start anywhere; epoch n > 1 must start at the window after
    /// epoch n−1's last. `Conflict(Epoch)` if this number is closed already
    /// (a racing coordinator, or a repeated command); `NotFound { what:
    /// "previous epoch" }` if epoch n−1 is missing or ends elsewhere.
    fn close_epoch(
        &self,
        epoch: &NewEpoch,
        now: UnixTime,
    ) -> impl Future<Output = Result<Epoch, StoreError>> + Send;

    /// The closed epoch with this number.
    fn epoch(&self, epoch: i64) -> impl Future<Output = Result<Option<Epoch>, StoreError>> + Send;

    /// Every closed epoch, in order.
    fn epochs(&self) -> impl Future<Output = Result<Vec<Epoch>, StoreError>> + Send;

    /// Records the epoch's unsigned payout batches (numbered 0..n) and moves
    /// it to psbt_exported, in one transaction. If the epoch is past closed
    /// already, records nothing and says so with [`Recorded::Already`]: the
    /// batches recorded first stand (read them with [`Store::batches_of`]).
    fn record_export(
        &self,
        epoch: i64,
        batches: &[NewBatch],
        now: UnixTime,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// The epoch's payout batches, by index.
    fn batches_of(&self, epoch: i64)
    -> impl Future<Output = Result<Vec<Batch>, StoreError>> + Send;

    /// Every payout batch of every epoch (to keep one epoch's PSBT from
    /// spending the coins another's already spends).
    fn batches(&self) -> impl Future<Output = Result<Vec<Batch>, StoreError>> + Send;

    /// Records a batch's checked, signed transaction; when it is the epoch's
    /// last unsigned batch, the epoch moves to signed in the same transaction.
    /// A batch signed before keeps its first transaction ([`Recorded::Already`]).
    /// `NotFound { what: "payout batch" }` if there is no such batch.
    fn record_signed(
        &self,
        epoch: i64,
        batch: u32,
        signed_tx: &[u8],
        now: UnixTime,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// Records that a signed batch was broadcast; when it is the epoch's last,
    /// the epoch moves to broadcast in the same transaction. `NotFound { what:
    /// "signed payout batch" }` if the batch does not exist or is not signed.
    fn record_broadcast(
        &self,
        epoch: i64,
        batch: u32,
        now: UnixTime,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;
    // --- distribution (issue 7) -----------------------------------------------

    /// Creates invitations, all or none (one transaction), in the order
    /// given; ids increase in that order.
    fn create_invitations(
        &self,
        invitations: &[NewInvitation],
        now: UnixTime,
    ) -> impl Future<Output = Result<Vec<Invitation>, StoreError>> + Send;

    /// Every invitation, revoked ones included, oldest first.
    fn invitations(&self) -> impl Future<Output = Result<Vec<Invitation>, StoreError>> + Send;

    /// The invitation whose token hashes to `token_hash`, revoked or not
    /// (the caller refuses a revoked one).
    fn invitation_by_token(
        &self,
        token_hash: &[u8; 32],
    ) -> impl Future<Output = Result<Option<Invitation>, StoreError>> + Send;

    /// Revokes an invitation: its token is refused from now on. Revoking
    /// again changes nothing (the first time stays). NotFound if there is no
    /// such invitation.
    fn revoke_invitation(
        &self,
        id: InvitationId,
        now: UnixTime,
    ) -> impl Future<Output = Result<Invitation, StoreError>> + Send;
}
