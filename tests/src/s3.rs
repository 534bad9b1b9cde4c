//! The S3 connector against a real S3 implementation (moto server, started by
//! `scripts/test.sh`), through `fault-proxy` so that every test can count requests and
//! inject faults. Each test uses its own bucket, so tests run in parallel on one server.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use connector_s3::{S3Config, S3Connector};
use connector_sdk::{Change, Connector, ErrorKind, SyncContext};
use fault_proxy::{Fault, FaultProxy, s3};
use futures::StreamExt;
use sync_core::{Engine, Identities, RunMode, RunState, Source, SyncOptions};

use crate::support::{AclEntry, counts, set, sync, visible};

/// The moto server's URL, from `scripts/test.sh`. Never skipped silently.
fn endpoint() -> String {
    std::env::var("TRIBUTARY_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "TRIBUTARY_TEST_S3_ENDPOINT is not set. The S3 tests need a real S3-compatible \
             server: run ./scripts/test.sh, which installs and starts moto (pip install \
             'moto[server]'), or start one yourself and export its URL"
        )
    })
}

fn credentials() -> Credentials {
    Credentials::new("test", "test", None, None, "tests")
}

/// A fresh bucket on the moto server, with a direct (unproxied) client to seed it.
pub(crate) struct Bucket {
    pub(crate) name: String,
    client: aws_sdk_s3::Client,
}

impl Bucket {
    pub(crate) async fn new(test: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{test}-{}-{n}", std::process::id()).replace('_', "-");
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .credentials_provider(credentials())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint())
            .force_path_style(true)
            .build();
        let client = aws_sdk_s3::Client::from_conf(config);
        client
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket {name} at {}: {e:?}", endpoint()));
        Bucket { name, client }
    }

    pub(crate) async fn put(&self, key: &str, body: impl Into<Vec<u8>>) {
        self.client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .body(body.into().into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
    }

    async fn put_many(&self, objects: Vec<(String, String)>) {
        futures::stream::iter(objects)
            .map(|(key, body)| async move { self.put(&key, body).await })
            .buffer_unordered(32)
            .collect::<Vec<()>>()
            .await;
    }

    /// Puts each key with the body `text of <key>`.
    async fn put_texts<'k>(&self, keys: impl IntoIterator<Item = &'k String>) {
        self.put_many(
            keys.into_iter()
                .map(|k| (k.clone(), format!("text of {k}")))
                .collect(),
        )
        .await;
    }

    pub(crate) async fn delete(&self, key: &str) {
        self.client
            .delete_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("delete {key}: {e:?}"));
    }

    /// Writes `acl.json` from (key prefix, entries); prefixes are made `s3://BUCKET/...`.
    pub(crate) async fn acl(&self, rules: &[(&str, &[AclEntry<'_>])]) {
        let json: Vec<serde_json::Value> = rules
            .iter()
            .map(|(prefix, entries)| {
                serde_json::json!({
                    "keyPrefix": format!("s3://{}/{prefix}", self.name),
                    "aclEntries": entries.iter().map(|(name, kind, access)| serde_json::json!({
                        "Name": name, "Type": kind, "Access": access
                    })).collect::<Vec<_>>()
                })
            })
            .collect();
        self.put("acl.json", serde_json::to_vec(&json).expect("json"))
            .await;
    }

    /// A configuration that reaches the bucket through `proxy`, with fast retries.
    pub(crate) fn config(&self, proxy: &FaultProxy) -> S3Config {
        let mut c = S3Config::new(&self.name);
        c.region = Some("us-east-1".into());
        c.endpoint_url = Some(proxy.url());
        c.force_path_style = true;
        c.acl_file_key = Some("acl.json".into());
        c.initial_backoff = Duration::from_millis(5);
        c
    }
}

pub(crate) fn source(config: S3Config) -> Source {
    let connector = S3Connector::with_credentials(config, credentials()).expect("valid config");
    Source::new("s3docs", Arc::new(connector) as Arc<dyn Connector>)
}

pub(crate) async fn proxy() -> FaultProxy {
    FaultProxy::start(&endpoint()).await.expect("start proxy")
}

fn identities() -> Identities {
    crate::support::file_identities(
        br#"{"users": {"alice@example.com": ["engineering"], "bob@example.com": ["all-staff"],
                       "carol@example.com": []},
            "groups": {"engineering": ["all-staff"]}}"#,
        &["s3docs"],
    )
}

/// The keys GetObject was called for since the last reset, sorted.
pub(crate) fn gets(proxy: &FaultProxy, bucket: &Bucket) -> Vec<String> {
    let prefix = format!("/{}/", bucket.name);
    let mut keys: Vec<String> = proxy
        .seen()
        .into_iter()
        .filter(|s| s3::get_object(s) && !s.faulted)
        .map(|s| s.path.trim_start_matches(&prefix).to_string())
        .collect();
    keys.sort();
    keys
}

/// Every document id in the index, and whether any chunk id repeats.
fn indexed(engine: &Engine) -> BTreeSet<String> {
    let chunks = engine.index().all_chunks().expect("chunks");
    let ids: BTreeSet<&str> = chunks.iter().map(|c| c.chunk_id.as_str()).collect();
    assert_eq!(ids.len(), chunks.len(), "duplicate chunks in the index");
    chunks.into_iter().map(|c| c.doc_id).collect()
}

const ENG: &[AclEntry<'static>] = &[("engineering", "GROUP", "ALLOW")];
const STAFF: &[AclEntry<'static>] = &[("all-staff", "GROUP", "ALLOW")];

#[tokio::test(flavor = "multi_thread")]
async fn a_full_sync_lists_2500_objects_over_many_pages() {
    let bucket = Bucket::new("many-pages").await;
    let mut keys = Vec::new();
    for i in 0..2500 {
        let folder = ["eng", "hr", "ops", "sales", "legal"][i % 5];
        keys.push(format!("{folder}/doc-{i:04}.txt"));
    }
    bucket
        .put_many(
            keys.iter()
                .map(|k| (k.clone(), format!("document {k} about quarterly planning")))
                .collect(),
        )
        .await;
    bucket.put("eng/", "").await; // a folder placeholder is not a document
    bucket.acl(&[("eng/", ENG), ("", STAFF)]).await;
    let proxy = proxy().await;
    let mut config = bucket.config(&proxy);
    config.page_size = 100;
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path()).expect("engine");

    let report = sync(&engine, &source(config), &SyncOptions::default()).await;
    assert_eq!(report.state, RunState::Succeeded, "{:?}", report.errors);
    assert_eq!(counts(&report), (2500, 2500, 0, 0, 0, 0, 0, 0));
    assert_eq!(indexed(&engine), keys.iter().cloned().collect());
    assert!(
        proxy.count(s3::list_objects) >= 26,
        "{} list calls",
        proxy.count(s3::list_objects)
    );
    // One GetObject per document, plus the ACL file.
    assert_eq!(gets(&proxy, &bucket).len(), 2501);
    let ids = identities();
    assert_eq!(visible(&engine, &ids, "alice@example.com").len(), 2500);
    let bob = visible(&engine, &ids, "bob@example.com");
    assert_eq!(bob.len(), 2000);
    assert!(bob.iter().all(|k| !k.starts_with("eng/")));
    assert!(visible(&engine, &ids, "carol@example.com").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_sync_downloads_only_what_changed() {
    let bucket = Bucket::new("incremental").await;
    for key in [
        "pub/a.txt",
        "pub/b.txt",
        "pub/c.txt",
        "eng/x.md",
        "eng/y.md",
        "eng/z.txt",
    ] {
        bucket.put(key, format!("the text of {key}")).await;
    }
    bucket
        .put(
            "eng/z.txt.metadata.json",
            r#"{"Title": "Zeta", "Attributes": {"team": "core"},
                "AccessControlList": [{"Name": "carol@example.com", "Type": "USER", "Access": "ALLOW"}]}"#,
        )
        .await;
    bucket.acl(&[("pub/", STAFF), ("eng/", ENG)]).await;
    let proxy = proxy().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path()).expect("engine");
    let source = source(bucket.config(&proxy));
    let options = SyncOptions::default();

    let full = sync(&engine, &source, &options).await;
    assert_eq!(counts(&full), (6, 6, 0, 0, 0, 0, 0, 0), "{:?}", full.errors);
    let ids = identities();
    // The sidecar's ACL replaces the prefix ACL for its document.
    assert_eq!(
        visible(&engine, &ids, "alice@example.com"),
        set(&[
            "eng/x.md",
            "eng/y.md",
            "pub/a.txt",
            "pub/b.txt",
            "pub/c.txt"
        ])
    );
    assert_eq!(
        visible(&engine, &ids, "carol@example.com"),
        set(&["eng/z.txt"])
    );
    // Sidecar attributes land in the index's metadata field.
    let metadata = |engine: &Engine, id: &str| -> serde_json::Value {
        let chunks = engine.index().all_chunks().expect("chunks");
        let chunk = chunks.iter().find(|c| c.doc_id == id).expect("indexed");
        serde_json::from_str(&chunk.metadata).expect("metadata json")
    };
    assert_eq!(metadata(&engine, "eng/z.txt")["team"], "core");
    assert_eq!(metadata(&engine, "eng/x.md").get("team"), None);

    // No change: not one object is downloaded.
    proxy.reset_counts();
    let noop = sync(&engine, &source, &options).await;
    assert_eq!(counts(&noop), (6, 0, 0, 0, 0, 6, 0, 0));
    assert_eq!(noop.mode, RunMode::Incremental);
    assert_eq!(proxy.count(s3::get_object), 0, "{:?}", proxy.seen());
    assert_eq!(proxy.count(s3::head_object), 1, "the ACL file's ETag");

    // Edit, delete, add, change the ACL file and a sidecar.
    bucket.put("pub/a.txt", "the new text of pub/a.txt").await;
    bucket.delete("pub/b.txt").await;
    bucket.put("pub/d.txt", "a new document").await;
    bucket
        .acl(&[
            ("pub/", STAFF),
            (
                "eng/",
                &[
                    ("engineering", "GROUP", "ALLOW"),
                    ("bob@example.com", "USER", "ALLOW"),
                ],
            ),
        ])
        .await;
    bucket
        .put(
            "eng/z.txt.metadata.json",
            r#"{"Title": "Zeta v2",
                "AccessControlList": [{"Name": "carol@example.com", "Type": "USER", "Access": "ALLOW"}]}"#,
        )
        .await;
    proxy.reset_counts();
    let inc = sync(&engine, &source, &options).await;
    assert_eq!(inc.state, RunState::Succeeded, "{:?}", inc.errors);
    // scanned a c d x y z; added d; modified a, z (its sidecar); deleted b; ACL-only x, y
    // (z's effective ACL comes from its sidecar and did not change); unchanged c.
    assert_eq!(counts(&inc), (6, 1, 2, 1, 2, 1, 0, 0));
    assert_eq!(
        gets(&proxy, &bucket),
        [
            "acl.json",
            "eng/z.txt",
            "eng/z.txt.metadata.json",
            "pub/a.txt",
            "pub/d.txt"
        ]
    );
    assert_eq!(
        visible(&engine, &ids, "bob@example.com"),
        set(&[
            "eng/x.md",
            "eng/y.md",
            "pub/a.txt",
            "pub/c.txt",
            "pub/d.txt"
        ])
    );
    assert_eq!(
        visible(&engine, &ids, "carol@example.com"),
        set(&["eng/z.txt"])
    );
    let z = engine
        .index()
        .visible_documents(&ids.principals("carol@example.com"))
        .expect("visible");
    assert_eq!(z[0].title, "Zeta v2");
    assert_eq!(
        metadata(&engine, "eng/z.txt").get("team"),
        None,
        "attributes follow the sidecar"
    );
    assert_eq!(
        z[0].uri.as_deref(),
        Some(format!("s3://{}/eng/z.txt", bucket.name).as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttling_storm_and_broken_connections_still_give_the_exact_index() {
    let bucket = Bucket::new("storm").await;
    let keys: Vec<String> = (0..300).map(|i| format!("d/{i:03}.txt")).collect();
    bucket.put_texts(&keys).await;
    bucket.acl(&[("", STAFF)]).await;
    let proxy = proxy().await;
    // Every third request is throttled, and on top of that: server errors, resets, slow
    // answers (longer than the attempt timeout) and bodies that break off mid-stream.
    // About half of all requests fail; each request gets enough attempts that a run of
    // failures long enough to exhaust them is vanishingly unlikely (0.5^25).
    proxy.inject_every(s3::any, Fault::slow_down(), 3);
    proxy.inject_every(s3::get_object, Fault::internal_error(), 5);
    proxy.inject_every(s3::get_object, Fault::Reset, 7);
    proxy.inject_every(s3::list_objects, Fault::Reset, 4);
    proxy.inject_every(s3::get_object, Fault::TruncateBody, 11);
    proxy.inject(s3::get_object, Fault::Delay(Duration::from_millis(1500)), 3);
    let mut config = bucket.config(&proxy);
    config.page_size = 50;
    config.max_attempts = 25;
    config.attempt_timeout = Duration::from_millis(700);
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path()).expect("engine");

    let report = sync(&engine, &source(config), &SyncOptions::default()).await;
    assert_eq!(
        report.state,
        RunState::Succeeded,
        "{:?} {:?}",
        report.errors,
        report.failed_documents
    );
    assert_eq!(counts(&report), (300, 300, 0, 0, 0, 0, 0, 0));
    assert_eq!(indexed(&engine), keys.iter().cloned().collect());
    assert!(proxy.faulted() > 150, "only {} faults", proxy.faulted());
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_credentials_fail_the_run_and_delete_nothing() {
    let bucket = Bucket::new("expired").await;
    for key in ["a.txt", "b.txt", "c.txt"] {
        bucket.put(key, "some text").await;
    }
    bucket.acl(&[("", STAFF)]).await;
    let proxy = proxy().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path()).expect("engine");
    let source = source(bucket.config(&proxy));
    let full = sync(&engine, &source, &SyncOptions::default()).await;
    assert_eq!(counts(&full).1, 3);

    bucket.delete("b.txt").await;
    proxy.inject(s3::list_objects, Fault::status(400, "ExpiredToken"), 1000);
    let failed = sync(&engine, &source, &SyncOptions::default()).await;
    assert_eq!(failed.state, RunState::Failed);
    assert_eq!(counts(&failed).3, 0, "nothing deleted");
    assert!(
        failed.errors.iter().any(|e| e.contains("ExpiredToken")),
        "{:?}",
        failed.errors
    );
    assert_eq!(indexed(&engine), set(&["a.txt", "b.txt", "c.txt"]));

    proxy.clear();
    let recovered = sync(&engine, &source, &SyncOptions::default()).await;
    assert_eq!(counts(&recovered), (2, 0, 0, 1, 0, 2, 0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_on_one_object_fails_only_that_document() {
    let bucket = Bucket::new("denied").await;
    for key in ["a.txt", "b.txt", "c.txt", "d.txt"] {
        bucket.put(key, format!("text of {key}")).await;
    }
    bucket.acl(&[("", STAFF)]).await;
    let proxy = proxy().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path()).expect("engine");
    let mut config = bucket.config(&proxy);
    config.concurrency = 1;
    let source = source(config);
    // The first GetObject of a document (whichever comes first) is denied.
    proxy.inject(
        |s| s3::get_object(s) && !s.path.ends_with("/acl.json"),
        Fault::status(403, "AccessDenied"),
        1,
    );
    let report = sync(&engine, &source, &SyncOptions::default()).await;
    assert_eq!(report.state, RunState::Partial, "{:?}", report.errors);
    assert_eq!(counts(&report), (4, 3, 0, 0, 0, 0, 0, 1));
    let failed = &report.failed_documents[0];
    assert_eq!(failed.kind, "permanent");
    assert!(
        failed.message.contains("AccessDenied"),
        "{}",
        failed.message
    );
    assert_eq!(indexed(&engine).len(), 3);
    assert!(!indexed(&engine).contains(&failed.doc_id));

    // The next run picks it up, and downloads nothing else.
    proxy.reset_counts();
    let next = sync(&engine, &source, &SyncOptions::default()).await;
    assert_eq!(counts(&next), (4, 1, 0, 0, 0, 3, 0, 0));
    assert_eq!(gets(&proxy, &bucket), vec![failed.doc_id.clone()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_over_the_size_limit_are_skipped_without_a_download() {
    let bucket = Bucket::new("too-large").await;
    bucket.put("small.txt", "small").await;
    bucket.put("big.txt", "x".repeat(5000)).await;
    bucket.acl(&[("", STAFF)]).await;
    let proxy = proxy().await;
    let mut config = bucket.config(&proxy);
    config.max_object_bytes = 1000;
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path()).expect("engine");
    let report = sync(&engine, &source(config), &SyncOptions::default()).await;
    assert_eq!(counts(&report), (2, 1, 0, 0, 0, 0, 1, 0));
    assert_eq!(report.failed_documents[0].doc_id, "big.txt");
    assert_eq!(report.failed_documents[0].kind, "too_large");
    assert_eq!(gets(&proxy, &bucket), ["acl.json", "small.txt"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_overwritten_after_listing_is_not_fetched_under_the_old_version() {
    let bucket = Bucket::new("if-match").await;
    bucket.put("doc.txt", "version one").await;
    let proxy = proxy().await;
    let mut config = bucket.config(&proxy);
    config.acl_file_key = None;
    let connector = S3Connector::with_credentials(config, credentials()).expect("config");
    let cx = SyncContext {
        source_id: "s3docs".into(),
        run_id: "1".into(),
        limits: Default::default(),
    };
    let docs: Vec<_> = connector
        .full(&cx, None)
        .filter_map(|c| async move {
            match c.expect("listing") {
                Change::Upsert(doc) => Some(doc),
                _ => None,
            }
        })
        .collect()
        .await;
    assert_eq!(docs.len(), 1);
    bucket
        .put("doc.txt", "version two, written after the listing")
        .await;
    let err = match connector.fetch(&cx, &docs[0]).await {
        Ok(_) => panic!("fetched the new bytes under the old version"),
        Err(e) => e,
    };
    assert_eq!(err.kind, ErrorKind::Transient, "{}", err.message);
    assert!(
        err.message.contains("PreconditionFailed"),
        "{}",
        err.message
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_acl_file_fails_closed() {
    let bucket = Bucket::new("no-acl").await;
    bucket.put("a.txt", "text").await;
    let proxy = proxy().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path()).expect("engine");
    let report = sync(
        &engine,
        &source(bucket.config(&proxy)),
        &SyncOptions::default(),
    )
    .await;
    assert_eq!(report.state, RunState::Failed);
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.contains("acl.json") && e.contains("does not exist")),
        "{:?}",
        report.errors
    );
    assert!(indexed(&engine).is_empty());
}

/// A config file for the `tributary` binary, reaching `bucket` through `proxy`.
fn write_config(dir: &std::path::Path, bucket: &Bucket, proxy: &FaultProxy) -> std::path::PathBuf {
    let path = dir.join("tributary.toml");
    std::fs::write(
        &path,
        format!(
            "[index]\npath = \"data\"\n[sync]\ncommit_docs = 100\n\
             [[sources]]\nid = \"s3docs\"\ntype = \"s3\"\nbucket = \"{}\"\nregion = \"us-east-1\"\n\
             endpoint_url = \"{}\"\nforce_path_style = true\nacl_file_key = \"acl.json\"\n\
             page_size = 100\ninitial_backoff_ms = 5\n",
            bucket.name,
            proxy.url()
        ),
    )
    .expect("config");
    path
}

/// `tributary` with test credentials in its environment (the default chain reads them).
fn tributary(config: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(crate::support::tributary_bin());
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_full_sync_resumes_without_downloading_finished_objects() {
    let bucket = Bucket::new("sigkill").await;
    let keys: BTreeSet<String> = (0..1200).map(|i| format!("k/{i:04}.txt")).collect();
    bucket.put_texts(&keys).await;
    bucket.acl(&[("", STAFF)]).await;
    let proxy = proxy().await;
    // Slow every download a little, so that the kill lands in the middle of the sync.
    proxy.inject_every(s3::get_object, Fault::Delay(Duration::from_millis(15)), 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &bucket, &proxy);
    let binary = crate::support::tributary_bin();
    assert!(binary.exists());

    // Kill the process (SIGKILL) right after its second index commit: meta.json changes when
    // the index is created and at each commit, and the writer records a commit's manifest
    // rows before it starts the next, so by the third change some rows are durable.
    let meta = dir.path().join("data/index/meta.json");
    let mut child = tributary(&config, &["sync"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn sync");
    let mut commits = 0;
    let mut last = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while commits < 3 {
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "the sync finished before it could be killed"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "no commit in two minutes"
        );
        let now = std::fs::read(&meta).ok();
        if now.is_some() && now != last {
            commits += 1;
            last = now;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");

    let finished: BTreeSet<String> = {
        let engine = Engine::open(&dir.path().join("data")).expect("engine");
        engine
            .store()
            .manifest_iter("s3docs")
            .map(|row| row.expect("manifest row").0)
            .collect()
    };
    assert!(
        !finished.is_empty() && finished.len() < keys.len(),
        "{} of {} documents were recorded before the kill",
        finished.len(),
        keys.len()
    );

    proxy.clear();
    proxy.reset_counts();
    let out = tokio::task::spawn_blocking(move || tributary(&config, &["sync"]).output())
        .await
        .expect("join")
        .expect("run sync");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let engine = Engine::open(&dir.path().join("data")).expect("engine");
    let runs = engine.store().runs().expect("runs");
    let last_run = runs.last().expect("a run");
    assert_eq!(last_run.mode, RunMode::FullResumed);
    assert_eq!(last_run.state, RunState::Succeeded);
    // Exactly the objects the killed run had not finished are downloaded; the ACL file is
    // known from the checkpoint (a HeadObject shows it did not change).
    let missing: Vec<String> = keys.difference(&finished).cloned().collect();
    assert_eq!(gets(&proxy, &bucket), missing);
    assert_eq!(indexed(&engine), keys);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_verifies_credentials_and_bucket_access() {
    let bucket = Bucket::new("check").await;
    bucket.acl(&[("", STAFF)]).await;
    let proxy = proxy().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &bucket, &proxy);
    let run = |config: std::path::PathBuf| async move {
        tokio::task::spawn_blocking(move || {
            tributary(&config, &["check", "--source", "s3docs"])
                .output()
                .expect("run check")
        })
        .await
        .expect("join")
    };
    let ok = run(config.clone()).await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(proxy.count(s3::list_objects) >= 1);

    proxy.inject(
        s3::list_objects,
        Fault::status(403, "InvalidAccessKeyId"),
        100,
    );
    let denied = run(config.clone()).await;
    assert!(!denied.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&denied.stdout),
        String::from_utf8_lossy(&denied.stderr)
    );
    assert!(text.contains("InvalidAccessKeyId"), "{text}");
    assert!(
        !text.contains("AWS_SECRET") && !text.contains("test:test"),
        "{text}"
    );
}
