//! The SQL both backends run, written once, and the one `impl Store` body that
//! runs it, stamped out for SQLite and PostgreSQL by [`impl_store!`].
//!
//! Both databases take `$1`-style numbered parameters (sqlx-sqlite binds
//! `$N` by number; a unit test checks it), `RETURNING`, and
//! `ON CONFLICT … DO NOTHING`, so every statement below is valid on both.
//! What differs lives in the migrations (types) and in each backend's
//! `begin_write` (SQLite takes the write lock up front with `BEGIN IMMEDIATE`).

// A macro rather than a function generic over `sqlx::Database`: the generic
// version needs a bound per bound type, per decoded type and for the executor
// (`for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>`, …), which
// buries the SQL under trait plumbing. The macro keeps the body plain Rust
// over concrete types, checked twice by the compiler.

use resist_clock::UnixTime;
use sqlx::error::{DatabaseError, ErrorKind};

use crate::{
    AssignmentRow, Batch, ConflictKind, Epoch, EpochState, NewBatch, NewReport, Node, NodeId,
    Operator, OperatorId, Probe, ProbeId, ProofRecord, Protocol, ReportSummary, StoreError,
    StoredReport,
};

/// Every statement, with `$N` parameters. Column lists are spelled out in each
/// so a statement can be read on its own.
pub(crate) mod q {
    pub(crate) const PING: &str = "SELECT 1";

    pub(crate) const META_INSERT: &str =
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
    pub(crate) const META_GET: &str = "SELECT value FROM meta WHERE key = $1";

    pub(crate) const CHALLENGE_INSERT: &str =
        "INSERT INTO challenges (nonce, created_at, expires_at) VALUES ($1, $2, $3)";
    pub(crate) const CHALLENGE_PURGE: &str = "DELETE FROM challenges WHERE expires_at <= $1";
    /// Deletes the challenge if it is still valid; one row affected means the
    /// nonce was good and is now used. On PostgreSQL a second transaction
    /// deleting the same row waits for the first and then finds nothing.
    pub(crate) const CHALLENGE_CONSUME: &str =
        "DELETE FROM challenges WHERE nonce = $1 AND expires_at > $2";

    pub(crate) const OPERATOR_INSERT: &str = "INSERT INTO operators \
         (payout_address, token_hash, created_at, updated_at) VALUES ($1, $2, $3, $3) \
         RETURNING id, payout_address, created_at, updated_at";
    pub(crate) const OPERATOR_BY_ID: &str =
        "SELECT id, payout_address, created_at, updated_at FROM operators WHERE id = $1";
    pub(crate) const OPERATOR_BY_PAYOUT: &str = "SELECT id, payout_address, created_at, updated_at \
         FROM operators WHERE payout_address = $1";
    pub(crate) const OPERATOR_BY_TOKEN: &str =
        "SELECT id, payout_address, created_at, updated_at FROM operators WHERE token_hash = $1";
    pub(crate) const OPERATORS: &str =
        "SELECT id, payout_address, created_at, updated_at FROM operators ORDER BY id";
    pub(crate) const OPERATOR_SET_PAYOUT: &str = "UPDATE operators \
         SET payout_address = $2, updated_at = $3 WHERE id = $1 \
         RETURNING id, payout_address, created_at, updated_at";
    pub(crate) const OPERATOR_SET_TOKEN: &str =
        "UPDATE operators SET token_hash = $2, updated_at = $3 WHERE id = $1";

    pub(crate) const NODE_INSERT: &str = "INSERT INTO nodes \
         (operator_id, host, port, protocol, username, password, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
         RETURNING id, operator_id, host, port, protocol, username, password, created_at, updated_at";
    /// `$3`/`$4`: new host and port, or NULL to keep them. `$5`: whether to
    /// replace the credentials with `$6`/`$7` (which may both be NULL).
    /// `WHERE … AND operator_id` makes another operator's node look absent.
    pub(crate) const NODE_UPDATE: &str = "UPDATE nodes SET \
         host = COALESCE($3, host), \
         port = COALESCE($4, port), \
         username = CASE WHEN $5 THEN $6 ELSE username END, \
         password = CASE WHEN $5 THEN $7 ELSE password END, \
         updated_at = $8 \
         WHERE id = $1 AND operator_id = $2 \
         RETURNING id, operator_id, host, port, protocol, username, password, created_at, updated_at";
    pub(crate) const NODE_BY_ID: &str = "SELECT id, operator_id, host, port, protocol, username, \
         password, created_at, updated_at FROM nodes WHERE id = $1";
    pub(crate) const NODES: &str = "SELECT id, operator_id, host, port, protocol, username, \
         password, created_at, updated_at FROM nodes ORDER BY id";
    pub(crate) const NODES_OF: &str = "SELECT id, operator_id, host, port, protocol, username, \
         password, created_at, updated_at FROM nodes WHERE operator_id = $1 ORDER BY id";

    pub(crate) const PROOF_INSERT: &str = "INSERT INTO proofs \
         (operator_id, action, address, message, signature, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)";
    pub(crate) const PROOFS_OF: &str = "SELECT operator_id, action, address, message, signature, \
         created_at FROM proofs WHERE operator_id = $1 ORDER BY id";

    pub(crate) const PROBE_INSERT: &str = "INSERT INTO probes \
         (public_key, region, enabled, enrolled_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         RETURNING id, public_key, region, enabled, enrolled_at, updated_at";
    pub(crate) const PROBES: &str = "SELECT id, public_key, region, enabled, enrolled_at, \
         updated_at FROM probes ORDER BY id";
    pub(crate) const PROBE_BY_KEY: &str = "SELECT id, public_key, region, enabled, enrolled_at, \
         updated_at FROM probes WHERE public_key = $1";
    pub(crate) const PROBE_SET_ENABLED: &str = "UPDATE probes \
         SET enabled = $2, updated_at = $3 WHERE id = $1 \
         RETURNING id, public_key, region, enabled, enrolled_at, updated_at";

    // Measurement. `"window"` is quoted everywhere: a reserved word in PostgreSQL.

    /// Records the window unless it is planned already; no row affected means
    /// it was (on PostgreSQL, after waiting for a concurrent planner to commit).
    pub(crate) const WINDOW_INSERT: &str = "INSERT INTO windows (\"window\", planned_at) \
         VALUES ($1, $2) ON CONFLICT (\"window\") DO NOTHING";
    pub(crate) const WINDOW_EXISTS: &str = "SELECT 1 FROM windows WHERE \"window\" = $1";
    pub(crate) const ASSIGNMENTS_FOR: &str = "SELECT n.id, n.operator_id, n.host, n.port, \
         n.protocol, n.username, n.password, n.created_at, n.updated_at, \
         EXISTS (SELECT 1 FROM reports r WHERE r.\"window\" = a.\"window\" \
             AND r.node_id = a.node_id AND r.probe_id = a.probe_id) \
         FROM assignments a JOIN nodes n ON n.id = a.node_id \
         WHERE a.\"window\" = $1 AND a.probe_id = $2 ORDER BY n.id";
    pub(crate) const ASSIGNMENTS_IN: &str = "SELECT a.\"window\", a.node_id, a.probe_id, \
         EXISTS (SELECT 1 FROM reports r WHERE r.\"window\" = a.\"window\" \
             AND r.node_id = a.node_id AND r.probe_id = a.probe_id) \
         FROM assignments a WHERE a.\"window\" = $1 ORDER BY a.node_id, a.probe_id";
    /// Stores a report unless the probe sent this report id before (then no
    /// row comes back: a duplicate, whatever its other fields). Another report
    /// for the same assignment fails `reports_assignment_key`; a report for no
    /// assignment fails `reports_assignment_fkey`.
    pub(crate) const REPORT_INSERT: &str = "INSERT INTO reports \
         (probe_id, report_id, \"window\", node_id, measured_at, received_at, outcome, \
         reply_code, connect_us, handshake_us, rtt_us, sample_bytes, sample_us, signed) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (probe_id, report_id) DO NOTHING RETURNING id";
    pub(crate) const REPORT_SUMMARIES: &str = "SELECT r.\"window\", r.node_id, r.probe_id, \
         p.region, r.outcome, r.rtt_us, r.sample_bytes, r.sample_us \
         FROM reports r JOIN probes p ON p.id = r.probe_id \
         WHERE r.\"window\" BETWEEN $1 AND $2 \
         ORDER BY r.\"window\", r.node_id, r.probe_id";
    pub(crate) const REPORTS_OF: &str = "SELECT probe_id, report_id, \"window\", node_id, \
         measured_at, received_at, outcome, reply_code, connect_us, handshake_us, rtt_us, \
         sample_bytes, sample_us, signed FROM reports WHERE probe_id = $1 ORDER BY id";

    // Grant epochs. Every state change is a conditional UPDATE (… AND state =
    // the state before), so of two coordinators racing only one moves it; the
    // triggers of migration 0003 refuse anything else.

    pub(crate) const EPOCH_INSERT: &str = "INSERT INTO epochs \
         (epoch, prev_epoch, prev_last_window, first_window, last_window, budget_sat, report, \
         state, closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'closed', $8)";
    macro_rules! epoch_columns {
        () => {
            "epoch, first_window, last_window, budget_sat, report, state, batches, closed_at, \
             exported_at, signed_at, broadcast_at"
        };
    }
    pub(crate) const EPOCH_BY_NUMBER: &str =
        concat!("SELECT ", epoch_columns!(), " FROM epochs WHERE epoch = $1");
    pub(crate) const EPOCHS: &str =
        concat!("SELECT ", epoch_columns!(), " FROM epochs ORDER BY epoch");
    pub(crate) const EPOCH_EXPORT: &str = "UPDATE epochs \
         SET state = 'psbt_exported', batches = $2, exported_at = $3 \
         WHERE epoch = $1 AND state = 'closed'";
    pub(crate) const EPOCH_SIGNED: &str = "UPDATE epochs SET state = 'signed', signed_at = $2 \
         WHERE epoch = $1 AND state = 'psbt_exported' AND batches = (SELECT count(*) \
             FROM payout_batches b WHERE b.epoch = $1 AND b.signed_tx IS NOT NULL)";
    pub(crate) const EPOCH_BROADCAST: &str = "UPDATE epochs \
         SET state = 'broadcast', broadcast_at = $2 \
         WHERE epoch = $1 AND state = 'signed' AND batches = (SELECT count(*) \
             FROM payout_batches b WHERE b.epoch = $1 AND b.broadcast_at IS NOT NULL)";
    pub(crate) const EPOCH_STATE: &str = "SELECT state FROM epochs WHERE epoch = $1";

    pub(crate) const BATCH_INSERT: &str = "INSERT INTO payout_batches \
         (epoch, batch, psbt, txid, payees, amount_sat, fee_sat) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)";
    macro_rules! batch_columns {
        () => {
            "epoch, batch, psbt, txid, payees, amount_sat, fee_sat, signed_tx, signed_at, \
             broadcast_at"
        };
    }
    pub(crate) const BATCHES_OF: &str = concat!(
        "SELECT ",
        batch_columns!(),
        " FROM payout_batches WHERE epoch = $1 ORDER BY batch"
    );
    pub(crate) const BATCHES: &str = concat!(
        "SELECT ",
        batch_columns!(),
        " FROM payout_batches ORDER BY epoch, batch"
    );
    pub(crate) const BATCH_SIGN: &str = "UPDATE payout_batches \
         SET signed_tx = $3, signed_at = $4 \
         WHERE epoch = $1 AND batch = $2 AND signed_tx IS NULL";
    pub(crate) const BATCH_BROADCAST: &str = "UPDATE payout_batches SET broadcast_at = $3 \
         WHERE epoch = $1 AND batch = $2 AND signed_tx IS NOT NULL AND broadcast_at IS NULL";
    pub(crate) const BATCH_STATUS: &str = "SELECT signed_tx IS NOT NULL, broadcast_at IS NOT NULL \
         FROM payout_batches WHERE epoch = $1 AND batch = $2";
}

/// Pairs per `INSERT INTO assignments` statement: 2 parameters each plus the
/// window, well below SQLite's oldest limit of 999 parameters.
pub(crate) const ASSIGNMENT_CHUNK: usize = 400;

/// `INSERT INTO assignments … VALUES ($1, $2, $3), ($1, $4, $5), …` for `pairs`
/// `(node, probe)` pairs of window `$1`.
pub(crate) fn assignment_insert(pairs: usize) -> String {
    let mut sql = String::from("INSERT INTO assignments (\"window\", node_id, probe_id) VALUES ");
    for i in 0..pairs {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("($1, ${}, ${})", 2 * i + 2, 2 * i + 3));
    }
    sql
}

/// `id, payout_address, created_at, updated_at`
pub(crate) type OperatorRow = (i64, String, i64, i64);
/// `id, operator_id, host, port, protocol, username, password, created_at, updated_at`
pub(crate) type NodeRow = (
    i64,
    i64,
    String,
    i32,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
);
/// `id, public_key, region, enabled, enrolled_at, updated_at`
pub(crate) type ProbeRow = (i64, Vec<u8>, String, bool, i64, i64);
/// `operator_id, action, address, message, signature, created_at`
pub(crate) type ProofRow = (i64, String, String, String, String, i64);
/// A [`NodeRow`] and whether the probe's report for it has arrived.
pub(crate) type AssignedNodeRow = (
    i64,
    i64,
    String,
    i32,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    bool,
);
/// `window, node_id, probe_id, reported`
pub(crate) type AssignmentRowRaw = (i64, i64, i64, bool);
/// `window, node_id, probe_id, region, outcome, rtt_us, sample_bytes, sample_us`
pub(crate) type SummaryRow = (i64, i64, i64, String, String, i64, i64, i64);
/// `probe_id, report_id, window, node_id, measured_at, received_at, outcome,
/// reply_code, connect_us, handshake_us, rtt_us, sample_bytes, sample_us, signed`
pub(crate) type ReportRow = (
    i64,
    Vec<u8>,
    i64,
    i64,
    i64,
    i64,
    String,
    i32,
    i64,
    i64,
    i64,
    i64,
    i64,
    Vec<u8>,
);

pub(crate) fn operator(r: OperatorRow) -> Operator {
    let (id, payout_address, created_at, updated_at) = r;
    Operator {
        id: OperatorId(id),
        payout_address,
        created_at: UnixTime(created_at),
        updated_at: UnixTime(updated_at),
    }
}

pub(crate) fn node(r: NodeRow) -> Result<Node, StoreError> {
    let (id, operator, host, port, protocol, username, password, created_at, updated_at) = r;
    Ok(Node {
        id: NodeId(id),
        operator: OperatorId(operator),
        host,
        port: u16::try_from(port)
            .map_err(|_| StoreError::Corrupt(format!("node {id}: port {port} out of range")))?,
        protocol: Protocol::from_name(&protocol).ok_or_else(|| {
            StoreError::Corrupt(format!("node {id}: unknown protocol {protocol:?}"))
        })?,
        username,
        password,
        created_at: UnixTime(created_at),
        updated_at: UnixTime(updated_at),
    })
}

pub(crate) fn probe(r: ProbeRow) -> Result<Probe, StoreError> {
    let (id, public_key, region, enabled, enrolled_at, updated_at) = r;
    Ok(Probe {
        id: ProbeId(id),
        public_key: public_key.try_into().map_err(|k: Vec<u8>| {
            StoreError::Corrupt(format!("probe {id}: public key of {} bytes", k.len()))
        })?,
        region,
        enabled,
        enrolled_at: UnixTime(enrolled_at),
        updated_at: UnixTime(updated_at),
    })
}

pub(crate) fn proof(r: ProofRow) -> ProofRecord {
    let (operator, action, address, message, signature, created_at) = r;
    ProofRecord {
        operator: OperatorId(operator),
        action,
        address,
        message,
        signature,
        created_at: UnixTime(created_at),
    }
}

pub(crate) fn assigned_node(r: AssignedNodeRow) -> Result<(Node, bool), StoreError> {
    let (id, operator, host, port, protocol, username, password, created_at, updated_at, reported) =
        r;
    let row = (
        id, operator, host, port, protocol, username, password, created_at, updated_at,
    );
    Ok((node(row)?, reported))
}

pub(crate) fn assignment(r: AssignmentRowRaw) -> AssignmentRow {
    let (window, node, probe, reported) = r;
    AssignmentRow {
        window,
        node: NodeId(node),
        probe: ProbeId(probe),
        reported,
    }
}

/// Names a report in a [`StoreError::Corrupt`] message.
fn report_name(probe: i64, node: i64, window: i64) -> String {
    format!("report of probe {probe} on node {node} in window {window}")
}

/// A stored `BIGINT` back to the `u32` it was written from; `key` is
/// `(probe, node, window)`, for the message.
fn u32_of(value: i64, what: &str, key: (i64, i64, i64)) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| {
        let (probe, node, window) = key;
        StoreError::Corrupt(format!(
            "{}: {what} {value} out of range",
            report_name(probe, node, window)
        ))
    })
}

pub(crate) fn summary(r: SummaryRow) -> Result<ReportSummary, StoreError> {
    let (window, node, probe, region, outcome, rtt_us, sample_bytes, sample_us) = r;
    let key = (probe, node, window);
    Ok(ReportSummary {
        window,
        node: NodeId(node),
        probe: ProbeId(probe),
        region,
        outcome,
        rtt_us: u32_of(rtt_us, "rtt_us", key)?,
        sample_bytes: u32_of(sample_bytes, "sample_bytes", key)?,
        sample_us: u32_of(sample_us, "sample_us", key)?,
    })
}

pub(crate) fn report(r: ReportRow) -> Result<StoredReport, StoreError> {
    let (
        probe,
        report_id,
        window,
        node,
        measured_at,
        received_at,
        outcome,
        reply_code,
        connect_us,
        handshake_us,
        rtt_us,
        sample_bytes,
        sample_us,
        signed,
    ) = r;
    let key = (probe, node, window);
    Ok(StoredReport {
        report: NewReport {
            probe: ProbeId(probe),
            report_id: report_id.try_into().map_err(|id: Vec<u8>| {
                StoreError::Corrupt(format!(
                    "{}: report id of {} bytes",
                    report_name(probe, node, window),
                    id.len()
                ))
            })?,
            window,
            node: NodeId(node),
            measured_at: UnixTime(measured_at),
            outcome,
            reply_code: u8::try_from(reply_code).map_err(|_| {
                StoreError::Corrupt(format!(
                    "{}: reply code {reply_code} out of range",
                    report_name(probe, node, window)
                ))
            })?,
            connect_us: u32_of(connect_us, "connect_us", key)?,
            handshake_us: u32_of(handshake_us, "handshake_us", key)?,
            rtt_us: u32_of(rtt_us, "rtt_us", key)?,
            sample_bytes: u32_of(sample_bytes, "sample_bytes", key)?,
            sample_us: u32_of(sample_us, "sample_us", key)?,
            signed,
        },
        received_at: UnixTime(received_at),
    })
}

/// Turns a failed change into a typed error: a unique violation becomes the
/// [`ConflictKind`] of the constraint it broke, a foreign-key violation means
/// the referenced `missing` row (an operator, an assignment, …) does not exist.
pub(crate) fn classify(e: sqlx::Error, missing: &'static str) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        match db.kind() {
            ErrorKind::UniqueViolation => {
                if let Some(kind) = conflict_kind(db.as_ref()) {
                    return StoreError::Conflict(kind);
                }
            }
            ErrorKind::ForeignKeyViolation => return StoreError::NotFound { what: missing },
            _ => {}
        }
    }
    StoreError::Database(e)
}

/// `epoch, first_window, last_window, budget_sat, report, state, batches,
/// closed_at, exported_at, signed_at, broadcast_at`
pub(crate) type EpochRow = (
    i64,
    i64,
    i64,
    i64,
    String,
    String,
    Option<i64>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);
/// `epoch, batch, psbt, txid, payees, amount_sat, fee_sat, signed_tx,
/// signed_at, broadcast_at`
pub(crate) type BatchRow = (
    i64,
    i64,
    Vec<u8>,
    Vec<u8>,
    i64,
    i64,
    i64,
    Option<Vec<u8>>,
    Option<i64>,
    Option<i64>,
);

fn non_negative<T: TryFrom<i64>>(value: i64, what: &str, epoch: i64) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} of epoch {epoch}")))
}

pub(crate) fn epoch(r: EpochRow) -> Result<Epoch, StoreError> {
    let (
        n,
        first_window,
        last_window,
        budget,
        report,
        state,
        batches,
        closed,
        exported,
        signed,
        broadcast,
    ) = r;
    Ok(Epoch {
        epoch: n,
        first_window,
        last_window,
        budget_sat: non_negative(budget, "budget", n)?,
        report,
        state: EpochState::parse(&state)?,
        batches: batches
            .map(|b| non_negative(b, "batch count", n))
            .transpose()?,
        closed_at: UnixTime(closed),
        exported_at: exported.map(UnixTime),
        signed_at: signed.map(UnixTime),
        broadcast_at: broadcast.map(UnixTime),
    })
}

pub(crate) fn batch(r: BatchRow) -> Result<Batch, StoreError> {
    let (n, index, psbt, txid, payees, amount, fee, signed_tx, signed_at, broadcast_at) = r;
    Ok(Batch {
        epoch: n,
        unsigned: NewBatch {
            batch: non_negative(index, "batch index", n)?,
            psbt,
            txid: txid
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("txid of a batch of epoch {n}")))?,
            payees: non_negative(payees, "payee count", n)?,
            amount_sat: non_negative(amount, "batch amount", n)?,
            fee_sat: non_negative(fee, "batch fee", n)?,
        },
        signed_tx,
        signed_at: signed_at.map(UnixTime),
        broadcast_at: broadcast_at.map(UnixTime),
    })
}

/// Unique constraints a caller can run into, by the name PostgreSQL reports
/// and by the `table.column` list SQLite puts in its message
/// ("UNIQUE constraint failed: nodes.host, nodes.port").
const UNIQUE_RULES: &[(&str, &str, ConflictKind)] = &[
    (
        "operators_payout_address_key",
        "operators.payout_address",
        ConflictKind::PayoutAddress,
    ),
    (
        "operators_token_hash_key",
        "operators.token_hash",
        ConflictKind::AccessToken,
    ),
    (
        "nodes_endpoint_key",
        "nodes.host, nodes.port",
        ConflictKind::Endpoint,
    ),
    (
        "probes_public_key_key",
        "probes.public_key",
        ConflictKind::ProbeKey,
    ),
    ("epochs_pkey", "epochs.epoch", ConflictKind::Epoch),
    (
        "reports_assignment_key",
        "reports.window, reports.node_id, reports.probe_id",
        ConflictKind::AlreadyReported,
    ),
];

fn conflict_kind(db: &dyn DatabaseError) -> Option<ConflictKind> {
    let found = match db.constraint() {
        Some(name) => UNIQUE_RULES.iter().find(|(pg, _, _)| *pg == name),
        None => {
            let columns = db.message().rsplit(": ").next().unwrap_or_default();
            UNIQUE_RULES.iter().find(|(_, lite, _)| *lite == columns)
        }
    };
    found.map(|(_, _, kind)| *kind)
}

/// `impl Store for $store`, where `$store` has a `pool` field and an inherent
/// `async fn begin_write(&self) -> Result<sqlx::Transaction<'static, _>, sqlx::Error>`.
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Records a batch signed (`signed_tx`) or, without it, broadcast,
            /// and moves the epoch on when it was its last batch, in one
            /// transaction. A batch recorded before stays as it was.
            async fn batch_step(
                &self,
                epoch: i64,
                batch: u32,
                signed_tx: Option<&[u8]>,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Recorded, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                let step = match signed_tx {
                    Some(signed) => sqlx::query($crate::sql::q::BATCH_SIGN)
                        .bind(epoch)
                        .bind(i64::from(batch))
                        .bind(signed)
                        .bind(now.0),
                    None => sqlx::query($crate::sql::q::BATCH_BROADCAST)
                        .bind(epoch)
                        .bind(i64::from(batch))
                        .bind(now.0),
                };
                let fresh = step.execute(&mut *tx).await?.rows_affected() == 1;
                if !fresh {
                    let status: Option<(bool, bool)> = sqlx::query_as($crate::sql::q::BATCH_STATUS)
                        .bind(epoch)
                        .bind(i64::from(batch))
                        .fetch_optional(&mut *tx)
                        .await?;
                    // Signing needs the batch; broadcasting needs it signed.
                    let (exists, what) = match signed_tx {
                        Some(_) => (status.is_some(), "payout batch"),
                        None => (matches!(status, Some((true, _))), "signed payout batch"),
                    };
                    if !exists {
                        tx.rollback().await?;
                        return Err($crate::StoreError::NotFound { what });
                    }
                }
                // Moves the epoch when no batch is left behind (no-op otherwise).
                let advance = if signed_tx.is_some() {
                    $crate::sql::q::EPOCH_SIGNED
                } else {
                    $crate::sql::q::EPOCH_BROADCAST
                };
                sqlx::query(advance)
                    .bind(epoch)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?;
                let (state,): (String,) = sqlx::query_as($crate::sql::q::EPOCH_STATE)
                    .bind(epoch)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                let state = $crate::EpochState::parse(&state)?;
                Ok(if fresh {
                    $crate::Recorded::Now(state)
                } else {
                    $crate::Recorded::Already(state)
                })
            }

            /// Deletes the proof's challenge if it is valid at `now`.
            async fn consume_challenge(
                tx: &mut sqlx::Transaction<'static, $db>,
                nonce: &str,
                now: resist_clock::UnixTime,
            ) -> Result<(), $crate::StoreError> {
                let done = sqlx::query($crate::sql::q::CHALLENGE_CONSUME)
                    .bind(nonce)
                    .bind(now.0)
                    .execute(&mut **tx)
                    .await?;
                if done.rows_affected() == 1 {
                    Ok(())
                } else {
                    Err($crate::StoreError::ChallengeInvalid)
                }
            }

            /// One `proofs` row per signature.
            async fn record_proof(
                tx: &mut sqlx::Transaction<'static, $db>,
                operator: $crate::OperatorId,
                proof: &$crate::ChangeProof,
                now: resist_clock::UnixTime,
            ) -> Result<(), $crate::StoreError> {
                for sig in &proof.signatures {
                    sqlx::query($crate::sql::q::PROOF_INSERT)
                        .bind(operator.0)
                        .bind(&proof.action)
                        .bind(&sig.address)
                        .bind(&proof.message)
                        .bind(&sig.signature)
                        .bind(now.0)
                        .execute(&mut **tx)
                        .await
                        .map_err(|e| $crate::sql::classify(e, "operator"))?;
                }
                Ok(())
            }

            async fn insert_node(
                tx: &mut sqlx::Transaction<'static, $db>,
                operator: $crate::OperatorId,
                node: &$crate::NewNode,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Node, $crate::StoreError> {
                let row: $crate::sql::NodeRow = sqlx::query_as($crate::sql::q::NODE_INSERT)
                    .bind(operator.0)
                    .bind(&node.host)
                    .bind(i32::from(node.port))
                    .bind(node.protocol.as_str())
                    .bind(node.username.as_deref())
                    .bind(node.password.as_deref())
                    .bind(now.0)
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(|e| $crate::sql::classify(e, "operator"))?;
                $crate::sql::node(row)
            }
        }

        impl $crate::Store for $store {
            async fn ping(&self) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::q::PING)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn meta_get_or_insert(
                &self,
                key: &str,
                value: &str,
            ) -> Result<String, $crate::StoreError> {
                // Two statements, no transaction: the insert either stores our
                // value or (on PostgreSQL, after waiting for a concurrent
                // inserter to commit) does nothing; the read then sees the winner.
                sqlx::query($crate::sql::q::META_INSERT)
                    .bind(key)
                    .bind(value)
                    .execute(&self.pool)
                    .await?;
                let (stored,): (String,) = sqlx::query_as($crate::sql::q::META_GET)
                    .bind(key)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(stored)
            }

            async fn create_challenge(
                &self,
                nonce: &str,
                now: resist_clock::UnixTime,
                expires_at: resist_clock::UnixTime,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::q::CHALLENGE_INSERT)
                    .bind(nonce)
                    .bind(now.0)
                    .bind(expires_at.0)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn purge_expired_challenges(
                &self,
                now: resist_clock::UnixTime,
            ) -> Result<u64, $crate::StoreError> {
                let done = sqlx::query($crate::sql::q::CHALLENGE_PURGE)
                    .bind(now.0)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn register_operator(
                &self,
                operator: &$crate::NewOperator,
                nodes: &[$crate::NewNode],
                proof: &$crate::ChangeProof,
                now: resist_clock::UnixTime,
            ) -> Result<($crate::Operator, Vec<$crate::Node>), $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::consume_challenge(&mut tx, &proof.nonce, now).await?;
                let row: $crate::sql::OperatorRow = sqlx::query_as($crate::sql::q::OPERATOR_INSERT)
                    .bind(&operator.payout_address)
                    .bind(&operator.token_hash[..])
                    .bind(now.0)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| $crate::sql::classify(e, "operator"))?;
                let created = $crate::sql::operator(row);
                // Insert in (host, port) order, so that two registrations naming
                // the same endpoints take their index locks in the same order:
                // on PostgreSQL the later one then waits and gets a Conflict
                // instead of a deadlock error. The answer keeps the caller's order.
                let mut order: Vec<usize> = (0..nodes.len()).collect();
                order.sort_by(|&a, &b| {
                    (&nodes[a].host, nodes[a].port).cmp(&(&nodes[b].host, nodes[b].port))
                });
                let mut added: Vec<Option<$crate::Node>> = vec![None; nodes.len()];
                for i in order {
                    added[i] = Some(Self::insert_node(&mut tx, created.id, &nodes[i], now).await?);
                }
                Self::record_proof(&mut tx, created.id, proof, now).await?;
                tx.commit().await?;
                Ok((created, added.into_iter().flatten().collect()))
            }

            async fn operator(
                &self,
                id: $crate::OperatorId,
            ) -> Result<Option<$crate::Operator>, $crate::StoreError> {
                let row: Option<$crate::sql::OperatorRow> =
                    sqlx::query_as($crate::sql::q::OPERATOR_BY_ID)
                        .bind(id.0)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map($crate::sql::operator))
            }

            async fn operator_by_payout(
                &self,
                address: &str,
            ) -> Result<Option<$crate::Operator>, $crate::StoreError> {
                let row: Option<$crate::sql::OperatorRow> =
                    sqlx::query_as($crate::sql::q::OPERATOR_BY_PAYOUT)
                        .bind(address)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map($crate::sql::operator))
            }

            async fn operator_by_token(
                &self,
                token_hash: &[u8; 32],
            ) -> Result<Option<$crate::Operator>, $crate::StoreError> {
                let row: Option<$crate::sql::OperatorRow> =
                    sqlx::query_as($crate::sql::q::OPERATOR_BY_TOKEN)
                        .bind(&token_hash[..])
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map($crate::sql::operator))
            }

            async fn operators(&self) -> Result<Vec<$crate::Operator>, $crate::StoreError> {
                let rows: Vec<$crate::sql::OperatorRow> = sqlx::query_as($crate::sql::q::OPERATORS)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map($crate::sql::operator).collect())
            }

            async fn change_payout(
                &self,
                operator: $crate::OperatorId,
                new_address: &str,
                proof: &$crate::ChangeProof,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Operator, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::consume_challenge(&mut tx, &proof.nonce, now).await?;
                let row: Option<$crate::sql::OperatorRow> =
                    sqlx::query_as($crate::sql::q::OPERATOR_SET_PAYOUT)
                        .bind(operator.0)
                        .bind(new_address)
                        .bind(now.0)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(|e| $crate::sql::classify(e, "operator"))?;
                let Some(row) = row else {
                    return Err($crate::StoreError::NotFound { what: "operator" });
                };
                Self::record_proof(&mut tx, operator, proof, now).await?;
                tx.commit().await?;
                Ok($crate::sql::operator(row))
            }

            async fn set_operator_token(
                &self,
                operator: $crate::OperatorId,
                token_hash: &[u8; 32],
                proof: &$crate::ChangeProof,
                now: resist_clock::UnixTime,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::consume_challenge(&mut tx, &proof.nonce, now).await?;
                let done = sqlx::query($crate::sql::q::OPERATOR_SET_TOKEN)
                    .bind(operator.0)
                    .bind(&token_hash[..])
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| $crate::sql::classify(e, "operator"))?;
                if done.rows_affected() != 1 {
                    return Err($crate::StoreError::NotFound { what: "operator" });
                }
                Self::record_proof(&mut tx, operator, proof, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn add_node(
                &self,
                operator: $crate::OperatorId,
                node: &$crate::NewNode,
                proof: &$crate::ChangeProof,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Node, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::consume_challenge(&mut tx, &proof.nonce, now).await?;
                let added = Self::insert_node(&mut tx, operator, node, now).await?;
                Self::record_proof(&mut tx, operator, proof, now).await?;
                tx.commit().await?;
                Ok(added)
            }

            async fn update_node(
                &self,
                operator: $crate::OperatorId,
                node: $crate::NodeId,
                update: &$crate::NodeUpdate,
                proof: &$crate::ChangeProof,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Node, $crate::StoreError> {
                let (host, port) = match &update.endpoint {
                    Some((host, port)) => (Some(host.as_str()), Some(i32::from(*port))),
                    None => (None, None),
                };
                let (set_credentials, username, password) = match &update.credentials {
                    None => (false, None, None),
                    Some(None) => (true, None, None),
                    Some(Some((user, pass))) => (true, Some(user.as_str()), Some(pass.as_str())),
                };
                let mut tx = self.begin_write().await?;
                Self::consume_challenge(&mut tx, &proof.nonce, now).await?;
                let row: Option<$crate::sql::NodeRow> = sqlx::query_as($crate::sql::q::NODE_UPDATE)
                    .bind(node.0)
                    .bind(operator.0)
                    .bind(host)
                    .bind(port)
                    .bind(set_credentials)
                    .bind(username)
                    .bind(password)
                    .bind(now.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| $crate::sql::classify(e, "node"))?;
                let Some(row) = row else {
                    return Err($crate::StoreError::NotFound { what: "node" });
                };
                Self::record_proof(&mut tx, operator, proof, now).await?;
                tx.commit().await?;
                $crate::sql::node(row)
            }

            async fn node(
                &self,
                id: $crate::NodeId,
            ) -> Result<Option<$crate::Node>, $crate::StoreError> {
                let row: Option<$crate::sql::NodeRow> = sqlx::query_as($crate::sql::q::NODE_BY_ID)
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map($crate::sql::node).transpose()
            }

            async fn nodes(&self) -> Result<Vec<$crate::Node>, $crate::StoreError> {
                let rows: Vec<$crate::sql::NodeRow> = sqlx::query_as($crate::sql::q::NODES)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::sql::node).collect()
            }

            async fn nodes_of(
                &self,
                operator: $crate::OperatorId,
            ) -> Result<Vec<$crate::Node>, $crate::StoreError> {
                let rows: Vec<$crate::sql::NodeRow> = sqlx::query_as($crate::sql::q::NODES_OF)
                    .bind(operator.0)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::sql::node).collect()
            }

            async fn proofs_of(
                &self,
                operator: $crate::OperatorId,
            ) -> Result<Vec<$crate::ProofRecord>, $crate::StoreError> {
                let rows: Vec<$crate::sql::ProofRow> = sqlx::query_as($crate::sql::q::PROOFS_OF)
                    .bind(operator.0)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map($crate::sql::proof).collect())
            }

            async fn enrol_probe(
                &self,
                probe: &$crate::NewProbe,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Probe, $crate::StoreError> {
                let row: $crate::sql::ProbeRow = sqlx::query_as($crate::sql::q::PROBE_INSERT)
                    .bind(&probe.public_key[..])
                    .bind(&probe.region)
                    .bind(true)
                    .bind(now.0)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| $crate::sql::classify(e, "probe"))?;
                $crate::sql::probe(row)
            }

            async fn probes(&self) -> Result<Vec<$crate::Probe>, $crate::StoreError> {
                let rows: Vec<$crate::sql::ProbeRow> = sqlx::query_as($crate::sql::q::PROBES)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::sql::probe).collect()
            }

            async fn probe_by_key(
                &self,
                public_key: &[u8; 32],
            ) -> Result<Option<$crate::Probe>, $crate::StoreError> {
                let row: Option<$crate::sql::ProbeRow> =
                    sqlx::query_as($crate::sql::q::PROBE_BY_KEY)
                        .bind(&public_key[..])
                        .fetch_optional(&self.pool)
                        .await?;
                row.map($crate::sql::probe).transpose()
            }

            async fn set_probe_enabled(
                &self,
                id: $crate::ProbeId,
                enabled: bool,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Probe, $crate::StoreError> {
                let row: Option<$crate::sql::ProbeRow> =
                    sqlx::query_as($crate::sql::q::PROBE_SET_ENABLED)
                        .bind(id.0)
                        .bind(enabled)
                        .bind(now.0)
                        .fetch_optional(&self.pool)
                        .await?;
                match row {
                    Some(row) => $crate::sql::probe(row),
                    None => Err($crate::StoreError::NotFound { what: "probe" }),
                }
            }

            async fn plan_window(
                &self,
                window: i64,
                plan: &[($crate::NodeId, $crate::ProbeId)],
                now: resist_clock::UnixTime,
            ) -> Result<bool, $crate::StoreError> {
                // Sorted and deduplicated: a pair named twice is one assignment.
                let mut pairs: Vec<(i64, i64)> = plan.iter().map(|(n, p)| (n.0, p.0)).collect();
                pairs.sort_unstable();
                pairs.dedup();
                let mut tx = self.begin_write().await?;
                // The window row first: whoever inserts it plans the window. On
                // PostgreSQL a concurrent planner waits here for our commit and
                // then inserts nothing (or, if we roll back, goes ahead).
                let done = sqlx::query($crate::sql::q::WINDOW_INSERT)
                    .bind(window)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                for chunk in pairs.chunks($crate::sql::ASSIGNMENT_CHUNK) {
                    let sql = $crate::sql::assignment_insert(chunk.len());
                    let mut query = sqlx::query(&sql).bind(window);
                    for (node, probe) in chunk {
                        query = query.bind(*node).bind(*probe);
                    }
                    query
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| $crate::sql::classify(e, "node or probe"))?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn window_planned(&self, window: i64) -> Result<bool, $crate::StoreError> {
                let row: Option<(i32,)> = sqlx::query_as($crate::sql::q::WINDOW_EXISTS)
                    .bind(window)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.is_some())
            }

            async fn assignments_for(
                &self,
                window: i64,
                probe: $crate::ProbeId,
            ) -> Result<Vec<($crate::Node, bool)>, $crate::StoreError> {
                let rows: Vec<$crate::sql::AssignedNodeRow> =
                    sqlx::query_as($crate::sql::q::ASSIGNMENTS_FOR)
                        .bind(window)
                        .bind(probe.0)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map($crate::sql::assigned_node).collect()
            }

            async fn assignments_in(
                &self,
                window: i64,
            ) -> Result<Vec<$crate::AssignmentRow>, $crate::StoreError> {
                let rows: Vec<$crate::sql::AssignmentRowRaw> =
                    sqlx::query_as($crate::sql::q::ASSIGNMENTS_IN)
                        .bind(window)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map($crate::sql::assignment).collect())
            }

            async fn insert_report(
                &self,
                report: &$crate::NewReport,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Ingested, $crate::StoreError> {
                // One statement, so no transaction: a resent report id returns
                // no row (Duplicate); the other refusals are constraint errors,
                // classified by name (AlreadyReported, or NotFound for the
                // foreign key to assignments).
                let stored: Option<(i64,)> = sqlx::query_as($crate::sql::q::REPORT_INSERT)
                    .bind(report.probe.0)
                    .bind(&report.report_id[..])
                    .bind(report.window)
                    .bind(report.node.0)
                    .bind(report.measured_at.0)
                    .bind(now.0)
                    .bind(&report.outcome)
                    .bind(i32::from(report.reply_code))
                    .bind(i64::from(report.connect_us))
                    .bind(i64::from(report.handshake_us))
                    .bind(i64::from(report.rtt_us))
                    .bind(i64::from(report.sample_bytes))
                    .bind(i64::from(report.sample_us))
                    .bind(&report.signed[..])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| $crate::sql::classify(e, "assignment"))?;
                Ok(match stored {
                    Some(_) => $crate::Ingested::Accepted,
                    None => $crate::Ingested::Duplicate,
                })
            }

            async fn report_summaries(
                &self,
                from: i64,
                to: i64,
            ) -> Result<Vec<$crate::ReportSummary>, $crate::StoreError> {
                let rows: Vec<$crate::sql::SummaryRow> =
                    sqlx::query_as($crate::sql::q::REPORT_SUMMARIES)
                        .bind(from)
                        .bind(to)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map($crate::sql::summary).collect()
            }

            async fn reports_of(
                &self,
                probe: $crate::ProbeId,
            ) -> Result<Vec<$crate::StoredReport>, $crate::StoreError> {
                let rows: Vec<$crate::sql::ReportRow> = sqlx::query_as($crate::sql::q::REPORTS_OF)
                    .bind(probe.0)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::sql::report).collect()
            }

            async fn close_epoch(
                &self,
                epoch: &$crate::NewEpoch,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Epoch, $crate::StoreError> {
                let budget = i64::try_from(epoch.budget_sat)
                    .map_err(|_| $crate::StoreError::Corrupt("budget above i64".into()))?;
                let mut tx = self.begin_write().await?;
                // Taken first: a repeated or racing close of the same number is
                // a Conflict, whatever its range.
                let taken: Option<(String,)> = sqlx::query_as($crate::sql::q::EPOCH_STATE)
                    .bind(epoch.epoch)
                    .fetch_optional(&mut *tx)
                    .await?;
                if taken.is_some() {
                    tx.rollback().await?;
                    return Err($crate::StoreError::Conflict($crate::ConflictKind::Epoch));
                }
                let (prev, prev_last) = if epoch.epoch > 1 {
                    (
                        Some(epoch.epoch - 1),
                        Some(epoch.first_window.saturating_sub(1)),
                    )
                } else {
                    (None, None)
                };
                sqlx::query($crate::sql::q::EPOCH_INSERT)
                    .bind(epoch.epoch)
                    .bind(prev)
                    .bind(prev_last)
                    .bind(epoch.first_window)
                    .bind(epoch.last_window)
                    .bind(budget)
                    .bind(&epoch.report)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| $crate::sql::classify(e, "previous epoch"))?;
                let row: $crate::sql::EpochRow = sqlx::query_as($crate::sql::q::EPOCH_BY_NUMBER)
                    .bind(epoch.epoch)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                $crate::sql::epoch(row)
            }

            async fn epoch(&self, epoch: i64) -> Result<Option<$crate::Epoch>, $crate::StoreError> {
                let row: Option<$crate::sql::EpochRow> =
                    sqlx::query_as($crate::sql::q::EPOCH_BY_NUMBER)
                        .bind(epoch)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map($crate::sql::epoch).transpose()
            }

            async fn epochs(&self) -> Result<Vec<$crate::Epoch>, $crate::StoreError> {
                let rows: Vec<$crate::sql::EpochRow> = sqlx::query_as($crate::sql::q::EPOCHS)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::sql::epoch).collect()
            }

            async fn record_export(
                &self,
                epoch: i64,
                batches: &[$crate::NewBatch],
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Recorded, $crate::StoreError> {
                let count = i64::try_from(batches.len())
                    .map_err(|_| $crate::StoreError::Corrupt("too many batches".into()))?;
                let mut tx = self.begin_write().await?;
                // The state change first: on PostgreSQL it locks the row, so a
                // racing export waits here and then changes nothing.
                let moved = sqlx::query($crate::sql::q::EPOCH_EXPORT)
                    .bind(epoch)
                    .bind(count)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?;
                if moved.rows_affected() == 0 {
                    let state: Option<(String,)> = sqlx::query_as($crate::sql::q::EPOCH_STATE)
                        .bind(epoch)
                        .fetch_optional(&mut *tx)
                        .await?;
                    tx.rollback().await?;
                    return match state {
                        Some((s,)) => Ok($crate::Recorded::Already($crate::EpochState::parse(&s)?)),
                        None => Err($crate::StoreError::NotFound { what: "epoch" }),
                    };
                }
                for b in batches {
                    sqlx::query($crate::sql::q::BATCH_INSERT)
                        .bind(epoch)
                        .bind(i64::from(b.batch))
                        .bind(&b.psbt)
                        .bind(&b.txid[..])
                        .bind(i64::from(b.payees))
                        .bind(i64::try_from(b.amount_sat).unwrap_or(i64::MAX))
                        .bind(i64::try_from(b.fee_sat).unwrap_or(i64::MAX))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok($crate::Recorded::Now($crate::EpochState::PsbtExported))
            }

            async fn batches_of(
                &self,
                epoch: i64,
            ) -> Result<Vec<$crate::Batch>, $crate::StoreError> {
                let rows: Vec<$crate::sql::BatchRow> = sqlx::query_as($crate::sql::q::BATCHES_OF)
                    .bind(epoch)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::sql::batch).collect()
            }

            async fn batches(&self) -> Result<Vec<$crate::Batch>, $crate::StoreError> {
                let rows: Vec<$crate::sql::BatchRow> = sqlx::query_as($crate::sql::q::BATCHES)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map($crate::sql::batch).collect()
            }

            async fn record_signed(
                &self,
                epoch: i64,
                batch: u32,
                signed_tx: &[u8],
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Recorded, $crate::StoreError> {
                self.batch_step(epoch, batch, Some(signed_tx), now).await
            }

            async fn record_broadcast(
                &self,
                epoch: i64,
                batch: u32,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Recorded, $crate::StoreError> {
                self.batch_step(epoch, batch, None, now).await
            }

            // --- distribution (issue 7) -------------------------------------

            async fn create_invitations(
                &self,
                invitations: &[$crate::NewInvitation],
                now: resist_clock::UnixTime,
            ) -> Result<Vec<$crate::Invitation>, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                let mut created = Vec::with_capacity(invitations.len());
                for new in invitations {
                    let row: $crate::sql::InvitationRow =
                        sqlx::query_as($crate::sql::distribution::INVITATION_INSERT)
                            .bind(&new.token_hash[..])
                            .bind(&new.label)
                            .bind(now.0)
                            .fetch_one(&mut *tx)
                            .await?;
                    created.push($crate::sql::invitation(row));
                }
                tx.commit().await?;
                Ok(created)
            }

            async fn invitations(&self) -> Result<Vec<$crate::Invitation>, $crate::StoreError> {
                let rows: Vec<$crate::sql::InvitationRow> =
                    sqlx::query_as($crate::sql::distribution::INVITATIONS)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map($crate::sql::invitation).collect())
            }

            async fn invitation_by_token(
                &self,
                token_hash: &[u8; 32],
            ) -> Result<Option<$crate::Invitation>, $crate::StoreError> {
                let row: Option<$crate::sql::InvitationRow> =
                    sqlx::query_as($crate::sql::distribution::INVITATION_BY_TOKEN)
                        .bind(&token_hash[..])
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map($crate::sql::invitation))
            }

            async fn revoke_invitation(
                &self,
                id: $crate::InvitationId,
                now: resist_clock::UnixTime,
            ) -> Result<$crate::Invitation, $crate::StoreError> {
                let row: Option<$crate::sql::InvitationRow> =
                    sqlx::query_as($crate::sql::distribution::INVITATION_REVOKE)
                        .bind(id.0)
                        .bind(now.0)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map($crate::sql::invitation)
                    .ok_or($crate::StoreError::NotFound { what: "invitation" })
            }
        }
    };
}

pub(crate) use impl_store;

// --- distribution (issue 7) ---------------------------------------------------

/// The statements behind invitations.
pub(crate) mod distribution {
    pub(crate) const INVITATION_INSERT: &str = "INSERT INTO invitations \
         (token_hash, label, created_at) VALUES ($1, $2, $3) \
         RETURNING id, label, created_at, revoked_at";
    pub(crate) const INVITATIONS: &str =
        "SELECT id, label, created_at, revoked_at FROM invitations ORDER BY id";
    pub(crate) const INVITATION_BY_TOKEN: &str =
        "SELECT id, label, created_at, revoked_at FROM invitations WHERE token_hash = $1";
    /// Keeps the first revocation time: revoking twice is not an error and
    /// changes nothing. A `now` before the creation (another coordinator's
    /// clock behind) is taken as the creation time. (`CASE`, because
    /// `GREATEST` and two-argument `MAX` are each one backend's.)
    pub(crate) const INVITATION_REVOKE: &str = "UPDATE invitations \
         SET revoked_at = COALESCE(revoked_at, \
             CASE WHEN $2 > created_at THEN $2 ELSE created_at END) \
         WHERE id = $1 \
         RETURNING id, label, created_at, revoked_at";
}

/// `id, label, created_at, revoked_at`
pub(crate) type InvitationRow = (i64, String, i64, Option<i64>);

pub(crate) fn invitation(r: InvitationRow) -> crate::Invitation {
    let (id, label, created_at, revoked_at) = r;
    crate::Invitation {
        id: crate::InvitationId(id),
        label,
        created_at: UnixTime(created_at),
        revoked_at: revoked_at.map(UnixTime),
    }
}
