//! Share links and QR codes: how an operator hands the node to users.
//!
//! Telegram opens `tg://socks?…` links directly and `https://t.me/socks?…` links
//! from a browser. Everything is rendered locally: no secret ever goes to a
//! third-party QR service.

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

// The link format is shared with the coordinator's distributor.
pub use resist_proto::share::{ShareLinks, links};

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
    fn qr_renders() {
        let qr = qr_terminal("tg://socks?server=a&port=1").unwrap();
        assert!(qr.lines().count() > 10 && qr.contains('█'));
        assert!(qr_svg("x").unwrap().starts_with("<?xml"));
    }
}
