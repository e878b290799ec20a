//! Request extractors that answer in the API's own error format: JSON bodies,
//! path parameters, bearer tokens, and the rate-limit key of the client's
//! address. axum's own extractors answer a bad request with a plain-text
//! body; every answer of this API is an `ErrorBody` in JSON, so handlers use
//! these wrappers instead.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use resist_proto::Invalid;
use resist_store::Store;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;

/// A JSON body; malformed input becomes a 400 that quotes serde's reason
/// (which names the unknown or missing field), a body over the limit a 413.
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub T);

impl<S: Store, T: DeserializeOwned> FromRequest<Arc<AppState<S>>> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState<S>>) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::BadRequest(
                "send the body with `Content-Type: application/json`".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge(state.settings.limits.max_body_bytes)
            } else {
                ApiError::BadRequest(e.body_text())
            }
        })?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => {
                // JSON has one kind of number: to JSON Schema (and to
                // JavaScript clients) 1080.0 is the integer 1080, which
                // serde refuses for a `u16`. Such a body is read again with
                // whole-number floats as integers; the first error stands if
                // that does not help.
                if let Some(v) = whole_floats_as_integers(&bytes)
                    .and_then(|value| serde_json::from_value::<T>(value).ok())
                {
                    return Ok(ApiJson(v));
                }
                Err(ApiError::BadRequest(format!(
                    "the JSON does not fit this endpoint: {}",
                    e.body_text().trim_start_matches(
                        "Failed to deserialize the JSON body into the target type: "
                    )
                )))
            }
            Err(JsonRejection::JsonSyntaxError(_)) => {
                Err(ApiError::BadRequest("the body is not valid JSON".into()))
            }
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

/// Whether the body is declared as JSON: `application/json` or
/// `application/*+json`, with any parameters (what axum's `Json` takes).
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(essence) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
    else {
        return false;
    };
    let essence = essence.trim().to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The body with every float that is a whole number (`1080.0`, `1e3`)
/// replaced by that integer, or `None` if there is none (or the body is not
/// JSON).
fn whole_floats_as_integers(body: &[u8]) -> Option<serde_json::Value> {
    fn walk(v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::Number(n) => {
                let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0) else {
                    return false;
                };
                // Exactly representable and in range, or left alone.
                let whole = format!("{f:.0}");
                match whole.parse::<i64>() {
                    Ok(i) => *v = i.into(),
                    Err(_) => match whole.parse::<u64>() {
                        Ok(u) => *v = u.into(),
                        Err(_) => return false,
                    },
                }
                true
            }
            serde_json::Value::Array(items) => items.iter_mut().fold(false, |c, i| walk(i) | c),
            serde_json::Value::Object(map) => map.values_mut().fold(false, |c, i| walk(i) | c),
            _ => false,
        }
    }
    let mut value = serde_json::from_slice(body).ok()?;
    walk(&mut value).then_some(value)
}

/// Path parameters; one that does not parse becomes a 400 `invalid` whose
/// `field` is the parameter's name (`id`, `node`), as in the OpenAPI
/// document.
#[derive(Debug)]
pub(crate) struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let e = match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => return Ok(ApiPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => e.into_kind(),
            // The route has no parameters for this extractor: a bug in the
            // router, not the client's doing.
            Err(e) => return Err(ApiError::Internal(format!("path parameters: {e}"))),
        };
        // Tuples report the position of the bad parameter; the client knows
        // it by name.
        let names: Vec<String> = match RawPathParams::from_request_parts(parts, state).await {
            Ok(params) => params.iter().map(|(name, _)| name.to_owned()).collect(),
            Err(_) => Vec::new(),
        };
        let name_at = |index: usize| {
            names
                .get(index)
                .cloned()
                .unwrap_or_else(|| format!("path parameter {}", index + 1))
        };
        Err(match e {
            ErrorKind::ParseErrorAtKey {
                key,
                value,
                expected_type,
            } => Invalid::new(key, not_a(&value, expected_type)).into(),
            ErrorKind::ParseErrorAtIndex {
                index,
                value,
                expected_type,
            } => Invalid::new(name_at(index), not_a(&value, expected_type)).into(),
            ErrorKind::InvalidUtf8InPathParam { key } => {
                Invalid::new(key, "not UTF-8 once percent-decoded").into()
            }
            ErrorKind::DeserializeError {
                key,
                value,
                message,
            } => Invalid::new(key, format!("{value:?}: {message}")).into(),
            // A lone parameter (`Path<i64>`) is reported without its name.
            ErrorKind::ParseError {
                value,
                expected_type,
            } => Invalid::new(name_at(0), not_a(&value, expected_type)).into(),
            other => ApiError::Internal(format!("path parameters: {other}")),
        })
    }
}

/// Why a path parameter was refused, in words: every parameter of this API
/// is an id (an `i64`; a larger number does not parse either).
fn not_a(value: &str, expected_type: &str) -> String {
    if matches!(
        expected_type,
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64"
    ) {
        format!("{value:?} is not an id; ids are whole numbers such as 7")
    } else {
        format!("{value:?} is not a valid {expected_type}")
    }
}

/// SHA-256 of the bearer token in `Authorization`; the token itself is
/// hashed at once and never kept or logged.
#[derive(Debug)]
pub(crate) struct BearerHash(pub [u8; 32]);

impl<S: Send + Sync> FromRequestParts<S> for BearerHash {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized(
                "this endpoint needs `Authorization: Bearer TOKEN`",
            ))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or(ApiError::Unauthorized(
                "the Authorization header must be `Bearer TOKEN`",
            ))?;
        Ok(BearerHash(token_hash(token)))
    }
}

/// SHA-256 of a token, as stored and compared.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The rate-limit key of the client: its IPv4 address, or its IPv6 /64 (one
/// household or server usually holds a whole /64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey(pub IpAddr);

impl ClientKey {
    /// The key for a peer address.
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                ClientKey(IpAddr::V6(bits.into()))
            }
            v4 => ClientKey(v4),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| ClientKey::of(peer.ip()))
            .ok_or_else(|| ApiError::Internal("no peer address on the request".into()))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn ipv6_clients_share_their_64() {
        let a = ClientKey::of("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = ClientKey::of("2001:db8:1:2:bbbb::2".parse().unwrap());
        let c = ClientKey::of("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            ClientKey::of("::ffff:192.0.2.1".parse().unwrap()),
            ClientKey::of("192.0.2.1".parse().unwrap())
        );
    }
}

/// A query string; a malformed one becomes a 400 naming the parameter.
#[derive(Debug)]
pub(crate) struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(e) => {
                let text = e.body_text();
                let detail = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                let (field, problem) = match detail.split_once(": ") {
                    Some((f, p)) if !f.contains(' ') => (f.to_owned(), p.to_owned()),
                    _ => ("query".to_owned(), detail.to_owned()),
                };
                Err(Invalid::new(field, problem).into())
            }
        }
    }
}
