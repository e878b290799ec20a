//! The users' page, `/proxies`: the distributor's answer for people on a
//! phone, in the same HTML stack as every other page (maud escapes every
//! value), with a shell of its own: a phone-first style, no dashboard
//! header, and no link anywhere but the proxies' own.
//!
//! Nothing is loaded from elsewhere and nothing runs: the QR codes are inline
//! SVG made with the `qrcode` crate (the only markup inserted unescaped, and
//! it is the library's output over a link, not text from a request), so no
//! third party ever sees a proxy's password.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use resist_proto::distribution::{MAX_TOKEN_LEN, ProxyView};

use crate::error::ApiError;

/// The page with the requester's proxies (or the plain "none right now").
pub(crate) fn proxies(proxies: &[ProxyView], invited: bool) -> String {
    let body = html! {
        h1 { "Proxies for Telegram" }
        @if proxies.is_empty() {
            section.card.none {
                h2 { "No working proxy right now." }
                p { "Please try again later: new proxies are checked all the time." }
            }
        } @else {
            p {
                "These proxies let Telegram work where it is blocked. Each was checked \
                 recently from inside a censored network."
            }
            (how_to_use())
            @for (i, p) in proxies.iter().enumerate() {
                (proxy(i + 1, p))
            }
            (help())
        }
        (invite_form(invited))
    };
    document("Proxies for Telegram", body)
}

/// The page for a refused request.
pub(crate) fn error(e: &ApiError) -> String {
    let (title, text) = match e {
        ApiError::Unauthorized(_) => (
            "This invitation code does not work",
            "It may have been mistyped, or withdrawn by whoever gave it to you. \
             Ask them for a new one, or open this page without a code.",
        ),
        ApiError::RateLimited(_) => (
            "Too many requests from your network",
            "Wait a minute, then reload this page.",
        ),
        ApiError::Invalid(_) | ApiError::BadRequest(_) => (
            "This address is not right",
            "Open the page again without anything after /proxies.",
        ),
        _ => (
            "The service is having trouble",
            "No working proxy can be shown right now. Please try again later.",
        ),
    };
    let body = html! {
        h1 { "Proxies for Telegram" }
        section.card.bad {
            h2 { (title) }
            p { (text) }
        }
        (invite_form(false))
    };
    document(title, body)
}

fn how_to_use() -> Markup {
    html! {
        section.card {
            h2 { "How to use one" }
            ol {
                li {
                    b { "Telegram is on this phone:" } " tap " b { "Open in Telegram" }
                    " under a proxy, then tap " b { "Connect proxy" } " in Telegram."
                }
                li {
                    b { "This page is on another screen:" } " point your phone's camera at \
                    the square code under a proxy; it opens the proxy in Telegram on the phone."
                }
                li {
                    b { "Neither works:" } " type the details by hand. In Telegram: Settings → \
                    Data and Storage → Proxy → Add proxy → SOCKS5 (on a computer: Settings → \
                    Advanced → Connection type)."
                }
            }
        }
    }
}

fn proxy(number: usize, p: &ProxyView) -> Markup {
    html! {
        section.card.proxy {
            h2 { "Proxy " (number) }
            a.open href=(p.tg) { "Open in Telegram" }
            p.alt { "If that button does nothing: " a href=(p.https) { (p.https) } }
            @if let Some(svg) = qr_svg(&p.tg) {
                div.qr { (PreEscaped(svg)) }
            }
            dl {
                dt { "Type" } dd { "SOCKS5" }
                dt { "Server" } dd { (p.host) }
                dt { "Port" } dd { (p.port) }
                @if let (Some(user), Some(password)) = (&p.username, &p.password) {
                    dt { "Username" } dd { (user) }
                    dt { "Password" } dd { (password) }
                }
            }
        }
    }
}

fn help() -> Markup {
    html! {
        section.card {
            h2 { "If it stops working" }
            ol {
                li { "Try the next proxy on this page." }
                li {
                    "If none works, come back later. Proxies that get blocked are taken off \
                     this page and replaced by working ones, usually within half an hour."
                }
                li {
                    "Reloading again and again does not give you other proxies: the list only \
                     changes when a proxy stops working."
                }
            }
            p {
                small {
                    "Share this page only with people you trust: a proxy that the censor \
                     learns about gets blocked for everyone. This site does not record your \
                     address."
                }
            }
        }
    }
}

/// The small form for pasting an invitation code.
fn invite_form(invited: bool) -> Markup {
    let intro = if invited {
        "You are using an invitation code. To use another one, paste it here:"
    } else {
        "Did someone give you an invitation code? Paste it here to see the proxies it opens:"
    };
    html! {
        section.card {
            form method="get" action="/proxies" {
                label for="invite" { (intro) }
                input #invite name="invite" autocomplete="off" autocapitalize="off"
                    spellcheck="false" maxlength=(MAX_TOKEN_LEN);
                button type="submit" { "Show my proxies" }
            }
        }
    }
}

/// `text` as a QR code, an inline `<svg>` element (no XML declaration).
fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let start = svg.find("<svg")?;
    Some(svg[start..].replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code of the tg:// link\" ",
        1,
    ))
}

const STYLE: &str = "\
body{margin:0;font:17px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#f4f6f8;color:#17212b}\
main{max-width:36rem;margin:0 auto;padding:1rem}\
h1{font-size:1.5rem;margin:.5rem 0}\
h2{font-size:1.15rem;margin:0 0 .5rem}\
.card{background:#fff;border-radius:12px;padding:1rem;margin:1rem 0;box-shadow:0 1px 3px rgba(0,0,0,.12)}\
a.open{display:block;text-align:center;background:#2481cc;color:#fff;text-decoration:none;font-weight:600;padding:.9rem;border-radius:10px;font-size:1.1rem}\
.alt{font-size:.9rem;word-break:break-all}\
.qr{text-align:center;margin:1rem 0 .25rem}\
.qr svg{width:100%;max-width:220px;height:auto}\
dl{display:grid;grid-template-columns:auto 1fr;gap:.2rem .8rem;font-size:.95rem}\
dt{color:#555}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}\
.none{border-left:6px solid #c0392b}.bad{border-left:6px solid #c0392b}\
ol{padding-left:1.3rem}\
input{font:inherit;padding:.6rem;width:100%;box-sizing:border-box;border:1px solid #aab;border-radius:8px}\
button{font:inherit;margin-top:.5rem;padding:.6rem 1rem;border:0;border-radius:8px;background:#2481cc;color:#fff}\
small{color:#555}";

/// The document around `body`: not indexed, no referrer, the inline style.
fn document(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                meta name="robots" content="noindex, nofollow";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { main { (body) } }
        }
    }
    .into_string()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn hostile_values_stay_text() {
        let p = ProxyView {
            host: "<script>alert(1)</script>".into(),
            port: 1080,
            username: Some("\"><img src=x onerror=alert(1)>".into()),
            password: Some("p&ss".into()),
            tg: "tg://socks?server=%3Cscript%3E".into(),
            https: "https://t.me/socks?server=\"x".into(),
        };
        let html = proxies(&[p], false);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;") && html.contains("p&amp;ss"));
        assert!(html.contains("server=&quot;x"));
    }

    #[test]
    fn empty_page_says_so_plainly() {
        let html = proxies(&[], false);
        assert!(html.contains("No working proxy right now."));
        assert!(html.contains("try again later"));
        assert!(!html.contains("<script"));
        assert!(
            !html.contains("If it stops working"),
            "help only under proxies"
        );
    }

    #[test]
    fn error_pages_name_the_problem_and_keep_the_form() {
        let html = error(&ApiError::Unauthorized("unknown token"));
        assert!(html.contains("This invitation code does not work"));
        assert!(html.contains("name=\"invite\""));
        assert!(!html.contains("unknown token"), "no internals on the page");
    }
}
