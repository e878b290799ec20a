//! The `[grants.chain]` table: the README's examples parse, defaults apply,
//! every mistake is refused with a message naming it, secrets stay out of
//! `Debug` and error messages.

use std::path::PathBuf;
use std::time::Duration;

use resist_chain::{Backend, ChainConfig, ChainError, ChainSource, CoreAuth, Secret};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    grants: Grants,
}

#[derive(Deserialize)]
struct Grants {
    chain: ChainConfig,
}

fn parse(toml_text: &str) -> Result<ChainConfig, String> {
    toml::from_str::<File>(toml_text)
        .map(|f| f.grants.chain)
        .map_err(|e| e.to_string())
}

/// The examples of the README, verbatim.
fn readme_examples() -> Vec<String> {
    let readme = include_str!("../../README.md");
    readme
        .split("```toml\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().to_owned())
        .collect()
}

#[test]
fn readme_examples_parse_with_defaults() {
    let examples = readme_examples();
    assert_eq!(examples.len(), 3);
    let esplora = parse(&examples[0]).unwrap();
    assert_eq!(
        esplora,
        ChainConfig {
            backend: Backend::Esplora {
                url: "https://blockstream.info/api".into()
            },
            timeout: Duration::from_secs(30),
            min_confirmations: 1,
            gap_limit: 20,
        }
    );
    let electrum = parse(&examples[1]).unwrap();
    assert_eq!(
        electrum.backend,
        Backend::Electrum {
            address: "electrum.example.org:50001".into()
        }
    );
    assert_eq!(electrum.min_confirmations, 3);
    assert_eq!(electrum.timeout, Duration::from_secs(30));
    let core = parse(&examples[2]).unwrap();
    assert_eq!(
        core.backend,
        Backend::Bitcoind {
            url: "http://127.0.0.1:8332".into(),
            auth: CoreAuth::CookieFile(PathBuf::from("/var/lib/bitcoind/.cookie")),
        }
    );
    assert_eq!(core.timeout, Duration::from_secs(600));
    assert_eq!(core.gap_limit, 20);
    // Every example makes a source (no I/O yet).
    for c in [esplora, electrum, core] {
        ChainSource::new(&c).unwrap();
    }
}

#[test]
fn bitcoind_default_timeout_is_longer() {
    let c = parse(
        "[grants.chain]\nkind = \"bitcoind\"\nurl = \"http://127.0.0.1:18443\"\nuser = \"u\"\npassword = \"p\"\n",
    )
    .unwrap();
    assert_eq!(c.timeout, resist_chain::DEFAULT_BITCOIND_TIMEOUT);
}

#[test]
fn mistakes_are_refused_with_a_message_naming_them() {
    let cases: &[(&str, &str)] = &[
        (
            "kind = \"esplora\"\nurl = \"https://x.example/api\"\naddress = \"h:1\"",
            "unknown field `address`",
        ),
        (
            "kind = \"esplora\"\nurl = \"https://x.example/api\"\ntimeout = \"30s\"\nretries = 3",
            "unknown field `retries`",
        ),
        (
            "kind = \"neutrino\"\nurl = \"https://x.example\"",
            "unknown variant `neutrino`",
        ),
        ("url = \"https://x.example\"", "missing field `kind`"),
        (
            "kind = \"esplora\"\nurl = \"ftp://x.example/api\"",
            "http or https",
        ),
        (
            "kind = \"esplora\"\nurl = \"not a url\"",
            "url \"not a url\"",
        ),
        (
            "kind = \"esplora\"\nurl = \"https://x.example/api?key=1\"",
            "query",
        ),
        (
            "kind = \"electrum\"\naddress = \"electrum.example.org\"",
            "host:port",
        ),
        (
            "kind = \"electrum\"\naddress = \"electrum.example.org:0\"",
            "port",
        ),
        (
            "kind = \"electrum\"\naddress = \"ssl://electrum.example.org:50002\"",
            "stunnel",
        ),
        (
            "kind = \"bitcoind\"\nurl = \"http://127.0.0.1:8332\"",
            "cookie_file",
        ),
        (
            "kind = \"bitcoind\"\nurl = \"http://127.0.0.1:8332\"\ncookie_file = \"/c\"\nuser = \"u\"\npassword = \"p\"",
            "not both",
        ),
        (
            "kind = \"bitcoind\"\nurl = \"http://127.0.0.1:8332\"\nuser = \"u\"",
            "go together",
        ),
        (
            "kind = \"bitcoind\"\nurl = \"http://127.0.0.1:8332\"\nuser = \"a:b\"\npassword = \"p\"",
            "':'",
        ),
        (
            "kind = \"esplora\"\nurl = \"https://x.example\"\nmin_confirmations = 0",
            "min_confirmations = 0",
        ),
        (
            "kind = \"esplora\"\nurl = \"https://x.example\"\ngap_limit = 0",
            "gap_limit = 0",
        ),
        (
            "kind = \"esplora\"\nurl = \"https://x.example\"\ngap_limit = 5000",
            "gap_limit = 5000",
        ),
        (
            "kind = \"esplora\"\nurl = \"https://x.example\"\ntimeout = \"0s\"",
            "timeout",
        ),
        (
            "kind = \"esplora\"\nurl = \"https://x.example\"\ntimeout = \"2h\"",
            "timeout",
        ),
    ];
    for (body, needle) in cases {
        let e = parse(&format!("[grants.chain]\n{body}\n")).unwrap_err();
        assert!(e.contains(needle), "{body:?}: {e:?} lacks {needle:?}");
    }
}

#[test]
fn tcp_prefix_and_ipv6_electrum_addresses_are_accepted() {
    for a in [
        "tcp://127.0.0.1:50001",
        "[::1]:50001",
        "electrum.example.org:50001",
    ] {
        let c = parse(&format!(
            "[grants.chain]\nkind = \"electrum\"\naddress = \"{a}\"\n"
        ))
        .unwrap();
        ChainSource::new(&c).unwrap();
    }
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    let password = "hunter2-very-secret";
    let c = parse(&format!(
        "[grants.chain]\nkind = \"bitcoind\"\nurl = \"http://127.0.0.1:8332\"\nuser = \"alice\"\npassword = \"{password}\"\n"
    ))
    .unwrap();
    let debug = format!("{c:?} {:#?}", c);
    assert!(!debug.contains(password), "{debug}");
    assert!(debug.contains("[redacted]") && debug.contains("alice"));
    assert_eq!(format!("{:?}", Secret::new(password)), "[redacted]");

    // A URL with credentials is refused without echoing them.
    let e = parse(&format!(
        "[grants.chain]\nkind = \"bitcoind\"\nurl = \"http://alice:{password}@127.0.0.1:8332\"\ncookie_file = \"/c\"\n"
    ))
    .unwrap_err();
    assert!(e.contains("credentials in the URL"), "{e}");
    assert!(!e.contains(password), "{e}");
}

#[test]
fn serialization_round_trips() {
    let c = ChainConfig {
        backend: Backend::Bitcoind {
            url: "http://127.0.0.1:8332".into(),
            auth: CoreAuth::UserPassword {
                user: "alice".into(),
                password: Secret::new("pw"),
            },
        },
        timeout: Duration::from_secs(90),
        min_confirmations: 6,
        gap_limit: 50,
    };
    let text = toml::to_string(&c).unwrap();
    assert!(text.contains("kind = \"bitcoind\""), "{text}");
    assert_eq!(toml::from_str::<ChainConfig>(&text).unwrap(), c);
}

#[test]
fn values_built_in_code_are_checked_too() {
    let mut c = ChainConfig::new(Backend::Esplora {
        url: "gopher://x.example".into(),
    });
    assert!(matches!(
        ChainSource::new(&c).unwrap_err(),
        ChainError::Config(_)
    ));
    c.backend = Backend::Esplora {
        url: "https://x.example/api".into(),
    };
    c.min_confirmations = 0;
    let e = ChainSource::new(&c).unwrap_err();
    assert!(e.to_string().contains("min_confirmations"), "{e}");
}
