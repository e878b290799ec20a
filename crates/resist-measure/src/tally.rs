//! Many reports → a verdict per node and window.
//!
//! Status pages, the distributor and the grant epoch all ask the same
//! question of a range of reports: for each node, what was each window's
//! verdict? A [`Tally`] collects the observations and answers it, so the
//! grouping is written once and every caller counts the same OK windows.

use std::collections::BTreeMap;

use crate::{Observation, Status, Verdict, classify};

/// Observations grouped by node and window.
#[derive(Clone, Debug)]
pub struct Tally<N> {
    by_node: BTreeMap<N, BTreeMap<i64, Vec<Observation>>>,
}

impl<N: Ord> Default for Tally<N> {
    fn default() -> Self {
        Self {
            by_node: BTreeMap::new(),
        }
    }
}

impl<N: Ord> Tally<N> {
    /// An empty tally.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one report's observation of `node` in `window`.
    pub fn record(&mut self, node: N, window: i64, observation: Observation) {
        self.by_node
            .entry(node)
            .or_default()
            .entry(window)
            .or_default()
            .push(observation);
    }

    /// The verdict of every window `node` has reports in, oldest first
    /// (`.rev()` for newest first). Windows without reports are not listed:
    /// they are UNKNOWN.
    pub fn verdicts_of(&self, node: &N) -> impl DoubleEndedIterator<Item = (i64, Verdict)> + '_ {
        self.by_node
            .get(node)
            .into_iter()
            .flat_map(|windows| windows.iter().map(|(&w, obs)| (w, classify(obs))))
    }

    /// How many of `node`'s windows are OK: what grants pay for.
    pub fn ok_windows(&self, node: &N) -> u32 {
        let ok = self
            .verdicts_of(node)
            .filter(|(_, v)| v.status() == Status::Ok)
            .count();
        u32::try_from(ok).unwrap_or(u32::MAX)
    }
}

/// The throughput of a canary sample of `bytes` received in `micros`, in
/// bits per second; `None` for an empty or instantaneous sample, which
/// measures nothing.
pub fn throughput_bps(bytes: u32, micros: u32) -> Option<u64> {
    (bytes > 0 && micros > 0).then(|| u64::from(bytes) * 8 * 1_000_000 / u64::from(micros))
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::Side;

    fn obs(side: Side, relayed: bool) -> Observation {
        Observation { side, relayed }
    }

    #[test]
    fn verdicts_are_per_node_and_window() {
        let mut t = Tally::new();
        t.record("a", 2, obs(Side::Censored, false));
        t.record("a", 1, obs(Side::Censored, true));
        t.record("a", 2, obs(Side::Free, true));
        t.record("b", 1, obs(Side::Censored, false));
        t.record("b", 1, obs(Side::Free, false));
        let a: Vec<(i64, Status)> = t.verdicts_of(&"a").map(|(w, v)| (w, v.status())).collect();
        assert_eq!(a, [(1, Status::Ok), (2, Status::Blocked)]);
        let newest_first: Vec<i64> = t.verdicts_of(&"a").rev().map(|(w, _)| w).collect();
        assert_eq!(newest_first, [2, 1]);
        let b: Vec<(i64, Status)> = t.verdicts_of(&"b").map(|(w, v)| (w, v.status())).collect();
        assert_eq!(b, [(1, Status::Down)]);
        assert_eq!(t.verdicts_of(&"c").count(), 0);
    }

    #[test]
    fn ok_windows_count_only_ok() {
        let mut t = Tally::new();
        for w in 0..5 {
            t.record(7, w, obs(Side::Censored, w % 2 == 0));
            t.record(7, w, obs(Side::Free, true));
        }
        t.record(7, 9, obs(Side::Free, true)); // UNKNOWN: no censored report
        assert_eq!(t.ok_windows(&7), 3);
        assert_eq!(t.ok_windows(&8), 0);
    }

    #[test]
    fn throughput_needs_bytes_and_time() {
        assert_eq!(throughput_bps(125_000, 1_000_000), Some(1_000_000));
        assert_eq!(throughput_bps(1, 1), Some(8_000_000));
        assert_eq!(throughput_bps(0, 10), None);
        assert_eq!(throughput_bps(10, 0), None);
        assert_eq!(
            throughput_bps(u32::MAX, 1),
            Some(u64::from(u32::MAX) * 8_000_000)
        );
    }
}
