//! The push routes over a real engine: a fixture with two push sources (one whose jobs
//! expire after a second) and a folder source, the router called in-process, searches as
//! the sample identities' users. `contract.rs`: status codes, errors, limits, auth;
//! `flows.rs`: put, search, replay, delete, full-job sweeps, the mass-delete guard, expiry.

mod contract;
mod flows;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use connector_sdk::Secret;
use schedules::TriggerOutcome;
use serde_json::{Value, json};
use sync_core::Engine;

use super::{FakeControl, TOKEN, call, request, status};
use crate::api::{ApiState, Auth, Metrics, router};
use crate::config::Config;
use crate::push::Jobs;

pub(super) struct Push {
    _dir: tempfile::TempDir,
    state: ApiState,
    /// The jobs behind the routes, for what the daemon does to them (its shutdown).
    pub jobs: Arc<Jobs>,
}

fn config(dir: &Path) -> Config {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let text = format!(
        r#"
[index]
path = "{dir}/data"
[identities]
file = "{fx}/sample-identities.json"
[[sources]]
id = "crm"
type = "push"
[[sources]]
id = "short"
type = "push"
job_ttl_secs = 1
[[sources]]
id = "notes"
type = "filesystem"
root = "{dir}/notes"
default_access = "everyone"
"#,
        dir = dir.display(),
        fx = fx.display()
    );
    Config::parse(&text, dir, "the push test config").expect("valid config")
}

impl Push {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = config(dir.path());
        let engine = Engine::open(&config.data_dir).expect("open the engine");
        let control = Arc::new(FakeControl {
            statuses: Mutex::new(vec![status("crm")]),
            config: Mutex::new(Arc::new(config)),
            outcome: Mutex::new(TriggerOutcome::Queued),
            triggered: Mutex::default(),
            ready: AtomicBool::new(true),
        });
        let state = ApiState::new(
            control,
            Arc::new(Metrics::new()),
            Auth::Bearer(Secret::new(TOKEN)),
        );
        let jobs = Arc::new(Jobs::new(engine, None));
        let state = state.with_push(Arc::clone(&jobs));
        Push {
            _dir: dir,
            state,
            jobs,
        }
    }

    /// `method path` with the token and `body` (JSON, or nothing for `Null`).
    pub async fn send(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let body = match body {
            Value::Null => Body::empty(),
            v => Body::from(v.to_string()),
        };
        self.raw(method, path, body).await
    }

    pub async fn raw(&self, method: &str, path: &str, body: Body) -> (StatusCode, Value) {
        let request = request(method, path)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .expect("request");
        let (status, body) = call(&router(self.state.clone()), request).await;
        let json = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "{status}: not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        });
        (status, json)
    }

    /// Starts a job; its id.
    pub async fn start(&self, source: &str, mode: &str) -> String {
        let (status, job) = self
            .send(
                "POST",
                &format!("/v1/sources/{source}/jobs"),
                json!({"mode": mode}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        assert_eq!(job["state"], "open", "{job}");
        assert_eq!(job["mode"], mode, "{job}");
        job["job"].as_str().expect("a job id").to_string()
    }

    pub async fn put(&self, source: &str, job: &str, documents: Value) -> (StatusCode, Value) {
        self.send(
            "POST",
            &format!("/v1/sources/{source}/jobs/{job}/documents"),
            json!({ "documents": documents }),
        )
        .await
    }

    /// Puts and expects every document accepted.
    pub async fn put_ok(&self, source: &str, job: &str, documents: Value) {
        let n = documents.as_array().map_or(0, Vec::len);
        let (status, body) = self.put(source, job, documents).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["accepted"], n, "{body}");
    }

    pub async fn delete(&self, source: &str, job: &str, ids: &[&str]) -> (StatusCode, Value) {
        self.send(
            "POST",
            &format!("/v1/sources/{source}/jobs/{job}/documents/delete"),
            json!({ "ids": ids }),
        )
        .await
    }

    pub async fn job(&self, source: &str, job: &str) -> Value {
        let (status, view) = self
            .send(
                "GET",
                &format!("/v1/sources/{source}/jobs/{job}"),
                Value::Null,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{view}");
        view
    }

    /// Waits until the job's run ended; the job, with its report.
    pub async fn ended(&self, source: &str, job: &str) -> Value {
        for _ in 0..600 {
            let view = self.job(source, job).await;
            if !matches!(
                view["state"].as_str(),
                Some("open" | "finishing" | "expiring")
            ) {
                assert!(
                    view["report"].is_object(),
                    "an ended job has a report: {view}"
                );
                return view;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {job} of {source} did not end in 30 s");
    }

    /// Finishes the job and waits for its run to end; the job, with its report.
    pub async fn finish(&self, source: &str, job: &str) -> Value {
        let (status, view) = self
            .send(
                "POST",
                &format!("/v1/sources/{source}/jobs/{job}/finish"),
                Value::Null,
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{view}");
        assert_eq!(view["state"], "finishing", "{view}");
        let view = self.ended(source, job).await;
        assert_eq!(view["state"], "finished", "{view}");
        view
    }

    /// The documents `user` may see, as `source:doc_id`, sorted.
    pub async fn visible(&self, user: &str) -> Vec<String> {
        let (status, rows) = self
            .send(
                "GET",
                &format!("/v1/search?all=true&as={user}"),
                Value::Null,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{rows}");
        let mut out: Vec<String> = rows
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| {
                format!(
                    "{}:{}",
                    r["source"].as_str().unwrap_or("?"),
                    r["doc_id"].as_str().unwrap_or("?")
                )
            })
            .collect();
        out.sort();
        out
    }

    /// The chunks a search for `q` finds as `user`, as `doc_id#chunk`.
    pub async fn hits(&self, q: &str, user: &str) -> Vec<String> {
        let (status, rows) = self
            .send(
                "GET",
                &format!("/v1/search?q={q}&as={user}&limit=100"),
                Value::Null,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{rows}");
        let mut out: Vec<String> = rows
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["chunk_id"].as_str().unwrap_or("?").to_string())
            .collect();
        out.sort();
        out
    }
}

/// A document with text content.
pub(super) fn text_doc(id: &str, text: &str, allow: &[&str]) -> Value {
    json!({"id": id, "title": format!("Title of {id}"), "text": text, "acl": {"allow": allow}})
}
