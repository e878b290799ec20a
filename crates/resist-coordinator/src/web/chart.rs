//! Status charts as inline SVG, drawn on the server: the dashboard loads no
//! script, no font and nothing from another host (the page's CSP forbids
//! it), so a chart is markup like the rest of the page.
//!
//! Two charts, both pure functions of the classification the coordinator
//! already computed (`measure::node_status`):
//!
//! - [`network`]: one stacked bar per window, counting nodes OK (bottom),
//!   BLOCKED, DOWN and UNKNOWN (top), on one y scale for the whole chart, so
//!   bar heights compare across windows;
//! - [`strip`]: one node's history as a row of cells, one per window, oldest
//!   on the left.
//!
//! Colours are from the Okabe–Ito palette, chosen to stay apart for the
//! common kinds of colour blindness; DOWN is black and UNKNOWN light grey, so
//! they differ in lightness too. Colour is never the only carrier: every
//! chart has a `<title>` and `<desc>` (read out by screen readers), every
//! cell and segment a `<title>` (a tooltip without JavaScript), [`legend`]
//! names the colours in words, and the pages put a table of the same
//! numbers next to each chart.

use std::fmt::Write as _;

use maud::{Markup, html};
use resist_measure::Status;

/// Every status, in stacking order (bottom to top) and legend order.
pub(crate) const STATUSES: [Status; 4] =
    [Status::Ok, Status::Blocked, Status::Down, Status::Unknown];

/// The fill of a status (Okabe–Ito bluish green, vermillion, black; grey).
pub(crate) fn colour(status: Status) -> &'static str {
    match status {
        Status::Ok => "#009e73",
        Status::Blocked => "#d55e00",
        Status::Down => "#000000",
        Status::Unknown => "#bbbbbb",
    }
}

/// The word for a status on a page: `OK`, `BLOCKED`, `DOWN`, `UNKNOWN`.
pub(crate) fn word(status: Status) -> &'static str {
    match status {
        Status::Ok => "OK",
        Status::Blocked => "BLOCKED",
        Status::Down => "DOWN",
        Status::Unknown => "UNKNOWN",
    }
}

/// What a status means, for the legend.
fn meaning(status: Status) -> &'static str {
    match status {
        Status::Ok => "a probe in a censored network relayed through the node",
        Status::Blocked => "censored probes failed while a free probe relayed",
        Status::Down => "probes failed on both sides",
        Status::Unknown => "no report from a censored network",
    }
}

/// How many nodes had each status in one window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Nodes OK.
    pub(crate) ok: u32,
    /// Nodes BLOCKED.
    pub(crate) blocked: u32,
    /// Nodes DOWN.
    pub(crate) down: u32,
    /// Nodes UNKNOWN.
    pub(crate) unknown: u32,
}

impl Counts {
    /// The count for `status`.
    pub(crate) fn of(&self, status: Status) -> u32 {
        match status {
            Status::Ok => self.ok,
            Status::Blocked => self.blocked,
            Status::Down => self.down,
            Status::Unknown => self.unknown,
        }
    }

    /// Counts one more node with `status`.
    pub(crate) fn add(&mut self, status: Status) {
        let c = match status {
            Status::Ok => &mut self.ok,
            Status::Blocked => &mut self.blocked,
            Status::Down => &mut self.down,
            Status::Unknown => &mut self.unknown,
        };
        *c = c.saturating_add(1);
    }

    /// All nodes counted.
    pub(crate) fn total(&self) -> u32 {
        STATUSES
            .iter()
            .fold(0u32, |t, s| t.saturating_add(self.of(*s)))
    }

    /// `3 OK, 1 BLOCKED, 0 DOWN, 2 UNKNOWN`.
    pub(crate) fn sentence(&self) -> String {
        let mut out = String::new();
        for (i, s) in STATUSES.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{} {}", self.of(*s), word(*s));
        }
        out
    }
}

/// One window of the network chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bar {
    /// When the window started (Unix seconds).
    pub(crate) start: i64,
    /// Its node counts.
    pub(crate) counts: Counts,
}

/// One window of a node's strip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cell {
    /// When the window started (Unix seconds).
    pub(crate) start: i64,
    /// The node's status in it.
    pub(crate) status: Status,
}

/// `2026-11-22 07:10 UTC`.
pub(crate) fn time(start: i64) -> String {
    let rfc3339 = resist_clock::UnixTime(start).to_string();
    // `2026-11-22T07:10:00Z` → date and minutes.
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(date), Some(hm)) => format!("{date} {hm} UTC"),
        _ => rfc3339,
    }
}

/// `07:10`, for axis labels.
fn clock(start: i64) -> String {
    let secs = start.rem_euclid(86_400);
    format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// A coordinate with two decimals, trailing zeros dropped.
fn n(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The legend: a swatch and the status in words, with what it means.
pub(crate) fn legend() -> Markup {
    html! {
        ul.legend aria-label="Legend of the status colours" {
            @for s in STATUSES {
                li {
                    span.swatch style={ "background:" (colour(s)) } aria-hidden="true" {}
                    strong { (word(s)) } " — " (meaning(s))
                }
            }
        }
    }
}

/// A status in words on a coloured badge (the word carries the meaning,
/// the colour repeats it).
pub(crate) fn badge(status: Status) -> Markup {
    let class = match status {
        Status::Ok => "badge ok",
        Status::Blocked => "badge blocked",
        Status::Down => "badge down",
        Status::Unknown => "badge unknown",
    };
    html! { span class=(class) { (word(status)) } }
}

/// Size of the network chart's drawing, in SVG user units.
const NET_W: f64 = 720.0;
const NET_H: f64 = 220.0;
const NET_LEFT: f64 = 40.0;
const NET_RIGHT: f64 = 8.0;
const NET_TOP: f64 = 10.0;
const NET_BOTTOM: f64 = 26.0;
/// At most this many time labels under the bars.
const MAX_X_LABELS: usize = 6;

/// The network chart: per window, the nodes OK / BLOCKED / DOWN / UNKNOWN
/// as stacked bars, oldest window on the left. `id` must be unique in the
/// page (it names the `<title>` and `<desc>` for `aria-labelledby`).
pub(crate) fn network(id: &str, bars: &[Bar]) -> Markup {
    let plot_w = NET_W - NET_LEFT - NET_RIGHT;
    let plot_h = NET_H - NET_TOP - NET_BOTTOM;
    let max = bars
        .iter()
        .map(|b| b.counts.total())
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = plot_w / bars.len().max(1) as f64;
    // Gaps between bars while they are wide enough to see them.
    let gap = if slot >= 6.0 { slot * 0.15 } else { 0.0 };
    let mut totals = Counts::default();
    for b in bars {
        for s in STATUSES {
            for _ in 0..b.counts.of(s) {
                totals.add(s);
            }
        }
    }
    let title = format!("Nodes by status in each of the last {} windows", bars.len());
    let desc = match (bars.first(), bars.last()) {
        (Some(first), Some(last)) => format!(
            "From {} to {}. Latest window: {}. Over all windows (node-windows): {}.",
            time(first.start),
            time(last.start),
            last.counts.sentence(),
            totals.sentence()
        ),
        _ => "No windows to show.".to_owned(),
    };
    let label_every = bars.len().div_ceil(MAX_X_LABELS).max(1);
    let (title_id, desc_id) = (format!("{id}-title"), format!("{id}-desc"));
    html! {
        svg.chart.network id=(id) xmlns="http://www.w3.org/2000/svg"
            viewBox={ "0 0 " (n(NET_W)) " " (n(NET_H)) } role="img"
            aria-labelledby={ (title_id) " " (desc_id) } shape-rendering="crispEdges" {
            title id=(title_id) { (title) }
            desc id=(desc_id) { (desc) }
            // Axes and the y scale: 0 at the bottom, the largest total on top.
            line.axis x1=(n(NET_LEFT)) y1=(n(NET_TOP + plot_h)) x2=(n(NET_W - NET_RIGHT))
                y2=(n(NET_TOP + plot_h)) {}
            line.axis x1=(n(NET_LEFT)) y1=(n(NET_TOP)) x2=(n(NET_LEFT)) y2=(n(NET_TOP + plot_h)) {}
            text.tick x=(n(NET_LEFT - 6.0)) y=(n(NET_TOP + plot_h)) text-anchor="end"
                dominant-baseline="middle" { "0" }
            text.tick x=(n(NET_LEFT - 6.0)) y=(n(NET_TOP)) text-anchor="end"
                dominant-baseline="hanging" { (max) }
            @for (i, b) in bars.iter().enumerate() {
                @let x = NET_LEFT + slot * i as f64 + gap / 2.0;
                @let w = (slot - gap).max(0.0);
                g {
                    @for (s, y, h) in stack(&b.counts, max, NET_TOP + plot_h, plot_h) {
                        rect x=(n(x)) y=(n(y)) width=(n(w)) height=(n(h)) fill=(colour(s)) {
                            title { (time(b.start)) ": " (b.counts.of(s)) " " (word(s)) }
                        }
                    }
                }
                @if i + 1 == bars.len() {
                    text.tick x=(n(NET_W - NET_RIGHT)) y=(n(NET_H - 8.0)) text-anchor="end" {
                        (clock(b.start))
                    }
                } @else if i % label_every == 0 && i + label_every / 2 + 1 < bars.len() {
                    text.tick x=(n(x + w / 2.0)) y=(n(NET_H - 8.0)) text-anchor="middle" {
                        (clock(b.start))
                    }
                }
            }
        }
    }
}

/// The segments of one stacked bar, bottom to top: status, top y, height.
fn stack(counts: &Counts, max: u32, bottom: f64, plot_h: f64) -> Vec<(Status, f64, f64)> {
    let mut out = Vec::new();
    let mut y = bottom;
    for s in STATUSES {
        let c = counts.of(s);
        if c == 0 {
            continue;
        }
        let h = plot_h * f64::from(c) / f64::from(max);
        y -= h;
        out.push((s, y, h));
    }
    out
}

/// How big a strip is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StripSize {
    /// In a table row, next to other nodes.
    Small,
    /// On a page of its own.
    Large,
}

/// A node's history: one cell per window, oldest on the left, drawn in
/// the last `cells.len()` of `slots` places (a node registered late starts
/// late; the places before it stay empty). `label` names the node for the
/// chart's accessible name (`node 7`).
pub(crate) fn strip(label: &str, cells: &[Cell], slots: usize, size: StripSize) -> Markup {
    let (w, h) = match size {
        StripSize::Small => (240.0, 16.0),
        StripSize::Large => (720.0, 40.0),
    };
    let slots = slots.max(cells.len()).max(1);
    let slot = w / slots as f64;
    let offset = slots - cells.len();
    let mut totals = Counts::default();
    for c in cells {
        totals.add(c.status);
    }
    let aria = match (cells.first(), cells.last()) {
        (Some(first), Some(last)) => format!(
            "Status of {label} in {} windows from {} to {}: {}; latest {}",
            cells.len(),
            time(first.start),
            time(last.start),
            totals.sentence(),
            word(last.status)
        ),
        _ => format!("No windows to show for {label}"),
    };
    let class = match size {
        StripSize::Small => "chart strip small",
        StripSize::Large => "chart strip large",
    };
    html! {
        svg class=(class) xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (n(w)) " " (n(h)) }
            preserveAspectRatio="none" role="img" aria-label=(aria) shape-rendering="crispEdges" {
            title { (aria) }
            @for (i, c) in cells.iter().enumerate() {
                rect x=(n(slot * (offset + i) as f64)) y="0" width=(n(slot)) height=(n(h)) fill=(colour(c.status)) {
                    title { (time(c.start)) ": " (word(c.status)) }
                }
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn counts(ok: u32, blocked: u32, down: u32, unknown: u32) -> Counts {
        Counts {
            ok,
            blocked,
            down,
            unknown,
        }
    }

    /// `(fill, height)` of every rect in the markup, in document order.
    fn rects(svg: &str) -> Vec<(String, f64)> {
        svg.split("<rect ")
            .skip(1)
            .map(|r| {
                let attr = |name: &str| {
                    let key = format!("{name}=\"");
                    let start = r.find(&key).unwrap() + key.len();
                    r[start..].split('"').next().unwrap().to_owned()
                };
                (attr("fill"), attr("height").parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn bars_stack_ok_at_the_bottom_on_one_scale() {
        let bars = [
            Bar {
                start: 1_795_000_200,
                counts: counts(3, 1, 0, 0),
            },
            Bar {
                start: 1_795_000_800,
                counts: counts(1, 0, 1, 0),
            },
        ];
        let svg = network("net", &bars).into_string();
        let r = rects(&svg);
        // Two segments, then two: zero counts draw nothing.
        let fills: Vec<&str> = r.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fills,
            [
                colour(Status::Ok),
                colour(Status::Blocked),
                colour(Status::Ok),
                colour(Status::Down)
            ]
        );
        // One scale: the tallest bar (4 nodes) fills the plot; one node is a quarter of it.
        let plot_h = NET_H - NET_TOP - NET_BOTTOM;
        assert!((r[0].1 - plot_h * 0.75).abs() < 0.01, "{r:?}");
        assert!((r[1].1 - plot_h * 0.25).abs() < 0.01, "{r:?}");
        assert!((r[2].1 - r[3].1).abs() < 0.01, "{r:?}");
        assert!((r[2].1 + r[3].1 - plot_h * 0.5).abs() < 0.02, "{r:?}");
        // Accessible name and text alternative.
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains(r#"aria-labelledby="net-title net-desc""#));
        assert!(
            svg.contains("Latest window: 1 OK, 0 BLOCKED, 1 DOWN, 0 UNKNOWN."),
            "{svg}"
        );
        assert!(svg.contains("2026-11-18 11:10 UTC: 1 BLOCKED"), "{svg}");
        // The y scale is labelled with the largest total.
        assert!(
            svg.contains(r#"dominant-baseline="hanging">4</text>"#),
            "{svg}"
        );
    }

    #[test]
    fn an_empty_network_chart_still_renders_and_says_so() {
        let svg = network("empty", &[]).into_string();
        assert!(rects(&svg).is_empty());
        assert!(svg.contains("No windows to show."));
        let zero = network(
            "zero",
            &[Bar {
                start: 0,
                counts: Counts::default(),
            }],
        )
        .into_string();
        assert!(rects(&zero).is_empty(), "no NaN heights for a zero total");
        assert!(!zero.contains("NaN"));
    }

    #[test]
    fn time_labels_are_thinned_out() {
        let bars: Vec<Bar> = (0..100)
            .map(|i| Bar {
                start: i * 600,
                counts: counts(1, 0, 0, 0),
            })
            .collect();
        let svg = network("many", &bars).into_string();
        let labels = svg.matches(r#"text-anchor="middle""#).count();
        assert!((2..=MAX_X_LABELS).contains(&labels), "{labels}");
        // The newest window's label ends at the right edge (not cut off).
        assert_eq!(
            svg.matches(r#"text-anchor="end""#).count(),
            3,
            "0, max, last"
        );
        assert_eq!(rects(&svg).len(), 100);
    }

    #[test]
    fn a_strip_has_one_cell_per_window_in_order() {
        let cells: Vec<Cell> = [Status::Ok, Status::Ok, Status::Blocked, Status::Unknown]
            .iter()
            .enumerate()
            .map(|(i, &status)| Cell {
                start: 600 * i as i64,
                status,
            })
            .collect();
        let svg = strip("node 7", &cells, 4, StripSize::Large).into_string();
        let fills: Vec<String> = rects(&svg).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fills,
            ["#009e73", "#009e73", "#d55e00", "#bbbbbb"].map(String::from)
        );
        assert!(
            svg.contains(
                "Status of node 7 in 4 windows from 1970-01-01 00:00 UTC to 1970-01-01 00:30 UTC: 2 OK, 1 BLOCKED, 0 DOWN, 1 UNKNOWN; latest UNKNOWN"
            ),
            "{svg}"
        );
        assert!(svg.contains("1970-01-01 00:20 UTC: BLOCKED"));
        // In eight places, the four cells take the right half.
        let late = strip("node 7", &cells, 8, StripSize::Large).into_string();
        assert!(late.contains(r#"<rect x="360" y="0" width="90""#), "{late}");
        assert_eq!(rects(&late).len(), 4);
    }

    #[test]
    fn labels_are_escaped() {
        let svg = strip("<script>x</script>", &[], 0, StripSize::Small).into_string();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
    }

    #[test]
    fn colours_are_distinct_and_named() {
        let mut seen: Vec<&str> = STATUSES.iter().map(|s| colour(*s)).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 4);
        let legend = legend().into_string();
        for s in STATUSES {
            assert!(
                legend.contains(word(s)) && legend.contains(colour(s)),
                "{legend}"
            );
        }
    }

    #[test]
    fn times_are_utc_minutes() {
        assert_eq!(time(1_795_000_200), "2026-11-18 11:10 UTC");
        assert_eq!(clock(1_795_000_200), "11:10");
        assert_eq!(n(12.0), "12");
        assert_eq!(n(12.345), "12.35");
        assert_eq!(n(0.5), "0.5");
    }
}
