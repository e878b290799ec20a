//! UDP ASSOCIATE (RFC 1928 §7) end to end on loopback, with the node's rules:
//! datagrams only from the client that asked, fragments dropped, the policy
//! applied per datagram, and the association ended with its TCP connection.

use std::net::SocketAddr;
use std::time::Duration;

use resist_socks5::msg::Command;
use resist_socks5::udp::UdpHeader;
use resist_socks5::{Address, DomainName};
use resist_testkit::{TestNode, USER, UdpEcho, socks_connect, test_config};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{sleep, timeout};

async fn associate(node: SocketAddr, declared: Address) -> (TcpStream, SocketAddr) {
    let (control, bound) = socks_connect(node, Command::UdpAssociate, declared, Some(USER))
        .await
        .unwrap();
    let Address::Ip(relay) = bound else {
        panic!("relay address is an IP: {bound:?}")
    };
    assert!(relay.ip().is_loopback() && relay.port() != 0, "{relay}");
    (control, relay)
}

fn datagram(frag: u8, to: Address, payload: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    UdpHeader { frag, address: to }.encode(&mut d);
    d.extend_from_slice(payload);
    d
}

/// Receives one datagram (bounded), or None if nothing comes within 300 ms.
async fn recv(sock: &UdpSocket) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 70_000];
    match timeout(Duration::from_millis(300), sock.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

#[tokio::test]
async fn datagrams_are_relayed_both_ways_with_the_source_in_the_header() {
    let echo = UdpEcho::start("127.0.0.1:0").await;
    let node = TestNode::start(test_config()).await;
    let (_control, relay) = associate(node.addr, Address::UNSPECIFIED).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    for payload in [&b"hello"[..], &[0xab; 1400][..], &[0x00; 9000][..]] {
        client
            .send_to(&datagram(0, Address::Ip(echo.addr), payload), relay)
            .await
            .unwrap();
        let got = recv(&client).await.expect("echo relayed back");
        let (header, at) = UdpHeader::decode(&got).unwrap();
        assert_eq!(
            header.address,
            Address::Ip(echo.addr),
            "reply names its source"
        );
        assert_eq!(header.frag, 0);
        assert_eq!(&got[at..], payload);
    }
    // A domain destination is resolved by the node.
    let by_name = Address::Domain(DomainName::try_from("localhost").unwrap(), echo.addr.port());
    client
        .send_to(&datagram(0, by_name, b"named"), relay)
        .await
        .unwrap();
    let got = recv(&client).await.expect("echo via a name");
    assert!(got.ends_with(b"named"));
    node.stop().await;
}

#[tokio::test]
async fn fragments_foreign_sources_and_refused_destinations_are_dropped() {
    let echo = UdpEcho::start("127.0.0.1:0").await;
    let node = TestNode::start(test_config()).await;
    let (_control, relay) = associate(node.addr, Address::UNSPECIFIED).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    // FRAG ≠ 0 is dropped (and does not lock the client's port either way).
    client
        .send_to(&datagram(1, Address::Ip(echo.addr), b"frag"), relay)
        .await
        .unwrap();
    assert_eq!(recv(&client).await, None);
    // The first whole datagram locks the association to this socket's port.
    client
        .send_to(&datagram(0, Address::Ip(echo.addr), b"ok"), relay)
        .await
        .unwrap();
    assert!(recv(&client).await.is_some());
    // Another socket, same IP, other port: not the client that asked.
    let intruder = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    intruder
        .send_to(&datagram(0, Address::Ip(echo.addr), b"intrude"), relay)
        .await
        .unwrap();
    assert_eq!(recv(&intruder).await, None);
    // Another loopback IP: not the client either.
    let elsewhere = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    elsewhere
        .send_to(&datagram(0, Address::Ip(echo.addr), b"intrude"), relay)
        .await
        .unwrap();
    assert_eq!(recv(&elsewhere).await, None);
    // A destination refused by policy (private range): dropped, never sent.
    client
        .send_to(
            &datagram(0, Address::Ip("10.9.8.7:53".parse().unwrap()), b"ssrf"),
            relay,
        )
        .await
        .unwrap();
    assert_eq!(recv(&client).await, None);

    let m = node.node.metrics().encode();
    for (reason, n) in [("fragment", 1), ("foreign_source", 2), ("policy", 1)] {
        let line = format!("resist_node_udp_dropped_total{{reason=\"{reason}\"}} {n}");
        assert!(m.contains(&line), "missing {line} in\n{m}");
    }
    node.stop().await;
}

#[tokio::test]
async fn only_hosts_the_client_sent_to_can_answer() {
    let node = TestNode::start(test_config()).await;
    let (_control, relay) = associate(node.addr, Address::UNSPECIFIED).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // A destination that shows us the node's outbound address.
    let target = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target_addr = target.local_addr().unwrap();
    client
        .send_to(&datagram(0, Address::Ip(target_addr), b"hi"), relay)
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, node_out) = timeout(Duration::from_secs(2), target.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"hi");
    // A stranger who learned that address cannot reach the client through it.
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    stranger.send_to(b"unsolicited", node_out).await.unwrap();
    assert_eq!(recv(&client).await, None);
    // The contacted host can.
    target.send_to(b"answer", node_out).await.unwrap();
    let got = recv(&client).await.expect("answer relayed");
    let (header, at) = UdpHeader::decode(&got).unwrap();
    assert_eq!(
        (header.address, &got[at..]),
        (Address::Ip(target_addr), &b"answer"[..])
    );
    let m = node.node.metrics().encode();
    assert!(
        m.contains("resist_node_udp_dropped_total{reason=\"unsolicited\"} 1"),
        "{m}"
    );
    node.stop().await;
}

#[tokio::test]
async fn declared_source_port_is_enforced() {
    let echo = UdpEcho::start("127.0.0.1:0").await;
    let node = TestNode::start(test_config()).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let declared = Address::Ip(client.local_addr().unwrap());
    let (_control, relay) = associate(node.addr, declared).await;
    let other = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    other
        .send_to(&datagram(0, Address::Ip(echo.addr), b"first"), relay)
        .await
        .unwrap();
    assert_eq!(
        recv(&other).await,
        None,
        "first sender is not the declared port"
    );
    client
        .send_to(&datagram(0, Address::Ip(echo.addr), b"mine"), relay)
        .await
        .unwrap();
    assert!(recv(&client).await.is_some());
    node.stop().await;
}

#[tokio::test]
async fn association_ends_with_its_control_connection() {
    let echo = UdpEcho::start("127.0.0.1:0").await;
    let node = TestNode::start(test_config()).await;
    let (control, relay) = associate(node.addr, Address::UNSPECIFIED).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(&datagram(0, Address::Ip(echo.addr), b"before"), relay)
        .await
        .unwrap();
    assert!(recv(&client).await.is_some());
    let active = || node.node.metrics().connections_active.get();
    assert_eq!(active(), 1);
    drop(control);
    for _ in 0..100 {
        if active() == 0 {
            break;
        }
        sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(active(), 0, "association torn down");
    let _ = client
        .send_to(&datagram(0, Address::Ip(echo.addr), b"after"), relay)
        .await;
    assert_eq!(recv(&client).await, None, "nothing relayed after the end");
    node.stop().await;
}
