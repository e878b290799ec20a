//! The proxies under test, each started as its own process on a fresh loopback
//! port so its CPU time and memory can be read from /proc, and stopped by PID.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use resist_process::{NodeCommand, NotReady, Supervised};

use crate::procfs;
use crate::socks::{PASSWORD, USER};

/// Who carries the traffic: nobody (the direct path) or a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub(crate) enum Subject {
    /// No proxy: the client talks to the target itself, the physical baseline.
    #[value(skip)]
    Direct,
    /// `resist node`, run from this very binary.
    Resist,
    /// Dante's `danted` (Debian: dante-server).
    Dante,
    /// microsocks (Debian: microsocks).
    Microsocks,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Subject::Direct => "direct",
            Subject::Resist => "resist",
            Subject::Dante => "dante",
            Subject::Microsocks => "microsocks",
        })
    }
}

/// What a proxy must do for a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Needs {
    /// Clients authenticate with username and password (RFC 1929).
    pub(crate) password: bool,
    /// UDP ASSOCIATE.
    pub(crate) udp: bool,
    /// Run the proxy (every thread and child) on this CPU only.
    pub(crate) pin: Option<usize>,
}

impl Subject {
    /// Why this subject cannot run a figure with `needs`, if it cannot.
    pub(crate) fn unsupported(self, needs: Needs) -> Option<&'static str> {
        match self {
            // Dante's "username" method checks system accounts (getpwnam/PAM):
            // it would mean creating a Unix user on the benchmark machine.
            Subject::Dante if needs.password => {
                Some("Dante's password method needs a system account")
            }
            Subject::Microsocks if needs.udp => Some("microsocks has no UDP ASSOCIATE"),
            _ => None,
        }
    }

    /// The Debian package of an anchor.
    pub(crate) fn package(self) -> Option<&'static str> {
        match self {
            Subject::Dante => Some("dante-server"),
            Subject::Microsocks => Some("microsocks"),
            Subject::Direct | Subject::Resist => None,
        }
    }

    fn program(self) -> Option<&'static str> {
        match self {
            Subject::Dante => Some("danted"),
            Subject::Microsocks => Some("microsocks"),
            Subject::Direct | Subject::Resist => None,
        }
    }

    /// The executable that runs this proxy: found on PATH (or in /usr/sbin, where
    /// Debian puts danted) for anchors, this binary for resist.
    pub(crate) fn executable(self) -> Option<PathBuf> {
        match self {
            Subject::Direct => None,
            Subject::Resist => std::env::current_exe().ok(),
            _ => {
                let name = self.program()?;
                let path = std::env::var_os("PATH").unwrap_or_default();
                std::env::split_paths(&path)
                    .chain(["/usr/sbin".into(), "/sbin".into()])
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            }
        }
    }

    /// The version line to record with results.
    pub(crate) fn version(self) -> String {
        let exe = self.executable();
        let dpkg = |pkg: &str| {
            Command::new("dpkg-query")
                .args(["-W", "-f", "${Version}", pkg])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        match self {
            Subject::Direct => "—".into(),
            Subject::Resist => format!(
                "resist {} (this workspace{})",
                env!("CARGO_PKG_VERSION"),
                git_head()
                    .map(|h| format!(", commit {h}"))
                    .unwrap_or_default()
            ),
            Subject::Dante => {
                let v = exe
                    .and_then(|e| Command::new(e).arg("-v").output().ok())
                    .map(|o| {
                        let text = [o.stdout, o.stderr].concat();
                        let text = String::from_utf8_lossy(&text);
                        let line = text.lines().next().unwrap_or("");
                        // "Dante v1.4.2.  Copyright (c) …"
                        line.split("  ")
                            .next()
                            .unwrap_or(line)
                            .trim()
                            .trim_end_matches('.')
                            .to_string()
                    })
                    .unwrap_or_default();
                match dpkg("dante-server") {
                    Some(d) => format!("{v} (Debian dante-server {d})"),
                    None => v,
                }
            }
            Subject::Microsocks => match dpkg("microsocks") {
                Some(d) => format!("microsocks (Debian {d}; it prints no version)"),
                None => "microsocks (prints no version)".into(),
            },
        }
    }
}

fn git_head() -> Option<String> {
    let o = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::null())
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// Configuration files and logs of the proxies, in one temporary directory.
#[derive(Debug)]
pub(crate) struct Workdir {
    dir: tempfile::TempDir,
    /// A private copy of this binary, run as `node`: a `cargo build` elsewhere
    /// in the workspace during a long run cannot swap the node under test.
    node: PathBuf,
}

impl Workdir {
    pub(crate) fn new() -> io::Result<Workdir> {
        let dir = tempfile::Builder::new().prefix("resist-bench-").tempdir()?;
        // Limits that never bind during the benchmark: it measures the relay, not
        // the caps (defaults: 4096 total, 64 per client, 5 min idle).
        fs::write(
            dir.path().join("resist.toml"),
            "[limits]\n\
             max_connections = 20000\n\
             max_connections_per_client = 20000\n\
             handshake_timeout = \"60s\"\n\
             connect_timeout = \"10s\"\n\
             idle_timeout = \"1h\"\n\
             drain_timeout = \"1s\"\n",
        )?;
        fs::create_dir(dir.path().join("resist-data"))?;
        let node = dir.path().join("resist-node");
        fs::copy(std::env::current_exe()?, &node)?;
        Ok(Workdir { dir, node })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A proxy process, stopped (by PID) when dropped.
#[derive(Debug)]
pub(crate) struct Running {
    subject: Subject,
    child: Supervised,
    pub(crate) addr: SocketAddr,
    log: PathBuf,
}

impl Running {
    /// Starts `subject` on a free loopback port and waits until it accepts.
    pub(crate) fn start(subject: Subject, needs: Needs, work: &Workdir) -> anyhow::Result<Running> {
        let exe = match subject {
            Subject::Resist => work.node.clone(),
            _ => subject
                .executable()
                .ok_or_else(|| anyhow!("{subject} is not installed"))?,
        };
        let mut last = None;
        // A port picked free can be taken before the proxy binds it: try again.
        for _ in 0..3 {
            let port = free_port()?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let log = work.path().join(format!("{subject}-{port}.log"));
            // The figures must not depend on the caller's environment.
            let mut cmd = match subject {
                Subject::Resist => resist_process::resist_command(&exe),
                _ => Command::new(&exe),
            };
            match subject {
                Subject::Resist => {
                    let node = NodeCommand {
                        config: Some(work.path().join("resist.toml")),
                        listen: vec![addr],
                        allow_destinations: vec!["127.0.0.0/8".into()],
                        log_level: Some("warn".into()),
                        data_dir: Some(work.path().join("resist-data")),
                        users: if needs.password {
                            vec![format!("{USER}:{PASSWORD}")]
                        } else {
                            Vec::new()
                        },
                        no_auth: !needs.password,
                    };
                    cmd.args(node.args());
                }
                Subject::Dante => {
                    let conf = work.path().join(format!("danted-{port}.conf"));
                    fs::write(&conf, dante_config(port))?;
                    cmd.arg("-f")
                        .arg(&conf)
                        .arg("-p")
                        .arg(work.path().join(format!("danted-{port}.pid")));
                }
                Subject::Microsocks => {
                    cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
                    if needs.password {
                        cmd.args(["-u", USER, "-P", PASSWORD]);
                    }
                }
                Subject::Direct => bail!("the direct path has no proxy"),
            }
            if let Some(cpu) = needs.pin {
                let set = crate::cpu::only(cpu);
                // SAFETY: the hook makes one system call (sched_setaffinity),
                // which is async-signal-safe, between fork and exec.
                unsafe {
                    cmd.pre_exec(move || crate::cpu::restrict(&set));
                }
            }
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(&log)?);
            let child = Supervised::spawn(subject.to_string(), cmd)
                .with_context(|| format!("cannot start {}", exe.display()))?;
            let mut running = Running {
                subject,
                child,
                addr,
                log,
            };
            match running.wait_ready() {
                Ok(()) => return Ok(running),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("{subject} did not start")))
    }

    pub(crate) fn pid(&self) -> i32 {
        i32::try_from(self.child.pid()).unwrap_or(i32::MAX)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let addr = self.addr;
        let accepts = || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                .ok()
                .map(drop)
        };
        match self
            .child
            .wait_ready_blocking(Duration::from_secs(10), accepts)
        {
            Ok(()) => Ok(()),
            Err(NotReady::Exited(status)) => bail!(
                "{} exited at start ({status}): {}",
                self.subject,
                self.log_tail()
            ),
            Err(NotReady::TimedOut) => bail!(
                "{} did not accept on {} within 10 s: {}",
                self.subject,
                self.addr,
                self.log_tail()
            ),
        }
    }

    /// The end of the proxy's stderr, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        let tail = resist_process::tail(&self.log, 5);
        if tail.is_empty() {
            "(no output)".into()
        } else {
            tail.join(" | ")
        }
    }

    /// Whether the process has exited (crashed) while being measured.
    pub(crate) fn exited(&mut self) -> Option<String> {
        let status = self.child.try_status()?;
        Some(format!(
            "{} exited ({status}): {}",
            self.subject,
            self.log_tail()
        ))
    }

    /// SIGTERM, up to 3 s to exit, then SIGKILL; forked children that outlive
    /// their parent are killed by PID too (each checked by its start time).
    pub(crate) fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let pid = self.pid();
        let family: Vec<procfs::Stat> = procfs::tree(pid);
        self.child.stop_blocking(Duration::from_secs(3));
        for s in family.iter().filter(|s| s.pid != pid) {
            if procfs::stat(s.pid).is_some_and(|now| now.start_time == s.start_time) {
                signal(s.pid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.is_running() {
            self.kill();
        }
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) with a PID this benchmark started (or a verified child of it).
    unsafe {
        libc::kill(pid, sig);
    }
}

/// A free port below the ephemeral range, so that it is never taken by the
/// outgoing connections (and their TIME_WAIT) of the figures.
fn free_port() -> io::Result<u16> {
    let low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (from, to) = if low > 12_000 {
        (low - 10_000, low)
    } else {
        (61_000, 65_535)
    };
    // Start somewhere different each time: a port just closed may linger.
    let span = u32::from(to - from);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let start = nanos % span;
    for i in 0..span {
        let port = from + u16::try_from((start + i) % span).unwrap_or(0);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    TcpListener::bind("127.0.0.1:0")?
        .local_addr()
        .map(|a| a.port())
}

/// Dante's configuration: no authentication, loopback in and out, CONNECT and UDP.
fn dante_config(port: u16) -> String {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let users = if root {
        "user.privileged: root\nuser.unprivileged: nobody\n"
    } else {
        ""
    };
    format!(
        "logoutput: stderr\n\
         internal: 127.0.0.1 port = {port}\n\
         external: 127.0.0.1\n\
         clientmethod: none\n\
         socksmethod: none\n\
         {users}\
         client pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n}}\n\
         socks pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  command: connect udpassociate udpreply\n}}\n"
    )
}
