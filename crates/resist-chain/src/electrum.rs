//! The Electrum protocol backend (ElectrumX, Fulcrum, electrs): JSON-RPC 2.0,
//! one request per line, over plain TCP. A connection lasts one operation
//! (a funding scan, a broadcast): nothing to keep alive or reconnect.
//!
//! Electrum's script hash is the SHA-256 of the script with its bytes
//! reversed, in hex. Electrum lists unspent outputs by height only, so the
//! block hash is the hash of the 80-byte header the server sends for that
//! height. Every line read is capped; every request waits at most the
//! configured timeout.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use bdk_wallet::bitcoin::hashes::{Hash, sha256, sha256d};
use bdk_wallet::bitcoin::hex::DisplayHex;
use bdk_wallet::bitcoin::{Amount, BlockHash, OutPoint, ScriptBuf, Txid};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::error::{ChainError, reason};
use crate::source::Claim;
use crate::{MAX_LIST_BYTES, MAX_SMALL_BYTES, MAX_TX_BYTES, MAX_UTXOS, verify};

const BACKEND: &str = "electrum";

/// The protocol version asked for: 1.4 has every method used here.
const PROTOCOL_VERSION: &str = "1.4";

/// Most server notifications skipped while waiting for one answer.
const MAX_SKIPPED_NOTIFICATIONS: usize = 100;

/// Where the server is.
#[derive(Debug, Clone)]
pub(crate) struct Electrum {
    address: String,
    timeout: Duration,
}

/// The script hash Electrum indexes by: SHA-256 of the script, bytes
/// reversed, hex.
pub(crate) fn scripthash(script: &ScriptBuf) -> String {
    let mut bytes = sha256::Hash::hash(script.as_bytes()).to_byte_array();
    bytes.reverse();
    bytes.to_lower_hex_string()
}

impl Electrum {
    pub(crate) fn new(address: &str, timeout: Duration) -> Result<Self, ChainError> {
        Ok(Electrum {
            address: crate::config::electrum_address(address)?,
            timeout,
        })
    }

    /// Connects and greets the server (`server.version`).
    pub(crate) async fn connect(&self) -> Result<Conn, ChainError> {
        let stream = tokio::time::timeout(self.timeout, TcpStream::connect(&self.address))
            .await
            .map_err(|_| ChainError::Timeout {
                backend: BACKEND,
                what: format!("a connection to {}", self.address),
                after: self.timeout,
            })?
            .map_err(|e| ChainError::Connect {
                backend: BACKEND,
                detail: format!("{}: {e}", self.address),
            })?;
        let (read, write) = stream.into_split();
        let mut conn = Conn {
            reader: BufReader::new(read),
            writer: write,
            next_id: 0,
            timeout: self.timeout,
            headers: HashMap::new(),
        };
        conn.call(
            "server.version",
            json!([
                concat!("resist/", env!("CARGO_PKG_VERSION")),
                PROTOCOL_VERSION
            ]),
            MAX_SMALL_BYTES,
        )
        .await?;
        Ok(conn)
    }
}

/// One open connection.
#[derive(Debug)]
pub(crate) struct Conn {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    timeout: Duration,
    /// Headers already fetched, by height.
    headers: HashMap<u32, Vec<u8>>,
}

#[derive(Deserialize)]
struct Unspent {
    tx_hash: String,
    tx_pos: u32,
    height: i64,
    value: u64,
}

impl Conn {
    /// Sends one request and waits (at most the timeout) for its answer,
    /// skipping notifications; a line longer than `limit` is refused.
    async fn call(
        &mut self,
        method: &str,
        params: Value,
        limit: usize,
    ) -> Result<Value, ChainError> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.call_unbounded(method, params, limit))
            .await
            .map_err(|_| ChainError::Timeout {
                backend: BACKEND,
                what: method.to_owned(),
                after: timeout,
            })?
    }

    async fn call_unbounded(
        &mut self,
        method: &str,
        params: Value,
        limit: usize,
    ) -> Result<Value, ChainError> {
        self.next_id += 1;
        let id = self.next_id;
        let mut line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
            .to_string()
            .into_bytes();
        line.push(b'\n');
        self.writer
            .write_all(&line)
            .await
            .map_err(|e| io_error(method, &e))?;
        for _ in 0..=MAX_SKIPPED_NOTIFICATIONS {
            let line = self.read_line(method, limit).await?;
            let message: Value = serde_json::from_slice(&line)
                .map_err(|e| malformed(method, format!("not JSON: {e}")))?;
            match message.get("id") {
                None | Some(Value::Null) if message.get("method").is_some() => continue,
                Some(got) if got.as_u64() == Some(id) => {}
                _ => {
                    return Err(malformed(
                        method,
                        format!("an answer to another request (id {id} was sent)"),
                    ));
                }
            }
            if let Some(error) = message.get("error").filter(|e| !e.is_null()) {
                let (code, text) = match error {
                    Value::Object(o) => (
                        o.get("code").and_then(Value::as_i64).unwrap_or(0),
                        o.get("message")
                            .and_then(Value::as_str)
                            .map_or_else(|| error.to_string(), str::to_owned),
                    ),
                    Value::String(s) => (0, s.clone()),
                    other => (0, other.to_string()),
                };
                return Err(ChainError::Rpc {
                    backend: BACKEND,
                    what: method.to_owned(),
                    code,
                    message: reason(&text),
                });
            }
            return message
                .get("result")
                .cloned()
                .ok_or_else(|| malformed(method, "neither result nor error".into()));
        }
        Err(malformed(
            method,
            format!("more than {MAX_SKIPPED_NOTIFICATIONS} notifications and no answer"),
        ))
    }

    /// One line, without its newline, of at most `limit` bytes.
    async fn read_line(&mut self, method: &str, limit: usize) -> Result<Vec<u8>, ChainError> {
        let mut line = Vec::new();
        loop {
            let buf = self
                .reader
                .fill_buf()
                .await
                .map_err(|e| io_error(method, &e))?;
            if buf.is_empty() {
                return Err(ChainError::Connect {
                    backend: BACKEND,
                    detail: format!("the server closed the connection during {method}"),
                });
            }
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(pos) => (pos, true),
                None => (buf.len(), false),
            };
            if line.len() + take > limit {
                return Err(ChainError::TooLarge {
                    backend: BACKEND,
                    what: method.to_owned(),
                    limit,
                });
            }
            line.extend_from_slice(&buf[..take]);
            self.reader.consume(if done { take + 1 } else { take });
            if done {
                return Ok(line);
            }
        }
    }

    fn string_result(method: &str, value: Value) -> Result<String, ChainError> {
        match value {
            Value::String(s) => Ok(s),
            other => Err(malformed(
                method,
                format!("expected a string, got {}", reason(&other.to_string())),
            )),
        }
    }

    pub(crate) async fn tip_height(&mut self) -> Result<u32, ChainError> {
        let method = "blockchain.headers.subscribe";
        let result = self.call(method, json!([]), MAX_SMALL_BYTES).await?;
        result
            .get("height")
            .and_then(Value::as_u64)
            .and_then(|h| u32::try_from(h).ok())
            .ok_or_else(|| malformed(method, "no height".into()))
    }

    /// The 80-byte header at `height` (fetched once per connection).
    pub(crate) async fn raw_header(&mut self, height: u32) -> Result<Vec<u8>, ChainError> {
        if let Some(raw) = self.headers.get(&height) {
            return Ok(raw.clone());
        }
        let method = "blockchain.block.header";
        let result = self.call(method, json!([height]), MAX_SMALL_BYTES).await?;
        let raw = verify::hex_bytes(BACKEND, method, &Self::string_result(method, result)?)?;
        if raw.len() != verify::HEADER_BYTES {
            return Err(malformed(
                method,
                format!(
                    "{} bytes for height {height}, a header has {}",
                    raw.len(),
                    verify::HEADER_BYTES
                ),
            ));
        }
        self.headers.insert(height, raw.clone());
        Ok(raw)
    }

    /// The hash of the header at `height`.
    pub(crate) async fn block_hash(&mut self, height: u32) -> Result<BlockHash, ChainError> {
        let raw = self.raw_header(height).await?;
        Ok(BlockHash::from_raw_hash(sha256d::Hash::hash(&raw)))
    }

    pub(crate) async fn raw_tx(&mut self, txid: Txid) -> Result<Vec<u8>, ChainError> {
        let method = "blockchain.transaction.get";
        // Hex doubles the size; the JSON around it is small.
        let limit = 2 * MAX_TX_BYTES + MAX_SMALL_BYTES;
        let result = self
            .call(method, json!([txid.to_string(), false]), limit)
            .await?;
        verify::hex_bytes(BACKEND, method, &Self::string_result(method, result)?)
    }

    /// Every unspent output paying one of `scripts`, confirmed or not.
    pub(crate) async fn unspent(
        &mut self,
        scripts: &[ScriptBuf],
    ) -> Result<Vec<Claim>, ChainError> {
        let method = "blockchain.scripthash.listunspent";
        let mut claims = Vec::new();
        for (script_index, script) in scripts.iter().enumerate() {
            let result = self
                .call(method, json!([scripthash(script)]), MAX_LIST_BYTES)
                .await?;
            let list: Vec<Unspent> = serde_json::from_value(result)
                .map_err(|e| malformed(method, format!("not a UTXO list: {e}")))?;
            if claims.len() + list.len() > MAX_UTXOS {
                return Err(ChainError::TooManyUtxos {
                    backend: BACKEND,
                    limit: MAX_UTXOS,
                });
            }
            for u in list {
                let txid = Txid::from_str(&u.tx_hash).map_err(|_| {
                    malformed(method, format!("{:?} is not a txid", reason(&u.tx_hash)))
                })?;
                // 0: in the mempool; -1: in the mempool with unconfirmed parents.
                let height = if u.height > 0 {
                    Some(u32::try_from(u.height).map_err(|_| {
                        malformed(method, format!("height {} is out of range", u.height))
                    })?)
                } else {
                    None
                };
                claims.push(Claim {
                    script_index,
                    outpoint: OutPoint {
                        txid,
                        vout: u.tx_pos,
                    },
                    value: Amount::from_sat(u.value),
                    height,
                    block_hash: None,
                });
            }
        }
        Ok(claims)
    }

    /// `blockchain.transaction.broadcast`; the answer is the server's txid.
    pub(crate) async fn broadcast(
        &mut self,
        hex: String,
        txid: Txid,
    ) -> Result<String, ChainError> {
        let method = "blockchain.transaction.broadcast";
        match self.call(method, json!([hex]), MAX_SMALL_BYTES).await {
            Ok(result) => Self::string_result(method, result),
            Err(ChainError::Rpc { message, .. }) => Err(ChainError::BroadcastRejected {
                backend: BACKEND,
                txid,
                reason: message,
            }),
            Err(e) => Err(e),
        }
    }
}

fn io_error(method: &str, e: &std::io::Error) -> ChainError {
    ChainError::Connect {
        backend: BACKEND,
        detail: format!("during {method}: {e}"),
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

    /// The example of Electrum's protocol documentation ("Script Hashes"):
    /// 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa.
    #[test]
    fn scripthash_is_reversed_sha256() {
        let script =
            ScriptBuf::from_hex("76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac").expect("hex");
        assert_eq!(
            scripthash(&script),
            "8b01df4e368ea28f8dc0423bcf7a4923e3a12d307c875e47a0cfbf90b5c39161"
        );
    }
}
