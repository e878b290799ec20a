//! Helpers shared by the tests of the real `resist` binary: spawning
//! `resist node`, reading its banner, sending signals, bounded waits, and a guard
//! that kills the child by PID when a test ends, even when it panics.
//!
//! Everything here talks to loopback only.

#![allow(dead_code)] // each test file uses a subset
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support: failing loudly is the point

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use resist_process::Supervised;
use resist_process::child::Signal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_resist");

/// How long a node may take to print its banner.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(20);

/// `resist node ARGS…` with no `RESIST_NODE_*` variable inherited and the
/// default data directory pointed away from the real home (tests pass
/// `--data-dir` anyway).
pub(crate) fn node_command(args: &[&str], scratch: &Path) -> Command {
    resist_command("node", args, scratch)
}

/// `resist ROLE ARGS…` with no `RESIST_*` variable inherited and the default
/// data directory under `scratch`.
pub(crate) fn resist_command(role: &str, args: &[&str], scratch: &Path) -> Command {
    resist_args(std::iter::once(role).chain(args.iter().copied()), scratch)
}

/// `resist ARGS…` (a subcommand first, as [`resist_process::NodeCommand`] and
/// its siblings build them), as [`resist_command`].
pub(crate) fn resist_args(
    args: impl IntoIterator<Item = impl AsRef<OsStr>>,
    scratch: &Path,
) -> Command {
    let mut cmd = resist_process::resist_command(BIN);
    cmd.args(args)
        .env("HOME", scratch)
        .env("XDG_DATA_HOME", scratch.join("xdg"));
    cmd
}

/// The node of the tests that measure: on a free loopback port, known to the
/// probes as `probe:probe-password`, relaying to loopback, logging warnings.
pub(crate) fn test_node() -> resist_process::NodeCommand {
    resist_process::NodeCommand {
        listen: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        users: vec!["probe:probe-password".into()],
        allow_destinations: vec!["127.0.0.0/8".into()],
        log_level: Some("warn".into()),
        ..resist_process::NodeCommand::default()
    }
}

/// The probe of the tests that measure: reporting to `coordinator`, asking
/// every second, allowed to test loopback nodes.
pub(crate) fn test_probe(coordinator: &str) -> resist_process::ProbeCommand {
    resist_process::ProbeCommand {
        coordinator: Some(coordinator.into()),
        poll_interval: Some(1),
        check_timeout: Some(2),
        max_backoff: Some(1),
        danger_allow_private_nodes: true,
        ..resist_process::ProbeCommand::default()
    }
}

/// A running `resist node` (or another role), with its output read from
/// pipes. Dropping it kills the process (see [`Supervised`]), so no test
/// leaves one behind, even on panic.
pub(crate) struct NodeProcess {
    child: Supervised,
    pid: libc::pid_t,
    stdout_lines: Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl NodeProcess {
    /// Spawns `cmd` with piped stdout and stderr.
    pub(crate) fn spawn(mut cmd: Command) -> NodeProcess {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = Supervised::spawn("resist", cmd).expect("spawn resist");
        let pid = libc::pid_t::try_from(child.pid()).expect("pid fits pid_t");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, stdout_lines) = mpsc::channel();
        let out_pipe = child.child_mut().stdout.take().expect("piped stdout");
        let err_pipe = child.child_mut().stderr.take().expect("piped stderr");
        let out_buf = Arc::clone(&stdout);
        let err_buf = Arc::clone(&stderr);
        let readers = vec![
            std::thread::spawn(move || {
                for_each_line(out_pipe, |line| {
                    out_buf.lock().unwrap().push_str(&line);
                    let _ = tx.send(line);
                });
            }),
            std::thread::spawn(move || {
                for_each_line(err_pipe, |line| err_buf.lock().unwrap().push_str(&line));
            }),
        ];
        NodeProcess {
            child,
            pid,
            stdout_lines,
            stdout,
            stderr,
            readers,
        }
    }

    /// The child's PID.
    pub(crate) fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Waits for the `resist node listening on …` line and returns the addresses.
    pub(crate) fn banner(&mut self) -> Vec<SocketAddr> {
        const PREFIX: &str = "resist node listening on ";
        let line = self.stdout_line(|l| l.starts_with(PREFIX), START_TIMEOUT);
        line.trim_end()
            .strip_prefix(PREFIX)
            .unwrap()
            .split(", ")
            .map(|a| {
                a.parse()
                    .unwrap_or_else(|e| panic!("bad address {a:?} in {line:?}: {e}"))
            })
            .collect()
    }

    /// Waits for the banner and for the SIGTERM and SIGHUP handlers, and returns
    /// the first listen address.
    pub(crate) fn listen_addr(&mut self) -> SocketAddr {
        let addr = self.banner()[0];
        self.wait_signal_handlers();
        addr
    }

    /// Waits until the node catches SIGTERM and SIGHUP (`SigCgt` in
    /// `/proc/PID/status`).
    ///
    /// Needed because the node prints its banner before it installs these
    /// handlers (SIGHUP's even in a task spawned with no ordering to serving), so
    /// a signal sent right after the banner — or even after a few relayed
    /// connections, on a loaded machine — can kill it with the default action.
    /// `signals::signal_right_after_the_banner_*` document that bug.
    pub(crate) fn wait_signal_handlers(&mut self) {
        let wanted: u64 = [libc::SIGTERM, libc::SIGHUP]
            .iter()
            .map(|s| 1u64 << (s - 1))
            .fold(0, |a, b| a | b);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let status =
                std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
            let caught = status
                .lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
                .unwrap_or(0);
            if caught & wanted == wanted {
                return;
            }
            if Instant::now() >= deadline || !self.is_running() {
                panic!(
                    "resist did not install its SIGTERM and SIGHUP handlers (SigCgt {caught:#x}); output:\n{}",
                    self.output_so_far()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The next stdout line (not yet consumed) for which `pred` holds.
    pub(crate) fn stdout_line(&mut self, pred: impl Fn(&str) -> bool, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout_lines.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no expected stdout line within {within:?}; output so far:\n{}",
                        self.output_so_far()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.wait_exit(Duration::from_secs(5));
                    panic!(
                        "resist exited ({status}) before printing the expected line; output:\n{}",
                        self.output_so_far()
                    )
                }
            }
        }
    }

    /// Sends `signal` to the node (only while it has not been reaped, so the PID
    /// cannot belong to another process).
    pub(crate) fn signal(&mut self, signal: libc::c_int) {
        let sig = Signal::from_named_raw(signal).expect("a known signal");
        if let Err(e) = self.child.signal(sig) {
            panic!("kill({}, {signal}) failed: {e}", self.pid);
        }
    }

    /// The exit status if the node has exited.
    pub(crate) fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_status()
    }

    /// Whether the node is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }

    /// Waits up to `within` for the node to exit; panics (and the guard kills it)
    /// if it does not.
    pub(crate) fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.try_status() {
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "resist did not exit within {within:?}; output so far:\n{}",
                    self.output_so_far()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then waits for exit status 0 within `within`.
    pub(crate) fn terminate(&mut self, within: Duration) {
        self.signal(libc::SIGTERM);
        let status = self.wait_exit(within);
        assert!(
            status.success(),
            "resist exited with {status} after SIGTERM; output:\n{}",
            self.output_so_far()
        );
    }

    /// Polls stderr until it contains `needle`; panics after `within`.
    pub(crate) fn wait_for_stderr(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let seen = self.stderr.lock().unwrap().contains(needle);
            if seen {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "stderr did not show {needle:?} within {within:?}; output so far:\n{}",
                    self.output_so_far()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the node runs, then what it printed so far (stdout, stderr).
    pub(crate) fn output_so_far(&mut self) -> String {
        let state = match self.try_status() {
            None => "running".to_string(),
            Some(status) => format!("exited: {status}"),
        };
        format!(
            "--- {state} ---\n--- stdout ---\n{}--- stderr ---\n{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }

    /// Everything the node printed, once it has exited (waits for the pipes to
    /// be read to their end).
    pub(crate) fn final_output(&mut self) -> String {
        assert!(
            self.try_status().is_some(),
            "final_output of a running node"
        );
        for reader in self.readers.drain(..) {
            reader.join().expect("pipe reader thread");
        }
        self.output_so_far()
    }
}

/// Calls `f` with each line (newline included) read from `pipe` until EOF.
fn for_each_line(pipe: impl Read, mut f: impl FnMut(String)) {
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => f(String::from_utf8_lossy(&buf).into_owned()),
        }
    }
}

/// A loopback port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes `text` to `dir/name` (atomically, by rename) and returns the path.
pub(crate) fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// Awaits `fut`, panicking with `what` if it takes longer than `within`.
pub(crate) async fn within<T>(what: &str, within: Duration, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(within, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: no result within {within:?}"))
}

/// Sends `payload` on a relayed connection to an echo server and checks it
/// comes back, within 5 s.
pub(crate) async fn assert_echoes(stream: &mut TcpStream, payload: &[u8]) {
    within("echo round trip", Duration::from_secs(5), async {
        stream.write_all(payload).await.expect("write to relay");
        let mut back = vec![0u8; payload.len()];
        stream.read_exact(&mut back).await.expect("read echo");
        assert_eq!(back, payload, "echo mismatch");
    })
    .await;
}

/// A `GET /metrics` over plain TCP; returns the body.
pub(crate) async fn scrape_metrics(addr: SocketAddr) -> String {
    within("metrics scrape", Duration::from_secs(5), async {
        let mut s = TcpStream::connect(addr).await.expect("connect to metrics");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).await.unwrap();
        let resp = String::from_utf8(resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200"), "metrics answer: {resp}");
        resp.split_once("\r\n\r\n").unwrap().1.to_string()
    })
    .await
}

/// The value of the sample `name` (with its labels, exactly as exposed) in a
/// Prometheus text `body`, or `None` if absent.
pub(crate) fn metric_value(body: &str, name: &str) -> Option<f64> {
    body.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(' ')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}
