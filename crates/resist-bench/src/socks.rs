//! A blocking SOCKS5 client: resist-socks5's sans-IO handshake driven over a
//! std `TcpStream`, the same state machine probes and tests use.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use resist_socks5::client::{ClientHandshake, Step};
use resist_socks5::msg::{Reply, Request};
use resist_socks5::{Address, Command};

/// The credentials every proxy under test is given when a figure needs them.
pub(crate) const USER: &str = "bench";
/// The password that goes with [`USER`].
pub(crate) const PASSWORD: &str = "benchpass";

/// How long any read or write on a benchmark connection may block: a stuck
/// proxy fails its figure instead of hanging the benchmark.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a handshake for `command` to `address` on an open connection. Returns
/// the reply and any bytes the destination sent that arrived with it.
pub(crate) fn handshake(
    stream: &mut TcpStream,
    command: Command,
    address: SocketAddr,
    password: bool,
) -> io::Result<(Reply, Vec<u8>)> {
    let creds = password.then_some((USER.as_bytes(), PASSWORD.as_bytes()));
    let request = Request {
        command,
        address: Address::Ip(address),
    };
    let mut hs = ClientHandshake::new(request, creds);
    loop {
        match hs.step() {
            Step::Send(bytes) => stream.write_all(&bytes)?,
            Step::Recv => {
                let n = stream.read(hs.recv_buf().map_err(io::Error::other)?)?;
                hs.received(n);
            }
            Step::Done { reply, rest } => return Ok((reply, rest)),
            Step::Fail(e) => return Err(io::Error::other(e)),
        }
    }
}

/// A connection to `target` relayed by the SOCKS5 proxy at `proxy`, with
/// TCP_NODELAY and [`TIMEOUT`]s set, and the destination's first bytes if they
/// came with the reply.
pub(crate) fn connect(
    proxy: SocketAddr,
    target: SocketAddr,
    password: bool,
) -> io::Result<(TcpStream, Vec<u8>)> {
    let mut stream = TcpStream::connect(proxy)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let (_, rest) = handshake(&mut stream, Command::Connect, target, password)?;
    Ok((stream, rest))
}
