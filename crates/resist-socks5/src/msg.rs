//! The messages of RFC 1928 and RFC 1929, each with `decode` and `encode`.
//!
//! `decode` reads one message from the front of a buffer and returns how many bytes
//! it used (`Ok(None)` when the buffer holds only a prefix). `encode` appends the
//! message to a `Vec`. For every message, decoding its encoding gives it back, and
//! encoding a decoded message gives back the bytes read (the fuzz oracle).

use std::fmt;

use crate::{Address, Decoded, Error, PASSWORD_AUTH_VERSION, SOCKS_VERSION};

/// An authentication method (RFC 1928 §3).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Method(pub u8);

impl Method {
    /// X'00' NO AUTHENTICATION REQUIRED.
    pub const NO_AUTH: Method = Method(0x00);
    /// X'01' GSSAPI (not implemented by resist).
    pub const GSSAPI: Method = Method(0x01);
    /// X'02' USERNAME/PASSWORD (RFC 1929).
    pub const PASSWORD: Method = Method(0x02);
    /// X'FF' NO ACCEPTABLE METHODS.
    pub const NO_ACCEPTABLE: Method = Method(0xFF);
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Method::NO_AUTH => f.write_str("NO_AUTH"),
            Method::GSSAPI => f.write_str("GSSAPI"),
            Method::PASSWORD => f.write_str("PASSWORD"),
            Method::NO_ACCEPTABLE => f.write_str("NO_ACCEPTABLE"),
            Method(other) => write!(f, "Method({other:#04x})"),
        }
    }
}

/// A request's command (RFC 1928 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// X'01' CONNECT: open a TCP connection to the destination.
    Connect,
    /// X'02' BIND: accept one inbound TCP connection (resist answers 0x07).
    Bind,
    /// X'03' UDP ASSOCIATE: relay UDP datagrams (RFC 1928 §7).
    UdpAssociate,
}

impl Command {
    /// The wire value.
    pub fn to_byte(self) -> u8 {
        match self {
            Command::Connect => 0x01,
            Command::Bind => 0x02,
            Command::UdpAssociate => 0x03,
        }
    }
}

impl TryFrom<u8> for Command {
    type Error = Error;
    fn try_from(b: u8) -> Result<Self, Error> {
        match b {
            0x01 => Ok(Command::Connect),
            0x02 => Ok(Command::Bind),
            0x03 => Ok(Command::UdpAssociate),
            found => Err(Error::CommandNotSupported { found }),
        }
    }
}

/// A reply's REP field (RFC 1928 §6).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplyCode(pub u8);

impl ReplyCode {
    /// X'00' succeeded.
    pub const SUCCEEDED: ReplyCode = ReplyCode(0x00);
    /// X'01' general SOCKS server failure.
    pub const GENERAL_FAILURE: ReplyCode = ReplyCode(0x01);
    /// X'02' connection not allowed by ruleset.
    pub const NOT_ALLOWED: ReplyCode = ReplyCode(0x02);
    /// X'03' network unreachable.
    pub const NETWORK_UNREACHABLE: ReplyCode = ReplyCode(0x03);
    /// X'04' host unreachable.
    pub const HOST_UNREACHABLE: ReplyCode = ReplyCode(0x04);
    /// X'05' connection refused.
    pub const CONNECTION_REFUSED: ReplyCode = ReplyCode(0x05);
    /// X'06' TTL expired.
    pub const TTL_EXPIRED: ReplyCode = ReplyCode(0x06);
    /// X'07' command not supported.
    pub const COMMAND_NOT_SUPPORTED: ReplyCode = ReplyCode(0x07);
    /// X'08' address type not supported.
    pub const ADDRESS_TYPE_NOT_SUPPORTED: ReplyCode = ReplyCode(0x08);

    /// The RFC's words for this code.
    pub fn description(self) -> &'static str {
        match self.0 {
            0x00 => "succeeded",
            0x01 => "general SOCKS server failure",
            0x02 => "connection not allowed by ruleset",
            0x03 => "network unreachable",
            0x04 => "host unreachable",
            0x05 => "connection refused",
            0x06 => "TTL expired",
            0x07 => "command not supported",
            0x08 => "address type not supported",
            _ => "unassigned reply code",
        }
    }
}

impl fmt::Debug for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplyCode({:#04x} {})", self.0, self.description())
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#04x})", self.description(), self.0)
    }
}

/// The client's greeting: the methods it offers (RFC 1928 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// The offered methods, in the client's order.
    pub methods: Vec<Method>,
}

impl Greeting {
    /// The longest possible greeting: VER, NMETHODS and 255 methods.
    pub const MAX_LEN: usize = 2 + 255;

    /// Decodes a greeting from the front of `buf`.
    pub fn decode(buf: &[u8]) -> Decoded<Greeting> {
        let Some((&ver, rest)) = buf.split_first() else {
            return Ok(None);
        };
        if ver != SOCKS_VERSION {
            return Err(Error::BadVersion { found: ver });
        }
        let Some((&n, rest)) = rest.split_first() else {
            return Ok(None);
        };
        let Some(methods) = rest.get(..usize::from(n)) else {
            return Ok(None);
        };
        let methods = methods.iter().map(|&m| Method(m)).collect();
        Ok(Some((Greeting { methods }, 2 + usize::from(n))))
    }

    /// Appends the greeting to `out`. At most 255 methods are encoded.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let methods = self.methods.get(..255).unwrap_or(&self.methods);
        out.push(SOCKS_VERSION);
        out.push(u8::try_from(methods.len()).unwrap_or(u8::MAX));
        out.extend(methods.iter().map(|m| m.0));
    }
}

/// The server's choice of method (RFC 1928 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodSelection {
    /// The selected method, or `Method::NO_ACCEPTABLE`.
    pub method: Method,
}

impl MethodSelection {
    /// Decodes a method selection from the front of `buf`.
    pub fn decode(buf: &[u8]) -> Decoded<MethodSelection> {
        match *buf {
            [] | [_] => Ok(None),
            [SOCKS_VERSION, m, ..] => Ok(Some((MethodSelection { method: Method(m) }, 2))),
            [found, ..] => Err(Error::BadVersion { found }),
        }
    }

    /// Appends the method selection to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[SOCKS_VERSION, self.method.0]);
    }
}

/// A username/password request (RFC 1929 §2).
///
/// `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordRequest {
    /// UNAME: 0 to 255 bytes (the RFC says 1 to 255; empty is tolerated and never matches).
    pub username: Vec<u8>,
    /// PASSWD: 0 to 255 bytes.
    pub password: Vec<u8>,
}

impl fmt::Debug for PasswordRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordRequest")
            .field("username_len", &self.username.len())
            .field("password", &"[redacted]")
            .finish()
    }
}

impl PasswordRequest {
    /// The longest possible request: VER, ULEN, 255, PLEN, 255.
    pub const MAX_LEN: usize = 1 + 1 + 255 + 1 + 255;

    /// Decodes a username/password request from the front of `buf`.
    pub fn decode(buf: &[u8]) -> Decoded<PasswordRequest> {
        let Some((&ver, rest)) = buf.split_first() else {
            return Ok(None);
        };
        if ver != PASSWORD_AUTH_VERSION {
            return Err(Error::BadAuthVersion { found: ver });
        }
        let Some((username, rest)) = split_len_prefixed(rest) else {
            return Ok(None);
        };
        let Some((password, _)) = split_len_prefixed(rest) else {
            return Ok(None);
        };
        let len = 3 + username.len() + password.len();
        let req = PasswordRequest {
            username: username.to_vec(),
            password: password.to_vec(),
        };
        Ok(Some((req, len)))
    }

    /// Appends the request to `out`. Fields longer than 255 bytes are truncated.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(PASSWORD_AUTH_VERSION);
        push_len_prefixed(out, &self.username);
        push_len_prefixed(out, &self.password);
    }
}

/// The server's verdict on a username/password request (RFC 1929 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordReply {
    /// STATUS: 0x00 success; anything else is failure.
    pub status: u8,
}

impl PasswordReply {
    /// Success.
    pub const SUCCESS: PasswordReply = PasswordReply { status: 0x00 };
    /// Failure (any non-zero status means failure; resist sends 0x01).
    pub const FAILURE: PasswordReply = PasswordReply { status: 0x01 };

    /// Decodes a reply from the front of `buf`.
    pub fn decode(buf: &[u8]) -> Decoded<PasswordReply> {
        match *buf {
            [] | [_] => Ok(None),
            [PASSWORD_AUTH_VERSION, status, ..] => Ok(Some((PasswordReply { status }, 2))),
            [found, ..] => Err(Error::BadAuthVersion { found }),
        }
    }

    /// Appends the reply to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[PASSWORD_AUTH_VERSION, self.status]);
    }
}

/// A client's request (RFC 1928 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// CMD.
    pub command: Command,
    /// DST.ADDR and DST.PORT. For UDP ASSOCIATE: where the client will send from.
    pub address: Address,
}

impl Request {
    /// The longest possible request: VER CMD RSV, ATYP, 1 + 255 name bytes, port.
    pub const MAX_LEN: usize = 3 + 1 + 1 + 255 + 2;

    /// Decodes a request from the front of `buf`.
    ///
    /// A bad version, command or address type is reported as soon as its byte
    /// arrives, so the server can reply without waiting for the rest.
    pub fn decode(buf: &[u8]) -> Decoded<Request> {
        let Some(&ver) = buf.first() else {
            return Ok(None);
        };
        if ver != SOCKS_VERSION {
            return Err(Error::BadVersion { found: ver });
        }
        let Some(&cmd) = buf.get(1) else {
            return Ok(None);
        };
        let command = Command::try_from(cmd)?;
        // buf[2] is RSV; RFC 1928 says it is X'00' but gives no reply for other values,
        // so like most servers we ignore it. Re-encoding writes 0x00.
        let Some(rest) = buf.get(3..) else {
            return Ok(None);
        };
        let Some((address, n)) = Address::decode(rest)? else {
            return Ok(None);
        };
        Ok(Some((Request { command, address }, 3 + n)))
    }

    /// Appends the request to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[SOCKS_VERSION, self.command.to_byte(), 0x00]);
        self.address.encode(out);
    }
}

/// The server's reply to a request (RFC 1928 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// REP.
    pub code: ReplyCode,
    /// BND.ADDR and BND.PORT: for CONNECT the server's outbound address, for UDP
    /// ASSOCIATE where the client sends its datagrams, otherwise all zeros.
    pub bound: Address,
}

impl Reply {
    /// A reply with `code` and an all-zero address, as sent for failures.
    pub fn failure(code: ReplyCode) -> Reply {
        Reply {
            code,
            bound: Address::UNSPECIFIED,
        }
    }

    /// A success reply carrying `bound`.
    pub fn success(bound: Address) -> Reply {
        Reply {
            code: ReplyCode::SUCCEEDED,
            bound,
        }
    }

    /// Decodes a reply from the front of `buf`.
    pub fn decode(buf: &[u8]) -> Decoded<Reply> {
        let Some(&ver) = buf.first() else {
            return Ok(None);
        };
        if ver != SOCKS_VERSION {
            return Err(Error::BadVersion { found: ver });
        }
        let (Some(&rep), Some(rest)) = (buf.get(1), buf.get(3..)) else {
            return Ok(None);
        };
        let Some((bound, n)) = Address::decode(rest)? else {
            return Ok(None);
        };
        Ok(Some((
            Reply {
                code: ReplyCode(rep),
                bound,
            },
            3 + n,
        )))
    }

    /// Appends the reply to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[SOCKS_VERSION, self.code.0, 0x00]);
        self.bound.encode(out);
    }

    /// The encoded reply as a new `Vec`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(3 + self.bound.encoded_len());
        self.encode(&mut out);
        out
    }
}

/// Splits a one-byte length and that many bytes off the front of `buf`.
fn split_len_prefixed(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = buf.split_first()?;
    let len = usize::from(len);
    Some((rest.get(..len)?, rest.get(len..)?))
}

/// Appends a one-byte length and up to 255 bytes of `field`.
fn push_len_prefixed(out: &mut Vec<u8>, field: &[u8]) {
    let field = field.get(..255).unwrap_or(field);
    out.push(u8::try_from(field.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(field);
}
