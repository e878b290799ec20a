//! `resist lab` for real: each scenario builds its network namespaces, runs
//! the coordinator, four nodes, two probes and the fixtures as processes,
//! plays the censor with nftables and must end with every check passed, and
//! leave no namespace and no process behind. Ctrl-C in the middle of a run
//! tears everything down too, and without root the lab refuses, saying why.
//!
//! Needs root, iproute2, nftables and curl. Outside CI a test without them
//! is skipped with the reason on stderr; in CI (`CI=true`) a missing tool
//! fails it. The scenarios run one at a time (each loads two cores).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_resist");
/// A scenario must end well within this.
const SCENARIO_LIMIT: Duration = Duration::from_secs(150);

/// One scenario at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Why the lab cannot run here, if it cannot.
fn cannot_run() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0");
    if !root {
        return Some("not root: the lab needs network namespaces and nftables".into());
    }
    for (tool, package) in [("ip", "iproute2"), ("nft", "nftables"), ("curl", "curl")] {
        let found = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .any(|d| std::path::Path::new(d).join(tool).is_file());
        if !found {
            return Some(format!("`{tool}` is missing (Debian package {package})"));
        }
    }
    None
}

/// Skips (outside CI) or fails (in CI) when the lab cannot run.
fn ready(test: &str) -> bool {
    resist_testkit::require(cannot_run().map(|why| format!("{test}: the lab cannot run: {why}")))
}

/// Names of the network namespaces of run `pid`.
fn namespaces_of(pid: u32) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let prefix = format!("rl{pid}-");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

/// Processes whose parent is `pid` (the lab's children).
fn children_of(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        // The field after the parenthesised command name: state, then ppid.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(pid) {
            kids.push(p);
        }
    }
    kids
}

/// Kills the lab (by pid) if a test fails while it runs.
struct Guard(Option<Child>);

impl Guard {
    fn child(&mut self) -> &mut Child {
        self.0
            .as_mut()
            .expect("the child is taken only by wait_output")
    }

    fn pid(&mut self) -> u32 {
        self.child().id()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0
            && let Ok(None) = child.try_wait()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits (bounded) for the lab to exit and returns its output.
fn wait_output(mut guard: Guard, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while guard.child().try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the lab ran longer than {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    guard.0.take().unwrap().wait_with_output().unwrap()
}

fn spawn_lab(args: &[&str]) -> Guard {
    let mut cmd = Command::new(BIN);
    cmd.arg("lab").args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RESIST_") {
            cmd.env_remove(key);
        }
    }
    Guard(Some(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start resist lab"),
    ))
}

/// Runs a scenario to its end and checks it passed and cleaned up.
fn scenario(name: &str) -> String {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let start = Instant::now();
    let mut guard = spawn_lab(&[name]);
    let pid = guard.pid();
    let out = wait_output(guard, SCENARIO_LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "resist lab {name} took {:?}:\n{stdout}{stderr}",
        start.elapsed()
    );
    assert!(
        out.status.success(),
        "resist lab {name} failed ({})",
        out.status
    );
    assert!(
        stdout.contains(&format!("{name}: all checks passed")),
        "{stdout}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(
        namespaces_of(pid).is_empty(),
        "namespaces left: {:?}",
        namespaces_of(pid)
    );
    stdout
}

#[test]
fn ban_the_user_reaches_the_messenger_only_through_a_node() {
    if !ready("ban") {
        return;
    }
    let out = scenario("ban");
    assert!(out.contains("cannot reach the messenger at"), "{out}");
    assert!(
        out.contains("PASS  the user reaches the messenger through every node"),
        "{out}"
    );
}

#[test]
fn subnet_blocks_count_the_collateral_damage() {
    if !ready("subnet") {
        return;
    }
    let out = scenario("subnet");
    assert!(out.contains("65534 innocent addresses"), "{out}");
    assert!(out.contains("PASS  collateral damage is real"), "{out}");
    assert!(
        out.contains("PASS  probes classify node-a1 BLOCKED within two windows"),
        "{out}"
    );
}

#[test]
fn dpi_blocks_every_socks5_node_and_says_why() {
    if !ready("dpi") {
        return;
    }
    let out = scenario("dpi");
    for node in ["node-a1", "node-a2", "node-b1", "node-b2"] {
        assert!(
            out.contains(&format!(
                "PASS  probes classify {node} BLOCKED within two windows"
            )),
            "{out}"
        );
    }
    assert!(
        out.contains("the case for an obfuscated transport"),
        "{out}"
    );
}

#[test]
fn whack_a_mole_blocked_nodes_are_classified_and_unpaid() {
    if !ready("whack-a-mole") {
        return;
    }
    let out = scenario("whack-a-mole");
    assert!(
        out.contains("PASS  the user's bucket keeps a working node"),
        "{out}"
    );
    assert!(out.contains("PASS  the grant preview counts"), "{out}");
}

#[test]
fn ctrl_c_tears_everything_down() {
    if !ready("ctrl-c") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut guard = spawn_lab(&["dpi"]);
    let pid = guard.pid();
    // Wait until the lab is up (its namespaces exist and the nodes run).
    let deadline = Instant::now() + Duration::from_secs(60);
    while children_of(pid).len() < 10 {
        assert!(
            Instant::now() < deadline,
            "the lab did not start its processes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!namespaces_of(pid).is_empty());
    let children = children_of(pid);
    let rc = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    let out = wait_output(guard, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        namespaces_of(pid).is_empty(),
        "namespaces left: {:?}",
        namespaces_of(pid)
    );
    for c in children {
        assert!(
            !std::path::Path::new(&format!("/proc/{c}")).exists()
                || std::fs::read_to_string(format!("/proc/{c}/stat"))
                    .is_ok_and(|s| !s.contains(&format!(" {pid} "))),
            "child {c} outlived the lab"
        );
    }
}

#[test]
fn without_root_the_lab_says_why_and_exits_2() {
    // As root, drop to `nobody` with setpriv; as another user, just run it.
    let root = cannot_run().is_none_or(|why| !why.starts_with("not root"));
    let out = if root {
        let Some(setpriv) = ["/usr/bin/setpriv", "/bin/setpriv"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())
        else {
            eprintln!("skipped: no setpriv (util-linux) to drop root with");
            return;
        };
        // The binary must be readable and executable by nobody.
        let copy = tempfile::Builder::new()
            .prefix("resist-lab-nonroot")
            .tempdir()
            .unwrap();
        let bin = copy.path().join("resist");
        std::fs::copy(BIN, &bin).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(copy.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        Command::new(setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .args(["lab", "ban"])
            .output()
            .unwrap()
    } else {
        Command::new(BIN).args(["lab", "ban"]).output().unwrap()
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "the lab needs root (network namespaces and nftables): run it with sudo, or in CI"
        ),
        "{stderr}"
    );
}
