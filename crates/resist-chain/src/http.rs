//! The HTTP client Esplora and bitcoind share: one timeout for the whole
//! call, no redirects, and bodies read up to a limit and no further.

use std::time::Duration;

use crate::error::ChainError;

/// A client whose every request ends within `timeout` (connect, headers and
/// body). Redirects are not followed: a chain source does not move, and a
/// redirect must not carry bitcoind's credentials elsewhere.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, ChainError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("resist/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ChainError::Connect {
            backend: "http",
            detail: e.to_string(),
        })
}

/// Sends `request` and reads the status and at most `limit` bytes of body.
pub(crate) async fn send(
    backend: &'static str,
    what: &str,
    timeout: Duration,
    request: reqwest::RequestBuilder,
    limit: usize,
) -> Result<(reqwest::StatusCode, Vec<u8>), ChainError> {
    let mut response = request
        .send()
        .await
        .map_err(|e| transport(backend, what, timeout, &e))?;
    let status = response.status();
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(too_large(backend, what, limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport(backend, what, timeout, &e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large(backend, what, limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body))
}

fn too_large(backend: &'static str, what: &str, limit: usize) -> ChainError {
    ChainError::TooLarge {
        backend,
        what: what.to_owned(),
        limit,
    }
}

fn transport(
    backend: &'static str,
    what: &str,
    timeout: Duration,
    e: &reqwest::Error,
) -> ChainError {
    if e.is_timeout() {
        ChainError::Timeout {
            backend,
            what: what.to_owned(),
            after: timeout,
        }
    } else {
        // The source chain says more than reqwest's top-level message.
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        ChainError::Connect { backend, detail }
    }
}
