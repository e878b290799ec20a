//! The Bitcoin Core backend: JSON-RPC over HTTP with basic authentication
//! (the `.cookie` file, read again on every call, or user and password).
//! Unspent outputs come from `scantxoutset` over `raw(<script>)`
//! descriptors, so no wallet needs to be loaded in bitcoind and no
//! `txindex`: `getrawtransaction` is given the block hash.

use std::io::Read;
use std::str::FromStr;
use std::time::Duration;

use bdk_wallet::bitcoin::hex::DisplayHex;
use bdk_wallet::bitcoin::{Amount, BlockHash, OutPoint, ScriptBuf, Txid};
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::CoreAuth;
use crate::error::{ChainError, reason};
use crate::source::Claim;
use crate::{MAX_LIST_BYTES, MAX_SMALL_BYTES, MAX_TX_BYTES, MAX_UTXOS, http, verify};

const BACKEND: &str = "bitcoind";

/// Largest cookie file read (bitcoind writes about 80 bytes).
const MAX_COOKIE_BYTES: u64 = 4096;

/// A bitcoind RPC endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Bitcoind {
    http: reqwest::Client,
    url: Url,
    auth: CoreAuth,
    timeout: Duration,
}

#[derive(Deserialize)]
struct Scan {
    success: bool,
    unspents: Vec<ScanUnspent>,
}

#[derive(Deserialize)]
struct ScanUnspent {
    txid: String,
    vout: u32,
    #[serde(rename = "scriptPubKey")]
    script_pubkey: String,
    amount: f64,
    height: u32,
    /// Sent by Bitcoin Core 28 and later.
    blockhash: Option<String>,
}

impl Bitcoind {
    pub(crate) fn new(url: &str, auth: CoreAuth, timeout: Duration) -> Result<Self, ChainError> {
        Ok(Bitcoind {
            http: http::client(timeout)?,
            url: crate::config::http_url(url)?,
            auth,
            timeout,
        })
    }

    /// User and password: the configured ones, or the cookie file's
    /// `__cookie__:<password>`.
    fn credentials(&self) -> Result<(String, String), ChainError> {
        let path = match &self.auth {
            CoreAuth::UserPassword { user, password } => {
                return Ok((user.clone(), password.expose().to_owned()));
            }
            CoreAuth::CookieFile(path) => path,
        };
        let cookie_error = |detail: String| ChainError::CookieFile {
            path: path.clone(),
            detail,
        };
        // A local file of about 80 bytes: a blocking read is fine.
        let file = std::fs::File::open(path).map_err(|e| cookie_error(e.to_string()))?;
        let mut bytes = Vec::new();
        file.take(MAX_COOKIE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| cookie_error(e.to_string()))?;
        if bytes.len() as u64 > MAX_COOKIE_BYTES {
            return Err(cookie_error(format!(
                "larger than {MAX_COOKIE_BYTES} bytes; is it really bitcoind's .cookie?"
            )));
        }
        let text = String::from_utf8(bytes).map_err(|_| cookie_error("not text".into()))?;
        let (user, password) = text
            .trim_end()
            .split_once(':')
            .filter(|(u, p)| !u.is_empty() && !p.is_empty())
            .ok_or_else(|| cookie_error("not of the form user:password".into()))?;
        Ok((user.to_owned(), password.to_owned()))
    }

    /// One JSON-RPC call; an answer over `limit` bytes is refused.
    async fn call(&self, method: &str, params: Value, limit: usize) -> Result<Value, ChainError> {
        let (user, password) = self.credentials()?;
        let request = self
            .http
            .post(self.url.clone())
            .basic_auth(user, Some(password))
            .json(&json!({"jsonrpc": "1.0", "id": "resist", "method": method, "params": params}));
        let (status, body) = http::send(BACKEND, method, self.timeout, request, limit).await?;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(ChainError::Unauthorized);
        }
        // Bitcoin Core answers RPC errors with HTTP 500 (or 404 for an
        // unknown method) and a JSON body: read the body first.
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        if let Some(error) = parsed
            .as_ref()
            .and_then(|v| v.get("error"))
            .filter(|e| !e.is_null())
        {
            return Err(ChainError::Rpc {
                backend: BACKEND,
                what: method.to_owned(),
                code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: reason(
                    error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("(no message)"),
                ),
            });
        }
        if !status.is_success() {
            return Err(ChainError::Http {
                backend: BACKEND,
                what: method.to_owned(),
                status: status.as_u16(),
                body: reason(&String::from_utf8_lossy(&body)),
            });
        }
        parsed
            .and_then(|mut v| v.get_mut("result").map(Value::take))
            .ok_or_else(|| malformed(method, "not a JSON-RPC answer".into()))
    }

    async fn call_string(
        &self,
        method: &str,
        params: Value,
        limit: usize,
    ) -> Result<String, ChainError> {
        match self.call(method, params, limit).await? {
            Value::String(s) => Ok(s),
            other => Err(malformed(
                method,
                format!("expected a string, got {}", reason(&other.to_string())),
            )),
        }
    }

    pub(crate) async fn tip_height(&self) -> Result<u32, ChainError> {
        let result = self
            .call("getblockcount", json!([]), MAX_SMALL_BYTES)
            .await?;
        result
            .as_u64()
            .and_then(|h| u32::try_from(h).ok())
            .ok_or_else(|| malformed("getblockcount", "not a height".into()))
    }

    pub(crate) async fn block_hash(&self, height: u32) -> Result<BlockHash, ChainError> {
        let text = self
            .call_string("getblockhash", json!([height]), MAX_SMALL_BYTES)
            .await?;
        BlockHash::from_str(&text).map_err(|_| {
            malformed(
                "getblockhash",
                format!("{:?} is not a block hash", reason(&text)),
            )
        })
    }

    pub(crate) async fn raw_header(&self, hash: BlockHash) -> Result<Vec<u8>, ChainError> {
        let method = "getblockheader";
        let hex = self
            .call_string(method, json!([hash.to_string(), false]), MAX_SMALL_BYTES)
            .await?;
        verify::hex_bytes(BACKEND, method, &hex)
    }

    pub(crate) async fn raw_tx(&self, txid: Txid, block: BlockHash) -> Result<Vec<u8>, ChainError> {
        let method = "getrawtransaction";
        let limit = 2 * MAX_TX_BYTES + MAX_SMALL_BYTES;
        let hex = self
            .call_string(
                method,
                json!([txid.to_string(), false, block.to_string()]),
                limit,
            )
            .await?;
        verify::hex_bytes(BACKEND, method, &hex)
    }

    /// Every unspent output paying one of `scripts`, in one scan of the
    /// UTXO set (which holds confirmed outputs only).
    pub(crate) async fn unspent(&self, scripts: &[ScriptBuf]) -> Result<Vec<Claim>, ChainError> {
        let method = "scantxoutset";
        if scripts.is_empty() {
            return Ok(Vec::new());
        }
        let descriptors: Vec<Value> = scripts
            .iter()
            .map(|s| json!({"desc": format!("raw({})", s.as_bytes().to_lower_hex_string())}))
            .collect();
        let result = self
            .call(method, json!(["start", descriptors]), MAX_LIST_BYTES)
            .await?;
        let scan: Scan = serde_json::from_value(result)
            .map_err(|e| malformed(method, format!("not a scan result: {e}")))?;
        if !scan.success {
            return Err(malformed(
                method,
                "the scan did not complete (aborted?); retry".into(),
            ));
        }
        if scan.unspents.len() > MAX_UTXOS {
            return Err(ChainError::TooManyUtxos {
                backend: BACKEND,
                limit: MAX_UTXOS,
            });
        }
        let mut claims = Vec::with_capacity(scan.unspents.len());
        for u in scan.unspents {
            let txid = Txid::from_str(&u.txid)
                .map_err(|_| malformed(method, format!("{:?} is not a txid", reason(&u.txid))))?;
            let outpoint = OutPoint { txid, vout: u.vout };
            let script_index = scripts
                .iter()
                .position(|s| {
                    s.as_bytes().to_lower_hex_string() == u.script_pubkey.to_ascii_lowercase()
                })
                .ok_or_else(|| ChainError::OutputMismatch {
                    backend: BACKEND,
                    outpoint,
                    detail: "its script is none of the scripts scanned for".into(),
                })?;
            let value = Amount::from_btc(u.amount).map_err(|e| {
                malformed(method, format!("amount {} of {outpoint}: {e}", u.amount))
            })?;
            let block_hash = match u.blockhash {
                Some(h) => Some(BlockHash::from_str(&h).map_err(|_| {
                    malformed(method, format!("{:?} is not a block hash", reason(&h)))
                })?),
                None => None,
            };
            claims.push(Claim {
                script_index,
                outpoint,
                value,
                height: Some(u.height),
                block_hash,
            });
        }
        Ok(claims)
    }

    /// `sendrawtransaction`; the answer is bitcoind's txid.
    pub(crate) async fn broadcast(&self, hex: String, txid: Txid) -> Result<String, ChainError> {
        match self
            .call_string("sendrawtransaction", json!([hex]), MAX_SMALL_BYTES)
            .await
        {
            Err(ChainError::Rpc { code, message, .. }) => Err(ChainError::BroadcastRejected {
                backend: BACKEND,
                txid,
                reason: reason(&format!("RPC error {code}: {message}")),
            }),
            other => other,
        }
    }
}

fn malformed(what: &str, detail: String) -> ChainError {
    ChainError::Malformed {
        backend: BACKEND,
        what: what.to_owned(),
        detail,
    }
}
