//! splice(2) relaying through pipes leased from a bounded pool, with a fast
//! path for small messages.
//!
//! Each burst starts with one read(2) into the worker thread's scratch buffer,
//! written out at once. Small messages (most of an interactive or messenger
//! flow) end there: two system calls, no pipe. A read that comes back shorter
//! than the buffer proves the socket's queue was empty at that moment, so the
//! readiness is cleared without the extra read that would return EAGAIN (tokio
//! keeps any readiness that a newer event brought in the meantime). Only when the
//! scratch read fills the buffer, that is when a bulk transfer is under way, is a
//! pipe leased and the rest of the burst spliced kernel to kernel.

use std::cell::RefCell;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::pipe::{PipeFlags, SpliceFlags, pipe_with, splice};
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::Half;
use super::copy::{BurstEnd, burst, write_all};
use crate::read::Read;

/// Bytes asked of one splice(2) call: the default pipe capacity.
const CHUNK: usize = 64 * 1024;
/// Empty pipes kept for reuse; more than this are closed when returned.
const MAX_IDLE: usize = 64;
/// Bytes read per burst through the scratch buffer before switching to splice.
const SCRATCH: usize = 16 * 1024;

thread_local! {
    /// One scratch buffer per worker thread, used only between two awaits.
    static SCRATCH_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; SCRATCH].into_boxed_slice());
}

/// Reads once into the scratch buffer and writes it all to `dst`.
async fn first_read(src: &TcpStream, dst: &TcpStream, half: &Half<'_>) -> io::Result<Read> {
    let mut leftover = Vec::new();
    let first = SCRATCH_BUF.with_borrow_mut(|buf| -> io::Result<Read> {
        let first = crate::read::try_read(src, &mut buf[..])?;
        let (Read::Drained(got) | Read::Full(got)) = first else {
            return Ok(first);
        };
        let data = buf.get(..got).unwrap_or_default();
        let mut sent = 0;
        while sent < data.len() {
            match dst.try_write(data.get(sent..).unwrap_or_default()) {
                Ok(m) => sent += m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // The destination is full: keep the rest until it drains.
                    leftover.extend_from_slice(data.get(sent..).unwrap_or_default());
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(first)
    })?;
    if !leftover.is_empty() {
        write_all(dst, &leftover).await?;
    }
    if let Read::Drained(n) | Read::Full(n) = first {
        half.counter.inc_by(n as u64);
        half.activity.touch();
    }
    Ok(first)
}

/// A pipe: the kernel buffer splice(2) moves pages through.
#[derive(Debug)]
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

/// Pipes shared by every relay of a node.
///
/// At most `max_pipes` exist at once (two file descriptors each), so the pool
/// can never take the descriptors that accept(2) needs; past the cap, bursts
/// take the buffered path.
#[derive(Debug)]
pub struct PipePool {
    idle: Mutex<Vec<Pipe>>,
    live: AtomicUsize,
    max_pipes: usize,
}

impl PipePool {
    /// A pool that holds at most `max_pipes` pipes at once.
    pub fn new(max_pipes: usize) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            live: AtomicUsize::new(0),
            max_pipes,
        }
    }

    /// Pipes in existence (leased or idle).
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Pipes leased to relays right now (the rest wait, empty, in the pool).
    pub fn leased(&self) -> usize {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).len();
        self.live().saturating_sub(idle)
    }

    fn lease(&self) -> Option<Lease<'_>> {
        let reused = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let pipe = match reused {
            Some(p) => p,
            None => {
                if self.live.fetch_add(1, Ordering::AcqRel) >= self.max_pipes {
                    self.live.fetch_sub(1, Ordering::AcqRel);
                    return None;
                }
                match pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK) {
                    Ok((read, write)) => Pipe { read, write },
                    Err(_) => {
                        self.live.fetch_sub(1, Ordering::AcqRel);
                        return None;
                    }
                }
            }
        };
        Some(Lease {
            pool: self,
            pipe: Some(pipe),
            buffered: 0,
        })
    }

    fn give_back(&self, pipe: Pipe) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(pipe);
        } else {
            drop(idle);
            drop(pipe);
            self.live.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A leased pipe. Dropped empty, it goes back to the pool; dropped with data
/// still inside (the relay failed mid-burst), it is closed so that no stale
/// bytes can reach another connection.
struct Lease<'a> {
    pool: &'a PipePool,
    pipe: Option<Pipe>,
    /// Bytes in the pipe not yet spliced out.
    buffered: usize,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(pipe) = self.pipe.take() {
            if self.buffered == 0 {
                self.pool.give_back(pipe);
            } else {
                drop(pipe);
                self.pool.live.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

/// Moves everything `src` sends to `dst` until end of stream.
pub(super) async fn one_way(src: &TcpStream, dst: &TcpStream, half: &Half<'_>) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        src.readable().await?;
        match first_read(src, dst, half).await? {
            Read::Eof => return Ok(total),
            Read::Nothing => continue,
            Read::Drained(n) => {
                total += n as u64;
                continue;
            }
            Read::Full(n) => total += n as u64,
        }
        let Some(mut lease) = half.pipes.lease() else {
            match burst(src, dst, half).await? {
                BurstEnd::Drained(n) => {
                    total += n;
                    continue;
                }
                BurstEnd::Eof(n) => return Ok(total + n),
            }
        };
        // Move data while the source has some; give the pipe back when it has none.
        while let Some(pipe) = lease.pipe.as_ref() {
            let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
            let n = match src.try_io(Interest::READABLE, || {
                Ok(splice(src, None, &pipe.write, None, CHUNK, flags)?)
            }) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            };
            lease.buffered = n;
            while lease.buffered > 0 {
                let pending = lease.buffered;
                match dst.try_io(Interest::WRITABLE, || {
                    Ok(splice(&pipe.read, None, dst, None, pending, flags)?)
                }) {
                    Ok(m) => lease.buffered -= m.min(pending),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => dst.writable().await?,
                    Err(e) => return Err(e),
                }
            }
            total += n as u64;
            half.counter.inc_by(n as u64);
            half.activity.touch();
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn pool_caps_live_pipes_and_reuses_them() {
        let pool = PipePool::new(2);
        let a = pool.lease().unwrap();
        let b = pool.lease().unwrap();
        assert!(pool.lease().is_none(), "cap reached");
        assert_eq!(pool.live(), 2);
        drop(a);
        assert_eq!(pool.live(), 2, "returned to the idle list, not closed");
        let c = pool.lease().unwrap();
        drop((b, c));
        assert_eq!(pool.idle.lock().unwrap().len(), 2);
    }

    #[test]
    fn a_pipe_with_data_is_closed_not_reused() {
        let pool = PipePool::new(4);
        let mut lease = pool.lease().unwrap();
        lease.buffered = 10;
        drop(lease);
        assert_eq!(pool.live(), 0);
        assert!(pool.idle.lock().unwrap().is_empty());
    }
}
