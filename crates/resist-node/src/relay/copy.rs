//! The buffered path: bytes through a short-lived buffer in this process.
//!
//! Used for a burst when no pipe can be leased, and for everything on systems
//! without splice(2). The buffer lives only while a burst is moved, so an idle
//! connection holds none.

use std::io;

use tokio::net::TcpStream;

use super::Half;

/// Bytes moved per read on the buffered path.
const BUF_SIZE: usize = 16 * 1024;

/// Moves one burst: waits until `src` has data, then reads and writes until it
/// would block. Returns the bytes moved, or 0 at end of stream.
pub(super) async fn burst(
    src: &TcpStream,
    dst: &TcpStream,
    half: &Half<'_>,
) -> io::Result<BurstEnd> {
    let mut buf = vec![0u8; BUF_SIZE];
    let mut moved = 0u64;
    loop {
        let n = match src.try_read(&mut buf) {
            Ok(0) => return Ok(BurstEnd::Eof(moved)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && moved == 0 => {
                src.readable().await?;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(BurstEnd::Drained(moved)),
            Err(e) => return Err(e),
        };
        write_all(dst, buf.get(..n).unwrap_or_default()).await?;
        moved += n as u64;
        half.counter.inc_by(n as u64);
        half.activity.touch();
    }
}

/// How a burst ended.
pub(super) enum BurstEnd {
    /// The source has no more data for now; this many bytes were moved.
    Drained(u64),
    /// The source reached end of stream after this many bytes.
    Eof(u64),
}

pub(super) async fn write_all(dst: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match dst.try_write(data) {
            Ok(n) => data = data.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => dst.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Moves everything until end of stream through bursts of the buffered path.
#[cfg(not(target_os = "linux"))]
pub(super) async fn one_way(src: &TcpStream, dst: &TcpStream, half: &Half<'_>) -> io::Result<u64> {
    let mut total = 0;
    loop {
        match burst(src, dst, half).await? {
            BurstEnd::Drained(n) => total += n,
            BurstEnd::Eof(n) => return Ok(total + n),
        }
    }
}

/// Half-closes `dst` for writing (passes a FIN on). Errors mean the peer is gone,
/// which the other direction will notice by itself.
pub(super) fn shutdown_write(dst: &TcpStream) {
    let sock = socket2::SockRef::from(dst);
    let _ = sock.shutdown(std::net::Shutdown::Write);
}
