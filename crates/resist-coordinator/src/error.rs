//! Every way a request can fail, and the HTTP answer for it. Client mistakes
//! get a 4xx that names the field and says what to do; server failures get a
//! 5xx that says nothing about internals (the detail goes to the log, without
//! the client's address). `responses` describes the same answers to the
//! OpenAPI document, one type per status.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use resist_proto::Invalid;
use resist_proto::api::ErrorBody;
use resist_store::{ConflictKind, StoreError};
use tracing::error;

/// A request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// An input was refused (400, `invalid`).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The body is not the JSON this endpoint takes (400, `bad_request`).
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than the limit (413).
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// The signature does not prove control of the address (401, `bad_signature`).
    #[error("{0}")]
    BadSignature(String),
    /// The challenge nonce is unknown, used or expired (400, `challenge_invalid`).
    #[error("the challenge is unknown, already used or expired; request a new one and sign again")]
    ChallengeInvalid,
    /// A missing or wrong bearer token (401, `unauthorized`).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The change collides with existing data (409, `conflict`).
    #[error("{0}")]
    Conflict(ConflictKind),
    /// The request conflicts with the state of things (409, `conflict`);
    /// the message says what stands and what to do.
    #[error("{0}")]
    Refused(String),
    /// The coordinator is not configured for this (409, `not_configured`).
    #[error("{0}")]
    NotConfigured(String),
    /// The chain source failed or lied (503, `chain_unavailable`).
    #[error("the chain source failed: {0}")]
    ChainUnavailable(String),
    /// No such resource (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// No endpoint at this path (404, `not_found`): a typo or an old client.
    #[error("no such endpoint; the API is described at /api/openapi.json")]
    NoRoute,
    /// The endpoint exists but not with this method (405); the `Allow`
    /// header lists the methods it takes.
    #[error("this endpoint does not take this method; see the Allow header")]
    MethodNotAllowed,
    /// Too many requests from this address (429).
    #[error("too many requests; retry in {} s", .0.as_secs().max(1))]
    RateLimited(Duration),
    /// The database is unreachable (503).
    #[error("the coordinator's database is unavailable; retry later")]
    Unavailable,
    /// A bug or an unexpected failure (500); the detail is only logged.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) | ApiError::BadRequest(_) | ApiError::ChallengeInvalid => {
                StatusCode::BAD_REQUEST
            }
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadSignature(_) | ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Conflict(_) | ApiError::Refused(_) | ApiError::NotConfigured(_) => {
                StatusCode::CONFLICT
            }
            ApiError::ChainUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound(_) | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code in the body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid(_) => "invalid",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::TooLarge(_) => "too_large",
            ApiError::BadSignature(_) => "bad_signature",
            ApiError::ChallengeInvalid => "challenge_invalid",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Conflict(_) | ApiError::Refused(_) => "conflict",
            ApiError::NotConfigured(_) => "not_configured",
            ApiError::ChainUnavailable(_) => "chain_unavailable",
            ApiError::NotFound(_) | ApiError::NoRoute => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(kind) => ApiError::Conflict(kind),
            StoreError::NotFound { what } => ApiError::NotFound(what),
            StoreError::ChallengeInvalid => ApiError::ChallengeInvalid,
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed,
            ) => {
                error!(error = %e, "database unavailable");
                ApiError::Unavailable
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if let ApiError::Internal(detail) = &self {
            error!(%detail, "request failed");
        }
        let body = ErrorBody {
            error: self.code().to_owned(),
            message: match &self {
                ApiError::Conflict(ConflictKind::PayoutAddress) => format!(
                    "{self}; an operator registers once and adds nodes with `resist operator add-node`"
                ),
                ApiError::Conflict(ConflictKind::Endpoint) => {
                    format!("{self}; each node endpoint can be registered once")
                }
                _ => self.to_string(),
            },
            field: match &self {
                ApiError::Invalid(i) => Some(i.field.clone()),
                _ => None,
            },
        };
        let mut response = (status, Json(body)).into_response();
        match &self {
            ApiError::RateLimited(wait) => {
                if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            ApiError::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

/// The error answers, one type per status, so that each endpoint lists
/// exactly the ones it can return: `responses((status = 200, body = T),
/// responses::Invalid, responses::NotFound)`. Each is an [`ErrorBody`].
pub(crate) mod responses {
    // Only the types are used, by the document; nothing builds a value.
    #![allow(dead_code)]

    use resist_proto::api::ErrorBody;
    use utoipa::IntoResponses;

    /// A field, a path parameter or the body was refused: `invalid` names the
    /// input in `field`; `bad_request` is a body that is not this endpoint's JSON
    /// or lacks `Content-Type: application/json`; `challenge_invalid` is a nonce
    /// that is unknown, used or expired.
    #[derive(IntoResponses)]
    #[response(status = 400)]
    pub(crate) struct Invalid(ErrorBody);

    /// A missing or wrong bearer token (`unauthorized`), or a signature that does
    /// not prove control of the payout address (`bad_signature`).
    #[derive(IntoResponses)]
    #[response(status = 401, headers(("WWW-Authenticate" = String, description = "`Bearer` when the token is missing or wrong")))]
    pub(crate) struct Unauthorized(ErrorBody);

    /// No such operator, node or probe (`not_found`).
    #[derive(IntoResponses)]
    #[response(status = 404)]
    pub(crate) struct NotFound(ErrorBody);

    /// The change collides with stored data, e.g. a payout address or endpoint
    /// that is already registered (`conflict`).
    #[derive(IntoResponses)]
    #[response(status = 409)]
    pub(crate) struct Conflict(ErrorBody);

    /// The body is larger than `limits.max_body_bytes` (`too_large`).
    #[derive(IntoResponses)]
    #[response(status = 413)]
    pub(crate) struct TooLarge(ErrorBody);

    /// Too many requests from this address (`rate_limited`).
    #[derive(IntoResponses)]
    #[response(status = 429, headers(("Retry-After" = u64, description = "Seconds to wait before the next request")))]
    pub(crate) struct RateLimited(ErrorBody);

    /// The coordinator's database is unreachable (`unavailable`); retry later.
    #[derive(IntoResponses)]
    #[response(status = 503)]
    pub(crate) struct Unavailable(ErrorBody);
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak() {
        let e = ApiError::Internal(
            "connection to 10.0.0.5:5432 refused: password authentication failed".into(),
        );
        assert_eq!(e.to_string(), "internal error");
        assert_eq!(e.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn store_errors_map_to_statuses() {
        let e: ApiError = StoreError::Conflict(ConflictKind::Endpoint).into();
        assert_eq!(e.status_code(), StatusCode::CONFLICT);
        let e: ApiError = StoreError::ChallengeInvalid.into();
        assert_eq!(e.code(), "challenge_invalid");
        let e: ApiError = StoreError::Database(sqlx::Error::PoolTimedOut).into();
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
