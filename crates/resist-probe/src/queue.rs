//! The durable queue of signed reports waiting for the coordinator.
//!
//! A measurement is worth something only once the coordinator has it, and
//! the coordinator may be down for hours: every signed report goes to disk
//! first and leaves only when the coordinator has acknowledged it (accepted
//! or duplicate) or refused it for good.
//!
//! Layout of the queue directory (mode 0700):
//!
//! ```text
//! <report_id hex>.report        a signed report (resist_proto::report bytes)
//! rejected/<id>.report|.reason  refused by the coordinator, with its reason
//! damaged/<file>                files that did not decode or verify
//! lock                          held (flock) by the one process using the queue
//! ```
//!
//! Each report file is written atomically (temporary file, fsync, rename,
//! fsync of the directory), so after a crash a report is either wholly in
//! the queue or not at all; leftovers of interrupted writes are deleted when
//! the queue is opened. The file content is the signed report itself, so a
//! file is its own integrity check: `pending` verifies each signature and
//! moves anything that fails into `damaged/` instead of sending it or
//! stopping on it.
//!
//! The operations are blocking file-system calls; async callers run them
//! with `tokio::task::spawn_blocking` (the queue is cheap to clone).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use resist_proto::report::{Report, ReportError};
use tracing::warn;

use crate::fsutil::{self, TMP_SUFFIX};

/// Extension of queued report files.
const REPORT_EXT: &str = "report";
/// Subdirectory for reports the coordinator refused.
const REJECTED: &str = "rejected";
/// Subdirectory for files that are not valid signed reports.
const DAMAGED: &str = "damaged";
/// The lock file.
const LOCK: &str = "lock";

/// A queue directory, opened and locked by this process.
#[derive(Clone, Debug)]
pub struct Queue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The queue directory.
    dir: PathBuf,
    /// Holds the exclusive lock for as long as any clone of the queue lives.
    _lock: File,
}

/// A report waiting in the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    /// The decoded report.
    pub report: Report,
    /// The signed bytes, exactly as stored and to be sent.
    pub signed: Vec<u8>,
}

/// A queue operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// A file-system call failed (permissions, full disk). Nothing was lost:
    /// a report is in the queue or was never added. Fix the directory and
    /// restart.
    #[error("report queue {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// Another process holds the queue (a second probe started with the same
    /// data directory). Run one probe per queue directory.
    #[error("report queue {0} is in use by another process; run one probe per data directory")]
    Locked(PathBuf),
    /// The bytes given to `enqueue` are not a signed report that verifies;
    /// refusing them keeps garbage off the disk and off the wire. A bug in
    /// the caller.
    #[error("refusing to queue an invalid report: {0}")]
    Invalid(#[from] ReportError),
}

impl Queue {
    /// Opens (creating if needed) the queue in `dir` and locks it for this
    /// process. Deletes leftovers of writes a crash interrupted.
    pub fn open(dir: &Path) -> Result<Queue, QueueError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| QueueError::Io { path, source }
        };
        fsutil::create_private_dir(dir).map_err(io(dir))?;
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(QueueError::Locked(dir.to_owned())),
            Err(fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let name = entry.file_name();
            if name.to_string_lossy().ends_with(TMP_SUFFIX) {
                let path = entry.path();
                fs::remove_file(&path).map_err(io(&path))?;
            }
        }
        Ok(Queue {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                _lock: lock,
            }),
        })
    }

    /// The queue directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Adds a signed report (after verifying it) and returns its id. When
    /// this returns, the report is on disk. Adding the same report again
    /// changes nothing.
    pub fn enqueue(&self, signed: &[u8]) -> Result<[u8; 16], QueueError> {
        let report = Report::verify_signed(signed)?;
        let path = self.path_of(&report.report_id);
        fsutil::write_atomic(&path, signed, 0o600).map_err(|source| QueueError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(report.report_id)
    }

    /// The queued reports, oldest measurement first (ties by id). Files that
    /// are not valid signed reports, or whose name is not their report's id,
    /// are moved to `damaged/` and skipped.
    pub fn pending(&self) -> Result<Vec<Queued>, QueueError> {
        let dir = self.dir();
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| QueueError::Io { path, source }
        };
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let path = entry.path();
            if path.extension().is_none_or(|e| e != REPORT_EXT) {
                continue;
            }
            let signed = match fs::read(&path) {
                Ok(b) => b,
                // Removed meanwhile (cannot happen under the lock, but harmless).
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&path)(e)),
            };
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            match Report::verify_signed(&signed) {
                Ok(report) if stem.as_deref() == Some(&*hex::encode(report.report_id)) => {
                    out.push(Queued { report, signed });
                }
                Ok(_) => self.quarantine(&path, "its name is not its report id")?,
                Err(e) => self.quarantine(&path, &e.to_string())?,
            }
        }
        out.sort_by(|a, b| {
            (a.report.measured_at, a.report.report_id)
                .cmp(&(b.report.measured_at, b.report.report_id))
        });
        Ok(out)
    }

    /// Deletes report `id` (acknowledged by the coordinator). Deleting a
    /// report that is not there is not an error.
    pub fn remove(&self, id: &[u8; 16]) -> Result<(), QueueError> {
        // No fsync of the directory: if a crash undoes the deletion, the
        // report is sent again and the coordinator answers `duplicate`.
        // Durability matters for adding reports, not for removing them, and
        // a flush removes up to 256 at a time.
        let path = self.path_of(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(QueueError::Io { path, source }),
        }
    }

    /// Moves report `id` to `rejected/`, next to a `.reason` file holding
    /// `reason` (the coordinator's words), so an operator can see what was
    /// refused and why. A report that is not there is not an error.
    pub fn reject(&self, id: &[u8; 16], reason: &str) -> Result<(), QueueError> {
        let from = self.path_of(id);
        if !from.exists() {
            return Ok(());
        }
        let rejected = self.dir().join(REJECTED);
        let name = hex::encode(id);
        // The reason first: a crash in between leaves the report queued (and
        // the reason rewritten on the next attempt), never a lost report.
        self.write_into(
            &rejected,
            &format!("{name}.reason"),
            format!("{reason}\n").as_bytes(),
        )?;
        self.move_into(&from, &rejected, &format!("{name}.{REPORT_EXT}"))
    }

    /// Moves a file that is not a valid report out of the way.
    fn quarantine(&self, path: &Path, why: &str) -> Result<(), QueueError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        warn!(file = %path.display(), why, "moving a damaged file out of the report queue into damaged/");
        self.move_into(path, &self.dir().join(DAMAGED), &name)
    }

    fn write_into(&self, dir: &Path, name: &str, bytes: &[u8]) -> Result<(), QueueError> {
        fsutil::create_private_dir(dir).map_err(|source| QueueError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(name);
        fsutil::write_atomic(&path, bytes, 0o600).map_err(|source| QueueError::Io { path, source })
    }

    fn move_into(&self, from: &Path, dir: &Path, name: &str) -> Result<(), QueueError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| QueueError::Io { path, source }
        };
        fsutil::create_private_dir(dir).map_err(io(dir))?;
        let to = dir.join(name);
        fs::rename(from, &to).map_err(io(from))?;
        fsutil::sync_dir(dir).map_err(io(dir))?;
        fsutil::sync_dir(self.dir()).map_err(io(self.dir()))
    }

    fn path_of(&self, id: &[u8; 16]) -> PathBuf {
        self.dir().join(format!("{}.{REPORT_EXT}", hex::encode(id)))
    }
}
