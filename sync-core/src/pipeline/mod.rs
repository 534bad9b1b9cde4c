//! The sync pipeline for one run of one source.
//!
//! ```text
//! connector stream ─► plan (manifest diff) ─► fetch + extract + chunk, N at a time, in order
//!   ─► bounded channel ─► writer thread: index ops, commit, then manifest + checkpoint
//!   ─► after a complete listing: mark-and-sweep deletions behind the mass-delete guard
//! ```
//!
//! Ordering is what makes this crash-safe: `buffered` keeps the stream's order while
//! fetching concurrently, so a `Checkpoint` marker reaches the writer only after every
//! document before it, and the writer persists a checkpoint only in the same store batch as
//! the manifest rows of an index commit that already happened. A crash between the index
//! commit and the store write replays a little work; every index write is an upsert by
//! document key, so the replay changes nothing.

mod fetch;
mod opening;
mod order;
mod plan;
mod retry;
mod sweep;
mod throttle;
mod writer;

use fetch::Fetcher;
use order::{Listed, Sequencer};
use plan::{Plan, Planner};
use throttle::{Extractions, Throttle};
use writer::Writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use connector_sdk::{
    Acl, Change, Connector, ConnectorError, DocumentId, ErrorKind, Limits, RemoteDocument,
    SourceCheckpoint, SyncContext,
};
use futures::StreamExt;
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};

use crate::chunker::{Chunk, ChunkerConfig};
use crate::report::{RunMode, RunReport};
use crate::store::ManifestEntry;
use crate::{Engine, EngineError, Result};
use sweep::remove_unrecorded;
use tokio_util::sync::CancellationToken;

/// A configured source: its id, its connector, and the namespace of its groups.
#[derive(Clone)]
pub struct Source {
    /// The source id from the configuration (letters, digits, `-`, `_`).
    pub id: String,
    /// The connector.
    pub connector: Arc<dyn Connector>,
    /// The namespace its groups are indexed in (`group:<namespace>:<id>`), when not its id:
    /// sources that share a directory (two sites of one tenant) share a namespace.
    pub group_namespace: Option<String>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("id", &self.id)
            .field("kind", &self.connector.kind())
            .field("namespace", &self.namespace())
            .finish()
    }
}

impl Source {
    /// A source named `id`.
    pub fn new(id: impl Into<String>, connector: Arc<dyn Connector>) -> Self {
        Source {
            id: id.into(),
            connector,
            group_namespace: None,
        }
    }

    /// The same source with its groups in `namespace` instead of its own.
    pub fn with_group_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.group_namespace = Some(namespace.into());
        self
    }

    /// The namespace of its groups: `group_namespace`, else its id.
    pub fn namespace(&self) -> &str {
        self.group_namespace.as_deref().unwrap_or(&self.id)
    }

    /// What the manifest's ACL hashes mix in: nothing for a source whose groups live in its
    /// own namespace (so hashes written before namespaces existed still match), the
    /// namespace otherwise, so that moving a source to another namespace rewrites its
    /// documents' ACLs on the next run (an ACL-only update, no fetch).
    fn acl_salt(&self) -> String {
        match &self.group_namespace {
            Some(ns) if *ns != self.id => format!("\nnamespace {ns}"),
            _ => String::new(),
        }
    }
}

/// When the writer commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitPolicy {
    /// After this many documents (of any outcome).
    pub docs: usize,
    /// After this many bytes of chunk text.
    pub bytes: usize,
    /// After this much time.
    pub interval: Duration,
}

impl Default for CommitPolicy {
    fn default() -> Self {
        CommitPolicy {
            // Larger commits mean fewer segments to merge; a crash replays at most this
            // many documents, which takes seconds.
            docs: 10_000,
            bytes: 64 * 1024 * 1024,
            interval: Duration::from_secs(30),
        }
    }
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// List everything from the start even if a checkpoint exists.
    pub full: bool,
    /// Read the connector's change feed (`incremental`) even when the source has no
    /// checkpoint yet or an unfinished full listing, instead of listing everything: for a
    /// source with no listing to fall back on, whose documents arrive only as changes (a
    /// push source's jobs, ADR 0026). `full` wins over it.
    pub feed_only: bool,
    /// Let a sweep delete more than `mass_delete_ratio` of the source.
    pub allow_mass_delete: bool,
    /// The share of a source's documents one sweep may delete without `allow_mass_delete`.
    pub mass_delete_ratio: f64,
    /// Documents fetched and extracted at once.
    pub concurrency: usize,
    /// When to commit.
    pub commit: CommitPolicy,
    /// Extraction limits; `max_input_bytes` is also the fetch limit.
    pub limits: extractors::Limits,
    /// Chunk sizes.
    pub chunker: ChunkerConfig,
    /// Wall-clock limit for fetching one document (the engine enforces it whatever the
    /// connector does); a fetch past it fails as `timeout` and the run goes on.
    pub fetch_timeout: Duration,
    /// The longest pause a `RateLimited { retry_after }` answer can impose at once.
    pub max_pause: Duration,
    /// How long a failed document waits before its first retry; each further failure
    /// doubles it (at most 6 h). See `retry.rs`.
    pub retry_backoff: Duration,
    /// Run reports kept per source; older ones are deleted after each run.
    pub keep_runs: usize,
    /// The most facts (memberships, aliases) an identity sync holds for one source; a
    /// larger directory fails the identity sync (the stored memberships stay).
    pub max_memberships: usize,
    /// Cancelled to stop the run gracefully (a daemon shutting down): the listing stops
    /// being read, documents already in flight finish, the writer commits, and the run
    /// ends `Stopped`, to be resumed from its last checkpoint. Never cancelled by default.
    pub stop: CancellationToken,
}

impl Default for SyncOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        SyncOptions {
            full: false,
            feed_only: false,
            allow_mass_delete: false,
            mass_delete_ratio: 0.5,
            concurrency: (cores * 2).clamp(2, 16),
            commit: CommitPolicy::default(),
            limits: extractors::Limits::default(),
            chunker: ChunkerConfig::default(),
            fetch_timeout: Duration::from_secs(300),
            max_pause: Duration::from_secs(300),
            retry_backoff: Duration::from_secs(60),
            keep_runs: 1000,
            max_memberships: 1_000_000,
            stop: CancellationToken::new(),
        }
    }
}

impl SyncOptions {
    /// The pipeline version stored per document: a change re-extracts on the next run.
    pub fn pipeline_version(&self) -> String {
        format!(
            "x{}-{}",
            extractors::EXTRACTOR_VERSION,
            self.chunker.fingerprint()
        )
    }
}

/// Live counters for progress display, updated while a run goes.
#[derive(Debug, Default)]
pub struct Progress {
    /// Documents listed so far.
    pub scanned: AtomicU64,
    /// Documents fully handled (indexed, unchanged, failed…).
    pub done: AtomicU64,
    /// Documents that failed.
    pub failed: AtomicU64,
    /// While the source has the run paused (`RateLimited`): the end of the pause, in Unix
    /// milliseconds; 0 otherwise.
    pub rate_limited_until_ms: AtomicU64,
}

impl Progress {
    /// The end of the pause the source imposed, if the run is paused now.
    pub fn rate_limited_until(&self) -> Option<OffsetDateTime> {
        let ms = throttle::paused_until(self)?;
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
    }
}

/// Short, stable hash used for ACLs and contents.
fn hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex()[..32].to_string()
}

/// The hash of a listed ACL, with the source's salt (see [`Source::acl_salt`]).
fn acl_hash(acl: &Acl, salt: &str) -> String {
    if salt.is_empty() {
        hash(acl.canonical().as_bytes())
    } else {
        hash(format!("{}{salt}", acl.canonical()).as_bytes())
    }
}

/// A failed document that was indexed before. Its old text stays searchable, but never with
/// an ACL broader than the one this run listed: a permission change that arrives with a
/// content change is applied even when the content is not (too large, corrupt, timeout,
/// fetch error), and when the ACL itself cannot be determined the old chunks become
/// invisible until a later run determines it.
struct Kept {
    /// The previous manifest entry, re-marked as seen so that the document is not swept.
    entry: ManifestEntry,
    /// The ACL its chunks must carry from now on.
    acl: KeptAcl,
}

enum KeptAcl {
    /// What this run listed (and the connector resolved).
    Known(Acl),
    /// Resolving failed, so the effective ACL is unknown: fail closed.
    Unknown,
}

impl KeptAcl {
    fn into_acl(self) -> Acl {
        match self {
            KeptAcl::Known(acl) => acl,
            // An empty allow set: nobody may read it.
            KeptAcl::Unknown => Acl::default(),
        }
    }
}

/// The manifest's ACL hash for a document whose chunks got their ACL from a failure path:
/// it matches no listing, so the next run that lists the document looks at it again (a
/// fetch when its version moved on, otherwise an ACL rewrite from a fresh resolve).
const UNSETTLED_ACL: &str = "unsettled";

/// What the planner and fetchers hand to the writer, in listing order.
enum Op {
    Unchanged {
        id: DocumentId,
    },
    Indexed {
        doc: Box<RemoteDocument>,
        format: String,
        title: String,
        chunks: Vec<Chunk>,
        entry: ManifestEntry,
        is_new: bool,
        bytes: u64,
    },
    /// Refetched but the bytes are identical: only the version (and maybe the ACL) moves.
    SameContent {
        id: DocumentId,
        acl: Option<Acl>,
        entry: ManifestEntry,
        bytes: u64,
    },
    AclOnly {
        id: DocumentId,
        acl: Acl,
        entry: ManifestEntry,
    },
    Delete {
        id: DocumentId,
    },
    Failed {
        id: DocumentId,
        stage: &'static str,
        kind: String,
        message: String,
        /// A document indexed before keeps its chunks (nothing is deleted that was not
        /// proven deleted), under the ACL this run determined.
        keep: Option<Kept>,
        skipped: bool,
        /// The document as listed, for the retry list (`None`: retrying will not help).
        retry: Option<Box<RemoteDocument>>,
    },
    Checkpoint {
        partition: String,
        cursor: Option<String>,
    },
    ListingComplete,
    ListingError {
        message: String,
        kind: ErrorKind,
    },
    /// A barrier: commit now (a repeated document waits for it, see `order.rs`).
    Flush,
    /// A delete of a document that is not indexed: nothing to do but take it off the
    /// retry list.
    Forget {
        id: DocumentId,
    },
}

/// An op with its place in the listing.
struct Step {
    seq: u64,
    /// The listing may have named this document before (see `order.rs`).
    maybe_repeat: bool,
    op: Op,
}

/// Refuses a group namespace that would make `group:<namespace>:<id>` ambiguous.
pub(crate) fn check_namespace(source: &Source) -> Result<()> {
    if crate::identities::valid_namespace(source.namespace()) {
        Ok(())
    } else {
        Err(EngineError::Config(format!(
            "group namespace {:?} of source {} may only contain letters, digits, '-' and '_'",
            source.namespace(),
            source.id
        )))
    }
}

fn valid_source_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Marks a source as syncing in its engine for as long as it lives.
struct RunningGuard<'a> {
    engine: &'a Engine,
    source: String,
}

impl<'a> RunningGuard<'a> {
    fn claim(engine: &'a Engine, source: &str) -> Result<Self> {
        let mut running = engine
            .running
            .lock()
            .map_err(|_| EngineError::Index("run registry poisoned".into()))?;
        if !running.insert(source.to_string()) {
            return Err(EngineError::SourceBusy(source.to_string()));
        }
        Ok(RunningGuard {
            engine,
            source: source.to_string(),
        })
    }
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut running) = self.engine.running.lock() {
            running.remove(&self.source);
        }
    }
}

/// Runs one sync of one source. Errors before the run starts (busy index, bad source id,
/// unreadable store) are `Err`; everything after is recorded in the returned report.
pub(crate) async fn run(
    engine: &Engine,
    source: &Source,
    options: &SyncOptions,
    progress: Arc<Progress>,
) -> Result<RunReport> {
    if !valid_source_id(&source.id) {
        return Err(EngineError::Config(format!(
            "source id {:?} may only contain letters, digits, '-' and '_'",
            source.id
        )));
    }
    check_namespace(source)?;
    let _running = RunningGuard::claim(engine, &source.id)?;
    let store = Arc::clone(&engine.store);
    let mut sink = engine.index.writer().map_err(|e| match e {
        EngineError::Index(m) if m.contains("LockBusy") || m.contains("lock") => {
            EngineError::Busy(engine.dir.clone())
        }
        other => other,
    })?;
    let run_id = store.next_id()?;
    let mut state = store.source_state(&source.id)?;
    if state.running {
        remove_unrecorded(engine, &mut *sink, &source.id)?;
    }
    state.running = true;
    let (mode, generation, checkpoint) = if options.full {
        (RunMode::Full, run_id, SourceCheckpoint::default())
    } else if options.feed_only {
        let checkpoint = state.checkpoint.clone().unwrap_or_default();
        (RunMode::Incremental, run_id, checkpoint)
    } else if let Some(listing) = &state.listing {
        (
            RunMode::FullResumed,
            listing.generation,
            listing.checkpoint.clone(),
        )
    } else if let Some(cp) = &state.checkpoint {
        (RunMode::Incremental, run_id, cp.clone())
    } else {
        (RunMode::Full, run_id, SourceCheckpoint::default())
    };
    let report = RunReport::new(run_id, &source.id, mode);
    tracing::info!(source = %source.id, run = run_id, ?mode, "sync started");
    let mut writer = Writer::new(
        engine,
        source,
        sink,
        report,
        Arc::clone(&progress),
        state,
        options,
    )?;
    writer.begin(mode, generation, checkpoint)?;
    let (pauses, opening) = (Arc::clone(&store), Arc::clone(&writer.opening));
    let throttle = Arc::new(
        Throttle::new(options.max_pause, Arc::clone(&progress)).recording(Box::new(
            move |limits| {
                // A pause is shown in `status` at once: the run's report must be stored.
                let update = opening.write().and_then(|()| {
                    pauses.update_run(run_id, &mut |r| r.rate_limited = limits.clone())
                });
                if let Err(e) = update {
                    tracing::warn!(error = %e, "could not record a rate-limit pause");
                }
            },
        )),
    );
    // A run that has written nothing yet shows in `status` after a moment all the same.
    let opening = Arc::clone(&writer.opening);
    let show = tokio::spawn(async move {
        tokio::time::sleep(opening::OPENING_DELAY).await;
        let write = tokio::task::spawn_blocking(move || opening.write()).await;
        if let Ok(Err(e)) = write {
            tracing::warn!(error = %e, "could not record the run's start");
        }
    });
    writer.throttle = Some(Arc::clone(&throttle));
    let extractions = Extractions::default();
    let (mut writer, mut error) =
        listen(engine, source, options, &throttle, &extractions, writer).await?;
    if error.is_none() && writer.cursor_expired && !options.stop.is_cancelled() {
        // The feed no longer knows our cursor: list everything, as a full run would, and
        // sweep at the end. (Failing instead would fail every later run on the same cursor.)
        let generation = store.next_id()?;
        match writer.restart_full(generation) {
            Ok(()) => {
                (writer, error) =
                    listen(engine, source, options, &throttle, &extractions, writer).await?;
            }
            Err(e) => error = Some(e),
        }
    }
    writer.stopped = options.stop.is_cancelled();
    writer.report.rate_limited = throttle.stats();
    show.abort();
    let (report, written) = tokio::task::spawn_blocking(move || writer.finish(error))
        .await
        .map_err(|e| EngineError::Index(format!("index writer thread failed: {e}")))?;
    if !written {
        store.put_run(&report)?;
        store.prune_runs(&source.id, options.keep_runs.max(1))?;
    }
    tracing::info!(source = %source.id, run = run_id, state = report.state.as_str(), counts = ?report.counts, "sync finished");
    Ok(report)
}

/// One listing of the writer's mode, from its checkpoint: the connector's stream (then, for
/// a change feed, the due retries) through the sequencer, planner and fetchers, in order,
/// to the writer thread. Returns the writer with the first error that stopped it.
async fn listen(
    engine: &Engine,
    source: &Source,
    options: &SyncOptions,
    throttle: &Throttle,
    extractions: &Extractions,
    mut writer: Writer,
) -> Result<(Writer, Option<EngineError>)> {
    let store = Arc::clone(&engine.store);
    let (mode, generation, run_id) = (writer.mode, writer.generation, writer.report.id);
    let checkpoint = writer.checkpoint.clone();
    let progress = Arc::clone(&writer.progress);
    let expected = store.manifest_count(&source.id)?;
    // A fresh full listing names every document that still exists, so it needs no retries;
    // a resumed one does not name again what came before its checkpoint.
    let retries = match mode {
        RunMode::Incremental | RunMode::FullResumed => {
            retry::due(&*store, &source.id, OffsetDateTime::now_utc())?
        }
        RunMode::Full => Vec::new(),
        RunMode::Identities => {
            return Err(EngineError::Config(
                "an identity sync lists no documents".into(),
            ));
        }
    };
    let (durable_tx, durable_rx) = watch::channel(0u64);
    writer.durable = durable_tx;
    // Ops travel in groups of whatever is ready (at most 128), so the writer thread is woken
    // once per group rather than once per document. Two groups in flight keep the writer
    // fed (the planner refills them while it works); sixteen held ~4 MB of chunks in memory
    // while the writer committed, the 50k-document sync's peak, for no gain in throughput.
    let (tx, rx) = mpsc::channel::<Vec<Step>>(2);
    let drain = tokio::task::spawn_blocking(move || writer.drain(rx));

    let cx = SyncContext {
        source_id: source.id.clone(),
        run_id: run_id.to_string(),
        limits: Limits {
            max_document_bytes: options.limits.max_input_bytes as u64,
        },
    };
    let connector = &*source.connector;
    let stream = match mode {
        RunMode::Full | RunMode::Identities => connector.full(&cx, None),
        RunMode::FullResumed => connector.full(&cx, Some(&checkpoint)),
        RunMode::Incremental => connector.incremental(&cx, &checkpoint),
    };
    let pipeline = options.pipeline_version();
    let salt = source.acl_salt();
    let planner = Planner {
        source: &source.id,
        acl_salt: &salt,
        store: &*store,
        generation,
        pipeline: pipeline.clone(),
        last_acl: std::sync::Mutex::new(None),
    };
    let fetcher = Fetcher {
        connector,
        acl_salt: &salt,
        cx: &cx,
        registry: Arc::clone(&engine.registry),
        options,
        pipeline,
        generation,
        throttle,
        extractions: extractions.clone(),
    };
    let sequencer = std::sync::Mutex::new(Sequencer::new(durable_rx.clone(), expected));
    let listed_all = std::sync::atomic::AtomicBool::new(false);
    let retried = AtomicU64::new(0);
    let mut planner_error = None;
    {
        let (planner, fetcher, progress) = (&planner, &fetcher, &progress);
        let (sequencer, listed_all) = (&sequencer, &listed_all);
        // A `RateLimited` item pauses the listing (and every fetch), then the stream is
        // polled again: the connector goes on where it was.
        // Items travel boxed from here on: a listed document is ~300 bytes, and each stage
        // would move it again (measured: a tenth of a no-op's user time).
        // Told to stop, the listing is read no further (documents in flight finish).
        let stop = options.stop.clone().cancelled_owned();
        let feed = stream
            .take_until(stop)
            .map(Box::new)
            .filter_map(move |item| async move {
                if let Err(ConnectorError {
                    kind: ErrorKind::RateLimited { retry_after },
                    ..
                }) = &*item
                {
                    throttle.pause(*retry_after).await;
                    return None;
                }
                if matches!(*item, Ok(Change::ListingComplete)) {
                    listed_all.store(true, Ordering::Relaxed);
                }
                Some(item)
            });
        // After the feed: documents that failed before and that the feed did not name again
        // (a complete listing from the start named everything that still exists, so it
        // needs none; a resumed one skipped what its checkpoint covered, failures included).
        let retried = &retried;
        let resumed = mode == RunMode::FullResumed;
        let retries = futures::stream::iter(retries).filter_map(move |doc| {
            let due = (resumed || !listed_all.load(Ordering::Relaxed))
                && !options.stop.is_cancelled()
                && sequencer
                    .lock()
                    .is_ok_and(|s| !s.maybe_listed(doc.id.as_str()));
            if due {
                retried.fetch_add(1, Ordering::Relaxed);
            }
            futures::future::ready(due.then(|| Box::new(Ok(Change::Upsert(doc)))))
        });
        let ops = feed
            .chain(retries)
            .flat_map(move |item| {
                let (barrier, change) = match sequencer.lock() {
                    Ok(mut s) => s.sequence(item),
                    // Poisoned only by a panic inside `sequence`, which leaves no half-made
                    // state behind (it numbers, then records): go on with it.
                    Err(poisoned) => poisoned.into_inner().sequence(item),
                };
                futures::stream::iter(barrier.into_iter().chain(std::iter::once(change)))
            })
            .map(move |listed| {
                let (seq, maybe_repeat, now, later) = match listed {
                    Listed::Barrier { seq } => (seq, false, Some(Ok(Plan::Ready(Op::Flush))), None),
                    Listed::Change {
                        seq,
                        item,
                        after,
                        maybe_repeat,
                    } => {
                        if matches!(*item, Ok(Change::Upsert(_))) {
                            progress.scanned.fetch_add(1, Ordering::Relaxed);
                        }
                        match after {
                            None => (seq, maybe_repeat, Some(planner.plan(*item)), None),
                            Some(barrier) => (seq, maybe_repeat, None, Some((barrier, item))),
                        }
                    }
                };
                let mut durable = durable_rx.clone();
                async move {
                    let plan = match (now, later) {
                        (Some(plan), _) => plan,
                        (None, Some((barrier, item))) => {
                            // A repeat: plan it against the manifest once the writer has
                            // committed everything before it.
                            let _ = durable.wait_for(|d| *d >= barrier).await;
                            planner.plan(*item)
                        }
                        (None, None) => unreachable!("a change is planned now or later"),
                    };
                    let op = match plan? {
                        Plan::Ready(op) => op,
                        Plan::Fetch { doc, prev } => fetcher.process(doc, prev).await,
                        Plan::AclOnly { doc, entry, prev } => {
                            fetcher.acl_only(doc, entry, prev).await
                        }
                    };
                    Ok(Step {
                        seq,
                        maybe_repeat,
                        op,
                    })
                }
            })
            .buffered(options.concurrency.max(1))
            .ready_chunks(128);
        let mut ops = std::pin::pin!(ops);
        'stream: while let Some(group) = ops.next().await {
            let mut batch = Vec::with_capacity(group.len());
            let mut stop = false;
            for step in group {
                match step {
                    Ok(step) => {
                        let fatal = matches!(&step.op, Op::ListingError { kind, .. } if kind.is_fatal_for_listing());
                        batch.push(step);
                        if fatal {
                            stop = true;
                            break;
                        }
                    }
                    Err(e) => {
                        planner_error = Some(e);
                        stop = true;
                        break;
                    }
                }
            }
            if tx.send(batch).await.is_err() || stop {
                break 'stream;
            }
        }
    }
    drop(tx);
    let (mut writer, writer_error) = drain
        .await
        .map_err(|e| EngineError::Index(format!("index writer thread failed: {e}")))?;
    writer.report.counts.retried += retried.load(Ordering::Relaxed);
    Ok((writer, writer_error.or(planner_error)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ids_are_restricted() {
        assert!(valid_source_id("team-docs_2"));
        assert!(!valid_source_id("a:b"));
        assert!(!valid_source_id(""));
    }
}
