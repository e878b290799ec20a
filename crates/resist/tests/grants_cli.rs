//! The funder's grant steps with the real binary and real processes: a
//! coordinator with 2-second windows whose `[payout.chain]` is an Esplora
//! server (a fixture here: the Bitcoin network is the one thing this machine
//! cannot reach), one node, a censored and a free probe. Once the node has OK
//! windows: `resist grants close` (twice: the second changes nothing), `psbt`
//! (twice: the same file), the PSBT signed here with the treasury's private
//! key as a hardware wallet would, a tampered copy refused by `finalize`, the
//! real one finalized with `--broadcast` (the fixture receives that exact
//! transaction once), and `show --json` + `verify` on the published report.

mod common;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use common::{NodeProcess, free_port, resist_args, test_node, test_probe, write_file};
use resist_client::Client;
use resist_measure::Status;
use resist_ownership::{AddressKind, Network};
use resist_payout::Treasury;
use resist_payout::bitcoin::absolute::LockTime;
use resist_payout::bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use resist_payout::bitcoin::block::{Header, Version as BlockVersion};
use resist_payout::bitcoin::consensus::encode::{deserialize, serialize};
use resist_payout::bitcoin::hashes::{Hash as _, sha256};
use resist_payout::bitcoin::secp256k1::Secp256k1;
use resist_payout::bitcoin::transaction::Version;
use resist_payout::bitcoin::{
    Amount, CompactTarget, Network as BtcNetwork, OutPoint, Psbt, ScriptBuf, Sequence, Transaction,
    TxIn, TxMerkleNode, TxOut, Txid, Witness,
};
use resist_process::{CoordinatorCommand, NodeCommand, ProbeCommand};
use resist_proto::api::NodeStatusView;

const ADMIN: &str = "grants-cli-test-admin-token";
const WAIT: Duration = Duration::from_secs(40);

/// The funder's key (test only) and the watch-only descriptors made from it.
fn funder() -> (Xpriv, String, String) {
    let secp = Secp256k1::new();
    let root = Xpriv::new_master(BtcNetwork::Regtest, &[21u8; 32]).unwrap();
    let path = DerivationPath::from_str("m/84'/1'/0'").unwrap();
    let xpub = Xpub::from_priv(&secp, &root.derive_priv(&secp, &path).unwrap());
    let origin = format!("[{}/84'/1'/0']{xpub}", root.fingerprint(&secp));
    (
        root,
        format!("wpkh({origin}/0/*)"),
        format!("wpkh({origin}/1/*)"),
    )
}

/// A regtest chain of two blocks: genesis and a block at height 1 that
/// confirms one transaction funding the treasury's first receive address.
struct Chain {
    genesis: Header,
    block: Header,
    funding: Transaction,
    sent: Mutex<Vec<String>>,
}

impl Chain {
    fn new(external: &str, internal: &str) -> Arc<Self> {
        let mut t = Treasury::new(external, internal, Network::Regtest).unwrap();
        let funding = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint {
                    txid: Txid::from_byte_array([0x5a; 32]),
                    vout: 0,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1_000_000),
                script_pubkey: t.reveal_receive_address().script_pubkey(),
            }],
        };
        let genesis =
            resist_payout::bitcoin::blockdata::constants::genesis_block(BtcNetwork::Regtest).header;
        let block = Header {
            version: BlockVersion::TWO,
            prev_blockhash: genesis.block_hash(),
            merkle_root: TxMerkleNode::from_byte_array(funding.compute_txid().to_byte_array()),
            time: 1_700_000_000,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        };
        Arc::new(Chain {
            genesis,
            block,
            funding,
            sent: Mutex::new(Vec::new()),
        })
    }

    fn header(&self, hash: &str) -> Option<&Header> {
        [&self.genesis, &self.block]
            .into_iter()
            .find(|h| h.block_hash().to_string() == hash)
    }
}

/// The Esplora REST endpoints resist-chain calls, over [`Chain`].
fn esplora(chain: Arc<Chain>) -> Router {
    type St = State<Arc<Chain>>;
    Router::new()
        .route("/blocks/tip/height", get(async || "1"))
        .route(
            "/block-height/{h}",
            get(async |State(c): St, UrlPath(h): UrlPath<u32>| match h {
                0 => Ok(c.genesis.block_hash().to_string()),
                1 => Ok(c.block.block_hash().to_string()),
                _ => Err(StatusCode::NOT_FOUND),
            }),
        )
        .route(
            "/block/{hash}/header",
            get(async |State(c): St, UrlPath(hash): UrlPath<String>| {
                c.header(&hash)
                    .map(|h| hex::encode(serialize(h)))
                    .ok_or(StatusCode::NOT_FOUND)
            }),
        )
        .route(
            "/tx/{txid}/raw",
            get(async |State(c): St, UrlPath(txid): UrlPath<String>| {
                (txid == c.funding.compute_txid().to_string())
                    .then(|| serialize(&c.funding))
                    .ok_or(StatusCode::NOT_FOUND)
            }),
        )
        .route(
            "/scripthash/{h}/utxo",
            get(async |State(c): St, UrlPath(h): UrlPath<String>| {
                let out = &c.funding.output[0];
                let mine = hex::encode(sha256::Hash::hash(out.script_pubkey.as_bytes()));
                let utxos = if h == mine {
                    serde_json::json!([{
                        "txid": c.funding.compute_txid().to_string(),
                        "vout": 0,
                        "value": out.value.to_sat(),
                        "status": {
                            "confirmed": true,
                            "block_height": 1,
                            "block_hash": c.block.block_hash().to_string(),
                            "block_time": c.block.time,
                        }
                    }])
                } else {
                    serde_json::json!([])
                };
                axum::Json(utxos)
            }),
        )
        .route(
            "/tx",
            post(async |State(c): St, body: String| {
                let tx: Transaction =
                    deserialize(&hex::decode(body.trim()).map_err(|_| StatusCode::BAD_REQUEST)?)
                        .map_err(|_| StatusCode::BAD_REQUEST)?;
                c.sent.lock().unwrap().push(body.trim().to_owned());
                Ok::<_, StatusCode>(tx.compute_txid().to_string())
            }),
        )
        .with_state(chain)
}

fn run(cmd: &mut std::process::Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_funder_closes_exports_signs_finalizes_and_broadcasts_with_the_cli() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let (root, external, internal) = funder();
    let chain = Chain::new(&external, &internal);
    let esplora_url = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = esplora(chain.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    });

    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let command_of = |args: Vec<OsString>| {
        let mut c = resist_args(args, dir);
        c.env("RESIST_ADMIN_TOKEN", ADMIN);
        c
    };
    let command = |role: &str, args: &[&str]| {
        command_of(
            std::iter::once(role)
                .chain(args.iter().copied())
                .map(OsString::from)
                .collect(),
        )
    };
    let config = write_file(
        dir,
        "coordinator.toml",
        &format!(
            "[payout]\ntreasury_external = \"{external}\"\ntreasury_internal = \"{internal}\"\n\
             fee_rate_sat_per_vb = 3\n\n[payout.chain]\nkind = \"esplora\"\nurl = \"{esplora_url}\"\n"
        ),
    );
    let mut coordinator = command_of(
        CoordinatorCommand {
            config: Some(config),
            listen: Some(SocketAddr::from(([127, 0, 0, 1], port))),
            canary_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            data_dir: Some(dir.join("coordinator")),
            network: Some("regtest".into()),
            danger_allow_private_endpoints: true,
            log_level: Some("warn".into()),
            ..CoordinatorCommand::default()
        }
        .args(),
    );
    coordinator
        .env("RESIST_COORDINATOR_MEASUREMENT__WINDOW", "2s")
        .env("RESIST_COORDINATOR_LIMITS__REQUESTS_PER_MINUTE", "100000")
        .env("RESIST_COORDINATOR_LIMITS__BURST", "10000");
    let mut coordinator = NodeProcess::spawn(coordinator);
    coordinator.stdout_line(|l| l.contains("listening on http://"), WAIT);

    let mut node = NodeProcess::spawn(command_of(
        NodeCommand {
            data_dir: Some(dir.join("node")),
            ..test_node()
        }
        .args(),
    ));
    let node_port = node.listen_addr().port();
    let wif = resist_ownership::generate_test_wif(Network::Regtest).unwrap();
    let payout =
        resist_ownership::address_for_test_wif(&wif, AddressKind::P2wpkh, Network::Regtest)
            .unwrap();
    let wif_file = write_file(dir, "operator.wif", &wif);
    let (ok, out) = run(&mut command(
        "operator",
        &[
            "--coordinator",
            &url,
            "--data-dir",
            dir.join("operator").to_str().unwrap(),
            "--wif-file",
            wif_file.to_str().unwrap(),
            "register",
            "--payout",
            payout.as_str(),
            "--node",
            &format!("127.0.0.1:{node_port}"),
            "--node-user",
            "probe",
            "--node-password",
            "probe-password",
        ],
    ));
    assert!(ok, "{out}");
    let mut probes = Vec::new();
    for (name, region, source) in [
        ("probe-c", "censored:RU", "127.0.0.2"),
        ("probe-f", "free:DE", "127.0.0.4"),
    ] {
        let pdir = dir.join(name);
        let (ok, key) = run(&mut command_of(
            ProbeCommand {
                data_dir: Some(pdir.clone()),
                print_public_key: true,
                ..ProbeCommand::default()
            }
            .args(),
        ));
        assert!(ok, "{key}");
        let (ok, out) = run(&mut command(
            "admin",
            &[
                "--coordinator",
                &url,
                "probe",
                "enrol",
                "--public-key",
                key.trim(),
                "--region",
                region,
            ],
        ));
        assert!(ok, "{out}");
        let mut p = NodeProcess::spawn(command_of(
            ProbeCommand {
                region: Some(region.into()),
                source: Some(source.parse().unwrap()),
                data_dir: Some(pdir),
                ..test_probe(&url)
            }
            .args(),
        ));
        p.stdout_line(|l| l.starts_with("probing for"), WAIT);
        probes.push(p);
    }

    // Wait for an OK window, then one more window so it is whole and closed.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let nodes: Vec<NodeStatusView> = rt
            .block_on(
                Client::new(&url)
                    .unwrap()
                    .with_token(ADMIN)
                    .get("/api/admin/status?windows=50"),
            )
            .unwrap();
        if nodes
            .iter()
            .any(|n| n.history.iter().any(|w| w.status == Status::Ok))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no OK window: {nodes:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(3));

    let grants = |args: &[&str]| {
        let mut full = vec![args[0], "--coordinator", &url];
        full.extend_from_slice(&args[1..]);
        run(&mut command("grants", &full))
    };
    let close = ["close", "--epoch", "1", "--budget", "100000", "--days", "1"];
    let (ok, first) = grants(&close);
    assert!(ok && first.contains("epoch 1  closed"), "{first}");
    assert!(first.contains(payout.as_str()), "{first}");
    let (ok, again) = grants(&close);
    assert!(
        ok && again.contains("epoch 1  closed"),
        "repeating changes nothing: {again}"
    );
    let (ok, other) = grants(&["close", "--epoch", "1", "--budget", "5"]);
    assert!(!ok && other.contains("closed already"), "{other}");

    let out_dir = dir.join("psbt");
    let out_s = out_dir.to_str().unwrap();
    let (ok, exported) = grants(&["psbt", "--epoch", "1", "--out", out_s]);
    assert!(
        ok && exported.contains("built and recorded now"),
        "{exported}"
    );
    let file = out_dir.join("epoch-1-batch-0.psbt");
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"psbt\xff"));
    let (ok, again) = grants(&["psbt", "--epoch", "1", "--out", out_s]);
    assert!(
        ok && again.contains("recorded before; unchanged"),
        "{again}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        bytes,
        "the same PSBT, byte for byte"
    );

    // The funder's wallet signs; a tampered copy is refused.
    let unsigned: Psbt = Psbt::deserialize(&bytes).unwrap();
    let sign = |p: &Psbt| {
        let mut p = p.clone();
        p.sign(&root, &Secp256k1::new()).unwrap();
        p
    };
    let mut tampered = unsigned.clone();
    tampered.unsigned_tx.output[0].value += Amount::from_sat(500);
    let last = tampered.unsigned_tx.output.len() - 1;
    tampered.unsigned_tx.output[last].value -= Amount::from_sat(500);
    let bad = dir.join("tampered.psbt");
    std::fs::write(&bad, sign(&tampered).serialize()).unwrap();
    let (ok, refused) = grants(&["finalize", "--epoch", "1", bad.to_str().unwrap()]);
    assert!(!ok && refused.contains("refused"), "{refused}");
    // Signed as base64 text this time (wallets save either form).
    let good = dir.join("signed.psbt");
    std::fs::write(&good, sign(&unsigned).to_string()).unwrap();
    let (ok, done) = grants(&[
        "finalize",
        "--epoch",
        "1",
        good.to_str().unwrap(),
        "--broadcast",
    ]);
    assert!(ok && done.contains("epoch 1 broadcast"), "{done}");
    let txid = unsigned.unsigned_tx.compute_txid().to_string();
    assert!(done.contains(&txid), "{done}");
    let (ok, _) = grants(&[
        "finalize",
        "--epoch",
        "1",
        good.to_str().unwrap(),
        "--broadcast",
    ]);
    assert!(ok, "repeating is harmless");
    let sent = chain.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "broadcast once");
    let tx: Transaction = deserialize(&hex::decode(&sent[0]).unwrap()).unwrap();
    assert_eq!(tx.compute_txid().to_string(), txid);

    let report = dir.join("epoch-1.json");
    let (ok, shown) = grants(&["show", "1", "--json", report.to_str().unwrap()]);
    assert!(
        ok && shown.contains("broadcast") && shown.contains(&txid),
        "{shown}"
    );
    let (ok, verified) = run(&mut command(
        "grants",
        &["verify", report.to_str().unwrap()],
    ));
    assert!(ok && verified.starts_with("OK"), "{verified}");
    check_no_address(&report, node_port);

    drop(probes);
    node.terminate(WAIT);
    coordinator.terminate(WAIT);
}

/// The published report names no node endpoint.
fn check_no_address(report: &Path, port: u16) {
    let text = std::fs::read_to_string(report).unwrap();
    assert!(!text.contains("127.0.0.1"), "{text}");
    assert!(!text.contains(&format!(":{port}")), "{text}");
}
