//! Time cut into numbered windows of one length.
//!
//! Measurement, status and grants all count in windows: window `n` covers the
//! Unix seconds `[n·len, (n+1)·len)`. The arithmetic lives here once so the
//! coordinator, the lab and a simulator number windows the same way.

use std::time::Duration;

use resist_clock::UnixTime;

/// Windows of one fixed length (at least one second).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Windows {
    secs: i64,
}

impl Windows {
    /// Windows of `length`, rounded down to whole seconds (one second at least).
    pub const fn new(length: Duration) -> Self {
        let secs = length.as_secs();
        Self {
            secs: if secs == 0 {
                1
            } else if secs > i64::MAX as u64 {
                i64::MAX
            } else {
                secs as i64
            },
        }
    }

    /// The length of a window, in seconds.
    pub fn secs(self) -> i64 {
        self.secs
    }

    /// The window `t` falls in (negative before 1970).
    pub fn of(self, t: UnixTime) -> i64 {
        t.seconds().div_euclid(self.secs)
    }

    /// When `window` starts, in Unix seconds.
    pub fn start(self, window: i64) -> i64 {
        window.saturating_mul(self.secs)
    }

    /// When `window` ends (the next one's start), in Unix seconds.
    pub fn end(self, window: i64) -> i64 {
        self.start(window).saturating_add(self.secs)
    }

    /// The first and last windows that lie wholly inside `[from, to)`;
    /// `first > last` when there is none.
    pub fn whole_in(self, from: i64, to: i64) -> (i64, i64) {
        let first = from
            .div_euclid(self.secs)
            .saturating_add(i64::from(from.rem_euclid(self.secs) != 0));
        let last = to.div_euclid(self.secs).saturating_sub(1);
        (first, last)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn windows_are_numbered_by_length() {
        let w = Windows::new(Duration::from_secs(600));
        assert_eq!(w.of(UnixTime(1199)), 1);
        assert_eq!(w.of(UnixTime(1200)), 2);
        assert_eq!(w.start(2), 1200);
        assert_eq!(w.end(2), 1800);
        assert_eq!(w.of(UnixTime(-1)), -1);
    }

    #[test]
    fn a_length_below_one_second_is_one_second() {
        assert_eq!(Windows::new(Duration::from_millis(300)).secs(), 1);
        assert_eq!(Windows::new(Duration::ZERO).of(UnixTime(7)), 7);
    }

    #[test]
    fn whole_windows_exclude_the_partial_ends() {
        let w = Windows::new(Duration::from_secs(10));
        assert_eq!(w.whole_in(0, 30), (0, 2));
        assert_eq!(w.whole_in(1, 30), (1, 2));
        assert_eq!(w.whole_in(1, 29), (1, 1));
        assert_eq!(w.whole_in(-15, 5), (-1, -1));
        let (first, last) = w.whole_in(11, 19);
        assert!(first > last, "no whole window in [11, 19)");
        let (first, last) = w.whole_in(30, 0);
        assert!(first > last, "a reversed range has none");
    }

    #[test]
    fn extreme_times_saturate_instead_of_overflowing() {
        let w = Windows::new(Duration::from_secs(600));
        assert_eq!(w.start(i64::MAX), i64::MAX);
        assert_eq!(w.end(i64::MAX), i64::MAX);
        assert_eq!(w.start(i64::MIN), i64::MIN);
        let (first, last) = w.whole_in(i64::MIN, i64::MAX);
        assert!(first <= last);
    }
}
