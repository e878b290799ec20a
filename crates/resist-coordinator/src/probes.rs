//! The funder's probe endpoints: enrolment (an ed25519 key and a region
//! label), the list, and disabling or enabling a probe.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use resist_proto::Invalid;
use resist_proto::api::{EnrolProbeRequest, ProbeView};
use resist_proto::region::Region;
use resist_store::{NewProbe, ProbeId, Store};

use crate::auth::Admin;
use crate::error::ApiError;
use crate::error::responses as r;
use crate::extract::{ApiJson, ApiPath};
use crate::{AppState, views};

type St<S> = State<Arc<AppState<S>>>;
type Answer<T> = Result<T, ApiError>;

/// Enrols a probe (admin).
#[utoipa::path(post, path = "/api/admin/probes", tag = "admin", request_body = EnrolProbeRequest,
    responses((status = 201, body = ProbeView), r::Invalid, r::Unauthorized, r::Conflict, r::TooLarge,
        r::Unavailable),
    security(("admin_token" = [])))]
pub(crate) async fn enrol_probe<S: Store>(
    State(state): St<S>,
    _: Admin,
    ApiJson(req): ApiJson<EnrolProbeRequest>,
) -> Answer<(StatusCode, axum::Json<ProbeView>)> {
    let public_key = parse_probe_key(&req.public_key)?;
    let region: Region = req.region.parse()?;
    let probe = state
        .store
        .enrol_probe(&NewProbe { public_key, region }, state.clock.now())
        .await?;
    tracing::info!(probe = probe.id.0, region = %probe.region, "probe enrolled");
    Ok((StatusCode::CREATED, axum::Json(views::probe(&probe))))
}

/// Lists probes (admin).
#[utoipa::path(get, path = "/api/admin/probes", tag = "admin",
    responses((status = 200, body = [ProbeView]), r::Unauthorized, r::Unavailable),
    security(("admin_token" = [])))]
pub(crate) async fn list_probes<S: Store>(
    State(state): St<S>,
    _: Admin,
) -> Answer<axum::Json<Vec<ProbeView>>> {
    Ok(axum::Json(
        state
            .store
            .probes()
            .await?
            .iter()
            .map(views::probe)
            .collect(),
    ))
}

/// Disables a probe: its reports are refused from now on (admin).
#[utoipa::path(post, path = "/api/admin/probes/{id}/disable", tag = "admin",
    params(("id" = i64, Path, description = "Probe id")),
    responses((status = 200, body = ProbeView), r::Invalid, r::Unauthorized, r::NotFound, r::Unavailable),
    security(("admin_token" = [])))]
pub(crate) async fn disable_probe<S: Store>(
    State(state): St<S>,
    _: Admin,
    ApiPath(id): ApiPath<i64>,
) -> Answer<axum::Json<ProbeView>> {
    set_probe(state, id, false).await
}

/// Enables a disabled probe again (admin).
#[utoipa::path(post, path = "/api/admin/probes/{id}/enable", tag = "admin",
    params(("id" = i64, Path, description = "Probe id")),
    responses((status = 200, body = ProbeView), r::Invalid, r::Unauthorized, r::NotFound, r::Unavailable),
    security(("admin_token" = [])))]
pub(crate) async fn enable_probe<S: Store>(
    State(state): St<S>,
    _: Admin,
    ApiPath(id): ApiPath<i64>,
) -> Answer<axum::Json<ProbeView>> {
    set_probe(state, id, true).await
}

async fn set_probe<S: Store>(
    state: Arc<AppState<S>>,
    id: i64,
    enabled: bool,
) -> Answer<axum::Json<ProbeView>> {
    let probe = state
        .store
        .set_probe_enabled(ProbeId(id), enabled, state.clock.now())
        .await?;
    tracing::info!(probe = probe.id.0, enabled, "probe state changed");
    Ok(axum::Json(views::probe(&probe)))
}

fn parse_probe_key(s: &str) -> Result<[u8; 32], ApiError> {
    let bad = |why: &str| {
        Invalid::new(
            "public_key",
            format!("{why}; give the 64 hex digits `resist probe` prints"),
        )
    };
    let bytes = hex::decode(s.trim()).map_err(|_| bad("not hex"))?;
    let key: [u8; 32] = bytes.try_into().map_err(|_| bad("not 32 bytes"))?;
    ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|_| bad("not an ed25519 public key"))?;
    Ok(key)
}
