//! Helpers for resist's tests: a node on 127.0.0.1:0 with a shutdown handle,
//! loopback servers to relay to (HTTP, TCP echo, UDP echo), and a SOCKS5 client
//! built on `resist-socks5`'s client state machine, and a throwaway PostgreSQL
//! server ([`postgres::TempPostgres`]), and [`require`]: the skip-outside-CI,
//! fail-in-CI rule for tests that need something outside the workspace.
//!
//! Everything binds loopback only; nothing here reaches any other address.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support: failing loudly is the point

pub mod postgres;
mod prerequisite;

pub use prerequisite::{in_ci, require};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use resist_node::config::{AuthMode, UserConfig};
use resist_node::{Metrics, Node, NodeConfig};
use resist_socks5::client::{ClientHandshake, Step};
use resist_socks5::msg::{Command, Request};
use resist_socks5::{Address, Error as SocksError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The user every test node knows.
pub const USER: (&str, &str) = ("alice", "correct horse battery staple");

/// A node config for tests: password auth with [`USER`], loopback destinations
/// allowed explicitly (as `--allow-destination 127.0.0.0/8` would), short timeouts.
pub fn test_config() -> NodeConfig {
    let mut c = NodeConfig::default();
    c.auth.mode = AuthMode::Password;
    c.auth.users = vec![UserConfig {
        name: USER.0.into(),
        password: USER.1.into(),
    }];
    c.policy.allow_destinations = vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
    c.limits.handshake_timeout = Duration::from_secs(5);
    c.limits.drain_timeout = Duration::from_secs(2);
    c
}

/// A node running in this process on 127.0.0.1:0.
#[derive(Debug)]
pub struct TestNode {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its shared state (metrics, reload).
    pub node: Arc<Node>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestNode {
    /// Starts a node with `config` (its `listen` is ignored).
    pub async fn start(config: NodeConfig) -> TestNode {
        let settings = config
            .compile(None, Vec::new())
            .expect("test config compiles");
        let listener = resist_node::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let node = Node::new(settings, Arc::new(Metrics::new()));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(Arc::clone(&node).serve(vec![listener], async move {
            let _ = rx.await;
        }));
        TestNode {
            addr,
            node,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stops accepting and waits for the drain to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// A loopback HTTP/1.x server answering every GET with 200 and a body naming the path.
#[derive(Debug)]
pub struct HttpServer {
    /// Where it listens.
    pub addr: SocketAddr,
    _task: JoinHandle<()>,
}

/// The body [`HttpServer`] answers for `path`.
pub fn http_body(path: &str) -> String {
    format!("hello from the resist test server: {path}\n")
}

impl HttpServer {
    /// Starts the server on `bind` (e.g. `"127.0.0.1:0"` or `"[::1]:0"`).
    pub async fn start(bind: &str) -> HttpServer {
        let listener = TcpListener::bind(bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 64 * 1024 {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&req);
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let body = http_body(&path);
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        HttpServer { addr, _task: task }
    }
}

/// A loopback TCP echo server.
#[derive(Debug)]
pub struct TcpEcho {
    /// Where it listens.
    pub addr: SocketAddr,
    _task: JoinHandle<()>,
}

impl TcpEcho {
    /// Starts the echo server on 127.0.0.1:0.
    pub async fn start() -> TcpEcho {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        TcpEcho { addr, _task: task }
    }
}

/// A loopback UDP echo server.
#[derive(Debug)]
pub struct UdpEcho {
    /// Where it listens.
    pub addr: SocketAddr,
    _task: JoinHandle<()>,
}

impl UdpEcho {
    /// Starts the echo server on `bind`.
    pub async fn start(bind: &str) -> UdpEcho {
        let sock = UdpSocket::bind(bind).await.unwrap();
        let addr = sock.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            loop {
                let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                    continue;
                };
                let _ = sock.send_to(&buf[..n], from).await;
            }
        });
        UdpEcho { addr, _task: task }
    }
}

/// Connects through the SOCKS5 proxy at `proxy` to `dest` with the client state
/// machine of resist-socks5. Returns the stream (positioned after the reply) or
/// the handshake error (e.g. `Refused(code)`).
pub async fn socks_connect(
    proxy: SocketAddr,
    command: Command,
    dest: Address,
    credentials: Option<(&str, &str)>,
) -> Result<(TcpStream, Address), SocksError> {
    let mut stream = TcpStream::connect(proxy)
        .await
        .map_err(|_| SocksError::ClosedEarly)?;
    let creds = credentials.map(|(u, p)| (u.as_bytes(), p.as_bytes()));
    let mut hs = ClientHandshake::new(
        Request {
            command,
            address: dest,
        },
        creds,
    );
    loop {
        match hs.step() {
            Step::Send(b) => stream
                .write_all(&b)
                .await
                .map_err(|_| SocksError::ClosedEarly)?,
            Step::Recv => {
                let n = stream.read(hs.recv_buf()?).await.unwrap_or(0);
                hs.received(n);
            }
            Step::Done { reply, rest } => {
                assert!(
                    rest.is_empty(),
                    "no destination bytes expected before the client speaks"
                );
                return Ok((stream, reply.bound));
            }
            Step::Fail(e) => return Err(e),
        }
    }
}
