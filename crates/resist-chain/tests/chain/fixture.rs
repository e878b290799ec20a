//! A fabricated regtest chain (real blocks, headers and transactions), a
//! treasury made from a test xpub descriptor, and three servers speaking
//! the real wire protocols over it: Esplora REST, Electrum JSON-RPC lines
//! and Bitcoin Core JSON-RPC. The servers stand in for the Bitcoin network
//! only; each can be told to lie in one way.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use bdk_wallet::KeychainKind;
use bdk_wallet::bitcoin::absolute::LockTime;
use bdk_wallet::bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use bdk_wallet::bitcoin::block::{Header, Version as BlockVersion};
use bdk_wallet::bitcoin::consensus::encode::{deserialize, serialize};
use bdk_wallet::bitcoin::hashes::{Hash, sha256};
use bdk_wallet::bitcoin::secp256k1::Secp256k1;
use bdk_wallet::bitcoin::transaction::Version;
use bdk_wallet::bitcoin::{
    Amount, Block, BlockHash, CompactTarget, Network as BtcNetwork, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness,
};
use resist_chain::{Backend, ChainConfig, CoreAuth, Secret};
use resist_ownership::Network;
use resist_payout::Treasury;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

// ---------------------------------------------------------------- treasury

/// The funder's watch-only descriptors (wpkh, account m/84'/1'/0').
pub(crate) fn descriptors() -> (String, String) {
    let secp = Secp256k1::new();
    let root = Xpriv::new_master(BtcNetwork::Regtest, &[7u8; 32]).unwrap();
    let path = DerivationPath::from_str("m/84'/1'/0'").unwrap();
    let xpub = Xpub::from_priv(&secp, &root.derive_priv(&secp, &path).unwrap());
    let origin = format!("[{}/84'/1'/0']{xpub}", root.fingerprint(&secp));
    (format!("wpkh({origin}/0/*)"), format!("wpkh({origin}/1/*)"))
}

pub(crate) fn treasury() -> Treasury {
    let (ext, int) = descriptors();
    Treasury::new(&ext, &int, Network::Regtest).unwrap()
}

/// The treasury's script at `index` of `keychain` (derived by a separate
/// wallet so the treasury under test reveals nothing).
pub(crate) fn script(keychain: KeychainKind, index: u32) -> ScriptBuf {
    treasury()
        .wallet()
        .peek_address(keychain, index)
        .script_pubkey()
}

pub(crate) fn ext(index: u32) -> ScriptBuf {
    script(KeychainKind::External, index)
}

pub(crate) fn int(index: u32) -> ScriptBuf {
    script(KeychainKind::Internal, index)
}

/// A script that is not the treasury's.
pub(crate) fn foreign() -> ScriptBuf {
    ScriptBuf::new_p2wsh(&bdk_wallet::bitcoin::WScriptHash::from_byte_array([9; 32]))
}

/// A transaction paying `outputs`, spending a made-up outpoint (`seed`
/// makes the txid unique).
pub(crate) fn pay(seed: u8, outputs: &[(ScriptBuf, u64)]) -> Transaction {
    spend(
        OutPoint {
            txid: Txid::from_byte_array([seed; 32]),
            vout: 0,
        },
        outputs,
    )
}

/// A transaction spending `outpoint` and paying `outputs`.
pub(crate) fn spend(outpoint: OutPoint, outputs: &[(ScriptBuf, u64)]) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: outputs
            .iter()
            .map(|(s, v)| TxOut {
                value: Amount::from_sat(*v),
                script_pubkey: s.clone(),
            })
            .collect(),
    }
}

// ---------------------------------------------------------------- chain

/// Regtest blocks from the real genesis block, and a mempool.
pub(crate) struct Chain {
    pub(crate) blocks: Vec<Block>,
    pub(crate) mempool: Vec<Transaction>,
}

pub(crate) struct Utxo {
    pub(crate) outpoint: OutPoint,
    pub(crate) value: u64,
    pub(crate) height: Option<u32>,
}

impl Chain {
    pub(crate) fn new() -> Self {
        Chain {
            blocks: vec![bdk_wallet::bitcoin::constants::genesis_block(
                BtcNetwork::Regtest,
            )],
            mempool: Vec::new(),
        }
    }

    /// Appends a block holding `txs`; returns its height.
    pub(crate) fn mine(&mut self, txs: Vec<Transaction>) -> u32 {
        let height = u32::try_from(self.blocks.len()).unwrap();
        let mut block = Block {
            header: Header {
                version: BlockVersion::ONE,
                prev_blockhash: self.blocks.last().unwrap().block_hash(),
                merkle_root: TxMerkleNode::all_zeros(),
                time: 1_700_000_000 + height * 600,
                bits: CompactTarget::from_consensus(0x207f_ffff),
                nonce: height,
            },
            txdata: txs,
        };
        if let Some(root) = block.compute_merkle_root() {
            block.header.merkle_root = root;
        }
        self.blocks.push(block);
        height
    }

    pub(crate) fn tip(&self) -> u32 {
        u32::try_from(self.blocks.len() - 1).unwrap()
    }

    pub(crate) fn height_of(&self, hash: BlockHash) -> Option<u32> {
        self.blocks
            .iter()
            .position(|b| b.block_hash() == hash)
            .map(|h| u32::try_from(h).unwrap())
    }

    fn all_txs(&self) -> impl Iterator<Item = (&Transaction, Option<u32>)> {
        self.blocks
            .iter()
            .enumerate()
            .flat_map(|(h, b)| {
                b.txdata
                    .iter()
                    .map(move |tx| (tx, Some(u32::try_from(h).unwrap())))
            })
            .chain(self.mempool.iter().map(|tx| (tx, None)))
    }

    pub(crate) fn tx(&self, txid: Txid) -> Option<(Transaction, Option<u32>)> {
        self.all_txs()
            .find(|(tx, _)| tx.compute_txid() == txid)
            .map(|(tx, h)| (tx.clone(), h))
    }

    /// Outputs paying `script` that no transaction (mined or not) spends
    /// (all of them with `include_spent`).
    pub(crate) fn unspent(&self, script: &ScriptBuf, include_spent: bool) -> Vec<Utxo> {
        let spent: Vec<OutPoint> = self
            .all_txs()
            .flat_map(|(tx, _)| tx.input.iter().map(|i| i.previous_output))
            .filter(|_| !include_spent)
            .collect();
        let mut out = Vec::new();
        for (tx, height) in self.all_txs() {
            let txid = tx.compute_txid();
            for (vout, o) in tx.output.iter().enumerate() {
                let outpoint = OutPoint {
                    txid,
                    vout: u32::try_from(vout).unwrap(),
                };
                if &o.script_pubkey == script && !spent.contains(&outpoint) {
                    out.push(Utxo {
                        outpoint,
                        value: o.value.to_sat(),
                        height,
                    });
                }
            }
        }
        out
    }

    /// Every script any output pays (to answer lookups by script hash).
    pub(crate) fn scripts(&self) -> Vec<ScriptBuf> {
        let mut s: Vec<ScriptBuf> = self
            .all_txs()
            .flat_map(|(tx, _)| tx.output.iter().map(|o| o.script_pubkey.clone()))
            .collect();
        s.dedup();
        s
    }
}

// ---------------------------------------------------------------- state

/// One way a server misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lie {
    /// Honest.
    None,
    /// Sends another transaction (same outputs, other lock time) for a txid.
    WrongTx,
    /// Sends the previous block's header for a block (Electrum: 79 bytes).
    WrongHeader,
    /// Lists every unspent output 1 sat larger than it is.
    WrongValue,
    /// Answers the transaction lookup with more than the limit.
    Oversize,
    /// Never answers the unspent-output lookup.
    Silent,
    /// Accepts broadcasts but names another txid.
    OtherTxid,
    /// Lists spent outputs as unspent.
    ListSpent,
}

pub(crate) struct Fixture {
    pub(crate) chain: Chain,
    pub(crate) lie: Lie,
    /// Refuse broadcasts with this reason.
    pub(crate) reject: Option<String>,
    /// The hex of every transaction received for broadcast.
    pub(crate) broadcasts: Vec<String>,
    /// bitcoind's expected credentials.
    pub(crate) rpc_auth: (String, String),
    /// Requests served (any protocol).
    pub(crate) requests: usize,
}

pub(crate) type Shared = Arc<Mutex<Fixture>>;

pub(crate) fn shared(chain: Chain) -> Shared {
    Arc::new(Mutex::new(Fixture {
        chain,
        lie: Lie::None,
        reject: None,
        broadcasts: Vec::new(),
        rpc_auth: ("rpcuser".into(), "correct horse battery staple".into()),
        requests: 0,
    }))
}

impl Fixture {
    fn raw_tx(&self, txid: Txid) -> Option<Vec<u8>> {
        let (mut tx, _) = self.chain.tx(txid)?;
        if self.lie == Lie::WrongTx {
            tx.lock_time = LockTime::from_consensus(1);
        }
        Some(serialize(&tx))
    }

    fn header(&self, height: u32) -> Option<Vec<u8>> {
        let h = usize::try_from(height).unwrap();
        let block = self.chain.blocks.get(h)?;
        let header = if self.lie == Lie::WrongHeader && h > 0 {
            self.chain.blocks[h - 1].header
        } else {
            block.header
        };
        Some(serialize(&header))
    }

    fn unspent(&self, script: &ScriptBuf) -> Vec<Utxo> {
        self.chain.unspent(script, self.lie == Lie::ListSpent)
    }

    fn listed_value(&self, value: u64) -> u64 {
        if self.lie == Lie::WrongValue {
            value + 1
        } else {
            value
        }
    }

    /// Takes a broadcast: Err(reason) or Ok(txid to answer).
    fn broadcast(&mut self, hex: &str) -> Result<String, String> {
        self.broadcasts.push(hex.to_owned());
        if let Some(reason) = &self.reject {
            return Err(reason.clone());
        }
        let raw = hex::decode(hex).map_err(|e| e.to_string())?;
        let tx: Transaction = deserialize(&raw).map_err(|e| e.to_string())?;
        Ok(if self.lie == Lie::OtherTxid {
            Txid::from_byte_array([0x42; 32]).to_string()
        } else {
            tx.compute_txid().to_string()
        })
    }
}

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Esplora,
    Electrum,
    Bitcoind,
}

/// Starts the server of `kind` over `state` and returns a configuration
/// pointing at it (bitcoind: user and password), with a 10 s timeout
/// (generous: the machine is shared; tests of silence set 1 s).
pub(crate) async fn start(kind: Kind, state: &Shared) -> ChainConfig {
    let backend = match kind {
        Kind::Esplora => Backend::Esplora {
            url: format!("http://{}/api", esplora(state.clone()).await),
        },
        Kind::Electrum => Backend::Electrum {
            address: electrum(state.clone()).await,
        },
        Kind::Bitcoind => {
            let (user, password) = state.lock().unwrap().rpc_auth.clone();
            Backend::Bitcoind {
                url: format!("http://{}", bitcoind(state.clone()).await),
                auth: CoreAuth::UserPassword {
                    user,
                    password: Secret::new(password),
                },
            }
        }
    };
    let mut config = ChainConfig::new(backend);
    config.timeout = Duration::from_secs(10);
    config
}

// ---------------------------------------------------------------- esplora

/// Esplora's script hash, written out here independently: SHA-256 of the
/// script, hex in byte order.
fn esplora_scripthash(script: &ScriptBuf) -> String {
    hex::encode(sha256::Hash::hash(script.as_bytes()).to_byte_array())
}

pub(crate) async fn esplora(state: Shared) -> std::net::SocketAddr {
    let app = Router::new()
        .route("/api/blocks/tip/height", get(e_tip))
        .route("/api/block-height/{height}", get(e_block_height))
        .route("/api/block/{hash}/header", get(e_header))
        .route("/api/scripthash/{hash}/utxo", get(e_utxo))
        .route("/api/tx/{txid}/raw", get(e_raw))
        .route("/api/tx", post(e_broadcast))
        .with_state(state);
    serve(app).await
}

async fn serve(app: Router) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn count(state: &Shared) -> std::sync::MutexGuard<'_, Fixture> {
    let mut f = state.lock().unwrap();
    f.requests += 1;
    f
}

async fn e_tip(State(s): State<Shared>) -> String {
    count(&s).chain.tip().to_string()
}

async fn e_block_height(State(s): State<Shared>, Path(height): Path<usize>) -> Response {
    match count(&s).chain.blocks.get(height) {
        Some(b) => b.block_hash().to_string().into_response(),
        None => (StatusCode::NOT_FOUND, "Block not found").into_response(),
    }
}

async fn e_header(State(s): State<Shared>, Path(hash): Path<String>) -> Response {
    let f = count(&s);
    let height = BlockHash::from_str(&hash)
        .ok()
        .and_then(|h| f.chain.height_of(h));
    match height.and_then(|h| f.header(h)) {
        Some(raw) => hex::encode(raw).into_response(),
        None => (StatusCode::NOT_FOUND, "Block not found").into_response(),
    }
}

async fn e_utxo(State(s): State<Shared>, Path(hash): Path<String>) -> Response {
    let (body, silent) = {
        let f = count(&s);
        let script = f
            .chain
            .scripts()
            .into_iter()
            .find(|sc| esplora_scripthash(sc) == hash);
        let list: Vec<Value> = script
            .map(|sc| f.unspent(&sc))
            .unwrap_or_default()
            .into_iter()
            .map(|u| {
                let status = match u.height {
                    Some(h) => {
                        let b = &f.chain.blocks[usize::try_from(h).unwrap()];
                        json!({"confirmed": true, "block_height": h,
                               "block_hash": b.block_hash().to_string(),
                               "block_time": b.header.time})
                    }
                    None => json!({"confirmed": false}),
                };
                json!({"txid": u.outpoint.txid.to_string(), "vout": u.outpoint.vout,
                       "status": status, "value": f.listed_value(u.value)})
            })
            .collect();
        (Value::Array(list).to_string(), f.lie == Lie::Silent)
    };
    if silent {
        std::future::pending::<()>().await;
    }
    ([("content-type", "application/json")], body).into_response()
}

async fn e_raw(State(s): State<Shared>, Path(txid): Path<String>) -> Response {
    let f = count(&s);
    if f.lie == Lie::Oversize {
        return vec![0u8; 5 * 1024 * 1024].into_response();
    }
    match Txid::from_str(&txid).ok().and_then(|t| f.raw_tx(t)) {
        Some(raw) => raw.into_response(),
        None => (StatusCode::NOT_FOUND, "Transaction not found").into_response(),
    }
}

async fn e_broadcast(State(s): State<Shared>, body: Bytes) -> Response {
    let hex = String::from_utf8_lossy(&body).into_owned();
    match count(&s).broadcast(&hex) {
        Ok(txid) => txid.into_response(),
        Err(reason) => (
            StatusCode::BAD_REQUEST,
            format!("sendrawtransaction RPC error: {{\"code\":-26,\"message\":\"{reason}\"}}"),
        )
            .into_response(),
    }
}

// ---------------------------------------------------------------- electrum

/// Electrum's script hash, written out here independently: SHA-256 of the
/// script, bytes reversed, hex.
fn electrum_scripthash(script: &ScriptBuf) -> String {
    let mut bytes = sha256::Hash::hash(script.as_bytes()).to_byte_array();
    bytes.reverse();
    hex::encode(bytes)
}

/// A newline-delimited JSON-RPC 2.0 server on 127.0.0.1; returns `host:port`.
pub(crate) async fn electrum(state: Shared) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let state = state.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let request: Value = serde_json::from_str(&line).unwrap();
                    for reply in electrum_answer(&state, &request) {
                        let mut bytes = reply.into_bytes();
                        bytes.push(b'\n');
                        if write.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// The lines to send for one request (none: stay silent).
fn electrum_answer(state: &Shared, request: &Value) -> Vec<String> {
    let mut f = count(state);
    let id = request["id"].clone();
    let params = &request["params"];
    let ok = |result: Value| json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string();
    let err = |message: String| {
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": 1, "message": message}}).to_string()
    };
    match request["method"].as_str().unwrap() {
        "server.version" => vec![ok(json!(["FixtureX 1.0", "1.4"]))],
        "blockchain.headers.subscribe" => {
            let tip = f.chain.tip();
            let hex = hex::encode(f.header(tip).unwrap());
            // A notification first, as a subscribed server may send.
            let note = json!({"jsonrpc": "2.0", "method": "blockchain.headers.subscribe",
                              "params": [{"height": tip, "hex": hex}]})
            .to_string();
            vec![note, ok(json!({"height": tip, "hex": hex}))]
        }
        "blockchain.block.header" => {
            let height = u32::try_from(params[0].as_u64().unwrap()).unwrap();
            match f.header(height) {
                Some(mut raw) => {
                    if f.lie == Lie::WrongHeader && height > 0 {
                        raw.pop();
                    }
                    vec![ok(json!(hex::encode(raw)))]
                }
                None => vec![err(format!("height {height} out of range"))],
            }
        }
        "blockchain.scripthash.listunspent" => {
            if f.lie == Lie::Silent {
                return Vec::new();
            }
            let hash = params[0].as_str().unwrap();
            let script = f
                .chain
                .scripts()
                .into_iter()
                .find(|sc| electrum_scripthash(sc) == hash);
            let list: Vec<Value> = script
                .map(|sc| f.unspent(&sc))
                .unwrap_or_default()
                .into_iter()
                .map(|u| {
                    json!({"tx_hash": u.outpoint.txid.to_string(), "tx_pos": u.outpoint.vout,
                           "height": u.height.map_or(0, i64::from),
                           "value": f.listed_value(u.value)})
                })
                .collect();
            vec![ok(Value::Array(list))]
        }
        "blockchain.transaction.get" => {
            if f.lie == Lie::Oversize {
                return vec![ok(json!("00".repeat(9 * 512 * 1024)))];
            }
            let txid = Txid::from_str(params[0].as_str().unwrap()).unwrap();
            match f.raw_tx(txid) {
                Some(raw) => vec![ok(json!(hex::encode(raw)))],
                None => vec![err("No such mempool or blockchain transaction".into())],
            }
        }
        "blockchain.transaction.broadcast" => {
            let hex = params[0].as_str().unwrap().to_owned();
            match f.broadcast(&hex) {
                Ok(txid) => vec![ok(json!(txid))],
                Err(reason) => vec![err(format!(
                    "the transaction was rejected by network rules.\n\n{reason}\n[{hex}]"
                ))],
            }
        }
        other => vec![err(format!("unknown method {other}"))],
    }
}

// ---------------------------------------------------------------- bitcoind

/// Bitcoin Core's JSON-RPC at `/`, with basic authentication; returns
/// `host:port`.
pub(crate) async fn bitcoind(state: Shared) -> std::net::SocketAddr {
    let app = Router::new().route("/", post(core_rpc)).with_state(state);
    serve(app).await
}

fn core_error(id: &Value, code: i64, message: &str) -> Response {
    let body = json!({"result": null, "error": {"code": code, "message": message}, "id": id});
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}

async fn core_rpc(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let silent = {
        let f = count(&s);
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", f.rpc_auth.0, f.rpc_auth.1))
        );
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if given != expected {
            return (
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", "Basic realm=\"jsonrpc\"")],
            )
                .into_response();
        }
        let request: Value = serde_json::from_slice(&body).unwrap();
        request["method"] == "scantxoutset" && f.lie == Lie::Silent
    };
    if silent {
        std::future::pending::<()>().await;
    }
    let request: Value = serde_json::from_slice(&body).unwrap();
    let mut f = count(&s);
    let id = request["id"].clone();
    let params = &request["params"];
    let ok = |result: Value| {
        axum::Json(json!({"result": result, "error": null, "id": id})).into_response()
    };
    match request["method"].as_str().unwrap() {
        "getblockcount" => ok(json!(f.chain.tip())),
        "getblockhash" => {
            let h = usize::try_from(params[0].as_u64().unwrap()).unwrap();
            match f.chain.blocks.get(h) {
                Some(b) => ok(json!(b.block_hash().to_string())),
                None => core_error(&id, -8, "Block height out of range"),
            }
        }
        "getblockheader" => {
            assert_eq!(params[1], json!(false), "verbose=false asked for");
            let hash = BlockHash::from_str(params[0].as_str().unwrap()).unwrap();
            match f.chain.height_of(hash).and_then(|h| f.header(h)) {
                Some(raw) => ok(json!(hex::encode(raw))),
                None => core_error(&id, -5, "Block not found"),
            }
        }
        "getrawtransaction" => {
            if f.lie == Lie::Oversize {
                return ok(json!("00".repeat(9 * 512 * 1024)));
            }
            let txid = Txid::from_str(params[0].as_str().unwrap()).unwrap();
            // Without txindex, Core needs the block hash to find a mined tx.
            let block = BlockHash::from_str(params[2].as_str().unwrap()).unwrap();
            let in_block = f.chain.height_of(block).is_some_and(|h| {
                f.chain.blocks[usize::try_from(h).unwrap()]
                    .txdata
                    .iter()
                    .any(|t| t.compute_txid() == txid)
            });
            match f.raw_tx(txid).filter(|_| in_block) {
                Some(raw) => ok(json!(hex::encode(raw))),
                None => core_error(&id, -5, "No such transaction found in the provided block"),
            }
        }
        "scantxoutset" => {
            assert_eq!(params[0], json!("start"));
            let mut unspents = Vec::new();
            let mut total = 0u64;
            for d in params[1].as_array().unwrap() {
                let desc = d["desc"].as_str().unwrap();
                let hex = desc
                    .strip_prefix("raw(")
                    .and_then(|r| r.strip_suffix(')'))
                    .unwrap();
                let script = ScriptBuf::from_bytes(hex::decode(hex).unwrap());
                // The UTXO set holds mined outputs only.
                for u in f.unspent(&script) {
                    let Some(h) = u.height else { continue };
                    let value = f.listed_value(u.value);
                    total += value;
                    let block = f.chain.blocks[usize::try_from(h).unwrap()].block_hash();
                    unspents.push(json!({
                        "txid": u.outpoint.txid.to_string(), "vout": u.outpoint.vout,
                        "scriptPubKey": hex, "desc": format!("raw({hex})#fixture"),
                        "amount": value as f64 / 100_000_000.0, "coinbase": false,
                        "height": h, "blockhash": block.to_string(),
                        "confirmations": f.chain.tip() - h + 1,
                    }));
                }
            }
            let tip = f.chain.tip();
            ok(json!({
                "success": true, "txouts": 1000, "height": tip,
                "bestblock": f.chain.blocks.last().unwrap().block_hash().to_string(),
                "unspents": unspents, "total_amount": total as f64 / 100_000_000.0,
            }))
        }
        "sendrawtransaction" => {
            let hex = params[0].as_str().unwrap().to_owned();
            match f.broadcast(&hex) {
                Ok(txid) => ok(json!(txid)),
                Err(reason) => core_error(&id, -26, &reason),
            }
        }
        other => {
            let body = json!({"result": null, "error": {"code": -32601, "message": format!("Method not found: {other}")}, "id": id});
            (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
        }
    }
}

/// The hex a broadcast of `tx` must carry.
pub(crate) fn tx_hex(tx: &Transaction) -> String {
    hex::encode(serialize(tx))
}
