//! What the store does, by concept: one trait per kind of thing kept, and
//! [`Store`], every one of them together, which is what the coordinator is
//! generic over.
//!
//! The traits are declared once, through [`store_traits!`], which writes each
//! method's future type and also derives [`AnyStore`]'s implementation: every
//! method matches on the backend and calls the same method on it. A method
//! added to a trait is therefore delegated without writing it again.

use std::future::Future;

use resist_clock::UnixTime;

use crate::{
    AnyStore, AssignmentRow, Batch, ChangeProof, CheckedAddress, Epoch, Ingested, Invitation,
    InvitationId, NewBatch, NewEpoch, NewInvitation, NewNode, NewOperator, NewProbe, NewReport,
    Node, NodeId, NodeUpdate, Operator, OperatorId, Probe, ProbeId, ProofRecord, Recorded,
    ReportSummary, StoreError, StoredReport,
};

/// Declares each trait with `fn name(&self, args…) -> T;` standing for
/// `fn name(&self, args…) -> impl Future<Output = Result<T, StoreError>> + Send;`,
/// and implements it for [`AnyStore`] by delegation to the backend.
macro_rules! store_traits {
    ($(
        $(#[$trait_meta:meta])*
        pub trait $trait:ident {
            $(
                $(#[$method_meta:meta])*
                fn $method:ident(&self $(, $arg:ident: $arg_ty:ty)* $(,)?) -> $ret:ty;
            )*
        }
    )*) => {
        $(
            $(#[$trait_meta])*
            pub trait $trait: Send + Sync {
                $(
                    $(#[$method_meta])*
                    fn $method(&self $(, $arg: $arg_ty)*)
                        -> impl Future<Output = Result<$ret, StoreError>> + Send;
                )*
            }

            impl $trait for AnyStore {
                $(
                    async fn $method(&self $(, $arg: $arg_ty)*) -> Result<$ret, StoreError> {
                        match self {
                            AnyStore::Sqlite(store) => store.$method($($arg),*).await,
                            AnyStore::Postgres(store) => store.$method($($arg),*).await,
                        }
                    }
                )*
            }
        )*
    };
}

/// Everything the coordinator keeps: every trait of this module. Implemented
/// by [`SqliteStore`](crate::SqliteStore) and
/// [`PostgresStore`](crate::PostgresStore) (and so [`AnyStore`]); the
/// conformance suite (feature `testing`) runs the same stories against both.
///
/// Every method that changes more than one row does so in one transaction: it
/// either happens whole or not at all.
pub trait Store:
    MetaStore
    + ChallengeStore
    + OperatorStore
    + ProbeStore
    + MeasurementStore
    + EpochStore
    + InvitationStore
    + 'static
{
}

impl<S> Store for S where
    S: MetaStore
        + ChallengeStore
        + OperatorStore
        + ProbeStore
        + MeasurementStore
        + EpochStore
        + InvitationStore
        + 'static
{
}

store_traits! {
    /// The database itself and the few settings coordinators sharing it agree on.
    pub trait MetaStore {
        /// Succeeds when the database answers (for `GET /healthz`).
        fn ping(&self) -> ();

        /// The value stored under `key`, storing `value` first if there is none.
        /// Coordinators sharing a database agree on such values (the network, the
        /// canary key) through this: the first writer wins.
        fn meta_get_or_insert(&self, key: &str, value: &str) -> String;
    }

    /// Single-use challenge nonces. A signed change consumes its nonce in the
    /// change's own transaction (see [`OperatorStore`]); these make and purge them.
    pub trait ChallengeStore {
        /// Stores a fresh challenge nonce that may be used once until `expires_at`.
        fn create_challenge(&self, nonce: &str, now: UnixTime, expires_at: UnixTime) -> ();

        /// Deletes challenges that expired at or before `now`; returns how many.
        fn purge_expired_challenges(&self, now: UnixTime) -> u64;
    }

    /// Operators, their nodes, and the signed proof of every change to them.
    ///
    /// Methods that take a [`ChangeProof`] consume its challenge nonce in the
    /// change's transaction, so a signed request cannot be applied twice, and
    /// record the proof next to the change.
    pub trait OperatorStore {
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
        ) -> (Operator, Vec<Node>);

        /// The operator with this id.
        fn operator(&self, id: OperatorId) -> Option<Operator>;

        /// The operator whose current payout address is `address` (exact match;
        /// the caller normalises the address first).
        fn operator_by_payout(&self, address: &str) -> Option<Operator>;

        /// The operator whose access token hashes to `token_hash`.
        fn operator_by_token(&self, token_hash: &[u8; 32]) -> Option<Operator>;

        /// Every operator, oldest first.
        fn operators(&self) -> Vec<Operator>;

        /// Moves an operator's payout to `new_address`; the proof carries
        /// signatures by the old and the new address. Conflict if another operator
        /// already uses `new_address`.
        fn change_payout(
            &self,
            operator: OperatorId,
            new_address: &CheckedAddress,
            proof: &ChangeProof,
            now: UnixTime,
        ) -> Operator;

        /// Replaces the operator's access token (the old one stops working).
        fn set_operator_token(
            &self,
            operator: OperatorId,
            token_hash: &[u8; 32],
            proof: &ChangeProof,
            now: UnixTime,
        ) -> ();

        /// Adds a node to an operator. Conflict if the endpoint is taken.
        fn add_node(
            &self,
            operator: OperatorId,
            node: &NewNode,
            proof: &ChangeProof,
            now: UnixTime,
        ) -> Node;

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
        ) -> Node;

        /// The node with this id.
        fn node(&self, id: NodeId) -> Option<Node>;

        /// Every node, oldest first.
        fn nodes(&self) -> Vec<Node>;

        /// The operator's nodes, oldest first.
        fn nodes_of(&self, operator: OperatorId) -> Vec<Node>;

        /// The signed changes recorded for an operator, oldest first.
        fn proofs_of(&self, operator: OperatorId) -> Vec<ProofRecord>;
    }

    /// Enrolled probes: the vantage points that measure nodes.
    pub trait ProbeStore {
        /// Enrols a probe (enabled). Conflict if the key is already enrolled.
        fn enrol_probe(&self, probe: &NewProbe, now: UnixTime) -> Probe;

        /// Every probe, oldest first.
        fn probes(&self) -> Vec<Probe>;

        /// The probe with this public key.
        fn probe_by_key(&self, public_key: &[u8; 32]) -> Option<Probe>;

        /// Enables or disables a probe. NotFound if there is no such probe.
        fn set_probe_enabled(&self, id: ProbeId, enabled: bool, now: UnixTime) -> Probe;
    }

    /// Measurement windows: the plan of which probe tests which node, and the
    /// probes' verified reports.
    pub trait MeasurementStore {
        /// Plans `window`: records it and inserts every `(node, probe)` pair of
        /// `plan` as an assignment, in one transaction. Returns `true` if this
        /// call planned it, `false` if the window was already planned (by this or
        /// another coordinator sharing the database), in which case nothing is
        /// inserted and the existing plan stands.
        ///
        /// A pair named twice is stored once. If a pair names a node or probe
        /// that does not exist, the answer is `NotFound { what: "node or probe" }`
        /// and nothing is stored: the window stays unplanned.
        fn plan_window(&self, window: i64, plan: &[(NodeId, ProbeId)], now: UnixTime) -> bool;

        /// Whether `window` has been planned.
        fn window_planned(&self, window: i64) -> bool;

        /// The nodes assigned to `probe` in `window` (with the credentials probes
        /// use), oldest node first, each with whether the probe's report for it
        /// has arrived.
        fn assignments_for(&self, window: i64, probe: ProbeId) -> Vec<(Node, bool)>;

        /// Every assignment of `window`, ordered by node then probe.
        fn assignments_in(&self, window: i64) -> Vec<AssignmentRow>;

        /// Stores a verified report.
        ///
        /// - the same `(probe, report_id)` again: [`Ingested::Duplicate`], nothing
        ///   changes (a probe resending after a lost answer);
        /// - another report for the same `(probe, window, node)`:
        ///   `Conflict(AlreadyReported)`;
        /// - no assignment `(window, node, probe)`: `NotFound { what: "assignment" }`.
        fn insert_report(&self, report: &NewReport, now: UnixTime) -> Ingested;

        /// Summaries of every report in windows `from..=to`, with the probe's
        /// region, ordered by window, node, probe.
        fn report_summaries(&self, from: i64, to: i64) -> Vec<ReportSummary>;

        /// Every stored report of `probe`, in the order received (for audits and tests).
        fn reports_of(&self, probe: ProbeId) -> Vec<StoredReport>;
    }

    /// Grant epochs and their payout batches.
    ///
    /// An epoch is paid at most once: its state moves closed → psbt_exported →
    /// signed → broadcast, each step one conditional change, and the schema
    /// refuses any other (see `migrations/*/0003_grants.sql`).
    pub trait EpochStore {
        /// Closes an epoch: stores its range, budget and report, in state closed.
        ///
        /// Epoch 1 may start anywhere; epoch n > 1 must start at the window after
        /// epoch n−1's last. `Conflict(Epoch)` if this number is closed already
        /// (a racing coordinator, or a repeated command); `NotFound { what:
        /// "previous epoch" }` if epoch n−1 is missing or ends elsewhere.
        fn close_epoch(&self, epoch: &NewEpoch, now: UnixTime) -> Epoch;

        /// The closed epoch with this number.
        fn epoch(&self, epoch: i64) -> Option<Epoch>;

        /// Every closed epoch, in order.
        fn epochs(&self) -> Vec<Epoch>;

        /// Records the epoch's unsigned payout batches (numbered 0..n) and moves
        /// it to psbt_exported, in one transaction. If the epoch is past closed
        /// already, records nothing and says so with [`Recorded::Already`]: the
        /// batches recorded first stand (read them with [`EpochStore::batches_of`]).
        fn record_export(&self, epoch: i64, batches: &[NewBatch], now: UnixTime) -> Recorded;

        /// The epoch's payout batches, by index.
        fn batches_of(&self, epoch: i64) -> Vec<Batch>;

        /// Every payout batch of every epoch (to keep one epoch's PSBT from
        /// spending the coins another's already spends).
        fn batches(&self) -> Vec<Batch>;

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
        ) -> Recorded;

        /// Records that a signed batch was broadcast; when it is the epoch's last,
        /// the epoch moves to broadcast in the same transaction. `NotFound { what:
        /// "signed payout batch" }` if the batch does not exist or is not signed.
        fn record_broadcast(&self, epoch: i64, batch: u32, now: UnixTime) -> Recorded;
    }

    /// The funder's invitation tokens for the distributor (only their hashes).
    pub trait InvitationStore {
        /// Creates invitations, all or none (one transaction), in the order
        /// given; ids increase in that order.
        fn create_invitations(
            &self,
            invitations: &[NewInvitation],
            now: UnixTime,
        ) -> Vec<Invitation>;

        /// Every invitation, revoked ones included, oldest first.
        fn invitations(&self) -> Vec<Invitation>;

        /// The invitation whose token hashes to `token_hash`, revoked or not
        /// (the caller refuses a revoked one).
        fn invitation_by_token(&self, token_hash: &[u8; 32]) -> Option<Invitation>;

        /// Revokes an invitation: its token is refused from now on. Revoking
        /// again changes nothing (the first time stays). NotFound if there is no
        /// such invitation.
        fn revoke_invitation(&self, id: InvitationId, now: UnixTime) -> Invitation;
    }
}
