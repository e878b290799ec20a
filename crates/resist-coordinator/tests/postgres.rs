//! Two coordinators on one real PostgreSQL database serve correctly at the
//! same time: a challenge issued by one is honoured by the other, a nonce is
//! consumed once across both, and racing registrations of one endpoint end in
//! exactly one success.

mod common;

use common::{Harness, Wallet, node, settings, signed_register};
use reqwest::StatusCode;
use resist_client::ClientError;
use resist_ownership::AddressKind;
use resist_proto::api::{OperatorView, Registered};
use resist_store::PostgresStore;
use resist_store::prelude::*;
use resist_testkit::postgres::TempPostgres;

#[tokio::test]
async fn two_coordinators_share_one_database() {
    let Some(pg) = TempPostgres::start().expect("PostgreSQL failed to start") else {
        return; // TempPostgres said why.
    };
    let url = pg.fresh_database().await;
    let a = Harness::start(PostgresStore::connect(&url).await.unwrap(), settings()).await;
    let b = Harness::start(PostgresStore::connect(&url).await.unwrap(), settings()).await;

    // A challenge from A, the registration through B, the status through A.
    let wallet = Wallet::new(AddressKind::P2wpkh);
    let request = signed_register(&a, &wallet, vec![node("203.0.113.20", 1080)]).await;
    let registered: Registered = b
        .client()
        .post("/api/operators", Some(&request))
        .await
        .unwrap();
    let me: OperatorView = a
        .client()
        .with_token(&registered.token)
        .get("/api/operators/me")
        .await
        .unwrap();
    assert_eq!(me, registered.operator);

    // The nonce is spent for both.
    let again = a
        .client()
        .post::<_, Registered>("/api/operators", Some(&request))
        .await
        .unwrap_err();
    assert!(
        matches!(again, ClientError::Refused { ref code, .. } if code == "challenge_invalid"),
        "{again:?}"
    );

    // Two operators race for one endpoint, one through each coordinator,
    // many times: every round has exactly one winner and one clean 409.
    for round in 0..10u16 {
        let endpoint = node("203.0.113.21", 2000 + round);
        let x = Wallet::new(AddressKind::P2tr);
        let y = Wallet::new(AddressKind::P2wpkh);
        let rx = signed_register(&a, &x, vec![endpoint.clone()]).await;
        let ry = signed_register(&b, &y, vec![endpoint]).await;
        let (ca, cb) = (a.client(), b.client());
        let (r1, r2) = tokio::join!(
            ca.post::<_, Registered>("/api/operators", Some(&rx)),
            cb.post::<_, Registered>("/api/operators", Some(&ry)),
        );
        let outcomes = [r1, r2];
        let wins = outcomes.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {outcomes:?}");
        for r in outcomes.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(r, ClientError::Refused { status, .. } if *status == StatusCode::CONFLICT),
                "round {round}: the loser must get a 409, got {r:?}"
            );
        }
    }
    assert_eq!(a.state.store.operators().await.unwrap().len(), 11);
    a.stop().await;
    b.stop().await;
}
