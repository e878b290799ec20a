//! The capacity factor: how a node's median measured throughput compares
//! with the configured target, in permille, clamped.

use crate::inputs::ScoringParams;

/// The median of the samples: the middle one of an odd count, the floor of
/// the mean of the two middle ones of an even count; `None` without samples.
pub(crate) fn median(samples: &[u64]) -> Option<u64> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let upper = *sorted.get(n / 2)?;
    if n % 2 == 1 {
        return Some(upper);
    }
    let lower = *sorted.get(n / 2 - 1)?;
    // (lower + upper) / 2 without overflow: both halves, plus 1 when both are odd.
    Some(lower / 2 + upper / 2 + (lower % 2 + upper % 2) / 2)
}

/// `clamp(floor(median × 1000 / target), min, max)`; `min` without a median.
///
/// The caller has checked `target > 0` and `min ≤ max`.
pub(crate) fn capacity_permille(median: Option<u64>, params: &ScoringParams) -> u32 {
    let (min, max) = (params.capacity_min_permille, params.capacity_max_permille);
    let Some(median) = median else {
        return min;
    };
    let target = u128::from(params.capacity_target_bps.max(1));
    let raw = u128::from(median) * 1000 / target;
    let clamped = raw.clamp(u128::from(min), u128::from(max));
    // `clamped ≤ max`, a u32.
    u32::try_from(clamped).unwrap_or(max)
}

#[cfg(test)]
mod test {
    use super::*;

    fn params(target: u64, min: u32, max: u32) -> ScoringParams {
        ScoringParams {
            capacity_target_bps: target,
            capacity_min_permille: min,
            capacity_max_permille: max,
            operator_cap_bps: 10_000,
            payout_minimum_sat: 0,
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[7]), Some(7));
        assert_eq!(median(&[9, 1, 5]), Some(5));
        // Even: (4 + 7) / 2 = 5.5 → 5.
        assert_eq!(median(&[7, 1, 4, 100]), Some(5));
        assert_eq!(median(&[u64::MAX, u64::MAX]), Some(u64::MAX));
        // (2^64 − 2 + 2^64 − 1) / 2 = 2^64 − 1.5 → 2^64 − 2.
        assert_eq!(median(&[u64::MAX, u64::MAX - 1]), Some(u64::MAX - 1));
        assert_eq!(median(&[3, 5]), Some(4));
    }

    #[test]
    fn factors() {
        let p = params(10_000_000, 100, 1500);
        assert_eq!(capacity_permille(None, &p), 100);
        // 5 Mbit/s of 10: 500 ‰.
        assert_eq!(capacity_permille(Some(5_000_000), &p), 500);
        // 12 345 678 × 1000 / 10^7 = 1234.5678 → 1234.
        assert_eq!(capacity_permille(Some(12_345_678), &p), 1234);
        // Clamped both ways.
        assert_eq!(capacity_permille(Some(1), &p), 100);
        assert_eq!(capacity_permille(Some(u64::MAX), &p), 1500);
        assert_eq!(
            capacity_permille(Some(u64::MAX), &params(1, 0, u32::MAX)),
            u32::MAX
        );
    }
}
