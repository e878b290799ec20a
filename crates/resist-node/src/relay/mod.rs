//! Moves bytes both ways between a client and its destination until both sides
//! are done, an error occurs, or neither side sent anything for the idle timeout.
//!
//! The relay is the node's hot path, so on Linux it moves data with splice(2)
//! through a pipe, kernel to kernel, without copying it into this process
//! (the `splice` module). An idle relayed connection owns two sockets and nothing else:
//! no buffer and no pipe. A pipe is leased from a bounded pool only while a burst
//! of data flows and goes back as soon as the source has nothing more to read.
//! When no pipe can be had (the pool is at its cap, or the process is out of file
//! descriptors) a burst is copied through a short-lived buffer instead (the `copy` module),
//! which is also the path on other systems.
//!
//! Half-closes are passed on: end of stream from one side becomes a FIN to the
//! other, and the other direction keeps flowing.

mod copy;
#[cfg(target_os = "linux")]
mod splice;

use std::io;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};

#[cfg(target_os = "linux")]
pub use self::splice::PipePool;

use crate::metrics::Metrics;

/// A stand-in pool on systems without splice(2): it never has a pipe.
#[cfg(not(target_os = "linux"))]
#[derive(Debug, Default)]
pub struct PipePool;

#[cfg(not(target_os = "linux"))]
impl PipePool {
    /// A pool that never hands out pipes.
    pub fn new(_max_pipes: usize) -> Self {
        PipePool
    }
}

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

/// The time of the last byte moved in either direction, shared by both halves
/// and the idle watchdog (milliseconds since the relay started).
#[derive(Debug)]
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    /// Directions that reached end of stream (0, 1 or 2).
    finished: AtomicU8,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            finished: AtomicU8::new(0),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn idle_deadline(&self, idle: Duration) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle
    }
}

/// What one direction needs besides its two sockets.
struct Half<'a> {
    activity: &'a Activity,
    counter: &'a Counter,
    pipes: &'a PipePool,
}

/// Relays between `client` and `target` until both are done or idle for `idle`.
///
/// The caller closes both sockets as soon as this returns: the end of stream of
/// the second direction to finish is passed on by that close, not by a
/// shutdown(2) of its own (one system call less per connection).
pub async fn relay(
    client: &TcpStream,
    target: &TcpStream,
    idle: Duration,
    metrics: &Metrics,
    pipes: &PipePool,
) -> RelayOutcome {
    let activity = Activity::new();
    let up = Half {
        activity: &activity,
        counter: &metrics.bytes_client_to_target,
        pipes,
    };
    let down = Half {
        activity: &activity,
        counter: &metrics.bytes_target_to_client,
        pipes,
    };
    let both =
        async { tokio::try_join!(one_way(client, target, up), one_way(target, client, down)) };
    let watchdog = async {
        loop {
            let deadline = activity.idle_deadline(idle);
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

/// Moves everything `src` sends to `dst`, then half-closes `dst`.
async fn one_way(src: &TcpStream, dst: &TcpStream, half: Half<'_>) -> io::Result<u64> {
    #[cfg(target_os = "linux")]
    let total = splice::one_way(src, dst, &half).await?;
    #[cfg(not(target_os = "linux"))]
    let total = copy::one_way(src, dst, &half).await?;
    // Pass the half-close on while the other direction still flows; when this is
    // the second direction to end, both sockets close next and send the FIN.
    if half.activity.finished.fetch_add(1, Ordering::AcqRel) == 0 {
        copy::shutdown_write(dst);
    }
    Ok(total)
}
