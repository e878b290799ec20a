//! The destinations, in this process on 127.0.0.1: thread-based servers that live
//! until the benchmark exits.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use socket2::{Domain, Socket, Type};

/// Bytes per read or write on bulk paths.
pub(crate) const CHUNK: usize = 256 * 1024;

/// Threads of the one-shot echo: each serves one connection at a time, so this
/// must exceed the connection-rate figure's 64 clients.
const ONCE_POOL: usize = 160;

/// Threads of the echo (the latency figure uses one connection).
const ECHO_POOL: usize = 8;

/// Small stacks: the pool and per-connection threads do nothing deep.
const STACK: usize = 256 * 1024;

/// The destination servers and their addresses.
#[derive(Debug)]
pub(crate) struct Targets {
    /// Reads and discards (upload figures).
    pub(crate) sink: SocketAddr,
    /// Writes forever (download figures).
    pub(crate) source: SocketAddr,
    /// Echoes until the peer closes (latency).
    pub(crate) echo: SocketAddr,
    /// The same, served by one thread that runs only on the CPU of the one-CPU
    /// latency figure ([`crate::cpu::latency_cpu`]).
    pub(crate) echo_pinned: SocketAddr,
    /// Answers the first bytes it reads with the same bytes, then closes
    /// (connection rate). Closing first, like a request/response server, leaves
    /// TIME_WAIT here, at the target's port, instead of on the ephemeral ports of
    /// the client and the proxy: every connection of the figure has the same
    /// loopback addresses, and tens of thousands a second would otherwise run
    /// the 28,000 ephemeral ports out within the 60 s of TIME_WAIT.
    pub(crate) once: SocketAddr,
    /// Echoes one byte, then keeps the connection open, idle (memory figure).
    pub(crate) hold: SocketAddr,
    /// The connections `hold` keeps, until [`Targets::release_held`].
    held: Arc<Mutex<Vec<TcpStream>>>,
    /// Echoes each datagram to its sender.
    pub(crate) udp_echo: SocketAddr,
}

impl Targets {
    /// Starts every server.
    pub(crate) fn start() -> io::Result<Targets> {
        let sink = serve_each(listener()?, |mut s| {
            let mut buf = vec![0u8; CHUNK];
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            while s.read(&mut buf)? > 0 {}
            Ok(())
        })?;
        let source = serve_each(listener()?, |mut s| {
            let buf = vec![0x5au8; CHUNK];
            s.set_write_timeout(Some(Duration::from_secs(10)))?;
            loop {
                s.write_all(&buf)?;
            }
        })?;
        let echo_addr = pool(ECHO_POOL, echo)?;
        let pin_cpu = crate::cpu::latency_cpu();
        let echo_pinned = {
            let l = listener()?;
            let addr = l.local_addr()?;
            thread::Builder::new()
                .name("echo-pinned".into())
                .stack_size(STACK)
                .spawn(move || {
                    if crate::cpu::restrict(&crate::cpu::only(pin_cpu)).is_ok() {
                        for s in l.incoming().flatten() {
                            let _ = echo(s);
                        }
                    }
                })?;
            addr
        };
        let once = pool(ONCE_POOL, echo_once)?;
        let held = Arc::new(Mutex::new(Vec::new()));
        let hold = {
            let l = listener()?;
            let addr = l.local_addr()?;
            let held = Arc::clone(&held);
            thread::Builder::new().name("hold".into()).spawn(move || {
                for s in l.incoming().flatten() {
                    if let Ok(s) = echo_one(s) {
                        held.lock().unwrap_or_else(PoisonError::into_inner).push(s);
                    }
                }
            })?;
            addr
        };
        let udp_echo = {
            let sock = UdpSocket::bind("127.0.0.1:0")?;
            let addr = sock.local_addr()?;
            thread::Builder::new()
                .name("udp-echo".into())
                .spawn(move || {
                    let mut buf = [0u8; 65536];
                    while let Ok((n, from)) = sock.recv_from(&mut buf) {
                        let _ = sock.send_to(buf.get(..n).unwrap_or_default(), from);
                    }
                })?;
            addr
        };
        Ok(Targets {
            sink,
            source,
            echo: echo_addr,
            echo_pinned,
            once,
            hold,
            held,
            udp_echo,
        })
    }

    /// How many connections `hold` keeps open now.
    pub(crate) fn held(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Closes the connections `hold` kept.
    pub(crate) fn release_held(&self) {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// A listener on 127.0.0.1 with a deep accept queue.
fn listener() -> io::Result<TcpListener> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    s.listen(4096)?;
    Ok(s.into())
}

/// Accepts forever, serving each connection on its own thread.
fn serve_each(l: TcpListener, serve: fn(TcpStream) -> io::Result<()>) -> io::Result<SocketAddr> {
    let addr = l.local_addr()?;
    thread::Builder::new()
        .name("accept".into())
        .spawn(move || {
            for s in l.incoming().flatten() {
                let _ = thread::Builder::new()
                    .stack_size(STACK)
                    .spawn(move || serve(s));
            }
        })?;
    Ok(addr)
}

/// `threads` threads accepting on one listener, each serving the connection it
/// accepted before accepting the next.
fn pool(threads: usize, serve: fn(TcpStream) -> io::Result<()>) -> io::Result<SocketAddr> {
    let l = Arc::new(listener()?);
    for _ in 0..threads {
        let l = Arc::clone(&l);
        thread::Builder::new()
            .name("echo".into())
            .stack_size(STACK)
            .spawn(move || {
                while let Ok((s, _)) = l.accept() {
                    let _ = serve(s);
                }
            })?;
    }
    l.local_addr()
}

fn echo_once(mut s: TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf)?;
    s.write_all(buf.get(..n).unwrap_or_default())
}

fn echo(mut s: TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        s.write_all(buf.get(..n).unwrap_or_default())?;
    }
}

fn echo_one(mut s: TcpStream) -> io::Result<TcpStream> {
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b)?;
    s.write_all(&b)?;
    Ok(s)
}
