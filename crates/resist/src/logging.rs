//! Logging to standard error through `tracing`, with the privacy switch.

use std::io::IsTerminal;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber with `level` (a level or a tracing filter) and
/// sets whether `Sensitive` values are printed in the clear.
pub fn init(level: &str, log_sensitive: bool) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(level)
        .with_context(|| format!("`log.level`: {level:?} is not a level (error, warn, info, debug, trace) or a tracing filter"))?;
    resist_safelog::danger_log_sensitive(log_sensitive);
    // A second init (tests running several commands in one process) keeps the first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
    Ok(())
}
