//! Snapshot tests of the `resist` command line (trycmd, cases in `tests/cli/*.toml`,
//! fixture config files in `tests/cli/fixtures/`).
//!
//! They prove that the help texts and the example configuration are what users
//! see, that `--check` exits 0 on a good configuration without listening, and that
//! every kind of configuration mistake — a missing `--config` file, an unknown key
//! in the file, an unusable value, a bad `RESIST_NODE_*` variable, a malformed
//! `--user`, a non-loopback `--metrics`, contradictory flags — exits with status 2
//! and a one-line message naming the key and where it came from.
//!
//! Update the snapshots after an intended change with
//! `TRYCMD=overwrite cargo test -p resist --test cli`, then review the diff.

use std::path::PathBuf;
use std::time::Duration;

#[test]
fn cli() {
    // No case may write into the real home directory (a node without users
    // generates credentials in the default data directory).
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().display().to_string();
    trycmd::TestCases::new()
        .register_bin("resist", PathBuf::from(env!("CARGO_BIN_EXE_resist")))
        // The help is wrapped at the terminal width; pin it (clap caps it at 100).
        .env("COLUMNS", "100")
        .env("HOME", home_path.as_str())
        .env("XDG_DATA_HOME", format!("{home_path}/xdg"))
        .timeout(Duration::from_secs(30))
        .case("tests/cli/*.toml");
}
