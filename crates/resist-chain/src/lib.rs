#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

mod bitcoind;
mod config;
mod electrum;
mod error;
mod esplora;
mod http;
mod source;
mod sync;
mod verify;

pub use config::{
    Backend, ChainConfig, ConfigError, CoreAuth, DEFAULT_BITCOIND_TIMEOUT, DEFAULT_GAP_LIMIT,
    DEFAULT_MIN_CONFIRMATIONS, DEFAULT_TIMEOUT, MAX_GAP_LIMIT, MAX_MIN_CONFIRMATIONS, MAX_TIMEOUT,
    Secret,
};
pub use error::{ChainError, MAX_REASON_CHARS};
pub use source::{ChainSource, Funding};
pub use sync::{SyncSummary, sync_treasury};

/// Most unspent outputs accepted for one lookup or one sync.
pub const MAX_UTXOS: usize = 10_000;
/// Largest raw transaction accepted (4 MiB, above the 4 MWU block limit).
/// Answers carrying it in hex may be twice this plus [`MAX_SMALL_BYTES`].
pub const MAX_TX_BYTES: usize = 4 * 1024 * 1024;
/// Largest answer listing unspent outputs (16 MiB).
pub const MAX_LIST_BYTES: usize = 16 * 1024 * 1024;
/// Largest answer for the small calls: tip, block hash, header, broadcast
/// (64 KiB).
pub const MAX_SMALL_BYTES: usize = 64 * 1024;
/// Highest derivation index a gap-limit scan goes to.
pub const MAX_SCAN_INDEX: u32 = 100_000;
