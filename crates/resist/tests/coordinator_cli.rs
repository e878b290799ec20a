//! The coordinator, admin and operator commands of the real binary, end to
//! end on loopback: a coordinator on SQLite, a probe enrolled with the admin
//! token file, an operator registered twice over (a WIF key file on regtest,
//! and a signature pasted on standard input as a wallet user would), status,
//! the network pinned in the database, and a clean stop.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{NodeProcess, resist_command};
use resist_ownership::{AddressKind, Network};

const WAIT: Duration = Duration::from_secs(30);

fn coordinator(args: &[&str], scratch: &std::path::Path) -> (NodeProcess, String) {
    let mut p = NodeProcess::spawn(resist_command("coordinator", args, scratch));
    let line = p.stdout_line(|l| l.contains("listening on http://"), WAIT);
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    (p, url)
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn funder_and_operator_round_trip() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("coord");
    let data_s = data.to_str().unwrap();
    let (mut coord, url) = coordinator(
        &[
            "--listen",
            "127.0.0.1:0",
            "--canary-listen",
            "127.0.0.1:0",
            "--data-dir",
            data_s,
            "--network",
            "regtest",
            "--log-level",
            "warn",
        ],
        scratch.path(),
    );
    coord.stdout_line(|l| l.starts_with("admin token: generated in"), WAIT);
    let token_file = data.join("admin-token");
    assert!(token_file.exists());

    // The funder enrols a probe with the generated token file.
    let key = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[9; 32])
            .verifying_key()
            .to_bytes(),
    );
    let token_arg = token_file.to_str().unwrap();
    let (ok, stdout, stderr) = run(&mut resist_command(
        "admin",
        &[
            "--coordinator",
            &url,
            "--admin-token-file",
            token_arg,
            "probe",
            "enrol",
            "--public-key",
            &key,
            "--region",
            "censored:RU",
        ],
        scratch.path(),
    ));
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("enrolled probe 1 (censored:RU)"),
        "{stdout}"
    );
    let (ok, stdout, _) = run(&mut resist_command(
        "admin",
        &[
            "--coordinator",
            &url,
            "--admin-token-file",
            token_arg,
            "probe",
            "list",
        ],
        scratch.path(),
    ));
    assert!(
        ok && stdout.contains("censored:RU") && stdout.contains("enabled"),
        "{stdout}"
    );
    let (ok, _, stderr) = run(resist_command(
        "admin",
        &["--coordinator", &url, "probe", "list"],
        scratch.path(),
    )
    .env("RESIST_ADMIN_TOKEN", "wrong"));
    assert!(!ok && stderr.contains("wrong admin token"), "{stderr}");

    // An operator registers with a WIF key file (regtest only).
    let wif = resist_ownership::generate_test_wif(Network::Regtest).unwrap();
    let address =
        resist_ownership::address_for_test_wif(&wif, AddressKind::P2tr, Network::Regtest).unwrap();
    let wif_file = common::write_file(scratch.path(), "key.wif", &wif);
    let op_dir = scratch.path().join("operator");
    let op = op_dir.to_str().unwrap();
    let (ok, stdout, stderr) = run(&mut resist_command(
        "operator",
        &[
            "--coordinator",
            &url,
            "--data-dir",
            op,
            "--wif-file",
            wif_file.to_str().unwrap(),
            "register",
            "--payout",
            address.as_str(),
            "--node",
            "203.0.113.30:1080",
            "--node-user",
            "probe",
            "--node-password",
            "pw",
        ],
        scratch.path(),
    ));
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("registered as operator 1 with 1 node(s)"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = run(&mut resist_command(
        "operator",
        &["--data-dir", op, "status"],
        scratch.path(),
    ));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(address.as_str()) && stdout.contains("203.0.113.30:1080"),
        "{stdout}"
    );

    // A second operator pastes the signature, as with a real wallet.
    let wif2 = resist_ownership::generate_test_wif(Network::Regtest).unwrap();
    let address2 =
        resist_ownership::address_for_test_wif(&wif2, AddressKind::P2wpkh, Network::Regtest)
            .unwrap();
    let op2 = scratch.path().join("operator2");
    let mut child = resist_command(
        "operator",
        &[
            "--coordinator",
            &url,
            "--data-dir",
            op2.to_str().unwrap(),
            "register",
            "--payout",
            address2.as_str(),
            "--node",
            "203.0.113.31:1080",
            "--no-node-auth",
        ],
        scratch.path(),
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut message = None;
    for line in (&mut stderr).lines() {
        let line = line.unwrap();
        if line.starts_with("resist-v1 regtest register ") {
            message = Some(line);
            break;
        }
    }
    let message = message.expect("the command prints the line to sign");
    let signature = resist_ownership::sign_for_test_network(&wif2, &address2, &message).unwrap();
    writeln!(child.stdin.take().unwrap(), "{signature}").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("registered as operator 2"), "{stdout}");

    let (ok, stdout, _) = run(&mut resist_command(
        "admin",
        &[
            "--coordinator",
            &url,
            "--admin-token-file",
            token_arg,
            "operators",
        ],
        scratch.path(),
    ));
    assert!(
        ok && stdout.contains("operator 1")
            && stdout.contains("operator 2")
            && stdout.contains("203.0.113.31:1080"),
        "{stdout}"
    );

    // SIGTERM stops it cleanly.
    coord.terminate(WAIT);

    // The database remembers its network.
    let mut again = NodeProcess::spawn(resist_command(
        "coordinator",
        &[
            "--listen",
            "127.0.0.1:0",
            "--canary-listen",
            "127.0.0.1:0",
            "--data-dir",
            data_s,
            "--network",
            "signet",
        ],
        scratch.path(),
    ));
    let status = again.wait_exit(WAIT);
    assert_eq!(status.code(), Some(2));
    let out = again.final_output();
    assert!(out.contains("belongs to a coordinator on regtest"), "{out}");
}

#[test]
fn operator_errors_say_what_to_do() {
    let scratch = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run(&mut resist_command(
        "operator",
        &["--data-dir", scratch.path().to_str().unwrap(), "status"],
        scratch.path(),
    ));
    assert!(
        !ok && stderr.contains("run `resist operator register` first"),
        "{stderr}"
    );
    let (ok, _, stderr) = run(&mut resist_command(
        "operator",
        &[
            "--coordinator",
            "http://127.0.0.1:9",
            "register",
            "--payout",
            "x",
            "--node",
            "203.0.113.1:1080",
        ],
        scratch.path(),
    ));
    assert!(
        !ok && stderr.contains("--node-credentials FILE"),
        "{stderr}"
    );
    let (ok, _, stderr) = run(&mut resist_command(
        "operator",
        &[
            "--coordinator",
            "http://127.0.0.1:9",
            "register",
            "--payout",
            "x",
            "--node",
            "203.0.113.1:1080",
            "--no-node-auth",
        ],
        scratch.path(),
    ));
    assert!(
        !ok && stderr.contains("cannot reach the coordinator"),
        "{stderr}"
    );
}
