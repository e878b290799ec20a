//! Builds the plan's namespaces, veth links, addresses and routes with
//! iproute2, and tears them all down when dropped: on success, on error, on
//! panic, and when Ctrl-C cancels the run. Namespaces left by a run that was
//! killed outright (SIGKILL) carry its pid in their name and are removed by
//! the next run once that pid is gone.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::error::LabError;
use crate::plan::{Ns, Plan, UPLINK_IF};
use crate::sys;

/// Limit for one `ip` command.
const IP_TIMEOUT: Duration = Duration::from_secs(10);

/// The lab's namespaces, alive as long as this value.
#[derive(Debug)]
pub struct Topology {
    ip: PathBuf,
    plan: Plan,
    /// Namespaces created so far (deleted in reverse on drop).
    created: Vec<String>,
}

impl Topology {
    /// Creates every namespace and link of `plan`. On error, what was
    /// created is deleted again (by dropping the half-built value).
    pub async fn build(ip: &Path, plan: &Plan) -> Result<Topology, LabError> {
        let mut topo = Topology {
            ip: ip.to_owned(),
            plan: plan.clone(),
            created: Vec::new(),
        };
        for ns in Ns::ALL {
            let name = plan.ns_name(ns);
            topo.ip(&["netns", "add", &name]).await?;
            topo.created.push(name.clone());
            topo.ip(&["-n", &name, "link", "set", "lo", "up"]).await?;
        }
        for ns in [Ns::Core, Ns::Censor] {
            // Forwarding is per namespace; write it from inside the namespace.
            topo.exec(
                ns,
                &sys::args(["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]),
            )
            .await?;
        }
        for link in &plan.links {
            let router = plan.ns_name(link.router);
            let leaf = plan.ns_name(link.leaf);
            let prefix = link.net.prefix_len();
            topo.ip(&[
                "link",
                "add",
                link.router_if(),
                "netns",
                &router,
                "type",
                "veth",
                "peer",
                "name",
                UPLINK_IF,
                "netns",
                &leaf,
            ])
            .await?;
            let router_cidr = format!("{}/{prefix}", link.router_addr());
            let leaf_cidr = format!("{}/{prefix}", link.leaf_addr);
            topo.ip(&[
                "-n",
                &router,
                "addr",
                "add",
                &router_cidr,
                "dev",
                link.router_if(),
            ])
            .await?;
            topo.ip(&["-n", &leaf, "addr", "add", &leaf_cidr, "dev", UPLINK_IF])
                .await?;
            for extra in &link.extra {
                let cidr = format!("{extra}/32");
                topo.ip(&["-n", &leaf, "addr", "add", &cidr, "dev", UPLINK_IF])
                    .await?;
            }
            topo.ip(&["-n", &router, "link", "set", link.router_if(), "up"])
                .await?;
            topo.ip(&["-n", &leaf, "link", "set", UPLINK_IF, "up"])
                .await?;
            let gw = link.router_addr().to_string();
            topo.ip(&["-n", &leaf, "route", "add", "default", "via", &gw])
                .await?;
            for routed in &link.routed {
                let to = routed.to_string();
                let via = link.leaf_addr.to_string();
                topo.ip(&["-n", &router, "route", "add", &to, "via", &via])
                    .await?;
            }
        }
        Ok(topo)
    }

    async fn ip(&self, args: &[&str]) -> Result<String, LabError> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        sys::run(&self.ip, &args, None, IP_TIMEOUT).await
    }

    /// The arguments that run `command` inside `ns` (`ip netns exec NAME …`).
    pub fn exec_args(&self, ns: Ns, command: &[String]) -> Vec<String> {
        let mut a = sys::args(["netns", "exec"]);
        a.push(self.plan.ns_name(ns));
        a.extend(command.iter().cloned());
        a
    }

    /// Runs `command` inside `ns`; fails unless it exits 0.
    pub async fn exec(&self, ns: Ns, command: &[String]) -> Result<String, LabError> {
        sys::run(&self.ip, &self.exec_args(ns, command), None, IP_TIMEOUT).await
    }

    /// iproute2's `ip`.
    pub fn ip_path(&self) -> &Path {
        &self.ip
    }

    /// The plan this topology was built from.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Synchronous on purpose: drop may run while the runtime unwinds.
        for name in self.created.iter().rev() {
            let _ = Command::new(&self.ip)
                .args(["netns", "del", name])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Deletes namespaces named `rl<pid>-<lab namespace>` whose pid is no longer
/// running (left by a run that was killed outright), after killing the
/// processes that run had started in them. Returns the names deleted.
pub fn remove_stale(ip: &Path) -> Vec<String> {
    let Ok(out) = Command::new(ip)
        .args(["netns", "list"])
        .stderr(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(owner) = crate::plan::owner_of(name) else {
            continue;
        };
        if Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        // The dead run's children: identified by the namespace they are in.
        if let Ok(pids) = Command::new(ip).args(["netns", "pids", name]).output() {
            for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
                if pid.bytes().all(|b| b.is_ascii_digit()) {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
        }
        let deleted = Command::new(ip)
            .args(["netns", "del", name])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if deleted {
            removed.push(name.to_owned());
        }
    }
    removed
}
