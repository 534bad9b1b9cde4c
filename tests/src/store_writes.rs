//! What a run writes to its store, and in which order with its index writes: a run that
//! changes nothing commits its store once (a commit costs two fdatasyncs, ADR 0013), and a
//! run that changes something has `running` durable before its first index write, so that
//! a crash never leaves index documents the next run cannot find and remove.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use connector_sdk::{Acl, Connector};
use sync_core::chunker::Chunk;
use sync_core::index::DocFields;
use sync_core::store::{ManifestEntry, ManifestIter, RetryEntry, SourceState, StoreBatch};
use sync_core::{
    DocumentIndex, Engine, IndexSink, Memberships, MemoryIndex, MemoryStore, RunReport, RunState,
    SearchHit, Source, StateStore, StoredAcl, StoredChunk, SyncOptions, VisibleDoc,
};

use crate::scripted::{Scripted, complete, cursor, upsert};
use crate::support::sync;

/// One write, as the store or the index saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    /// A store batch: whether it marks the source running, and the run state it stores.
    Store {
        running: Option<bool>,
        run: Option<RunState>,
    },
    /// An index upsert, delete or ACL rewrite.
    Index,
}

type Log = Arc<Mutex<Vec<Event>>>;

fn push(log: &Log, event: Event) {
    log.lock().expect("log").push(event);
}

/// A memory store that logs every batch.
#[derive(Debug)]
struct Logged {
    inner: MemoryStore,
    log: Log,
}

impl StateStore for Logged {
    fn manifest_get(&self, source: &str, doc_id: &str) -> sync_core::Result<Option<ManifestEntry>> {
        self.inner.manifest_get(source, doc_id)
    }
    fn manifest_iter<'a>(&'a self, source: &str) -> ManifestIter<'a> {
        self.inner.manifest_iter(source)
    }
    fn manifest_count(&self, source: &str) -> sync_core::Result<u64> {
        self.inner.manifest_count(source)
    }
    fn apply(&self, batch: StoreBatch) -> sync_core::Result<()> {
        push(
            &self.log,
            Event::Store {
                running: batch.source_state.as_ref().map(|(_, s)| s.running),
                run: batch.run.as_ref().map(|r| r.state),
            },
        );
        self.inner.apply(batch)
    }
    fn retries(&self, source: &str) -> sync_core::Result<Vec<(String, RetryEntry)>> {
        self.inner.retries(source)
    }
    fn retry_get(&self, source: &str, doc_id: &str) -> sync_core::Result<Option<RetryEntry>> {
        self.inner.retry_get(source, doc_id)
    }
    fn source_state(&self, source: &str) -> sync_core::Result<SourceState> {
        self.inner.source_state(source)
    }
    fn next_id(&self) -> sync_core::Result<u64> {
        self.inner.next_id()
    }
    fn put_run(&self, report: &RunReport) -> sync_core::Result<()> {
        push(
            &self.log,
            Event::Store {
                running: None,
                run: Some(report.state),
            },
        );
        self.inner.put_run(report)
    }
    fn update_run(&self, id: u64, change: &mut dyn FnMut(&mut RunReport)) -> sync_core::Result<()> {
        self.inner.update_run(id, change)
    }
    fn runs(&self) -> sync_core::Result<Vec<RunReport>> {
        self.inner.runs()
    }
    fn prune_runs(&self, source: &str, keep: usize) -> sync_core::Result<usize> {
        self.inner.prune_runs(source, keep)
    }
    fn put_memberships(&self, namespace: &str, m: &Memberships) -> sync_core::Result<()> {
        self.inner.put_memberships(namespace, m)
    }
    fn memberships(&self, namespace: &str) -> sync_core::Result<Option<Memberships>> {
        self.inner.memberships(namespace)
    }
    fn membership_namespaces(&self) -> sync_core::Result<Vec<String>> {
        self.inner.membership_namespaces()
    }
}

/// A memory index whose writers log every write.
#[derive(Debug)]
struct LoggedIndex {
    inner: MemoryIndex,
    log: Log,
}

struct LoggedSink {
    inner: Box<dyn IndexSink>,
    log: Log,
}

impl IndexSink for LoggedSink {
    fn upsert(
        &mut self,
        doc: &DocFields<'_>,
        chunks: &[Chunk],
        replace: bool,
    ) -> sync_core::Result<()> {
        push(&self.log, Event::Index);
        self.inner.upsert(doc, chunks, replace)
    }
    fn delete(&mut self, source: &str, doc_id: &str) -> sync_core::Result<()> {
        push(&self.log, Event::Index);
        self.inner.delete(source, doc_id)
    }
    fn update_acl(
        &mut self,
        source: &str,
        namespace: &str,
        doc_id: &str,
        acl: &Acl,
    ) -> sync_core::Result<Option<u32>> {
        push(&self.log, Event::Index);
        self.inner.update_acl(source, namespace, doc_id, acl)
    }
    fn commit(&mut self) -> sync_core::Result<()> {
        self.inner.commit()
    }
}

impl DocumentIndex for LoggedIndex {
    fn writer(&self) -> sync_core::Result<Box<dyn IndexSink>> {
        Ok(Box::new(LoggedSink {
            inner: self.inner.writer()?,
            log: Arc::clone(&self.log),
        }))
    }
    fn search(
        &self,
        query: &str,
        principals: &[String],
        limit: usize,
    ) -> sync_core::Result<Vec<SearchHit>> {
        self.inner.search(query, principals, limit)
    }
    fn visible_documents(&self, principals: &[String]) -> sync_core::Result<Vec<VisibleDoc>> {
        self.inner.visible_documents(principals)
    }
    fn all_chunks(&self) -> sync_core::Result<Vec<StoredChunk>> {
        self.inner.all_chunks()
    }
    fn unknown_documents(
        &self,
        source: &str,
        known: &mut dyn FnMut(&str) -> sync_core::Result<bool>,
    ) -> sync_core::Result<Vec<String>> {
        self.inner.unknown_documents(source, known)
    }
    fn document_counts(&self) -> sync_core::Result<BTreeMap<String, u64>> {
        self.inner.document_counts()
    }
    fn document_acl(&self, source: &str, doc_id: &str) -> sync_core::Result<Option<StoredAcl>> {
        self.inner.document_acl(source, doc_id)
    }
}

/// Runs `listings` one sync each on a fresh engine; returns each run's report and writes.
async fn check(listings: Vec<Vec<crate::scripted::Item>>) -> Vec<(RunReport, Vec<Event>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let log: Log = Arc::default();
    let store = Arc::new(Logged {
        inner: MemoryStore::new(),
        log: Arc::clone(&log),
    });
    let index = Arc::new(LoggedIndex {
        inner: MemoryIndex::new(),
        log: Arc::clone(&log),
    });
    let engine = Engine::with_parts(dir.path(), index, store).expect("engine");
    let connector = Arc::new(Scripted::default());
    for id in ["a", "b", "c"] {
        connector.text(id, &format!("text of {id}"));
    }
    let source = Source::new("feed", Arc::clone(&connector) as Arc<dyn Connector>);
    let mut runs = Vec::new();
    for items in listings {
        connector.then_list(items);
        let report = sync(&engine, &source, &SyncOptions::default()).await;
        runs.push((report, std::mem::take(&mut *log.lock().expect("log"))));
    }
    runs
}

fn stored(running: bool, run: RunState) -> Event {
    Event::Store {
        running: Some(running),
        run: Some(run),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_changes_nothing_commits_its_store_once() {
    let listing = || {
        vec![
            upsert("a", "1", "g"),
            upsert("b", "1", "g"),
            cursor("1"),
            complete(),
        ]
    };
    let runs = check(vec![listing(), listing(), vec![cursor("2")]]).await;
    let (first, _) = &runs[0];
    assert_eq!(first.counts.added, 2, "{first:?}");
    // The full re-listing and the empty incremental: the final write, nothing else.
    for (report, writes) in &runs[1..] {
        assert_eq!(report.state, RunState::Succeeded, "{report:?}");
        assert_eq!(report.counts.added, 0, "{report:?}");
        assert_eq!(writes, &[stored(false, RunState::Succeeded)]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_marked_running_before_its_first_index_write() {
    let runs = check(vec![
        vec![upsert("a", "1", "g"), cursor("1"), complete()],
        vec![upsert("a", "1", "g"), upsert("b", "1", "g"), cursor("2")],
    ])
    .await;
    for (report, writes) in &runs {
        assert_eq!(report.state, RunState::Succeeded, "{report:?}");
        let first_index = writes
            .iter()
            .position(|e| *e == Event::Index)
            .expect("an index write");
        assert_eq!(
            writes.first(),
            Some(&stored(true, RunState::Running)),
            "{writes:?}"
        );
        assert!(first_index > 0, "{writes:?}");
        assert_eq!(writes.last(), Some(&stored(false, RunState::Succeeded)));
    }
}
