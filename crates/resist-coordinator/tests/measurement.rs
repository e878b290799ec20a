//! Assignments, report ingest and status through the HTTP API, against a real
//! SQLite store, with probes' keys and reports made here: every refusal of a
//! report (unknown key, forged, replayed, stale, unassigned) and the
//! canary check only the coordinator can make.

mod common;

use std::collections::HashMap;

use common::probes::{Probe, assignments, auth, enrol, relayed, send};
use common::{Harness, Wallet, node, settings, signed_register};
use ed25519_dalek::SigningKey;
use reqwest::StatusCode;
use resist_client::{ClientError, Method};
use resist_measure::Status;
use resist_ownership::AddressKind;
use resist_proto::api::{Assignments, NodeStatusView, ProbeView, Registered, ReportReceipts};
use resist_proto::report::{Outcome, Report};
use resist_store::SqliteStore;
use resist_store::prelude::*;

fn statuses(receipts: &ReportReceipts) -> Vec<(&str, Option<&str>)> {
    receipts
        .receipts
        .iter()
        .map(|r| (r.status.as_str(), r.reason.as_deref()))
        .collect()
}

async fn setup() -> (
    Harness<SqliteStore>,
    tempfile::TempDir,
    Vec<Probe>,
    Registered,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in(dir.path()).await.unwrap();
    let h = Harness::start(store, settings()).await;
    let wallet = Wallet::new(AddressKind::P2wpkh);
    let r = signed_register(
        &h,
        &wallet,
        vec![node("203.0.113.40", 1080), node("203.0.113.41", 1080)],
    )
    .await;
    let registered: Registered = h.client().post("/api/operators", Some(&r)).await.unwrap();
    let probes = vec![
        enrol(&h, 1, "censored:RU").await,
        enrol(&h, 2, "censored:RU").await,
        enrol(&h, 3, "censored:RU-MOW").await,
        enrol(&h, 4, "free:DE").await,
    ];
    (h, dir, probes, registered)
}

#[tokio::test]
async fn every_node_gets_two_censored_probes_and_one_free() {
    let (h, _dir, probes, registered) = setup().await;
    let mut per_node: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut window = None;
    for p in &probes {
        let a = assignments(&h, p).await.unwrap();
        assert_eq!(a.region, p.view.region);
        assert_eq!(a.canary, "127.0.0.1:9");
        assert_eq!(a.window_end - a.window_start, 600);
        window.get_or_insert(a.window);
        assert_eq!(Some(a.window), window, "one window for everyone");
        for n in a.nodes {
            assert_eq!(n.password.as_deref(), Some("correct horse battery staple"));
            assert!(!n.reported);
            per_node.entry(n.node).or_default().push(p.view.id);
        }
    }
    assert_eq!(per_node.len(), registered.operator.nodes.len());
    for (node, assigned) in &per_node {
        let censored = assigned
            .iter()
            .filter(|id| **id != probes[3].view.id)
            .count();
        assert_eq!(censored, 2, "node {node}: {assigned:?}");
        assert!(
            assigned.contains(&probes[3].view.id),
            "the only free probe is on every node"
        );
    }
    // Asking again does not re-plan: the same assignments come back.
    let again = assignments(&h, &probes[0]).await.unwrap();
    let before: Vec<i64> = per_node
        .iter()
        .filter(|(_, ps)| ps.contains(&probes[0].view.id))
        .map(|(n, _)| *n)
        .collect();
    let mut after: Vec<i64> = again.nodes.iter().map(|n| n.node).collect();
    let mut before = before;
    before.sort();
    after.sort();
    assert_eq!(before, after);
    h.stop().await;
}

#[tokio::test]
async fn unknown_disabled_and_badly_timed_probes_are_refused() {
    let (h, _dir, probes, _) = setup().await;
    let stranger = Probe {
        key: SigningKey::from_bytes(&[99; 32]),
        view: probes[0].view.clone(),
    };
    let e = assignments(&h, &stranger).await.unwrap_err();
    assert!(
        matches!(&e, ClientError::Refused { status, message, .. } if *status == StatusCode::UNAUTHORIZED && message.contains("not enrolled")),
        "{e:?}"
    );

    let skewed = auth(&h, &probes[0].key, "GET", "/api/probe/assignments", 600);
    let e = h
        .client()
        .call_authorized::<(), Assignments>(
            Method::GET,
            "/api/probe/assignments",
            Some(&skewed),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::Refused { message, .. } if message.contains("clock")),
        "{e:?}"
    );

    // A signature for one path does not open another.
    let other = auth(&h, &probes[0].key, "GET", "/api/probe/reports", 0);
    let e = h
        .client()
        .call_authorized::<(), Assignments>(
            Method::GET,
            "/api/probe/assignments",
            Some(&other),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::Refused { status, .. } if *status == StatusCode::UNAUTHORIZED)
    );

    let _: ProbeView = h
        .admin()
        .post::<(), _>(
            &format!("/api/admin/probes/{}/disable", probes[0].view.id),
            None,
        )
        .await
        .unwrap();
    let e = assignments(&h, &probes[0]).await.unwrap_err();
    assert!(
        matches!(&e, ClientError::Refused { message, .. } if message.contains("disabled")),
        "{e:?}"
    );
    h.stop().await;
}

#[tokio::test]
async fn reports_are_checked_before_they_count() {
    let (h, _dir, probes, _) = setup().await;
    let free = &probes[3];
    let a = assignments(&h, free).await.unwrap();
    let (window, node) = (a.window, a.nodes[0].node);
    // A censored probe with work this window (the plan is random: with three
    // censored probes and two per node, one of them may have none).
    let mut chosen = None;
    for p in probes
        .iter()
        .filter(|p| p.view.region.starts_with("censored"))
    {
        let a = assignments(&h, p).await.unwrap();
        if !a.nodes.is_empty() {
            chosen = Some((p, a));
            break;
        }
    }
    let (c, ca) = chosen.expect("some censored probe has an assignment");

    let good = relayed(&h, free, window, node, 1);
    let mut forged = good.sign(&free.key);
    forged[20] ^= 1;
    let mut other_key = relayed(&h, &probes[0], window, node, 2);
    other_key.probe_key = probes[0].key.verifying_key().to_bytes();
    let stale = Report {
        measured_at: good.measured_at - 7200,
        report_id: [3; 16],
        ..good.clone()
    };
    let future = Report {
        measured_at: good.measured_at + 600,
        report_id: [4; 16],
        ..good.clone()
    };
    let elsewhere = Report {
        window: window - 5,
        report_id: [5; 16],
        ..good.clone()
    };
    let unassigned_node = ca
        .nodes
        .iter()
        .map(|n| n.node)
        .find(|n| !a.nodes.iter().any(|x| x.node == *n));

    let receipts = send(
        &h,
        free,
        &[
            good.sign(&free.key),
            forged,
            other_key.sign(&probes[0].key),
            stale.sign(&free.key),
            future.sign(&free.key),
            elsewhere.sign(&free.key),
            b"not a report".to_vec(),
        ],
    )
    .await;
    let s = statuses(&receipts);
    assert_eq!(s[0], ("accepted", None));
    assert_eq!(s[1].0, "refused");
    assert!(s[2].1.unwrap().contains("another probe"), "{s:?}");
    assert!(s[3].1.unwrap().contains("stale"), "{s:?}");
    assert!(s[4].1.unwrap().contains("future"), "{s:?}");
    assert!(s[5].1.unwrap().contains("outside its window"), "{s:?}");
    assert_eq!(s[6].0, "refused");

    // Replays: the same report is a duplicate; a new one for the same
    // assignment is refused.
    let again = send(
        &h,
        free,
        &[
            good.sign(&free.key),
            relayed(&h, free, window, node, 9).sign(&free.key),
        ],
    )
    .await;
    let s = statuses(&again);
    assert_eq!(s[0], ("duplicate", None));
    assert!(s[1].1.unwrap().contains("already reported"), "{s:?}");

    // A node this probe was not assigned (if the plan left one out).
    if let Some(n) = unassigned_node {
        let r = send(
            &h,
            free,
            &[relayed(&h, free, window, n, 10).sign(&free.key)],
        )
        .await;
        assert!(
            r.receipts[0]
                .reason
                .as_deref()
                .unwrap()
                .contains("not assigned"),
            "{r:?}"
        );
    }

    // A "relayed" report with a wrong canary answer is stored as a mismatch.
    let censored_node = ca.nodes[0].node;
    let mut lie = relayed(&h, c, ca.window, censored_node, 11);
    lie.canary_answer = [0; 32];
    let r = send(&h, c, &[lie.sign(&c.key)]).await;
    assert_eq!(r.receipts[0].status, "accepted");
    let stored = h
        .state
        .store
        .reports_of(resist_store::ProbeId(c.view.id))
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].report.outcome, Outcome::CanaryMismatch);

    // Only the accepted reports are stored, each once.
    assert_eq!(
        h.state
            .store
            .reports_of(resist_store::ProbeId(free.view.id))
            .await
            .unwrap()
            .len(),
        1
    );
    h.stop().await;
}

#[tokio::test]
async fn status_follows_the_reports() {
    let (h, _dir, probes, registered) = setup().await;
    let mut by_node: HashMap<i64, Vec<usize>> = HashMap::new();
    let mut window = 0;
    for (i, p) in probes.iter().enumerate() {
        let a = assignments(&h, p).await.unwrap();
        window = a.window;
        for n in a.nodes {
            by_node.entry(n.node).or_default().push(i);
        }
    }
    let (first, second) = (
        registered.operator.nodes[0].id,
        registered.operator.nodes[1].id,
    );
    // First node: everyone relays. Second: censored probes fail, free relays.
    let mut id = 20u8;
    for (node, ok_for_censored) in [(first, true), (second, false)] {
        for &i in &by_node[&node] {
            let p = &probes[i];
            let mut r = relayed(&h, p, window, node, id);
            id += 1;
            if p.view.region.starts_with("censored") && !ok_for_censored {
                r.outcome = Outcome::ConnectFailed;
            }
            let receipts = send(&h, p, &[r.sign(&p.key)]).await;
            assert_eq!(receipts.receipts[0].status, "accepted", "{receipts:?}");
        }
    }
    let status: Vec<NodeStatusView> = h.admin().get("/api/admin/status?windows=3").await.unwrap();
    let of = |n: i64| {
        status
            .iter()
            .find(|s| s.node == n)
            .unwrap()
            .latest
            .clone()
            .unwrap()
    };
    assert_eq!(of(first).status, Status::Ok);
    assert_eq!((of(first).censored_relayed, of(first).free_relayed), (2, 1));
    assert_eq!(of(second).status, Status::Blocked);
    assert_eq!(
        (of(second).censored_failed, of(second).free_relayed),
        (2, 1)
    );

    // The operator sees the same for its own nodes.
    let mine: Vec<NodeStatusView> = h
        .client()
        .with_token(&registered.token)
        .get("/api/operators/me/status")
        .await
        .unwrap();
    assert_eq!(mine.len(), 2);
    // A malformed query is a 400 naming the parameter.
    let e = h
        .admin()
        .get::<Vec<NodeStatusView>>("/api/admin/status?windows=many")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::Refused { field: Some(f), .. } if f == "windows"),
        "{e:?}"
    );

    // Assignments now say what was reported.
    let a = assignments(&h, &probes[3]).await.unwrap();
    assert!(a.nodes.iter().all(|n| n.reported));
    h.stop().await;
}

#[tokio::test]
async fn a_grant_preview_pays_only_for_ok_windows_and_verifies() {
    let (h, _dir, probes, registered) = setup().await;
    // A second operator, registered before the window is planned.
    let other = Wallet::new(AddressKind::P2tr);
    let r = signed_register(&h, &other, vec![node("198.51.100.50", 1080)]).await;
    let second: Registered = h.client().post("/api/operators", Some(&r)).await.unwrap();
    let blocked_node = second.operator.nodes[0].id;
    let ok_node = registered.operator.nodes[0].id;

    // Everyone reports: the first operator's first node relays for all; the
    // second operator's node fails for the censored probes.
    let mut window = 0;
    let mut id = 40u8;
    for p in &probes {
        let a = assignments(&h, p).await.unwrap();
        window = a.window;
        for n in a
            .nodes
            .iter()
            .filter(|n| n.node == ok_node || n.node == blocked_node)
        {
            let mut rep = relayed(&h, p, window, n.node, id);
            id += 1;
            if n.node == blocked_node && p.view.region.starts_with("censored") {
                rep.outcome = Outcome::ConnectFailed;
            }
            assert_eq!(
                send(&h, p, &[rep.sign(&p.key)]).await.receipts[0].status,
                "accepted"
            );
        }
    }
    // Close the window, then preview it.
    let start = window * 600;
    h.clock.set(resist_clock::UnixTime(start + 600));
    let report: resist_grants::Report = h
        .admin()
        .get(&format!(
            "/api/admin/grants/preview?budget_sat=100000&from={start}&to={}",
            start + 600
        ))
        .await
        .unwrap();
    assert!(
        resist_grants::verify(&report).is_ok(),
        "{}",
        resist_grants::verify(&report)
    );
    let node_of = |n: i64| report.inputs.nodes.iter().find(|x| x.node == n).unwrap();
    assert_eq!(node_of(ok_node).ok_windows, 1);
    assert!(!node_of(ok_node).throughput_samples_bps.is_empty());
    assert_eq!(
        node_of(blocked_node).ok_windows,
        0,
        "blocked windows earn nothing"
    );
    let op = |id: i64| {
        report
            .result
            .per_operator
            .iter()
            .find(|o| o.operator == id)
            .unwrap()
    };
    assert_eq!(op(second.operator.id).paid_sat, 0);
    assert_eq!(
        op(registered.operator.id).paid_sat + report.result.remainder_sat,
        100_000
    );
    assert!(op(registered.operator.id).paid_sat > 0);

    // A range that ends inside the window does not count it.
    let partial: resist_grants::Report = h
        .admin()
        .get(&format!(
            "/api/admin/grants/preview?budget_sat=1000&from={start}&to={}",
            start + 599
        ))
        .await
        .unwrap();
    assert!(partial.inputs.nodes.iter().all(|n| n.ok_windows == 0));
    assert_eq!(partial.result.remainder_sat, 1000);
    // An empty range pays nothing and is not an error.
    let empty: resist_grants::Report = h
        .admin()
        .get(&format!(
            "/api/admin/grants/preview?budget_sat=5&from={start}&to={start}"
        ))
        .await
        .unwrap();
    assert_eq!(empty.result.remainder_sat, 5);
    h.stop().await;
}
