//! Aggregate counters in Prometheus form, on a listener of their own.
//!
//! Only totals are kept: no label ever carries a client address, a destination
//! or a username, so the endpoint cannot leak who used the node or for what.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// A label set with one `&'static str` value.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// The outcome, reason or direction.
    pub outcome: &'static str,
}

/// A label set naming a reason.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    /// Why.
    pub reason: &'static str,
}

/// A label set naming a direction of traffic.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Direction {
    /// `client_to_target` or `target_to_client`.
    pub direction: &'static str,
}

/// Every counter the node keeps.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Connections open now (handshaking, relaying or holding a UDP association).
    pub connections_active: Gauge,
    /// Connections admitted since start.
    pub connections_accepted: Counter,
    /// Handshakes by outcome (`ok`, `timeout`, `auth_failed`, …).
    pub handshakes: Family<Outcome, Counter>,
    /// Refused connections and requests by reason.
    pub refusals: Family<Reason, Counter>,
    /// Failed connections to destinations by reason.
    pub connect_failures: Family<Reason, Counter>,
    /// Bytes relayed from clients to destinations (TCP and UDP payloads).
    pub bytes_client_to_target: Counter,
    /// Bytes relayed from destinations to clients (TCP and UDP payloads).
    pub bytes_target_to_client: Counter,
    /// UDP datagrams relayed by direction.
    pub udp_datagrams: Family<Direction, Counter>,
    /// UDP datagrams dropped by reason.
    pub udp_dropped: Family<Reason, Counter>,
    /// Errors from accept(2) by kind; `fd_exhausted` means the open-file limit was hit.
    pub accept_errors: Family<Reason, Counter>,
    /// Configuration reloads by outcome.
    pub reloads: Family<Outcome, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of counters, registered under the `resist_node` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("resist_node");
        let connections_active = Gauge::default();
        let connections_accepted = Counter::default();
        let handshakes = Family::default();
        let refusals = Family::default();
        let connect_failures = Family::default();
        let bytes = Family::<Direction, Counter>::default();
        let udp_datagrams = Family::default();
        let udp_dropped = Family::default();
        let accept_errors = Family::default();
        let reloads = Family::default();
        registry.register(
            "connections_active",
            "Connections open now",
            connections_active.clone(),
        );
        registry.register(
            "connections_accepted",
            "Connections admitted",
            connections_accepted.clone(),
        );
        registry.register(
            "handshakes",
            "SOCKS5 handshakes by outcome",
            handshakes.clone(),
        );
        registry.register(
            "refusals",
            "Refused connections and requests by reason",
            refusals.clone(),
        );
        registry.register(
            "connect_failures",
            "Failed connections to destinations by reason",
            connect_failures.clone(),
        );
        registry.register("bytes", "Bytes relayed by direction", bytes.clone());
        registry.register(
            "udp_datagrams",
            "UDP datagrams relayed by direction",
            udp_datagrams.clone(),
        );
        registry.register(
            "udp_dropped",
            "UDP datagrams dropped by reason",
            udp_dropped.clone(),
        );
        registry.register(
            "accept_errors",
            "accept(2) errors by kind",
            accept_errors.clone(),
        );
        registry.register(
            "reloads",
            "Configuration reloads by outcome",
            reloads.clone(),
        );
        let bytes_client_to_target = bytes
            .get_or_create(&Direction {
                direction: "client_to_target",
            })
            .clone();
        let bytes_target_to_client = bytes
            .get_or_create(&Direction {
                direction: "target_to_client",
            })
            .clone();
        Self {
            registry,
            connections_active,
            connections_accepted,
            handshakes,
            refusals,
            connect_failures,
            bytes_client_to_target,
            bytes_target_to_client,
            udp_datagrams,
            udp_dropped,
            accept_errors,
            reloads,
        }
    }

    /// Counts a handshake outcome.
    pub fn handshake(&self, outcome: &'static str) {
        self.handshakes.get_or_create(&Outcome { outcome }).inc();
    }

    /// Counts a refusal.
    pub fn refusal(&self, reason: &'static str) {
        self.refusals.get_or_create(&Reason { reason }).inc();
    }

    /// The current value of a refusal counter (for tests and status lines).
    pub fn refusal_count(&self, reason: &'static str) -> u64 {
        self.refusals.get_or_create(&Reason { reason }).get()
    }

    /// The current value of a handshake counter.
    pub fn handshake_count(&self, outcome: &'static str) -> u64 {
        self.handshakes.get_or_create(&Outcome { outcome }).get()
    }

    /// The exposition text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    async fn render(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            m.encode(),
        )
    }
    let app = Router::new()
        .route("/metrics", get(render))
        .with_state(metrics);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds the metrics listener, with an error that says what to do.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen for metrics on {addr}: {e}"),
        )
    })
}
