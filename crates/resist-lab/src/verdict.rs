//! The scenarios' assertions, over what the lab observed: the coordinator's
//! per-window statuses, a grant preview, the user's fetches. Pure, so each
//! rule is tested without a network; the scenarios only gather the data.

use std::fmt;

use resist_grants::Report;
use resist_proto::api::NodeStatusView;

/// One assertion and how it came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What must hold, in words.
    pub what: String,
    /// Whether it held.
    pub passed: bool,
    /// The evidence.
    pub detail: String,
}

impl Check {
    /// A check from a condition and its evidence.
    pub fn new(what: impl Into<String>, passed: bool, detail: impl Into<String>) -> Check {
        Check {
            what: what.into(),
            passed,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.passed { "PASS" } else { "FAIL" };
        write!(f, "{mark}  {}", self.what)?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// The status (`ok`, `blocked`, …) of the node listening at `host:port` in
/// every window with reports, oldest first.
pub fn windows_of(views: &[NodeStatusView], host: &str, port: u16) -> Vec<(i64, String)> {
    let mut w: Vec<(i64, String)> = views
        .iter()
        .filter(|v| v.endpoint.host == host && v.endpoint.port == port)
        .flat_map(|v| {
            v.history
                .iter()
                .map(|h| (h.window, h.status.as_str().to_owned()))
        })
        .collect();
    w.sort();
    w
}

/// The first window at or after `from` with `status`.
pub fn first_with(windows: &[(i64, String)], status: &str, from: i64) -> Option<i64> {
    windows
        .iter()
        .find(|(w, s)| *w >= from && s == status)
        .map(|(w, _)| *w)
}

/// Whether the node reached `status` no later than `within` windows after
/// the window `since` (the window in which the censor acted).
pub fn reached_within(
    windows: &[(i64, String)],
    status: &str,
    since: i64,
    within: i64,
) -> Option<i64> {
    first_with(windows, status, since).filter(|w| *w <= since.saturating_add(within))
}

/// What the lab measured of one node, for checking a grant preview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measured {
    /// The coordinator's id of the node (as in the preview).
    pub id: i64,
    /// Its name in the lab.
    pub name: String,
    /// Its windows and statuses, oldest first.
    pub windows: Vec<(i64, String)>,
    /// The window in which the censor blocked it, if it did.
    pub blocked_from: Option<i64>,
}

/// Checks that a grant preview pays each node for exactly its OK windows in
/// `[first, last]`, and that a node blocked in window `blocked_from` earns
/// nothing for windows after it.
pub fn preview_pays_only_ok_windows(
    report: &Report,
    nodes: &[Measured],
    first: i64,
    last: i64,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for Measured {
        id,
        name,
        windows,
        blocked_from,
    } in nodes
    {
        let ok = windows
            .iter()
            .filter(|(w, s)| (first..=last).contains(w) && s == "ok")
            .count();
        let paid = report
            .inputs
            .nodes
            .iter()
            .find(|n| n.node == *id)
            .map_or(0, |n| n.ok_windows);
        checks.push(Check::new(
            format!("the grant preview counts {name}'s OK windows and no others"),
            usize::try_from(paid).is_ok_and(|p| p == ok),
            format!("preview {paid}, measured {ok} OK of windows {first}..={last}"),
        ));
        if let Some(b) = blocked_from {
            let late: Vec<i64> = windows
                .iter()
                .filter(|(w, s)| *w > *b && (first..=last).contains(w) && s == "ok")
                .map(|(w, _)| *w)
                .collect();
            // Without a BLOCKED window in the range the check proves nothing.
            // The block's own window may be OK (service before the block is
            // paid for) or already BLOCKED.
            let blocked_in_range = windows
                .iter()
                .filter(|(w, s)| *w >= *b && (first..=last).contains(w) && s == "blocked")
                .count();
            checks.push(Check::new(
                format!("{name} earns nothing for windows after the censor blocked it"),
                late.is_empty() && blocked_in_range > 0,
                format!(
                    "blocked in window {b}; in the preview's range {blocked_in_range} BLOCKED windows from it on, {} OK windows after it",
                    late.len()
                ),
            ));
        }
    }
    checks
}

#[cfg(test)]
mod test {
    use super::*;
    use resist_grants::{EpochInputs, NodeInput, OperatorInput, ScoringParams};
    use resist_proto::api::WindowStatusView;
    use resist_proto::endpoint::Endpoint;

    fn view(host: &str, statuses: &[(i64, &str)]) -> NodeStatusView {
        NodeStatusView {
            node: 1,
            operator: 1,
            endpoint: Endpoint {
                host: host.into(),
                port: 1080,
            },
            latest: None,
            history: statuses
                .iter()
                .rev()
                .map(|(w, s)| WindowStatusView {
                    window: *w,
                    window_start: w * 4,
                    status: resist_measure::Status::from_name(s).expect("a status name"),
                    censored_relayed: 0,
                    censored_failed: 0,
                    free_relayed: 0,
                    free_failed: 0,
                    disagreement: false,
                })
                .collect(),
        }
    }

    #[test]
    fn blocked_within_two_windows() {
        let v = [view(
            "10.64.1.10",
            &[(10, "ok"), (11, "ok"), (12, "blocked")],
        )];
        let w = windows_of(&v, "10.64.1.10", 1080);
        assert_eq!(w.first().unwrap().0, 10, "oldest first");
        assert_eq!(reached_within(&w, "blocked", 11, 2), Some(12));
        assert_eq!(
            reached_within(&w, "blocked", 9, 2),
            None,
            "window 12 is three after 9"
        );
        assert!(windows_of(&v, "10.64.1.10", 1081).is_empty());
    }

    fn report(ok: u32) -> Report {
        Report::new(EpochInputs {
            epoch: 0,
            budget_sat: 100_000,
            params: ScoringParams {
                capacity_target_bps: 10_000_000,
                capacity_min_permille: 100,
                capacity_max_permille: 2000,
                operator_cap_bps: 10_000,
                payout_minimum_sat: 1000,
            },
            operators: vec![OperatorInput {
                operator: 1,
                payout_address: "bcrt1qexample".into(),
                address_type: resist_grants::AddressType::P2wpkh,
                credit_sat: 0,
            }],
            nodes: vec![NodeInput {
                node: 7,
                operator: 1,
                ip: "10.64.1.10".parse().unwrap(),
                ok_windows: ok,
                throughput_samples_bps: vec![],
            }],
        })
        .unwrap()
    }

    #[test]
    fn preview_must_match_measured_ok_windows() {
        let windows = vec![
            (10, "ok".to_string()),
            (11, "ok".into()),
            (12, "blocked".into()),
        ];
        let m = |windows, blocked_from| Measured {
            id: 7,
            name: "node-a1".into(),
            windows,
            blocked_from,
        };
        let nodes = [m(windows, Some(11))];
        let good = preview_pays_only_ok_windows(&report(2), &nodes, 10, 12);
        assert!(good.iter().all(|c| c.passed), "{good:?}");
        let bad = preview_pays_only_ok_windows(&report(3), &nodes, 10, 12);
        assert!(!bad[0].passed);
        let vacuous = preview_pays_only_ok_windows(&report(2), &nodes, 10, 11);
        assert!(
            vacuous[0].passed && !vacuous[1].passed,
            "no BLOCKED window in range: {vacuous:?}"
        );
        let late = vec![
            (10, "ok".to_string()),
            (12, "blocked".into()),
            (13, "ok".into()),
        ];
        let nodes = [m(late, Some(11))];
        let c = preview_pays_only_ok_windows(&report(2), &nodes, 10, 13);
        assert!(c[0].passed && !c[1].passed, "{c:?}");
    }
}
