//! Fuzz target bodies, shared by `fuzz/` (cargo-fuzz) and the corpus replay test,
//! so the corpus is checked on stable Rust in every CI run.
//!
//! Each body panics only when an oracle is violated:
//! - decoding then encoding gives back the bytes consumed (round trip), modulo the
//!   RSV bytes the RFC tells receivers to ignore;
//! - the bytes consumed never exceed the input;
//! - the state machines never panic and never stop making progress.

#![allow(clippy::indexing_slicing, clippy::expect_used, clippy::panic)] // oracles panic by design

use crate::client::{self, ClientHandshake};
use crate::msg::{Greeting, MethodSelection, PasswordReply, PasswordRequest, Reply, Request};
use crate::server::{AuthPolicy, ServerHandshake, Step};
use crate::udp::UdpHeader;
use crate::{Address, Command};

/// Decodes `data` as every message type and checks the round-trip oracle.
pub fn messages(data: &[u8]) {
    fn check<T>(
        data: &[u8],
        decode: fn(&[u8]) -> crate::Decoded<T>,
        encode: fn(&T, &mut Vec<u8>),
        rsv_at: Option<usize>,
    ) {
        if let Ok(Some((msg, n))) = decode(data) {
            assert!(n <= data.len(), "consumed more than given");
            let mut out = Vec::new();
            encode(&msg, &mut out);
            let mut want = data[..n].to_vec();
            if let Some(i) = rsv_at {
                want[i] = 0;
            }
            assert_eq!(out, want, "round trip");
        }
    }
    check(data, Greeting::decode, Greeting::encode, None);
    check(data, MethodSelection::decode, MethodSelection::encode, None);
    check(data, PasswordRequest::decode, PasswordRequest::encode, None);
    check(data, PasswordReply::decode, PasswordReply::encode, None);
    check(data, Request::decode, Request::encode, Some(2));
    check(data, Reply::decode, Reply::encode, Some(2));
    check(data, Address::decode, Address::encode, None);
    if let Ok((header, payload_at)) = UdpHeader::decode(data) {
        assert!(payload_at <= data.len());
        let mut out = Vec::new();
        header.encode(&mut out);
        let mut want = data[..payload_at].to_vec();
        want[..2].copy_from_slice(&[0, 0]);
        assert_eq!(out, want, "udp header round trip");
    }
}

/// Drives a server handshake with `data` split into chunks whose sizes come
/// from the first byte, under both authentication policies.
pub fn server(data: &[u8]) {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk % 16) + 1;
    let users =
        crate::auth::UserTable::new(vec![crate::auth::User::new("u", "p").expect("valid user")]);
    for policy in [
        AuthPolicy::Open,
        AuthPolicy::Password(std::sync::Arc::new(users.clone())),
    ] {
        let mut hs = ServerHandshake::new(policy);
        let mut input = data.chunks(chunk);
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 10_000, "no progress");
            match hs.step() {
                Step::Recv => match input.next() {
                    Some(c) => {
                        let taken = hs.feed(c);
                        assert_eq!(taken, c.len(), "buffer full while more is needed");
                    }
                    None => hs.received(0),
                },
                Step::Send(b) => assert!(b.len() <= 2),
                Step::Done { request, rest, .. } => {
                    assert!(rest.len() <= data.len());
                    assert!(matches!(
                        request.command,
                        Command::Connect | Command::Bind | Command::UdpAssociate
                    ));
                    break;
                }
                Step::Fail { reply, .. } => {
                    assert!(reply.len() <= 10);
                    break;
                }
            }
        }
    }
}

/// Drives a client handshake with `data` as the server's bytes.
pub fn client(data: &[u8]) {
    let req = Request {
        command: Command::Connect,
        address: Address::UNSPECIFIED,
    };
    for creds in [None, Some((&b"u"[..], &b"p"[..]))] {
        let mut hs = ClientHandshake::new(req.clone(), creds);
        let mut input = data.chunks(7);
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 10_000, "no progress");
            match hs.step() {
                client::Step::Recv => match input.next() {
                    Some(c) => {
                        let Ok(space) = hs.recv_buf() else { break };
                        let n = space.len().min(c.len());
                        space[..n].copy_from_slice(&c[..n]);
                        hs.received(n);
                    }
                    None => hs.received(0),
                },
                client::Step::Send(_) => {}
                client::Step::Done { .. } | client::Step::Fail(_) => break,
            }
        }
    }
}
