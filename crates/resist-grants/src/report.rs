//! The published report and its check: the inputs and the result side by
//! side, so that anyone can run the same [`score`] and compare.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ScoringError;
use crate::inputs::EpochInputs;
use crate::result::{EpochResult, GroupResult, NodeResult, OperatorResult, UnitResult};
use crate::score::score;

/// The report format this crate writes and checks. A change to any rule or
/// field is a new version; old versions stay readable by the release that
/// wrote them.
pub const FORMAT_VERSION: u32 = 1;

/// One epoch's published report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Always [`FORMAT_VERSION`] when written by this crate.
    pub format_version: u32,
    /// What the epoch was scored from.
    pub inputs: EpochInputs,
    /// What scoring gave.
    pub result: EpochResult,
}

/// Why a report could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The report declares a format this crate does not know (written by a
    /// newer or older resist). Check it with the release that wrote it.
    #[error(
        "report format_version {format_version} is not supported (this build reads {FORMAT_VERSION})"
    )]
    UnsupportedFormat {
        /// The version the report declares.
        format_version: u32,
    },
    /// The text is not a report of this format: bad JSON, a missing or
    /// unknown field, or a value of the wrong type. The message says where.
    #[error("not a valid report: {0}")]
    Json(#[from] serde_json::Error),
}

impl Report {
    /// Scores `inputs` and wraps inputs and result in a report.
    ///
    /// # Errors
    ///
    /// The inputs' [`ScoringError`].
    pub fn new(inputs: EpochInputs) -> Result<Report, ScoringError> {
        let result = score(&inputs)?;
        Ok(Report {
            format_version: FORMAT_VERSION,
            inputs,
            result,
        })
    }

    /// The report as pretty-printed JSON, ending in a newline.
    ///
    /// # Errors
    ///
    /// Only if serialization fails, which these types do not do.
    pub fn to_json(&self) -> Result<String, ReportError> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        Ok(text)
    }

    /// Reads a report, checking its `format_version` before anything else so
    /// that a report of another version says so rather than failing on a field.
    ///
    /// # Errors
    ///
    /// [`ReportError::UnsupportedFormat`] or [`ReportError::Json`].
    pub fn from_json(text: &str) -> Result<Report, ReportError> {
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        let Version { format_version } = serde_json::from_str(text)?;
        if format_version != FORMAT_VERSION {
            return Err(ReportError::UnsupportedFormat { format_version });
        }
        Ok(serde_json::from_str(text)?)
    }
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verification {
    /// Every published number follows from the published inputs.
    Ok,
    /// The report declares a format this crate does not check.
    UnsupportedFormat {
        /// The version the report declares.
        format_version: u32,
    },
    /// The published inputs break a rule, so nothing could be recomputed.
    InvalidInputs(ScoringError),
    /// Recomputed values that differ from the published ones, every one of
    /// them, in result order (totals, nodes, groups, operators).
    Mismatches(Vec<Mismatch>),
}

impl Verification {
    /// Whether the report checked out.
    pub fn is_ok(&self) -> bool {
        matches!(self, Verification::Ok)
    }
}

/// One published value that does not follow from the inputs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// What the value belongs to.
    pub subject: Subject,
    /// The result field, as named in the JSON; `entry` when the whole entry
    /// is missing, extra or repeated.
    pub field: &'static str,
    /// The recomputed value, as JSON text.
    pub expected: String,
    /// The published value, as JSON text.
    pub published: String,
}

/// What a [`Mismatch`] is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Subject {
    /// The epoch's totals.
    Epoch,
    /// A node's entry.
    Node {
        /// The node.
        node: i64,
    },
    /// A group's entry.
    Group {
        /// The group, as published.
        group: String,
    },
    /// An operator's unit in a group.
    Unit {
        /// The group.
        group: String,
        /// The operator.
        operator: i64,
    },
    /// An operator's entry.
    Operator {
        /// The operator.
        operator: i64,
    },
}

/// Recomputes the report's result from its inputs with [`score`] and lists
/// every published value that differs. List order is not checked (entries
/// are matched by id or group); contents are, field by field.
pub fn verify(report: &Report) -> Verification {
    if report.format_version != FORMAT_VERSION {
        return Verification::UnsupportedFormat {
            format_version: report.format_version,
        };
    }
    let expected = match score(&report.inputs) {
        Ok(result) => result,
        Err(e) => return Verification::InvalidInputs(e),
    };
    let published = &report.result;
    let mut out = Vec::new();
    let epoch = Subject::Epoch;
    check(
        &mut out,
        &epoch,
        "total_points",
        &expected.total_points,
        &published.total_points,
    );
    check(
        &mut out,
        &epoch,
        "cap_sat",
        &expected.cap_sat,
        &published.cap_sat,
    );
    check(
        &mut out,
        &epoch,
        "remainder_sat",
        &expected.remainder_sat,
        &published.remainder_sat,
    );
    check(
        &mut out,
        &epoch,
        "credit_in_total_sat",
        &expected.credit_in_total_sat,
        &published.credit_in_total_sat,
    );
    check(
        &mut out,
        &epoch,
        "paid_total_sat",
        &expected.paid_total_sat,
        &published.paid_total_sat,
    );
    check(
        &mut out,
        &epoch,
        "carried_out_total_sat",
        &expected.carried_out_total_sat,
        &published.carried_out_total_sat,
    );
    compare_entries(
        &mut out,
        &expected.per_node,
        &published.per_node,
        |n: &NodeResult| n.node,
        |&node| Subject::Node { node },
        compare_node,
    );
    compare_entries(
        &mut out,
        &expected.per_group,
        &published.per_group,
        |g: &GroupResult| g.group.clone(),
        |group| Subject::Group {
            group: group.clone(),
        },
        compare_group,
    );
    compare_entries(
        &mut out,
        &expected.per_operator,
        &published.per_operator,
        |o: &OperatorResult| o.operator,
        |&operator| Subject::Operator { operator },
        compare_operator,
    );
    if out.is_empty() {
        Verification::Ok
    } else {
        Verification::Mismatches(out)
    }
}

fn compare_node(out: &mut Vec<Mismatch>, s: &Subject, e: &NodeResult, p: &NodeResult) {
    check(out, s, "operator", &e.operator, &p.operator);
    check(out, s, "group", &e.group, &p.group);
    check(out, s, "group_size", &e.group_size, &p.group_size);
    check(out, s, "median_bps", &e.median_bps, &p.median_bps);
    check(
        out,
        s,
        "capacity_permille",
        &e.capacity_permille,
        &p.capacity_permille,
    );
    check(out, s, "weight", &e.weight, &p.weight);
    check(out, s, "points", &e.points, &p.points);
}

fn compare_group(out: &mut Vec<Mismatch>, s: &Subject, e: &GroupResult, p: &GroupResult) {
    check(out, s, "node_count", &e.node_count, &p.node_count);
    check(out, s, "total_weight", &e.total_weight, &p.total_weight);
    let group = e.group.clone();
    compare_entries(
        out,
        &e.units,
        &p.units,
        |u: &UnitResult| u.operator,
        |&operator| Subject::Unit {
            group: group.clone(),
            operator,
        },
        compare_unit,
    );
}

fn compare_unit(out: &mut Vec<Mismatch>, s: &Subject, e: &UnitResult, p: &UnitResult) {
    check(out, s, "best_node", &e.best_node, &p.best_node);
    check(out, s, "weight", &e.weight, &p.weight);
    check(out, s, "points", &e.points, &p.points);
}

fn compare_operator(out: &mut Vec<Mismatch>, s: &Subject, e: &OperatorResult, p: &OperatorResult) {
    check(
        out,
        s,
        "payout_address",
        &e.payout_address,
        &p.payout_address,
    );
    check(out, s, "points", &e.points, &p.points);
    check(out, s, "amount_sat", &e.amount_sat, &p.amount_sat);
    check(out, s, "capped", &e.capped, &p.capped);
    check(out, s, "credit_in_sat", &e.credit_in_sat, &p.credit_in_sat);
    check(
        out,
        s,
        "payout_threshold_sat",
        &e.payout_threshold_sat,
        &p.payout_threshold_sat,
    );
    check(out, s, "paid_sat", &e.paid_sat, &p.paid_sat);
    check(
        out,
        s,
        "carried_out_sat",
        &e.carried_out_sat,
        &p.carried_out_sat,
    );
}

fn check<T: PartialEq + Serialize>(
    out: &mut Vec<Mismatch>,
    subject: &Subject,
    field: &'static str,
    e: &T,
    p: &T,
) {
    if e != p {
        out.push(Mismatch {
            subject: subject.clone(),
            field,
            expected: json(e),
            published: json(p),
        });
    }
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("<unprintable: {e}>"))
}

/// Matches entries by key: each expected entry must be published exactly
/// once, and nothing else may be published.
fn compare_entries<T, K: Ord>(
    out: &mut Vec<Mismatch>,
    expected: &[T],
    published: &[T],
    key: impl Fn(&T) -> K,
    subject: impl Fn(&K) -> Subject,
    fields: impl Fn(&mut Vec<Mismatch>, &Subject, &T, &T),
) {
    let mut by_key: BTreeMap<K, Vec<&T>> = BTreeMap::new();
    for p in published {
        by_key.entry(key(p)).or_default().push(p);
    }
    for e in expected {
        let k = key(e);
        let s = subject(&k);
        match by_key.remove(&k).as_deref() {
            None | Some([]) => out.push(entry(s, "present", "missing")),
            Some([p]) => fields(out, &s, e, p),
            Some(many) => out.push(entry(
                s,
                "listed once",
                &format!("listed {} times", many.len()),
            )),
        }
    }
    for k in by_key.keys() {
        out.push(entry(subject(k), "absent", "present"));
    }
}

fn entry(subject: Subject, expected: &str, published: &str) -> Mismatch {
    Mismatch {
        subject,
        field: "entry",
        expected: expected.to_owned(),
        published: published.to_owned(),
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Epoch => write!(f, "epoch"),
            Subject::Node { node } => write!(f, "node {node}"),
            Subject::Group { group } => write!(f, "group {group}"),
            Subject::Unit { group, operator } => write!(f, "group {group}, operator {operator}"),
            Subject::Operator { operator } => write!(f, "operator {operator}"),
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: expected {}, published {}",
            self.subject, self.field, self.expected, self.published
        )
    }
}

/// One line for OK, else one line per mismatch under a heading.
impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verification::Ok => write!(
                f,
                "OK: every published value follows from the published inputs"
            ),
            Verification::UnsupportedFormat { format_version } => write!(
                f,
                "cannot check: report format_version {format_version}, this build checks {FORMAT_VERSION}"
            ),
            Verification::InvalidInputs(e) => {
                write!(f, "cannot check: the published inputs are invalid: {e}")
            }
            Verification::Mismatches(list) => {
                write!(
                    f,
                    "MISMATCH: {} published value(s) do not follow from the inputs",
                    list.len()
                )?;
                for m in list {
                    write!(f, "\n  {m}")?;
                }
                Ok(())
            }
        }
    }
}
