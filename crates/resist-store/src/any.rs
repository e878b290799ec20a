//! Choosing the backend at run time from the coordinator's configuration: no
//! URL means the SQLite file in the data directory, otherwise the URL's
//! scheme decides.
//!
//! [`AnyStore`] is an enum, not a `dyn Store`: it implements [`Store`] by
//! matching on the variant, so the coordinator is compiled once, for
//! `AnyStore`, and the trait keeps its `impl Future` methods.

use std::path::Path;

use resist_clock::UnixTime;

use crate::{
    AssignmentRow, Batch, ChangeProof, Epoch, Ingested, NewBatch, NewEpoch, NewNode, NewOperator,
    NewProbe, NewReport, Node, NodeId, NodeUpdate, Operator, OperatorId, PostgresStore, Probe,
    ProbeId, ProofRecord, Recorded, ReportSummary, SqliteStore, Store, StoreError, StoredReport,
};

/// A store on whichever backend the configuration names.
#[derive(Clone, Debug)]
pub enum AnyStore {
    /// The default: a SQLite file.
    Sqlite(SqliteStore),
    /// A PostgreSQL database, possibly shared by several coordinators.
    Postgres(PostgresStore),
}

impl AnyStore {
    /// Opens the store `url` names (`sqlite:…`, `postgres://…`,
    /// `postgresql://…`), or with no URL the SQLite file
    /// `data_dir/coordinator.sqlite3`. Any other scheme is
    /// [`StoreError::UnsupportedUrl`].
    pub async fn open(url: Option<&str>, data_dir: &Path) -> Result<AnyStore, StoreError> {
        let Some(url) = url else {
            return Ok(AnyStore::Sqlite(SqliteStore::open_in(data_dir).await?));
        };
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(AnyStore::Sqlite(SqliteStore::connect(url).await?)),
            "postgres" | "postgresql" => Ok(AnyStore::Postgres(PostgresStore::connect(url).await?)),
            _ => Err(StoreError::UnsupportedUrl {
                scheme: printable_scheme(scheme),
            }),
        }
    }

    /// `"sqlite"` or `"postgres"`, for logs and the health endpoint.
    pub fn backend(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(_) => "sqlite",
            AnyStore::Postgres(_) => "postgres",
        }
    }
}

/// The scheme if it looks like one (RFC 3986: a letter, then letters, digits,
/// `+`, `-`, `.`); otherwise nothing, since `user:password@host` without a
/// scheme would put a user name here, and a URL may hold secrets.
fn printable_scheme(scheme: &str) -> String {
    let looks_like_scheme = scheme.len() <= 32
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if looks_like_scheme {
        scheme.to_owned()
    } else {
        String::new()
    }
}

/// `match self { Sqlite(s) => s.$method(…).await, Postgres(s) => … }`
macro_rules! delegate {
    ($self:ident.$method:ident($($arg:expr),*)) => {
        match $self {
            AnyStore::Sqlite(s) => s.$method($($arg),*).await,
            AnyStore::Postgres(s) => s.$method($($arg),*).await,
        }
    };
}

impl Store for AnyStore {
    async fn ping(&self) -> Result<(), StoreError> {
        delegate!(self.ping())
    }

    async fn meta_get_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        delegate!(self.meta_get_or_insert(key, value))
    }

    async fn create_challenge(
        &self,
        nonce: &str,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        delegate!(self.create_challenge(nonce, now, expires_at))
    }

    async fn purge_expired_challenges(&self, now: UnixTime) -> Result<u64, StoreError> {
        delegate!(self.purge_expired_challenges(now))
    }

    async fn register_operator(
        &self,
        operator: &NewOperator,
        nodes: &[NewNode],
        proof: &ChangeProof,
        now: UnixTime,
    ) -> Result<(Operator, Vec<Node>), StoreError> {
        delegate!(self.register_operator(operator, nodes, proof, now))
    }

    async fn operator(&self, id: OperatorId) -> Result<Option<Operator>, StoreError> {
        delegate!(self.operator(id))
    }

    async fn operator_by_payout(&self, address: &str) -> Result<Option<Operator>, StoreError> {
        delegate!(self.operator_by_payout(address))
    }

    async fn operator_by_token(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<Operator>, StoreError> {
        delegate!(self.operator_by_token(token_hash))
    }

    async fn operators(&self) -> Result<Vec<Operator>, StoreError> {
        delegate!(self.operators())
    }

    async fn change_payout(
        &self,
        operator: OperatorId,
        new_address: &str,
        proof: &ChangeProof,
        now: UnixTime,
    ) -> Result<Operator, StoreError> {
        delegate!(self.change_payout(operator, new_address, proof, now))
    }

    async fn set_operator_token(
        &self,
        operator: OperatorId,
        token_hash: &[u8; 32],
        proof: &ChangeProof,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        delegate!(self.set_operator_token(operator, token_hash, proof, now))
    }

    async fn add_node(
        &self,
        operator: OperatorId,
        node: &NewNode,
        proof: &ChangeProof,
        now: UnixTime,
    ) -> Result<Node, StoreError> {
        delegate!(self.add_node(operator, node, proof, now))
    }

    async fn update_node(
        &self,
        operator: OperatorId,
        node: NodeId,
        update: &NodeUpdate,
        proof: &ChangeProof,
        now: UnixTime,
    ) -> Result<Node, StoreError> {
        delegate!(self.update_node(operator, node, update, proof, now))
    }

    async fn node(&self, id: NodeId) -> Result<Option<Node>, StoreError> {
        delegate!(self.node(id))
    }

    async fn nodes(&self) -> Result<Vec<Node>, StoreError> {
        delegate!(self.nodes())
    }

    async fn nodes_of(&self, operator: OperatorId) -> Result<Vec<Node>, StoreError> {
        delegate!(self.nodes_of(operator))
    }

    async fn proofs_of(&self, operator: OperatorId) -> Result<Vec<ProofRecord>, StoreError> {
        delegate!(self.proofs_of(operator))
    }

    async fn enrol_probe(&self, probe: &NewProbe, now: UnixTime) -> Result<Probe, StoreError> {
        delegate!(self.enrol_probe(probe, now))
    }

    async fn probes(&self) -> Result<Vec<Probe>, StoreError> {
        delegate!(self.probes())
    }

    async fn probe_by_key(&self, public_key: &[u8; 32]) -> Result<Option<Probe>, StoreError> {
        delegate!(self.probe_by_key(public_key))
    }

    async fn set_probe_enabled(
        &self,
        id: ProbeId,
        enabled: bool,
        now: UnixTime,
    ) -> Result<Probe, StoreError> {
        delegate!(self.set_probe_enabled(id, enabled, now))
    }

    async fn plan_window(
        &self,
        window: i64,
        plan: &[(NodeId, ProbeId)],
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        delegate!(self.plan_window(window, plan, now))
    }

    async fn window_planned(&self, window: i64) -> Result<bool, StoreError> {
        delegate!(self.window_planned(window))
    }

    async fn assignments_for(
        &self,
        window: i64,
        probe: ProbeId,
    ) -> Result<Vec<(Node, bool)>, StoreError> {
        delegate!(self.assignments_for(window, probe))
    }

    async fn assignments_in(&self, window: i64) -> Result<Vec<AssignmentRow>, StoreError> {
        delegate!(self.assignments_in(window))
    }

    async fn insert_report(
        &self,
        report: &NewReport,
        now: UnixTime,
    ) -> Result<Ingested, StoreError> {
        delegate!(self.insert_report(report, now))
    }

    async fn report_summaries(&self, from: i64, to: i64) -> Result<Vec<ReportSummary>, StoreError> {
        delegate!(self.report_summaries(from, to))
    }

    async fn reports_of(&self, probe: ProbeId) -> Result<Vec<StoredReport>, StoreError> {
        delegate!(self.reports_of(probe))
    }

    async fn close_epoch(&self, epoch: &NewEpoch, now: UnixTime) -> Result<Epoch, StoreError> {
        delegate!(self.close_epoch(epoch, now))
    }

    async fn epoch(&self, epoch: i64) -> Result<Option<Epoch>, StoreError> {
        delegate!(self.epoch(epoch))
    }

    async fn epochs(&self) -> Result<Vec<Epoch>, StoreError> {
        delegate!(self.epochs())
    }

    async fn record_export(
        &self,
        epoch: i64,
        batches: &[NewBatch],
        now: UnixTime,
    ) -> Result<Recorded, StoreError> {
        delegate!(self.record_export(epoch, batches, now))
    }

    async fn batches_of(&self, epoch: i64) -> Result<Vec<Batch>, StoreError> {
        delegate!(self.batches_of(epoch))
    }

    async fn batches(&self) -> Result<Vec<Batch>, StoreError> {
        delegate!(self.batches())
    }

    async fn record_signed(
        &self,
        epoch: i64,
        batch: u32,
        signed_tx: &[u8],
        now: UnixTime,
    ) -> Result<Recorded, StoreError> {
        delegate!(self.record_signed(epoch, batch, signed_tx, now))
    }

    async fn record_broadcast(
        &self,
        epoch: i64,
        batch: u32,
        now: UnixTime,
    ) -> Result<Recorded, StoreError> {
        delegate!(self.record_broadcast(epoch, batch, now))
    }

    // --- distribution (issue 7) -----------------------------------------------

    async fn create_invitations(
        &self,
        invitations: &[crate::NewInvitation],
        now: UnixTime,
    ) -> Result<Vec<crate::Invitation>, StoreError> {
        delegate!(self.create_invitations(invitations, now))
    }

    async fn invitations(&self) -> Result<Vec<crate::Invitation>, StoreError> {
        delegate!(self.invitations())
    }

    async fn invitation_by_token(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<crate::Invitation>, StoreError> {
        delegate!(self.invitation_by_token(token_hash))
    }

    async fn revoke_invitation(
        &self,
        id: crate::InvitationId,
        now: UnixTime,
    ) -> Result<crate::Invitation, StoreError> {
        delegate!(self.revoke_invitation(id, now))
    }
}
