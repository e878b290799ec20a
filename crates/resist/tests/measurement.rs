//! Measurement end to end with real processes on loopback: a coordinator with
//! 2-second windows, three nodes, and three probes (two "censored", one
//! "free"), each probe connecting from its own loopback address.
//!
//! - Node A serves everyone: OK. Node B serves only the free probe's address,
//!   as if a censor cut the censored region off from it: BLOCKED. Node C
//!   accepts connections and never answers, so every test of it times out:
//!   DOWN. (It also holds each probe's delivery back by the test timeout,
//!   which leaves A's and B's reports queued when the coordinator dies.)
//! - Then the coordinator is killed (SIGKILL) and restarted three times while
//!   the probes run, and one probe is killed and restarted while the
//!   coordinator is down. Afterwards every report a probe put in its queue is
//!   in the database exactly once: the ids the probes logged equal the ids
//!   stored, nothing was refused, and some reports were measured before a kill
//!   and stored after the restart, so the queue really bridged an outage.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{NodeProcess, free_port, resist_args, test_node, test_probe, write_file};
use resist_client::Client;
use resist_ownership::{AddressKind, Network};
use resist_process::{CoordinatorCommand, NodeCommand, ProbeCommand};
use resist_proto::api::NodeStatusView;
use resist_store::prelude::*;
use tokio::time::Instant;

const ADMIN: &str = "measurement-test-admin-token";
const WAIT: Duration = Duration::from_secs(30);

struct Net {
    scratch: tempfile::TempDir,
    port: u16,
    canary_port: u16,
}

impl Net {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn coordinator_dir(&self) -> PathBuf {
        self.scratch.path().join("coordinator")
    }

    fn command(&self, role: &str, args: &[&str]) -> Command {
        self.command_of(std::iter::once(role).chain(args.iter().copied()))
    }

    fn command_of(&self, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Command {
        let mut c = resist_args(args, self.scratch.path());
        c.env("RESIST_ADMIN_TOKEN", ADMIN);
        c
    }

    fn start_coordinator(&self) -> NodeProcess {
        let coordinator = CoordinatorCommand {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], self.port))),
            canary_listen: Some(SocketAddr::from(([127, 0, 0, 1], self.canary_port))),
            data_dir: Some(self.coordinator_dir()),
            network: Some("regtest".into()),
            danger_allow_private_endpoints: true,
            log_level: Some("warn".into()),
            ..CoordinatorCommand::default()
        };
        let mut cmd = self.command_of(coordinator.args());
        cmd.env("RESIST_COORDINATOR_MEASUREMENT__WINDOW", "4s")
            .env("RESIST_COORDINATOR_LIMITS__REQUESTS_PER_MINUTE", "100000")
            .env("RESIST_COORDINATOR_LIMITS__BURST", "10000");
        let mut p = NodeProcess::spawn(cmd);
        p.stdout_line(|l| l.contains("listening on http://"), WAIT);
        p
    }

    fn start_node(&self, name: &str, config: &str) -> (NodeProcess, u16) {
        let file = write_file(self.scratch.path(), &format!("{name}.toml"), config);
        let node = NodeCommand {
            config: Some(file),
            data_dir: Some(self.scratch.path().join(name)),
            ..test_node()
        };
        let mut p = NodeProcess::spawn(self.command_of(node.args()));
        let port = p.listen_addr().port();
        (p, port)
    }

    fn probe_dir(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    fn start_probe(&self, name: &str, region: &str, source: &str) -> NodeProcess {
        let probe = ProbeCommand {
            region: Some(region.into()),
            source: Some(source.parse().unwrap()),
            data_dir: Some(self.probe_dir(name)),
            ..test_probe(&self.url())
        };
        let mut p = NodeProcess::spawn(self.command_of(probe.args()));
        p.stdout_line(|l| l.starts_with("probing for"), WAIT);
        p
    }

    fn run(&self, role: &str, args: &[&str]) -> String {
        let out = self.command(role, args).output().unwrap();
        assert!(
            out.status.success(),
            "resist {role} {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The report ids a probe says it queued.
fn queued_ids(output: &str) -> BTreeSet<String> {
    output
        .lines()
        .filter(|l| l.contains("tested and queued"))
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("report=")))
        .map(|id| id.trim_matches('"').to_owned())
        .collect()
}

fn queue_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "report"))
                .count()
        })
        .unwrap_or(0)
}

async fn status(url: &str) -> Vec<NodeStatusView> {
    Client::new(url)
        .unwrap()
        .with_token(ADMIN)
        .get("/api/admin/status?windows=100")
        .await
        .unwrap()
}

fn seen(nodes: &[NodeStatusView], port: u16, status: &str) -> bool {
    nodes
        .iter()
        .filter(|n| n.endpoint.port == port)
        .any(|n| n.history.iter().any(|w| w.status.as_str() == status))
}

#[test]
fn probes_classify_nodes_and_no_report_is_lost_or_doubled() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let net = Net {
        scratch: tempfile::tempdir().unwrap(),
        port: free_port(),
        canary_port: free_port(),
    };
    let mut coordinator = Some(net.start_coordinator());

    // Three nodes: A serves everyone; B only the free probe's address; C is a
    // port where nothing listens.
    let (_a, port_a) = net.start_node("node-a", "");
    let (_b, port_b) = net.start_node("node-b", "[policy]\nallow_clients = [\"127.0.0.4/32\"]\n");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port_c = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        // Accept and hold (bounded): the connections stay open, unanswered.
        let mut held = Vec::new();
        for s in silent.incoming().take(500).flatten() {
            held.push(s);
        }
    });

    // An operator registers them (a regtest key signs).
    let wif = resist_ownership::generate_test_wif(Network::Regtest).unwrap();
    let address =
        resist_ownership::address_for_test_wif(&wif, AddressKind::P2wpkh, Network::Regtest)
            .unwrap();
    let wif_file = write_file(net.scratch.path(), "operator.wif", &wif);
    let op_dir = net.scratch.path().join("operator");
    let nodes: Vec<String> = [port_a, port_b, port_c]
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    net.run(
        "operator",
        &[
            "--coordinator",
            &net.url(),
            "--data-dir",
            op_dir.to_str().unwrap(),
            "--wif-file",
            wif_file.to_str().unwrap(),
            "register",
            "--payout",
            address.as_str(),
            "--node",
            &nodes[0],
            "--node",
            &nodes[1],
            "--node",
            &nodes[2],
            "--node-user",
            "probe",
            "--node-password",
            "probe-password",
        ],
    );

    // Three probes, enrolled by the funder, each connecting from its own address.
    let probes = [
        ("probe-c1", "censored:RU", "127.0.0.2"),
        ("probe-c2", "censored:RU", "127.0.0.3"),
        ("probe-f", "free:DE", "127.0.0.4"),
    ];
    for (name, region, _) in probes {
        let dir = net.probe_dir(name);
        let key = net.run(
            "probe",
            &["--data-dir", dir.to_str().unwrap(), "--print-public-key"],
        );
        net.run(
            "admin",
            &[
                "--coordinator",
                &net.url(),
                "probe",
                "enrol",
                "--public-key",
                key.trim(),
                "--region",
                region,
            ],
        );
    }
    let mut running: HashMap<&str, NodeProcess> = probes
        .iter()
        .map(|(name, region, source)| (*name, net.start_probe(name, region, source)))
        .collect();

    // Phase 1: the classification shows up.
    let deadline = Instant::now() + WAIT;
    loop {
        let nodes = rt.block_on(status(&net.url()));
        if seen(&nodes, port_a, "ok")
            && seen(&nodes, port_b, "blocked")
            && seen(&nodes, port_c, "down")
        {
            assert!(
                !seen(&nodes, port_b, "ok"),
                "censored probes never relay through B: {nodes:?}"
            );
            assert!(!seen(&nodes, port_a, "blocked"), "{nodes:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no classification after {WAIT:?}: {nodes:#?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let text = net.run("coordinator", &["status", "--coordinator", &net.url()]);
    assert!(text.contains(&format!("127.0.0.1:{port_b}")), "{text}");

    // The funder previews what an epoch over these windows would pay, and the
    // published report verifies on its own.
    let report = net.scratch.path().join("preview.json");
    let report_s = report.to_str().unwrap();
    let preview = net.run(
        "grants",
        &[
            "preview",
            "--coordinator",
            &net.url(),
            "--budget",
            "100000",
            "--days",
            "1",
            "--json",
            report_s,
        ],
    );
    assert!(preview.contains("budget 100000 sat"), "{preview}");
    let verified = net.run("grants", &["verify", report_s]);
    assert!(verified.starts_with("OK"), "{verified}");

    // Phase 2: kill the coordinator three times while the probes run; during
    // one outage, kill and restart a probe too.
    let mut outages = Vec::new();
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(1500 + 400 * round));
        let mut c = coordinator.take().unwrap();
        let killed = resist_clock::Clock::now(&resist_clock::SystemClock);
        c.signal(libc::SIGKILL);
        c.wait_exit(WAIT);
        std::thread::sleep(Duration::from_millis(2500));
        if round == 1 {
            let (name, region, source) = probes[0];
            let mut p = running.remove(name).unwrap();
            p.signal(libc::SIGKILL);
            p.wait_exit(WAIT);
            // Its output so far is kept: the reports it queued must arrive too.
            let before = p.final_output();
            running.insert(name, net.start_probe(name, region, source));
            write_file(net.scratch.path(), "probe-c1-before.log", &before);
        }
        let restarted = resist_clock::Clock::now(&resist_clock::SystemClock);
        coordinator = Some(net.start_coordinator());
        outages.push((killed, restarted));
    }

    // Let the queues drain, then stop everything and look in the database.
    let deadline = Instant::now() + WAIT;
    while probes
        .iter()
        .any(|(name, _, _)| queue_files(&net.probe_dir(name).join("queue")) > 0)
    {
        assert!(Instant::now() < deadline, "queues did not drain");
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut logs: HashMap<&str, String> = HashMap::new();
    for (name, p) in running.iter_mut() {
        p.terminate(WAIT);
        logs.insert(name, p.final_output());
    }
    logs.get_mut("probe-c1").unwrap().push_str(
        &std::fs::read_to_string(net.scratch.path().join("probe-c1-before.log")).unwrap(),
    );
    coordinator.take().unwrap().terminate(WAIT);

    rt.block_on(async {
        let store = resist_store::SqliteStore::open_in(&net.coordinator_dir())
            .await
            .unwrap();
        let enrolled = store.probes().await.unwrap();
        assert_eq!(enrolled.len(), 3);
        let mut total = 0;
        let mut bridged = 0;
        for (name, _, _) in probes {
            let rejected = net.probe_dir(name).join("queue/rejected");
            assert_eq!(queue_files(&rejected), 0, "{name}: reports were refused");
            let logged = queued_ids(&logs[name]);
            assert!(!logged.is_empty(), "{name} queued nothing:\n{}", logs[name]);
            // Find this probe's stored reports by the ids it logged.
            let mut stored = BTreeSet::new();
            for p in &enrolled {
                for r in store.reports_of(p.id).await.unwrap() {
                    let id = hex::encode(r.report.report_id);
                    if logged.contains(&id) {
                        assert!(stored.insert(id), "{name}: a report stored twice");
                        let measured = r.report.measured_at;
                        if outages
                            .iter()
                            .any(|(k, s)| measured <= *k && r.received_at >= *s)
                        {
                            bridged += 1;
                        }
                    }
                }
            }
            assert_eq!(stored, logged, "{name}: queued and stored reports differ");
            eprintln!("{name}: {} reports queued, each stored once", logged.len());
            total += logged.len();
        }
        let all: usize = {
            let mut n = 0;
            for p in &enrolled {
                n += store.reports_of(p.id).await.unwrap().len();
            }
            n
        };
        assert_eq!(all, total, "the database holds reports no probe logged");
        eprintln!("{bridged} reports were measured before a kill and stored after the restart");
        assert!(
            bridged > 0,
            "no report crossed an outage: the test proved nothing about the queue"
        );
    });
}
