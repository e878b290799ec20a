//! The distributor through real HTTP: a coordinator on 127.0.0.1:0 over
//! SQLite, nodes registered and measured by probes through the API (as in
//! `measurement.rs`), and requests by address and by invitation.
//!
//! It proves: only nodes whose latest classified window is OK are handed
//! out, a node found BLOCKED leaves at once and its replacement is stable;
//! the requester from 127.0.0.1 and each invitation get exactly the bucket
//! `resist_distribute` computes for their key; a revoked or unknown
//! invitation is a 401 in the usual error shape; each key has its own
//! budget (429 with Retry-After); the page carries the links, QR codes that
//! decode back to the `tg://` link, and its security headers; and an empty
//! answer says plainly that nothing works right now.

mod common;

use std::collections::{BTreeSet, HashMap};

use base64::Engine as _;
use common::probes::{Probe, enrol};
use common::{CANARY_KEY, DISTRIBUTION_SECRET, Harness, Wallet, node, settings, signed_register};
use reqwest::StatusCode;
use resist_client::Method;
use resist_coordinator::Settings;
use resist_coordinator::config::DistributionConfig;
use resist_distribute::{Candidate, Distributor, Params, RequesterKey, Subnet};
use resist_ownership::AddressKind;
use resist_proto::api::{Assignments, NodeView, Registered, ReportBatch, ReportReceipts};
use resist_proto::canary;
use resist_proto::distribution::{
    CreateInvitationsRequest, InvitationView, InvitationsIssued, ProxiesView,
};
use resist_proto::report::{Outcome, Report};
use resist_store::SqliteStore;

/// A probe's side: censored-region probes see what the censor lets through.
fn censored(p: &Probe) -> bool {
    p.view.region.starts_with("censored")
}

/// What the probes find for a node in one window.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Found {
    /// Censored and free probes relay.
    Ok,
    /// Censored probes fail, the free one relays.
    Blocked,
    /// Only the free probe reports, and relays (status UNKNOWN).
    FreeOnly,
    /// No report at all.
    Silent,
}

struct World {
    h: Harness<SqliteStore>,
    _dir: tempfile::TempDir,
    probes: Vec<Probe>,
    nodes: Vec<NodeView>,
    next_report: u32,
}

/// A coordinator with `n` nodes, each in its own /24, and one censored and
/// one free probe.
async fn world(n: u8, settings: Settings) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in(dir.path()).await.unwrap();
    let h = Harness::start(store, settings).await;
    let wallet = Wallet::new(AddressKind::P2wpkh);
    let specs = (1..=n)
        .map(|i| node(&format!("203.0.{i}.10"), 1080))
        .collect();
    let r = signed_register(&h, &wallet, specs).await;
    let registered: Registered = h.client().post("/api/operators", Some(&r)).await.unwrap();
    let mut probes = Vec::new();
    for (seed, region) in [(1u8, "censored:RU"), (2, "free:DE")] {
        probes.push(enrol(&h, seed, region).await);
    }
    World {
        h,
        _dir: dir,
        probes,
        nodes: registered.operator.nodes,
        next_report: 0,
    }
}

impl World {
    fn auth(&self, p: &Probe, method: &str, path: &str) -> String {
        let now = resist_clock::Clock::now(&self.h.clock).seconds();
        resist_proto::probe_auth::header(&p.key, method, path, now)
    }

    /// Both probes report on every node of the current window as `found` says.
    async fn measure(&mut self, found: impl Fn(i64) -> Found) {
        for i in 0..self.probes.len() {
            let p = &self.probes[i];
            let a = self.auth(p, "GET", "/api/probe/assignments");
            let assignments: Assignments = self
                .h
                .client()
                .call_authorized::<(), _>(Method::GET, "/api/probe/assignments", Some(&a), None)
                .await
                .unwrap();
            let mut signed = Vec::new();
            for n in &assignments.nodes {
                let relayed = match found(n.node) {
                    Found::Silent => continue,
                    Found::FreeOnly if censored(p) => continue,
                    Found::FreeOnly => true,
                    Found::Ok => true,
                    Found::Blocked => !censored(p),
                };
                self.next_report += 1;
                let id = self.next_report.to_be_bytes();
                let mut report_id = [0u8; 16];
                report_id[..4].copy_from_slice(&id);
                let nonce = [id[3]; 32];
                let request = canary::Request {
                    nonce,
                    sample_len: 1024,
                };
                let report = Report {
                    report_id,
                    probe_key: p.key.verifying_key().to_bytes(),
                    window: assignments.window,
                    node: n.node,
                    measured_at: resist_clock::Clock::now(&self.h.clock).seconds(),
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
                    canary_answer: if relayed {
                        canary::answer(&CANARY_KEY, &request)
                    } else {
                        [0; 32]
                    },
                };
                signed.push(report.sign(&p.key));
            }
            let batch = ReportBatch {
                reports: signed
                    .iter()
                    .map(|s| base64::engine::general_purpose::STANDARD.encode(s))
                    .collect(),
            };
            let a = self.auth(p, "POST", "/api/probe/reports");
            let receipts: ReportReceipts = self
                .h
                .client()
                .call_authorized(Method::POST, "/api/probe/reports", Some(&a), Some(&batch))
                .await
                .unwrap();
            assert!(
                receipts.receipts.iter().all(|r| r.status == "accepted"),
                "{receipts:?}"
            );
        }
    }

    /// The next window.
    fn advance(&self) {
        self.h.clock.advance(std::time::Duration::from_secs(600));
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.h.url)
    }

    async fn get(&self, path: &str, bearer: Option<&str>) -> reqwest::Response {
        let mut req = reqwest::Client::new().get(self.url(path));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// `GET /api/proxies` (with `invite` as a query), expecting 200.
    async fn proxies(&self, invite: Option<&str>) -> ProxiesView {
        let path = match invite {
            Some(t) => format!("/api/proxies?invite={t}"),
            None => "/api/proxies".into(),
        };
        let r = self.get(&path, None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["cache-control"], "no-store");
        r.json().await.unwrap()
    }

    async fn invite(&self, label: &str, count: u32) -> InvitationsIssued {
        self.h
            .admin()
            .post(
                "/api/admin/invitations",
                Some(&CreateInvitationsRequest {
                    label: Some(label.into()),
                    count: Some(count),
                }),
            )
            .await
            .unwrap()
    }

    fn node_id(&self, host: &str) -> i64 {
        self.nodes
            .iter()
            .find(|n| n.endpoint.host == host)
            .map(|n| n.id)
            .unwrap()
    }

    /// What `resist_distribute` gives `key` among the nodes `ok`.
    fn expected(&self, key: RequesterKey, ok: &[i64]) -> Vec<String> {
        let d = Distributor::new(&DISTRIBUTION_SECRET, Params::default()).unwrap();
        let candidates: Vec<Candidate> = self
            .nodes
            .iter()
            .filter(|n| ok.contains(&n.id))
            .map(|n| Candidate {
                id: u64::try_from(n.id).unwrap(),
                subnet: Subnet::of_host(&n.endpoint.host),
            })
            .collect();
        let hosts: HashMap<u64, &str> = self
            .nodes
            .iter()
            .map(|n| (u64::try_from(n.id).unwrap(), n.endpoint.host.as_str()))
            .collect();
        d.answer(&key, &candidates)
            .iter()
            .map(|id| hosts[id].to_owned())
            .collect()
    }
}

fn hosts(v: &ProxiesView) -> Vec<String> {
    v.proxies.iter().map(|p| p.host.clone()).collect()
}

#[tokio::test]
async fn only_ok_nodes_are_handed_out_and_a_blocked_one_leaves_at_once() {
    let mut w = world(8, settings()).await;
    // Nodes 1–5 OK, 6 blocked, 7 unknown (only the free probe), 8 silent.
    let ids: Vec<i64> = w.nodes.iter().map(|n| n.id).collect();
    let (ok, blocked, unknown) = (ids[..5].to_vec(), ids[5], ids[6]);
    let found = |id: i64| {
        if ok.contains(&id) {
            Found::Ok
        } else if id == blocked {
            Found::Blocked
        } else if id == unknown {
            Found::FreeOnly
        } else {
            Found::Silent
        }
    };
    w.measure(found).await;
    // Whoever asks, only OK nodes come back: 40 invitations cover the
    // buckets of every node several times over.
    let everyone = w.invite("many", 40).await;
    let mut seen = BTreeSet::new();
    for inv in &everyone.invitations {
        for p in w.proxies(Some(&inv.token)).await.proxies {
            seen.insert(w.node_id(&p.host));
        }
    }
    assert_eq!(seen, ok.iter().copied().collect(), "exactly the OK nodes");

    let local = RequesterKey::of_addr("127.0.0.1".parse().unwrap());
    let first = w.proxies(None).await;
    assert_eq!(first.message, None);
    assert_eq!(hosts(&first), w.expected(local, &ok));
    assert_eq!(first.proxies.len(), 3);
    for p in &first.proxies {
        let id = w.node_id(&p.host);
        assert!(ok.contains(&id), "{p:?} is not OK");
        assert_eq!(p.port, 1080);
        assert_eq!(p.username.as_deref(), Some("probe"));
        assert_eq!(p.password.as_deref(), Some("correct horse battery staple"));
        assert_eq!(
            p.tg,
            format!(
                "tg://socks?server={}&port=1080&user=probe&pass=correct+horse+battery+staple",
                p.host
            )
        );
        assert_eq!(
            p.https,
            p.tg.replacen("tg://socks?", "https://t.me/socks?", 1)
        );
    }
    // Asking again gives the same answer.
    assert_eq!(hosts(&w.proxies(None).await), hosts(&first));

    // Next window: the first node of this bucket is found blocked. It leaves
    // at once; the other two stay, in order; one replacement joins.
    w.advance();
    let gone = w.node_id(&first.proxies[0].host);
    let still_ok: Vec<i64> = ok.iter().copied().filter(|&id| id != gone).collect();
    w.measure(|id| {
        if id == gone {
            Found::Blocked
        } else {
            Found::Silent
        }
    })
    .await;
    let second = w.proxies(None).await;
    assert_eq!(hosts(&second), w.expected(local, &still_ok));
    assert_eq!(second.proxies.len(), 3);
    assert!(!hosts(&second).contains(&first.proxies[0].host));
    for kept in &first.proxies[1..] {
        assert!(hosts(&second).contains(&kept.host), "{second:?}");
    }
    // Stable: the same replacement on every request.
    assert_eq!(hosts(&w.proxies(None).await), hosts(&second));

    // Every node blocked: an empty list that says so.
    w.advance();
    w.measure(|_| Found::Blocked).await;
    let none = w.proxies(None).await;
    assert!(none.proxies.is_empty());
    assert_eq!(
        none.message.as_deref(),
        Some("no working proxy right now; try again later")
    );
    let page = w.get("/proxies", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("No working proxy right now."), "{html}");
    assert!(!html.contains("tg://"), "{html}");
    w.h.stop().await;
}

#[tokio::test]
async fn addresses_and_invitations_map_to_their_buckets() {
    let mut w = world(12, settings()).await;
    w.measure(|_| Found::Ok).await;
    let ok: Vec<i64> = w.nodes.iter().map(|n| n.id).collect();

    let local = w.proxies(None).await;
    assert_eq!(
        hosts(&local),
        w.expected(RequesterKey::V4([127, 0]), &ok),
        "127.0.0.1 is keyed by 127.0.0.0/16"
    );

    let issued = w.invite("for the tests", 12).await;
    assert_eq!(issued.invitations.len(), 12);
    let mut answers = BTreeSet::new();
    for inv in &issued.invitations {
        assert_eq!(inv.label, "for the tests");
        assert_eq!(inv.token.len(), 32);
        let by_query = w.proxies(Some(&inv.token)).await;
        let key = RequesterKey::Invitation(u64::try_from(inv.id).unwrap());
        assert_eq!(hosts(&by_query), w.expected(key, &ok), "{inv:?}");
        // The bearer form is the same requester.
        let by_header: ProxiesView = w
            .get("/api/proxies", Some(&inv.token))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(by_header, by_query);
        answers.insert(hosts(&by_query));
    }
    // Twelve invitations fall into several buckets, not one.
    assert!(answers.len() > 4, "{answers:?}");

    // The page shows the same proxies for the same invitation.
    let inv = &issued.invitations[0];
    let html = w
        .get(&format!("/proxies?invite={}", inv.token), None)
        .await
        .text()
        .await
        .unwrap();
    for host in hosts(&w.proxies(Some(&inv.token)).await) {
        assert!(
            html.contains(&format!("server={host}&amp;port=1080")),
            "{html}"
        );
    }
    assert!(html.contains("You are using an invitation code"));
    // The token is not echoed into the page.
    assert!(!html.contains(&inv.token));
    w.h.stop().await;
}

#[tokio::test]
async fn revoked_and_unknown_invitations_are_refused() {
    let mut w = world(3, settings()).await;
    w.measure(|_| Found::Ok).await;
    let issued = w.invite("alice", 2).await;
    let (alice, bob) = (&issued.invitations[0], &issued.invitations[1]);
    assert_eq!(w.proxies(Some(&alice.token)).await.proxies.len(), 3);

    let revoked: InvitationView =
        w.h.admin()
            .post::<(), _>(&format!("/api/admin/invitations/{}/revoke", alice.id), None)
            .await
            .unwrap();
    assert_eq!(revoked.id, alice.id);
    assert!(revoked.revoked_at.is_some());

    for (path, bearer) in [
        (format!("/api/proxies?invite={}", alice.token), None),
        ("/api/proxies".to_owned(), Some(alice.token.as_str())),
        (
            "/api/proxies?invite=0123456789abcdef0123456789abcdef".to_owned(),
            None,
        ),
        (format!("/api/proxies?invite={}", "x".repeat(5000)), None),
    ] {
        let r = w.get(&path, bearer).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("unknown or was revoked"),
            "{body}"
        );
    }
    // The page refuses too, as a page.
    let r = w
        .get(&format!("/proxies?invite={}", alice.token), None)
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = r.text().await.unwrap();
    assert!(
        html.contains("This invitation code does not work"),
        "{html}"
    );
    assert!(!html.contains(&alice.token));

    // Bob's still works; the list shows both, without tokens.
    assert_eq!(w.proxies(Some(&bob.token)).await.proxies.len(), 3);
    let listed: Vec<InvitationView> = w.h.admin().get("/api/admin/invitations").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].revoked_at, revoked.revoked_at);
    assert_eq!(listed[1].revoked_at, None);
    let raw = w
        .get("/api/admin/invitations", Some(common::ADMIN_TOKEN))
        .await
        .text()
        .await
        .unwrap();
    assert!(!raw.contains(&bob.token) && !raw.contains("token"), "{raw}");

    // Admin endpoints want the admin token; an invitation is not one.
    let r = w.get("/api/admin/invitations", Some(&bob.token)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = reqwest::Client::new()
        .post(w.url("/api/admin/invitations/999/revoke"))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    w.h.stop().await;
}

#[tokio::test]
async fn invitation_requests_are_checked() {
    let w = world(1, settings()).await;
    let post = |body: serde_json::Value| {
        reqwest::Client::new()
            .post(w.url("/api/admin/invitations"))
            .bearer_auth(common::ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    for (body, field) in [
        (serde_json::json!({"count": 0}), "count"),
        (serde_json::json!({"count": 101}), "count"),
        (serde_json::json!({"label": "x".repeat(101)}), "label"),
        (serde_json::json!({"label": "line\nbreak"}), "label"),
    ] {
        let r = post(body.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let e: serde_json::Value = r.json().await.unwrap();
        assert_eq!(e["field"], field, "{e}");
    }
    let r = post(serde_json::json!({"lable": "typo"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Nothing was created by the refused requests; an empty body is one
    // invitation with an empty label.
    let r = post(serde_json::json!({})).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let issued: InvitationsIssued = r.json().await.unwrap();
    assert_eq!(issued.invitations.len(), 1);
    assert_eq!(issued.invitations[0].label, "");
    let listed: Vec<InvitationView> = w.h.admin().get("/api/admin/invitations").await.unwrap();
    assert_eq!(listed.len(), 1);
    w.h.stop().await;
}

#[tokio::test]
async fn each_requester_key_has_its_own_budget() {
    let mut s = settings();
    s.distribution = DistributionConfig {
        requests_per_minute: 1,
        burst: 2,
        ..Default::default()
    }
    .settings(DISTRIBUTION_SECRET)
    .unwrap();
    let w = world(1, s).await;
    let issued = w.invite("", 1).await;
    let token = &issued.invitations[0].token;

    assert_eq!(w.get("/api/proxies", None).await.status(), StatusCode::OK);
    assert_eq!(w.get("/proxies", None).await.status(), StatusCode::OK);
    let r = w.get("/api/proxies", None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    let page = w.get("/proxies", None).await;
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Too many requests from your network")
    );

    // The invitation is another key, with its own budget, from the same address.
    let by_token = format!("/api/proxies?invite={token}");
    assert_eq!(w.get(&by_token, None).await.status(), StatusCode::OK);
    assert_eq!(w.get(&by_token, None).await.status(), StatusCode::OK);
    assert_eq!(
        w.get(&by_token, None).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // The general API limit is another budget still.
    assert_eq!(w.get("/api/info", None).await.status(), StatusCode::OK);
    w.h.stop().await;
}

#[tokio::test]
async fn the_page_carries_links_scannable_qr_codes_and_strict_headers() {
    let mut w = world(4, settings()).await;
    w.measure(|_| Found::Ok).await;
    let proxies = w.proxies(None).await;
    let r = w.get("/proxies", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let headers = r.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'none'; style-src 'unsafe-inline'; img-src data:"),
        "{csp}"
    );
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let html = r.text().await.unwrap();

    // Nothing is loaded from anywhere: no script, no external URL but the
    // t.me links themselves.
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("src=\"http"), "{html}");
    assert!(!html.contains("<link"), "{html}");

    let codes = svgs(&html);
    assert_eq!(codes.len(), proxies.proxies.len());
    for (p, svg) in proxies.proxies.iter().zip(&codes) {
        let escaped = |s: &str| s.replace('&', "&amp;");
        assert!(
            html.contains(&format!("href=\"{}\"", escaped(&p.tg))),
            "{html}"
        );
        assert!(html.contains(&format!("href=\"{}\"", escaped(&p.https))));
        assert!(html.contains(&format!("<dd>{}</dd>", p.host)));
        assert_eq!(decode_qr(svg), p.tg, "the QR code is the tg:// link");
    }
    for words in [
        "Open in Telegram",
        "If it stops working",
        "try the next proxy",
        "come back later",
        "invitation code",
    ] {
        assert!(
            html.to_lowercase().contains(&words.to_lowercase()),
            "page lacks {words:?}"
        );
    }
    w.h.stop().await;
}

/// Every inline `<svg>…</svg>` of a page.
fn svgs(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").unwrap() + start + "</svg>".len();
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

/// The text of a QR code drawn by qrcode's SVG renderer: its rectangles
/// (`M{x} {y}h{w}v{h}H{x}V{y}`) painted onto a bitmap, read by rqrr.
fn decode_qr(svg: &str) -> String {
    let attr = |name: &str| -> usize {
        let at = svg.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        svg[at..at + svg[at..].find('"').unwrap()].parse().unwrap()
    };
    let (width, height) = (attr("width"), attr("height"));
    let d_at = svg.find(" d=\"").unwrap() + 4;
    let d = &svg[d_at..d_at + svg[d_at..].find('"').unwrap()];
    let mut dark = vec![false; width * height];
    for rect in d.split('M').filter(|r| !r.is_empty()) {
        let n: Vec<usize> = rect
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        let (x, y, w, h) = (n[0], n[1], n[2], n[3]);
        for row in y..y + h {
            for col in x..x + w {
                dark[row * width + col] = true;
            }
        }
    }
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        if dark[y * width + x] { 0 } else { 255 }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code per SVG");
    grids[0].decode().unwrap().1
}
