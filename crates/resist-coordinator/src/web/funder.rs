//! The funder's pages (admin session required): the dashboard at `/` with
//! the network chart, every node with its history strip and endpoint, the
//! probes with their last reports, and the operators; and one page per node
//! (`/nodes/{id}`) with its history window by window.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::Html;
use maud::{Markup, html};
use resist_store::{Node, NodeId, Operator, Probe, ReportSummary, Store};

use crate::AppState;
use crate::web::auth::{Funder, logout_button};
use crate::web::chart::{self, StripSize, badge, time};
use crate::web::error::WebError;
use crate::web::history::{self, DEFAULT_WINDOWS, Grid, MAX_WINDOWS, NodeHistory};
use crate::web::{layout, windows_param};

/// `GET /`: the dashboard.
pub(crate) async fn dashboard<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    _: Funder,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, WebError> {
    let windows = windows_param(query.as_deref(), DEFAULT_WINDOWS, MAX_WINDOWS)?;
    let nodes = state.store.nodes().await?;
    let operators = state.store.operators().await?;
    let probes = state.store.probes().await?;
    let grid = history::load(&state, &nodes, windows).await?;
    let (first, last) = match (grid.windows.first(), grid.windows.last()) {
        (Some(f), Some(l)) => (f.0, l.0),
        _ => (0, -1),
    };
    let summaries = state.store.report_summaries(first, last).await?;
    let window_secs = state.settings.measurement.windows().secs();
    let body = html! {
        (overview(&state, &nodes, &operators, &probes, &grid))
        (network_section(&grid))
        (nodes_section(&nodes, &operators, &grid))
        (probes_section(&probes, &summaries, &grid, window_secs))
        (operators_section(&operators, &nodes))
    };
    Ok(Html(
        layout::page_with("Funder dashboard", Some(logout_button()), body).into_string(),
    ))
}

fn overview<S>(
    state: &AppState<S>,
    nodes: &[Node],
    operators: &[Operator],
    probes: &[Probe],
    grid: &Grid,
) -> Markup {
    let enabled = probes.iter().filter(|p| p.enabled).count();
    let window_min = state.settings.measurement.windows().secs() / 60;
    html! {
        p #summary {
            strong { (nodes.len()) " nodes" } " of " strong { (operators.len()) " operators" }
            ", " strong { (probes.len()) " probes" } " (" (enabled) " enabled), on "
            (state.settings.network.to_string()) "."
        }
        p.muted {
            "History: the last " (grid.windows.len()) " windows of " (window_min) " minutes"
            @if let (Some(f), Some(l)) = (grid.windows.first(), grid.windows.last()) {
                ", " (time(f.1)) " to " (time(l.1)) " (the last one is still open)"
            }
            ". Show "
            @for (i, n) in [24u32, DEFAULT_WINDOWS, MAX_WINDOWS].iter().enumerate() {
                @if i > 0 { " · " }
                a href={ "/?windows=" (n) } { (n) " windows" }
            }
            "."
        }
    }
}

fn network_section(grid: &Grid) -> Markup {
    let bars = grid.bars();
    html! {
        section #network {
            h2 { "Network" }
            @if let Some(latest) = bars.last() {
                p #latest-counts { "Now: " (latest.counts.sentence()) "." }
            }
            figure {
                (chart::network("network-chart", &bars))
                figcaption { (chart::legend()) }
            }
            details {
                summary { "The same as a table" }
                table {
                    thead { tr {
                        th { "Window start" }
                        @for s in chart::STATUSES { th.num { (chart::word(s)) } }
                    } }
                    tbody {
                        @for b in bars.iter().rev() {
                            tr {
                                td { (time(b.start)) }
                                @for s in chart::STATUSES { td.num { (b.counts.of(s)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The operator's payout address, for links.
fn payout_of(operators: &[Operator], id: i64) -> Option<&str> {
    operators
        .iter()
        .find(|o| o.id.0 == id)
        .map(|o| o.payout_address.as_str())
}

/// A link to an operator's public page.
pub(crate) fn operator_link(address: &str) -> Markup {
    let href: String = format!(
        "/operator/{}",
        form_urlencoded::byte_serialize(address.as_bytes()).collect::<String>()
    );
    html! { a.mono href=(href) { (address) } }
}

fn nodes_section(nodes: &[Node], operators: &[Operator], grid: &Grid) -> Markup {
    html! {
        section #nodes {
            h2 { "Nodes" }
            @if nodes.is_empty() {
                p { "No node yet: operators register with " code { "resist operator register" } "." }
            } @else {
                table {
                    thead { tr {
                        th { "Node" } th { "Operator" } th { "Endpoint" } th { "Now" }
                        th { "History (oldest left)" } th { "Windows" }
                    } }
                    tbody {
                        @for n in nodes {
                            @if let Some(h) = grid.node(n.id.0) {
                                tr.node {
                                    td.nowrap { a href={ "/nodes/" (n.id.0) } { "node " (n.id.0) } }
                                    td {
                                        @match payout_of(operators, n.operator.0) {
                                            Some(a) => (operator_link(a)),
                                            None => { "operator " (n.operator.0) }
                                        }
                                    }
                                    td.mono.nowrap { (crate::views::endpoint(n)) }
                                    td { (badge(h.latest())) }
                                    td { (chart::strip(&format!("node {}", n.id.0), &h.cells(), grid.windows.len(), StripSize::Small)) }
                                    td.muted { (h.totals().sentence()) }
                                }
                            }
                        }
                    }
                }
                (chart::legend())
            }
        }
    }
}

/// What one probe did in the newest window it reported in.
#[derive(Debug, Default)]
struct LastReports {
    window: Option<i64>,
    outcomes: BTreeMap<&'static str, u32>,
}

fn last_reports(summaries: &[ReportSummary]) -> BTreeMap<i64, LastReports> {
    let mut by_probe: BTreeMap<i64, LastReports> = BTreeMap::new();
    for s in summaries {
        let last = by_probe.entry(s.probe.0).or_default();
        if last.window.is_some_and(|w| w > s.window) {
            continue;
        }
        if last.window != Some(s.window) {
            *last = LastReports {
                window: Some(s.window),
                outcomes: BTreeMap::new(),
            };
        }
        *last.outcomes.entry(s.outcome.as_str()).or_default() += 1;
    }
    by_probe
}

fn probes_section(
    probes: &[Probe],
    summaries: &[ReportSummary],
    grid: &Grid,
    window_secs: i64,
) -> Markup {
    let last = last_reports(summaries);
    let start_of = |w: i64| w.saturating_mul(window_secs);
    html! {
        section #probes {
            h2 { "Probes" }
            @if probes.is_empty() {
                p { "No probe enrolled: enrol one with " code { "resist admin probe enrol" } "." }
            } @else {
                table {
                    thead { tr {
                        th { "Probe" } th { "Region" } th { "State" } th { "Public key" }
                        th { "Last reports (window)" } th { "Outcomes in that window" }
                    } }
                    tbody {
                        @for p in probes {
                            tr.probe {
                                td { "probe " (p.id.0) }
                                td.mono { (p.region) }
                                td { @if p.enabled { "enabled" } @else { strong { "disabled" } } }
                                td.mono title=(hex::encode(p.public_key)) {
                                    (hex::encode(&p.public_key[..8])) "…"
                                }
                                @match last.get(&p.id.0).and_then(|l| l.window.map(|w| (w, l))) {
                                    Some((w, l)) => {
                                        td { (time(start_of(w))) " – " (time(start_of(w + 1))) }
                                        td {
                                            @for (i, (outcome, count)) in l.outcomes.iter().enumerate() {
                                                @if i > 0 { ", " }
                                                code { (outcome) } " × " (count)
                                            }
                                        }
                                    }
                                    None => {
                                        td.muted colspan="2" {
                                            "no report in the last " (grid.windows.len()) " windows"
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn operators_section(operators: &[Operator], nodes: &[Node]) -> Markup {
    html! {
        section #operators {
            h2 { "Operators" }
            @if operators.is_empty() {
                p { "No operator registered yet." }
            } @else {
                table {
                    thead { tr {
                        th { "Operator" } th { "Payout address (public page)" } th.num { "Nodes" }
                        th { "Registered" }
                    } }
                    tbody {
                        @for o in operators {
                            tr.operator {
                                td { "operator " (o.id.0) }
                                td { (operator_link(o.payout_address.as_str())) }
                                td.num { (nodes.iter().filter(|n| n.operator == o.id).count()) }
                                td { (time(o.created_at.seconds())) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /nodes/{id}`: one node, window by window.
pub(crate) async fn node<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    _: Funder,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, WebError> {
    let not_found = || {
        WebError::NotFound(format!(
            "no node {id:?}; the dashboard at / lists every node by number"
        ))
    };
    let node_id: i64 = id.parse().map_err(|_| not_found())?;
    let windows = windows_param(query.as_deref(), DEFAULT_WINDOWS, MAX_WINDOWS)?;
    let node = state
        .store
        .node(NodeId(node_id))
        .await?
        .ok_or_else(not_found)?;
    let operator = state.store.operator(node.operator).await?;
    let grid = history::load(&state, std::slice::from_ref(&node), windows).await?;
    let history = grid
        .node(node_id)
        .ok_or_else(|| WebError::Internal(format!("node {node_id} missing from its grid")))?;
    let body = html! {
        table.facts {
            tr { th { "Endpoint" } td.mono { (crate::views::endpoint(&node)) } }
            tr { th { "Protocol" } td { (node.protocol.as_str()) } }
            tr { th { "Probe login" } td {
                @match &node.username {
                    Some(u) => { code { (u) } " (password set)" },
                    None => "none",
                }
            } }
            tr { th { "Operator" } td {
                @match &operator {
                    Some(o) => (operator_link(o.payout_address.as_str())),
                    None => { "operator " (node.operator.0) },
                }
            } }
            tr { th { "Registered" } td { (time(node.created_at.seconds())) } }
            tr { th { "Now" } td { (badge(history.latest())) } }
        }
        (history_section(&format!("node {node_id}"), history, grid.windows.len(), true))
    };
    Ok(Html(
        layout::page_with(&format!("Node {node_id}"), Some(logout_button()), body).into_string(),
    ))
}

/// A node's strip (in `slots` window places), legend if asked, and window
/// table; shared with the operator page (it shows no endpoint).
pub(crate) fn history_section(
    label: &str,
    history: &NodeHistory,
    slots: usize,
    with_legend: bool,
) -> Markup {
    let cells = history.cells();
    html! {
        section.history {
            h2 { "Status history of " (label) }
            p { (history.totals().sentence()) " in " (history.windows.len()) " windows"
                @if history.windows.len() < slots { " (since it was registered)" }
                "." }
            (chart::strip(label, &cells, slots, StripSize::Large))
            @if let (Some(first), Some(last)) = (cells.first(), cells.last()) {
                p.muted { "Left: " (time(first.start)) ". Right: " (time(last.start)) " (still open)." }
            }
            @if with_legend { (chart::legend()) }
            details {
                summary { "Window by window (reports from censored and free networks)" }
                table {
                    thead { tr {
                        th { "Window start" } th { "Status" }
                        th.num { "Censored relayed" } th.num { "Censored failed" }
                        th.num { "Free relayed" } th.num { "Free failed" } th { "Probes disagreed" }
                    } }
                    tbody {
                        @for (cell, seen) in history.windows.iter().rev() {
                            tr {
                                td { (time(cell.start)) }
                                td { (badge(cell.status)) }
                                @match seen {
                                    Some(v) => {
                                        td.num { (v.censored_relayed) } td.num { (v.censored_failed) }
                                        td.num { (v.free_relayed) } td.num { (v.free_failed) }
                                        td { @if v.disagreement { "yes" } @else { "no" } }
                                    }
                                    None => { td.muted colspan="5" { "no report" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod test {
    use resist_store::ProbeId;

    use super::*;

    fn summary(window: i64, probe: i64, outcome: &str) -> ReportSummary {
        ReportSummary {
            window,
            node: NodeId(1),
            probe: ProbeId(probe),
            region: "censored:RU".parse().unwrap(),
            outcome: resist_proto::report::Outcome::from_name(outcome).unwrap(),
            rtt_us: 0,
            sample_bytes: 0,
            sample_us: 0,
        }
    }

    #[test]
    fn last_reports_keep_the_newest_window_per_probe() {
        let s = [
            summary(4, 1, "connect_failed"),
            summary(5, 1, "relayed"),
            summary(5, 1, "relayed"),
            summary(5, 1, "timeout"),
            summary(3, 2, "relayed"),
        ];
        let l = last_reports(&s);
        assert_eq!(l[&1].window, Some(5));
        assert_eq!(l[&1].outcomes["relayed"], 2);
        assert_eq!(l[&1].outcomes["timeout"], 1);
        assert!(!l[&1].outcomes.contains_key("connect_failed"));
        assert_eq!(l[&2].window, Some(3));
    }
}
