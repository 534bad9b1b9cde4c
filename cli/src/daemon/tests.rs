//! The daemon's scheduler driving the real engine over sources of three kinds — a watched
//! folder, a walked folder with an ACL file, and Google Drive (the fake, with its
//! directory) — on second-long schedules, while the sources change: every source runs on
//! time, none overlaps itself, the concurrency limit holds, and the final index equals
//! one-off syncs of the same sources.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fake_drive::{FakeDrive, Permission, Role};
use schedules::{Event, EventKind, Scheduler, SyncKind};
use sync_core::{Engine, Progress, SyncOptions};

use super::{EngineRunner, Observer, scheduler_options, schedules_of};
use crate::config::Config;

const LIMIT: usize = 2;

fn config(dir: &Path, data: &str, drive: &FakeDrive) -> Config {
    let key = dir.join("key.json");
    std::fs::write(&key, drive.service_account_json()).expect("key");
    let text = format!(
        r#"
[index]
path = "{data}"
[daemon]
max_concurrent_runs = {LIMIT}
[[sources]]
id = "watched"
type = "filesystem"
root = "watched"
default_access = "everyone"
watch = true
schedule = {{ content = "1s", jitter = "off" }}
[[sources]]
id = "walked"
type = "filesystem"
root = "walked"
acl_file = "acl.json"
schedule = {{ content = "2s", jitter = "off" }}
[[sources]]
id = "drive"
type = "google-drive"
credentials_file = "key.json"
admin_email = "admin@example.com"
api_url = "{url}"
schedule = {{ content = "1s", identities = "3s", jitter = "off" }}
"#,
        url = drive.url()
    );
    Config::parse(&text, dir, "test").expect("valid config")
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// Each run's (source, kind, start, end), from the scheduler's events.
fn runs(events: &[Event]) -> Vec<(String, SyncKind, DateTime<Utc>, DateTime<Utc>)> {
    let mut open: BTreeMap<String, (SyncKind, DateTime<Utc>)> = BTreeMap::new();
    let mut out = Vec::new();
    for e in events {
        match &e.what {
            EventKind::Started => {
                let kind = e.kind.expect("a run has a kind");
                let before = open.insert(e.source.clone(), (kind, e.at));
                assert!(before.is_none(), "{} overlapped itself: {e:?}", e.source);
            }
            EventKind::Finished { outcome } => {
                assert_eq!(*outcome, schedules::RunOutcome::Succeeded, "{e:?}");
                let (kind, start) = open.remove(&e.source).expect("finished what started");
                out.push((e.source.clone(), kind, start, e.at));
            }
            _ => {}
        }
    }
    assert!(open.is_empty(), "runs still open after shutdown: {open:?}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_of_three_kinds_run_on_time_one_at_a_time_within_the_limit_and_end_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let drive = FakeDrive::start_with_test_key().await.expect("fake drive");
    {
        let mut w = drive.world();
        w.add_admin("admin@example.com", "Admin");
        w.add_user("ann@example.com", "Ann");
        w.add_group("eng@example.com", "Eng");
        let root = w.root_of("ann@example.com");
        let f = w.add_file(&root, "plan.txt", "text/plain", b"the launch plan");
        w.share(&f, Permission::group("eng@example.com", Role::Reader));
    }
    write(d, "watched/a.txt", "alpha");
    write(d, "walked/b.txt", "bravo");
    write(
        d,
        "acl.json",
        r#"[{"keyPrefix": "", "aclEntries": [{"Name": "all", "Type": "GROUP", "Access": "ALLOW"}]}]"#,
    );
    let config = Arc::new(config(d, "data", &drive));
    let engine = Arc::new(Engine::open(&config.data_dir).expect("engine"));
    let observer: Observer = Arc::new(|_, _| {});
    let runner = EngineRunner::new(Arc::clone(&engine), Arc::clone(&config), observer);
    let mut options = scheduler_options(&config.daemon);
    options.event_capacity = 100_000;
    let scheduler = Scheduler::new(runner, options, schedules_of(&config));
    let driver = tokio::spawn({
        let scheduler = scheduler.clone();
        async move { scheduler.run().await }
    });

    // The sources change while the daemon runs, then stay put for two more cycles.
    for i in 0..4 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        write(d, &format!("watched/new-{i}.txt"), &format!("watched {i}"));
        write(d, &format!("walked/new-{i}.txt"), &format!("walked {i}"));
        let mut w = drive.world();
        let root = w.root_of("ann@example.com");
        w.add_file(&root, &format!("drive-{i}.txt"), "text/plain", b"more");
    }
    std::fs::remove_file(d.join("watched/a.txt")).expect("remove");
    tokio::time::sleep(Duration::from_secs(5)).await;
    scheduler.shutdown();
    tokio::time::timeout(Duration::from_secs(60), driver)
        .await
        .expect("the scheduler stops")
        .expect("no panic");

    let events = scheduler.events(0);
    let runs = runs(&events);
    // On time: each kind ran again within its interval (counted from the end of the
    // previous run) plus a second of slack for a wait on the limit.
    let interval = |source: &str, kind| match (source, kind) {
        ("walked", _) => 2,
        (_, SyncKind::Identities) => 3,
        _ => 1,
    };
    for source in ["watched", "walked", "drive"] {
        let mine: Vec<_> = runs.iter().filter(|r| r.0 == source).collect();
        let content = mine.iter().filter(|r| r.1 == SyncKind::Content).count();
        assert!(
            content >= 3,
            "{source}: only {content} content runs: {mine:?}"
        );
        for kind in [SyncKind::Content, SyncKind::Identities] {
            let of_kind: Vec<_> = mine.iter().filter(|r| r.1 == kind).collect();
            for pair in of_kind.windows(2) {
                let gap = (pair[1].2 - pair[0].3).num_milliseconds();
                let most = interval(source, kind) * 1000 + 1000;
                assert!(gap <= most, "{source} {kind:?} waited {gap} ms: {pair:?}");
            }
        }
    }
    assert!(
        runs.iter()
            .any(|r| r.0 == "drive" && r.1 == SyncKind::Identities),
        "the drive's directory was synced"
    );
    // The limit: never more than LIMIT runs at once.
    let mut edges: Vec<(DateTime<Utc>, i32)> =
        runs.iter().flat_map(|r| [(r.2, 1), (r.3, -1)]).collect();
    edges.sort_by_key(|(at, delta)| (*at, *delta));
    let mut now = 0;
    for (_, delta) in edges {
        now += delta;
        assert!(now <= LIMIT as i32, "more than {LIMIT} runs at once");
    }

    // The same sources synced once each, into a fresh data folder, give the same index.
    let fresh = config_dir_sync(d, &drive).await;
    assert_eq!(
        engine.index().all_chunks().expect("chunks"),
        fresh.index().all_chunks().expect("chunks"),
        "the daemon's index differs from one-off syncs of the same sources"
    );
}

/// One-off syncs (identities, then content) of the test's sources into `fresh/`.
async fn config_dir_sync(d: &Path, drive: &FakeDrive) -> Engine {
    let config = config(d, "fresh", drive);
    let engine = Engine::open(&config.data_dir).expect("engine");
    for s in &config.sources {
        let source = s.source().expect("source");
        let options = SyncOptions::default();
        let engine = &engine;
        let handle = tokio::runtime::Handle::current();
        // The engine's future is not provably `Send` (see runner.rs): block in place.
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                if s.connector.profile().has_directory {
                    engine
                        .sync_identities(&source, &options)
                        .await
                        .expect("identities");
                }
                engine
                    .sync(&source, &options, Arc::new(Progress::default()))
                    .await
                    .expect("sync");
            })
        });
    }
    engine
}
