//! Replays the committed fuzz corpus through the fuzz target bodies on stable Rust.
//!
//! `fuzz/` is a cargo-fuzz workspace that needs nightly and libFuzzer; these tests
//! run every file of `fuzz/corpus/<target>/` through the same
//! `resist_socks5::fuzzing` function, so each CI run checks the oracles (round
//! trip, bytes consumed within bounds, no panic, progress) on every input the
//! fuzzer ever kept. Each test also checks that the corpus is there and not
//! nearly empty, so a moved or deleted directory fails instead of passing on
//! zero inputs.

use std::fs;
use std::panic;
use std::path::PathBuf;

/// Fewer files than this means the corpus was lost, not minimized: the
/// hand-made seeds alone are more than this for every target.
const MIN_FILES: usize = 20;

/// Runs `body` on every file in `fuzz/corpus/<target>/`.
fn replay(target: &str, body: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    assert!(
        dir.is_dir(),
        "corpus directory {} is missing",
        dir.display()
    );
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= MIN_FILES,
        "{} holds {} files, expected at least {MIN_FILES}",
        dir.display(),
        files.len()
    );
    for path in &files {
        let data = fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        // Name the failing input, then let the oracle's own panic message through.
        if let Err(panic) = panic::catch_unwind(|| body(&data)) {
            eprintln!("{target}: oracle failed on {}", path.display());
            panic::resume_unwind(panic);
        }
    }
    println!("{target}: replayed {} corpus inputs", files.len());
}

#[test]
fn socks5_messages_corpus() {
    replay("socks5_messages", resist_socks5::fuzzing::messages);
}

#[test]
fn socks5_server_corpus() {
    replay("socks5_server", resist_socks5::fuzzing::server);
}

#[test]
fn socks5_client_corpus() {
    replay("socks5_client", resist_socks5::fuzzing::client);
}
