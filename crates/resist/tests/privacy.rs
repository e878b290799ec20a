//! What the real `resist node` writes to stdout and stderr at `debug` and `trace`
//! log levels must not identify its users.
//!
//! Each run serves a successful CONNECT, a wrong password, a CONNECT refused by
//! policy (10.11.12.13, a private address: refused before any packet is sent) and,
//! in a second node with loopback not allowed, a CONNECT to the name `localhost`
//! (refused with 0x02 because the name resolves to 127.0.0.1: the policy applies
//! to resolved addresses, which also defeats DNS rebinding). The whole output must
//! then hold no client address or port, no destination address, name or port, no
//! username or password of the failed attempt — while it demonstrably did log
//! those events (with `[scrubbed]` in place of the values), so an empty log
//! cannot pass.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::{NodeProcess, node_command, within};
use resist_socks5::{Address, Command, DomainName, Error, ReplyCode};
use resist_testkit::{HttpServer, http_body, socks_connect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USER: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";
const WRONG_USER: &str = "mallory-do-not-log";
const WRONG_PASSWORD: &str = "hunter2-do-not-log";
const PRIVATE: &str = "10.11.12.13";

/// Starts a node at `level`; `allow_loopback` adds `--allow-destination 127.0.0.0/8`.
fn start(dir: &Path, level: &str, allow_loopback: bool) -> (NodeProcess, SocketAddr) {
    start_with_env(dir, level, allow_loopback, &[])
}

fn start_with_env(
    dir: &Path,
    level: &str,
    allow_loopback: bool,
    env: &[(&str, &str)],
) -> (NodeProcess, SocketAddr) {
    let data = dir.join("data");
    let user = format!("{USER}:{PASSWORD}");
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--user",
        &user,
        "--data-dir",
        data.to_str().unwrap(),
        "--log-level",
        level,
    ];
    if allow_loopback {
        args.extend_from_slice(&["--allow-destination", "127.0.0.0/8"]);
    }
    let mut cmd = node_command(&args, dir);
    cmd.envs(env.iter().copied());
    let mut node = NodeProcess::spawn(cmd);
    let addr = node.listen_addr();
    (node, addr)
}

/// Runs the scenario at `level` and checks the output of both nodes.
/// A CONNECT to [`PRIVATE`] through the node at `addr` is refused with 0x02
/// (policy); nothing is sent to that address.
async fn assert_private_refused(addr: SocketAddr, t: Duration) {
    let private: SocketAddr = format!("{PRIVATE}:80").parse().unwrap();
    let refused = within(
        "CONNECT to a private address",
        t,
        socks_connect(
            addr,
            Command::Connect,
            Address::Ip(private),
            Some((USER, PASSWORD)),
        ),
    )
    .await;
    assert_eq!(refused.err(), Some(Error::Refused(ReplyCode::NOT_ALLOWED)));
}

async fn scenario(level: &str) {
    let dir = tempfile::tempdir().unwrap();
    let http = HttpServer::start("127.0.0.1:0").await;
    let t = Duration::from_secs(10);

    // Node 1: loopback allowed.
    let (mut node, addr) = start(dir.path(), level, true);
    let (mut stream, _) = within(
        "CONNECT to the HTTP server",
        t,
        socks_connect(
            addr,
            Command::Connect,
            Address::Ip(http.addr),
            Some((USER, PASSWORD)),
        ),
    )
    .await
    .expect("CONNECT through the node");
    let client = stream.local_addr().unwrap();
    within("HTTP exchange", t, async {
        stream
            .write_all(b"GET /private-path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut resp = String::new();
        stream.read_to_string(&mut resp).await.unwrap();
        assert!(resp.ends_with(&http_body("/private-path")), "{resp}");
    })
    .await;
    drop(stream);

    let wrong = within(
        "wrong password",
        t,
        socks_connect(
            addr,
            Command::Connect,
            Address::Ip(http.addr),
            Some((WRONG_USER, WRONG_PASSWORD)),
        ),
    )
    .await;
    assert_eq!(wrong.err(), Some(Error::AuthFailed));

    assert_private_refused(addr, t).await;
    node.terminate(t);
    let out1 = node.final_output();

    // Node 2: loopback not allowed; `localhost` resolves into it.
    let (mut node, addr2) = start(dir.path(), level, false);
    let name = DomainName::try_from("localhost").unwrap();
    let rebound = within(
        "CONNECT to localhost",
        t,
        socks_connect(
            addr2,
            Command::Connect,
            Address::Domain(name, http.addr.port()),
            Some((USER, PASSWORD)),
        ),
    )
    .await;
    assert_eq!(
        rebound.err(),
        Some(Error::Refused(ReplyCode::NOT_ALLOWED)),
        "a name resolving to loopback must be refused when loopback is not allowed"
    );
    node.terminate(t);
    let out2 = node.final_output();

    // The events were logged…
    for (what, out) in [("node 1", &out1), ("node 2", &out2)] {
        assert!(
            out.contains("[scrubbed]"),
            "{what} at {level}: no scrubbed value logged:\n{out}"
        );
        assert!(
            out.contains("CONNECT failed"),
            "{what} at {level}: refusal not logged:\n{out}"
        );
    }
    assert!(
        out1.contains("handshake failed"),
        "node 1 at {level}: failed login not logged:\n{out1}"
    );
    assert!(
        out1.contains("relay ended"),
        "node 1 at {level}: relay not logged:\n{out1}"
    );

    // …without anything that identifies the user or the destinations.
    let forbidden = [
        PRIVATE.to_string(),
        format!(":{}", http.addr.port()),
        WRONG_PASSWORD.to_string(),
        WRONG_USER.to_string(),
        "private-path".to_string(),
        "localhost".to_string(),
    ];
    // Node 1 served `client`; node 2 may since have been given its port to listen on.
    for needle in [client.to_string(), format!(":{}", client.port())] {
        assert!(
            !out1.contains(needle.as_str()),
            "node 1 at {level} logged the client's {needle:?}:\n{out1}"
        );
    }
    for (what, out, own) in [("node 1", &out1, addr), ("node 2", &out2, addr2)] {
        // The banner on stdout hands the real user's credentials to the operator
        // (that is its job); the log on stderr must not repeat them.
        let (_, log) = out.split_once("--- stderr ---").unwrap();
        assert!(
            !log.contains(PASSWORD) && !log.contains("correct+horse"),
            "{what} at {level} logged the password:\n{out}"
        );
        for needle in &forbidden {
            assert!(
                !out.contains(needle.as_str()),
                "{what} at {level} logged {needle:?}:\n{out}"
            );
        }
        // The only loopback socket address allowed is the node's own listener.
        for (i, _) in out.match_indices("127.0.0.1:") {
            let rest = &out[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
                .unwrap_or(rest.len());
            assert_eq!(
                &rest[..end],
                own.to_string(),
                "{what} at {level} logged a loopback address other than its own:\n{out}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_log_holds_no_addresses_or_credentials() {
    scenario("debug").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_log_holds_no_addresses_or_credentials() {
    scenario("trace").await;
}

/// The control: with `log.danger_log_sensitive` the same checks do find the
/// client and the destination, so the tests above would notice a leak.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_danger_log_sensitive_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let t = Duration::from_secs(10);
    let (mut node, addr) = start_with_env(
        dir.path(),
        "debug",
        false,
        &[("RESIST_NODE_LOG__DANGER_LOG_SENSITIVE", "true")],
    );
    assert_private_refused(addr, t).await;
    node.terminate(t);
    let out = node.final_output();
    assert!(out.contains("log.danger_log_sensitive = true"), "{out}");
    assert!(out.contains(&format!("dest={PRIVATE}:80")), "{out}");
}
