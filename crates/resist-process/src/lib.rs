//! Running the real `resist` binary (and the odd other program) as a child
//! process, the way `resist up`, the censor lab, the binary's integration
//! tests and the relay benchmark all do:
//!
//! - [`command_line`]: the argument lists of `resist coordinator`, `resist
//!   node` and `resist probe`, built from typed fields, and the [`Command`]
//!   that runs `resist` with no `RESIST_*` variable of the caller's shell.
//! - [`log`]: a child's output in a file: opened for it, searched for its
//!   readiness line, and its last lines quoted in errors.
//! - [`child`]: [`Supervised`], one started child, kept by PID: signalled,
//!   waited for (to be ready, or to exit) and, when dropped unreaped, killed
//!   and reaped, so no caller leaves a process behind, even on a panic.
//! - [`parent`]: the child's side of "die with your supervisor"
//!   (`PR_SET_PDEATHSIG`), which `resist` calls first thing in `main`.
//!
//! Why `std::process` and not `tokio::process`: two of the four callers (the
//! tests and the benchmark) are synchronous, and a tokio child can only be
//! spawned inside a runtime. The others wait from inside a runtime, so every
//! wait comes in two forms: blocking (`…_blocking`), and sleeping on tokio's
//! timer. No wait needs more than polling `waitpid(WNOHANG)`: the children
//! are few and the waits are measured in tens of milliseconds.
//!
//! Why a crate of its own: `resist-lab` (which `resist` depends on) and
//! `resist-bench` (which depends on `resist`) both start `resist`; below both,
//! with nothing heavier than rustix and tokio's timer (which every caller
//! already has), each can use it without pulling the other in.
//!
//! [`Command`]: std::process::Command

pub mod child;
pub mod command_line;
pub mod log;
pub mod parent;

pub use child::{NotReady, Supervised};
pub use command_line::{CoordinatorCommand, NodeCommand, ProbeCommand, resist_command};
pub use log::{LogMark, tail};

/// What can go wrong starting a child.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program, as given.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The log file could not be opened.
    #[error("cannot open the log file {path}: {source}")]
    Log {
        /// The log file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}
