//! Property tests over random epochs, up to the extremes: the laws of the
//! README ("What we guarantee") hold for every input.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::check_laws;
use proptest::collection::vec;
use proptest::prelude::*;
use resist_grants::{
    AddressType, EpochInputs, MAX_MONEY_SAT, NodeInput, OperatorInput, Report, ScoringParams,
    Subject, Verification, score, verify,
};

/// Addresses from a few crowded subnets and a wide one, so groups are shared
/// often but not always.
fn ip() -> impl Strategy<Value = IpAddr> {
    (0..7u8, any::<u8>(), any::<u16>()).prop_map(|(pool, h, w)| match pool {
        0 => IpAddr::V4(Ipv4Addr::new(203, 0, 113, h)),
        1 => IpAddr::V4(Ipv4Addr::new(198, 51, 100, h)),
        2 => IpAddr::V4(Ipv4Addr::new(10, h % 8, 0, 1)),
        3 => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, w, 0, 0, 0, 1)),
        4 => IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            u16::from(h % 3),
            w,
            0,
            0,
            0,
            1,
        )),
        5 => IpAddr::V4(Ipv4Addr::new(203, 0, 113, h)).to_canonical(),
        _ => IpAddr::V6(Ipv4Addr::new(203, 0, 113, h).to_ipv6_mapped()),
    })
}

fn address_type() -> impl Strategy<Value = AddressType> {
    prop::sample::select(vec![
        AddressType::P2pkh,
        AddressType::P2sh,
        AddressType::P2wpkh,
        AddressType::P2wsh,
        AddressType::P2tr,
    ])
}

fn ok_windows() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0..3000u32, 1 => Just(0), 1 => Just(u32::MAX), 1 => any::<u32>()]
}

fn samples() -> impl Strategy<Value = Vec<u64>> {
    vec(
        prop_oneof![4 => 0..40_000_000u64, 1 => any::<u64>(), 1 => Just(u64::MAX)],
        0..5,
    )
}

fn permille() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0..3000u32, 1 => Just(0), 1 => Just(u32::MAX), 1 => any::<u32>()]
}

fn params() -> impl Strategy<Value = ScoringParams> {
    (
        prop_oneof![Just(1u64), 1..100_000_000u64, 1..=u64::MAX],
        permille(),
        permille(),
        prop_oneof![2 => Just(10_000u32), 2 => 1..=10_000u32, 1 => Just(1u32), 1 => 1000..=5000u32],
        prop_oneof![0..2000u64, Just(0u64), any::<u64>()],
    )
        .prop_map(|(target, a, b, cap, minimum)| ScoringParams {
            capacity_target_bps: target,
            capacity_min_permille: a.min(b),
            capacity_max_permille: a.max(b),
            operator_cap_bps: cap,
            payout_minimum_sat: minimum,
        })
}

fn budget() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(MAX_MONEY_SAT),
        0..10_000_000u64,
        0..=MAX_MONEY_SAT
    ]
}

/// Valid epochs: up to 8 operators and 40 nodes, credits within 21 M BTC.
fn valid_inputs() -> impl Strategy<Value = EpochInputs> {
    (
        params(),
        budget(),
        vec(
            (
                address_type(),
                prop_oneof![Just(0u64), 0..1000u64, any::<u64>()],
            ),
            0..8,
        ),
        vec((any::<usize>(), ip(), ok_windows(), samples()), 0..40),
    )
        .prop_map(|(params, budget_sat, ops, nodes)| {
            let room = (MAX_MONEY_SAT - budget_sat) / u64::try_from(ops.len().max(1)).unwrap();
            let op_id = |i: usize| i64::try_from(i).unwrap() * 3 - 5;
            let operators: Vec<OperatorInput> = ops
                .iter()
                .enumerate()
                .map(|(i, (address_type, credit))| OperatorInput {
                    operator: op_id(i),
                    payout_address: format!("bcrt1q-operator-{i}"),
                    address_type: *address_type,
                    credit_sat: credit % (room + 1),
                })
                .collect();
            let nodes = if ops.is_empty() {
                Vec::new()
            } else {
                nodes
                    .into_iter()
                    .enumerate()
                    .map(
                        |(j, (pick, ip, ok_windows, throughput_samples_bps))| NodeInput {
                            node: i64::try_from(j).unwrap() * 2 - 10,
                            operator: op_id(pick % ops.len()),
                            ip,
                            ok_windows,
                            throughput_samples_bps,
                        },
                    )
                    .collect()
            };
            EpochInputs {
                epoch: 7,
                budget_sat,
                params,
                operators,
                nodes,
            }
        })
}

/// Tiny epochs, where rounding and the cap meet: budgets under 40 sat,
/// weights of a few units (1–3 ‰ × 0–7 windows), three crowded /24s.
fn small_inputs() -> impl Strategy<Value = EpochInputs> {
    (
        0..40u64,
        1..=10_000u32,
        0..400u64,
        vec((address_type(), 0..400u64), 1..5),
        vec(
            (any::<usize>(), 0..3u8, any::<u8>(), 0..8u32, 1..4u64),
            0..8,
        ),
    )
        .prop_map(|(budget_sat, cap, minimum, ops, nodes)| EpochInputs {
            epoch: 1,
            budget_sat,
            params: ScoringParams {
                capacity_target_bps: 1000,
                capacity_min_permille: 0,
                capacity_max_permille: 1000,
                operator_cap_bps: cap,
                payout_minimum_sat: minimum,
            },
            operators: ops
                .iter()
                .enumerate()
                .map(|(i, (address_type, credit_sat))| OperatorInput {
                    operator: i64::try_from(i).unwrap(),
                    payout_address: format!("addr-{i}"),
                    address_type: *address_type,
                    credit_sat: *credit_sat,
                })
                .collect(),
            nodes: nodes
                .into_iter()
                .enumerate()
                .map(|(j, (pick, net, host, ok_windows, bps))| NodeInput {
                    node: i64::try_from(j).unwrap(),
                    operator: i64::try_from(pick % ops.len()).unwrap(),
                    ip: IpAddr::V4(Ipv4Addr::new(192, 0, net, host)),
                    ok_windows,
                    throughput_samples_bps: vec![bps],
                })
                .collect(),
        })
}

/// Anything at all (repeated and unknown ids, any numbers), or a valid epoch.
fn arbitrary_inputs() -> impl Strategy<Value = EpochInputs> {
    prop_oneof![wild_inputs(), valid_inputs(), small_inputs()]
}

fn wild_inputs() -> impl Strategy<Value = EpochInputs> {
    (
        prop_oneof![any::<u64>(), budget()],
        (
            prop_oneof![any::<u64>(), Just(0u64)],
            any::<u32>(),
            any::<u32>(),
            prop_oneof![any::<u32>(), 0..=10_001u32],
            any::<u64>(),
        ),
        vec(
            (
                -3..3i64,
                ".{0,3}",
                address_type(),
                prop_oneof![any::<u64>(), 0..1000u64],
            ),
            0..6,
        ),
        vec(
            (
                -5..5i64,
                -4..4i64,
                ip(),
                any::<u32>(),
                vec(any::<u64>(), 0..4),
            ),
            0..12,
        ),
    )
        .prop_map(
            |(budget_sat, (target, min, max, cap, minimum), ops, nodes)| EpochInputs {
                epoch: 0,
                budget_sat,
                params: ScoringParams {
                    capacity_target_bps: target,
                    capacity_min_permille: min,
                    capacity_max_permille: max,
                    operator_cap_bps: cap,
                    payout_minimum_sat: minimum,
                },
                operators: ops
                    .into_iter()
                    .map(
                        |(operator, payout_address, address_type, credit_sat)| OperatorInput {
                            operator,
                            payout_address,
                            address_type,
                            credit_sat,
                        },
                    )
                    .collect(),
                nodes: nodes
                    .into_iter()
                    .map(
                        |(node, operator, ip, ok_windows, throughput_samples_bps)| NodeInput {
                            node,
                            operator,
                            ip,
                            ok_windows,
                            throughput_samples_bps,
                        },
                    )
                    .collect(),
            },
        )
}

/// An epoch and the same epoch with operators and nodes in another order.
fn inputs_and_shuffled() -> impl Strategy<Value = (EpochInputs, EpochInputs)> {
    valid_inputs().prop_flat_map(|i| {
        let ops = Just(i.operators.clone()).prop_shuffle();
        let nodes = Just(i.nodes.clone()).prop_shuffle();
        (Just(i), ops, nodes).prop_map(|(i, operators, nodes)| {
            let shuffled = EpochInputs {
                operators,
                nodes,
                ..i.clone()
            };
            (i, shuffled)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Conservation and every other law of `check_laws`.
    #[test]
    fn laws_hold(inputs in prop_oneof![valid_inputs(), small_inputs()]) {
        let r = score(&inputs).unwrap();
        check_laws(&inputs, &r)?;
    }

    /// Any order of operators and nodes: the same result, byte for byte.
    #[test]
    fn input_order_does_not_matter((inputs, shuffled) in inputs_and_shuffled()) {
        let a = Report::new(inputs).unwrap();
        let b = Report::new(shuffled).unwrap();
        prop_assert_eq!(&a.result, &b.result);
        prop_assert_eq!(
            serde_json::to_string(&a.result).unwrap(),
            serde_json::to_string(&b.result).unwrap()
        );
    }

    /// One more OK window for a node: its operator's points, amount, payment,
    /// and payment plus carry-over do not fall, and no other operator's points
    /// rise; with or without a binding cap.
    #[test]
    fn one_more_ok_window_never_pays_less(
        inputs in prop_oneof![valid_inputs(), small_inputs(), small_inputs()],
        pick in any::<usize>(),
        no_cap in any::<bool>(),
    ) {
        prop_assume!(!inputs.nodes.is_empty());
        let mut before = inputs;
        if no_cap {
            before.params.operator_cap_bps = 10_000;
        }
        let k = pick % before.nodes.len();
        prop_assume!(before.nodes[k].ok_windows < u32::MAX);
        let mut after = before.clone();
        after.nodes[k].ok_windows += 1;
        let owner = before.nodes[k].operator;

        let (b, a) = (score(&before).unwrap(), score(&after).unwrap());
        for (ob, oa) in b.per_operator.iter().zip(&a.per_operator) {
            prop_assert_eq!(ob.operator, oa.operator);
            if ob.operator == owner {
                prop_assert!(oa.points >= ob.points, "owner's points fell: {} → {}", ob.points, oa.points);
                prop_assert!(oa.amount_sat >= ob.amount_sat, "amount fell: {} → {}", ob.amount_sat, oa.amount_sat);
                prop_assert!(oa.paid_sat >= ob.paid_sat);
                prop_assert!(oa.paid_sat + oa.carried_out_sat >= ob.paid_sat + ob.carried_out_sat);
            } else {
                prop_assert!(oa.points <= ob.points, "operator {} gained from another's window", ob.operator);
            }
        }
    }

    /// A node added next to its operator's best node in a group, and no
    /// better than it, changes no points and no satoshis.
    #[test]
    fn a_second_node_in_the_same_subnet_adds_nothing(inputs in valid_inputs(), pick in any::<usize>(), fewer in any::<u32>()) {
        prop_assume!(!inputs.nodes.is_empty());
        let before = score(&inputs).unwrap();
        // The best node of a random unit.
        let units: Vec<_> = before.per_group.iter().flat_map(|g| &g.units).collect();
        let unit = units[pick % units.len()];
        let best = inputs.nodes.iter().find(|n| n.node == unit.best_node).unwrap().clone();
        let mut after = inputs.clone();
        after.nodes.push(NodeInput {
            node: inputs.nodes.iter().map(|n| n.node).max().unwrap() + 1,
            ok_windows: best.ok_windows - u32::try_from(u64::from(fewer) % (u64::from(best.ok_windows) + 1)).unwrap(),
            ..best
        });
        let r = score(&after).unwrap();
        check_laws(&after, &r)?;
        prop_assert_eq!(&r.per_operator, &before.per_operator);
        prop_assert_eq!(r.remainder_sat, before.remainder_sat);
        prop_assert_eq!(r.per_node.last().unwrap().points, 0);
    }

    /// What `score` wrote, `verify` accepts; one changed value is reported,
    /// and only that one.
    #[test]
    fn verify_finds_exactly_the_tampered_value(inputs in valid_inputs(), pick in any::<usize>(), delta in 1..1000u64, what in 0..4u8) {
        let report = Report::new(inputs).unwrap();
        prop_assert!(verify(&report).is_ok());
        let mut tampered = report.clone();
        let (subject, field) = match what {
            0 if !tampered.result.per_operator.is_empty() => {
                let k = pick % tampered.result.per_operator.len();
                let o = &mut tampered.result.per_operator[k];
                o.paid_sat = o.paid_sat.wrapping_add(delta);
                (Subject::Operator { operator: o.operator }, "paid_sat")
            }
            1 if !tampered.result.per_node.is_empty() => {
                let k = pick % tampered.result.per_node.len();
                let n = &mut tampered.result.per_node[k];
                n.points = n.points.wrapping_add(delta);
                (Subject::Node { node: n.node }, "points")
            }
            2 if !tampered.result.per_group.is_empty() => {
                let k = pick % tampered.result.per_group.len();
                let g = &mut tampered.result.per_group[k];
                let u = &mut g.units[0];
                u.weight = u.weight.wrapping_add(delta);
                (Subject::Unit { group: g.group.clone(), operator: u.operator }, "weight")
            }
            _ => {
                tampered.result.remainder_sat = tampered.result.remainder_sat.wrapping_add(delta);
                (Subject::Epoch, "remainder_sat")
            }
        };
        match verify(&tampered) {
            Verification::Mismatches(list) => {
                prop_assert_eq!(list.len(), 1, "{:?}", list);
                prop_assert_eq!(&list[0].subject, &subject);
                prop_assert_eq!(list[0].field, field);
            }
            other => prop_assert!(false, "expected a mismatch, got {}", other),
        }
    }

    /// No input panics; when scoring succeeds the laws hold, and any order of
    /// the same inputs gives the same outcome, error included.
    #[test]
    fn arbitrary_inputs_never_panic(inputs in arbitrary_inputs()) {
        let outcome = score(&inputs);
        if let Ok(r) = &outcome {
            check_laws(&inputs, r)?;
        }
        let mut reversed = inputs.clone();
        reversed.operators.reverse();
        reversed.nodes.reverse();
        prop_assert_eq!(score(&reversed), outcome);
        let report = Report { format_version: 1, inputs: inputs.clone(), result: score(&inputs).unwrap_or_else(|_| empty_result()) };
        let _ = verify(&report).to_string();
    }

    /// Any text, and valid reports with one character changed, give a report
    /// or an error; never a panic.
    #[test]
    fn arbitrary_text_never_panics(inputs in valid_inputs(), at in any::<usize>(), c in any::<char>(), junk in ".{0,200}") {
        let _ = Report::from_json(&junk);
        let text = Report::new(inputs).unwrap().to_json().unwrap();
        let mut chars: Vec<char> = text.chars().collect();
        let k = at % chars.len();
        chars[k] = c;
        let changed: String = chars.into_iter().collect();
        if let Ok(report) = Report::from_json(&changed) {
            let _ = verify(&report).to_string();
        }
    }
}

fn empty_result() -> resist_grants::EpochResult {
    resist_grants::EpochResult {
        total_points: 0,
        cap_sat: 0,
        remainder_sat: 0,
        credit_in_total_sat: 0,
        paid_total_sat: 0,
        carried_out_total_sat: 0,
        per_node: Vec::new(),
        per_group: Vec::new(),
        per_operator: Vec::new(),
    }
}

/// Every small epoch, exhaustively: 2 or 3 operators with one node each in
/// its own /24 (1 ‰, so points = OK windows 0..=5), budgets 0..=16, every cap
/// from 0 to the budget. One more OK window never lowers the owner's amount,
/// also when another operator loses a window at the same time. (Random
/// inputs rarely land on the rounding edges this covers: capping only above
/// the cap, instead of at it, fails here and passes the random tests.)
#[test]
fn monotone_on_every_small_epoch() {
    let epoch = |budget_sat: u64, cap_bps: u32, oks: &[u32]| EpochInputs {
        epoch: 1,
        budget_sat,
        params: ScoringParams {
            capacity_target_bps: 1000,
            capacity_min_permille: 0,
            capacity_max_permille: 1000,
            operator_cap_bps: cap_bps,
            payout_minimum_sat: 0,
        },
        operators: (0..oks.len())
            .map(|i| OperatorInput {
                operator: i64::try_from(i).unwrap(),
                payout_address: format!("addr-{i}"),
                address_type: AddressType::P2tr,
                credit_sat: 0,
            })
            .collect(),
        nodes: oks
            .iter()
            .enumerate()
            .map(|(i, &ok_windows)| NodeInput {
                node: i64::try_from(i).unwrap(),
                operator: i64::try_from(i).unwrap(),
                ip: IpAddr::V4(Ipv4Addr::new(10, 0, u8::try_from(i).unwrap(), 1)),
                ok_windows,
                throughput_samples_bps: vec![1],
            })
            .collect(),
    };
    let amounts = |i: &EpochInputs| -> Vec<u64> {
        score(i)
            .unwrap()
            .per_operator
            .iter()
            .map(|o| o.amount_sat)
            .collect()
    };
    let mut checked = 0u32;
    for n in [2usize, 3] {
        let combos = 6u32.pow(u32::try_from(n).unwrap());
        for code in 0..combos {
            let oks: Vec<u32> = (0..n)
                .map(|k| code / 6u32.pow(u32::try_from(k).unwrap()) % 6)
                .collect();
            for budget in 0..=16u64 {
                for cap_sat in 0..=budget {
                    // The smallest cap_bps whose floor(budget × bps / 10 000) is cap_sat.
                    let cap_bps = if budget == 0 {
                        10_000
                    } else {
                        u32::try_from((cap_sat * 10_000).div_ceil(budget))
                            .unwrap()
                            .max(1)
                    };
                    let base = amounts(&epoch(budget, cap_bps, &oks));
                    for x in 0..n {
                        let mut up = oks.clone();
                        up[x] += 1;
                        let mut variants = vec![up.clone()];
                        for y in (0..n).filter(|&y| y != x && up[y] > 0) {
                            let mut down = up.clone();
                            down[y] -= 1;
                            variants.push(down);
                        }
                        for v in variants {
                            let after = amounts(&epoch(budget, cap_bps, &v));
                            checked += 1;
                            assert!(
                                after[x] >= base[x],
                                "budget {budget}, cap {cap_sat}: points {oks:?} pay {base:?}, points {v:?} pay {after:?}"
                            );
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 100_000, "{checked}");
}
