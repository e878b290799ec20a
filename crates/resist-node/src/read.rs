//! Reads that save the EAGAIN round trip.
//!
//! With edge-triggered readiness, tokio clears a socket's "readable" flag only
//! when a read fails with EAGAIN, so every burst costs one extra failing read.
//! But a read that returns fewer bytes than asked proves the socket's queue was
//! empty at that moment, so the flag can be cleared right away. The read reports
//! `WouldBlock` to tokio's `try_io`, which clears the flag only if no newer
//! readiness event arrived while the read ran: data that lands in between is
//! never missed. Used by the handshake and by the relay's small-message path.

use std::io;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// The result of one read attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// End of stream.
    Eof,
    /// No data after all (a spurious wake-up); readiness is cleared.
    Nothing,
    /// A short read: the queue is drained and readiness cleared.
    Drained(usize),
    /// `buf` was filled: more is probably waiting; readiness is kept.
    Full(usize),
}

/// One read into `buf`, without waiting.
pub(crate) fn try_read(stream: &TcpStream, buf: &mut [u8]) -> io::Result<Read> {
    let mut got = 0;
    let result = stream.try_io(Interest::READABLE, || {
        got = rustix::io::read(stream, &mut *buf)?;
        if got > 0 && got < buf.len() {
            // `got` carries the real result out; the error makes tokio clear the flag.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(got)
    });
    match result {
        Ok(0) => Ok(Read::Eof),
        Ok(n) => Ok(Read::Full(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(Read::Drained(got)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Read::Nothing),
        Err(e) => Err(e),
    }
}

/// Reads once, waiting for data if there is none; 0 means end of stream.
pub(crate) async fn read(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        match try_read(stream, buf)? {
            Read::Eof => return Ok(0),
            Read::Nothing => {}
            Read::Drained(n) | Read::Full(n) => return Ok(n),
        }
    }
}
