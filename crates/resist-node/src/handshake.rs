//! Drives the sans-IO SOCKS5 server handshake over a TCP stream.

use std::io;
use std::time::Duration;

use resist_socks5::msg::Request;
use resist_socks5::server::{AuthPolicy, ServerHandshake, Step};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A finished handshake.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) request: Request,
    /// Bytes the client sent after its request.
    pub(crate) rest: Vec<u8>,
}

/// Why a handshake did not finish.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    #[error("{0}")]
    Protocol(#[from] resist_socks5::Error),
    #[error("I/O error during handshake: {0}")]
    Io(#[from] io::Error),
}

impl HandshakeError {
    /// The label for the handshakes metric.
    pub(crate) fn label(&self) -> &'static str {
        use resist_socks5::Error as E;
        match self {
            HandshakeError::Io(_) => "io_error",
            HandshakeError::Protocol(e) => match e {
                E::AuthFailed => "auth_failed",
                E::NoAcceptableMethod => "no_acceptable_method",
                E::BadVersion { .. } => "bad_version",
                E::ClosedEarly => "closed_early",
                E::CommandNotSupported { .. } => "command_not_supported",
                E::AddressTypeNotSupported { .. } => "address_type_not_supported",
                _ => "protocol_error",
            },
        }
    }
}

/// Runs the handshake. On a protocol failure the prescribed reply is written and
/// the error returned; the caller counts it, then closes with [`close_gracefully`]
/// (so a client that sees the close also sees the count). Timeouts are the caller's.
pub(crate) async fn run(
    stream: &mut TcpStream,
    auth: AuthPolicy,
) -> Result<Accepted, HandshakeError> {
    let mut hs = ServerHandshake::new(auth);
    loop {
        match hs.step() {
            Step::Recv => {
                let n = crate::read::read(stream, hs.recv_buf()?).await?;
                hs.received(n);
            }
            Step::Send(bytes) => stream.write_all(&bytes).await?,
            Step::Done { request, rest, .. } => return Ok(Accepted { request, rest }),
            Step::Fail { reply, error } => {
                if !reply.is_empty() {
                    let _ = stream.write_all(&reply).await;
                }
                return Err(error.into());
            }
        }
    }
}

/// Sends FIN and discards what the peer still sends for a moment, so that the
/// last reply is not destroyed by a RST (which Linux sends when a socket with
/// unread input is closed).
pub(crate) async fn close_gracefully(stream: &mut TcpStream) {
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 1024];
    let drain = async {
        let mut total = 0usize;
        while total < 64 * 1024 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
}
