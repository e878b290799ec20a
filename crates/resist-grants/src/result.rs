//! What scoring computes from an epoch's inputs: points per node, group and
//! operator, and satoshis per operator. Published in the report next to the
//! inputs; [`crate::verify`] recomputes every field.

use serde::{Deserialize, Serialize};

/// The scored epoch. Every list is in a fixed order: nodes and operators by
/// id, groups IPv4 before IPv6 and then by prefix, units in a group by operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochResult {
    /// Σ operator points.
    pub total_points: u128,
    /// The most one operator can receive from this budget:
    /// `floor(budget_sat × operator_cap_bps / 10 000)`.
    pub cap_sat: u64,
    /// `budget_sat − Σ amount_sat`: floors, the excess of capped operators
    /// that no uncapped operator could take, or the whole budget when no one
    /// earned points. Owed to no one; it stays in the treasury.
    pub remainder_sat: u64,
    /// Σ `credit_in_sat`.
    pub credit_in_total_sat: u64,
    /// Σ `paid_sat`: what this epoch's transaction pays.
    pub paid_total_sat: u64,
    /// Σ `carried_out_sat`: the next epoch's credits.
    pub carried_out_total_sat: u64,
    /// One entry per node.
    pub per_node: Vec<NodeResult>,
    /// One entry per diversity group (IPv4 /24 or IPv6 /48).
    pub per_group: Vec<GroupResult>,
    /// One entry per operator.
    pub per_operator: Vec<OperatorResult>,
}

/// How one node scored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeResult {
    /// The node.
    pub node: i64,
    /// Its operator.
    pub operator: i64,
    /// Its diversity group, `a.b.c.0/24` or `x:y:z::/48`.
    pub group: String,
    /// Nodes in that group, of every operator.
    pub group_size: u64,
    /// Median throughput of its samples (bits/s); `null` without samples.
    pub median_bps: Option<u64>,
    /// `clamp(floor(median × 1000 / target), min, max)`, or min without samples.
    pub capacity_permille: u32,
    /// `ok_windows × capacity_permille`.
    pub weight: u64,
    /// The points of its operator's unit in the group if this is the unit's
    /// best node, else 0 (a second node in the same subnet earns nothing more).
    pub points: u64,
}

/// One diversity group and how its one weight was shared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupResult {
    /// `a.b.c.0/24` or `x:y:z::/48`.
    pub group: String,
    /// Nodes in the group, of every operator.
    pub node_count: u64,
    /// Σ unit weights (`S`).
    pub total_weight: u128,
    /// One unit per operator with nodes in the group.
    pub units: Vec<UnitResult>,
}

/// One operator's presence in one group: counted as its best node there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitResult {
    /// The operator.
    pub operator: i64,
    /// Its node with the highest weight in the group (the lowest id on a tie).
    pub best_node: i64,
    /// That node's weight (`U`).
    pub weight: u64,
    /// `floor(U² / S)`, 0 when `S` is 0.
    pub points: u64,
}

/// What one operator earned and is paid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorResult {
    /// The operator.
    pub operator: i64,
    /// Where `paid_sat` goes (copied from the inputs).
    pub payout_address: String,
    /// Σ points of its units.
    pub points: u128,
    /// Its share of this epoch's budget after the cap, before carry-over.
    pub amount_sat: u64,
    /// Whether `amount_sat` was set to the cap.
    pub capped: bool,
    /// Credit carried in from the previous epoch.
    pub credit_in_sat: u64,
    /// `max(payout_minimum_sat, dust limit of its address type)`.
    pub payout_threshold_sat: u64,
    /// `amount_sat + credit_in_sat` if that reaches the threshold, else 0.
    pub paid_sat: u64,
    /// `amount_sat + credit_in_sat` if that is below the threshold, else 0.
    pub carried_out_sat: u64,
}

impl EpochResult {
    /// The payments of this epoch: `(operator, payout address, satoshis)` for
    /// every operator paid, by operator id.
    pub fn payouts(&self) -> impl Iterator<Item = (i64, &str, u64)> + '_ {
        self.per_operator
            .iter()
            .filter(|o| o.paid_sat > 0)
            .map(|o| (o.operator, o.payout_address.as_str(), o.paid_sat))
    }
}
