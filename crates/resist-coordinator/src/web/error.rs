//! How a web page fails: an HTML page in the shared shell that says what
//! happened and what to do, never a JSON body (the browser shows it to a
//! person) and never an internal detail (that goes to the log, without the
//! client's address).

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use tracing::error;

use crate::error::ApiError;
use crate::web::layout;

/// A page could not be shown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum WebError {
    /// The page is the funder's and the request has no valid session
    /// (none, expired, or signed for another admin token): 303 to the login
    /// page.
    #[error("log in with the admin token first")]
    LoginNeeded,
    /// A path or query value the page cannot take (400); the text says which
    /// and what is accepted.
    #[error("{0}")]
    BadRequest(String),
    /// Nothing by that name (404); the text says where to look.
    #[error("{0}")]
    NotFound(String),
    /// A form was posted from another site, or from a browser that did not
    /// say where from (403): the funder's forms are posted only from the
    /// coordinator's own pages.
    #[error(
        "this form was sent from another site (or the browser did not say from where); open the coordinator's own /login page in a current browser and send it from there"
    )]
    CrossOrigin,
    /// Too many requests from this address (429).
    #[error("too many requests; wait {} s and reload the page", .0.as_secs().max(1))]
    RateLimited(Duration),
    /// The database is unreachable (503).
    #[error("the coordinator's database is unavailable; reload the page in a moment")]
    Unavailable,
    /// A bug or unexpected failure (500); the detail is only logged.
    #[error("internal error; the coordinator's log has the detail")]
    Internal(String),
}

impl WebError {
    /// The HTTP status of the answer.
    pub(crate) fn status_code(&self) -> StatusCode {
        match self {
            WebError::LoginNeeded => StatusCode::SEE_OTHER,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::CrossOrigin => StatusCode::FORBIDDEN,
            WebError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            WebError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::RateLimited(wait) => WebError::RateLimited(wait),
            ApiError::Unavailable => WebError::Unavailable,
            ApiError::NotFound(what) => WebError::NotFound(format!("{what} not found")),
            ApiError::Invalid(i) => WebError::BadRequest(i.to_string()),
            ApiError::Internal(detail) => WebError::Internal(detail),
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<resist_store::StoreError> for WebError {
    fn from(e: resist_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let WebError::LoginNeeded = self {
            return Redirect::to("/login").into_response();
        }
        if let WebError::Internal(detail) = &self {
            error!(%detail, "page failed");
        }
        let status = self.status_code();
        let title = status.canonical_reason().unwrap_or("Error");
        let body = html! {
            p.error role="alert" { (self.to_string()) }
            p { a href="/" { "Back to the dashboard" } }
        };
        let mut response = (status, Html(layout::page(title, body).into_string())).into_response();
        if let WebError::RateLimited(wait) = &self
            && let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}
