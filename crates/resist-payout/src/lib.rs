#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

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
