//! A run told to stop (`SyncOptions::stop`, what the daemon does on SIGTERM): the listing
//! is read no further, what is in flight finishes and is committed, nothing is deleted,
//! the run ends `stopped`, and the next run resumes the listing and ends exact.

use std::sync::Arc;
use std::time::Duration;

use connector_sdk::Connector;
use sync_core::{Engine, RunMode, RunState, Source, SyncOptions};
use tokio_util::sync::CancellationToken;

use crate::scripted::{Body, Call, Scripted, complete, cursor, upsert};
use crate::support::{counts, set, sync, visible};

fn identities() -> sync_core::Identities {
    crate::support::file_identities(br#"{"users": {"ann@example.com": ["a"]}}"#, &["feed"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_run_commits_what_it_finished_deletes_nothing_and_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path()).expect("engine");
    let connector = Arc::new(Scripted::default());
    let source = Source::new("feed", Arc::clone(&connector) as Arc<dyn Connector>);
    let stop = CancellationToken::new();
    let options = SyncOptions {
        retry_backoff: Duration::ZERO,
        // One document at a time, so the stop lands between two listed documents.
        concurrency: 1,
        stop: stop.clone(),
        ..SyncOptions::default()
    };
    for id in ["a", "c", "d"] {
        connector.text(id, &format!("text of {id}"));
    }
    connector.body("b", Body::Cancel(stop.clone(), "text of b".into()));
    let listing = || {
        vec![
            upsert("a", "1", "a"),
            upsert("b", "1", "a"),
            cursor("1"),
            upsert("c", "1", "a"),
            upsert("d", "1", "a"),
            complete(),
        ]
    };
    connector.then_list(listing());
    let stopped = sync(&engine, &source, &options).await;
    assert_eq!(stopped.state, RunState::Stopped, "{stopped:?}");
    // b was in flight when the stop came: it finished. c and d were never listed.
    assert_eq!(counts(&stopped), (2, 2, 0, 0, 0, 0, 0, 0), "{stopped:?}");
    assert!(
        stopped.errors.iter().any(|e| e.contains("stopped before")),
        "{stopped:?}"
    );
    assert_eq!(
        visible(&engine, &identities(), "ann@example.com"),
        set(&["a", "b"])
    );

    // The next run (no stop) resumes the unfinished full listing and ends exact.
    connector.take_calls();
    connector.text("b", "text of b");
    connector.then_list(listing());
    let options = SyncOptions {
        stop: CancellationToken::new(),
        ..options
    };
    let resumed = sync(&engine, &source, &options).await;
    assert_eq!(resumed.mode, RunMode::FullResumed, "{resumed:?}");
    assert_eq!(resumed.state, RunState::Succeeded, "{resumed:?}");
    assert_eq!(
        (resumed.counts.added, resumed.counts.deleted),
        (2, 0),
        "{resumed:?}"
    );
    assert_eq!(
        visible(&engine, &identities(), "ann@example.com"),
        set(&["a", "b", "c", "d"])
    );
    let fetched: Vec<Call> = connector
        .take_calls()
        .into_iter()
        .filter(|c| matches!(c, Call::Fetch(_)))
        .collect();
    assert_eq!(
        fetched,
        [Call::Fetch("c".into()), Call::Fetch("d".into())],
        "what the stopped run committed is not fetched again"
    );
}
