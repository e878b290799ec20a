//! The distributor's endpoints: proxies for users (`GET /proxies`, a page for
//! people, and `GET /api/proxies`, JSON), and the funder's invitations
//! (`/api/admin/invitations`).
//!
//! It exists so that users get working proxies while a censor posing as
//! users learns only a few. Who asks is a requester key: the requester's
//! IPv4 /16 or IPv6 /32 (from the TCP peer address; behind a reverse proxy
//! every user shares the proxy's key, as for the other rate limits), or an
//! invitation token, given as `?invite=TOKEN` or `Authorization: Bearer
//! TOKEN`. `resist_distribute` maps the key to a bucket and the bucket to a
//! few nodes whose newest classified window (the newest with censored-region
//! reports, as `measure::node_status` classifies them) is OK, so a node
//! found BLOCKED or DOWN leaves every bucket with the next request.
//!
//! Each key has its own small request budget. A token that is unknown or
//! revoked is refused (401) and spends the budget of the requester's
//! network. Nothing here logs a requester's address, key, bucket or token.
//!
//! The page itself is drawn by `web::proxies`, in the HTML stack of every
//! other page.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::{Quota, RateLimiter};
use rand::RngCore;
use resist_distribute::{Candidate, RequesterKey, Subnet};
use resist_measure::Status;
use resist_proto::Invalid;
use resist_proto::api::NodeStatusView;
use resist_proto::distribution::{
    CreateInvitationsRequest, InvitationView, InvitationsIssued, IssuedInvitation,
    MAX_INVITATIONS_PER_REQUEST, MAX_LABEL_CHARS, MAX_TOKEN_LEN, ProxiesView, ProxyView,
};
use resist_store::{Invitation, InvitationId, NewInvitation, Node, Store};
use serde::Deserialize;

use crate::auth::Admin;
use crate::config::DistributionSettings;
use crate::error::ApiError;
use crate::error::responses as r;
use crate::extract::{ApiJson, ApiPath, ApiQuery, ClientKey, token_hash};
use crate::web::proxies;
use crate::{AppState, measure};

type St<S> = State<Arc<AppState<S>>>;

/// Per-requester-key request budget of the distributor.
pub(crate) type Limiter = governor::DefaultKeyedRateLimiter<RequesterKey>;

/// The limiter for `settings`' rate and burst (a zero counts as one).
pub(crate) fn limiter(settings: &DistributionSettings) -> Limiter {
    let per_minute = NonZeroU32::new(settings.requests_per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(settings.burst).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst))
}

/// What an empty answer says.
const NO_PROXY: &str = "no working proxy right now; try again later";
/// What an unknown or revoked invitation gets.
const BAD_INVITATION: &str = "this invitation is unknown or was revoked; ask whoever gave it to you for a new one, or ask without one";

// --- who is asking ----------------------------------------------------------------

/// Spends one request of `key`'s budget, or says how long to wait.
fn spend<S>(state: &AppState<S>, key: RequesterKey) -> Result<(), ApiError> {
    use governor::clock::{Clock as _, DefaultClock};
    state.proxies_limiter.check_key(&key).map_err(|not_until| {
        ApiError::RateLimited(not_until.wait_time_from(DefaultClock::default().now()))
    })
}

/// The invitation token of a request: a non-empty `?invite=`, else a bearer
/// token. `Err` for an `Authorization` header that is not `Bearer TOKEN`.
fn presented_token<'a>(
    query: Option<&'a str>,
    headers: &'a HeaderMap,
) -> Result<Option<&'a str>, ApiError> {
    if let Some(t) = query.map(str::trim).filter(|t| !t.is_empty()) {
        return Ok(Some(t));
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(Some)
        .ok_or(ApiError::Unauthorized(
            "give an invitation as `Authorization: Bearer TOKEN` or `?invite=TOKEN`, or ask without one",
        ))
}

/// The requester's key, with one request of its budget spent.
async fn requester<S: Store>(
    state: &AppState<S>,
    client: ClientKey,
    token: Option<&str>,
) -> Result<RequesterKey, ApiError> {
    let network = RequesterKey::of_addr(client.0);
    let Some(token) = token else {
        spend(state, network)?;
        return Ok(network);
    };
    let invitation = if token.len() <= MAX_TOKEN_LEN {
        state.store.invitation_by_token(&token_hash(token)).await?
    } else {
        None
    };
    match invitation {
        Some(Invitation {
            id,
            revoked_at: None,
            ..
        }) => {
            // Ids are positive (database identities).
            let key = RequesterKey::Invitation(id.0.unsigned_abs());
            spend(state, key)?;
            Ok(key)
        }
        _ => {
            spend(state, network)?;
            Err(ApiError::Unauthorized(BAD_INVITATION))
        }
    }
}

// --- which nodes -------------------------------------------------------------------

/// The status of a node's newest window with censored-region reports
/// (UNKNOWN windows say nothing about censored users), if any.
fn latest_classified(view: &NodeStatusView) -> Option<Status> {
    view.history
        .iter()
        .map(|w| w.status)
        .find(|s| *s != Status::Unknown)
}

/// The nodes whose latest classified status is OK.
async fn eligible<S: Store>(state: &AppState<S>) -> Result<Vec<Node>, ApiError> {
    let nodes = state.store.nodes().await?;
    let windows = state.settings.distribution.status_windows;
    let ok: HashSet<i64> = measure::node_status(state, &nodes, windows)
        .await?
        .iter()
        .filter(|v| latest_classified(v) == Some(Status::Ok))
        .map(|v| v.node)
        .collect();
    Ok(nodes.into_iter().filter(|n| ok.contains(&n.id.0)).collect())
}

/// The proxies shown to `key`, best first.
async fn proxies_for<S: Store>(
    state: &AppState<S>,
    key: RequesterKey,
) -> Result<Vec<ProxyView>, ApiError> {
    let nodes = eligible(state).await?;
    let candidates: Vec<Candidate> = nodes
        .iter()
        .map(|n| Candidate {
            id: n.id.0.unsigned_abs(),
            subnet: Subnet::of_host(&n.host),
        })
        .collect();
    let by_id: HashMap<u64, &Node> = nodes.iter().map(|n| (n.id.0.unsigned_abs(), n)).collect();
    Ok(state
        .settings
        .distribution
        .distributor
        .answer(&key, &candidates)
        .iter()
        .filter_map(|id| by_id.get(id))
        .map(|n| proxy_view(n))
        .collect())
}

fn proxy_view(n: &Node) -> ProxyView {
    let credentials = n.username.as_deref().zip(n.password.as_deref());
    let links = resist_proto::share::links(&n.host, n.port, credentials);
    ProxyView {
        host: n.host.clone(),
        port: n.port,
        username: n.username.clone(),
        password: n.password.clone(),
        tg: links.tg,
        https: links.tme,
    }
}

// --- JSON --------------------------------------------------------------------------

/// `?invite=TOKEN`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct InviteQuery {
    /// An invitation token from the funder (`Authorization: Bearer TOKEN` works too).
    /// Without one, the requester's network (IPv4 /16, IPv6 /32) is the key.
    #[param(max_length = 128)]
    invite: Option<String>,
}

/// Proxies for the requester: the nodes of its bucket whose latest status is
/// OK, with `tg://socks` and `https://t.me/socks` links. The requester is its
/// network (IPv4 /16, IPv6 /32), or an invitation given as `?invite=TOKEN`
/// or `Authorization: Bearer TOKEN`; the answer stays the same for a
/// requester until a node changes status. Rate-limited per requester.
#[utoipa::path(get, path = "/api/proxies", tag = "users", params(InviteQuery),
    responses(
        (status = 200, body = ProxiesView, headers(("Cache-Control" = String, description = "`no-store`: the answer holds passwords"))),
        r::Invalid, r::Unauthorized, r::RateLimited, r::Unavailable))]
pub(crate) async fn proxies_json<S: Store>(
    State(state): St<S>,
    client: ClientKey,
    ApiQuery(q): ApiQuery<InviteQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = presented_token(q.invite.as_deref(), &headers)?;
    let key = requester(&state, client, token).await?;
    let proxies = proxies_for(&state, key).await?;
    let message = proxies.is_empty().then(|| NO_PROXY.to_owned());
    let mut response = axum::Json(ProxiesView { proxies, message }).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

// --- the page ----------------------------------------------------------------------

/// The page's security headers: nothing may load but inline styles and
/// `data:` images, forms go only here, nothing frames it, no referrer leaks
/// a token, nothing is cached.
const PAGE_HEADERS: [(header::HeaderName, &str); 5] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CACHE_CONTROL, "no-store"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
];

/// `GET /proxies`: the same answer as `/api/proxies`, as a page for people
/// on a phone. Errors are pages too, with the same statuses.
pub(crate) async fn proxies_page<S: Store>(
    State(state): St<S>,
    client: ClientKey,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let invite = query.ok().and_then(|Query(pairs)| {
        pairs
            .into_iter()
            .find(|(k, _)| k == "invite")
            .map(|(_, v)| v)
    });
    // The page takes invitations in the query only (a browser sends no
    // bearer token), so an empty header map.
    let no_headers = HeaderMap::new();
    let answer = async {
        let token = presented_token(invite.as_deref(), &no_headers)?;
        let key = requester(&state, client, token).await?;
        let proxies = proxies_for(&state, key).await?;
        Ok::<_, ApiError>((token.is_some(), proxies))
    }
    .await;
    let (status, body) = match answer {
        Ok((invited, proxies)) => (StatusCode::OK, proxies::proxies(&proxies, invited)),
        Err(e) => {
            if let ApiError::Internal(detail) = &e {
                tracing::error!(%detail, "proxies page failed");
            }
            (e.status_code(), proxies::error(&e))
        }
    };
    let mut response = (status, body).into_response();
    for (name, value) in PAGE_HEADERS {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

// --- invitations (admin) -----------------------------------------------------------

fn invitation_view(i: &Invitation) -> InvitationView {
    InvitationView {
        id: i.id.0,
        label: i.label.clone(),
        created_at: i.created_at.seconds(),
        revoked_at: i.revoked_at.map(|t| t.seconds()),
    }
}

/// A fresh invitation token: 16 random bytes in hex.
fn new_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Creates invitation tokens; each is shown in this answer only (admin).
#[utoipa::path(post, path = "/api/admin/invitations", tag = "admin", request_body = CreateInvitationsRequest,
    responses((status = 201, body = InvitationsIssued), r::Invalid, r::Unauthorized, r::TooLarge,
        r::Unavailable),
    security(("admin_token" = [])))]
pub(crate) async fn create_invitations<S: Store>(
    State(state): St<S>,
    _: Admin,
    ApiJson(req): ApiJson<CreateInvitationsRequest>,
) -> Result<(StatusCode, axum::Json<InvitationsIssued>), ApiError> {
    let label = req.label.unwrap_or_default();
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(Invalid::new("label", format!("at most {MAX_LABEL_CHARS} characters")).into());
    }
    if label.chars().any(char::is_control) {
        return Err(Invalid::new("label", "no control characters (line breaks, tabs, …)").into());
    }
    let count = req.count.unwrap_or(1);
    if !(1..=MAX_INVITATIONS_PER_REQUEST).contains(&count) {
        return Err(Invalid::new(
            "count",
            format!("give 1 to {MAX_INVITATIONS_PER_REQUEST}; ask again for more"),
        )
        .into());
    }
    let tokens: Vec<String> = (0..count).map(|_| new_token()).collect();
    let new: Vec<NewInvitation> = tokens
        .iter()
        .map(|t| NewInvitation {
            token_hash: token_hash(t),
            label: label.clone(),
        })
        .collect();
    let created = state
        .store
        .create_invitations(&new, state.clock.now())
        .await?;
    // Labels may name people: not logged.
    tracing::info!(count, "invitations created");
    Ok((
        StatusCode::CREATED,
        axum::Json(InvitationsIssued {
            invitations: created
                .iter()
                .zip(tokens)
                .map(|(i, token)| IssuedInvitation {
                    id: i.id.0,
                    label: i.label.clone(),
                    created_at: i.created_at.seconds(),
                    token,
                })
                .collect(),
        }),
    ))
}

/// Lists invitations, revoked ones included, without their tokens (admin).
#[utoipa::path(get, path = "/api/admin/invitations", tag = "admin",
    responses((status = 200, body = [InvitationView]), r::Unauthorized, r::Unavailable),
    security(("admin_token" = [])))]
pub(crate) async fn list_invitations<S: Store>(
    State(state): St<S>,
    _: Admin,
) -> Result<axum::Json<Vec<InvitationView>>, ApiError> {
    let all = state.store.invitations().await?;
    Ok(axum::Json(all.iter().map(invitation_view).collect()))
}

/// Revokes an invitation: its token is refused from the next request on.
/// Revoking again changes nothing (admin).
#[utoipa::path(post, path = "/api/admin/invitations/{id}/revoke", tag = "admin",
    params(("id" = i64, Path, description = "Invitation id")),
    responses((status = 200, body = InvitationView), r::Invalid, r::Unauthorized, r::NotFound,
        r::Unavailable),
    security(("admin_token" = [])))]
pub(crate) async fn revoke_invitation<S: Store>(
    State(state): St<S>,
    _: Admin,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<InvitationView>, ApiError> {
    let revoked = state
        .store
        .revoke_invitation(InvitationId(id), state.clock.now())
        .await?;
    tracing::info!(invitation = revoked.id.0, "invitation revoked");
    Ok(axum::Json(invitation_view(&revoked)))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn tokens_come_from_the_query_first_then_the_bearer_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented_token(None, &headers).unwrap(), None);
        assert_eq!(presented_token(Some("  "), &headers).unwrap(), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(presented_token(None, &headers).unwrap(), Some("abc"));
        assert_eq!(presented_token(Some("q"), &headers).unwrap(), Some("q"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(presented_token(None, &headers).is_err());
    }
}
