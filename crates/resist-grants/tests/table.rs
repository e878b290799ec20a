//! Hand-computed epochs: every expected number is worked out in the comments
//! from the rules in the README, and every case also passes the laws of
//! `common::check_laws`.

mod common;

use common::{check_laws, inputs, node, op, params, worked_example};
use resist_grants::AddressType::{P2pkh, P2sh, P2tr, P2wpkh, P2wsh};
use resist_grants::{EpochInputs, EpochResult, MAX_MONEY_SAT, ScoringError, score};

const M: u64 = 1_000_000;

/// Expected per operator: (operator, points, amount, capped, paid, carried).
type Op = (i64, u128, u64, bool, u64, u64);

fn run(inputs: &EpochInputs) -> EpochResult {
    let r = score(inputs).unwrap();
    check_laws(inputs, &r).unwrap();
    r
}

fn operators(r: &EpochResult) -> Vec<Op> {
    r.per_operator
        .iter()
        .map(|o| {
            (
                o.operator,
                o.points,
                o.amount_sat,
                o.capped,
                o.paid_sat,
                o.carried_out_sat,
            )
        })
        .collect()
}

fn node_points(r: &EpochResult) -> Vec<(i64, u32, u64, u64)> {
    r.per_node
        .iter()
        .map(|n| (n.node, n.capacity_permille, n.weight, n.points))
        .collect()
}

#[test]
fn worked_example_from_the_readme() {
    let r = run(&worked_example());
    // Capacity: node 10 median 10 M → 1000 ‰; 11: 20 M → 2000 ‰ (= max);
    // 20: 5 M → 500 ‰; 21: no samples → min 100 ‰; 30: (2 M + 3 M)/2 → 250 ‰.
    // Weights: 100×1000, 100×2000, 50×500, 80×100, 10×250.
    // 203.0.113.0/24: op 1's best is node 11 (U 200 000), op 2's node 20 (U 25 000),
    // S = 225 000: op 1 floor(4·10^10 / 225 000) = 177 777; op 2 floor(6.25·10^8 / 225 000) = 2777.
    // Node 10 is op 1's second node there: 0 points.
    assert_eq!(
        node_points(&r),
        vec![
            (10, 1000, 100_000, 0),
            (11, 2000, 200_000, 177_777),
            (20, 500, 25_000, 2777),
            (21, 100, 8000, 8000),
            (30, 250, 2500, 2500),
        ]
    );
    let groups: Vec<_> = r
        .per_group
        .iter()
        .map(|g| (g.group.as_str(), g.node_count, g.total_weight))
        .collect();
    assert_eq!(
        groups,
        vec![
            ("198.51.100.0/24", 1, 2500),
            ("203.0.113.0/24", 3, 225_000),
            ("2001:db8:1::/48", 1, 8000)
        ]
    );
    assert_eq!(r.per_node[0].group_size, 3);
    assert_eq!(r.per_node[3].median_bps, None);
    assert_eq!(r.per_node[4].median_bps, Some(2_500_000));
    // Total 177 777 + 10 777 + 2500 = 191 054; cap 500 000.
    // Round 1: op 1 floor(10^6 × 177 777 / 191 054) = 930 506 > cap → capped.
    // Round 2 (R 500 000, T 13 277): op 2 floor(5·10^5 × 10 777 / 13 277) = 405 852,
    // op 3 floor(5·10^5 × 2500 / 13 277) = 94 147. Remainder 1.
    // Op 3: 94 147 + credit 2000 = 96 147 ≥ 10 000 → paid.
    assert_eq!(r.total_points, 191_054);
    assert_eq!(r.cap_sat, 500_000);
    assert_eq!(
        operators(&r),
        vec![
            (1, 177_777, 500_000, true, 500_000, 0),
            (2, 10_777, 405_852, false, 405_852, 0),
            (3, 2500, 94_147, false, 96_147, 0),
        ]
    );
    assert_eq!(r.remainder_sat, 1);
    assert_eq!(
        (
            r.paid_total_sat,
            r.carried_out_total_sat,
            r.credit_in_total_sat
        ),
        (1_001_999, 0, 2000)
    );
    let payouts: Vec<_> = r.payouts().collect();
    assert_eq!(
        payouts,
        vec![
            (1, "addr-1", 500_000),
            (2, "addr-2", 405_852),
            (3, "addr-3", 96_147)
        ]
    );
}

/// Capacity factor 1 ‰ (median 1 bit/s against a 1000 bit/s target), each
/// node alone in its /24: points = ok windows; a budget equal to the total
/// points makes every amount equal to its points.
fn one_permille(
    budget: u64,
    minimum: u64,
    ops: Vec<resist_grants::OperatorInput>,
    oks: &[(i64, u32)],
) -> EpochInputs {
    let nodes = oks
        .iter()
        .map(|&(operator, ok)| {
            node(
                operator * 10,
                operator,
                &format!("10.0.{operator}.1"),
                ok,
                &[1],
            )
        })
        .collect();
    inputs(budget, params(1000, 0, 1000, 10_000, minimum), ops, nodes)
}

#[test]
fn carry_over_at_each_dust_limit() {
    // Points 545 + 540 + 293 + 329 + 8293 = 10 000 = budget: amounts = points.
    let i = one_permille(
        10_000,
        0,
        vec![
            op(1, P2pkh, 0),
            op(2, P2sh, 0),
            op(3, P2wpkh, 1),
            op(4, P2tr, 0),
            op(5, P2wsh, 330),
            op(6, P2wpkh, 0),
        ],
        &[(1, 545), (2, 540), (3, 293), (4, 329), (6, 8293)],
    );
    let r = run(&i);
    assert_eq!(
        operators(&r),
        vec![
            (1, 545, 545, false, 0, 545), // 545 < 546 (P2PKH): carried
            (2, 540, 540, false, 540, 0), // 540 ≥ 540 (P2SH): paid
            (3, 293, 293, false, 294, 0), // 293 + credit 1 = 294 ≥ 294 (P2WPKH): paid
            (4, 329, 329, false, 0, 329), // 329 < 330 (P2TR): carried
            (5, 0, 0, false, 330, 0),     // no nodes; credit 330 ≥ 330 (P2WSH): paid
            (6, 8293, 8293, false, 8293, 0),
        ]
    );
    // 540 + 294 + 330 + 8293 = 9457 paid; 545 + 329 = 874 carried; 10 000 + 331 credits = 10 331.
    assert_eq!(
        (r.paid_total_sat, r.carried_out_total_sat, r.remainder_sat),
        (9457, 874, 0)
    );
    let thresholds: Vec<_> = r
        .per_operator
        .iter()
        .map(|o| o.payout_threshold_sat)
        .collect();
    assert_eq!(thresholds, vec![546, 540, 294, 330, 330, 294]);
}

#[test]
fn payout_minimum_above_dust() {
    // Same epoch, minimum 1000: everyone below 1000 carries, dust or not.
    let i = one_permille(
        10_000,
        1000,
        vec![
            op(1, P2pkh, 0),
            op(2, P2sh, 0),
            op(3, P2wpkh, 1),
            op(4, P2tr, 0),
            op(5, P2wsh, 330),
            op(6, P2wpkh, 0),
        ],
        &[(1, 545), (2, 540), (3, 293), (4, 329), (6, 8293)],
    );
    let r = run(&i);
    assert_eq!(
        operators(&r),
        vec![
            (1, 545, 545, false, 0, 545),
            (2, 540, 540, false, 0, 540),
            (3, 293, 293, false, 0, 294),
            (4, 329, 329, false, 0, 329),
            (5, 0, 0, false, 0, 330),
            (6, 8293, 8293, false, 8293, 0),
        ]
    );
    // Credits 1000 is exactly the threshold: paid (≥).
    let i = one_permille(0, 1000, vec![op(1, P2tr, 1000)], &[]);
    assert_eq!(operators(&run(&i)), vec![(1, 0, 0, false, 1000, 0)]);
}

#[test]
fn no_points_leaves_the_budget_and_still_settles_credits() {
    // Op 1's node was never OK (weight 0); op 2 has no nodes. All 5000 to the remainder.
    // Op 1: 0 + 700 ≥ 500 → paid 700. Op 2: 0 + 100 < 500 → carried 100.
    let i = inputs(
        5000,
        params(1000, 100, 1000, 10_000, 500),
        vec![op(1, P2wpkh, 700), op(2, P2wpkh, 100)],
        vec![node(1, 1, "192.0.2.1", 0, &[5000])],
    );
    let r = run(&i);
    assert_eq!(r.total_points, 0);
    assert_eq!(
        operators(&r),
        vec![(1, 0, 0, false, 700, 0), (2, 0, 0, false, 0, 100)]
    );
    // 700 + 100 + 5000 = 5000 + 800.
    assert_eq!(r.remainder_sat, 5000);
    assert_eq!(r.per_group[0].units[0].points, 0);
}

#[test]
fn nothing_at_all() {
    let r = run(&inputs(123, params(1, 0, 0, 1, 0), vec![], vec![]));
    assert_eq!((r.total_points, r.cap_sat, r.remainder_sat), (0, 0, 123));
    assert!(r.per_node.is_empty() && r.per_group.is_empty() && r.per_operator.is_empty());
}

#[test]
fn budget_zero() {
    // Points but no budget: amounts 0; the credit (≥ 294) is still paid.
    let mut i = one_permille(
        0,
        0,
        vec![op(1, P2wpkh, 300), op(2, P2wpkh, 0)],
        &[(1, 10), (2, 10)],
    );
    let r = run(&i);
    assert_eq!(
        operators(&r),
        vec![(1, 10, 0, false, 300, 0), (2, 10, 0, false, 0, 0)]
    );
    assert_eq!(r.remainder_sat, 0);
    // Under a cap, the cap is 0 and every earner reaches it: flagged, still 0.
    i.params.operator_cap_bps = 9999;
    let r = run(&i);
    assert_eq!(
        operators(&r),
        vec![(1, 10, 0, true, 300, 0), (2, 10, 0, true, 0, 0)]
    );
}

#[test]
fn credits_larger_than_the_budget() {
    // Budget 1000, points 1 : 3 → 250, 750. Op 1 brings 1 000 000 of credit:
    // paid 1 000 250, far above the budget; the law counts credits on both sides.
    let i = one_permille(
        1000,
        0,
        vec![op(1, P2tr, M), op(2, P2tr, 0)],
        &[(1, 1), (2, 3)],
    );
    let r = run(&i);
    assert_eq!(
        operators(&r),
        vec![(1, 1, 250, false, 1_000_250, 0), (2, 3, 750, false, 750, 0)]
    );
}

#[test]
fn rounding_goes_to_the_remainder() {
    // Three equal operators, budget 100: floor(100/3) = 33 each, remainder 1.
    let i = one_permille(
        100,
        0,
        vec![op(1, P2tr, 0), op(2, P2tr, 0), op(3, P2tr, 0)],
        &[(1, 7), (2, 7), (3, 7)],
    );
    let r = run(&i);
    assert_eq!(
        r.per_operator
            .iter()
            .map(|o| o.amount_sat)
            .collect::<Vec<_>>(),
        vec![33, 33, 33]
    );
    assert_eq!(r.remainder_sat, 1);
    // 33 < 330: all carried.
    assert_eq!(r.carried_out_total_sat, 99);
}

#[test]
fn cap_excess_is_redistributed() {
    // Budget 1000, cap 5000 bps = 500; points 8, 1, 1.
    // Round 1: 800 > 500 → op 1 capped; R 500, T 2. Round 2: 250 each.
    let i = one_permille(
        1000,
        0,
        vec![op(1, P2tr, 0), op(2, P2tr, 0), op(3, P2tr, 0)],
        &[(1, 8), (2, 1), (3, 1)],
    );
    let mut i = i;
    i.params.operator_cap_bps = 5000;
    let r = run(&i);
    assert_eq!(
        operators(&r),
        vec![
            (1, 8, 500, true, 500, 0),
            (2, 1, 250, false, 0, 250),
            (3, 1, 250, false, 0, 250)
        ]
    );
    assert_eq!(r.remainder_sat, 0);
}

#[test]
fn cap_cascades_over_rounds() {
    // Budget 1000, cap 3000 bps = 300; points 7, 2, 1.
    // Round 1 (R 1000, T 10): 700, 200, 100 → op 1 capped. Round 2 (R 700, T 3):
    // 466, 233 → op 2 capped. Round 3 (R 400, T 1): 400 ≥ 300 → op 3 capped.
    // Everyone capped: 100 stays in the remainder.
    let mut i = one_permille(
        1000,
        0,
        vec![op(1, P2tr, 0), op(2, P2tr, 0), op(3, P2tr, 0)],
        &[(1, 7), (2, 2), (3, 1)],
    );
    i.params.operator_cap_bps = 3000;
    let r = run(&i);
    assert_eq!(
        operators(&r),
        vec![
            (1, 7, 300, true, 0, 300),
            (2, 2, 300, true, 0, 300),
            (3, 1, 300, true, 0, 300)
        ]
    );
    assert_eq!(r.remainder_sat, 100);
}

#[test]
fn one_operator_under_a_cap() {
    // A single earner under a 25 % cap: 250 of 1000, 750 remain.
    let mut i = one_permille(1000, 0, vec![op(1, P2tr, 0)], &[(1, 5)]);
    i.params.operator_cap_bps = 2500;
    let r = run(&i);
    assert_eq!(operators(&r), vec![(1, 5, 250, true, 0, 250)]);
    assert_eq!(r.remainder_sat, 750);
}

#[test]
fn reaching_the_cap_is_capped() {
    // 1000 × 4/8 = 500 = cap (5000 bps): reaching the cap caps. Both leave in round 1.
    let mut i = one_permille(
        1000,
        0,
        vec![op(1, P2tr, 0), op(2, P2tr, 0)],
        &[(1, 4), (2, 4)],
    );
    i.params.operator_cap_bps = 5000;
    let r = run(&i);
    assert_eq!(
        operators(&r),
        vec![(1, 4, 500, true, 500, 0), (2, 4, 500, true, 500, 0)]
    );
    // Budget 4, cap 2 (5000 bps), points 2 and 3: round 1 tentatives floor(8/5) = 1 and
    // floor(12/5) = 2 ≥ 2 → op 2 capped; round 2 (R 2, T 2): 2 ≥ 2 → op 1 capped.
    // (Capping only above the cap would pay op 1 just 1 here, less than the 2 it gets
    // with 1 point: points (1, 3) → round 1: 3 ≥ 2 capped; round 2: 2 ≥ 2 capped.)
    for (ok, expected) in [(1, 2), (2, 2)] {
        let mut i = one_permille(
            4,
            0,
            vec![op(1, P2tr, 0), op(2, P2tr, 0)],
            &[(1, ok), (2, 3)],
        );
        i.params.operator_cap_bps = 5000;
        let r = run(&i);
        assert_eq!(r.per_operator[0].amount_sat, expected);
        assert!(r.per_operator.iter().all(|o| o.capped));
    }
}

#[test]
fn no_cap_at_10000_bps() {
    // A sole earner takes the whole budget and is not flagged as capped.
    let r = run(&one_permille(1000, 0, vec![op(1, P2tr, 0)], &[(1, 5)]));
    assert_eq!(operators(&r), vec![(1, 5, 1000, false, 1000, 0)]);
}

/// Two operators with one node each: (ok of a, ok of b, same /24?) → points.
#[test]
fn sharing_one_subnet() {
    let cases: &[(u32, u32, bool, u128, u128)] = &[
        // Separate /24s: each earns its weight.
        (100, 100, false, 100, 100),
        (100, 1, false, 100, 1),
        // Same /24, equal: 100²/200 = 50 each, one weight together.
        (100, 100, true, 50, 50),
        // A one-window newcomer: 100²/101 = 99, 1²/101 = 0. The incumbent keeps 99.
        (100, 1, true, 99, 0),
        // 300 and 100: S 400; 90 000/400 = 225, 10 000/400 = 25; together 250 ≤ 300.
        (300, 100, true, 225, 25),
        // A node that was never OK takes nothing: 100²/100, 0.
        (100, 0, true, 100, 0),
        (0, 0, true, 0, 0),
    ];
    for &(a, b, shared, pa, pb) in cases {
        let ip_b = if shared { "203.0.113.2" } else { "203.0.114.2" };
        let i = inputs(
            M,
            params(1000, 0, 1000, 10_000, 0),
            vec![op(1, P2tr, 0), op(2, P2tr, 0)],
            vec![
                node(1, 1, "203.0.113.1", a, &[1]),
                node(2, 2, ip_b, b, &[1]),
            ],
        );
        // 1 bit/s against 1000: 1 ‰, so weight = ok.
        let r = run(&i);
        let points: Vec<u128> = r.per_operator.iter().map(|o| o.points).collect();
        assert_eq!(points, vec![pa, pb], "case {a} {b} shared={shared}");
    }
}

#[test]
fn three_way_tie_rounds_down() {
    // Three operators, equal U = 1000 in one /24: floor(10^6 / 3000) = 333 each; 999 in all.
    let i = inputs(
        999,
        params(1000, 0, 1000, 10_000, 0),
        vec![op(1, P2tr, 0), op(2, P2tr, 0), op(3, P2tr, 0)],
        (1..=3)
            .map(|k| node(k, k, &format!("198.51.100.{k}"), 1, &[1000]))
            .collect(),
    );
    let r = run(&i);
    assert_eq!(
        r.per_operator.iter().map(|o| o.points).collect::<Vec<_>>(),
        vec![333, 333, 333]
    );
    assert_eq!(r.total_points, 999);
    assert_eq!(r.per_group[0].total_weight, 3000);
}

#[test]
fn one_operator_many_nodes_in_one_subnet_earns_its_best() {
    // Op 1: three nodes in 192.0.2.0/24 (weights 500, 700, 700) and one in 192.0.3.0/24 (200).
    // Best in 192.0.2.0/24: 700, the lowest id of the tie (node 2). Points 700 + 200.
    let i = inputs(
        M,
        params(1000, 0, 1000, 10_000, 0),
        vec![op(1, P2tr, 0)],
        vec![
            node(1, 1, "192.0.2.1", 500, &[1]),
            node(2, 1, "192.0.2.2", 700, &[1]),
            node(3, 1, "192.0.2.3", 700, &[1]),
            node(4, 1, "192.0.3.4", 200, &[1]),
        ],
    );
    let r = run(&i);
    assert_eq!(
        node_points(&r),
        vec![
            (1, 1, 500, 0),
            (2, 1, 700, 700),
            (3, 1, 700, 0),
            (4, 1, 200, 200)
        ]
    );
    assert_eq!(r.per_operator[0].points, 900);
    assert_eq!(r.per_group[0].units[0].best_node, 2);
    assert_eq!(r.per_group[0].node_count, 3);
}

#[test]
fn ipv6_48_and_mapped_ipv4_grouping() {
    // 2001:db8:5:1::1 and 2001:db8:5:ffff::2 share 2001:db8:5::/48; 2001:db8:6::1 does not.
    // ::ffff:203.0.113.6 is 203.0.113.6: same /24 as 203.0.113.5.
    let i = inputs(
        M,
        params(1000, 0, 1000, 10_000, 0),
        vec![op(1, P2tr, 0), op(2, P2tr, 0)],
        vec![
            node(1, 1, "2001:db8:5:1::1", 1, &[1000]),
            node(2, 2, "2001:db8:5:ffff::2", 1, &[1000]),
            node(3, 2, "2001:db8:6::1", 1, &[1000]),
            node(4, 1, "203.0.113.5", 1, &[1000]),
            node(5, 2, "::ffff:203.0.113.6", 1, &[1000]),
        ],
    );
    let r = run(&i);
    let groups: Vec<_> = r
        .per_group
        .iter()
        .map(|g| (g.group.as_str(), g.node_count))
        .collect();
    assert_eq!(
        groups,
        vec![
            ("203.0.113.0/24", 2),
            ("2001:db8:5::/48", 2),
            ("2001:db8:6::/48", 1)
        ]
    );
    // Shared groups: 1000²/2000 = 500 each; op 2's own /48: 1000.
    assert_eq!(
        node_points(&r).iter().map(|n| n.3).collect::<Vec<_>>(),
        vec![500, 500, 1000, 500, 500]
    );
    assert_eq!(
        r.per_operator.iter().map(|o| o.points).collect::<Vec<_>>(),
        vec![1000, 2000]
    );
}

#[test]
fn capacity_factor_edges() {
    // Target 1000 bit/s, factor 200..=1500 ‰, weight = ok (1) × factor.
    let cases: &[(&[u64], u32)] = &[
        (&[], 200),            // no samples: the minimum
        (&[100], 200),         // 100 ‰ clamped up to 200
        (&[999], 999),         // floor(999 000 / 1000)
        (&[1001, 1], 501),     // even count: floor(1002 / 2) = 501
        (&[3000, 1, 2], 200),  // median 2 → 2 ‰ → 200
        (&[u64::MAX], 1500),   // clamped down
        (&[1499, 1501], 1500), // (1499 + 1501)/2 = 1500 → 1500
        (&[1234, 1234, 9], 1234),
    ];
    for (samples, permille) in cases {
        let i = inputs(
            M,
            params(1000, 200, 1500, 10_000, 0),
            vec![op(1, P2tr, 0)],
            vec![node(1, 1, "192.0.2.1", 1, samples)],
        );
        let r = run(&i);
        assert_eq!(
            r.per_node[0].capacity_permille, *permille,
            "samples {samples:?}"
        );
        assert_eq!(r.per_node[0].weight, u64::from(*permille));
    }
    // A minimum of 0 makes a node without samples earn nothing.
    let i = inputs(
        M,
        params(1000, 0, 1500, 10_000, 0),
        vec![op(1, P2tr, 0)],
        vec![node(1, 1, "192.0.2.1", 9, &[])],
    );
    let r = run(&i);
    assert_eq!(
        (r.per_node[0].weight, r.total_points, r.remainder_sat),
        (0, 0, M)
    );
}

#[test]
fn extremes_do_not_overflow() {
    // Weight (2^32 − 1)² just under 2^64 in two groups: total points ≈ 2^65,
    // above u64; the budget is all of Bitcoin.
    let w = u128::from(u32::MAX) * u128::from(u32::MAX);
    let i = inputs(
        MAX_MONEY_SAT,
        params(1, u32::MAX, u32::MAX, 10_000, u64::MAX),
        vec![op(i64::MIN, P2tr, 0), op(i64::MAX, P2tr, 0)],
        vec![
            node(i64::MIN, i64::MIN, "10.0.0.1", u32::MAX, &[u64::MAX]),
            node(i64::MAX, i64::MAX, "10.0.1.1", u32::MAX, &[]),
        ],
    );
    let r = run(&i);
    assert_eq!(r.total_points, 2 * w);
    // Equal halves of 2.1·10^15; minimum u64::MAX: everything carries.
    assert_eq!(
        operators(&r),
        vec![
            (i64::MIN, w, MAX_MONEY_SAT / 2, false, 0, MAX_MONEY_SAT / 2),
            (i64::MAX, w, MAX_MONEY_SAT / 2, false, 0, MAX_MONEY_SAT / 2),
        ]
    );
}

#[test]
fn invalid_inputs_name_the_item() {
    let base = worked_example;
    // (inputs, error, text the message must contain)
    let mut cases: Vec<(EpochInputs, ScoringError, &str)> = Vec::new();

    let mut i = base();
    i.params.capacity_target_bps = 0;
    cases.push((
        i,
        ScoringError::ZeroCapacityTarget,
        "capacity_target_bps is 0",
    ));

    let mut i = base();
    i.params.capacity_min_permille = 2001;
    cases.push((
        i,
        ScoringError::CapacityBoundsInverted {
            min_permille: 2001,
            max_permille: 2000,
        },
        "(2001) is above capacity_max_permille (2000)",
    ));

    for (cap, text) in [
        (0, "operator_cap_bps is 0"),
        (10_001, "operator_cap_bps is 10001"),
        (u32::MAX, "4294967295"),
    ] {
        let mut i = base();
        i.params.operator_cap_bps = cap;
        cases.push((
            i,
            ScoringError::OperatorCapOutOfRange {
                operator_cap_bps: cap,
            },
            text,
        ));
    }

    let mut i = base();
    i.budget_sat = MAX_MONEY_SAT + 1;
    cases.push((
        i,
        ScoringError::BudgetTooLarge {
            budget_sat: MAX_MONEY_SAT + 1,
        },
        "2100000000000001",
    ));
    let mut i = base();
    i.budget_sat = u64::MAX;
    cases.push((
        i,
        ScoringError::BudgetTooLarge {
            budget_sat: u64::MAX,
        },
        "18446744073709551615",
    ));

    // Two repeats: the smallest id is named.
    let mut i = base();
    i.operators.push(op(3, P2wpkh, 0));
    i.operators.push(op(2, P2wpkh, 0));
    cases.push((
        i,
        ScoringError::DuplicateOperator { operator: 2 },
        "operator 2 is listed more than once",
    ));

    let mut i = base();
    i.operators[1].payout_address = " ".into();
    cases.push((
        i,
        ScoringError::MissingPayoutAddress { operator: 2 },
        "operator 2 has no payout address",
    ));

    let mut i = base();
    i.operators[2].credit_sat = u64::MAX;
    cases.push((
        i,
        ScoringError::CreditTooLarge {
            operator: 3,
            credit_sat: u64::MAX,
        },
        "operator 3 carries in 18446744073709551615",
    ));

    // 2.1·10^15 + budget 10^6 + op 3's 2000.
    let mut i = base();
    i.operators[0].credit_sat = MAX_MONEY_SAT;
    cases.push((
        i,
        ScoringError::TotalTooLarge {
            total_sat: u128::from(MAX_MONEY_SAT) + 1_000_000 + 2000,
        },
        "2100000001002000",
    ));

    let mut i = base();
    i.nodes.push(node(21, 1, "192.0.2.1", 1, &[]));
    cases.push((
        i,
        ScoringError::DuplicateNode { node: 21 },
        "node 21 is listed more than once",
    ));

    let mut i = base();
    i.nodes.push(node(99, 42, "192.0.2.1", 1, &[]));
    i.nodes.push(node(98, 43, "192.0.2.1", 1, &[]));
    cases.push((
        i,
        ScoringError::UnknownOperator {
            node: 98,
            operator: 43,
        },
        "node 98 belongs to operator 43, which is not listed",
    ));

    for (i, expected, text) in cases {
        let err = score(&i).unwrap_err();
        assert_eq!(err, expected);
        assert!(
            err.to_string().contains(text),
            "{err} should contain {text:?}"
        );
        // Input order does not change which error.
        let mut reversed = i.clone();
        reversed.operators.reverse();
        reversed.nodes.reverse();
        assert_eq!(score(&reversed).unwrap_err(), expected);
    }
}
