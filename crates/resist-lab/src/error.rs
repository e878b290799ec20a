//! Why a lab run failed, each with what to do about it.

use std::path::PathBuf;
use std::time::Duration;

/// A lab run's failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// Creating namespaces and loading nftables rules needs root.
    #[error("the lab needs root (network namespaces and nftables): run it with sudo, or in CI")]
    NotRoot,
    /// A tool the lab drives is not installed.
    #[error(
        "`{tool}` is not installed: install Debian's `{package}` package (apt-get install {package})"
    )]
    MissingTool {
        /// The program.
        tool: &'static str,
        /// The Debian package that has it.
        package: &'static str,
    },
    /// A command the lab ran failed.
    #[error("{what} failed ({status}): {stderr}")]
    Command {
        /// The command, in words and arguments.
        what: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr (trimmed).
        stderr: String,
    },
    /// A command or a wait took longer than its limit.
    #[error("{what}: nothing after {after:?}; {hint}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// The limit.
        after: Duration,
        /// What to look at next.
        hint: String,
    },
    /// A local operation failed (spawning, files).
    #[error("{what}: {source}")]
    Io {
        /// What the lab was doing.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A process the lab started exited while it should be running.
    #[error("{name} exited ({status}) while the lab needed it; the end of {log}:\n{tail}")]
    Exited {
        /// The process's name in the lab.
        name: String,
        /// Its exit status.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },
    /// A peer answered something the lab cannot use.
    #[error("{what}: {problem}")]
    Answer {
        /// Whom the lab asked.
        what: String,
        /// What was wrong, and what to do.
        problem: String,
    },
    /// The run was interrupted (Ctrl-C); everything was torn down.
    #[error("interrupted: the lab's processes were stopped and its namespaces deleted")]
    Interrupted,
    /// The scenario ran to its end and some of its assertions failed.
    #[error(
        "scenario {scenario}: {failed} of {total} checks failed (see above); the logs are in {logs}"
    )]
    ChecksFailed {
        /// The scenario.
        scenario: String,
        /// Failed checks.
        failed: usize,
        /// All checks.
        total: usize,
        /// Where the process logs are.
        logs: PathBuf,
    },
}

impl LabError {
    /// An I/O error with what the lab was doing.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> LabError {
        LabError::Io {
            what: what.into(),
            source,
        }
    }

    /// A wait for a logged process that ran out of time.
    pub(crate) fn timeout_logged(
        what: String,
        after: Duration,
        logs: &std::path::Path,
    ) -> LabError {
        LabError::Timeout {
            what,
            after,
            hint: format!(
                "the logs in {} say more (they are kept after a failure)",
                logs.display()
            ),
        }
    }

    /// An answer the lab cannot use.
    pub(crate) fn answer(what: impl Into<String>, problem: impl Into<String>) -> LabError {
        LabError::Answer {
            what: what.into(),
            problem: problem.into(),
        }
    }

    /// Whether the run could not start for want of root or tools (rather
    /// than failing once started): the caller exits 2 for these.
    pub fn is_precondition(&self) -> bool {
        matches!(self, LabError::NotRoot | LabError::MissingTool { .. })
    }
}
