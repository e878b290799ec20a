//! A child's standard output and error in one file: opening it for the
//! child, finding the line that says the child is ready, and quoting the
//! file's last lines when the child dies.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::ProcessError;

/// How much of a log's end [`tail`] reads.
const TAIL_BYTES: u64 = 16 * 1024;

/// How much after a [`LogMark`] a search reads: a child's start-up output is
/// a few kilobytes.
const SEARCH_BYTES: u64 = 1 << 20;

/// Where the output of one run of a child starts in its log.
#[derive(Debug, Clone)]
pub struct LogMark {
    path: PathBuf,
    offset: u64,
}

impl LogMark {
    /// The start of `path`.
    pub fn start(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            offset: 0,
        }
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The first line after the mark for which `pred` holds.
    pub fn find_line(&self, pred: impl Fn(&str) -> bool) -> Option<String> {
        let mut file = File::open(&self.path).ok()?;
        file.seek(SeekFrom::Start(self.offset)).ok()?;
        let mut text = String::new();
        file.take(SEARCH_BYTES).read_to_string(&mut text).ok()?;
        text.lines().find(|l| pred(l)).map(str::to_owned)
    }
}

/// Creates (or empties) the log `path`.
pub fn create(path: &Path) -> Result<File, ProcessError> {
    File::create(path).map_err(|source| ProcessError::Log {
        path: path.to_owned(),
        source,
    })
}

/// Opens the log `path` for appending (created readable by its owner only,
/// as it may hold addresses and credentials), and marks where this run's
/// output will start.
pub fn append(path: &Path) -> Result<(File, LogMark), ProcessError> {
    let log_error = |source| ProcessError::Log {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(log_error)?;
    let offset = file.seek(SeekFrom::End(0)).unwrap_or(0);
    Ok((
        file,
        LogMark {
            path: path.to_owned(),
            offset,
        },
    ))
}

/// Sends `command`'s standard output and error to `file` (its log `path`)
/// and closes its standard input.
pub fn redirect(command: &mut Command, file: File, path: &Path) -> Result<(), ProcessError> {
    let err = file.try_clone().map_err(|source| ProcessError::Log {
        path: path.to_owned(),
        source,
    })?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err));
    Ok(())
}

/// The last `lines` lines of the log `path` (read from its last 16 KiB),
/// none if it cannot be read.
pub fn tail(path: &Path, lines: usize) -> Vec<String> {
    let Ok(mut file) = File::open(path) else {
        return Vec::new();
    };
    let len = file.seek(SeekFrom::End(0)).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)));
    let mut bytes = Vec::new();
    let _ = file.take(TAIL_BYTES).read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}

#[cfg(test)]
mod test {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;

    use super::*;

    #[test]
    fn a_mark_finds_only_lines_after_it_and_tail_keeps_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("child.log");
        std::fs::write(&path, "ready (an earlier run)\n").unwrap();
        let (mut file, mark) = append(&path).unwrap();
        assert_eq!(mark.find_line(|l| l.starts_with("ready")), None);
        writeln!(file, "one\nready now\nthree").unwrap();
        assert_eq!(
            mark.find_line(|l| l.starts_with("ready")).as_deref(),
            Some("ready now")
        );
        assert_eq!(tail(&path, 2), ["ready now", "three"]);
        assert!(tail(&dir.path().join("none.log"), 2).is_empty());
    }
}
