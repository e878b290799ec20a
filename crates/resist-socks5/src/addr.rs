//! Destination addresses as they appear on the wire: ATYP + address + port.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::{Decoded, Error};

/// ATYP for an IPv4 address (RFC 1928 §5).
pub(crate) const ATYP_IPV4: u8 = 0x01;
/// ATYP for a domain name (RFC 1928 §5).
pub(crate) const ATYP_DOMAIN: u8 = 0x03;
/// ATYP for an IPv6 address (RFC 1928 §5).
pub(crate) const ATYP_IPV6: u8 = 0x04;

/// A domain name as sent by a client: 1 to 255 bytes of printable ASCII.
///
/// Parsing is the only way to build one, so holding a `DomainName` means it is
/// safe to hand to a resolver and to encode again.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DomainName(String);

impl DomainName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&[u8]> for DomainName {
    type Error = Error;
    fn try_from(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| b.is_ascii_graphic()) {
            return Err(Error::BadDomain);
        }
        // All bytes are ASCII, so this cannot fail; map it anyway rather than panic.
        String::from_utf8(bytes.to_vec())
            .map(DomainName)
            .map_err(|_| Error::BadDomain)
    }
}

impl TryFrom<&str> for DomainName {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Error> {
        DomainName::try_from(s.as_bytes())
    }
}

impl fmt::Debug for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A SOCKS5 address with its port: an IP socket address or a domain name and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// An IPv4 (ATYP 0x01) or IPv6 (ATYP 0x04) address and port.
    Ip(SocketAddr),
    /// A domain name (ATYP 0x03) and port, to be resolved by the server.
    Domain(DomainName, u16),
}

impl Address {
    /// The all-zero IPv4 address, used in replies that carry no address.
    pub const UNSPECIFIED: Address =
        Address::Ip(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));

    /// The port.
    pub fn port(&self) -> u16 {
        match self {
            Address::Ip(sa) => sa.port(),
            Address::Domain(_, port) => *port,
        }
    }

    /// The encoded length in bytes (ATYP through port).
    pub fn encoded_len(&self) -> usize {
        match self {
            Address::Ip(SocketAddr::V4(_)) => 1 + 4 + 2,
            Address::Ip(SocketAddr::V6(_)) => 1 + 16 + 2,
            Address::Domain(name, _) => 1 + 1 + name.0.len() + 2,
        }
    }

    /// Appends ATYP, address and port to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Address::Ip(SocketAddr::V4(sa)) => {
                out.push(ATYP_IPV4);
                out.extend_from_slice(&sa.ip().octets());
            }
            Address::Ip(SocketAddr::V6(sa)) => {
                out.push(ATYP_IPV6);
                out.extend_from_slice(&sa.ip().octets());
            }
            Address::Domain(name, _) => {
                out.push(ATYP_DOMAIN);
                // A DomainName is at most 255 bytes by construction.
                out.push(u8::try_from(name.0.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(name.0.as_bytes());
            }
        }
        out.extend_from_slice(&self.port().to_be_bytes());
    }

    /// Decodes ATYP, address and port from the front of `buf`.
    pub fn decode(buf: &[u8]) -> Decoded<Address> {
        let Some((&atyp, rest)) = buf.split_first() else {
            return Ok(None);
        };
        match atyp {
            ATYP_IPV4 => {
                let Some((ip, port)) = split_fixed::<4>(rest) else {
                    return Ok(None);
                };
                let sa = SocketAddrV4::new(Ipv4Addr::from(ip), port);
                Ok(Some((Address::Ip(sa.into()), 1 + 4 + 2)))
            }
            ATYP_IPV6 => {
                let Some((ip, port)) = split_fixed::<16>(rest) else {
                    return Ok(None);
                };
                let sa = SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0);
                Ok(Some((Address::Ip(sa.into()), 1 + 16 + 2)))
            }
            ATYP_DOMAIN => {
                let Some((&len, rest)) = rest.split_first() else {
                    return Ok(None);
                };
                let len = usize::from(len);
                let Some((name, port)) = rest.get(..len).zip(read_port(rest.get(len..))) else {
                    return Ok(None);
                };
                let name = DomainName::try_from(name)?;
                Ok(Some((Address::Domain(name, port), 1 + 1 + len + 2)))
            }
            found => Err(Error::AddressTypeNotSupported { found }),
        }
    }
}

/// Reads a big-endian port from the front of `buf`, if it holds two bytes.
fn read_port(buf: Option<&[u8]>) -> Option<u16> {
    let port: [u8; 2] = buf?.get(..2)?.try_into().ok()?;
    Some(u16::from_be_bytes(port))
}

/// Splits `N` address bytes and a big-endian port off the front of `buf`.
fn split_fixed<const N: usize>(buf: &[u8]) -> Option<([u8; N], u16)> {
    let ip: [u8; N] = buf.get(..N)?.try_into().ok()?;
    Some((ip, read_port(buf.get(N..))?))
}

impl From<SocketAddr> for Address {
    fn from(sa: SocketAddr) -> Self {
        Address::Ip(sa)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Ip(sa) => write!(f, "{sa}"),
            Address::Domain(name, port) => write!(f, "{name}:{port}"),
        }
    }
}
