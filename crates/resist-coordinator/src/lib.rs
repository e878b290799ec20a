#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use governor::{Quota, RateLimiter};
use resist_clock::Clock;
use resist_store::Store;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use tracing::{debug, warn};

mod auth;
pub mod canary;
pub mod chain;
pub mod config;
mod distribution;
pub mod epochs;
pub mod error;
mod extract;
pub mod grants;
pub mod ledger;
pub mod measure;
mod openapi;
mod operators;
mod probes;
mod public;
mod routes;
mod views;
mod web;

pub use config::{CoordinatorConfig, Settings};
pub use error::ApiError;
pub use extract::token_hash;
pub use openapi::ApiDoc;

use crate::extract::ClientKey;

/// How often expired challenges are deleted and idle rate-limit entries dropped.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(60);

/// Per-client request budget for unauthenticated and signed endpoints.
type Limiter = governor::DefaultKeyedRateLimiter<ClientKey>;

/// What every request handler shares: the store, the clock and the settings.
/// Nothing else lives in memory (apart from the rate limiter), so any number
/// of coordinators can serve from one PostgreSQL database.
#[derive(Debug)]
pub struct AppState<S> {
    /// The database.
    pub store: S,
    /// Where "now" comes from (a manual clock in tests).
    pub clock: Arc<dyn Clock>,
    /// The resolved configuration.
    pub settings: Settings,
    limiter: Limiter,
    /// The distributor's separate budget, per requester key.
    proxies_limiter: distribution::Limiter,
}

impl<S: Store> AppState<S> {
    /// State over `store` with `settings`.
    pub fn new(store: S, clock: Arc<dyn Clock>, settings: Settings) -> Arc<Self> {
        let per_minute =
            NonZeroU32::new(settings.limits.requests_per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.limits.burst).unwrap_or(NonZeroU32::MIN);
        let proxies_limiter = distribution::limiter(&settings.distribution);
        Arc::new(Self {
            store,
            clock,
            settings,
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            proxies_limiter,
        })
    }

    /// The grant epochs of this state's store.
    pub fn ledger(&self) -> ledger::Ledger<'_, S> {
        ledger::Ledger::new(&self.store, &self.settings, self.clock.as_ref())
    }

    /// Spends one request of `client`'s budget, or says how long to wait.
    pub(crate) fn spend(&self, client: ClientKey) -> Result<(), ApiError> {
        use governor::clock::{Clock as _, DefaultClock};
        self.limiter.check_key(&client).map_err(|not_until| {
            ApiError::RateLimited(not_until.wait_time_from(DefaultClock::default().now()))
        })
    }
}

/// The HTTP API and the web pages (the funder's dashboard, operators'
/// public pages) over `state`.
pub fn router<S: Store>(state: Arc<AppState<S>>) -> Router {
    let limits = &state.settings.limits;
    let body_limit = limits.max_body_bytes;
    let timeout = limits.request_timeout;
    routes::routes::<S>()
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
}

/// Serves the API on `listener` until `shutdown` completes, then finishes the
/// requests in flight. Also runs the housekeeping (expired challenges, idle
/// rate-limit entries).
pub async fn serve<S: Store>(
    listener: TcpListener,
    state: Arc<AppState<S>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let housekeeping = tokio::spawn(housekeeping(Arc::clone(&state)));
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    housekeeping.abort();
    result
}

async fn housekeeping<S: Store>(state: Arc<AppState<S>>) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    loop {
        tick.tick().await;
        match state
            .store
            .purge_expired_challenges(state.clock.now())
            .await
        {
            Ok(n) => debug!(purged = n, "expired challenges deleted"),
            Err(e) => warn!(error = %e, "cannot delete expired challenges"),
        }
        state.limiter.retain_recent();
        state.limiter.shrink_to_fit();
        state.proxies_limiter.retain_recent();
        state.proxies_limiter.shrink_to_fit();
    }
}
