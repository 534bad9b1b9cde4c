//! A plugin that misbehaves at every step of the protocol: each case is a clear failure,
//! nothing is deleted, and the engine syncs on afterwards. The plugin is one small Python
//! script whose behaviour `MODE` (in the source's `env`) picks; in `good` mode it lists
//! `a`, `b` and `c`, and every bad mode lists `a` only before misbehaving, so a sweep after
//! a bad run would show as `b` and `c` gone.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use connector_process::{ProcessConfig, ProcessConnector};
use connector_sdk::{Connector, Secret};
use sync_core::{Engine, Identities, RunReport, RunState, Source, SyncOptions};

use crate::support::sync;

const PLUGIN: &str = r#"
import base64, json, os, sys, time
MODE = os.environ["MODE"]
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
def doc(i, version="1"):
    return {"kind": "upsert", "document": {"id": i, "version": version, "acl": {"allow": ["everyone"]}}}
WORDS = {"a": "alpha", "b": "bravo", "c": "charlie"}
if MODE == "crash_at_hello": sys.exit(3)
if MODE == "wrong_version":
    send({"type": "hello", "protocol": 2}); time.sleep(30)
send({"type": "hello", "protocol": 1, "capabilities": {}})
for line in sys.stdin:
    r = json.loads(line); t = r["type"]; i = r.get("id")
    if t == "init":
        if MODE == "crash_at_init": sys.exit(4)
        send({"type": "ok", "id": i})
    elif t == "full":
        if MODE == "good":
            for d in "abc": send({"type": "change", "id": i, "change": doc(d)})
            send({"type": "change", "id": i, "change": {"kind": "listing_complete"}})
            send({"type": "end", "id": i}); continue
        if MODE == "crash_at_fetch":
            send({"type": "change", "id": i, "change": doc("a", "2")})
            for d in "bc": send({"type": "change", "id": i, "change": doc(d)})
            send({"type": "change", "id": i, "change": {"kind": "listing_complete"}})
            send({"type": "end", "id": i}); continue
        send({"type": "change", "id": i, "change": doc("a")})
        if MODE == "crash_in_listing": sys.exit(5)
        if MODE == "hang": time.sleep(60)
        if MODE == "flood": sys.stdout.write("x" * (1 << 20)); sys.stdout.flush(); time.sleep(60)
        if MODE == "garbage": sys.stdout.write("Traceback (most recent call last): oops\n"); sys.stdout.flush(); time.sleep(60)
        if MODE == "overrun":
            # New documents the engine must fetch (and this plugin never serves), so its
            # acks stop at a few items while these keep coming.
            for n in range(20 * r["window"]): send({"type": "change", "id": i, "change": doc("o%d" % n)})
            time.sleep(60)
        if MODE == "no_listing_complete":
            send({"type": "end", "id": i}); sys.stdout.flush(); os._exit(0)
    elif t == "fetch":
        if MODE == "crash_at_fetch": sys.exit(6)
        word = WORDS[r["document"]["id"]].encode()
        send({"type": "content", "id": i, "data": base64.b64encode(word).decode()})
        send({"type": "end", "id": i})
"#;

struct Bench {
    engine: Engine,
    dir: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Bench {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("plugin.py"), PLUGIN).expect("write plugin");
        let data = tempfile::tempdir().expect("tempdir");
        Bench {
            engine: Engine::open(data.path()).expect("engine"),
            dir,
            _data: data,
        }
    }

    fn source(&self, id: &str, mode: &str) -> Source {
        Source::new(
            id,
            Arc::new(connector(self.dir.path(), mode)) as Arc<dyn Connector>,
        )
    }

    async fn run(&self, id: &str, mode: &str) -> RunReport {
        let options = SyncOptions {
            full: true,
            retry_backoff: Duration::ZERO,
            ..SyncOptions::default()
        };
        sync(&self.engine, &self.source(id, mode), &options).await
    }

    fn hits(&self, query: &str) -> usize {
        crate::support::hits(&self.engine, &Identities::new(), "anyone@acme.test", query)
    }
}

fn connector(dir: &Path, mode: &str) -> ProcessConnector {
    let mut config = ProcessConfig::new(["python3", "plugin.py"]);
    config.cwd = Some(dir.to_path_buf());
    config.env.insert("MODE".into(), Secret::new(mode));
    config.start_timeout_secs = 5;
    config.idle_timeout_secs = 2;
    config.max_line_bytes = 64 * 1024;
    ProcessConnector::new(config)
}

/// A good run, the bad one (whose report is returned for its message), then the checks
/// every case shares: nothing deleted, and the engine syncs a second source and the
/// first one again.
async fn misbehave(mode: &str) -> RunReport {
    let t = Bench::new();
    let report = t.run("plugin", "good").await;
    assert_eq!(report.state, RunState::Succeeded, "{report:?}");
    assert_eq!(report.counts.added, 3, "{report:?}");
    let bad = tokio::time::timeout(Duration::from_secs(60), t.run("plugin", mode))
        .await
        .expect("the engine never stalls on a plugin");
    assert_eq!(bad.counts.deleted, 0, "{mode}: {bad:?}");
    for word in ["alpha", "bravo", "charlie"] {
        assert_eq!(t.hits(word), 1, "{mode}: {word} was deleted");
    }
    let other = t.run("other", "good").await;
    assert_eq!(other.state, RunState::Succeeded, "{mode}: {other:?}");
    let again = t.run("plugin", "good").await;
    assert_eq!(again.state, RunState::Succeeded, "{mode}: {again:?}");
    bad
}

/// The run failed, and its errors say `what`.
fn failed_saying(report: &RunReport, what: &str) {
    assert_eq!(report.state, RunState::Failed, "{report:?}");
    let said = report.errors.join("\n");
    assert!(said.contains(what), "expected {what:?} in {said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_hello_fails_the_run() {
    let r = misbehave("crash_at_hello").await;
    failed_saying(&r, "exited before its hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_init_fails_the_run() {
    let r = misbehave("crash_at_init").await;
    failed_saying(&r, "exited");
    failed_saying(&r, "exit status: 4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_the_listing_fails_the_run() {
    let r = misbehave("crash_in_listing").await;
    failed_saying(&r, "exit status: 5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_a_fetch_fails_that_document_only() {
    let r = misbehave("crash_at_fetch").await;
    assert_ne!(r.state, RunState::Succeeded, "{r:?}");
    assert_eq!(r.counts.failed, 1, "{r:?}");
    let failure = &r.failed_documents[0];
    assert_eq!(failure.doc_id, "a", "{r:?}");
    assert!(failure.message.contains("exit status: 6"), "{failure:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_plugin_is_killed_and_the_run_fails() {
    let r = misbehave("hang").await;
    failed_saying(&r, "is hung: no line, not even a heartbeat, for 2s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_output_fails_the_run() {
    let r = misbehave("flood").await;
    failed_saying(&r, "wrote a line longer than max_line_bytes (65536)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_stdout_fails_the_run() {
    let r = misbehave("garbage").await;
    failed_saying(&r, "wrote a line that is not protocol 1");
    failed_saying(&r, "Traceback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_protocol_version_is_refused() {
    let r = misbehave("wrong_version").await;
    failed_saying(&r, "speaks protocol 2; this engine speaks protocol 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_beyond_the_window_fail_the_run() {
    let r = misbehave("overrun").await;
    failed_saying(&r, "sent more than its window of 256 unacknowledged items");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_exit_without_listing_complete_deletes_nothing() {
    let r = misbehave("no_listing_complete").await;
    // The plugin said nothing wrong, but a full listing that never completes proves no
    // deletion: the engine fails the run, and says why.
    failed_saying(
        &r,
        "the listing ended without completing; nothing was deleted",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_program_fails_the_check_and_the_run() {
    let t = Bench::new();
    let mut config = ProcessConfig::new(["./no-such-plugin"]);
    config.cwd = Some(t.dir.path().to_path_buf());
    let connector = ProcessConnector::new(config);
    let cx = connector_sdk::SyncContext {
        source_id: "x".into(),
        run_id: "1".into(),
        limits: connector_sdk::Limits::default(),
    };
    let err = connector.check(&cx).await.expect_err("no program");
    assert!(err.message.contains("cannot start plugin"), "{err}");
}
