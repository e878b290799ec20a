//! `resist up`: the whole system on one machine in one command, so that anyone
//! can see a coordinator, nodes, operators and probes work together before
//! deploying any of them.
//!
//! It starts the real commands (`resist coordinator`, `resist node`, `resist
//! operator register`, `resist probe`) as child processes with configuration
//! files it writes into the data directory (see `children` for why processes
//! and how they die with `resist up`), enrols the probes through the admin
//! API, and then watches: a status line per window from the coordinator's
//! admin API, and an error with the log's last lines if a child dies.
//!
//! The weakened safety settings a loopback network needs (private node
//! endpoints on the coordinator, private nodes for the probes, loopback
//! destinations on the nodes) are set here and nowhere else, and the output
//! says that this is a local demonstration network.

mod children;
mod state;
mod status;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use resist_client::{Client, ClientError};
use resist_measure::Status;
use resist_ownership::{AddressKind, Network};
use resist_probe::ProbeKey;
use resist_process::{CoordinatorCommand, NodeCommand, ProbeCommand};
use resist_proto::api::{EnrolProbeRequest, Info, NodeStatusView, OperatorView, ProbeView};
use serde::Deserialize;
use tokio::signal::unix::{Signal, SignalKind};
use tokio::time::Instant;

use children::{Supervisor, Tier};
use state::{Layout, path_value};

use crate::{Failure, signals};

/// The Bitcoin network of the demonstration: test coins only.
const NETWORK: Network = Network::Regtest;

/// The probes: name, region label, the loopback address they connect from.
const PROBES: [(&str, &str, Ipv4Addr); 2] = [
    ("censored", "censored:RU", Ipv4Addr::new(127, 0, 0, 2)),
    ("free", "free:DE", Ipv4Addr::new(127, 0, 0, 3)),
];

/// Limits on the waits of start-up and shutdown.
const COORDINATOR_START: Duration = Duration::from_secs(30);
const NODE_START: Duration = Duration::from_secs(20);
const PROBE_START: Duration = Duration::from_secs(20);
const REGISTRATION: Duration = Duration::from_secs(60);
const API_CALL: Duration = Duration::from_secs(5);
const STOP_GRACE: Duration = Duration::from_secs(8);

/// Start a complete resist network on this machine, to try resist out.
///
/// One command starts, on loopback: a coordinator with an embedded SQLite
/// database; two SOCKS5 proxy nodes, registered by two operators whose payout
/// addresses are on regtest (test coins, no real money; their keys are
/// generated into the data directory); and two probes enrolled by the funder,
/// censored:RU connecting from 127.0.0.2 and free:DE from 127.0.0.3. It prints
/// the dashboard's address, the nodes' share links, then a status line per
/// measurement window. Within a few windows both nodes show OK:
///
///     resist up
///     resist up --window 10s
///
/// This is a local demonstration network, not a deployment: everything listens
/// on loopback, the nodes may reach loopback destinations (the coordinator's
/// canary lives there) and the coordinator accepts loopback node endpoints. To
/// serve real users, see `resist node --help`.
///
/// Everything lives in the data directory: the database and admin token
/// (coordinator/), the nodes' credentials (node-1/, node-2/), the operators'
/// test keys (operator-1/payout.wif, …), the probes' keys and report queues,
/// the ports (up.toml), and every process's output (logs/). Ctrl-C or SIGTERM
/// stops every process; `resist up` again continues where it stopped: same
/// database, ports, credentials and registrations. The first start takes ports
/// 8740 (coordinator), 8741 (canary), 1080 and 1081 (nodes), or free ones
/// where those are taken. Later, if the coordinator's port is taken it moves;
/// a node's never does (its links name it): resist up says which port to free.
/// To start afresh:
///
///     resist up --reset          (or: rm -rf DIR)
///
/// Then try (resist up prints these with the real ports and credentials):
///
///     open http://127.0.0.1:8740/ in a browser (the dashboard)
///     curl --socks5-hostname USER:PASS@127.0.0.1:1080 http://127.0.0.1:8740/api/info
///     resist coordinator status --admin-token-file DIR/coordinator/admin-token
///     open a tg://socks link in Telegram Desktop on this machine
#[derive(Debug, Clone, Args)]
#[command(verbatim_doc_comment)]
pub struct UpArgs {
    /// Directory for everything this network keeps [default: $XDG_DATA_HOME/resist/up]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Length of a measurement window, 2s to 1h (e.g. 10s, 1m)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_window)]
    pub window: Duration,

    /// Delete this network's database, keys, registrations and logs first, and start afresh
    #[arg(long)]
    pub reset: bool,
}

fn parse_window(s: &str) -> Result<Duration, String> {
    let d = humantime_serde::re::humantime::parse_duration(s)
        .map_err(|e| format!("{e}; write e.g. 10s, 1m or 1m30s"))?;
    if d.subsec_nanos() != 0 {
        return Err("use whole seconds, e.g. 10s".into());
    }
    if !(2..=3600).contains(&d.as_secs()) {
        return Err("must be 2s to 1h".into());
    }
    Ok(d)
}

/// Runs `resist up`.
pub fn run(args: UpArgs) -> Result<(), Failure> {
    // One thread: the children's parent-death signal is tied to the thread
    // that forked them (see `children`), and this one lives as long as we do.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Runtime)?;
    runtime.block_on(up(args))
}

/// SIGINT, SIGTERM and SIGHUP (a closed terminal) all mean: stop.
struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        Ok(Self {
            int: signals::handler(SignalKind::interrupt())?,
            term: signals::handler(SignalKind::terminate())?,
            hup: signals::handler(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "interrupted",
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}

/// What `resist up` prints: progress steps with timings, then the status line,
/// redrawn in place on a terminal and printed as plain lines otherwise. Write
/// errors (a closed pipe) are ignored: they must not stop the network.
struct Out {
    started: Instant,
    tty: bool,
    /// A step line was started and not finished.
    open: bool,
    /// The status line drawn last (on a terminal it has no newline yet).
    status: Option<String>,
}

impl Out {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            tty: std::io::stdout().is_terminal(),
            open: false,
            status: None,
        }
    }

    fn write(&mut self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// Clears a status line being redrawn in place, so other text can follow.
    fn clear_status(&mut self) {
        if self.tty && self.status.is_some() {
            self.write("\r\x1b[2K");
        }
    }

    /// Starts a step: `[ 1.2s] what … `.
    fn step(&mut self, what: &str) -> Instant {
        self.finish_open("");
        let at = self.started.elapsed().as_secs_f64();
        self.write(&format!("[{at:4.1}s] {what} … "));
        self.open = true;
        Instant::now()
    }

    /// Ends the step begun at `since` with `result (0.4s)`.
    fn done(&mut self, since: Instant, result: &str) {
        let took = since.elapsed().as_secs_f64();
        self.write(&format!("{result} ({took:.1}s)\n"));
        self.open = false;
    }

    fn finish_open(&mut self, result: &str) {
        if self.open {
            self.write(&format!("{result}\n"));
            self.open = false;
        }
    }

    /// A line of text (below the steps, or above the status line).
    fn line(&mut self, text: &str) {
        self.finish_open("");
        self.clear_status();
        self.write(&format!("{text}\n"));
        if self.tty
            && let Some(s) = self.status.clone()
        {
            self.write(&s);
        }
    }

    /// The status line: on a terminal redrawn in place with `live` after it;
    /// otherwise printed (without `live`) when it changes.
    fn status(&mut self, line: String, live: &str) {
        if self.tty {
            let shown = format!("{line}{live}");
            if self.status.as_deref() != Some(shown.as_str()) {
                self.write(&format!("\r\x1b[2K{shown}"));
                self.status = Some(shown);
            }
        } else if self.status.as_deref() != Some(line.as_str()) {
            self.write(&format!("{line}\n"));
            self.status = Some(line);
        }
    }

    /// Ends the status line (or an unfinished step, with `result`) before
    /// the closing messages.
    fn end_status(&mut self, result: &str) {
        self.finish_open(result);
        if self.tty && self.status.take().is_some() {
            self.write("\n");
        }
    }
}

/// How a run ends.
enum Ending {
    /// A signal asked to stop: exit 0.
    Signal(&'static str),
    /// Something failed: exit 1.
    Failed(anyhow::Error),
}

async fn up(args: UpArgs) -> Result<(), Failure> {
    let mut signals = Signals::install().map_err(Failure::Runtime)?;
    let layout = Layout {
        dir: args
            .data_dir
            .clone()
            .unwrap_or_else(|| crate::default_data_dir().join("up")),
    };
    let _lock = layout.prepare(args.reset).map_err(Failure::Runtime)?;
    let mut sup = Supervisor::new(layout.logs()).map_err(Failure::Runtime)?;
    let mut out = Out::new();
    out.line(
        "resist up: a local demonstration network on loopback (test coins, loopback only; not a deployment)",
    );
    out.line(&format!(
        "data: {}   logs: {}",
        layout.dir.display(),
        layout.logs().display()
    ));
    let ending = tokio::select! {
        started = start(&layout, &args, &mut sup, &mut out) => match started {
            Ok(net) => supervise(&net, &mut sup, &mut out, &mut signals).await,
            Err(e) => Ending::Failed(e),
        },
        s = signals.recv() => Ending::Signal(s),
    };
    out.end_status(match &ending {
        Ending::Signal(_) => "interrupted",
        Ending::Failed(_) => "failed",
    });
    let stopping = Instant::now();
    let what = match &ending {
        Ending::Signal(s) => format!("{s}: stopping"),
        Ending::Failed(_) => "stopping everything after the error below".to_owned(),
    };
    out.line(&what);
    let hurry = async {
        let s = signals.recv().await;
        out_hurry(s);
    };
    let killed = sup.stop_all(STOP_GRACE, hurry).await;
    for k in killed {
        out.line(&format!("warning: {k}"));
    }
    out.line(&format!(
        "stopped in {:.1}s; `resist up{}` continues where this run stopped",
        stopping.elapsed().as_secs_f64(),
        args.data_dir
            .as_ref()
            .map(|d| format!(" --data-dir {}", d.display()))
            .unwrap_or_default()
    ));
    match ending {
        Ending::Signal(_) => Ok(()),
        Ending::Failed(e) => Err(Failure::Runtime(e)),
    }
}

/// A node as `resist up` knows it.
struct NodeInfo {
    port: u16,
    user: String,
    password: String,
}

/// The running network.
struct Net {
    admin: Client,
    /// The same coordinator without the admin token (for public endpoints).
    public: Client,
    url: String,
    window_secs: i64,
    /// Seconds after a window's end before it is summarised: the probes'
    /// last tests of it report by then.
    settle: i64,
}

/// Brings the network up: ports, the coordinator, the nodes, one operator
/// per node, the probes; then says how to use it.
async fn start(
    layout: &Layout,
    args: &UpArgs,
    sup: &mut Supervisor,
    out: &mut Out,
) -> anyhow::Result<Net> {
    let ports = choose_ports(layout, out).await?;
    let url = format!("http://127.0.0.1:{}", ports.coordinator);
    let admin = start_coordinator(layout, args, sup, out, &ports, &url).await?;
    let nodes = start_nodes(layout, sup, out, &ports).await?;
    register_operators(layout, sup, out, &admin, &url, &nodes).await?;
    let poll = (args.window.as_secs() / 5).clamp(1, 30);
    start_probes(layout, args, sup, out, &admin, &url, poll).await?;
    print_ready(layout, out, &url, &nodes);
    let window_secs = i64::try_from(args.window.as_secs()).unwrap_or(i64::MAX);
    Ok(Net {
        admin,
        public: Client::new(&url)?,
        url,
        window_secs,
        settle: i64::try_from(poll + 1)
            .unwrap_or(i64::MAX)
            .min(window_secs / 2),
    })
}

/// The ports of this run: those of the last run when they are still free.
async fn choose_ports(layout: &Layout, out: &mut Out) -> anyhow::Result<state::Ports> {
    let t = out.step("ports");
    let chosen = state::choose_ports(layout, state::PORT_WAIT).await?;
    let ports = chosen.ports;
    out.done(
        t,
        &format!(
            "{} for a {} network (kept in {})",
            ports_summary(&ports),
            if chosen.continued { "continued" } else { "new" },
            layout.state_file().display()
        ),
    );
    for note in &chosen.notes {
        out.line(&format!("note: {note}"));
    }
    Ok(ports)
}

/// Starts the coordinator, checks it is a regtest one, and returns a client
/// holding its admin token.
async fn start_coordinator(
    layout: &Layout,
    args: &UpArgs,
    sup: &mut Supervisor,
    out: &mut Out,
    ports: &state::Ports,
    url: &str,
) -> anyhow::Result<Client> {
    let t = out.step(&format!(
        "coordinator on {url} (regtest, SQLite, {}s windows)",
        args.window.as_secs()
    ));
    write_coordinator_config(layout, ports.coordinator, ports.canary, args.window)?;
    let command = CoordinatorCommand {
        config: Some(layout.coordinator_config()),
        ..CoordinatorCommand::default()
    };
    let mark = sup.spawn("coordinator", Tier::Coordinator, &command.args())?;
    sup.wait_for_line(&mark, "listening on http://", COORDINATOR_START)
        .await
        .context("the coordinator did not start")?;
    let info: Info = call(&Client::new(url)?, "/api/info").await?;
    if info.network != NETWORK.as_str() {
        anyhow::bail!(
            "the coordinator's database is for {}, not {}; start afresh with `resist up --reset`",
            info.network,
            NETWORK.as_str()
        );
    }
    let token = std::fs::read_to_string(layout.admin_token()).with_context(|| {
        format!(
            "cannot read the admin token {}",
            layout.admin_token().display()
        )
    })?;
    let admin = Client::new(url)?.with_token(token.trim());
    out.done(t, "ready");
    Ok(admin)
}

/// Starts the nodes, with credentials made here so they can be registered.
async fn start_nodes(
    layout: &Layout,
    sup: &mut Supervisor,
    out: &mut Out,
    ports: &state::Ports,
) -> anyhow::Result<Vec<NodeInfo>> {
    let mut nodes = Vec::new();
    for (i, &port) in ports.nodes.iter().enumerate() {
        let n = i + 1;
        let t = out.step(&format!("node {n} on 127.0.0.1:{port}"));
        let (user, _) = resist_node::credentials::load_or_generate(&layout.node_dir(n))
            .with_context(|| format!("cannot create the credentials of node {n}"))?;
        write_node_config(layout, n, port)?;
        let command = NodeCommand {
            config: Some(layout.node_config(n)),
            ..NodeCommand::default()
        };
        let mark = sup.spawn(&format!("node-{n}"), Tier::Node, &command.args())?;
        sup.wait_for_line(&mark, "resist node listening on", NODE_START)
            .await
            .with_context(|| format!("node {n} did not start"))?;
        out.done(t, "ready");
        nodes.push(NodeInfo {
            port,
            user: user.name().to_owned(),
            password: user.password().to_owned(),
        });
    }
    Ok(nodes)
}

/// One operator per node, each with its own regtest payout address, registered
/// unless the coordinator already knows it.
async fn register_operators(
    layout: &Layout,
    sup: &mut Supervisor,
    out: &mut Out,
    admin: &Client,
    url: &str,
    nodes: &[NodeInfo],
) -> anyhow::Result<()> {
    let operators: Vec<OperatorView> = call(admin, "/api/admin/operators").await?;
    for (i, node) in nodes.iter().enumerate() {
        let n = i + 1;
        let dir = layout.operator_dir(n);
        let (wif_file, address) = payout_key(&dir)?;
        let t = out.step(&format!("operator {n} ({address})"));
        if let Some(o) = operators.iter().find(|o| o.payout_address == address) {
            out.done(t, &format!("already registered as operator {}", o.id));
            continue;
        }
        // A registration file the coordinator does not know (its database was
        // replaced) would make `resist operator register` refuse.
        let stale = dir.join("operator.toml");
        if stale.exists() {
            std::fs::remove_file(&stale)
                .with_context(|| format!("cannot remove the stale {}", stale.display()))?;
        }
        sup.run_once(
            &format!("operator-{n}"),
            &strings(&[
                "operator",
                "--coordinator",
                url,
                "--data-dir",
                &path_str(&dir),
                "--wif-file",
                &path_str(&wif_file),
                "register",
                "--payout",
                &address,
                "--node",
                &format!("127.0.0.1:{}", node.port),
                "--node-credentials",
                &path_str(&resist_node::credentials::path(&layout.node_dir(n))),
            ]),
            REGISTRATION,
        )
        .await
        .with_context(|| format!("operator {n} could not register"))?;
        out.done(t, "registered, payout address proven by signing");
    }
    Ok(())
}

/// The probes: keys made here, enrolled with the admin token (unless they
/// are already), started asking for work every `poll` seconds.
async fn start_probes(
    layout: &Layout,
    args: &UpArgs,
    sup: &mut Supervisor,
    out: &mut Out,
    admin: &Client,
    url: &str,
    poll: u64,
) -> anyhow::Result<()> {
    let enrolled: Vec<ProbeView> = call(admin, "/api/admin/probes").await?;
    let check = (args.window.as_secs() / 3).clamp(2, 10);
    for (name, region, source) in PROBES {
        let t = out.step(&format!("probe {region} from {source}"));
        let dir = layout.probe_dir(name);
        let key_file = dir.join("probe-key");
        let (key, _) = ProbeKey::load_or_generate(&key_file)
            .with_context(|| format!("cannot create the probe key {}", key_file.display()))?;
        let enrolment = enrol_probe(layout, admin, url, &enrolled, &key, region).await?;
        let command = ProbeCommand {
            coordinator: Some(url.to_owned()),
            region: Some(region.to_owned()),
            source: Some(source.into()),
            data_dir: Some(dir),
            poll_interval: Some(poll),
            check_timeout: Some(check),
            max_backoff: Some(5),
            danger_allow_private_nodes: true,
            ..ProbeCommand::default()
        };
        let mark = sup.spawn(&format!("probe-{name}"), Tier::Probe, &command.args())?;
        sup.wait_for_line(&mark, "probing for", PROBE_START)
            .await
            .with_context(|| format!("the {region} probe did not start"))?;
        out.done(t, &format!("{enrolment}, running"));
    }
    Ok(())
}

/// Enrols the probe with `key` unless it is among `enrolled`; says which.
async fn enrol_probe(
    layout: &Layout,
    admin: &Client,
    url: &str,
    enrolled: &[ProbeView],
    key: &ProbeKey,
    region: &str,
) -> anyhow::Result<String> {
    let public_key = key.public_key_hex();
    Ok(match enrolled.iter().find(|p| p.public_key == public_key) {
        Some(p) if !p.enabled => format!(
            "enrolled as probe {} but disabled (enable it: resist admin --coordinator {url} --admin-token-file {} probe enable {})",
            p.id,
            layout.admin_token().display(),
            p.id
        ),
        Some(p) => format!("enrolled as probe {}", p.id),
        None => {
            let p: ProbeView = tokio::time::timeout(
                API_CALL,
                admin.post(
                    "/api/admin/probes",
                    Some(&EnrolProbeRequest {
                        public_key: public_key.clone(),
                        region: region.to_owned(),
                    }),
                ),
            )
            .await
            .map_err(|_| anyhow!("the coordinator did not answer within {API_CALL:?}"))?
            .context("cannot enrol the probe")?;
            format!("enrolled now as probe {}", p.id)
        }
    })
}

/// What to do with the running network: its pages, links and commands.
fn print_ready(layout: &Layout, out: &mut Out, url: &str, nodes: &[NodeInfo]) {
    let ready = out.started.elapsed().as_secs_f64();
    out.line(&format!("\nready in {ready:.1}s\n"));
    out.line(&format!(
        "dashboard:  {url}/  (log in with the token in {})",
        layout.admin_token().display()
    ));
    out.line(&format!(
        "users:      {url}/proxies  (the page censored users open)"
    ));
    out.line(&format!(
        "grants:     {url}/epochs  (resist grants close --coordinator {url} …)"
    ));
    out.line(&format!(
        "status:     resist coordinator status --coordinator {url} --admin-token-file {}",
        layout.admin_token().display()
    ));
    out.line("share links (each node's own; users would get them from the distributor):");
    for (i, node) in nodes.iter().enumerate() {
        let links =
            resist_node::share::links("127.0.0.1", node.port, Some((&node.user, &node.password)));
        out.line(&format!("  node {}  {}", i + 1, links.tg));
        out.line(&format!("          {}", links.tme));
    }
    if let Some(node) = nodes.first() {
        out.line(&format!(
            "try it:     curl --socks5-hostname {}:{}@127.0.0.1:{} {url}/api/info",
            node.user, node.password, node.port
        ));
    }
    out.line(&format!(
        "logs:       {}/{{coordinator,node-1,node-2,probe-censored,probe-free}}.log",
        layout.logs().display()
    ));
    out.line("stop:       Ctrl-C (everything is kept; `resist up` again continues)\n");
}

/// What `GET /api/proxies` answers (the distributor), where it exists.
#[derive(Debug, Deserialize)]
struct ProxyList {
    proxies: Vec<Proxy>,
}

#[derive(Debug, Deserialize)]
struct Proxy {
    tg: String,
}

/// Whether the distributor's links were shown, or cannot be.
#[derive(Debug, PartialEq, Eq)]
enum Distributor {
    /// Not asked yet, or it had no OK node to hand out.
    Ask,
    /// Shown, or this coordinator has no distributor: do not ask again.
    Settled,
}

async fn supervise(
    net: &Net,
    sup: &mut Supervisor,
    out: &mut Out,
    signals: &mut Signals,
) -> Ending {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut distributor = Distributor::Ask;
    let now = || resist_clock::Clock::now(&resist_clock::SystemClock).seconds();
    let clock = |now: i64| status::Clock {
        now,
        window_secs: net.window_secs,
        settle: net.settle,
        first: now.div_euclid(net.window_secs.max(1)),
    };
    let first = clock(now()).first;
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            s = signals.recv() => return Ending::Signal(s),
            _ = tick.tick() => {}
        }
        if let Err(e) = sup.check() {
            return Ending::Failed(e);
        }
        n += 1;
        if n % 4 != 1 {
            continue;
        }
        let polled = tokio::select! {
            s = signals.recv() => return Ending::Signal(s),
            p = poll_status(&net.admin) => p,
        };
        match polled {
            Ok((nodes, probes)) => {
                let any_ok = nodes
                    .iter()
                    .any(|n| n.latest.as_ref().is_some_and(|w| w.status == Status::Ok));
                let line = status::render(
                    &nodes,
                    probes,
                    status::Clock {
                        first,
                        ..clock(now())
                    },
                );
                out.status(line.complete, &line.live);
                if any_ok && distributor == Distributor::Ask {
                    distributor = show_distributed(net, out).await;
                }
            }
            Err(e) => out.status(format!("status unavailable: {e:#}"), ""),
        }
    }
}

async fn poll_status(admin: &Client) -> anyhow::Result<(Vec<NodeStatusView>, usize)> {
    let nodes: Vec<NodeStatusView> = call(admin, "/api/admin/status?windows=3").await?;
    let probes: Vec<ProbeView> = call(admin, "/api/admin/probes").await?;
    Ok((nodes, probes.iter().filter(|p| p.enabled).count()))
}

/// Shows what the distributor hands users, once it hands out anything.
async fn show_distributed(net: &Net, out: &mut Out) -> Distributor {
    match call::<ProxyList>(&net.public, "/api/proxies").await {
        Ok(list) if list.proxies.is_empty() => Distributor::Ask,
        Ok(list) => {
            out.line(&format!(
                "the distributor now hands out ({}/api/proxies):",
                net.url
            ));
            for p in list.proxies {
                out.line(&format!("  {}", p.tg));
            }
            Distributor::Settled
        }
        // No distributor in this coordinator (404), or it refuses this caller.
        Err(_) => Distributor::Settled,
    }
}

/// `GET path`, bounded.
async fn call<T: serde::de::DeserializeOwned>(client: &Client, path: &str) -> anyhow::Result<T> {
    let answer: Result<T, ClientError> = tokio::time::timeout(API_CALL, client.get(path))
        .await
        .map_err(|_| anyhow!("the coordinator did not answer {path} within {API_CALL:?}"))?;
    Ok(answer?)
}

/// The operator's regtest key, generated on first use and kept 0600, and its address.
fn payout_key(dir: &Path) -> anyhow::Result<(PathBuf, String)> {
    let file = dir.join("payout.wif");
    let wif = match std::fs::read_to_string(&file) {
        Ok(w) => w.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let wif = resist_ownership::generate_test_wif(NETWORK).map_err(|e| anyhow!("{e}"))?;
            resist_node::credentials::write_private(&file, &format!("{wif}\n"))
                .with_context(|| format!("cannot write {}", file.display()))?;
            wif
        }
        Err(e) => return Err(anyhow!(e).context(format!("cannot read {}", file.display()))),
    };
    let address = resist_ownership::address_for_test_wif(&wif, AddressKind::P2wpkh, NETWORK)
        .map_err(|e| {
            anyhow!(
                "{}: {e}; delete it to have a new key generated",
                file.display()
            )
        })?;
    Ok((file, address.as_str().to_owned()))
}

/// The coordinator's configuration for this network.
fn write_coordinator_config(
    layout: &Layout,
    port: u16,
    canary: u16,
    window: Duration,
) -> anyhow::Result<()> {
    let mut measurement = toml::Table::new();
    measurement.insert("window".into(), format!("{}s", window.as_secs()).into());
    measurement.insert("canary_listen".into(), format!("127.0.0.1:{canary}").into());
    let mut limits = toml::Table::new();
    // Two probes, `resist up` and the user share 127.0.0.1 as client address.
    limits.insert("requests_per_minute".into(), 6000.into());
    limits.insert("burst".into(), 1000.into());
    let mut t = toml::Table::new();
    t.insert("listen".into(), format!("127.0.0.1:{port}").into());
    t.insert("data_dir".into(), path_value(&layout.coordinator_dir()));
    t.insert("network".into(), NETWORK.as_str().into());
    t.insert("danger_allow_private_endpoints".into(), true.into());
    t.insert("limits".into(), limits.into());
    t.insert("measurement".into(), measurement.into());
    write_config(
        &layout.coordinator_config(),
        "# Written by `resist up` on every start (local demonstration network): edits are lost.\n\
         # danger_allow_private_endpoints: the nodes of this network listen on loopback.\n",
        &t,
    )
}

/// Node `n`'s configuration for this network.
fn write_node_config(layout: &Layout, n: usize, port: u16) -> anyhow::Result<()> {
    let mut policy = toml::Table::new();
    policy.insert(
        "allow_destinations".into(),
        toml::Value::Array(vec!["127.0.0.0/8".into()]),
    );
    let mut limits = toml::Table::new();
    limits.insert("drain_timeout".into(), "2s".into());
    let mut t = toml::Table::new();
    t.insert(
        "listen".into(),
        toml::Value::Array(vec![format!("127.0.0.1:{port}").into()]),
    );
    t.insert("data_dir".into(), path_value(&layout.node_dir(n)));
    t.insert("policy".into(), policy.into());
    t.insert("limits".into(), limits.into());
    write_config(
        &layout.node_config(n),
        "# Written by `resist up` on every start (local demonstration network): edits are lost.\n\
         # Loopback destinations are allowed because the coordinator's canary listens there; the\n\
         # node listens on loopback only, so only programs on this machine can use it.\n",
        &t,
    )
}

fn write_config(path: &Path, header: &str, table: &toml::Table) -> anyhow::Result<()> {
    let text = format!(
        "{header}{}",
        toml::to_string(table).context("cannot encode a configuration")?
    );
    resist_node::credentials::write_private(path, &text)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Said when a second signal arrives while stopping.
fn out_hurry(signal: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\n{signal} again: killing what is still running");
}

fn ports_summary(p: &state::Ports) -> String {
    let nodes: Vec<String> = p.nodes.iter().map(ToString::to_string).collect();
    format!(
        "coordinator {}, canary {}, nodes {}",
        p.coordinator,
        p.canary,
        nodes.join(" and ")
    )
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

fn strings(items: &[&str]) -> Vec<OsString> {
    items.iter().map(OsString::from).collect()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn window_limits() {
        assert_eq!(parse_window("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_window("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(parse_window("1s").unwrap_err().contains("2s to 1h"));
        assert!(parse_window("2h").unwrap_err().contains("2s to 1h"));
        assert!(
            parse_window("2500ms")
                .unwrap_err()
                .contains("whole seconds")
        );
        assert!(parse_window("soon").is_err());
    }
}
