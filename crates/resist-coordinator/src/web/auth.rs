//! The funder's browser session: a login form for the admin token, and a
//! cookie the server can verify without storing anything.
//!
//! The funder's pages list node endpoints, the very list a censor wants, so
//! they need the admin token. A browser cannot send `Authorization: Bearer`
//! by itself, so `POST /login` takes the token from a form once, compares it
//! in constant time (`auth::check_admin_token`, the API's own check) and sets a
//! cookie:
//!
//! ```text
//! resist_session=v1.<expiry, Unix seconds>.<HMAC-SHA256(session key, "v1.<expiry>"), hex>
//! ```
//!
//! Why this and not the token itself in the cookie:
//! - the cookie expires ([`SESSION_TTL`], checked against the coordinator's
//!   clock), and a stolen one is no API credential;
//! - the session key is HMAC-SHA256(admin token hash, a fixed label), so
//!   nothing is stored, every coordinator that shares the admin token
//!   accepts the session (they may share one PostgreSQL database behind a
//!   load balancer), a database leak does not forge sessions, and
//!   **rotating the admin token ends every session at once**;
//! - the tag is checked in constant time (`Mac::verify_slice`).
//!
//! Logout deletes the cookie in the browser. Being stateless, the server
//! cannot revoke one cookie it issued: a copied cookie works until it
//! expires, or until the admin token changes.
//!
//! The cookie is `HttpOnly` (no script reads it; the pages have none
//! anyway), `SameSite=Strict` (no other site's page sends it, which is the
//! CSRF defence of every authenticated request), `Path=/`, and has a
//! `Max-Age` (relative, so a browser whose clock is off keeps it as long).
//! It is `Secure` when the request came over https, which the coordinator
//! (plain HTTP itself) learns only from a TLS-terminating reverse proxy's
//! `X-Forwarded-Proto: https` or `Forwarded: proto=https`. A client lying in
//! those headers only gets a cookie its own browser will not send over
//! plain HTTP. Behind such a proxy, make it set the header.
//!
//! The two forms (`POST /login`, `POST /logout`) also refuse a request whose
//! `Origin` is not this host, or whose `Sec-Fetch-Site` says another site
//! sent it, and `POST /login` spends the client's rate-limit budget, so the
//! token cannot be guessed at speed.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use maud::{Markup, html};
use resist_clock::UnixTime;
use resist_store::Store;
use sha2::Sha256;

use crate::AppState;
use crate::auth::check_admin_token;
use crate::extract::{ClientKey, token_hash};
use crate::web::error::WebError;
use crate::web::layout;

/// The cookie's name.
pub(crate) const COOKIE: &str = "resist_session";
/// How long a login lasts.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Label the session key is derived under (a new label ends every session).
const KEY_LABEL: &[u8] = b"resist dashboard session key v1";
/// Longest cookie value looked at; a real one is about 80 bytes.
const MAX_COOKIE_LEN: usize = 128;
/// Longest admin token the form takes (the API takes the same).
const MAX_TOKEN_LEN: usize = 256;

type HmacSha256 = Hmac<Sha256>;

/// Why a session cookie was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SessionError {
    /// Not of the form `v1.<expiry>.<tag>` (or too long).
    #[error("malformed session cookie; log in again")]
    Malformed,
    /// The tag does not verify: forged, altered, or issued under another
    /// admin token.
    #[error("session not issued by this coordinator (or the admin token changed); log in again")]
    BadTag,
    /// Past its expiry, or claiming one further away than a session lasts.
    #[error("session expired; log in again")]
    Expired,
}

fn mac(admin_token_hash: &[u8; 32]) -> HmacSha256 {
    hmac_with(&keyed(admin_token_hash, KEY_LABEL))
}

/// HMAC-SHA256 of `message` under a 32-byte key.
fn keyed(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut m = hmac_with(key);
    m.update(message);
    m.finalize().into_bytes().into()
}

/// An HMAC-SHA256 instance under a 32-byte key, without a fallible
/// constructor: HMAC pads keys shorter than the hash's 64-byte block with
/// zeros, so the padded key is the same key.
fn hmac_with(key: &[u8; 32]) -> HmacSha256 {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    <HmacSha256 as KeyInit>::new(&block.into())
}

/// A session cookie value valid from `now` for [`SESSION_TTL`].
pub(crate) fn issue(admin_token_hash: &[u8; 32], now: UnixTime) -> String {
    let payload = format!("v1.{}", now.plus(SESSION_TTL).seconds());
    let mut m = mac(admin_token_hash);
    m.update(payload.as_bytes());
    format!("{payload}.{}", hex::encode(m.finalize().into_bytes()))
}

/// Checks a session cookie value at `now`.
pub(crate) fn verify(
    admin_token_hash: &[u8; 32],
    value: &str,
    now: UnixTime,
) -> Result<(), SessionError> {
    if value.len() > MAX_COOKIE_LEN {
        return Err(SessionError::Malformed);
    }
    let (payload, tag) = value.rsplit_once('.').ok_or(SessionError::Malformed)?;
    let expiry: i64 = payload
        .strip_prefix("v1.")
        .filter(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|e| e.parse().ok())
        .ok_or(SessionError::Malformed)?;
    let tag = hex::decode(tag).map_err(|_| SessionError::Malformed)?;
    let mut m = mac(admin_token_hash);
    m.update(payload.as_bytes());
    // Constant time: `verify_slice` compares with `subtle`.
    m.verify_slice(&tag).map_err(|_| SessionError::BadTag)?;
    if expiry <= now.seconds() || expiry > now.plus(SESSION_TTL).seconds() {
        return Err(SessionError::Expired);
    }
    Ok(())
}

/// The session cookie's value among the request's `Cookie` headers.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

/// Proof that the request carries a valid funder session; a page handler
/// that takes it is the funder's. Without one, the answer is a redirect to
/// the login page.
#[derive(Debug)]
pub(crate) struct Funder;

impl<S: Store> FromRequestParts<Arc<AppState<S>>> for Funder {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState<S>>,
    ) -> Result<Self, WebError> {
        let value = session_cookie(&parts.headers).ok_or(WebError::LoginNeeded)?;
        match verify(&state.settings.admin_token_hash, value, state.clock.now()) {
            Ok(()) => Ok(Funder),
            Err(e) => {
                tracing::debug!(reason = %e, "session refused");
                Err(WebError::LoginNeeded)
            }
        }
    }
}

/// Whether the request came over https, as far as a reverse proxy says.
fn over_https(headers: &HeaderMap) -> bool {
    let said = |name: &str, is_https: fn(&str) -> bool| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(is_https)
    };
    said("x-forwarded-proto", |v| {
        v.split(',')
            .next()
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
    }) || said("forwarded", |v| {
        v.split([';', ','])
            .filter_map(|kv| kv.trim().split_once('='))
            .any(|(k, v)| {
                k.eq_ignore_ascii_case("proto") && v.trim_matches('"').eq_ignore_ascii_case("https")
            })
    })
}

/// Refuses a form posted from another site.
///
/// `Sec-Fetch-Site` (set by the browser, which no page can forge) must be
/// `same-origin` when present. `Origin` must be this host when it names
/// one; browsers send `Origin: null` for a same-origin POST from a page with
/// `Referrer-Policy: no-referrer`, as these pages are, so `null` is accepted
/// only together with `Sec-Fetch-Site: same-origin`. Without either header
/// (curl, scripts) there is no browser to forge a request through.
pub(crate) fn same_origin(headers: &HeaderMap) -> Result<(), WebError> {
    let get = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let site = get("sec-fetch-site");
    if site.is_some_and(|s| !matches!(s, "same-origin" | "none")) {
        return Err(WebError::CrossOrigin);
    }
    match get(header::ORIGIN.as_str()) {
        None => Ok(()),
        Some("null") if site == Some("same-origin") => Ok(()),
        Some(origin) => {
            let host = get(header::HOST.as_str()).ok_or(WebError::CrossOrigin)?;
            let authority = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .ok_or(WebError::CrossOrigin)?;
            if authority.eq_ignore_ascii_case(host) {
                Ok(())
            } else {
                Err(WebError::CrossOrigin)
            }
        }
    }
}

/// The login page; `problem` is shown above the form after a failed try.
fn login_page(problem: Option<&str>) -> Markup {
    layout::page(
        "Funder login",
        html! {
            p {
                "The funder's dashboard lists node addresses, so it needs the admin token: the one in the coordinator's "
                code { "admin-token" } " file (or " code { "RESIST_ADMIN_TOKEN" } ")."
            }
            @if let Some(p) = problem {
                p.error role="alert" { (p) }
            }
            form.login method="post" action="/login" {
                label for="token" { "Admin token" }
                input #token type="password" name="token" autocomplete="current-password"
                    maxlength=(MAX_TOKEN_LEN) required autofocus;
                button type="submit" { "Log in" }
            }
            p.muted {
                "A login lasts " (SESSION_TTL.as_secs() / 3600) " hours. Operators see their own nodes at "
                code { "/operator/<payout address>" } ", without logging in."
            }
        },
    )
}

fn html_page(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// `GET /login`: the form (or the dashboard, for a funder already logged in).
pub(crate) async fn login_form<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
) -> Response {
    let logged_in = session_cookie(&headers)
        .is_some_and(|v| verify(&state.settings.admin_token_hash, v, state.clock.now()).is_ok());
    if logged_in {
        Redirect::to("/").into_response()
    } else {
        html_page(StatusCode::OK, login_page(None))
    }
}

/// `POST /login`: checks the token from the form and starts a session.
pub(crate) async fn login<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    client: ClientKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    same_origin(&headers)?;
    state.spend(client)?;
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(WebError::BadRequest(
            "send the login form from the login page (application/x-www-form-urlencoded)".into(),
        ));
    }
    let token = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Ok(html_page(
            StatusCode::BAD_REQUEST,
            login_page(Some("Enter the admin token.")),
        ));
    }
    if let Err(e) = check_admin_token(&state, &token_hash(&token)) {
        tracing::info!("dashboard login refused: wrong admin token");
        return Ok(html_page(
            StatusCode::FORBIDDEN,
            login_page(Some(&e.to_string())),
        ));
    }
    tracing::info!("dashboard login");
    let value = issue(&state.settings.admin_token_hash, state.clock.now());
    let cookie = format!(
        "{COOKIE}={value}; Max-Age={}; Path=/; HttpOnly; SameSite=Strict{}",
        SESSION_TTL.as_secs(),
        if over_https(&headers) { "; Secure" } else { "" }
    );
    set_cookie(Redirect::to("/").into_response(), &cookie)
}

/// `POST /logout`: deletes the session cookie and shows the login page.
pub(crate) async fn logout(headers: HeaderMap) -> Result<Response, WebError> {
    same_origin(&headers)?;
    let cookie = format!(
        "{COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict{}",
        if over_https(&headers) { "; Secure" } else { "" }
    );
    set_cookie(Redirect::to("/login").into_response(), &cookie)
}

fn set_cookie(mut response: Response, cookie: &str) -> Result<Response, WebError> {
    let value = HeaderValue::from_str(cookie)
        .map_err(|e| WebError::Internal(format!("session cookie header: {e}")))?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

/// The logout button for the top bar of the funder's pages.
pub(crate) fn logout_button() -> Markup {
    html! {
        form method="post" action="/logout" {
            button type="submit" { "Log out" }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const NOW: UnixTime = UnixTime(1_795_000_000);

    fn key() -> [u8; 32] {
        token_hash("the admin token")
    }

    #[test]
    fn the_padded_key_is_the_same_hmac_key() {
        let k = [7u8; 32];
        let mut reference = <HmacSha256 as Mac>::new_from_slice(&k).unwrap();
        reference.update(b"message");
        assert_eq!(
            keyed(&k, b"message"),
            <[u8; 32]>::from(reference.finalize().into_bytes())
        );
    }

    #[test]
    fn a_fresh_session_verifies_until_it_expires() {
        let v = issue(&key(), NOW);
        assert!(v.len() <= MAX_COOKIE_LEN, "{v}");
        assert_eq!(verify(&key(), &v, NOW), Ok(()));
        let last = NOW.plus(SESSION_TTL).minus(Duration::from_secs(1));
        assert_eq!(verify(&key(), &v, last), Ok(()));
        assert_eq!(
            verify(&key(), &v, NOW.plus(SESSION_TTL)),
            Err(SessionError::Expired)
        );
    }

    #[test]
    fn another_admin_token_refuses_the_session() {
        let v = issue(&key(), NOW);
        assert_eq!(
            verify(&token_hash("rotated token"), &v, NOW),
            Err(SessionError::BadTag)
        );
    }

    #[test]
    fn tampering_is_detected() {
        let v = issue(&key(), NOW);
        // A later expiry with the old tag.
        let (payload, tag) = v.rsplit_once('.').unwrap();
        let expiry: i64 = payload.strip_prefix("v1.").unwrap().parse().unwrap();
        let extended = format!("v1.{}.{tag}", expiry + 3600);
        assert_eq!(verify(&key(), &extended, NOW), Err(SessionError::BadTag));
        // Every single changed tag digit.
        for i in 0..tag.len() {
            let mut t = tag.as_bytes().to_vec();
            t[i] = if t[i] == b'0' { b'1' } else { b'0' };
            let forged = format!("{payload}.{}", String::from_utf8(t).unwrap());
            assert_eq!(
                verify(&key(), &forged, NOW),
                Err(SessionError::BadTag),
                "{i}"
            );
        }
        // A truncated tag is not a shorter valid one.
        let short = format!("{payload}.{}", &tag[..32]);
        assert_eq!(verify(&key(), &short, NOW), Err(SessionError::BadTag));
    }

    #[test]
    fn a_session_from_the_future_is_refused() {
        // Issued by a coordinator whose clock ran a day ahead.
        let v = issue(&key(), NOW.plus(Duration::from_secs(86_400)));
        assert_eq!(verify(&key(), &v, NOW), Err(SessionError::Expired));
    }

    #[test]
    fn malformed_values_are_refused_without_panicking() {
        for v in [
            "",
            "v1",
            "v1.",
            "v1..",
            "v2.1795000000.00",
            "v1.-5.00",
            "v1.+5.00",
            "v1.99999999999999999999999.00",
            "v1.1795000000.zz",
            "the admin token",
            &"a".repeat(MAX_COOKIE_LEN + 1),
        ] {
            assert_eq!(
                verify(&key(), v, NOW),
                Err(SessionError::Malformed),
                "{v:?}"
            );
        }
        // The raw token is not a session either.
        assert!(verify(&key(), &hex::encode(key()), NOW).is_err());
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; resist_session=v1.2.ab"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(session_cookie(&h), Some("v1.2.ab"));
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("resist_session_x=1"),
        );
        assert_eq!(session_cookie(&h), None);
    }

    #[test]
    fn forms_from_other_sites_are_refused() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            same_origin(&h)
        };
        assert!(
            with(&[("host", "127.0.0.1:8740")]).is_ok(),
            "no Origin: curl, old browsers"
        );
        assert!(
            with(&[
                ("host", "127.0.0.1:8740"),
                ("origin", "http://127.0.0.1:8740")
            ])
            .is_ok()
        );
        assert!(with(&[("host", "c.example"), ("origin", "https://c.example")]).is_ok());
        assert!(
            with(&[
                ("host", "127.0.0.1:8740"),
                ("origin", "http://evil.example")
            ])
            .is_err()
        );
        assert!(with(&[("host", "127.0.0.1:8740"), ("origin", "null")]).is_err());
        assert!(
            with(&[("origin", "http://127.0.0.1:8740")]).is_err(),
            "no Host"
        );
        assert!(
            with(&[
                ("host", "127.0.0.1:8740"),
                ("origin", "http://127.0.0.1:8741")
            ])
            .is_err(),
            "another port is another origin"
        );
        assert!(with(&[("host", "h"), ("sec-fetch-site", "cross-site")]).is_err());
        assert!(with(&[("host", "h"), ("sec-fetch-site", "same-site")]).is_err());
        assert!(with(&[("host", "h"), ("sec-fetch-site", "same-origin")]).is_ok());
        // What Chromium sends from a page with `Referrer-Policy: no-referrer`.
        assert!(
            with(&[
                ("host", "h"),
                ("origin", "null"),
                ("sec-fetch-site", "same-origin")
            ])
            .is_ok()
        );
        assert!(
            with(&[
                ("host", "h"),
                ("origin", "null"),
                ("sec-fetch-site", "cross-site")
            ])
            .is_err()
        );
        assert!(
            with(&[
                ("host", "127.0.0.1:8740"),
                ("origin", "http://evil.example"),
                ("sec-fetch-site", "same-origin")
            ])
            .is_err(),
            "both must agree"
        );
    }

    #[test]
    fn https_is_recognised_from_the_proxy_headers() {
        let with = |k: &'static str, v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(k, HeaderValue::from_static(v));
            over_https(&h)
        };
        assert!(with("x-forwarded-proto", "https"));
        assert!(with("x-forwarded-proto", "HTTPS, http"));
        assert!(!with("x-forwarded-proto", "http"));
        assert!(with("forwarded", "for=192.0.2.1;proto=https"));
        assert!(!with("forwarded", "proto=http"));
        assert!(!over_https(&HeaderMap::new()));
    }
}
