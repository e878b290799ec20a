//! Runs N complete SOCKS5 handshakes (greeting, RFC 1929 login, CONNECT) between
//! the client and server state machines in memory, for instruction counting:
//!
//! ```text
//! cargo build --release -p resist-socks5 --example handshake_loop
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/hs.out \
//!     target/release/examples/handshake_loop 10000
//! callgrind_annotate /tmp/hs.out | head   # total Ir ÷ N = instructions per handshake
//! ```
//!
//! Instruction counts do not depend on machine load, so this is the stable figure
//! to track for the handshake path (docs/benchmarks.md).

use std::sync::Arc;

use resist_socks5::Address;
use resist_socks5::auth::{User, UserTable};
use resist_socks5::client::{self, ClientHandshake};
use resist_socks5::msg::{Command, Request};
use resist_socks5::server::{AuthPolicy, ServerHandshake, Step};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let users = Arc::new(UserTable::new(vec![
        User::new("bench", "benchpass").expect("valid user"),
    ]));
    let request = Request {
        command: Command::Connect,
        address: Address::Ip("192.0.2.1:443".parse().expect("address")),
    };
    let mut done = 0usize;
    for _ in 0..n {
        let mut c = ClientHandshake::new(request.clone(), Some((b"bench", b"benchpass")));
        let mut s = ServerHandshake::new(AuthPolicy::Password(Arc::clone(&users)));
        let mut to_server: Vec<u8> = Vec::new();
        let mut to_client: Vec<u8> = Vec::new();
        let mut server_done = false;
        'exchange: loop {
            match c.step() {
                client::Step::Send(bytes) => to_server.extend(bytes),
                client::Step::Recv => {
                    let buf = c.recv_buf().expect("space");
                    let k = to_client.len().min(buf.len());
                    buf[..k].copy_from_slice(&to_client[..k]);
                    to_client.drain(..k);
                    c.received(k);
                }
                client::Step::Done { .. } => {
                    done += 1;
                    break 'exchange;
                }
                client::Step::Fail(e) => panic!("client failed: {e}"),
            }
            while !server_done {
                match s.step() {
                    Step::Recv if to_server.is_empty() => break,
                    Step::Recv => {
                        let k = s.feed(&to_server);
                        to_server.drain(..k);
                    }
                    Step::Send(bytes) => to_client.extend(bytes),
                    Step::Done { .. } => {
                        // The node's reply, as the driver would encode it.
                        let reply = resist_socks5::msg::Reply::success(Address::UNSPECIFIED);
                        to_client.extend(reply.to_bytes());
                        server_done = true;
                    }
                    Step::Fail { error, .. } => panic!("server failed: {error}"),
                }
            }
        }
    }
    assert_eq!(done, n);
    println!("{n} handshakes");
}
