//! A throwaway PostgreSQL server for tests: its own cluster in a temporary
//! directory, listening on 127.0.0.1 at a free port, gone when dropped.
//!
//! The store's conformance suite runs against a real PostgreSQL, not a mock;
//! this starts one from the Debian `postgresql` package's binaries
//! (`/usr/lib/postgresql/*/bin`) without touching the system's own cluster.
//! Without those binaries [`TempPostgres::start`] returns `Ok(None)` so a
//! developer's `cargo test` skips the PostgreSQL half, except under CI (`CI`
//! set), where it fails the test: `.ci/run` installs the package.

// PostgreSQL refuses to run as root. As root (CI runs as root) the cluster
// directory is given to the `postgres` user and initdb and the server run with
// that uid and gid, set by `Command::uid`/`gid` in the child rather than
// through `runuser`: so the process we spawn *is* the postmaster, and the PID
// we signal on drop is the server's own, with no wrapper in between.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::ChildStdin;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;
use tempfile::TempDir;

/// How long the server may take to accept connections after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a fast shutdown may take before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A PostgreSQL server of our own. Dropping it stops the server and removes
/// its directory.
#[derive(Debug)]
pub struct TempPostgres {
    /// The postmaster we started (its PID is what drop signals).
    server: Child,
    /// The TCP port it listens on at 127.0.0.1.
    port: u16,
    /// Holds the cluster, the socket and the log; removed after the server stops.
    dir: Option<TempDir>,
    /// Numbers the databases made by [`TempPostgres::fresh_database`].
    next_database: AtomicU32,
}

impl TempPostgres {
    /// Starts a server: `initdb` into a temporary directory, then `postgres`
    /// on 127.0.0.1 at a free port with `fsync=off`, and waits (blocking, up
    /// to 30 s; usually 1–2 s) until it accepts connections.
    ///
    /// `Ok(None)` when PostgreSQL is not installed and `CI` is not set, after
    /// printing why (see [`crate::require`]), so the caller can skip with a
    /// bare `return`; a panic when it is not installed under CI; `Err` when it
    /// is installed but will not start.
    pub fn start() -> Result<Option<TempPostgres>, String> {
        let Some(bin) = find_bin_dir() else {
            crate::require(Some(
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); \
                 `apt-get install postgresql` or run .ci/run to test the PostgreSQL store",
            ));
            return Ok(None);
        };
        let run_as = if rustix::process::geteuid().is_root() {
            Some(postgres_user()?)
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("resist-pg-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(|e| format!("cannot chown {}: {e}", dir.path().display()))?;
        }
        let data = dir.path().join("data");

        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .args(["--locale=C", "--no-instructions", "-D"])
            .arg(&data)
            .stdin(Stdio::null());
        if let Some((uid, gid)) = run_as {
            initdb.uid(uid).gid(gid);
        }
        let out = initdb
            .output()
            .map_err(|e| format!("cannot run {}: {e}", bin.join("initdb").display()))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }

        // The port is free when we look and taken by postgres a moment later;
        // another process may win the race, so try a few ports.
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let server = spawn_server(&bin, &data, dir.path(), port, run_as)?;
            let mut pg = TempPostgres {
                server,
                port,
                dir: None,
                next_database: AtomicU32::new(0),
            };
            match pg.wait_until_ready(&bin, dir.path()) {
                Ok(()) => {
                    pg.dir = Some(dir);
                    return Ok(Some(pg));
                }
                Err(e) => last_error = e,
            }
            // `pg` drops here: the failed server is stopped before the next try.
        }
        Err(last_error)
    }

    /// One server for the whole test process, started on first use, for test
    /// binaries with many small tests (each takes a
    /// [`fresh_database`](Self::fresh_database)). `None` when PostgreSQL is
    /// not installed, as for [`start`](Self::start); panics where `start`
    /// errs.
    ///
    /// A static is never dropped, so the server is stopped by a reaper: a
    /// `sh` child waiting on a pipe from this process. When the process exits
    /// the pipe closes, and the reaper stops the server (fast shutdown) and
    /// removes its directory.
    pub fn shared() -> Option<&'static TempPostgres> {
        static SHARED: OnceLock<Option<(TempPostgres, ChildStdin)>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let pg = TempPostgres::start().expect("PostgreSQL failed to start")?;
                let reaper = pg
                    .spawn_reaper()
                    .expect("cannot start the PostgreSQL reaper");
                Some((pg, reaper))
            })
            .as_ref()
            .map(|(pg, _)| pg)
    }

    /// Starts the reaper of [`shared`](Self::shared); returns the write end
    /// of its pipe, to keep open for as long as the server should run.
    fn spawn_reaper(&self) -> Result<ChildStdin, String> {
        const REAPER: &str = "read -r _; kill -INT \"$1\"; \
            i=0; while kill -0 \"$1\" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; \
            kill -KILL \"$1\" 2>/dev/null; rm -rf \"$2\"";
        let dir = self.dir.as_ref().ok_or("the server has no directory")?;
        let mut reaper = Command::new("sh")
            .args(["-c", REAPER, "resist-pg-reaper"])
            .arg(self.server.id().to_string())
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run sh: {e}"))?;
        reaper
            .stdin
            .take()
            .ok_or_else(|| "no pipe to the reaper".into())
    }

    /// The URL of the `postgres` database as the superuser `postgres`.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// Creates a new, empty database and returns its URL. Each call gives a
    /// different database, so tests sharing one server do not see each other.
    pub async fn fresh_database(&self) -> String {
        let n = self.next_database.fetch_add(1, Ordering::Relaxed);
        let name = format!("resist_test_{n}");
        let mut admin = PgConnection::connect(&self.url())
            .await
            .expect("connect to the test PostgreSQL");
        // CREATE DATABASE cannot run in a transaction: send it as a simple query.
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE");
        let _ = admin.close().await;
        self.url_of(&name)
    }

    fn url_of(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Polls with `pg_isready` until the server accepts connections, it
    /// exits, or the start timeout passes; errors carry the server's log.
    fn wait_until_ready(&mut self, bin: &Path, dir: &Path) -> Result<(), String> {
        let step = Duration::from_millis(50);
        for _ in 0..START_TIMEOUT.as_millis() / step.as_millis() {
            if let Ok(Some(status)) = self.server.try_wait() {
                return Err(format!(
                    "postgres exited ({status}) before accepting connections:\n{}",
                    read_log(dir)
                ));
            }
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "postgres", "-d", "postgres"])
                .stdin(Stdio::null())
                .status()
                .map_err(|e| format!("cannot run pg_isready: {e}"))?;
            if ready.success() {
                return Ok(());
            }
            std::thread::sleep(step);
        }
        Err(format!(
            "postgres did not accept connections within {START_TIMEOUT:?}:\n{}",
            read_log(dir)
        ))
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's "fast shutdown": it disconnects clients and
        // stops. SIGTERM ("smart shutdown") would wait for every client to
        // leave, and a test may still hold a pool.
        let pid = rustix::process::Pid::from_child(&self.server);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
        let step = Duration::from_millis(20);
        let mut stopped = false;
        for _ in 0..STOP_TIMEOUT.as_millis() / step.as_millis() {
            if !matches!(self.server.try_wait(), Ok(None)) {
                stopped = true;
                break;
            }
            std::thread::sleep(step);
        }
        if !stopped {
            let _ = self.server.kill(); // SIGKILL, to this PID only
            let _ = self.server.wait();
        }
        // The directory (cluster, socket, log) goes once the server is gone.
        drop(self.dir.take());
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb`, `postgres`
/// and `pg_isready`.
fn find_bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            let complete = ["initdb", "postgres", "pg_isready"]
                .iter()
                .all(|b| bin.join(b).is_file());
            complete.then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// The uid and gid of the `postgres` user (`id -u postgres`, `id -g postgres`).
fn postgres_user() -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .map_err(|e| format!("cannot run id: {e}"))?;
        if !out.status.success() {
            return Err("running as root, but there is no `postgres` user to run \
                        PostgreSQL as (the Debian package creates it)"
                .into());
        }
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|e| format!("id {flag} postgres: {e}"))
    };
    Ok((id("-u")?, id("-g")?))
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

fn spawn_server(
    bin: &Path,
    data: &Path,
    dir: &Path,
    port: u16,
    run_as: Option<(u32, u32)>,
) -> Result<Child, String> {
    let log = File::create(dir.join("postgres.log"))
        .map_err(|e| format!("cannot create the server log: {e}"))?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("cannot share the server log: {e}"))?;
    let mut cmd = Command::new(bin.join("postgres"));
    cmd.arg("-D")
        .arg(data)
        .args(["-p", &port.to_string(), "-k"])
        .arg(dir)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
        // Tests open a fresh database per story, each with its own pool.
        .args(["-c", "max_connections=200"])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    if let Some((uid, gid)) = run_as {
        cmd.uid(uid).gid(gid);
    }
    cmd.spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.join("postgres").display()))
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default()
}
