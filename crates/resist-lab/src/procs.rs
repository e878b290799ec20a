//! The long-running processes of a lab run (coordinator, nodes, probes,
//! fixtures), each started as `ip netns exec NS PROGRAM …` (which execs, so
//! the child's pid is the program's), with stdout and stderr in a log file,
//! and killed by that pid when the run ends, however it ends (see
//! [`resist_process::Supervised`]). This module adds what the lab needs on
//! top: its errors, with the log's last lines.

use std::path::Path;
use std::time::Duration;

use resist_process::{NotReady, Supervised};

use crate::error::LabError;

/// How often a log is re-read while waiting for a line.
const POLL: Duration = Duration::from_millis(100);

/// Lines of a dead process's log quoted in the error.
const TAIL_LINES: usize = 15;

/// Starts `ip netns exec …` (given as `ip` and `args`) with `env` set,
/// every inherited `RESIST_*` variable removed, and output to
/// `DIR/NAME.log`.
pub fn spawn(
    name: &str,
    dir: &Path,
    ip: &Path,
    args: &[String],
    env: &[(&str, String)],
) -> Result<Supervised, LabError> {
    let log = dir.join(format!("{name}.log"));
    let out = resist_process::log::create(&log)
        .map_err(|e| LabError::io(format!("cannot create {}", log.display()), io(e)))?;
    let mut cmd = resist_process::resist_command(ip);
    cmd.args(args);
    resist_process::log::redirect(&mut cmd, out, &log)
        .map_err(|e| LabError::io(format!("cannot share {}", log.display()), io(e)))?;
    for (k, v) in env {
        cmd.env(k, v);
    }
    Supervised::spawn(name, cmd)
        .map(|p| p.with_log(log))
        .map_err(|e| LabError::io(format!("cannot start {name}"), io(e)))
}

/// Fails if the process has exited.
pub fn check_running(p: &mut Supervised) -> Result<(), LabError> {
    match p.try_status() {
        None => Ok(()),
        Some(status) => Err(exited(p, status.to_string())),
    }
}

/// Waits until the log holds a line for which `pred` holds; fails when
/// the process exits first or `within` passes.
pub async fn wait_line(
    p: &mut Supervised,
    what: &str,
    pred: impl Fn(&str) -> bool,
    within: Duration,
) -> Result<String, LabError> {
    let mark = resist_process::LogMark::start(log_of(p));
    match p.wait_ready(within, POLL, || mark.find_line(&pred)).await {
        Ok(line) => Ok(line),
        Err(NotReady::Exited(status)) => Err(exited(p, status.to_string())),
        Err(NotReady::TimedOut) => Err(LabError::timeout_logged(
            format!("{} did not print {what}", p.name()),
            within,
            &log_of(p),
        )),
    }
}

fn exited(p: &Supervised, status: String) -> LabError {
    let log = log_of(p);
    LabError::Exited {
        name: p.name().to_owned(),
        status,
        tail: resist_process::tail(&log, TAIL_LINES).join("\n"),
        log,
    }
}

/// The log of a process [`spawn`] started (it always has one).
fn log_of(p: &Supervised) -> std::path::PathBuf {
    p.log().map(Path::to_owned).unwrap_or_default()
}

/// The I/O error inside a [`resist_process::ProcessError`].
fn io(e: resist_process::ProcessError) -> std::io::Error {
    match e {
        resist_process::ProcessError::Spawn { source, .. }
        | resist_process::ProcessError::Log { source, .. } => source,
    }
}
