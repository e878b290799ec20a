//! The node: accept loops, admission (caps and client policy), one task per
//! connection, reload, and drain on shutdown.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use resist_safelog::Sensitive;
use resist_socks5::ReplyCode;
use resist_socks5::msg::{Command, Reply};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::config::Settings;
use crate::connect::Resolver;
use crate::handshake::{self, close_gracefully};
use crate::limits::ClientCounts;
use crate::metrics::{Metrics, Reason};
use crate::relay::PipePool;

/// Name lookups in flight at once (each holds a blocking thread).
const CONCURRENT_LOOKUPS: usize = 64;
/// Pause after accept(2) fails for lack of file descriptors, so the loop does
/// not spin while connections close and free some.
const FD_EXHAUSTED_BACKOFF: Duration = Duration::from_millis(50);
/// At most one warning about file-descriptor exhaustion per this interval.
const FD_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// A running node's shared state.
#[derive(Debug)]
pub struct Node {
    /// The settings new connections start with; swapped whole on reload.
    settings: ArcSwap<Settings>,
    /// Counters, shared with the metrics endpoint.
    metrics: Arc<Metrics>,
    /// One permit per open connection, up to `limits.max_connections`.
    capacity: Arc<Semaphore>,
    /// The permit count `capacity` was sized for (to resize on reload).
    capacity_size: AtomicUsize,
    /// Open connections per client address.
    clients: Arc<ClientCounts>,
    /// Bounded name resolution.
    resolver: Resolver,
    /// Pipes for zero-copy relaying, leased only while data flows.
    pipes: PipePool,
}

impl Node {
    /// A node that will serve with `settings`, counting into `metrics`.
    pub fn new(settings: Settings, metrics: Arc<Metrics>) -> Arc<Self> {
        let max = settings.limits.max_connections;
        let max_pipes = settings.limits.max_pipes;
        Arc::new(Self {
            settings: ArcSwap::from_pointee(settings),
            metrics,
            capacity: Arc::new(Semaphore::new(max)),
            capacity_size: AtomicUsize::new(max),
            clients: Arc::new(ClientCounts::default()),
            resolver: Resolver::new(CONCURRENT_LOOKUPS),
            pipes: PipePool::new(max_pipes),
        })
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The settings new connections get.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// Open connections from the client at `ip`.
    pub fn connections_from(&self, ip: IpAddr) -> usize {
        self.clients.held(ip)
    }

    pub(crate) fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    pub(crate) fn pipes(&self) -> &PipePool {
        &self.pipes
    }

    /// Replaces the settings for new connections; open connections keep theirs.
    pub fn reload(&self, settings: Settings) {
        let new = settings.limits.max_connections;
        let old = self.capacity_size.swap(new, Ordering::AcqRel);
        if new > old {
            self.capacity.add_permits(new - old);
        } else if new < old {
            // Permits in use are not revoked; fewer are handed out from now on.
            self.capacity.forget_permits(old - new);
        }
        self.settings.store(Arc::new(settings));
        self.metrics
            .reloads
            .get_or_create(&crate::metrics::Outcome { outcome: "ok" })
            .inc();
    }

    /// Serves SOCKS5 on `listeners` until `shutdown` completes, then stops
    /// accepting and lets open connections finish for up to the drain timeout.
    pub async fn serve(
        self: Arc<Self>,
        listeners: Vec<TcpListener>,
        shutdown: impl Future<Output = ()>,
    ) {
        let tracker = TaskTracker::new();
        let stop = CancellationToken::new();
        let force = CancellationToken::new();
        let mut acceptors = JoinSet::new();
        for listener in listeners {
            let node = Arc::clone(&self);
            acceptors.spawn(node.accept_loop(
                listener,
                tracker.clone(),
                stop.clone(),
                force.clone(),
            ));
        }
        shutdown.await;
        stop.cancel();
        while acceptors.join_next().await.is_some() {}
        tracker.close();
        let drain = self.settings().limits.drain_timeout;
        if !tracker.is_empty() {
            info!(
                open = tracker.len(),
                "stopped accepting; waiting up to {drain:?} for open connections"
            );
        }
        if timeout(drain, tracker.wait()).await.is_err() {
            warn!(
                open = tracker.len(),
                "drain timeout reached; closing the remaining connections"
            );
            force.cancel();
            tracker.wait().await;
        }
    }

    async fn accept_loop(
        self: Arc<Self>,
        listener: TcpListener,
        tracker: TaskTracker,
        stop: CancellationToken,
        force: CancellationToken,
    ) {
        let mut last_fd_warning: Option<Instant> = None;
        loop {
            let accepted = tokio::select! {
                biased;
                () = stop.cancelled() => return,
                r = listener.accept() => r,
            };
            match accepted {
                Ok((stream, peer)) => self.admit(stream, peer, &tracker, &force),
                Err(e) if is_resource_exhaustion(&e) => {
                    self.metrics
                        .accept_errors
                        .get_or_create(&Reason {
                            reason: "fd_exhausted",
                        })
                        .inc();
                    if last_fd_warning.is_none_or(|t| t.elapsed() >= FD_WARNING_INTERVAL) {
                        warn!(error = %e, "cannot accept: out of file descriptors; raise `ulimit -n` or lower limits.max_connections");
                        last_fd_warning = Some(Instant::now());
                    }
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = sleep(FD_EXHAUSTED_BACKOFF) => {}
                    }
                }
                Err(e) => {
                    // ECONNABORTED and friends: one client's problem, not the listener's.
                    self.metrics
                        .accept_errors
                        .get_or_create(&Reason { reason: "other" })
                        .inc();
                    debug!(error = %e, "accept failed");
                }
            }
        }
    }

    /// Applies the client policy and the caps, then spawns the connection's task.
    fn admit(
        self: &Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        tracker: &TaskTracker,
        force: &CancellationToken,
    ) {
        let settings = self.settings();
        if !settings.policy.client_allowed(peer.ip()) {
            self.metrics.refusal("client_not_allowed");
            return;
        }
        let Ok(permit) = Arc::clone(&self.capacity).try_acquire_owned() else {
            self.metrics.refusal("capacity");
            return;
        };
        let Some(slot) = self
            .clients
            .try_acquire(peer.ip(), settings.limits.max_connections_per_client)
        else {
            self.metrics.refusal("per_client_limit");
            return;
        };
        self.metrics.connections_accepted.inc();
        self.metrics.connections_active.inc();
        let node = Arc::clone(self);
        let force = force.clone();
        tracker.spawn(async move {
            tokio::select! {
                () = node.serve_connection(stream, peer, settings) => {}
                () = force.cancelled() => {}
            }
            node.metrics.connections_active.dec();
            drop((permit, slot));
        });
    }

    async fn serve_connection(
        &self,
        mut stream: TcpStream,
        peer: SocketAddr,
        settings: Arc<Settings>,
    ) {
        let client = Sensitive(peer);
        // The short-lived phases (handshake, connect, UDP) are boxed: their state
        // lives on the heap only while they run, so a long-held relay carries just
        // its own state.
        let handshake = Box::pin(handshake::run(&mut stream, settings.auth.clone()));
        let accepted = match timeout(settings.limits.handshake_timeout, handshake).await {
            Err(_) => {
                self.metrics.handshake("timeout");
                debug!(%client, "handshake timed out");
                return;
            }
            Ok(Err(e)) => {
                self.metrics.handshake(e.label());
                debug!(%client, error = %e, "handshake failed");
                close_gracefully(&mut stream).await;
                return;
            }
            Ok(Ok(accepted)) => accepted,
        };
        self.metrics.handshake("ok");
        match accepted.request.command {
            Command::Connect => crate::connect::serve(self, stream, accepted, settings).await,
            Command::UdpAssociate if settings.allow_udp => {
                Box::pin(crate::udp::serve(self, stream, accepted, settings)).await
            }
            Command::UdpAssociate => {
                self.refuse(&mut stream, ReplyCode::NOT_ALLOWED, "udp_disabled")
                    .await
            }
            Command::Bind => {
                self.refuse(
                    &mut stream,
                    ReplyCode::COMMAND_NOT_SUPPORTED,
                    "command_not_supported",
                )
                .await
            }
        }
    }

    async fn refuse(&self, stream: &mut TcpStream, code: ReplyCode, reason: &'static str) {
        self.metrics.refusal(reason);
        let _ = stream.write_all(&Reply::failure(code).to_bytes()).await;
        close_gracefully(stream).await;
    }
}

/// Whether an accept(2) error means the process or system ran out of file
/// descriptors or memory — transient, and never a reason to stop listening.
fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_errno::EMFILE | libc_errno::ENFILE | libc_errno::ENOBUFS | libc_errno::ENOMEM)
    )
}

/// The errno values of Linux (asm-generic), to avoid a libc dependency for four numbers.
mod libc_errno {
    pub(super) const ENOMEM: i32 = 12;
    pub(super) const ENFILE: i32 = 23;
    pub(super) const EMFILE: i32 = 24;
    pub(super) const ENOBUFS: i32 = 105;
}

/// Binds a listener; IPv6 listeners are IPv6-only so `0.0.0.0:P` and `[::]:P`
/// can be listed together.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    // Linux copies TCP_NODELAY to accepted sockets: set once here, not per client.
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// The node's own addresses: those of its interfaces plus the specific listen
/// addresses. Refused as destinations so a client cannot reach services bound
/// to the node's host through the node.
pub fn own_addresses(listen: &[SocketAddr]) -> Vec<IpAddr> {
    let mut own: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .collect();
    own.extend(
        listen
            .iter()
            .map(SocketAddr::ip)
            .filter(|ip| !ip.is_unspecified()),
    );
    own.sort();
    own.dedup();
    own
}

#[cfg(test)]
mod test {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::net::{TcpListener, TcpStream};

    use crate::config::AuthMode;
    use crate::relay::{PipePool, relay};
    use crate::{Metrics, NodeConfig};

    /// What a held connection costs in this process is mostly its task's future.
    /// This is a byte count, not a timing: it changes only when the code does, and
    /// a jump means a large value crept into a long-lived state (the relay's
    /// budget is 8 KiB per held connection, all costs included; see
    /// docs/benchmarks.md).
    #[tokio::test]
    async fn held_connection_state_stays_small() {
        let mut config = NodeConfig::default();
        config.auth.mode = AuthMode::None;
        let node = super::Node::new(
            config.compile(None, vec![]).unwrap(),
            Arc::new(Metrics::new()),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (a, b) = (
            TcpStream::connect(addr).await.unwrap(),
            TcpStream::connect(addr).await.unwrap(),
        );
        let peer = a.local_addr().unwrap();
        let (metrics, pipes) = (Metrics::new(), PipePool::new(1));
        let relay_state =
            std::mem::size_of_val(&relay(&a, &b, Duration::from_secs(1), &metrics, &pipes));
        let connection_state =
            std::mem::size_of_val(&node.serve_connection(b, peer, node.settings()));
        eprintln!("relay future: {relay_state} B, connection future: {connection_state} B");
        assert!(
            relay_state <= 2048,
            "relay future grew to {relay_state} bytes"
        );
        assert!(
            connection_state <= 3072,
            "connection future grew to {connection_state} bytes"
        );
    }
}
