#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether `Sensitive` values are printed in the clear (off unless opted in).
static LOG_SENSITIVE: AtomicBool = AtomicBool::new(false);

/// Turns clear-text logging of `Sensitive` values on or off for the whole process.
///
/// Meant for an operator debugging their own node: with it on, client addresses and
/// destinations appear in logs, which breaks the privacy promise to users.
pub fn danger_log_sensitive(enabled: bool) {
    LOG_SENSITIVE.store(enabled, Ordering::Relaxed);
}

/// Whether `Sensitive` values are currently printed in the clear.
pub fn logging_sensitive() -> bool {
    LOG_SENSITIVE.load(Ordering::Relaxed)
}

/// A value that is printed as `[scrubbed]` in logs unless sensitive logging is on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct Sensitive<T>(pub T);

impl<T> Sensitive<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Unwraps the inner value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Sensitive<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Sensitive<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

const SCRUBBED: &str = "[scrubbed]";

impl<T: fmt::Display> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if logging_sensitive() {
            fmt::Display::fmt(&self.0, f)
        } else {
            f.write_str(SCRUBBED)
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if logging_sensitive() {
            fmt::Debug::fmt(&self.0, f)
        } else {
            f.write_str(SCRUBBED)
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // One test, because the switch is process-wide and tests run in parallel.
    #[test]
    fn scrubbed_by_default_clear_only_when_opted_in() {
        let addr: std::net::SocketAddr = "192.0.2.7:4242".parse().unwrap();
        let s = Sensitive(addr);
        assert_eq!(format!("{s}"), "[scrubbed]");
        assert_eq!(format!("{s:?}"), "[scrubbed]");
        assert_eq!(s.port(), 4242, "deref reaches the value");

        danger_log_sensitive(true);
        assert_eq!(format!("{s}"), "192.0.2.7:4242");
        danger_log_sensitive(false);
        assert_eq!(format!("{s:?}"), "[scrubbed]");
    }
}
