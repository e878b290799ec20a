//! Installing the Unix signal handlers every long-running command needs
//! (SIGTERM and SIGINT to stop, SIGHUP to stop or reload), with one error
//! message naming the signal, so each command's set-up is a line per signal.

use anyhow::Context;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Starts catching `kind`; fails with "cannot install the SIGTERM handler"
/// (or SIGINT, SIGHUP).
pub(crate) fn handler(kind: SignalKind) -> anyhow::Result<Signal> {
    signal(kind).with_context(|| format!("cannot install the {} handler", name(kind)))
}

/// The signal's conventional name, for messages.
fn name(kind: SignalKind) -> String {
    if kind == SignalKind::terminate() {
        "SIGTERM".into()
    } else if kind == SignalKind::interrupt() {
        "SIGINT".into()
    } else if kind == SignalKind::hangup() {
        "SIGHUP".into()
    } else {
        format!("signal {}", kind.as_raw_value())
    }
}
