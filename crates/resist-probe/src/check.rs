//! The test of one node: does it really relay?
//!
//! The probe connects to the node, logs in with the credentials its operator
//! registered, CONNECTs through it to the coordinator's canary, sends a fresh
//! random nonce and reads the 32-byte answer and a throughput sample. The
//! probe cannot check the answer (only the coordinator holds the canary's
//! key); it records the nonce and the answer in the report and the
//! coordinator verifies them (`Report::canary_verifies`).
//!
//! Each step has its own time limit ([`CheckLimits`]); what went wrong, and
//! where, becomes the report's [`Outcome`]:
//!
//! | what happened | outcome |
//! |---|---|
//! | name does not resolve, address in a special range, no TCP connection | `ConnectFailed` |
//! | garbage or a close during the SOCKS5 greeting | `HandshakeFailed` |
//! | credentials refused, or no acceptable method | `AuthFailed` |
//! | CONNECT answered with an error reply | `ConnectRefused` (+ `reply_code`) |
//! | no full 32-byte answer before the stream ended | `CanaryMismatch` |
//! | connect, handshake or answer over its time limit | `Timeout` |
//! | a 32-byte answer arrived | `Relayed` (verified later by the coordinator) |
//!
//! The throughput sample never changes the outcome: once the answer arrived
//! the node has proved it relays, and a slow or cut-short sample shows up as
//! `sample_bytes < sample_requested` and in `sample_us`.
//!
//! The probe refuses to dial node addresses in special ranges (loopback,
//! private, link-local, …) unless `EndpointRules::danger_allow_private` is
//! set, checking each *resolved* address and dialling exactly the address it
//! checked: a coordinator (or a DNS name) cannot steer probes into their own
//! networks.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use resist_clock::Clock;
use resist_proto::api::Assignment;
use resist_proto::canary::{self, ANSWER_LEN, MAX_SAMPLE};
use resist_proto::endpoint::{Credentials, Endpoint, EndpointRules};
use resist_proto::ip::special_range;
use resist_proto::report::{Outcome, Report};
use resist_socks5::client::{ClientHandshake, Step};
use resist_socks5::msg::{Command, Request};
use resist_socks5::{Address, DomainName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

/// Time limits and sizes for one test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckLimits {
    /// Resolving the node's name and opening the TCP connection.
    pub connect: Duration,
    /// SOCKS5 greeting, authentication and CONNECT reply.
    pub handshake: Duration,
    /// From sending the canary request to receiving the whole answer.
    pub canary_answer: Duration,
    /// From the answer to the end of the throughput sample.
    pub sample: Duration,
    /// Bytes of throughput sample to ask for (at most
    /// [`canary::MAX_SAMPLE`]; larger values are clamped).
    pub sample_len: u32,
    /// The local address to connect from: on a machine with a foot in several
    /// networks, the one whose view of the nodes this probe reports. Node
    /// addresses of the other family are skipped.
    pub source: Option<std::net::IpAddr>,
}

impl Default for CheckLimits {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            handshake: Duration::from_secs(10),
            canary_answer: Duration::from_secs(10),
            sample: Duration::from_secs(20),
            sample_len: 64 * 1024,
            source: None,
        }
    }
}

/// An assignment this probe cannot test at all. No report is made: a report
/// would blame the node for a problem that is not the node's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The coordinator's canary address is not `HOST:PORT`. A coordinator
    /// configuration error; every test would fail the same way, so none is
    /// run. Tell the coordinator's operator.
    #[error("the coordinator's canary address {canary:?} is unusable: {why}")]
    Canary {
        /// The address as the coordinator sent it.
        canary: String,
        /// What is wrong with it.
        why: String,
    },
    /// The node speaks a protocol this probe does not test (only `socks5`).
    /// Upgrade the probe.
    #[error("node {node}: protocol {protocol:?} is not supported by this probe (only socks5)")]
    Protocol {
        /// The node's id.
        node: i64,
        /// The protocol named in the assignment.
        protocol: String,
    },
    /// The assignment's credentials cannot be sent (only one of username
    /// and password, or a length outside RFC 1929's 1–255 bytes). The
    /// coordinator should have refused them at registration.
    #[error("node {node}: unusable credentials in the assignment: {why}")]
    Credentials {
        /// The node's id.
        node: i64,
        /// What is wrong (never the credentials themselves).
        why: String,
    },
}

/// Tests the node of `assignment` by relaying to the canary at `canary`
/// (`HOST:PORT`, as in `Assignments::canary`) and returns the unsigned
/// report, every field set: a fresh random `report_id`, `probe_key`,
/// `window`, `measured_at` from `clock` when the test ended, the outcome and
/// the timings. `Err` only when the assignment cannot be tested at all (see
/// [`CheckError`]); a node that fails is an `Ok` report.
pub async fn check_node(
    assignment: &Assignment,
    canary: &str,
    probe_key: [u8; 32],
    window: i64,
    limits: &CheckLimits,
    rules: EndpointRules,
    clock: &dyn Clock,
) -> Result<Report, CheckError> {
    let target = canary_address(canary)?;
    if assignment.protocol != "socks5" {
        return Err(CheckError::Protocol {
            node: assignment.node,
            protocol: assignment.protocol.clone(),
        });
    }
    let credentials = credentials(assignment)?;
    let mut report = Report::blank(
        rand::random(),
        probe_key,
        window,
        assignment.node,
        Outcome::ConnectFailed,
    );
    let test = Test {
        node: &assignment.endpoint,
        target,
        credentials: credentials
            .as_ref()
            .map(|c| (c.username.as_bytes(), c.password.as_bytes())),
        limits,
        rules,
    };
    report.outcome = test.run(&mut report).await;
    report.measured_at = clock.now().seconds();
    Ok(report)
}

/// The SOCKS5 address of the canary (`HOST:PORT`, `[V6]:PORT`).
pub fn canary_address(canary: &str) -> Result<Address, CheckError> {
    let bad = |why: String| CheckError::Canary {
        canary: canary.to_owned(),
        why,
    };
    let endpoint = Endpoint::parse(canary).map_err(|e| bad(e.problem))?;
    if endpoint.port == 0 {
        return Err(bad("port 0".into()));
    }
    match endpoint.host.parse::<IpAddr>() {
        Ok(ip) => Ok(Address::Ip(SocketAddr::new(ip, endpoint.port))),
        Err(_) => DomainName::try_from(endpoint.host.as_str())
            .map(|name| Address::Domain(name, endpoint.port))
            .map_err(|e| bad(e.to_string())),
    }
}

/// The assignment's credentials, checked against RFC 1929's limits.
fn credentials(a: &Assignment) -> Result<Option<Credentials>, CheckError> {
    let bad = |why: &str| CheckError::Credentials {
        node: a.node,
        why: why.to_owned(),
    };
    match (&a.username, &a.password) {
        (None, None) => Ok(None),
        (Some(username), Some(password)) => {
            let c = Credentials {
                username: username.clone(),
                password: password.clone(),
            };
            // The refusal names the field and its length, never its value.
            c.validate().map_err(|e| bad(&e.to_string()))?;
            Ok(Some(c))
        }
        _ => Err(bad("a username without a password or the reverse")),
    }
}

/// A TCP connection to `addr`, from `source` if given.
async fn connect_from(
    source: Option<std::net::IpAddr>,
    addr: std::net::SocketAddr,
) -> std::io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(addr).await;
    };
    let socket = match (source, addr) {
        (std::net::IpAddr::V4(_), std::net::SocketAddr::V4(_)) => tokio::net::TcpSocket::new_v4()?,
        (std::net::IpAddr::V6(_), std::net::SocketAddr::V6(_)) => tokio::net::TcpSocket::new_v6()?,
        _ => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrNotAvailable,
                "the node's address is of the other family than the source address",
            ));
        }
    };
    socket.bind(std::net::SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}

/// One test in progress.
struct Test<'a> {
    node: &'a Endpoint,
    target: Address,
    credentials: Option<(&'a [u8], &'a [u8])>,
    limits: &'a CheckLimits,
    rules: EndpointRules,
}

impl Test<'_> {
    /// Runs the steps in order, filling `r`'s timings and canary fields, and
    /// returns how it ended.
    async fn run(&self, r: &mut Report) -> Outcome {
        // Connect.
        let mut connect_at = Instant::now();
        let connected = timeout(self.limits.connect, async {
            let mut last = None;
            for addr in self.resolve().await? {
                connect_at = Instant::now();
                match connect_from(self.limits.source, addr).await {
                    Ok(s) => return Ok(s),
                    Err(e) => last = Some(e),
                }
            }
            tracing::debug!(error = ?last.map(|e| e.kind()), "no TCP connection to the node");
            Err(Outcome::ConnectFailed)
        })
        .await;
        r.connect_us = micros(connect_at.elapsed());
        let mut stream = match connected {
            Ok(Ok(s)) => s,
            Ok(Err(outcome)) => {
                if outcome == Outcome::ConnectFailed {
                    r.connect_us = 0;
                }
                return outcome;
            }
            Err(_) => return Outcome::Timeout,
        };
        let _ = stream.set_nodelay(true);

        // SOCKS5 handshake.
        let start = Instant::now();
        let request = Request {
            command: Command::Connect,
            address: self.target.clone(),
        };
        let hs = ClientHandshake::new(request, self.credentials);
        let handshake = timeout(self.limits.handshake, socks_handshake(&mut stream, hs)).await;
        r.handshake_us = micros(start.elapsed());
        let early = match handshake {
            Ok(Ok(rest)) => rest,
            Ok(Err(failure)) => {
                let (outcome, code) = failure.outcome();
                r.reply_code = code;
                return outcome;
            }
            Err(_) => return Outcome::Timeout,
        };

        // Canary: the answer, then the sample.
        let request = canary::Request {
            nonce: rand::random(),
            sample_len: self.limits.sample_len.min(MAX_SAMPLE),
        };
        r.canary_nonce = request.nonce;
        r.sample_requested = request.sample_len;
        let mut incoming = Incoming {
            stream: &mut stream,
            early,
        };
        let start = Instant::now();
        let mut got = 0;
        let answered = timeout(self.limits.canary_answer, async {
            if incoming.stream.write_all(&request.encode()).await.is_err() {
                return;
            }
            while got < ANSWER_LEN {
                match incoming.read(&mut r.canary_answer[got..]).await {
                    0 => return,
                    n => got += n,
                }
            }
        })
        .await;
        r.rtt_us = micros(start.elapsed());
        match answered {
            Err(_) => return Outcome::Timeout,
            Ok(()) if got < ANSWER_LEN => return Outcome::CanaryMismatch,
            Ok(()) => {}
        }

        let start = Instant::now();
        let want = request.sample_len as usize;
        let mut received = 0usize;
        let mut buf = vec![0u8; 16 * 1024];
        let _ = timeout(self.limits.sample, async {
            while received < want {
                let room = (want - received).min(buf.len());
                match incoming.read(&mut buf[..room]).await {
                    0 => return,
                    n => received += n,
                }
            }
        })
        .await;
        if want > 0 {
            r.sample_us = micros(start.elapsed());
        }
        r.sample_bytes = u32::try_from(received).unwrap_or(u32::MAX);
        Outcome::Relayed
    }

    /// The node's addresses this probe may dial.
    async fn resolve(&self) -> Result<Vec<SocketAddr>, Outcome> {
        let port = self.node.port;
        let found: Vec<SocketAddr> = match self.node.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((self.node.host.as_str(), port))
                .await
                .map_err(|_| {
                    tracing::debug!("the node's name does not resolve");
                    Outcome::ConnectFailed
                })?
                .collect(),
        };
        let allowed: Vec<SocketAddr> = found
            .iter()
            .copied()
            .filter(|a| self.rules.danger_allow_private || special_range(a.ip()).is_none())
            .collect();
        if allowed.is_empty() {
            if let Some(kind) = found.first().and_then(|a| special_range(a.ip())) {
                tracing::warn!(
                    kind,
                    "refusing to dial a node at a {kind} address (no probing into the probe's own network)"
                );
            }
            return Err(Outcome::ConnectFailed);
        }
        Ok(allowed)
    }
}

/// Bytes from the destination: first those the node sent right after its
/// reply (handed back by the handshake), then the stream.
struct Incoming<'a> {
    stream: &'a mut TcpStream,
    early: Vec<u8>,
}

impl Incoming<'_> {
    /// Reads into `buf`; 0 means end of stream (or an error, which for the
    /// canary exchange means the same: nothing more will come).
    async fn read(&mut self, buf: &mut [u8]) -> usize {
        if !self.early.is_empty() {
            let n = buf.len().min(self.early.len());
            buf[..n].copy_from_slice(&self.early[..n]);
            self.early.drain(..n);
            return n;
        }
        self.stream.read(buf).await.unwrap_or(0)
    }
}

/// Why the SOCKS5 handshake did not finish.
enum HandshakeFailure {
    Protocol(resist_socks5::Error),
    Io,
}

impl From<resist_socks5::Error> for HandshakeFailure {
    fn from(e: resist_socks5::Error) -> Self {
        HandshakeFailure::Protocol(e)
    }
}

impl From<std::io::Error> for HandshakeFailure {
    fn from(_: std::io::Error) -> Self {
        HandshakeFailure::Io
    }
}

impl HandshakeFailure {
    /// The report's outcome and reply code for this failure.
    fn outcome(&self) -> (Outcome, u8) {
        use resist_socks5::Error as E;
        match self {
            HandshakeFailure::Protocol(E::AuthFailed | E::NoAcceptableMethod) => {
                (Outcome::AuthFailed, 0)
            }
            HandshakeFailure::Protocol(E::Refused(code)) => (Outcome::ConnectRefused, code.0),
            HandshakeFailure::Protocol(_) | HandshakeFailure::Io => (Outcome::HandshakeFailed, 0),
        }
    }
}

/// Drives resist-socks5's client machine over `stream` (as resist-node
/// drives the server machine); returns the bytes the node sent past its
/// reply. Timeouts are the caller's.
async fn socks_handshake(
    stream: &mut TcpStream,
    mut hs: ClientHandshake,
) -> Result<Vec<u8>, HandshakeFailure> {
    loop {
        match hs.step() {
            Step::Send(bytes) => stream.write_all(&bytes).await?,
            Step::Recv => {
                let n = stream.read(hs.recv_buf()?).await?;
                hs.received(n);
            }
            Step::Done { rest, .. } => return Ok(rest),
            Step::Fail(e) => return Err(e.into()),
        }
    }
}

/// Microseconds, saturated at `u32::MAX`, at least 1 (0 means "not reached").
fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX).max(1)
}

#[cfg(test)]
mod test {
    use super::*;

    fn assignment(username: Option<&str>, password: Option<&str>) -> Assignment {
        Assignment {
            node: 1,
            endpoint: Endpoint {
                host: "192.0.2.1".into(),
                port: 1080,
            },
            protocol: "socks5".into(),
            username: username.map(Into::into),
            password: password.map(Into::into),
            reported: false,
        }
    }

    #[test]
    fn canary_addresses() {
        assert_eq!(
            canary_address("203.0.113.9:7000").unwrap(),
            Address::Ip("203.0.113.9:7000".parse().unwrap())
        );
        assert_eq!(
            canary_address("[2001:db8::9]:7000").unwrap(),
            Address::Ip("[2001:db8::9]:7000".parse().unwrap())
        );
        assert_eq!(
            canary_address("canary.example.org:7000")
                .unwrap()
                .to_string(),
            "canary.example.org:7000"
        );
        for bad in ["", "canary", "canary:0", "canary:x", "a b:1"] {
            assert!(
                matches!(canary_address(bad), Err(CheckError::Canary { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn credentials_come_in_pairs_within_rfc1929() {
        assert_eq!(credentials(&assignment(None, None)).unwrap(), None);
        assert!(
            credentials(&assignment(Some("u"), Some("p")))
                .unwrap()
                .is_some()
        );
        for a in [
            assignment(Some("u"), None),
            assignment(None, Some("p")),
            assignment(Some(""), Some("p")),
        ] {
            assert!(matches!(
                credentials(&a),
                Err(CheckError::Credentials { .. })
            ));
        }
        let long = "s".repeat(256);
        let e = credentials(&assignment(Some("u"), Some(&long))).unwrap_err();
        assert!(!e.to_string().contains(&long), "{e}");
    }

    #[test]
    fn handshake_failures_map_to_outcomes() {
        use resist_socks5::{Error as E, ReplyCode};
        let cases = [
            (E::AuthFailed, (Outcome::AuthFailed, 0)),
            (E::NoAcceptableMethod, (Outcome::AuthFailed, 0)),
            (
                E::Refused(ReplyCode::NOT_ALLOWED),
                (Outcome::ConnectRefused, 2),
            ),
            (E::ClosedEarly, (Outcome::HandshakeFailed, 0)),
            (E::BadVersion { found: 4 }, (Outcome::HandshakeFailed, 0)),
            (
                E::UnexpectedMethod { found: 0 },
                (Outcome::HandshakeFailed, 0),
            ),
        ];
        for (e, want) in cases {
            assert_eq!(HandshakeFailure::Protocol(e.clone()).outcome(), want, "{e}");
        }
        assert_eq!(
            HandshakeFailure::Io.outcome(),
            (Outcome::HandshakeFailed, 0)
        );
    }

    #[test]
    fn micros_saturate_and_mark_reached() {
        assert_eq!(micros(Duration::ZERO), 1);
        assert_eq!(micros(Duration::from_millis(3)), 3000);
        assert_eq!(micros(Duration::from_secs(100_000)), u32::MAX);
    }
}
