//! One running lab: the topology, the censor's tables, and every resist
//! process in its namespace (coordinator, four nodes, two probes, the
//! fixtures), with the operators registered and the probes enrolled — the
//! stage every scenario starts from. Also the lab's hands: the user's curl,
//! the censor's nft, and reads of the coordinator's API.
//!
//! The lab process itself stays in the root namespace, which has no route
//! into the lab; it acts only through `ip netns exec`.

use std::ffi::{OsStr, OsString};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::Ipv4Net;
use rand::RngCore as _;
use resist_clock::{Clock as _, SystemClock};
use resist_grants::Report;
use resist_measure::Windows;
use resist_ownership::{AddressKind, Network};
use resist_process::{CoordinatorCommand, NodeCommand, ProbeCommand, Supervised};
use resist_proto::api::NodeStatusView;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::censor::{self, BlockKind, Count};
use crate::error::LabError;
use crate::plan::{NodeSpec, Ns, Plan};
use crate::procs;
use crate::sys::{self, Tools};
use crate::timeline::Timeline;
use crate::topology::Topology;

/// Time a process has to print that it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Time for one resist client command (register, enrol).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time for one HTTP request to the coordinator.
const API_TIMEOUT: Duration = Duration::from_secs(8);
/// The SOCKS5 user every lab node accepts.
pub const NODE_USER: &str = "lab";

/// How a run is set up.
#[derive(Clone, Debug)]
pub struct Options {
    /// The `resist` binary to run in the namespaces.
    pub binary: PathBuf,
    /// Measurement window length.
    pub window: Duration,
    /// Keep the logs here (else a temporary directory, deleted at the end).
    pub keep_logs: Option<PathBuf>,
    /// Print the timeline as it happens.
    pub print: bool,
}

/// A SOCKS5 proxy as a client dials it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    /// Where it listens.
    pub addr: SocketAddrV4,
    /// The SOCKS5 username.
    pub username: String,
    /// The SOCKS5 password.
    pub password: String,
}

/// What one fetch by curl gave.
#[derive(Clone, Debug)]
pub struct Fetch {
    /// curl exited 0 and the body is the expected service's.
    pub ok: bool,
    /// What curl said on failure (its message, trimmed).
    pub error: String,
    /// How long it took.
    pub took: Duration,
}

/// A running lab.
///
/// Field order is teardown order: processes die before their namespaces go,
/// and the log directory goes last.
#[derive(Debug)]
pub struct World {
    procs: Vec<Supervised>,
    topo: Topology,
    /// Delete the log directory on drop (a temporary one, after a run that passed).
    delete_logs: bool,
    /// The log directory was made by the lab (not --keep-logs).
    temporary_logs: bool,
    /// The address plan.
    pub plan: Plan,
    /// The timeline of the run.
    pub timeline: Timeline,
    tools: Tools,
    binary: PathBuf,
    dir: PathBuf,
    window: Duration,
    node_password: String,
    admin_token_file: PathBuf,
    admin_header_file: PathBuf,
}

impl World {
    /// Builds the lab and starts everything in it; returns once every node
    /// has been measured OK at least once (the loop works end to end).
    pub async fn start(tools: Tools, options: &Options) -> Result<World, LabError> {
        let removed = crate::topology::remove_stale(&tools.ip);
        // A temporary directory is kept until the run passes, so that a
        // failure (even during start) leaves its logs to read.
        let (temporary_logs, dir) = match &options.keep_logs {
            Some(d) => {
                std::fs::create_dir_all(d)
                    .map_err(|e| LabError::io(format!("cannot create {}", d.display()), e))?;
                (false, d.clone())
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("resist-lab-")
                    .tempdir()
                    .map_err(|e| LabError::io("cannot create a temporary directory", e))?;
                (true, t.keep())
            }
        };
        let plan = Plan::new(&crate::plan::prefix_for(std::process::id()));
        let mut timeline = Timeline::new(!options.print);
        if !removed.is_empty() {
            timeline.event(
                "lab",
                format!("removed namespaces of dead runs: {}", removed.join(" ")),
            );
        }
        let topo = Topology::build(&tools.ip, &plan).await?;
        timeline.event(
            "lab",
            format!(
                "{} namespaces ({}-*) and {} veth links up; logs in {}",
                Ns::ALL.len(),
                plan.prefix,
                plan.links.len(),
                dir.display()
            ),
        );
        let mut secret = [0u8; 16];
        rand::rng().fill_bytes(&mut secret);
        let admin_token = hex::encode(secret);
        rand::rng().fill_bytes(&mut secret);
        let node_password = hex::encode(secret);
        let admin_token_file = dir.join("admin-token");
        let admin_header_file = dir.join("admin-header");
        write_private(&admin_token_file, &format!("{admin_token}\n"))?;
        write_private(
            &admin_header_file,
            &format!("Authorization: Bearer {admin_token}\n"),
        )?;
        let mut world = World {
            procs: Vec::new(),
            topo,
            delete_logs: false,
            temporary_logs,
            plan,
            timeline,
            tools,
            binary: options.binary.clone(),
            dir,
            window: options.window,
            node_password,
            admin_token_file,
            admin_header_file,
        };
        world.nft(&censor::base_ruleset()).await?;
        world.timeline.event(
            "censor",
            "nftables table `ip censor` loaded: forwarding everything for now",
        );
        world.start_processes().await?;
        Ok(world)
    }

    async fn start_processes(&mut self) -> Result<(), LabError> {
        for s in self.plan.services.clone() {
            let spec = format!("{}={}", s.name, s.addr);
            self.spawn(s.name, s.ns, &args(&["lab", "--serve-fixture", &spec]), &[])?;
        }
        let coordinator = self.coordinator_url();
        let window = format!("{}s", self.window.as_secs());
        let env = [
            ("RESIST_COORDINATOR_MEASUREMENT__WINDOW", window),
            (
                "RESIST_COORDINATOR_LIMITS__REQUESTS_PER_MINUTE",
                "100000".into(),
            ),
            ("RESIST_COORDINATOR_LIMITS__BURST", "10000".into()),
        ];
        let command = CoordinatorCommand {
            listen: Some(self.plan.coordinator.into()),
            canary_listen: Some(self.plan.canary.into()),
            data_dir: Some(self.dir.join("coordinator")),
            admin_token_file: Some(self.admin_token_file.clone()),
            network: Some("regtest".into()),
            danger_allow_private_endpoints: true,
            log_level: Some("warn".into()),
            ..CoordinatorCommand::default()
        };
        let i = self.spawn("coordinator", Ns::Coordinator, &command.args(), &env)?;
        procs::wait_line(
            &mut self.procs[i],
            "its listening line",
            |l| l.contains("listening on http://"),
            START_TIMEOUT,
        )
        .await?;
        for s in self.plan.services.clone() {
            self.wait_listening(s.ns, s.addr).await?;
        }
        self.timeline.event(
            "coordinator",
            format!(
                "API {coordinator}, canary {}, windows of {:?}",
                self.plan.canary, self.window
            ),
        );
        let user = format!("{NODE_USER}:{}", self.node_password);
        for n in self.plan.nodes.clone() {
            let command = NodeCommand {
                listen: vec![n.addr.into()],
                users: vec![user.clone()],
                data_dir: Some(self.dir.join(n.name)),
                log_level: Some("warn".into()),
                allow_destinations: self
                    .plan
                    .node_destinations()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                ..NodeCommand::default()
            };
            let i = self.spawn(n.name, n.ns, &command.args(), &[])?;
            procs::wait_line(
                &mut self.procs[i],
                "its listening line",
                |l| l.starts_with("resist node listening on"),
                START_TIMEOUT,
            )
            .await?;
        }
        self.timeline.event(
            "operators",
            format!(
                "nodes up: {}",
                self.plan
                    .nodes
                    .iter()
                    .map(|n| format!("{} {}", n.name, n.addr))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        self.register("operator-a", self.plan.cloud_a).await?;
        self.register("operator-b", self.plan.cloud_b).await?;
        self.timeline.event(
            "operators",
            "operator-a (cloud-a) and operator-b (cloud-b) registered, payout addresses proven by regtest signatures",
        );
        for (name, ns, region, source) in [
            (
                "probe-censored",
                Ns::ProbeCensored,
                "censored:RU",
                self.plan.probe_censored,
            ),
            ("probe-free", Ns::ProbeFree, "free:DE", self.plan.probe_free),
        ] {
            self.start_probe(name, ns, region, source).await?;
        }
        self.timeline.event(
            "funder",
            "enrolled probe-censored (censored:RU) and probe-free (free:DE)",
        );
        Ok(())
    }

    /// Starts `resist ARGS` in `ns` as `name`; returns its index.
    fn spawn(
        &mut self,
        name: &str,
        ns: Ns,
        args: &[OsString],
        env: &[(&str, String)],
    ) -> Result<usize, LabError> {
        let mut command = vec![self.binary.display().to_string()];
        command.extend(args.iter().map(|a| a.to_string_lossy().into_owned()));
        let exec = self.topo.exec_args(ns, &command);
        let mut env = env.to_vec();
        env.push(("HOME", self.dir.display().to_string()));
        env.push(("XDG_DATA_HOME", self.dir.join("xdg").display().to_string()));
        let p = procs::spawn(name, &self.dir, &self.tools.ip, &exec, &env)?;
        self.procs.push(p);
        Ok(self.procs.len() - 1)
    }

    /// Runs `resist ARGS` in `ns` to completion.
    async fn resist(&self, ns: Ns, args: &[impl AsRef<OsStr>]) -> Result<String, LabError> {
        let mut command = vec![
            "env".to_owned(),
            format!("HOME={}", self.dir.display()),
            format!("XDG_DATA_HOME={}", self.dir.join("xdg").display()),
            self.binary.display().to_string(),
        ];
        command.extend(
            args.iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned()),
        );
        sys::run(
            &self.tools.ip,
            &self.topo.exec_args(ns, &command),
            None,
            CLIENT_TIMEOUT,
        )
        .await
    }

    async fn wait_listening(&mut self, ns: Ns, addr: SocketAddrV4) -> Result<(), LabError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let url = format!("http://{addr}/");
        loop {
            if self
                .fetch_raw(ns, &url, None, Duration::from_secs(2))
                .await?
                .0
            {
                return Ok(());
            }
            for p in &mut self.procs {
                procs::check_running(p)?;
            }
            if Instant::now() >= deadline {
                return Err(LabError::timeout_logged(
                    format!("nothing answers at {addr}"),
                    START_TIMEOUT,
                    &self.dir,
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn register(&self, operator: &str, cloud: Ipv4Net) -> Result<(), LabError> {
        let wif = resist_ownership::generate_test_wif(Network::Regtest)
            .map_err(|e| LabError::answer("generating a regtest key", e.to_string()))?;
        let address =
            resist_ownership::address_for_test_wif(&wif, AddressKind::P2wpkh, Network::Regtest)
                .map_err(|e| LabError::answer("deriving a regtest address", e.to_string()))?;
        let wif_file = self.dir.join(format!("{operator}.wif"));
        write_private(&wif_file, &wif)?;
        let data = self.dir.join(operator).display().to_string();
        let url = self.coordinator_url();
        let wif_s = wif_file.display().to_string();
        let payout = address.as_str().to_owned();
        let nodes: Vec<String> = self
            .plan
            .nodes_in(cloud)
            .iter()
            .map(|n| n.addr.to_string())
            .collect();
        let mut args = vec![
            "operator",
            "--coordinator",
            &url,
            "--data-dir",
            &data,
            "--wif-file",
            &wif_s,
            "register",
            "--payout",
            &payout,
            "--node-user",
            NODE_USER,
            "--node-password",
            &self.node_password,
        ];
        for n in &nodes {
            args.push("--node");
            args.push(n);
        }
        self.resist(Ns::Coordinator, &args).await.map(drop)
    }

    async fn start_probe(
        &mut self,
        name: &str,
        ns: Ns,
        region: &str,
        source: Ipv4Addr,
    ) -> Result<(), LabError> {
        let data = self.dir.join(name);
        let print_key = ProbeCommand {
            data_dir: Some(data.clone()),
            print_public_key: true,
            ..ProbeCommand::default()
        };
        let key = self.resist(ns, &print_key.args()).await?;
        let url = self.coordinator_url();
        let token = self.admin_token_file.display().to_string();
        self.resist(
            Ns::Coordinator,
            &[
                "admin",
                "--coordinator",
                &url,
                "--admin-token-file",
                &token,
                "probe",
                "enrol",
                "--public-key",
                key.trim(),
                "--region",
                region,
            ],
        )
        .await?;
        let command = ProbeCommand {
            coordinator: Some(url),
            region: Some(region.to_owned()),
            source: Some(source.into()),
            data_dir: Some(data),
            poll_interval: Some(1),
            check_timeout: Some(2),
            max_backoff: Some(1),
            danger_allow_private_nodes: true,
            log_level: Some("warn".into()),
            ..ProbeCommand::default()
        };
        let i = self.spawn(name, ns, &command.args(), &[])?;
        procs::wait_line(
            &mut self.procs[i],
            "`probing for`",
            |l| l.starts_with("probing for"),
            START_TIMEOUT,
        )
        .await
        .map(drop)
    }

    /// `node` with the credentials the lab gave every node.
    pub fn proxy(&self, node: &NodeSpec) -> Proxy {
        Proxy {
            addr: node.addr,
            username: NODE_USER.to_owned(),
            password: self.node_password.clone(),
        }
    }

    /// The coordinator's URL.
    pub fn coordinator_url(&self) -> String {
        format!("http://{}", self.plan.coordinator)
    }

    /// The window length.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Where the logs are.
    pub fn logs(&self) -> &Path {
        &self.dir
    }

    /// Deletes a temporary log directory at teardown (call after a run that
    /// passed; --keep-logs directories are never deleted).
    pub fn discard_logs(&mut self) {
        self.delete_logs = self.temporary_logs;
    }

    /// The current window number, as the coordinator numbers it.
    pub fn window_now(&self) -> i64 {
        Windows::new(self.window).of(SystemClock.now())
    }

    /// Fails if any process of the lab has exited.
    pub fn check_processes(&mut self) -> Result<(), LabError> {
        self.procs.iter_mut().try_for_each(procs::check_running)
    }

    /// Loads nftables text into the censor's namespace.
    pub async fn nft(&self, text: &str) -> Result<(), LabError> {
        let mut command = vec![self.tools.nft.display().to_string()];
        command.extend(sys::args(["-f", "-"]));
        let args = self.topo.exec_args(Ns::Censor, &command);
        sys::run(&self.tools.ip, &args, Some(text), Duration::from_secs(20))
            .await
            .map(drop)
    }

    /// The censor blocks `net` as `kind`.
    pub async fn block(&self, kind: BlockKind, net: Ipv4Net) -> Result<(), LabError> {
        self.nft(&censor::block_command(kind, net)).await
    }

    /// The censor's named counters.
    pub async fn counters(&self) -> Result<Vec<(String, String, Count)>, LabError> {
        let command = vec![
            self.tools.nft.display().to_string(),
            "-j".into(),
            "list".into(),
            "counters".into(),
        ];
        let out = self.topo.exec(Ns::Censor, &command).await?;
        censor::parse_counters(&out)
            .map_err(|e| LabError::answer("nft -j list counters", e.to_string()))
    }

    /// The packets a named counter of the censor has seen.
    pub async fn counter(&self, table: &str, name: &str) -> Result<u64, LabError> {
        Ok(self
            .counters()
            .await?
            .into_iter()
            .find(|(t, n, _)| t == table && n == name)
            .map_or(0, |(_, _, c)| c.packets))
    }

    /// curl in `ns` fetches `url`, through `proxy` (SOCKS5 with the lab's
    /// credentials) if given. Returns whether it worked and curl's message.
    async fn fetch_raw(
        &self,
        ns: Ns,
        url: &str,
        proxy: Option<&Proxy>,
        within: Duration,
    ) -> Result<(bool, String, String), LabError> {
        let mut command = vec![
            self.tools.curl.display().to_string(),
            "-sS".into(),
            "--max-time".into(),
            format!("{}", within.as_secs_f64()),
        ];
        if let Some(p) = proxy {
            command.push("--proxy".into());
            command.push(format!(
                "socks5h://{}:{}@{}",
                p.username, p.password, p.addr
            ));
        }
        command.push(url.to_owned());
        let args = self.topo.exec_args(ns, &command);
        let out = sys::output(&self.tools.ip, &args, None, within + Duration::from_secs(5)).await?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ))
    }

    /// The user (or whoever is in `ns`) fetches the service at `addr`
    /// named `name`, directly or through a node.
    pub async fn fetch(
        &self,
        ns: Ns,
        name: &str,
        addr: SocketAddrV4,
        proxy: Option<&Proxy>,
    ) -> Result<Fetch, LabError> {
        let start = Instant::now();
        let within = Duration::from_secs(4);
        let (ok, body, error) = self
            .fetch_raw(ns, &format!("http://{addr}/"), proxy, within)
            .await?;
        let expected = crate::fixture::body(name);
        Ok(Fetch {
            ok: ok && body == expected,
            error: if ok && body != expected {
                format!("unexpected answer {body:?}")
            } else {
                error
            },
            took: start.elapsed(),
        })
    }

    /// Someone in `ns` opens a TCP connection to `addr` (bash's /dev/tcp),
    /// writes each of `segments` as its own write, 300 ms apart, and returns
    /// what came back within 3 s (empty when the censor ate the flow). For
    /// showing what the DPI rule does and does not match.
    pub async fn raw_exchange(
        &self,
        ns: Ns,
        addr: SocketAddrV4,
        segments: &[&[u8]],
    ) -> Result<String, LabError> {
        let writes: Vec<String> = segments
            .iter()
            .map(|seg| {
                let fmt: String = seg.iter().map(|b| format!("\\x{b:02x}")).collect();
                format!("printf '{fmt}' >&3")
            })
            .collect();
        let script = format!(
            "exec 3<>/dev/tcp/{}/{} || exit 9; {}; timeout 3 cat <&3; exit 0",
            addr.ip(),
            addr.port(),
            writes.join("; sleep 0.3; ")
        );
        let command = vec!["bash".to_owned(), "-c".to_owned(), script];
        let args = self.topo.exec_args(ns, &command);
        let out = sys::output(&self.tools.ip, &args, None, Duration::from_secs(10)).await?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// GET `path` on the coordinator from `ns` (with the admin token when
    /// `admin`); returns the HTTP status and the body.
    pub async fn http_get(
        &self,
        ns: Ns,
        path: &str,
        admin: bool,
    ) -> Result<(u16, String), LabError> {
        let mut command = vec![
            self.tools.curl.display().to_string(),
            "-sS".into(),
            "--max-time".into(),
            "5".into(),
            "-w".into(),
            "\n%{http_code}".into(),
        ];
        if admin {
            command.push("-H".into());
            command.push(format!("@{}", self.admin_header_file.display()));
        }
        command.push(format!("{}{path}", self.coordinator_url()));
        let args = self.topo.exec_args(ns, &command);
        let out = sys::run(&self.tools.ip, &args, None, API_TIMEOUT).await?;
        let (body, code) = out.rsplit_once('\n').unwrap_or(("", out.as_str()));
        let code = code.trim().parse().map_err(|_| {
            LabError::answer(
                format!("GET {path}"),
                format!("curl printed no HTTP status: {out:?}"),
            )
        })?;
        Ok((code, body.to_owned()))
    }

    /// GET an admin JSON document from the coordinator.
    pub async fn admin_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, LabError> {
        let (code, body) = self.http_get(Ns::Coordinator, path, true).await?;
        if code != 200 {
            return Err(LabError::answer(
                format!("GET {path}"),
                format!(
                    "HTTP {code}: {}",
                    body.chars().take(300).collect::<String>()
                ),
            ));
        }
        serde_json::from_str(&body)
            .map_err(|e| LabError::answer(format!("GET {path}"), format!("unexpected JSON: {e}")))
    }

    /// Every node's measured windows.
    pub async fn status(&self) -> Result<Vec<NodeStatusView>, LabError> {
        self.admin_json("/api/admin/status?windows=100").await
    }

    /// A grant preview over the whole windows from `first` to `last`.
    pub async fn preview(
        &self,
        budget_sat: u64,
        first: i64,
        last: i64,
    ) -> Result<Report, LabError> {
        let windows = Windows::new(self.window);
        let (from, to) = (windows.start(first), windows.end(last));
        self.admin_json(&format!(
            "/api/admin/grants/preview?budget_sat={budget_sat}&from={from}&to={to}"
        ))
        .await
    }

    /// Polls the coordinator until `done` holds for the statuses, or
    /// `within` passes (then returns the last statuses and false).
    pub async fn wait_status(
        &mut self,
        within: Duration,
        done: impl Fn(&[NodeStatusView]) -> bool,
    ) -> Result<(Vec<NodeStatusView>, bool), LabError> {
        let deadline = Instant::now() + within;
        loop {
            let views = self.status().await?;
            if done(&views) {
                return Ok((views, true));
            }
            self.check_processes()?;
            if Instant::now() >= deadline {
                return Ok((views, false));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The node's windows, oldest first.
    pub fn windows(views: &[NodeStatusView], node: &NodeSpec) -> Vec<(i64, String)> {
        crate::verdict::windows_of(views, &node.addr.ip().to_string(), node.addr.port())
    }

    /// The coordinator's id of `node`.
    pub fn node_id(views: &[NodeStatusView], node: &NodeSpec) -> Option<i64> {
        let host = node.addr.ip().to_string();
        views
            .iter()
            .find(|v| v.endpoint.host == host && v.endpoint.port == node.addr.port())
            .map(|v| v.node)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Processes first (they hold the namespaces), then the namespaces.
        self.procs.clear();
        if self.delete_logs {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        // `topo` drops after this body and deletes the namespaces.
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), LabError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text)
        .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)))
        .map_err(|e| LabError::io(format!("cannot write {}", path.display()), e))
}

/// `items` as an argument list.
fn args(items: &[&str]) -> Vec<OsString> {
    items.iter().map(OsString::from).collect()
}
