//! The client side of the SOCKS5 handshake: greeting, optional RFC 1929
//! authentication, request, reply.
//!
//! Probes use it to test nodes, and tests and benchmarks use it to drive the node,
//! so there is exactly one SOCKS5 implementation in resist, seen from both ends.

use crate::buf::InputBuf;
use crate::msg::{
    Greeting, Method, MethodSelection, PasswordReply, PasswordRequest, Reply, Request,
};
use crate::{Error, ReplyCode};

/// What the driver must do next.
#[derive(Debug)]
#[must_use = "the handshake only advances when the driver acts on the step"]
pub enum Step {
    /// Read from the server into [`ClientHandshake::recv_buf`], then report the
    /// count with [`ClientHandshake::received`] (0 for end of stream).
    Recv,
    /// Write all of these bytes to the server, then call `step` again.
    Send(Vec<u8>),
    /// The server accepted the request.
    Done {
        /// The server's reply (its code is "succeeded").
        reply: Reply,
        /// Bytes the server sent after the reply (the destination's first bytes).
        rest: Vec<u8>,
    },
    /// The handshake failed; close the connection.
    Fail(Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    SendGreeting,
    AwaitMethod,
    AwaitPasswordReply,
    AwaitReply,
    Finished,
}

/// A client-side SOCKS5 handshake for one request.
#[derive(Debug)]
pub struct ClientHandshake {
    credentials: Option<PasswordRequest>,
    request: Request,
    state: State,
    input: InputBuf,
    eof: bool,
}

impl ClientHandshake {
    /// A handshake that sends `request`, authenticating with `credentials`
    /// (username, password) if given.
    pub fn new(request: Request, credentials: Option<(&[u8], &[u8])>) -> Self {
        let credentials = credentials.map(|(u, p)| PasswordRequest {
            username: u.to_vec(),
            password: p.to_vec(),
        });
        Self {
            credentials,
            request,
            state: State::SendGreeting,
            input: InputBuf::new(),
            eof: false,
        }
    }

    /// Space to read server bytes into.
    pub fn recv_buf(&mut self) -> Result<&mut [u8], Error> {
        self.input.space()
    }

    /// Records that `n` bytes were read into [`recv_buf`](Self::recv_buf); 0 means
    /// the server closed the connection.
    pub fn received(&mut self, n: usize) {
        if n == 0 {
            self.eof = true;
        }
        self.input.filled(n);
    }

    /// Advances the handshake as far as the received bytes allow.
    pub fn step(&mut self) -> Step {
        match self.advance() {
            Ok(Some(step)) => step,
            Ok(None) if self.eof => self.fail(Error::ClosedEarly),
            Ok(None) => Step::Recv,
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, error: Error) -> Step {
        self.state = State::Finished;
        Step::Fail(error)
    }

    fn advance(&mut self) -> Result<Option<Step>, Error> {
        let mut out = Vec::new();
        match self.state {
            State::SendGreeting => {
                let method = if self.credentials.is_some() {
                    Method::PASSWORD
                } else {
                    Method::NO_AUTH
                };
                Greeting {
                    methods: vec![method],
                }
                .encode(&mut out);
                self.state = State::AwaitMethod;
            }
            State::AwaitMethod => {
                let Some((sel, n)) = MethodSelection::decode(self.input.pending())? else {
                    return Ok(None);
                };
                self.input.consume(n);
                match (sel.method, &self.credentials) {
                    (Method::NO_AUTH, None) => return self.send_request(),
                    (Method::PASSWORD, Some(creds)) => {
                        creds.encode(&mut out);
                        self.state = State::AwaitPasswordReply;
                    }
                    (Method::NO_ACCEPTABLE, _) => return Err(Error::NoAcceptableMethod),
                    (Method(found), _) => return Err(Error::UnexpectedMethod { found }),
                }
            }
            State::AwaitPasswordReply => {
                let Some((reply, n)) = PasswordReply::decode(self.input.pending())? else {
                    return Ok(None);
                };
                self.input.consume(n);
                if reply.status != PasswordReply::SUCCESS.status {
                    return Err(Error::AuthFailed);
                }
                return self.send_request();
            }
            State::AwaitReply => {
                let Some((reply, n)) = Reply::decode(self.input.pending())? else {
                    return Ok(None);
                };
                self.input.consume(n);
                self.state = State::Finished;
                if reply.code != ReplyCode::SUCCEEDED {
                    return Err(Error::Refused(reply.code));
                }
                return Ok(Some(Step::Done {
                    reply,
                    rest: self.input.take_pending(),
                }));
            }
            State::Finished => {
                return Err(Error::Bug("step() called after the handshake finished"));
            }
        }
        Ok(Some(Step::Send(out)))
    }

    fn send_request(&mut self) -> Result<Option<Step>, Error> {
        let mut out = Vec::with_capacity(Request::MAX_LEN);
        self.request.encode(&mut out);
        self.state = State::AwaitReply;
        Ok(Some(Step::Send(out)))
    }
}

#[cfg(test)]
mod test {
    use std::sync::Arc;

    use super::*;
    use crate::auth::{User, UserTable};
    use crate::server::{self, AuthPolicy, ServerHandshake};
    use crate::{Address, Command};

    /// Runs a client and a server machine against each other in memory.
    fn pair(
        policy: AuthPolicy,
        creds: Option<(&[u8], &[u8])>,
    ) -> Result<(Request, Vec<u8>), Error> {
        let req = Request {
            command: Command::Connect,
            address: Address::Ip("192.0.2.1:80".parse().unwrap()),
        };
        let mut client = ClientHandshake::new(req, creds);
        let mut server = ServerHandshake::new(policy);
        let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
        for _ in 0..32 {
            match client.step() {
                Step::Send(b) => to_server.extend(b),
                Step::Recv => {
                    let n = to_client.len();
                    client.recv_buf()?[..n].copy_from_slice(&to_client);
                    client.received(n);
                    to_client.clear();
                }
                Step::Done { rest, .. } => {
                    return Err(Error::Bug(if rest.is_empty() { "done" } else { "rest" }));
                }
                Step::Fail(e) => return Err(e),
            }
            loop {
                match server.step() {
                    server::Step::Recv if to_server.is_empty() => break,
                    server::Step::Recv => {
                        let n = server.feed(&to_server);
                        to_server.drain(..n);
                    }
                    server::Step::Send(b) => to_client.extend(b),
                    server::Step::Done { request, rest, .. } => return Ok((request, rest)),
                    server::Step::Fail { reply, error } => {
                        to_client.extend(reply);
                        let n = to_client.len();
                        client.recv_buf()?[..n].copy_from_slice(&to_client);
                        client.received(n);
                        return match client.step() {
                            Step::Fail(e) => Err(e),
                            other => panic!("server failed with {error} but client saw {other:?}"),
                        };
                    }
                }
            }
        }
        Err(Error::Bug("no progress"))
    }

    #[test]
    fn client_and_server_agree() {
        let table = Arc::new(UserTable::new(vec![User::new("user", "pass").unwrap()]));
        let (req, _) = pair(
            AuthPolicy::Password(table.clone()),
            Some((b"user", b"pass")),
        )
        .unwrap();
        assert_eq!(req.address.to_string(), "192.0.2.1:80");
        assert!(pair(AuthPolicy::Open, None).is_ok());
        assert_eq!(
            pair(
                AuthPolicy::Password(table.clone()),
                Some((b"user", b"nope"))
            ),
            Err(Error::AuthFailed)
        );
        assert_eq!(
            pair(AuthPolicy::Password(table), None),
            Err(Error::NoAcceptableMethod)
        );
    }

    #[test]
    fn refused_reply_is_reported_with_its_code() {
        let req = Request {
            command: Command::Connect,
            address: Address::UNSPECIFIED,
        };
        let mut c = ClientHandshake::new(req, None);
        assert!(matches!(c.step(), Step::Send(_)));
        assert!(matches!(c.step(), Step::Recv));
        let bytes = [0x05, 0x00, 0x05, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
        c.recv_buf().unwrap()[..bytes.len()].copy_from_slice(&bytes);
        c.received(bytes.len());
        assert!(matches!(c.step(), Step::Send(_)), "request");
        assert!(matches!(
            c.step(),
            Step::Fail(Error::Refused(ReplyCode::NOT_ALLOWED))
        ));
    }
}
