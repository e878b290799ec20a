//! The benchmark's quick mode, run as a test so the benchmark cannot rot: every
//! figure must produce a number for the direct path and for resist.

use std::process::Command;

/// Every row of the table, by the start of its name, and whether the direct path
/// has a number on it (proxy CPU and memory rows have none).
const ROWS: &[(&str, bool)] = &[
    ("bulk 1 stream up", true),
    ("bulk 1 stream down", true),
    ("bulk 8 streams up", true),
    ("bytes per proxy CPU-s, 8 up", false),
    ("bulk 8 streams down", true),
    ("bytes per proxy CPU-s, 8 down", false),
    ("connections/s, 64 concurrent ↑", true),
    ("connections per proxy CPU-s ↑", false),
    ("connections/s, 64 concurrent, password", true),
    ("connections per proxy CPU-s, password", false),
    ("latency 64 B, p50", true),
    ("latency 64 B, p99 ", true),
    ("latency 64 B, p99.9", true),
    ("latency 64 B, one CPU, p50", true),
    ("latency 64 B, one CPU, p99 ", true),
    ("latency 64 B, one CPU, p99.9", true),
    ("memory per held connection, RSS", false),
    ("memory per held connection, PSS", false),
    ("open files per held connection", false),
    ("UDP 512 B round trips/s", true),
    ("UDP loss", true),
];

#[test]
fn quick_run_fills_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("bench.md");
    let out = Command::new(env!("CARGO_BIN_EXE_resist-bench"))
        .args(["--quick", "--runs", "1", "--markdown"])
        .arg(&md)
        // A missing anchor is an error under CI; this test is about the benchmark
        // itself, and reports anchors as n/a where they are not installed.
        .env_remove("CI")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );

    let mut lines = stdout.lines().map(str::trim).filter(|l| !l.is_empty());
    let header: Vec<&str> = lines.next().unwrap().split('|').map(str::trim).collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (direct, resist) = (col("direct"), col("resist"));
    assert_eq!(header.first(), Some(&"figure"), "{stdout}");

    for (row, has_direct) in ROWS {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(row) || l.trim_start().starts_with(row))
            .unwrap_or_else(|| panic!("no row {row:?} in\n{stdout}"));
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let number = |i: usize| cells.get(i).and_then(|c| c.parse::<f64>().ok());
        assert!(
            number(resist).is_some(),
            "resist has no number on {row:?}:\n{stdout}\n{stderr}"
        );
        if *has_direct {
            assert!(
                number(direct).is_some(),
                "direct has no number on {row:?}:\n{stdout}\n{stderr}"
            );
        }
        // Installed anchors must measure too: a cell is a number, "n/a" (not
        // supported or not installed) — never "error".
        assert!(
            !line.contains("error"),
            "a measurement failed on {row:?}:\n{stdout}\n{stderr}"
        );
    }

    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("| figure | direct | resist"), "{md}");
    assert!(md.contains("- kernel: "), "{md}");
}
