//! The timeline a scenario prints as it runs: seconds since the start, who
//! acted, what happened. Lines go to stdout at once (a run is watched live)
//! and are kept for the report.

use std::io::Write as _;
use std::time::Duration;

use tokio::time::Instant;

/// A scenario's timeline.
#[derive(Debug)]
pub struct Timeline {
    start: Instant,
    lines: Vec<String>,
    quiet: bool,
}

impl Timeline {
    /// A timeline starting now; `quiet` keeps lines without printing them.
    pub fn new(quiet: bool) -> Timeline {
        Timeline {
            start: Instant::now(),
            lines: Vec::new(),
            quiet,
        }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Records (and prints) that `actor` did `what`.
    pub fn event(&mut self, actor: &str, what: impl AsRef<str>) {
        let line = format_line(self.elapsed(), actor, what.as_ref());
        if !self.quiet {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        self.lines.push(line);
    }

    /// The lines so far.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

/// `[  12.3s] actor        what`.
pub fn format_line(at: Duration, actor: &str, what: &str) -> String {
    format!("[{:>6.1}s] {actor:<14} {what}", at.as_secs_f64())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn lines_align() {
        assert_eq!(
            format_line(Duration::from_millis(12_345), "censor", "blocks 10.64.1.10"),
            "[  12.3s] censor         blocks 10.64.1.10"
        );
        let mut t = Timeline::new(true);
        t.event("user", "fetches");
        assert_eq!(t.lines().len(), 1);
        assert!(t.lines()[0].contains("user           fetches"));
    }
}
