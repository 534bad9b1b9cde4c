//! The API's contract tests: a fake [`Control`], a real data folder (the bundled sample synced
//! through the engine), and the router called in-process (`tower::ServiceExt::oneshot`).

mod contract;
mod metrics;
mod push;
mod reads;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use connector_sdk::Secret;
use schedules::{Health, KindStatus, SourceStatus, SyncKind, TriggerOutcome};
use sync_core::{Engine, RunReport};
use tower::ServiceExt as _;

use super::{ApiState, Auth, Control, Metrics, router};
use crate::config::Config;

pub(super) const TOKEN: &str = "test-token-0123456789";

/// A daemon that answers from fields the tests set.
pub(super) struct FakeControl {
    pub config: Mutex<Arc<Config>>,
    pub statuses: Mutex<Vec<SourceStatus>>,
    pub outcome: Mutex<TriggerOutcome>,
    pub triggered: Mutex<Vec<(String, SyncKind)>>,
    pub ready: AtomicBool,
}

impl Control for FakeControl {
    fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.lock().expect("config lock"))
    }

    fn statuses(&self) -> Vec<SourceStatus> {
        self.statuses.lock().expect("statuses lock").clone()
    }

    fn trigger(&self, source: &str, kind: SyncKind) -> TriggerOutcome {
        self.triggered
            .lock()
            .expect("triggered lock")
            .push((source.to_string(), kind));
        *self.outcome.lock().expect("outcome lock")
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// A temporary folder with the sample synced into `data/`, a copy of the sample identities
/// file, and a second source `notes` that was never synced.
pub(super) struct Fixture {
    pub dir: tempfile::TempDir,
    pub control: Arc<FakeControl>,
    pub metrics: Arc<Metrics>,
    pub state: ApiState,
    /// The report of the sample's sync, if it was synced.
    pub report: Option<RunReport>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// The config of a fixture in `dir`.
pub(super) fn config_in(dir: &Path) -> Config {
    let fx = fixtures();
    let text = format!(
        r#"
[index]
path = "{dir}/data"
[identities]
file = "{dir}/identities.json"
[[sources]]
id = "sample"
type = "filesystem"
root = "{fx}/sample-docs"
acl_file = "{fx}/sample-acl.json"
[[sources]]
id = "notes"
type = "filesystem"
root = "{dir}/notes"
default_access = "everyone"
"#,
        dir = dir.display(),
        fx = fx.display()
    );
    Config::parse(&text, dir, "the test config").expect("valid config")
}

impl Fixture {
    /// The sample synced; the API behind a token.
    pub async fn synced() -> Self {
        Fixture::build(true, Auth::Bearer(Secret::new(TOKEN))).await
    }

    /// Nothing synced yet (no data folder).
    pub async fn empty() -> Self {
        Fixture::build(false, Auth::Bearer(Secret::new(TOKEN))).await
    }

    pub async fn build(sync: bool, auth: Auth) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::copy(
            fixtures().join("sample-identities.json"),
            dir.path().join("identities.json"),
        )
        .expect("copy identities");
        let config = config_in(dir.path());
        let report = match sync {
            true => Some(sync_sample(&config).await),
            false => None,
        };
        let control = Arc::new(FakeControl {
            statuses: Mutex::new(vec![status("sample"), status("notes")]),
            config: Mutex::new(Arc::new(config)),
            outcome: Mutex::new(TriggerOutcome::Queued),
            triggered: Mutex::default(),
            ready: AtomicBool::new(true),
        });
        let metrics = Arc::new(Metrics::new());
        let state = ApiState::new(control.clone(), Arc::clone(&metrics), auth);
        Fixture {
            dir,
            control,
            metrics,
            state,
            report,
        }
    }

    pub fn config(&self) -> Arc<Config> {
        self.control.config()
    }

    pub fn app(&self) -> Router {
        router(self.state.clone())
    }

    /// `GET path` with the token.
    pub async fn get(&self, path: &str) -> (StatusCode, serde_json::Value) {
        self.send(request("GET", path).body(Body::empty()).expect("request"))
            .await
    }

    /// `GET path` with the token; the status and the body as text.
    pub async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let request = request("GET", path)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .expect("request");
        let (status, body) = call(&self.app(), request).await;
        (status, String::from_utf8(body).expect("utf-8"))
    }

    /// Sends `request` with the token added; the status and the body as JSON.
    pub async fn send(&self, mut request: Request<Body>) -> (StatusCode, serde_json::Value) {
        request.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {TOKEN}").parse().expect("header"),
        );
        let (status, body) = call(&self.app(), request).await;
        let json = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "{status}: not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        });
        (status, json)
    }
}

/// Syncs the `sample` source of `config` and returns its report.
pub(super) async fn sync_sample(config: &Config) -> RunReport {
    let engine = Engine::open(&config.data_dir).expect("open engine");
    let source = config.sources[0].source().expect("sample source");
    engine
        .sync(&source, &config.sync.options(), Default::default())
        .await
        .expect("sync the sample")
}

/// A request builder for `method path` (no token).
pub(super) fn request(method: &str, path: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(path)
}

/// Calls the router; the status and the raw body.
pub(super) async fn call(app: &Router, request: Request<Body>) -> (StatusCode, Vec<u8>) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .expect("body");
    (status, body.to_vec())
}

/// A fixed time, so that statuses snapshot.
pub(super) fn at(rfc3339: &str) -> chrono::DateTime<chrono::Utc> {
    rfc3339.parse().expect("rfc 3339 time")
}

/// A healthy, idle scheduler status with fixed times.
pub(super) fn status(source: &str) -> SourceStatus {
    SourceStatus {
        source: source.to_string(),
        health: Health::Healthy,
        consecutive_failures: 0,
        running: None,
        last_outcome: None,
        last_success: Some(at("2026-05-01T03:00:00Z")),
        removed: false,
        kinds: vec![KindStatus {
            kind: SyncKind::Content,
            schedule: Some("15m".into()),
            next_due: Some(at("2026-05-01T03:15:00Z")),
            retrying: false,
            consecutive_failures: 0,
            last_started: Some(at("2026-05-01T02:59:00Z")),
            last_outcome: None,
            last_success: Some(at("2026-05-01T03:00:00Z")),
        }],
    }
}

/// Compares `actual` with the committed `snapshots/<name>.json`; `UPDATE_EXPECT=1` rewrites
/// it (review the diff).
pub(super) fn check(name: &str, actual: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/api/tests/snapshots")
        .join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(actual).expect("json") + "\n";
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &text).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing: run with UPDATE_EXPECT=1", path.display()));
    assert_eq!(
        text, expected,
        "{name} changed: UPDATE_EXPECT=1 rewrites it"
    );
}
