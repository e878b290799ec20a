//! `resist-bench`: the relay benchmark. On loopback, it measures the direct path
//! (no proxy: the physical baseline) and each proxy under test — resist's node,
//! Dante and microsocks, each its own process so its CPU and memory can be read
//! from /proc — and prints one table of medians with ratios.
//!
//! `resist-bench node …` runs `resist node …`: the benchmark starts resist by
//! re-executing itself, so it measures exactly the node code and runtime of the
//! workspace it was built from.

#![allow(clippy::disallowed_methods)] // a benchmark reads the clock; that is its job

use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Parser, ValueEnum};

mod cpu;
mod figures;
mod procfs;
mod proxy;
mod report;
mod socks;
mod targets;

use figures::{Ctx, Measured};
use proxy::{Needs, Running, Subject, Workdir};
use report::{Better, Missing, Row};

/// Relay benchmark on loopback: the direct path, resist's node, Dante and
/// microsocks. Prints a table of medians of interleaved runs to stdout and
/// progress to stderr. All traffic stays on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "resist-bench", max_term_width = 100)]
struct Args {
    /// Smoke run in seconds: one run, 0.3 s intervals, small counts
    #[arg(long)]
    quick: bool,

    /// Interleaved runs per figure; the table shows medians [default: 5, 1 with --quick]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: Option<u32>,

    /// Seconds of each bulk, connection-rate and UDP interval [default: 3, 0.3 with --quick]
    #[arg(long, value_name = "SECS")]
    interval: Option<f64>,

    /// Only these figures
    #[arg(long, value_name = "FIGURE,...", value_delimiter = ',')]
    only: Vec<Figure>,

    /// Proxies under test (the direct path is always measured)
    #[arg(
        long,
        value_name = "PROXY,...",
        value_delimiter = ',',
        default_value = "resist,dante,microsocks"
    )]
    proxies: Vec<Subject>,

    /// Also write the table, with date, machine and versions, as markdown to FILE
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
}

/// The figures the benchmark measures (see docs/benchmarks.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Figure {
    /// Bulk throughput, 1 and 8 streams, up and down, and bytes per proxy CPU-second
    Bulk,
    /// Connection rate, 64 concurrent, with and without password
    Connections,
    /// 64-byte ping-pong latency percentiles, scheduled freely and all on one CPU
    Latency,
    /// Memory per held relayed connection
    Memory,
    /// UDP ASSOCIATE datagram rate and loss
    Udp,
}

/// What one measurement runs.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Bulk { streams: usize, up: bool },
    Connections { password: bool },
    Latency,
    Memory,
    Udp,
}

/// Measurements run together (one proxy start each) that fill some rows.
#[derive(Debug)]
struct Group {
    label: String,
    figure: Figure,
    kind: Kind,
    needs: Needs,
    /// Whether the direct path has a value here (memory is the proxy's alone).
    direct: bool,
    /// Indices into the table's rows, one per value the measurement returns.
    rows: Vec<usize>,
}

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == "node") {
        // `resist-bench node ARGS` is `resist node ARGS`: clap reads argv[1..]
        // and only uses argv[0] for its help text.
        return resist::main();
    }
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Settings that follow from the flags.
#[derive(Debug)]
struct Plan {
    runs: u32,
    warmup: Duration,
    interval: Duration,
    pings: usize,
    held: usize,
    deadline: Duration,
    settle: Duration,
}

impl Plan {
    fn new(args: &Args) -> anyhow::Result<Plan> {
        let interval = match args.interval {
            Some(s) if s.is_finite() && (0.05..=600.0).contains(&s) => Duration::from_secs_f64(s),
            Some(s) => bail!("--interval {s}: expected seconds between 0.05 and 600"),
            None if args.quick => Duration::from_millis(300),
            None => Duration::from_secs(3),
        };
        Ok(if args.quick {
            Plan {
                runs: args.runs.unwrap_or(1),
                warmup: Duration::from_millis(100),
                interval,
                pings: 500,
                held: 200,
                deadline: Duration::from_secs(20),
                settle: Duration::from_millis(20),
            }
        } else {
            Plan {
                runs: args.runs.unwrap_or(5),
                warmup: Duration::from_millis(500),
                interval,
                pings: 20_000,
                held: 5_000,
                deadline: Duration::from_secs(120),
                settle: Duration::from_millis(200),
            }
        })
    }
}

fn table() -> (Vec<Row>, Vec<Group>) {
    let mut rows = Vec::new();
    let mut groups = Vec::new();
    let mut row = |name: &str, unit: &'static str, better: Better| {
        rows.push(Row::new(name, unit, better));
        rows.len() - 1
    };
    let none = Needs {
        password: false,
        udp: false,
        pin: None,
    };
    for (streams, up) in [(1, true), (1, false), (8, true), (8, false)] {
        let dir = if up { "up" } else { "down" };
        let plural = if streams == 1 { "stream" } else { "streams" };
        let mut ids = vec![row(
            &format!("bulk {streams} {plural} {dir} (Gbit/s)"),
            "Gbit/s",
            Better::Higher,
        )];
        if streams > 1 {
            ids.push(row(
                &format!("  bytes per proxy CPU-s, {streams} {dir} (GB)"),
                "GB/CPU-s",
                Better::Higher,
            ));
        }
        groups.push(Group {
            label: format!("bulk {streams} {dir}"),
            figure: Figure::Bulk,
            kind: Kind::Bulk { streams, up },
            needs: none,
            direct: true,
            rows: ids,
        });
    }
    for password in [false, true] {
        let (suffix, label) = if password {
            (", password", "connections, password")
        } else {
            ("", "connections")
        };
        let ids = vec![
            row(
                &format!("connections/s, 64 concurrent{suffix}"),
                "conn/s",
                Better::Higher,
            ),
            row(
                &format!("  connections per proxy CPU-s{suffix}"),
                "conn/CPU-s",
                Better::Higher,
            ),
        ];
        groups.push(Group {
            label: label.into(),
            figure: Figure::Connections,
            kind: Kind::Connections { password },
            needs: Needs { password, ..none },
            direct: true,
            rows: ids,
        });
    }
    for pinned in [false, true] {
        let (what, label, pin) = if pinned {
            (", one CPU", "latency, one CPU", Some(cpu::latency_cpu()))
        } else {
            ("", "latency", None)
        };
        let ids = vec![
            row(
                &format!("latency 64 B{what}, p50 (µs)"),
                "µs p50",
                Better::Lower,
            ),
            row(
                &format!("latency 64 B{what}, p99 (µs)"),
                "µs p99",
                Better::Lower,
            ),
            row(
                &format!("latency 64 B{what}, p99.9 (µs)"),
                "µs p99.9",
                Better::Lower,
            ),
        ];
        groups.push(Group {
            label: label.into(),
            figure: Figure::Latency,
            kind: Kind::Latency,
            needs: Needs { pin, ..none },
            direct: true,
            rows: ids,
        });
    }
    let ids = vec![
        row(
            "memory per held connection, RSS (KiB)",
            "KiB RSS",
            Better::Lower,
        ),
        row(
            "memory per held connection, PSS (KiB)",
            "KiB PSS",
            Better::Lower,
        ),
        row("  open files per held connection", "fds", Better::Lower),
    ];
    groups.push(Group {
        label: "memory".into(),
        figure: Figure::Memory,
        kind: Kind::Memory,
        needs: none,
        direct: false,
        rows: ids,
    });
    let ids = vec![
        row(
            "UDP 512 B round trips/s, 32 in flight",
            "dgram/s",
            Better::Higher,
        ),
        row("UDP loss (%)", "% lost", Better::Lower),
    ];
    groups.push(Group {
        label: "udp".into(),
        figure: Figure::Udp,
        kind: Kind::Udp,
        needs: Needs { udp: true, ..none },
        direct: true,
        rows: ids,
    });
    (rows, groups)
}

/// Raises this process's open-file limit to its hard limit (children inherit it).
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit write and read the one struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    lim.rlim_cur
}

fn run(args: &Args) -> anyhow::Result<bool> {
    let began = Instant::now();
    let mut plan = Plan::new(args)?;
    let mut notes: Vec<String> = Vec::new();

    let nofile = raise_nofile();
    // The bench holds both ends of each held connection, plus slack.
    let fit = usize::try_from(nofile.saturating_sub(512) / 2).unwrap_or(usize::MAX);
    if plan.held > fit {
        notes.push(format!(
            "memory figure: {} held connections instead of {} (open-file limit {nofile})",
            fit, plan.held
        ));
        plan.held = fit;
    }

    let mut subjects = vec![Subject::Direct];
    for p in &args.proxies {
        if !subjects.contains(p) {
            subjects.push(*p);
        }
    }
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    let mut installed = Vec::new();
    for s in &subjects {
        match (s.package(), s.executable()) {
            (Some(pkg), None) => {
                let msg = format!("{s}: n/a (not installed: apt-get install {pkg})");
                if ci {
                    bail!("{msg}; in CI every anchor must be measured");
                }
                notes.push(msg);
            }
            _ => installed.push(*s),
        }
    }

    let (mut rows, groups) = table();
    let chosen: Vec<&Group> = groups
        .iter()
        .filter(|g| args.only.is_empty() || args.only.contains(&g.figure))
        .collect();
    let chosen_rows: Vec<usize> = chosen.iter().flat_map(|g| g.rows.iter().copied()).collect();

    let targets = targets::Targets::start()?;
    let work = Workdir::new()?;
    let ctx = Ctx {
        targets: &targets,
        warmup: plan.warmup,
        interval: plan.interval,
        pings: plan.pings,
        held: plan.held,
        deadline: plan.deadline,
    };
    let load_before = loadavg();
    eprintln!(
        "resist-bench: {} run(s), {:.1} s intervals, {} round trips, {} held connections; proxies: {}; load average {load_before}",
        plan.runs,
        plan.interval.as_secs_f64(),
        plan.pings,
        plan.held,
        subjects
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );

    let mut unsupported_noted = Vec::new();
    // Per measurement: the share of the CPUs other processes took (noise).
    let mut foreign: Vec<f64> = Vec::new();
    for g in &chosen {
        for run in 1..=plan.runs {
            for &s in &subjects {
                let mark = |rows: &mut Vec<Row>, m: Missing| {
                    for &i in &g.rows {
                        if let Some(r) = rows.get_mut(i) {
                            r.missing.insert(s, m.clone());
                        }
                    }
                };
                if s == Subject::Direct && !g.direct {
                    mark(&mut rows, Missing::Dash);
                    continue;
                }
                if !installed.contains(&s) {
                    mark(&mut rows, Missing::NotAvailable);
                    continue;
                }
                if let Some(why) = s.unsupported(g.needs) {
                    mark(&mut rows, Missing::NotAvailable);
                    if !unsupported_noted.contains(&(s, g.label.clone())) {
                        unsupported_noted.push((s, g.label.clone()));
                        notes.push(format!("{s}, {}: n/a ({why})", g.label));
                    }
                    continue;
                }
                let t = Instant::now();
                let (result, shares) = measure(&ctx, g, s, &work);
                let secs = t.elapsed().as_secs_f64();
                if let Some((o, _)) = shares {
                    foreign.push(o);
                }
                let secs = match shares {
                    Some((o, irq)) => format!(
                        "{secs:.1} s; CPUs busy outside the benchmark {o:.0}%, in softirq {irq:.0}%"
                    ),
                    None => format!("{secs:.1} s"),
                };
                let tag = format!("[{}] run {run}/{} {s}", g.label, plan.runs);
                match result {
                    Ok(m) => {
                        let mut shown = Vec::new();
                        for (&i, v) in g.rows.iter().zip(&m.values) {
                            let Some(r) = rows.get_mut(i) else { continue };
                            match v {
                                Some(v) => {
                                    r.samples.entry(s).or_default().push(*v);
                                    shown.push(format!("{} {}", report::number(*v), r.unit));
                                }
                                None => {
                                    r.missing.entry(s).or_insert(Missing::Dash);
                                }
                            }
                        }
                        eprintln!("{tag}: {} ({secs})", shown.join(", "));
                        if let Some(n) = m.note {
                            eprintln!("    {n}");
                            if !matches!(g.kind, Kind::Memory) {
                                notes.push(format!("{tag}: {n}"));
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("{tag}: FAILED: {e:#} ({secs})");
                        notes.push(format!("{tag}: failed: {e:#}"));
                        mark(&mut rows, Missing::Error);
                    }
                }
                thread::sleep(plan.settle);
            }
        }
    }

    let shown: Vec<Row> = rows
        .into_iter()
        .enumerate()
        .filter(|(i, _)| chosen_rows.contains(i))
        .map(|(_, r)| r)
        .collect();
    let elapsed = began.elapsed();
    let load = (load_before, loadavg());
    if !foreign.is_empty() {
        foreign.sort_by(f64::total_cmp);
        let at = |q: usize| {
            foreign
                .get((foreign.len() - 1) * q / 100)
                .copied()
                .unwrap_or(0.0)
        };
        notes.push(format!(
            "noise: work outside this benchmark and its proxies took {:.0}% of the CPUs in the \
             median measurement, {:.0}% at most (/proc/stat)",
            at(50),
            at(100)
        ));
    }
    println!();
    print!("{}", report::text(&shown, &subjects));
    println!("{}", report::LEGEND);
    for n in &notes {
        println!("note: {n}");
    }
    eprintln!("resist-bench: done in {:.1} s", elapsed.as_secs_f64());

    if let Some(path) = &args.markdown {
        let md = markdown(&shown, &subjects, &plan, &notes, elapsed, &load);
        std::fs::write(path, md)?;
        eprintln!("resist-bench: wrote {}", path.display());
    }
    // Success only if every cell that should hold a number does.
    let complete = shown.iter().all(|r| {
        subjects
            .iter()
            .all(|s| r.median(*s).is_some() || r.missing.get(s) != Some(&Missing::Error))
    });
    Ok(complete)
}

/// Starts the proxy (if any), runs one measurement, stops the proxy.
fn measure(
    ctx: &Ctx<'_>,
    g: &Group,
    s: Subject,
    work: &Workdir,
) -> (anyhow::Result<Measured>, Option<(f64, f64)>) {
    let mut proxy = match s {
        Subject::Direct => None,
        _ => match Running::start(s, g.needs, work) {
            Ok(p) => Some(p),
            Err(e) => return (Err(e), None),
        },
    };
    let p = proxy.as_ref();
    let busy = procfs::Busy::now();
    let result = match g.kind {
        Kind::Bulk { streams, up } => figures::bulk(ctx, p, streams, up),
        Kind::Connections { password } => figures::connection_rate(ctx, p, password),
        Kind::Latency => figures::latency(ctx, p, g.needs.pin),
        Kind::Memory => figures::memory(ctx, p),
        Kind::Udp => figures::udp(ctx, p),
    };
    // Read before the stop: a forking proxy's children are orphaned when it
    // exits, and their CPU time leaves this process's tree.
    let shares = busy.zip(procfs::Busy::now()).map(|(a, b)| a.since(&b));
    let crashed = proxy.as_mut().and_then(Running::exited);
    if let Some(p) = proxy {
        p.stop();
    }
    match crashed {
        Some(c) => (Err(anyhow::anyhow!("{c}")), shares),
        None => (result, shares),
    }
}

/// The 1, 5 and 15 minute load averages: other work on the machine is noise.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn markdown(
    rows: &[Row],
    subjects: &[Subject],
    plan: &Plan,
    notes: &[String],
    elapsed: Duration,
    load: &(String, String),
) -> String {
    let command: Vec<String> = std::env::args().skip(1).collect();
    let sh = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into())
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let mut out = String::new();
    out.push_str(&report::markdown(rows, subjects));
    out.push('\n');
    out.push_str(report::LEGEND);
    out.push_str("\n\n");
    for n in notes {
        out.push_str(&format!("- {n}\n"));
    }
    if !notes.is_empty() {
        out.push('\n');
    }
    if plan.runs > 1 {
        out.push_str("Spread of the runs behind each median, (max − min) / median:\n\n");
        out.push_str(&report::spread_markdown(rows, subjects));
        out.push('\n');
    }
    out.push_str(&format!(
        "- date: {}\n- command: `cargo run -p resist-bench --release --{}`\n\
         - runs: {} per figure, interleaved; intervals {:.1} s after {:.1} s warm-up; \
         {} latency round trips; {} held connections; total time {:.0} s\n\
         - kernel: {}\n- CPU: {cpu} ({cores} logical CPUs)\n\
         - load average (1, 5, 15 min) before: {}; after: {}\n",
        sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        command.iter().map(|a| format!(" {a}")).collect::<String>(),
        plan.runs,
        plan.interval.as_secs_f64(),
        plan.warmup.as_secs_f64(),
        plan.pings,
        plan.held,
        elapsed.as_secs_f64(),
        sh("uname", &["-r"]),
        load.0,
        load.1,
    ));
    for s in subjects.iter().filter(|s| **s != Subject::Direct) {
        out.push_str(&format!("- {s}: {}\n", s.version()));
    }
    out
}
