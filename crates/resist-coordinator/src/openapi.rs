//! The OpenAPI document, generated from the handlers' annotations and the
//! resist-proto types, so it cannot drift from the code. Served at
//! `/api/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::handlers;

/// The API description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "resist coordinator",
        description = "Operators register nodes with a proven Bitcoin payout address; the funder enrols probes. Every change by an operator is a message signed with the payout address's key (see resist_proto::action)."
    ),
    paths(
        handlers::healthz,
        handlers::info,
        handlers::create_challenge,
        handlers::register,
        handlers::me,
        handlers::add_node,
        handlers::update_node,
        handlers::change_payout,
        handlers::rotate_token,
        handlers::enrol_probe,
        handlers::list_probes,
        handlers::disable_probe,
        handlers::enable_probe,
        handlers::list_operators,
    ),
    modifiers(&BearerSchemes),
    tags(
        (name = "operators", description = "Registration and signed changes"),
        (name = "admin", description = "The funder's operations (admin token)"),
        (name = "public", description = "Unauthenticated information"),
        (name = "health", description = "Liveness"),
    )
)]
pub struct ApiDoc;

struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for name in ["admin_token", "operator_token"] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

pub(crate) async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
