//! The published report: JSON round trip, the frozen v1 format, and what
//! `verify` says about tampered, incomplete or unreadable reports.

mod common;

use common::{inputs, node, op, params, worked_example};
use resist_grants::{
    AddressType, FORMAT_VERSION, MAX_MONEY_SAT, Report, ReportError, ScoringError, Subject,
    Verification, verify,
};

/// The worked example as published (format_version 1). Field names, order and
/// number formats are the report format: changing this file is a format change.
const GOLDEN: &str = include_str!("testdata/report_v1.json");

#[test]
fn the_v1_format_is_frozen() {
    let report = Report::new(worked_example()).unwrap();
    let text = report.to_json().unwrap();
    assert_eq!(text, GOLDEN, "the report format changed; new text:\n{text}");
    let read = Report::from_json(GOLDEN).unwrap();
    assert_eq!(read, report);
    assert!(verify(&read).is_ok());
    assert_eq!(
        verify(&read).to_string(),
        "OK: every published value follows from the published inputs"
    );
}

#[test]
fn round_trip_keeps_every_value() {
    // Extremes: i64 ids at both ends, u64 samples, points above u64 (≈ 2^65).
    let big = inputs(
        MAX_MONEY_SAT,
        params(1, u32::MAX, u32::MAX, 3333, u64::MAX),
        vec![
            op(i64::MIN, AddressType::P2sh, 0),
            op(i64::MAX, AddressType::P2wsh, 0),
        ],
        vec![
            node(
                i64::MIN,
                i64::MIN,
                "::ffff:10.0.0.1",
                u32::MAX,
                &[u64::MAX, 0],
            ),
            node(i64::MAX, i64::MAX, "2001:db8::1", u32::MAX, &[]),
        ],
    );
    for i in [worked_example(), big] {
        let report = Report::new(i).unwrap();
        let back = Report::from_json(&report.to_json().unwrap()).unwrap();
        assert_eq!(back, report);
        assert!(verify(&back).is_ok());
    }
    let big = Report::new(inputs(
        MAX_MONEY_SAT,
        params(1, u32::MAX, u32::MAX, 10_000, 0),
        vec![op(1, AddressType::P2tr, 0)],
        vec![
            node(1, 1, "10.0.0.1", u32::MAX, &[]),
            node(2, 1, "10.0.1.1", u32::MAX, &[]),
        ],
    ))
    .unwrap();
    assert!(big.result.total_points > u128::from(u64::MAX));
    let text = big.to_json().unwrap();
    assert!(text.contains(&format!("\"total_points\": {}", big.result.total_points)));
    assert_eq!(Report::from_json(&text).unwrap(), big);
}

#[test]
fn a_tampered_amount_is_named() {
    // Operator 2 is paid 405 852; publish 405 853.
    let text = GOLDEN.replacen("\"paid_sat\": 405852", "\"paid_sat\": 405853", 1);
    assert_ne!(text, GOLDEN);
    let v = verify(&Report::from_json(&text).unwrap());
    let Verification::Mismatches(list) = &v else {
        panic!("{v}")
    };
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].subject, Subject::Operator { operator: 2 });
    assert_eq!(
        (
            list[0].field,
            list[0].expected.as_str(),
            list[0].published.as_str()
        ),
        ("paid_sat", "405852", "405853")
    );
    assert_eq!(
        v.to_string(),
        "MISMATCH: 1 published value(s) do not follow from the inputs\n  operator 2: paid_sat: expected 405852, published 405853"
    );
}

#[test]
fn tampered_inputs_change_what_follows() {
    // Raise node 30's OK windows in the inputs only: its weight and points, its
    // group, operator 3's points and everything that depends on the total follow.
    let mut report = Report::from_json(GOLDEN).unwrap();
    report
        .inputs
        .nodes
        .iter_mut()
        .find(|n| n.node == 30)
        .unwrap()
        .ok_windows = 11;
    let Verification::Mismatches(list) = verify(&report) else {
        panic!()
    };
    let named: Vec<String> = list
        .iter()
        .map(|m| format!("{} {}", m.subject, m.field))
        .collect();
    for expected in [
        "epoch total_points",
        "node 30 weight",
        "node 30 points",
        "group 198.51.100.0/24 total_weight",
        "group 198.51.100.0/24, operator 3 weight",
        "operator 3 points",
        "operator 3 amount_sat",
    ] {
        assert!(
            named.iter().any(|n| n == expected),
            "{expected} not in {named:?}"
        );
    }
}

#[test]
fn missing_extra_and_repeated_entries() {
    let report = Report::from_json(GOLDEN).unwrap();
    let mut r = report.clone();
    r.result.per_node.remove(0);
    let extra = r.result.per_operator[0].clone();
    r.result.per_operator.push(resist_grants::OperatorResult {
        operator: 99,
        ..extra
    });
    let repeated = r.result.per_group[1].units[0].clone();
    r.result.per_group[1].units.push(repeated);
    let Verification::Mismatches(list) = verify(&r) else {
        panic!()
    };
    let named: Vec<String> = list
        .iter()
        .map(|m| {
            format!(
                "{} {}: {} / {}",
                m.subject, m.field, m.expected, m.published
            )
        })
        .collect();
    assert_eq!(
        named,
        vec![
            "node 10 entry: present / missing",
            "group 203.0.113.0/24, operator 1 entry: listed once / listed 2 times",
            "operator 99 entry: absent / present",
        ]
    );
    // Order alone is not a mismatch.
    let mut r = report;
    r.result.per_node.reverse();
    r.result.per_operator.reverse();
    assert!(verify(&r).is_ok());
}

#[test]
fn unreadable_or_uncheckable_reports() {
    // Another format version: said before anything else is parsed.
    let v2 = GOLDEN.replacen("\"format_version\": 1", "\"format_version\": 2", 1);
    assert!(matches!(
        Report::from_json(&v2),
        Err(ReportError::UnsupportedFormat { format_version: 2 })
    ));
    let mut report = Report::from_json(GOLDEN).unwrap();
    report.format_version = 2;
    assert_eq!(
        verify(&report),
        Verification::UnsupportedFormat { format_version: 2 }
    );
    assert_eq!(FORMAT_VERSION, 1);

    // Unknown and missing fields are errors that name the field.
    let unknown = GOLDEN.replacen("\"epoch\": 1,", "\"epoch\": 1, \"bonus\": 5,", 1);
    let err = Report::from_json(&unknown).unwrap_err();
    assert!(err.to_string().contains("unknown field `bonus`"), "{err}");
    let missing = GOLDEN.replacen("\"remainder_sat\": 1,", "", 1);
    let err = Report::from_json(&missing).unwrap_err();
    assert!(
        err.to_string().contains("missing field `remainder_sat`"),
        "{err}"
    );
    assert!(matches!(Report::from_json("{}"), Err(ReportError::Json(_))));
    assert!(matches!(Report::from_json(""), Err(ReportError::Json(_))));
    let bad_type = GOLDEN.replacen(
        "\"address_type\": \"p2tr\"",
        "\"address_type\": \"p2xx\"",
        1,
    );
    assert!(
        Report::from_json(&bad_type)
            .unwrap_err()
            .to_string()
            .contains("p2xx")
    );

    // Published inputs that break a rule cannot be checked; the rule is named.
    let mut report = Report::from_json(GOLDEN).unwrap();
    report.inputs.params.operator_cap_bps = 0;
    let v = verify(&report);
    assert_eq!(
        v,
        Verification::InvalidInputs(ScoringError::OperatorCapOutOfRange {
            operator_cap_bps: 0
        })
    );
    assert!(v.to_string().contains("operator_cap_bps is 0"));
}
