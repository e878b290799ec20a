//! The on-disk report queue: what survives a restart, what leaves it, and
//! what happens to files that are not valid reports.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ed25519_dalek::SigningKey;
use resist_probe::queue::{Queue, QueueError};
use resist_proto::report::{Outcome, Report};

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn report(id: u8, measured_at: i64) -> Report {
    Report {
        report_id: [id; 16],
        probe_key: key().verifying_key().to_bytes(),
        window: 100,
        node: i64::from(id),
        measured_at,
        outcome: Outcome::Relayed,
        reply_code: 0,
        connect_us: 1,
        handshake_us: 2,
        rtt_us: 3,
        sample_requested: 4,
        sample_bytes: 4,
        sample_us: 5,
        canary_nonce: [id; 32],
        canary_answer: [id; 32],
    }
}

fn signed(id: u8, measured_at: i64) -> Vec<u8> {
    report(id, measured_at).sign(&key())
}

fn file_of(dir: &Path, id: u8) -> std::path::PathBuf {
    dir.join(format!("{}.report", hex::encode([id; 16])))
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_queued_report_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let qdir = dir.path().join("queue");
    let q = Queue::open(&qdir).unwrap();
    let id = q.enqueue(&signed(1, 1000)).unwrap();
    assert_eq!(id, [1; 16]);
    drop(q);

    let q = Queue::open(&qdir).unwrap();
    let pending = q.pending().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].report, report(1, 1000));
    assert_eq!(pending[0].signed, signed(1, 1000));
    let file = file_of(&qdir, 1);
    assert_eq!(fs::read(&file).unwrap(), signed(1, 1000));
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(&qdir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // Queueing the same report again changes nothing.
    q.enqueue(&signed(1, 1000)).unwrap();
    assert_eq!(q.pending().unwrap().len(), 1);
}

#[test]
fn pending_lists_oldest_measurements_first() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path()).unwrap();
    for (id, at) in [(3, 300), (1, 500), (2, 100), (4, 300)] {
        q.enqueue(&signed(id, at)).unwrap();
    }
    let order: Vec<i64> = q.pending().unwrap().iter().map(|p| p.report.node).collect();
    assert_eq!(order, [2, 3, 4, 1]);
}

#[test]
fn remove_deletes_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path()).unwrap();
    q.enqueue(&signed(1, 1)).unwrap();
    q.enqueue(&signed(2, 2)).unwrap();
    q.remove(&[1; 16]).unwrap();
    q.remove(&[1; 16]).unwrap();
    q.remove(&[9; 16]).unwrap();
    let left: Vec<i64> = q.pending().unwrap().iter().map(|p| p.report.node).collect();
    assert_eq!(left, [2]);
    assert!(!file_of(dir.path(), 1).exists());
}

#[test]
fn rejected_reports_are_kept_aside_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path()).unwrap();
    q.enqueue(&signed(1, 1)).unwrap();
    q.reject(&[1; 16], "window 100 closed 3 days ago").unwrap();
    assert!(q.pending().unwrap().is_empty());
    let rejected = dir.path().join("rejected");
    let name = hex::encode([1u8; 16]);
    assert_eq!(
        names(&rejected),
        [format!("{name}.reason"), format!("{name}.report")]
    );
    assert_eq!(
        fs::read_to_string(rejected.join(format!("{name}.reason"))).unwrap(),
        "window 100 closed 3 days ago\n"
    );
    assert_eq!(
        fs::read(rejected.join(format!("{name}.report"))).unwrap(),
        signed(1, 1)
    );
    // Rejecting what is not there is not an error.
    q.reject(&[1; 16], "again").unwrap();
}

#[test]
fn damaged_files_are_quarantined_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path()).unwrap();
    q.enqueue(&signed(1, 1)).unwrap();
    // Truncated (as a disk without the atomic rename might leave it).
    fs::write(file_of(dir.path(), 2), &signed(2, 2)[..100]).unwrap();
    // One flipped bit: the signature no longer verifies.
    let mut flipped = signed(3, 3);
    flipped[60] ^= 1;
    fs::write(file_of(dir.path(), 3), &flipped).unwrap();
    // A valid report under another report's name.
    fs::write(file_of(dir.path(), 4), signed(5, 5)).unwrap();
    // Unrelated files are left alone.
    fs::write(dir.path().join("README"), "notes").unwrap();

    let pending = q.pending().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].report.node, 1);
    let damaged = dir.path().join("damaged");
    assert_eq!(names(&damaged).len(), 3);
    assert!(dir.path().join("README").exists());
    // Quarantined once: the next listing is clean.
    assert_eq!(q.pending().unwrap().len(), 1);
    assert_eq!(names(&damaged).len(), 3);
}

#[test]
fn invalid_reports_are_refused_and_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path()).unwrap();
    let mut bad = signed(1, 1);
    bad[5] ^= 1;
    assert!(matches!(q.enqueue(&bad), Err(QueueError::Invalid(_))));
    assert!(matches!(q.enqueue(b"x"), Err(QueueError::Invalid(_))));
    assert_eq!(names(dir.path()), ["lock"]);
}

#[test]
fn one_process_per_queue_and_interrupted_writes_are_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path()).unwrap();
    assert!(matches!(
        Queue::open(dir.path()),
        Err(QueueError::Locked(_))
    ));
    // A clone shares the lock; dropping every handle releases it.
    let clone = q.clone();
    drop(q);
    assert!(Queue::open(dir.path()).is_err());
    drop(clone);

    // A crash between writing and renaming leaves a temporary file: it is
    // not a report, and it is removed at the next open.
    let tmp = dir
        .path()
        .join(format!(".{}.report.00ff.tmp", hex::encode([1u8; 16])));
    fs::write(&tmp, &signed(1, 1)[..10]).unwrap();
    let q = Queue::open(dir.path()).unwrap();
    assert!(!tmp.exists());
    assert!(q.pending().unwrap().is_empty());
}
