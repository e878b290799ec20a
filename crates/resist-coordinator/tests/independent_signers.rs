//! Registration end to end with signatures made by independent
//! implementations, not by the library family that verifies them
//! (resist-ownership: the `bip322` crate and rust-bitcoin):
//!
//! - bip322-js 3.0.0 under `node` (`tests/js/sign.mjs`): BIP-322 simple for
//!   P2WPKH and P2TR, legacy signmessage for P2PKH;
//! - Electrum's wallet code (Debian's python3-electrum) under
//!   `/usr/bin/python3` (`tests/js/sign_electrum.py`): the legacy-format
//!   signature Electrum users paste for a P2WPKH address.
//!
//! Each signature is made at test time over the message of a live challenge
//! and sent as a real HTTP registration to a running coordinator. The
//! external tools also derive the address from the key, and the tests check
//! it is the address resist-ownership derives.
//!
//! Refusals, each with an independently made signature and each storing
//! nothing: the same signed request again, an expired challenge, a
//! signature over another message, a testnet/signet (`tb1…`) address on the
//! regtest coordinator, and malformed addresses.
//!
//! When node, the npm packages (`npm ci` in `tests/js`) or Electrum are
//! missing, the tests that need them are skipped with a message, except
//! under CI (env `CI` set), where `.ci/run` installs them and their absence
//! fails the test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use common::{Harness, node, settings};
use reqwest::StatusCode;
use resist_client::ClientError;
use resist_clock::Clock;
use resist_ownership::{AddressKind, Network, PayoutAddress};
use resist_proto::action::Action;
use resist_proto::api::{OperatorView, RegisterRequest, Registered};
use resist_proto::endpoint::NodeSpec;
use resist_store::prelude::*;
use resist_store::{OperatorId, SqliteStore};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

/// Time allowed for one run of an external signer (they take well under a
/// second; a shared, busy machine can be much slower).
const SIGNER_TIMEOUT: Duration = Duration::from_secs(120);

/// Debian's interpreter, which sees python3-electrum (a virtualenv's
/// `python3` on PATH may not).
const DEBIAN_PYTHON: &str = "/usr/bin/python3";

/// A code other than the verifier's that makes signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signer {
    /// bip322-js under node.
    Bip322Js,
    /// Electrum's wallet under Debian's python3.
    Electrum,
}

/// What an external signer printed.
#[derive(Debug, Deserialize)]
struct Signed {
    /// The signer and its versions, as it reports them.
    signer: String,
    /// The address the signer derived from the key.
    address: String,
    /// Base64.
    signature: String,
}

/// A fresh test-network key and the address resist-ownership derives for it.
#[derive(Clone, Debug)]
struct Key {
    wif: String,
    kind: AddressKind,
    network: Network,
    address: PayoutAddress,
}

impl Key {
    fn new(kind: AddressKind, network: Network) -> Self {
        let wif = resist_ownership::generate_test_wif(network).unwrap();
        let address = resist_ownership::address_for_test_wif(&wif, kind, network).unwrap();
        Self {
            wif,
            kind,
            network,
            address,
        }
    }
}

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

impl Signer {
    fn name(self) -> &'static str {
        match self {
            Signer::Bip322Js => "bip322-js (node)",
            Signer::Electrum => "Electrum (python3-electrum)",
        }
    }

    /// Why this signer cannot run here, or None when it can.
    fn missing(self) -> Option<String> {
        static BIP322_JS: OnceLock<Option<String>> = OnceLock::new();
        static ELECTRUM: OnceLock<Option<String>> = OnceLock::new();
        match self {
            Signer::Bip322Js => BIP322_JS
                .get_or_init(|| {
                    if !runs("node", &["--version"]) {
                        return Some("`node` is not installed (Debian packages nodejs npm)".into());
                    }
                    let package = js_dir().join("node_modules/bip322-js/package.json");
                    if !package.is_file() {
                        return Some(format!(
                            "bip322-js is not installed: run `npm ci` in {}",
                            js_dir().display()
                        ));
                    }
                    None
                })
                .clone(),
            Signer::Electrum => ELECTRUM
                .get_or_init(|| {
                    if !runs(DEBIAN_PYTHON, &["-c", "import electrum"]) {
                        return Some(format!(
                            "{DEBIAN_PYTHON} cannot import electrum (Debian package python3-electrum)"
                        ));
                    }
                    None
                })
                .clone(),
        }
    }

    /// True when the signer can run. Otherwise: under CI (env `CI` set) a
    /// failure, since `.ci/run` installs the signers; elsewhere a skip.
    fn available(self, test: &str) -> bool {
        resist_testkit::require(self.missing().map(|why| {
            format!(
                "{test}: {} is missing: {why}. `.ci/run` installs it \
                 (apt packages nodejs npm python3-electrum, and `npm ci` in \
                 crates/resist-coordinator/tests/js)",
                self.name()
            )
        }))
    }

    /// Has the external signer derive `key`'s address and sign `message`
    /// for it. Checks the derived address is the one resist-ownership
    /// derives.
    async fn sign(self, key: &Key, message: &str) -> Signed {
        let (program, script) = match self {
            Signer::Bip322Js => ("node", "sign.mjs"),
            Signer::Electrum => (DEBIAN_PYTHON, "sign_electrum.py"),
        };
        let request = serde_json::json!({
            "wif": key.wif,
            "kind": key.kind.as_str(),
            "network": key.network.as_str(),
            "message": message,
        });
        let mut child = tokio::process::Command::new(program)
            .arg(script)
            .current_dir(js_dir())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} {script}: {e}"));
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(request.to_string().as_bytes())
            .await
            .unwrap();
        drop(stdin);
        let output = tokio::time::timeout(SIGNER_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{program} {script} did not finish in {SIGNER_TIMEOUT:?}"))
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{program} {script} failed ({}) for a {} {} key:\n{}\n{stdout}",
            output.status,
            key.network.as_str(),
            key.kind.as_str(),
            String::from_utf8_lossy(&output.stderr)
        );
        let signed: Signed = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{program} {script} printed {stdout:?}: {e}"));
        assert_eq!(
            signed.address,
            key.address.as_str(),
            "{} derives another {} address from the key than resist-ownership",
            signed.signer,
            key.kind.as_str()
        );
        signed
    }
}

/// Runs `program args` quietly; true when it exits with success.
fn runs(program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

async fn start() -> (Harness<SqliteStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in(dir.path()).await.unwrap();
    (Harness::start(store, settings()).await, dir)
}

/// The registration message for `payout` and `nodes` under a live
/// challenge, as the coordinator rebuilds it (with the network the
/// challenge names).
fn register_message(network: &str, nonce: &str, payout: &str, nodes: &[NodeSpec]) -> String {
    Action::Register {
        payout_address: payout,
        nodes,
    }
    .message(network, nonce)
}

/// A registration request signed by an external signer.
#[derive(Debug)]
struct SignedRegistration {
    request: RegisterRequest,
    /// The message signed.
    message: String,
    /// When the challenge expires (Unix seconds), as the coordinator said.
    expires_at: i64,
}

/// Fetches a challenge and has `signer` sign the registration of `key`'s
/// address with `nodes`.
async fn independently_signed_register(
    h: &Harness<SqliteStore>,
    signer: Signer,
    key: &Key,
    nodes: Vec<NodeSpec>,
) -> SignedRegistration {
    let challenge = h.challenge().await;
    assert_eq!(challenge.network, "regtest");
    let payout = key.address.as_str().to_owned();
    let message = register_message(&challenge.network, &challenge.nonce, &payout, &nodes);
    let signed = signer.sign(key, &message).await;
    eprintln!(
        "{} signed for {} {}",
        signed.signer,
        key.kind.as_str(),
        key.address.as_str()
    );
    SignedRegistration {
        request: RegisterRequest {
            payout_address: payout,
            nodes,
            nonce: challenge.nonce,
            signature: signed.signature,
        },
        message,
        expires_at: challenge.expires_at,
    }
}

/// Posts a registration that must be refused; returns (status, code,
/// field, message).
async fn refused(
    h: &Harness<SqliteStore>,
    request: &RegisterRequest,
) -> (StatusCode, String, Option<String>, String) {
    match h
        .client()
        .post::<_, Registered>("/api/operators", Some(request))
        .await
    {
        Err(ClientError::Refused {
            status,
            code,
            field,
            message,
        }) => (status, code, field, message),
        Ok(registered) => panic!("expected a refusal, the coordinator registered {registered:?}"),
        Err(other) => panic!("expected a refusal, got {other:?}"),
    }
}

/// Posts a registration over plain HTTP and requires 201 Created.
async fn register_created(h: &Harness<SqliteStore>, request: &RegisterRequest) -> Registered {
    let response = reqwest::Client::new()
        .post(format!("{}/api/operators", h.url))
        .json(request)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "registration answered {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not a Registered ({e}): {body}"))
}

async fn assert_nothing_stored(h: &Harness<SqliteStore>, what: &str) {
    let operators = h.state.store.operators().await.unwrap();
    assert!(
        operators.is_empty(),
        "{what}: the refusal stored {operators:?}"
    );
}

/// A registration signed by `signer` for a `kind` address: 201, the
/// operator reads itself back with the token, the proof is kept; then the
/// same signed request again is refused (challenge used) and stores nothing.
async fn registers_once(signer: Signer, kind: AddressKind, test: &str) {
    if !signer.available(test) {
        return;
    }
    let (h, _dir) = start().await;
    let key = Key::new(kind, Network::Regtest);
    let nodes = vec![node("203.0.113.20", 1080), node("proxy.example.net", 1080)];
    let SignedRegistration {
        request, message, ..
    } = independently_signed_register(&h, signer, &key, nodes).await;

    let registered = register_created(&h, &request).await;
    assert_eq!(registered.operator.payout_address, key.address.as_str());
    assert_eq!(registered.operator.nodes.len(), 2);

    let me: OperatorView = h
        .client()
        .with_token(&registered.token)
        .get("/api/operators/me")
        .await
        .unwrap();
    assert_eq!(me, registered.operator);
    assert_eq!(me.payout_address, key.address.as_str());

    let proofs = h.state.store.proofs_of(OperatorId(me.id)).await.unwrap();
    assert_eq!(proofs.len(), 1);
    assert_eq!(proofs[0].action, "register");
    assert_eq!(proofs[0].address, key.address.as_str());
    assert_eq!(proofs[0].message, message);
    assert_eq!(proofs[0].signature, request.signature);

    // The same signed request again: its challenge is used.
    let before = h.state.store.operators().await.unwrap();
    assert_eq!(before.len(), 1);
    let (status, code, _, why) = refused(&h, &request).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "challenge_invalid"),
        "{why}"
    );
    assert_eq!(h.state.store.operators().await.unwrap(), before);
    assert_eq!(
        h.state.store.proofs_of(OperatorId(me.id)).await.unwrap(),
        proofs
    );
    h.stop().await;
}

#[tokio::test]
async fn bip322_js_p2wpkh_registers_once() {
    registers_once(
        Signer::Bip322Js,
        AddressKind::P2wpkh,
        "bip322_js_p2wpkh_registers_once",
    )
    .await;
}

#[tokio::test]
async fn bip322_js_p2tr_registers_once() {
    registers_once(
        Signer::Bip322Js,
        AddressKind::P2tr,
        "bip322_js_p2tr_registers_once",
    )
    .await;
}

#[tokio::test]
async fn bip322_js_legacy_p2pkh_registers_once() {
    registers_once(
        Signer::Bip322Js,
        AddressKind::P2pkh,
        "bip322_js_legacy_p2pkh_registers_once",
    )
    .await;
}

#[tokio::test]
async fn electrum_legacy_p2wpkh_registers_once() {
    registers_once(
        Signer::Electrum,
        AddressKind::P2wpkh,
        "electrum_legacy_p2wpkh_registers_once",
    )
    .await;
}

/// A signature made within the challenge's lifetime but sent after it
/// expired is refused.
async fn expired_challenge_is_refused(signer: Signer, kind: AddressKind, test: &str) {
    if !signer.available(test) {
        return;
    }
    let (h, _dir) = start().await;
    let key = Key::new(kind, Network::Regtest);
    let signed =
        independently_signed_register(&h, signer, &key, vec![node("203.0.113.21", 1080)]).await;
    // One second past the expiry the challenge announced.
    let left = u64::try_from(signed.expires_at - h.clock.now().seconds()).unwrap();
    assert!(left > 0, "the challenge expired at once");
    h.clock.advance(Duration::from_secs(left + 1));
    let request = signed.request;
    let (status, code, _, why) = refused(&h, &request).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "challenge_invalid"),
        "{why}"
    );
    assert_nothing_stored(&h, test).await;
    h.stop().await;
}

#[tokio::test]
async fn expired_challenge_is_refused_bip322_js() {
    expired_challenge_is_refused(
        Signer::Bip322Js,
        AddressKind::P2tr,
        "expired_challenge_is_refused_bip322_js",
    )
    .await;
}

#[tokio::test]
async fn expired_challenge_is_refused_electrum() {
    expired_challenge_is_refused(
        Signer::Electrum,
        AddressKind::P2wpkh,
        "expired_challenge_is_refused_electrum",
    )
    .await;
}

/// A genuine signature by the address's key, but over another message (the
/// registration under another live challenge), is refused as a bad
/// signature.
async fn signature_over_another_message_is_refused(
    signer: Signer,
    kinds: &[AddressKind],
    test: &str,
) {
    if !signer.available(test) {
        return;
    }
    let (h, _dir) = start().await;
    for &kind in kinds {
        let key = Key::new(kind, Network::Regtest);
        let nodes = vec![node("203.0.113.22", 1080)];
        let payout = key.address.as_str().to_owned();
        let this = h.challenge().await;
        let other = h.challenge().await;
        let other_message = register_message(&other.network, &other.nonce, &payout, &nodes);
        let signed = signer.sign(&key, &other_message).await;
        let request = RegisterRequest {
            payout_address: payout,
            nodes,
            nonce: this.nonce,
            signature: signed.signature,
        };
        let (status, code, _, why) = refused(&h, &request).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "bad_signature"),
            "{} {}: {why}",
            signed.signer,
            kind.as_str()
        );
        assert_nothing_stored(&h, test).await;
    }
    h.stop().await;
}

#[tokio::test]
async fn signature_over_another_message_is_refused_bip322_js() {
    signature_over_another_message_is_refused(
        Signer::Bip322Js,
        &[AddressKind::P2wpkh, AddressKind::P2tr, AddressKind::P2pkh],
        "signature_over_another_message_is_refused_bip322_js",
    )
    .await;
}

#[tokio::test]
async fn signature_over_another_message_is_refused_electrum() {
    signature_over_another_message_is_refused(
        Signer::Electrum,
        &[AddressKind::P2wpkh],
        "signature_over_another_message_is_refused_electrum",
    )
    .await;
}

/// A signet/testnet (`tb1…`) address, correctly signed over the live
/// message, is refused by the regtest coordinator, naming the field.
#[tokio::test]
async fn testnet_address_is_refused_on_regtest() {
    let test = "testnet_address_is_refused_on_regtest";
    if !Signer::Bip322Js.available(test) {
        return;
    }
    let (h, _dir) = start().await;
    for (kind, network) in [
        (AddressKind::P2wpkh, Network::Signet),
        (AddressKind::P2tr, Network::Testnet),
    ] {
        let key = Key::new(kind, network);
        assert!(key.address.as_str().starts_with("tb1"), "{key:?}");
        let request = independently_signed_register(
            &h,
            Signer::Bip322Js,
            &key,
            vec![node("203.0.113.23", 1080)],
        )
        .await
        .request;
        let (status, code, field, why) = refused(&h, &request).await;
        assert_eq!(
            (status, code.as_str(), field.as_deref()),
            (StatusCode::BAD_REQUEST, "invalid", Some("payout_address")),
            "{why}"
        );
        assert!(why.contains("regtest"), "{why}");
        assert_nothing_stored(&h, test).await;
    }
    h.stop().await;
}

/// Typos in a correctly signed address are refused, naming the field; the
/// untouched address with the same signature and challenge then registers.
#[tokio::test]
async fn malformed_address_is_refused() {
    let test = "malformed_address_is_refused";
    if !Signer::Bip322Js.available(test) {
        return;
    }
    let (h, _dir) = start().await;
    let key = Key::new(AddressKind::P2wpkh, Network::Regtest);
    let request =
        independently_signed_register(&h, Signer::Bip322Js, &key, vec![node("203.0.113.24", 1080)])
            .await
            .request;
    let good = request.payout_address.clone();

    let mut last_changed = good.clone();
    let last = last_changed.pop().unwrap();
    last_changed.push(if last == 'q' { 'p' } else { 'q' });
    let malformed = [
        ("checksum typo", last_changed),
        ("truncated", good[..good.len() - 1].to_owned()),
        (
            "a character bech32 never uses",
            format!("{}b{}", &good[..10], &good[11..]),
        ),
        (
            "mixed case",
            format!("{}{}", good[..10].to_uppercase(), &good[10..]),
        ),
        ("not an address", "my wallet".to_owned()),
        ("empty", String::new()),
    ];
    for (what, address) in malformed {
        let mut bad = request.clone();
        bad.payout_address = address;
        let (status, code, field, why) = refused(&h, &bad).await;
        assert_eq!(
            (status, code.as_str(), field.as_deref()),
            (StatusCode::BAD_REQUEST, "invalid", Some("payout_address")),
            "{what} ({:?}): {why}",
            bad.payout_address
        );
        assert_nothing_stored(&h, what).await;
    }

    // The refusals were about the address alone.
    let registered = register_created(&h, &request).await;
    assert_eq!(registered.operator.payout_address, good);
    h.stop().await;
}
