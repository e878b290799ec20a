//! The inputs of one epoch: exactly what a published report carries, so that
//! anyone can feed them back into [`crate::score`].
//!
//! These types are the report format (with `format_version` in
//! [`crate::Report`]): field names are stable and unknown fields are refused.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The most satoshis that can ever exist (21 million BTC). Budgets and credits
/// above it are refused: they are unit mistakes, not money. It also keeps every
/// amount below 2^53, so JSON readers that use doubles read amounts exactly.
pub const MAX_MONEY_SAT: u64 = 2_100_000_000_000_000;

/// Basis points in a whole: a cap of 10 000 bps is the whole budget.
pub const BPS_WHOLE: u32 = 10_000;

/// Everything one epoch's payout is computed from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochInputs {
    /// The epoch's number. Carried through; it does not enter the arithmetic.
    pub epoch: u64,
    /// Satoshis the funder grants for this epoch (credits carried in come on
    /// top). At most [`MAX_MONEY_SAT`].
    pub budget_sat: u64,
    /// The scoring rules in force for this epoch.
    pub params: ScoringParams,
    /// Every operator that has nodes in the epoch or a credit carried in.
    pub operators: Vec<OperatorInput>,
    /// Every node measured in the epoch.
    pub nodes: Vec<NodeInput>,
}

/// The configured scoring rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringParams {
    /// Throughput (bits per second) that earns a capacity factor of 1000 ‰.
    /// Must be above zero.
    pub capacity_target_bps: u64,
    /// Lowest capacity factor, in permille; also the factor of a node without
    /// throughput samples. May be 0.
    pub capacity_min_permille: u32,
    /// Highest capacity factor, in permille. At least `capacity_min_permille`.
    pub capacity_max_permille: u32,
    /// Most one operator may receive from this epoch's budget, in basis points
    /// of the budget: 1..=10 000.
    pub operator_cap_bps: u32,
    /// Smallest payment made; smaller sums carry over. The dust limit of the
    /// operator's address type applies when it is higher.
    pub payout_minimum_sat: u64,
}

/// One operator: who gets paid, where, and what is owed from earlier epochs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorInput {
    /// The operator's id (unique in the epoch).
    pub operator: i64,
    /// The registered payout address (checked at registration; carried through
    /// here and not parsed). Must not be empty.
    pub payout_address: String,
    /// The address's type, which sets its dust limit.
    pub address_type: AddressType,
    /// Satoshis carried in from the previous epoch (its `carried_out_sat`).
    pub credit_sat: u64,
}

/// One node and what the epoch measured of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeInput {
    /// The node's id (unique in the epoch).
    pub node: i64,
    /// The operator the node belongs to; must be listed in `operators`.
    pub operator: i64,
    /// The node's address, for diversity grouping (a host name is resolved by
    /// the caller before scoring, and the address used is published).
    pub ip: IpAddr,
    /// Windows of the epoch in which the node was OK (served censored users).
    pub ok_windows: u32,
    /// Throughput measurements of the epoch, bits per second, in any order.
    pub throughput_samples_bps: Vec<u64>,
}

/// The type of a payout address, for its dust limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressType {
    /// Pay to public key hash (`1…`); dust limit 546 sat.
    P2pkh,
    /// Pay to script hash (`3…`); dust limit 540 sat.
    P2sh,
    /// Segwit v0 key hash (`bc1q…`, 42 characters); dust limit 294 sat.
    P2wpkh,
    /// Segwit v0 script hash (`bc1q…`, 62 characters); dust limit 330 sat.
    P2wsh,
    /// Taproot (`bc1p…`); dust limit 330 sat.
    P2tr,
}

impl AddressType {
    /// Bitcoin Core's dust limit for an output of this type at the default
    /// dust relay fee (3 sat/vB), in satoshis: what rust-bitcoin's
    /// `ScriptBuf::minimal_non_dust()` gives.
    pub fn dust_limit_sat(self) -> u64 {
        match self {
            AddressType::P2pkh => 546,
            AddressType::P2sh => 540,
            AddressType::P2wpkh => 294,
            AddressType::P2wsh | AddressType::P2tr => 330,
        }
    }

    /// Stable lower-case name, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressType::P2pkh => "p2pkh",
            AddressType::P2sh => "p2sh",
            AddressType::P2wpkh => "p2wpkh",
            AddressType::P2wsh => "p2wsh",
            AddressType::P2tr => "p2tr",
        }
    }
}

impl ScoringParams {
    /// The smallest sum paid to an operator with this address type:
    /// `max(payout_minimum_sat, dust limit)`.
    pub fn payout_threshold_sat(&self, address_type: AddressType) -> u64 {
        self.payout_minimum_sat.max(address_type.dust_limit_sat())
    }
}
