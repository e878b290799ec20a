//! The behaviour every [`Store`] must have, as stories that run unchanged
//! against any implementation (feature `testing`).
//!
//! Each story takes a fresh, empty store and panics with a message on the
//! first broken promise. [`conformance_tests!`](crate::conformance_tests)
//! makes one test per story for a backend; this crate's
//! `tests/conformance.rs` runs them against SQLite (a file and in memory) and
//! a real PostgreSQL. A new backend passes when its tests do.
//!
//! The races (`concurrent_*`) run their calls concurrently on one task: each
//! call holds its own pooled connection, so the database sees them at the
//! same time, and the suite needs no runtime of its own.

// Test support: a failed assertion is the report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use resist_clock::UnixTime;
use resist_proto::region::Region;
use resist_proto::report::Outcome;

use crate::{
    AssignmentRow, ChangeProof, CheckedAddress, ConflictKind, EpochState, Ingested, NewBatch,
    NewEpoch, NewNode, NewOperator, NewProbe, NewReport, Node, NodeId, NodeUpdate, OperatorId,
    ProbeId, Protocol, Recorded, ReportSummary, Signature, Store, StoreError, StoredReport,
};

/// One `#[tokio::test]` per story, each on its own fresh store, in the
/// module the macro is invoked in. `$make` is an async function returning
/// `Option<(store, guard)>`: `None` skips the test (the function said why,
/// e.g. PostgreSQL is not installed), and the guard (a temporary directory,
/// or `()`) lives until the story ends. A new story is one line here.
///
/// ```text
/// mod sqlite_in_memory {
///     resist_store::conformance_tests!(super::in_memory);
/// }
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::conformance_tests!(@stories $make;
            ping_and_meta,
            register_and_read_back,
            lookups_of_absent_rows,
            listings_are_oldest_first,
            payout_conflict_stores_nothing,
            endpoint_conflict_stores_nothing,
            access_token_conflict,
            invalid_node_stores_nothing,
            challenge_is_single_use,
            challenge_expires,
            purge_removes_only_expired,
            change_payout,
            set_operator_token,
            add_node,
            update_node_semantics,
            update_node_conflict_and_not_found,
            probes,
            proofs_recorded_in_order,
            concurrent_register_same_endpoint,
            concurrent_same_nonce,
            concurrent_crossed_endpoints,
            concurrent_meta_first_writer,
            plan_and_read_assignments,
            replanning_changes_nothing,
            concurrent_plan_window,
            insert_report_outcomes,
            concurrent_reports,
            report_summaries_range_and_regions,
            reports_round_trip,
            epochs_form_one_chain,
            epoch_payout_lifecycle,
            concurrent_close_epoch,
            concurrent_export,
            invitations_round_trip,
            invitation_batch_is_atomic,
        );
    };
    (@stories $make:path; $($story:ident,)*) => {
        $(
            #[tokio::test]
            async fn $story() {
                let Some((store, _guard)) = $make().await else {
                    return;
                };
                $crate::conformance::$story(&store).await;
            }
        )*
    };
}

/// A time far from zero and from the limits of `i64`.
const T0: UnixTime = UnixTime(1_800_000_000);

fn at(seconds: i64) -> UnixTime {
    UnixTime(T0.0 + seconds)
}

/// Creates `nonce`, valid for five minutes from `now`.
async fn challenge<S: Store>(s: &S, nonce: &str, now: UnixTime) {
    s.create_challenge(nonce, now, UnixTime(now.0 + 300))
        .await
        .expect("create_challenge");
}

fn proof(nonce: &str, action: &str, signers: &[&str]) -> ChangeProof {
    ChangeProof {
        nonce: nonce.into(),
        action: action.into(),
        message: format!("resist {action}\nnonce: {nonce}\n"),
        signatures: signers
            .iter()
            .map(|a| Signature {
                address: (*a).into(),
                signature: format!("sig-of-{a}-over-{nonce}"),
            })
            .collect(),
    }
}

/// `address` as checked (the suite's addresses only need to be distinct).
fn addr(address: &str) -> CheckedAddress {
    CheckedAddress::new(address)
}

fn new_operator(address: &str, token: u8) -> NewOperator {
    NewOperator {
        payout_address: addr(address),
        token_hash: [token; 32],
    }
}

fn open_node(host: &str, port: u16) -> NewNode {
    NewNode {
        host: host.into(),
        port,
        protocol: Protocol::Socks5,
        username: None,
        password: None,
    }
}

fn locked_node(host: &str, port: u16, user: &str, pass: &str) -> NewNode {
    NewNode {
        username: Some(user.into()),
        password: Some(pass.into()),
        ..open_node(host, port)
    }
}

/// Registers `address` with `nodes`, through a fresh challenge named after it.
async fn register<S: Store>(
    s: &S,
    address: &str,
    token: u8,
    nodes: &[NewNode],
    now: UnixTime,
) -> (crate::Operator, Vec<Node>) {
    let nonce = format!("register-{address}");
    challenge(s, &nonce, now).await;
    s.register_operator(
        &new_operator(address, token),
        nodes,
        &proof(&nonce, "register", &[address]),
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("register {address}: {e}"))
}

fn assert_node_is(node: &Node, operator: OperatorId, new: &NewNode, created: UnixTime) {
    assert_eq!(node.operator, operator, "node operator");
    assert_eq!(node.host, new.host, "node host");
    assert_eq!(node.port, new.port, "node port");
    assert_eq!(node.protocol, new.protocol, "node protocol");
    assert_eq!(node.username, new.username, "node username");
    assert_eq!(node.password, new.password, "node password");
    assert_eq!(node.created_at, created, "node created_at");
    assert_eq!(node.updated_at, created, "node updated_at");
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>, kind: ConflictKind) {
    match r {
        Err(StoreError::Conflict(k)) => assert_eq!(k, kind, "conflict kind"),
        other => panic!("expected Conflict({kind:?}), got {other:?}"),
    }
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>, what: &str) {
    match r {
        Err(StoreError::NotFound { what: w }) => assert_eq!(w, what, "NotFound of what"),
        other => panic!("expected NotFound {{ what: {what:?} }}, got {other:?}"),
    }
}

#[track_caller]
fn assert_challenge_invalid<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(
        matches!(r, Err(StoreError::ChallengeInvalid)),
        "expected ChallengeInvalid, got {r:?}"
    );
}

/// The store answers, and `meta_get_or_insert` keeps the first value per key.
pub async fn ping_and_meta<S: Store>(s: &S) {
    s.ping().await.expect("ping");
    assert_eq!(
        s.meta_get_or_insert("network", "regtest").await.unwrap(),
        "regtest"
    );
    assert_eq!(
        s.meta_get_or_insert("network", "bitcoin").await.unwrap(),
        "regtest",
        "the first writer wins"
    );
    assert_eq!(
        s.meta_get_or_insert("canary-key", "k1").await.unwrap(),
        "k1",
        "keys are independent"
    );
    assert_eq!(
        s.meta_get_or_insert("network", "").await.unwrap(),
        "regtest"
    );
    // Text survives as given: case, spaces, non-ASCII.
    let odd = "Ünïcode value with  two spaces and 'quotes' \"both\"";
    assert_eq!(s.meta_get_or_insert("odd", odd).await.unwrap(), odd);
}

/// Every field of a registration comes back from every read.
pub async fn register_and_read_back<S: Store>(s: &S) {
    let address = "bcrt1qregisterreadback0000000000000000000";
    let nodes = [
        locked_node("203.0.113.7", 1080, "alice", "correct horse"),
        open_node("2001:db8::7", 65535),
        open_node("proxy.example.org", 1),
    ];
    challenge(s, "n-register", T0).await;
    let p = ChangeProof {
        nonce: "n-register".into(),
        action: "register".into(),
        message: "register\nline two with ünïcode\n".into(),
        signatures: vec![Signature {
            address: address.into(),
            signature: "AkcwRAIgsignature+/=".into(),
        }],
    };
    let now = at(10);
    let (op, added) = s
        .register_operator(&new_operator(address, 0xA5), &nodes, &p, now)
        .await
        .expect("register");
    assert_eq!(op.payout_address, address);
    assert_eq!(op.created_at, now);
    assert_eq!(op.updated_at, now);
    assert_eq!(added.len(), 3, "one node per input");
    for (node, new) in added.iter().zip(&nodes) {
        assert_node_is(node, op.id, new, now);
    }
    let mut ids: Vec<NodeId> = added.iter().map(|n| n.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "distinct node ids");

    assert_eq!(s.operator(op.id).await.unwrap().as_ref(), Some(&op));
    assert_eq!(
        s.operator_by_payout(address).await.unwrap().as_ref(),
        Some(&op)
    );
    assert_eq!(
        s.operator_by_token(&[0xA5; 32]).await.unwrap().as_ref(),
        Some(&op)
    );
    assert_eq!(s.operators().await.unwrap(), vec![op.clone()]);
    for node in &added {
        assert_eq!(s.node(node.id).await.unwrap().as_ref(), Some(node));
    }
    let mut by_id = added.clone();
    by_id.sort_by_key(|n| n.id);
    assert_eq!(s.nodes().await.unwrap(), by_id);
    assert_eq!(s.nodes_of(op.id).await.unwrap(), by_id);

    let proofs = s.proofs_of(op.id).await.unwrap();
    assert_eq!(proofs.len(), 1, "one proof row per signature");
    let r = &proofs[0];
    assert_eq!(r.operator, op.id);
    assert_eq!(r.action, "register");
    assert_eq!(r.address, address);
    assert_eq!(r.message, p.message);
    assert_eq!(r.signature, p.signatures[0].signature);
    assert_eq!(r.created_at, now);

    // The nonce is spent.
    assert_challenge_invalid(
        s.register_operator(
            &new_operator("bcrt1qother", 1),
            &[],
            &proof("n-register", "register", &["bcrt1qother"]),
            now,
        )
        .await,
    );
}

/// Reads of rows that do not exist answer `None` or an empty list.
pub async fn lookups_of_absent_rows<S: Store>(s: &S) {
    assert_eq!(s.operator(OperatorId(1)).await.unwrap(), None);
    assert_eq!(s.operator_by_payout("bcrt1qnobody").await.unwrap(), None);
    assert_eq!(s.operator_by_token(&[7; 32]).await.unwrap(), None);
    assert!(s.operators().await.unwrap().is_empty());
    assert_eq!(s.node(NodeId(1)).await.unwrap(), None);
    assert!(s.nodes().await.unwrap().is_empty());
    assert!(s.nodes_of(OperatorId(1)).await.unwrap().is_empty());
    assert!(s.proofs_of(OperatorId(1)).await.unwrap().is_empty());
    assert!(s.probes().await.unwrap().is_empty());
    assert_eq!(s.probe_by_key(&[7; 32]).await.unwrap(), None);
    assert_eq!(s.purge_expired_challenges(at(1_000_000)).await.unwrap(), 0);

    // Payout lookups are exact: no case folding, no prefix match.
    register(s, "bcrt1qexact", 1, &[], T0).await;
    assert_eq!(s.operator_by_payout("BCRT1QEXACT").await.unwrap(), None);
    assert_eq!(s.operator_by_payout("bcrt1qexac").await.unwrap(), None);
}

/// Operators, nodes and probes are listed oldest first; `nodes_of` lists only
/// the operator's own.
pub async fn listings_are_oldest_first<S: Store>(s: &S) {
    // Addresses and hosts in reverse alphabetical order, so an ORDER BY on
    // the wrong column shows.
    let (c, c_nodes) = register(
        s,
        "bcrt1qccc",
        3,
        &[open_node("z.example", 1080), open_node("y.example", 1080)],
        at(1),
    )
    .await;
    let (b, b_nodes) = register(s, "bcrt1qbbb", 2, &[open_node("x.example", 1080)], at(2)).await;
    let (a, _) = register(s, "bcrt1qaaa", 1, &[], at(3)).await;
    challenge(s, "n-add", at(4)).await;
    let late = s
        .add_node(
            c.id,
            &open_node("a.example", 1080),
            &proof("n-add", "add-node", &["bcrt1qccc"]),
            at(4),
        )
        .await
        .unwrap();

    let operators: Vec<OperatorId> = s.operators().await.unwrap().iter().map(|o| o.id).collect();
    assert_eq!(operators, vec![c.id, b.id, a.id]);

    let mut c_sorted = c_nodes.clone();
    c_sorted.sort_by_key(|n| n.id);
    let mut expected: Vec<Node> = c_sorted.clone();
    expected.extend(b_nodes.iter().cloned());
    expected.push(late.clone());
    assert_eq!(s.nodes().await.unwrap(), expected);
    let mut of_c = c_sorted;
    of_c.push(late);
    assert_eq!(s.nodes_of(c.id).await.unwrap(), of_c);
    assert_eq!(s.nodes_of(b.id).await.unwrap(), b_nodes);
    assert!(s.nodes_of(a.id).await.unwrap().is_empty());

    for (i, k) in [9u8, 5, 1].into_iter().enumerate() {
        s.enrol_probe(
            &NewProbe {
                public_key: [k; 32],
                region: region("free:DE"),
            },
            at(10 + i64::try_from(i).unwrap()),
        )
        .await
        .unwrap();
    }
    let keys: Vec<u8> = s
        .probes()
        .await
        .unwrap()
        .iter()
        .map(|p| p.public_key[0])
        .collect();
    assert_eq!(keys, vec![9, 5, 1]);
}

/// A registration whose payout address is taken fails with a Conflict, stores
/// nothing, and leaves its nonce usable.
pub async fn payout_conflict_stores_nothing<S: Store>(s: &S) {
    let (first, _) = register(s, "bcrt1qtaken", 1, &[open_node("198.51.100.1", 1080)], T0).await;
    challenge(s, "n-second", at(1)).await;
    let second = s
        .register_operator(
            &new_operator("bcrt1qtaken", 2),
            &[open_node("198.51.100.2", 1080)],
            &proof("n-second", "register", &["bcrt1qtaken"]),
            at(1),
        )
        .await;
    assert_conflict(second, ConflictKind::PayoutAddress);
    assert_eq!(s.operators().await.unwrap(), vec![first.clone()]);
    assert_eq!(s.nodes().await.unwrap().len(), 1, "the node was not stored");
    assert_eq!(s.operator_by_token(&[2; 32]).await.unwrap(), None);
    assert_eq!(s.proofs_of(first.id).await.unwrap().len(), 1);

    // The nonce was not consumed: a corrected request goes through with it.
    let (op, nodes) = s
        .register_operator(
            &new_operator("bcrt1qfree", 2),
            &[open_node("198.51.100.2", 1080)],
            &proof("n-second", "register", &["bcrt1qfree"]),
            at(2),
        )
        .await
        .expect("the nonce is still usable");
    assert_eq!(op.payout_address, "bcrt1qfree");
    assert_eq!(nodes.len(), 1);
}

/// A registration whose second node's endpoint is taken fails with a
/// Conflict: the operator row, its first node and its proof are all absent
/// afterwards, and the nonce is still usable.
pub async fn endpoint_conflict_stores_nothing<S: Store>(s: &S) {
    let (first, first_nodes) =
        register(s, "bcrt1qfirst", 1, &[open_node("198.51.100.9", 443)], T0).await;
    challenge(s, "n-clash", at(1)).await;
    let clash = [
        open_node("198.51.100.10", 443),
        // Same host, same port as the first operator's node.
        open_node("198.51.100.9", 443),
    ];
    let r = s
        .register_operator(
            &new_operator("bcrt1qsecond", 2),
            &clash,
            &proof("n-clash", "register", &["bcrt1qsecond"]),
            at(1),
        )
        .await;
    assert_conflict(r, ConflictKind::Endpoint);
    assert_eq!(s.operator_by_payout("bcrt1qsecond").await.unwrap(), None);
    assert_eq!(s.operator_by_token(&[2; 32]).await.unwrap(), None);
    assert_eq!(s.operators().await.unwrap(), vec![first.clone()]);
    assert_eq!(s.nodes().await.unwrap(), first_nodes);

    // The same endpoint twice in one request conflicts with itself.
    let twice = [
        open_node("198.51.100.11", 8080),
        open_node("198.51.100.11", 8080),
    ];
    let r = s
        .register_operator(
            &new_operator("bcrt1qsecond", 2),
            &twice,
            &proof("n-clash", "register", &["bcrt1qsecond"]),
            at(1),
        )
        .await;
    assert_conflict(r, ConflictKind::Endpoint);
    assert_eq!(s.operators().await.unwrap().len(), 1);

    // Same host on another port, or another host on the same port, is fine,
    // and the nonce is still there to be used.
    let fine = [
        open_node("198.51.100.9", 444),
        open_node("198.51.100.10", 443),
    ];
    let (second, nodes) = s
        .register_operator(
            &new_operator("bcrt1qsecond", 2),
            &fine,
            &proof("n-clash", "register", &["bcrt1qsecond"]),
            at(2),
        )
        .await
        .expect("the nonce is still usable");
    assert_eq!(nodes.len(), 2);
    assert_eq!(s.nodes_of(second.id).await.unwrap().len(), 2);
    assert_eq!(s.proofs_of(second.id).await.unwrap().len(), 1);
}

/// Two operators cannot share an access token hash.
pub async fn access_token_conflict<S: Store>(s: &S) {
    let (a, _) = register(s, "bcrt1qtoken-a", 1, &[], T0).await;
    challenge(s, "n-b", T0).await;
    let r = s
        .register_operator(
            &new_operator("bcrt1qtoken-b", 1),
            &[],
            &proof("n-b", "register", &["bcrt1qtoken-b"]),
            T0,
        )
        .await;
    assert_conflict(r, ConflictKind::AccessToken);
    assert_eq!(s.operators().await.unwrap(), vec![a.clone()]);

    let (b, _) = s
        .register_operator(
            &new_operator("bcrt1qtoken-b", 2),
            &[],
            &proof("n-b", "register", &["bcrt1qtoken-b"]),
            T0,
        )
        .await
        .unwrap();
    challenge(s, "n-steal", at(1)).await;
    let r = s
        .set_operator_token(
            b.id,
            &[1; 32],
            &proof("n-steal", "token", &["bcrt1qtoken-b"]),
            at(1),
        )
        .await;
    assert_conflict(r, ConflictKind::AccessToken);
    assert_eq!(
        s.operator_by_token(&[1; 32]).await.unwrap().map(|o| o.id),
        Some(a.id)
    );
    assert_eq!(
        s.operator_by_token(&[2; 32]).await.unwrap().map(|o| o.id),
        Some(b.id)
    );
}

/// The schema refuses what the types allow but the rules do not (port 0, a
/// username without a password), and the refusal stores nothing.
pub async fn invalid_node_stores_nothing<S: Store>(s: &S) {
    challenge(s, "n-bad", T0).await;
    let bad_nodes = [
        open_node("198.51.100.1", 0),
        NewNode {
            username: Some("alice".into()),
            password: None,
            ..open_node("198.51.100.1", 1080)
        },
        NewNode {
            username: None,
            password: Some("secret".into()),
            ..open_node("198.51.100.1", 1080)
        },
        open_node("", 1080),
    ];
    for bad in &bad_nodes {
        let r = s
            .register_operator(
                &new_operator("bcrt1qbad", 1),
                std::slice::from_ref(bad),
                &proof("n-bad", "register", &["bcrt1qbad"]),
                T0,
            )
            .await;
        assert!(
            matches!(r, Err(StoreError::Database(_))),
            "{bad:?} must be refused by the schema, got {r:?}"
        );
        assert!(s.operators().await.unwrap().is_empty());
        assert!(s.nodes().await.unwrap().is_empty());
    }
    // The nonce survived every refusal.
    s.register_operator(
        &new_operator("bcrt1qbad", 1),
        &[open_node("198.51.100.1", 1080)],
        &proof("n-bad", "register", &["bcrt1qbad"]),
        T0,
    )
    .await
    .expect("nonce still usable");
}

/// A nonce works once; an unknown one never.
pub async fn challenge_is_single_use<S: Store>(s: &S) {
    assert_challenge_invalid(
        s.register_operator(
            &new_operator("bcrt1qunknown", 1),
            &[open_node("198.51.100.1", 1080)],
            &proof("never-issued", "register", &["bcrt1qunknown"]),
            T0,
        )
        .await,
    );
    assert!(s.operators().await.unwrap().is_empty(), "nothing stored");
    assert!(s.nodes().await.unwrap().is_empty(), "nothing stored");

    let (op, _) = register(s, "bcrt1qonce", 1, &[], T0).await;
    challenge(s, "n-once", T0).await;
    s.add_node(
        op.id,
        &open_node("198.51.100.2", 1080),
        &proof("n-once", "add-node", &["bcrt1qonce"]),
        at(1),
    )
    .await
    .expect("first use");
    assert_challenge_invalid(
        s.add_node(
            op.id,
            &open_node("198.51.100.3", 1080),
            &proof("n-once", "add-node", &["bcrt1qonce"]),
            at(2),
        )
        .await,
    );
    assert_eq!(
        s.nodes_of(op.id).await.unwrap().len(),
        1,
        "replay stored nothing"
    );
    assert_eq!(
        s.proofs_of(op.id).await.unwrap().len(),
        2,
        "register and one add-node"
    );
    // Every signed change consumes: payout, token and node updates too.
    challenge(s, "n-twice", at(3)).await;
    s.set_operator_token(
        op.id,
        &[9; 32],
        &proof("n-twice", "token", &["bcrt1qonce"]),
        at(3),
    )
    .await
    .unwrap();
    assert_challenge_invalid(
        s.change_payout(
            op.id,
            &addr("bcrt1qelsewhere"),
            &proof("n-twice", "payout", &["bcrt1qonce", "bcrt1qelsewhere"]),
            at(3),
        )
        .await,
    );
    assert_eq!(
        s.operator(op.id).await.unwrap().unwrap().payout_address,
        "bcrt1qonce"
    );
}

/// A nonce is valid strictly before its expiry and not at or after it.
pub async fn challenge_expires<S: Store>(s: &S) {
    let (op, _) = register(s, "bcrt1qexpiry", 1, &[], T0).await;
    s.create_challenge("n-expiring", at(0), at(60))
        .await
        .unwrap();
    s.create_challenge("n-last-second", at(0), at(60))
        .await
        .unwrap();
    assert_challenge_invalid(
        s.add_node(
            op.id,
            &open_node("198.51.100.1", 1080),
            &proof("n-expiring", "add-node", &["bcrt1qexpiry"]),
            at(60),
        )
        .await,
    );
    assert_challenge_invalid(
        s.add_node(
            op.id,
            &open_node("198.51.100.1", 1080),
            &proof("n-expiring", "add-node", &["bcrt1qexpiry"]),
            at(61),
        )
        .await,
    );
    assert!(s.nodes().await.unwrap().is_empty());
    s.add_node(
        op.id,
        &open_node("198.51.100.1", 1080),
        &proof("n-last-second", "add-node", &["bcrt1qexpiry"]),
        at(59),
    )
    .await
    .expect("valid one second before expiry");
}

/// Purging deletes the challenges expired at or before `now`, counts them,
/// and leaves the others usable.
pub async fn purge_removes_only_expired<S: Store>(s: &S) {
    let (op, _) = register(s, "bcrt1qpurge", 1, &[], T0).await;
    s.create_challenge("n-10", at(0), at(10)).await.unwrap();
    s.create_challenge("n-20", at(0), at(20)).await.unwrap();
    s.create_challenge("n-21", at(0), at(21)).await.unwrap();
    s.create_challenge("n-99", at(0), at(99)).await.unwrap();
    assert_eq!(s.purge_expired_challenges(at(5)).await.unwrap(), 0);
    assert_eq!(s.purge_expired_challenges(at(20)).await.unwrap(), 2);
    assert_eq!(
        s.purge_expired_challenges(at(20)).await.unwrap(),
        0,
        "already gone"
    );
    // n-21 is still there, and valid at 20.
    s.add_node(
        op.id,
        &open_node("198.51.100.21", 1080),
        &proof("n-21", "add-node", &["bcrt1qpurge"]),
        at(20),
    )
    .await
    .expect("unexpired challenge survives the purge");
    assert_eq!(s.purge_expired_challenges(at(1000)).await.unwrap(), 1);
    assert_challenge_invalid(
        s.add_node(
            op.id,
            &open_node("198.51.100.99", 1080),
            &proof("n-99", "add-node", &["bcrt1qpurge"]),
            at(30),
        )
        .await,
    );
}

/// A payout change moves the address, records both signatures, and refuses
/// an address in use by another operator.
pub async fn change_payout<S: Store>(s: &S) {
    let (a, _) = register(s, "bcrt1qold", 1, &[], T0).await;
    let (b, _) = register(s, "bcrt1qother", 2, &[], T0).await;

    challenge(s, "n-move", at(5)).await;
    let moved = s
        .change_payout(
            a.id,
            &addr("bcrt1qnew"),
            &proof("n-move", "change-payout", &["bcrt1qold", "bcrt1qnew"]),
            at(7),
        )
        .await
        .unwrap();
    assert_eq!(moved.id, a.id);
    assert_eq!(moved.payout_address, "bcrt1qnew");
    assert_eq!(moved.created_at, T0);
    assert_eq!(moved.updated_at, at(7));
    assert_eq!(s.operator(a.id).await.unwrap(), Some(moved.clone()));
    assert_eq!(s.operator_by_payout("bcrt1qold").await.unwrap(), None);
    assert_eq!(
        s.operator_by_payout("bcrt1qnew").await.unwrap(),
        Some(moved.clone())
    );
    let proofs = s.proofs_of(a.id).await.unwrap();
    let signers: Vec<(&str, &str)> = proofs
        .iter()
        .map(|p| (p.action.as_str(), p.address.as_str()))
        .collect();
    assert_eq!(
        signers,
        vec![
            ("register", "bcrt1qold"),
            ("change-payout", "bcrt1qold"),
            ("change-payout", "bcrt1qnew"),
        ]
    );

    // The old address is free again.
    challenge(s, "n-reuse", at(8)).await;
    s.register_operator(
        &new_operator("bcrt1qold", 3),
        &[],
        &proof("n-reuse", "register", &["bcrt1qold"]),
        at(8),
    )
    .await
    .expect("a released address can be registered");

    // Taking another operator's address: Conflict, nothing changes, nonce kept.
    challenge(s, "n-steal", at(9)).await;
    assert_conflict(
        s.change_payout(
            a.id,
            &addr("bcrt1qother"),
            &proof("n-steal", "change-payout", &["bcrt1qnew", "bcrt1qother"]),
            at(9),
        )
        .await,
        ConflictKind::PayoutAddress,
    );
    assert_eq!(s.operator(a.id).await.unwrap(), Some(moved));
    assert_eq!(s.operator(b.id).await.unwrap(), Some(b));
    assert_eq!(
        s.proofs_of(a.id).await.unwrap().len(),
        3,
        "no proof recorded"
    );
    assert_not_found(
        s.change_payout(
            OperatorId(999_999),
            &addr("bcrt1qghost"),
            &proof("n-steal", "change-payout", &["bcrt1qghost"]),
            at(9),
        )
        .await,
        "operator",
    );
    s.change_payout(
        a.id,
        &addr("bcrt1qthird"),
        &proof("n-steal", "change-payout", &["bcrt1qnew", "bcrt1qthird"]),
        at(10),
    )
    .await
    .expect("the nonce survived the conflict and the NotFound");
}

/// A new token replaces the old one for lookups.
pub async fn set_operator_token<S: Store>(s: &S) {
    let (op, _) = register(s, "bcrt1qtoken", 1, &[], T0).await;
    challenge(s, "n-token", at(1)).await;
    s.set_operator_token(
        op.id,
        &[0xEE; 32],
        &proof("n-token", "new-token", &["bcrt1qtoken"]),
        at(2),
    )
    .await
    .unwrap();
    assert_eq!(s.operator_by_token(&[1; 32]).await.unwrap(), None);
    let now = s.operator_by_token(&[0xEE; 32]).await.unwrap().unwrap();
    assert_eq!(now.id, op.id);
    assert_eq!(now.payout_address, op.payout_address);
    assert_eq!(now.created_at, T0);
    assert_eq!(now.updated_at, at(2));
    let last = s.proofs_of(op.id).await.unwrap().pop().unwrap();
    assert_eq!(last.action, "new-token");

    challenge(s, "n-ghost", at(3)).await;
    assert_not_found(
        s.set_operator_token(
            OperatorId(999_999),
            &[0xDD; 32],
            &proof("n-ghost", "new-token", &["bcrt1qghost"]),
            at(3),
        )
        .await,
        "operator",
    );
    assert_eq!(s.operator_by_token(&[0xDD; 32]).await.unwrap(), None);
}

/// Adding a node stores it with the proof; a taken endpoint or an unknown
/// operator is refused and keeps the nonce.
pub async fn add_node<S: Store>(s: &S) {
    let (a, _) = register(s, "bcrt1qadd-a", 1, &[open_node("198.51.100.1", 1080)], T0).await;
    challenge(s, "n-add", at(1)).await;
    let new = locked_node("proxy.example.net", 9050, "bob", "hunter2");
    let node = s
        .add_node(
            a.id,
            &new,
            &proof("n-add", "add-node", &["bcrt1qadd-a"]),
            at(2),
        )
        .await
        .unwrap();
    assert_node_is(&node, a.id, &new, at(2));
    assert_eq!(s.node(node.id).await.unwrap(), Some(node.clone()));
    assert_eq!(s.nodes_of(a.id).await.unwrap().len(), 2);
    let last = s.proofs_of(a.id).await.unwrap().pop().unwrap();
    assert_eq!((last.action.as_str(), last.created_at), ("add-node", at(2)));

    challenge(s, "n-taken", at(3)).await;
    assert_conflict(
        s.add_node(
            a.id,
            &open_node("proxy.example.net", 9050),
            &proof("n-taken", "add-node", &["bcrt1qadd-a"]),
            at(3),
        )
        .await,
        ConflictKind::Endpoint,
    );
    assert_not_found(
        s.add_node(
            OperatorId(999_999),
            &open_node("198.51.100.77", 1080),
            &proof("n-taken", "add-node", &["bcrt1qghost"]),
            at(3),
        )
        .await,
        "operator",
    );
    assert_eq!(s.nodes().await.unwrap().len(), 2, "nothing stored");
    s.add_node(
        a.id,
        &open_node("198.51.100.77", 1080),
        &proof("n-taken", "add-node", &["bcrt1qadd-a"]),
        at(4),
    )
    .await
    .expect("the nonce survived");
}

/// `NodeUpdate`: `None` fields stay; `endpoint` moves the node;
/// `credentials: Some(None)` removes them, `Some(Some(..))` sets them.
pub async fn update_node_semantics<S: Store>(s: &S) {
    let (op, nodes) = register(
        s,
        "bcrt1qupdate",
        1,
        &[locked_node("198.51.100.1", 1080, "alice", "pw1")],
        T0,
    )
    .await;
    let id = nodes[0].id;
    let mut nonce = 0;
    let mut update = async |u: NodeUpdate, t: i64| {
        nonce += 1;
        let n = format!("n-update-{nonce}");
        challenge(s, &n, at(t)).await;
        let node = s
            .update_node(
                op.id,
                id,
                &u,
                &proof(&n, "update-node", &["bcrt1qupdate"]),
                at(t),
            )
            .await
            .unwrap_or_else(|e| panic!("update {u:?}: {e}"));
        assert_eq!(s.node(id).await.unwrap().as_ref(), Some(&node), "read back");
        node
    };

    let n = update(
        NodeUpdate {
            endpoint: Some(("2001:db8::1".into(), 443)),
            credentials: None,
        },
        1,
    )
    .await;
    assert_eq!((n.host.as_str(), n.port), ("2001:db8::1", 443));
    assert_eq!(n.username.as_deref(), Some("alice"), "credentials kept");
    assert_eq!(n.password.as_deref(), Some("pw1"), "credentials kept");
    assert_eq!((n.created_at, n.updated_at), (T0, at(1)));
    assert_eq!(
        (n.id, n.operator, n.protocol),
        (id, op.id, Protocol::Socks5)
    );

    let n = update(
        NodeUpdate {
            endpoint: None,
            credentials: Some(None),
        },
        2,
    )
    .await;
    assert_eq!(
        (n.host.as_str(), n.port),
        ("2001:db8::1", 443),
        "endpoint kept"
    );
    assert_eq!(
        (n.username, n.password),
        (None, None),
        "credentials removed"
    );
    assert_eq!(n.updated_at, at(2));

    let n = update(
        NodeUpdate {
            endpoint: None,
            credentials: Some(Some(("carol".into(), "pw 2 with spaces".into()))),
        },
        3,
    )
    .await;
    assert_eq!(n.username.as_deref(), Some("carol"));
    assert_eq!(n.password.as_deref(), Some("pw 2 with spaces"));
    assert_eq!(
        (n.host.as_str(), n.port),
        ("2001:db8::1", 443),
        "endpoint kept"
    );

    let n = update(
        NodeUpdate {
            endpoint: Some(("proxy.example.com".into(), 1080)),
            credentials: Some(Some(("dave".into(), "pw3".into()))),
        },
        4,
    )
    .await;
    assert_eq!((n.host.as_str(), n.port), ("proxy.example.com", 1080));
    assert_eq!(
        (n.username.as_deref(), n.password.as_deref()),
        (Some("dave"), Some("pw3"))
    );

    // Moving onto its own endpoint is not a conflict.
    let n = update(
        NodeUpdate {
            endpoint: Some(("proxy.example.com".into(), 1080)),
            credentials: None,
        },
        5,
    )
    .await;
    assert_eq!(n.port, 1080);

    let actions: Vec<String> = s
        .proofs_of(op.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.action)
        .collect();
    assert_eq!(actions.len(), 6, "register + five updates: {actions:?}");
    assert_eq!(s.nodes().await.unwrap().len(), 1);
}

/// Updating onto a taken endpoint is a Conflict; another operator's node, or
/// no node, is NotFound. Neither changes anything or consumes the nonce.
pub async fn update_node_conflict_and_not_found<S: Store>(s: &S) {
    let (a, a_nodes) = register(
        s,
        "bcrt1qowner-a",
        1,
        &[
            open_node("198.51.100.1", 1080),
            open_node("198.51.100.2", 1080),
        ],
        T0,
    )
    .await;
    let (b, b_nodes) = register(
        s,
        "bcrt1qowner-b",
        2,
        &[open_node("198.51.100.3", 1080)],
        T0,
    )
    .await;
    let before = s.nodes().await.unwrap();
    challenge(s, "n-u", at(1)).await;
    let p = proof("n-u", "update-node", &["bcrt1qowner-a"]);

    assert_conflict(
        s.update_node(
            a.id,
            a_nodes[0].id,
            &NodeUpdate {
                endpoint: Some(("198.51.100.2".into(), 1080)),
                credentials: None,
            },
            &p,
            at(1),
        )
        .await,
        ConflictKind::Endpoint,
    );
    assert_conflict(
        s.update_node(
            a.id,
            a_nodes[0].id,
            &NodeUpdate {
                endpoint: Some(("198.51.100.3".into(), 1080)),
                credentials: None,
            },
            &p,
            at(1),
        )
        .await,
        ConflictKind::Endpoint,
    );
    // A's key cannot touch B's node, whatever the update.
    assert_not_found(
        s.update_node(
            a.id,
            b_nodes[0].id,
            &NodeUpdate {
                endpoint: Some(("198.51.100.99".into(), 1080)),
                credentials: Some(Some(("mallory".into(), "x".into()))),
            },
            &p,
            at(1),
        )
        .await,
        "node",
    );
    assert_not_found(
        s.update_node(a.id, NodeId(999_999), &NodeUpdate::default(), &p, at(1))
            .await,
        "node",
    );
    assert_not_found(
        s.update_node(
            OperatorId(999_999),
            a_nodes[0].id,
            &NodeUpdate::default(),
            &p,
            at(1),
        )
        .await,
        "node",
    );
    assert_eq!(s.nodes().await.unwrap(), before, "nothing changed");
    assert_eq!(s.proofs_of(a.id).await.unwrap().len(), 1);
    assert_eq!(s.proofs_of(b.id).await.unwrap().len(), 1);

    // The nonce is intact.
    s.update_node(
        a.id,
        a_nodes[0].id,
        &NodeUpdate {
            endpoint: Some(("198.51.100.4".into(), 1080)),
            credentials: None,
        },
        &p,
        at(2),
    )
    .await
    .expect("nonce still usable");
    // B's node is exactly as it was.
    assert_eq!(
        s.node(b_nodes[0].id).await.unwrap().as_ref(),
        Some(&b_nodes[0])
    );
}

/// Probes: enrolment (enabled), lookups, a taken key, enabling and disabling.
pub async fn probes<S: Store>(s: &S) {
    let key = {
        let mut k = [0u8; 32];
        for (i, b) in k.iter_mut().enumerate() {
            *b = u8::try_from(i).unwrap().wrapping_mul(37) ^ 0x5A;
        }
        k[0] = 0; // a NUL byte must survive (BLOB/BYTEA, not text)
        k
    };
    let probe = s
        .enrol_probe(
            &NewProbe {
                public_key: key,
                region: region("censored:RU"),
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(probe.public_key, key);
    assert_eq!(probe.region, region("censored:RU"));
    assert!(probe.enabled, "enrolled enabled");
    assert_eq!((probe.enrolled_at, probe.updated_at), (T0, T0));
    assert_eq!(s.probe_by_key(&key).await.unwrap(), Some(probe.clone()));
    assert_eq!(s.probes().await.unwrap(), vec![probe.clone()]);

    assert_conflict(
        s.enrol_probe(
            &NewProbe {
                public_key: key,
                region: region("free:DE"),
            },
            at(1),
        )
        .await,
        ConflictKind::ProbeKey,
    );
    assert_eq!(s.probes().await.unwrap(), vec![probe.clone()]);

    let off = s.set_probe_enabled(probe.id, false, at(5)).await.unwrap();
    assert!(!off.enabled);
    assert_eq!((off.enrolled_at, off.updated_at), (T0, at(5)));
    assert_eq!(
        (off.id, off.public_key, off.region.clone()),
        (probe.id, key, region("censored:RU"))
    );
    assert_eq!(s.probe_by_key(&key).await.unwrap(), Some(off));
    let on = s.set_probe_enabled(probe.id, true, at(6)).await.unwrap();
    assert!(on.enabled);
    assert_eq!(on.updated_at, at(6));
    assert_eq!(s.probes().await.unwrap(), vec![on]);

    assert_not_found(
        s.set_probe_enabled(ProbeId(999_999), false, at(7)).await,
        "probe",
    );
    let other = s
        .enrol_probe(
            &NewProbe {
                public_key: [0xFF; 32],
                region: region("free:NL"),
            },
            at(8),
        )
        .await
        .unwrap();
    assert_ne!(other.id, probe.id);
    assert_eq!(s.probes().await.unwrap().len(), 2);
}

/// Proofs come back in the order the changes were applied, one row per
/// signature, and only the operator's own.
pub async fn proofs_recorded_in_order<S: Store>(s: &S) {
    let (a, a_nodes) = register(s, "bcrt1qa1", 1, &[open_node("198.51.100.1", 1080)], T0).await;
    let (b, _) = register(s, "bcrt1qb1", 2, &[], at(1)).await;
    let steps: [(&str, i64); 4] = [("n-1", 2), ("n-2", 3), ("n-3", 4), ("n-4", 5)];
    for (n, t) in steps {
        challenge(s, n, at(t)).await;
    }
    s.add_node(
        a.id,
        &open_node("198.51.100.2", 1080),
        &proof("n-1", "add-node", &["bcrt1qa1"]),
        at(2),
    )
    .await
    .unwrap();
    s.change_payout(
        a.id,
        &addr("bcrt1qa2"),
        &proof("n-2", "change-payout", &["bcrt1qa1", "bcrt1qa2"]),
        at(3),
    )
    .await
    .unwrap();
    s.add_node(
        b.id,
        &open_node("198.51.100.3", 1080),
        &proof("n-3", "add-node", &["bcrt1qb1"]),
        at(4),
    )
    .await
    .unwrap();
    s.update_node(
        a.id,
        a_nodes[0].id,
        &NodeUpdate {
            endpoint: None,
            credentials: Some(Some(("u".into(), "p".into()))),
        },
        &proof("n-4", "update-node", &["bcrt1qa2"]),
        at(5),
    )
    .await
    .unwrap();

    let got: Vec<(String, String, String, UnixTime)> = s
        .proofs_of(a.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| {
            assert_eq!(p.operator, a.id);
            let signed_by = format!("sig-of-{}-over-", p.address);
            assert!(p.signature.starts_with(&signed_by), "{p:?}");
            (p.action, p.address, p.message, p.created_at)
        })
        .collect();
    let msg = |action: &str, nonce: &str| format!("resist {action}\nnonce: {nonce}\n");
    assert_eq!(
        got,
        vec![
            (
                "register".into(),
                "bcrt1qa1".into(),
                msg("register", "register-bcrt1qa1"),
                T0
            ),
            (
                "add-node".into(),
                "bcrt1qa1".into(),
                msg("add-node", "n-1"),
                at(2)
            ),
            (
                "change-payout".into(),
                "bcrt1qa1".into(),
                msg("change-payout", "n-2"),
                at(3)
            ),
            (
                "change-payout".into(),
                "bcrt1qa2".into(),
                msg("change-payout", "n-2"),
                at(3)
            ),
            (
                "update-node".into(),
                "bcrt1qa2".into(),
                msg("update-node", "n-4"),
                at(5)
            ),
        ]
    );
    let b_actions: Vec<String> = s
        .proofs_of(b.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.action)
        .collect();
    assert_eq!(b_actions, vec!["register", "add-node"]);
}

/// How many callers race in the `concurrent_*` stories (below the default
/// pool size of 10, so every caller holds its own connection).
const RACERS: usize = 8;

/// A distinct token hash byte per racer and round.
fn racer_token(round: u16, racer: usize) -> u8 {
    u8::try_from(usize::from(round) * 16 + racer + 1).unwrap()
}

/// Racing registrations of one endpoint (distinct operators and nonces):
/// exactly one wins, every other gets `Conflict(Endpoint)`.
pub async fn concurrent_register_same_endpoint<S: Store>(s: &S) {
    for round in 0..3u16 {
        let port = 2000 + round;
        for i in 0..RACERS {
            challenge(s, &format!("n-race-{round}-{i}"), T0).await;
        }
        let results = join_all((0..RACERS).map(|i| async move {
            let address = format!("bcrt1qracer{round}x{i}");
            s.register_operator(
                &new_operator(&address, racer_token(round, i)),
                &[open_node("198.51.100.50", port)],
                &proof(&format!("n-race-{round}-{i}"), "register", &[&address]),
                at(1),
            )
            .await
        }))
        .await;
        let winners = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "round {round}: exactly one winner: {results:?}");
        for r in results.iter().filter(|r| r.is_err()) {
            assert!(
                matches!(r, Err(StoreError::Conflict(ConflictKind::Endpoint))),
                "round {round}: losers get Conflict(Endpoint), got {r:?}"
            );
        }
    }
    assert_eq!(
        s.operators().await.unwrap().len(),
        3,
        "one operator per round"
    );
    assert_eq!(s.nodes().await.unwrap().len(), 3);
}

/// Racing uses of one nonce (otherwise independent changes): exactly one
/// wins, every other gets `ChallengeInvalid`.
pub async fn concurrent_same_nonce<S: Store>(s: &S) {
    for round in 0..3u16 {
        let nonce = format!("n-shared-{round}");
        challenge(s, &nonce, T0).await;
        let nonce = nonce.as_str();
        let results = join_all((0..RACERS).map(|i| async move {
            let address = format!("bcrt1qnonce{round}x{i}");
            s.register_operator(
                &new_operator(&address, racer_token(round, i)),
                &[open_node(
                    "198.51.100.60",
                    3000 + round * 100 + u16::try_from(i).unwrap(),
                )],
                &proof(nonce, "register", &[&address]),
                at(1),
            )
            .await
        }))
        .await;
        let winners = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "round {round}: exactly one winner: {results:?}");
        for r in results.iter().filter(|r| r.is_err()) {
            assert!(
                matches!(r, Err(StoreError::ChallengeInvalid)),
                "round {round}: losers get ChallengeInvalid, got {r:?}"
            );
        }
    }
    assert_eq!(s.operators().await.unwrap().len(), 3);
    assert_eq!(s.nodes().await.unwrap().len(), 3);
}

/// Two registrations naming the same two endpoints in opposite orders race:
/// one wins, the other gets a Conflict, never a deadlock error.
pub async fn concurrent_crossed_endpoints<S: Store>(s: &S) {
    for round in 0..5u16 {
        let (x, y) = (
            open_node("198.51.100.70", 4000 + round),
            open_node("198.51.100.71", 4000 + round),
        );
        challenge(s, &format!("n-cross-a-{round}"), T0).await;
        challenge(s, &format!("n-cross-b-{round}"), T0).await;
        let orders = [[x.clone(), y.clone()], [y, x]];
        let results = join_all(orders.iter().enumerate().map(|(i, nodes)| async move {
            let address = format!("bcrt1qcross{round}x{i}");
            let nonce = format!("n-cross-{}-{round}", ["a", "b"][i]);
            s.register_operator(
                &new_operator(&address, racer_token(round, i)),
                nodes,
                &proof(&nonce, "register", &[&address]),
                at(1),
            )
            .await
        }))
        .await;
        let winners = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "round {round}: exactly one winner: {results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(StoreError::Conflict(ConflictKind::Endpoint)))),
            "round {round}: the loser gets Conflict(Endpoint): {results:?}"
        );
        // The winner's answer lists its nodes in the order it gave them.
        let (i, (_, nodes)) = results
            .iter()
            .enumerate()
            .find_map(|(i, r)| r.as_ref().ok().map(|ok| (i, ok)))
            .unwrap();
        let got: Vec<&str> = nodes.iter().map(|n| n.host.as_str()).collect();
        let want: Vec<&str> = orders[i].iter().map(|n| n.host.as_str()).collect();
        assert_eq!(got, want);
    }
}

/// Racing `meta_get_or_insert` calls with different values all see the same
/// (first) value.
pub async fn concurrent_meta_first_writer<S: Store>(s: &S) {
    for round in 0..3 {
        let key = format!("key-{round}");
        let key = key.as_str();
        let results = join_all(
            (0..RACERS).map(|i| async move { s.meta_get_or_insert(key, &format!("v{i}")).await }),
        )
        .await;
        let values: Vec<String> = results.into_iter().map(|r| r.unwrap()).collect();
        assert!(
            values.iter().all(|v| *v == values[0]),
            "round {round}: everyone agrees: {values:?}"
        );
        assert_eq!(s.meta_get_or_insert(key, "late").await.unwrap(), values[0]);
    }
}

// Measurements.

/// Every outcome.
const OUTCOMES: [Outcome; 7] = Outcome::ALL;

/// The region labelled `label`.
fn region(label: &str) -> Region {
    label.parse().expect("a region label")
}

/// A window number far from zero (windows are the coordinator's to number).
const W: i64 = 3_000_000;

/// One operator with `count` nodes (the first with credentials), oldest
/// first, and probes enrolled in the given regions, oldest first.
async fn measured<S: Store>(s: &S, count: u16, regions: &[&str]) -> (Vec<Node>, Vec<crate::Probe>) {
    let new_nodes: Vec<NewNode> = (0..count)
        .map(|i| {
            // Hosts in reverse order of creation, so sorting by host shows.
            let host = format!("node-{}.example", 100 - i);
            if i == 0 {
                locked_node(&host, 1080, "probe-user", "probe pass")
            } else {
                open_node(&host, 1080)
            }
        })
        .collect();
    let (_, mut nodes) = register(s, "bcrt1qmeasured", 0x4D, &new_nodes, T0).await;
    nodes.sort_by_key(|n| n.id);
    let mut probes = Vec::new();
    for (i, name) in regions.iter().enumerate() {
        let key = u8::try_from(i + 1).unwrap();
        let probe = s
            .enrol_probe(
                &NewProbe {
                    public_key: [key; 32],
                    region: region(name),
                },
                at(1),
            )
            .await
            .unwrap();
        probes.push(probe);
    }
    (nodes, probes)
}

/// A report of `probe` on `node` in `window`, its report id made of `id`.
fn new_report(probe: ProbeId, window: i64, node: NodeId, id: u8) -> NewReport {
    NewReport {
        probe,
        report_id: [id; 16],
        window,
        node,
        measured_at: at(100),
        outcome: Outcome::Relayed,
        reply_code: 0,
        connect_us: 1_500,
        handshake_us: 2_500,
        rtt_us: 40_000,
        sample_bytes: 65_536,
        sample_us: 120_000,
        signed: vec![1, 0, id, 0xFF],
    }
}

fn pair(node: &Node, probe: &crate::Probe) -> (NodeId, ProbeId) {
    (node.id, probe.id)
}

fn assignment(window: i64, node: &Node, probe: &crate::Probe, reported: bool) -> AssignmentRow {
    AssignmentRow {
        window,
        node: node.id,
        probe: probe.id,
        reported,
    }
}

/// Planning stores every pair once; `assignments_for` gives a probe its
/// nodes (with credentials) oldest first, `assignments_in` every pair by
/// node then probe, and `reported` turns true for exactly the assignment a
/// report arrives for.
pub async fn plan_and_read_assignments<S: Store>(s: &S) {
    let (n, p) = measured(s, 3, &["censored:RU", "free:DE"]).await;
    assert!(!s.window_planned(W).await.unwrap());
    assert!(s.assignments_in(W).await.unwrap().is_empty());

    // Out of order, and one pair twice.
    let plan = [
        pair(&n[2], &p[1]),
        pair(&n[2], &p[0]),
        pair(&n[0], &p[0]),
        pair(&n[1], &p[1]),
        pair(&n[2], &p[0]),
    ];
    assert!(s.plan_window(W, &plan, at(10)).await.unwrap(), "planned");
    assert!(s.window_planned(W).await.unwrap());
    assert!(!s.window_planned(W + 1).await.unwrap(), "only that window");
    assert!(!s.window_planned(W - 1).await.unwrap());

    assert_eq!(
        s.assignments_for(W, p[0].id).await.unwrap(),
        vec![(n[0].clone(), false), (n[2].clone(), false)],
        "oldest node first, with its credentials"
    );
    let (first, _) = &s.assignments_for(W, p[0].id).await.unwrap()[0];
    assert_eq!(first.username.as_deref(), Some("probe-user"));
    assert_eq!(first.password.as_deref(), Some("probe pass"));
    assert_eq!(
        s.assignments_for(W, p[1].id).await.unwrap(),
        vec![(n[1].clone(), false), (n[2].clone(), false)]
    );
    assert!(s.assignments_for(W + 1, p[0].id).await.unwrap().is_empty());
    assert!(
        s.assignments_for(W, ProbeId(999_999))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.assignments_in(W).await.unwrap(),
        vec![
            assignment(W, &n[0], &p[0], false),
            assignment(W, &n[1], &p[1], false),
            assignment(W, &n[2], &p[0], false),
            assignment(W, &n[2], &p[1], false),
        ],
        "by node, then probe; the duplicate pair stored once"
    );

    // Another window, another plan: the two do not mix.
    assert!(
        s.plan_window(W + 1, &[pair(&n[1], &p[0])], at(11))
            .await
            .unwrap()
    );
    assert_eq!(
        s.assignments_in(W + 1).await.unwrap(),
        vec![assignment(W + 1, &n[1], &p[0], false)]
    );
    assert_eq!(s.assignments_in(W).await.unwrap().len(), 4);

    // A report flips exactly its own assignment.
    let r = new_report(p[0].id, W, n[2].id, 1);
    assert_eq!(
        s.insert_report(&r, at(20)).await.unwrap(),
        Ingested::Accepted
    );
    assert_eq!(
        s.assignments_for(W, p[0].id).await.unwrap(),
        vec![(n[0].clone(), false), (n[2].clone(), true)]
    );
    assert_eq!(
        s.assignments_for(W, p[1].id).await.unwrap(),
        vec![(n[1].clone(), false), (n[2].clone(), false)],
        "the other probe's assignment of the same node is still open"
    );
    assert_eq!(
        s.assignments_in(W).await.unwrap(),
        vec![
            assignment(W, &n[0], &p[0], false),
            assignment(W, &n[1], &p[1], false),
            assignment(W, &n[2], &p[0], true),
            assignment(W, &n[2], &p[1], false),
        ]
    );
    assert_eq!(
        s.assignments_in(W + 1).await.unwrap(),
        vec![assignment(W + 1, &n[1], &p[0], false)]
    );

    // A window may be planned with nothing to do; it is still planned.
    assert!(s.plan_window(W + 2, &[], at(12)).await.unwrap());
    assert!(s.window_planned(W + 2).await.unwrap());
    assert!(s.assignments_in(W + 2).await.unwrap().is_empty());
    assert!(!s.plan_window(W + 2, &plan, at(13)).await.unwrap());
    assert!(s.assignments_in(W + 2).await.unwrap().is_empty());
}

/// Planning a planned window answers `false` and changes nothing; a plan
/// naming a missing node or probe is NotFound and stores nothing, not even
/// the window.
pub async fn replanning_changes_nothing<S: Store>(s: &S) {
    let (n, p) = measured(s, 2, &["free:DE"]).await;
    assert!(
        s.plan_window(W, &[pair(&n[0], &p[0])], at(10))
            .await
            .unwrap()
    );
    let before = s.assignments_in(W).await.unwrap();
    assert!(
        !s.plan_window(W, &[pair(&n[1], &p[0])], at(11))
            .await
            .unwrap(),
        "already planned"
    );
    assert!(!s.plan_window(W, &[], at(12)).await.unwrap());
    assert_eq!(
        s.assignments_in(W).await.unwrap(),
        before,
        "the plan stands"
    );

    assert_not_found(
        s.plan_window(
            W + 1,
            &[pair(&n[0], &p[0]), (NodeId(999_999), p[0].id)],
            at(13),
        )
        .await,
        "node or probe",
    );
    assert_not_found(
        s.plan_window(W + 1, &[(n[1].id, ProbeId(999_999))], at(13))
            .await,
        "node or probe",
    );
    assert!(!s.window_planned(W + 1).await.unwrap(), "rolled back whole");
    assert!(s.assignments_in(W + 1).await.unwrap().is_empty());
    assert!(
        s.plan_window(W + 1, &[pair(&n[1], &p[0])], at(14))
            .await
            .unwrap(),
        "the window can still be planned"
    );
    assert_eq!(
        s.assignments_in(W + 1).await.unwrap(),
        vec![assignment(W + 1, &n[1], &p[0], false)]
    );

    // A plan larger than one INSERT statement holds (the store may split it)
    // is still all or nothing.
    let mut big: Vec<(NodeId, ProbeId)> = Vec::new();
    let more = measured_probes(s, 600).await;
    for probe in &more {
        big.push((n[0].id, probe.id));
        big.push((n[1].id, probe.id));
    }
    let mut broken = big.clone();
    broken.push((NodeId(999_999), more[0].id));
    assert_not_found(s.plan_window(W + 2, &broken, at(15)).await, "node or probe");
    assert!(!s.window_planned(W + 2).await.unwrap());
    assert!(s.assignments_in(W + 2).await.unwrap().is_empty());
    assert!(s.plan_window(W + 2, &big, at(16)).await.unwrap());
    assert_eq!(s.assignments_in(W + 2).await.unwrap().len(), big.len());
    assert_eq!(
        s.assignments_for(W + 2, more[599].id).await.unwrap().len(),
        2
    );
}

/// Enrols `count` more probes (keys made from 1000 + i), oldest first.
async fn measured_probes<S: Store>(s: &S, count: u16) -> Vec<crate::Probe> {
    let mut probes = Vec::new();
    for i in 0..count {
        let mut key = [0xEE; 32];
        key[..2].copy_from_slice(&(1000 + i).to_be_bytes());
        probes.push(
            s.enrol_probe(
                &NewProbe {
                    public_key: key,
                    region: region("free:NL"),
                },
                at(2),
            )
            .await
            .unwrap(),
        );
    }
    probes
}

/// Coordinators racing to plan one window, each with its own plan: exactly
/// one call answers `true`, and exactly its plan is stored.
pub async fn concurrent_plan_window<S: Store>(s: &S) {
    let racers = u16::try_from(RACERS).unwrap();
    let (n, p) = measured(s, racers, &["censored:IR", "free:FI"]).await;
    for round in 0..5i64 {
        let window = W + round;
        // Racer i assigns nodes i and i+1 to both probes: every plan differs.
        let plans: Vec<Vec<(NodeId, ProbeId)>> = (0..RACERS)
            .map(|i| {
                let (a, b) = (&n[i], &n[(i + 1) % RACERS]);
                vec![
                    pair(a, &p[0]),
                    pair(a, &p[1]),
                    pair(b, &p[0]),
                    pair(b, &p[1]),
                ]
            })
            .collect();
        let results = join_all(
            plans
                .iter()
                .map(|plan| async move { s.plan_window(window, plan, at(10)).await }),
        )
        .await;
        let won: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r, Ok(true)))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            won.len(),
            1,
            "round {round}: exactly one planner: {results:?}"
        );
        assert!(
            results.iter().all(|r| r.is_ok()),
            "round {round}: the others answer Ok(false): {results:?}"
        );
        let mut want: Vec<AssignmentRow> = plans[won[0]]
            .iter()
            .map(|(node, probe)| AssignmentRow {
                window,
                node: *node,
                probe: *probe,
                reported: false,
            })
            .collect();
        want.sort_by_key(|a| (a.node, a.probe));
        assert_eq!(
            s.assignments_in(window).await.unwrap(),
            want,
            "round {round}: the winner's plan, nothing else"
        );
    }
}

/// A report is Accepted once; the same report id again is a Duplicate
/// (whatever else it says); another report for the same assignment is
/// `Conflict(AlreadyReported)`; a report for no assignment is NotFound. The
/// refusals store nothing.
pub async fn insert_report_outcomes<S: Store>(s: &S) {
    let (n, p) = measured(s, 3, &["censored:RU", "free:DE"]).await;
    let plan = [pair(&n[0], &p[0]), pair(&n[1], &p[0]), pair(&n[0], &p[1])];
    assert!(s.plan_window(W, &plan, at(10)).await.unwrap());

    let first = new_report(p[0].id, W, n[0].id, 7);
    assert_eq!(
        s.insert_report(&first, at(20)).await.unwrap(),
        Ingested::Accepted
    );
    let stored = vec![StoredReport {
        report: first.clone(),
        received_at: at(20),
    }];
    assert_eq!(s.reports_of(p[0].id).await.unwrap(), stored);

    // A probe resending after a lost answer: same report, later.
    assert_eq!(
        s.insert_report(&first, at(21)).await.unwrap(),
        Ingested::Duplicate
    );
    // The report id alone decides, even if the rest differs (another node,
    // outcome, signature).
    let altered = NewReport {
        node: n[1].id,
        outcome: Outcome::Timeout,
        rtt_us: 1,
        signed: vec![9; 40],
        ..first.clone()
    };
    assert_eq!(
        s.insert_report(&altered, at(22)).await.unwrap(),
        Ingested::Duplicate
    );
    assert_eq!(s.reports_of(p[0].id).await.unwrap(), stored, "unchanged");

    // A second report (new id) on the same assignment.
    let second = NewReport {
        outcome: Outcome::ConnectFailed,
        ..new_report(p[0].id, W, n[0].id, 8)
    };
    assert_conflict(
        s.insert_report(&second, at(23)).await,
        ConflictKind::AlreadyReported,
    );

    // No such assignment: a node not assigned to this probe, another
    // window, an unknown node or probe.
    for (what, r) in [
        ("unassigned node", new_report(p[0].id, W, n[2].id, 9)),
        ("node of another probe", new_report(p[1].id, W, n[1].id, 9)),
        ("unplanned window", new_report(p[0].id, W + 1, n[0].id, 9)),
        ("unknown node", new_report(p[0].id, W, NodeId(999_999), 9)),
        ("unknown probe", new_report(ProbeId(999_999), W, n[0].id, 9)),
    ] {
        match s.insert_report(&r, at(24)).await {
            Err(StoreError::NotFound { what: "assignment" }) => {}
            other => panic!("{what}: expected NotFound {{ what: \"assignment\" }}, got {other:?}"),
        }
    }
    assert_eq!(
        s.reports_of(p[0].id).await.unwrap(),
        stored,
        "nothing stored"
    );
    assert!(s.reports_of(p[1].id).await.unwrap().is_empty());
    assert!(s.reports_of(ProbeId(999_999)).await.unwrap().is_empty());
    assert_eq!(
        s.assignments_in(W).await.unwrap(),
        vec![
            assignment(W, &n[0], &p[0], true),
            assignment(W, &n[0], &p[1], false),
            assignment(W, &n[1], &p[0], false),
        ]
    );

    // Report ids are the probe's own: another probe may use the same bytes.
    let theirs = new_report(p[1].id, W, n[0].id, 7);
    assert_eq!(
        s.insert_report(&theirs, at(25)).await.unwrap(),
        Ingested::Accepted
    );
    // And the refused id 8 is usable for another assignment of the probe.
    let other = new_report(p[0].id, W, n[1].id, 8);
    assert_eq!(
        s.insert_report(&other, at(26)).await.unwrap(),
        Ingested::Accepted
    );
    assert_eq!(s.reports_of(p[0].id).await.unwrap().len(), 2);
    assert_eq!(s.reports_of(p[1].id).await.unwrap().len(), 1);
    assert!(
        s.assignments_in(W)
            .await
            .unwrap()
            .iter()
            .all(|a| a.reported)
    );
}

/// Racing reports on one assignment: copies of one report give one
/// Accepted and Duplicates; reports with distinct ids give one Accepted and
/// `Conflict(AlreadyReported)` for the rest. One report is stored each time.
pub async fn concurrent_reports<S: Store>(s: &S) {
    let (n, p) = measured(s, 2, &["censored:RU"]).await;
    assert!(
        s.plan_window(W, &[pair(&n[0], &p[0]), pair(&n[1], &p[0])], at(10))
            .await
            .unwrap()
    );
    let same = new_report(p[0].id, W, n[0].id, 1);
    let results = join_all((0..RACERS).map(|_| s.insert_report(&same, at(20)))).await;
    let accepted = results
        .iter()
        .filter(|r| matches!(r, Ok(Ingested::Accepted)))
        .count();
    assert_eq!(accepted, 1, "copies: exactly one stored: {results:?}");
    assert!(
        results.iter().all(|r| r.is_ok()),
        "copies: the others are Duplicates: {results:?}"
    );

    let distinct: Vec<NewReport> = (0..RACERS)
        .map(|i| new_report(p[0].id, W, n[1].id, 10 + u8::try_from(i).unwrap()))
        .collect();
    let results = join_all(distinct.iter().map(|r| s.insert_report(r, at(21)))).await;
    let accepted = results
        .iter()
        .filter(|r| matches!(r, Ok(Ingested::Accepted)))
        .count();
    assert_eq!(accepted, 1, "distinct ids: exactly one stored: {results:?}");
    for r in results
        .iter()
        .filter(|r| !matches!(r, Ok(Ingested::Accepted)))
    {
        assert!(
            matches!(r, Err(StoreError::Conflict(ConflictKind::AlreadyReported))),
            "distinct ids: the others get AlreadyReported, got {r:?}"
        );
    }
    let stored = s.reports_of(p[0].id).await.unwrap();
    assert_eq!(stored.len(), 2, "one report per assignment");
    assert_eq!(stored[0].report, same);
}

/// `report_summaries(from, to)` holds every report of windows `from..=to`
/// (both ends), with the probe's region, ordered by window, node, probe
/// whatever the order they arrived in.
pub async fn report_summaries_range_and_regions<S: Store>(s: &S) {
    let (n, p) = measured(s, 2, &["censored:RU", "free:DE", "censored:CN"]).await;
    let windows = [W - 1, W, W + 1, W + 2];
    for w in windows {
        let plan: Vec<(NodeId, ProbeId)> = n
            .iter()
            .flat_map(|node| p.iter().map(move |probe| pair(node, probe)))
            .collect();
        assert!(s.plan_window(w, &plan, at(10)).await.unwrap());
    }
    // Arrival order: last window first, last node first, last probe first.
    let mut id = 0u8;
    for w in windows.iter().rev() {
        for (ni, node) in n.iter().enumerate().rev() {
            for (pi, probe) in p.iter().enumerate().rev() {
                id += 1;
                let outcome = OUTCOMES[(ni + pi) % OUTCOMES.len()];
                let r = NewReport {
                    outcome,
                    rtt_us: u32::from(id) * 1000,
                    sample_bytes: u32::from(id) * 7,
                    sample_us: u32::from(id) * 3,
                    ..new_report(probe.id, *w, node.id, id)
                };
                assert_eq!(
                    s.insert_report(&r, at(30)).await.unwrap(),
                    Ingested::Accepted
                );
            }
        }
    }
    // Without a report for every assignment too: W + 3 planned, not reported.
    assert!(
        s.plan_window(W + 3, &[pair(&n[0], &p[0])], at(10))
            .await
            .unwrap()
    );

    let got = s.report_summaries(W, W + 1).await.unwrap();
    let mut want = Vec::new();
    for w in [W, W + 1] {
        for node in &n {
            for probe in &p {
                let stored = s
                    .reports_of(probe.id)
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|r| r.report.window == w && r.report.node == node.id)
                    .unwrap()
                    .report;
                want.push(ReportSummary {
                    window: w,
                    node: node.id,
                    probe: probe.id,
                    region: probe.region.clone(),
                    outcome: stored.outcome,
                    rtt_us: stored.rtt_us,
                    sample_bytes: stored.sample_bytes,
                    sample_us: stored.sample_us,
                });
            }
        }
    }
    assert_eq!(got, want, "windows W and W+1 only, ordered");
    assert_eq!(
        got.iter()
            .map(|r| r.region.to_string())
            .take(3)
            .collect::<Vec<_>>(),
        ["censored:RU", "free:DE", "censored:CN"]
    );

    assert_eq!(s.report_summaries(W, W).await.unwrap(), want[..6].to_vec());
    assert_eq!(
        s.report_summaries(W - 10, W + 10).await.unwrap().len(),
        24,
        "every report, none for the unreported window"
    );
    assert!(s.report_summaries(W + 3, W + 3).await.unwrap().is_empty());
    assert!(
        s.report_summaries(W + 1, W).await.unwrap().is_empty(),
        "empty range"
    );
    assert!(
        s.report_summaries(W + 4, i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
}

/// `reports_of` gives back every field as stored, the signed bytes exactly,
/// in the order received, and only the probe's own.
pub async fn reports_round_trip<S: Store>(s: &S) {
    let (n, p) = measured(s, 2, &["censored:RU", "free:DE"]).await;
    let windows: Vec<i64> = vec![i64::MIN + 1, -5, 0, W, i64::MAX - 1, 7, 8];
    for w in &windows {
        assert!(
            s.plan_window(*w, &[pair(&n[0], &p[0]), pair(&n[1], &p[1])], at(10))
                .await
                .unwrap()
        );
    }
    let mut id_bytes = [0u8; 16];
    for (i, b) in id_bytes.iter_mut().enumerate() {
        *b = u8::try_from(i).unwrap().wrapping_mul(53);
    }
    let mut sent = Vec::new();
    for (i, (w, outcome)) in windows.iter().zip(OUTCOMES).enumerate() {
        let k = u8::try_from(i).unwrap();
        let mut report_id = id_bytes;
        report_id[15] = k; // NUL bytes inside, distinct per report
        // Extremes in turn: all zero, all maximal, mixed.
        let (reply_code, big) = match i % 3 {
            0 => (0, 0),
            1 => (255, u32::MAX),
            _ => (5, u32::MAX - 1),
        };
        let signed: Vec<u8> = (0..=255u8).chain([0, 0, k]).collect();
        let r = NewReport {
            probe: p[0].id,
            report_id,
            window: *w,
            node: n[0].id,
            measured_at: UnixTime(i64::MIN + 1 + i64::from(k)),
            outcome,
            reply_code,
            connect_us: big,
            handshake_us: big / 2,
            rtt_us: big.saturating_sub(1),
            sample_bytes: u32::from(k),
            sample_us: big,
            signed,
        };
        // Received out of window order, at decreasing times: the order is
        // that of arrival, not of window, id or time.
        let received = at(1000 - i64::from(k));
        assert_eq!(
            s.insert_report(&r, received).await.unwrap(),
            Ingested::Accepted
        );
        sent.push(StoredReport {
            report: r,
            received_at: received,
        });
    }
    let theirs = NewReport {
        signed: Vec::new(), // an empty signature blob is stored as empty, not NULL
        ..new_report(p[1].id, W, n[1].id, 0)
    };
    assert_eq!(
        s.insert_report(&theirs, at(5)).await.unwrap(),
        Ingested::Accepted
    );

    assert_eq!(s.reports_of(p[0].id).await.unwrap(), sent);
    assert_eq!(
        s.reports_of(p[1].id).await.unwrap(),
        vec![StoredReport {
            report: theirs,
            received_at: at(5),
        }]
    );
}

// Grant epochs.

fn new_epoch(epoch: i64, first_window: i64, last_window: i64, budget_sat: u64) -> NewEpoch {
    NewEpoch {
        epoch,
        first_window,
        last_window,
        budget_sat,
        report: format!("{{\"epoch\":{epoch},\"budget\":{budget_sat}}}"),
    }
}

fn new_batch(batch: u32, tag: u8) -> NewBatch {
    NewBatch {
        batch,
        psbt: vec![
            0x70,
            0x73,
            0x62,
            0x74,
            0xff,
            tag,
            u8::try_from(batch).unwrap(),
        ],
        txid: [tag.wrapping_add(u8::try_from(batch).unwrap()); 32],
        payees: 3 + batch,
        amount_sat: 100_000 + u64::from(batch),
        fee_sat: 1_000,
    }
}

/// Epoch 1 starts anywhere; every later epoch starts at the window after the
/// previous one's last, so no window is paid twice; a number closes once.
pub async fn epochs_form_one_chain<S: Store>(s: &S) {
    assert_eq!(s.epoch(1).await.unwrap(), None);
    assert!(s.epochs().await.unwrap().is_empty());
    assert_not_found(
        s.close_epoch(&new_epoch(2, 10, 19, 1000), at(1)).await,
        "previous epoch",
    );
    let first = s
        .close_epoch(&new_epoch(1, 10, 19, 1000), at(2))
        .await
        .unwrap();
    assert_eq!(
        (
            first.epoch,
            first.first_window,
            first.last_window,
            first.budget_sat
        ),
        (1, 10, 19, 1000)
    );
    assert_eq!(first.state, EpochState::Closed);
    assert_eq!(first.report, new_epoch(1, 10, 19, 1000).report);
    assert_eq!((first.batches, first.closed_at), (None, at(2)));
    assert_eq!(s.epoch(1).await.unwrap(), Some(first.clone()));
    // Closing 1 again (another range, another budget): refused, 1 unchanged.
    assert_conflict(
        s.close_epoch(&new_epoch(1, 10, 29, 5000), at(3)).await,
        ConflictKind::Epoch,
    );
    assert_eq!(s.epoch(1).await.unwrap(), Some(first));
    // A gap, an overlap, or a skipped number: refused.
    for (n, from, to) in [(2, 21, 30), (2, 19, 30), (2, 5, 9), (3, 20, 30)] {
        assert_not_found(
            s.close_epoch(&new_epoch(n, from, to, 1), at(4)).await,
            "previous epoch",
        );
    }
    // An empty or reversed range: refused by the schema.
    assert!(matches!(
        s.close_epoch(&new_epoch(2, 20, 19, 1), at(4)).await,
        Err(StoreError::Database(_))
    ));
    s.close_epoch(&new_epoch(2, 20, 20, 0), at(5))
        .await
        .unwrap();
    s.close_epoch(&new_epoch(3, 21, 40, 7), at(6))
        .await
        .unwrap();
    let all = s.epochs().await.unwrap();
    let ranges: Vec<_> = all
        .iter()
        .map(|e| (e.epoch, e.first_window, e.last_window))
        .collect();
    assert_eq!(ranges, vec![(1, 10, 19), (2, 20, 20), (3, 21, 40)]);
}

/// closed → psbt_exported → signed → broadcast, each step recorded once.
pub async fn epoch_payout_lifecycle<S: Store>(s: &S) {
    assert_not_found(s.record_export(1, &[new_batch(0, 1)], at(1)).await, "epoch");
    s.close_epoch(&new_epoch(1, 0, 9, 50_000), at(1))
        .await
        .unwrap();
    assert_not_found(s.record_signed(1, 0, b"tx", at(2)).await, "payout batch");
    assert!(s.batches_of(1).await.unwrap().is_empty());

    let exported = [new_batch(0, 1), new_batch(1, 1)];
    assert_eq!(
        s.record_export(1, &exported, at(3)).await.unwrap(),
        Recorded::Now(EpochState::PsbtExported)
    );
    // Exporting again (other batches): nothing changes.
    assert_eq!(
        s.record_export(1, &[new_batch(0, 9)], at(4)).await.unwrap(),
        Recorded::Already(EpochState::PsbtExported)
    );
    let batches = s.batches_of(1).await.unwrap();
    let unsigned: Vec<_> = batches.iter().map(|b| b.unsigned.clone()).collect();
    assert_eq!(unsigned, exported.to_vec(), "the first export stands");
    assert!(
        batches
            .iter()
            .all(|b| b.epoch == 1 && b.signed_tx.is_none())
    );
    let e = s.epoch(1).await.unwrap().unwrap();
    assert_eq!(
        (e.state, e.batches, e.exported_at),
        (EpochState::PsbtExported, Some(2), Some(at(3)))
    );

    assert_not_found(s.record_broadcast(1, 0, at(5)).await, "signed payout batch");
    assert_not_found(s.record_signed(1, 2, b"tx", at(5)).await, "payout batch");
    assert_eq!(
        s.record_signed(1, 0, b"signed-0", at(6)).await.unwrap(),
        Recorded::Now(EpochState::PsbtExported),
        "one batch of two signed"
    );
    // Signed again (another signature of the same transaction): the first stays.
    assert_eq!(
        s.record_signed(1, 0, b"signed-0-again", at(7))
            .await
            .unwrap(),
        Recorded::Already(EpochState::PsbtExported)
    );
    assert_eq!(
        s.record_signed(1, 1, b"signed-1", at(8)).await.unwrap(),
        Recorded::Now(EpochState::Signed)
    );
    let batches = s.batches_of(1).await.unwrap();
    assert_eq!(batches[0].signed_tx.as_deref(), Some(&b"signed-0"[..]));
    assert_eq!(
        (batches[0].signed_at, batches[1].signed_at),
        (Some(at(6)), Some(at(8)))
    );
    assert_eq!(s.epoch(1).await.unwrap().unwrap().signed_at, Some(at(8)));

    assert_eq!(
        s.record_broadcast(1, 1, at(9)).await.unwrap(),
        Recorded::Now(EpochState::Signed)
    );
    assert_eq!(
        s.record_broadcast(1, 1, at(10)).await.unwrap(),
        Recorded::Already(EpochState::Signed)
    );
    assert_eq!(
        s.record_broadcast(1, 0, at(11)).await.unwrap(),
        Recorded::Now(EpochState::Broadcast)
    );
    let e = s.epoch(1).await.unwrap().unwrap();
    assert_eq!(
        (e.state, e.broadcast_at),
        (EpochState::Broadcast, Some(at(11)))
    );
    assert_eq!(s.batches_of(1).await.unwrap()[1].broadcast_at, Some(at(9)));
    // Nothing moves a broadcast epoch.
    assert_eq!(
        s.record_export(1, &[new_batch(0, 5)], at(12))
            .await
            .unwrap(),
        Recorded::Already(EpochState::Broadcast)
    );
    assert_eq!(
        s.record_signed(1, 0, b"late", at(12)).await.unwrap(),
        Recorded::Already(EpochState::Broadcast)
    );
    // All batches of all epochs.
    s.close_epoch(&new_epoch(2, 10, 19, 1), at(13))
        .await
        .unwrap();
    s.record_export(2, &[new_batch(0, 7)], at(14))
        .await
        .unwrap();
    let all: Vec<_> = s
        .batches()
        .await
        .unwrap()
        .iter()
        .map(|b| (b.epoch, b.unsigned.batch))
        .collect();
    assert_eq!(all, vec![(1, 0), (1, 1), (2, 0)]);
}

/// Racing closes of one epoch number: one wins, the others get Conflict(Epoch).
pub async fn concurrent_close_epoch<S: Store>(s: &S) {
    for n in 1..=3i64 {
        let results = join_all((0..RACERS).map(|i| async move {
            let budget = 1000 + u64::try_from(i).unwrap();
            s.close_epoch(&new_epoch(n, n * 10, n * 10 + 9, budget), at(n))
                .await
        }))
        .await;
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        for r in results.iter().filter(|r| r.is_err()) {
            assert!(
                matches!(r, Err(StoreError::Conflict(ConflictKind::Epoch))),
                "losers get Conflict(Epoch), got {r:?}"
            );
        }
    }
    assert_eq!(s.epochs().await.unwrap().len(), 3);
}

/// Racing exports of one epoch: exactly one records its batches.
pub async fn concurrent_export<S: Store>(s: &S) {
    s.close_epoch(&new_epoch(1, 0, 9, 1), at(1)).await.unwrap();
    let results = join_all((0..RACERS).map(|i| async move {
        let tag = u8::try_from(i * 10).unwrap();
        let batches = [new_batch(0, tag), new_batch(1, tag)];
        (tag, s.record_export(1, &batches, at(2)).await.unwrap())
    }))
    .await;
    let winners: Vec<u8> = results
        .iter()
        .filter(|(_, r)| *r == Recorded::Now(EpochState::PsbtExported))
        .map(|(tag, _)| *tag)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(results.iter().all(|(_, r)| matches!(
        r,
        Recorded::Now(_) | Recorded::Already(EpochState::PsbtExported)
    )));
    let stored: Vec<_> = s
        .batches_of(1)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.unsigned)
        .collect();
    assert_eq!(
        stored,
        vec![new_batch(0, winners[0]), new_batch(1, winners[0])]
    );
}

/// Polls every future until all are done, on the caller's task; the outputs
/// in input order. (`futures::join_all` without the dependency.)
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => *output = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.unwrap()).collect()
}

// Invitations.

fn invitation(token: u8, label: &str) -> crate::NewInvitation {
    crate::NewInvitation {
        token_hash: [token; 32],
        label: label.into(),
    }
}

/// Invitations are created in order, listed oldest first, found by their
/// token's hash (revoked or not), and revoked once: the first revocation
/// time stays, a revocation "before" the creation is the creation time, and
/// an unknown id is NotFound.
pub async fn invitations_round_trip<S: Store>(s: &S) {
    assert!(s.invitations().await.unwrap().is_empty());
    assert!(s.create_invitations(&[], at(0)).await.unwrap().is_empty());
    let labels = ["", "for Alice (Kazan)", "Ünïcode 'quotes' \"both\""];
    let news: Vec<_> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| invitation(u8::try_from(i + 1).unwrap(), l))
        .collect();
    let created = s.create_invitations(&news, at(10)).await.unwrap();
    assert_eq!(created.len(), 3);
    for (inv, label) in created.iter().zip(labels) {
        assert_eq!(inv.label, label);
        assert_eq!(inv.created_at, at(10));
        assert_eq!(inv.revoked_at, None);
    }
    assert!(created.windows(2).all(|w| w[0].id < w[1].id), "{created:?}");
    let later = s
        .create_invitations(&[invitation(9, "later")], at(20))
        .await
        .unwrap();
    let mut all = created.clone();
    all.extend(later.iter().cloned());
    assert_eq!(s.invitations().await.unwrap(), all);

    for (i, inv) in created.iter().enumerate() {
        let token = u8::try_from(i + 1).unwrap();
        assert_eq!(
            s.invitation_by_token(&[token; 32]).await.unwrap().as_ref(),
            Some(inv)
        );
    }
    assert_eq!(s.invitation_by_token(&[0xEE; 32]).await.unwrap(), None);

    // Revoke the second: found by token still, with the time.
    let revoked = s.revoke_invitation(created[1].id, at(30)).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(at(30)));
    assert_eq!(revoked.id, created[1].id);
    assert_eq!(revoked.label, created[1].label);
    assert_eq!(
        s.invitation_by_token(&[2; 32])
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(at(30))
    );
    // Again: nothing changes.
    let again = s.revoke_invitation(created[1].id, at(40)).await.unwrap();
    assert_eq!(again.revoked_at, Some(at(30)));
    // The others are untouched.
    let listed = s.invitations().await.unwrap();
    assert_eq!(listed[0].revoked_at, None);
    assert_eq!(listed[2].revoked_at, None);
    assert_eq!(listed[1].revoked_at, Some(at(30)));
    // A clock behind the creation: revoked at the creation time.
    let behind = s.revoke_invitation(later[0].id, at(5)).await.unwrap();
    assert_eq!(behind.revoked_at, Some(at(20)));

    assert_not_found(
        s.revoke_invitation(crate::InvitationId(9_999), at(50))
            .await,
        "invitation",
    );
}

/// A batch that cannot be stored whole stores nothing: a token hash that is
/// already taken (or named twice in the batch) fails the batch.
pub async fn invitation_batch_is_atomic<S: Store>(s: &S) {
    s.create_invitations(&[invitation(1, "first")], at(0))
        .await
        .unwrap();
    for batch in [
        vec![invitation(2, "new"), invitation(1, "taken")],
        vec![invitation(3, "a"), invitation(3, "same token")],
    ] {
        let got = s.create_invitations(&batch, at(10)).await;
        assert!(
            matches!(got, Err(StoreError::Database(_))),
            "a repeated token hash must be refused, got {got:?}"
        );
    }
    let listed = s.invitations().await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].label, "first");
    assert_eq!(s.invitation_by_token(&[2; 32]).await.unwrap(), None);
    assert_eq!(s.invitation_by_token(&[3; 32]).await.unwrap(), None);
}
