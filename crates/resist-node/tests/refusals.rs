//! Every refusal path of the node, byte for byte, over real TCP on loopback:
//! each malformed or refused request gets the reply RFC 1928/1929 prescribe and
//! then a close, and the matching counter moves.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::time::Duration;

use resist_node::config::AuthMode;
use resist_socks5::msg::Command;
use resist_socks5::{Address, DomainName, Error, ReplyCode};
use resist_testkit::{HttpServer, TestNode, USER, http_body, socks_connect, test_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Sends `bytes`, then reads everything until the node closes (bounded in time).
async fn exchange(node: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(node).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut got = Vec::new();
    timeout(Duration::from_secs(5), s.read_to_end(&mut got))
        .await
        .expect("the node closes after a refusal")
        .unwrap_or_default();
    got
}

/// The bytes of a greeting plus RFC 1929 request for `USER`.
fn login() -> Vec<u8> {
    let (u, p) = USER;
    let mut v = vec![0x05, 0x01, 0x02, 0x01, u8::try_from(u.len()).unwrap()];
    v.extend_from_slice(u.as_bytes());
    v.push(u8::try_from(p.len()).unwrap());
    v.extend_from_slice(p.as_bytes());
    v
}

/// A reply with `code` and an all-zero IPv4 address.
fn failure(code: u8) -> Vec<u8> {
    vec![0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0]
}

/// The two replies a successful login produces.
const LOGIN_OK: [u8; 4] = [0x05, 0x02, 0x01, 0x00];

fn connect_v4(ip: [u8; 4], port: u16) -> Vec<u8> {
    let mut v = vec![0x05, 0x01, 0x00, 0x01];
    v.extend_from_slice(&ip);
    v.extend_from_slice(&port.to_be_bytes());
    v
}

#[tokio::test]
async fn protocol_refusals_get_their_reply_codes() {
    let node = TestNode::start(test_config()).await;
    let m = node.node.metrics();

    // Not SOCKS5 (a SOCKS4 CONNECT): "no acceptable methods", then close.
    assert_eq!(
        exchange(node.addr, &[0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, 0x00]).await,
        [0x05, 0xff]
    );
    // Offers only "no authentication" to a node that requires a password.
    assert_eq!(exchange(node.addr, &[0x05, 0x01, 0x00]).await, [0x05, 0xff]);
    // Wrong password: RFC 1929 status 0x01.
    let mut wrong = vec![0x05, 0x01, 0x02, 0x01, 0x05];
    wrong.extend_from_slice(b"alice\x05wrong");
    assert_eq!(exchange(node.addr, &wrong).await, [0x05, 0x02, 0x01, 0x01]);
    // BIND and an unknown command: 0x07.
    let bind = [login(), vec![0x05, 0x02, 0x00, 0x01, 127, 0, 0, 1, 0, 80]].concat();
    assert_eq!(
        exchange(node.addr, &bind).await,
        [&LOGIN_OK[..], &failure(0x07)].concat()
    );
    let unknown = [login(), vec![0x05, 0x09, 0x00, 0x01, 127, 0, 0, 1, 0, 80]].concat();
    assert_eq!(
        exchange(node.addr, &unknown).await,
        [&LOGIN_OK[..], &failure(0x07)].concat()
    );
    // Address type 0x02 does not exist: 0x08.
    let atyp = [login(), vec![0x05, 0x01, 0x00, 0x02, 1, 2, 3, 4]].concat();
    assert_eq!(
        exchange(node.addr, &atyp).await,
        [&LOGIN_OK[..], &failure(0x08)].concat()
    );

    assert_eq!(m.handshake_count("bad_version"), 1);
    assert_eq!(m.handshake_count("no_acceptable_method"), 1);
    assert_eq!(m.handshake_count("auth_failed"), 1);
    assert_eq!(m.handshake_count("command_not_supported"), 1);
    assert_eq!(m.handshake_count("address_type_not_supported"), 1);
    assert_eq!(m.refusal_count("command_not_supported"), 1, "BIND");
    node.stop().await;
}

#[tokio::test]
async fn policy_refusals_get_0x02_and_nothing_is_dialled() {
    let mut config = test_config();
    config.policy.allow_destinations.clear(); // loopback is refused again
    config.policy.allow_udp = false;
    let node = TestNode::start(config).await;
    let m = node.node.metrics();

    for ip in [
        [10, 1, 2, 3],
        [127, 0, 0, 1],
        [169, 254, 169, 254],
        [192, 168, 0, 1],
        [0, 0, 0, 0],
    ] {
        let req = [login(), connect_v4(ip, 80)].concat();
        assert_eq!(
            exchange(node.addr, &req).await,
            [&LOGIN_OK[..], &failure(0x02)].concat(),
            "{ip:?}"
        );
    }
    // A name that resolves to loopback is refused like loopback: the check runs on
    // the resolved address (no DNS-rebinding bypass).
    let localhost = Address::Domain(DomainName::try_from("localhost").unwrap(), 80);
    let err = socks_connect(node.addr, Command::Connect, localhost, Some(USER))
        .await
        .unwrap_err();
    assert_eq!(err, Error::Refused(ReplyCode::NOT_ALLOWED));
    // IPv4-mapped IPv6 loopback is loopback.
    let mapped = Address::Ip("[::ffff:127.0.0.1]:80".parse().unwrap());
    let err = socks_connect(node.addr, Command::Connect, mapped, Some(USER))
        .await
        .unwrap_err();
    assert_eq!(err, Error::Refused(ReplyCode::NOT_ALLOWED));
    // UDP switched off by policy.
    let udp = socks_connect(
        node.addr,
        Command::UdpAssociate,
        Address::UNSPECIFIED,
        Some(USER),
    )
    .await
    .unwrap_err();
    assert_eq!(udp, Error::Refused(ReplyCode::NOT_ALLOWED));

    assert_eq!(m.refusal_count("special_range"), 7);
    assert_eq!(m.refusal_count("udp_disabled"), 1);
    node.stop().await;
}

#[tokio::test]
async fn deny_port_and_deny_list_win_over_allow() {
    let mut config = test_config();
    config.policy.deny_destinations = vec!["127.0.0.99/32".parse().unwrap()];
    let node = TestNode::start(config).await;
    // Port 25 is denied by default, even to an allowed destination.
    let smtp = socks_connect(
        node.addr,
        Command::Connect,
        Address::Ip("127.0.0.1:25".parse().unwrap()),
        Some(USER),
    )
    .await;
    assert_eq!(smtp.unwrap_err(), Error::Refused(ReplyCode::NOT_ALLOWED));
    let denied = socks_connect(
        node.addr,
        Command::Connect,
        Address::Ip("127.0.0.99:80".parse().unwrap()),
        Some(USER),
    )
    .await;
    assert_eq!(denied.unwrap_err(), Error::Refused(ReplyCode::NOT_ALLOWED));
    assert_eq!(node.node.metrics().refusal_count("port"), 1);
    assert_eq!(node.node.metrics().refusal_count("deny_list"), 1);
    node.stop().await;
}

#[tokio::test]
async fn unreachable_destinations_get_0x05_and_0x04() {
    let mut config = test_config();
    config.limits.connect_timeout = Duration::from_millis(500);
    let node = TestNode::start(config).await;

    // Connection refused (0x05): a loopback port nobody listens on.
    let closed = {
        let l = StdListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let refused = socks_connect(node.addr, Command::Connect, Address::Ip(closed), Some(USER)).await;
    assert_eq!(
        refused.unwrap_err(),
        Error::Refused(ReplyCode::CONNECTION_REFUSED)
    );

    // Host unreachable (0x04) after the connect timeout: a listener whose accept
    // queue is full makes Linux drop further SYNs, so the node's connect hangs.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    sock.listen(0).unwrap();
    let full: SocketAddr = sock.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        // Some of these will hang themselves; that is the point.
        if let Ok(Ok(s)) = timeout(Duration::from_millis(200), TcpStream::connect(full)).await {
            fillers.push(s);
        }
    }
    let started = tokio::time::Instant::now();
    let timed_out = socks_connect(node.addr, Command::Connect, Address::Ip(full), Some(USER)).await;
    assert_eq!(
        timed_out.unwrap_err(),
        Error::Refused(ReplyCode::HOST_UNREACHABLE)
    );
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "answered only after the connect timeout"
    );

    let m = node.node.metrics();
    let failures = m.encode();
    assert!(
        failures.contains("resist_node_connect_failures_total{reason=\"refused\"} 1"),
        "{failures}"
    );
    assert!(
        failures.contains("resist_node_connect_failures_total{reason=\"timeout\"} 1"),
        "{failures}"
    );
    drop(fillers);
    node.stop().await;
}

#[tokio::test]
async fn domain_names_resolve_and_relay_when_allowed() {
    let http = HttpServer::start("127.0.0.1:0").await;
    let mut config = test_config();
    config.auth.mode = AuthMode::None;
    let node = TestNode::start(config).await;
    let dest = Address::Domain(DomainName::try_from("localhost").unwrap(), http.addr.port());
    let (mut s, bound) = socks_connect(node.addr, Command::Connect, dest, None)
        .await
        .unwrap();
    assert!(
        matches!(bound, Address::Ip(sa) if sa.ip().is_loopback()),
        "BND.ADDR is the node's outbound address: {bound:?}"
    );
    s.write_all(b"GET /by-name HTTP/1.0\r\n\r\n").await.unwrap();
    let mut resp = String::new();
    timeout(Duration::from_secs(5), s.read_to_string(&mut resp))
        .await
        .unwrap()
        .unwrap();
    assert!(resp.ends_with(&http_body("/by-name")), "{resp}");
    node.stop().await;
}
