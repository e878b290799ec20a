//! The coordinator's web pages, for people with a browser: the funder's
//! dashboard (admin session) and each operator's public page.
//!
//! Server-rendered HTML (maud, which escapes by default) with charts as
//! inline SVG drawn here; no script, no font, nothing from another host, so
//! every page works without JavaScript and on a closed network. The pages
//! are not part of the JSON API and stay out of its OpenAPI document.
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /` | funder | network chart, nodes (with endpoints), probes, operators |
//! | `GET /nodes/{id}` | funder | one node window by window |
//! | `GET /login`, `POST /login`, `POST /logout` | funder | the session ([`auth`]) |
//! | `GET /operator/{payout address}` | anyone | the operator's nodes by id, no endpoints |
//!
//! `?windows=N` sets how many measurement windows of history a page shows.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use resist_store::Store;

use crate::AppState;

pub(crate) mod auth;
pub(crate) mod chart;
pub(crate) mod epochs;
pub(crate) mod error;
pub(crate) mod funder;
pub(crate) mod history;
pub(crate) mod layout;
pub(crate) mod operator;
pub(crate) mod proxies;

use error::WebError;

/// The pages, each answer with the security headers of
/// [`layout::security_headers`].
pub(crate) fn routes<S: Store>() -> Router<Arc<AppState<S>>> {
    Router::new()
        .route("/", get(funder::dashboard::<S>))
        .route("/nodes/{id}", get(funder::node::<S>))
        .route("/login", get(auth::login_form::<S>).post(auth::login::<S>))
        .route("/logout", post(auth::logout))
        .route("/operator/{address}", get(operator::page::<S>))
        .route("/epochs", get(epochs::list::<S>))
        .route("/epochs/{n}", get(epochs::page::<S>))
        .layer(axum::middleware::map_response(layout::security_headers))
}

/// The `windows` parameter of a page's query string: `default` if absent,
/// else a whole number in `1..=max`. Other parameters are ignored.
pub(crate) fn windows_param(query: Option<&str>, default: u32, max: u32) -> Result<u32, WebError> {
    let Some(value) = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "windows")
            .map(|(_, v)| v.into_owned())
    }) else {
        return Ok(default);
    };
    match value.trim().parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(WebError::BadRequest(format!(
            "windows={value:?}: give a whole number of measurement windows from 1 to {max}"
        ))),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn the_pages_are_not_in_the_api_document() {
        use utoipa::OpenApi as _;
        let doc = crate::ApiDoc::openapi();
        let paths: Vec<&String> = doc.paths.paths.keys().collect();
        assert!(
            paths
                .iter()
                .all(|p| p.starts_with("/api/") || *p == "/healthz"),
            "{paths:?}"
        );
    }

    #[test]
    fn windows_are_bounded() {
        assert_eq!(windows_param(None, 144, 1000).unwrap(), 144);
        assert_eq!(windows_param(Some("a=b"), 144, 1000).unwrap(), 144);
        assert_eq!(windows_param(Some("windows=6&x=1"), 144, 1000).unwrap(), 6);
        for bad in [
            "windows=0",
            "windows=1001",
            "windows=-1",
            "windows=many",
            "windows=",
        ] {
            let e = windows_param(Some(bad), 144, 1000).unwrap_err();
            assert!(e.to_string().contains("from 1 to 1000"), "{bad}: {e}");
        }
    }
}
