//! Who is calling: the funder (the admin token), an operator (its access
//! token) or a probe (a request signed with its enrolled key). Each is an
//! extractor, so a handler that names one in its arguments cannot run for
//! anyone else, and the checks are written once.
//!
//! Tokens are compared as SHA-256 hashes (the admin token in constant time);
//! none is logged. A probe's signature covers the request's method, path and
//! time, and must be fresh by the measurement's clock-skew rule.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use resist_store::{Operator, Probe, Store};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::BearerHash;

/// The funder: the request carried the admin token.
#[derive(Debug)]
pub(crate) struct Admin;

impl<S: Store> FromRequestParts<Arc<AppState<S>>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState<S>>,
    ) -> Result<Self, ApiError> {
        let BearerHash(hash) = BearerHash::from_request_parts(parts, state).await?;
        check_admin_token(state, &hash)?;
        Ok(Admin)
    }
}

/// Constant-time check of a token's hash against the admin token's.
pub(crate) fn check_admin_token<S>(state: &AppState<S>, hash: &[u8; 32]) -> Result<(), ApiError> {
    if bool::from(hash.ct_eq(&state.settings.admin_token_hash)) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(
            "wrong admin token; use the one in the coordinator's admin-token file or RESIST_ADMIN_TOKEN",
        ))
    }
}

/// The operator whose access token the request carried.
#[derive(Debug)]
pub(crate) struct CallingOperator(pub Operator);

impl<S: Store> FromRequestParts<Arc<AppState<S>>> for CallingOperator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState<S>>,
    ) -> Result<Self, ApiError> {
        let BearerHash(hash) = BearerHash::from_request_parts(parts, state).await?;
        state
            .store
            .operator_by_token(&hash)
            .await?
            .map(CallingOperator)
            .ok_or(ApiError::Unauthorized(
                "unknown operator token; `resist operator rotate-token` issues a new one",
            ))
    }
}

/// The enrolled, enabled probe that signed this request.
#[derive(Debug)]
pub(crate) struct CallingProbe(pub Probe);

impl<S: Store> FromRequestParts<Arc<AppState<S>>> for CallingProbe {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState<S>>,
    ) -> Result<Self, ApiError> {
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 512)
            .ok_or(ApiError::Unauthorized(
                "probe requests need `Authorization: ResistProbe KEY.TIME.SIGNATURE`",
            ))?;
        let verified = resist_proto::probe_auth::verify(
            authorization,
            parts.method.as_str(),
            parts.uri.path(),
        )
        .ok_or(ApiError::Unauthorized(
            "the probe signature does not verify for this request: `resist probe` signs each request with its key file; check that --key is the enrolled key",
        ))?;
        if !state
            .settings
            .measurement
            .admission()
            .request_is_fresh(verified.at, state.clock.now())
        {
            return Err(ApiError::Unauthorized(
                "the probe's request time is too far from the coordinator's clock; synchronise the clock (NTP)",
            ));
        }
        let probe = state.store.probe_by_key(&verified.key).await?.ok_or(
            ApiError::Unauthorized(
                "this probe is not enrolled; the funder enrols it with `resist admin probe enrol`",
            ),
        )?;
        if !probe.enabled {
            return Err(ApiError::Unauthorized(
                "this probe is disabled; its reports are refused",
            ));
        }
        Ok(CallingProbe(probe))
    }
}
