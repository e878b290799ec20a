//! Signals on the real `resist node` process.
//!
//! Proves that SIGTERM stops accepting at once but lets an open relayed
//! connection keep working, and that the process exits 0 as soon as it closes
//! (well before `limits.drain_timeout`); that at the drain deadline the remaining
//! connections are cut and the process still exits 0; that SIGHUP swaps the users
//! for new connections without touching open ones; and that a SIGHUP with a broken
//! file keeps the previous configuration and the process running.
//!
//! Two tests (`signal_right_after_the_banner_*`) send the signal the moment the
//! banner appears: the handlers must be installed before it is printed, or the
//! default action kills the node (a bug found by these tests and fixed).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::{NodeProcess, assert_echoes, node_command, within, write_file};
use resist_socks5::{Address, Command, Error};
use resist_testkit::{TcpEcho, socks_connect};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep};

const ALICE: (&str, &str) = ("alice", "alice-password-1");
const BOB: (&str, &str) = ("bob", "bob-password-2");

/// A node on 127.0.0.1:0 with `config`, relaying to loopback.
fn start(dir: &Path, config: &Path, extra: &[&str]) -> (NodeProcess, SocketAddr) {
    let data = dir.join("data");
    let mut args = vec![
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--allow-destination",
        "127.0.0.0/8",
        "--data-dir",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut node = NodeProcess::spawn(node_command(&args, dir));
    let addr = node.listen_addr();
    (node, addr)
}

/// A relayed connection as `user` to `echo`, within 5 s.
async fn relay(node: SocketAddr, echo: SocketAddr, user: (&str, &str)) -> Result<TcpStream, Error> {
    within(
        "SOCKS5 CONNECT",
        Duration::from_secs(5),
        socks_connect(node, Command::Connect, Address::Ip(echo), Some(user)),
    )
    .await
    .map(|(stream, _bound)| stream)
}

/// Polls until a plain TCP connect to `addr` is refused (the listener is closed).
async fn wait_until_refused(addr: SocketAddr, within_: Duration) {
    let deadline = Instant::now() + within_;
    loop {
        match TcpStream::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "new connections still accepted {within_:?} after SIGTERM: {other:?}"
                );
                sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

fn users_toml(users: &[(&str, &str)]) -> String {
    let list: Vec<String> = users
        .iter()
        .map(|(n, p)| format!("{{ name = \"{n}\", password = \"{p}\" }}"))
        .collect();
    format!("[auth]\nusers = [{}]\n", list.join(", "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_accepting_and_drains_open_connections() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "node.toml",
        "[limits]\ndrain_timeout = \"10s\"\n",
    );
    let echo = TcpEcho::start().await;
    let (mut node, addr) = start(dir.path(), &config, &["--user", "alice:alice-password-1"]);
    let mut open = relay(addr, echo.addr, ALICE).await.unwrap();
    assert_echoes(&mut open, b"before SIGTERM").await;

    node.signal(libc::SIGTERM);
    wait_until_refused(addr, Duration::from_secs(5)).await;
    assert_echoes(&mut open, b"after SIGTERM, still relayed").await;
    assert!(node.is_running(), "the node must wait for the open relay");

    let closed_at = Instant::now();
    drop(open);
    let status = node.wait_exit(Duration::from_secs(8));
    let took = closed_at.elapsed();
    assert!(
        status.success(),
        "exit status {status}; output:\n{}",
        node.final_output()
    );
    assert!(
        took < Duration::from_secs(5),
        "exit took {took:?} after the last connection closed (drain_timeout 10s)"
    );
    let out = node.final_output();
    assert!(out.contains("SIGTERM: draining"), "{out}");
    assert!(!out.contains("drain timeout reached"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cuts_connections_at_the_drain_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "node.toml",
        "[limits]\ndrain_timeout = \"1s\"\n",
    );
    let echo = TcpEcho::start().await;
    let (mut node, addr) = start(dir.path(), &config, &["--user", "alice:alice-password-1"]);
    let mut open = relay(addr, echo.addr, ALICE).await.unwrap();
    assert_echoes(&mut open, b"before SIGTERM").await;

    let signalled = Instant::now();
    node.signal(libc::SIGTERM);
    // The connection stays open (and idle) past the deadline; the node must cut it.
    let mut buf = [0u8; 16];
    let read = within(
        "relay closed at the drain deadline",
        Duration::from_secs(5),
        open.read(&mut buf),
    )
    .await;
    let cut_after = signalled.elapsed();
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "expected EOF or reset, got {read:?}"
    );
    let status = node.wait_exit(Duration::from_secs(5));
    let exited_after = signalled.elapsed();
    let out = node.final_output();
    assert!(status.success(), "exit status {status}; output:\n{out}");
    assert!(
        cut_after >= Duration::from_millis(900),
        "cut after {cut_after:?}, before the 1s drain deadline"
    );
    assert!(
        exited_after < Duration::from_secs(4),
        "exit took {exited_after:?} with drain_timeout 1s"
    );
    assert!(out.contains("drain timeout reached"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_replaces_users_for_new_connections_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "node.toml", &users_toml(&[ALICE]));
    let echo = TcpEcho::start().await;
    let (mut node, addr) = start(dir.path(), &config, &[]);
    let mut open = relay(addr, echo.addr, ALICE).await.unwrap();
    assert_echoes(&mut open, b"alice before reload").await;
    assert_eq!(
        relay(addr, echo.addr, BOB).await.err(),
        Some(Error::AuthFailed),
        "bob is unknown before the reload"
    );

    write_file(dir.path(), "node.toml", &users_toml(&[BOB]));
    node.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut bob = loop {
        match relay(addr, echo.addr, BOB).await {
            Ok(s) => break s,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "bob still refused 5s after SIGHUP ({e}); output:\n{}",
                    node.output_so_far()
                );
                sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_echoes(&mut bob, b"bob after reload").await;
    assert_eq!(
        relay(addr, echo.addr, ALICE).await.err(),
        Some(Error::AuthFailed),
        "alice was removed by the reload"
    );
    assert_echoes(&mut open, b"alice's open relay survives the reload").await;
    assert!(node.is_running());
    drop((open, bob));
    node.terminate(Duration::from_secs(10));
    let out = node.final_output();
    assert!(out.contains("SIGHUP: configuration reloaded"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_broken_file_keeps_the_previous_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "node.toml", &users_toml(&[ALICE]));
    let echo = TcpEcho::start().await;
    let (mut node, addr) = start(dir.path(), &config, &[]);
    let mut open = relay(addr, echo.addr, ALICE).await.unwrap();

    write_file(
        dir.path(),
        "node.toml",
        "[auth\nusers = [{ name = \"bob\", password = ",
    );
    node.signal(libc::SIGHUP);
    node.wait_for_stderr(
        "SIGHUP: keeping the previous configuration",
        Duration::from_secs(5),
    );
    assert!(node.is_running(), "a bad reload must not stop the node");

    let mut again = relay(addr, echo.addr, ALICE)
        .await
        .expect("alice still admitted after a failed reload");
    assert_echoes(&mut again, b"new relay as alice").await;
    assert_echoes(&mut open, b"old relay as alice").await;
    assert_eq!(
        relay(addr, echo.addr, BOB).await.err(),
        Some(Error::AuthFailed)
    );
    drop((open, again));
    node.terminate(Duration::from_secs(10));
}

/// Sends `signal` as soon as the banner is printed; the node must treat it as
/// it would a moment later (drain and exit 0 for SIGTERM, reload and keep
/// running for SIGHUP) rather than die of the default action.
fn signal_right_after_the_banner(signal: libc::c_int) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "node.toml", &users_toml(&[ALICE]));
    let data = dir.path().join("data");
    let mut node = NodeProcess::spawn(node_command(
        &[
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        dir.path(),
    ));
    // The banner only: not `listen_addr`, which waits for the handlers.
    node.banner();
    node.signal(signal);
    std::thread::sleep(Duration::from_millis(300));
    if signal == libc::SIGHUP {
        assert!(
            node.is_running(),
            "SIGHUP right after the banner killed the node ({}); output:\n{}",
            node.try_status().map(|s| s.to_string()).unwrap_or_default(),
            node.output_so_far()
        );
        node.terminate(Duration::from_secs(10));
    } else {
        let status = node.wait_exit(Duration::from_secs(10));
        assert_eq!(
            status.code(),
            Some(0),
            "{signal} right after the banner: {status}; output:\n{}",
            node.final_output()
        );
    }
}

#[test]
fn signal_right_after_the_banner_sigterm_drains() {
    signal_right_after_the_banner(libc::SIGTERM);
}

#[test]
fn signal_right_after_the_banner_sighup_reloads() {
    signal_right_after_the_banner(libc::SIGHUP);
}
