//! Listings that fail never delete; the mass-delete guard refuses large sweeps.

use std::sync::Arc;

use connector_sdk::{ConnectorError, ErrorKind};
use faulty::Wrapped;
use sync_core::{RunMode, RunState, SyncOptions};

use crate::support::{World, fs_source, sync};

/// A connector wrapper that breaks the inner listing after some documents.
mod faulty {
    use connector_sdk::{
        ByteStream, Change, ChangeStream, Connector, ConnectorError, RemoteDocument,
        SourceCheckpoint, SyncContext,
    };
    use futures::StreamExt;

    #[derive(Debug, Clone, Copy)]
    pub enum Fault {
        /// Yield an error after N documents, then end the stream (a dropped connection).
        StopAfter(usize),
        /// Yield an error after N documents, then carry on (one unreadable folder).
        ContinueAfter(usize),
        /// Yield every document twice in a row (a change feed reporting two edits).
        RepeatEach,
    }

    pub struct Wrapped {
        pub inner: std::sync::Arc<dyn Connector>,
        pub fault: Fault,
        pub error: fn() -> ConnectorError,
    }

    impl Wrapped {
        fn wrap<'a>(&'a self, inner: ChangeStream<'a>) -> ChangeStream<'a> {
            let (n, stop) = match self.fault {
                Fault::StopAfter(n) => (n, true),
                Fault::ContinueAfter(n) => (n, false),
                Fault::RepeatEach => {
                    return inner
                        .flat_map(|item| {
                            let mut out = Vec::new();
                            if let Ok(Change::Upsert(doc)) = &item {
                                out.push(Ok(Change::Upsert(doc.clone())));
                            }
                            out.push(item);
                            futures::stream::iter(out)
                        })
                        .boxed();
                }
            };
            let error = self.error;
            let mut docs = 0usize;
            let mut done = false;
            inner
                .flat_map(move |item| {
                    let mut out = Vec::new();
                    if done {
                        return futures::stream::iter(out);
                    }
                    if matches!(item, Ok(Change::Upsert(_))) {
                        if docs == n {
                            out.push(Err(error()));
                            if stop {
                                done = true;
                                return futures::stream::iter(out);
                            }
                        }
                        docs += 1;
                    }
                    out.push(item);
                    futures::stream::iter(out)
                })
                .boxed()
        }
    }

    #[async_trait::async_trait]
    impl Connector for Wrapped {
        fn kind(&self) -> &'static str {
            "wrapped"
        }
        async fn check(&self, cx: &SyncContext) -> Result<(), ConnectorError> {
            self.inner.check(cx).await
        }
        fn full<'a>(
            &'a self,
            cx: &'a SyncContext,
            resume: Option<&'a SourceCheckpoint>,
        ) -> ChangeStream<'a> {
            self.wrap(self.inner.full(cx, resume))
        }
        fn incremental<'a>(
            &'a self,
            cx: &'a SyncContext,
            since: &'a SourceCheckpoint,
        ) -> ChangeStream<'a> {
            self.wrap(self.inner.incremental(cx, since))
        }
        async fn fetch(
            &self,
            cx: &SyncContext,
            doc: &RemoteDocument,
        ) -> Result<ByteStream, ConnectorError> {
            self.inner.fetch(cx, doc).await
        }
    }
}

use faulty::Fault;

fn world(n: usize) -> World {
    let w = World::new();
    for i in 0..n {
        w.write(&format!("doc{i:02}.txt"), format!("document number {i}"));
    }
    w.acl(&[("", &[("all", "GROUP", "ALLOW")])]);
    w
}

fn transient() -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Transient,
        "injected: connection reset while listing",
    )
}

fn unauthorized() -> ConnectorError {
    ConnectorError::new(ErrorKind::Unauthorized, "injected: credentials expired")
}

fn faulty(w: &World, fault: Fault, error: fn() -> ConnectorError) -> sync_core::Source {
    let inner = fs_source(w.config(), None).connector;
    sync_core::Source::new(
        "docs",
        Arc::new(Wrapped {
            inner,
            fault,
            error,
        }),
    )
}

fn indexed(engine: &sync_core::Engine) -> usize {
    engine
        .index()
        .document_counts()
        .expect("counts")
        .values()
        .sum::<u64>() as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_that_fails_midway_deletes_nothing() {
    let w = world(10);
    let engine = w.engine();
    let options = SyncOptions::default();
    sync(&engine, &fs_source(w.config(), None), &options).await;
    for i in 0..3 {
        w.remove(&format!("doc{i:02}.txt"));
    }

    for (fault, error) in [
        (Fault::StopAfter(2), transient as fn() -> ConnectorError),
        (Fault::ContinueAfter(2), transient),
        (Fault::StopAfter(4), unauthorized),
    ] {
        let report = sync(&engine, &faulty(&w, fault, error), &options).await;
        assert_eq!(report.state, RunState::Failed, "{fault:?}: {report:?}");
        assert_eq!(report.counts.deleted, 0, "{fault:?}");
        assert!(
            report.errors.iter().any(|e| e.contains("injected")),
            "{:?}",
            report.errors
        );
        assert_eq!(indexed(&engine), 10, "{fault:?}");
    }

    // A clean listing then deletes exactly the three removed files.
    let report = sync(&engine, &fs_source(w.config(), None), &options).await;
    assert_eq!(
        (report.state, report.counts.deleted),
        (RunState::Succeeded, 3),
        "{report:?}"
    );
    assert_eq!(indexed(&engine), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_first_full_sync_resumes_and_then_sweeps() {
    let w = world(10);
    let engine = w.engine();
    let options = SyncOptions::default();
    let report = sync(
        &engine,
        &faulty(&w, Fault::StopAfter(6), transient),
        &options,
    )
    .await;
    assert_eq!(
        (report.mode, report.state),
        (RunMode::Full, RunState::Failed)
    );
    assert_eq!(report.counts.added, 6);
    w.remove("doc09.txt");
    let report = sync(&engine, &fs_source(w.config(), None), &options).await;
    assert_eq!(
        (report.mode, report.state),
        (RunMode::FullResumed, RunState::Succeeded),
        "{report:?}"
    );
    assert_eq!((report.counts.added, report.counts.unchanged), (3, 6));
    assert_eq!(indexed(&engine), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mass_delete_guard_refuses_until_allowed() {
    let w = world(10);
    let engine = w.engine();
    let options = SyncOptions::default();
    sync(&engine, &fs_source(w.config(), None), &options).await;
    for i in 0..6 {
        w.remove(&format!("doc{i:02}.txt"));
    }
    let report = sync(&engine, &fs_source(w.config(), None), &options).await;
    assert_eq!((report.state, report.counts.deleted), (RunState::Failed, 0));
    assert!(
        report.errors[0].starts_with("mass-delete guard: the listing did not see 6 of 10"),
        "{:?}",
        report.errors
    );
    assert_eq!(indexed(&engine), 10);

    let allowed = SyncOptions {
        allow_mass_delete: true,
        ..SyncOptions::default()
    };
    let report = sync(&engine, &fs_source(w.config(), None), &allowed).await;
    assert_eq!(
        (report.state, report.counts.deleted),
        (RunState::Succeeded, 6),
        "{report:?}"
    );
    assert_eq!(indexed(&engine), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_acl_file_fails_the_run_and_changes_nothing() {
    let w = world(4);
    let engine = w.engine();
    let options = SyncOptions::default();
    sync(&engine, &fs_source(w.config(), None), &options).await;
    std::fs::write(w.acl_path(), "[{\"keyPrefix\": \"\", \"aclEntries\": [{\"Name\": \"x\", \"Type\": \"ROLE\", \"Access\": \"ALLOW\"}]}]")
        .expect("write acl");
    w.remove("doc00.txt");
    let report = sync(&engine, &fs_source(w.config(), None), &options).await;
    assert_eq!(
        (
            report.state,
            report.counts.deleted,
            report.counts.acl_updated
        ),
        (RunState::Failed, 0, 0)
    );
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.contains("unknown Type \"ROLE\"")),
        "{:?}",
        report.errors
    );
    assert_eq!(indexed(&engine), 4);
}

/// The seen log across an interruption: a `--full` listing of unchanged documents stops after
/// its first checkpoint, one file before the checkpoint and one after it are deleted, and the
/// resumed listing deletes exactly the one it could not see; the next run catches the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_listing_sweeps_only_what_it_did_not_see() {
    let w = World::new();
    for i in 0..1_200 {
        w.write(&format!("d{i:04}.txt"), format!("document {i}"));
    }
    w.acl(&[("", &[("all", "GROUP", "ALLOW")])]);
    let engine = w.engine();
    let first = sync(
        &engine,
        &fs_source(w.config(), None),
        &SyncOptions::default(),
    )
    .await;
    assert_eq!(first.counts.added, 1_200);

    let full = SyncOptions {
        full: true,
        ..SyncOptions::default()
    };
    // The walker checkpoints every 500 documents: this run persists one checkpoint, then dies.
    let report = sync(
        &engine,
        &faulty(&w, Fault::StopAfter(800), transient),
        &full,
    )
    .await;
    assert_eq!(
        (report.mode, report.state, report.counts.unchanged),
        (RunMode::Full, RunState::Failed, 800)
    );
    w.remove("d0100.txt"); // already seen by the interrupted listing
    w.remove("d1000.txt"); // not seen yet

    let resumed = sync(
        &engine,
        &fs_source(w.config(), None),
        &SyncOptions::default(),
    )
    .await;
    assert_eq!(
        (resumed.mode, resumed.state),
        (RunMode::FullResumed, RunState::Succeeded),
        "{resumed:?}"
    );
    assert_eq!(
        (resumed.counts.scanned, resumed.counts.deleted),
        (699, 1),
        "{:?}",
        resumed.counts
    );
    assert_eq!(indexed(&engine), 1_199);

    let next = sync(
        &engine,
        &fs_source(w.config(), None),
        &SyncOptions::default(),
    )
    .await;
    assert_eq!(
        (next.mode, next.counts.deleted, next.counts.unchanged),
        (RunMode::Incremental, 1, 1_198)
    );
    assert_eq!(indexed(&engine), 1_198);
}

/// The planner runs ahead of the writer, so a document listed twice in a row is planned
/// "new" twice; with a commit between the two writes, the second must still replace the
/// first instead of adding its chunks again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_listed_twice_across_a_commit_is_indexed_once() {
    let w = world(20);
    let engine = w.engine();
    let mut options = SyncOptions::default();
    options.commit.docs = 1;
    let report = sync(&engine, &faulty(&w, Fault::RepeatEach, transient), &options).await;
    assert_eq!(report.state, RunState::Succeeded, "{report:?}");
    // Whether the second sighting is planned before the first is committed is up to timing:
    // it is then either a (harmless) rewrite or unchanged, never a second addition.
    let c = &report.counts;
    assert_eq!((c.added, c.modified + c.unchanged), (20, 20), "{c:?}");
    let chunks = engine.index().all_chunks().expect("chunks");
    let ids: std::collections::BTreeSet<&str> =
        chunks.iter().map(|c| c.chunk_id.as_str()).collect();
    assert_eq!(ids.len(), 20, "{ids:?}");
    assert_eq!(chunks.len(), 20, "duplicate chunks in the index");
}
