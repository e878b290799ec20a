//! Byte test vectors for RFC 1928 (SOCKS5) and RFC 1929 (username/password).
//!
//! Each vector is the exact wire bytes of one message, checked both ways: decoding
//! gives the expected value and consumes exactly those bytes, and encoding the value
//! gives those bytes back. The last group checks the exact bytes the server state
//! machine writes for every failure the RFCs give a reply for.
//!
//! Provenance comments mean:
//! - "RFC 1928 §N" / "RFC 1929 §2": built by hand from the field layout in that
//!   section (the RFCs print layouts, not hex examples);
//! - "captured from curl 7.88.1" / "captured from PySocks 1.7.1": bytes those
//!   clients sent to a recording listener on 127.0.0.1 (Debian 12, `curl --socks5`,
//!   `--socks5-hostname`, `--proxy-user`; PySocks `socksocket` TCP and UDP). Where
//!   the peer's answer matters, the listener replied as the vector's comment says.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use hex_literal::hex;
use resist_socks5::auth::{User, UserTable};
use resist_socks5::client::{self, ClientHandshake};
use resist_socks5::msg::{
    Greeting, MethodSelection, PasswordReply, PasswordRequest, Reply, Request,
};
use resist_socks5::server::{AuthPolicy, ServerHandshake, Step};
use resist_socks5::udp::UdpHeader;
use resist_socks5::{Address, Command, Decoded, DomainName, Error, Method, ReplyCode};

/// Checks that `bytes` decodes to exactly `want`, using all of `bytes`, and that
/// `want` encodes back to `bytes`. Also checks that trailing bytes are left alone.
fn vector<T: PartialEq + Debug>(
    bytes: &[u8],
    want: &T,
    decode: fn(&[u8]) -> Decoded<T>,
    encode: fn(&T, &mut Vec<u8>),
) {
    match decode(bytes) {
        Ok(Some((got, n))) => {
            assert_eq!(&got, want, "decode {bytes:02x?}");
            assert_eq!(n, bytes.len(), "bytes consumed decoding {want:?}");
        }
        other => panic!("decode {bytes:02x?}: {other:?}"),
    }
    let mut out = Vec::new();
    encode(want, &mut out);
    assert_eq!(out, bytes, "encode {want:?}");
    let trailing = [bytes, b"next"].concat();
    assert!(
        matches!(decode(&trailing), Ok(Some((_, n))) if n == bytes.len()),
        "decode {want:?} followed by more bytes"
    );
}

fn ip(s: &str) -> Address {
    Address::Ip(s.parse::<SocketAddr>().expect("test address"))
}

fn domain(name: &str, port: u16) -> Address {
    Address::Domain(DomainName::try_from(name).expect("test domain"), port)
}

fn request(command: Command, address: Address) -> Request {
    Request { command, address }
}

// --- Greeting and method selection (RFC 1928 §3) -------------------------------

#[test]
fn greetings() {
    let cases: [(&[u8], &[Method]); 6] = [
        // RFC 1928 §3: one method, X'00' NO AUTHENTICATION REQUIRED.
        (&hex!("05 01 00"), &[Method::NO_AUTH]),
        // RFC 1928 §3: one method, X'02' USERNAME/PASSWORD.
        (&hex!("05 01 02"), &[Method::PASSWORD]),
        // RFC 1928 §3: NMETHODS = 0, allowed by the layout (1 to 255 octets of
        // METHODS is the intent, but 0 is encodable and must not break the decoder).
        (&hex!("05 00"), &[]),
        // Captured from curl 7.88.1 `--socks5` without credentials: no-auth, GSSAPI.
        (&hex!("05 02 00 01"), &[Method::NO_AUTH, Method::GSSAPI]),
        // Captured from curl 7.88.1 `--proxy-user user:pass`: no-auth, GSSAPI, password.
        (
            &hex!("05 03 00 01 02"),
            &[Method::NO_AUTH, Method::GSSAPI, Method::PASSWORD],
        ),
        // Captured from PySocks 1.7.1 with username and password: no-auth, password.
        (&hex!("05 02 00 02"), &[Method::NO_AUTH, Method::PASSWORD]),
    ];
    for (bytes, methods) in cases {
        let want = Greeting {
            methods: methods.to_vec(),
        };
        vector(bytes, &want, Greeting::decode, Greeting::encode);
    }
}

#[test]
fn greeting_with_255_methods() {
    // RFC 1928 §3: NMETHODS is one octet, so 255 methods (00..FE) is the longest greeting.
    let bytes: Vec<u8> = [0x05, 0xff].into_iter().chain(0..=0xfe).collect();
    let want = Greeting {
        methods: (0..=0xfe).map(Method).collect(),
    };
    assert_eq!(bytes.len(), Greeting::MAX_LEN);
    vector(&bytes, &want, Greeting::decode, Greeting::encode);
}

#[test]
fn greeting_errors_and_prefixes() {
    // SOCKS4 CONNECT to 127.0.0.1:80 (SOCKS4 protocol, not an RFC): VN = 4.
    assert_eq!(
        Greeting::decode(&hex!("04 01 00 50 7f 00 00 01 00")),
        Err(Error::BadVersion { found: 0x04 })
    );
    // An HTTP client on the SOCKS port: "G" = 0x47.
    assert_eq!(
        Greeting::decode(b"GET / HTTP/1.1\r\n"),
        Err(Error::BadVersion { found: b'G' })
    );
    // RFC 1928 §3 layout, cut short: two methods announced, one present.
    assert_eq!(Greeting::decode(&hex!("05 02 00")), Ok(None));
}

#[test]
fn method_selections() {
    let cases = [
        // RFC 1928 §3: METHOD X'00'.
        (hex!("05 00"), Method::NO_AUTH),
        // RFC 1928 §3: METHOD X'02'.
        (hex!("05 02"), Method::PASSWORD),
        // RFC 1928 §3: X'FF' NO ACCEPTABLE METHODS.
        (hex!("05 ff"), Method::NO_ACCEPTABLE),
    ];
    for (bytes, method) in cases {
        let want = MethodSelection { method };
        vector(
            &bytes,
            &want,
            MethodSelection::decode,
            MethodSelection::encode,
        );
    }
    assert_eq!(
        MethodSelection::decode(&hex!("04 00")),
        Err(Error::BadVersion { found: 0x04 })
    );
}

// --- Username/password sub-negotiation (RFC 1929 §2) ---------------------------

#[test]
fn password_requests() {
    let cases: [(&[u8], &[u8], &[u8]); 3] = [
        // Captured from curl 7.88.1 `--proxy-user user:pass`.
        (&hex!("01 04 75736572 04 70617373"), b"user", b"pass"),
        // Captured from curl 7.88.1 `-x socks5h://alice:wonderland@...`.
        (
            &hex!("01 05 616c696365 0a 776f6e6465726c616e64"),
            b"alice",
            b"wonderland",
        ),
        // Captured from PySocks 1.7.1 with username "u", password "p".
        (&hex!("01 01 75 01 70"), b"u", b"p"),
    ];
    for (bytes, username, password) in cases {
        let want = PasswordRequest {
            username: username.to_vec(),
            password: password.to_vec(),
        };
        vector(
            bytes,
            &want,
            PasswordRequest::decode,
            PasswordRequest::encode,
        );
    }
}

#[test]
fn password_request_field_limits() {
    // RFC 1929 §2: ULEN and PLEN are one octet, so 255-byte fields are the longest.
    let bytes = [&[0x01, 0xff][..], &[b'U'; 255], &[0xff], &[b'P'; 255]].concat();
    let want = PasswordRequest {
        username: vec![b'U'; 255],
        password: vec![b'P'; 255],
    };
    assert_eq!(bytes.len(), PasswordRequest::MAX_LEN);
    vector(
        &bytes,
        &want,
        PasswordRequest::decode,
        PasswordRequest::encode,
    );

    // RFC 1929 §2 says 1 to 255 octets, but empty fields are encodable; the decoder
    // tolerates them (they never match a user, see `User::new`).
    let want = PasswordRequest {
        username: Vec::new(),
        password: Vec::new(),
    };
    vector(
        &hex!("01 00 00"),
        &want,
        PasswordRequest::decode,
        PasswordRequest::encode,
    );

    // RFC 1929 §2: VER must be X'01'. Here a client sent a SOCKS5 request instead.
    assert_eq!(
        PasswordRequest::decode(&hex!("05 01 00 01")),
        Err(Error::BadAuthVersion { found: 0x05 })
    );
    // RFC 1929 §2 layout, cut inside PASSWD.
    assert_eq!(
        PasswordRequest::decode(&hex!("01 04 75736572 04 7061")),
        Ok(None)
    );
}

#[test]
fn password_replies() {
    // RFC 1929 §2: STATUS X'00' is success; any other value is failure.
    vector(
        &hex!("01 00"),
        &PasswordReply::SUCCESS,
        PasswordReply::decode,
        PasswordReply::encode,
    );
    vector(
        &hex!("01 01"),
        &PasswordReply::FAILURE,
        PasswordReply::decode,
        PasswordReply::encode,
    );
    assert_eq!(
        PasswordReply::decode(&hex!("05 00")),
        Err(Error::BadAuthVersion { found: 0x05 })
    );
}

// --- Requests and addresses (RFC 1928 §4, §5) ----------------------------------

#[test]
fn requests_for_every_atyp() {
    let cases: [(&[u8], Request); 5] = [
        // Captured from curl 7.88.1 `--socks5` to http://127.0.0.1:1/: ATYP 1.
        (
            &hex!("05 01 00 01 7f000001 0001"),
            request(Command::Connect, ip("127.0.0.1:1")),
        ),
        // Captured from curl 7.88.1 `--socks5-hostname` to http://example.invalid:80/:
        // ATYP 3, 15-byte name.
        (
            &hex!("05 01 00 03 0f 6578616d706c652e696e76616c6964 0050"),
            request(Command::Connect, domain("example.invalid", 80)),
        ),
        // Captured from curl 7.88.1 `--socks5` to http://[::1]:8080/: ATYP 4.
        (
            &hex!("05 01 00 04 00000000000000000000000000000001 1f90"),
            request(Command::Connect, ip("[::1]:8080")),
        ),
        // RFC 1928 §4: CMD X'02' BIND, ATYP 1.
        (
            &hex!("05 02 00 01 c0000201 0050"),
            request(Command::Bind, ip("192.0.2.1:80")),
        ),
        // Captured from PySocks 1.7.1 UDP `socksocket`: UDP ASSOCIATE naming its
        // source as domain "0", port 60437 (its ephemeral port).
        (
            &hex!("05 03 00 03 01 30 ec15"),
            request(Command::UdpAssociate, domain("0", 60437)),
        ),
    ];
    for (bytes, want) in cases {
        vector(bytes, &want, Request::decode, Request::encode);
    }
}

#[test]
fn request_with_longest_domain() {
    // RFC 1928 §5: the domain's length is one octet, so 255 bytes is the longest.
    let name = "a".repeat(255);
    let bytes = [&hex!("05 01 00 03 ff")[..], name.as_bytes(), &hex!("ffff")].concat();
    assert_eq!(bytes.len(), Request::MAX_LEN);
    let want = request(Command::Connect, domain(&name, 0xffff));
    vector(&bytes, &want, Request::decode, Request::encode);
}

#[test]
fn request_errors() {
    // RFC 1928 §4: CMD X'09' is not assigned. Reported as soon as the byte arrives.
    assert_eq!(
        Request::decode(&hex!("05 09")),
        Err(Error::CommandNotSupported { found: 0x09 })
    );
    // RFC 1928 §5: ATYP X'02' is not assigned.
    assert_eq!(
        Request::decode(&hex!("05 01 00 02")),
        Err(Error::AddressTypeNotSupported { found: 0x02 })
    );
    // RFC 1928 §4: VER must be X'05'.
    assert_eq!(
        Request::decode(&hex!("04 01 00 01 7f000001 0050")),
        Err(Error::BadVersion { found: 0x04 })
    );
    // RFC 1928 §5 domain layout, holding a space: not a host name.
    assert_eq!(
        Request::decode(&hex!("05 01 00 03 03 612062 0050")),
        Err(Error::BadDomain)
    );
    // RFC 1928 §5 domain layout with length 0.
    assert_eq!(
        Request::decode(&hex!("05 01 00 03 00 0050")),
        Err(Error::BadDomain)
    );
    // RFC 1928 §4: RSV is "X'00'" but the RFC defines no reply for other values;
    // the decoder ignores it and re-encodes 0x00.
    let (req, n) = Request::decode(&hex!("05 01 ff 01 7f000001 0050"))
        .expect("valid")
        .expect("complete");
    assert_eq!(
        (req, n),
        (request(Command::Connect, ip("127.0.0.1:80")), 10)
    );
}

#[test]
fn addresses() {
    let cases: [(&[u8], Address); 3] = [
        // RFC 1928 §5: X'01' IPv4, 4 octets, then the port in network order.
        (&hex!("01 c0000201 01bb"), ip("192.0.2.1:443")),
        // RFC 1928 §5: X'03' domain name, length-prefixed, no terminating NUL.
        (
            &hex!("03 0b 6578616d706c652e636f6d 0050"),
            domain("example.com", 80),
        ),
        // RFC 1928 §5: X'04' IPv6, 16 octets.
        (
            &hex!("04 20010db8000000000000000000000001 1f90"),
            ip("[2001:db8::1]:8080"),
        ),
    ];
    for (bytes, want) in cases {
        vector(bytes, &want, Address::decode, Address::encode);
        assert_eq!(want.encoded_len(), bytes.len());
    }
    // RFC 1928 §5 layouts cut short: always "need more", never an error.
    for prefix in [
        &hex!("01 c00002")[..],
        &hex!("03 0b 6578"),
        &hex!("04 2001"),
    ] {
        assert_eq!(Address::decode(prefix), Ok(None), "{prefix:02x?}");
    }
}

// --- Replies (RFC 1928 §6) -----------------------------------------------------

#[test]
fn replies() {
    let cases: [(&[u8], Reply); 4] = [
        // RFC 1928 §6: succeeded, BND.ADDR IPv4.
        (
            &hex!("05 00 00 01 c0000201 9c40"),
            Reply::success(ip("192.0.2.1:40000")),
        ),
        // RFC 1928 §6: succeeded, BND.ADDR IPv6.
        (
            &hex!("05 00 00 04 20010db8000000000000000000000001 1f90"),
            Reply::success(ip("[2001:db8::1]:8080")),
        ),
        // RFC 1928 §6: succeeded, BND.ADDR domain name.
        (
            &hex!("05 00 00 03 0b 6578616d706c652e636f6d 0050"),
            Reply::success(domain("example.com", 80)),
        ),
        // The reply our recording listener sent curl and PySocks for CONNECT
        // (REP X'05' connection refused, all-zero IPv4 BND): curl 7.88.1 printed
        // "Can't complete SOCKS5 connection ... (5)", PySocks 1.7.1
        // "0x05: Connection refused".
        (
            &hex!("05 05 00 01 00000000 0000"),
            Reply::failure(ReplyCode::CONNECTION_REFUSED),
        ),
    ];
    for (bytes, want) in cases {
        vector(bytes, &want, Reply::decode, Reply::encode);
        assert_eq!(want.to_bytes(), bytes);
    }
    // RFC 1928 §6: every assigned REP code, with the all-zero IPv4 address.
    for code in 0x00..=0x08 {
        let bytes = [0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
        let want = Reply::failure(ReplyCode(code));
        vector(&bytes, &want, Reply::decode, Reply::encode);
    }
}

// --- UDP datagram header (RFC 1928 §7) -----------------------------------------

#[test]
fn udp_headers() {
    let cases: [(&[u8], UdpHeader, &[u8]); 4] = [
        // Captured from PySocks 1.7.1 UDP `socksocket.sendto(b"hello", ("127.0.0.1", 53))`.
        (
            &hex!("0000 00 01 7f000001 0035 68656c6c6f"),
            UdpHeader::new(ip("127.0.0.1:53")),
            b"hello",
        ),
        // RFC 1928 §7: FRAG X'00', domain destination, DNS query bytes as payload.
        (
            &hex!("0000 00 03 0b 6578616d706c652e636f6d 0035 abcd0100"),
            UdpHeader::new(domain("example.com", 53)),
            &hex!("abcd0100"),
        ),
        // RFC 1928 §7: FRAG X'01', the first fragment. Decoding keeps FRAG; the
        // relay drops it ("MUST drop any datagram whose FRAG field is other than X'00'").
        (
            &hex!("0000 01 04 20010db8000000000000000000000001 1f90 6669727374"),
            UdpHeader {
                frag: 0x01,
                address: ip("[2001:db8::1]:8080"),
            },
            b"first",
        ),
        // RFC 1928 §7: high-order bit of FRAG set marks the end of a fragment sequence.
        (
            &hex!("0000 81 01 c0000201 0050"),
            UdpHeader {
                frag: 0x81,
                address: ip("192.0.2.1:80"),
            },
            b"",
        ),
    ];
    for (bytes, want, payload) in cases {
        let (header, payload_at) = UdpHeader::decode(bytes).expect("valid header");
        assert_eq!(header, want);
        assert_eq!(payload_at, want.encoded_len());
        assert_eq!(&bytes[payload_at..], payload);
        let mut out = Vec::new();
        want.encode(&mut out);
        assert_eq!(out, bytes[..payload_at]);
    }
    // A datagram is whole by nature, so a short header is an error, not "need more".
    assert_eq!(
        UdpHeader::decode(&hex!("0000 00 01 7f00")),
        Err(Error::TruncatedDatagram)
    );
    assert_eq!(
        UdpHeader::decode(&hex!("0000")),
        Err(Error::TruncatedDatagram)
    );
    assert_eq!(
        UdpHeader::decode(&hex!("0000 00 02 7f000001 0035")),
        Err(Error::AddressTypeNotSupported { found: 0x02 })
    );
}

// --- Server state machine: exact bytes on the wire -----------------------------

fn password_policy() -> AuthPolicy {
    let users = vec![
        User::new("u", "p").expect("valid user"),
        User::new("user", "pass").expect("valid user"),
    ];
    AuthPolicy::Password(Arc::new(UserTable::new(users)))
}

/// Feeds all of `input` to a server at once (then end of stream), and returns every
/// byte the server wrote, including a failure reply, with the final step.
fn serve(policy: AuthPolicy, input: &[u8]) -> (Vec<u8>, Step) {
    let mut hs = ServerHandshake::new(policy);
    let mut wire = Vec::new();
    let mut input = Some(input);
    loop {
        match hs.step() {
            Step::Recv => match input.take() {
                Some(bytes) => assert_eq!(hs.feed(bytes), bytes.len()),
                None => hs.received(0),
            },
            Step::Send(bytes) => wire.extend(bytes),
            Step::Fail { reply, error } => {
                wire.extend(&reply);
                return (wire, Step::Fail { reply, error });
            }
            done @ Step::Done { .. } => return (wire, done),
        }
    }
}

#[test]
fn server_answers_captured_curl_sessions() {
    // Captured from curl 7.88.1 `--socks5` (greeting and request, pipelined here).
    let input = hex!("05 02 00 01" "05 01 00 01 7f000001 0001");
    let (wire, end) = serve(AuthPolicy::Open, &input);
    // RFC 1928 §3: the server selects X'00'.
    assert_eq!(wire, hex!("05 00"));
    let Step::Done { request: req, .. } = end else {
        panic!("{end:?}")
    };
    assert_eq!(req, request(Command::Connect, ip("127.0.0.1:1")));

    // Captured from curl 7.88.1 `--socks5-hostname --proxy-user user:pass`, with
    // the first bytes of a TLS ClientHello pipelined after the request.
    let input = hex!(
        "05 03 00 01 02"
        "01 04 75736572 04 70617373"
        "05 01 00 03 0f 6578616d706c652e696e76616c6964 01bb"
        "16 0301"
    );
    let (wire, end) = serve(password_policy(), &input);
    // RFC 1928 §3 selects X'02', then RFC 1929 §2 STATUS X'00'.
    assert_eq!(wire, hex!("05 02" "01 00"));
    let Step::Done {
        request: req,
        username,
        rest,
    } = end
    else {
        panic!("{end:?}")
    };
    assert_eq!(
        req,
        request(Command::Connect, domain("example.invalid", 443))
    );
    assert_eq!(username.as_deref(), Some("user"));
    assert_eq!(rest, hex!("16 0301"));
}

#[test]
fn server_failure_replies() {
    let cases: [(&str, AuthPolicy, &[u8], &[u8]); 10] = [
        // RFC 1928 §3: "If the selected METHOD is X'FF', none of the methods listed
        // by the client are acceptable, and the client MUST close the connection."
        // Captured curl 7.88.1 greeting without credentials, server requires them.
        (
            "no acceptable method",
            password_policy(),
            &hex!("05 02 00 01"),
            &hex!("05 ff"),
        ),
        // RFC 1928 §3, NMETHODS = 0.
        (
            "zero methods",
            AuthPolicy::Open,
            &hex!("05 00"),
            &hex!("05 ff"),
        ),
        // SOCKS4 client: the greeting-phase failure reply is X'FF' too.
        (
            "socks4 client",
            AuthPolicy::Open,
            &hex!("04 01 0050 7f000001 00"),
            &hex!("05 ff"),
        ),
        // RFC 1929 §2: "If the server returns a `failure' (STATUS value other than
        // X'00') status, it MUST close the connection."
        (
            "wrong password",
            password_policy(),
            &hex!("05 01 02" "01 01 75 01 78"),
            &hex!("05 02" "01 01"),
        ),
        // RFC 1929 §2, VER other than X'01'.
        (
            "bad sub-negotiation version",
            password_policy(),
            &hex!("05 01 02" "05 01 00 01"),
            &hex!("05 02" "01 01"),
        ),
        // RFC 1928 §6: X'07' Command not supported.
        (
            "unknown command",
            AuthPolicy::Open,
            &hex!("05 01 00" "05 09 00 01 7f000001 0050"),
            &hex!("05 00" "05 07 00 01 00000000 0000"),
        ),
        // RFC 1928 §6: X'08' Address type not supported.
        (
            "unknown address type",
            AuthPolicy::Open,
            &hex!("05 01 00" "05 01 00 02 7f000001 0050"),
            &hex!("05 00" "05 08 00 01 00000000 0000"),
        ),
        // RFC 1928 §6: X'04' Host unreachable, for a name no resolver could take.
        (
            "malformed domain",
            AuthPolicy::Open,
            &hex!("05 01 00" "05 01 00 03 03 612062 0050"),
            &hex!("05 00" "05 04 00 01 00000000 0000"),
        ),
        // RFC 1928 §6: X'01' general SOCKS server failure, for a request whose VER
        // is not X'05'.
        (
            "request version",
            AuthPolicy::Open,
            &hex!("05 01 00" "04 01 00 01 7f000001 0050"),
            &hex!("05 00" "05 01 00 01 00000000 0000"),
        ),
        // The client closed mid-request: nothing to reply, just close.
        (
            "closed early",
            AuthPolicy::Open,
            &hex!("05 01 00" "05 01 00 01 7f"),
            &hex!("05 00"),
        ),
    ];
    for (name, policy, input, want) in cases {
        let (wire, end) = serve(policy, input);
        assert!(matches!(end, Step::Fail { .. }), "{name}: {end:?}");
        assert_eq!(wire, want, "{name}: {end:?}");
    }
}

// --- Client state machine: exact bytes on the wire -----------------------------

#[test]
fn client_sends_rfc_messages() {
    let req = request(Command::Connect, domain("example.com", 443));
    let mut hs = ClientHandshake::new(req, Some((b"u", b"p")));
    let mut wire = Vec::new();
    // The server's side: RFC 1928 §3 X'02', RFC 1929 §2 success, RFC 1928 §6
    // success, then the destination's first bytes.
    let mut from_server = Some(&hex!("05 02" "01 00" "05 00 00 01 c0000201 9c40" "4869")[..]);
    let end = loop {
        match hs.step() {
            client::Step::Recv => {
                let bytes = from_server.take().expect("client waits for more than sent");
                hs.recv_buf().expect("space")[..bytes.len()].copy_from_slice(bytes);
                hs.received(bytes.len());
            }
            client::Step::Send(bytes) => wire.extend(bytes),
            end => break end,
        }
    };
    assert_eq!(
        wire,
        hex!(
            "05 01 02"                                         // RFC 1928 §3
            "01 01 75 01 70"                                   // RFC 1929 §2
            "05 01 00 03 0b 6578616d706c652e636f6d 01bb"       // RFC 1928 §4
        )
    );
    let client::Step::Done { reply, rest } = end else {
        panic!("{end:?}")
    };
    assert_eq!(reply, Reply::success(ip("192.0.2.1:40000")));
    assert_eq!(rest, b"Hi");
}
