//! Interoperability with real SOCKS5 clients, each run as a subprocess against
//! a node in this process, relaying to servers on loopback only:
//!
//! | client | against | proves |
//! | --- | --- | --- |
//! | curl `--socks5` + `--proxy-user` | password node → HTTP on 127.0.0.1 | RFC 1929 login, CONNECT to an IPv4 address |
//! | curl `-x socks5h://user:pass@` | password node → `localhost` | credentials from a URL, CONNECT to a name the node resolves |
//! | curl `--socks5`, `--socks5-hostname` | open node (`auth.mode = none`) | method 00 without credentials |
//! | curl `--socks5`, `--socks5-hostname` | password node → HTTP on `[::1]` | CONNECT to an IPv6 address (skipped if ::1 is unavailable) |
//! | curl, wrong password / none | password node | curl fails, the node counts `auth_failed` / `no_acceptable_method` |
//! | proxychains4 (proxychains-ng) + plain curl | password node, `strict_chain` | a preload proxifier reaches the page only through the node (a wrong password in its config makes curl fail); `proxy_dns` off and on |
//! | PySocks `socksocket` | password node → HTTP | CONNECT with username and password |
//! | PySocks `SOCK_DGRAM` | password node → UDP echo | UDP ASSOCIATE, datagrams of 1 to 1400 bytes echoed exactly |
//! | python-socks `Proxy.from_url` | password node → HTTP | CONNECT to an IP, and to a name with remote DNS |
//!
//! Every test also checks the node's counters, so a client that quietly went
//! direct (a proxy variable, `NO_PROXY`, a proxifier exempting loopback) fails.
//!
//! The clients are not Rust crates: in CI (`CI` set) a missing one fails the
//! test; elsewhere the test prints how to install it and passes.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use resist_node::config::{AuthMode, UserConfig};
use resist_node::metrics::Direction;
use resist_testkit::{HttpServer, TestNode, USER, UdpEcho, http_body, test_config};
use tokio::process::Command;
use tokio::time::{Instant, sleep, timeout};

/// How long one client run may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a counter may lag behind the client's exit.
const COUNTER_WAIT: Duration = Duration::from_secs(3);

/// Environment variables through which a client could be sent elsewhere (or
/// told to skip the proxy): removed for every client run.
const PROXY_VARS: &[&str] = &[
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "socks_proxy",
    "SOCKS_PROXY",
    "PROXYCHAINS_CONF_FILE",
    "PROXYCHAINS_SOCKS5_HOST",
    "PROXYCHAINS_SOCKS5_PORT",
];

/// A client this file runs: how to tell it is there, and how to install it.
struct Tool {
    name: &'static str,
    /// A command that succeeds (and prints a version or path) when it is there.
    probe: &'static [&'static str],
    install: &'static str,
}

const TOOLS: &[Tool] = &[
    Tool {
        name: "curl",
        probe: &["curl", "--version"],
        install: "apt-get install curl",
    },
    Tool {
        name: "proxychains4",
        probe: &["sh", "-c", "command -v proxychains4"],
        install: "apt-get install proxychains4",
    },
    Tool {
        name: "pysocks",
        probe: &[
            "python3",
            "-c",
            "import socks; print('PySocks', socks.__version__)",
        ],
        install: "pip install pysocks",
    },
    Tool {
        name: "python-socks",
        probe: &[
            "python3",
            "-c",
            "import python_socks; print('python-socks', python_socks.__version__)",
        ],
        install: "pip install python-socks",
    },
];

/// Whether `tool` can be run. In CI a missing tool fails the test; elsewhere
/// this prints how to install it and returns false (the test then returns).
fn require(tool: &str) -> bool {
    let t = TOOLS
        .iter()
        .find(|t| t.name == tool)
        .unwrap_or_else(|| panic!("unknown tool {tool:?}"));
    let probe = std::process::Command::new(t.probe[0])
        .args(&t.probe[1..])
        .stdin(Stdio::null())
        .output();
    if let Ok(out) = &probe
        && out.status.success()
    {
        let first = String::from_utf8_lossy(&out.stdout);
        eprintln!("using {}: {}", t.name, first.lines().next().unwrap_or(""));
        return true;
    }
    resist_testkit::require(Some(format!(
        "{tool} is not installed ({}); probe: {probe:?}",
        t.install
    )))
}

/// Runs `cmd` to completion with a clean proxy environment, within [`CLIENT_TIMEOUT`].
async fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    let what = format!("{cmd:?}");
    let out = timeout(CLIENT_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {CLIENT_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("{what} could not run: {e}"));
    eprintln!(
        "{what}: {}\n  stdout: {:?}\n  stderr: {:?}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Asserts the client succeeded and printed exactly the body for `path`.
fn assert_body(out: &Output, path: &str) {
    assert!(
        out.status.success(),
        "client failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), http_body(path));
}

/// Asserts the client failed and printed nothing of the page.
fn assert_failed(out: &Output) {
    assert!(
        !out.status.success(),
        "client should have failed; stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("hello from"),
        "the page must not be reached"
    );
}

/// Waits until `counter()` reaches `want` (it may lag the client's exit by
/// the node's graceful close), then asserts it is exactly `want`.
async fn assert_counter(what: &str, want: u64, counter: impl Fn() -> u64) {
    let deadline = Instant::now() + COUNTER_WAIT;
    while counter() < want && Instant::now() < deadline {
        sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(counter(), want, "counter {what}");
}

/// A node with `auth.mode = "none"` (loopback destinations allowed).
fn open_config() -> resist_node::NodeConfig {
    let mut c = test_config();
    c.auth.mode = AuthMode::None;
    c.auth.users.clear();
    c
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for userinfo).
fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `socks5[h]://alice:…@127.0.0.1:PORT` for [`USER`].
fn proxy_url(scheme: &str, node: &TestNode) -> String {
    format!("{scheme}://{}:{}@{}", pct(USER.0), pct(USER.1), node.addr)
}

/// curl with no config file, no progress bar, errors shown and a time limit.
fn curl() -> Command {
    let mut c = Command::new("curl");
    c.args(["-q", "--silent", "--show-error", "--max-time", "10"]);
    c
}

/// [`USER`] as `NAME:PASSWORD`, for `--proxy-user`.
fn user_pass() -> String {
    format!("{}:{}", USER.0, USER.1)
}

/// curl through the proxy: `OPTION PROXY [--proxy-user USER:PASS] URL`, where
/// OPTION is `--socks5`, `--socks5-hostname` or `--proxy` (a `socks5[h]://` URL).
fn curl_via(option: &str, proxy: String, proxy_user: Option<String>, url: String) -> Command {
    let mut c = curl();
    c.arg(option).arg(proxy);
    if let Some(user) = proxy_user {
        c.arg("--proxy-user").arg(user);
    }
    c.arg(url);
    c
}

// ---------------------------------------------------------------- curl

#[tokio::test]
async fn curl_socks5_with_proxy_user() {
    if !require("curl") {
        return;
    }
    let node = TestNode::start(test_config()).await;
    let http = HttpServer::start("127.0.0.1:0").await;
    let ok = || node.node.metrics().handshake_count("ok");
    let path = "/curl/socks5/proxy-user";
    let out = run(&mut curl_via(
        "--socks5",
        node.addr.to_string(),
        Some(user_pass()),
        format!("http://{}{path}", http.addr),
    ))
    .await;
    assert_body(&out, path);
    assert_counter("handshakes{ok}", 1, ok).await;
    node.stop().await;
}

#[tokio::test]
async fn curl_socks5_hostname_with_url_credentials() {
    if !require("curl") {
        return;
    }
    let node = TestNode::start(test_config()).await;
    let http = HttpServer::start("127.0.0.1:0").await;
    let ok = || node.node.metrics().handshake_count("ok");
    // socks5h: curl sends the name "localhost" and the node resolves it.
    let path = "/curl/socks5h/url-credentials";
    let out = run(&mut curl_via(
        "--proxy",
        proxy_url("socks5h", &node),
        None,
        format!("http://localhost:{}{path}", http.addr.port()),
    ))
    .await;
    assert_body(&out, path);
    // The same with --socks5-hostname and --proxy-user.
    let path = "/curl/socks5-hostname/proxy-user";
    let out = run(&mut curl_via(
        "--socks5-hostname",
        node.addr.to_string(),
        Some(user_pass()),
        format!("http://localhost:{}{path}", http.addr.port()),
    ))
    .await;
    assert_body(&out, path);
    assert_counter("handshakes{ok}", 2, ok).await;
    node.stop().await;
}

#[tokio::test]
async fn curl_open_node_without_credentials() {
    if !require("curl") {
        return;
    }
    let node = TestNode::start(open_config()).await;
    let http = HttpServer::start("127.0.0.1:0").await;
    let ok = || node.node.metrics().handshake_count("ok");
    let path = "/curl/open/socks5";
    let out = run(&mut curl_via(
        "--socks5",
        node.addr.to_string(),
        None,
        format!("http://{}{path}", http.addr),
    ))
    .await;
    assert_body(&out, path);
    let path = "/curl/open/socks5-hostname";
    let out = run(&mut curl_via(
        "--socks5-hostname",
        node.addr.to_string(),
        None,
        format!("http://localhost:{}{path}", http.addr.port()),
    ))
    .await;
    assert_body(&out, path);
    let path = "/curl/open/url";
    let out = run(&mut curl_via(
        "--proxy",
        format!("socks5://{}", node.addr),
        None,
        format!("http://{}{path}", http.addr),
    ))
    .await;
    assert_body(&out, path);
    assert_counter("handshakes{ok}", 3, ok).await;
    node.stop().await;
}

#[tokio::test]
async fn curl_to_ipv6_target() {
    if !require("curl") {
        return;
    }
    if let Err(e) = std::net::TcpListener::bind("[::1]:0") {
        eprintln!("skipped: ::1 is not available here ({e})");
        return;
    }
    let node = TestNode::start(test_config()).await;
    let http = HttpServer::start("[::1]:0").await;
    let ok = || node.node.metrics().handshake_count("ok");
    // --socks5: curl sends ATYP 04 with the 16 address bytes.
    let path = "/curl/ipv6/socks5";
    let out = run(&mut curl_via(
        "--socks5",
        node.addr.to_string(),
        Some(user_pass()),
        format!("http://{}{path}", http.addr),
    ))
    .await;
    assert_body(&out, path);
    // socks5h with an IPv6 literal: whichever form curl picks, the node must serve it.
    let path = "/curl/ipv6/socks5h";
    let out = run(&mut curl_via(
        "--proxy",
        proxy_url("socks5h", &node),
        None,
        format!("http://{}{path}", http.addr),
    ))
    .await;
    assert_body(&out, path);
    assert_counter("handshakes{ok}", 2, ok).await;
    node.stop().await;
}

#[tokio::test]
async fn curl_fails_with_wrong_password() {
    if !require("curl") {
        return;
    }
    let node = TestNode::start(test_config()).await;
    let http = HttpServer::start("127.0.0.1:0").await;
    let m = || node.node.metrics();
    let out = run(&mut curl_via(
        "--socks5",
        node.addr.to_string(),
        Some(format!("{}:not the password", USER.0)),
        format!("http://{}/curl/wrong-password", http.addr),
    ))
    .await;
    assert_failed(&out);
    assert_counter("handshakes{auth_failed}", 1, || {
        m().handshake_count("auth_failed")
    })
    .await;
    // A wrong username with the right password fails the same way.
    let out = run(curl()
        .arg("--proxy")
        .arg(format!("socks5h://mallory:{}@{}", pct(USER.1), node.addr))
        .arg(format!(
            "http://localhost:{}/curl/wrong-user",
            http.addr.port()
        )))
    .await;
    assert_failed(&out);
    assert_counter("handshakes{auth_failed}", 2, || {
        m().handshake_count("auth_failed")
    })
    .await;
    assert_eq!(m().handshake_count("ok"), 0);
    node.stop().await;
}

#[tokio::test]
async fn curl_fails_without_credentials_on_password_node() {
    if !require("curl") {
        return;
    }
    let node = TestNode::start(test_config()).await;
    let http = HttpServer::start("127.0.0.1:0").await;
    let m = || node.node.metrics();
    let out = run(&mut curl_via(
        "--socks5",
        node.addr.to_string(),
        None,
        format!("http://{}/curl/no-credentials", http.addr),
    ))
    .await;
    assert_failed(&out);
    assert_counter("handshakes{no_acceptable_method}", 1, || {
        m().handshake_count("no_acceptable_method")
    })
    .await;
    assert_eq!(m().handshake_count("ok"), 0);
    node.stop().await;
}

// ---------------------------------------------------------------- proxychains4

/// A user whose password has no spaces: proxychains-ng reads `[ProxyList]`
/// lines with `sscanf("%s")`, so [`USER`]'s password cannot be written there.
const CHAINS_USER: (&str, &str) = ("chains", "no-spaces-S3cret_for.proxychains");

/// A password node that also knows [`CHAINS_USER`].
fn chains_config() -> resist_node::NodeConfig {
    let mut c = test_config();
    c.auth.users.push(UserConfig {
        name: CHAINS_USER.0.into(),
        password: CHAINS_USER.1.into(),
    });
    c
}

/// Writes a proxychains4 config with one SOCKS5 proxy: the node. No `localnet`
/// line, so loopback destinations are proxied like any other.
fn chains_conf(
    dir: &tempfile::TempDir,
    node: &TestNode,
    proxy_dns: bool,
    password: &str,
) -> PathBuf {
    let path = dir.path().join("proxychains.conf");
    let conf = format!(
        "strict_chain\n\
         {dns}\
         tcp_read_time_out 10000\n\
         tcp_connect_time_out 5000\n\
         [ProxyList]\n\
         socks5 {ip} {port} {user} {password}\n",
        dns = if proxy_dns { "proxy_dns\n" } else { "" },
        ip = node.addr.ip(),
        port = node.addr.port(),
        user = CHAINS_USER.0,
    );
    std::fs::write(&path, conf).unwrap();
    path
}

/// `proxychains4 -q -f CONF curl … URL` (curl itself knows of no proxy).
fn proxychains_curl(conf: &std::path::Path, url: &str) -> Command {
    let mut c = Command::new("proxychains4");
    c.arg("-q").arg("-f").arg(conf);
    c.args(["curl", "-q", "--silent", "--show-error", "--max-time", "10"]);
    c.arg(url);
    c
}

#[tokio::test]
async fn proxychains_strict_chain_through_node() {
    if !require("proxychains4") || !require("curl") {
        return;
    }
    let node = TestNode::start(chains_config()).await;
    let http = HttpServer::start("127.0.0.1:0").await;
    let m = || node.node.metrics();
    let dir = tempfile::tempdir().unwrap();

    let conf = chains_conf(&dir, &node, false, CHAINS_USER.1);
    let path = "/proxychains/strict";
    let out = run(&mut proxychains_curl(
        &conf,
        &format!("http://{}{path}", http.addr),
    ))
    .await;
    assert_body(&out, path);
    // The connection went through the node, not directly to the server.
    assert_counter("handshakes{ok}", 1, || m().handshake_count("ok")).await;
    assert_eq!(m().connections_accepted.get(), 1);

    // The control: with a wrong password in the chain, curl cannot get the page,
    // so proxychains did not fall back to connecting directly.
    let conf = chains_conf(&dir, &node, false, "wrong-password");
    let out = run(&mut proxychains_curl(
        &conf,
        &format!("http://{}/proxychains/wrong", http.addr),
    ))
    .await;
    assert_failed(&out);
    assert_counter("handshakes{auth_failed}", 1, || {
        m().handshake_count("auth_failed")
    })
    .await;
    assert_eq!(m().handshake_count("ok"), 1);
    node.stop().await;
}

#[tokio::test]
async fn proxychains_proxy_dns_through_node() {
    if !require("proxychains4") || !require("curl") {
        return;
    }
    let node = TestNode::start(chains_config()).await;
    let http = HttpServer::start("127.0.0.1:0").await;
    let m = || node.node.metrics();
    let dir = tempfile::tempdir().unwrap();
    // With proxy_dns, curl's getaddrinfo goes through proxychains' hook. Note
    // that proxychains-ng answers names listed in /etc/hosts itself, so
    // "localhost" reaches the node as 127.0.0.1; a name not listed there would
    // be sent as a name, but then the node would need DNS, which a loopback-only
    // test must not use (remote resolution is covered by curl socks5h and
    // python-socks rdns above and below).
    let conf = chains_conf(&dir, &node, true, CHAINS_USER.1);
    let path = "/proxychains/proxy-dns";
    let out = run(&mut proxychains_curl(
        &conf,
        &format!("http://localhost:{}{path}", http.addr.port()),
    ))
    .await;
    assert_body(&out, path);
    assert_counter("handshakes{ok}", 1, || m().handshake_count("ok")).await;
    node.stop().await;
}

// ---------------------------------------------------------------- Python

/// `python3 -B tests/python/SCRIPT` (no bytecode written into the source tree).
fn python(script: &str) -> Command {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python");
    let mut c = Command::new("python3");
    c.arg("-B").arg(dir.join(script));
    c.env("PYTHONDONTWRITEBYTECODE", "1");
    c
}

#[tokio::test]
async fn pysocks_tcp_with_password() {
    if !require("pysocks") {
        return;
    }
    let node = TestNode::start(test_config()).await;
    let http = HttpServer::start("127.0.0.1:0").await;
    let path = "/pysocks/tcp";
    let out = run(python("pysocks_tcp.py")
        .arg(node.addr.ip().to_string())
        .arg(node.addr.port().to_string())
        .args([USER.0, USER.1])
        .arg(http.addr.ip().to_string())
        .arg(http.addr.port().to_string())
        .arg(path))
    .await;
    assert_body(&out, path);
    assert_counter("handshakes{ok}", 1, || {
        node.node.metrics().handshake_count("ok")
    })
    .await;
    node.stop().await;
}

#[tokio::test]
async fn pysocks_udp_associate() {
    if !require("pysocks") {
        return;
    }
    let node = TestNode::start(test_config()).await;
    let echo = UdpEcho::start("127.0.0.1:0").await;
    let m = || node.node.metrics();
    let datagrams = |direction: &'static str| {
        m().udp_datagrams
            .get_or_create(&Direction { direction })
            .get()
    };
    let out = run(python("pysocks_udp.py")
        .arg(node.addr.ip().to_string())
        .arg(node.addr.port().to_string())
        .args([USER.0, USER.1])
        .arg(echo.addr.ip().to_string())
        .arg(echo.addr.port().to_string()))
    .await;
    assert!(
        out.status.success(),
        "pysocks_udp.py failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "udp ok 8\n");
    assert_counter("handshakes{ok}", 1, || m().handshake_count("ok")).await;
    assert_eq!(datagrams("client_to_target"), 8);
    assert_eq!(datagrams("target_to_client"), 8);
    node.stop().await;
}

#[tokio::test]
async fn python_socks_from_url() {
    if !require("python-socks") {
        return;
    }
    let node = TestNode::start(test_config()).await;
    let http = HttpServer::start("127.0.0.1:0").await;
    let url = proxy_url("socks5", &node);
    let path = "/python-socks/ip";
    let out = run(python("python_socks_http.py")
        .arg(&url)
        .arg(http.addr.ip().to_string())
        .arg(http.addr.port().to_string())
        .arg(path))
    .await;
    assert_body(&out, path);
    // The name sent to the node, which resolves it.
    let path = "/python-socks/rdns";
    let out = run(python("python_socks_http.py")
        .arg(&url)
        .arg("localhost")
        .arg(http.addr.port().to_string())
        .arg(path)
        .arg("rdns"))
    .await;
    assert_body(&out, path);
    assert_counter("handshakes{ok}", 2, || {
        node.node.metrics().handshake_count("ok")
    })
    .await;
    node.stop().await;
}
