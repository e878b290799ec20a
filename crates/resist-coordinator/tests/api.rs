//! The HTTP API against a real SQLite store: registration and signed changes
//! with real BIP-322 and legacy signatures, refusals that name their field and
//! store nothing, admin operations, limits, and the OpenAPI document.

mod common;

use std::time::Duration;

use common::{Harness, Wallet, node, settings, signed_register};
use reqwest::StatusCode;
use resist_client::{ClientError, Method};
use resist_ownership::AddressKind;
use resist_proto::action::{Action, CredentialsChange};
use resist_proto::api::{
    AddNodeRequest, ChangePayoutRequest, EnrolProbeRequest, Info, NodeView, OperatorView,
    ProbeView, Registered, RotateTokenRequest, TokenIssued, UpdateNodeRequest,
};
use resist_proto::endpoint::Endpoint;
use resist_store::prelude::*;
use resist_store::{OperatorId, SqliteStore};

async fn start() -> (Harness<SqliteStore>, tempfile::TempDir) {
    start_with(settings()).await
}

async fn start_with(s: resist_coordinator::Settings) -> (Harness<SqliteStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in(dir.path()).await.unwrap();
    (Harness::start(store, s).await, dir)
}

fn refused(e: ClientError) -> (StatusCode, String, Option<String>, String) {
    match e {
        ClientError::Refused {
            status,
            code,
            field,
            message,
        } => (status, code, field, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn register_with_each_address_type_then_read_back() {
    let (h, _dir) = start().await;
    for (i, kind) in [AddressKind::P2wpkh, AddressKind::P2tr, AddressKind::P2pkh]
        .into_iter()
        .enumerate()
    {
        let wallet = Wallet::new(kind);
        let port = 1080 + u16::try_from(i).unwrap();
        let request = signed_register(
            &h,
            &wallet,
            vec![node("203.0.113.7", port), node("Proxy.Example.ORG", port)],
        )
        .await;
        let registered: Registered = h
            .client()
            .post("/api/operators", Some(&request))
            .await
            .unwrap();
        assert_eq!(registered.operator.payout_address, wallet.address.as_str());
        assert_eq!(registered.operator.nodes.len(), 2);
        // Host names are stored normalised; passwords are never sent back.
        assert_eq!(
            registered.operator.nodes[1].endpoint.host,
            "proxy.example.org"
        );
        assert!(
            registered
                .operator
                .nodes
                .iter()
                .all(|n| n.has_password && n.username.as_deref() == Some("probe"))
        );

        let me: OperatorView = h
            .client()
            .with_token(&registered.token)
            .get("/api/operators/me")
            .await
            .unwrap();
        assert_eq!(me, registered.operator);

        // The proof is kept for audits: the exact message and signature.
        let proofs = h.state.store.proofs_of(OperatorId(me.id)).await.unwrap();
        assert_eq!(proofs.len(), 1);
        assert_eq!(proofs[0].action, "register");
        assert_eq!(proofs[0].signature, request.signature);
        assert!(
            proofs[0]
                .message
                .starts_with("resist-v1 regtest register payout=")
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn a_signed_request_is_good_once() {
    let (h, _dir) = start().await;
    let wallet = Wallet::new(AddressKind::P2wpkh);
    let request = signed_register(&h, &wallet, vec![node("203.0.113.8", 1080)]).await;
    let _: Registered = h
        .client()
        .post("/api/operators", Some(&request))
        .await
        .unwrap();
    let (status, code, _, _) = refused(
        h.client()
            .post::<_, Registered>("/api/operators", Some(&request))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "challenge_invalid")
    );
    h.stop().await;
}

#[tokio::test]
async fn tampering_after_signing_is_refused_and_stores_nothing() {
    let (h, _dir) = start().await;
    let wallet = Wallet::new(AddressKind::P2tr);
    let mut request = signed_register(&h, &wallet, vec![node("203.0.113.9", 1080)]).await;
    request.nodes[0].credentials.as_mut().unwrap().password = "something else".into();
    let (status, code, _, message) = refused(
        h.client()
            .post::<_, Registered>("/api/operators", Some(&request))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "bad_signature"),
        "{message}"
    );
    assert!(h.state.store.operators().await.unwrap().is_empty());

    // Another wallet's signature over the right message fails the same way.
    let mut request = signed_register(&h, &wallet, vec![node("203.0.113.9", 1080)]).await;
    let other = Wallet::new(AddressKind::P2tr);
    let message = Action::Register {
        payout_address: &request.payout_address,
        nodes: &request.nodes,
    }
    .message("regtest", &request.nonce);
    request.signature = other.sign(&message);
    let (status, ..) = refused(
        h.client()
            .post::<_, Registered>("/api/operators", Some(&request))
            .await
            .unwrap_err(),
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(h.state.store.operators().await.unwrap().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn refusals_name_the_field() {
    let (h, _dir) = start().await;
    let wallet = Wallet::new(AddressKind::P2wpkh);

    // A mainnet address on a regtest coordinator.
    let mut request = signed_register(&h, &wallet, vec![node("203.0.113.10", 1080)]).await;
    request.payout_address = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq".into();
    let (status, code, field, message) = refused(
        h.client()
            .post::<_, Registered>("/api/operators", Some(&request))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (status, code.as_str(), field.as_deref()),
        (StatusCode::BAD_REQUEST, "invalid", Some("payout_address"))
    );
    assert!(message.contains("regtest"), "{message}");

    // A private endpoint: probes must not be steered into their own networks.
    let request = signed_register(
        &h,
        &wallet,
        vec![node("203.0.113.10", 1080), node("10.0.0.5", 1080)],
    )
    .await;
    let (_, _, field, message) = refused(
        h.client()
            .post::<_, Registered>("/api/operators", Some(&request))
            .await
            .unwrap_err(),
    );
    assert_eq!(field.as_deref(), Some("nodes[1].host"), "{message}");

    // The same endpoint twice.
    let request = signed_register(
        &h,
        &wallet,
        vec![node("203.0.113.10", 1080), node("203.0.113.10", 1080)],
    )
    .await;
    let (_, _, field, _) = refused(
        h.client()
            .post::<_, Registered>("/api/operators", Some(&request))
            .await
            .unwrap_err(),
    );
    assert_eq!(field.as_deref(), Some("nodes[1]"));

    // No nodes; a malformed nonce.
    let mut request = signed_register(&h, &wallet, vec![]).await;
    let (_, _, field, _) = refused(
        h.client()
            .post::<_, Registered>("/api/operators", Some(&request))
            .await
            .unwrap_err(),
    );
    assert_eq!(field.as_deref(), Some("nodes"));
    request.nodes = vec![node("203.0.113.10", 1080)];
    request.nonce = "not-a-nonce".into();
    let (_, _, field, _) = refused(
        h.client()
            .post::<_, Registered>("/api/operators", Some(&request))
            .await
            .unwrap_err(),
    );
    assert_eq!(field.as_deref(), Some("nonce"));
    assert!(h.state.store.operators().await.unwrap().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn challenges_expire() {
    let (h, _dir) = start().await;
    let wallet = Wallet::new(AddressKind::P2wpkh);
    let request = signed_register(&h, &wallet, vec![node("203.0.113.11", 1080)]).await;
    h.clock.advance(Duration::from_secs(601));
    let (_, code, ..) = refused(
        h.client()
            .post::<_, Registered>("/api/operators", Some(&request))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "challenge_invalid");
    h.stop().await;
}

#[tokio::test]
async fn endpoints_and_payout_addresses_are_unique() {
    let (h, _dir) = start().await;
    let alice = Wallet::new(AddressKind::P2wpkh);
    let bob = Wallet::new(AddressKind::P2tr);
    let r = signed_register(&h, &alice, vec![node("203.0.113.12", 1080)]).await;
    let _: Registered = h.client().post("/api/operators", Some(&r)).await.unwrap();

    let r = signed_register(&h, &bob, vec![node("203.0.113.12", 1080)]).await;
    let (status, code, _, message) = refused(
        h.client()
            .post::<_, Registered>("/api/operators", Some(&r))
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "conflict"));
    assert!(message.contains("host and port"), "{message}");

    let r = signed_register(&h, &alice, vec![node("203.0.113.13", 1080)]).await;
    let (status, _, _, message) = refused(
        h.client()
            .post::<_, Registered>("/api/operators", Some(&r))
            .await
            .unwrap_err(),
    );
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(message.contains("add-node"), "{message}");
    assert_eq!(h.state.store.operators().await.unwrap().len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn later_changes_are_signed_the_same_way() {
    let (h, _dir) = start().await;
    let wallet = Wallet::new(AddressKind::P2wpkh);
    let r = signed_register(&h, &wallet, vec![node("203.0.113.14", 1080)]).await;
    let registered: Registered = h.client().post("/api/operators", Some(&r)).await.unwrap();
    let id = registered.operator.id;

    // Add a node.
    let new_node = node("203.0.113.15", 443);
    let c = h.challenge().await;
    let sig = wallet.sign(
        &Action::AddNode {
            operator: id,
            node: &new_node,
        }
        .message("regtest", &c.nonce),
    );
    let added: NodeView = h
        .client()
        .post(
            &format!("/api/operators/{id}/nodes"),
            Some(&AddNodeRequest {
                node: new_node,
                nonce: c.nonce,
                signature: sig,
            }),
        )
        .await
        .unwrap();
    assert_eq!(added.endpoint.port, 443);

    // Move it and drop its credentials.
    let endpoint = Endpoint {
        host: "203.0.113.16".into(),
        port: 8443,
    };
    let c = h.challenge().await;
    let change = CredentialsChange::Remove;
    let sig = wallet.sign(
        &Action::UpdateNode {
            operator: id,
            node: added.id,
            endpoint: Some(&endpoint),
            credentials: &change,
        }
        .message("regtest", &c.nonce),
    );
    let request = UpdateNodeRequest {
        endpoint: Some(endpoint),
        credentials: change,
        nonce: c.nonce,
        signature: sig,
    };
    let updated: NodeView = h
        .client()
        .call(
            Method::PATCH,
            &format!("/api/operators/{id}/nodes/{}", added.id),
            Some(&request),
        )
        .await
        .unwrap();
    assert_eq!(updated.endpoint.to_string(), "203.0.113.16:8443");
    assert!(!updated.has_password && updated.username.is_none());

    // Someone else's node cannot be changed with this operator's signature.
    let other = Wallet::new(AddressKind::P2tr);
    let r2 = signed_register(&h, &other, vec![node("203.0.113.17", 1080)]).await;
    let theirs: Registered = h.client().post("/api/operators", Some(&r2)).await.unwrap();
    let their_node = theirs.operator.nodes[0].id;
    let c = h.challenge().await;
    let keep = CredentialsChange::Keep;
    let moved = Endpoint {
        host: "203.0.113.18".into(),
        port: 1,
    };
    let sig = wallet.sign(
        &Action::UpdateNode {
            operator: id,
            node: their_node,
            endpoint: Some(&moved),
            credentials: &keep,
        }
        .message("regtest", &c.nonce),
    );
    let request = UpdateNodeRequest {
        endpoint: Some(moved),
        credentials: keep,
        nonce: c.nonce,
        signature: sig,
    };
    let (status, ..) = refused(
        h.client()
            .call::<_, NodeView>(
                Method::PATCH,
                &format!("/api/operators/{id}/nodes/{their_node}"),
                Some(&request),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Change the payout address: both keys sign.
    let next = Wallet::new(AddressKind::P2tr);
    let c = h.challenge().await;
    let message = Action::ChangePayout {
        operator: id,
        new_payout_address: next.address.as_str(),
    }
    .message("regtest", &c.nonce);
    let only_old = ChangePayoutRequest {
        new_payout_address: next.address.as_str().into(),
        nonce: c.nonce.clone(),
        signature_current: wallet.sign(&message),
        signature_new: wallet.sign(&message),
    };
    let (status, _, _, message_text) = refused(
        h.client()
            .call::<_, OperatorView>(
                Method::PUT,
                &format!("/api/operators/{id}/payout"),
                Some(&only_old),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(message_text.contains("signature_new"), "{message_text}");
    let both = ChangePayoutRequest {
        signature_new: next.sign(&message),
        ..only_old
    };
    let me: OperatorView = h
        .client()
        .call(
            Method::PUT,
            &format!("/api/operators/{id}/payout"),
            Some(&both),
        )
        .await
        .unwrap();
    assert_eq!(me.payout_address, next.address.as_str());

    // Rotate the token, signed by the new payout key: the old token stops working.
    let c = h.challenge().await;
    let sig = next.sign(&Action::RotateToken { operator: id }.message("regtest", &c.nonce));
    let issued: TokenIssued = h
        .client()
        .post(
            &format!("/api/operators/{id}/token"),
            Some(&RotateTokenRequest {
                nonce: c.nonce,
                signature: sig,
            }),
        )
        .await
        .unwrap();
    let (status, ..) = refused(
        h.client()
            .with_token(&registered.token)
            .get::<OperatorView>("/api/operators/me")
            .await
            .unwrap_err(),
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let me: OperatorView = h
        .client()
        .with_token(&issued.token)
        .get("/api/operators/me")
        .await
        .unwrap();
    assert_eq!(me.nodes.len(), 2);

    let actions: Vec<String> = h
        .state
        .store
        .proofs_of(OperatorId(id))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.action)
        .collect();
    assert_eq!(
        actions,
        [
            "register",
            "add-node",
            "update-node",
            "change-payout",
            "change-payout",
            "rotate-token"
        ]
    );
    h.stop().await;
}

#[tokio::test]
async fn admin_enrols_lists_and_disables_probes() {
    let (h, _dir) = start().await;
    let key = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[7; 32])
            .verifying_key()
            .to_bytes(),
    );
    let enrol = |public_key: &str, region: &str| EnrolProbeRequest {
        public_key: public_key.into(),
        region: region.into(),
    };

    let (status, ..) = refused(
        h.client()
            .with_token("wrong")
            .get::<Vec<ProbeView>>("/api/admin/probes")
            .await
            .unwrap_err(),
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, ..) = refused(
        h.client()
            .get::<Vec<ProbeView>>("/api/admin/probes")
            .await
            .unwrap_err(),
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let probe: ProbeView = h
        .admin()
        .post("/api/admin/probes", Some(&enrol(&key, "censored:RU")))
        .await
        .unwrap();
    assert!(probe.enabled);
    assert_eq!(
        (probe.public_key.as_str(), probe.region.as_str()),
        (key.as_str(), "censored:RU")
    );

    let (status, ..) = refused(
        h.admin()
            .post::<_, ProbeView>("/api/admin/probes", Some(&enrol(&key, "free:DE")))
            .await
            .unwrap_err(),
    );
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, _, field, _) = refused(
        h.admin()
            .post::<_, ProbeView>("/api/admin/probes", Some(&enrol("abcd", "free:DE")))
            .await
            .unwrap_err(),
    );
    assert_eq!(field.as_deref(), Some("public_key"));
    let other = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[8; 32])
            .verifying_key()
            .to_bytes(),
    );
    let (_, _, field, _) = refused(
        h.admin()
            .post::<_, ProbeView>("/api/admin/probes", Some(&enrol(&other, "russia")))
            .await
            .unwrap_err(),
    );
    assert_eq!(field.as_deref(), Some("region"));

    let disabled: ProbeView = h
        .admin()
        .post::<(), _>(&format!("/api/admin/probes/{}/disable", probe.id), None)
        .await
        .unwrap();
    assert!(!disabled.enabled);
    let listed: Vec<ProbeView> = h.admin().get("/api/admin/probes").await.unwrap();
    assert_eq!(listed, vec![disabled.clone()]);
    let enabled: ProbeView = h
        .admin()
        .post::<(), _>(&format!("/api/admin/probes/{}/enable", probe.id), None)
        .await
        .unwrap();
    assert!(enabled.enabled);
    let (status, ..) = refused(
        h.admin()
            .post::<(), ProbeView>("/api/admin/probes/999/disable", None)
            .await
            .unwrap_err(),
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
    h.stop().await;
}

#[tokio::test]
async fn bodies_are_limited_and_checked() {
    let (h, _dir) = start().await;
    let http = reqwest::Client::new();
    let big = format!("{{\"payout_address\":\"{}\"}}", "x".repeat(70_000));
    let r = http
        .post(format!("{}/api/operators", h.url))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let r = http
        .post(format!("{}/api/operators", h.url))
        .header("content-type", "application/json")
        .body(r#"{"payout_address":"x","nodes":[],"nonce":"n","signature":"s","extra":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "bad_request");
    assert!(
        body["message"].as_str().unwrap().contains("extra"),
        "{body}"
    );

    let r = http
        .post(format!("{}/api/operators", h.url))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    h.stop().await;
}

#[tokio::test]
async fn unauthenticated_endpoints_are_rate_limited() {
    let mut s = settings();
    s.limits.requests_per_minute = 60;
    s.limits.burst = 5;
    let (h, _dir) = start_with(s).await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = http
            .post(format!("{}/api/challenges", h.url))
            .send()
            .await
            .unwrap();
        statuses.push((r.status(), r.headers().get("retry-after").cloned()));
    }
    let ok = statuses
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(ok, 5, "{statuses:?}");
    let (status, retry) = statuses.last().unwrap();
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry.as_ref().unwrap(), "1");
    // Reading is not limited.
    let info: Info = h.client().get("/api/info").await.unwrap();
    assert_eq!(info.network, "regtest");
    h.stop().await;
}

#[tokio::test]
async fn health_and_openapi() {
    let (h, _dir) = start().await;
    let r = reqwest::get(format!("{}/healthz", h.url)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: serde_json::Value = reqwest::get(format!("{}/api/openapi.json", h.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/healthz",
        "/api/info",
        "/api/challenges",
        "/api/operators",
        "/api/operators/me",
        "/api/operators/{id}/nodes",
        "/api/operators/{id}/nodes/{node}",
        "/api/operators/{id}/payout",
        "/api/operators/{id}/token",
        "/api/admin/probes",
        "/api/admin/probes/{id}/disable",
        "/api/admin/probes/{id}/enable",
        "/api/admin/operators",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["RegisterRequest"].is_object());
    assert!(doc["components"]["securitySchemes"]["admin_token"].is_object());
    h.stop().await;
}
