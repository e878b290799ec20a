//! The lab's address plan: which namespaces exist, how veth links join them,
//! which addresses live where and which routes the two routers carry. Pure
//! data, so it can be checked without root and every other module reads the
//! same numbers.
//!
//! ```text
//!   user 10.1.0.10 ─┐                     ┌─ probe-free 10.50.0.10     (free:DE)
//!                   ├─ censor ── core ────┼─ cloud-a 10.64.{1,2}.10 nodes, 10.64.{3,4}.x bank, shop
//!   probe-censored ─┘  (nft)     (router) ├─ cloud-b 10.96.{1,2}.10 nodes
//!   10.2.0.10 (censored:RU)               ├─ messenger 10.149.154.167 (stand-in for Telegram's DCs)
//!                                         └─ coordinator 10.200.0.10 (API :8740, canary :8741)
//! ```
//!
//! Why 10.0.0.0/8: the addresses must never be anyone else's, and no route
//! leaves the namespaces anyway. resist refuses private addresses by default,
//! so the lab grants the narrowest permissions that make the loop work, and
//! only to the processes it starts: each node may relay to the messenger's
//! range and the canary (`--allow-destination`, not the blanket
//! `danger_allow_private_destinations`), the coordinator accepts private node
//! endpoints (`--danger-allow-private-endpoints`) and the probes dial them
//! (`--danger-allow-private-nodes`). Each network the distributor must tell
//! apart (the user, the censor's agent) sits in its own IPv4 /16, the
//! distributor's requester key.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use ipnet::Ipv4Net;

/// Every network namespace of the lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ns {
    /// The backbone router: everything outside the censored network hangs off it.
    Core,
    /// The censor's router: the censored network's only way out; runs nftables.
    Censor,
    /// A censored user (curl as the SOCKS5 client).
    User,
    /// A probe inside the censored network (`censored:RU`).
    ProbeCensored,
    /// A probe outside it (`free:DE`).
    ProbeFree,
    /// A cloud provider with two nodes on different /24s and two innocent services.
    CloudA,
    /// A second cloud provider with two nodes.
    CloudB,
    /// The stand-in for the messenger's data centres (the one fixture).
    Messenger,
    /// The coordinator (API and canary).
    Coordinator,
}

impl Ns {
    /// Every namespace, routers first (they must exist before their links).
    pub const ALL: [Ns; 9] = [
        Ns::Core,
        Ns::Censor,
        Ns::User,
        Ns::ProbeCensored,
        Ns::ProbeFree,
        Ns::CloudA,
        Ns::CloudB,
        Ns::Messenger,
        Ns::Coordinator,
    ];

    /// The short name, used in namespace names and the timeline.
    pub fn short(self) -> &'static str {
        match self {
            Ns::Core => "core",
            Ns::Censor => "censor",
            Ns::User => "user",
            Ns::ProbeCensored => "probe-censored",
            Ns::ProbeFree => "probe-free",
            Ns::CloudA => "cloud-a",
            Ns::CloudB => "cloud-b",
            Ns::Messenger => "messenger",
            Ns::Coordinator => "coordinator",
        }
    }

    /// The interface name on the router's side of this namespace's link (at
    /// most 15 bytes, Linux's limit).
    fn router_if(self) -> &'static str {
        match self {
            Ns::Core => "to-core",
            Ns::Censor => "to-censor",
            Ns::User => "to-user",
            Ns::ProbeCensored => "to-pcensored",
            Ns::ProbeFree => "to-pfree",
            Ns::CloudA => "to-clouda",
            Ns::CloudB => "to-cloudb",
            Ns::Messenger => "to-messenger",
            Ns::Coordinator => "to-coord",
        }
    }
}

impl fmt::Display for Ns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short())
    }
}

/// The interface name on the leaf's side of its uplink.
pub const UPLINK_IF: &str = "uplink";

/// One veth link from a router to a namespace below it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The router end (core or censor).
    pub router: Ns,
    /// The other end.
    pub leaf: Ns,
    /// The link's /24: the router holds `.1`.
    pub net: Ipv4Net,
    /// The leaf's address on the link (its default route points at `.1`).
    pub leaf_addr: Ipv4Addr,
    /// More addresses the leaf holds (/32 on its uplink): nodes and services.
    pub extra: Vec<Ipv4Addr>,
    /// Prefixes the router sends to `leaf_addr` (beyond the link itself).
    pub routed: Vec<Ipv4Net>,
}

impl Link {
    /// The router's address on the link.
    pub fn router_addr(&self) -> Ipv4Addr {
        nth(self.net, 1)
    }

    /// The interface name on the router's side.
    pub fn router_if(&self) -> &'static str {
        self.leaf.router_if()
    }
}

/// The `n`th address of `net` (saturating at its broadcast address).
fn nth(net: Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(
        u32::from(net.network())
            .saturating_add(n)
            .min(u32::from(net.broadcast())),
    )
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

fn net(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    // The prefix lengths below are literals no larger than 32.
    Ipv4Net::new(v4(a, b, c, d), len).unwrap_or_default()
}

/// A proxy node of the lab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpec {
    /// Its name in the timeline and the logs.
    pub name: &'static str,
    /// The namespace it runs in.
    pub ns: Ns,
    /// Where it listens.
    pub addr: SocketAddrV4,
}

/// A TCP service of the lab: the messenger, or an innocent bystander in a cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Its name (it answers HTTP requests with it).
    pub name: &'static str,
    /// The namespace it runs in.
    pub ns: Ns,
    /// Where it listens.
    pub addr: SocketAddrV4,
}

/// The whole plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Namespace names start with this (`rl<pid>`), so parallel runs never
    /// collide and leftovers can be traced to a dead owner.
    pub prefix: String,
    /// Every link.
    pub links: Vec<Link>,
    /// The proxy nodes.
    pub nodes: Vec<NodeSpec>,
    /// The messenger (first) and the innocent services.
    pub services: Vec<ServiceSpec>,
    /// The coordinator's API address.
    pub coordinator: SocketAddrV4,
    /// The coordinator's canary.
    pub canary: SocketAddrV4,
    /// The messenger's address range, which the censor bans.
    pub messenger_range: Ipv4Net,
    /// Cloud A's subnet (the `subnet` scenario blocks it whole).
    pub cloud_a: Ipv4Net,
    /// Cloud B's subnet.
    pub cloud_b: Ipv4Net,
    /// The user's address.
    pub user: Ipv4Addr,
    /// The censored probe's address.
    pub probe_censored: Ipv4Addr,
    /// The free probe's address.
    pub probe_free: Ipv4Addr,
    /// The censor's own address, from which its agent asks the distributor.
    pub censor_agent: Ipv4Addr,
}

/// The port every lab node listens on.
pub const NODE_PORT: u16 = 1080;

impl Plan {
    /// The plan for a run whose namespaces start with `prefix`.
    pub fn new(prefix: &str) -> Plan {
        let cloud_a = net(10, 64, 0, 0, 16);
        let cloud_b = net(10, 96, 0, 0, 16);
        let messenger_range = net(10, 149, 0, 0, 16);
        let messenger = v4(10, 149, 154, 167);
        let links = vec![
            Link {
                router: Ns::Core,
                leaf: Ns::Censor,
                net: net(10, 0, 0, 0, 24),
                leaf_addr: v4(10, 0, 0, 2),
                extra: vec![],
                routed: vec![net(10, 1, 0, 0, 16), net(10, 2, 0, 0, 16)],
            },
            Link {
                router: Ns::Censor,
                leaf: Ns::User,
                net: net(10, 1, 0, 0, 24),
                leaf_addr: v4(10, 1, 0, 10),
                extra: vec![],
                routed: vec![],
            },
            Link {
                router: Ns::Censor,
                leaf: Ns::ProbeCensored,
                net: net(10, 2, 0, 0, 24),
                leaf_addr: v4(10, 2, 0, 10),
                extra: vec![],
                routed: vec![],
            },
            Link {
                router: Ns::Core,
                leaf: Ns::ProbeFree,
                net: net(10, 50, 0, 0, 24),
                leaf_addr: v4(10, 50, 0, 10),
                extra: vec![],
                routed: vec![],
            },
            Link {
                router: Ns::Core,
                leaf: Ns::CloudA,
                net: net(10, 64, 0, 0, 24),
                leaf_addr: v4(10, 64, 0, 2),
                extra: vec![
                    v4(10, 64, 1, 10),
                    v4(10, 64, 2, 10),
                    v4(10, 64, 3, 20),
                    v4(10, 64, 4, 30),
                ],
                routed: vec![cloud_a],
            },
            Link {
                router: Ns::Core,
                leaf: Ns::CloudB,
                net: net(10, 96, 0, 0, 24),
                leaf_addr: v4(10, 96, 0, 2),
                extra: vec![v4(10, 96, 1, 10), v4(10, 96, 2, 10)],
                routed: vec![cloud_b],
            },
            Link {
                router: Ns::Core,
                leaf: Ns::Messenger,
                net: net(10, 149, 0, 0, 24),
                leaf_addr: v4(10, 149, 0, 2),
                extra: vec![messenger],
                routed: vec![messenger_range],
            },
            Link {
                router: Ns::Core,
                leaf: Ns::Coordinator,
                net: net(10, 200, 0, 0, 24),
                leaf_addr: v4(10, 200, 0, 10),
                extra: vec![],
                routed: vec![],
            },
        ];
        let node = |name, ns, ip| NodeSpec {
            name,
            ns,
            addr: SocketAddrV4::new(ip, NODE_PORT),
        };
        let service = |name, ns, ip| ServiceSpec {
            name,
            ns,
            addr: SocketAddrV4::new(ip, 80),
        };
        Plan {
            prefix: prefix.to_owned(),
            links,
            nodes: vec![
                node("node-a1", Ns::CloudA, v4(10, 64, 1, 10)),
                node("node-a2", Ns::CloudA, v4(10, 64, 2, 10)),
                node("node-b1", Ns::CloudB, v4(10, 96, 1, 10)),
                node("node-b2", Ns::CloudB, v4(10, 96, 2, 10)),
            ],
            services: vec![
                service("messenger", Ns::Messenger, messenger),
                service("bank", Ns::CloudA, v4(10, 64, 3, 20)),
                service("shop", Ns::CloudA, v4(10, 64, 4, 30)),
            ],
            coordinator: SocketAddrV4::new(v4(10, 200, 0, 10), 8740),
            canary: SocketAddrV4::new(v4(10, 200, 0, 10), 8741),
            messenger_range,
            cloud_a,
            cloud_b,
            user: v4(10, 1, 0, 10),
            probe_censored: v4(10, 2, 0, 10),
            probe_free: v4(10, 50, 0, 10),
            censor_agent: v4(10, 0, 0, 2),
        }
    }

    /// The full name of a namespace of this run.
    pub fn ns_name(&self, ns: Ns) -> String {
        format!("{}-{}", self.prefix, ns.short())
    }

    /// The messenger service.
    pub fn messenger(&self) -> &ServiceSpec {
        &self.services[0]
    }

    /// The innocent services (everything but the messenger).
    pub fn bystanders(&self) -> &[ServiceSpec] {
        &self.services[1..]
    }

    /// The destinations every node must be allowed to reach: the messenger's
    /// range and the canary.
    pub fn node_destinations(&self) -> Vec<Ipv4Net> {
        vec![self.messenger_range, Ipv4Net::from(*self.canary.ip())]
    }

    /// The nodes whose address lies in `net`.
    pub fn nodes_in(&self, net: Ipv4Net) -> Vec<&NodeSpec> {
        self.nodes
            .iter()
            .filter(|n| net.contains(n.addr.ip()))
            .collect()
    }

    /// The node listening at `ip`, if any.
    pub fn node_at(&self, ip: Ipv4Addr) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| *n.addr.ip() == ip)
    }

    /// Every address a host of the lab holds (for collateral accounting).
    pub fn hosts(&self) -> Vec<Ipv4Addr> {
        let mut all: Vec<Ipv4Addr> = self
            .links
            .iter()
            .flat_map(|l| std::iter::once(l.leaf_addr).chain(l.extra.iter().copied()))
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// The namespace-name prefix of a run by process `pid`.
pub fn prefix_for(pid: u32) -> String {
    format!("rl{pid}")
}

/// The owner pid of a namespace named by [`prefix_for`], if `name` is one.
pub fn owner_of(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("rl")?;
    let (pid, ns) = rest.split_once('-')?;
    if ns.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Ns::ALL.iter().any(|n| n.short() == ns).then_some(())?;
    pid.parse().ok()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn every_leaf_has_one_uplink_and_routers_come_first() {
        let plan = Plan::new("rl1");
        for ns in Ns::ALL {
            let ups = plan.links.iter().filter(|l| l.leaf == ns).count();
            assert_eq!(ups, usize::from(ns != Ns::Core), "{ns}");
        }
        for l in &plan.links {
            assert!(matches!(l.router, Ns::Core | Ns::Censor));
            assert!(l.net.contains(&l.leaf_addr), "{l:?}");
            assert_ne!(l.leaf_addr, l.router_addr());
            assert!(l.router_if().len() <= 15);
        }
    }

    #[test]
    fn addresses_are_unique_and_private() {
        let plan = Plan::new("rl1");
        let hosts = plan.hosts();
        let mut routers: Vec<Ipv4Addr> = plan.links.iter().map(Link::router_addr).collect();
        routers.extend(hosts.iter().copied());
        let n = routers.len();
        routers.sort();
        routers.dedup();
        assert_eq!(routers.len(), n, "an address is used twice");
        let ten = net(10, 0, 0, 0, 8);
        assert!(routers.iter().all(|a| ten.contains(a)));
    }

    #[test]
    fn nodes_and_services_live_where_their_namespace_holds_the_address() {
        let plan = Plan::new("rl1");
        let held = |ns: Ns, ip: &Ipv4Addr| {
            plan.links
                .iter()
                .any(|l| l.leaf == ns && (l.leaf_addr == *ip || l.extra.contains(ip)))
        };
        for n in &plan.nodes {
            assert!(held(n.ns, n.addr.ip()), "{n:?}");
        }
        for s in &plan.services {
            assert!(held(s.ns, s.addr.ip()), "{s:?}");
        }
        assert!(held(Ns::Coordinator, plan.coordinator.ip()));
        assert!(held(Ns::User, &plan.user));
        assert!(plan.messenger_range.contains(plan.messenger().addr.ip()));
    }

    #[test]
    fn nodes_sit_on_distinct_slash_24s_and_the_distributor_keys_differ() {
        let plan = Plan::new("rl1");
        let mut nets: Vec<Ipv4Net> = plan
            .nodes
            .iter()
            .map(|n| Ipv4Net::new(*n.addr.ip(), 24).unwrap().trunc())
            .collect();
        nets.dedup();
        assert_eq!(nets.len(), plan.nodes.len());
        let slash16 = |a: Ipv4Addr| Ipv4Net::new(a, 16).unwrap().trunc();
        assert_ne!(slash16(plan.user), slash16(plan.censor_agent));
        assert_eq!(plan.nodes_in(plan.cloud_a).len(), 2);
        assert_eq!(plan.nodes_in(plan.cloud_b).len(), 2);
    }

    #[test]
    fn namespace_names_carry_the_owner() {
        let plan = Plan::new(&prefix_for(4242));
        let name = plan.ns_name(Ns::ProbeCensored);
        assert_eq!(name, "rl4242-probe-censored");
        assert_eq!(owner_of(&name), Some(4242));
        assert_eq!(owner_of("rl12-elsewhere"), None);
        assert_eq!(owner_of("rlx-user"), None);
        assert_eq!(owner_of("other-user"), None);
    }
}
