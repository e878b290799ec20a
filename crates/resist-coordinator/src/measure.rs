//! Measurement on the coordinator's side: windows, the random assignment of
//! probes to nodes, report ingest, and node status.
//!
//! Time is cut into windows of a fixed length (window number = Unix seconds /
//! length). A window is planned the first time anyone needs it (a probe asking
//! for work, or housekeeping): every node gets `censored_per_node` probes from
//! censored regions and `free_per_node` from free ones, drawn at random by the
//! coordinator, so a probe cannot choose what it tests. The plan is stored in
//! one transaction; when two coordinators race, the first plan wins and both
//! serve it.
//!
//! Reports are signed by the probe (resist_proto::report). Ingest checks, in
//! order: the batch's request signature names an enrolled, enabled probe; each
//! report decodes and its signature verifies under that same probe's key; it
//! was measured inside its window (with a grace of one window) and neither too
//! long ago nor in the future; then the store checks that the probe was
//! assigned that node in that window and has not reported on it already. The
//! canary's answer is verified here, with the key only the coordinator holds:
//! a "relayed" report whose answer is wrong is stored as `canary_mismatch`.

use std::sync::Arc;

use axum::extract::State;
use base64::Engine as _;
use resist_clock::UnixTime;
use resist_measure::{Side, Tally, plan};
use resist_proto::Invalid;
use resist_proto::api::{
    Assignment, Assignments, MAX_REPORTS_PER_BATCH, NodeStatusView, Receipt, ReceiptStatus,
    ReportBatch, ReportReceipts, WindowStatusView,
};
use resist_proto::endpoint::Endpoint;
use resist_proto::report::{Outcome, Report};
use resist_store::{ConflictKind, Ingested, NewReport, Node, NodeId, Probe, Store, StoreError};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{Admin, CallingOperator, CallingProbe};
pub use crate::config::MeasurementSettings;
use crate::error::ApiError;
use crate::error::responses as r;
use crate::extract::{ApiJson, ApiQuery};

/// Plans `window` unless it already is.
pub(crate) async fn ensure_planned<S: Store>(
    state: &AppState<S>,
    window: i64,
) -> Result<(), ApiError> {
    if state.store.window_planned(window).await? {
        return Ok(());
    }
    let nodes: Vec<NodeId> = state.store.nodes().await?.iter().map(|n| n.id).collect();
    let (mut censored, mut free) = (Vec::new(), Vec::new());
    for p in state.store.probes().await?.iter().filter(|p| p.enabled) {
        match p.region.side() {
            Side::Censored => censored.push(p.id),
            Side::Free => free.push(p.id),
        }
    }
    let per_node = state.settings.measurement.probes_per_node();
    let plan = plan(&nodes, &censored, &free, per_node, &mut rand::rng());
    if state
        .store
        .plan_window(window, &plan, state.clock.now())
        .await?
    {
        tracing::info!(
            window,
            assignments = plan.len(),
            nodes = nodes.len(),
            "window planned"
        );
    }
    Ok(())
}

/// The calling probe's assignments for the current window.
#[utoipa::path(get, path = "/api/probe/assignments", tag = "probes",
    responses((status = 200, body = Assignments), r::Unauthorized, r::Unavailable),
    security(("probe_signature" = [])))]
pub(crate) async fn assignments<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    CallingProbe(probe): CallingProbe,
) -> Result<axum::Json<Assignments>, ApiError> {
    let m = &state.settings.measurement;
    let windows = m.windows();
    let window = windows.of(state.clock.now());
    ensure_planned(&state, window).await?;
    let nodes = state.store.assignments_for(window, probe.id).await?;
    Ok(axum::Json(Assignments {
        window,
        window_start: windows.start(window),
        window_end: windows.end(window),
        canary: m.canary_advertise.clone(),
        region: probe.region.to_string(),
        nodes: nodes
            .into_iter()
            .map(|(n, reported)| Assignment {
                node: n.id.0,
                endpoint: Endpoint {
                    host: n.host,
                    port: n.port,
                },
                protocol: n.protocol.as_str().to_owned(),
                username: n.username,
                password: n.password,
                reported,
            })
            .collect(),
    }))
}

/// Signed reports from the calling probe; one receipt per report.
#[utoipa::path(post, path = "/api/probe/reports", tag = "probes", request_body = ReportBatch,
    responses((status = 200, body = ReportReceipts), r::Invalid, r::Unauthorized, r::TooLarge,
        r::Unavailable),
    security(("probe_signature" = [])))]
pub(crate) async fn reports<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    CallingProbe(probe): CallingProbe,
    ApiJson(batch): ApiJson<ReportBatch>,
) -> Result<axum::Json<ReportReceipts>, ApiError> {
    if batch.reports.len() > MAX_REPORTS_PER_BATCH {
        return Err(Invalid::new(
            "reports",
            format!(
                "at most {MAX_REPORTS_PER_BATCH} reports per request; send the rest in another"
            ),
        )
        .into());
    }
    let mut receipts = Vec::with_capacity(batch.reports.len());
    for encoded in &batch.reports {
        receipts.push(ingest_one(&state, &probe, encoded).await?);
    }
    Ok(axum::Json(ReportReceipts { receipts }))
}

fn refused(report_id: &str, reason: impl Into<String>) -> Receipt {
    Receipt {
        report_id: report_id.to_owned(),
        status: ReceiptStatus::Refused,
        reason: Some(reason.into()),
    }
}

/// Checks and stores one report. Refusals are receipts; only a failing
/// database fails the request (so the probe keeps everything and retries).
async fn ingest_one<S: Store>(
    state: &AppState<S>,
    probe: &Probe,
    encoded: &str,
) -> Result<Receipt, ApiError> {
    if encoded.len() > 2 * resist_proto::report::SIGNED_REPORT_LEN {
        return Ok(refused("", "too large to be a report"));
    }
    let Ok(signed) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
        return Ok(refused("", "not base64"));
    };
    let report = match Report::verify_signed(&signed) {
        Ok(r) => r,
        Err(e) => return Ok(refused("", e.to_string())),
    };
    let id = hex::encode(report.report_id);
    if report.probe_key != probe.public_key {
        return Ok(refused(
            &id,
            "signed by another probe than the one sending it",
        ));
    }
    let m = &state.settings.measurement;
    let now = state.clock.now();
    if let Err(refusal) = m.admission().admit(report.measured_at, report.window, now) {
        return Ok(refused(&id, refusal.to_string()));
    }
    let mut outcome = report.outcome;
    if outcome == Outcome::Relayed && !report.canary_verifies(&m.canary_key) {
        outcome = Outcome::CanaryMismatch;
    }
    let row = NewReport {
        probe: probe.id,
        report_id: report.report_id,
        window: report.window,
        node: NodeId(report.node),
        measured_at: UnixTime(report.measured_at),
        outcome,
        reply_code: report.reply_code,
        connect_us: report.connect_us,
        handshake_us: report.handshake_us,
        rtt_us: report.rtt_us,
        sample_bytes: report.sample_bytes,
        sample_us: report.sample_us,
        signed,
    };
    let status = match state.store.insert_report(&row, now).await {
        Ok(Ingested::Accepted) => ReceiptStatus::Accepted,
        Ok(Ingested::Duplicate) => ReceiptStatus::Duplicate,
        Err(StoreError::Conflict(ConflictKind::AlreadyReported)) => {
            return Ok(refused(
                &id,
                "this probe already reported on this node in this window",
            ));
        }
        Err(StoreError::NotFound { .. }) => {
            return Ok(refused(
                &id,
                "this probe was not assigned this node in this window",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Receipt {
        report_id: id,
        status,
        reason: None,
    })
}

/// How many windows of history a status request may ask for.
const MAX_HISTORY: u32 = 1000;

/// `?windows=N`: history length.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// Windows of history, newest first (default 24).
    #[param(minimum = 1, maximum = 1000)]
    windows: Option<u32>,
}

impl HistoryQuery {
    /// The history length asked for, if it is within 1..=MAX_HISTORY.
    fn windows(&self) -> Result<u32, ApiError> {
        match self.windows {
            None => Ok(24),
            Some(n) if (1..=MAX_HISTORY).contains(&n) => Ok(n),
            Some(_) => {
                Err(Invalid::new("windows", format!("give 1 to {MAX_HISTORY} windows")).into())
            }
        }
    }
}

/// Every node's status and history (admin).
#[utoipa::path(get, path = "/api/admin/status", tag = "admin", params(HistoryQuery),
    responses((status = 200, body = [NodeStatusView]), r::Invalid, r::Unauthorized, r::Unavailable),
    security(("admin_token" = [])))]
pub(crate) async fn admin_status<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    _: Admin,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<axum::Json<Vec<NodeStatusView>>, ApiError> {
    let windows = q.windows()?;
    let nodes = state.store.nodes().await?;
    Ok(axum::Json(node_status(&state, &nodes, windows).await?))
}

/// The calling operator's nodes' status and history (operator token).
#[utoipa::path(get, path = "/api/operators/me/status", tag = "operators", params(HistoryQuery),
    responses((status = 200, body = [NodeStatusView]), r::Invalid, r::Unauthorized, r::Unavailable),
    security(("operator_token" = [])))]
pub(crate) async fn my_status<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    CallingOperator(operator): CallingOperator,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<axum::Json<Vec<NodeStatusView>>, ApiError> {
    let windows = q.windows()?;
    let nodes = state.store.nodes_of(operator.id).await?;
    Ok(axum::Json(node_status(&state, &nodes, windows).await?))
}

/// Classifies `nodes` over the last `windows` windows.
pub async fn node_status<S: Store>(
    state: &AppState<S>,
    nodes: &[Node],
    windows: u32,
) -> Result<Vec<NodeStatusView>, ApiError> {
    let windows_of = state.settings.measurement.windows();
    let n = i64::from(windows.clamp(1, MAX_HISTORY));
    let current = windows_of.of(state.clock.now());
    let summaries = state
        .store
        .report_summaries(current - n + 1, current)
        .await?;
    let mut tally = Tally::new();
    for s in &summaries {
        tally.record(s.node, s.window, s.observation());
    }
    Ok(nodes
        .iter()
        .map(|node| {
            let history: Vec<WindowStatusView> = tally
                .verdicts_of(&node.id)
                .rev()
                .map(|(window, v)| WindowStatusView {
                    window,
                    window_start: windows_of.start(window),
                    status: v.status(),
                    censored_relayed: v.censored_relayed,
                    censored_failed: v.censored_failed,
                    free_relayed: v.free_relayed,
                    free_failed: v.free_failed,
                    disagreement: v.disagreement(),
                })
                .collect();
            NodeStatusView {
                node: node.id.0,
                operator: node.operator.0,
                endpoint: crate::views::endpoint(node),
                latest: history.first().cloned(),
                history,
            }
        })
        .collect())
}
