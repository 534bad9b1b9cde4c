//! The push routes' contract: the token, one job per source, who may take jobs, and every
//! refusal of a bad batch, each a JSON error with its stable code and nothing sent to the
//! run.

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Push, text_doc};
use crate::api::tests::{call, contract::error_code, request};
use crate::push::wire::{MAX_DOCUMENT_BYTES, MAX_DOCUMENTS_PER_BATCH, MAX_REQUEST_BYTES};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_routes_need_the_token() {
    let p = Push::new().await;
    let job = p.start("crm", "incremental").await;
    let app = crate::api::router(p.state.clone());
    for (method, path) in [
        ("POST", "/v1/sources/crm/jobs".to_string()),
        ("GET", format!("/v1/sources/crm/jobs/{job}")),
        ("POST", format!("/v1/sources/crm/jobs/{job}/documents")),
        (
            "POST",
            format!("/v1/sources/crm/jobs/{job}/documents/delete"),
        ),
        ("POST", format!("/v1/sources/crm/jobs/{job}/finish")),
    ] {
        let body = json!({"documents": [text_doc("x", "y", &["everyone"])]}).to_string();
        for auth in [None, Some("Bearer wrong")] {
            let mut b = request(method, &path);
            if let Some(auth) = auth {
                b = b.header("authorization", auth);
            }
            let (status, body) =
                call(&app, b.body(Body::from(body.clone())).expect("request")).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(error_code(&body), "unauthorized");
        }
    }
    // Nothing reached the job: it is still open and empty.
    let view = p.finish("crm", &job).await;
    assert_eq!(view["report"]["counts"]["scanned"], 0, "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_open_job_per_source_and_only_push_sources_take_jobs() {
    let p = Push::new().await;
    let job = p.start("crm", "full").await;
    let start = |source: &'static str, body: Value| {
        let p = &p;
        async move {
            p.send("POST", &format!("/v1/sources/{source}/jobs"), body)
                .await
        }
    };
    let (status, body) = start("crm", json!({"mode": "incremental"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&job)),
        "{body}"
    );
    // Another source is free meanwhile.
    let other = p.start("short", "incremental").await;
    assert_ne!(other, job);
    for (source, body, code) in [
        ("notes", json!({}), "conflict"),
        ("nope", json!({}), "not_found"),
        ("crm", json!({"mode": "sideways"}), "bad_request"),
        ("crm", json!({"mode": "full", "extra": 1}), "bad_request"),
    ] {
        let (status, answer) = start(source, body).await;
        assert_eq!(answer["error"]["code"], code, "{source}: {status} {answer}");
    }
    for (method, path, code) in [
        (
            "GET",
            "/v1/sources/crm/jobs/999999".to_string(),
            "not_found",
        ),
        (
            "POST",
            "/v1/sources/crm/jobs/999999/finish".to_string(),
            "not_found",
        ),
        ("GET", format!("/v1/sources/short/jobs/{job}"), "not_found"),
    ] {
        let (status, answer) = p.send(method, &path, Value::Null).await;
        assert_eq!(answer["error"]["code"], code, "{path}: {status} {answer}");
    }
    p.finish("crm", &job).await;
    // A finished job takes nothing more.
    let (status, body) = p
        .put("crm", &job, json!([text_doc("x", "y", &["everyone"])]))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::CONFLICT, &json!("conflict")),
        "{body}"
    );
    let (status, body) = p
        .send(
            "POST",
            &format!("/v1/sources/crm/jobs/{job}/finish"),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // The source takes a new job once the last one ended; the default mode is incremental.
    let (status, body) = p.send("POST", "/v1/sources/crm/jobs", Value::Null).await;
    assert_eq!(
        (status, &body["mode"]),
        (StatusCode::CREATED, &json!("incremental")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_batches_are_refused_whole_with_their_field() {
    let p = Push::new().await;
    let job = p.start("crm", "incremental").await;
    let good = text_doc("good", "fine", &["everyone"]);
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!([good, {"id": "n", "text": "no acl"}]),
            "bad_request",
            "documents[1].acl",
        ),
        (
            json!([{"id": "n", "text": "t", "acl": {"allow": []}}]),
            "bad_request",
            "documents[0].acl.allow",
        ),
        (
            json!([{"id": "n", "text": "t", "acl": {"allow": ["user:bob"]}}]),
            "bad_request",
            "email",
        ),
        (
            json!([{"id": "n", "text": "t", "acl": {"allow": ["role:admin"]}}]),
            "bad_request",
            "acl.allow[0]",
        ),
        (
            json!([{"id": "n", "text": "t", "acl": {"allow": ["everyone"], "deny": ["group:"]}}]),
            "bad_request",
            "acl.deny[0]",
        ),
        (
            json!([{"id": "", "text": "t", "acl": {"allow": ["everyone"]}}]),
            "bad_request",
            "documents[0].id",
        ),
        (
            json!([{"id": "n", "acl": {"allow": ["everyone"]}}]),
            "bad_request",
            "text",
        ),
        (
            json!([{"id": "n", "text": "t", "base64": "dA==", "acl": {"allow": ["everyone"]}}]),
            "bad_request",
            "not both",
        ),
        (
            json!([{"id": "n", "base64": "not base64!", "acl": {"allow": ["everyone"]}}]),
            "bad_request",
            "base64",
        ),
        (
            json!([{"id": "n", "text": "t", "acl": {"allow": ["everyone"]}, "colour": "red"}]),
            "bad_request",
            "colour",
        ),
        (
            json!([{"id": "n", "text": "t", "modified": "yesterday", "acl": {"allow": ["everyone"]}}]),
            "bad_request",
            "modified",
        ),
        (json!([]), "bad_request", "empty"),
    ];
    for (documents, code, names) in cases {
        let (status, body) = p.put("crm", &job, documents.clone()).await;
        assert_eq!(body["error"]["code"], code, "{documents}: {status} {body}");
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(names), "{names:?} not in {message:?}");
    }
    for (body, what) in [("{", "not JSON"), (r#"{"docs": []}"#, "another key")] {
        let (status, answer) = p
            .raw(
                "POST",
                &format!("/v1/sources/crm/jobs/{job}/documents"),
                Body::from(body),
            )
            .await;
        assert_eq!(
            (status, &answer["error"]["code"]),
            (StatusCode::BAD_REQUEST, &json!("bad_request")),
            "{what}"
        );
    }
    let (status, body) = p.delete("crm", &job, &["ok", ""]).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("bad_request")),
        "{body}"
    );
    // Nothing of any refused batch reached the run.
    let view = p.finish("crm", &job).await;
    assert_eq!(view["report"]["counts"]["scanned"], 0, "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_over_the_limits_are_refused_with_stable_codes() {
    let p = Push::new().await;
    let job = p.start("crm", "incremental").await;
    let many: Vec<Value> = (0..=MAX_DOCUMENTS_PER_BATCH)
        .map(|i| text_doc(&format!("d{i}"), "t", &["everyone"]))
        .collect();
    let (status, body) = p.put("crm", &job, json!(many)).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("too_many_documents")),
        "{body}"
    );
    let ids: Vec<String> = (0..=MAX_DOCUMENTS_PER_BATCH)
        .map(|i| format!("d{i}"))
        .collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (status, body) = p.delete("crm", &job, &ids).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("too_many_documents")),
        "{body}"
    );

    let big = "a".repeat(MAX_DOCUMENT_BYTES + 1);
    let (status, body) = p
        .put("crm", &job, json!([text_doc("big", &big, &["everyone"])]))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::PAYLOAD_TOO_LARGE, &json!("document_too_large")),
        "{body}"
    );
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(vec![0u8; MAX_DOCUMENT_BYTES + 4]);
    let (status, body) = p
        .put(
            "crm",
            &job,
            json!([{"id": "big", "base64": b64, "acl": {"allow": ["everyone"]}}]),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::PAYLOAD_TOO_LARGE, &json!("document_too_large")),
        "{body}"
    );

    let huge = format!(
        r#"{{"documents": [], "pad": "{}"}}"#,
        " ".repeat(MAX_REQUEST_BYTES)
    );
    let (status, body) = p
        .raw(
            "POST",
            &format!("/v1/sources/crm/jobs/{job}/documents"),
            Body::from(huge),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::PAYLOAD_TOO_LARGE, &json!("payload_too_large")),
        "{body}"
    );

    // Just under the limits goes in: the largest batch, and the largest document.
    let most: Vec<Value> = (0..MAX_DOCUMENTS_PER_BATCH)
        .map(|i| text_doc(&format!("d{i}"), "t", &["everyone"]))
        .collect();
    p.put_ok("crm", &job, json!(most)).await;
    let largest = base64::engine::general_purpose::STANDARD.encode(vec![7u8; MAX_DOCUMENT_BYTES]);
    p.put_ok(
        "crm",
        &job,
        json!([{"id": "largest", "base64": largest, "acl": {"allow": ["everyone"]}}]),
    )
    .await;
    let view = p.finish("crm", &job).await;
    assert_eq!(
        view["report"]["counts"]["scanned"],
        MAX_DOCUMENTS_PER_BATCH + 1,
        "{view}"
    );
}
