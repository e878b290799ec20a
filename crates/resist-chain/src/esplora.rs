//! The Esplora REST backend (Blockstream's electrs/esplora, mempool.space):
//! unspent outputs by script hash, raw transactions, block headers, the tip,
//! and `POST /tx`. Only the protocol lives here; the checks are in
//! `verify`.
//!
//! Esplora's script hash is the SHA-256 of the script in hex, in byte order
//! (Electrum's is the same hash reversed).

use std::str::FromStr;
use std::time::Duration;

use bdk_wallet::bitcoin::hashes::{Hash, sha256};
use bdk_wallet::bitcoin::hex::DisplayHex;
use bdk_wallet::bitcoin::{Amount, BlockHash, OutPoint, ScriptBuf, Txid};
use serde::Deserialize;

use crate::error::{ChainError, reason};
use crate::source::Claim;
use crate::{MAX_LIST_BYTES, MAX_SMALL_BYTES, MAX_TX_BYTES, MAX_UTXOS, http, verify};

const BACKEND: &str = "esplora";

/// An Esplora server at a base URL.
#[derive(Debug, Clone)]
pub(crate) struct Esplora {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
}

/// The script hash Esplora indexes by: SHA-256 of the script, hex, not
/// reversed.
pub(crate) fn scripthash(script: &ScriptBuf) -> String {
    sha256::Hash::hash(script.as_bytes())
        .to_byte_array()
        .to_lower_hex_string()
}

#[derive(Deserialize)]
struct Utxo {
    txid: String,
    vout: u32,
    value: u64,
    status: Status,
}

#[derive(Deserialize)]
struct Status {
    confirmed: bool,
    block_height: Option<u32>,
    block_hash: Option<String>,
}

impl Esplora {
    pub(crate) fn new(url: &str, timeout: Duration) -> Result<Self, ChainError> {
        let parsed = crate::config::http_url(url)?;
        Ok(Esplora {
            http: http::client(timeout)?,
            base: parsed.as_str().trim_end_matches('/').to_owned(),
            timeout,
        })
    }

    async fn get(&self, path: &str, what: &str, limit: usize) -> Result<Vec<u8>, ChainError> {
        let request = self.http.get(format!("{}{path}", self.base));
        let (status, body) = http::send(BACKEND, what, self.timeout, request, limit).await?;
        if status != reqwest::StatusCode::OK {
            return Err(ChainError::Http {
                backend: BACKEND,
                what: what.to_owned(),
                status: status.as_u16(),
                body: reason(&String::from_utf8_lossy(&body)),
            });
        }
        Ok(body)
    }

    async fn get_text(&self, path: &str, what: &str) -> Result<String, ChainError> {
        let body = self.get(path, what, MAX_SMALL_BYTES).await?;
        String::from_utf8(body)
            .map(|s| s.trim().to_owned())
            .map_err(|_| malformed(what, "not UTF-8 text".into()))
    }

    pub(crate) async fn tip_height(&self) -> Result<u32, ChainError> {
        let what = "GET /blocks/tip/height";
        let text = self.get_text("/blocks/tip/height", what).await?;
        text.parse()
            .map_err(|_| malformed(what, format!("{:?} is not a height", reason(&text))))
    }

    pub(crate) async fn block_hash(&self, height: u32) -> Result<BlockHash, ChainError> {
        let what = format!("GET /block-height/{height}");
        let text = self
            .get_text(&format!("/block-height/{height}"), &what)
            .await?;
        BlockHash::from_str(&text)
            .map_err(|_| malformed(&what, format!("{:?} is not a block hash", reason(&text))))
    }

    pub(crate) async fn raw_header(&self, hash: BlockHash) -> Result<Vec<u8>, ChainError> {
        let what = format!("GET /block/{hash}/header");
        let text = self
            .get_text(&format!("/block/{hash}/header"), &what)
            .await?;
        verify::hex_bytes(BACKEND, &what, &text)
    }

    pub(crate) async fn raw_tx(&self, txid: Txid) -> Result<Vec<u8>, ChainError> {
        let what = format!("GET /tx/{txid}/raw");
        self.get(&format!("/tx/{txid}/raw"), &what, MAX_TX_BYTES)
            .await
    }

    /// Every unspent output paying one of `scripts`, confirmed or not.
    pub(crate) async fn unspent(&self, scripts: &[ScriptBuf]) -> Result<Vec<Claim>, ChainError> {
        let mut claims = Vec::new();
        for (script_index, script) in scripts.iter().enumerate() {
            let path = format!("/scripthash/{}/utxo", scripthash(script));
            let what = format!("GET {path}");
            let body = self.get(&path, &what, MAX_LIST_BYTES).await?;
            let utxos: Vec<Utxo> = serde_json::from_slice(&body)
                .map_err(|e| malformed(&what, format!("not a UTXO list: {e}")))?;
            if claims.len() + utxos.len() > MAX_UTXOS {
                return Err(ChainError::TooManyUtxos {
                    backend: BACKEND,
                    limit: MAX_UTXOS,
                });
            }
            for u in utxos {
                let txid = Txid::from_str(&u.txid).map_err(|_| {
                    malformed(&what, format!("{:?} is not a txid", reason(&u.txid)))
                })?;
                let (height, block_hash) = if u.status.confirmed {
                    let height = u.status.block_height.ok_or_else(|| {
                        malformed(&what, "a confirmed output without block_height".into())
                    })?;
                    let hash = match u.status.block_hash {
                        Some(h) => Some(BlockHash::from_str(&h).map_err(|_| {
                            malformed(&what, format!("{:?} is not a block hash", reason(&h)))
                        })?),
                        None => None,
                    };
                    (Some(height), hash)
                } else {
                    (None, None)
                };
                claims.push(Claim {
                    script_index,
                    outpoint: OutPoint { txid, vout: u.vout },
                    value: Amount::from_sat(u.value),
                    height,
                    block_hash,
                });
            }
        }
        Ok(claims)
    }

    /// `POST /tx`; the answer is the server's txid (checked by the caller).
    pub(crate) async fn broadcast(&self, hex: String, txid: Txid) -> Result<String, ChainError> {
        let what = "POST /tx";
        let request = self
            .http
            .post(format!("{}/tx", self.base))
            .header(reqwest::header::CONTENT_TYPE, "text/plain")
            .body(hex);
        let (status, body) =
            http::send(BACKEND, what, self.timeout, request, MAX_SMALL_BYTES).await?;
        let text = String::from_utf8_lossy(&body);
        if !status.is_success() {
            return Err(ChainError::BroadcastRejected {
                backend: BACKEND,
                txid,
                reason: reason(&format!("HTTP {}: {text}", status.as_u16())),
            });
        }
        Ok(text.trim().to_owned())
    }
}

fn malformed(what: &str, detail: String) -> ChainError {
    ChainError::Malformed {
        backend: BACKEND,
        what: what.to_owned(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The script of 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa (the example in
    /// Electrum's protocol documentation); the hash checked with Python's
    /// hashlib.
    #[test]
    fn scripthash_is_sha256_in_byte_order() {
        let script =
            ScriptBuf::from_hex("76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac").expect("hex");
        assert_eq!(
            scripthash(&script),
            "6191c3b590bfcfa0475e877c302da1e323497acf3b42c08d8fa28e364edf018b"
        );
    }
}
