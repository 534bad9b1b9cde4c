//! `HttpClient` against the fake server: what each scripted answer comes to, and how many
//! requests it took.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use connector_sdk::http::{
    Classifier, GoogleThrottling, HttpClient, Politeness, PolitenessConfig, SlackThrottling,
};
use connector_sdk::{ConnectorError, ErrorKind, read_bounded};
use futures::StreamExt;

use crate::fast;
use crate::server::{Server, Step, resetting_server};

fn client(config: PolitenessConfig) -> HttpClient {
    HttpClient::new(Politeness::new(config).expect("policy")).expect("client")
}

fn with(config: PolitenessConfig, classifier: impl Classifier + 'static) -> HttpClient {
    let policy = Politeness::new(config)
        .expect("policy")
        .with_classifier(classifier);
    HttpClient::new(policy).expect("client")
}

/// `ok <body>`, or the error's kind (with its delay when rate limited).
fn outcome(result: Result<serde_json::Value, ConnectorError>) -> String {
    match result {
        Ok(value) => format!("ok {value}"),
        Err(err) => match err.kind {
            ErrorKind::RateLimited { retry_after } => format!("rate_limited {retry_after:?}"),
            kind => kind.as_str().to_string(),
        },
    }
}

/// Scripts `steps` at `/api`, makes one `get_json` through `http`, and returns what it came
/// to and how many requests the server got.
async fn check(http: &HttpClient, steps: Vec<Step>) -> (String, usize) {
    let server = Server::start().await;
    server.script("/api", steps);
    let result = http
        .get_json::<serde_json::Value>(&server.url("/api"))
        .await;
    (outcome(result), server.hits("/api"))
}

#[tokio::test]
async fn bursts_of_5xx_are_retried_until_success() {
    let http = client(fast());
    let burst = vec![
        Step::status(503),
        Step::status(502),
        Step::status(500),
        Step::json(r#"{"n":1}"#),
    ];
    assert_eq!(check(&http, burst).await, (r#"ok {"n":1}"#.into(), 4));
    let config = PolitenessConfig {
        max_attempts: 3,
        ..fast()
    };
    let endless = vec![Step::status(500)];
    assert_eq!(
        check(&client(config), endless).await,
        ("transient".into(), 3)
    );
}

#[tokio::test]
async fn retry_after_is_surfaced_as_rate_limited() {
    let http = client(fast());
    let seconds = vec![Step::status(429).header("retry-after", "7")];
    assert_eq!(
        check(&http, seconds).await,
        ("rate_limited Some(7s)".into(), 1)
    );
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
    let server = Server::start().await;
    server.script("/api", [Step::status(503).header("retry-after", &at)]);
    let err = http
        .get_json::<serde_json::Value>(&server.url("/api"))
        .await
        .expect_err("rate limited");
    let ErrorKind::RateLimited {
        retry_after: Some(delay),
    } = err.kind
    else {
        panic!("expected a delay: {err:?}");
    };
    // The date has a one-second resolution and a little time has passed.
    assert!(
        (Duration::from_secs(117)..=Duration::from_secs(120)).contains(&delay),
        "{delay:?}"
    );
    assert_eq!(server.hits("/api"), 1);
}

#[tokio::test]
async fn throttling_without_a_delay_is_retried_then_surfaced() {
    let config = PolitenessConfig {
        throttle_retries: 2,
        ..fast()
    };
    let http = client(config);
    let recovers = vec![Step::status(429), Step::status(429), Step::json("{}")];
    assert_eq!(check(&http, recovers).await, ("ok {}".into(), 3));
    let persists = vec![Step::status(429)];
    assert_eq!(
        check(&http, persists).await,
        ("rate_limited None".into(), 3)
    );
}

#[tokio::test]
async fn google_rate_limit_403s_are_throttling() {
    let http = with(fast(), GoogleThrottling);
    let limited = r#"{"error":{"code":403,"errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded"}]}}"#;
    let once = vec![Step::status(403).body(limited), Step::json("{}")];
    assert_eq!(check(&http, once).await, ("ok {}".into(), 2));
    let always = vec![Step::status(403).body(limited)];
    // 1 attempt + 3 throttle retries, then the engine's pause.
    assert_eq!(check(&http, always).await, ("rate_limited None".into(), 4));
    let denied = r#"{"error":{"errors":[{"reason":"insufficientFilePermissions"}]}}"#;
    let forbidden = vec![Step::status(403).body(denied)];
    assert_eq!(check(&http, forbidden).await, ("permanent".into(), 1));
}

#[tokio::test]
async fn slack_ratelimited_in_http_200() {
    let http = with(fast(), SlackThrottling);
    let limited = r#"{"ok":false,"error":"ratelimited"}"#;
    let with_delay = vec![Step::json(limited).header("retry-after", "3")];
    assert_eq!(
        check(&http, with_delay).await,
        ("rate_limited Some(3s)".into(), 1)
    );
    let then_ok = vec![Step::json(limited), Step::json(r#"{"ok":true}"#)];
    assert_eq!(check(&http, then_ok).await, (r#"ok {"ok":true}"#.into(), 2));
    let revoked = vec![Step::json(r#"{"ok":false,"error":"token_revoked"}"#)];
    assert_eq!(check(&http, revoked).await, ("unauthorized".into(), 1));
}

#[tokio::test]
async fn statuses_that_retrying_cannot_cure_fail_at_once() {
    let http = client(fast());
    assert_eq!(
        check(&http, vec![Step::status(404)]).await,
        ("not_found".into(), 1)
    );
    assert_eq!(
        check(&http, vec![Step::status(400)]).await,
        ("permanent".into(), 1)
    );
    // No token source: nothing to refresh.
    assert_eq!(
        check(&http, vec![Step::status(401)]).await,
        ("unauthorized".into(), 1)
    );
}

#[tokio::test]
async fn reset_connections_are_retried() {
    let (url, connections, task) = resetting_server(2).await;
    let http = client(fast());
    let value: serde_json::Value = http.get_json(&url).await.expect("third connection answers");
    assert_eq!(value, serde_json::json!({"ok": true}));
    assert_eq!(connections.load(Ordering::SeqCst), 3);
    task.abort();
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let config = PolitenessConfig {
        max_attempts: 2,
        request_timeout: Duration::from_millis(200),
        ..fast()
    };
    let http = client(config);
    let started = Instant::now();
    let slow = vec![Step::json("{}").delay(Duration::from_secs(5))];
    assert_eq!(check(&http, slow).await, ("timeout".into(), 2));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn json_bodies_are_read_under_a_cap() {
    let http = client(fast()).with_max_json_bytes(1 << 20);
    // An endless body: only the cap ends the read.
    let endless =
        tokio::time::timeout(Duration::from_secs(20), check(&http, vec![Step::endless()]));
    assert_eq!(
        endless.await.expect("the cap stops the read"),
        ("invalid_response".into(), 1)
    );
    // A body that says its length is refused before it is read.
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(2 << 20));
    assert_eq!(
        check(&http, vec![Step::json(&big)]).await,
        ("invalid_response".into(), 1)
    );
    let small = client(fast()).with_max_json_bytes(16);
    assert_eq!(
        check(&small, vec![Step::json(r#"{"a":1}"#)]).await,
        (r#"ok {"a":1}"#.into(), 1)
    );
}

#[tokio::test]
async fn json_cut_short_is_retried_and_json_that_is_wrong_is_not() {
    let http = client(fast());
    let cut = vec![
        Step::json(r#"{"files":[{"id":"a"},{"#),
        Step::json(r#"{"n":1}"#),
    ];
    assert_eq!(check(&http, cut).await, (r#"ok {"n":1}"#.into(), 2));
    // Cut short on every attempt: the call gives up as a transient failure.
    let always: Vec<Step> = (0..5).map(|_| Step::json(r#"{"files":["#)).collect();
    assert_eq!(check(&http, always).await, ("transient".into(), 5));
    // Malformed, not cut short: retrying cannot cure it.
    let malformed = vec![Step::json(r#"{"files":]}"#), Step::json(r#"{"n":1}"#)];
    assert_eq!(
        check(&http, malformed).await,
        ("invalid_response".into(), 1)
    );
}

#[tokio::test]
async fn a_json_reply_keeps_its_headers_and_is_retried_when_cut_short() {
    let server = Server::start().await;
    server.script(
        "/page",
        [
            Step::json(r#"{"result":[{"sys_id":"a"},"#),
            Step::json(r#"{"result":[]}"#).header("Link", "<https://x/p?o=2>;rel=\"next\""),
        ],
    );
    let http = client(fast());
    let url = server.url("/page");
    let reply = http
        .send_json_reply(|c| c.get(&url))
        .await
        .expect("the second attempt");
    assert_eq!(server.hits("/page"), 2);
    assert_eq!(&reply.body[..], br#"{"result":[]}"#);
    assert_eq!(
        connector_sdk::http::link_rel(&reply.headers, "next").as_deref(),
        Some("https://x/p?o=2")
    );
}

#[tokio::test]
async fn decode_errors_name_the_call_and_the_field() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // Read only through `Debug`.
    struct Page {
        files: Vec<File>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // Read only through `Debug`.
    struct File {
        id: String,
    }
    let server = Server::start().await;
    server.script("/files", [Step::json(r#"{"files":[{"id":"a"},{"id":7}]}"#)]);
    let http = client(fast());
    let err = http
        .get_json::<Page>(&server.url("/files?pageToken=abc"))
        .await
        .expect_err("id is a number");
    assert_eq!(err.kind, ErrorKind::InvalidResponse);
    assert_eq!(
        err.message,
        format!(
            "GET {}: unexpected JSON at files[1].id: invalid type, expected a string",
            server.url("/files")
        )
    );
}

#[tokio::test]
async fn downloads_stream_under_a_cap() {
    let server = Server::start().await;
    let http = client(fast());
    server.script("/small", [Step::json("0123456789")]);
    let stream = http
        .get_stream(&server.url("/small"), 10)
        .await
        .expect("stream");
    assert_eq!(
        read_bounded(stream, 100).await.expect("body"),
        b"0123456789"
    );

    // Content-Length over the cap: refused before streaming.
    let err = match http.get_stream(&server.url("/small"), 9).await {
        Ok(_) => panic!("a 10-byte body passed a 9-byte cap"),
        Err(err) => err,
    };
    assert_eq!(err.kind, ErrorKind::TooLarge);

    // No length, no end: the stream stops with TooLarge after at most the cap.
    server.script("/endless", [Step::endless()]);
    let mut stream = http
        .get_stream(&server.url("/endless"), 1 << 20)
        .await
        .expect("stream");
    let mut read = 0usize;
    let err = loop {
        match stream.next().await.expect("the stream ends with an error") {
            Ok(chunk) => read += chunk.len(),
            Err(err) => break err,
        }
    };
    assert_eq!(err.kind, ErrorKind::TooLarge);
    assert!(read <= 1 << 20, "{read} bytes passed a 1 MiB cap");
    assert!(stream.next().await.is_none(), "nothing after the error");
}

#[tokio::test]
async fn the_rate_limit_paces_requests() {
    let config = PolitenessConfig {
        requests_per_second: Some(20.0),
        burst: 1,
        ..fast()
    };
    let http = client(config);
    let server = Server::start().await;
    server.script("/api", [Step::json("{}")]);
    let started = Instant::now();
    let url = server.url("/api");
    let calls = (0..6).map(|_| http.get_json::<serde_json::Value>(&url));
    for result in futures::future::join_all(calls).await {
        result.expect("ok");
    }
    // Six requests at 20/s, no burst: five 50 ms intervals at least.
    assert!(
        started.elapsed() >= Duration::from_millis(245),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.hits("/api"), 6);
}

#[tokio::test]
async fn the_concurrency_limit_bounds_requests_in_flight() {
    let config = PolitenessConfig {
        max_concurrency: Some(2),
        ..fast()
    };
    let http = client(config);
    let server = Server::start().await;
    server.script(
        "/slow",
        [Step::json("{}").delay(Duration::from_millis(100))],
    );
    let url = server.url("/slow");
    let calls = (0..8).map(|_| http.get_json::<serde_json::Value>(&url));
    for result in futures::future::join_all(calls).await {
        result.expect("ok");
    }
    assert_eq!(server.max_in_flight(), 2);
    assert_eq!(server.hits("/slow"), 8);
}

#[tokio::test]
async fn a_download_holds_its_slot_until_dropped() {
    let config = PolitenessConfig {
        max_concurrency: Some(1),
        ..fast()
    };
    let http = client(config);
    let server = Server::start().await;
    server.script("/file", [Step::json("contents")]);
    server.script("/api", [Step::json("{}")]);
    let stream = http
        .get_stream(&server.url("/file"), 100)
        .await
        .expect("stream");
    let next = {
        let (http, url) = (http.clone(), server.url("/api"));
        tokio::spawn(async move { http.get_json::<serde_json::Value>(&url).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !next.is_finished(),
        "a second call ran while the download held the only slot"
    );
    assert_eq!(server.hits("/api"), 0);
    drop(stream);
    next.await.expect("task").expect("ok once the slot is free");
    assert_eq!(server.hits("/api"), 1);
}
