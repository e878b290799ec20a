//! Slow and abusive clients: a handshake that never finishes is cut at the
//! timeout, one client cannot hold more than its share of connections, and the
//! node keeps serving everyone else throughout.
//!
//! Linux routes all of 127.0.0.0/8 to loopback, so binding the client socket to
//! 127.0.0.2 makes "another client" without leaving the machine.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use resist_socks5::Address;
use resist_socks5::msg::Command;
use resist_testkit::{HttpServer, TestNode, USER, http_body, socks_connect, test_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, sleep, timeout};

/// A TCP connection to `node` from the loopback address `from`.
async fn connect_from(from: &str, node: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(from.parse().unwrap(), 0))?;
    sock.connect(node).await
}

/// A relayed connection through `node` to `dest`, as [`USER`].
async fn relay_to(node: SocketAddr, dest: SocketAddr) -> (TcpStream, Address) {
    socks_connect(node, Command::Connect, Address::Ip(dest), Some(USER))
        .await
        .unwrap()
}

/// Waits (bounded) until `cond` holds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        sleep(Duration::from_millis(10)).await;
    }
}

/// A full SOCKS5 CONNECT plus HTTP GET through the node from `from`.
async fn fetch_from(from: &str, node: SocketAddr, http: SocketAddr) {
    let mut s = connect_from(from, node).await.unwrap();
    // Drive the client handshake by hand-written bytes (the testkit client dials
    // from the default address).
    let (u, p) = USER;
    let mut hello = vec![0x05, 0x01, 0x02, 0x01, u8::try_from(u.len()).unwrap()];
    hello.extend_from_slice(u.as_bytes());
    hello.push(u8::try_from(p.len()).unwrap());
    hello.extend_from_slice(p.as_bytes());
    hello.extend_from_slice(&[0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1]);
    hello.extend_from_slice(&http.port().to_be_bytes());
    hello.extend_from_slice(b"GET /other-client HTTP/1.0\r\n\r\n");
    s.write_all(&hello).await.unwrap();
    let mut resp = Vec::new();
    timeout(Duration::from_secs(5), s.read_to_end(&mut resp))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&resp);
    assert!(text.ends_with(&http_body("/other-client")), "{text}");
}

#[tokio::test]
async fn unfinished_handshake_is_cut_at_the_timeout() {
    let mut config = test_config();
    config.limits.handshake_timeout = Duration::from_millis(300);
    let node = TestNode::start(config).await;
    let mut s = TcpStream::connect(node.addr).await.unwrap();
    s.write_all(&[0x05, 0x02]).await.unwrap(); // half a greeting, then silence
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("node closes the connection")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without a reply");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "not before the timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(node.node.metrics().handshake_count("timeout"), 1);
    node.stop().await;
}

#[tokio::test]
async fn thousands_of_half_open_handshakes_from_one_client_do_not_starve_others() {
    let http = HttpServer::start("127.0.0.1:0").await;
    let mut config = test_config();
    config.limits.max_connections_per_client = 32;
    config.limits.max_connections = 256;
    config.limits.handshake_timeout = Duration::from_secs(2);
    let node = TestNode::start(config).await;
    let abuser: IpAddr = "127.0.0.1".parse().unwrap();

    // 2000 connections that send half a greeting and stall.
    let mut held = Vec::new();
    for _ in 0..2000 {
        let mut s = connect_from("127.0.0.1", node.addr).await.unwrap();
        let _ = s.write_all(&[0x05]).await;
        held.push(s);
    }
    eventually("the abuser holds exactly its cap", || {
        node.node.connections_from(abuser) == 32
    })
    .await;
    let refused = node.node.metrics().refusal_count("per_client_limit");
    assert!(refused >= 2000 - 32, "refused {refused}");

    // Meanwhile another client is served normally, several times.
    for _ in 0..5 {
        fetch_from("127.0.0.2", node.addr, http.addr).await;
    }
    assert_eq!(
        node.node.connections_from(abuser),
        32,
        "the cap still holds"
    );

    // The stalled handshakes are cut at the timeout and the slots come back.
    eventually("the handshake timeout frees the abuser's slots", || {
        node.node.connections_from(abuser) == 0
    })
    .await;
    assert!(node.node.metrics().handshake_count("timeout") >= 32);
    drop(held);
    let (s, _) = relay_to(node.addr, http.addr).await;
    drop(s);
    node.stop().await;
}

#[tokio::test]
async fn total_cap_refuses_extra_connections_and_recovers() {
    let mut config = test_config();
    config.limits.max_connections = 10;
    config.limits.handshake_timeout = Duration::from_secs(30);
    let node = TestNode::start(config).await;
    let mut held = Vec::new();
    for i in 0..10 {
        held.push(
            connect_from(&format!("127.0.1.{}", i + 1), node.addr)
                .await
                .unwrap(),
        );
    }
    eventually("ten connections admitted", || {
        node.node.metrics().connections_active.get() == 10
    })
    .await;
    // The eleventh is closed at once without a byte.
    let mut extra = connect_from("127.0.2.1", node.addr).await.unwrap();
    let mut buf = [0u8; 4];
    let n = timeout(Duration::from_secs(5), extra.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert_eq!(node.node.metrics().refusal_count("capacity"), 1);
    drop(held);
    eventually("slots freed when clients close", || {
        node.node.metrics().connections_active.get() == 0
    })
    .await;
    let echo = resist_testkit::TcpEcho::start().await;
    let (mut s, _) = relay_to(node.addr, echo.addr).await;
    s.write_all(b"ping").await.unwrap();
    let mut pong = [0u8; 4];
    s.read_exact(&mut pong).await.unwrap();
    assert_eq!(&pong, b"ping");
    node.stop().await;
}

#[tokio::test]
async fn idle_relays_are_closed_and_client_allowlist_applies() {
    let echo = resist_testkit::TcpEcho::start().await;
    let mut config = test_config();
    config.limits.idle_timeout = Duration::from_millis(400);
    config.policy.allow_clients = vec!["127.0.0.1/32".parse().unwrap()];
    let node = TestNode::start(config).await;

    let (mut s, _) = relay_to(node.addr, echo.addr).await;
    // Traffic keeps it alive past the idle timeout...
    for _ in 0..4 {
        sleep(Duration::from_millis(200)).await;
        s.write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
    }
    // ...and silence ends it.
    let started = Instant::now();
    let mut b = [0u8; 1];
    let n = timeout(Duration::from_secs(5), s.read(&mut b))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // A client outside allow_clients is closed at once.
    let mut other = connect_from("127.0.0.2", node.addr).await.unwrap();
    let _ = other.write_all(&[0x05, 0x01, 0x00]).await;
    let n = timeout(Duration::from_secs(5), other.read(&mut b))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert_eq!(node.node.metrics().refusal_count("client_not_allowed"), 1);
    node.stop().await;
}
