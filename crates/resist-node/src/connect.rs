//! CONNECT: resolve, check the policy on every resolved address, connect.
//!
//! Names are resolved here, once, and the policy is applied to the addresses
//! actually dialled, so DNS rebinding (a name that resolves to a public address
//! when checked and to 127.0.0.1 when used) cannot reach a refused range.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use resist_safelog::Sensitive;
use resist_socks5::msg::Reply;
use resist_socks5::{Address, ReplyCode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout, timeout_at};
use tracing::debug;

use crate::config::Settings;
use crate::handshake::{Accepted, close_gracefully};
use crate::policy::Refusal;
use crate::server::Node;

/// At most this many resolved addresses are tried for one request.
const MAX_ATTEMPTS: usize = 4;

/// Why a destination could not be reached.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("refused by policy ({})", .0.label())]
    Policy(Refusal),
    #[error("name resolution failed: {0}")]
    Resolve(io::Error),
    #[error("name resolution timed out")]
    ResolveTimeout,
    #[error("name resolved to no address")]
    NoAddress,
    #[error("connect timed out")]
    Timeout,
    #[error("connect failed: {0}")]
    Io(io::Error),
}

impl ConnectError {
    /// The SOCKS5 reply for this failure.
    pub(crate) fn reply_code(&self) -> ReplyCode {
        match self {
            ConnectError::Policy(_) => ReplyCode::NOT_ALLOWED,
            ConnectError::Resolve(_)
            | ConnectError::ResolveTimeout
            | ConnectError::NoAddress
            | ConnectError::Timeout => ReplyCode::HOST_UNREACHABLE,
            ConnectError::Io(e) => match e.kind() {
                io::ErrorKind::ConnectionRefused => ReplyCode::CONNECTION_REFUSED,
                io::ErrorKind::NetworkUnreachable => ReplyCode::NETWORK_UNREACHABLE,
                io::ErrorKind::HostUnreachable => ReplyCode::HOST_UNREACHABLE,
                _ => ReplyCode::GENERAL_FAILURE,
            },
        }
    }

    /// The label for the metrics.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            ConnectError::Policy(r) => r.label(),
            ConnectError::Resolve(_) | ConnectError::NoAddress => "resolve_failed",
            ConnectError::ResolveTimeout => "resolve_timeout",
            ConnectError::Timeout => "timeout",
            ConnectError::Io(e) => match e.kind() {
                io::ErrorKind::ConnectionRefused => "refused",
                io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable => "unreachable",
                _ => "other",
            },
        }
    }
}

/// Resolves names with a bound on concurrent lookups: getaddrinfo blocks a
/// thread, and a flood of slow names must not take every blocking thread.
#[derive(Debug)]
pub(crate) struct Resolver {
    permits: Semaphore,
}

impl Resolver {
    pub(crate) fn new(concurrent: usize) -> Self {
        Self {
            permits: Semaphore::new(concurrent),
        }
    }

    /// The addresses of `address` (an IP is returned as is), within `limit`.
    pub(crate) async fn resolve(
        &self,
        address: &Address,
        limit: Duration,
    ) -> Result<Vec<SocketAddr>, ConnectError> {
        let (name, port) = match address {
            Address::Ip(sa) => return Ok(vec![*sa]),
            Address::Domain(name, port) => (name.as_str(), *port),
        };
        let lookup = async {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| ConnectError::ResolveTimeout)?;
            tokio::net::lookup_host((name, port))
                .await
                .map_err(ConnectError::Resolve)
        };
        let addrs: Vec<SocketAddr> = timeout(limit, lookup)
            .await
            .map_err(|_| ConnectError::ResolveTimeout)??
            .collect();
        if addrs.is_empty() {
            Err(ConnectError::NoAddress)
        } else {
            Ok(addrs)
        }
    }
}

/// Opens a connection to `address` within the configured timeouts and policy.
pub(crate) async fn open(
    node: &Node,
    address: &Address,
    settings: &Settings,
) -> Result<TcpStream, ConnectError> {
    let limits = &settings.limits;
    let resolved = node
        .resolver()
        .resolve(address, limits.resolve_timeout)
        .await?;
    let mut refusal = None;
    let allowed: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|sa| match settings.policy.check_destination(*sa) {
            Ok(()) => true,
            Err(r) => {
                refusal.get_or_insert(r);
                false
            }
        })
        .take(MAX_ATTEMPTS)
        .collect();
    if allowed.is_empty() {
        return Err(ConnectError::Policy(refusal.unwrap_or(Refusal::DenyList)));
    }
    let deadline = Instant::now() + limits.connect_timeout;
    let mut last = ConnectError::Timeout;
    for sa in allowed {
        match timeout_at(deadline, TcpStream::connect(sa)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = ConnectError::Io(e),
            Err(_) => return Err(ConnectError::Timeout),
        }
    }
    Err(last)
}

/// Serves one CONNECT request to its end.
pub(crate) async fn serve(
    node: &Node,
    mut client: TcpStream,
    accepted: Accepted,
    settings: Arc<crate::Settings>,
) {
    let metrics = node.metrics();
    let dest = Sensitive(&accepted.request.address);
    let mut target = match Box::pin(open(node, &accepted.request.address, &settings)).await {
        Ok(t) => t,
        Err(e) => {
            match &e {
                ConnectError::Policy(r) => metrics.refusal(r.label()),
                other => {
                    metrics
                        .connect_failures
                        .get_or_create(&crate::metrics::Reason {
                            reason: other.label(),
                        })
                        .inc();
                }
            }
            debug!(%dest, error = %e, "CONNECT failed");
            let _ = client
                .write_all(&Reply::failure(e.reply_code()).to_bytes())
                .await;
            close_gracefully(&mut client).await;
            return;
        }
    };
    let _ = target.set_nodelay(true);
    let bound = target
        .local_addr()
        .map(Address::Ip)
        .unwrap_or(Address::UNSPECIFIED);
    if client
        .write_all(&Reply::success(bound).to_bytes())
        .await
        .is_err()
    {
        return;
    }
    if !accepted.rest.is_empty() {
        if target.write_all(&accepted.rest).await.is_err() {
            return;
        }
        metrics
            .bytes_client_to_target
            .inc_by(accepted.rest.len() as u64);
    }
    let outcome = crate::relay::relay(
        &client,
        &target,
        settings.limits.idle_timeout,
        metrics,
        node.pipes(),
    )
    .await;
    debug!(%dest, ?outcome, "relay ended");
}
