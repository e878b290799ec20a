//! The real `resist node` survives running out of file descriptors.
//!
//! The node is started with an open-file limit of 48 (soft and hard, so its
//! start-up raise of the soft limit cannot lift it) and flooded with 100 idle TCP
//! connections, so accept(2) fails with EMFILE. After the flood closes, a full
//! SOCKS5 CONNECT through the node must succeed and the process must still be
//! running. The metrics endpoint must report
//! `resist_node_accept_errors_total{reason="fd_exhausted"} > 0`, which proves the
//! limit was actually hit (and counted) rather than the flood being too small.

mod common;

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use common::{
    NodeProcess, free_port, metric_value, node_command, scrape_metrics, within, write_file,
};
use resist_socks5::{Address, Command};
use resist_testkit::{HttpServer, http_body, socks_connect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep};

/// RLIMIT_NOFILE for the node: enough to start, far below the flood.
const NOFILE: libc::rlim_t = 48;
/// Idle connections opened at once.
const FLOOD: usize = 100;
const FD_EXHAUSTED: &str = "resist_node_accept_errors_total{reason=\"fd_exhausted\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_recovers_after_running_out_of_file_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "node.toml",
        "[limits]\nmax_connections_per_client = 1000\nhandshake_timeout = \"30s\"\n",
    );
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let metrics_arg = metrics.to_string();
    let data = dir.path().join("data");
    let mut cmd = node_command(
        &[
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--user",
            "alice:pw",
            "--allow-destination",
            "127.0.0.0/8",
            "--data-dir",
            data.to_str().unwrap(),
            "--metrics",
            &metrics_arg,
        ],
        dir.path(),
    );
    // SAFETY: the closure runs in the forked child before exec and only calls
    // setrlimit(2), which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: NOFILE,
                rlim_max: NOFILE,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let http = HttpServer::start("127.0.0.1:0").await;
    let mut node = NodeProcess::spawn(cmd);
    let addr = node.listen_addr();
    node.wait_for_stderr("metrics at", Duration::from_secs(10));

    // The flood: plain TCP connections that never speak. The kernel completes
    // them all (backlog 1024); the node holds the ones it accepts until the
    // handshake timeout, and fails to accept the rest.
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        let s = within(
            "flood connect",
            Duration::from_secs(5),
            TcpStream::connect(addr),
        )
        .await
        .expect("the kernel completes the connection");
        flood.push(s);
    }
    node.wait_for_stderr("out of file descriptors", Duration::from_secs(10));
    assert!(node.is_running(), "EMFILE must not stop the node");
    drop(flood);

    // Recovery: a full CONNECT and HTTP exchange through the node. Closed flood
    // connections free their descriptors as the node reads their EOF; allow a
    // bounded time for that.
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let attempt = within("CONNECT after the flood", Duration::from_secs(10), async {
            let (mut s, _) = socks_connect(
                addr,
                Command::Connect,
                Address::Ip(http.addr),
                Some(("alice", "pw")),
            )
            .await?;
            s.write_all(b"GET /after-flood HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .map_err(|_| resist_socks5::Error::ClosedEarly)?;
            let mut resp = String::new();
            s.read_to_string(&mut resp)
                .await
                .map_err(|_| resist_socks5::Error::ClosedEarly)?;
            Ok::<_, resist_socks5::Error>(resp)
        })
        .await;
        match attempt {
            Ok(resp) => break resp,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "no successful CONNECT 10s after the flood closed ({e}); output:\n{}",
                    node.output_so_far()
                );
                sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!(body.ends_with(&http_body("/after-flood")), "{body}");
    assert!(node.is_running(), "the node must survive the flood");

    let text = scrape_metrics(metrics).await;
    let exhausted = metric_value(&text, FD_EXHAUSTED)
        .unwrap_or_else(|| panic!("{FD_EXHAUSTED} missing from the metrics:\n{text}"));
    assert!(exhausted > 0.0, "{FD_EXHAUSTED} = {exhausted}");

    node.terminate(Duration::from_secs(15));
}
