//! Which windows the next epoch covers.
//!
//! Epochs are chained window to window, so no window is paid twice and none
//! is skipped: epoch n+1 starts at the window after epoch n's last. Only the
//! first epoch may say where it starts (by default a week before its end).
//! An epoch ends with the last whole window before its end time, never one
//! still running, and covers at most a bounded number of windows. The same
//! rules close an epoch on the coordinator and in a simulation.

use std::time::Duration;

use resist_measure::Windows;

/// The windows an epoch covers, `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochRange {
    /// Its first window.
    pub first: i64,
    /// Its last window (inclusive).
    pub last: i64,
}

/// What the next epoch is asked to cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeRequest {
    /// The last window of the epoch before, if there is one.
    pub previous_last: Option<i64>,
    /// Where the first epoch starts (Unix seconds); later epochs must not say.
    pub from: Option<i64>,
    /// Where it ends (Unix seconds): the last whole window before this counts.
    pub to: i64,
}

/// The limits an epoch's range is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeRules {
    /// How time is cut into windows.
    pub windows: Windows,
    /// How far back the first epoch reaches when it names no start.
    pub first_epoch_span: Duration,
    /// Most windows one epoch may cover.
    pub max_windows: i64,
}

/// Why the next epoch cannot cover what was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RangeError {
    /// A start was named for an epoch that must start where the previous ended.
    #[error("only the first epoch takes `from`; later ones start where the previous ended")]
    StartOfALaterEpoch,
    /// Not one whole window lies between the start and the end yet: close it
    /// after `first_window_ends_at`.
    #[error(
        "it starts at {starts_at} (Unix seconds) and the first window ends at {first_window_ends_at}"
    )]
    NoWholeWindowYet {
        /// When the epoch's first window starts.
        starts_at: i64,
        /// When that window ends.
        first_window_ends_at: i64,
    },
    /// More windows than `max_windows`: close an earlier end first.
    #[error("an epoch covers at most {max_windows} windows; close an earlier end first")]
    TooLong {
        /// The limit.
        max_windows: i64,
    },
}

impl RangeRules {
    /// The windows the next epoch covers.
    pub fn next(&self, asked: RangeRequest) -> Result<EpochRange, RangeError> {
        let w = self.windows;
        let first = match (asked.previous_last, asked.from) {
            (Some(_), Some(_)) => return Err(RangeError::StartOfALaterEpoch),
            (Some(previous), None) => previous.saturating_add(1),
            (None, from) => {
                let span = i64::try_from(self.first_epoch_span.as_secs()).unwrap_or(i64::MAX);
                let from = from.unwrap_or_else(|| asked.to.saturating_sub(span));
                w.whole_in(from, asked.to).0
            }
        };
        let last = w.whole_in(0, asked.to).1;
        if last < first {
            return Err(RangeError::NoWholeWindowYet {
                starts_at: w.start(first),
                first_window_ends_at: w.end(first),
            });
        }
        if last - first >= self.max_windows {
            return Err(RangeError::TooLong {
                max_windows: self.max_windows,
            });
        }
        Ok(EpochRange { first, last })
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const RULES: RangeRules = RangeRules {
        windows: Windows::new(Duration::from_secs(10)),
        first_epoch_span: Duration::from_secs(100),
        max_windows: 50,
    };

    fn ask(previous_last: Option<i64>, from: Option<i64>, to: i64) -> RangeRequest {
        RangeRequest {
            previous_last,
            from,
            to,
        }
    }

    #[test]
    fn the_first_epoch_reaches_back_its_span_or_to_its_start() {
        assert_eq!(
            RULES.next(ask(None, None, 1_000)),
            Ok(EpochRange {
                first: 90,
                last: 99
            })
        );
        assert_eq!(
            RULES.next(ask(None, Some(955), 1_000)),
            Ok(EpochRange {
                first: 96,
                last: 99
            }),
            "a partial first window is left out"
        );
    }

    #[test]
    fn a_later_epoch_starts_after_the_previous_and_names_no_start() {
        assert_eq!(
            RULES.next(ask(Some(99), None, 1_055)),
            Ok(EpochRange {
                first: 100,
                last: 104
            })
        );
        assert_eq!(
            RULES.next(ask(Some(99), Some(0), 1_055)),
            Err(RangeError::StartOfALaterEpoch)
        );
    }

    #[test]
    fn a_running_window_is_not_closed() {
        assert_eq!(
            RULES.next(ask(Some(99), None, 1_009)),
            Err(RangeError::NoWholeWindowYet {
                starts_at: 1_000,
                first_window_ends_at: 1_010
            })
        );
        assert_eq!(
            RULES.next(ask(Some(99), None, 1_010)),
            Ok(EpochRange {
                first: 100,
                last: 100
            })
        );
    }

    #[test]
    fn an_epoch_is_bounded() {
        assert_eq!(
            RULES.next(ask(None, Some(0), 500)),
            Ok(EpochRange { first: 0, last: 49 })
        );
        assert_eq!(
            RULES.next(ask(None, Some(0), 510)),
            Err(RangeError::TooLong { max_windows: 50 })
        );
    }
}
