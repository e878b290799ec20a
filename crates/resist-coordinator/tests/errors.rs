//! Every answer is the documented JSON, including the ones axum would give in
//! plain text or with an empty body: bad path parameters, bodies without a
//! JSON content type or over the limit, unknown paths and methods. Also what
//! schemathesis (crates/resist/tests/schemathesis.rs) found: whole-number
//! floats are integers, and the OpenAPI document lists each status an
//! endpoint answers with and the input rules the coordinator enforces.

mod common;

use common::{ADMIN_TOKEN, Harness, Wallet, node, settings, signed_register};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use resist_ownership::AddressKind;
use resist_proto::api::{ErrorBody, Registered};
use resist_store::SqliteStore;
use serde_json::{Value, json};

async fn start() -> (Harness<SqliteStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in(dir.path()).await.unwrap();
    (Harness::start(store, settings()).await, dir)
}

fn request(h: &Harness<SqliteStore>, method: Method, path: &str) -> RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}{path}", h.url))
        .bearer_auth(ADMIN_TOKEN)
}

/// The status and the JSON error body; fails if the body is not one.
async fn error_of(r: Response) -> (StatusCode, ErrorBody) {
    let status = r.status();
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    let text = r.text().await.unwrap();
    assert_eq!(content_type, "application/json", "{status}: {text}");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status}: not an ErrorBody ({e}): {text}"));
    (status, body)
}

#[tokio::test]
async fn a_bad_path_parameter_is_a_json_400_naming_it() {
    let (h, _dir) = start().await;
    for (method, path, field, value) in [
        (Method::POST, "/api/admin/probes/abc/disable", "id", "abc"),
        (
            Method::POST,
            "/api/admin/probes/9223372036854775808/enable",
            "id",
            "9223372036854775808",
        ),
        (Method::POST, "/api/operators/1.5/token", "id", "1.5"),
        // The second of two parameters is named too.
        (Method::PATCH, "/api/operators/1/nodes/x", "node", "x"),
        (Method::PATCH, "/api/operators/y/nodes/1", "id", "y"),
    ] {
        let r = request(&h, method.clone(), path)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let (status, body) = error_of(r).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}");
        assert_eq!(body.error, "invalid", "{method} {path}");
        assert_eq!(body.field.as_deref(), Some(field), "{method} {path}");
        assert!(
            body.message.contains(&format!("{value:?} is not an id")),
            "{method} {path}: {}",
            body.message
        );
    }
    // Not UTF-8 once percent-decoded.
    let r = request(&h, Method::POST, "/api/admin/probes/%FF/disable")
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body.field.as_deref(), Some("id"));
    // A well-formed id that does not exist is still a 404.
    let r = request(&h, Method::POST, "/api/admin/probes/7/disable")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, StatusCode::NOT_FOUND);
    h.stop().await;
}

#[tokio::test]
async fn a_body_must_be_declared_json_and_fit_the_limit() {
    let (h, _dir) = start().await;
    let body = r#"{"public_key":"00","region":"free:DE"}"#;
    for content_type in [None, Some("text/plain"), Some("application/xml")] {
        let mut r = request(&h, Method::POST, "/api/admin/probes").body(body);
        if let Some(ct) = content_type {
            r = r.header("content-type", ct);
        }
        let (status, e) = error_of(r.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{content_type:?}");
        assert_eq!(e.error, "bad_request");
        assert!(
            e.message.contains("Content-Type: application/json"),
            "{}",
            e.message
        );
    }
    // JSON with parameters or a +json type is read (and refused for its key).
    for ct in [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/vnd.resist+json",
    ] {
        let r = request(&h, Method::POST, "/api/admin/probes")
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, e) = error_of(r).await;
        assert_eq!(
            (status, e.field.as_deref()),
            (StatusCode::BAD_REQUEST, Some("public_key")),
            "{ct}"
        );
    }
    // Over the limit: a JSON 413 that says what the limit is.
    let limit = settings().limits.max_body_bytes;
    let big = json!({ "public_key": "0".repeat(limit), "region": "free:DE" });
    let r = request(&h, Method::POST, "/api/admin/probes")
        .json(&big)
        .send()
        .await
        .unwrap();
    let (status, e) = error_of(r).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(e.error, "too_large");
    assert!(e.message.contains(&limit.to_string()), "{}", e.message);
    h.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_json() {
    let (h, _dir) = start().await;
    let r = request(&h, Method::GET, "/api/nothing-here")
        .send()
        .await
        .unwrap();
    let (status, e) = error_of(r).await;
    assert_eq!(
        (status, e.error.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert!(e.message.contains("/api/openapi.json"), "{}", e.message);

    let r = request(&h, Method::DELETE, "/api/admin/probes")
        .send()
        .await
        .unwrap();
    let allow = r.headers()["allow"].to_str().unwrap().to_owned();
    let (status, e) = error_of(r).await;
    assert_eq!(
        (status, e.error.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    h.stop().await;
}

#[tokio::test]
async fn whole_number_floats_are_integers() {
    let (h, _dir) = start().await;
    let wallet = Wallet::new(AddressKind::P2wpkh);
    let request_body = signed_register(&h, &wallet, vec![node("203.0.113.9", 1080)]).await;
    // The same signed registration, with the port written as JSON Schema
    // (and JavaScript) may write an integer.
    let mut body = serde_json::to_value(&request_body).unwrap();
    body["nodes"][0]["port"] = json!(1080.0);
    let text = body.to_string();
    assert!(text.contains("1080.0"), "{text}");
    let r = reqwest::Client::new()
        .post(format!("{}/api/operators", h.url))
        .header("content-type", "application/json")
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let registered: Registered = r.json().await.unwrap();
    assert_eq!(registered.operator.nodes[0].endpoint.port, 1080);

    // A fraction is still refused, naming where it is.
    body["nodes"][0]["port"] = json!(1080.5);
    let r = reqwest::Client::new()
        .post(format!("{}/api/operators", h.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, e) = error_of(r).await;
    assert_eq!(
        (status, e.error.as_str()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    assert!(e.message.contains("nodes[0]"), "{}", e.message);
    h.stop().await;
}

#[tokio::test]
async fn the_document_lists_every_status_and_the_input_rules() {
    let (h, _dir) = start().await;
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", h.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses = |path: &str, method: &str| -> Vec<String> {
        doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} missing"))
            .keys()
            .cloned()
            .collect()
    };
    // What each endpoint can answer, as the handlers and extractors do.
    for (path, method, expected) in [
        ("/api/challenges", "post", &["201", "429", "503"][..]),
        (
            "/api/operators",
            "post",
            &["201", "400", "401", "409", "413", "429", "503"],
        ),
        ("/api/operators/me", "get", &["200", "401", "503"]),
        (
            "/api/operators/{id}/nodes",
            "post",
            &["201", "400", "401", "404", "409", "413", "429", "503"],
        ),
        (
            "/api/operators/{id}/nodes/{node}",
            "patch",
            &["200", "400", "401", "404", "409", "413", "429", "503"],
        ),
        (
            "/api/operators/{id}/payout",
            "put",
            &["200", "400", "401", "404", "409", "413", "429", "503"],
        ),
        (
            "/api/operators/{id}/token",
            "post",
            &["200", "400", "401", "404", "409", "413", "429", "503"],
        ),
        (
            "/api/admin/probes",
            "post",
            &["201", "400", "401", "409", "413", "503"],
        ),
        ("/api/admin/probes", "get", &["200", "401", "503"]),
        (
            "/api/admin/probes/{id}/disable",
            "post",
            &["200", "400", "401", "404", "503"],
        ),
        ("/api/admin/operators", "get", &["200", "401", "503"]),
    ] {
        assert_eq!(statuses(path, method), expected, "{method} {path}");
    }
    let error = &doc["paths"]["/api/admin/probes/{id}/disable"]["post"]["responses"]["400"];
    assert_eq!(
        error["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    assert!(
        doc["paths"]["/healthz"]["get"]["responses"]["200"]["content"]["text/plain"].is_object()
    );

    // The input rules the coordinator enforces, as JSON Schema.
    let schemas = &doc["components"]["schemas"];
    let port = &schemas["Endpoint"]["properties"]["port"];
    assert_eq!(
        (&port["minimum"], &port["maximum"]),
        (&json!(1), &json!(65535))
    );
    let spec = &schemas["NodeSpec"];
    assert_eq!(spec["additionalProperties"], json!(false), "{spec}");
    assert_eq!(spec["required"], json!(["host", "port", "protocol"]));
    assert_eq!(
        schemas["RotateTokenRequest"]["properties"]["nonce"]["pattern"],
        "^[0-9a-fA-F]{32}$"
    );
    assert!(
        schemas["EnrolProbeRequest"]["properties"]["region"]["pattern"]
            .as_str()
            .unwrap()
            .starts_with("^(censored|free):")
    );
    h.stop().await;
}
