//! A coordinator on 127.0.0.1:0 over a real store, a manual clock, and
//! test-network wallets that sign with resist-ownership.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use resist_client::Client;
use resist_clock::{ManualClock, UnixTime};
use resist_coordinator::config::{LimitsConfig, MeasurementSettings};
use resist_coordinator::{AppState, Settings, token_hash};
use resist_ownership::{AddressKind, Network, PayoutAddress};
use resist_proto::action::Action;
use resist_proto::api::{Challenge, RegisterRequest};
use resist_proto::endpoint::{Credentials, Endpoint, EndpointRules, NodeSpec};
use resist_store::Store;
use tokio::sync::oneshot;

pub mod probes;

pub const ADMIN_TOKEN: &str = "admin-token-for-tests";
/// The canary key of test coordinators.
pub const CANARY_KEY: [u8; 32] = [0xC4; 32];
/// The distributor's secret of test coordinators.
pub const DISTRIBUTION_SECRET: [u8; 32] = [0xD1; 32];

/// A running coordinator.
pub struct Harness<S: Store> {
    pub url: String,
    pub clock: ManualClock,
    pub state: Arc<AppState<S>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub fn settings() -> Settings {
    Settings {
        network: Network::Regtest,
        challenge_ttl: Duration::from_secs(600),
        endpoint_rules: EndpointRules {
            danger_allow_private: false,
        },
        admin_token_hash: token_hash(ADMIN_TOKEN),
        limits: LimitsConfig {
            // Generous, so only the rate-limit test meets the limit.
            requests_per_minute: 6000,
            burst: 1000,
            ..LimitsConfig::default()
        },
        measurement: MeasurementSettings {
            window: Duration::from_secs(600),
            canary_advertise: "127.0.0.1:9".into(),
            canary_key: CANARY_KEY,
            censored_per_node: 2,
            free_per_node: 1,
            max_report_age: Duration::from_secs(3600),
            max_clock_skew: Duration::from_secs(120),
        },
        grants: resist_coordinator::config::GrantsConfig {
            operator_cap_bps: 10_000,
            ..Default::default()
        }
        .params(),
        payout: None,
        distribution: resist_coordinator::config::DistributionConfig {
            // Generous, so only the rate-limit test meets the limit.
            requests_per_minute: 6000,
            burst: 1000,
            ..Default::default()
        }
        .settings(DISTRIBUTION_SECRET)
        .unwrap(),
    }
}

impl<S: Store> Harness<S> {
    pub async fn start(store: S, settings: Settings) -> Self {
        let clock = ManualClock::new(UnixTime(1_795_000_000));
        let state = AppState::new(store, Arc::new(clock.clone()), settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(resist_coordinator::serve(
            listener,
            Arc::clone(&state),
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            url,
            clock,
            state,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.url).unwrap()
    }

    pub fn admin(&self) -> Client {
        self.client().with_token(ADMIN_TOKEN)
    }

    pub async fn challenge(&self) -> Challenge {
        self.client()
            .post::<(), _>("/api/challenges", None)
            .await
            .unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

/// A regtest key and its address.
#[derive(Clone)]
pub struct Wallet {
    pub wif: String,
    pub address: PayoutAddress,
}

impl Wallet {
    pub fn new(kind: AddressKind) -> Self {
        let wif = resist_ownership::generate_test_wif(Network::Regtest).unwrap();
        let address = resist_ownership::address_for_test_wif(&wif, kind, Network::Regtest).unwrap();
        Self { wif, address }
    }

    pub fn sign(&self, message: &str) -> String {
        resist_ownership::sign_for_test_network(&self.wif, &self.address, message).unwrap()
    }
}

pub fn node(host: &str, port: u16) -> NodeSpec {
    NodeSpec {
        endpoint: Endpoint {
            host: host.into(),
            port,
        },
        protocol: "socks5".into(),
        credentials: Some(Credentials {
            username: "probe".into(),
            password: "correct horse battery staple".into(),
        }),
    }
}

/// A correctly signed registration of `wallet` with `nodes`.
pub async fn signed_register<S: Store>(
    h: &Harness<S>,
    wallet: &Wallet,
    nodes: Vec<NodeSpec>,
) -> RegisterRequest {
    let challenge = h.challenge().await;
    let payout = wallet.address.as_str().to_owned();
    let message = Action::Register {
        payout_address: &payout,
        nodes: &nodes,
    }
    .message("regtest", &challenge.nonce);
    RegisterRequest {
        signature: wallet.sign(&message),
        payout_address: payout,
        nodes,
        nonce: challenge.nonce,
    }
}
