//! The push API's throughput: the real `tributary daemon` (built by cargo, as the search
//! bench builds it) with one push source; a full job of N generated text documents put in
//! batches by C clients at once over HTTP, then finished. Prints documents/s until the last
//! put was accepted, and until the job's run ended with every document indexed. Then the
//! same again as a replay (every document unchanged: the API and the manifest diff alone),
//! and the documents as base64 bytes (held by the job until the engine reads them).
//!
//! ```sh
//! cargo bench -p tributary-benches --bench push -- --docs 20000 --batch 500 --clients 2
//! ```

#[allow(dead_code)] // The search bench uses the rest of it.
#[path = "search/daemon.rs"]
mod daemon;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[global_allocator]
static ALLOC: tributary_allocator::Allocator = tributary_allocator::Allocator;

const TOKEN: &str = "bench-token-0123456789";

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Document `i`: ~120 words, as the stdio bench's files, readable by one of three groups.
fn document(i: usize, bytes: bool) -> Value {
    let words = [
        "quarterly",
        "revenue",
        "pipeline",
        "incident",
        "roadmap",
        "budget",
    ];
    let text: String = (0..120)
        .map(|w| words[(i * 7 + w) % words.len()])
        .collect::<Vec<_>>()
        .join(" ");
    let text = format!("document {i}\n{text}\n");
    let acl = json!({"allow": [format!("group:team-{}", i % 3), "user:owner@example.com"]});
    if bytes {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(text);
        json!({"id": format!("doc-{i}"), "title": format!("Doc {i}"), "content_type": "text/plain", "base64": b64, "acl": acl})
    } else {
        json!({"id": format!("doc-{i}"), "title": format!("Doc {i}"), "text": text, "acl": acl})
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<String>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json");
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let body = response.bytes().await.expect("body");
        let body: Value = serde_json::from_slice(&body).expect("JSON");
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }
}

/// One full job of `n` documents; (documents/s accepted, documents/s indexed, the report).
async fn job(api: &Api, n: usize, batch: usize, clients: usize, bytes: bool) -> (f64, f64, Value) {
    let started = Instant::now();
    let job = api
        .call(
            reqwest::Method::POST,
            "/v1/sources/pushed/jobs",
            Some(json!({"mode": "full"}).to_string()),
        )
        .await;
    let id = job["job"].as_str().expect("job id").to_string();
    let batches: Vec<(usize, usize)> = (0..n)
        .step_by(batch)
        .map(|s| (s, (s + batch).min(n)))
        .collect();
    let path = format!("/v1/sources/pushed/jobs/{id}/documents");
    let puts = (0..clients).map(|c| {
        let mine: Vec<(usize, usize)> = batches.iter().copied().skip(c).step_by(clients).collect();
        let path = &path;
        async move {
            for (from, to) in mine {
                let docs: Vec<Value> = (from..to).map(|i| document(i, bytes)).collect();
                let body = json!({"documents": docs}).to_string();
                api.call(reqwest::Method::POST, path, Some(body)).await;
            }
        }
    });
    futures::future::join_all(puts).await;
    let accepted = started.elapsed().as_secs_f64();
    api.call(
        reqwest::Method::POST,
        &format!("/v1/sources/pushed/jobs/{id}/finish"),
        None,
    )
    .await;
    let report = loop {
        let view = api
            .call(
                reqwest::Method::GET,
                &format!("/v1/sources/pushed/jobs/{id}"),
                None,
            )
            .await;
        if view["state"] != "open" && view["state"] != "finishing" {
            assert_eq!(view["state"], "finished", "{view}");
            break view["report"].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let indexed = started.elapsed().as_secs_f64();
    (n as f64 / accepted, n as f64 / indexed, report)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = arg(&args, "--docs", 5000);
    let batch = arg(&args, "--batch", 500);
    let clients = arg(&args, "--clients", 2).max(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("tributary.toml");
    std::fs::write(
        &config,
        format!(
            "[index]\npath = \"{}\"\n[daemon]\nlisten = \"127.0.0.1:0\"\napi_token = \"{TOKEN}\"\n\
             [[sources]]\nid = \"pushed\"\ntype = \"push\"\n",
            dir.path().join("data").display()
        ),
    )
    .expect("write the config");
    let bin = daemon::binary();
    let d = daemon::Daemon::start(&bin, &config);
    let api = Api {
        http: reqwest::Client::new(),
        base: d.base.clone(),
    };
    println!("push API: {n} documents, batches of {batch}, {clients} clients");
    for (name, bytes) in [("text", false), ("replay", false), ("base64 bytes", true)] {
        let (accepted, indexed, report) = job(&api, n, batch, clients, bytes).await;
        let counts = &report["counts"];
        println!(
            "{name:<13} accepted {accepted:>7.0} documents/s, indexed {indexed:>7.0} documents/s \
             (added {}, modified {}, unchanged {}, failed {})",
            counts["added"], counts["modified"], counts["unchanged"], counts["failed"]
        );
        assert_eq!(counts["failed"], 0, "{report}");
    }
}
