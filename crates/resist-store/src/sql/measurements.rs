//! Measurement windows: planned windows, the assignments of probes to nodes
//! in them, and the probes' verified reports. `"window"` is quoted
//! everywhere: it is a reserved word in PostgreSQL.

use resist_clock::UnixTime;
use resist_proto::report::Outcome;

use crate::sql::operators::NodeRow;
use crate::{
    AssignmentRow, NewReport, Node, NodeId, ProbeId, ReportSummary, StoreError, StoredReport,
};

/// Records the window unless it is planned already; no row affected means it
/// was (on PostgreSQL, after waiting for a concurrent planner to commit).
pub(crate) const WINDOW_INSERT: &str = "INSERT INTO windows (\"window\", planned_at) \
     VALUES ($1, $2) ON CONFLICT (\"window\") DO NOTHING";
pub(crate) const WINDOW_EXISTS: &str = "SELECT 1 FROM windows WHERE \"window\" = $1";
/// Whether the assignment `a` has its report.
macro_rules! reported {
    () => {
        "EXISTS (SELECT 1 FROM reports r WHERE r.\"window\" = a.\"window\" \
         AND r.node_id = a.node_id AND r.probe_id = a.probe_id) AS reported"
    };
}
pub(crate) const ASSIGNMENTS_FOR: &str = concat!(
    "SELECT n.id, n.operator_id, n.host, n.port, n.protocol, n.username, n.password, \
     n.created_at, n.updated_at, ",
    reported!(),
    " FROM assignments a JOIN nodes n ON n.id = a.node_id \
     WHERE a.\"window\" = $1 AND a.probe_id = $2 ORDER BY n.id"
);
pub(crate) const ASSIGNMENTS_IN: &str = concat!(
    "SELECT a.\"window\", a.node_id, a.probe_id, ",
    reported!(),
    " FROM assignments a WHERE a.\"window\" = $1 ORDER BY a.node_id, a.probe_id"
);
/// Stores a report unless the probe sent this report id before (then no row
/// comes back: a duplicate, whatever its other fields). Another report for
/// the same assignment fails `reports_assignment_key`; a report for no
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

/// A node of a probe's assignments, and whether its report has arrived.
#[derive(sqlx::FromRow)]
pub(crate) struct AssignedNodeRow {
    #[sqlx(flatten)]
    node: NodeRow,
    reported: bool,
}

impl TryFrom<AssignedNodeRow> for (Node, bool) {
    type Error = StoreError;

    fn try_from(r: AssignedNodeRow) -> Result<(Node, bool), StoreError> {
        Ok((r.node.try_into()?, r.reported))
    }
}

/// A row of `assignments`, and whether its report has arrived.
#[derive(sqlx::FromRow)]
pub(crate) struct AssignmentRowRaw {
    window: i64,
    node_id: i64,
    probe_id: i64,
    reported: bool,
}

impl From<AssignmentRowRaw> for AssignmentRow {
    fn from(r: AssignmentRowRaw) -> AssignmentRow {
        AssignmentRow {
            window: r.window,
            node: NodeId(r.node_id),
            probe: ProbeId(r.probe_id),
            reported: r.reported,
        }
    }
}

/// What classification needs of a row of `reports`, with its probe's region.
#[derive(sqlx::FromRow)]
pub(crate) struct SummaryRow {
    window: i64,
    node_id: i64,
    probe_id: i64,
    region: String,
    outcome: String,
    rtt_us: i64,
    sample_bytes: i64,
    sample_us: i64,
}

impl TryFrom<SummaryRow> for ReportSummary {
    type Error = StoreError;

    fn try_from(r: SummaryRow) -> Result<ReportSummary, StoreError> {
        let key = ReportKey::of(r.probe_id, r.node_id, r.window);
        Ok(ReportSummary {
            window: r.window,
            node: NodeId(r.node_id),
            probe: ProbeId(r.probe_id),
            region: crate::sql::probes::region(&r.region, r.probe_id)?,
            outcome: key.outcome(&r.outcome)?,
            rtt_us: key.u32_of(r.rtt_us, "rtt_us")?,
            sample_bytes: key.u32_of(r.sample_bytes, "sample_bytes")?,
            sample_us: key.u32_of(r.sample_us, "sample_us")?,
        })
    }
}

/// A row of `reports`.
#[derive(sqlx::FromRow)]
pub(crate) struct ReportRow {
    probe_id: i64,
    report_id: Vec<u8>,
    window: i64,
    node_id: i64,
    measured_at: i64,
    received_at: i64,
    outcome: String,
    reply_code: i32,
    connect_us: i64,
    handshake_us: i64,
    rtt_us: i64,
    sample_bytes: i64,
    sample_us: i64,
    signed: Vec<u8>,
}

impl TryFrom<ReportRow> for StoredReport {
    type Error = StoreError;

    fn try_from(r: ReportRow) -> Result<StoredReport, StoreError> {
        let key = ReportKey::of(r.probe_id, r.node_id, r.window);
        Ok(StoredReport {
            report: NewReport {
                probe: ProbeId(r.probe_id),
                report_id: r.report_id.try_into().map_err(|id: Vec<u8>| {
                    key.corrupt(format!("report id of {} bytes", id.len()))
                })?,
                window: r.window,
                node: NodeId(r.node_id),
                measured_at: UnixTime(r.measured_at),
                outcome: key.outcome(&r.outcome)?,
                reply_code: u8::try_from(r.reply_code).map_err(|_| {
                    key.corrupt(format!("reply code {} out of range", r.reply_code))
                })?,
                connect_us: key.u32_of(r.connect_us, "connect_us")?,
                handshake_us: key.u32_of(r.handshake_us, "handshake_us")?,
                rtt_us: key.u32_of(r.rtt_us, "rtt_us")?,
                sample_bytes: key.u32_of(r.sample_bytes, "sample_bytes")?,
                sample_us: key.u32_of(r.sample_us, "sample_us")?,
                signed: r.signed,
            },
            received_at: UnixTime(r.received_at),
        })
    }
}

/// Names a report in a [`StoreError::Corrupt`] message.
struct ReportKey(String);

impl ReportKey {
    fn of(probe: i64, node: i64, window: i64) -> ReportKey {
        ReportKey(format!(
            "report of probe {probe} on node {node} in window {window}"
        ))
    }

    fn corrupt(&self, problem: String) -> StoreError {
        StoreError::Corrupt(format!("{}: {problem}", self.0))
    }

    /// A stored `BIGINT` back to the `u32` it was written from.
    fn u32_of(&self, value: i64, what: &str) -> Result<u32, StoreError> {
        u32::try_from(value).map_err(|_| self.corrupt(format!("{what} {value} out of range")))
    }

    /// A stored outcome name back to the outcome.
    fn outcome(&self, name: &str) -> Result<Outcome, StoreError> {
        Outcome::from_name(name).ok_or_else(|| self.corrupt(format!("unknown outcome {name:?}")))
    }
}

/// `impl MeasurementStore for $store`.
macro_rules! impl_measurement_store {
    ($store:ty) => {
        impl $crate::MeasurementStore for $store {
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
                let done = sqlx::query($crate::sql::measurements::WINDOW_INSERT)
                    .bind(window)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                for chunk in pairs.chunks($crate::sql::measurements::ASSIGNMENT_CHUNK) {
                    let sql = $crate::sql::measurements::assignment_insert(chunk.len());
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
                let row: Option<i32> = sqlx::query_scalar($crate::sql::measurements::WINDOW_EXISTS)
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
                let rows: Vec<$crate::sql::measurements::AssignedNodeRow> =
                    sqlx::query_as($crate::sql::measurements::ASSIGNMENTS_FOR)
                        .bind(window)
                        .bind(probe.0)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn assignments_in(
                &self,
                window: i64,
            ) -> Result<Vec<$crate::AssignmentRow>, $crate::StoreError> {
                let rows: Vec<$crate::sql::measurements::AssignmentRowRaw> =
                    sqlx::query_as($crate::sql::measurements::ASSIGNMENTS_IN)
                        .bind(window)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
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
                let stored: Option<i64> =
                    sqlx::query_scalar($crate::sql::measurements::REPORT_INSERT)
                        .bind(report.probe.0)
                        .bind(&report.report_id[..])
                        .bind(report.window)
                        .bind(report.node.0)
                        .bind(report.measured_at.0)
                        .bind(now.0)
                        .bind(report.outcome.as_str())
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
                let rows: Vec<$crate::sql::measurements::SummaryRow> =
                    sqlx::query_as($crate::sql::measurements::REPORT_SUMMARIES)
                        .bind(from)
                        .bind(to)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn reports_of(
                &self,
                probe: $crate::ProbeId,
            ) -> Result<Vec<$crate::StoredReport>, $crate::StoreError> {
                let rows: Vec<$crate::sql::measurements::ReportRow> =
                    sqlx::query_as($crate::sql::measurements::REPORTS_OF)
                        .bind(probe.0)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }
        }
    };
}

pub(crate) use impl_measurement_store;
