//! Where the treasury's coins are seen and where signed payouts go: the
//! coordinator's one door to the Bitcoin network, as a trait so that the
//! chain source chosen in the configuration (and, in tests, injected
//! funding) plug in the same way.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use resist_grants::payout::Treasury;
use resist_grants::payout::bitcoin::{Transaction, Txid};

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
