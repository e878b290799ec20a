//! `check_node` against real peers on loopback: a real resist node
//! (resist-testkit), the coordinator's real canary server, and small fake
//! servers written here for the misbehaving cases a real node never shows.

use std::net::SocketAddr;
use std::time::Duration;

use resist_clock::{ManualClock, UnixTime};
use resist_probe::check::{CheckError, CheckLimits, check_node};
use resist_proto::api::Assignment;
use resist_proto::endpoint::{Endpoint, EndpointRules};
use resist_proto::report::{Outcome, Report};
use resist_testkit::{TestNode, USER, test_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const CANARY_KEY: [u8; 32] = [0x5a; 32];
const PROBE_KEY: [u8; 32] = [0x11; 32];
const WINDOW: i64 = 2_992_000;
const NOW: i64 = 1_795_200_000;

/// Loopback nodes are what these tests dial.
const LOCAL: EndpointRules = EndpointRules {
    danger_allow_private: true,
};

/// The coordinator's canary server on 127.0.0.1:0; stops when dropped.
struct Canary {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn canary() -> Canary {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(resist_coordinator::canary::serve(
        listener,
        CANARY_KEY,
        async {
            let _ = stopped.await;
        },
    ));
    Canary { addr, _stop: stop }
}

fn assignment(host: &str, port: u16, credentials: Option<(&str, &str)>) -> Assignment {
    Assignment {
        node: 42,
        endpoint: Endpoint {
            host: host.into(),
            port,
        },
        protocol: "socks5".into(),
        username: credentials.map(|c| c.0.into()),
        password: credentials.map(|c| c.1.into()),
        reported: false,
    }
}

fn at(addr: SocketAddr, credentials: Option<(&str, &str)>) -> Assignment {
    assignment(&addr.ip().to_string(), addr.port(), credentials)
}

fn short() -> CheckLimits {
    CheckLimits {
        connect: Duration::from_secs(2),
        handshake: Duration::from_millis(400),
        canary_answer: Duration::from_millis(400),
        sample: Duration::from_secs(2),
        sample_len: 64 * 1024,
        source: None,
    }
}

async fn check_with(
    a: &Assignment,
    canary: &str,
    limits: &CheckLimits,
    rules: EndpointRules,
) -> Report {
    let clock = ManualClock::new(UnixTime(NOW));
    check_node(a, canary, PROBE_KEY, WINDOW, limits, rules, &clock)
        .await
        .expect("testable assignment")
}

async fn check(a: &Assignment, canary: SocketAddr) -> Report {
    check_with(a, &canary.to_string(), &CheckLimits::default(), LOCAL).await
}

#[tokio::test]
async fn a_working_node_relays_and_the_coordinator_can_verify_it() {
    let node = TestNode::start(test_config()).await;
    let canary = canary().await;
    let a = at(node.addr, Some(USER));
    let r = check(&a, canary.addr).await;
    assert_eq!(r.outcome, Outcome::Relayed, "{r:?}");
    assert!(
        r.canary_verifies(&CANARY_KEY),
        "the canary's HMAC came back"
    );
    assert!(!r.canary_verifies(&[0; 32]));
    assert_eq!(
        (r.window, r.node, r.probe_key, r.measured_at),
        (WINDOW, 42, PROBE_KEY, NOW)
    );
    assert_eq!(r.reply_code, 0);
    assert_eq!(r.sample_requested, 64 * 1024);
    assert_eq!(r.sample_bytes, 64 * 1024);
    assert!(r.connect_us > 0 && r.handshake_us > 0 && r.rtt_us > 0 && r.sample_us > 0);
    assert_ne!(r.canary_nonce, [0; 32]);

    // Every test has its own id and nonce.
    let again = check(&a, canary.addr).await;
    assert_eq!(again.outcome, Outcome::Relayed);
    assert_ne!(again.report_id, r.report_id);
    assert_ne!(again.canary_nonce, r.canary_nonce);

    // The sample size is configurable and capped at the canary's maximum.
    let limits = CheckLimits {
        sample_len: 0,
        ..CheckLimits::default()
    };
    let r = check_with(&a, &canary.addr.to_string(), &limits, LOCAL).await;
    assert_eq!(
        (r.outcome, r.sample_bytes, r.sample_us),
        (Outcome::Relayed, 0, 0)
    );
    assert!(r.canary_verifies(&CANARY_KEY));
    let limits = CheckLimits {
        sample_len: u32::MAX,
        ..CheckLimits::default()
    };
    let r = check_with(&a, &canary.addr.to_string(), &limits, LOCAL).await;
    assert_eq!(r.sample_requested, resist_proto::canary::MAX_SAMPLE);
    assert_eq!(r.sample_bytes, resist_proto::canary::MAX_SAMPLE);
    assert!(r.canary_verifies(&CANARY_KEY));
    node.stop().await;
}

#[tokio::test]
async fn node_and_canary_may_be_named() {
    let node = TestNode::start(test_config()).await;
    let canary = canary().await;
    // "localhost" may resolve to ::1 first, where nothing listens: the probe
    // tries the next address, and the node does the same for the canary.
    let a = assignment("localhost", node.addr.port(), Some(USER));
    let r = check_with(
        &a,
        &format!("localhost:{}", canary.addr.port()),
        &CheckLimits::default(),
        LOCAL,
    )
    .await;
    assert_eq!(r.outcome, Outcome::Relayed, "{r:?}");
    assert!(r.canary_verifies(&CANARY_KEY));
    node.stop().await;
}

#[tokio::test]
async fn wrong_or_missing_credentials_fail_authentication() {
    let node = TestNode::start(test_config()).await;
    let canary = canary().await;
    let r = check(&at(node.addr, Some((USER.0, "wrong"))), canary.addr).await;
    assert_eq!(r.outcome, Outcome::AuthFailed, "{r:?}");
    assert!(r.handshake_us > 0);
    assert_eq!((r.rtt_us, r.canary_nonce), (0, [0; 32]));
    // No credentials: the node accepts no method the probe offers.
    let r = check(&at(node.addr, None), canary.addr).await;
    assert_eq!(r.outcome, Outcome::AuthFailed, "{r:?}");
    node.stop().await;
}

#[tokio::test]
async fn a_node_whose_policy_refuses_the_canary_answers_0x02() {
    let mut config = test_config();
    config.policy.allow_destinations.clear(); // loopback is refused by default
    let node = TestNode::start(config).await;
    let canary = canary().await;
    let r = check(&at(node.addr, Some(USER)), canary.addr).await;
    assert_eq!(r.outcome, Outcome::ConnectRefused, "{r:?}");
    assert_eq!(r.reply_code, 0x02);
    assert_eq!(r.sample_requested, 0);
    node.stop().await;
}

#[tokio::test]
async fn a_closed_port_fails_to_connect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let r = check(&at(addr, Some(USER)), "127.0.0.1:9".parse().unwrap()).await;
    assert_eq!(r.outcome, Outcome::ConnectFailed, "{r:?}");
    assert_eq!((r.connect_us, r.handshake_us), (0, 0));
    assert_eq!(r.measured_at, NOW);
}

#[tokio::test]
async fn special_range_nodes_are_not_dialled_unless_allowed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let canary = "198.51.100.7:7000";
    for host in ["127.0.0.1", "::ffff:127.0.0.1", "localhost"] {
        let a = assignment(host, addr.port(), None);
        let r = check_with(&a, canary, &short(), EndpointRules::default()).await;
        assert_eq!(r.outcome, Outcome::ConnectFailed, "{host}: {r:?}");
        assert_eq!(r.connect_us, 0, "{host}");
    }
    // Nothing reached the listener.
    let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "the probe connected to a loopback node");

    // With the danger rule it does dial (and times out on the silent listener).
    let a = assignment("127.0.0.1", addr.port(), None);
    let r = check_with(&a, canary, &short(), LOCAL).await;
    assert_eq!(r.outcome, Outcome::Timeout);
    assert!(listener.accept().await.is_ok());
}

/// How a fake SOCKS5 server behaves once it has said "succeeded".
#[derive(Clone, Copy)]
enum After {
    /// Close at once.
    Close,
    /// Send these bytes, then close.
    Send(&'static [u8]),
    /// Say nothing, keep the connection open.
    Silence,
}

/// A SOCKS5 server (no authentication) that completes the handshake with
/// "succeeded" for an IPv4 CONNECT and relays nowhere. Written by hand, byte
/// by byte, so it shares nothing with resist-socks5.
async fn fake_socks(after: After) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut greeting = [0u8; 3];
                s.read_exact(&mut greeting).await.unwrap();
                assert_eq!(greeting, [0x05, 0x01, 0x00]);
                s.write_all(&[0x05, 0x00]).await.unwrap();
                let mut request = [0u8; 10];
                s.read_exact(&mut request).await.unwrap();
                assert_eq!(request[..4], [0x05, 0x01, 0x00, 0x01]);
                s.write_all(&[0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0x1f, 0x90])
                    .await
                    .unwrap();
                match after {
                    After::Close => {}
                    After::Send(bytes) => {
                        let _ = s.write_all(bytes).await;
                    }
                    After::Silence => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_fake_server_that_relays_nowhere_is_caught() {
    let canary: SocketAddr = "127.0.0.1:7".parse().unwrap();
    // Closes after "succeeded": no answer at all.
    let r = check(&at(fake_socks(After::Close).await, None), canary).await;
    assert_eq!(r.outcome, Outcome::CanaryMismatch, "{r:?}");
    assert_ne!(r.canary_nonce, [0; 32], "the nonce was sent");
    assert_eq!(r.canary_answer, [0; 32]);
    // A short answer.
    let r = check(
        &at(fake_socks(After::Send(b"HTTP/1.0 200")).await, None),
        canary,
    )
    .await;
    assert_eq!(r.outcome, Outcome::CanaryMismatch, "{r:?}");
    assert_eq!(&r.canary_answer[..12], b"HTTP/1.0 200");
    // A full-length answer that is garbage: the probe cannot tell (it has no
    // key), so it reports what it got; the coordinator's check fails.
    let r = check(
        &at(fake_socks(After::Send(&[0xab; 100])).await, None),
        canary,
    )
    .await;
    assert_eq!(r.outcome, Outcome::Relayed, "{r:?}");
    assert!(!r.canary_verifies(&CANARY_KEY));
    assert_eq!(
        r.sample_bytes,
        100 - 32,
        "a short sample is recorded as such"
    );
}

#[tokio::test]
async fn a_node_that_goes_quiet_times_out_at_the_step_it_reached() {
    // Accepts TCP and never speaks: the handshake times out.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    });
    let limits = short();
    let started = tokio::time::Instant::now();
    let r = check_with(&at(addr, Some(USER)), "127.0.0.1:7", &limits, LOCAL).await;
    assert_eq!(r.outcome, Outcome::Timeout, "{r:?}");
    assert!(r.connect_us > 0);
    assert!(r.handshake_us >= 400_000, "{}", r.handshake_us);
    assert!(started.elapsed() < Duration::from_secs(3));
    held.abort();

    // Says "succeeded" and then nothing: the canary answer times out.
    let r = check_with(
        &at(fake_socks(After::Silence).await, None),
        "127.0.0.1:7",
        &limits,
        LOCAL,
    )
    .await;
    assert_eq!(r.outcome, Outcome::Timeout, "{r:?}");
    assert!(r.rtt_us >= 400_000);
    assert_ne!(r.canary_nonce, [0; 32]);
}

#[tokio::test]
async fn garbage_or_a_close_in_the_greeting_is_a_handshake_failure() {
    for reply in [&b"HTTP/1.1 400 Bad Request\r\n\r\n"[..], b""] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut greeting = [0u8; 3];
            s.read_exact(&mut greeting).await.unwrap();
            s.write_all(reply).await.unwrap();
        });
        let r = check(&at(addr, None), "127.0.0.1:7".parse().unwrap()).await;
        assert_eq!(r.outcome, Outcome::HandshakeFailed, "{reply:?}: {r:?}");
    }
}

#[tokio::test]
async fn untestable_assignments_make_no_report() {
    let clock = ManualClock::new(UnixTime(NOW));
    let limits = CheckLimits::default();
    let a = assignment("203.0.113.1", 1080, None);
    for canary in ["", "canary", "canary.example.org:0"] {
        let e = check_node(&a, canary, PROBE_KEY, WINDOW, &limits, LOCAL, &clock).await;
        assert!(matches!(e, Err(CheckError::Canary { .. })), "{canary:?}");
    }
    let mut b = a.clone();
    b.protocol = "shadowsocks".into();
    let e = check_node(
        &b,
        "203.0.113.2:7000",
        PROBE_KEY,
        WINDOW,
        &limits,
        LOCAL,
        &clock,
    )
    .await;
    assert!(matches!(e, Err(CheckError::Protocol { .. })));
    let mut c = a.clone();
    c.password = Some("secret".into());
    let e = check_node(
        &c,
        "203.0.113.2:7000",
        PROBE_KEY,
        WINDOW,
        &limits,
        LOCAL,
        &clock,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, CheckError::Credentials { .. }));
    assert!(!e.to_string().contains("secret"));
}

#[tokio::test]
async fn the_source_address_decides_which_view_is_measured() {
    // A node that serves only 127.0.0.2: a probe connecting from there sees it
    // relay; from 127.0.0.3 the node closes on it, as a censor's network would.
    let mut config = test_config();
    config.policy.allow_clients = vec!["127.0.0.2/32".parse().unwrap()];
    let node = TestNode::start(config).await;
    let canary = canary().await;
    let a = at(node.addr, Some(USER));
    let from = |ip: &str| CheckLimits {
        source: Some(ip.parse().unwrap()),
        ..short()
    };
    let r = check_with(&a, &canary.addr.to_string(), &from("127.0.0.2"), LOCAL).await;
    assert_eq!(r.outcome, Outcome::Relayed, "{r:?}");
    let r = check_with(&a, &canary.addr.to_string(), &from("127.0.0.3"), LOCAL).await;
    assert_eq!(r.outcome, Outcome::HandshakeFailed, "{r:?}");
    // An IPv6 source cannot reach an IPv4 node.
    let r = check_with(&a, &canary.addr.to_string(), &from("::1"), LOCAL).await;
    assert_eq!(r.outcome, Outcome::ConnectFailed, "{r:?}");
    node.stop().await;
}
