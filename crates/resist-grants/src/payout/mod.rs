//! The payout half of the grants: a watch-only treasury, one batched
//! unsigned PSBT per epoch (split by weight when needed), and the checks on
//! the signed result. Pure: no network, no clock, no files; the chain source
//! and the storage of PSBTs are the caller's. See the crate README,
//! "Payout". The bitcoin types (through `bdk_wallet::bitcoin`) are used only
//! here: the scoring does not depend on this module.

mod build;
mod check;
mod error;
mod treasury;

pub use build::{
    BATCH_WEIGHT_LIMIT, MAX_STANDARD_TX_WEIGHT, Payee, PayoutBatch, build_payout_psbt,
    psbt_from_base64, psbt_from_bytes,
};
pub use check::{CheckedPayout, check_signed, verify_scripts};
pub use error::PayoutError;
pub use treasury::{FundingBlock, Treasury};

/// The rust-bitcoin version the payout types use (BDK's), for callers that
/// handle transactions and txids without depending on it themselves.
pub use bdk_wallet::bitcoin;
