//! The server side of the SOCKS5 handshake, from greeting to request.
//!
//! The driver loop is:
//!
//! ```text
//! loop {
//!     match hs.step() {
//!         Step::Recv => { n = read(hs.recv_buf()?); hs.received(n) }  // 0 = EOF
//!         Step::Send(bytes) => write_all(bytes),
//!         Step::Done { request, rest, .. } => break (request, rest),
//!         Step::Fail { reply, error } => { write_all(reply); close; return error }
//!     }
//! }
//! ```
//!
//! Timeouts wrap that loop in the I/O layer; this module never reads the clock.

use std::sync::Arc;

use crate::auth::UserTable;
use crate::buf::InputBuf;
use crate::msg::{
    Greeting, Method, MethodSelection, PasswordReply, PasswordRequest, Reply, Request,
};
use crate::{Error, ReplyCode};

/// Which clients may pass the authentication phase.
#[derive(Debug, Clone)]
pub enum AuthPolicy {
    /// Anyone: "no authentication" is selected when offered. A client that offers
    /// only username/password is let through with any credentials, because some
    /// applications always send the credentials they were configured with.
    Open,
    /// Only clients that present credentials from this table (RFC 1929).
    Password(Arc<UserTable>),
}

/// What the driver must do next.
#[derive(Debug)]
#[must_use = "the handshake only advances when the driver acts on the step"]
pub enum Step {
    /// Read from the client into [`ServerHandshake::recv_buf`], then report the
    /// count with [`ServerHandshake::received`] (0 for end of stream).
    Recv,
    /// Write all of these bytes to the client, then call `step` again.
    Send(Vec<u8>),
    /// The handshake is over: the driver now acts on `request` and writes a
    /// [`Reply`] itself.
    Done {
        /// The client's request.
        request: Request,
        /// The username the client authenticated as, if it used RFC 1929.
        username: Option<String>,
        /// Bytes the client sent after the request (its first application data).
        rest: Vec<u8>,
    },
    /// The handshake failed: write `reply` (it may be empty), then close.
    Fail {
        /// The bytes the RFCs prescribe for this failure.
        reply: Vec<u8>,
        /// What went wrong.
        error: Error,
    },
}

/// Where the handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the greeting.
    Greeting,
    /// Waiting for an RFC 1929 username/password request.
    Password,
    /// Waiting for the request.
    Request,
    /// `Done` or `Fail` was returned; nothing more to do.
    Finished,
}

/// A server-side SOCKS5 handshake.
#[derive(Debug)]
pub struct ServerHandshake {
    auth: AuthPolicy,
    state: State,
    input: InputBuf,
    /// Set once the client sent end of stream.
    eof: bool,
    username: Option<String>,
}

impl ServerHandshake {
    /// A handshake that admits clients according to `auth`.
    pub fn new(auth: AuthPolicy) -> Self {
        Self {
            auth,
            state: State::Greeting,
            input: InputBuf::new(),
            eof: false,
            username: None,
        }
    }

    /// Space to read client bytes into. Never empty when `step` returned `Recv`.
    pub fn recv_buf(&mut self) -> Result<&mut [u8], Error> {
        self.input.space()
    }

    /// Records that `n` bytes were read into [`recv_buf`](Self::recv_buf); 0 means
    /// the client closed its side.
    pub fn received(&mut self, n: usize) {
        if n == 0 {
            self.eof = true;
        }
        self.input.filled(n);
    }

    /// Feeds `bytes` from the client, for drivers that read into their own buffer.
    /// Returns how many were taken; the rest must be fed again after the next step.
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        let mut taken = 0;
        while let Some(rest) = bytes.get(taken..).filter(|r| !r.is_empty()) {
            let Ok(space) = self.input.space() else {
                break; // full at the cap: the caller feeds the rest later
            };
            let n = space.len().min(rest.len());
            if let (Some(dst), Some(src)) = (space.get_mut(..n), rest.get(..n)) {
                dst.copy_from_slice(src);
            }
            self.input.filled(n);
            taken += n;
        }
        taken
    }

    /// Advances the handshake as far as the received bytes allow.
    pub fn step(&mut self) -> Step {
        let result = match self.state {
            State::Greeting => self.on_greeting(),
            State::Password => self.on_password(),
            State::Request => self.on_request(),
            State::Finished => Err(Error::Bug("step() called after the handshake finished")),
        };
        match result {
            Ok(Some(step)) => step,
            Ok(None) if self.eof => self.fail(Error::ClosedEarly),
            Ok(None) => Step::Recv,
            Err(error) => self.fail(error),
        }
    }

    fn on_greeting(&mut self) -> Result<Option<Step>, Error> {
        let Some((greeting, n)) = Greeting::decode(self.input.pending())? else {
            return Ok(None);
        };
        self.input.consume(n);
        let method = self
            .choose_method(&greeting.methods)
            .ok_or(Error::NoAcceptableMethod)?;
        self.state = if method == Method::PASSWORD {
            State::Password
        } else {
            State::Request
        };
        let mut out = Vec::with_capacity(2);
        MethodSelection { method }.encode(&mut out);
        Ok(Some(Step::Send(out)))
    }

    fn choose_method(&self, offered: &[Method]) -> Option<Method> {
        let offers = |m| offered.contains(&m);
        match self.auth {
            AuthPolicy::Password(_) => offers(Method::PASSWORD).then_some(Method::PASSWORD),
            AuthPolicy::Open if offers(Method::NO_AUTH) => Some(Method::NO_AUTH),
            AuthPolicy::Open => offers(Method::PASSWORD).then_some(Method::PASSWORD),
        }
    }

    fn on_password(&mut self) -> Result<Option<Step>, Error> {
        let Some((req, n)) = PasswordRequest::decode(self.input.pending())? else {
            return Ok(None);
        };
        self.input.consume(n);
        let accepted = match &self.auth {
            AuthPolicy::Open => true,
            AuthPolicy::Password(table) => table.check(&req.username, &req.password).is_some(),
        };
        if !accepted {
            return Err(Error::AuthFailed);
        }
        self.username = Some(String::from_utf8_lossy(&req.username).into_owned());
        self.state = State::Request;
        let mut out = Vec::with_capacity(2);
        PasswordReply::SUCCESS.encode(&mut out);
        Ok(Some(Step::Send(out)))
    }

    fn on_request(&mut self) -> Result<Option<Step>, Error> {
        let Some((request, n)) = Request::decode(self.input.pending())? else {
            return Ok(None);
        };
        self.input.consume(n);
        self.state = State::Finished;
        let rest = self.input.take_pending();
        Ok(Some(Step::Done {
            request,
            username: self.username.take(),
            rest,
        }))
    }

    /// Ends the handshake with the reply the current phase prescribes for `error`.
    fn fail(&mut self, error: Error) -> Step {
        let mut reply = Vec::new();
        match (self.state, &error) {
            (_, Error::ClosedEarly) => {}
            (State::Greeting, _) => MethodSelection {
                method: Method::NO_ACCEPTABLE,
            }
            .encode(&mut reply),
            (State::Password, _) => PasswordReply::FAILURE.encode(&mut reply),
            (State::Request | State::Finished, e) => {
                let code = e.reply_code().unwrap_or(ReplyCode::GENERAL_FAILURE);
                Reply::failure(code).encode(&mut reply);
            }
        }
        self.state = State::Finished;
        Step::Fail { reply, error }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::auth::User;
    use crate::{Address, Command};

    fn password_policy() -> AuthPolicy {
        let users = vec![User::new("u", "p").unwrap()];
        AuthPolicy::Password(Arc::new(UserTable::new(users)))
    }

    /// Feeds `input` one byte at a time, collecting every step until Done or Fail.
    fn drive_bytewise(auth: AuthPolicy, input: &[u8]) -> (Vec<u8>, Step) {
        let mut hs = ServerHandshake::new(auth);
        let mut sent = Vec::new();
        let mut input = input.iter();
        loop {
            match hs.step() {
                Step::Recv => match input.next() {
                    Some(&b) => assert_eq!(hs.feed(&[b]), 1),
                    None => hs.received(0),
                },
                Step::Send(bytes) => sent.extend(bytes),
                end => return (sent, end),
            }
        }
    }

    #[test]
    fn byte_at_a_time_password_connect_with_early_data() {
        let input = [
            &[0x05, 0x02, 0x00, 0x02][..],   // greeting: no-auth, password
            &[0x01, 0x01, b'u', 0x01, b'p'], // RFC 1929 request
            &[0x05, 0x01, 0x00, 0x01, 10, 0, 0, 1, 0x01, 0xbb], // CONNECT 10.0.0.1:443
            b"early",
        ]
        .concat();
        let (sent, end) = drive_bytewise(password_policy(), &input);
        assert_eq!(sent, [0x05, 0x02, 0x01, 0x00]);
        let Step::Done {
            request,
            username,
            rest,
        } = end
        else {
            panic!("{end:?}")
        };
        assert_eq!(request.command, Command::Connect);
        assert_eq!(
            request.address,
            Address::Ip("10.0.0.1:443".parse().unwrap())
        );
        assert_eq!(username.as_deref(), Some("u"));
        // Byte-at-a-time feeding stops at the request; pipelined data is tested below.
        assert!(rest.is_empty());
    }

    #[test]
    fn pipelined_handshake_hands_back_the_rest() {
        let input = [
            &[0x05, 0x01, 0x00][..],
            &[0x05, 0x01, 0x00, 0x03, 0x07],
            b"example",
            &[0x00, 0x50],
            b"GET / HTTP/1.1\r\n",
        ]
        .concat();
        let mut hs = ServerHandshake::new(AuthPolicy::Open);
        assert!(matches!(hs.step(), Step::Recv));
        assert_eq!(hs.feed(&input), input.len());
        assert!(matches!(hs.step(), Step::Send(b) if b == [0x05, 0x00]));
        let Step::Done {
            request,
            rest,
            username,
        } = hs.step()
        else {
            panic!()
        };
        assert_eq!(request.address.to_string(), "example:80");
        assert_eq!(rest, b"GET / HTTP/1.1\r\n");
        assert_eq!(username, None);
    }

    #[test]
    fn failures_carry_the_prescribed_reply() {
        let cases: &[(&str, AuthPolicy, &[u8], &[u8])] = &[
            (
                "socks4",
                AuthPolicy::Open,
                &[0x04, 0x01, 0x00, 0x50],
                &[0x05, 0xff],
            ),
            (
                "no method",
                password_policy(),
                &[0x05, 0x01, 0x00],
                &[0x05, 0xff],
            ),
            (
                "wrong password",
                password_policy(),
                &[0x05, 0x01, 0x02, 0x01, 0x01, b'u', 0x01, b'x'],
                &[0x05, 0x02, 0x01, 0x01],
            ),
            (
                "bad auth version",
                password_policy(),
                &[0x05, 0x01, 0x02, 0x05, 0x01],
                &[0x05, 0x02, 0x01, 0x01],
            ),
            (
                "unknown command",
                AuthPolicy::Open,
                &[0x05, 0x01, 0x00, 0x05, 0x09, 0x00],
                &[0x05, 0x00, 0x05, 0x07, 0x00, 0x01, 0, 0, 0, 0, 0, 0],
            ),
            (
                "unknown atyp",
                AuthPolicy::Open,
                &[0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x02],
                &[0x05, 0x00, 0x05, 0x08, 0x00, 0x01, 0, 0, 0, 0, 0, 0],
            ),
            (
                "bad domain",
                AuthPolicy::Open,
                &[0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x03, 0x01, b' ', 0, 80],
                &[0x05, 0x00, 0x05, 0x04, 0x00, 0x01, 0, 0, 0, 0, 0, 0],
            ),
            (
                "request version",
                AuthPolicy::Open,
                &[0x05, 0x01, 0x00, 0x04, 0x01],
                &[0x05, 0x00, 0x05, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0, 0],
            ),
            (
                "eof mid-greeting",
                AuthPolicy::Open,
                &[0x05, 0x02, 0x00],
                &[],
            ),
        ];
        for (name, auth, input, want) in cases {
            let (mut sent, end) = drive_bytewise(auth.clone(), input);
            let Step::Fail { reply, error } = end else {
                panic!("{name}: {end:?}")
            };
            sent.extend(reply);
            assert_eq!(&sent, want, "{name}: {error}");
        }
    }

    #[test]
    fn open_server_accepts_clients_that_only_offer_a_password() {
        let input = [
            0x05, 0x01, 0x02, 0x01, 0x01, b'a', 0x01, b'b', 0x05, 0x03, 0x00, 0x01, 0, 0, 0, 0, 0,
            0,
        ];
        let (sent, end) = drive_bytewise(AuthPolicy::Open, &input);
        assert_eq!(sent, [0x05, 0x02, 0x01, 0x00]);
        assert!(matches!(
            end,
            Step::Done {
                request: Request {
                    command: Command::UdpAssociate,
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn step_after_finish_is_an_error_not_a_panic() {
        let (_, end) = drive_bytewise(
            AuthPolicy::Open,
            &[0x05, 0x01, 0x00, 0x05, 0x02, 0x00, 0x01, 1, 2, 3, 4, 0, 1],
        );
        assert!(matches!(end, Step::Done { .. }));
        let mut hs = ServerHandshake::new(AuthPolicy::Open);
        hs.received(0);
        assert!(matches!(
            hs.step(),
            Step::Fail {
                error: Error::ClosedEarly,
                ..
            }
        ));
        assert!(matches!(
            hs.step(),
            Step::Fail {
                error: Error::Bug(_),
                ..
            }
        ));
    }
}
