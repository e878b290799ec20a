//! `resist admin invite create | list | revoke` against the real `resist
//! coordinator`, and what the coordinator writes while users ask for proxies.
//!
//! The funder creates two invitations (the tokens and their links are
//! printed once), lists them (never the tokens), and revokes one; a user
//! with the revoked token is refused from the next request on, one with the
//! other is served, on the page and in JSON. The coordinator runs at `trace`
//! level the whole time: its output must hold no client port (each request
//! comes from a known local port), no invitation token and no token hash,
//! while it demonstrably logged the funder's actions.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{NodeProcess, resist_command};

const WAIT: Duration = Duration::from_secs(30);
const ADMIN_TOKEN: &str = "invitations-test-admin-token";

fn run(mut cmd: Command) -> (bool, String, String) {
    let out = cmd
        .env("RESIST_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One HTTP/1.1 GET over a fresh connection: (status, body, the client's port).
fn get(addr: &str, path_and_query: &str, bearer: Option<&str>) -> (u16, String, u16) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let port = s.local_addr().unwrap().port();
    let auth = bearer.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body, port)
}

#[test]
fn funder_invites_and_revokes_and_the_log_keeps_no_requester() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("coord");
    let mut cmd = resist_command(
        "coordinator",
        &[
            "--listen",
            "127.0.0.1:0",
            "--canary-listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--network",
            "regtest",
            "--log-level",
            "trace",
        ],
        scratch.path(),
    );
    cmd.env("RESIST_ADMIN_TOKEN", ADMIN_TOKEN);
    let mut coord = NodeProcess::spawn(cmd);
    let line = coord.stdout_line(|l| l.contains("listening on http://"), WAIT);
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let addr = url.trim_start_matches("http://").to_owned();
    let admin = |args: &[&str]| {
        let mut all = vec!["--coordinator", url.as_str(), "invite"];
        all.extend_from_slice(args);
        run(resist_command("admin", &all, scratch.path()))
    };

    let (ok, stdout, stderr) = admin(&["list"]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("no invitations yet"), "{stdout}");

    let (ok, stdout, stderr) = admin(&["create", "--label", "for Alice", "--count", "2"]);
    assert!(ok, "{stdout}{stderr}");
    let tokens: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("invitation "))
        .map(|l| {
            let (id, token) = l.split_once("  token ").unwrap();
            (id.to_owned(), token.trim().to_owned())
        })
        .collect();
    assert_eq!(tokens.len(), 2, "{stdout}");
    for (_, token) in &tokens {
        assert_eq!(token.len(), 32);
        assert!(
            stdout.contains(&format!("{url}/proxies?invite={token}")),
            "{stdout}"
        );
    }
    assert!(stdout.contains("shown only now"), "{stdout}");
    let (alice_id, alice) = &tokens[0];
    let (_, bob) = &tokens[1];

    let (ok, stdout, _) = admin(&["list"]);
    assert!(ok);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for l in &lines {
        assert!(l.contains("active") && l.ends_with("for Alice"), "{l}");
    }
    assert!(!stdout.contains(alice.as_str()) && !stdout.contains(bob.as_str()));

    // Users ask, each request from its own local port.
    let mut ports = Vec::new();
    let (status, body, port) = get(&addr, &format!("/proxies?invite={alice}"), None);
    ports.push(port);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("No working proxy right now."), "{body}");
    let (status, body, port) = get(&addr, "/api/proxies", Some(alice));
    ports.push(port);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("no working proxy right now"), "{body}");
    let (status, _, port) = get(&addr, "/api/proxies", None);
    ports.push(port);
    assert_eq!(status, 200);

    let (ok, stdout, stderr) = admin(&["revoke", alice_id]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("invitation {alice_id} revoked")),
        "{stdout}"
    );
    let (status, body, port) = get(&addr, &format!("/api/proxies?invite={alice}"), None);
    ports.push(port);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("unknown or was revoked"), "{body}");
    let (status, body, port) = get(&addr, &format!("/proxies?invite={alice}"), None);
    ports.push(port);
    assert_eq!(status, 401);
    assert!(
        body.contains("This invitation code does not work"),
        "{body}"
    );
    let (status, _, port) = get(&addr, &format!("/proxies?invite={bob}"), None);
    ports.push(port);
    assert_eq!(status, 200);

    let (ok, stdout, _) = admin(&["list"]);
    assert!(ok);
    assert!(
        stdout.lines().next().unwrap().contains("revoked 20"),
        "{stdout}"
    );
    assert!(
        stdout.lines().nth(1).unwrap().contains("active"),
        "{stdout}"
    );

    // Mistakes say what happened.
    let (ok, _, stderr) = admin(&["revoke", "999"]);
    assert!(!ok);
    assert!(stderr.contains("invitation not found"), "{stderr}");
    let (ok, _, stderr) = admin(&["create", "--count", "1000"]);
    assert!(!ok);
    assert!(
        stderr.contains("count") && stderr.contains("1 to 100"),
        "{stderr}"
    );

    coord.terminate(WAIT);
    let output = coord.final_output();
    // The funder's actions were logged, so an empty log cannot pass…
    assert!(output.contains("invitations created"), "{output}");
    assert!(output.contains("invitation revoked"), "{output}");
    // …but nothing that identifies a requester.
    for port in ports {
        assert!(
            !output.contains(&format!(":{port}")),
            "client port {port} in the log:\n{output}"
        );
    }
    for token in [alice, bob] {
        assert!(!output.contains(token.as_str()), "a token in the log");
        let hash = sha256_hex(token);
        assert!(!output.contains(&hash), "a token hash in the log");
    }
    assert!(!output.contains("for Alice"), "labels may name people");
}

fn sha256_hex(s: &str) -> String {
    hex::encode(resist_coordinator::token_hash(s))
}
