//! The web pages in a real browser: a coordinator on loopback with real data
//! (operators registered with signatures, probes enrolled, signed reports
//! ingested over the API across six measurement windows of a manual clock),
//! and headless Chromium (Debian's `chromium`, driven by playwright-core
//! under node, JavaScript disabled in the page) that logs in through the
//! form, visits the dashboard, a node page and an operator's public page,
//! and logs out. The pages' text, headers and cookie are checked here, and
//! the screenshots are decoded and the charts measured: the colours of the
//! statuses must be where the data puts them, in its proportions.
//!
//! Needs `/usr/bin/chromium` (or `RESIST_CHROMIUM`), `node`, and
//! `npm ci --ignore-scripts` in `tests/browser`. Without them the browser
//! test is skipped, saying why, except under `CI=true`, where it fails.
//! Screenshots are kept in `$CARGO_TARGET_TMPDIR/dashboard/`.
//!
//! The other tests here use plain HTTP: what a browser would not do
//! (forms posted from another site, a flood of logins, bad addresses).

mod common;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use common::probes::{Probe, enrol};
use common::{ADMIN_TOKEN, CANARY_KEY, Harness, Wallet, node, settings, signed_register};
use resist_client::Method;
use resist_coordinator::config::LimitsConfig;
use resist_ownership::AddressKind;
use resist_proto::api::{Assignments, Registered, ReportBatch, ReportReceipts};
use resist_proto::canary;
use resist_proto::report::{Outcome, Report};
use resist_store::SqliteStore;
use serde_json::Value;

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'";

/// Status colours as the pages draw them (web::chart::colour).
const OK: [u8; 3] = [0x00, 0x9e, 0x73];
const BLOCKED: [u8; 3] = [0xd5, 0x5e, 0x00];
const DOWN: [u8; 3] = [0x00, 0x00, 0x00];

// --- the data ---------------------------------------------------------------

impl Probe {
    fn censored(&self) -> bool {
        self.view.region.starts_with("censored")
    }
}

fn now(h: &Harness<SqliteStore>) -> i64 {
    resist_clock::Clock::now(&h.clock).seconds()
}

async fn assignments(h: &Harness<SqliteStore>, p: &Probe) -> Assignments {
    let a = resist_proto::probe_auth::header(&p.key, "GET", "/api/probe/assignments", now(h));
    h.client()
        .call_authorized::<(), _>(Method::GET, "/api/probe/assignments", Some(&a), None)
        .await
        .unwrap()
}

/// A report by `p` on `node`, relayed (with the canary's right answer) or failed.
fn report(
    h: &Harness<SqliteStore>,
    p: &Probe,
    window: i64,
    node: i64,
    id: u8,
    relayed: bool,
) -> Vec<u8> {
    let nonce = [id; 32];
    let request = canary::Request {
        nonce,
        sample_len: 1024,
    };
    Report {
        report_id: [id; 16],
        probe_key: p.key.verifying_key().to_bytes(),
        window,
        node,
        measured_at: now(h),
        outcome: if relayed {
            Outcome::Relayed
        } else {
            Outcome::ConnectFailed
        },
        reply_code: 0,
        connect_us: 100,
        handshake_us: 200,
        rtt_us: 300,
        sample_requested: 1024,
        sample_bytes: if relayed { 1024 } else { 0 },
        sample_us: 400,
        canary_nonce: nonce,
        canary_answer: canary::answer(&CANARY_KEY, &request),
    }
    .sign(&p.key)
}

async fn send(h: &Harness<SqliteStore>, p: &Probe, signed: &[Vec<u8>]) {
    let a = resist_proto::probe_auth::header(&p.key, "POST", "/api/probe/reports", now(h));
    let batch = ReportBatch {
        reports: signed
            .iter()
            .map(|s| base64::engine::general_purpose::STANDARD.encode(s))
            .collect(),
    };
    let r: ReportReceipts = h
        .client()
        .call_authorized(Method::POST, "/api/probe/reports", Some(&a), Some(&batch))
        .await
        .unwrap();
    assert!(r.receipts.iter().all(|r| r.status == "accepted"), "{r:?}");
}

/// What the network looks like after [`populate`].
struct World {
    /// Operator A (two nodes) and B (two nodes).
    a: Registered,
    b: Registered,
    /// Node ids: always OK; always BLOCKED; OK for four windows then
    /// BLOCKED; always DOWN.
    ok: i64,
    blocked: i64,
    turns: i64,
    down: i64,
    probes: Vec<Probe>,
}

/// How many windows [`populate`] fills, and in which the `turns` node is
/// still OK.
const WINDOWS: i64 = 6;
const TURNS_AFTER: i64 = 4;

/// Registers two operators, enrols three censored probes and one free one,
/// and runs [`WINDOWS`] windows of measurement through the API: every probe
/// fetches its assignments and reports on each node as the scenario says.
/// The clock is left inside the last window.
async fn populate(h: &Harness<SqliteStore>) -> World {
    let (wa, wb) = (
        Wallet::new(AddressKind::P2wpkh),
        Wallet::new(AddressKind::P2tr),
    );
    let r = signed_register(
        h,
        &wa,
        vec![node("203.0.113.40", 1080), node("203.0.113.41", 1080)],
    )
    .await;
    let a: Registered = h.client().post("/api/operators", Some(&r)).await.unwrap();
    let r = signed_register(
        h,
        &wb,
        vec![node("198.51.100.50", 1080), node("198.51.100.51", 1080)],
    )
    .await;
    let b: Registered = h.client().post("/api/operators", Some(&r)).await.unwrap();
    let probes = vec![
        enrol(h, 1, "censored:RU").await,
        enrol(h, 2, "censored:RU").await,
        enrol(h, 3, "censored:RU-MOW").await,
        enrol(h, 4, "free:DE").await,
    ];
    let world = World {
        ok: a.operator.nodes[0].id,
        blocked: a.operator.nodes[1].id,
        turns: b.operator.nodes[0].id,
        down: b.operator.nodes[1].id,
        a,
        b,
        probes,
    };
    let window_secs = 600;
    let first = now(h).div_euclid(window_secs);
    let mut id = 0u8;
    for k in 0..WINDOWS {
        h.clock
            .set(resist_clock::UnixTime((first + k) * window_secs + 30));
        for p in &world.probes {
            let a = assignments(h, p).await;
            assert_eq!(a.window, first + k);
            let mut signed = Vec::new();
            for n in &a.nodes {
                let relayed = match n.node {
                    x if x == world.ok => true,
                    x if x == world.blocked => !p.censored(),
                    x if x == world.turns => k < TURNS_AFTER || !p.censored(),
                    _ => false,
                };
                id = id.checked_add(1).unwrap();
                signed.push(report(h, p, a.window, n.node, id, relayed));
            }
            if !signed.is_empty() {
                send(h, p, &signed).await;
            }
        }
    }
    world
}

// --- the browser --------------------------------------------------------------

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn chromium() -> PathBuf {
    std::env::var_os("RESIST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Why the browser test cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    if !chromium().exists() {
        return Some(format!(
            "{} not found (Debian package `chromium`, or set RESIST_CHROMIUM)",
            chromium().display()
        ));
    }
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        return Some("`node` is not installed (Debian packages nodejs npm)".into());
    }
    if !browser_dir()
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return Some(format!(
            "playwright-core is not installed: run `npm ci --ignore-scripts` in {}",
            browser_dir().display()
        ));
    }
    None
}

/// Runs `tour.mjs` with `plan` and returns what it recorded (on a blocking
/// thread: the coordinator answers the browser from this runtime).
async fn tour(plan: Value) -> Value {
    tokio::task::spawn_blocking(move || tour_blocking(&plan))
        .await
        .unwrap()
}

fn tour_blocking(plan: &Value) -> Value {
    let mut child = Command::new("node")
        .arg("tour.mjs")
        .current_dir(browser_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(plan.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the browser tour failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "tour output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

// --- screenshots ----------------------------------------------------------------

/// A decoded screenshot, RGB.
struct Shot {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

impl Shot {
    fn load(path: &str) -> Self {
        let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let channels = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => panic!("{path}: unexpected colour type {other:?}"),
        };
        let rgb = buf[..info.buffer_size()]
            .chunks_exact(channels)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        Shot {
            width: info.width as usize,
            height: info.height as usize,
            rgb,
        }
    }

    fn at(&self, x: usize, y: usize) -> [u8; 3] {
        self.rgb[y * self.width + x]
    }

    /// Pixels of `colour` in column `x`.
    fn column(&self, x: usize, colour: [u8; 3]) -> usize {
        (0..self.height)
            .filter(|&y| is(self.at(x, y), colour))
            .count()
    }

    fn count(&self, colour: [u8; 3]) -> usize {
        self.rgb.iter().filter(|p| is(**p, colour)).count()
    }
}

/// The same colour, allowing for rounding in the rasteriser.
fn is(p: [u8; 3], c: [u8; 3]) -> bool {
    p.iter().zip(c).all(|(a, b)| a.abs_diff(b) <= 3)
}

/// `a / b` is within 15% of `expected`.
fn ratio_near(a: usize, b: usize, expected: f64) -> bool {
    b > 0 && ((a as f64 / b as f64) / expected - 1.0).abs() < 0.15
}

/// The bars of a network-chart screenshot: runs of columns with any status
/// colour, each measured in its middle column as (OK, BLOCKED, DOWN) pixels.
fn bars(shot: &Shot) -> Vec<(usize, usize, usize)> {
    let coloured = |x: usize| [OK, BLOCKED, DOWN].iter().any(|c| shot.column(x, *c) > 0);
    let mut runs = Vec::new();
    let mut x = 0;
    while x < shot.width {
        if coloured(x) {
            let start = x;
            while x < shot.width && coloured(x) {
                x += 1;
            }
            runs.push((start, x));
        }
        x += 1;
    }
    runs.into_iter()
        .map(|(a, b)| {
            let mid = (a + b) / 2;
            (
                shot.column(mid, OK),
                shot.column(mid, BLOCKED),
                shot.column(mid, DOWN),
            )
        })
        .collect()
}

fn step<'a>(out: &'a Value, name: &str) -> &'a Value {
    out["steps"]
        .get(name)
        .unwrap_or_else(|| panic!("no step {name} in {out:#}"))
}

fn text(step: &Value) -> &str {
    step["text"].as_str().unwrap()
}

fn shot(step: &Value, file: &str) -> String {
    step["shots"][file]["file"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_dashboard_in_a_real_browser() {
    if !resist_testkit::require(missing_prerequisite().map(|why| {
        format!(
            "the browser test cannot run: {why}. CI installs chromium, nodejs and npm, and runs `npm ci --ignore-scripts` in crates/resist-coordinator/tests/browser"
        )
    })) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in(dir.path()).await.unwrap();
    let h = Harness::start(store, settings()).await;
    let w = populate(&h).await;
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&out_dir).unwrap();
    let operator_b = w.b.operator.payout_address.clone();
    let plan = serde_json::json!({
        "base": h.url,
        "chromium": chromium(),
        "token": ADMIN_TOKEN,
        "wrongToken": "not-the-admin-token",
        "outDir": out_dir,
        "pages": [
            { "name": "dashboard", "path": "/", "shots": [] },
            { "name": "dashboard-6", "path": format!("/?windows={WINDOWS}"),
              "shots": [{ "selector": "#network-chart", "file": "network-chart.png" }] },
            { "name": "node", "path": format!("/nodes/{}?windows={WINDOWS}", w.turns),
              "shots": [{ "selector": "svg.strip.large", "file": "node-strip.png" }] },
        ],
        "public": [
            { "name": "operator", "path": format!("/operator/{operator_b}?windows={WINDOWS}"),
              "shots": [{ "selector": "svg.strip.large", "file": "operator-strip.png" }] },
        ],
    });
    let out = tour(plan).await;

    // Login: the dashboard sent the browser to the form; a wrong token is
    // refused with the reason; the right one opens the dashboard.
    let login = step(&out, "login");
    assert!(
        login["url"].as_str().unwrap().ends_with("/login"),
        "{login:#}"
    );
    assert!(
        login["html"]
            .as_str()
            .unwrap()
            .contains(r#"<form class="login" method="post" action="/login">"#)
    );
    let refused = step(&out, "login-refused");
    assert_eq!(refused["status"], 403);
    assert!(
        text(refused).contains("wrong admin token"),
        "{}",
        text(refused)
    );
    assert_eq!(out["afterLogin"], format!("{}/", h.url));
    let cookies = out["cookies"].as_array().unwrap();
    let session = cookies
        .iter()
        .find(|c| c["name"] == "resist_session")
        .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["sameSite"], "Strict");
    assert_eq!(session["path"], "/");
    assert_eq!(session["secure"], false, "plain http on loopback");
    assert!(!session["value"].as_str().unwrap().contains(ADMIN_TOKEN));

    // The dashboard: counts, every endpoint, probes, operators, headers.
    let d = step(&out, "dashboard");
    assert_eq!(d["status"], 200);
    let t = text(d);
    assert!(
        t.contains("4 nodes of 2 operators, 4 probes (4 enabled)"),
        "{t}"
    );
    assert!(t.contains("the last 144 windows"), "{t}");
    for endpoint in [
        "203.0.113.40:1080",
        "203.0.113.41:1080",
        "198.51.100.50:1080",
        "198.51.100.51:1080",
    ] {
        assert!(t.contains(endpoint), "{endpoint} missing: {t}");
    }
    assert!(
        t.contains("Now: 1 OK, 2 BLOCKED, 1 DOWN, 0 UNKNOWN."),
        "{t}"
    );
    for word in [
        "censored:RU",
        "censored:RU-MOW",
        "free:DE",
        "enabled",
        "relayed",
        "connect_failed",
    ] {
        assert!(t.contains(word), "{word} missing: {t}");
    }
    assert!(
        t.contains(&w.a.operator.payout_address) && t.contains(&operator_b),
        "{t}"
    );
    let headers = &d["headers"];
    assert_eq!(headers["content-security-policy"], CSP);
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        !d["html"].as_str().unwrap().contains("<script"),
        "no script on the page"
    );

    // The network chart over the six windows, measured in the screenshot:
    // four windows with 2 OK, 1 BLOCKED, 1 DOWN, then two with 1 OK,
    // 2 BLOCKED, 1 DOWN, oldest on the left, all on one scale.
    let d6 = step(&out, "dashboard-6");
    let box_ = &d6["shots"]["network-chart.png"]["box"];
    assert!(
        box_["width"].as_f64().unwrap() > 300.0,
        "chart laid out: {box_}"
    );
    let chart = Shot::load(&shot(d6, "network-chart.png"));
    let measured = bars(&chart);
    assert_eq!(
        measured.len(),
        usize::try_from(WINDOWS).unwrap(),
        "one bar per window: {measured:?}"
    );
    let unit = measured[0].1; // one node's height
    assert!(unit > 10, "{measured:?}");
    for (i, &(ok, blocked, down)) in measured.iter().enumerate() {
        let (want_ok, want_blocked) = if (i as i64) < TURNS_AFTER {
            (2.0, 1.0)
        } else {
            (1.0, 2.0)
        };
        assert!(ratio_near(ok, unit, want_ok), "bar {i}: {measured:?}");
        assert!(
            ratio_near(blocked, unit, want_blocked),
            "bar {i}: {measured:?}"
        );
        assert!(ratio_near(down, unit, 1.0), "bar {i}: {measured:?}");
    }
    // Whole image: the node-windows are 10 OK, 8 BLOCKED, 6 DOWN.
    assert!(
        ratio_near(chart.count(OK), chart.count(BLOCKED), 10.0 / 8.0),
        "OK vs BLOCKED pixels"
    );
    assert!(
        ratio_near(chart.count(BLOCKED), chart.count(DOWN), 8.0 / 6.0),
        "BLOCKED vs DOWN pixels"
    );
    // And the chart is on the page as the funder sees it.
    let page = Shot::load(d6["shots"]["page"].as_str().unwrap());
    assert!(
        page.count(OK) >= chart.count(OK),
        "the chart is in the full-page screenshot"
    );
    assert!(text(d6).contains("the last 6 windows"), "{}", text(d6));

    // The node that turned: four OK windows, then two BLOCKED, left to right.
    let n = step(&out, "node");
    let t = text(n);
    assert!(
        t.contains("198.51.100.50:1080"),
        "the funder sees the endpoint: {t}"
    );
    assert!(
        t.contains("4 OK, 2 BLOCKED, 0 DOWN, 0 UNKNOWN in 6 windows"),
        "{t}"
    );
    let strip = Shot::load(&shot(n, "node-strip.png"));
    let row = strip.height / 2;
    let cols: Vec<[u8; 3]> = (0..strip.width).map(|x| strip.at(x, row)).collect();
    let last_ok = cols.iter().rposition(|p| is(*p, OK)).unwrap();
    let first_blocked = cols.iter().position(|p| is(*p, BLOCKED)).unwrap();
    assert!(
        last_ok < first_blocked,
        "OK windows are older (left) than the BLOCKED ones"
    );
    let (ok, blocked) = (
        cols.iter().filter(|p| is(**p, OK)).count(),
        cols.iter().filter(|p| is(**p, BLOCKED)).count(),
    );
    assert!(
        ratio_near(ok, blocked, 2.0),
        "{ok} OK vs {blocked} BLOCKED pixels"
    );

    // Logged out: the cookie is gone and the dashboard closed.
    assert!(out["afterLogout"].as_str().unwrap().ends_with("/login"));
    assert!(
        !out["cookiesAfterLogout"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "resist_session"),
        "{}",
        out["cookiesAfterLogout"]
    );
    assert!(
        out["dashboardAfterLogout"]
            .as_str()
            .unwrap()
            .ends_with("/login")
    );

    // The operator's public page, seen logged out: node numbers and history,
    // no endpoint anywhere in the markup, and a note saying why.
    let o = step(&out, "operator");
    assert_eq!(o["status"], 200);
    let t = text(o);
    assert!(
        t.contains(&format!("node {}", w.turns)) && t.contains(&format!("node {}", w.down)),
        "{t}"
    );
    assert!(
        t.contains("4 OK, 2 BLOCKED, 0 DOWN, 0 UNKNOWN in 6 windows"),
        "{t}"
    );
    assert!(
        t.contains("0 OK, 0 BLOCKED, 6 DOWN, 0 UNKNOWN in 6 windows"),
        "{t}"
    );
    assert!(
        t.contains("Node addresses (host and port) are not shown"),
        "{t}"
    );
    let html = o["html"].as_str().unwrap();
    for secret in ["198.51.100", "203.0.113", ":1080"] {
        assert!(!html.contains(secret), "{secret} on the public page");
    }
    assert!(
        !t.contains(&w.a.operator.payout_address),
        "only this operator"
    );
    assert_eq!(o["headers"]["content-security-policy"], CSP);
    let strip = Shot::load(&shot(o, "operator-strip.png"));
    assert!(
        strip.count(OK) > 0 && strip.count(BLOCKED) > 0,
        "the first node's strip is drawn"
    );

    // The probes measured every node in every window (what the pages drew).
    assert_eq!(w.probes.len(), 4);
    eprintln!("screenshots in {}", out_dir.display());
    h.stop().await;
}

// --- plain HTTP -----------------------------------------------------------------

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn login(
    http: &reqwest::Client,
    h: &Harness<SqliteStore>,
    token: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = http
        .post(format!("{}/login", h.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn sessions_forms_and_pages_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in(dir.path()).await.unwrap();
    let h = Harness::start(store, settings()).await;
    let http = no_redirects();

    // No session: a redirect to the form, with the page headers.
    let r = http.get(format!("{}/", h.url)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login");
    assert_eq!(r.headers()["content-security-policy"], CSP);
    let forged = format!("resist_session=v1.{}.{}", now(&h) + 3600, "00".repeat(32));
    let r = http
        .get(format!("{}/", h.url))
        .header("cookie", forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "a forged session is no session");

    // A login form posted from another site is refused, and sets nothing.
    for cross in [
        [("origin", "http://evil.example")],
        [("sec-fetch-site", "cross-site")],
    ] {
        let r = login(&http, &h, ADMIN_TOKEN, &cross).await;
        assert_eq!(r.status(), 403, "{cross:?}");
        assert!(r.headers().get("set-cookie").is_none());
        assert!(r.text().await.unwrap().contains("sent from another site"));
    }

    // From this origin: a session that opens the dashboard, until the clock
    // passes its expiry.
    let origin = h.url.clone();
    let r = login(&http, &h, ADMIN_TOKEN, &[("origin", &origin)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && !set.contains("Secure"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();
    let r = http
        .get(format!("{}/", h.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("0 nodes</strong> of <strong>0 operators")
    );
    h.clock.advance(std::time::Duration::from_secs(13 * 3600));
    let r = http
        .get(format!("{}/", h.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the session expired");

    // Behind a TLS-terminating proxy the cookie is Secure.
    let r = login(&http, &h, ADMIN_TOKEN, &[("x-forwarded-proto", "https")]).await;
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );

    // Not a form, or an empty token: a 400 that says what to do.
    let r = http
        .post(format!("{}/login", h.url))
        .header("content-type", "application/json")
        .body(r#"{"token":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("send the login form"));
    assert_eq!(login(&http, &h, "", &[]).await.status(), 400);

    // Operator pages: a bad address and an unknown one say so, in HTML.
    let r = http
        .get(format!("{}/operator/not-an-address", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("not a payout address of this coordinator")
    );
    let stranger = Wallet::new(AddressKind::P2wpkh);
    let r = http
        .get(format!("{}/operator/{}", h.url, stranger.address.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("no operator is registered with payout address")
    );
    let r = http
        .get(format!("{}/?windows=5000", h.url))
        .header("cookie", login_cookie(&http, &h).await)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("from 1 to 1000"));
    let r = http
        .get(format!("{}/nodes/77", h.url))
        .header("cookie", login_cookie(&http, &h).await)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // The API is untouched: still JSON, still the bearer token.
    let r = http
        .get(format!("{}/api/admin/probes", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    h.stop().await;
}

async fn login_cookie(http: &reqwest::Client, h: &Harness<SqliteStore>) -> String {
    let r = login(http, h, ADMIN_TOKEN, &[]).await;
    assert_eq!(r.status(), 303);
    let set = r.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn logins_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in(dir.path()).await.unwrap();
    let mut s = settings();
    s.limits = LimitsConfig {
        requests_per_minute: 1,
        burst: 3,
        ..LimitsConfig::default()
    };
    let h = Harness::start(store, s).await;
    let http = no_redirects();
    let mut statuses = HashMap::<u16, usize>::new();
    for _ in 0..5 {
        let r = login(&http, &h, "guess", &[]).await;
        *statuses.entry(r.status().as_u16()).or_default() += 1;
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
            assert!(r.text().await.unwrap().contains("too many requests"));
        }
    }
    assert_eq!(statuses.get(&403), Some(&3), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&2), "{statuses:?}");
    h.stop().await;
}
