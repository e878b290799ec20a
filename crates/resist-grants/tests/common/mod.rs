//! Builders and the invariant checks shared by the table and property tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use resist_grants::{
    AddressType, EpochInputs, EpochResult, NodeInput, OperatorInput, ScoringParams,
};

pub(crate) fn params(target: u64, min: u32, max: u32, cap_bps: u32, minimum: u64) -> ScoringParams {
    ScoringParams {
        capacity_target_bps: target,
        capacity_min_permille: min,
        capacity_max_permille: max,
        operator_cap_bps: cap_bps,
        payout_minimum_sat: minimum,
    }
}

pub(crate) fn op(operator: i64, address_type: AddressType, credit_sat: u64) -> OperatorInput {
    OperatorInput {
        operator,
        payout_address: format!("addr-{operator}"),
        address_type,
        credit_sat,
    }
}

pub(crate) fn node(
    node: i64,
    operator: i64,
    ip: &str,
    ok_windows: u32,
    samples: &[u64],
) -> NodeInput {
    NodeInput {
        node,
        operator,
        ip: ip.parse().unwrap(),
        ok_windows,
        throughput_samples_bps: samples.to_vec(),
    }
}

pub(crate) fn inputs(
    budget_sat: u64,
    params: ScoringParams,
    operators: Vec<OperatorInput>,
    nodes: Vec<NodeInput>,
) -> EpochInputs {
    EpochInputs {
        epoch: 1,
        budget_sat,
        params,
        operators,
        nodes,
    }
}

/// The README's worked example.
pub(crate) fn worked_example() -> EpochInputs {
    const M: u64 = 1_000_000;
    inputs(
        M,
        params(10 * M, 100, 2000, 5000, 10_000),
        vec![
            op(1, AddressType::P2wpkh, 0),
            op(2, AddressType::P2tr, 0),
            op(3, AddressType::P2pkh, 2000),
        ],
        vec![
            node(10, 1, "203.0.113.10", 100, &[10 * M, 12 * M, 8 * M]),
            node(11, 1, "203.0.113.11", 100, &[20 * M]),
            node(20, 2, "203.0.113.20", 50, &[5 * M, 5 * M]),
            node(21, 2, "2001:db8:1:1::1", 80, &[]),
            node(30, 3, "198.51.100.7", 10, &[M, 3 * M, 2 * M, 4 * M]),
        ],
    )
}

/// Every law the README promises for one scored epoch.
pub(crate) fn check_laws(inputs: &EpochInputs, r: &EpochResult) -> Result<(), TestCaseError> {
    let budget = u128::from(inputs.budget_sat);
    let sum = |f: fn(&resist_grants::OperatorResult) -> u64| -> u128 {
        r.per_operator.iter().map(|o| u128::from(f(o))).sum()
    };
    let (amounts, paid, carried, credits) = (
        sum(|o| o.amount_sat),
        sum(|o| o.paid_sat),
        sum(|o| o.carried_out_sat),
        sum(|o| o.credit_in_sat),
    );
    let remainder = u128::from(r.remainder_sat);
    // Conservation.
    prop_assert_eq!(amounts + remainder, budget, "Σ amount + remainder = budget");
    prop_assert_eq!(
        paid + carried + remainder,
        budget + credits,
        "Σ paid + Σ carried + remainder = budget + Σ credits"
    );
    prop_assert_eq!(u128::from(r.paid_total_sat), paid);
    prop_assert_eq!(u128::from(r.carried_out_total_sat), carried);
    prop_assert_eq!(u128::from(r.credit_in_total_sat), credits);
    let input_credits: u128 = inputs
        .operators
        .iter()
        .map(|o| u128::from(o.credit_sat))
        .sum();
    prop_assert_eq!(credits, input_credits);

    // Per operator.
    prop_assert_eq!(r.per_operator.len(), inputs.operators.len());
    let cap = u128::from(inputs.budget_sat) * u128::from(inputs.params.operator_cap_bps) / 10_000;
    prop_assert_eq!(u128::from(r.cap_sat), cap);
    let mut uncapped_with_points = 0u64;
    let mut any_capped = false;
    for o in &r.per_operator {
        let input = inputs
            .operators
            .iter()
            .find(|i| i.operator == o.operator)
            .unwrap();
        prop_assert_eq!(o.credit_in_sat, input.credit_sat);
        prop_assert_eq!(&o.payout_address, &input.payout_address);
        prop_assert_eq!(
            o.payout_threshold_sat,
            inputs
                .params
                .payout_minimum_sat
                .max(input.address_type.dust_limit_sat())
        );
        prop_assert!(o.amount_sat <= r.cap_sat, "amount within the cap");
        if o.capped {
            any_capped = true;
            prop_assert_eq!(o.amount_sat, r.cap_sat, "a capped operator gets the cap");
        } else if o.points > 0 {
            uncapped_with_points += 1;
        }
        if o.points == 0 {
            prop_assert_eq!(o.amount_sat, 0);
        }
        let due = u128::from(o.amount_sat) + u128::from(o.credit_in_sat);
        prop_assert_eq!(u128::from(o.paid_sat) + u128::from(o.carried_out_sat), due);
        prop_assert!(
            o.paid_sat == 0 || o.carried_out_sat == 0,
            "paid or carried, not both"
        );
        prop_assert!(
            o.paid_sat == 0 || o.paid_sat >= o.payout_threshold_sat,
            "no payment below the threshold"
        );
        prop_assert!(
            o.carried_out_sat < o.payout_threshold_sat,
            "carried only below the threshold"
        );
    }
    // The remainder is rounding only, unless no one earned or every earner is capped.
    if r.total_points > 0 && uncapped_with_points > 0 {
        prop_assert!(
            remainder < u128::from(uncapped_with_points),
            "remainder {} is more than rounding",
            remainder
        );
    }
    if r.total_points == 0 {
        prop_assert_eq!(remainder, budget);
    }
    if any_capped && uncapped_with_points == 0 {
        prop_assert!(r.per_operator.iter().all(|o| o.points == 0 || o.capped));
    }

    // Points add up: nodes → operators, units → operators, operators → total.
    let mut from_nodes: BTreeMap<i64, u128> = BTreeMap::new();
    for n in &r.per_node {
        *from_nodes.entry(n.operator).or_default() += u128::from(n.points);
    }
    let mut from_units: BTreeMap<i64, u128> = BTreeMap::new();
    let mut node_count = 0;
    for g in &r.per_group {
        node_count += g.node_count;
        let s: u128 = g.units.iter().map(|u| u128::from(u.weight)).sum();
        prop_assert_eq!(g.total_weight, s);
        let max_u = g.units.iter().map(|u| u.weight).max().unwrap_or(0);
        let group_points: u128 = g.units.iter().map(|u| u128::from(u.points)).sum();
        let k = u128::try_from(g.units.len()).unwrap();
        // Sharing: at most the best unit weight, more than max U / k − k.
        prop_assert!(
            group_points <= u128::from(max_u),
            "group earns at most its best unit"
        );
        prop_assert!(
            k * (group_points + k) > u128::from(max_u),
            "group earns more than max U / k − k"
        );
        for u in &g.units {
            *from_units.entry(u.operator).or_default() += u128::from(u.points);
            prop_assert!(u.points <= u.weight, "a unit earns at most its weight");
            if g.units.len() == 1 {
                prop_assert_eq!(u.points, u.weight, "alone, a unit earns its weight");
            }
        }
    }
    prop_assert_eq!(node_count, u64::try_from(r.per_node.len()).unwrap());
    let mut total = 0u128;
    for o in &r.per_operator {
        prop_assert_eq!(o.points, from_nodes.get(&o.operator).copied().unwrap_or(0));
        prop_assert_eq!(o.points, from_units.get(&o.operator).copied().unwrap_or(0));
        total += o.points;
    }
    prop_assert_eq!(total, r.total_points);

    // Fixed order.
    prop_assert!(r.per_node.windows(2).all(|w| w[0].node < w[1].node));
    prop_assert!(
        r.per_operator
            .windows(2)
            .all(|w| w[0].operator < w[1].operator)
    );
    prop_assert!(
        r.per_group
            .iter()
            .all(|g| g.units.windows(2).all(|w| w[0].operator < w[1].operator))
    );
    Ok(())
}
