//! The command lines that start `resist`'s long-running roles, written once:
//! each role's flags as typed fields, turned into the argument list
//! (subcommand first) by `args()`. `resist up`, the lab, the tests and the
//! benchmark fill in the fields they need; a flag renamed in the CLI is
//! renamed here, once.

use std::ffi::{OsStr, OsString};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// `PROGRAM` (the `resist` binary, or a wrapper such as `ip netns exec` that
/// execs it) with standard input closed and no `RESIST_*` variable of the
/// caller's environment: the child runs with exactly the configuration its
/// command line and its caller's explicit `env` give it.
pub fn resist_command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RESIST_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// `resist coordinator …`.
#[derive(Debug, Clone, Default)]
pub struct CoordinatorCommand {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--listen ADDR:PORT`.
    pub listen: Option<SocketAddr>,
    /// `--canary-listen ADDR:PORT`.
    pub canary_listen: Option<SocketAddr>,
    /// `--data-dir DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--admin-token-file FILE`.
    pub admin_token_file: Option<PathBuf>,
    /// `--network NAME`.
    pub network: Option<String>,
    /// `--danger-allow-private-endpoints`.
    pub danger_allow_private_endpoints: bool,
    /// `--log-level LEVEL`.
    pub log_level: Option<String>,
}

impl CoordinatorCommand {
    /// The arguments, `coordinator` first.
    pub fn args(&self) -> Vec<OsString> {
        let mut a = Args::new("coordinator");
        a.value("--config", self.config.as_ref());
        a.value("--listen", self.listen.map(|l| l.to_string()));
        a.value("--canary-listen", self.canary_listen.map(|l| l.to_string()));
        a.value("--data-dir", self.data_dir.as_ref());
        a.value("--admin-token-file", self.admin_token_file.as_ref());
        a.value("--network", self.network.as_ref());
        a.switch(
            "--danger-allow-private-endpoints",
            self.danger_allow_private_endpoints,
        );
        a.value("--log-level", self.log_level.as_ref());
        a.0
    }
}

/// `resist node …`.
#[derive(Debug, Clone, Default)]
pub struct NodeCommand {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--listen ADDR:PORT`, once each.
    pub listen: Vec<SocketAddr>,
    /// `--user NAME:PASSWORD`, once each.
    pub users: Vec<String>,
    /// `--no-auth`.
    pub no_auth: bool,
    /// `--allow-destination CIDR`, once each.
    pub allow_destinations: Vec<String>,
    /// `--data-dir DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--log-level LEVEL`.
    pub log_level: Option<String>,
}

impl NodeCommand {
    /// The arguments, `node` first.
    pub fn args(&self) -> Vec<OsString> {
        let mut a = Args::new("node");
        a.value("--config", self.config.as_ref());
        for l in &self.listen {
            a.value("--listen", Some(l.to_string()));
        }
        for u in &self.users {
            a.value("--user", Some(u));
        }
        a.switch("--no-auth", self.no_auth);
        for d in &self.allow_destinations {
            a.value("--allow-destination", Some(d));
        }
        a.value("--data-dir", self.data_dir.as_ref());
        a.value("--log-level", self.log_level.as_ref());
        a.0
    }
}

/// `resist probe …`.
#[derive(Debug, Clone, Default)]
pub struct ProbeCommand {
    /// `--coordinator URL`.
    pub coordinator: Option<String>,
    /// `--region LABEL`.
    pub region: Option<String>,
    /// `--source IP`.
    pub source: Option<IpAddr>,
    /// `--data-dir DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--poll-interval SECONDS`.
    pub poll_interval: Option<u64>,
    /// `--check-timeout SECONDS`.
    pub check_timeout: Option<u64>,
    /// `--max-backoff SECONDS`.
    pub max_backoff: Option<u64>,
    /// `--danger-allow-private-nodes`.
    pub danger_allow_private_nodes: bool,
    /// `--log-level LEVEL`.
    pub log_level: Option<String>,
    /// `--print-public-key`.
    pub print_public_key: bool,
}

impl ProbeCommand {
    /// The arguments, `probe` first.
    pub fn args(&self) -> Vec<OsString> {
        let mut a = Args::new("probe");
        a.value("--coordinator", self.coordinator.as_ref());
        a.value("--region", self.region.as_ref());
        a.value("--source", self.source.map(|s| s.to_string()));
        a.value("--data-dir", self.data_dir.as_ref());
        a.value("--poll-interval", self.poll_interval.map(|s| s.to_string()));
        a.value("--check-timeout", self.check_timeout.map(|s| s.to_string()));
        a.value("--max-backoff", self.max_backoff.map(|s| s.to_string()));
        a.switch(
            "--danger-allow-private-nodes",
            self.danger_allow_private_nodes,
        );
        a.value("--log-level", self.log_level.as_ref());
        a.switch("--print-public-key", self.print_public_key);
        a.0
    }
}

/// An argument list being built.
struct Args(Vec<OsString>);

impl Args {
    fn new(subcommand: &str) -> Self {
        Self(vec![subcommand.into()])
    }

    /// `FLAG VALUE` when there is a value.
    fn value(&mut self, flag: &str, value: Option<impl AsRef<OsStr>>) {
        if let Some(v) = value {
            self.0.push(flag.into());
            self.0.push(v.as_ref().to_owned());
        }
    }

    /// `FLAG` when `on`.
    fn switch(&mut self, flag: &str, on: bool) {
        if on {
            self.0.push(flag.into());
        }
    }
}

#[cfg(test)]
mod test {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn only_the_fields_given_become_flags() {
        let node = NodeCommand {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            users: vec!["u:p".into()],
            allow_destinations: vec!["127.0.0.0/8".into(), "::1/128".into()],
            ..NodeCommand::default()
        };
        assert_eq!(
            strings(node.args()),
            [
                "node",
                "--listen",
                "127.0.0.1:0",
                "--user",
                "u:p",
                "--allow-destination",
                "127.0.0.0/8",
                "--allow-destination",
                "::1/128"
            ]
        );
        let probe = ProbeCommand {
            data_dir: Some("/d".into()),
            print_public_key: true,
            ..ProbeCommand::default()
        };
        assert_eq!(
            strings(probe.args()),
            ["probe", "--data-dir", "/d", "--print-public-key"]
        );
        assert_eq!(
            strings(CoordinatorCommand::default().args()),
            ["coordinator"]
        );
    }
}
