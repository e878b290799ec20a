//! The measurements. Each takes the proxy under test (`None`: the direct path),
//! drives it with blocking std sockets on threads, and returns one value per row
//! of its group (`None` where a row does not apply, e.g. proxy CPU on the direct
//! path).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use resist_socks5::udp::UdpHeader;
use resist_socks5::{Address, Command};

use crate::procfs;
use crate::proxy::Running;
use crate::socks::{self, TIMEOUT};
use crate::targets::{CHUNK, Targets};

/// Concurrent clients in the connection-rate figure.
pub(crate) const CONN_CLIENTS: usize = 64;
/// Payload of the latency figure.
pub(crate) const PING: usize = 64;
/// Payload of a UDP datagram.
pub(crate) const DATAGRAM: usize = 512;
/// UDP datagrams in flight at once.
pub(crate) const WINDOW: usize = 32;

/// How much and how long to measure.
#[derive(Debug, Clone)]
pub(crate) struct Ctx<'a> {
    pub(crate) targets: &'a Targets,
    /// Load runs this long before the measured interval starts.
    pub(crate) warmup: Duration,
    /// The measured interval of bulk, connection-rate and UDP figures.
    pub(crate) interval: Duration,
    /// Round trips in the latency figure.
    pub(crate) pings: usize,
    /// Connections held in the memory figure.
    pub(crate) held: usize,
    /// A bound on count-based loops (latency, opening held connections).
    pub(crate) deadline: Duration,
}

/// One measurement: a value per row, and anything the reader should know.
#[derive(Debug, Default)]
pub(crate) struct Measured {
    pub(crate) values: Vec<Option<f64>>,
    pub(crate) note: Option<String>,
}

impl Measured {
    fn of(values: Vec<Option<f64>>) -> Measured {
        Measured { values, note: None }
    }
}

/// A connection to `target`, relayed by `proxy` or direct, and the count of
/// destination bytes that came with the proxy's reply.
fn open_counted(
    proxy: Option<&Running>,
    target: SocketAddr,
    password: bool,
) -> io::Result<(TcpStream, usize)> {
    match proxy {
        Some(p) => socks::connect(p.addr, target, password).map(|(s, rest)| (s, rest.len())),
        None => {
            let s = TcpStream::connect(target)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(TIMEOUT))?;
            s.set_write_timeout(Some(TIMEOUT))?;
            Ok((s, 0))
        }
    }
}

/// A connection to an echo (which says nothing first), relayed or direct.
fn open(proxy: Option<&Running>, target: SocketAddr, password: bool) -> io::Result<TcpStream> {
    match open_counted(proxy, target, password)? {
        (s, 0) => Ok(s),
        (_, n) => Err(io::Error::other(format!(
            "{n} unexpected bytes after the reply"
        ))),
    }
}

/// Counters shared by load threads and the clock.
#[derive(Debug, Default)]
struct Load {
    /// Bytes, connections or datagrams completed.
    done: AtomicU64,
    /// Load threads that are connected and running.
    ready: AtomicU64,
    /// Set by the clock to end the load.
    stop: AtomicBool,
    /// The first error a load thread met.
    error: Mutex<Option<String>>,
}

impl Load {
    fn fail(&self, e: impl std::fmt::Display) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert_with(|| e.to_string());
    }

    fn failed(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What happened in the measured interval.
#[derive(Debug)]
struct Window {
    done: u64,
    secs: f64,
    /// CPU seconds the proxy (and its children) used in the interval.
    cpu: Option<f64>,
}

/// Waits for `threads` load threads, lets the load warm up, then measures
/// `load.done` and the proxy's CPU over one interval, and stops the load.
fn measure_window(
    ctx: &Ctx<'_>,
    proxy: Option<&Running>,
    load: &Load,
    threads: u64,
) -> anyhow::Result<Window> {
    let result = (|| {
        let start = Instant::now();
        while load.ready.load(Relaxed) < threads {
            if let Some(e) = load.failed() {
                bail!("{e}");
            }
            if start.elapsed() > Duration::from_secs(20) {
                bail!("load threads did not connect within 20 s");
            }
            thread::sleep(Duration::from_millis(1));
        }
        thread::sleep(ctx.warmup);
        let cpu = || proxy.map(|p| procfs::cpu_seconds(p.pid()));
        let (t0, d0, c0) = (Instant::now(), load.done.load(Relaxed), cpu());
        thread::sleep(ctx.interval);
        let (t1, d1, c1) = (Instant::now(), load.done.load(Relaxed), cpu());
        if let Some(e) = load.failed() {
            bail!("{e}");
        }
        Ok(Window {
            done: d1 - d0,
            secs: (t1 - t0).as_secs_f64(),
            cpu: c0.zip(c1).map(|(a, b)| b - a),
        })
    })();
    load.stop.store(true, Relaxed);
    result
}

fn per_cpu(amount: f64, cpu: Option<f64>) -> Option<f64> {
    // A zero reading (clock-tick granularity) would be an infinite rate: report
    // nothing rather than a wrong number.
    cpu.filter(|c| *c > 0.0).map(|c| amount / c)
}

/// Bulk throughput: `streams` connections each writing (up) to the sink or
/// reading (down) from the source in 256 KiB calls. Values: Gbit/s, and GB moved
/// per proxy CPU-second.
pub(crate) fn bulk(
    ctx: &Ctx<'_>,
    proxy: Option<&Running>,
    streams: usize,
    up: bool,
) -> anyhow::Result<Measured> {
    let load = Load::default();
    let target = if up {
        ctx.targets.sink
    } else {
        ctx.targets.source
    };
    let w = thread::scope(|s| {
        for _ in 0..streams {
            s.spawn(|| {
                let r = (|| -> io::Result<()> {
                    let (mut conn, early) = open_counted(proxy, target, false)?;
                    load.done.fetch_add(early as u64, Relaxed);
                    let mut buf = vec![0x5au8; CHUNK];
                    load.ready.fetch_add(1, Relaxed);
                    while !load.stop.load(Relaxed) {
                        let n = if up {
                            conn.write_all(&buf)?;
                            CHUNK
                        } else {
                            match conn.read(&mut buf)? {
                                0 => return Err(io::Error::other("the source closed")),
                                n => n,
                            }
                        };
                        load.done.fetch_add(n as u64, Relaxed);
                    }
                    Ok(())
                })();
                if let Err(e) = r {
                    load.fail(format!("stream: {e}"));
                }
            });
        }
        measure_window(ctx, proxy, &load, streams as u64)
    })?;
    let bytes = w.done as f64;
    Ok(Measured::of(vec![
        Some(bytes * 8.0 / w.secs / 1e9),
        per_cpu(bytes / 1e9, w.cpu),
    ]))
}

/// Connection rate: 64 threads each looping {connect, handshake, CONNECT to the
/// one-shot echo, 1 byte there and back, close}. Values: connections/s, and
/// connections per proxy CPU-second.
pub(crate) fn connection_rate(
    ctx: &Ctx<'_>,
    proxy: Option<&Running>,
    password: bool,
) -> anyhow::Result<Measured> {
    let load = Load::default();
    let failures = AtomicU64::new(0);
    let first_failure = Mutex::new(None::<String>);
    let echo = ctx.targets.once;
    let one = || -> io::Result<()> {
        let mut conn = open(proxy, echo, password)?;
        conn.write_all(&[7])?;
        let mut b = [0u8; 1];
        conn.read_exact(&mut b)?;
        Ok(())
    };
    let w = thread::scope(|s| {
        for _ in 0..CONN_CLIENTS {
            s.spawn(|| {
                load.ready.fetch_add(1, Relaxed);
                while !load.stop.load(Relaxed) {
                    match one() {
                        Ok(()) => {
                            load.done.fetch_add(1, Relaxed);
                        }
                        Err(e) => {
                            failures.fetch_add(1, Relaxed);
                            let mut f = first_failure.lock().unwrap_or_else(|p| p.into_inner());
                            f.get_or_insert_with(|| e.to_string());
                            drop(f);
                            // Do not spin on a refusing proxy.
                            thread::sleep(Duration::from_millis(1));
                        }
                    }
                }
            });
        }
        measure_window(ctx, proxy, &load, CONN_CLIENTS as u64)
    })?;
    let done = w.done as f64;
    let failed = failures.load(Relaxed);
    let total = w.done + failed;
    if w.done == 0 || failed * 10 > total {
        bail!(
            "{failed} of {total} connections failed, first: {}",
            first_failure
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_default()
        );
    }
    let note = (failed > 0).then(|| {
        format!(
            "{failed} connections failed (first: {})",
            first_failure
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_default()
        )
    });
    Ok(Measured {
        values: vec![Some(done / w.secs), per_cpu(done, w.cpu)],
        note,
    })
}

/// Latency: one relayed connection to the echo, 64-byte ping-pong. With `pin`,
/// the client thread, the echo and the proxy all run on that one CPU. Values:
/// p50, p99 and p99.9 round-trip time in µs.
pub(crate) fn latency(
    ctx: &Ctx<'_>,
    proxy: Option<&Running>,
    pin: Option<usize>,
) -> anyhow::Result<Measured> {
    let ns = match pin {
        None => ping_pong(ctx, proxy, ctx.targets.echo)?,
        Some(cpu) => thread::scope(|s| {
            s.spawn(|| {
                crate::cpu::restrict(&crate::cpu::only(cpu))?;
                ping_pong(ctx, proxy, ctx.targets.echo_pinned)
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the latency thread panicked")))
        })?,
    };
    // The nearest-rank percentile, `per_mille` / 1000.
    let pct = |per_mille: usize| {
        let rank = (per_mille * ns.len()).div_ceil(1000);
        ns.get(rank.saturating_sub(1)).map(|v| *v as f64 / 1000.0)
    };
    let note = (ns.len() < ctx.pings).then(|| {
        format!(
            "only {} of {} round trips within the time bound",
            ns.len(),
            ctx.pings
        )
    });
    Ok(Measured {
        values: vec![pct(500), pct(990), pct(999)],
        note,
    })
}

/// Round-trip times in ns, sorted.
fn ping_pong(ctx: &Ctx<'_>, proxy: Option<&Running>, echo: SocketAddr) -> io::Result<Vec<u64>> {
    let mut conn = open(proxy, echo, false)?;
    let ping = [0x42u8; PING];
    let mut pong = [0u8; PING];
    let mut round_trip = || -> io::Result<()> {
        conn.write_all(&ping)?;
        conn.read_exact(&mut pong)
    };
    for _ in 0..(ctx.pings / 10).max(10) {
        round_trip()?;
    }
    let start = Instant::now();
    let mut ns: Vec<u64> = Vec::with_capacity(ctx.pings);
    for _ in 0..ctx.pings {
        let t = Instant::now();
        round_trip()?;
        ns.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
        if start.elapsed() > ctx.deadline {
            break;
        }
    }
    ns.sort_unstable();
    Ok(ns)
}

/// Memory: the proxy's RSS and PSS (summed over its process tree) before and
/// after holding `ctx.held` relayed connections, each opened with a full handshake
/// and a 1-byte echo. Values per connection: KiB of RSS, KiB of PSS, and open
/// file descriptors.
pub(crate) fn memory(ctx: &Ctx<'_>, proxy: Option<&Running>) -> anyhow::Result<Measured> {
    let Some(proxy) = proxy else {
        return Ok(Measured::of(vec![None, None, None]));
    };
    let hold = ctx.targets.hold;
    let open_held = || -> io::Result<TcpStream> {
        let mut c = open(Some(proxy), hold, false)?;
        c.write_all(&[1])?;
        let mut b = [0u8; 1];
        c.read_exact(&mut b)?;
        Ok(c)
    };
    // Warm up: the first connections pay for lazily built runtime state (worker
    // stacks, allocator arenas, forked children) that is not per-connection.
    let warm: Vec<TcpStream> = (0..64).map(|_| open_held()).collect::<io::Result<_>>()?;
    close_target_first(ctx, warm);
    thread::sleep(settle(ctx));
    let before = procfs::memory(proxy.pid());

    let start = Instant::now();
    let mut conns = Vec::with_capacity(ctx.held);
    let opened = (|| -> anyhow::Result<()> {
        for i in 0..ctx.held {
            if start.elapsed() > ctx.deadline {
                bail!(
                    "opened only {i} of {} connections in {:?}",
                    ctx.held,
                    ctx.deadline
                );
            }
            conns.push(open_held().with_context(|| format!("connection {i}"))?);
        }
        Ok(())
    })();
    let opening = start.elapsed();
    let result = opened.and_then(|()| {
        let wait = Instant::now();
        while ctx.targets.held() < ctx.held {
            if wait.elapsed() > Duration::from_secs(5) {
                bail!("the target holds {} of {}", ctx.targets.held(), ctx.held);
            }
            thread::sleep(Duration::from_millis(1));
        }
        thread::sleep(settle(ctx));
        Ok(procfs::memory(proxy.pid()))
    });
    close_target_first(ctx, conns);
    let after = result?;
    let n = ctx.held as f64;
    let per = |a: u64, b: u64| Some((a as f64 - b as f64) / n);
    Ok(Measured {
        values: vec![
            per(after.rss_kib, before.rss_kib),
            per(after.pss_kib, before.pss_kib),
            per(after.fds, before.fds),
        ],
        note: Some(format!(
            "{} connections opened in {:.2} s; RSS {} → {} KiB, PSS {} → {} KiB, {} → {} open files",
            ctx.held,
            opening.as_secs_f64(),
            before.rss_kib,
            after.rss_kib,
            before.pss_kib,
            after.pss_kib,
            before.fds,
            after.fds,
        )),
    })
}

/// Closes held connections from the target's end, then the client's once the
/// close has come through the proxy. Like the one-shot echo, this leaves
/// TIME_WAIT at the target's port rather than on ephemeral ports: Dante binds
/// each outgoing socket before connecting, and 5,000 such ports in TIME_WAIT
/// per run would leave it none within a minute.
fn close_target_first(ctx: &Ctx<'_>, conns: Vec<TcpStream>) {
    ctx.targets.release_held();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut b = [0u8; 16];
    for mut c in conns {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || c.set_read_timeout(Some(left)).is_err() {
            continue;
        }
        // Returns 0 at the close (or an error after the deadline).
        let _ = c.read(&mut b);
    }
}

/// How long a proxy's memory is left to settle before it is read.
fn settle(ctx: &Ctx<'_>) -> Duration {
    (ctx.interval / 6).clamp(Duration::from_millis(50), Duration::from_millis(500))
}

/// UDP ASSOCIATE: one association; 512-byte datagrams to the UDP echo with at
/// most 32 in flight. Values: round trips per second, and loss in percent.
pub(crate) fn udp(ctx: &Ctx<'_>, proxy: Option<&Running>) -> anyhow::Result<Measured> {
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    let echo = ctx.targets.udp_echo;
    // The control connection must stay open for the association to live.
    let mut _control = None;
    let mut packet = Vec::new();
    let relay = match proxy {
        None => echo,
        Some(p) => {
            let mut c = TcpStream::connect(p.addr)?;
            c.set_read_timeout(Some(TIMEOUT))?;
            let (reply, _) =
                socks::handshake(&mut c, Command::UdpAssociate, sock.local_addr()?, false)?;
            _control = Some(c);
            UdpHeader::new(Address::Ip(echo)).encode(&mut packet);
            match reply.bound {
                Address::Ip(a) if a.ip().is_unspecified() => SocketAddr::new(p.addr.ip(), a.port()),
                Address::Ip(a) => a,
                Address::Domain(..) => bail!("the relay address is a name: {}", reply.bound),
            }
        }
    };
    let header = packet.len();
    packet.resize(header + DATAGRAM, 0x42);
    sock.connect(relay)?;
    sock.set_read_timeout(Some(Duration::from_millis(20)))?;

    let valid = |d: &[u8]| -> bool {
        if proxy.is_none() {
            return d.len() == DATAGRAM;
        }
        matches!(UdpHeader::decode(d), Ok((h, n)) if h.frag == 0 && d.len() == n + DATAGRAM)
    };
    let mut buf = vec![0u8; 65536];
    let (mut sent, mut received, mut in_flight, mut timeouts) = (0u64, 0u64, 0usize, 0u64);
    let start = Instant::now();
    let measure_from = start + ctx.warmup;
    let end = measure_from + ctx.interval;
    let mut at_start: Option<(Instant, u64)> = None;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if at_start.is_none() && now >= measure_from {
            at_start = Some((now, received));
        }
        while in_flight < WINDOW {
            sock.send(&packet)?;
            sent += 1;
            in_flight += 1;
        }
        match sock.recv(&mut buf) {
            Ok(n) => {
                if valid(buf.get(..n).unwrap_or_default()) {
                    received += 1;
                }
                in_flight = in_flight.saturating_sub(1);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                // Nothing for 20 ms: what is in flight is lost; refill the window.
                timeouts += 1;
                in_flight = 0;
            }
            Err(e) => return Err(anyhow!("receiving: {e}")),
        }
    }
    let (t0, r0) = at_start.ok_or_else(|| anyhow!("the interval never started"))?;
    let (t1, r1) = (Instant::now(), received);
    // Late answers still count as delivered, not lost.
    sock.set_read_timeout(Some(Duration::from_millis(100)))?;
    while received < sent {
        match sock.recv(&mut buf) {
            Ok(n) if valid(buf.get(..n).unwrap_or_default()) => received += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    if r1 == r0 {
        bail!("no datagram came back ({sent} sent)");
    }
    let loss = (sent - received.min(sent)) as f64 * 100.0 / sent as f64;
    Ok(Measured {
        values: vec![Some((r1 - r0) as f64 / (t1 - t0).as_secs_f64()), Some(loss)],
        note: (timeouts > 0).then(|| format!("{timeouts} window refills after 20 ms of silence")),
    })
}
