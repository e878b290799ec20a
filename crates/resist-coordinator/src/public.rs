//! What anyone may ask of the coordinator itself: whether it is alive, and
//! which network it serves.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use resist_proto::api::Info;
use resist_store::Store;

use crate::AppState;

type St<S> = State<Arc<AppState<S>>>;

/// 200 when the database answers, 503 otherwise.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses(
        (status = 200, description = "The store is reachable", body = String, content_type = "text/plain"),
        (status = 503, description = "The store is not reachable", body = String, content_type = "text/plain"),
    ))]
pub(crate) async fn healthz<S: Store>(State(state): St<S>) -> (StatusCode, &'static str) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n"),
        Err(e) => {
            tracing::warn!(error = %e, "health check: store unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n")
        }
    }
}

/// The coordinator's network and version.
#[utoipa::path(get, path = "/api/info", tag = "public", responses((status = 200, body = Info)))]
pub(crate) async fn info<S: Store>(State(state): St<S>) -> axum::Json<Info> {
    axum::Json(Info {
        network: state.settings.network.to_string(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        challenge_ttl_seconds: state.settings.challenge_ttl.as_secs(),
    })
}
