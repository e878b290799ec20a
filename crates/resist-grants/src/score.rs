//! The scoring function: inputs → points → satoshis. One function, used both
//! to close an epoch and to recompute a published report.
//!
//! Every step is integer arithmetic on exact values (`u128`, and a 256-bit
//! intermediate for `floor(a × b / c)`), in an order fixed by ids, so the same
//! inputs give the same result byte for byte on any machine. The README states
//! each rule as a reader would recompute it.

use std::collections::BTreeMap;

use crate::arith::mul_div_floor;
use crate::capacity::{capacity_permille, median};
use crate::diversity::Prefix;
use crate::error::ScoringError;
use crate::inputs::{
    BPS_WHOLE, EpochInputs, MAX_MONEY_SAT, NodeInput, OperatorInput, ScoringParams,
};
use crate::result::{EpochResult, GroupResult, NodeResult, OperatorResult, UnitResult};

/// Scores one epoch.
///
/// # Errors
///
/// A [`ScoringError`] naming the first rule the inputs break (checked in a
/// fixed order, so input order does not change which); nothing is computed.
pub fn score(inputs: &EpochInputs) -> Result<EpochResult, ScoringError> {
    let params = &inputs.params;
    validate_params(params)?;
    if inputs.budget_sat > MAX_MONEY_SAT {
        return Err(ScoringError::BudgetTooLarge {
            budget_sat: inputs.budget_sat,
        });
    }
    let operators = sorted_operators(&inputs.operators, inputs.budget_sat)?;
    let nodes = sorted_nodes(&inputs.nodes, &operators)?;

    let scored: Vec<ScoredNode<'_>> = nodes.iter().map(|n| ScoredNode::new(n, params)).collect();
    let groups = share_groups(&scored)?;

    // Node points: each unit's points go to its best node.
    let mut node_points: BTreeMap<i64, u64> = BTreeMap::new();
    let mut operator_points: BTreeMap<i64, u128> = BTreeMap::new();
    for group in &groups {
        for unit in &group.units {
            node_points.insert(unit.best_node, unit.points);
            let sum = operator_points.entry(unit.operator).or_insert(0);
            *sum = sum
                .checked_add(u128::from(unit.points))
                .ok_or(bug("operator points"))?;
        }
    }
    let group_sizes: BTreeMap<Prefix, u64> =
        groups.iter().map(|g| (g.prefix, g.node_count)).collect();
    let per_node = scored
        .iter()
        .map(|s| NodeResult {
            node: s.input.node,
            operator: s.input.operator,
            group: s.prefix.to_string(),
            group_size: group_sizes.get(&s.prefix).copied().unwrap_or(0),
            median_bps: s.median,
            capacity_permille: s.capacity_permille,
            weight: s.weight,
            points: node_points.get(&s.input.node).copied().unwrap_or(0),
        })
        .collect();

    let points: Vec<u128> = operators
        .iter()
        .map(|o| operator_points.get(&o.operator).copied().unwrap_or(0))
        .collect();
    let total_points = points
        .iter()
        .try_fold(0u128, |acc, p| acc.checked_add(*p))
        .ok_or(bug("total points"))?;
    let cap_sat = u64::try_from(
        u128::from(inputs.budget_sat) * u128::from(params.operator_cap_bps) / u128::from(BPS_WHOLE),
    )
    .map_err(|_| bug("cap"))?;
    let capping = params.operator_cap_bps < BPS_WHOLE;
    let allocation = water_fill(inputs.budget_sat, cap_sat, capping, &points)?;

    let mut per_operator = Vec::with_capacity(operators.len());
    for ((op, amount), capped) in operators
        .iter()
        .zip(&allocation.amounts)
        .zip(&allocation.capped)
    {
        let due = amount
            .checked_add(op.credit_sat)
            .ok_or(bug("amount plus credit"))?;
        let threshold = params.payout_threshold_sat(op.address_type);
        let (paid_sat, carried_out_sat) = if due >= threshold { (due, 0) } else { (0, due) };
        per_operator.push(OperatorResult {
            operator: op.operator,
            payout_address: op.payout_address.clone(),
            points: operator_points.get(&op.operator).copied().unwrap_or(0),
            amount_sat: *amount,
            capped: *capped,
            credit_in_sat: op.credit_sat,
            payout_threshold_sat: threshold,
            paid_sat,
            carried_out_sat,
        });
    }
    let sum = |f: fn(&OperatorResult) -> u64| -> Result<u64, ScoringError> {
        per_operator
            .iter()
            .try_fold(0u64, |acc, o| acc.checked_add(f(o)))
            .ok_or(bug("totals"))
    };

    Ok(EpochResult {
        total_points,
        cap_sat,
        remainder_sat: allocation.remainder,
        credit_in_total_sat: sum(|o| o.credit_in_sat)?,
        paid_total_sat: sum(|o| o.paid_sat)?,
        carried_out_total_sat: sum(|o| o.carried_out_sat)?,
        per_node,
        per_group: groups.into_iter().map(Group::into_result).collect(),
        per_operator,
    })
}

fn bug(what: &'static str) -> ScoringError {
    ScoringError::Bug { what }
}

fn validate_params(params: &ScoringParams) -> Result<(), ScoringError> {
    if params.capacity_target_bps == 0 {
        return Err(ScoringError::ZeroCapacityTarget);
    }
    if params.capacity_min_permille > params.capacity_max_permille {
        return Err(ScoringError::CapacityBoundsInverted {
            min_permille: params.capacity_min_permille,
            max_permille: params.capacity_max_permille,
        });
    }
    if params.operator_cap_bps == 0 || params.operator_cap_bps > BPS_WHOLE {
        return Err(ScoringError::OperatorCapOutOfRange {
            operator_cap_bps: params.operator_cap_bps,
        });
    }
    Ok(())
}

/// Operators by id, checked: unique ids, an address, credits within 21 M BTC.
fn sorted_operators(
    operators: &[OperatorInput],
    budget_sat: u64,
) -> Result<Vec<&OperatorInput>, ScoringError> {
    let mut sorted: Vec<&OperatorInput> = operators.iter().collect();
    sorted.sort_by_key(|o| o.operator);
    if let Some(pair) = sorted.windows(2).find(|w| w[0].operator == w[1].operator) {
        return Err(ScoringError::DuplicateOperator {
            operator: pair[0].operator,
        });
    }
    let mut total = u128::from(budget_sat);
    for op in &sorted {
        if op.payout_address.trim().is_empty() {
            return Err(ScoringError::MissingPayoutAddress {
                operator: op.operator,
            });
        }
        if op.credit_sat > MAX_MONEY_SAT {
            return Err(ScoringError::CreditTooLarge {
                operator: op.operator,
                credit_sat: op.credit_sat,
            });
        }
        // At most 2^64 operators of at most 2^51 each: no overflow.
        total = total.saturating_add(u128::from(op.credit_sat));
    }
    if total > u128::from(MAX_MONEY_SAT) {
        return Err(ScoringError::TotalTooLarge { total_sat: total });
    }
    Ok(sorted)
}

/// Nodes by id, checked: unique ids, each of a listed operator.
fn sorted_nodes<'a>(
    nodes: &'a [NodeInput],
    operators: &[&OperatorInput],
) -> Result<Vec<&'a NodeInput>, ScoringError> {
    let mut sorted: Vec<&NodeInput> = nodes.iter().collect();
    sorted.sort_by_key(|n| n.node);
    if let Some(pair) = sorted.windows(2).find(|w| w[0].node == w[1].node) {
        return Err(ScoringError::DuplicateNode { node: pair[0].node });
    }
    for node in &sorted {
        if operators
            .binary_search_by_key(&node.operator, |o| o.operator)
            .is_err()
        {
            return Err(ScoringError::UnknownOperator {
                node: node.node,
                operator: node.operator,
            });
        }
    }
    Ok(sorted)
}

/// A node with its capacity factor and weight worked out.
struct ScoredNode<'a> {
    input: &'a NodeInput,
    prefix: Prefix,
    median: Option<u64>,
    capacity_permille: u32,
    /// `ok_windows × capacity_permille`: below 2^64 since both are u32.
    weight: u64,
}

impl<'a> ScoredNode<'a> {
    fn new(input: &'a NodeInput, params: &ScoringParams) -> Self {
        let median = median(&input.throughput_samples_bps);
        let capacity_permille = capacity_permille(median, params);
        ScoredNode {
            input,
            prefix: Prefix::of(input.ip),
            median,
            capacity_permille,
            weight: u64::from(input.ok_windows) * u64::from(capacity_permille),
        }
    }
}

/// One group while it is being shared out.
struct Group {
    prefix: Prefix,
    node_count: u64,
    total_weight: u128,
    units: Vec<UnitResult>,
}

impl Group {
    fn into_result(self) -> GroupResult {
        GroupResult {
            group: self.prefix.to_string(),
            node_count: self.node_count,
            total_weight: self.total_weight,
            units: self.units,
        }
    }
}

/// Groups by prefix; in each, one unit per operator (its best node), and the
/// unit points `floor(U² / S)`.
fn share_groups(scored: &[ScoredNode<'_>]) -> Result<Vec<Group>, ScoringError> {
    /// Operator → (its best node, that node's weight).
    type Units = BTreeMap<i64, (i64, u64)>;
    // prefix → (node count, units). `scored` is in node-id order, so keeping
    // the first of equal weights keeps the lowest id.
    let mut by_prefix: BTreeMap<Prefix, (u64, Units)> = BTreeMap::new();
    for s in scored {
        let (count, units) = by_prefix.entry(s.prefix).or_default();
        *count = count.checked_add(1).ok_or(bug("group size"))?;
        let best = units
            .entry(s.input.operator)
            .or_insert((s.input.node, s.weight));
        if s.weight > best.1 {
            *best = (s.input.node, s.weight);
        }
    }
    let mut groups = Vec::with_capacity(by_prefix.len());
    for (prefix, (node_count, units)) in by_prefix {
        let total_weight = units
            .values()
            .try_fold(0u128, |acc, (_, w)| acc.checked_add(u128::from(*w)))
            .ok_or(bug("group weight"))?;
        let mut results = Vec::with_capacity(units.len());
        for (operator, (best_node, weight)) in units {
            // U < 2^64, so U² < 2^128; U² / S ≤ U as S ≥ U; 0 when S = 0.
            let w = u128::from(weight);
            let points = u64::try_from((w * w).checked_div(total_weight).unwrap_or(0))
                .map_err(|_| bug("unit points"))?;
            results.push(UnitResult {
                operator,
                best_node,
                weight,
                points,
            });
        }
        groups.push(Group {
            prefix,
            node_count,
            total_weight,
            units: results,
        });
    }
    Ok(groups)
}

/// The budget split by points under the cap.
struct Allocation {
    /// Per operator, in the order of the `points` given.
    amounts: Vec<u64>,
    capped: Vec<bool>,
    remainder: u64,
}

/// Water-filling in rounds. Active: operators with points. Each round, with
/// `R` the budget not yet given to capped operators and `T` the active points,
/// every active operator whose `floor(R × p / T)` reaches the cap gets the cap
/// and leaves. A round that caps no one gives everyone `floor(R × p / T)` and
/// ends; so does running out of active operators. With `cap_bps = 10 000`
/// there is no cap: one round, no one capped (the amounts are the same as with
/// the rule; only the flag differs).
///
/// "Reaches" (≥) rather than "exceeds" (>) matters: `floor(R·p/T) ≥ cap` is
/// exactly `R·p ≥ cap·T`, so who is capped does not depend on rounding, the
/// rounds find the exact water level `λ = R/T` of the last round, and every
/// amount is `min(cap, floor(λ·p))`, which never falls when an operator's
/// points rise and the others' do not. With ">", budget 4, cap 2 and points
/// (1, 3) pay (2, 2), but points (2, 3) pay (1, 2).
///
/// Within a round the tentative amount grows with `p`, so the operators a round
/// caps are the ones with the most points: we walk them in that order.
fn water_fill(
    budget: u64,
    cap: u64,
    capping: bool,
    points: &[u128],
) -> Result<Allocation, ScoringError> {
    let mut amounts = vec![0u64; points.len()];
    let mut capped = vec![false; points.len()];
    let mut order: Vec<usize> = (0..points.len())
        .filter(|&i| points.get(i).is_some_and(|p| *p > 0))
        .collect();
    // Most points first; ties by position, which is operator-id order.
    order.sort_by(|&a, &b| points.get(b).cmp(&points.get(a)).then(a.cmp(&b)));
    let point = |i: usize| points.get(i).copied().unwrap_or(0);

    let mut left = u128::from(budget);
    let mut active_points = order
        .iter()
        .try_fold(0u128, |acc, &i| acc.checked_add(point(i)))
        .ok_or(bug("active points"))?;
    let mut start = 0;
    while start < order.len() {
        // R and T are fixed for the whole round.
        let (round_left, round_points) = (left, active_points);
        let tentative = move |i: usize| {
            mul_div_floor(round_left, point(i), round_points).ok_or(bug("tentative amount"))
        };
        let mut end = start;
        while let Some(&i) = order.get(end) {
            if !capping || tentative(i)? < u128::from(cap) {
                break;
            }
            end += 1;
        }
        if end == start {
            for &i in order.get(start..).unwrap_or(&[]) {
                let amount = tentative(i)?;
                left = left.checked_sub(amount).ok_or(bug("budget left"))?;
                *amounts.get_mut(i).ok_or(bug("index"))? =
                    u64::try_from(amount).map_err(|_| bug("amount"))?;
            }
            break;
        }
        for &i in order.get(start..end).unwrap_or(&[]) {
            left = left
                .checked_sub(u128::from(cap))
                .ok_or(bug("budget left after cap"))?;
            active_points = active_points
                .checked_sub(point(i))
                .ok_or(bug("active points"))?;
            *amounts.get_mut(i).ok_or(bug("index"))? = cap;
            *capped.get_mut(i).ok_or(bug("index"))? = true;
        }
        start = end;
    }
    Ok(Allocation {
        amounts,
        capped,
        remainder: u64::try_from(left).map_err(|_| bug("remainder"))?,
    })
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn water_fill_rounds() {
        // Budget 1000, cap 300; points 6, 3, 1 (T = 10).
        // Round 1: 600, 300, 100 → 600 and 300 reach 300: ops 0 and 1 capped; R = 400, T = 1.
        // Round 2: 400×1/1 = 400 ≥ 300: op 2 capped; R = 100, nobody left.
        let a = water_fill(1000, 300, true, &[6, 3, 1]).unwrap();
        assert_eq!(a.amounts, vec![300, 300, 300]);
        assert_eq!(a.capped, vec![true, true, true]);
        assert_eq!(a.remainder, 100);

        // Budget 1000, cap 500; points 8, 1, 1 (T = 10).
        // Round 1: 800 ≥ 500 capped; R = 500, T = 2. Round 2: 250, 250, none capped.
        let a = water_fill(1000, 500, true, &[1, 8, 1]).unwrap();
        assert_eq!(a.amounts, vec![250, 500, 250]);
        assert_eq!(a.capped, vec![false, true, false]);
        assert_eq!(a.remainder, 0);

        // No points: all to the remainder.
        let a = water_fill(1000, 500, true, &[0, 0]).unwrap();
        assert_eq!(a.amounts, vec![0, 0]);
        assert_eq!(a.remainder, 1000);

        // The counterexample to ">": budget 4, cap 2.
        // Points (1, 3): round 1 tentatives 1, 3 → op 1 capped; R 2, T 1: 2 ≥ 2 → capped.
        let a = water_fill(4, 2, true, &[1, 3]).unwrap();
        assert_eq!(a.amounts, vec![2, 2]);
        // Points (2, 3): tentatives floor(8/5) = 1, floor(12/5) = 2 ≥ 2 → op 1 capped;
        // R 2, T 2: 2 ≥ 2 → op 0 capped. Still (2, 2); with ">" it would be (1, 2).
        let a = water_fill(4, 2, true, &[2, 3]).unwrap();
        assert_eq!(a.amounts, vec![2, 2]);
        assert_eq!(a.capped, vec![true, true]);

        // No cap (10 000 bps): a sole earner gets the budget, not flagged.
        let a = water_fill(1000, 1000, false, &[0, 5]).unwrap();
        assert_eq!(a.amounts, vec![0, 1000]);
        assert_eq!(a.capped, vec![false, false]);
    }
}
