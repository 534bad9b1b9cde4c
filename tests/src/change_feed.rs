//! The engine against a change feed (the scripted connector): failures retried after the
//! cursor moved on, order within a commit window, repeats counted once, an expired cursor,
//! throttling, lost credentials, and the deadlines the engine enforces.

use std::sync::Arc;
use std::time::Duration;

use connector_sdk::{Connector, ErrorKind};
use extractors::{DocBuilder, Extracted, Extractor, Format};
use sync_core::{
    Engine, Identities, RunMode, RunReason, RunReport, RunState, Source, StateStore, SyncOptions,
};

use crate::scripted::{Body, Call, Scripted, complete, cursor, delete, error, permissions, upsert};
use crate::support::{counts, set, sync, visible};

/// `ann` is in group `a`, `ben` in `b`.
fn identities() -> Identities {
    crate::support::file_identities(
        br#"{"users": {"ann@example.com": ["a"], "ben@example.com": ["b"]}}"#,
        &["feed"],
    )
}

struct Feed {
    engine: Engine,
    connector: Arc<Scripted>,
    source: Source,
    options: SyncOptions,
    _dir: tempfile::TempDir,
}

impl Feed {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(dir.path()).expect("engine");
        let connector = Arc::new(Scripted::default());
        let source = Source::new("feed", Arc::clone(&connector) as Arc<dyn Connector>);
        let options = SyncOptions {
            retry_backoff: Duration::ZERO,
            ..SyncOptions::default()
        };
        Feed {
            engine,
            connector,
            source,
            options,
            _dir: dir,
        }
    }

    /// Runs one sync over `items` (the connector's next listing).
    async fn run(&self, items: Vec<crate::scripted::Item>) -> RunReport {
        self.connector.then_list(items);
        sync(&self.engine, &self.source, &self.options).await
    }

    fn sees(&self, user: &str) -> std::collections::BTreeSet<String> {
        visible(&self.engine, &identities(), user)
    }

    fn waiting(&self) -> Vec<(String, u32, String)> {
        self.engine
            .store()
            .retries("feed")
            .expect("retries")
            .into_iter()
            .map(|(id, e)| (id, e.attempts, e.kind))
            .collect()
    }
}

/// The run's state and `(scanned, added, modified, deleted, acl_updated, unchanged,
/// skipped, failed)`.
fn check(report: &RunReport, state: RunState, expected: (u64, u64, u64, u64, u64, u64, u64, u64)) {
    assert_eq!(
        (report.state, counts(report)),
        (state, expected),
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_the_cursor_moved_past_is_retried_until_it_succeeds_or_goes() {
    let f = Feed::new();
    for id in ["a", "b", "c"] {
        f.connector.text(id, &format!("text of {id}"));
    }
    f.connector.body("b", Body::Fail(ErrorKind::Transient));
    f.connector.body("c", Body::Fail(ErrorKind::Transient));
    let first = f
        .run(vec![
            upsert("a", "1", "a"),
            upsert("b", "1", "a"),
            upsert("c", "1", "a"),
            cursor("1"),
            complete(),
        ])
        .await;
    check(&first, RunState::Partial, (3, 1, 0, 0, 0, 0, 0, 2));
    let waiting = |n| {
        vec![
            ("b".to_string(), n, "transient".to_string()),
            ("c".into(), 1, "transient".into()),
        ]
    };
    assert_eq!(f.waiting(), waiting(1));

    // The feed moved on without naming b or c: the engine fetches them anyway. b fails
    // again (one more attempt); c is deleted at the source, which ends its retries.
    let second = f.run(vec![delete("c"), cursor("2")]).await;
    check(&second, RunState::Partial, (1, 0, 0, 0, 0, 0, 0, 1));
    assert_eq!(second.counts.retried, 1);
    assert_eq!(f.waiting(), [("b".to_string(), 2, "transient".to_string())]);

    f.connector.text("b", "text of b, at last");
    let third = f.run(vec![cursor("3")]).await;
    check(&third, RunState::Succeeded, (1, 1, 0, 0, 0, 0, 0, 0));
    assert!(f.waiting().is_empty());
    assert_eq!(f.sees("ann@example.com"), set(&["a", "b"]));
    let mut fetches: Vec<String> = f
        .connector
        .take_calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Fetch(id) => Some(id),
            _ => None,
        })
        .collect();
    fetches.sort();
    assert_eq!(fetches, ["a", "b", "b", "b", "c"]);
}

/// Found by the conformance kit's fault storm against Drive: a document that failed
/// before the checkpoint a full listing resumes from is not named again by the rest of
/// the listing, and the sweep keeps it (it was seen): the resumed run must fetch it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_before_a_resumed_listings_checkpoint_is_fetched_when_it_resumes() {
    let f = Feed::new();
    for id in ["b", "c"] {
        f.connector.text(id, &format!("text of {id}"));
    }
    f.connector.body("a", Body::Fail(ErrorKind::Transient));
    let broken = f
        .run(vec![
            upsert("a", "1", "a"),
            cursor("1"),
            upsert("b", "1", "a"),
            error(ErrorKind::Transient),
        ])
        .await;
    assert_eq!(broken.state, RunState::Failed, "{broken:?}");
    assert_eq!(broken.counts.failed, 1, "{broken:?}");

    f.connector.text("a", "text of a, at last");
    let resumed = f
        .run(vec![upsert("c", "1", "a"), cursor("2"), complete()])
        .await;
    assert_eq!(resumed.mode, RunMode::FullResumed, "{resumed:?}");
    check(&resumed, RunState::Succeeded, (2, 2, 0, 0, 0, 0, 0, 0));
    assert_eq!(resumed.counts.retried, 1, "{resumed:?}");
    assert!(f.waiting().is_empty());
    assert_eq!(f.sees("ann@example.com"), set(&["a", "b", "c"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_to_one_document_in_one_window_apply_in_listing_order() {
    let f = Feed::new();
    for id in ["x", "y", "z"] {
        f.connector.text(id, &format!("text of {id}"));
    }
    let first = f
        .run(vec![upsert("y", "1", "a"), cursor("1"), complete()])
        .await;
    check(&first, RunState::Succeeded, (1, 1, 0, 0, 0, 0, 0, 0));

    // One commit window: a new x shared with b right after its upsert; y deleted and then
    // listed again unchanged (re-created); z upserted twice.
    let second = f
        .run(vec![
            upsert("x", "1", "a"),
            permissions("x", "b"),
            delete("y"),
            upsert("y", "1", "a"),
            upsert("z", "1", "a"),
            upsert("z", "2", "b"),
            cursor("2"),
        ])
        .await;
    assert_eq!(second.state, RunState::Succeeded, "{second:?}");
    assert_eq!(f.sees("ben@example.com"), set(&["x", "z"]));
    assert_eq!(f.sees("ann@example.com"), set(&["y"]));
    let chunks = f.engine.index().all_chunks().expect("chunks");
    let mut ids: Vec<&str> = chunks.iter().map(|c| c.doc_id.as_str()).collect();
    ids.sort();
    assert_eq!(
        ids,
        ["x", "y", "z"],
        "one chunk each, nothing duplicated or lost"
    );
    let x = chunks.iter().find(|c| c.doc_id == "x").expect("x");
    assert!(x.text.contains("text of x"), "{x:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_that_names_a_document_twice_still_sweeps_what_it_missed() {
    let f = Feed::new();
    for id in ["a", "b", "c"] {
        f.connector.text(id, "text");
    }
    let items = |ids: &[&str]| {
        let mut items: Vec<_> = ids.iter().map(|id| upsert(id, "1", "a")).collect();
        items.push(complete());
        items
    };
    check(
        &f.run(items(&["a", "b", "c"])).await,
        RunState::Succeeded,
        (3, 3, 0, 0, 0, 0, 0, 0),
    );
    // Three documents named, as many as indexed — but one of them twice, and c not at all.
    let second = f.run(items(&["a", "b", "a"])).await;
    check(&second, RunState::Succeeded, (3, 0, 0, 1, 0, 3, 0, 0));
    assert_eq!(f.sees("ann@example.com"), set(&["a", "b"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_cursor_turns_the_run_into_a_full_listing_that_sweeps() {
    let f = Feed::new();
    f.connector.text("a", "text of a");
    f.connector.text("b", "text of b");
    let first = f
        .run(vec![
            upsert("a", "1", "a"),
            upsert("b", "1", "a"),
            cursor("1"),
            complete(),
        ])
        .await;
    check(&first, RunState::Succeeded, (2, 2, 0, 0, 0, 0, 0, 0));
    f.connector.take_calls();
    f.connector.then_list(vec![error(ErrorKind::CursorExpired)]);
    let second = f
        .run(vec![upsert("a", "1", "a"), cursor("9"), complete()])
        .await;
    check(&second, RunState::Succeeded, (1, 0, 0, 1, 0, 1, 0, 0));
    assert_eq!(
        (second.mode, second.reason),
        (RunMode::Full, Some(RunReason::CursorExpired))
    );
    assert!(second.errors.is_empty(), "{:?}", second.errors);
    assert_eq!(
        f.connector.take_calls(),
        [
            Call::Incremental {
                cursor: Some("1".into())
            },
            Call::Full { resumed: false }
        ]
    );
    // The next run goes on from the full listing's cursor.
    let third = f.run(vec![cursor("10")]).await;
    assert_eq!((third.mode, third.reason), (RunMode::Incremental, None));
    assert_eq!(
        f.connector.take_calls(),
        [Call::Incremental {
            cursor: Some("9".into())
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_pause_the_run_and_never_fail_it() {
    let f = Feed::new();
    f.connector.text("a", "text of a");
    let wait = Duration::from_millis(150);
    f.connector
        .body("b", Body::Throttled(2, wait, "text of b".into()));
    let report = f
        .run(vec![
            upsert("a", "1", "a"),
            error(ErrorKind::RateLimited {
                retry_after: Some(wait),
            }),
            upsert("b", "1", "a"),
            complete(),
        ])
        .await;
    check(&report, RunState::Succeeded, (2, 2, 0, 0, 0, 0, 0, 0));
    assert_eq!(report.rate_limited.pauses, 3, "{:?}", report.rate_limited);
    assert!(
        report.rate_limited.waited_ms >= 400,
        "{:?}",
        report.rate_limited
    );
    assert!(report.rate_limited.last_until.is_some());
}

/// A pause goes into the stored report when it starts, so a reader of the store (`status`
/// in another process) shows `rate_limited until …` while it lasts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_is_in_the_stored_report_while_it_lasts() {
    let f = Feed::new();
    f.connector.text("a", "text of a");
    let reader = sync_core::LocalStore::open_read_only(f._dir.path()).expect("reader");
    let look = async {
        for _ in 0..250 {
            let runs = reader.runs().expect("runs");
            if let Some(r) = runs.last().filter(|r| r.rate_limited.pauses > 0) {
                return Some(r.clone());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    };
    let (report, seen) = tokio::join!(
        f.run(vec![
            upsert("a", "1", "a"),
            error(ErrorKind::RateLimited {
                retry_after: Some(Duration::from_millis(1500)),
            }),
            complete(),
        ]),
        look
    );
    check(&report, RunState::Succeeded, (1, 1, 0, 0, 0, 0, 0, 0));
    let seen = seen.expect("the pause was seen in the store");
    assert_eq!(seen.state, RunState::Running);
    let until = seen.rate_limited.last_until.expect("until");
    assert!(
        until > seen.started_at + Duration::from_millis(1000),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_credentials_fail_the_run_and_delete_nothing() {
    let f = Feed::new();
    f.connector.text("a", "text of a");
    f.connector.text("b", "text of b");
    f.run(vec![
        upsert("a", "1", "a"),
        upsert("b", "1", "a"),
        cursor("1"),
        complete(),
    ])
    .await;
    let second = f
        .run(vec![
            delete("a"),
            error(ErrorKind::Unauthorized),
            delete("b"),
        ])
        .await;
    assert_eq!(second.state, RunState::Failed, "{second:?}");
    assert_eq!(
        second.counts.deleted, 1,
        "what came before the error stands"
    );
    assert_eq!(f.sees("ann@example.com"), set(&["b"]));
    // The cursor did not move past the failure.
    f.connector.take_calls();
    f.run(vec![cursor("2")]).await;
    assert_eq!(
        f.connector.take_calls(),
        [Call::Incremental {
            cursor: Some("1".into())
        }]
    );
}

/// Text extraction that never returns for a document asking it not to (a parser stuck in
/// a loop that ignores its deadline).
struct Stuck;

impl Extractor for Stuck {
    fn formats(&self) -> &'static [Format] {
        &[Format::Text]
    }

    fn extract(
        &self,
        input: &[u8],
        format: Format,
        limits: &extractors::Limits,
        _deadline: extractors::Deadline,
    ) -> Result<Extracted, extractors::ExtractError> {
        if input.starts_with(b"loop") {
            std::thread::sleep(Duration::from_secs(2));
        }
        let mut b = DocBuilder::new(format, limits.max_output_bytes);
        b.paragraph(&String::from_utf8_lossy(input));
        Ok(b.finish())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_fetch_and_a_stuck_extractor_fail_alone_as_timeouts() {
    let mut f = Feed::new();
    let dir = tempfile::tempdir().expect("tempdir");
    f.engine = Engine::open(dir.path())
        .expect("engine")
        .with_registry(extractors::Registry::new(vec![Box::new(Stuck)]));
    f.options.fetch_timeout = Duration::from_millis(200);
    f.options.limits.timeout = Duration::from_millis(100);
    // Larger than what is extracted inline, so that both go to the blocking pool.
    let big = |head: &str| format!("{head} {}", "words ".repeat(4000));
    f.connector.text("fine", &big("fine"));
    f.connector.text("stuck", &big("loop"));
    f.connector.body("hung", Body::Hang);
    let report = f
        .run(vec![
            upsert("hung", "1", "a"),
            upsert("stuck", "1", "a"),
            upsert("fine", "1", "a"),
            cursor("1"),
            complete(),
        ])
        .await;
    check(&report, RunState::Partial, (3, 1, 0, 0, 0, 0, 0, 2));
    let failed: Vec<(&str, &str, &str)> = report
        .failed_documents
        .iter()
        .map(|d| (d.doc_id.as_str(), d.stage.as_str(), d.kind.as_str()))
        .collect();
    assert_eq!(
        failed,
        [
            ("hung", "fetch", "timeout"),
            ("stuck", "extract", "timeout")
        ]
    );
    assert_eq!(f.sees("ann@example.com"), set(&["fine"]));
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_history_keeps_the_newest_reports_of_each_source() {
    let mut f = Feed::new();
    f.options.keep_runs = 2;
    f.connector.text("a", "text of a");
    f.run(vec![upsert("a", "1", "a"), cursor("1"), complete()])
        .await;
    let mut last = Vec::new();
    for c in ["2", "3"] {
        last.push(f.run(vec![cursor(c)]).await.id);
    }
    let kept: Vec<u64> = f
        .engine
        .store()
        .runs()
        .expect("runs")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(kept, last);
}
