#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

use std::time::Duration;

pub use reqwest::Method;
use reqwest::StatusCode;
use resist_proto::api::ErrorBody;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Time allowed for one API call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A call to the coordinator failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL given for the coordinator is not usable.
    #[error(
        "{url:?} is not a coordinator URL ({why}); give e.g. https://coordinator.example.org or http://127.0.0.1:8740"
    )]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The coordinator could not be reached or did not answer in time.
    #[error("cannot reach the coordinator at {url}: {source}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The coordinator refused the request; `message` is its explanation.
    #[error("the coordinator refused ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: StatusCode,
        /// Stable error code (`invalid`, `conflict`, …).
        code: String,
        /// The field at fault, if any.
        field: Option<String>,
        /// The server's explanation.
        message: String,
    },
    /// The answer was not the JSON expected (a different service on that URL?).
    #[error("unexpected answer from {url}: {why}")]
    Unexpected {
        /// The URL called.
        url: String,
        /// What was wrong.
        why: String,
    },
}

/// A connection to one coordinator.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    bearer: Option<String>,
}

impl Client {
    /// A client for the coordinator at `base` (`http://` or `https://`).
    pub fn new(base: &str) -> Result<Self, ClientError> {
        let url = reqwest::Url::parse(base).map_err(|e| ClientError::BadUrl {
            url: base.to_owned(),
            why: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ClientError::BadUrl {
                url: base.to_owned(),
                why: "the scheme must be http or https".into(),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .user_agent(concat!("resist/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::BadUrl {
                url: base.to_owned(),
                why: e.to_string(),
            })?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
            bearer: None,
        })
    }

    /// The same client, sending `token` as its bearer token.
    pub fn with_token(mut self, token: &str) -> Self {
        self.bearer = Some(token.to_owned());
        self
    }

    /// The coordinator's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call::<(), T>(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body (or none).
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        self.call(Method::POST, path, body).await
    }

    /// Any method with an optional JSON body.
    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let authorization = self.bearer.as_ref().map(|t| format!("Bearer {t}"));
        self.call_authorized(method, path, authorization.as_deref(), body)
            .await
    }

    /// Any method with an explicit `Authorization` header value (probes sign
    /// each request, see `resist_proto::probe_auth`).
    pub async fn call_authorized<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(value) = authorization {
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ClientError::Unexpected {
                url,
                why: e.to_string(),
            });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ClientError::Refused {
                status,
                code: body.error,
                field: body.field,
                message: body.message,
            }),
            Err(_) => Err(ClientError::Unexpected {
                url,
                why: format!(
                    "status {status} without an error body; is this a resist coordinator?"
                ),
            }),
        }
    }
}
