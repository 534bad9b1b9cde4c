//! The writer thread: the only place that touches the index writer and the store. It
//! applies ops in listing order, commits, then writes the manifest rows, retry list and
//! checkpoint that describe the commit. Settling the run (the sweep, the final state) is in
//! `sweep.rs`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use connector_sdk::{Acl, DocumentId, ErrorKind, SourceCheckpoint};
use tokio::sync::{mpsc, watch};

use super::opening::{OpenedSink, Opening};
use super::throttle::Throttle;
use super::{CommitPolicy, Kept, Op, Progress, Source, Step, SyncOptions, UNSETTLED_ACL};
use crate::index::{DocFields, IndexSink};
use crate::report::{RunMode, RunReason, RunReport};
use crate::seen::SeenLog;
use crate::store::{ListingState, ManifestEntry, SourceState, StateStore, StoreBatch};
use crate::{Engine, EngineError, Result};

/// What rewriting a document's ACL came to.
pub(super) enum AclUpdate {
    Rewritten,
    /// The index already had this ACL (its effective ACL did not change).
    Same,
    /// The index has no chunks for it; its manifest row goes, so the next run fetches it.
    Missing,
}

/// The writer thread's state.
pub(super) struct Writer {
    pub(super) source: String,
    /// The namespace of the source's groups in the index.
    namespace: String,
    pub(super) mode: RunMode,
    pub(super) generation: u64,
    pub(super) sink: Box<dyn IndexSink>,
    pub(super) store: Arc<dyn StateStore>,
    pub(super) report: RunReport,
    pub(super) progress: Arc<Progress>,
    pub(super) state: SourceState,
    pub(super) checkpoint: SourceCheckpoint,
    pub(super) batch: StoreBatch,
    index_dirty: bool,
    pending: usize,
    pending_bytes: usize,
    last_commit: Instant,
    policy: CommitPolicy,
    pub(super) listing_complete: bool,
    pub(super) listing_failed: bool,
    /// The run was told to stop (`SyncOptions::stop`) and its listing was cut short.
    pub(super) stopped: bool,
    /// An incremental listing's cursor expired: the run goes on with a full listing.
    pub(super) cursor_expired: bool,
    pub(super) allow_mass_delete: bool,
    pub(super) mass_delete_ratio: f64,
    seen_dir: PathBuf,
    /// Unchanged documents this listing saw (see `crate::seen`); `None` when a resumed
    /// listing lost its log, which forbids a sweep.
    pub(super) seen_log: Option<SeenLog>,
    /// Documents this listing saw that are (still) in the manifest, counted once each
    /// unless `maybe_repeated`.
    pub(super) present: u64,
    /// `present` as of the last checkpoint marker, persisted with that checkpoint.
    present_at_checkpoint: u64,
    /// The listing may have named a document twice (or it was resumed, and the part
    /// before the resume is not known), so `present` may count some twice: the sweep
    /// counts on disk instead of trusting it.
    pub(super) maybe_repeated: bool,
    /// New documents written since the last flush, so that a feed repeating one within a
    /// commit window replaces instead of duplicating it. Bounded by the commit policy.
    fresh: HashSet<String>,
    /// Documents on the source's retry list (see `retry.rs`).
    pub(super) retrying: HashSet<String>,
    pub(super) retry_backoff: std::time::Duration,
    /// The sequence number of the last op applied, and where the planner learns which
    /// ops are durable (see `order.rs`).
    last_seq: u64,
    pub(super) durable: watch::Sender<u64>,
    /// The writer hit an index or store error: the index may be ahead of the manifest.
    pub(super) writer_failed: bool,
    /// The run's rate-limit pauses, for the report written with each commit.
    pub(super) throttle: Option<Arc<Throttle>>,
    /// The run's opening write, until something writes it (see `opening.rs`).
    pub(super) opening: Arc<Opening>,
    /// Run reports of this source kept in the store (pruned with the final write).
    pub(super) keep_runs: usize,
}

impl Writer {
    /// A writer for one run; [`Writer::begin`] starts its listing.
    pub(super) fn new(
        engine: &Engine,
        source: &Source,
        sink: Box<dyn IndexSink>,
        report: RunReport,
        progress: Arc<Progress>,
        state: SourceState,
        options: &SyncOptions,
    ) -> Result<Self> {
        let store = Arc::clone(&engine.store);
        let retrying = store
            .retries(&source.id)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let opening = Opening::new(Arc::clone(&store), &source.id);
        let sink = Box::new(OpenedSink {
            inner: sink,
            opening: Arc::clone(&opening),
        });
        Ok(Writer {
            source: source.id.clone(),
            namespace: source.namespace().to_string(),
            mode: report.mode,
            generation: 0,
            sink,
            store,
            report,
            progress,
            state,
            checkpoint: SourceCheckpoint::default(),
            batch: StoreBatch::default(),
            index_dirty: false,
            pending: 0,
            pending_bytes: 0,
            last_commit: Instant::now(),
            policy: options.commit,
            listing_complete: false,
            listing_failed: false,
            stopped: false,
            cursor_expired: false,
            allow_mass_delete: options.allow_mass_delete,
            mass_delete_ratio: options.mass_delete_ratio,
            seen_dir: engine.dir.join("seen"),
            seen_log: None,
            present: 0,
            present_at_checkpoint: 0,
            maybe_repeated: false,
            fresh: HashSet::new(),
            retrying,
            retry_backoff: options.retry_backoff,
            last_seq: 0,
            durable: watch::channel(0).0,
            writer_failed: false,
            throttle: None,
            opening,
            keep_runs: options.keep_runs.max(1),
        })
    }

    /// Starts a listing in `mode` from `checkpoint`: records it in the source state (a full
    /// listing becomes resumable) and opens its seen log.
    pub(super) fn begin(
        &mut self,
        mode: RunMode,
        generation: u64,
        checkpoint: SourceCheckpoint,
    ) -> Result<()> {
        let resumed = match (&self.state.listing, mode) {
            (Some(listing), RunMode::FullResumed) => Some(listing.present),
            _ => None,
        };
        if mode != RunMode::Incremental {
            self.state.listing = Some(ListingState {
                generation,
                mode,
                checkpoint: checkpoint.clone(),
                present: resumed.unwrap_or(0),
            });
        }
        // The run's first report goes with the state that marks it running, and only when
        // the run is about to write (`opening.rs`): a run that changes nothing commits once.
        self.report.mode = mode;
        self.opening.hold(self.state.clone(), self.report.clone())?;
        self.seen_log = match mode {
            RunMode::FullResumed => SeenLog::resume(&self.seen_dir, &self.source, generation)?,
            RunMode::Full | RunMode::Incremental | RunMode::Identities => {
                Some(SeenLog::create(&self.seen_dir, &self.source, generation)?)
            }
        };
        self.mode = mode;
        self.report.mode = mode;
        self.generation = generation;
        self.checkpoint = checkpoint;
        self.present = resumed.unwrap_or(0);
        self.present_at_checkpoint = self.present;
        // What the listing named before it was resumed is not in this run's filter.
        self.maybe_repeated = resumed.is_some();
        self.listing_complete = false;
        self.listing_failed = false;
        self.cursor_expired = false;
        Ok(())
    }

    /// The incremental listing's cursor expired: what it applied is committed; the run goes
    /// on with a full listing under a new generation (so nothing the incremental part
    /// touched counts as seen by the full listing), swept at its end.
    pub(super) fn restart_full(&mut self, generation: u64) -> Result<()> {
        if let Some(log) = self.seen_log.take() {
            log.remove()?;
        }
        self.report.reason = Some(RunReason::CursorExpired);
        self.begin(RunMode::Full, generation, SourceCheckpoint::default())
    }

    fn put(&mut self, id: &DocumentId, entry: ManifestEntry) {
        self.batch
            .put
            .push((self.source.clone(), id.as_str().to_string(), entry));
    }

    /// One more document of this listing that is in the manifest.
    fn saw(&mut self) {
        self.present += 1;
    }

    fn handle(&mut self, step: Step) -> Result<()> {
        self.last_seq = step.seq;
        self.maybe_repeated |= step.maybe_repeat;
        let mut is_doc = true;
        match step.op {
            Op::Unchanged { id } => {
                // No manifest write: the seen log records it (a sequential append).
                if let Some(log) = self.seen_log.as_mut() {
                    log.record(id.as_str())?;
                }
                self.saw();
                self.settled(&id);
                self.report.counts.unchanged += 1;
            }
            Op::Indexed {
                doc,
                format,
                title,
                chunks,
                entry,
                is_new,
                bytes,
            } => {
                let mut metadata = doc.metadata.clone();
                metadata.insert("format".into(), serde_json::Value::String(format.clone()));
                let fields = DocFields {
                    source: &self.source,
                    namespace: &self.namespace,
                    doc_id: doc.id.as_str(),
                    title: &title,
                    uri: doc.uri.as_deref(),
                    content_type: &format,
                    modified: doc.modified,
                    acl: &doc.acl,
                    metadata: &metadata,
                    version: &doc.version,
                };
                // A document new to the manifest cannot be in the index (orphans of a crash are
                // removed before a run starts), unless this run already wrote it once: in this
                // commit window (`fresh`), or in an earlier one after the planner, which runs
                // ahead of the writer, had already judged it new (the store tells).
                let first_write = is_new
                    && self.fresh.insert(doc.id.as_str().to_string())
                    && self
                        .store
                        .manifest_get(&self.source, doc.id.as_str())?
                        .is_none();
                self.sink.upsert(&fields, &chunks, !first_write)?;
                self.index_dirty = true;
                self.pending_bytes += chunks.iter().map(|c| c.text.len()).sum::<usize>();
                self.put(&doc.id, entry);
                self.saw();
                self.settled(&doc.id);
                self.report.counts.bytes += bytes;
                if first_write {
                    self.report.counts.added += 1;
                } else {
                    self.report.counts.modified += 1;
                }
            }
            Op::SameContent {
                id,
                acl,
                entry,
                bytes,
            } => {
                self.report.counts.bytes += bytes;
                match acl {
                    Some(acl) => self.acl_only(&id, &acl, entry)?,
                    None => {
                        self.put(&id, entry);
                        self.saw();
                        self.settled(&id);
                        self.report.counts.unchanged += 1;
                    }
                }
            }
            Op::AclOnly { id, acl, entry } => self.acl_only(&id, &acl, entry)?,
            Op::Delete { id } => {
                self.sink.delete(&self.source, id.as_str())?;
                self.index_dirty = true;
                self.batch
                    .remove
                    .push((self.source.clone(), id.as_str().to_string()));
                self.settled(&id);
                self.report.counts.deleted += 1;
            }
            Op::Failed {
                id,
                stage,
                kind,
                message,
                keep,
                skipped,
                retry,
            } => {
                if skipped {
                    self.report.skip_doc(id.as_str(), &kind, message.clone());
                    // Refused by a rule: trying again will not help until it changes.
                    self.settled(&id);
                } else {
                    self.progress.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(source = %self.source, doc = %id, stage, kind, %message, "document failed");
                    self.report
                        .fail_doc(id.as_str(), stage, &kind, message.clone());
                    if let Some(doc) = retry {
                        self.retry_later(*doc, stage, &kind, &message)?;
                    }
                }
                if let Some(Kept { mut entry, acl }) = keep {
                    match self.update_acl(&id, &acl.into_acl())? {
                        AclUpdate::Rewritten => self.report.counts.acl_updated += 1,
                        AclUpdate::Same => {}
                        // Nothing of it is indexed, so nothing can leak: the row is gone
                        // and the next run fetches it as new.
                        AclUpdate::Missing => return self.counted(),
                    }
                    entry.acl_hash = UNSETTLED_ACL.to_string();
                    self.put(&id, entry);
                    self.saw();
                }
            }
            Op::Checkpoint { partition, cursor } => {
                self.checkpoint.set(&partition, cursor);
                self.present_at_checkpoint = self.present;
                is_doc = false;
            }
            Op::ListingComplete => {
                self.listing_complete = true;
                is_doc = false;
            }
            Op::ListingError { message, kind } => {
                is_doc = false;
                if kind == ErrorKind::CursorExpired && self.mode == RunMode::Incremental {
                    tracing::warn!(source = %self.source, %message, "the change feed's cursor expired; listing everything");
                    self.cursor_expired = true;
                } else {
                    tracing::warn!(source = %self.source, %message, "listing error");
                    self.listing_failed = true;
                    self.report.errors.push(format!("listing: {message}"));
                }
            }
            Op::Flush => {
                is_doc = false;
                self.flush()?;
            }
            Op::Forget { id } => {
                is_doc = false;
                self.settled(&id);
            }
        }
        if is_doc {
            self.counted()
        } else {
            self.maybe_flush()
        }
    }

    /// One more document handled: counts it and commits when the policy says so.
    fn counted(&mut self) -> Result<()> {
        self.progress.done.fetch_add(1, Ordering::Relaxed);
        self.pending += 1;
        self.maybe_flush()
    }

    fn maybe_flush(&mut self) -> Result<()> {
        if self.pending >= self.policy.docs
            || self.pending_bytes >= self.policy.bytes
            || self.last_commit.elapsed() >= self.policy.interval
        {
            self.flush()?;
        }
        Ok(())
    }

    /// Rewrites a document's ACL (if it changed) and records its new manifest entry; if the
    /// index has no chunks for it (lost, or behind), forgets the manifest row so the next
    /// run fetches the document again.
    fn acl_only(&mut self, id: &DocumentId, acl: &Acl, entry: ManifestEntry) -> Result<()> {
        let counter = match self.update_acl(id, acl)? {
            AclUpdate::Rewritten => &mut self.report.counts.acl_updated,
            AclUpdate::Same => &mut self.report.counts.unchanged,
            AclUpdate::Missing => {
                self.report.fail_doc(
                    id.as_str(),
                    "index",
                    "missing_chunks",
                    "the index has no chunks for this document; it will be fetched again on the next run".into(),
                );
                return Ok(());
            }
        };
        *counter += 1;
        self.put(id, entry);
        self.saw();
        self.settled(id);
        Ok(())
    }

    /// Rewrites the ACL of a document's stored chunks. (A document is never rewritten in
    /// the commit window that wrote it: a repeat waits behind a commit, see `order.rs`.)
    fn update_acl(&mut self, id: &DocumentId, acl: &Acl) -> Result<AclUpdate> {
        match self
            .sink
            .update_acl(&self.source, &self.namespace, id.as_str(), acl)?
        {
            Some(0) => Ok(AclUpdate::Same),
            Some(_) => {
                self.index_dirty = true;
                Ok(AclUpdate::Rewritten)
            }
            None => {
                self.batch
                    .remove
                    .push((self.source.clone(), id.as_str().to_string()));
                Ok(AclUpdate::Missing)
            }
        }
    }

    /// Commits the index, then writes the manifest rows, retry list and checkpoint that
    /// describe it (one store batch), and tells the planner what is durable.
    pub(super) fn flush(&mut self) -> Result<()> {
        self.flush_unless_idle(false)
    }

    /// `flush`; with `idle_skips`, a window that changed neither the index nor a row writes
    /// nothing: its checkpoint is in `self.state`, which the run's next write (its final one,
    /// or a restart's) stores. A no-op run then costs one store commit fewer (a commit is
    /// two fdatasyncs); a crash before that write only replays the unchanged window.
    fn flush_unless_idle(&mut self, idle_skips: bool) -> Result<()> {
        let idle = !self.index_dirty
            && self.batch.put.is_empty()
            && self.batch.remove.is_empty()
            && self.batch.retry_put.is_empty()
            && self.batch.retry_remove.is_empty();
        if self.index_dirty {
            self.sink.commit()?;
            self.index_dirty = false;
        }
        // The seen log must be durable before the checkpoint that covers its entries.
        match self.state.listing.as_mut() {
            Some(listing) => {
                listing.checkpoint = self.checkpoint.clone();
                listing.present = self.present_at_checkpoint;
            }
            None => self.state.checkpoint = Some(self.checkpoint.clone()),
        }
        if idle && idle_skips {
            self.durable.send_replace(self.last_seq);
            return Ok(());
        }
        // The seen log must be durable before the checkpoint that covers its entries.
        self.sync_seen_log()?;
        let mut batch = std::mem::take(&mut self.batch);
        batch.source_state = Some((self.source.clone(), self.state.clone()));
        // The report as of this commit goes with it, so `status` and `runs` in another
        // process follow a long run commit by commit.
        let mut report = self.report.clone();
        report.counts.scanned = self.progress.scanned.load(Ordering::Relaxed);
        if let Some(throttle) = &self.throttle {
            report.rate_limited = throttle.stats();
        }
        batch.run = Some(report);
        self.opening.supersede()?;
        self.store.apply(batch)?;
        self.durable.send_replace(self.last_seq);
        // The window's indexing buffers were freed by the commit: return them to the OS now,
        // so the next window starts from fresh pages instead of a second set (ADR 0008).
        tributary_allocator::release_freed();
        self.fresh.clear();
        self.pending = 0;
        self.pending_bytes = 0;
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Makes the seen log durable (before a stored checkpoint covers its entries).
    pub(super) fn sync_seen_log(&mut self) -> Result<()> {
        match self.seen_log.as_mut() {
            Some(log) => log.sync(),
            None => Ok(()),
        }
    }

    /// Applies every op until the channel closes, then commits what is pending.
    pub(super) fn drain(
        mut self,
        mut rx: mpsc::Receiver<Vec<Step>>,
    ) -> (Self, Option<EngineError>) {
        let mut result = Ok(());
        'recv: while let Some(steps) = rx.blocking_recv() {
            for step in steps {
                if let Err(e) = self.handle(step) {
                    result = Err(e);
                    break 'recv;
                }
            }
        }
        // Close the channel so the planner stops if we stopped early, and release a repeat
        // waiting for a commit that will not come.
        drop(rx);
        if result.is_ok() {
            result = self.flush_unless_idle(true);
        }
        self.durable.send_replace(u64::MAX);
        (self, result.err())
    }
}
