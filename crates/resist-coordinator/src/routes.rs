//! The route table: every path the coordinator answers, in one place, and
//! the handler behind it. Handlers live with their concern (operators,
//! probes, measurement, grants, epochs, distribution, pages); this module is
//! the only one that knows them all, apart from the OpenAPI document.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post, put};
use resist_store::Store;

use crate::error::ApiError;
use crate::{
    AppState, distribution, epochs, grants, measure, openapi, operators, probes, public, web,
};

/// Every route of the API and the pages over `S`.
pub(crate) fn routes<S: Store>() -> Router<Arc<AppState<S>>> {
    Router::new()
        // The coordinator itself.
        .route("/healthz", get(public::healthz::<S>))
        .route("/api/openapi.json", get(openapi::serve))
        .route("/api/info", get(public::info::<S>))
        // Operators and their signed changes.
        .route("/api/challenges", post(operators::create_challenge::<S>))
        .route("/api/operators", post(operators::register::<S>))
        .route("/api/operators/me", get(operators::me::<S>))
        .route("/api/operators/me/status", get(measure::my_status::<S>))
        .route("/api/operators/{id}/nodes", post(operators::add_node::<S>))
        .route(
            "/api/operators/{id}/nodes/{node}",
            patch(operators::update_node::<S>),
        )
        .route(
            "/api/operators/{id}/payout",
            put(operators::change_payout::<S>),
        )
        .route(
            "/api/operators/{id}/token",
            post(operators::rotate_token::<S>),
        )
        // Probes: their work and their reports.
        .route("/api/probe/assignments", get(measure::assignments::<S>))
        .route("/api/probe/reports", post(measure::reports::<S>))
        // The funder.
        .route(
            "/api/admin/probes",
            post(probes::enrol_probe::<S>).get(probes::list_probes::<S>),
        )
        .route(
            "/api/admin/probes/{id}/disable",
            post(probes::disable_probe::<S>),
        )
        .route(
            "/api/admin/probes/{id}/enable",
            post(probes::enable_probe::<S>),
        )
        .route("/api/admin/operators", get(operators::list_operators::<S>))
        .route("/api/admin/status", get(measure::admin_status::<S>))
        .route("/api/admin/grants/preview", get(grants::preview::<S>))
        .route("/api/admin/epochs", post(epochs::close::<S>))
        .route("/api/admin/epochs/{epoch}/psbt", post(epochs::export::<S>))
        .route(
            "/api/admin/epochs/{epoch}/finalize",
            post(epochs::finalize::<S>).layer(DefaultBodyLimit::max(
                epochs::MAX_SIGNED_PSBT_BYTES * 4 / 3 + 4096,
            )),
        )
        .route(
            "/api/admin/epochs/{epoch}/broadcast",
            post(epochs::broadcast::<S>),
        )
        .route(
            "/api/admin/invitations",
            post(distribution::create_invitations::<S>).get(distribution::list_invitations::<S>),
        )
        .route(
            "/api/admin/invitations/{id}/revoke",
            post(distribution::revoke_invitation::<S>),
        )
        // Public records and the users' proxies.
        .route("/api/epochs", get(epochs::list::<S>))
        .route("/api/epochs/{epoch}", get(epochs::show::<S>))
        .route("/api/proxies", get(distribution::proxies_json::<S>))
        .route("/proxies", get(distribution::proxies_page::<S>))
        // The dashboard and the public pages.
        .merge(web::routes::<S>())
        // axum's own answers here have empty bodies; every answer of this
        // API is JSON. The 405 keeps axum's `Allow` header.
        .method_not_allowed_fallback(async || ApiError::MethodNotAllowed)
        .fallback(async || ApiError::NoRoute)
}
