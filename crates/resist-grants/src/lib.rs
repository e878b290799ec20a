#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

mod arith;
mod capacity;
mod diversity;
mod error;
mod inputs;
mod range;
mod report;
mod result;
mod score;

pub use error::ScoringError;
pub use inputs::{
    AddressType, BPS_WHOLE, EpochInputs, MAX_MONEY_SAT, NodeInput, OperatorInput, ScoringParams,
};
pub use range::{EpochRange, RangeError, RangeRequest, RangeRules};
pub use report::{FORMAT_VERSION, Mismatch, Report, ReportError, Subject, Verification, verify};
pub use result::{EpochResult, GroupResult, NodeResult, OperatorResult, UnitResult};
pub use score::score;
