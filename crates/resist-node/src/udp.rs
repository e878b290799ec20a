//! UDP ASSOCIATE (RFC 1928 §7): one client-facing UDP socket per association.
//!
//! - Datagrams are accepted only from the client that asked: its IP must be the
//!   TCP control connection's, and its port the one it named in the request (or,
//!   if it named port 0, the first one it sends from).
//! - Fragments (FRAG ≠ 0) are dropped, as the RFC allows.
//! - Destinations go through the same policy as CONNECT, after resolution.
//! - Answers are relayed back only from addresses the client has sent to, so the
//!   association is not a door through which anyone can reach the client.
//! - The association ends when the control connection closes, or after the idle
//!   timeout with no datagram either way.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use resist_safelog::Sensitive;
use resist_socks5::msg::Reply;
use resist_socks5::udp::UdpHeader;
use resist_socks5::{Address, DomainName, ReplyCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, sleep_until};
use tracing::debug;

use crate::config::Settings;
use crate::handshake::{Accepted, close_gracefully};
use crate::metrics::{Direction, Metrics, Reason};
use crate::server::Node;

/// Room in front of a received payload for the header added towards the client
/// (the longest with an IP address: RSV FRAG ATYP + 16 + 2).
const HEADER_ROOM: usize = 3 + 1 + 16 + 2;
/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;
/// Destinations remembered per association for filtering answers.
const MAX_PEERS: usize = 1024;
/// Resolved names remembered per association.
const MAX_NAMES: usize = 64;

/// Serves one UDP ASSOCIATE request until its control connection closes.
pub(crate) async fn serve(
    node: &Node,
    mut control: TcpStream,
    accepted: Accepted,
    settings: Arc<Settings>,
) {
    let metrics = node.metrics();
    let (Ok(peer), Ok(local)) = (control.peer_addr(), control.local_addr()) else {
        return;
    };
    let client_sock = match UdpSocket::bind(SocketAddr::new(local.ip(), 0)).await {
        Ok(s) => s,
        Err(e) => {
            debug!(error = %e, "cannot bind UDP relay socket");
            let _ = control
                .write_all(&Reply::failure(ReplyCode::GENERAL_FAILURE).to_bytes())
                .await;
            close_gracefully(&mut control).await;
            return;
        }
    };
    let bound = client_sock
        .local_addr()
        .map(Address::Ip)
        .unwrap_or(Address::UNSPECIFIED);
    if control
        .write_all(&Reply::success(bound).to_bytes())
        .await
        .is_err()
    {
        return;
    }
    // RFC 1928 §7: the request names where the client will send from; zeros mean
    // "not known yet". Only the port is taken from it: the IP must be the control
    // connection's, whatever the request says.
    let client_port = match accepted.request.address {
        Address::Ip(sa) => sa.port(),
        Address::Domain(..) => 0,
    };
    let mut assoc = Association {
        node,
        settings: &settings,
        metrics,
        client_ip: peer.ip().to_canonical(),
        client_addr: (client_port != 0).then(|| SocketAddr::new(peer.ip(), client_port)),
        out4: None,
        out6: None,
        peers: HashSet::new(),
        peer_order: VecDeque::new(),
        names: HashMap::new(),
    };
    let mut buf = vec![0u8; HEADER_ROOM + MAX_DATAGRAM];
    let mut control_buf = [0u8; 64];
    let idle = settings.limits.idle_timeout;
    let mut last_activity = Instant::now();
    loop {
        let event = tokio::select! {
            r = client_sock.readable() => r.map(|()| Ready::Client),
            r = readable(assoc.out4.as_ref()) => r.map(|()| Ready::Target4),
            r = readable(assoc.out6.as_ref()) => r.map(|()| Ready::Target6),
            r = control.read(&mut control_buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(_) => continue, // a client has nothing to say on the control connection
            },
            () = sleep_until(last_activity + idle) => break,
        };
        let relayed = match event {
            Ok(Ready::Client) => assoc.relay_from_client(&client_sock, &mut buf).await,
            Ok(Ready::Target4) => assoc.relay_from_target(false, &client_sock, &mut buf),
            Ok(Ready::Target6) => assoc.relay_from_target(true, &client_sock, &mut buf),
            Err(_) => break,
        };
        if relayed {
            last_activity = Instant::now();
        }
    }
    debug!(client = %Sensitive(peer), "UDP association ended");
}

enum Ready {
    Client,
    Target4,
    Target6,
}

async fn readable(sock: Option<&UdpSocket>) -> io::Result<()> {
    match sock {
        Some(s) => s.readable().await,
        None => std::future::pending().await,
    }
}

struct Association<'a> {
    node: &'a Node,
    settings: &'a Settings,
    metrics: &'a Metrics,
    /// The control connection's client IP.
    client_ip: IpAddr,
    /// Where the client sends from, once known.
    client_addr: Option<SocketAddr>,
    out4: Option<UdpSocket>,
    out6: Option<UdpSocket>,
    /// Destinations the client sent to; answers from elsewhere are dropped.
    peers: HashSet<SocketAddr>,
    peer_order: VecDeque<SocketAddr>,
    names: HashMap<(DomainName, u16), SocketAddr>,
}

impl Association<'_> {
    fn drop_datagram(&self, reason: &'static str) -> bool {
        self.metrics
            .udp_dropped
            .get_or_create(&Reason { reason })
            .inc();
        false
    }

    /// Handles one datagram from the client side; returns whether it was relayed.
    async fn relay_from_client(&mut self, sock: &UdpSocket, buf: &mut [u8]) -> bool {
        let (n, src) = match sock.try_recv_from(buf) {
            Ok(r) => r,
            Err(_) => return false, // WouldBlock after a spurious wake-up, or an ICMP error
        };
        if src.ip().to_canonical() != self.client_ip || self.client_addr.is_some_and(|a| a != src) {
            return self.drop_datagram("foreign_source");
        }
        self.client_addr.get_or_insert(src);
        let datagram = buf.get(..n).unwrap_or_default();
        let Ok((header, payload_at)) = UdpHeader::decode(datagram) else {
            return self.drop_datagram("malformed");
        };
        if header.frag != 0 {
            return self.drop_datagram("fragment");
        }
        let Some(dest) = self.destination(&header.address).await else {
            return false;
        };
        let Some(out) = self.outbound(dest.is_ipv6()).await else {
            return self.drop_datagram("socket_error");
        };
        let payload = datagram.get(payload_at..).unwrap_or_default();
        if out.send_to(payload, dest).await.is_err() {
            return self.drop_datagram("send_error");
        }
        self.remember(dest);
        self.metrics
            .udp_datagrams
            .get_or_create(&Direction {
                direction: "client_to_target",
            })
            .inc();
        self.metrics
            .bytes_client_to_target
            .inc_by(payload.len() as u64);
        true
    }

    /// Resolves and checks a destination; counts the drop if it is refused.
    async fn destination(&mut self, address: &Address) -> Option<SocketAddr> {
        let candidates = match address {
            Address::Ip(sa) => vec![*sa],
            Address::Domain(name, port) => {
                if let Some(sa) = self.names.get(&(name.clone(), *port)) {
                    vec![*sa]
                } else {
                    match self
                        .node
                        .resolver()
                        .resolve(address, self.settings.limits.resolve_timeout)
                        .await
                    {
                        Ok(addrs) => addrs,
                        Err(_) => {
                            self.drop_datagram("resolve_failed");
                            return None;
                        }
                    }
                }
            }
        };
        let found = candidates
            .into_iter()
            .map(|sa| SocketAddr::new(sa.ip().to_canonical(), sa.port()))
            .find(|sa| self.settings.policy.check_destination(*sa).is_ok());
        let Some(dest) = found else {
            self.drop_datagram("policy");
            return None;
        };
        if let Address::Domain(name, port) = address {
            if self.names.len() >= MAX_NAMES {
                self.names.clear();
            }
            self.names.insert((name.clone(), *port), dest);
        }
        Some(dest)
    }

    async fn outbound(&mut self, v6: bool) -> Option<&UdpSocket> {
        let (slot, any) = if v6 {
            (&mut self.out6, SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)))
        } else {
            (&mut self.out4, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
        };
        if slot.is_none() {
            *slot = UdpSocket::bind(any).await.ok();
        }
        slot.as_ref()
    }

    fn remember(&mut self, dest: SocketAddr) {
        if self.peers.insert(dest) {
            self.peer_order.push_back(dest);
            if self.peer_order.len() > MAX_PEERS
                && let Some(old) = self.peer_order.pop_front()
            {
                self.peers.remove(&old);
            }
        }
    }

    /// Handles one datagram from a destination; returns whether it was relayed.
    fn relay_from_target(&mut self, v6: bool, client_sock: &UdpSocket, buf: &mut [u8]) -> bool {
        let out = if v6 {
            self.out6.as_ref()
        } else {
            self.out4.as_ref()
        };
        let Some(out) = out else { return false };
        let Some(room) = buf.get_mut(HEADER_ROOM..) else {
            return false;
        };
        let (n, src) = match out.try_recv_from(room) {
            Ok(r) => r,
            Err(_) => return false,
        };
        let src = SocketAddr::new(src.ip().to_canonical(), src.port());
        if !self.peers.contains(&src) {
            return self.drop_datagram("unsolicited");
        }
        let Some(client) = self.client_addr else {
            return self.drop_datagram("unsolicited");
        };
        let mut header = Vec::with_capacity(HEADER_ROOM);
        UdpHeader::new(Address::Ip(src)).encode(&mut header);
        let start = HEADER_ROOM - header.len();
        let Some(front) = buf.get_mut(start..HEADER_ROOM) else {
            return false;
        };
        front.copy_from_slice(&header);
        let datagram = buf.get(start..HEADER_ROOM + n).unwrap_or_default();
        if client_sock.try_send_to(datagram, client).is_err() {
            return self.drop_datagram("send_error");
        }
        self.metrics
            .udp_datagrams
            .get_or_create(&Direction {
                direction: "target_to_client",
            })
            .inc();
        self.metrics.bytes_target_to_client.inc_by(n as u64);
        true
    }
}
