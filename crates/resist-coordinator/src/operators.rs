//! The operators' endpoints: challenges, registration and signed changes,
//! the operator's own view, and the funder's list of operators.
//!
//! A signed change is handled in a fixed order: rate limit, parse and
//! validate every field (400 naming the field), rebuild the exact message
//! with `resist_proto::action`, verify the signature (401), and only then
//! touch the store, which consumes the challenge in the same transaction as
//! the change.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use rand::RngCore;
use resist_ownership::PayoutAddress;
use resist_proto::Invalid;
use resist_proto::action::{Action, CredentialsChange};
use resist_proto::api::{
    AddNodeRequest, Challenge, ChangePayoutRequest, MAX_NODES_PER_OPERATOR, NodeView, OperatorView,
    RegisterRequest, Registered, RotateTokenRequest, TokenIssued, UpdateNodeRequest,
};
use resist_proto::endpoint::NodeSpec;
use resist_store::{
    ChangeProof, CheckedAddress, NewNode, NewOperator, NodeId, NodeUpdate, Operator, OperatorId,
    Protocol, Signature, Store,
};

use crate::auth::{Admin, CallingOperator};
use crate::error::ApiError;
use crate::error::responses as r;
use crate::extract::{ApiJson, ApiPath, ClientKey, token_hash};
use crate::{AppState, views};

type St<S> = State<Arc<AppState<S>>>;
type Answer<T> = Result<T, ApiError>;

/// A one-time nonce for the next signed change (rate-limited per client).
#[utoipa::path(post, path = "/api/challenges", tag = "operators",
    responses((status = 201, body = Challenge), r::RateLimited, r::Unavailable))]
pub(crate) async fn create_challenge<S: Store>(
    State(state): St<S>,
    client: ClientKey,
) -> Answer<(StatusCode, axum::Json<Challenge>)> {
    state.spend(client)?;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let nonce = hex::encode(bytes);
    let now = state.clock.now();
    let expires_at = now.plus(state.settings.challenge_ttl);
    state
        .store
        .create_challenge(&nonce, now, expires_at)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Challenge {
            nonce,
            expires_at: expires_at.seconds(),
            network: state.settings.network.to_string(),
        }),
    ))
}

/// Registers an operator: a payout address proven by a signature, and its first nodes.
#[utoipa::path(post, path = "/api/operators", tag = "operators", request_body = RegisterRequest,
    responses((status = 201, body = Registered), r::Invalid, r::Unauthorized, r::Conflict,
        r::TooLarge, r::RateLimited, r::Unavailable))]
pub(crate) async fn register<S: Store>(
    State(state): St<S>,
    client: ClientKey,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Answer<(StatusCode, axum::Json<Registered>)> {
    state.spend(client)?;
    let address = parse_payout(&state, &req.payout_address, "payout_address")?;
    if req.nodes.is_empty() {
        return Err(Invalid::new("nodes", "list at least one node (HOST:PORT)").into());
    }
    let nodes = validate_nodes(&state, &req.nodes)?;
    check_nonce(&req.nonce)?;
    let action = Action::Register {
        payout_address: &req.payout_address,
        nodes: &req.nodes,
    };
    let proof = prove(
        &state,
        &action,
        &req.nonce,
        &[(&address, &req.signature, "signature")],
    )?;
    let token = new_token();
    let operator = NewOperator {
        payout_address: CheckedAddress::new(address.as_str()),
        token_hash: token_hash(&token),
    };
    let (operator, nodes) = state
        .store
        .register_operator(&operator, &nodes, &proof, state.clock.now())
        .await?;
    tracing::info!(
        operator = operator.id.0,
        nodes = nodes.len(),
        "operator registered"
    );
    Ok((
        StatusCode::CREATED,
        axum::Json(Registered {
            operator: views::operator(&operator, &nodes),
            token,
        }),
    ))
}

/// The operator's own record (bearer: the operator's access token).
#[utoipa::path(get, path = "/api/operators/me", tag = "operators",
    responses((status = 200, body = OperatorView), r::Unauthorized, r::Unavailable),
    security(("operator_token" = [])))]
pub(crate) async fn me<S: Store>(
    State(state): St<S>,
    CallingOperator(operator): CallingOperator,
) -> Answer<axum::Json<OperatorView>> {
    let nodes = state.store.nodes_of(operator.id).await?;
    Ok(axum::Json(views::operator(&operator, &nodes)))
}

/// Adds a node (signed by the payout address).
#[utoipa::path(post, path = "/api/operators/{id}/nodes", tag = "operators", request_body = AddNodeRequest,
    params(("id" = i64, Path, description = "Operator id")),
    responses((status = 201, body = NodeView), r::Invalid, r::Unauthorized, r::NotFound, r::Conflict,
        r::TooLarge, r::RateLimited, r::Unavailable))]
pub(crate) async fn add_node<S: Store>(
    State(state): St<S>,
    client: ClientKey,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<AddNodeRequest>,
) -> Answer<(StatusCode, axum::Json<NodeView>)> {
    state.spend(client)?;
    let (operator, address) = operator_of(&state, id).await?;
    let node = validate_nodes(&state, std::slice::from_ref(&req.node))
        .map_err(|e| match e {
            ApiError::Invalid(i) => ApiError::Invalid(Invalid::new(
                i.field.replacen("nodes[0]", "node", 1),
                i.problem,
            )),
            other => other,
        })?
        .remove(0);
    if state.store.nodes_of(operator.id).await?.len() >= MAX_NODES_PER_OPERATOR {
        return Err(Invalid::new(
            "node",
            format!("an operator can register at most {MAX_NODES_PER_OPERATOR} nodes"),
        )
        .into());
    }
    check_nonce(&req.nonce)?;
    let action = Action::AddNode {
        operator: id,
        node: &req.node,
    };
    let proof = prove(
        &state,
        &action,
        &req.nonce,
        &[(&address, &req.signature, "signature")],
    )?;
    let node = state
        .store
        .add_node(operator.id, &node, &proof, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(views::node(&node))))
}

/// Changes a node's endpoint and/or credentials (signed by the payout address).
#[utoipa::path(patch, path = "/api/operators/{id}/nodes/{node}", tag = "operators", request_body = UpdateNodeRequest,
    params(("id" = i64, Path, description = "Operator id"), ("node" = i64, Path, description = "Node id")),
    responses((status = 200, body = NodeView), r::Invalid, r::Unauthorized, r::NotFound, r::Conflict,
        r::TooLarge, r::RateLimited, r::Unavailable))]
pub(crate) async fn update_node<S: Store>(
    State(state): St<S>,
    client: ClientKey,
    ApiPath((id, node_id)): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<UpdateNodeRequest>,
) -> Answer<axum::Json<NodeView>> {
    state.spend(client)?;
    let (operator, address) = operator_of(&state, id).await?;
    let endpoint = match &req.endpoint {
        Some(e) => Some(
            e.validate(state.settings.endpoint_rules)
                .map_err(|e| e.within("endpoint"))?,
        ),
        None => None,
    };
    let credentials = match &req.credentials {
        CredentialsChange::Keep => None,
        CredentialsChange::Remove => Some(None),
        CredentialsChange::Set(c) => {
            c.validate().map_err(|e| e.within("credentials"))?;
            Some(Some((c.username.clone(), c.password.clone())))
        }
    };
    if endpoint.is_none() && credentials.is_none() {
        return Err(Invalid::new(
            "endpoint",
            "nothing to change: give a new endpoint, new credentials, or both",
        )
        .into());
    }
    check_nonce(&req.nonce)?;
    let action = Action::UpdateNode {
        operator: id,
        node: node_id,
        endpoint: req.endpoint.as_ref(),
        credentials: &req.credentials,
    };
    let proof = prove(
        &state,
        &action,
        &req.nonce,
        &[(&address, &req.signature, "signature")],
    )?;
    let update = NodeUpdate {
        endpoint: endpoint.map(|e| (e.host, e.port)),
        credentials,
    };
    let node = state
        .store
        .update_node(
            operator.id,
            NodeId(node_id),
            &update,
            &proof,
            state.clock.now(),
        )
        .await?;
    Ok(axum::Json(views::node(&node)))
}

/// Sends future grants to a new address (signed by the current and the new address).
#[utoipa::path(put, path = "/api/operators/{id}/payout", tag = "operators", request_body = ChangePayoutRequest,
    params(("id" = i64, Path, description = "Operator id")),
    responses((status = 200, body = OperatorView), r::Invalid, r::Unauthorized, r::NotFound, r::Conflict,
        r::TooLarge, r::RateLimited, r::Unavailable))]
pub(crate) async fn change_payout<S: Store>(
    State(state): St<S>,
    client: ClientKey,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ChangePayoutRequest>,
) -> Answer<axum::Json<OperatorView>> {
    state.spend(client)?;
    let (operator, current) = operator_of(&state, id).await?;
    let new = parse_payout(&state, &req.new_payout_address, "new_payout_address")?;
    if new.as_str() == current.as_str() {
        return Err(
            Invalid::new("new_payout_address", "this is already the payout address").into(),
        );
    }
    check_nonce(&req.nonce)?;
    let action = Action::ChangePayout {
        operator: id,
        new_payout_address: &req.new_payout_address,
    };
    let proof = prove(
        &state,
        &action,
        &req.nonce,
        &[
            (&current, &req.signature_current, "signature_current"),
            (&new, &req.signature_new, "signature_new"),
        ],
    )?;
    let operator = state
        .store
        .change_payout(
            operator.id,
            &CheckedAddress::new(new.as_str()),
            &proof,
            state.clock.now(),
        )
        .await?;
    let nodes = state.store.nodes_of(operator.id).await?;
    Ok(axum::Json(views::operator(&operator, &nodes)))
}

/// Issues a new access token (signed by the payout address); the old one stops working.
#[utoipa::path(post, path = "/api/operators/{id}/token", tag = "operators", request_body = RotateTokenRequest,
    params(("id" = i64, Path, description = "Operator id")),
    responses((status = 200, body = TokenIssued), r::Invalid, r::Unauthorized, r::NotFound, r::Conflict,
        r::TooLarge, r::RateLimited, r::Unavailable))]
pub(crate) async fn rotate_token<S: Store>(
    State(state): St<S>,
    client: ClientKey,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<RotateTokenRequest>,
) -> Answer<axum::Json<TokenIssued>> {
    state.spend(client)?;
    let (operator, address) = operator_of(&state, id).await?;
    check_nonce(&req.nonce)?;
    let action = Action::RotateToken { operator: id };
    let proof = prove(
        &state,
        &action,
        &req.nonce,
        &[(&address, &req.signature, "signature")],
    )?;
    let token = new_token();
    state
        .store
        .set_operator_token(operator.id, &token_hash(&token), &proof, state.clock.now())
        .await?;
    Ok(axum::Json(TokenIssued { token }))
}

/// Lists operators with their nodes (admin).
#[utoipa::path(get, path = "/api/admin/operators", tag = "admin",
    responses((status = 200, body = [OperatorView]), r::Unauthorized, r::Unavailable),
    security(("admin_token" = [])))]
pub(crate) async fn list_operators<S: Store>(
    State(state): St<S>,
    _: Admin,
) -> Answer<axum::Json<Vec<OperatorView>>> {
    let nodes = state.store.nodes().await?;
    let operators = state.store.operators().await?;
    Ok(axum::Json(
        operators
            .iter()
            .map(|o| {
                let own: Vec<_> = nodes
                    .iter()
                    .filter(|n| n.operator == o.id)
                    .cloned()
                    .collect();
                views::operator(o, &own)
            })
            .collect(),
    ))
}

// --- helpers ----------------------------------------------------------------

fn parse_payout<S>(state: &AppState<S>, s: &str, field: &str) -> Result<PayoutAddress, ApiError> {
    resist_ownership::parse_address(s, state.settings.network)
        .map_err(|e| Invalid::new(field, e.to_string()).into())
}

fn validate_nodes<S>(state: &AppState<S>, specs: &[NodeSpec]) -> Result<Vec<NewNode>, ApiError> {
    if specs.len() > MAX_NODES_PER_OPERATOR {
        return Err(Invalid::new(
            "nodes",
            format!("at most {MAX_NODES_PER_OPERATOR} nodes per operator"),
        )
        .into());
    }
    let mut seen = HashSet::new();
    let mut nodes = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let spec = spec
            .validate(state.settings.endpoint_rules)
            .map_err(|e| e.within(&format!("nodes[{i}]")))?;
        if !seen.insert(spec.endpoint.clone()) {
            return Err(Invalid::new(
                format!("nodes[{i}]"),
                format!("{} is listed twice", spec.endpoint),
            )
            .into());
        }
        let (username, password) = match spec.credentials {
            Some(c) => (Some(c.username), Some(c.password)),
            None => (None, None),
        };
        nodes.push(NewNode {
            host: spec.endpoint.host,
            port: spec.endpoint.port,
            protocol: Protocol::Socks5,
            username,
            password,
        });
    }
    Ok(nodes)
}

fn check_nonce(nonce: &str) -> Result<(), ApiError> {
    if nonce.len() == 32 && nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Invalid::new(
            "nonce",
            "not a challenge nonce (32 hex digits from POST /api/challenges)",
        )
        .into())
    }
}

/// Rebuilds the message and verifies each address's signature over it.
fn prove<S>(
    state: &AppState<S>,
    action: &Action<'_>,
    nonce: &str,
    signers: &[(&PayoutAddress, &String, &str)],
) -> Result<ChangeProof, ApiError> {
    let message = action.message(&state.settings.network.to_string(), nonce);
    let mut signatures = Vec::with_capacity(signers.len());
    for (address, signature, field) in signers {
        resist_ownership::verify(address, &message, signature)
            .map_err(|e| ApiError::BadSignature(format!("{field}: {e}")))?;
        signatures.push(Signature {
            address: address.as_str().to_owned(),
            signature: (*signature).clone(),
        });
    }
    Ok(ChangeProof {
        nonce: nonce.to_owned(),
        action: action.name().to_owned(),
        message,
        signatures,
    })
}

async fn operator_of<S: Store>(
    state: &AppState<S>,
    id: i64,
) -> Result<(Operator, PayoutAddress), ApiError> {
    let operator = state
        .store
        .operator(OperatorId(id))
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    let address =
        resist_ownership::parse_address(operator.payout_address.as_str(), state.settings.network)
            .map_err(|e| {
            ApiError::Internal(format!(
                "stored payout address of operator {id} does not parse: {e}"
            ))
        })?;
    Ok((operator, address))
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
