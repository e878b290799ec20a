//! The results table: medians per row and subject, with ratios of resist to the
//! direct path and to each anchor, as fixed-width text and as markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::proxy::Subject;

/// Which way a row improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Better {
    Higher,
    Lower,
}

/// What a cell shows when it has no number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Missing {
    /// The row does not apply (proxy CPU or memory on the direct path).
    Dash,
    /// The proxy cannot do this, or is not installed (explained in the notes).
    NotAvailable,
    /// Every run of the measurement failed (explained in the notes).
    Error,
}

/// One row of the table.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) unit: &'static str,
    pub(crate) better: Better,
    pub(crate) samples: BTreeMap<Subject, Vec<f64>>,
    pub(crate) missing: BTreeMap<Subject, Missing>,
}

impl Row {
    pub(crate) fn new(name: &str, unit: &'static str, better: Better) -> Row {
        let arrow = match better {
            Better::Higher => "↑",
            Better::Lower => "↓",
        };
        Row {
            name: format!("{name} {arrow}"),
            unit,
            better,
            samples: BTreeMap::new(),
            missing: BTreeMap::new(),
        }
    }

    /// The median of a subject's samples.
    pub(crate) fn median(&self, s: Subject) -> Option<f64> {
        let mut v = self.samples.get(&s)?.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        Some(if v.len() % 2 == 1 {
            *v.get(mid)?
        } else {
            (*v.get(mid - 1)? + *v.get(mid)?) / 2.0
        })
    }

    fn cell(&self, s: Subject) -> String {
        match (self.median(s), self.missing.get(&s)) {
            (Some(v), _) => number(v),
            (None, Some(Missing::Dash)) => "—".into(),
            (None, Some(Missing::Error)) => "error".into(),
            (None, Some(Missing::NotAvailable)) => "n/a".into(),
            (None, None) => "?".into(),
        }
    }

    fn ratio(&self, a: Subject, b: Subject) -> String {
        match (self.median(a), self.median(b)) {
            (Some(x), Some(y)) if y != 0.0 && (x != 0.0 || y > 0.0) => format!("{:.2}×", x / y),
            _ => "—".into(),
        }
    }

    /// The best anchor on this row, if any has a number.
    fn best_anchor(&self, anchors: &[Subject]) -> Option<Subject> {
        let with: Vec<(Subject, f64)> = anchors
            .iter()
            .filter_map(|a| self.median(*a).map(|v| (*a, v)))
            .collect();
        let pick = match self.better {
            Better::Higher => with.into_iter().max_by(|x, y| x.1.total_cmp(&y.1)),
            Better::Lower => with.into_iter().min_by(|x, y| x.1.total_cmp(&y.1)),
        };
        pick.map(|(a, _)| a)
    }
}

/// A number with precision that suits its size.
pub(crate) fn number(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The table as rows of cells, header first.
fn grid(rows: &[Row], subjects: &[Subject]) -> Vec<Vec<String>> {
    let anchors: Vec<Subject> = subjects
        .iter()
        .copied()
        .filter(|s| !matches!(s, Subject::Direct | Subject::Resist))
        .collect();
    let resist = subjects.contains(&Subject::Resist);
    let mut header = vec!["figure".to_string()];
    header.extend(subjects.iter().map(ToString::to_string));
    if resist {
        header.push("resist/direct".into());
        header.extend(anchors.iter().map(|a| format!("resist/{a}")));
        if anchors.len() > 1 {
            header.push("resist/best anchor".into());
        }
    }
    let mut out = vec![header];
    for row in rows {
        let mut line = vec![row.name.clone()];
        line.extend(subjects.iter().map(|s| row.cell(*s)));
        if resist {
            line.push(row.ratio(Subject::Resist, Subject::Direct));
            line.extend(anchors.iter().map(|a| row.ratio(Subject::Resist, *a)));
            if anchors.len() > 1 {
                let best = row
                    .best_anchor(&anchors)
                    .map(|b| (b, row.ratio(Subject::Resist, b)));
                line.push(match best {
                    Some((b, r)) if r != "—" => format!("{r} ({b})"),
                    _ => "—".into(),
                });
            }
        }
        out.push(line);
    }
    out
}

/// The fixed-width text table.
pub(crate) fn text(rows: &[Row], subjects: &[Subject]) -> String {
    let g = grid(rows, subjects);
    let cols = g.first().map_or(0, Vec::len);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            g.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, r) in g.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .zip(&width)
            .enumerate()
            .map(|(c, (s, w))| {
                let pad = " ".repeat(w.saturating_sub(s.chars().count()));
                if c == 0 {
                    format!("{s}{pad}")
                } else {
                    format!("{pad}{s}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join(" | ").trim_end());
        if i == 0 {
            let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
            let _ = writeln!(out, "{}", rule.join("-+-"));
        }
    }
    out
}

/// The same table in markdown.
pub(crate) fn markdown(rows: &[Row], subjects: &[Subject]) -> String {
    let g = grid(rows, subjects);
    let mut out = String::new();
    for (i, r) in g.iter().enumerate() {
        let _ = writeln!(out, "| {} |", r.join(" | "));
        if i == 0 {
            let align: Vec<&str> = (0..r.len())
                .map(|c| if c == 0 { "---" } else { "---:" })
                .collect();
            let _ = writeln!(out, "|{}|", align.join("|"));
        }
    }
    out
}

/// How far apart the runs of each cell were, (max − min) / median, as a
/// markdown table: the noise behind each median.
pub(crate) fn spread_markdown(rows: &[Row], subjects: &[Subject]) -> String {
    let mut out = String::new();
    let names: Vec<String> = subjects.iter().map(ToString::to_string).collect();
    let _ = writeln!(out, "| figure | {} |", names.join(" | "));
    let _ = writeln!(out, "|---|{}|", vec!["---:"; subjects.len()].join("|"));
    for row in rows {
        let cells: Vec<String> = subjects
            .iter()
            .map(|s| {
                let v = row.samples.get(s).filter(|v| v.len() > 1);
                match (v, row.median(*s)) {
                    (Some(v), Some(m)) if m != 0.0 => {
                        let max = v.iter().copied().fold(f64::MIN, f64::max);
                        let min = v.iter().copied().fold(f64::MAX, f64::min);
                        format!("{:.0}%", (max - min) / m.abs() * 100.0)
                    }
                    _ => "—".into(),
                }
            })
            .collect();
        let _ = writeln!(out, "| {} | {} |", row.name.trim(), cells.join(" | "));
    }
    out
}

/// The line under every table.
pub(crate) const LEGEND: &str = "Medians of interleaved runs. ↑ higher is better, ↓ lower is better. \
Ratios are resist ÷ the other column (on ↓ rows, below 1× means resist is better). \
\"—\": does not apply; \"n/a\": not supported or not installed (see notes). \
Proxy CPU-s: utime+stime of the proxy's processes (with tick-based accounting this \
includes softirq network work done in their context).";

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn medians_and_ratios() {
        let mut r = Row::new("x", "u", Better::Lower);
        r.samples.insert(Subject::Resist, vec![3.0, 1.0, 2.0]);
        r.samples.insert(Subject::Dante, vec![4.0, 8.0]);
        r.samples.insert(Subject::Microsocks, vec![5.0]);
        r.missing.insert(Subject::Direct, Missing::Dash);
        assert_eq!(r.median(Subject::Resist), Some(2.0));
        assert_eq!(r.median(Subject::Dante), Some(6.0));
        assert_eq!(
            r.best_anchor(&[Subject::Dante, Subject::Microsocks]),
            Some(Subject::Microsocks)
        );
        let t = text(
            &[r],
            &[
                Subject::Direct,
                Subject::Resist,
                Subject::Dante,
                Subject::Microsocks,
            ],
        );
        assert!(t.contains("0.40× (microsocks)"), "{t}");
        assert!(t.contains('—'), "{t}");
    }
}
