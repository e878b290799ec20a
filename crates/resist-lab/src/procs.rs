//! The long-running processes of a lab run (coordinator, nodes, probes,
//! fixtures), each started as `ip netns exec NS PROGRAM …` (which execs, so
//! the child's pid is the program's), with stdout and stderr in a log file,
//! and killed by that pid when the run ends, however it ends.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::LabError;

/// How often a log is re-read while waiting for a line.
const POLL: Duration = Duration::from_millis(100);

/// One supervised process.
#[derive(Debug)]
pub struct Supervised {
    /// Its name in the lab (also its log's name).
    pub name: String,
    /// Its log file.
    pub log: PathBuf,
    child: Child,
}

impl Supervised {
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
        let out = File::create(&log)
            .map_err(|e| LabError::io(format!("cannot create {}", log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| LabError::io(format!("cannot share {}", log.display()), e))?;
        let mut cmd = Command::new(ip);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RESIST_") {
                cmd.env_remove(key);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .map_err(|e| LabError::io(format!("cannot start {name}"), e))?;
        Ok(Supervised {
            name: name.to_owned(),
            log,
            child,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails if the process has exited.
    pub fn check_running(&mut self) -> Result<(), LabError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(self.exited(status.to_string())),
            Err(e) => Err(LabError::io(format!("cannot check on {}", self.name), e)),
        }
    }

    fn exited(&self, status: String) -> LabError {
        let out = self.output();
        let lines: Vec<&str> = out.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        LabError::Exited {
            name: self.name.clone(),
            status,
            log: self.log.clone(),
            tail,
        }
    }

    /// Waits until the log holds a line for which `pred` holds; fails when
    /// the process exits first or `within` passes.
    pub async fn wait_line(
        &mut self,
        what: &str,
        pred: impl Fn(&str) -> bool,
        within: Duration,
    ) -> Result<String, LabError> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self.output().lines().find(|l| pred(l)) {
                return Ok(line.to_owned());
            }
            self.check_running()?;
            if Instant::now() >= deadline {
                return Err(LabError::timeout_logged(
                    format!("{} did not print {what}", self.name),
                    within,
                    &self.log,
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        // SIGKILL by pid, only while unreaped (the pid is still ours), then reap.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
