//! Moves bytes both ways between a client and its destination until both sides
//! are done, an error occurs, or neither side sent anything for the idle timeout.
//!
//! Each direction has its own fixed buffer; half-closes are passed on (EOF from
//! one side becomes a FIN to the other) so protocols that close their sending
//! side early keep working.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};

use crate::metrics::Metrics;

/// Bytes per direction read in one go.
const BUF_SIZE: usize = 16 * 1024;

/// How a relay ended.
#[derive(Debug, PartialEq, Eq)]
pub enum RelayOutcome {
    /// Both sides closed.
    Closed {
        /// Bytes from the client to the destination.
        up: u64,
        /// Bytes from the destination to the client.
        down: u64,
    },
    /// Nothing moved either way for the idle timeout.
    Idle,
    /// A socket error (usually a reset).
    Error(io::ErrorKind),
}

/// Relays between `client` and `target`.
pub async fn relay(
    client: &mut TcpStream,
    target: &mut TcpStream,
    idle: Duration,
    metrics: &Metrics,
) -> RelayOutcome {
    let start = Instant::now();
    // Milliseconds since `start` of the last byte moved in either direction.
    let last_activity = AtomicU64::new(0);
    let (mut cr, mut cw) = client.split();
    let (mut tr, mut tw) = target.split();
    let both = async {
        tokio::try_join!(
            copy_half(
                &mut cr,
                &mut tw,
                &last_activity,
                start,
                &metrics.bytes_client_to_target
            ),
            copy_half(
                &mut tr,
                &mut cw,
                &last_activity,
                start,
                &metrics.bytes_target_to_client
            ),
        )
    };
    let watchdog = async {
        loop {
            let last = Duration::from_millis(last_activity.load(Ordering::Relaxed));
            let deadline = start + last + idle;
            if Instant::now() >= deadline {
                return;
            }
            sleep_until(deadline).await;
        }
    };
    tokio::select! {
        result = both => match result {
            Ok((up, down)) => RelayOutcome::Closed { up, down },
            Err(e) => RelayOutcome::Error(e.kind()),
        },
        () = watchdog => RelayOutcome::Idle,
    }
}

async fn copy_half<R, W>(
    r: &mut R,
    w: &mut W,
    last_activity: &AtomicU64,
    start: Instant,
    counter: &Counter,
) -> io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUF_SIZE];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            w.shutdown().await?;
            return Ok(total);
        }
        w.write_all(buf.get(..n).unwrap_or_default()).await?;
        total += n as u64;
        counter.inc_by(n as u64);
        let now = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        last_activity.store(now, Ordering::Relaxed);
    }
}
