//! The canary: a TCP service that answers a probe's nonce with an HMAC only
//! the coordinator can compute, then a throughput sample (protocol in
//! `resist_proto::canary`). Probes reach it *through* the node under test, so
//! a correct answer proves the node relays.
//!
//! Every connection is bounded: a deadline for the whole exchange, one request,
//! a capped sample, and a cap on connections at once.

use std::sync::Arc;
use std::time::Duration;

use resist_proto::canary::{self, REQUEST_LEN, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::debug;

/// Time allowed for one exchange (request, answer and sample).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 256;
/// Zeros written per call while sending the sample.
const CHUNK: usize = 16 * 1024;
/// The sample's content (static, so no connection's future carries it).
static ZEROS: [u8; CHUNK] = [0; CHUNK];

/// Serves the canary on `listener` with `key` until `shutdown` completes.
pub async fn serve(listener: TcpListener, key: [u8; 32], shutdown: impl Future<Output = ()>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => return,
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(async move {
                    if let Err(e) =
                        tokio::time::timeout(EXCHANGE_TIMEOUT, exchange(stream, &key)).await
                    {
                        debug!(error = %e, "canary exchange timed out");
                    }
                    drop(permit);
                });
            }
            Err(e) => {
                debug!(error = %e, "canary accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn exchange(mut stream: TcpStream, key: &[u8; 32]) {
    let _ = stream.set_nodelay(true);
    let mut bytes = [0u8; REQUEST_LEN];
    if stream.read_exact(&mut bytes).await.is_err() {
        return;
    }
    let request = match Request::decode(&bytes) {
        Ok(r) => r,
        Err(e) => {
            debug!(error = %e, "canary request refused");
            return;
        }
    };
    if stream
        .write_all(&canary::answer(key, &request))
        .await
        .is_err()
    {
        return;
    }
    let mut left = request.sample_len as usize;
    while left > 0 {
        let n = left.min(CHUNK);
        if stream.write_all(&ZEROS[..n]).await.is_err() {
            return;
        }
        left -= n;
    }
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod test {
    use super::*;

    #[tokio::test]
    async fn answers_with_the_hmac_and_the_sample() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let key = [4u8; 32];
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, key, async {
            let _ = stopped.await;
        }));
        let request = Request {
            nonce: [8; 32],
            sample_len: 100_000,
        };
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&request.encode()).await.unwrap();
        let mut answer = [0u8; 32];
        s.read_exact(&mut answer).await.unwrap();
        assert!(canary::verify(&key, &request, &answer));
        let mut sample = Vec::new();
        s.read_to_end(&mut sample).await.unwrap();
        assert_eq!(sample.len(), 100_000);

        // A SOCKS5 greeting is not a canary request: closed without an answer.
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut junk = [0u8; REQUEST_LEN];
        junk[..3].copy_from_slice(&[5, 1, 0]);
        s.write_all(&junk).await.unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        stop.send(()).unwrap();
        server.await.unwrap();
    }
}
