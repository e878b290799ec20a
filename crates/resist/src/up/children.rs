//! The child processes of `resist up`: spawning the real `resist` commands with
//! their output in log files, noticing when one dies, stopping them in order,
//! and making sure none outlives `resist up`.
//!
//! Why children and not tasks: each role runs exactly the code and the
//! configuration path a real deployment runs, a crash or a leak in one role
//! cannot take the others down, and each has its own log a user can read.
//!
//! How children die with their parent, even when `resist up` is killed with
//! SIGKILL and runs no code at all: every child is started with
//! [`PARENT_ENV`] set to `resist up`'s PID. The first thing `resist` does
//! (see [`die_with_parent`]) is, when that variable is set, ask Linux to send
//! it SIGTERM when its parent dies (`prctl(PR_SET_PDEATHSIG)`, through rustix's
//! safe wrapper), then check that the parent is still the one named, in case it
//! died before the request was made. SIGTERM runs each role's normal graceful
//! stop. This needs no `unsafe` (no `pre_exec` hook between fork and exec), at
//! the price of one environment variable read by every `resist` command.
//!
//! Linux sends the parent-death signal when the *thread* that forked the child
//! ends, not the process. `resist up` runs on a current-thread runtime, so
//! every child is forked from the main thread, which lives as long as the
//! process.
//!
//! Each child gets its own process group, so a Ctrl-C in the terminal reaches
//! `resist up` alone, which then stops the children in order (probes, then
//! nodes, then the coordinator) instead of all of them racing.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// Names the PID of the `resist up` a child must not outlive.
pub const PARENT_ENV: &str = "RESIST_UP_PARENT_PID";

/// Lines of a dead child's log shown in the error.
const TAIL_LINES: usize = 20;

/// If this process is a child of `resist up` (it set [`PARENT_ENV`]), arrange
/// to receive SIGTERM when `resist up` dies, and exit at once if it already
/// has. Called first thing in `main`; does nothing for any other caller.
pub fn die_with_parent() {
    let Some(expected) = std::env::var_os(PARENT_ENV) else {
        return;
    };
    let Some(expected) = expected.to_str().and_then(|s| s.parse::<u32>().ok()) else {
        return;
    };
    #[cfg(target_os = "linux")]
    {
        if let Err(e) =
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
        {
            eprintln!("warning: cannot ask to be stopped with `resist up` (prctl: {e})");
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        // No parent-death signal: look every half second instead.
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(500));
                if std::os::unix::process::parent_id() != expected {
                    eprintln!("resist up (pid {expected}) is gone: stopping");
                    std::process::exit(1);
                }
            }
        });
    }
    if std::os::unix::process::parent_id() != expected {
        eprintln!("resist up (pid {expected}) is gone: not starting");
        std::process::exit(1);
    }
}

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

/// One running child.
#[derive(Debug)]
struct Running {
    /// Its name in messages and in `logs/NAME.log`.
    name: String,
    tier: Tier,
    log: PathBuf,
    child: Child,
}

/// The children of `resist up`, in start order.
#[derive(Debug)]
pub(crate) struct Supervisor {
    exe: PathBuf,
    logs: PathBuf,
    running: Vec<Running>,
}

/// Where a child's output starts in its log, to look for lines of this run only.
#[derive(Debug, Clone)]
pub(crate) struct LogMark {
    path: PathBuf,
    offset: u64,
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

    /// `resist ARGS…` as a child of `resist up`, output appended to its log.
    fn command(&self, name: &str, args: &[String]) -> anyhow::Result<(Command, LogMark)> {
        let path = self.log_path(name);
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot open the log file {}", path.display()))?;
        let offset = log.seek(SeekFrom::End(0)).unwrap_or(0);
        let now = resist_clock::Clock::now(&resist_clock::SystemClock);
        let _ = writeln!(
            log,
            "=== {now}: resist up starts `resist {}` ===",
            args.join(" ")
        );
        let err = log
            .try_clone()
            .with_context(|| format!("cannot open the log file {}", path.display()))?;
        let mut cmd = Command::new(&self.exe);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .env(PARENT_ENV, std::process::id().to_string())
            .process_group(0)
            // Only a bug (an early return without `stop_all`) relies on this.
            .kill_on_drop(true);
        // The children run with exactly the configuration `resist up` wrote:
        // no RESIST_* variable of the user's shell layers over it.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RESIST_") {
                cmd.env_remove(key);
            }
        }
        Ok((cmd, LogMark { path, offset }))
    }

    /// Starts a long-running child.
    pub(crate) fn spawn(
        &mut self,
        name: &str,
        tier: Tier,
        args: &[String],
    ) -> anyhow::Result<LogMark> {
        let (mut cmd, mark) = self.command(name, args)?;
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", self.exe.display()))?;
        self.running.push(Running {
            name: name.to_owned(),
            tier,
            log: mark.path.clone(),
            child,
        });
        Ok(mark)
    }

    /// Runs a short command to its end (within `limit`); fails with its log's
    /// last lines unless it exits 0.
    pub(crate) async fn run_once(
        &self,
        name: &str,
        args: &[String],
        limit: Duration,
    ) -> anyhow::Result<()> {
        let (mut cmd, mark) = self.command(name, args)?;
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", self.exe.display()))?;
        let status = match tokio::time::timeout(limit, child.wait()).await {
            Ok(status) => status.with_context(|| format!("cannot wait for {name}"))?,
            Err(_) => {
                let _ = child.kill().await;
                bail!(
                    "`resist {}` did not finish within {limit:?}; its log, {}, ends with:\n{}",
                    args.first().map_or("", String::as_str),
                    mark.path.display(),
                    tail(&mark.path)
                );
            }
        };
        if !status.success() {
            bail!(
                "{name} failed ({status}); its log, {}, ends with:\n{}",
                mark.path.display(),
                tail(&mark.path)
            );
        }
        Ok(())
    }

    /// Fails, naming the child and showing its log's last lines, if any child
    /// has exited.
    pub(crate) fn check(&mut self) -> anyhow::Result<()> {
        for r in &mut self.running {
            if let Ok(Some(status)) = r.child.try_wait() {
                return Err(died(&r.name, status, &r.log));
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
            if let Some(line) = find_line(mark, needle) {
                return Ok(line);
            }
            self.check()?;
            if Instant::now() >= deadline {
                bail!(
                    "no sign of life within {limit:?}; the log {} ends with:\n{}",
                    mark.path.display(),
                    tail(&mark.path)
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
            for r in &running {
                signal(r, rustix::process::Signal::TERM);
            }
            let deadline = Instant::now() + grace;
            for r in &mut running {
                let exited = if hurried {
                    false
                } else {
                    tokio::select! {
                        s = tokio::time::timeout_at(deadline, r.child.wait()) => s.is_ok(),
                        () = &mut hurry => { hurried = true; false }
                    }
                };
                if !exited {
                    let _ = r.child.kill().await;
                    killed.push(format!(
                        "{} did not stop within {grace:?} and was killed",
                        r.name
                    ));
                }
            }
            running = rest;
        }
        killed
    }
}

/// Sends `sig` to a child that has not been reaped (so its PID is still its own).
fn signal(r: &Running, sig: rustix::process::Signal) {
    let pid = r
        .child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process(pid, sig);
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

/// The first line after `mark` that contains `needle`.
fn find_line(mark: &LogMark, needle: &str) -> Option<String> {
    let mut file = File::open(&mark.path).ok()?;
    file.seek(SeekFrom::Start(mark.offset)).ok()?;
    let mut text = String::new();
    // Bounded: a child's start-up output is a few kilobytes.
    file.take(1 << 20).read_to_string(&mut text).ok()?;
    text.lines().find(|l| l.contains(needle)).map(str::to_owned)
}

/// The last lines of a log, indented, for error messages.
pub(crate) fn tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let len = file.seek(SeekFrom::End(0)).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
        let mut bytes = Vec::new();
        let _ = file.take(16 * 1024).read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(TAIL_LINES);
    let shown: Vec<String> = lines[start..].iter().map(|l| format!("    {l}")).collect();
    if shown.is_empty() {
        "    (empty)".to_owned()
    } else {
        shown.join("\n")
    }
}
