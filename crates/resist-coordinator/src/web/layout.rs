//! The shell every web page of the coordinator shares: the document, its
//! inline style sheet, and the security headers every HTML answer carries.
//!
//! Escaping is maud's: every `(value)` in a template is HTML-escaped, so
//! text from the database (payout addresses, region labels, host names)
//! cannot become markup; only [`maud::PreEscaped`] bypasses it, and this
//! module uses it for the constant style sheet alone.
//!
//! The pages load nothing: no script, no font, no image, no style sheet from
//! anywhere (`Content-Security-Policy: default-src 'none'`), which keeps them
//! working on a closed network and gives a censor watching the funder's
//! browser no third-party request to see.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::Response;
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The policy of every page: nothing from anywhere but inline style;
/// forms post to this origin only; no framing.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'";

/// The whole style sheet (inline, as the CSP allows).
const STYLE: &str = r#"
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b;
  background: #ffffff; margin: 0; line-height: 1.4; }
header.top { background: #f2f2f2; border-bottom: 1px solid #d0d0d0; padding: .6rem 1.2rem;
  display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; }
header.top .brand { font-weight: 700; color: #1b1b1b; text-decoration: none; }
header.top form { margin-left: auto; }
main { padding: 1rem 1.2rem 2rem; max-width: 1100px; }
h1 { font-size: 1.5rem; margin: .4rem 0 .8rem; }
h2 { font-size: 1.2rem; margin: 1.6rem 0 .6rem; border-bottom: 1px solid #e0e0e0; }
a { color: #0050a0; }
table { border-collapse: collapse; margin: .4rem 0; }
th, td { text-align: left; padding: .25rem .6rem; border-bottom: 1px solid #e6e6e6;
  vertical-align: middle; }
th { background: #f7f7f7; }
td.nowrap { white-space: nowrap; overflow-wrap: normal; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .92em;
  overflow-wrap: anywhere; }
.chart { display: block; }
.chart.network { width: 100%; max-width: 720px; height: auto; }
.chart.strip { background: #f4f4f4; }
.chart.strip.small { width: 240px; height: 16px; }
.chart.strip.large { width: 100%; max-width: 720px; height: 40px; }
.chart .axis { stroke: #555555; stroke-width: 1; }
.chart .tick { fill: #555555; font-size: 11px; }
ul.legend { list-style: none; padding: 0; margin: .5rem 0; display: flex; flex-wrap: wrap;
  gap: .3rem 1.2rem; font-size: .9rem; }
.swatch { display: inline-block; width: .9rem; height: .9rem; margin-right: .35rem;
  vertical-align: -2px; border: 1px solid #777777; }
.badge { display: inline-block; padding: 0 .4rem; border-radius: 3px; font-size: .85rem;
  font-weight: 700; letter-spacing: .02em; }
.badge.ok { background: #d7f0e8; color: #00553e; border: 1px solid #009e73; }
.badge.blocked { background: #f8e0cf; color: #7a3300; border: 1px solid #d55e00; }
.badge.down { background: #e2e2e2; color: #000000; border: 1px solid #000000; }
.badge.unknown { background: #f2f2f2; color: #444444; border: 1px dashed #888888; }
.note { background: #fff8d6; border: 1px solid #e6d27a; padding: .5rem .8rem; max-width: 720px; }
.error { background: #fde7e4; border: 1px solid #d55e00; padding: .5rem .8rem; max-width: 720px; }
.muted { color: #5a5a5a; }
details { margin: .4rem 0 1rem; }
form.login { display: flex; flex-direction: column; gap: .5rem; max-width: 420px; }
form.login input { font: inherit; padding: .35rem; }
button { font: inherit; padding: .3rem .9rem; cursor: pointer; }
footer { padding: 1rem 1.2rem; color: #5a5a5a; font-size: .85rem; border-top: 1px solid #e0e0e0; }
"#;

/// A complete page: `title` in the tab and as the heading, `body` under it.
///
/// Shared by every HTML page the coordinator serves (the dashboard, the
/// operator pages, later the grant reports and the proxy page), so they look
/// alike and carry the same policy.
pub(crate) fn page(title: &str, body: Markup) -> Markup {
    page_with(title, None, body)
}

/// [`page`] with something at the right of the top bar (the funder's
/// logout button).
pub(crate) fn page_with(title: &str, top_right: Option<Markup>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " — resist" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header.top {
                    a.brand href="/" { "resist coordinator" }
                    @if let Some(extra) = top_right { (extra) }
                }
                main {
                    h1 { (title) }
                    (body)
                }
                footer {
                    "resist " (env!("CARGO_PKG_VERSION"))
                    ". This page loads no script, font or image and nothing from another site."
                }
            }
        }
    }
}

/// Adds the headers every HTML answer carries; `Cache-Control: no-store`
/// keeps pages (some of which list node endpoints) out of browser and proxy
/// caches. Used as a response mapper on the web routes, so redirects and
/// error pages get them too.
pub(crate) async fn security_headers(mut response: Response) -> Response {
    set_security_headers(response.headers_mut());
    response
}

/// The headers of [`security_headers`].
pub(crate) fn set_security_headers(headers: &mut HeaderMap) {
    let fixed: [(HeaderName, &'static str); 5] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn text_is_escaped_and_the_shell_is_complete() {
        let html = page("<b>x</b>", html! { p { ("a & b <i>") } }).into_string();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>&lt;b&gt;x&lt;/b&gt; — resist</title>"));
        assert!(html.contains("a &amp; b &lt;i&gt;"));
        assert!(!html.contains("<script"), "no script on any page");
        assert!(!html.contains("http"), "nothing from another site: {html}");
    }

    #[test]
    fn every_answer_gets_the_policy() {
        let mut h = HeaderMap::new();
        set_security_headers(&mut h);
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
    }
}
