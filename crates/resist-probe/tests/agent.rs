//! The agent against a small fake coordinator (axum, the two probe endpoints
//! with the JSON types of `resist_proto::api`, checking the signed
//! `Authorization` header exactly as the coordinator will), a real resist
//! node and the real canary server.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use resist_client::Client;
use resist_clock::{ManualClock, UnixTime};
use resist_probe::agent::{ASSIGNMENTS_PATH, Agent, AgentConfig, AgentError, REPORTS_PATH};
use resist_probe::check::CheckLimits;
use resist_probe::key::ProbeKey;
use resist_probe::queue::Queue;
use resist_proto::api::{Assignment, Assignments, ErrorBody, Receipt, ReportBatch, ReportReceipts};
use resist_proto::endpoint::{Endpoint, EndpointRules};
use resist_proto::probe_auth;
use resist_proto::report::{Outcome, Report};
use resist_testkit::{TestNode, USER, test_config};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const CANARY_KEY: [u8; 32] = [0x3c; 32];
const WINDOW: i64 = 2_992_000;
const NOW: i64 = 1_795_200_000;

/// What the fake coordinator answers to `POST /api/probe/reports`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// `accepted` for new reports, `duplicate` for ones seen before.
    Accept,
    /// 503 for the whole batch.
    Unavailable,
    /// `refused` with this reason for every report.
    Refuse(&'static str),
}

struct Fake {
    enrolled: Mutex<HashSet<[u8; 32]>>,
    assignments: Mutex<Assignments>,
    mode: Mutex<Mode>,
    /// Every report stored (verified, decoded).
    stored: Mutex<Vec<Report>>,
    /// Sizes of the batches received.
    batches: Mutex<Vec<usize>>,
    gets: AtomicUsize,
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ErrorBody {
        error: code.into(),
        message: message.into(),
        field: None,
    };
    (status, Json(body)).into_response()
}

impl Fake {
    /// The signed header must verify for this method and path, under an
    /// enrolled key.
    fn authorize(&self, headers: &HeaderMap, method: &str, path: &str) -> Result<(), StatusCode> {
        let unauthorized = || StatusCode::UNAUTHORIZED;
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(unauthorized)?;
        let caller = probe_auth::verify(value, method, path).ok_or_else(unauthorized)?;
        assert_eq!(caller.at, NOW, "the header carries the agent's clock");
        if !self.enrolled.lock().unwrap().contains(&caller.key) {
            return Err(unauthorized());
        }
        Ok(())
    }
}

async fn get_assignments(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    if fake.authorize(&headers, "GET", ASSIGNMENTS_PATH).is_err() {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "unknown probe key",
        );
    }
    fake.gets.fetch_add(1, Ordering::SeqCst);
    Json(fake.assignments.lock().unwrap().clone()).into_response()
}

async fn post_reports(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Json(batch): Json<ReportBatch>,
) -> Response {
    if fake.authorize(&headers, "POST", REPORTS_PATH).is_err() {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "unknown probe key",
        );
    }
    assert!(
        batch.reports.len() <= 256,
        "batch of {}",
        batch.reports.len()
    );
    fake.batches.lock().unwrap().push(batch.reports.len());
    let mode = *fake.mode.lock().unwrap();
    if mode == Mode::Unavailable {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try later");
    }
    let mut stored = fake.stored.lock().unwrap();
    let receipts = batch
        .reports
        .iter()
        .map(|b64| {
            let report = Report::verify_signed(&STANDARD.decode(b64).unwrap()).unwrap();
            let id = hex::encode(report.report_id);
            let (status, reason) = match mode {
                Mode::Refuse(why) => ("refused", Some(why.to_owned())),
                _ if stored.iter().any(|r| r.report_id == report.report_id) => ("duplicate", None),
                _ => {
                    stored.push(report);
                    ("accepted", None)
                }
            };
            Receipt {
                report_id: id,
                status: status.into(),
                reason,
            }
        })
        .collect();
    Json(ReportReceipts { receipts }).into_response()
}

/// Starts the fake coordinator; returns it and its base URL.
async fn fake_coordinator(assignments: Assignments) -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake {
        enrolled: Mutex::new(HashSet::new()),
        assignments: Mutex::new(assignments),
        mode: Mutex::new(Mode::Accept),
        stored: Mutex::new(Vec::new()),
        batches: Mutex::new(Vec::new()),
        gets: AtomicUsize::new(0),
    });
    let app = Router::new()
        .route(ASSIGNMENTS_PATH, get(get_assignments))
        .route(REPORTS_PATH, post(post_reports))
        .with_state(Arc::clone(&fake));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, format!("http://{addr}"))
}

/// The coordinator's canary on 127.0.0.1:0; stops when dropped.
struct Canary {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn canary() -> Canary {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(resist_coordinator::canary::serve(
        listener,
        CANARY_KEY,
        async {
            let _ = stopped.await;
        },
    ));
    Canary { addr, _stop: stop }
}

fn node(id: i64, addr: SocketAddr, reported: bool) -> Assignment {
    Assignment {
        node: id,
        endpoint: Endpoint {
            host: addr.ip().to_string(),
            port: addr.port(),
        },
        protocol: "socks5".into(),
        username: Some(USER.0.into()),
        password: Some(USER.1.into()),
        reported,
    }
}

fn assignments(canary: SocketAddr, nodes: Vec<Assignment>) -> Assignments {
    Assignments {
        window: WINDOW,
        window_start: WINDOW * 600,
        window_end: WINDOW * 600 + 600,
        canary: canary.to_string(),
        region: "censored:RU".into(),
        nodes,
    }
}

fn config() -> AgentConfig {
    AgentConfig {
        region: Some("censored:RU".into()),
        poll_interval: Duration::from_millis(100),
        limits: CheckLimits {
            connect: Duration::from_secs(2),
            handshake: Duration::from_secs(2),
            canary_answer: Duration::from_secs(2),
            sample: Duration::from_secs(5),
            sample_len: 4096,
            source: None,
        },
        // The nodes of these tests are on loopback.
        rules: EndpointRules {
            danger_allow_private: true,
        },
        ..AgentConfig::default()
    }
}

fn agent(base: &str, key: &ProbeKey, queue_dir: &std::path::Path, config: AgentConfig) -> Agent {
    Agent::new(
        Client::new(base).unwrap(),
        key.clone(),
        Queue::open(queue_dir).unwrap(),
        Arc::new(ManualClock::new(UnixTime(NOW))),
        config,
    )
}

/// A port where nothing listens.
async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

#[tokio::test]
async fn a_poll_tests_what_is_assigned_and_the_receipts_empty_the_queue() {
    let real = TestNode::start(test_config()).await;
    let canary = canary().await;
    // Node 2 is already reported: it must not even be dialled.
    let watched = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = assignments(
        canary.addr,
        vec![
            node(1, real.addr, false),
            node(2, watched.local_addr().unwrap(), true),
            node(3, closed_port().await, false),
        ],
    );
    let (fake, base) = fake_coordinator(a).await;
    let key = ProbeKey::generate().unwrap();
    fake.enrolled.lock().unwrap().insert(key.public_key());
    let dir = tempfile::tempdir().unwrap();
    let mut agent = agent(&base, &key, dir.path(), config());

    assert_eq!(agent.poll_once().await.unwrap(), 2);
    let queue_files = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "report")
        })
        .count();
    assert_eq!(
        queue_files, 2,
        "both reports are on disk before any delivery"
    );
    let s = agent.flush().await.unwrap();
    assert_eq!((s.sent, s.removed, s.rejected, s.kept), (2, 2, 0, 0));

    let mut stored = fake.stored.lock().unwrap().clone();
    stored.sort_by_key(|r| r.node);
    assert_eq!(stored.len(), 2);
    assert_eq!((stored[0].node, stored[0].outcome), (1, Outcome::Relayed));
    assert!(stored[0].canary_verifies(&CANARY_KEY));
    assert_eq!(stored[0].sample_bytes, 4096);
    assert_eq!(
        (stored[1].node, stored[1].outcome),
        (3, Outcome::ConnectFailed)
    );
    for r in &stored {
        assert_eq!(
            (r.window, r.probe_key, r.measured_at),
            (WINDOW, key.public_key(), NOW)
        );
    }
    let accepted = tokio::time::timeout(Duration::from_millis(100), watched.accept()).await;
    assert!(accepted.is_err(), "a reported node was tested");

    // Nothing is tested twice in one window (the fake still says "not
    // reported"), and an empty queue sends nothing.
    assert_eq!(agent.poll_once().await.unwrap(), 0);
    assert_eq!(agent.flush().await.unwrap().sent, 0);
    assert_eq!(fake.batches.lock().unwrap().len(), 1);
    // The next window is tested afresh.
    fake.assignments.lock().unwrap().window = WINDOW + 1;
    assert_eq!(agent.poll_once().await.unwrap(), 2);
    real.stop().await;
}

#[tokio::test]
async fn reports_wait_on_disk_while_the_coordinator_fails() {
    let real = TestNode::start(test_config()).await;
    let canary = canary().await;
    let (fake, base) =
        fake_coordinator(assignments(canary.addr, vec![node(1, real.addr, false)])).await;
    let key = ProbeKey::generate().unwrap();
    fake.enrolled.lock().unwrap().insert(key.public_key());
    *fake.mode.lock().unwrap() = Mode::Unavailable;
    let dir = tempfile::tempdir().unwrap();

    let mut first = agent(&base, &key, dir.path(), config());
    assert_eq!(first.poll_once().await.unwrap(), 1);
    let e = first.flush().await.unwrap_err();
    assert!(matches!(e, AgentError::Coordinator(_)), "{e}");
    // The probe restarts (a new process would open the same directory).
    drop(first);
    let mut second = agent(&base, &key, dir.path(), config());
    assert!(second.flush().await.is_err(), "still unavailable");

    *fake.mode.lock().unwrap() = Mode::Accept;
    let s = second.flush().await.unwrap();
    assert_eq!((s.sent, s.removed), (1, 1));
    assert_eq!(fake.stored.lock().unwrap().len(), 1);
    assert!(fake.stored.lock().unwrap()[0].canary_verifies(&CANARY_KEY));
    assert_eq!(second.flush().await.unwrap().sent, 0, "acknowledged: gone");
    real.stop().await;
}

#[tokio::test]
async fn refused_reports_are_set_aside_with_the_reason_and_not_measured_again() {
    let canary = canary().await;
    let (fake, base) = fake_coordinator(assignments(
        canary.addr,
        vec![node(7, closed_port().await, false)],
    ))
    .await;
    let key = ProbeKey::generate().unwrap();
    fake.enrolled.lock().unwrap().insert(key.public_key());
    *fake.mode.lock().unwrap() = Mode::Refuse("the window is closed");
    let dir = tempfile::tempdir().unwrap();
    let mut agent = agent(&base, &key, dir.path(), config());

    assert_eq!(agent.poll_once().await.unwrap(), 1);
    let s = agent.flush().await.unwrap();
    assert_eq!((s.sent, s.removed, s.rejected), (1, 0, 1));
    let reasons: Vec<String> = std::fs::read_dir(dir.path().join("rejected"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "reason"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(reasons, ["the window is closed\n"]);
    // Not measured again in this window, and nothing left to send.
    assert_eq!(agent.poll_once().await.unwrap(), 0);
    assert_eq!(agent.flush().await.unwrap().sent, 0);
}

#[tokio::test]
async fn duplicates_leave_the_queue_too() {
    let canary = canary().await;
    let (fake, base) = fake_coordinator(assignments(
        canary.addr,
        vec![node(7, closed_port().await, false)],
    ))
    .await;
    let key = ProbeKey::generate().unwrap();
    fake.enrolled.lock().unwrap().insert(key.public_key());
    let dir = tempfile::tempdir().unwrap();
    let mut agent = agent(&base, &key, dir.path(), config());
    assert_eq!(agent.poll_once().await.unwrap(), 1);
    // The coordinator stored the batch but the answer was lost: simulate by
    // storing the report behind the agent's back, then flushing.
    let queued = peek_queue_copy(dir.path());
    fake.stored.lock().unwrap().push(queued[0].clone());
    let s = agent.flush().await.unwrap();
    assert_eq!((s.sent, s.removed), (1, 1));
    assert_eq!(fake.stored.lock().unwrap().len(), 1, "stored once");
}

/// The reports in a queue directory, read without taking its lock (a copy).
fn peek_queue_copy(dir: &std::path::Path) -> Vec<Report> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "report"))
        .map(|p| Report::verify_signed(&std::fs::read(p).unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn an_unenrolled_probe_says_how_to_enrol_and_tests_nothing() {
    let canary = canary().await;
    let (fake, base) = fake_coordinator(assignments(
        canary.addr,
        vec![node(7, closed_port().await, false)],
    ))
    .await;
    let key = ProbeKey::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut agent = agent(&base, &key, dir.path(), config());
    let e = agent.poll_once().await.unwrap_err();
    assert!(matches!(e, AgentError::NotEnrolled { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            "this probe is not enrolled: resist admin probe enrol --public-key {} --region censored:RU",
            key.public_key_hex()
        )),
        "{text}"
    );
    assert_eq!(fake.gets.load(Ordering::SeqCst), 0);
    // Enrolled later: the same agent goes on.
    fake.enrolled.lock().unwrap().insert(key.public_key());
    assert_eq!(agent.poll_once().await.unwrap(), 1);
}

#[tokio::test]
async fn an_unusable_canary_blames_no_node() {
    let (fake, base) = fake_coordinator(Assignments {
        canary: "not-an-address".into(),
        ..assignments(
            "127.0.0.1:1".parse().unwrap(),
            vec![node(7, closed_port().await, false)],
        )
    })
    .await;
    let key = ProbeKey::generate().unwrap();
    fake.enrolled.lock().unwrap().insert(key.public_key());
    let dir = tempfile::tempdir().unwrap();
    let mut agent = agent(&base, &key, dir.path(), config());
    let e = agent.poll_once().await.unwrap_err();
    assert!(matches!(e, AgentError::Assignment(_)), "{e}");
    assert_eq!(agent.flush().await.unwrap().sent, 0, "no report was made");
}

/// Queues `n` signed reports measured one second apart, oldest first.
fn backlog(dir: &std::path::Path, key: &ProbeKey, n: u16) {
    let q = Queue::open(dir).unwrap();
    for i in 0..n {
        let mut report_id = [0u8; 16];
        report_id[..2].copy_from_slice(&i.to_be_bytes());
        let r = Report {
            report_id,
            probe_key: key.public_key(),
            window: WINDOW - 1000 + i64::from(i),
            node: 1,
            measured_at: NOW - 100_000 + i64::from(i),
            outcome: Outcome::Timeout,
            reply_code: 0,
            connect_us: 1,
            handshake_us: 10_000_000,
            rtt_us: 0,
            sample_requested: 0,
            sample_bytes: 0,
            sample_us: 0,
            canary_nonce: [0; 32],
            canary_answer: [0; 32],
        };
        q.enqueue(&r.sign(key.signing_key())).unwrap();
    }
}

// The 256 cap itself is `agent::batch_len`'s unit test: 300 reports here
// would cost ~10 s of debug-build ed25519.
#[tokio::test]
async fn a_backlog_goes_in_batches_oldest_first() {
    let (fake, base) = fake_coordinator(assignments("127.0.0.1:1".parse().unwrap(), vec![])).await;
    let key = ProbeKey::generate().unwrap();
    fake.enrolled.lock().unwrap().insert(key.public_key());
    let dir = tempfile::tempdir().unwrap();
    backlog(dir.path(), &key, 10);
    let mut agent = agent(
        &base,
        &key,
        dir.path(),
        AgentConfig {
            batch_size: 4,
            ..config()
        },
    );
    let s = agent.flush().await.unwrap();
    assert_eq!((s.sent, s.removed), (10, 10));
    assert_eq!(*fake.batches.lock().unwrap(), [4, 4, 2]);
    let stored = fake.stored.lock().unwrap();
    assert!(
        stored
            .windows(2)
            .all(|w| w[0].measured_at < w[1].measured_at)
    );
}

#[tokio::test]
async fn run_polls_until_shutdown() {
    let real = TestNode::start(test_config()).await;
    let canary = canary().await;
    let (fake, base) =
        fake_coordinator(assignments(canary.addr, vec![node(1, real.addr, false)])).await;
    let key = ProbeKey::generate().unwrap();
    fake.enrolled.lock().unwrap().insert(key.public_key());
    let dir = tempfile::tempdir().unwrap();
    let agent = agent(&base, &key, dir.path(), config());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(agent.run(async {
        let _ = stopped.await;
    }));
    // Several polls happen (100 ms apart); the one report arrives once.
    tokio::time::timeout(Duration::from_secs(10), async {
        while fake.gets.load(Ordering::SeqCst) < 3 || fake.stored.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the agent polled and delivered");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("run returns promptly after shutdown")
        .unwrap();
    let stored = fake.stored.lock().unwrap().clone();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].outcome, Outcome::Relayed);
    assert!(stored[0].canary_verifies(&CANARY_KEY));
    real.stop().await;
}
