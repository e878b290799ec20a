//! The one rule for tests that need something outside the workspace (root,
//! network namespaces, PostgreSQL, a browser, another implementation to
//! check against): outside CI a missing prerequisite skips the test, visibly;
//! in CI (`CI` set, as `.ci/run` runs) it fails the test, because CI installs
//! everything and a silent skip there would hide a test that never ran.
//!
//! The skip line goes straight to file descriptor 2: libtest captures what
//! `eprintln!` (and `std::io::stderr()`) print and shows it only for failing
//! tests, so a skipped test would otherwise look like a passing one.

use std::fmt::Display;

/// Whether this run is CI's: `CI` set to anything but empty, `false` or `0`.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `true` when nothing is missing (`why_missing` is `None`). Otherwise, in CI,
/// panics with the reason; outside CI, prints `SKIPPED <test>: <why>` past the
/// test harness's capture and returns `false`, so the caller returns.
#[track_caller]
pub fn require(why_missing: Option<impl Display>) -> bool {
    let Some(why) = why_missing else {
        return true;
    };
    let current = std::thread::current();
    let test = current.name().unwrap_or("a test");
    if in_ci() {
        panic!("{test}: {why}; CI installs every prerequisite, so this fails here");
    }
    let line = format!("SKIPPED {test}: {why}\n");
    let mut bytes = line.as_bytes();
    while !bytes.is_empty() {
        match rustix::io::write(rustix::stdio::stderr(), bytes) {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes = &bytes[n..],
        }
    }
    false
}
