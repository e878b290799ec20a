//! Which reports count: the time rules a report must pass before it is
//! stored.
//!
//! A probe's queue may hold reports through a coordinator outage, so reports
//! arrive late; a probe's clock may run a little ahead. A report is admitted
//! when it was measured neither longer than `max_age` ago nor more than
//! `max_skew` in the future, and inside its own window (with a grace of one
//! window after it, for a test that started near the end). Who signed the
//! report and whether the probe was assigned that node are checked by the
//! caller and the store; this is the arithmetic, shared by every caller.

use std::time::Duration;

use resist_clock::UnixTime;

use crate::Windows;

/// The time rules reports are admitted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdmissionRules {
    /// How time is cut into windows.
    pub windows: Windows,
    /// The oldest measurement admitted.
    pub max_age: Duration,
    /// How far ahead of the coordinator's clock a probe's clock may be.
    pub max_skew: Duration,
}

/// Why a report is not admitted. Its text is what the probe's receipt says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Measured longer than `max_age` ago (a queue held too long).
    #[error("stale: measured too long ago")]
    Stale,
    /// Measured later than `max_skew` after now: the probe's clock runs ahead.
    #[error("measured in the future: check the probe's clock")]
    FromTheFuture,
    /// Measured before its window started or after the window that follows it.
    #[error("measured outside its window")]
    OutsideItsWindow,
}

impl AdmissionRules {
    /// Whether a report measured at `measured_at` (Unix seconds) for `window`
    /// is admitted at `now`.
    pub fn admit(&self, measured_at: i64, window: i64, now: UnixTime) -> Result<(), Refusal> {
        if measured_at < now.minus(self.max_age).seconds() {
            return Err(Refusal::Stale);
        }
        if measured_at > now.plus(self.max_skew).seconds() {
            return Err(Refusal::FromTheFuture);
        }
        let start = self.windows.start(window);
        let latest = self.windows.end(window.saturating_add(1));
        if measured_at < start || measured_at > latest {
            return Err(Refusal::OutsideItsWindow);
        }
        Ok(())
    }

    /// Whether a signed request made at `at` (the probe's clock) is close
    /// enough to `now` to be fresh.
    pub fn request_is_fresh(&self, at: i64, now: UnixTime) -> bool {
        let skew = self.max_skew.as_secs();
        at.abs_diff(now.seconds()) <= skew
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const RULES: AdmissionRules = AdmissionRules {
        windows: Windows::new(Duration::from_secs(600)),
        max_age: Duration::from_secs(3600),
        max_skew: Duration::from_secs(120),
    };

    #[test]
    fn a_report_inside_its_window_is_admitted() {
        let now = UnixTime(10_000);
        // window 16 = [9600, 10200)
        assert_eq!(RULES.admit(9_600, 16, now), Ok(()));
        assert_eq!(RULES.admit(9_999, 16, now), Ok(()));
    }

    #[test]
    fn each_rule_refuses_at_its_boundary() {
        let now = UnixTime(100_000);
        let w = RULES.windows.of(now);
        // Age: exactly max_age old passes, one second more does not.
        let oldest = 100_000 - 3600;
        assert_eq!(
            RULES.admit(oldest, RULES.windows.of(UnixTime(oldest)), now),
            Ok(())
        );
        assert_eq!(
            RULES.admit(oldest - 1, RULES.windows.of(UnixTime(oldest - 1)), now),
            Err(Refusal::Stale)
        );
        // Skew: max_skew ahead passes, one second more does not.
        assert_eq!(RULES.admit(100_120, w, now), Ok(()));
        assert_eq!(RULES.admit(100_121, w, now), Err(Refusal::FromTheFuture));
        // Window: before its start, or past the grace window, is outside.
        assert_eq!(
            RULES.admit(RULES.windows.start(w) - 1, w, now),
            Err(Refusal::OutsideItsWindow)
        );
        assert_eq!(
            RULES.admit(RULES.windows.start(w), w - 1, now),
            Ok(()),
            "the window after is the grace"
        );
        assert_eq!(
            RULES.admit(RULES.windows.start(w), w - 2, now),
            Ok(()),
            "the grace ends on the first second of the window after it"
        );
        assert_eq!(
            RULES.admit(RULES.windows.start(w) + 1, w - 2, now),
            Err(Refusal::OutsideItsWindow)
        );
    }

    #[test]
    fn refusals_say_what_the_receipt_says() {
        assert_eq!(Refusal::Stale.to_string(), "stale: measured too long ago");
        assert_eq!(
            Refusal::FromTheFuture.to_string(),
            "measured in the future: check the probe's clock"
        );
        assert_eq!(
            Refusal::OutsideItsWindow.to_string(),
            "measured outside its window"
        );
    }

    #[test]
    fn requests_are_fresh_within_the_skew_either_way() {
        let now = UnixTime(1_000);
        assert!(RULES.request_is_fresh(880, now));
        assert!(RULES.request_is_fresh(1_120, now));
        assert!(!RULES.request_is_fresh(879, now));
        assert!(!RULES.request_is_fresh(1_121, now));
        assert!(!RULES.request_is_fresh(i64::MIN, now));
    }
}
