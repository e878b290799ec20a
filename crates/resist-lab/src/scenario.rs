//! The four scenarios. Each acts on a started [`World`] as the censor and the
//! user would, prints a timeline, and ends in checks over what it observed
//! (the rules are in `verdict`, the numbers in `censor::collateral`).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use ipnet::Ipv4Net;
use resist_proto::api::NodeStatusView;
use serde::Deserialize;

use crate::censor::{self, BlockKind};
use crate::error::LabError;
use crate::plan::{NodeSpec, Ns};
use crate::verdict::{self, Check};
use crate::world::{Proxy, World};

/// A scenario of the lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// The messenger is banned; the user reaches it only through a node.
    Ban,
    /// The censor learns proxies from the distributor and blocks them.
    WhackAMole,
    /// The censor blocks a whole cloud subnet; collateral damage is counted.
    Subnet,
    /// The censor drops SOCKS5 greetings (DPI).
    Dpi,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 4] = [
        Scenario::Ban,
        Scenario::WhackAMole,
        Scenario::Subnet,
        Scenario::Dpi,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Ban => "ban",
            Scenario::WhackAMole => "whack-a-mole",
            Scenario::Subnet => "subnet",
            Scenario::Dpi => "dpi",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| format!("unknown scenario {s:?}: ban, whack-a-mole, subnet or dpi"))
    }
}

/// What a scenario found.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// The assertions and how they came out.
    pub checks: Vec<Check>,
    /// Plain-language findings and numbers, printed under the checks.
    pub findings: Vec<String>,
}

impl Outcome {
    fn check(&mut self, what: impl Into<String>, passed: bool, detail: impl Into<String>) {
        self.checks.push(Check::new(what, passed, detail));
    }
}

/// Runs `scenario` on a started world.
pub async fn run(scenario: Scenario, world: &mut World) -> Result<Outcome, LabError> {
    let mut out = Outcome::default();
    match scenario {
        Scenario::Ban => ban(world, &mut out).await?,
        Scenario::WhackAMole => whack_a_mole(world, &mut out).await?,
        Scenario::Subnet => subnet(world, &mut out).await?,
        Scenario::Dpi => dpi(world, &mut out).await?,
    }
    Ok(out)
}

/// How long to wait for a classification `windows` windows away (plus the
/// time probes take to test and deliver).
fn windows(world: &World, windows: u32) -> Duration {
    world.window() * windows + Duration::from_secs(8)
}

fn node_names(nodes: &[&NodeSpec]) -> String {
    nodes.iter().map(|n| n.name).collect::<Vec<_>>().join(", ")
}

/// Waits until every node has an OK window at or after `from`.
async fn all_ok_since(
    world: &mut World,
    from: i64,
    out: &mut Outcome,
    what: &str,
) -> Result<Vec<NodeStatusView>, LabError> {
    let nodes = world.plan.nodes.clone();
    let (views, done) = world
        .wait_status(windows(world, 4), |v| {
            nodes
                .iter()
                .all(|n| verdict::first_with(&World::windows(v, n), "ok", from).is_some())
        })
        .await?;
    let missing: Vec<&str> = nodes
        .iter()
        .filter(|n| verdict::first_with(&World::windows(&views, n), "ok", from).is_none())
        .map(|n| n.name)
        .collect();
    out.check(
        what,
        done,
        if done {
            format!("every node OK in a window from {from} on")
        } else {
            format!("no OK window from {from} on for {}", missing.join(", "))
        },
    );
    if done {
        world
            .timeline
            .event("coordinator", format!("every node measured OK ({what})"));
    }
    Ok(views)
}

/// Waits until each of `blocked` is BLOCKED within two windows of `since`,
/// and each of `ok` has an OK window after `since`; records the checks and
/// the time to BLOCKED.
async fn expect_classification(
    world: &mut World,
    out: &mut Outcome,
    since: i64,
    blocked: &[&NodeSpec],
    ok: &[&NodeSpec],
) -> Result<(), LabError> {
    let blocked_owned: Vec<NodeSpec> = blocked.iter().map(|n| (*n).clone()).collect();
    let ok_owned: Vec<NodeSpec> = ok.iter().map(|n| (*n).clone()).collect();
    let done = |v: &[NodeStatusView]| {
        blocked_owned
            .iter()
            .all(|n| verdict::first_with(&World::windows(v, n), "blocked", since).is_some())
            && ok_owned
                .iter()
                .all(|n| verdict::first_with(&World::windows(v, n), "ok", since + 1).is_some())
    };
    let (views, _) = world.wait_status(windows(world, 4), done).await?;
    let len = world.window().as_secs_f64();
    for n in blocked {
        let w = World::windows(&views, n);
        let first = verdict::first_with(&w, "blocked", since);
        let within = verdict::reached_within(&w, "blocked", since, 2);
        out.check(
            format!("probes classify {} BLOCKED within two windows", n.name),
            within.is_some(),
            match first {
                Some(b) => format!(
                    "blocked in window {since}, BLOCKED in window {b} (+{}, ≈{:.0}s)",
                    b - since,
                    (b - since) as f64 * len
                ),
                None => format!("never BLOCKED; windows {w:?}"),
            },
        );
        if let Some(b) = first {
            world.timeline.event(
                "coordinator",
                format!(
                    "{} BLOCKED in window {b} ({} after the block)",
                    n.name,
                    b - since
                ),
            );
        }
    }
    for n in ok {
        let w = World::windows(&views, n);
        let later = verdict::first_with(&w, "ok", since + 1);
        out.check(
            format!(
                "{} keeps serving the censored region (OK after the block)",
                n.name
            ),
            later.is_some(),
            match later {
                Some(x) => format!("OK in window {x}"),
                None => format!("windows {w:?}"),
            },
        );
    }
    Ok(())
}

/// The user fetches the messenger through `node`, logs it, returns success.
async fn user_via(world: &mut World, node: &NodeSpec) -> Result<bool, LabError> {
    let proxy = world.proxy(node);
    via_proxy(world, node.name, &proxy).await
}

async fn via_proxy(world: &mut World, name: &str, proxy: &Proxy) -> Result<bool, LabError> {
    let m = world.plan.messenger().clone();
    let f = world.fetch(Ns::User, m.name, m.addr, Some(proxy)).await?;
    world.timeline.event(
        "user",
        if f.ok {
            format!(
                "reaches the messenger through {name} ({}) in {:.2}s",
                proxy.addr,
                f.took.as_secs_f64()
            )
        } else {
            format!(
                "cannot reach the messenger through {name} ({}): {}",
                proxy.addr, f.error
            )
        },
    );
    Ok(f.ok)
}

/// Someone in `ns` fetches a service directly, logs it, returns success.
async fn direct(world: &mut World, ns: Ns, service: usize) -> Result<bool, LabError> {
    let s = world.plan.services[service].clone();
    let f = world.fetch(ns, s.name, s.addr, None).await?;
    world.timeline.event(
        ns.short(),
        if f.ok {
            format!("reaches the {} at {} directly", s.name, s.addr)
        } else {
            format!(
                "cannot reach the {} at {} directly: {}",
                s.name, s.addr, f.error
            )
        },
    );
    Ok(f.ok)
}

/// The ban: the censor blocks the messenger's range.
async fn ban_messenger(world: &mut World) -> Result<i64, LabError> {
    let range = world.plan.messenger_range;
    world.block(BlockKind::Messenger, range).await?;
    let w = world.window_now();
    world.timeline.event(
        "censor",
        format!("bans the messenger: drops everything to {range} (window {w})"),
    );
    Ok(w)
}

async fn ban(world: &mut World, out: &mut Outcome) -> Result<(), LabError> {
    let before = direct(world, Ns::User, 0).await?;
    out.check(
        "before the ban the user reaches the messenger directly",
        before,
        "",
    );
    let banned = ban_messenger(world).await?;
    let after = direct(world, Ns::User, 0).await?;
    out.check(
        "after the ban the user cannot reach it directly",
        !after,
        "",
    );
    let free = direct(world, Ns::ProbeFree, 0).await?;
    out.check(
        "outside the censored network the messenger still answers",
        free,
        "",
    );
    let nodes = world.plan.nodes.clone();
    let mut through = 0;
    for n in &nodes {
        through += usize::from(user_via(world, n).await?);
    }
    out.check(
        "the user reaches the messenger through every node",
        through == nodes.len(),
        format!("{through} of {} nodes", nodes.len()),
    );
    all_ok_since(
        world,
        banned + 1,
        out,
        "every node is measured OK while the ban holds",
    )
    .await?;
    let dropped = world
        .counter(censor::TABLE, BlockKind::Messenger.set())
        .await?;
    out.check(
        "the censor's messenger rule dropped the user's packets",
        dropped > 0,
        format!("{dropped} packets"),
    );
    out.findings.push(format!(
        "The ban cut the messenger off; {through} of {} proxy nodes carried the user around it, and the probes saw it: every node OK while banned. The censor's rule dropped {dropped} packets.",
        nodes.len()
    ));
    Ok(())
}

async fn subnet(world: &mut World, out: &mut Outcome) -> Result<(), LabError> {
    ban_messenger(world).await?;
    let a1 = world.plan.nodes[0].clone();
    let b1 = world.plan.nodes[2].clone();
    out.check(
        "through node-a1 before the subnet block",
        user_via(world, &a1).await?,
        "",
    );
    let bank = direct(world, Ns::User, 1).await?;
    let shop = direct(world, Ns::User, 2).await?;
    out.check(
        "the user reaches the bank and the shop in cloud-a",
        bank && shop,
        "",
    );
    all_ok_since(
        world,
        world.window_now(),
        out,
        "every node OK before the subnet block",
    )
    .await?;

    let cloud = world.plan.cloud_a;
    world.timeline.event(
        "censor",
        format!(
            "learned node-a1 at {}; escalates to its whole cloud subnet",
            a1.addr.ip()
        ),
    );
    world.block(BlockKind::Subnet, cloud).await?;
    let since = world.window_now();
    world.timeline.event(
        "censor",
        format!("blocks cloud-a's subnet {cloud} (window {since})"),
    );

    let bank = direct(world, Ns::User, 1).await?;
    let shop = direct(world, Ns::User, 2).await?;
    out.check(
        "collateral damage is real: the bank and the shop are cut off",
        !bank && !shop,
        format!("bank {}, shop {}", reach(bank), reach(shop)),
    );
    out.check(
        "node-a1 is cut off with its subnet",
        !user_via(world, &a1).await?,
        "",
    );
    out.check(
        "node-b1 in cloud-b still carries the user",
        user_via(world, &b1).await?,
        "",
    );
    let in_a: Vec<NodeSpec> = world.plan.nodes_in(cloud).into_iter().cloned().collect();
    let in_b: Vec<NodeSpec> = world
        .plan
        .nodes_in(world.plan.cloud_b)
        .into_iter()
        .cloned()
        .collect();
    expect_classification(
        world,
        out,
        since,
        &in_a.iter().collect::<Vec<_>>(),
        &in_b.iter().collect::<Vec<_>>(),
    )
    .await?;

    let targets: Vec<Ipv4Addr> = world.plan.nodes.iter().map(|n| *n.addr.ip()).collect();
    let bystanders: Vec<Ipv4Addr> = world
        .plan
        .bystanders()
        .iter()
        .map(|s| *s.addr.ip())
        .collect();
    let c = censor::collateral(cloud, &targets, &bystanders);
    let dropped = world
        .counter(censor::TABLE, BlockKind::Subnet.set())
        .await?;
    out.check(
        "the collateral count names the bystanders",
        c.innocent_hosts == bystanders && c.targets == 2,
        format!("{} proxies, innocent {:?}", c.targets, c.innocent_hosts),
    );
    out.findings.push(format!(
        "Collateral damage of blocking {}: {} addresses blocked to get {} proxies, so {} innocent addresses ({} per proxy); of the lab's services, {} of {} innocent ones ({}) became unreachable from the censored network. The subnet rule dropped {dropped} packets.",
        c.net,
        c.addresses,
        c.targets,
        c.innocent_addresses,
        c.innocent_addresses / c.targets.max(1),
        c.innocent_hosts.len(),
        bystanders.len(),
        world
            .plan
            .bystanders()
            .iter()
            .map(|s| format!("{} {}", s.name, s.addr.ip()))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut cheaper = Vec::new();
    for n in &in_a {
        for len in [32u8, 24] {
            let net = Ipv4Net::new(*n.addr.ip(), len).unwrap_or_default().trunc();
            let k = censor::collateral(net, &targets, &bystanders);
            cheaper.push(format!(
                "{} as {net}: {} innocent addresses",
                n.name, k.innocent_addresses
            ));
        }
    }
    out.findings.push(format!(
        "For comparison, the same proxies blocked one by one: {}. Cloud-b's nodes went on serving the censored region.",
        cheaper.join("; ")
    ));
    Ok(())
}

fn reach(ok: bool) -> &'static str {
    if ok { "reachable" } else { "unreachable" }
}

async fn dpi(world: &mut World, out: &mut Outcome) -> Result<(), LabError> {
    ban_messenger(world).await?;
    let nodes = world.plan.nodes.clone();
    out.check(
        "through node-a1 before DPI",
        user_via(world, &nodes[0]).await?,
        "",
    );
    all_ok_since(world, world.window_now(), out, "every node OK before DPI").await?;
    // The control for the byte-level checks below: without DPI, the bank
    // answers a request that follows a greeting-shaped first segment.
    let bank_addr = world.plan.services[1].addr;
    let request: &[u8] = b"GET / HTTP/1.0\r\n\r\n";
    let control = world
        .raw_exchange(Ns::User, bank_addr, &[&[5, 1, 0], request])
        .await?;
    out.check(
        "without DPI the bank answers after a first segment 05 01 00 (the control)",
        control.contains(&crate::fixture::body("bank")),
        "",
    );
    world.nft(&censor::dpi_ruleset()).await?;
    let since = world.window_now();
    world.timeline.event(
        "censor",
        format!(
            "turns on DPI: drops every flow whose first payload is a SOCKS5 greeting (05 n + n methods), window {since}"
        ),
    );
    let mut through = 0;
    for n in &nodes {
        through += usize::from(user_via(world, n).await?);
    }
    out.check(
        "no node carries the user any more",
        through == 0,
        format!("{through} of {} still do", nodes.len()),
    );
    let bank = direct(world, Ns::User, 1).await?;
    out.check(
        "DPI leaves other traffic alone: the user still reaches the bank",
        bank,
        "",
    );
    // What exactly the rule matches, shown on a plain web server (the bank):
    // a first segment that is exactly a greeting kills the flow; one that
    // merely starts like one is somebody's data and passes.
    let greeting_first = world
        .raw_exchange(Ns::User, bank_addr, &[&[5, 1, 0], request])
        .await?;
    let mut longer = vec![5u8, 1, 0, 1];
    longer.extend_from_slice(request);
    let longer_first = world.raw_exchange(Ns::User, bank_addr, &[&longer]).await?;
    let answered = |s: &str| s.contains(&crate::fixture::body("bank"));
    world.timeline.event(
        "user",
        format!(
            "to the bank: first segment 05 01 00 (a greeting) → {}; first segment 05 01 00 01 + HTTP (not a greeting: longer than 2+n) → {}",
            if answered(&greeting_first) { "answered" } else { "flow dropped" },
            if answered(&longer_first) { "answered" } else { "flow dropped" },
        ),
    );
    out.check(
        "DPI drops a flow whose first segment is exactly a SOCKS5 greeting, whatever the server",
        !answered(&greeting_first),
        "05 01 00, then an HTTP request, to the bank",
    );
    out.check(
        "DPI lets through a first segment that only starts like a greeting",
        answered(&longer_first),
        "05 01 00 01 and an HTTP request in one segment, to the bank",
    );
    expect_classification(world, out, since, &nodes.iter().collect::<Vec<_>>(), &[]).await?;
    let greetings = world
        .counter(censor::DPI_TABLE, censor::DPI_GREETINGS)
        .await?;
    let later = world
        .counter(censor::DPI_TABLE, censor::DPI_FLOW_PACKETS)
        .await?;
    out.check(
        "the DPI rule recognised SOCKS5 greetings",
        greetings > 0,
        format!("{greetings} greetings dropped, {later} later packets of those flows"),
    );
    let addresses = nodes
        .iter()
        .map(|n| n.addr.ip().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    out.findings.push(format!(
        "DPI blocked every SOCKS5 node ({n} of {n}: {addresses}) without learning a single address, in two clouds and four /24s: address diversity does not help against it. SOCKS5 announces itself in its first bytes ({greetings} greetings dropped). What survives DPI is a transport whose first bytes look like nothing in particular: the case for an obfuscated transport (Shadowsocks AEAD, MTProto fake-TLS).",
        n = nodes.len()
    ));
    Ok(())
}

/// The distributor's answer (`GET /api/proxies`); other fields are ignored.
#[derive(Debug, Deserialize)]
struct Proxies {
    proxies: Vec<ProxyEntry>,
}

#[derive(Debug, Deserialize)]
struct ProxyEntry {
    host: String,
    port: u16,
    username: String,
    password: String,
}

/// Asks the distributor from `ns` and returns the proxies it hands out.
async fn ask_distributor(world: &mut World, ns: Ns, who: &str) -> Result<Vec<Proxy>, LabError> {
    let (code, body) = world.http_get(ns, "/api/proxies", false).await?;
    if code == 404 {
        return Err(LabError::answer(
            "GET /api/proxies",
            "this coordinator has no distributor (404). whack-a-mole needs the distributor (`GET /api/proxies`); build a resist that has it",
        ));
    }
    if code != 200 {
        return Err(LabError::answer(
            "GET /api/proxies",
            format!(
                "HTTP {code}: {}",
                body.chars().take(300).collect::<String>()
            ),
        ));
    }
    let p: Proxies = serde_json::from_str(&body).map_err(|e| {
        LabError::answer(
            "GET /api/proxies",
            format!("not the distributor's JSON: {e}"),
        )
    })?;
    let mut proxies = Vec::new();
    for e in p.proxies {
        let ip: Ipv4Addr = e.host.parse().map_err(|_| {
            LabError::answer(
                "GET /api/proxies",
                format!("host {:?} is not a lab address", e.host),
            )
        })?;
        proxies.push(Proxy {
            addr: std::net::SocketAddrV4::new(ip, e.port),
            username: e.username,
            password: e.password,
        });
    }
    world.timeline.event(
        who,
        format!(
            "asks the distributor and learns {}",
            proxies
                .iter()
                .map(|p| p.addr.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    Ok(proxies)
}

async fn whack_a_mole(world: &mut World, out: &mut Outcome) -> Result<(), LabError> {
    let start = world.window_now();
    ban_messenger(world).await?;
    all_ok_since(
        world,
        start,
        out,
        "every node OK before the censor's agent asks",
    )
    .await?;
    let learned = ask_distributor(world, Ns::Censor, "censor agent").await?;
    let targets: Vec<NodeSpec> = learned
        .iter()
        .filter_map(|p| world.plan.node_at(*p.addr.ip()).cloned())
        .collect();
    out.check(
        "the censor's agent learns only part of the pool",
        !targets.is_empty() && targets.len() < world.plan.nodes.len(),
        format!("{} of {} nodes", targets.len(), world.plan.nodes.len()),
    );
    let delay = world.window();
    world.timeline.event(
        "censor",
        format!("waits {delay:?} between learning and blocking"),
    );
    tokio::time::sleep(delay).await;
    for n in &targets {
        world
            .block(BlockKind::Proxy, Ipv4Net::from(*n.addr.ip()))
            .await?;
    }
    let since = world.window_now();
    world.timeline.event(
        "censor",
        format!(
            "blocks {} (window {since})",
            node_names(&targets.iter().collect::<Vec<_>>())
        ),
    );
    let spared: Vec<NodeSpec> = world
        .plan
        .nodes
        .iter()
        .filter(|n| !targets.contains(n))
        .cloned()
        .collect();
    expect_classification(
        world,
        out,
        since,
        &targets.iter().collect::<Vec<_>>(),
        &spared.iter().collect::<Vec<_>>(),
    )
    .await?;
    let mine = ask_distributor(world, Ns::User, "user").await?;
    let mut working = 0;
    for p in &mine {
        let name = world
            .plan
            .node_at(*p.addr.ip())
            .map_or("a node", |n| n.name);
        working += usize::from(via_proxy(world, name, p).await?);
    }
    out.check(
        "the user's bucket keeps a working node",
        working > 0,
        format!("{working} of {} handed out work", mine.len()),
    );
    let stale: Vec<String> = mine
        .iter()
        .filter(|p| targets.iter().any(|t| t.addr == p.addr))
        .map(|p| p.addr.to_string())
        .collect();
    if !stale.is_empty() {
        out.findings.push(format!(
            "The distributor still handed the user blocked nodes after they were measured BLOCKED: {}",
            stale.join(", ")
        ));
    }

    // The grant preview over the whole windows so far, once the first
    // BLOCKED window has closed (so the range holds windows after the block).
    let views = world.status().await?;
    let closed_after = targets
        .iter()
        .filter_map(|n| verdict::first_with(&World::windows(&views, n), "blocked", since))
        .max()
        .unwrap_or(since + 1);
    let deadline = tokio::time::Instant::now() + windows(world, 2);
    while world.window_now() <= closed_after && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let last = world.window_now() - 1;
    let report = world.preview(100_000, start, last).await?;
    let views = world.status().await?;
    world.timeline.event(
        "funder",
        format!(
            "previews grants over windows {start}..={last}: {} sat paid",
            report.result.paid_total_sat
        ),
    );
    let mut rows = Vec::new();
    for n in &world.plan.nodes {
        let Some(id) = World::node_id(&views, n) else {
            continue;
        };
        let blocked = targets.contains(n).then_some(since);
        rows.push(verdict::Measured {
            id,
            name: n.name.to_owned(),
            windows: World::windows(&views, n),
            blocked_from: blocked,
        });
    }
    let checks = verdict::preview_pays_only_ok_windows(&report, &rows, start, last);
    out.checks.extend(checks);
    let paid: Vec<String> = report
        .inputs
        .nodes
        .iter()
        .map(|n| {
            let name = rows
                .iter()
                .find(|r| r.id == n.node)
                .map_or("?", |r| r.name.as_str());
            format!("{name} {} OK windows", n.ok_windows)
        })
        .collect();
    out.findings.push(format!(
        "The censor learned {} of {} nodes from one bucket and blocked them; the user's bucket kept {working} working. The grant preview over windows {start}..={last} pays {} sat for OK windows only: {} ({} sat stay in the treasury: the per-operator cap, with two operators).",
        targets.len(),
        world.plan.nodes.len(),
        report.result.paid_total_sat,
        paid.join(", "),
        report.result.remainder_sat
    ));
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(s.name().parse::<Scenario>().unwrap(), s);
        }
        assert!("whackamole".parse::<Scenario>().is_err());
    }
}
