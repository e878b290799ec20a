//! Running the system tools the lab drives (`ip`, `nft`, `curl`), each with a
//! time limit, and the checks before a run: root, and the tools installed.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;

use crate::error::LabError;

/// The tools the lab needs and the Debian packages that ship them.
pub const TOOLS: [(&str, &str); 3] = [("ip", "iproute2"), ("nft", "nftables"), ("curl", "curl")];

/// Whether this process runs with effective user id 0 (read from
/// `/proc/self/status`, so no unsafe call is needed).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Where `tool` is: on `PATH`, or in the sbin directories a non-root `PATH`
/// often lacks.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// The paths of the tools, or the first one missing.
#[derive(Clone, Debug)]
pub struct Tools {
    /// iproute2's `ip`.
    pub ip: PathBuf,
    /// nftables' `nft`.
    pub nft: PathBuf,
    /// `curl` (the user's SOCKS5 client and the lab's HTTP client).
    pub curl: PathBuf,
}

/// Checks root first (nothing works without it), then each tool.
pub fn preflight() -> Result<Tools, LabError> {
    if !is_root() {
        return Err(LabError::NotRoot);
    }
    let find = |(tool, package): (&'static str, &'static str)| {
        find_tool(tool).ok_or(LabError::MissingTool { tool, package })
    };
    Ok(Tools {
        ip: find(TOOLS[0])?,
        nft: find(TOOLS[1])?,
        curl: find(TOOLS[2])?,
    })
}

/// Runs `program args…`, feeding `stdin`, and returns its output whatever
/// the exit status; fails only when it cannot run or outlives `within`
/// (then it is killed).
pub async fn output(
    program: &Path,
    args: &[String],
    stdin: Option<&str>,
    within: Duration,
) -> Result<Output, LabError> {
    let what = || describe(program, args);
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| LabError::io(format!("cannot start {}", what()), e))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .await
            .map_err(|e| LabError::io(format!("cannot feed {}", what()), e))?;
        drop(pipe);
    }
    match tokio::time::timeout(within, child.wait_with_output()).await {
        Ok(out) => out.map_err(|e| LabError::io(format!("cannot wait for {}", what()), e)),
        Err(_) => Err(LabError::Timeout {
            what: what(),
            after: within,
            hint: "it was killed; is the machine overloaded, or is a tool waiting for input?"
                .into(),
        }),
    }
}

/// Like [`output`], and fails unless the exit status is 0; returns stdout.
pub async fn run(
    program: &Path,
    args: &[String],
    stdin: Option<&str>,
    within: Duration,
) -> Result<String, LabError> {
    let out = output(program, args, stdin, within).await?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(LabError::Command {
            what: describe(program, args),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// `program arg arg…` for messages (arguments longer than 80 bytes cut).
pub fn describe(program: &Path, args: &[String]) -> String {
    let mut s = program.display().to_string();
    for a in args {
        s.push(' ');
        if a.len() > 80 {
            s.push_str(&a[..a.floor_char_boundary(80)]);
            s.push('…');
        } else {
            s.push_str(a);
        }
    }
    s
}

/// Owned arguments from string slices.
pub fn args<const N: usize>(a: [&str; N]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(test)]
mod test {
    use super::*;

    #[tokio::test]
    async fn a_slow_command_is_killed_at_its_limit() {
        let sh = find_tool("sh").unwrap();
        let err = output(
            &sh,
            &args(["-c", "sleep 5"]),
            None,
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, LabError::Timeout { .. }), "{err}");
        let out = run(
            &sh,
            &args(["-c", "cat; echo done"]),
            Some("in "),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(out, "in done\n");
        let err = run(
            &sh,
            &args(["-c", "echo why >&2; exit 3"]),
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("why"), "{err}");
    }

    #[test]
    fn long_arguments_are_cut_in_messages() {
        let long = "x".repeat(200);
        let d = describe(Path::new("nft"), &[long]);
        assert!(d.len() < 100 && d.ends_with('…'), "{d}");
    }
}
