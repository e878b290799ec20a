//! Where the treasury's coins are seen and where signed payouts go: the
//! coordinator's one door to the Bitcoin network, as a trait so that the
//! chain source chosen in the configuration (and, in tests, injected
//! funding) plug in the same way.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use resist_payout::Treasury;
use resist_payout::bitcoin::{Transaction, Txid};

/// A boxed future, so that the trait can be used as `dyn ChainAccess`.
pub type ChainFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// A chain source for the treasury.
pub trait ChainAccess: Send + Sync + fmt::Debug + 'static {
    /// Loads the treasury's confirmed unspent coins into `treasury` (fresh,
    /// watch-only, made from the configured descriptors). The error is a
    /// message for the funder: what failed and what to check.
    fn sync<'a>(&'a self, treasury: &'a mut Treasury) -> ChainFuture<'a, ()>;

    /// Hands a signed payout to the network; a transaction the network
    /// already has counts as sent. Returns its txid.
    fn broadcast<'a>(&'a self, tx: &'a Transaction) -> ChainFuture<'a, Txid>;
}

/// The chain source of the configuration (`[payout.chain]`).
#[derive(Debug)]
pub struct ConfiguredChain {
    source: resist_chain::ChainSource,
    gap_limit: u32,
}

impl ConfiguredChain {
    /// The source `config` describes (no I/O yet).
    pub fn new(config: &resist_chain::ChainConfig) -> Result<Self, resist_chain::ChainError> {
        Ok(ConfiguredChain {
            source: resist_chain::ChainSource::new(config)?,
            gap_limit: config.gap_limit,
        })
    }
}

impl ChainAccess for ConfiguredChain {
    fn sync<'a>(&'a self, treasury: &'a mut Treasury) -> ChainFuture<'a, ()> {
        Box::pin(async move {
            resist_chain::sync_treasury(treasury, &self.source, self.gap_limit)
                .await
                .map(|summary| {
                    tracing::info!(
                        utxos = summary.utxos,
                        total_sat = summary.total.to_sat(),
                        "treasury read from the chain source"
                    );
                })
                .map_err(|e| e.to_string())
        })
    }

    fn broadcast<'a>(&'a self, tx: &'a Transaction) -> ChainFuture<'a, Txid> {
        Box::pin(async move { self.source.broadcast(tx).await.map_err(|e| e.to_string()) })
    }
}
