//! `resist up` end to end, with the real binary and its real children on
//! loopback: one data directory through four runs.
//!
//! 1. A new network: both nodes show OK in the status line within a bound;
//!    curl reaches a local HTTP server through a node with the printed
//!    credentials; SIGINT stops it with exit 0 and every child is gone.
//! 2. The same directory again: the same share links, the operators found
//!    registered (still two in the coordinator), the window counter past the
//!    first run's, and the first run's windows still in the database. Then
//!    `resist up` is killed with SIGKILL: its children stop on their own.
//! 3. Again, and a node is killed: `resist up` stops everything and exits 1,
//!    naming the node and showing its log's last lines.
//! 4. A node's saved port is taken by another program: `resist up` refuses
//!    to move it and says what to do.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{NodeProcess, resist_command};
use resist_client::Client;
use resist_measure::Status;
use resist_proto::api::{NodeStatusView, OperatorView};
use tokio::time::Instant;

/// Bound on the first OK status line (3-second windows: a few windows).
const FIRST_OK: Duration = Duration::from_secs(90);
/// Bound on the start-up banner.
const READY: Duration = Duration::from_secs(60);
/// Bound on stopping, and on children dying after `resist up` is killed.
const STOP: Duration = Duration::from_secs(20);

const BODY: &str = "hello through resist up";

/// A node's share link, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Link {
    port: u16,
    user: String,
    pass: String,
}

fn parse_link(line: &str) -> Link {
    let query = line.split_once("tg://socks?").unwrap().1.trim();
    let field = |k: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in {line:?}"))
            .to_owned()
    };
    Link {
        port: field("port").parse().unwrap(),
        user: field("user"),
        pass: field("pass"),
    }
}

fn up(dir: &Path, scratch: &Path) -> NodeProcess {
    NodeProcess::spawn(resist_command(
        "up",
        &["--data-dir", dir.to_str().unwrap(), "--window", "3s"],
        scratch,
    ))
}

/// Reads the progress up to the share links; returns them and the coordinator URL.
fn banner(p: &mut NodeProcess) -> (String, Vec<Link>) {
    let dashboard = p.stdout_line(|l| l.starts_with("dashboard:"), READY);
    let url = dashboard
        .trim()
        .strip_prefix("dashboard:")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let links = (1..=2)
        .map(|i| parse_link(&p.stdout_line(|l| l.contains(&format!("node {i}  tg://")), READY)))
        .collect();
    (url, links)
}

/// The window number of a status line `window N …`.
fn window_of(line: &str) -> Option<i64> {
    line.strip_prefix("window ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// PIDs whose parent is `parent`, from /proc.
fn children_of(parent: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …; comm may hold spaces, so split after ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        if fields.get(1).and_then(|p| p.parse::<i32>().ok()) == Some(parent) {
            out.push(pid);
        }
    }
    out
}

/// Whether `pid` is gone (or a zombie nobody reaped yet: it runs no code).
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn wait_gone(pids: &[i32], within: Duration) -> Duration {
    let start = Instant::now();
    while !pids.iter().all(|&p| gone(p)) {
        let left: Vec<i32> = pids.iter().copied().filter(|&p| !gone(p)).collect();
        assert!(
            start.elapsed() < within,
            "children {left:?} still running {within:?} after resist up stopped"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// A local HTTP server answering every request with `BODY` (bounded).
fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().take(20).flatten() {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{BODY}",
                BODY.len()
            );
        }
    });
    port
}

fn admin(dir: &Path, url: &str) -> Client {
    let token = std::fs::read_to_string(dir.join("coordinator/admin-token")).unwrap();
    Client::new(url).unwrap().with_token(token.trim())
}

#[test]
fn up_runs_a_network_that_continues_where_it_stopped_and_dies_with_it() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("up");
    let http_port = http_server();

    // 1. A new network.
    let started = Instant::now();
    let mut first = up(&dir, scratch.path());
    let (url, links) = banner(&mut first);
    let ok = first.stdout_line(|l| l.contains("nodes 2 OK 0 BLOCKED 0 DOWN"), FIRST_OK);
    eprintln!(
        "run 1: both nodes OK {:.1}s after the start: {ok}",
        started.elapsed().as_secs_f64()
    );
    let node = &links[0];
    let curl = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--max-time",
            "10",
            "--socks5-hostname",
            &format!("{}:{}@127.0.0.1:{}", node.user, node.pass, node.port),
            &format!("http://127.0.0.1:{http_port}/"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&curl.stdout),
        BODY,
        "curl through node 1: {}",
        String::from_utf8_lossy(&curl.stderr)
    );
    let operators: Vec<OperatorView> = rt
        .block_on(admin(&dir, &url).get("/api/admin/operators"))
        .unwrap();
    assert_eq!(operators.len(), 2, "{operators:?}");
    let children = children_of(first.pid());
    assert_eq!(
        children.len(),
        5,
        "coordinator, 2 nodes, 2 probes: {:?}",
        children.iter().map(|&p| cmdline(p)).collect::<Vec<_>>()
    );
    let stopping = Instant::now();
    first.signal(libc::SIGINT);
    let status = first.wait_exit(STOP);
    eprintln!(
        "run 1: stopped {:.2}s after SIGINT",
        stopping.elapsed().as_secs_f64()
    );
    let output = first.final_output();
    assert!(status.success(), "exit {status} after SIGINT:\n{output}");
    assert!(output.contains("interrupted: stopping"), "{output}");
    wait_gone(&children, Duration::from_secs(1));
    let last_window = output.lines().filter_map(window_of).max().unwrap();

    // 2. The same directory: the same network continues.
    let mut second = up(&dir, scratch.path());
    let (url2, links2) = banner(&mut second);
    assert_eq!(links2, links, "the share links changed across a restart");
    assert_eq!(
        url2, url,
        "the coordinator moved although its port was free"
    );
    let line = second.stdout_line(
        |l| l.contains("nodes 2 OK") && window_of(l).is_some_and(|w| w > last_window),
        FIRST_OK,
    );
    eprintln!("run 2: {line}");
    let operators: Vec<OperatorView> = rt
        .block_on(admin(&dir, &url).get("/api/admin/operators"))
        .unwrap();
    assert_eq!(operators.len(), 2, "registered twice: {operators:?}");
    let nodes: Vec<NodeStatusView> = rt
        .block_on(admin(&dir, &url).get("/api/admin/status?windows=200"))
        .unwrap();
    assert!(
        nodes.iter().all(|n| n
            .history
            .iter()
            .any(|w| w.window <= last_window && w.status == Status::Ok)),
        "the first run's windows are gone: {nodes:?}"
    );
    let children = children_of(second.pid());
    assert_eq!(children.len(), 5);
    second.signal(libc::SIGKILL);
    second.wait_exit(STOP);
    let took = wait_gone(&children, STOP);
    eprintln!(
        "run 2: children gone {:.2}s after resist up was killed",
        took.as_secs_f64()
    );
    let output = second.final_output();
    assert_eq!(
        output.matches("already registered as operator").count(),
        2,
        "{output}"
    );

    // 3. A node dies: resist up stops everything and says why.
    let mut third = up(&dir, scratch.path());
    third.stdout_line(|l| l.starts_with("ready in"), READY);
    let children = children_of(third.pid());
    let node1 = *children
        .iter()
        .find(|&&p| cmdline(p).contains("node-1.toml"))
        .unwrap();
    // SAFETY: kill(2) on a live child of the process we spawned.
    assert_eq!(unsafe { libc::kill(node1, libc::SIGKILL) }, 0);
    let status = third.wait_exit(STOP);
    let output = third.final_output();
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains("node-1 exited unexpectedly") && output.contains("node-1.log, ends with:"),
        "{output}"
    );
    // The tail is the node's own output (its banner ends with this note).
    assert!(
        output.contains("    note: listening on loopback only"),
        "no log tail: {output}"
    );
    wait_gone(&children, Duration::from_secs(1));

    // 4. A node's port is taken: resist up does not move it.
    let squatter = TcpListener::bind(("127.0.0.1", links[1].port)).unwrap();
    let mut fourth = up(&dir, scratch.path());
    let status = fourth.wait_exit(Duration::from_secs(40));
    let output = fourth.final_output();
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains(&format!("port {} of node 2", links[1].port)) && output.contains("--reset"),
        "{output}"
    );
    drop(squatter);
}
