//! Property tests: every valid message survives encode → decode unchanged.
//!
//! The strategies below generate arbitrary *valid* messages of every type (any
//! method list, any address including any valid domain name, any reply code, any
//! RFC 1929 field contents). For each, the properties are:
//!
//! - decoding the encoding gives the same message back and consumes exactly the
//!   encoded length, even when more bytes follow (pipelined data stays unread);
//! - decoding any strict prefix of the encoding gives `Ok(None)`: a short read
//!   means "read more", never an error, which is what lets the state machines be
//!   fed one byte at a time.
//!
//! The fuzz targets check the other direction (bytes → message → bytes) on
//! arbitrary input; together they pin the codec from both sides.

use std::fmt::Debug;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};

use proptest::collection::vec;
use proptest::prelude::*;
use resist_socks5::msg::{
    Greeting, MethodSelection, PasswordReply, PasswordRequest, Reply, Request,
};
use resist_socks5::udp::UdpHeader;
use resist_socks5::{Address, Command, Decoded, DomainName, Error, Method, ReplyCode};

fn method() -> impl Strategy<Value = Method> {
    any::<u8>().prop_map(Method)
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Connect),
        Just(Command::Bind),
        Just(Command::UdpAssociate),
    ]
}

/// 1 to 255 printable, non-space ASCII bytes: exactly what `DomainName` accepts.
fn domain_name() -> impl Strategy<Value = DomainName> {
    "[!-~]{1,255}"
        .prop_map(|s| DomainName::try_from(s.as_str()).expect("strategy makes valid names"))
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        any::<SocketAddrV4>().prop_map(|sa| Address::Ip(SocketAddr::V4(sa))),
        // The wire carries no flow info or scope id, so only zeros can round-trip.
        (any::<std::net::Ipv6Addr>(), any::<u16>())
            .prop_map(|(ip, port)| Address::Ip(SocketAddr::V6(SocketAddrV6::new(ip, port, 0, 0)))),
        (domain_name(), any::<u16>()).prop_map(|(name, port)| Address::Domain(name, port)),
    ]
}

fn greeting() -> impl Strategy<Value = Greeting> {
    vec(method(), 0..=255).prop_map(|methods| Greeting { methods })
}

fn password_request() -> impl Strategy<Value = PasswordRequest> {
    (vec(any::<u8>(), 0..=255), vec(any::<u8>(), 0..=255))
        .prop_map(|(username, password)| PasswordRequest { username, password })
}

fn request() -> impl Strategy<Value = Request> {
    (command(), address()).prop_map(|(command, address)| Request { command, address })
}

fn reply() -> impl Strategy<Value = Reply> {
    (any::<u8>(), address()).prop_map(|(code, bound)| Reply {
        code: ReplyCode(code),
        bound,
    })
}

fn udp_header() -> impl Strategy<Value = UdpHeader> {
    (any::<u8>(), address()).prop_map(|(frag, address)| UdpHeader { frag, address })
}

/// Bytes that follow a message on the wire (pipelined data), possibly none.
fn tail() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..32)
}

/// Encodes `msg`, then checks the round trip with `tail` after it, and that every
/// strict prefix of the encoding decodes as "need more".
fn check<T: Clone + PartialEq + Debug>(
    msg: &T,
    tail: &[u8],
    decode: fn(&[u8]) -> Decoded<T>,
    encode: fn(&T, &mut Vec<u8>),
) -> Result<(), TestCaseError> {
    let mut bytes = Vec::new();
    encode(msg, &mut bytes);
    let len = bytes.len();
    bytes.extend_from_slice(tail);
    prop_assert_eq!(decode(&bytes), Ok(Some((msg.clone(), len))));
    for end in 0..len {
        prop_assert_eq!(decode(&bytes[..end]), Ok(None), "prefix of {} bytes", end);
    }
    Ok(())
}

proptest! {
    #[test]
    fn greeting_round_trips(msg in greeting(), tail in tail()) {
        check(&msg, &tail, Greeting::decode, Greeting::encode)?;
    }

    #[test]
    fn method_selection_round_trips(method in method(), tail in tail()) {
        let msg = MethodSelection { method };
        check(&msg, &tail, MethodSelection::decode, MethodSelection::encode)?;
    }

    #[test]
    fn password_request_round_trips(msg in password_request(), tail in tail()) {
        check(&msg, &tail, PasswordRequest::decode, PasswordRequest::encode)?;
    }

    #[test]
    fn password_reply_round_trips(status in any::<u8>(), tail in tail()) {
        let msg = PasswordReply { status };
        check(&msg, &tail, PasswordReply::decode, PasswordReply::encode)?;
    }

    #[test]
    fn address_round_trips(msg in address(), tail in tail()) {
        check(&msg, &tail, Address::decode, Address::encode)?;
        let mut bytes = Vec::new();
        msg.encode(&mut bytes);
        prop_assert_eq!(bytes.len(), msg.encoded_len());
    }

    #[test]
    fn request_round_trips(msg in request(), tail in tail()) {
        check(&msg, &tail, Request::decode, Request::encode)?;
    }

    #[test]
    fn reply_round_trips(msg in reply(), tail in tail()) {
        check(&msg, &tail, Reply::decode, Reply::encode)?;
        prop_assert_eq!(msg.to_bytes().len(), 3 + msg.bound.encoded_len());
    }

    /// A UDP datagram arrives whole, so here the payload is the "tail", and a cut
    /// header is an error (`TruncatedDatagram`) rather than "need more".
    #[test]
    fn udp_header_round_trips(msg in udp_header(), payload in tail()) {
        let mut datagram = Vec::new();
        msg.encode(&mut datagram);
        let len = datagram.len();
        prop_assert_eq!(len, msg.encoded_len());
        datagram.extend_from_slice(&payload);
        prop_assert_eq!(UdpHeader::decode(&datagram), Ok((msg.clone(), len)));
        prop_assert_eq!(&datagram[len..], &payload[..]);
        for end in 0..len {
            prop_assert_eq!(
                UdpHeader::decode(&datagram[..end]),
                Err(Error::TruncatedDatagram),
                "prefix of {} bytes",
                end
            );
        }
    }
}
