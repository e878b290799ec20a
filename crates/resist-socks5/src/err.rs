//! Why a SOCKS5 exchange failed, and which reply the RFCs prescribe for it.

use crate::msg::ReplyCode;

/// A SOCKS5 protocol error.
///
/// Every variant is caused by the peer's bytes (or its early close), never by local
/// I/O; the right reaction is to send the reply the RFCs define, if any, and close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The first byte of a greeting or request was not 0x05. Usually a SOCKS4
    /// client, or an HTTP client pointed at the SOCKS port.
    #[error("not SOCKS version 5 (first byte {found:#04x}); is the client set to SOCKS5?")]
    BadVersion {
        /// The version byte received.
        found: u8,
    },
    /// The client offered no method the server accepts (for example only "no
    /// authentication" while the server requires a password). Reply: method 0xFF.
    #[error(
        "no acceptable authentication method offered; configure the client with a username and password"
    )]
    NoAcceptableMethod,
    /// The server chose a method the client did not offer, or one it does not
    /// implement (client side).
    #[error("server selected method {found:#04x}, which this client did not offer")]
    UnexpectedMethod {
        /// The method the server selected.
        found: u8,
    },
    /// The username/password sub-negotiation did not start with 0x01 (RFC 1929).
    #[error("bad username/password sub-negotiation version {found:#04x}")]
    BadAuthVersion {
        /// The version byte received.
        found: u8,
    },
    /// The username or password did not match any configured user. Reply: status 0x01.
    #[error("authentication failed: wrong username or password")]
    AuthFailed,
    /// The request's command is not CONNECT, BIND or UDP ASSOCIATE. Reply: 0x07.
    #[error("command {found:#04x} not supported")]
    CommandNotSupported {
        /// The command byte received.
        found: u8,
    },
    /// The request's address type is not 0x01, 0x03 or 0x04. Reply: 0x08.
    #[error("address type {found:#04x} not supported")]
    AddressTypeNotSupported {
        /// The ATYP byte received.
        found: u8,
    },
    /// A domain name that is empty or holds bytes outside printable ASCII. Reply: 0x04.
    #[error("malformed domain name in request")]
    BadDomain,
    /// A UDP datagram shorter than its own header says it is.
    #[error("truncated SOCKS5 UDP datagram")]
    TruncatedDatagram,
    /// The server answered with a reply code other than "succeeded" (client side).
    #[error("request refused by the proxy: {0}")]
    Refused(ReplyCode),
    /// The peer closed the connection before the handshake finished.
    #[error("connection closed during the SOCKS5 handshake")]
    ClosedEarly,
    /// A message did not fit in the handshake buffer. Cannot happen with the
    /// RFC's message sizes; kept so that a logic error is an error, not a panic.
    #[error("SOCKS5 message too long for the handshake buffer")]
    MessageTooLong,
    /// The state machine was driven out of order (a bug in the caller or here).
    #[error("internal error in the SOCKS5 state machine: {0}; please report it")]
    Bug(&'static str),
}

impl Error {
    /// The REP code a server should send for this error when it happens in the
    /// request phase, or `None` when the RFCs define no reply for it.
    pub fn reply_code(&self) -> Option<ReplyCode> {
        match self {
            Error::CommandNotSupported { .. } => Some(ReplyCode::COMMAND_NOT_SUPPORTED),
            Error::AddressTypeNotSupported { .. } => Some(ReplyCode::ADDRESS_TYPE_NOT_SUPPORTED),
            Error::BadDomain => Some(ReplyCode::HOST_UNREACHABLE),
            Error::BadVersion { .. } | Error::MessageTooLong | Error::Bug(_) => {
                Some(ReplyCode::GENERAL_FAILURE)
            }
            _ => None,
        }
    }
}
