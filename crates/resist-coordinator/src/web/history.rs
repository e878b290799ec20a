//! Status history for the pages: the classification the API serves
//! (`measure::node_status`, the same code behind `/api/admin/status`), laid
//! out as a dense grid of one cell per node per window, oldest first, with
//! the per-window counts the network chart draws.
//!
//! `node_status` lists only windows that have reports; a window without any
//! is filled in with what the classifier says of no observations
//! (UNKNOWN: no report from a censored network), so a silent node shows as
//! a gap, not as a shorter history.
//!
//! A node's history starts with the window it was registered in: the
//! windows before it existed are not UNKNOWN, they are not its, and the
//! network chart does not count it there.
//!
//! The grid has node ids but no endpoints: the public operator page is
//! rendered from it, and what it does not hold it cannot leak.

use resist_measure::Status;
use resist_proto::api::{NodeStatusView, WindowStatusView};
use resist_store::{Node, Store};

use crate::AppState;
use crate::measure;
use crate::web::chart::{Bar, Cell, Counts};
use crate::web::error::WebError;

/// The most windows a page shows (as the status API allows).
pub(crate) const MAX_WINDOWS: u32 = 1000;
/// Windows shown when the page is not told (one day of 10-minute windows).
pub(crate) const DEFAULT_WINDOWS: u32 = 144;

/// One node's history.
#[derive(Debug)]
pub(crate) struct NodeHistory {
    /// The node's id.
    pub(crate) node: i64,
    /// One entry per window of the grid since the node was registered
    /// (the grid's last windows), oldest first: the status, and the report
    /// counts behind it if the window had reports.
    pub(crate) windows: Vec<(Cell, Option<WindowStatusView>)>,
}

impl NodeHistory {
    /// The cells for [`crate::web::chart::strip`].
    pub(crate) fn cells(&self) -> Vec<Cell> {
        self.windows.iter().map(|(c, _)| *c).collect()
    }

    /// The newest window's status.
    pub(crate) fn latest(&self) -> Status {
        self.windows
            .last()
            .map_or_else(no_reports, |(c, _)| c.status)
    }

    /// How many windows had each status.
    pub(crate) fn totals(&self) -> Counts {
        let mut t = Counts::default();
        for (c, _) in &self.windows {
            t.add(c.status);
        }
        t
    }
}

/// Every node's history over the same windows.
#[derive(Debug)]
pub(crate) struct Grid {
    /// Window numbers and starts, oldest first.
    pub(crate) windows: Vec<(i64, i64)>,
    /// The nodes, in the order given.
    pub(crate) nodes: Vec<NodeHistory>,
}

impl Grid {
    /// Per window, how many nodes had each status.
    pub(crate) fn bars(&self) -> Vec<Bar> {
        self.windows
            .iter()
            .enumerate()
            .map(|(i, &(_, start))| {
                let mut counts = Counts::default();
                for n in &self.nodes {
                    // The node's windows are the grid's last ones.
                    let offset = self.windows.len().saturating_sub(n.windows.len());
                    if let Some((c, _)) = i.checked_sub(offset).and_then(|j| n.windows.get(j)) {
                        counts.add(c.status);
                    }
                }
                Bar { start, counts }
            })
            .collect()
    }

    /// The history of `node`, if it is in the grid.
    pub(crate) fn node(&self, node: i64) -> Option<&NodeHistory> {
        self.nodes.iter().find(|n| n.node == node)
    }
}

/// What the classifier says of a window without reports.
fn no_reports() -> Status {
    resist_measure::classify(&[]).status()
}

/// The history of `nodes` over the last `windows` windows (the current one
/// last).
pub(crate) async fn load<S: Store>(
    state: &AppState<S>,
    nodes: &[Node],
    windows: u32,
) -> Result<Grid, WebError> {
    let windows = windows.clamp(1, MAX_WINDOWS);
    let m = &state.settings.measurement;
    let current = m.windows().of(state.clock.now());
    let status = measure::node_status(state, nodes, windows).await?;
    let registered = |node: i64| {
        nodes
            .iter()
            .find(|n| n.id.0 == node)
            .map_or(i64::MIN, |n| m.windows().of(n.created_at))
    };
    Ok(densify(
        &status,
        current,
        windows,
        |w| m.windows().start(w),
        registered,
    ))
}

/// The grid of `status` over the `windows` windows ending with `current`.
fn densify(
    status: &[NodeStatusView],
    current: i64,
    windows: u32,
    start_of: impl Fn(i64) -> i64,
    registered_in: impl Fn(i64) -> i64,
) -> Grid {
    let first = current - i64::from(windows) + 1;
    let numbers: Vec<(i64, i64)> = (first..=current).map(|w| (w, start_of(w))).collect();
    let nodes = status
        .iter()
        .map(|s| NodeHistory {
            node: s.node,
            windows: numbers
                .iter()
                .filter(|&&(w, _)| w >= registered_in(s.node))
                .map(|&(w, start)| {
                    let seen = s.history.iter().find(|h| h.window == w);
                    let status = seen.map_or_else(no_reports, |h| h.status);
                    (Cell { start, status }, seen.cloned())
                })
                .collect(),
        })
        .collect();
    Grid {
        windows: numbers,
        nodes,
    }
}

#[cfg(test)]
mod test {
    use resist_proto::endpoint::Endpoint;

    use super::*;

    fn seen(window: i64, status: Status) -> WindowStatusView {
        WindowStatusView {
            window,
            window_start: window * 600,
            status,
            censored_relayed: 0,
            censored_failed: 0,
            free_relayed: 0,
            free_failed: 0,
            disagreement: false,
        }
    }

    fn view(node: i64, history: Vec<WindowStatusView>) -> NodeStatusView {
        NodeStatusView {
            node,
            operator: 1,
            endpoint: Endpoint {
                host: "203.0.113.9".into(),
                port: 1080,
            },
            latest: history.first().cloned(),
            history,
        }
    }

    #[test]
    fn gaps_are_unknown_and_windows_run_oldest_first() {
        // History as the API gives it: newest first, only windows with reports.
        let status = [
            view(1, vec![seen(10, Status::Blocked), seen(8, Status::Ok)]),
            view(2, vec![]),
        ];
        let g = densify(&status, 10, 4, |w| w * 600, |_| 0);
        assert_eq!(g.windows, [(7, 4200), (8, 4800), (9, 5400), (10, 6000)]);
        let one: Vec<Status> = g.nodes[0].cells().iter().map(|c| c.status).collect();
        assert_eq!(
            one,
            [
                Status::Unknown,
                Status::Ok,
                Status::Unknown,
                Status::Blocked
            ]
        );
        assert_eq!(g.nodes[0].latest(), Status::Blocked);
        assert!(g.nodes[0].windows[1].1.is_some() && g.nodes[0].windows[2].1.is_none());
        assert_eq!(g.nodes[1].totals().unknown, 4);
        let bars = g.bars();
        assert_eq!(bars.len(), 4);
        assert_eq!(
            bars[1].counts,
            Counts {
                ok: 1,
                unknown: 1,
                ..Counts::default()
            }
        );
        assert_eq!(bars[3].counts.blocked, 1);
        assert_eq!(bars[3].start, 6000);
        // A window older than the range is left out.
        let g = densify(&status, 10, 1, |w| w * 600, |_| 0);
        assert_eq!(g.nodes[0].totals().ok, 0);
        assert_eq!(g.node(2).map(|n| n.node), Some(2));
        assert!(g.node(3).is_none());
    }

    #[test]
    fn windows_before_registration_are_not_counted() {
        let status = [
            view(1, vec![seen(10, Status::Ok)]),
            view(2, vec![seen(10, Status::Blocked), seen(9, Status::Down)]),
        ];
        // Node 1 registered in window 10, node 2 long before.
        let g = densify(&status, 10, 4, |w| w * 600, |n| if n == 1 { 10 } else { 0 });
        assert_eq!(g.nodes[0].windows.len(), 1);
        assert_eq!(g.nodes[1].windows.len(), 4);
        assert_eq!(g.nodes[0].totals().unknown, 0);
        let bars = g.bars();
        assert_eq!(bars[0].counts.total(), 1, "only node 2 existed");
        assert_eq!(bars[2].counts.down, 1);
        assert_eq!(
            bars[3].counts,
            Counts {
                ok: 1,
                blocked: 1,
                ..Counts::default()
            }
        );
    }
}
