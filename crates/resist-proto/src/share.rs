//! Share links: how a proxy is handed to a Telegram user.
//!
//! Telegram opens `tg://socks?…` links directly and `https://t.me/socks?…`
//! links from a browser; both carry the same query. The node prints them for
//! its operator and the coordinator's distributor shows them to users, so
//! the format lives here, once. Values are form-encoded (a password with `&`
//! or `=` cannot break the query), and absent credentials are left out.

/// The two links for one proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareLinks {
    /// `tg://socks?server=…&port=…[&user=…&pass=…]`
    pub tg: String,
    /// `https://t.me/socks?…`, the same query.
    pub tme: String,
}

/// Links for a proxy at `host:port`, with `credentials` (user, password) if any.
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
}
