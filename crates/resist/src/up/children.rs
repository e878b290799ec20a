//! The child processes of `resist up`: spawning the real `resist` commands with
//! their output in log files, noticing when one dies, stopping them in order,
//! and making sure none outlives `resist up`.
//!
//! Why children and not tasks: each role runs exactly the code and the
//! configuration path a real deployment runs, a crash or a leak in one role
//! cannot take the others down, and each has its own log a user can read.
//!
//! How children die with their parent, even when `resist up` is killed with
//! SIGKILL: see [`resist_process::parent`]; every child is forked from the
//! main thread of a current-thread runtime, which lives as long as the
//! process.
//!
//! Each child gets its own process group, so a Ctrl-C in the terminal reaches
//! `resist up` alone, which then stops the children in order (probes, then
//! nodes, then the coordinator) instead of all of them racing.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use resist_process::child::Signal;
use resist_process::{LogMark, Supervised};
use tokio::time::Instant;

/// Lines of a dead child's log shown in the error.
const TAIL_LINES: usize = 20;

/// Which processes stop together: higher tiers stop first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Tier {
    /// The coordinator: stops last, so probes can still deliver.
    Coordinator = 0,
    /// The nodes.
    Node = 1,
    /// The probes: stop first, so they do not report nodes that are stopping.
    Probe = 2,
}

/// One running child (its name is the one in messages and in `logs/NAME.log`).
#[derive(Debug)]
struct Running {
    tier: Tier,
    child: Supervised,
}

/// The children of `resist up`, in start order.
#[derive(Debug)]
pub(crate) struct Supervisor {
    exe: PathBuf,
    logs: PathBuf,
    running: Vec<Running>,
}

impl Supervisor {
    /// A supervisor spawning this very executable, logging into `logs`.
    pub(crate) fn new(logs: PathBuf) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()
            .context("cannot find the resist executable to start the children with")?;
        Ok(Self {
            exe,
            logs,
            running: Vec::new(),
        })
    }

    /// The log file of the child called `name`.
    pub(crate) fn log_path(&self, name: &str) -> PathBuf {
        self.logs.join(format!("{name}.log"))
    }

    /// Starts `resist ARGS…` as a child of `resist up`, output appended to its log.
    fn start(&self, name: &str, args: &[OsString]) -> anyhow::Result<(Supervised, LogMark)> {
        let path = self.log_path(name);
        let (mut log, mark) = resist_process::log::append(&path)?;
        let now = resist_clock::Clock::now(&resist_clock::SystemClock);
        let shown: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
        let _ = writeln!(
            log,
            "=== {now}: resist up starts `resist {}` ===",
            shown.join(" ")
        );
        // The children run with exactly the configuration `resist up` wrote:
        // no RESIST_* variable of the user's shell layers over it.
        let mut cmd = resist_process::resist_command(&self.exe);
        cmd.args(args).process_group(0);
        resist_process::log::redirect(&mut cmd, log, &path)?;
        resist_process::parent::die_with_me(&mut cmd);
        let child = Supervised::spawn(name, cmd)
            .with_context(|| format!("cannot start {}", self.exe.display()))?
            .with_log(&path);
        Ok((child, mark))
    }

    /// Starts a long-running child.
    pub(crate) fn spawn(
        &mut self,
        name: &str,
        tier: Tier,
        args: &[OsString],
    ) -> anyhow::Result<LogMark> {
        let (child, mark) = self.start(name, args)?;
        self.running.push(Running { tier, child });
        Ok(mark)
    }

    /// Runs a short command to its end (within `limit`); fails with its log's
    /// last lines unless it exits 0.
    pub(crate) async fn run_once(
        &self,
        name: &str,
        args: &[OsString],
        limit: Duration,
    ) -> anyhow::Result<()> {
        let (mut child, mark) = self.start(name, args)?;
        let Some(status) = child.wait_exit(limit).await else {
            child.kill();
            bail!(
                "`resist {}` did not finish within {limit:?}; its log, {}, ends with:\n{}",
                args.first().map_or("".into(), |a| a.to_string_lossy()),
                mark.path().display(),
                tail(mark.path())
            );
        };
        if !status.success() {
            bail!(
                "{name} failed ({status}); its log, {}, ends with:\n{}",
                mark.path().display(),
                tail(mark.path())
            );
        }
        Ok(())
    }

    /// Fails, naming the child and showing its log's last lines, if any child
    /// has exited.
    pub(crate) fn check(&mut self) -> anyhow::Result<()> {
        for r in &mut self.running {
            if let Some(status) = r.child.try_status() {
                let log = r.child.log().unwrap_or(Path::new("(no log)"));
                return Err(died(r.child.name(), status, log));
            }
        }
        Ok(())
    }

    /// Waits (within `limit`) for a line containing `needle` in the log after
    /// `mark`, failing early if a child dies.
    pub(crate) async fn wait_for_line(
        &mut self,
        mark: &LogMark,
        needle: &str,
        limit: Duration,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(line) = mark.find_line(|l| l.contains(needle)) {
                return Ok(line);
            }
            self.check()?;
            if Instant::now() >= deadline {
                bail!(
                    "no sign of life within {limit:?}; the log {} ends with:\n{}",
                    mark.path().display(),
                    tail(mark.path())
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops every child: tier by tier (probes, nodes, coordinator), SIGTERM,
    /// then up to `grace` to exit, then SIGKILL. `hurry` resolving (a second
    /// Ctrl-C) skips the grace. Returns a line per child that had to be killed.
    pub(crate) async fn stop_all(
        &mut self,
        grace: Duration,
        hurry: impl Future<Output = ()>,
    ) -> Vec<String> {
        let mut killed = Vec::new();
        let mut running = std::mem::take(&mut self.running);
        running.sort_by_key(|r| std::cmp::Reverse(r.tier));
        tokio::pin!(hurry);
        let mut hurried = false;
        while !running.is_empty() {
            let tier = running[0].tier;
            let split = running
                .iter()
                .position(|r| r.tier != tier)
                .unwrap_or(running.len());
            let rest = running.split_off(split);
            for r in &mut running {
                let _ = r.child.signal(Signal::TERM);
            }
            let deadline = Instant::now() + grace;
            for r in &mut running {
                let exited = if hurried {
                    false
                } else {
                    tokio::select! {
                        s = r.child.wait_exit(deadline.saturating_duration_since(Instant::now())) => s.is_some(),
                        () = &mut hurry => { hurried = true; false }
                    }
                };
                if !exited {
                    r.child.kill();
                    killed.push(format!(
                        "{} did not stop within {grace:?} and was killed",
                        r.child.name()
                    ));
                }
            }
            running = rest;
        }
        killed
    }
}

/// The error for a child that exited while it should be running.
fn died(name: &str, status: ExitStatus, log: &Path) -> anyhow::Error {
    anyhow!(
        "{name} exited unexpectedly ({status}); its log, {}, ends with:\n{}",
        log.display(),
        tail(log)
    )
}

/// The last lines of a log, indented, for error messages.
pub(crate) fn tail(path: &Path) -> String {
    let shown: Vec<String> = resist_process::tail(path, TAIL_LINES)
        .iter()
        .map(|l| format!("    {l}"))
        .collect();
    if shown.is_empty() {
        "    (empty)".to_owned()
    } else {
        shown.join("\n")
    }
}
