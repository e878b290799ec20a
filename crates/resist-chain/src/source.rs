//! [`ChainSource`]: the one door to the Bitcoin network. It asks the
//! configured backend for the treasury's confirmed coins with their parent
//! transactions and blocks, checks every answer (module `verify`), and sends
//! signed payouts. The three backends differ only in how they are asked.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bdk_wallet::bitcoin::consensus::encode::serialize_hex;
use bdk_wallet::bitcoin::{Amount, BlockHash, OutPoint, ScriptBuf, Transaction, TxOut, Txid};
use resist_ownership::Network;
use resist_payout::FundingBlock;

use crate::bitcoind::Bitcoind;
use crate::config::{Backend, ChainConfig};
use crate::electrum::{self, Electrum};
use crate::error::{ChainError, reason};
use crate::esplora::Esplora;
use crate::verify;

/// A confirmed unspent output paying the treasury, with what
/// [`resist_payout::Treasury::apply_funding`] needs: its whole parent
/// transaction and the block that confirms it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Funding {
    /// The output.
    pub outpoint: OutPoint,
    /// What it pays, to which script (checked against `tx`).
    pub txout: TxOut,
    /// The parent transaction (it hashes to `outpoint.txid`).
    pub tx: Arc<Transaction>,
    /// The confirming block (its header hashes to `block.hash`; `time` is
    /// the header's).
    pub block: FundingBlock,
}

/// An unspent output as a backend lists it, before any check.
#[derive(Debug)]
pub(crate) struct Claim {
    /// Which of the scripts asked about it pays.
    pub(crate) script_index: usize,
    pub(crate) outpoint: OutPoint,
    pub(crate) value: Amount,
    /// `None`: unconfirmed.
    pub(crate) height: Option<u32>,
    /// The confirming block, when the backend names it.
    pub(crate) block_hash: Option<BlockHash>,
}

/// A configured chain source (Esplora, Electrum or bitcoind). Cheap to
/// clone; holds no connection between calls.
///
/// Every call waits at most the configured `timeout` per request and reads
/// at most [`crate::MAX_LIST_BYTES`] / [`crate::MAX_TX_BYTES`] per answer.
#[derive(Debug, Clone)]
pub struct ChainSource {
    backend: Inner,
    min_confirmations: u32,
    timeout: Duration,
}

#[derive(Debug, Clone)]
enum Inner {
    Esplora(Esplora),
    Electrum(Electrum),
    Bitcoind(Bitcoind),
}

/// One operation's view of the backend (Electrum keeps its connection for
/// the operation).
enum Session<'a> {
    Esplora(&'a Esplora),
    Electrum(electrum::Conn),
    Bitcoind(&'a Bitcoind),
}

impl Session<'_> {
    fn name(&self) -> &'static str {
        match self {
            Session::Esplora(_) => "esplora",
            Session::Electrum(_) => "electrum",
            Session::Bitcoind(_) => "bitcoind",
        }
    }

    async fn tip_height(&mut self) -> Result<u32, ChainError> {
        match self {
            Session::Esplora(e) => e.tip_height().await,
            Session::Electrum(c) => c.tip_height().await,
            Session::Bitcoind(b) => b.tip_height().await,
        }
    }

    async fn unspent(&mut self, scripts: &[ScriptBuf]) -> Result<Vec<Claim>, ChainError> {
        match self {
            Session::Esplora(e) => e.unspent(scripts).await,
            Session::Electrum(c) => c.unspent(scripts).await,
            Session::Bitcoind(b) => b.unspent(scripts).await,
        }
    }

    async fn block_hash(&mut self, height: u32) -> Result<BlockHash, ChainError> {
        match self {
            Session::Esplora(e) => e.block_hash(height).await,
            Session::Electrum(c) => c.block_hash(height).await,
            Session::Bitcoind(b) => b.block_hash(height).await,
        }
    }

    async fn raw_header(&mut self, hash: BlockHash, height: u32) -> Result<Vec<u8>, ChainError> {
        match self {
            Session::Esplora(e) => e.raw_header(hash).await,
            Session::Electrum(c) => c.raw_header(height).await,
            Session::Bitcoind(b) => b.raw_header(hash).await,
        }
    }

    async fn raw_tx(&mut self, txid: Txid, block: BlockHash) -> Result<Vec<u8>, ChainError> {
        match self {
            Session::Esplora(e) => e.raw_tx(txid).await,
            Session::Electrum(c) => c.raw_tx(txid).await,
            Session::Bitcoind(b) => b.raw_tx(txid, block).await,
        }
    }

    async fn broadcast(&mut self, hex: String, txid: Txid) -> Result<String, ChainError> {
        match self {
            Session::Esplora(e) => e.broadcast(hex, txid).await,
            Session::Electrum(c) => c.broadcast(hex, txid).await,
            Session::Bitcoind(b) => b.broadcast(hex, txid).await,
        }
    }
}

impl ChainSource {
    /// Checks `config` and prepares the client. Does not connect: the first
    /// call does.
    pub fn new(config: &ChainConfig) -> Result<Self, ChainError> {
        config.validate()?;
        let timeout = config.timeout;
        let backend = match &config.backend {
            Backend::Esplora { url } => Inner::Esplora(Esplora::new(url, timeout)?),
            Backend::Electrum { address } => Inner::Electrum(Electrum::new(address, timeout)?),
            Backend::Bitcoind { url, auth } => {
                Inner::Bitcoind(Bitcoind::new(url, auth.clone(), timeout)?)
            }
        };
        Ok(ChainSource {
            backend,
            min_confirmations: config.min_confirmations,
            timeout,
        })
    }

    /// Confirmations a coin needs to be returned by [`ChainSource::funding`].
    pub fn min_confirmations(&self) -> u32 {
        self.min_confirmations
    }

    /// The configured wait per request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    async fn session(&self) -> Result<Session<'_>, ChainError> {
        Ok(match &self.backend {
            Inner::Esplora(e) => Session::Esplora(e),
            Inner::Electrum(e) => Session::Electrum(e.connect().await?),
            Inner::Bitcoind(b) => Session::Bitcoind(b),
        })
    }

    /// The height of the server's best block.
    pub async fn tip_height(&self) -> Result<u32, ChainError> {
        self.session().await?.tip_height().await
    }

    /// Checks that the server follows `network`'s chain (its block at height
    /// 0 is that network's genesis block).
    pub async fn check_network(&self, network: Network) -> Result<(), ChainError> {
        let mut session = self.session().await?;
        let expected =
            bdk_wallet::bitcoin::constants::genesis_block(network.to_bitcoin()).block_hash();
        let got = session.block_hash(0).await?;
        if got != expected {
            return Err(ChainError::WrongNetwork {
                backend: session.name(),
                network: network.as_str(),
                expected,
                got,
            });
        }
        Ok(())
    }

    /// Every unspent output paying one of `scripts` that has at least
    /// [`ChainSource::min_confirmations`] confirmations, with its parent
    /// transaction and confirming block, all checked: the transaction hashes
    /// to the txid listed, its output pays the script and value listed, the
    /// header hashes to the block hash, and no two answers contradict each
    /// other. Unconfirmed and too recent outputs are left out.
    pub async fn funding(&self, scripts: &[ScriptBuf]) -> Result<Vec<Funding>, ChainError> {
        let mut session = self.session().await?;
        let backend = session.name();
        let inconsistent = |detail: String| ChainError::InconsistentChain { backend, detail };
        let tip = session.tip_height().await?;
        let claims = session.unspent(scripts).await?;
        let mut blocks: HashMap<u32, FundingBlock> = HashMap::new();
        let mut heights: HashMap<BlockHash, u32> = HashMap::new();
        let mut txs: HashMap<Txid, (Arc<Transaction>, BlockHash)> = HashMap::new();
        let mut seen: HashSet<OutPoint> = HashSet::new();
        let mut out = Vec::new();
        for claim in claims {
            let Some(height) = claim.height else {
                continue;
            };
            // Confirmations = tip - height + 1; a block above the tip read
            // before the list has 0.
            if height > tip || tip - height + 1 < self.min_confirmations {
                continue;
            }
            if !seen.insert(claim.outpoint) {
                continue;
            }
            let script = scripts.get(claim.script_index).ok_or_else(|| {
                inconsistent(format!("{} pays none of the scripts", claim.outpoint))
            })?;
            let block = match blocks.get(&height) {
                Some(block) => {
                    if claim.block_hash.is_some_and(|h| h != block.hash) {
                        return Err(inconsistent(format!("two blocks at height {height}")));
                    }
                    *block
                }
                None => {
                    let hash = match claim.block_hash {
                        Some(hash) => hash,
                        None => session.block_hash(height).await?,
                    };
                    if let Some(other) = heights.insert(hash, height) {
                        return Err(inconsistent(format!(
                            "block {hash} at heights {other} and {height}"
                        )));
                    }
                    let raw = session.raw_header(hash, height).await?;
                    let header = verify::header(backend, hash, &raw)?;
                    let block = FundingBlock {
                        height,
                        hash,
                        time: u64::from(header.time),
                    };
                    blocks.insert(height, block);
                    block
                }
            };
            let txid = claim.outpoint.txid;
            let tx = match txs.get(&txid) {
                Some((tx, in_block)) => {
                    if *in_block != block.hash {
                        return Err(inconsistent(format!(
                            "transaction {txid} in blocks {in_block} and {}",
                            block.hash
                        )));
                    }
                    Arc::clone(tx)
                }
                None => {
                    let raw = session.raw_tx(txid, block.hash).await?;
                    let tx = Arc::new(verify::transaction(backend, txid, &raw)?);
                    txs.insert(txid, (Arc::clone(&tx), block.hash));
                    tx
                }
            };
            let txout = verify::output(backend, &tx, claim.outpoint, script, claim.value)?;
            out.push(Funding {
                outpoint: claim.outpoint,
                txout,
                tx,
                block,
            });
        }
        tracing::debug!(
            backend,
            scripts = scripts.len(),
            funding = out.len(),
            tip,
            "chain source listed funding"
        );
        Ok(out)
    }

    /// Sends a signed transaction to the network through the backend and
    /// returns its txid, which must be the one the backend answers. A
    /// refusal is [`ChainError::BroadcastRejected`] with the backend's
    /// reason (cut to [`crate::MAX_REASON_CHARS`] characters).
    pub async fn broadcast(&self, tx: &Transaction) -> Result<Txid, ChainError> {
        let txid = tx.compute_txid();
        let mut session = self.session().await?;
        let backend = session.name();
        let answer = session.broadcast(serialize_hex(tx), txid).await?;
        if answer.parse::<Txid>().ok() != Some(txid) {
            return Err(ChainError::BroadcastTxidMismatch {
                backend,
                expected: txid,
                got: reason(&answer),
            });
        }
        tracing::info!(backend, %txid, "transaction broadcast");
        Ok(txid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Backend;

    fn assert_send<T: Send>(_: &T) {}

    /// The futures can be spawned and awaited in axum handlers.
    #[test]
    fn futures_are_send() {
        for backend in [
            Backend::Esplora {
                url: "http://127.0.0.1:1".into(),
            },
            Backend::Electrum {
                address: "127.0.0.1:1".into(),
            },
        ] {
            let source = ChainSource::new(&ChainConfig::new(backend)).expect("valid");
            let tx = Transaction {
                version: bdk_wallet::bitcoin::transaction::Version::TWO,
                lock_time: bdk_wallet::bitcoin::absolute::LockTime::ZERO,
                input: Vec::new(),
                output: Vec::new(),
            };
            assert_send(&source.funding(&[]));
            assert_send(&source.broadcast(&tx));
            assert_send(&source.tip_height());
            assert_send(&source.check_network(Network::Regtest));
        }
    }
}
