//! What `resist up` keeps between runs: the layout of its data directory, the
//! lock that keeps two runs off one directory, and the ports, so a second run
//! serves the same share links as the first.
//!
//! Ports: the first run takes the well-known ones (the coordinator on 8740, as
//! `resist admin` and `resist coordinator status` expect; the nodes on 1080
//! and 1081) or, where one is taken, one the kernel picks, and writes them to
//! `up.toml`. A later run uses the saved ports. The coordinator and its canary
//! move to a free port if theirs is taken (nothing outside this process tree
//! remembers them). A node never moves: its port is in its registration and in
//! every share link handed out, so `resist up` stops and says which port to
//! free instead.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The number of nodes (and operators) `resist up` runs.
pub(crate) const NODES: usize = 2;

/// Ports tried first on a new network.
const PREFERRED_COORDINATOR: u16 = 8740;
const PREFERRED_CANARY: u16 = 8741;
const PREFERRED_NODES: [u16; NODES] = [1080, 1081];

/// How long a saved port may stay taken (by a child of a `resist up` that was
/// just killed, still draining) before it counts as taken for good.
pub(crate) const PORT_WAIT: Duration = Duration::from_secs(10);

/// The files and directories of one `resist up` network.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The data directory.
    pub dir: PathBuf,
}

impl Layout {
    /// Where the ports are kept.
    pub(crate) fn state_file(&self) -> PathBuf {
        self.dir.join("up.toml")
    }
    /// The coordinator's configuration, written on every start.
    pub(crate) fn coordinator_config(&self) -> PathBuf {
        self.dir.join("coordinator.toml")
    }
    /// The coordinator's database and admin token.
    pub(crate) fn coordinator_dir(&self) -> PathBuf {
        self.dir.join("coordinator")
    }
    /// The admin token the coordinator generates.
    pub(crate) fn admin_token(&self) -> PathBuf {
        self.coordinator_dir().join("admin-token")
    }
    /// Node `i`'s (1-based) configuration, written on every start.
    pub(crate) fn node_config(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node-{i}.toml"))
    }
    /// Node `i`'s credentials.
    pub(crate) fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node-{i}"))
    }
    /// Operator `i`'s test key and registration.
    pub(crate) fn operator_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("operator-{i}"))
    }
    /// A probe's key and report queue.
    pub(crate) fn probe_dir(&self, name: &str) -> PathBuf {
        self.dir.join(format!("probe-{name}"))
    }
    /// The children's logs.
    pub(crate) fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// Every entry `resist up` creates (and `--reset` removes); nothing else
    /// in the directory is touched.
    fn entries(&self) -> Vec<PathBuf> {
        let mut v = vec![
            self.state_file(),
            self.coordinator_config(),
            self.coordinator_dir(),
            self.logs(),
            self.probe_dir("censored"),
            self.probe_dir("free"),
        ];
        for i in 1..=NODES {
            v.extend([self.node_config(i), self.node_dir(i), self.operator_dir(i)]);
        }
        v
    }

    /// Creates the directory (0700: it holds keys), takes the lock, and with
    /// `reset` removes what an earlier run left. The lock is held while the
    /// returned file is open.
    pub(crate) fn prepare(&self, reset: bool) -> anyhow::Result<File> {
        let hint = "choose another directory with --data-dir";
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .with_context(|| {
                format!(
                    "cannot create the data directory {}; {hint}",
                    self.dir.display()
                )
            })?;
        let lock_path = self.dir.join("up.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .with_context(|| {
                format!(
                    "cannot write in the data directory {}; {hint}",
                    self.dir.display()
                )
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "another `resist up` is running on {}; stop it first (Ctrl-C in its terminal), or use another --data-dir",
                self.dir.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(anyhow!(e).context(format!("cannot lock {}", lock_path.display())));
            }
        }
        if reset {
            for entry in self.entries() {
                let removed = if entry.is_dir() {
                    std::fs::remove_dir_all(&entry)
                } else if entry.exists() {
                    std::fs::remove_file(&entry)
                } else {
                    Ok(())
                };
                removed.with_context(|| format!("--reset: cannot remove {}", entry.display()))?;
            }
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(self.logs())
            .with_context(|| format!("cannot create {}; {hint}", self.logs().display()))?;
        Ok(lock)
    }
}

/// The ports of one network, as kept in `up.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Ports {
    /// The coordinator's HTTP API and dashboard.
    pub coordinator: u16,
    /// The coordinator's canary, which probes reach through the nodes.
    pub canary: u16,
    /// The nodes' SOCKS5 ports, in order.
    pub nodes: Vec<u16>,
}

/// The ports, and what changed while choosing them.
#[derive(Debug)]
pub(crate) struct Chosen {
    /// The ports to use.
    pub ports: Ports,
    /// Whether `up.toml` existed (a continued network).
    pub continued: bool,
    /// Notes for the user (a port moved).
    pub notes: Vec<String>,
}

fn free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The preferred port if free (0: none preferred), else one the kernel
/// picks; `held` keeps the chosen ones bound until all are chosen, so no two
/// are the same.
fn pick(preferred: u16, held: &mut Vec<TcpListener>) -> anyhow::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", preferred))
        .or_else(|_| TcpListener::bind(("127.0.0.1", 0)))
        .context("cannot find a free port on 127.0.0.1")?;
    let port = listener.local_addr()?.port();
    held.push(listener);
    Ok(port)
}

/// Waits (bounded) for `port` to be free.
async fn wait_free(port: u16, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if free(port) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Loads the saved ports or chooses new ones, and saves them. A saved port
/// that is taken is waited for up to `wait`.
pub(crate) async fn choose_ports(layout: &Layout, wait: Duration) -> anyhow::Result<Chosen> {
    let file = layout.state_file();
    let saved = match std::fs::read_to_string(&file) {
        Ok(text) => Some(toml::from_str::<Ports>(&text).with_context(|| {
            format!(
                "{} is damaged; fix it, or start afresh with `resist up --reset`",
                file.display()
            )
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(anyhow!(e).context(format!("cannot read {}", file.display()))),
    };
    let mut notes = Vec::new();
    let continued = saved.is_some();
    let ports = match saved {
        None => {
            let mut held = Vec::new();
            let coordinator = pick(PREFERRED_COORDINATOR, &mut held)?;
            let canary = pick(PREFERRED_CANARY, &mut held)?;
            let mut nodes = Vec::new();
            for p in PREFERRED_NODES {
                nodes.push(pick(p, &mut held)?);
            }
            Ports {
                coordinator,
                canary,
                nodes,
            }
        }
        Some(mut ports) => {
            if ports.nodes.len() != NODES {
                bail!(
                    "{} names {} node ports, not {NODES}; fix it, or start afresh with `resist up --reset`",
                    file.display(),
                    ports.nodes.len()
                );
            }
            for (i, &port) in ports.nodes.iter().enumerate() {
                if !wait_free(port, wait).await {
                    bail!(
                        "port {port} of node {} (saved in {}) is in use by another program. Its share links and its \
                         registration name this port, so resist up does not move it: stop that program \
                         (`ss -ltnp 'sport = :{port}'` shows which), or start a new network with `resist up --reset`",
                        i + 1,
                        file.display()
                    );
                }
            }
            let mut held = Vec::new();
            for (what, port) in [
                ("coordinator", &mut ports.coordinator),
                ("canary", &mut ports.canary),
            ] {
                if wait_free(*port, wait).await {
                    // Bound now, so the other one cannot get it.
                    let kept = pick(*port, &mut held)?;
                    if kept == *port {
                        continue;
                    }
                }
                let new = pick(0, &mut held)?;
                notes.push(format!(
                    "the {what}'s port {port} is in use by another program; using {new} instead"
                ));
                *port = new;
            }
            ports
        }
    };
    let text = format!(
        "# Written by `resist up`: the ports of this local network, kept across restarts.\n\
         # Node ports never change (share links name them); `resist up --reset` starts afresh.\n{}",
        toml::to_string(&ports).context("cannot encode the ports")?
    );
    resist_node::credentials::write_private(&file, &text)
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(Chosen {
        ports,
        continued,
        notes,
    })
}

/// `path` for a TOML value.
pub(crate) fn path_value(path: &Path) -> toml::Value {
    toml::Value::String(path.display().to_string())
}

#[cfg(test)]
mod test {
    use super::*;

    #[tokio::test]
    async fn ports_are_saved_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout {
            dir: dir.path().join("up"),
        };
        let _lock = layout.prepare(false).unwrap();
        let first = choose_ports(&layout, Duration::ZERO).await.unwrap();
        assert!(!first.continued);
        let mut all = vec![first.ports.coordinator, first.ports.canary];
        all.extend(&first.ports.nodes);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 2 + NODES, "ports must differ: {:?}", first.ports);
        let second = choose_ports(&layout, Duration::ZERO).await.unwrap();
        assert!(second.continued);
        assert_eq!(second.ports, first.ports);

        // The coordinator moves off a taken port; a node does not.
        let squatter = TcpListener::bind(("127.0.0.1", first.ports.coordinator)).unwrap();
        let third = choose_ports(&layout, Duration::ZERO).await.unwrap();
        assert_ne!(third.ports.coordinator, first.ports.coordinator);
        assert_eq!(third.ports.nodes, first.ports.nodes);
        assert!(third.notes[0].contains("using"), "{:?}", third.notes);
        drop(squatter);
        let squatter = TcpListener::bind(("127.0.0.1", first.ports.nodes[0])).unwrap();
        let e = choose_ports(&layout, Duration::ZERO)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("port {} of node 1", first.ports.nodes[0])),
            "{e}"
        );
        drop(squatter);
    }

    #[tokio::test]
    async fn a_second_run_on_one_directory_is_refused_and_reset_keeps_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout {
            dir: dir.path().to_path_buf(),
        };
        std::fs::write(dir.path().join("mine.txt"), "keep").unwrap();
        let lock = layout.prepare(false).unwrap();
        let e = layout.prepare(false).unwrap_err().to_string();
        assert!(e.contains("another `resist up` is running"), "{e}");
        drop(lock);
        std::fs::create_dir_all(layout.node_dir(1)).unwrap();
        std::fs::write(layout.node_dir(1).join("node-credentials.toml"), "x").unwrap();
        let _lock = layout.prepare(true).unwrap();
        assert!(!layout.node_dir(1).exists());
        assert!(dir.path().join("mine.txt").exists());
    }
}
