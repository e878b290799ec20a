//! The header that prefixes every datagram of a UDP association (RFC 1928 §7).
//!
//! ```text
//! +----+------+------+----------+----------+----------+
//! |RSV | FRAG | ATYP | DST.ADDR | DST.PORT |   DATA   |
//! +----+------+------+----------+----------+----------+
//! | 2  |  1   |  1   | Variable |    2     | Variable |
//! ```

use crate::{Address, Error};

/// The header of a SOCKS5 UDP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpHeader {
    /// FRAG: 0 for a whole datagram. resist drops fragments (FRAG ≠ 0), which the
    /// RFC allows ("an implementation that does not support fragmentation MUST drop
    /// any datagram whose FRAG field is other than X'00'").
    pub frag: u8,
    /// Where the datagram goes (client to relay) or came from (relay to client).
    pub address: Address,
}

impl UdpHeader {
    /// The longest possible header: RSV, FRAG, ATYP, 1 + 255 name bytes, port.
    pub const MAX_LEN: usize = 2 + 1 + 1 + 1 + 255 + 2;

    /// A header for a whole (unfragmented) datagram.
    pub fn new(address: Address) -> Self {
        Self { frag: 0, address }
    }

    /// Decodes the header of `datagram`, returning it and where the payload starts.
    ///
    /// A datagram is complete by nature, so a short one is an error, not "need more".
    pub fn decode(datagram: &[u8]) -> Result<(UdpHeader, usize), Error> {
        let (Some(&frag), Some(rest)) = (datagram.get(2), datagram.get(3..)) else {
            return Err(Error::TruncatedDatagram);
        };
        match Address::decode(rest)? {
            Some((address, n)) => Ok((UdpHeader { frag, address }, 3 + n)),
            None => Err(Error::TruncatedDatagram),
        }
    }

    /// Appends the header to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0x00, 0x00, self.frag]);
        self.address.encode(out);
    }

    /// The encoded length in bytes.
    pub fn encoded_len(&self) -> usize {
        3 + self.address.encoded_len()
    }
}
