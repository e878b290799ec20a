//! [`Supervised`]: one child process, kept by PID from spawn to reap.
//!
//! A signal goes to the PID only while the child is unreaped: until then the
//! PID cannot have been given to another process. Dropping a child that is
//! still running sends SIGKILL and reaps it, so a caller that returns early or
//! panics leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use tokio::time::Instant;

use rustix::process::Pid;
pub use rustix::process::Signal;

use crate::ProcessError;

/// How often a wait looks at the child (and at its readiness).
const POLL: Duration = Duration::from_millis(10);

/// The exit a wait for nothing but the exit ended with, if it did not time out.
fn exited(waited: Result<(), NotReady>) -> Option<ExitStatus> {
    match waited {
        Err(NotReady::Exited(status)) => Some(status),
        _ => None,
    }
}

/// Why a child never became ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// It exited first.
    #[error("exited ({0})")]
    Exited(ExitStatus),
    /// It was still not ready when the time was up.
    #[error("not ready in time")]
    TimedOut,
}

/// How [`Supervised::stop_blocking`] ended the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It exited (on SIGTERM, or before).
    Exited(ExitStatus),
    /// It outlived the grace and was killed.
    Killed,
}

/// One started child, killed (SIGKILL by PID) and reaped when dropped unreaped.
#[derive(Debug)]
pub struct Supervised {
    name: String,
    child: Child,
    pid: Pid,
    status: Option<ExitStatus>,
    log: Option<PathBuf>,
}

impl Supervised {
    /// Starts `command` (program, arguments, environment and standard streams
    /// as the caller set them) under the name `name`, used in messages.
    pub fn spawn(name: impl Into<String>, mut command: Command) -> Result<Self, ProcessError> {
        let child = command.spawn().map_err(|source| ProcessError::Spawn {
            program: command.get_program().to_string_lossy().into_owned(),
            source,
        })?;
        let pid = Pid::from_child(&child);
        Ok(Self {
            name: name.into(),
            child,
            pid,
            status: None,
            log: None,
        })
    }

    /// Remembers `log` as the file the child writes to (see [`crate::log`]),
    /// for [`Self::log`].
    pub fn with_log(mut self, log: impl Into<PathBuf>) -> Self {
        self.log = Some(log.into());
        self
    }

    /// Its name in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The file its output goes to, if it was started with one.
    pub fn log(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// The child itself, to take its piped standard streams.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Its exit status, once it has exited (reaping it); `None` while it runs.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }

    /// Sends `signal`; fails once the child has been reaped (its PID may
    /// belong to another process by then). A child that has exited but not
    /// been reaped is still ours: the signal then does nothing.
    pub fn signal(&mut self, signal: Signal) -> std::io::Result<()> {
        if self.status.is_some() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} has already exited", self.name),
            ));
        }
        rustix::process::kill_process(self.pid, signal).map_err(std::io::Error::from)
    }

    /// SIGKILL if it still runs, then reaps it.
    pub fn kill(&mut self) {
        if self.try_status().is_none() {
            let _ = rustix::process::kill_process(self.pid, Signal::KILL);
            self.status = self.child.wait().ok();
        }
    }

    /// Waits (blocking) up to `within` for it to exit.
    pub fn wait_exit_blocking(&mut self, within: Duration) -> Option<ExitStatus> {
        exited(self.wait_ready_blocking(within, || None::<()>))
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL (blocking).
    pub fn stop_blocking(&mut self, grace: Duration) -> Stopped {
        if self.signal(Signal::TERM).is_ok()
            && let Some(status) = self.wait_exit_blocking(grace)
        {
            return Stopped::Exited(status);
        }
        if let Some(status) = self.try_status() {
            return Stopped::Exited(status);
        }
        self.kill();
        Stopped::Killed
    }

    /// Polls `ready` (blocking) until it gives a value, the child exits, or
    /// `within` passes.
    pub fn wait_ready_blocking<T>(
        &mut self,
        within: Duration,
        mut ready: impl FnMut() -> Option<T>,
    ) -> Result<T, NotReady> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(done) = self.ready_or_gone(&mut ready, deadline) {
                return done;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits up to `within` for it to exit, sleeping on tokio's timer.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        exited(self.wait_ready(within, POLL, || None::<()>).await)
    }

    /// Polls `ready` every `poll` until it gives a value, the child exits, or
    /// `within` passes, sleeping on tokio's timer.
    pub async fn wait_ready<T>(
        &mut self,
        within: Duration,
        poll: Duration,
        mut ready: impl FnMut() -> Option<T>,
    ) -> Result<T, NotReady> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(done) = self.ready_or_gone(&mut ready, deadline) {
                return done;
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// One look while waiting: `ready`'s value, the child's exit, or the
    /// deadline passed; `None` to look again.
    fn ready_or_gone<T>(
        &mut self,
        ready: &mut impl FnMut() -> Option<T>,
        deadline: Instant,
    ) -> Option<Result<T, NotReady>> {
        if let Some(value) = ready() {
            return Some(Ok(value));
        }
        if let Some(status) = self.try_status() {
            return Some(Err(NotReady::Exited(status)));
        }
        (Instant::now() >= deadline).then_some(Err(NotReady::TimedOut))
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod test {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sleeper() -> Supervised {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        Supervised::spawn("sleep", cmd).unwrap()
    }

    #[test]
    fn a_dropped_child_is_killed_and_reaped() {
        let child = sleeper();
        let pid = Pid::from_raw(i32::try_from(child.pid()).unwrap()).unwrap();
        drop(child);
        // Reaped: no such process any more (not even a zombie).
        assert!(rustix::process::test_kill_process(pid).is_err());
    }

    #[test]
    fn stop_sends_sigterm_first() {
        let mut child = sleeper();
        assert!(child.is_running());
        match child.stop_blocking(Duration::from_secs(5)) {
            Stopped::Exited(status) => assert!(!status.success()),
            Stopped::Killed => panic!("sleep ignored SIGTERM"),
        }
        assert!(
            child.signal(Signal::TERM).is_err(),
            "signalled after the reap"
        );
    }

    #[test]
    fn waiting_for_readiness_notices_an_exit() {
        let mut cmd = Command::new("true");
        cmd.arg("ignored");
        let mut child = Supervised::spawn("true", cmd).unwrap();
        let r: Result<(), _> = child.wait_ready_blocking(Duration::from_secs(5), || None);
        assert!(matches!(r, Err(NotReady::Exited(s)) if s.success()));
    }
}
