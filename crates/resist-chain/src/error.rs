//! Everything that can go wrong between the treasury and a chain source, in
//! one type, so that the caller can tell "the server is down" from "the
//! server lies" from "bitcoind refused the payout".

use std::path::PathBuf;
use std::time::Duration;

use bdk_wallet::bitcoin::{BlockHash, OutPoint, Txid};
use resist_payout::PayoutError;

use crate::config::ConfigError;

/// Why a chain source call failed. `backend` is `esplora`, `electrum` or
/// `bitcoind`. Answers the server sends back (reasons, bodies) are cut to
/// [`crate::MAX_REASON_CHARS`] characters with control characters removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// No connection (refused, unreachable, DNS, TLS).
    #[error(
        "could not reach the {backend} chain source ({detail}); check that it runs and the url/address in [grants.chain]"
    )]
    Connect {
        /// Which backend.
        backend: &'static str,
        /// What the system said.
        detail: String,
    },

    /// No complete answer within the configured timeout.
    #[error(
        "the {backend} chain source did not answer {what} within {after:?}; check that it is reachable and synced, or raise timeout in [grants.chain]"
    )]
    Timeout {
        /// Which backend.
        backend: &'static str,
        /// The call.
        what: String,
        /// The timeout.
        after: Duration,
    },

    /// An answer over its size limit (read no further).
    #[error(
        "the {backend} chain source's answer to {what} is larger than {limit} bytes; refused (a broken or hostile server; use another)"
    )]
    TooLarge {
        /// Which backend.
        backend: &'static str,
        /// The call.
        what: String,
        /// The limit, in bytes.
        limit: usize,
    },

    /// More unspent outputs than [`crate::MAX_UTXOS`].
    #[error(
        "the {backend} chain source lists more than {limit} unspent outputs for the treasury; consolidate the treasury's coins (or the server is hostile)"
    )]
    TooManyUtxos {
        /// Which backend.
        backend: &'static str,
        /// The limit.
        limit: usize,
    },

    /// An answer that does not parse as what the protocol says.
    #[error("the {backend} chain source sent a malformed answer to {what}: {detail}")]
    Malformed {
        /// Which backend.
        backend: &'static str,
        /// The call.
        what: String,
        /// What is wrong with it.
        detail: String,
    },

    /// bitcoind answered HTTP 401.
    #[error(
        "bitcoind refused the credentials (HTTP 401); check cookie_file (bitcoind rewrites it at every start) or user/password in [grants.chain]"
    )]
    Unauthorized,

    /// An HTTP status other than success (and other than 401 from bitcoind).
    #[error("the {backend} chain source answered {what} with HTTP {status}: {body}")]
    Http {
        /// Which backend.
        backend: &'static str,
        /// The call.
        what: String,
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },

    /// A JSON-RPC error object (Electrum, bitcoind).
    #[error("the {backend} chain source answered {what} with error {code}: {message}")]
    Rpc {
        /// Which backend.
        backend: &'static str,
        /// The call.
        what: String,
        /// The error code (0 when the server sent none).
        code: i64,
        /// The server's message.
        message: String,
    },

    /// The transaction sent for a txid has another txid.
    #[error(
        "the {backend} chain source sent transaction {got} when asked for {requested}; it is broken or lying, use another server"
    )]
    TxidMismatch {
        /// Which backend.
        backend: &'static str,
        /// The txid asked for.
        requested: Txid,
        /// The txid of what came back.
        got: Txid,
    },

    /// A listed unspent output that its own transaction contradicts.
    #[error(
        "the {backend} chain source lists output {outpoint}, but {detail}; it is broken or lying, use another server"
    )]
    OutputMismatch {
        /// Which backend.
        backend: &'static str,
        /// The output.
        outpoint: OutPoint,
        /// What differs.
        detail: String,
    },

    /// A block header whose hash is not the block hash it was sent for.
    #[error(
        "the {backend} chain source sent a header hashing to {got} for block {claimed}; it is broken or lying, use another server"
    )]
    HeaderMismatch {
        /// Which backend.
        backend: &'static str,
        /// The block hash the header was asked for.
        claimed: BlockHash,
        /// The hash of the header that came back.
        got: BlockHash,
    },

    /// Answers that contradict each other (two hashes for one height, one
    /// transaction in two blocks…).
    #[error(
        "the {backend} chain source gave contradicting answers: {detail}; retry (the chain may have changed during the scan) or use another server"
    )]
    InconsistentChain {
        /// Which backend.
        backend: &'static str,
        /// What contradicts what.
        detail: String,
    },

    /// The server follows another chain than the treasury's network.
    #[error(
        "the {backend} chain source follows another chain: its genesis block is {got}, {network}'s is {expected}; point [grants.chain] at a {network} server"
    )]
    WrongNetwork {
        /// Which backend.
        backend: &'static str,
        /// The treasury's network.
        network: &'static str,
        /// That network's genesis block.
        expected: BlockHash,
        /// The server's.
        got: BlockHash,
    },

    /// The server refused to relay the transaction.
    #[error("the {backend} chain source refused transaction {txid}: {reason}")]
    BroadcastRejected {
        /// Which backend.
        backend: &'static str,
        /// The transaction.
        txid: Txid,
        /// The server's reason.
        reason: String,
    },

    /// The server accepted a broadcast but named another txid.
    #[error(
        "the {backend} chain source answered the broadcast of {expected} with {got:?}; look the txid up on a block explorer before sending again"
    )]
    BroadcastTxidMismatch {
        /// Which backend.
        backend: &'static str,
        /// The txid of the transaction sent.
        expected: Txid,
        /// What the server answered.
        got: String,
    },

    /// bitcoind's cookie file could not be read.
    #[error(
        "could not read the bitcoind cookie file {path}: {detail}; check cookie_file in [grants.chain] and that bitcoind runs (it writes the file at start)"
    )]
    CookieFile {
        /// The configured path.
        path: PathBuf,
        /// Why.
        detail: String,
    },

    /// `sync_treasury` was given a treasury that already holds transactions
    /// (it adds coins and could not drop spent ones).
    #[error(
        "sync_treasury needs a treasury that holds no transactions yet; make a new Treasury from the descriptors and sync that"
    )]
    TreasuryNotFresh,

    /// The gap-limit scan went past [`crate::MAX_SCAN_INDEX`].
    #[error(
        "the scan of the {keychain} keychain passed index {limit} and was stopped; the server lists funds at nearly every index, which no treasury does"
    )]
    ScanTooDeep {
        /// `external` or `internal`.
        keychain: &'static str,
        /// The limit.
        limit: u32,
    },

    /// The treasury refused the funding (it did not connect to its chain).
    #[error("the treasury refused the funding: {0}")]
    Treasury(#[from] PayoutError),
}

/// Most characters of a server's text kept in an error.
pub const MAX_REASON_CHARS: usize = 300;

/// A server's text, fit for an error message: control characters replaced,
/// cut to [`MAX_REASON_CHARS`].
pub(crate) fn reason(text: &str) -> String {
    let mut out: String = text
        .trim()
        .chars()
        .take(MAX_REASON_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.trim().chars().nth(MAX_REASON_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_is_cut_and_cleaned() {
        assert_eq!(reason("  bad-txns\r\n"), "bad-txns");
        assert_eq!(reason("a\u{1b}[31mb"), "a [31mb");
        let long = "x".repeat(1000);
        let r = reason(&long);
        assert_eq!(r.chars().count(), MAX_REASON_CHARS + 1);
        assert!(r.ends_with('…'));
    }
}
