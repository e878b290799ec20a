//! Grant epochs through the HTTP API: closing (named, repeatable), credits
//! carried between epochs, the published report, the payout PSBT built from
//! an injected treasury (the Bitcoin network is the one thing a fixture
//! stands in for), signed here with a separate key as a hardware wallet
//! would, refused when tampered, finalized and broadcast once; and two
//! coordinators racing every step on one PostgreSQL database.

mod common;

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use common::probes::{Probe, assignments, enrol, relayed, send};
use common::{Harness, Wallet, node, settings, signed_register};
use reqwest::StatusCode;
use resist_client::ClientError;
use resist_coordinator::chain::{ChainAccess, ChainFuture};
use resist_coordinator::config::PayoutSettings;
use resist_ownership::{AddressKind, Network};
use resist_payout::bitcoin::absolute::LockTime;
use resist_payout::bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use resist_payout::bitcoin::hashes::Hash as _;
use resist_payout::bitcoin::secp256k1::{All, Secp256k1};
use resist_payout::bitcoin::transaction::Version;
use resist_payout::bitcoin::{
    Amount, BlockHash, Network as BtcNetwork, OutPoint, Psbt, ScriptBuf, Sequence, Transaction,
    TxIn, TxOut, Txid, Witness,
};
use resist_payout::{FundingBlock, Treasury, psbt_from_base64};
use resist_proto::api::Registered;
use resist_proto::api::epochs::{
    Broadcasted, CloseRequest, EpochDetail, EpochState, EpochView, FinalizeRequest, Finalized,
    PsbtExport,
};
use resist_store::Store;

/// The funder's signing device (test only): the root private key.
struct Signer {
    secp: Secp256k1<All>,
    root: Xpriv,
}

impl Signer {
    fn new(seed: u8) -> Self {
        Signer {
            secp: Secp256k1::new(),
            root: Xpriv::new_master(BtcNetwork::Regtest, &[seed; 32]).unwrap(),
        }
    }

    /// The watch-only descriptors the coordinator gets (`wpkh` or `tr`).
    fn descriptors(&self, func: &str) -> (String, String) {
        let purpose = if func == "tr" { 86 } else { 84 };
        let path = DerivationPath::from_str(&format!("m/{purpose}'/1'/0'")).unwrap();
        let account = self.root.derive_priv(&self.secp, &path).unwrap();
        let xpub = Xpub::from_priv(&self.secp, &account);
        let fp = self.root.fingerprint(&self.secp);
        let origin = format!("[{fp}/{purpose}'/1'/0']{xpub}");
        (
            format!("{func}({origin}/0/*)"),
            format!("{func}({origin}/1/*)"),
        )
    }

    fn sign(&self, psbt: &Psbt) -> Psbt {
        let mut psbt = psbt.clone();
        psbt.sign(&self.root, &self.secp).unwrap();
        psbt
    }
}

/// The Bitcoin network as far as these tests need it: confirmed funding of
/// the treasury, and a record of what was broadcast.
#[derive(Debug)]
struct InjectedChain {
    funding: Vec<Transaction>,
    sent: Mutex<Vec<Transaction>>,
}

impl InjectedChain {
    /// Funding of `amounts` to the treasury's first receive addresses.
    fn funding(external: &str, internal: &str, amounts: &[u64]) -> Arc<Self> {
        let mut t = Treasury::new(external, internal, Network::Regtest).unwrap();
        let output = amounts
            .iter()
            .map(|&a| TxOut {
                value: Amount::from_sat(a),
                script_pubkey: t.reveal_receive_address().script_pubkey(),
            })
            .collect();
        let tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint {
                    txid: Txid::from_byte_array([0xab; 32]),
                    vout: 0,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output,
        };
        Arc::new(InjectedChain {
            funding: vec![tx],
            sent: Mutex::new(Vec::new()),
        })
    }

    fn sent(&self) -> Vec<Transaction> {
        self.sent.lock().unwrap().clone()
    }
}

impl ChainAccess for InjectedChain {
    fn sync<'a>(&'a self, treasury: &'a mut Treasury) -> ChainFuture<'a, ()> {
        Box::pin(async move {
            treasury
                .apply_funding(
                    self.funding.clone(),
                    FundingBlock {
                        height: 100,
                        hash: BlockHash::from_byte_array([0x11; 32]),
                        time: 1_700_000_000,
                    },
                )
                .map_err(|e| e.to_string())
        })
    }

    fn broadcast<'a>(&'a self, tx: &'a Transaction) -> ChainFuture<'a, Txid> {
        Box::pin(async move {
            self.sent.lock().unwrap().push(tx.clone());
            Ok(tx.compute_txid())
        })
    }
}

fn payout(signer: &Signer, func: &str, amounts: &[u64]) -> (PayoutSettings, Arc<InjectedChain>) {
    let (external, internal) = signer.descriptors(func);
    let chain = InjectedChain::funding(&external, &internal, amounts);
    (
        PayoutSettings {
            treasury_external: external,
            treasury_internal: internal,
            fee_rate_sat_per_vb: 2,
            chain: Some(chain.clone()),
        },
        chain,
    )
}

struct World<S: Store> {
    h: Harness<S>,
    probes: Vec<Probe>,
    a: Registered,
    b: Registered,
}

/// Two operators (P2WPKH with two nodes in one /24, P2TR with one node),
/// three censored probes and one free one.
async fn world<S: Store>(store: S, payout: PayoutSettings) -> World<S> {
    let mut s = settings();
    s.payout = Some(payout);
    let h = Harness::start(store, s).await;
    let reg = async |kind, nodes| -> Registered {
        let r = signed_register(&h, &Wallet::new(kind), nodes).await;
        h.client().post("/api/operators", Some(&r)).await.unwrap()
    };
    let a = reg(
        AddressKind::P2wpkh,
        vec![node("203.0.113.40", 1080), node("203.0.113.41", 1080)],
    )
    .await;
    let b = reg(AddressKind::P2tr, vec![node("198.51.100.50", 1080)]).await;
    let probes = vec![
        enrol(&h, 1, "censored:RU").await,
        enrol(&h, 2, "censored:RU").await,
        enrol(&h, 3, "censored:RU-MOW").await,
        enrol(&h, 4, "free:DE").await,
    ];
    World { h, probes, a, b }
}

/// One window in which every assigned node relays for every probe; then the
/// clock moves to the window's end. Returns the window.
async fn ok_window<S: Store>(w: &World<S>, first_id: u8) -> i64 {
    let mut window = 0;
    let mut id = first_id;
    for p in &w.probes {
        let a = assignments(&w.h, p).await.unwrap();
        window = a.window;
        for n in &a.nodes {
            let rep = relayed(&w.h, p, window, n.node, id);
            id = id.wrapping_add(1);
            assert_eq!(
                send(&w.h, p, &[rep.sign(&p.key)]).await.receipts[0].status,
                "accepted"
            );
        }
    }
    w.h.clock.set(resist_clock::UnixTime((window + 1) * 600));
    window
}

fn close(epoch: i64, budget_sat: u64, from: Option<i64>) -> CloseRequest {
    CloseRequest {
        epoch,
        budget_sat,
        to: None,
        from,
    }
}

async fn refusal<T: std::fmt::Debug>(r: Result<T, ClientError>) -> (StatusCode, String) {
    match r {
        Err(ClientError::Refused {
            status, message, ..
        }) => (status, message),
        other => panic!("expected an API refusal, got {other:?}"),
    }
}

async fn close_status<S: Store>(h: &Harness<S>, req: &CloseRequest) -> (StatusCode, EpochDetail) {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/admin/epochs", h.url))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(req)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {text}: {e}")),
    )
}

#[tokio::test]
async fn an_epoch_is_closed_exported_signed_and_broadcast_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = resist_store::SqliteStore::open_in(dir.path())
        .await
        .unwrap();
    let signer = Signer::new(7);
    let (payout, chain) = payout(&signer, "wpkh", &[400_000, 300_000]);
    let w = world(store, payout).await;
    let admin = w.h.admin();

    // Epoch 1: a budget so small that both operators' shares stay under the
    // 10 000 sat minimum: everything is carried over, nothing to sign.
    let start = ok_window(&w, 10).await * 600;
    let (status, e1) = close_status(&w.h, &close(1, 15_000, Some(start))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(e1.summary.state, EpochState::Closed);
    assert_eq!(e1.summary.paid_sat, 0);
    assert!(e1.summary.carried_sat > 0);
    assert!(resist_grants::verify(&e1.report).is_ok());
    // Repeating the request changes nothing; another budget is refused; a
    // skipped number is refused; the next epoch has no whole window yet.
    let (status, again) = close_status(&w.h, &close(1, 15_000, Some(start))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again.summary.closed_at, e1.summary.closed_at);
    let (status, msg) = refusal(
        admin
            .post::<_, EpochDetail>("/api/admin/epochs", Some(&close(1, 99, None)))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(msg.contains("closed already"), "{msg}");
    let (status, msg) = refusal(
        admin
            .post::<_, EpochDetail>("/api/admin/epochs", Some(&close(3, 1, None)))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(msg.contains("next epoch to close is 2"), "{msg}");
    let (_, msg) = refusal(
        admin
            .post::<_, EpochDetail>("/api/admin/epochs", Some(&close(2, 1, None)))
            .await,
    )
    .await;
    assert!(msg.contains("no whole window yet"), "{msg}");
    let (status, msg) = refusal(
        admin
            .post::<_, PsbtExport>("/api/admin/epochs/1/psbt", None::<&()>)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(msg.contains("pays nobody"), "{msg}");

    // Epoch 2: its own window; the credits of epoch 1 come on top.
    ok_window(&w, 100).await;
    let (status, e2) = close_status(&w.h, &close(2, 100_000, None)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(e2.summary.first_window, e1.summary.last_window + 1);
    let credit_in: u64 = e2
        .report
        .inputs
        .operators
        .iter()
        .map(|o| o.credit_sat)
        .sum();
    assert_eq!(
        credit_in, e1.summary.carried_sat,
        "epoch 1's carry-over is epoch 2's credit"
    );
    for op in [&w.a, &w.b] {
        assert!(
            e2.report
                .inputs
                .operators
                .iter()
                .any(|o| o.operator == op.operator.id && o.credit_sat > 0),
            "operator {} carries its epoch-1 share in",
            op.operator.id
        );
    }
    assert_eq!(
        e2.summary.paid_sat + e2.summary.carried_sat + e2.summary.remainder_sat,
        100_000 + credit_in,
        "conservation"
    );
    assert!(resist_grants::verify(&e2.report).is_ok());
    // The published report names no node address, only subnet pseudonyms.
    let public: EpochDetail = w.h.client().get("/api/epochs/2").await.unwrap();
    let text = serde_json::to_string(&public).unwrap();
    assert!(
        !text.contains("203.0.113") && !text.contains("198.51.100"),
        "{text}"
    );
    let ips: Vec<_> = public.report.inputs.nodes.iter().map(|n| n.ip).collect();
    assert_eq!(ips.len(), 3);
    let a_nodes: Vec<_> = public
        .report
        .inputs
        .nodes
        .iter()
        .filter(|n| n.operator == w.a.operator.id)
        .map(|n| n.ip)
        .collect();
    assert_eq!(a_nodes[0], a_nodes[1], "one /24, one pseudonym");
    let listed: Vec<EpochView> = w.h.client().get("/api/epochs").await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|e| (e.epoch, e.state))
            .collect::<Vec<_>>(),
        vec![(1, EpochState::Closed), (2, EpochState::Closed)]
    );

    // The PSBT: built once; asked again, the same bytes.
    let first: PsbtExport = admin
        .post("/api/admin/epochs/2/psbt", None::<&()>)
        .await
        .unwrap();
    assert!(first.built_now);
    assert_eq!(first.state, EpochState::PsbtExported);
    assert_eq!(first.batches.len(), 1);
    let again: PsbtExport = admin
        .post("/api/admin/epochs/2/psbt", None::<&()>)
        .await
        .unwrap();
    assert!(!again.built_now);
    assert_eq!(again.batches[0].psbt, first.batches[0].psbt);
    let unsigned = psbt_from_base64(&first.batches[0].psbt).unwrap();
    assert_eq!(
        unsigned.unsigned_tx.output.len(),
        3,
        "two payees and the change"
    );

    // Signed elsewhere; tampered copies are refused with a reason.
    let signed = signer.sign(&unsigned);
    let finalize = async |p: &Psbt| {
        admin
            .post::<_, Finalized>(
                "/api/admin/epochs/2/finalize",
                Some(&FinalizeRequest {
                    psbt: p.to_string(),
                }),
            )
            .await
    };
    let mut more = unsigned.clone();
    more.unsigned_tx.output[0].value += Amount::from_sat(1000);
    more.unsigned_tx.output[2].value -= Amount::from_sat(1000);
    let more = signer.sign(&more);
    let (status, msg) = refusal(finalize(&more).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{msg}");
    let mut extra = unsigned.clone();
    extra.unsigned_tx.output.push(TxOut {
        value: Amount::from_sat(5_000),
        script_pubkey: unsigned.unsigned_tx.output[0].script_pubkey.clone(),
    });
    extra.outputs.push(Default::default());
    let extra = signer.sign(&extra);
    assert_eq!(
        refusal(finalize(&extra).await).await.0,
        StatusCode::BAD_REQUEST
    );
    let mut forged = signed.clone();
    let sig = forged.inputs[0].partial_sigs.values_mut().next().unwrap();
    let mut bytes = sig.to_vec();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    if let Ok(s) = resist_payout::bitcoin::ecdsa::Signature::from_slice(&bytes) {
        *sig = s;
    }
    assert_eq!(
        refusal(finalize(&forged).await).await.0,
        StatusCode::BAD_REQUEST
    );
    let other = Signer::new(8).sign(&unsigned);
    assert_eq!(
        refusal(finalize(&other).await).await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, msg) = refusal(
        admin
            .post::<_, Broadcasted>("/api/admin/epochs/2/broadcast", None::<&()>)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(msg.contains("0 of 1 batches signed"), "{msg}");

    let done = finalize(&signed).await.unwrap();
    assert!(done.recorded_now);
    assert_eq!((done.state, done.unsigned_batches), (EpochState::Signed, 0));
    assert_eq!(done.txid, unsigned.unsigned_tx.compute_txid().to_string());
    let twice = finalize(&signed).await.unwrap();
    assert!(!twice.recorded_now);
    assert_eq!(twice.tx_hex, done.tx_hex);
    // Once signed, no PSBT of other amounts gets in.
    assert_eq!(
        refusal(finalize(&more).await).await.0,
        StatusCode::BAD_REQUEST
    );

    // Broadcast once, however often asked.
    let sent: Broadcasted = admin
        .post("/api/admin/epochs/2/broadcast", None::<&()>)
        .await
        .unwrap();
    assert_eq!(sent.state, EpochState::Broadcast);
    assert_eq!(sent.txids, vec![done.txid.clone()]);
    let _: Broadcasted = admin
        .post("/api/admin/epochs/2/broadcast", None::<&()>)
        .await
        .unwrap();
    assert_eq!(chain.sent().len(), 1, "one broadcast");
    assert_eq!(
        hex::encode(resist_payout::bitcoin::consensus::encode::serialize(
            &chain.sent()[0]
        )),
        done.tx_hex
    );
    let shown: EpochDetail = w.h.client().get("/api/epochs/2").await.unwrap();
    assert_eq!(shown.summary.state, EpochState::Broadcast);
    assert!(shown.batches[0].signed && shown.batches[0].broadcast);
    assert_eq!(shown.summary.txids, vec![done.txid.clone()]);
    // The same report as a public page, and the list of epochs.
    for (path, wanted) in [
        (
            "/epochs/2",
            vec!["Grant epoch 2", done.txid.as_str(), "broadcast", "fd"],
        ),
        ("/epochs", vec!["epoch 1", "epoch 2", done.txid.as_str()]),
    ] {
        let resp = reqwest::get(format!("{}{path}", w.h.url)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let csp = resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        let html = resp.text().await.unwrap();
        for w in wanted {
            assert!(html.contains(w), "{path} lacks {w:?}");
        }
        assert!(
            !html.contains("203.0.113") && !html.contains("198.51.100"),
            "{path} names a node"
        );
        assert!(!html.contains("<script"), "{path}");
    }
    let missing = reqwest::get(format!("{}/epochs/9", w.h.url)).await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    w.h.stop().await;
}

/// Without a treasury in the configuration, epochs close and publish; the
/// payout steps say what to configure.
#[tokio::test]
async fn payout_steps_say_what_is_missing() {
    let store = resist_store::SqliteStore::connect("sqlite::memory:")
        .await
        .unwrap();
    let signer = Signer::new(9);
    let (payout, _) = payout(&signer, "tr", &[1_000_000]);
    let w = world(store, payout).await;
    // Same world, but a coordinator without [payout].
    let mut s = settings();
    s.payout = None;
    let start = ok_window(&w, 10).await * 600;
    let bare = Harness::start(w.h.state.store.clone(), s).await;
    bare.clock.set(resist_clock::Clock::now(&w.h.clock));
    let (status, _) = close_status(&bare, &close(1, 500_000, Some(start))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, msg) = refusal(
        bare.admin()
            .post::<_, PsbtExport>("/api/admin/epochs/1/psbt", None::<&()>)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(msg.contains("treasury_external"), "{msg}");
    // The configured one exports (taproot treasury), the bare one still
    // refuses to finalize without descriptors.
    let export: PsbtExport =
        w.h.admin()
            .post("/api/admin/epochs/1/psbt", None::<&()>)
            .await
            .unwrap();
    let signed = signer.sign(&psbt_from_base64(&export.batches[0].psbt).unwrap());
    let req = FinalizeRequest {
        psbt: signed.to_string(),
    };
    let (status, _) = refusal(
        bare.admin()
            .post::<_, Finalized>("/api/admin/epochs/1/finalize", Some(&req))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let done: Finalized =
        w.h.admin()
            .post("/api/admin/epochs/1/finalize", Some(&req))
            .await
            .unwrap();
    assert_eq!(
        done.state,
        EpochState::Signed,
        "taproot inputs verified and recorded"
    );
    bare.stop().await;
    w.h.stop().await;
}

/// Two coordinators on one PostgreSQL race each step: one closes, one
/// exports, one records the signature; the other finds it done.
#[tokio::test]
async fn two_coordinators_racing_pay_once() {
    let Some(pg) =
        resist_testkit::postgres::TempPostgres::start().expect("PostgreSQL failed to start")
    else {
        return;
    };
    let url = pg.fresh_database().await;
    let store_a = resist_store::PostgresStore::connect(&url).await.unwrap();
    let store_b = resist_store::PostgresStore::connect(&url).await.unwrap();
    let signer = Signer::new(10);
    let (payout_a, chain_a) = payout(&signer, "wpkh", &[2_000_000]);
    let w = world(store_a, payout_a.clone()).await;
    let mut s = settings();
    s.payout = Some(payout_a);
    let b = Harness::start(store_b, s).await;
    let start = ok_window(&w, 10).await * 600;
    b.clock.set(resist_clock::Clock::now(&w.h.clock));
    let (admin_a, admin_b) = (w.h.admin(), b.admin());

    for round in 0..3 {
        let req = close(1, 1_000_000, Some(start));
        let (x, y) = tokio::join!(close_status(&w.h, &req), close_status(&b, &req));
        let mut codes = [x.0, y.0];
        codes.sort();
        if round == 0 {
            assert_eq!(codes, [StatusCode::OK, StatusCode::CREATED], "one closes");
        } else {
            assert_eq!(codes, [StatusCode::OK, StatusCode::OK]);
        }
        assert_eq!(x.1.report, y.1.report);
    }
    let (x, y) = tokio::join!(
        admin_a.post::<_, PsbtExport>("/api/admin/epochs/1/psbt", None::<&()>),
        admin_b.post::<_, PsbtExport>("/api/admin/epochs/1/psbt", None::<&()>)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(
        u8::from(x.built_now) + u8::from(y.built_now),
        1,
        "one export"
    );
    assert_eq!(
        x.batches[0].psbt, y.batches[0].psbt,
        "both return the recorded PSBT"
    );
    let signed = signer.sign(&psbt_from_base64(&x.batches[0].psbt).unwrap());
    let req = FinalizeRequest {
        psbt: signed.to_string(),
    };
    let (x, y) = tokio::join!(
        admin_a.post::<_, Finalized>("/api/admin/epochs/1/finalize", Some(&req)),
        admin_b.post::<_, Finalized>("/api/admin/epochs/1/finalize", Some(&req))
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(u8::from(x.recorded_now) + u8::from(y.recorded_now), 1);
    assert_eq!(x.tx_hex, y.tx_hex);
    let (x, y) = tokio::join!(
        admin_a.post::<_, Broadcasted>("/api/admin/epochs/1/broadcast", None::<&()>),
        admin_b.post::<_, Broadcasted>("/api/admin/epochs/1/broadcast", None::<&()>)
    );
    assert_eq!(x.unwrap().state, EpochState::Broadcast);
    assert_eq!(y.unwrap().state, EpochState::Broadcast);
    // Both coordinators share the injected chain: at most a harmless
    // rebroadcast of the same transaction, never a second one.
    let sent = chain_a.sent();
    assert!(!sent.is_empty() && sent.len() <= 2);
    assert!(
        sent.iter()
            .all(|t| t.compute_txid() == sent[0].compute_txid())
    );
    b.stop().await;
    w.h.stop().await;
}
