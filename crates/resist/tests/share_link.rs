//! The share links printed by the real `resist node` started without users.
//!
//! Proves that the generated credentials are stored in the data directory (file
//! mode 0600, directory 0700) and read back, so a restart prints the very same
//! `tg://socks?…` link; that the link's user and password are the ones stored and
//! actually admit a client; and that `--advertise HOST:PORT` puts that host and
//! port into both links instead of the listen address.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::{NodeProcess, START_TIMEOUT, free_port, node_command, within};
use resist_socks5::{Address, Command};
use resist_testkit::{TcpEcho, socks_connect};

/// What one run printed.
struct Banner {
    tg: String,
    tme: String,
    credentials_line: String,
}

/// Runs `resist node ARGS`, reads the banner up to both links, then stops it
/// with SIGTERM (exit 0 expected). `during` runs while the node is up.
async fn run_node<F, Fut>(dir: &Path, args: &[&str], during: F) -> Banner
where
    F: FnOnce(SocketAddr) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut node = NodeProcess::spawn(node_command(args, dir));
    let addr = node.listen_addr();
    let credentials_line = node.stdout_line(|l| l.starts_with("credentials "), START_TIMEOUT);
    let tg = node.stdout_line(|l| l.trim_start().starts_with("tg://"), START_TIMEOUT);
    let tme = node.stdout_line(
        |l| l.trim_start().starts_with("https://t.me/"),
        START_TIMEOUT,
    );
    during(addr).await;
    node.terminate(Duration::from_secs(10));
    Banner {
        tg: tg.trim().to_string(),
        tme: tme.trim().to_string(),
        credentials_line: credentials_line.trim().to_string(),
    }
}

/// The query of a `tg://socks?…` or `https://t.me/socks?…` link.
fn query(link: &str) -> HashMap<String, String> {
    let (_, q) = link.split_once('?').expect("link has a query");
    q.split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            // Generated names and passwords are alphanumeric: nothing to decode.
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_credentials_survive_a_restart_and_admit_clients() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state/resist");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "--listen",
        &listen,
        "--data-dir",
        data.to_str().unwrap(),
        "--allow-destination",
        "127.0.0.0/8",
    ];

    let first = run_node(dir.path(), &args, |_| async {}).await;
    assert!(
        first
            .credentials_line
            .starts_with("credentials generated: "),
        "{}",
        first.credentials_line
    );
    let q = query(&first.tg);
    assert_eq!(q["server"], "127.0.0.1");
    assert_eq!(q["port"], port.to_string());
    let (user, pass) = (q["user"].clone(), q["pass"].clone());
    assert!(!user.is_empty() && pass.len() >= 16, "{}", first.tg);
    assert_eq!(
        first.tme,
        first.tg.replace("tg://socks?", "https://t.me/socks?")
    );

    let file = data.join("node-credentials.toml");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} has mode {mode:o}", file.display());
    let dir_mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700, "{} has mode {dir_mode:o}", data.display());
    let stored = std::fs::read_to_string(&file).unwrap();
    assert!(
        stored.contains(&format!("\"{user}\"")) && stored.contains(&format!("\"{pass}\"")),
        "the link's credentials are the stored ones:\n{stored}"
    );

    // The second run reads them back, prints the same link, and they work.
    let echo = TcpEcho::start().await;
    let (u, p) = (user.clone(), pass.clone());
    let second = run_node(dir.path(), &args, |addr| async move {
        let result = within(
            "CONNECT with the link's credentials",
            Duration::from_secs(5),
            socks_connect(
                addr,
                Command::Connect,
                Address::Ip(echo.addr),
                Some((&u, &p)),
            ),
        )
        .await;
        assert!(result.is_ok(), "the link's credentials: {:?}", result.err());
    })
    .await;
    assert!(
        second.credentials_line.starts_with("credentials loaded: "),
        "{}",
        second.credentials_line
    );
    assert_eq!(first.tg, second.tg, "a restart must not change the link");
    assert_eq!(first.tme, second.tme);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        stored,
        "the file is not rewritten"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advertise_sets_the_host_and_port_of_the_links() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let banner = run_node(
        dir.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--advertise",
            "proxy.example.org:443",
        ],
        |_| async {},
    )
    .await;
    for link in [&banner.tg, &banner.tme] {
        let q = query(link);
        assert_eq!(q["server"], "proxy.example.org", "{link}");
        assert_eq!(q["port"], "443", "{link}");
        assert!(!q["user"].is_empty() && !q["pass"].is_empty(), "{link}");
    }
    assert!(
        banner
            .tg
            .starts_with("tg://socks?server=proxy.example.org&port=443&user="),
        "{}",
        banner.tg
    );
    assert!(
        banner
            .tme
            .starts_with("https://t.me/socks?server=proxy.example.org&port=443&user="),
        "{}",
        banner.tme
    );
}

/// `--check` validates without side effects: with no users configured it does
/// not create the data directory or the credentials file.
#[test]
fn check_writes_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("data");
    let data_arg = data.to_str().unwrap().to_string();
    let out = common::node_command(&["--check", "--data-dir", &data_arg], scratch.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("configuration OK"));
    assert!(!data.exists(), "--check created {}", data.display());
}
