//! Why an epoch cannot be scored. Every variant names the offending item, so
//! the funder (or a reader of a published report) knows what to fix.

use crate::inputs::{BPS_WHOLE, MAX_MONEY_SAT};

/// The inputs break a rule of the format; nothing was computed.
///
/// Checks run in a fixed order (parameters, budget, operators by id, nodes by
/// id), so the same inputs in any order give the same error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScoringError {
    /// `capacity_target_bps` is 0, so no throughput could be compared with it.
    /// Configure the throughput that should earn a factor of 1000 ‰.
    #[error(
        "capacity_target_bps is 0: set the throughput (bits/s) that earns a factor of 1000 permille"
    )]
    ZeroCapacityTarget,

    /// `capacity_min_permille` is above `capacity_max_permille`. Swap or fix them.
    #[error(
        "capacity_min_permille ({min_permille}) is above capacity_max_permille ({max_permille})"
    )]
    CapacityBoundsInverted {
        /// The configured minimum.
        min_permille: u32,
        /// The configured maximum.
        max_permille: u32,
    },

    /// `operator_cap_bps` is 0 (nobody could be paid) or above 10 000 (more
    /// than the whole budget). Use 1..=10 000; 10 000 means no cap.
    #[error("operator_cap_bps is {operator_cap_bps}: use 1..={BPS_WHOLE} (10000 means no cap)")]
    OperatorCapOutOfRange {
        /// The configured cap.
        operator_cap_bps: u32,
    },

    /// The budget is above the 21 million BTC that can ever exist: almost
    /// certainly a unit mistake (BTC vs sat, msat).
    #[error(
        "budget_sat {budget_sat} is above {MAX_MONEY_SAT} (21 million BTC): is the unit satoshis?"
    )]
    BudgetTooLarge {
        /// The budget given.
        budget_sat: u64,
    },

    /// Two operators share an id. The caller's join produced duplicates.
    #[error("operator {operator} is listed more than once")]
    DuplicateOperator {
        /// The repeated id (the smallest one, if several repeat).
        operator: i64,
    },

    /// An operator has an empty payout address; it could never be paid.
    #[error("operator {operator} has no payout address")]
    MissingPayoutAddress {
        /// The operator.
        operator: i64,
    },

    /// One operator's carried-in credit is above 21 million BTC.
    #[error(
        "operator {operator} carries in {credit_sat} sat, above {MAX_MONEY_SAT} (21 million BTC)"
    )]
    CreditTooLarge {
        /// The operator.
        operator: i64,
        /// The credit given.
        credit_sat: u64,
    },

    /// The budget plus all credits carried in is above 21 million BTC, so no
    /// treasury could fund the epoch.
    #[error("budget plus credits is {total_sat} sat, above {MAX_MONEY_SAT} (21 million BTC)")]
    TotalTooLarge {
        /// `budget_sat + Σ credit_sat`.
        total_sat: u128,
    },

    /// Two nodes share an id.
    #[error("node {node} is listed more than once")]
    DuplicateNode {
        /// The repeated id (the smallest one, if several repeat).
        node: i64,
    },

    /// A node belongs to an operator that is not in `operators`. Include the
    /// operator (with its payout address) or drop the node.
    #[error("node {node} belongs to operator {operator}, which is not listed")]
    UnknownOperator {
        /// The node.
        node: i64,
        /// Its operator id.
        operator: i64,
    },

    /// An internal arithmetic invariant did not hold. This is a bug in this
    /// crate, never a property of the inputs: please report it with the inputs.
    #[error("internal error in grant scoring ({what}): please report this with the epoch's inputs")]
    Bug {
        /// Which invariant.
        what: &'static str,
    },
}
