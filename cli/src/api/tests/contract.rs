//! Routes, authentication, the error shape and the OpenAPI document.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{StatusCode, header};
use schedules::{SyncKind, TriggerOutcome};

use super::{Fixture, TOKEN, call, request};
use crate::api::{Auth, OPENAPI, ROUTES, Verb};

/// A concrete path for a route (`{id}` → `sample`) that its handler accepts.
fn concrete(path: &str) -> String {
    let path = path.replace("{id}", "sample").replace("{job}", "1");
    match path.as_str() {
        "/v1/search" => "/v1/search?q=policy&as=bob@example.com".into(),
        "/v1/acl/explain" => {
            "/v1/acl/explain?as=bob@example.com&doc=sample:public/welcome.md".into()
        }
        _ => path,
    }
}

/// A push job route: served only by a state with push jobs (the daemon's).
fn is_push(path: &str) -> bool {
    path.contains("/jobs")
}

pub(super) fn error_code(body: &[u8]) -> String {
    let json: serde_json::Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)));
    json["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {json}"))
        .to_string()
}

#[tokio::test]
async fn every_route_but_health_needs_the_token() {
    let f = Fixture::synced().await;
    let app = f.app();
    for r in &ROUTES {
        let path = concrete(r.path);
        let with = |auth: Option<&str>| {
            let mut b = request(r.verb.as_str(), &path);
            if let Some(auth) = auth {
                b = b.header(header::AUTHORIZATION, auth);
            }
            b.body(Body::empty()).expect("request")
        };
        let right = format!("Bearer {TOKEN}");
        let wrong = format!("Bearer {TOKEN}x");
        let basic = format!("Basic {TOKEN}");
        for auth in [
            None,
            Some(wrong.as_str()),
            Some(basic.as_str()),
            Some(TOKEN),
        ] {
            let response = call(&app, with(auth)).await;
            if r.public {
                assert_eq!(response.0, StatusCode::OK, "{path} with {auth:?}");
            } else {
                assert_eq!(response.0, StatusCode::UNAUTHORIZED, "{path} with {auth:?}");
                assert_eq!(error_code(&response.1), "unauthorized", "{path}");
            }
        }
        let (status, body) = call(&app, with(Some(&right))).await;
        let expected = match r.verb {
            // The fixture serves no push jobs (`push.rs` tests them with a token).
            _ if is_push(r.path) => StatusCode::SERVICE_UNAVAILABLE,
            Verb::Post => StatusCode::ACCEPTED,
            Verb::Get => StatusCode::OK,
        };
        assert_eq!(
            status,
            expected,
            "{path}: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[tokio::test]
async fn a_401_names_the_bearer_scheme_and_never_echoes_the_token() {
    let f = Fixture::synced().await;
    let response = tower::ServiceExt::oneshot(
        f.app(),
        request("GET", "/v1/sources")
            .header(header::AUTHORIZATION, "Bearer guessed-token")
            .body(Body::empty())
            .expect("request"),
    )
    .await
    .expect("infallible");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&body);
    assert!(
        !text.contains("guessed-token") && !text.contains(TOKEN),
        "{text}"
    );
    assert!(!format!("{:?}", f.state).contains(TOKEN));
    assert!(f.state.requires_token());
}

#[tokio::test]
async fn open_auth_serves_every_route_without_a_token() {
    let f = Fixture::build(true, Auth::from_token(None)).await;
    assert!(!f.state.requires_token());
    for r in &ROUTES {
        let path = concrete(r.path);
        let (status, body) = call(
            &f.app(),
            request(r.verb.as_str(), &path)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert!(
            status.is_success() || (is_push(r.path) && error_code(&body) == "unavailable"),
            "{path}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[tokio::test]
async fn healthz_always_answers_and_readyz_follows_the_daemon() {
    let f = Fixture::empty().await;
    let get = |path: &'static str| request("GET", path).body(Body::empty()).expect("request");
    assert_eq!(call(&f.app(), get("/readyz")).await.0, StatusCode::OK);
    f.control.ready.store(false, Ordering::SeqCst);
    let (status, body) = call(&f.app(), get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(&body), "unavailable");
    let (status, body) = call(&f.app(), get("/healthz")).await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::OK, &br#"{"status":"ok"}"#[..])
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let f = Fixture::synced().await;
    for (method, path, status, code) in [
        ("GET", "/v2/search", StatusCode::NOT_FOUND, "not_found"),
        ("GET", "/", StatusCode::NOT_FOUND, "not_found"),
        (
            "GET",
            "/v1/sources/sample",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "DELETE",
            "/v1/sources",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "GET",
            "/v1/sources/sample/sync",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "POST",
            "/healthz",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ] {
        let (got, body) = f
            .send(request(method, path).body(Body::empty()).expect("request"))
            .await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn bad_query_strings_are_400_json_never_plain_text() {
    let f = Fixture::synced().await;
    for path in [
        "/v1/runs?last=many",
        "/v1/runs?last=-1",
        "/v1/runs?sorce=sample",
        "/v1/search?q=policy",
        "/v1/search?q=policy&as=",
        "/v1/search?as=bob@example.com",
        "/v1/search?as=bob@example.com&all=false",
        "/v1/search?q=policy&as=bob@example.com&all=true",
        "/v1/search?q=policy&as=bob@example.com&all=yes",
        "/v1/search?q=policy&as=bob@example.com&limit=ten",
        "/v1/search?q=policy&as=bob@example.com&limit=1001",
        "/v1/search?as=bob@example.com&all=true&snippets=false",
        "/v1/search?q=policy&as=bob@example.com&snippets=no",
        "/v1/search?q=policy&user=bob@example.com",
        "/v1/acl/explain?as=bob@example.com",
        "/v1/acl/explain?as=bob@example.com&doc=no-colon",
        "/v1/acl/explain?doc=sample:public/welcome.md",
    ] {
        let (status, body) = f.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{path}");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(
            !message.is_empty() && !message.starts_with("Failed"),
            "{path}: {message:?}"
        );
    }
}

#[tokio::test]
async fn trigger_answers_each_outcome_with_its_status() {
    let f = Fixture::synced().await;
    let cases = [
        (TriggerOutcome::Queued, StatusCode::ACCEPTED, None),
        (
            TriggerOutcome::Busy {
                running: SyncKind::Full,
            },
            StatusCode::CONFLICT,
            Some("conflict"),
        ),
        (
            TriggerOutcome::KindOff,
            StatusCode::CONFLICT,
            Some("conflict"),
        ),
        (
            TriggerOutcome::UnknownSource,
            StatusCode::NOT_FOUND,
            Some("not_found"),
        ),
        (
            TriggerOutcome::ShuttingDown,
            StatusCode::SERVICE_UNAVAILABLE,
            Some("unavailable"),
        ),
    ];
    for (outcome, status, code) in cases {
        *f.control.outcome.lock().expect("lock") = outcome;
        let (got, body) = f
            .send(
                request("POST", "/v1/sources/sample/sync")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(got, status, "{outcome:?}: {body}");
        assert_eq!(body["error"]["code"].as_str(), code, "{outcome:?}");
        match outcome {
            TriggerOutcome::Queued => assert_eq!(
                body,
                serde_json::json!({"result": "queued", "source": "sample", "mode": "content"})
            ),
            TriggerOutcome::Busy { .. } => {
                // Busy still queued the run: the client is told so, and what runs now.
                assert_eq!(
                    body["error"]["outcome"],
                    serde_json::json!({"result": "busy", "running": "full"})
                );
                let message = body["error"]["message"].as_str().expect("message");
                assert!(message.contains("queued"), "{message}");
            }
            TriggerOutcome::KindOff => {
                assert_eq!(body["error"]["outcome"]["result"], "kind_off");
            }
            _ => assert!(body["error"].get("outcome").is_none(), "{body}"),
        }
    }
}

#[tokio::test]
async fn trigger_takes_the_mode_from_the_query_or_the_body() {
    let f = Fixture::synced().await;
    let post = |uri: &str, body: &'static str| {
        request("POST", uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("request")
    };
    let ok = [
        ("/v1/sources/sample/sync", "", SyncKind::Content),
        ("/v1/sources/sample/sync?mode=full", "", SyncKind::Full),
        (
            "/v1/sources/sample/sync",
            r#"{"mode": "identities"}"#,
            SyncKind::Identities,
        ),
        (
            "/v1/sources/sample/sync?mode=permissions",
            r#"{"mode": "permissions"}"#,
            SyncKind::Permissions,
        ),
        ("/v1/sources/sample/sync", "{}", SyncKind::Content),
    ];
    for (uri, body, kind) in ok {
        let (status, json) = f.send(post(uri, body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{uri} {body}: {json}");
        assert_eq!(json["mode"], kind.name());
    }
    let triggered: Vec<SyncKind> = f
        .control
        .triggered
        .lock()
        .expect("lock")
        .iter()
        .map(|(source, kind)| {
            assert_eq!(source, "sample");
            *kind
        })
        .collect();
    assert_eq!(triggered, ok.map(|c| c.2));
    for (uri, body) in [
        ("/v1/sources/sample/sync?mode=Full", ""),
        (
            "/v1/sources/sample/sync?mode=full",
            r#"{"mode": "content"}"#,
        ),
        ("/v1/sources/sample/sync", r#"{"mode": 3}"#),
        ("/v1/sources/sample/sync", r#"{"kind": "full"}"#),
        ("/v1/sources/sample/sync", "mode=full"),
        ("/v1/sources/sample/sync?kind=full", ""),
    ] {
        let (status, json) = f.send(post(uri, body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri} {body}: {json}");
        assert_eq!(json["error"]["code"], "bad_request");
    }
    // Valid JSON, but over the body limit: a trigger body is a few bytes.
    let huge = format!(
        r#"{{"mode": "full"{}}}"#,
        " ".repeat(crate::api::handlers::MAX_BODY)
    );
    let (status, json) = f
        .send(
            request("POST", "/v1/sources/sample/sync")
                .body(Body::from(huge))
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert_eq!(json["error"]["code"], "bad_request");
    // Refused requests reach the daemon not at all.
    assert_eq!(f.control.triggered.lock().expect("lock").len(), ok.len());
}

/// The (method, path) pairs of the OpenAPI document, and whether each needs no token.
fn documented() -> BTreeSet<(String, String, bool)> {
    let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("docs/openapi.json is JSON");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "an OpenAPI 3.1 document"
    );
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let public = op
                .get("security")
                .is_some_and(|s| s.as_array().is_some_and(Vec::is_empty));
            out.insert((method.to_uppercase(), path.clone(), public));
        }
    }
    out
}

#[test]
fn the_openapi_document_matches_the_route_table() {
    let routed: BTreeSet<(String, String, bool)> = ROUTES
        .iter()
        .map(|r| (r.verb.as_str().to_string(), r.path.to_string(), r.public))
        .collect();
    let documented = documented();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routed but not documented (or with another method or security): {missing:?}; \
         documented but not routed: {extra:?}"
    );
}

#[tokio::test]
async fn the_served_openapi_document_is_the_committed_one() {
    let f = Fixture::empty().await;
    let (status, served) = f.get("/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let committed: serde_json::Value =
        serde_json::from_str(OPENAPI).expect("docs/openapi.json is JSON");
    assert_eq!(served, committed);
    let on_disk = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json"),
    )
    .expect("docs/openapi.json");
    assert_eq!(
        on_disk, OPENAPI,
        "rebuild: the binary embeds an older document"
    );
}
