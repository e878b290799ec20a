//! The relay on its own, between two real TCP connection pairs on loopback:
//! every byte arrives intact and in order in both directions at once, a
//! half-close is passed on while the other direction keeps flowing, the byte
//! counts are exact, and silence ends the relay at the idle timeout. Run on the
//! splice(2) path and on the buffered path (a pipe pool with no pipes).

use std::sync::Arc;
use std::time::Duration;

use resist_node::Metrics;
use resist_node::relay::{PipePool, RelayOutcome, relay};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// A connected pair of loopback TCP streams.
async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (b, _) = l.accept().await.unwrap();
    (a, b)
}

/// Deterministic, non-repeating-looking test data.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect()
}

async fn bidirectional(pipes: PipePool) {
    const UP: usize = 24 * 1024 * 1024 + 17;
    const DOWN: usize = 16 * 1024 * 1024 + 5;
    let (mut client, node_client_side) = pair().await;
    let (node_target_side, mut target) = pair().await;
    let metrics = Arc::new(Metrics::new());
    // Like the node, close both sockets as soon as the relay returns: that close
    // carries the last end of stream.
    let relaying = {
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let timeout = Duration::from_secs(10);
            let outcome = relay(
                &node_client_side,
                &node_target_side,
                timeout,
                &metrics,
                &pipes,
            )
            .await;
            drop((node_client_side, node_target_side));
            outcome
        })
    };

    let up = pattern(UP, 1);
    let down = pattern(DOWN, 2);
    let (mut cr, mut cw) = client.split();
    let (mut tr, mut tw) = target.split();
    let peers = async {
        tokio::join!(
            async {
                cw.write_all(&up).await.unwrap();
                cw.shutdown().await.unwrap(); // half-close: the target must see EOF...
            },
            async {
                let mut got = Vec::with_capacity(UP);
                tr.read_to_end(&mut got).await.unwrap();
                assert!(
                    got == up,
                    "upload arrived intact ({} of {UP} bytes)",
                    got.len()
                );
                // ...and can still answer after it.
                tw.write_all(&down).await.unwrap();
                tw.shutdown().await.unwrap();
            },
            async {
                let mut got = Vec::with_capacity(DOWN);
                cr.read_to_end(&mut got).await.unwrap();
                assert!(
                    got == down,
                    "download arrived intact ({} of {DOWN} bytes)",
                    got.len()
                );
            },
        )
    };
    let (outcome, _) = timeout(Duration::from_secs(60), async {
        tokio::join!(relaying, peers)
    })
    .await
    .expect("relay finishes");
    assert_eq!(
        outcome.unwrap(),
        RelayOutcome::Closed {
            up: UP as u64,
            down: DOWN as u64
        }
    );
    assert_eq!(metrics.bytes_client_to_target.get(), UP as u64);
    assert_eq!(metrics.bytes_target_to_client.get(), DOWN as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splice_path_moves_every_byte_both_ways() {
    let pipes = PipePool::new(16);
    bidirectional(pipes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_path_moves_every_byte_both_ways() {
    bidirectional(PipePool::new(0)).await;
}

#[tokio::test]
async fn idle_relay_holds_no_pipe_and_ends_at_the_timeout() {
    let (_client, node_client_side) = pair().await;
    let (node_target_side, _target) = pair().await;
    let metrics = Metrics::new();
    let pipes = PipePool::new(16);
    let relaying = relay(
        &node_client_side,
        &node_target_side,
        Duration::from_millis(300),
        &metrics,
        &pipes,
    );
    let check = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        #[cfg(target_os = "linux")]
        assert_eq!(
            pipes.leased(),
            0,
            "an idle relay holds no pipe while it waits"
        );
    };
    let (outcome, ()) = tokio::join!(relaying, check);
    assert_eq!(outcome, RelayOutcome::Idle);
}
