//! What a proxy costs, read from /proc: CPU time and memory of a process and all
//! of its descendants (Dante forks; resist and microsocks use threads, which /proc
//! already sums into their process).

use std::collections::HashMap;
use std::fs;

/// One line of /proc/PID/stat, the fields the benchmark needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stat {
    pub(crate) pid: i32,
    pub(crate) ppid: i32,
    /// utime + stime (fields 14, 15) plus cutime + cstime (16, 17): a reaped
    /// child's time moves into its parent's c-fields, so the sum over a tree
    /// never goes backwards when a forked child exits.
    pub(crate) ticks: u64,
    /// Field 22, to recognise this process later (PIDs are reused).
    pub(crate) start_time: u64,
}

/// Reads /proc/PID/stat; `None` if the process is gone.
pub(crate) fn stat(pid: i32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain anything.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state), so field N is f[N - 3].
    let num = |field: usize| -> Option<u64> { f.get(field - 3)?.parse().ok() };
    Some(Stat {
        pid,
        ppid: i32::try_from(num(4)?).ok()?,
        ticks: num(14)? + num(15)? + num(16)? + num(17)?,
        start_time: num(22)?,
    })
}

/// `root` and every live descendant of it.
pub(crate) fn tree(root: i32) -> Vec<Stat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children: HashMap<i32, Vec<Stat>> = HashMap::new();
    let mut found_root = None;
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Some(s) = stat(pid) else { continue };
        if pid == root {
            found_root = Some(s);
        }
        children.entry(s.ppid).or_default().push(s);
    }
    let Some(root) = found_root else {
        return Vec::new();
    };
    let mut out = vec![root];
    let mut i = 0;
    while let Some(p) = out.get(i).map(|s| s.pid) {
        if let Some(kids) = children.remove(&p) {
            out.extend(kids);
        }
        i += 1;
    }
    out
}

/// Clock ticks per second for the tick fields of /proc/PID/stat.
fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// CPU seconds (user + system) used so far by `root` and its descendants.
pub(crate) fn cpu_seconds(root: i32) -> f64 {
    tree_ticks(root) as f64 / clock_ticks()
}

/// Clock ticks used so far by `root` and its descendants.
fn tree_ticks(root: i32) -> u64 {
    tree(root).iter().map(|s| s.ticks).sum()
}

/// A reading of how busy the whole machine is, to tell how much of it work
/// outside the benchmark took (the noise in a measurement).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Busy {
    /// Non-idle ticks of all CPUs (/proc/stat: user, nice, system, irq, softirq,
    /// steal).
    all_busy: u64,
    /// Of those, ticks in interrupts and softirqs (loopback network processing).
    all_irq: u64,
    /// All ticks of all CPUs.
    all_total: u64,
    /// Ticks of this process and its descendants (the proxies). With tick-based
    /// accounting, a tick that lands in a softirq is charged to the process it
    /// interrupted as well as to /proc/stat's softirq, so this includes the
    /// network processing done in our processes' context.
    ours: u64,
}

impl Busy {
    pub(crate) fn now() -> Option<Busy> {
        let text = fs::read_to_string("/proc/stat").ok()?;
        let line = text.lines().find(|l| l.starts_with("cpu "))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is in user).
        let get = |i: usize| v.get(i).copied().unwrap_or(0);
        let idle = get(3) + get(4);
        let irq = get(5) + get(6);
        let busy = get(0) + get(1) + get(2) + irq + get(7);
        let me = i32::try_from(std::process::id()).ok()?;
        Some(Busy {
            all_busy: busy,
            all_irq: irq,
            all_total: busy + idle,
            ours: tree_ticks(me),
        })
    }

    /// The shares of all CPUs (percent) since `self` that went to everything
    /// outside this benchmark and its proxies (other processes, and interrupt
    /// work charged to none of ours), and to interrupts and softirqs in all.
    pub(crate) fn since(&self, later: &Busy) -> (f64, f64) {
        let total = later.all_total.saturating_sub(self.all_total);
        let busy = later.all_busy.saturating_sub(self.all_busy);
        let irq = later.all_irq.saturating_sub(self.all_irq);
        let ours = later.ours.saturating_sub(self.ours);
        if total == 0 {
            return (0.0, 0.0);
        }
        let pct = |t: u64| t as f64 * 100.0 / total as f64;
        (pct(busy.saturating_sub(ours)), pct(irq))
    }
}

/// Memory (in KiB) and open files of a process tree.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memory {
    /// Sum of VmRSS: counts pages shared between forked processes once per process.
    pub(crate) rss_kib: u64,
    /// Sum of Pss from smaps_rollup: shared pages divided among their sharers.
    pub(crate) pss_kib: u64,
    /// Open file descriptors, summed over the processes.
    pub(crate) fds: u64,
}

/// The memory of `root` and its descendants.
pub(crate) fn memory(root: i32) -> Memory {
    let mut m = Memory::default();
    for s in tree(root) {
        m.rss_kib += kib_field(&format!("/proc/{}/status", s.pid), "VmRSS:").unwrap_or(0);
        m.pss_kib += kib_field(&format!("/proc/{}/smaps_rollup", s.pid), "Pss:").unwrap_or(0);
        m.fds += fs::read_dir(format!("/proc/{}/fd", s.pid)).map_or(0, |d| d.count() as u64);
    }
    m
}

/// The value of a `Name:   123 kB` line.
fn kib_field(path: &str, name: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = i32::try_from(std::process::id()).unwrap();
        let s = stat(me).unwrap();
        assert_eq!(s.pid, me);
        assert!(tree(me).iter().any(|s| s.pid == me));
        let m = memory(me);
        assert!(m.rss_kib > 0 && m.pss_kib > 0 && m.fds > 0, "{m:?}");
        assert!(cpu_seconds(me) >= 0.0);
    }
}
