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

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::Method;
use axum::routing::{get, post};
use base64::Engine as _;
use rand::seq::IndexedRandom;
use resist_clock::UnixTime;
use resist_measure::{Observation, Side, classify};
use resist_proto::Invalid;
use resist_proto::api::{
    Assignment, Assignments, MAX_REPORTS_PER_BATCH, NodeStatusView, Receipt, ReceiptStatus,
    ReportBatch, ReportReceipts, WindowStatusView,
};
use resist_proto::endpoint::Endpoint;
use resist_proto::report::{Outcome, Report};
use resist_store::{
    ConflictKind, Ingested, NewReport, Node, NodeId, Probe, ProbeId, Store, StoreError,
};
use serde::Deserialize;

pub use crate::config::MeasurementSettings;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, BearerHash};
use crate::openapi::responses as r;
use crate::{AppState, handlers};

/// The raw `Authorization` value of a probe's request; verified in
/// `authorize_probe`, which knows the method and path it must cover.
#[derive(Debug)]
pub(crate) struct ProbeCaller(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ProbeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, ApiError> {
        parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 512)
            .map(|v| ProbeCaller(v.to_owned()))
            .ok_or(ApiError::Unauthorized(
                "probe requests need `Authorization: ResistProbe KEY.TIME.SIGNATURE`",
            ))
    }
}

pub(crate) fn routes<S: Store>() -> Router<Arc<AppState<S>>> {
    Router::new()
        .route("/api/probe/assignments", get(assignments::<S>))
        .route("/api/probe/reports", post(reports::<S>))
        .route("/api/admin/status", get(admin_status::<S>))
        .route("/api/operators/me/status", get(my_status::<S>))
}

/// Chooses, for every node, up to `per_censored` distinct censored probes and
/// up to `per_free` distinct free probes at random.
pub(crate) fn plan(
    nodes: &[NodeId],
    censored: &[ProbeId],
    free: &[ProbeId],
    per_censored: usize,
    per_free: usize,
    rng: &mut impl rand::Rng,
) -> Vec<(NodeId, ProbeId)> {
    let mut out = Vec::with_capacity(nodes.len() * (per_censored + per_free));
    for &node in nodes {
        for (pool, n) in [(censored, per_censored), (free, per_free)] {
            out.extend(pool.choose_multiple(rng, n).map(|&p| (node, p)));
        }
    }
    out
}

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
    let m = &state.settings.measurement;
    let plan = plan(
        &nodes,
        &censored,
        &free,
        m.censored_per_node,
        m.free_per_node,
        &mut rand::rng(),
    );
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
    caller: ProbeCaller,
) -> Result<axum::Json<Assignments>, ApiError> {
    let probe = authorize_probe(&state, &caller, &Method::GET, "/api/probe/assignments").await?;
    let m = &state.settings.measurement;
    let window = m.window_of(state.clock.now());
    ensure_planned(&state, window).await?;
    let nodes = state.store.assignments_for(window, probe.id).await?;
    let start = m.window_start(window);
    Ok(axum::Json(Assignments {
        window,
        window_start: start,
        window_end: start.saturating_add(m.window_secs()),
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
    caller: ProbeCaller,
    ApiJson(batch): ApiJson<ReportBatch>,
) -> Result<axum::Json<ReportReceipts>, ApiError> {
    let probe = authorize_probe(&state, &caller, &Method::POST, "/api/probe/reports").await?;
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
    if report.measured_at < now.minus(m.max_report_age).seconds() {
        return Ok(refused(&id, "stale: measured too long ago"));
    }
    if report.measured_at > now.plus(m.max_clock_skew).seconds() {
        return Ok(refused(
            &id,
            "measured in the future: check the probe's clock",
        ));
    }
    let start = m.window_start(report.window);
    let latest = start.saturating_add(m.window_secs().saturating_mul(2));
    if report.measured_at < start || report.measured_at > latest {
        return Ok(refused(&id, "measured outside its window"));
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

/// The enrolled, enabled probe behind a verified request signature.
async fn authorize_probe<S: Store>(
    state: &AppState<S>,
    caller: &ProbeCaller,
    method: &Method,
    path: &str,
) -> Result<Probe, ApiError> {
    let verified = resist_proto::probe_auth::verify(&caller.0, method.as_str(), path).ok_or(
        ApiError::Unauthorized(
            "the probe signature does not verify for this request: `resist probe` signs each request with its key file; check that --key is the enrolled key",
        ),
    )?;
    let now = state.clock.now().seconds();
    let skew =
        i64::try_from(state.settings.measurement.max_clock_skew.as_secs()).unwrap_or(i64::MAX);
    if verified.at.abs_diff(now) > skew.unsigned_abs() {
        return Err(ApiError::Unauthorized(
            "the probe's request time is too far from the coordinator's clock; synchronise the clock (NTP)",
        ));
    }
    let probe = state
        .store
        .probe_by_key(&verified.key)
        .await?
        .ok_or(ApiError::Unauthorized(
            "this probe is not enrolled; the funder enrols it with `resist admin probe enrol`",
        ))?;
    if !probe.enabled {
        return Err(ApiError::Unauthorized(
            "this probe is disabled; its reports are refused",
        ));
    }
    Ok(probe)
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
    bearer: BearerHash,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<axum::Json<Vec<NodeStatusView>>, ApiError> {
    handlers::admin(&state, &bearer)?;
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
    BearerHash(hash): BearerHash,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<axum::Json<Vec<NodeStatusView>>, ApiError> {
    let operator = handlers::operator_by_token(&state, &hash).await?;
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
    let m = &state.settings.measurement;
    let n = i64::from(windows.clamp(1, MAX_HISTORY));
    let current = m.window_of(state.clock.now());
    let summaries = state
        .store
        .report_summaries(current - n + 1, current)
        .await?;
    // node → window → observations
    let mut by_node: BTreeMap<NodeId, BTreeMap<i64, Vec<Observation>>> = BTreeMap::new();
    for s in &summaries {
        by_node
            .entry(s.node)
            .or_default()
            .entry(s.window)
            .or_default()
            .push(Observation {
                side: s.region.side(),
                relayed: s.outcome.relayed(),
            });
    }
    Ok(nodes
        .iter()
        .map(|node| {
            let history: Vec<WindowStatusView> = by_node
                .get(&node.id)
                .map(|windows| {
                    windows
                        .iter()
                        .rev()
                        .map(|(&window, obs)| {
                            let v = classify(obs);
                            WindowStatusView {
                                window,
                                window_start: m.window_start(window),
                                status: v.status(),
                                censored_relayed: v.censored_relayed,
                                censored_failed: v.censored_failed,
                                free_relayed: v.free_relayed,
                                free_failed: v.free_failed,
                                disagreement: v.disagreement(),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
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

#[cfg(test)]
mod test {
    use std::collections::{HashMap, HashSet};

    use std::time::Duration;

    use rand::SeedableRng;

    use super::*;

    #[test]
    fn every_node_gets_distinct_probes_from_each_side() {
        let nodes: Vec<NodeId> = (1..=50).map(NodeId).collect();
        let censored: Vec<ProbeId> = (1..=5).map(ProbeId).collect();
        let free: Vec<ProbeId> = (6..=8).map(ProbeId).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let p = plan(&nodes, &censored, &free, 2, 1, &mut rng);
        assert_eq!(p.len(), 150);
        let mut load: HashMap<ProbeId, usize> = HashMap::new();
        for node in &nodes {
            let mine: Vec<ProbeId> = p
                .iter()
                .filter(|(n, _)| n == node)
                .map(|(_, pr)| *pr)
                .collect();
            let set: HashSet<_> = mine.iter().collect();
            assert_eq!(set.len(), 3, "distinct probes for {node:?}");
            assert_eq!(mine.iter().filter(|pr| censored.contains(pr)).count(), 2);
            assert_eq!(mine.iter().filter(|pr| free.contains(pr)).count(), 1);
            for pr in mine {
                *load.entry(pr).or_default() += 1;
            }
        }
        // Random, not fixed: every censored probe gets some of the work.
        assert!(
            censored
                .iter()
                .all(|c| load.get(c).copied().unwrap_or(0) >= 5),
            "{load:?}"
        );
    }

    #[test]
    fn fewer_probes_than_asked_assigns_what_there_is() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let p = plan(&[NodeId(1)], &[ProbeId(1)], &[], 2, 1, &mut rng);
        assert_eq!(p, vec![(NodeId(1), ProbeId(1))]);
        assert!(plan(&[], &[ProbeId(1)], &[ProbeId(2)], 2, 1, &mut rng).is_empty());
    }

    #[test]
    fn windows_are_numbered_by_length() {
        let m = MeasurementSettings {
            window: Duration::from_secs(600),
            canary_advertise: String::new(),
            canary_key: [0; 32],
            censored_per_node: 2,
            free_per_node: 1,
            max_report_age: Duration::from_secs(3600),
            max_clock_skew: Duration::from_secs(120),
        };
        assert_eq!(m.window_of(UnixTime(1199)), 1);
        assert_eq!(m.window_of(UnixTime(1200)), 2);
        assert_eq!(m.window_start(2), 1200);
        assert_eq!(m.window_of(UnixTime(-1)), -1);
    }
}
