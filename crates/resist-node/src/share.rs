//! Share links and QR codes: how an operator hands the node to users.
//!
//! Telegram opens `tg://socks?…` links directly and `https://t.me/socks?…` links
//! from a browser. Everything is rendered locally: no secret ever goes to a
//! third-party QR service.

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

/// The two links for one node and user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareLinks {
    /// `tg://socks?server=…&port=…[&user=…&pass=…]`
    pub tg: String,
    /// `https://t.me/socks?…`, the same query.
    pub tme: String,
}

/// Links for a node at `host:port`, with `credentials` (user, password) if any.
pub fn links(host: &str, port: u16, credentials: Option<(&str, &str)>) -> ShareLinks {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("server", host)
        .append_pair("port", &port.to_string());
    if let Some((user, pass)) = credentials {
        query.append_pair("user", user).append_pair("pass", pass);
    }
    let query = query.finish();
    ShareLinks {
        tg: format!("tg://socks?{query}"),
        tme: format!("https://t.me/socks?{query}"),
    }
}

/// `text` as a QR code drawn with Unicode half blocks, for a terminal.
pub fn qr_terminal(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

/// `text` as a QR code in SVG, for web pages.
pub fn qr_svg(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build(),
    )
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn links_are_percent_encoded() {
        let l = links("proxy.example.org", 1080, Some(("al ice", "p&ss=w/rd")));
        assert_eq!(
            l.tg,
            "tg://socks?server=proxy.example.org&port=1080&user=al+ice&pass=p%26ss%3Dw%2Frd"
        );
        assert_eq!(
            l.tme,
            "https://t.me/socks?server=proxy.example.org&port=1080&user=al+ice&pass=p%26ss%3Dw%2Frd"
        );
        assert_eq!(
            links("2001:db8::1", 443, None).tg,
            "tg://socks?server=2001%3Adb8%3A%3A1&port=443"
        );
    }

    #[test]
    fn qr_renders() {
        let qr = qr_terminal("tg://socks?server=a&port=1").unwrap();
        assert!(qr.lines().count() > 10 && qr.contains('█'));
        assert!(qr_svg("x").unwrap().starts_with("<?xml"));
    }
}
