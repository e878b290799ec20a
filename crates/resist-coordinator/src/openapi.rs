//! The OpenAPI document, generated from the handlers' annotations and the
//! resist-proto types, so it cannot drift from the code. Served at
//! `/api/openapi.json`.
//!
//! Every status an endpoint can answer with is listed on it, error answers
//! through the response types of `error::responses` (one per status, so an
//! endpoint names exactly the ones it can return); `tests/schemathesis.rs` in
//! the `resist` crate checks the running coordinator against this document.
//! This module depends on the handler modules (for their paths); none of
//! them depends on it.

use std::collections::BTreeMap;

use axum::Json;
use resist_proto::api::ErrorBody;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AdditionalProperties, Object, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{operators, probes, public};

/// The API description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "resist coordinator",
        description = "Operators register nodes with a proven Bitcoin payout address; the funder enrols probes. Every change by an operator is a message signed with the payout address's key (see resist_proto::action)."
    ),
    paths(
        public::healthz,
        public::info,
        operators::create_challenge,
        operators::register,
        operators::me,
        operators::add_node,
        operators::update_node,
        operators::change_payout,
        operators::rotate_token,
        probes::enrol_probe,
        probes::list_probes,
        probes::disable_probe,
        probes::enable_probe,
        operators::list_operators,
        crate::measure::assignments,
        crate::measure::reports,
        crate::measure::admin_status,
        crate::measure::my_status,
        crate::grants::preview,
        crate::epochs::list,
        crate::epochs::show,
        crate::epochs::close,
        crate::epochs::export,
        crate::epochs::finalize,
        crate::epochs::broadcast,
        crate::distribution::proxies_json,
        crate::distribution::create_invitations,
        crate::distribution::list_invitations,
        crate::distribution::revoke_invitation,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerSchemes, &InputRules),
    tags(
        (name = "operators", description = "Registration and signed changes"),
        (name = "admin", description = "The funder's operations (admin token)"),
        (name = "probes", description = "Assignments and signed reports (probe signature: `Authorization: ResistProbe KEY.TIME.SIGNATURE`, see resist_proto::probe_auth)"),
        (name = "public", description = "Unauthenticated information"),
        (name = "users", description = "Proxies for users: by the requester's network, or by an invitation (the page for people is /proxies, not part of this document)"),
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
        components.add_security_scheme(
            "probe_signature",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "Authorization",
                    "ResistProbe <public key hex>.<unix seconds>.<ed25519 signature hex>",
                ),
            )),
        );
    }
}

/// What the coordinator accepts, where the schemas derived from the
/// resist-proto types say less or something else. A client generated from
/// the document (or schemathesis) then sends what the coordinator takes:
///
/// - `Endpoint.port` is a `u16` that must not be 0 (`Endpoint::validate`);
///   utoipa writes only `minimum: 0`.
/// - every `nonce` is 32 hex digits (`operators::check_nonce`).
/// - `EnrolProbeRequest.public_key` is 64 hex digits and `region` a
///   `Region` label (`probes::parse_probe_key`, `Region::from_str`).
/// - `NodeSpec` flattens `Endpoint`, which utoipa writes as an `allOf` that
///   allows any extra key, while serde refuses unknown fields: it is
///   written out as one closed object.
/// - the `keep` and `remove` variants of `CredentialsChange` take no
///   `credentials` (serde accepts only `null` there).
///
/// What JSON Schema cannot say stays in the descriptions and answers 400
/// `invalid`: which strings are Bitcoin addresses of this network, which
/// hex keys are ed25519 points, which hosts are public.
// These rules belong on the resist-proto types as `#[schema(...)]`
// attributes; until they are there, `test::input_rules_are_in_the_document`
// fails if a patch no longer finds its target.
struct InputRules;

/// `resist_proto::api` challenge nonces: 16 random bytes in hex.
const NONCE_PATTERN: &str = "^[0-9a-fA-F]{32}$";
/// An ed25519 public key in hex.
const PUBLIC_KEY_PATTERN: &str = "^[0-9a-fA-F]{64}$";
/// `resist_proto::region::Region`: `censored:CC` or `free:CC`, optionally `-detail`.
const REGION_PATTERN: &str = "^(censored|free):[A-Z]{2}(-[A-Za-z0-9]{1,16})?$";

impl Modify for InputRules {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let schemas = &mut components.schemas;
        if let Some(port) = property(schemas, "Endpoint", "port") {
            port.minimum = Some(1.into());
            port.maximum = Some(u16::MAX.into());
        }
        for request in [
            "RegisterRequest",
            "AddNodeRequest",
            "UpdateNodeRequest",
            "ChangePayoutRequest",
            "RotateTokenRequest",
        ] {
            if let Some(nonce) = property(schemas, request, "nonce") {
                nonce.pattern = Some(NONCE_PATTERN.into());
            }
        }
        if let Some(key) = property(schemas, "EnrolProbeRequest", "public_key") {
            key.pattern = Some(PUBLIC_KEY_PATTERN.into());
        }
        if let Some(region) = property(schemas, "EnrolProbeRequest", "region") {
            region.pattern = Some(REGION_PATTERN.into());
        }
        close_flattened(schemas, "NodeSpec");
        if let Some(RefOr::T(Schema::OneOf(change))) = schemas.get_mut("CredentialsChange") {
            for variant in &mut change.items {
                if let RefOr::T(Schema::Object(v)) = variant
                    && !v.properties.contains_key("credentials")
                {
                    v.properties.insert(
                        "credentials".into(),
                        ObjectBuilder::new().schema_type(Type::Null).into(),
                    );
                }
            }
        }
    }
}

/// The `Object` schema of `name.property`, if the document has it.
fn property<'a>(
    schemas: &'a mut BTreeMap<String, RefOr<Schema>>,
    name: &str,
    property: &str,
) -> Option<&'a mut Object> {
    match schemas.get_mut(name)? {
        RefOr::T(Schema::Object(o)) => match o.properties.get_mut(property)? {
            RefOr::T(Schema::Object(p)) => Some(p),
            _ => None,
        },
        _ => None,
    }
}

/// Rewrites the `allOf` of a `#[serde(flatten)]` + `deny_unknown_fields`
/// type as the single object serde accepts: the parts' properties, nothing
/// else.
fn close_flattened(schemas: &mut BTreeMap<String, RefOr<Schema>>, name: &str) {
    let Some(RefOr::T(Schema::AllOf(all))) = schemas.get(name) else {
        return;
    };
    let mut closed = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(all.description.clone())
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build();
    for part in &all.items {
        let part = match part {
            RefOr::Ref(r) => match r
                .ref_location
                .strip_prefix("#/components/schemas/")
                .and_then(|n| schemas.get(n))
            {
                Some(RefOr::T(Schema::Object(o))) => o,
                _ => return,
            },
            RefOr::T(Schema::Object(o)) => o,
            RefOr::T(_) => return,
        };
        closed.properties.extend(part.properties.clone());
        closed.required.extend(part.required.iter().cloned());
    }
    schemas.insert(name.to_owned(), Schema::Object(closed).into());
}

pub(crate) async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod test {
    use super::*;

    /// Each patch of [`InputRules`] found its target: a renamed type or
    /// field in resist-proto fails here rather than leaving the document
    /// silently looser than the coordinator.
    #[test]
    fn input_rules_are_in_the_document() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let port = &schemas["Endpoint"]["properties"]["port"];
        assert_eq!(port["minimum"], 1);
        assert_eq!(port["maximum"], 65535);
        for request in [
            "RegisterRequest",
            "AddNodeRequest",
            "UpdateNodeRequest",
            "ChangePayoutRequest",
            "RotateTokenRequest",
        ] {
            assert_eq!(
                schemas[request]["properties"]["nonce"]["pattern"], NONCE_PATTERN,
                "{request}"
            );
        }
        let enrol = &schemas["EnrolProbeRequest"]["properties"];
        assert_eq!(enrol["public_key"]["pattern"], PUBLIC_KEY_PATTERN);
        assert_eq!(enrol["region"]["pattern"], REGION_PATTERN);
        let spec = &schemas["NodeSpec"];
        assert_eq!(spec["additionalProperties"], false, "{spec}");
        let mut properties: Vec<_> = spec["properties"].as_object().unwrap().keys().collect();
        properties.sort();
        assert_eq!(properties, ["credentials", "host", "port", "protocol"]);
        for variant in schemas["CredentialsChange"]["oneOf"].as_array().unwrap() {
            let change = &variant["properties"]["change"]["enum"][0];
            let credentials = &variant["properties"]["credentials"];
            if change == "set" {
                assert_eq!(credentials["$ref"], "#/components/schemas/Credentials");
            } else {
                assert_eq!(credentials["type"], "null", "{change}");
            }
        }
    }
}
