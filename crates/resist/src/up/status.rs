//! The one-line status of a running `resist up` network, computed from what
//! the coordinator's admin API says (so it shows what the coordinator really
//! classified, not what `resist up` assumes).

use resist_measure::Status;
use resist_proto::api::NodeStatusView;

/// The status line: the newest window that has ended (`settle` seconds ago, so
/// the probes' last reports for it are in), and per status how many nodes the
/// coordinator classified so in it; `live` is how many reports the running
/// window has so far (redrawn on a terminal only).
///
/// `window 5792134 12:40:00–12:40:30 UTC  nodes 2 OK 0 BLOCKED 0 DOWN  probes 2  reports 4`
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// The summary of the last complete window.
    pub complete: String,
    /// The running window's reports so far.
    pub live: String,
}

/// What the clock and the network say the status line needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    /// Unix seconds now.
    pub now: i64,
    /// Length of a window, in seconds.
    pub window_secs: i64,
    /// How long after its end a window is summarised.
    pub settle: i64,
    /// The first window this run of `resist up` measured in.
    pub first: i64,
}

pub(crate) fn render(nodes: &[NodeStatusView], probes: usize, c: Clock) -> Line {
    let ws = c.window_secs.max(1);
    let current = c.now.div_euclid(ws);
    let window = c.now.saturating_sub(c.settle).div_euclid(ws) - 1;
    let in_window = |w: i64| {
        nodes
            .iter()
            .filter_map(|n| n.history.iter().find(|h| h.window == w))
            .map(|h| h.censored_relayed + h.censored_failed + h.free_relayed + h.free_failed)
            .sum::<u32>()
    };
    let live = format!(
        "  (window {current}: {} reports so far)",
        in_window(current)
    );
    let span = |w: i64| {
        let start = w.saturating_mul(ws);
        format!("{}–{} UTC", clock(start), clock(start.saturating_add(ws)))
    };
    if window < c.first {
        let end = (c.first + 1).saturating_mul(ws).saturating_add(c.settle);
        return Line {
            complete: format!(
                "waiting for the first window to end ({} UTC)  nodes {}  probes {probes}",
                clock(end),
                nodes.len()
            ),
            live,
        };
    }
    let (mut ok, mut blocked, mut down, mut unknown, mut waiting) = (0, 0, 0, 0, 0);
    for n in nodes {
        match n.history.iter().find(|w| w.window == window) {
            Some(w) => match w.status {
                Status::Ok => ok += 1,
                Status::Blocked => blocked += 1,
                Status::Down => down += 1,
                Status::Unknown => unknown += 1,
            },
            None => waiting += 1,
        }
    }
    let mut extra = String::new();
    if unknown > 0 {
        extra.push_str(&format!(" {unknown} UNKNOWN"));
    }
    if waiting > 0 {
        extra.push_str(&format!(" {waiting} not measured"));
    }
    Line {
        complete: format!(
            "window {window} {}  nodes {ok} OK {blocked} BLOCKED {down} DOWN{extra}  probes {probes}  reports {}",
            span(window),
            in_window(window)
        ),
        live,
    }
}

/// `HH:MM:SS` (UTC) of a Unix time.
fn clock(unix: i64) -> String {
    let s = unix.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod test {
    use resist_proto::api::WindowStatusView;
    use resist_proto::endpoint::Endpoint;

    use super::*;

    fn node(id: i64, windows: &[(i64, &str)]) -> NodeStatusView {
        let history: Vec<WindowStatusView> = windows
            .iter()
            .map(|&(window, status)| WindowStatusView {
                window,
                window_start: window * 30,
                status: Status::from_name(status).expect("a status name"),
                censored_relayed: u32::from(status == "ok"),
                censored_failed: u32::from(status != "ok"),
                free_relayed: 1,
                free_failed: 0,
                disagreement: false,
            })
            .collect();
        NodeStatusView {
            node: id,
            operator: id,
            endpoint: Endpoint {
                host: "127.0.0.1".into(),
                port: 1080,
            },
            latest: history.first().cloned(),
            history,
        }
    }

    fn at(now: i64) -> Clock {
        Clock {
            now,
            window_secs: 30,
            settle: 2,
            first: 998,
        }
    }

    #[test]
    fn summarises_the_last_window_that_ended() {
        let nodes = [
            node(1, &[(1000, "ok"), (999, "ok")]),
            node(2, &[(1000, "blocked"), (999, "ok")]),
            node(3, &[(1000, "ok"), (999, "ok")]),
            node(4, &[(999, "ok")]),
        ];
        // Window 1000 ended at 30030; summarised from 30032 on.
        let line = render(&nodes, 2, at(30_031));
        assert!(
            line.complete
                .starts_with("window 999 08:19:30–08:20:00 UTC  nodes 4 OK"),
            "{line:?}"
        );
        let line = render(&nodes, 2, at(30_032));
        assert_eq!(
            line.complete,
            "window 1000 08:20:00–08:20:30 UTC  nodes 2 OK 1 BLOCKED 0 DOWN 1 not measured  probes 2  reports 6"
        );
        assert_eq!(line.live, "  (window 1001: 0 reports so far)");
    }

    #[test]
    fn before_the_first_window_ends() {
        let line = render(&[node(1, &[(998, "ok")])], 2, at(998 * 30 + 5));
        assert_eq!(
            line.complete,
            "waiting for the first window to end (08:19:32 UTC)  nodes 1  probes 2"
        );
        assert_eq!(line.live, "  (window 998: 2 reports so far)");
    }
}
