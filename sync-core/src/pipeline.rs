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

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use connector_sdk::{
    Acl, Change, Connector, ConnectorError, Content, DocumentId, Limits, RemoteDocument,
    SourceCheckpoint, SyncContext, read_bounded,
};
use extractors::{Hints, Registry};
use futures::StreamExt;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::chunker::{self, Chunk, ChunkerConfig};
use crate::index::{DocFields, IndexSink, TantivyWriter};
use crate::report::{RunMode, RunReport, RunState};
use crate::seen::SeenLog;
use crate::store::{ListingState, ManifestEntry, SourceState, StateStore, StoreBatch};
use crate::{Engine, EngineError, Result};

/// A configured source: its id and its connector.
#[derive(Clone)]
pub struct Source {
    /// The source id from the configuration (letters, digits, `-`, `_`).
    pub id: String,
    /// The connector.
    pub connector: Arc<dyn Connector>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("id", &self.id)
            .field("kind", &self.connector.kind())
            .finish()
    }
}

impl Source {
    /// A source named `id`.
    pub fn new(id: impl Into<String>, connector: Arc<dyn Connector>) -> Self {
        Source {
            id: id.into(),
            connector,
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
}

impl Default for SyncOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        SyncOptions {
            full: false,
            allow_mass_delete: false,
            mass_delete_ratio: 0.5,
            concurrency: (cores * 2).clamp(2, 16),
            commit: CommitPolicy::default(),
            limits: extractors::Limits::default(),
            chunker: ChunkerConfig::default(),
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
}

/// Inputs up to this size are extracted on the async worker (see `Fetcher::process`).
const INLINE_EXTRACT_BYTES: u64 = 16 * 1024;

/// Short, stable hash used for ACLs and contents.
fn hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex()[..32].to_string()
}

fn acl_hash(acl: &Acl) -> String {
    hash(acl.canonical().as_bytes())
}

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
        /// The previous entry, re-marked as seen so a failing document is not swept.
        keep: Option<ManifestEntry>,
        skipped: bool,
    },
    Checkpoint {
        partition: String,
        cursor: Option<String>,
    },
    ListingComplete,
    ListingError {
        message: String,
        /// The listing cannot go on (expired credentials, expired cursor).
        fatal: bool,
    },
    /// Nothing to do (a delete of a document we never indexed).
    Noop,
}

struct Planner<'a> {
    source: &'a str,
    store: &'a dyn StateStore,
    generation: u64,
    pipeline: String,
    /// The last ACL hashed and its hash: neighbouring documents nearly always share their
    /// ACL (one prefix rule covers a folder), and hashing is a good part of a no-op's work.
    last_acl: std::sync::Mutex<Option<(Acl, String)>>,
}

enum Plan {
    Ready(Op),
    Fetch {
        doc: Box<RemoteDocument>,
        prev: Option<ManifestEntry>,
    },
    /// Only the listing's ACL changed: let the connector resolve the document (a sidecar
    /// ACL may override the listing's), then rewrite the ACL fields.
    AclOnly {
        doc: Box<RemoteDocument>,
        entry: ManifestEntry,
        prev: ManifestEntry,
    },
}

impl Planner<'_> {
    fn acl_hash(&self, acl: &Acl) -> String {
        let Ok(mut last) = self.last_acl.lock() else {
            return acl_hash(acl);
        };
        match last.as_ref() {
            Some((seen, hash)) if seen == acl => hash.clone(),
            _ => {
                let hash = acl_hash(acl);
                *last = Some((acl.clone(), hash.clone()));
                hash
            }
        }
    }

    fn plan(&self, item: std::result::Result<Change, ConnectorError>) -> Result<Plan> {
        let change = match item {
            Ok(c) => c,
            Err(e) => {
                return Ok(Plan::Ready(Op::ListingError {
                    fatal: e.kind.is_fatal_for_listing(),
                    message: e.to_string(),
                }));
            }
        };
        Ok(Plan::Ready(match change {
            Change::Upsert(doc) => {
                let prev = self.store.manifest_get(self.source, doc.id.as_str())?;
                let acl_hash = self.acl_hash(&doc.acl);
                match prev {
                    Some(mut entry)
                        if entry.version == doc.version && entry.pipeline == self.pipeline =>
                    {
                        entry.seen = self.generation;
                        if entry.acl_hash == acl_hash {
                            Op::Unchanged { id: doc.id }
                        } else {
                            let prev = entry.clone();
                            entry.acl_hash = acl_hash;
                            return Ok(Plan::AclOnly {
                                doc: Box::new(doc),
                                entry,
                                prev,
                            });
                        }
                    }
                    prev => {
                        return Ok(Plan::Fetch {
                            doc: Box::new(doc),
                            prev,
                        });
                    }
                }
            }
            Change::Delete(id) => match self.store.manifest_get(self.source, id.as_str())? {
                Some(_) => Op::Delete { id },
                None => Op::Noop,
            },
            Change::Permissions { id, acl } => {
                match self.store.manifest_get(self.source, id.as_str())? {
                    Some(mut entry) => {
                        let h = self.acl_hash(&acl);
                        if entry.acl_hash == h {
                            return Ok(Plan::Ready(Op::Unchanged { id }));
                        }
                        entry.acl_hash = h;
                        Op::AclOnly { id, acl, entry }
                    }
                    None => Op::Failed {
                        id,
                        stage: "plan",
                        kind: "not_found".into(),
                        message: "permissions changed for a document that is not indexed".into(),
                        keep: None,
                        skipped: true,
                    },
                }
            }
            Change::Checkpoint { partition, cursor } => Op::Checkpoint { partition, cursor },
            Change::ListingComplete => Op::ListingComplete,
        }))
    }
}

/// Fetches, extracts and chunks one document.
struct Fetcher<'a> {
    connector: &'a dyn Connector,
    cx: &'a SyncContext,
    registry: Arc<Registry>,
    options: &'a SyncOptions,
    pipeline: String,
    generation: u64,
}

/// The last path segment of an id, for extension-based format detection.
fn file_name_hint(doc: &RemoteDocument) -> String {
    let id = doc.id.as_str();
    let last = id.rsplit('/').next().unwrap_or(id);
    if last.contains('.') {
        last.to_string()
    } else {
        doc.title.clone().unwrap_or_else(|| last.to_string())
    }
}

impl Fetcher<'_> {
    /// An ACL-only change: the connector resolves the document's effective ACL (no
    /// content is downloaded); if it cannot, the document keeps its old entry and ACL, and
    /// the next run tries again.
    async fn acl_only(
        &self,
        mut doc: Box<RemoteDocument>,
        entry: ManifestEntry,
        prev: ManifestEntry,
    ) -> Op {
        match self.connector.resolve(self.cx, &mut doc).await {
            Ok(_) => Op::AclOnly {
                id: doc.id,
                acl: doc.acl,
                entry,
            },
            Err(e) => Op::Failed {
                id: doc.id,
                stage: "resolve",
                kind: e.kind.as_str().to_string(),
                message: e.message,
                keep: Some(prev),
                skipped: false,
            },
        }
    }

    async fn process(&self, mut doc: Box<RemoteDocument>, prev: Option<ManifestEntry>) -> Op {
        let max = self.options.limits.max_input_bytes as u64;
        let keep = prev.clone().map(|mut e| {
            e.seen = self.generation;
            e
        });
        let id = doc.id.clone();
        let fail = |stage: &'static str, kind: &str, message: String| Op::Failed {
            id: id.clone(),
            stage,
            kind: kind.to_string(),
            message,
            keep: keep.clone(),
            skipped: kind == "too_large" && stage == "fetch",
        };
        if let Some(size) = doc.size
            && size > max
        {
            return fail(
                "fetch",
                "too_large",
                format!("{size} bytes is over the limit of {max} bytes"),
            );
        }
        // The manifest keeps the hash of the ACL as *listed*, so that an unchanged listing
        // is recognised without asking the connector to resolve anything.
        let acl_h = acl_hash(&doc.acl);
        let resolved = match self.connector.resolve(self.cx, &mut doc).await {
            Ok(resolved) => resolved,
            Err(e) => return fail("resolve", e.kind.as_str(), e.message),
        };
        let bytes = match &doc.content {
            Content::Inline(text) => text.clone().into_bytes(),
            Content::Fetch => {
                let fetched = match self.connector.fetch(self.cx, &doc).await {
                    Ok(stream) => read_bounded(stream, max).await,
                    Err(e) => Err(e),
                };
                match fetched {
                    Ok(b) => b,
                    Err(e) => return fail("fetch", e.kind.as_str(), e.message),
                }
            }
        };
        let size = bytes.len() as u64;
        let content_hash = if resolved {
            // What resolving added (a sidecar's title, attributes, ACL) is part of what
            // gets indexed, so a change to it alone must not look like "same content".
            let mut h = blake3::Hasher::new();
            h.update(&bytes);
            h.update(doc.acl.canonical().as_bytes());
            h.update(doc.title.as_deref().unwrap_or_default().as_bytes());
            h.update(doc.content_type.as_deref().unwrap_or_default().as_bytes());
            h.update(
                serde_json::to_string(&doc.metadata)
                    .unwrap_or_default()
                    .as_bytes(),
            );
            h.finalize().to_hex()[..32].to_string()
        } else {
            hash(&bytes)
        };
        if let Some(p) = &prev
            && p.content_hash == content_hash
            && p.pipeline == self.pipeline
        {
            // Touched, not changed (a new mtime, a re-uploaded object): no re-extraction.
            let mut entry = p.clone();
            entry.version = doc.version.clone();
            entry.seen = self.generation;
            // A resolved document's effective ACL is in its content hash: equal hashes,
            // equal ACLs.
            let acl = (!resolved && entry.acl_hash != acl_h).then(|| doc.acl.clone());
            entry.acl_hash = acl_h;
            return Op::SameContent {
                id: doc.id.clone(),
                acl,
                entry,
                bytes: size,
            };
        }

        let registry = Arc::clone(&self.registry);
        let limits = self.options.limits.clone();
        let chunker = self.options.chunker;
        let name = file_name_hint(&doc);
        let name_hint = name.clone();
        let bytes_head = bytes[..bytes.len().min(1024)].to_vec();
        let content_type = doc.content_type.clone();
        let work = move || {
            let hints = Hints {
                content_type: content_type.as_deref(),
                file_name: Some(&name),
            };
            registry.extract(&bytes, &hints, &limits).map(|ex| {
                let mut chunks = chunker::chunk(&ex, &chunker);
                if chunks.is_empty() {
                    // An empty document still gets one chunk, so it is listed and its
                    // title is searchable.
                    chunks.push(Chunk {
                        ordinal: 0,
                        text: String::new(),
                        heading: Vec::new(),
                        page: None,
                    });
                }
                (ex.format.name().to_string(), ex.title, chunks)
            })
        };
        // Small documents extract in tens of microseconds: a hop to the blocking pool would
        // cost more than the work. Anything bigger (and every binary format) goes there, so
        // the async workers never block for long.
        let cheap = size <= INLINE_EXTRACT_BYTES && {
            let hints = Hints {
                content_type: doc.content_type.as_deref(),
                file_name: Some(&name_hint),
            };
            use extractors::Format::*;
            matches!(
                extractors::detect(&bytes_head, &hints),
                Text | Markdown | Html | Csv | Json
            )
        };
        let extracted = if cheap {
            Ok(work())
        } else {
            tokio::task::spawn_blocking(work).await
        };
        match extracted {
            Err(join) => fail(
                "extract",
                "corrupt",
                format!("extraction task failed: {join}"),
            ),
            Ok(Err(e)) => fail("extract", e.kind.as_str(), e.message),
            Ok(Ok((format, title, chunks))) => {
                let title = title
                    .or_else(|| doc.title.clone())
                    .unwrap_or_else(|| doc.id.to_string());
                let entry = ManifestEntry {
                    version: doc.version.clone(),
                    acl_hash: acl_h,
                    content_hash,
                    pipeline: self.pipeline.clone(),
                    chunks: chunks.len() as u32,
                    seen: self.generation,
                };
                Op::Indexed {
                    is_new: prev.is_none(),
                    doc,
                    format,
                    title,
                    chunks,
                    entry,
                    bytes: size,
                }
            }
        }
    }
}

/// What rewriting a document's ACL came to.
enum AclUpdate {
    Rewritten,
    /// The index already had this ACL (its effective ACL did not change).
    Same,
    /// The index had no chunks for it: recorded as failed, fetched again next run.
    Missing,
}

/// The writer thread's state: the only place that touches the index writer and the store.
struct Writer {
    source: String,
    mode: RunMode,
    generation: u64,
    sink: TantivyWriter,
    store: Arc<dyn StateStore>,
    report: RunReport,
    progress: Arc<Progress>,
    state: SourceState,
    checkpoint: SourceCheckpoint,
    batch: StoreBatch,
    index_dirty: bool,
    pending: usize,
    pending_bytes: usize,
    last_commit: Instant,
    policy: CommitPolicy,
    listing_complete: bool,
    listing_failed: bool,
    allow_mass_delete: bool,
    mass_delete_ratio: f64,
    /// Unchanged documents this listing saw (see `crate::seen`); `None` when a resumed
    /// listing lost its log, which forbids a sweep.
    seen_log: Option<SeenLog>,
    /// Distinct documents this listing saw that are (still) in the manifest.
    present: u64,
    /// `present` as of the last checkpoint marker, persisted with that checkpoint.
    present_at_checkpoint: u64,
    /// New documents written since the last flush, so that a feed repeating one within a
    /// commit window replaces instead of duplicating it. Bounded by the commit policy.
    fresh: std::collections::HashSet<String>,
    /// The writer hit an index or store error: the index may be ahead of the manifest.
    writer_failed: bool,
}

impl Writer {
    fn put(&mut self, id: &DocumentId, entry: ManifestEntry) {
        self.batch
            .put
            .push((self.source.clone(), id.as_str().to_string(), entry));
    }

    fn handle(&mut self, op: Op) -> Result<()> {
        let mut is_doc = true;
        match op {
            Op::Unchanged { id } => {
                // No manifest write: the seen log records it (a sequential append).
                if let Some(log) = self.seen_log.as_mut() {
                    log.record(id.as_str())?;
                }
                self.present += 1;
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
                self.present += 1;
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
                        self.present += 1;
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
                self.report.counts.deleted += 1;
            }
            Op::Failed {
                id,
                stage,
                kind,
                message,
                keep,
                skipped,
            } => {
                if skipped {
                    self.report.skip_doc(id.as_str(), &kind, message);
                } else {
                    self.progress.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(source = %self.source, doc = %id, stage, kind, %message, "document failed");
                    self.report.fail_doc(id.as_str(), stage, &kind, message);
                }
                if let Some(entry) = keep {
                    self.put(&id, entry);
                    self.present += 1;
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
            Op::ListingError { message, .. } => {
                tracing::warn!(source = %self.source, %message, "listing error");
                self.listing_failed = true;
                self.report.errors.push(format!("listing: {message}"));
                is_doc = false;
            }
            Op::Noop => is_doc = false,
        }
        if is_doc {
            self.progress.done.fetch_add(1, Ordering::Relaxed);
            self.pending += 1;
        }
        if self.pending >= self.policy.docs
            || self.pending_bytes >= self.policy.bytes
            || self.last_commit.elapsed() >= self.policy.interval
        {
            self.flush()?;
        }
        Ok(())
    }

    /// Rewrites the ACL from stored chunks; if the index has none (it was lost or is
    /// behind), forgets the manifest row so the next run fetches the document again.
    /// Rewrites a document's ACL (if it changed) and records its new manifest entry.
    fn acl_only(&mut self, id: &DocumentId, acl: &Acl, entry: ManifestEntry) -> Result<()> {
        let counter = match self.update_acl(id, acl)? {
            AclUpdate::Rewritten => &mut self.report.counts.acl_updated,
            AclUpdate::Same => &mut self.report.counts.unchanged,
            AclUpdate::Missing => return Ok(()),
        };
        *counter += 1;
        self.put(id, entry);
        self.present += 1;
        Ok(())
    }

    fn update_acl(&mut self, id: &DocumentId, acl: &Acl) -> Result<AclUpdate> {
        match self.sink.update_acl(&self.source, id.as_str(), acl)? {
            Some(0) => Ok(AclUpdate::Same),
            Some(_) => {
                self.index_dirty = true;
                Ok(AclUpdate::Rewritten)
            }
            None => {
                self.batch
                    .remove
                    .push((self.source.clone(), id.as_str().to_string()));
                self.report.fail_doc(
                    id.as_str(),
                    "index",
                    "missing_chunks",
                    "the index has no chunks for this document; it will be fetched again on the next run".into(),
                );
                Ok(AclUpdate::Missing)
            }
        }
    }

    /// Commits the index, then writes the manifest rows and checkpoint that describe it.
    fn flush(&mut self) -> Result<()> {
        if self.index_dirty {
            self.sink.commit()?;
            self.index_dirty = false;
        }
        // The seen log must be durable before the checkpoint that covers its entries.
        if let Some(log) = self.seen_log.as_mut() {
            log.sync()?;
        }
        match self.state.listing.as_mut() {
            Some(listing) => {
                listing.checkpoint = self.checkpoint.clone();
                listing.present = self.present_at_checkpoint;
            }
            None => self.state.checkpoint = Some(self.checkpoint.clone()),
        }
        let mut batch = std::mem::take(&mut self.batch);
        batch.source_state = Some((self.source.clone(), self.state.clone()));
        self.store.apply(batch)?;
        // The window's indexing buffers were freed by the commit: return them to the OS now,
        // so the next window starts from fresh pages instead of a second set (ADR 0008).
        crate::allocator::release_freed();
        self.fresh.clear();
        self.pending = 0;
        self.pending_bytes = 0;
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Deletes what a complete listing did not see, unless that is a mass delete.
    fn sweep(&mut self) -> Result<bool> {
        let Some(log) = self.seen_log.as_mut() else {
            self.report.errors.push(
                "the seen log of this resumed listing is missing, so nothing was deleted; \
                 the next run lists again and deletes what is gone"
                    .into(),
            );
            return Ok(false);
        };
        let total = self.store.manifest_count(&self.source)?;
        if total == self.present {
            return Ok(true); // everything indexed was seen: nothing to delete
        }
        // Some documents were not seen: turn the log into `seen` marks, then sweep.
        let mut batch = StoreBatch::default();
        let store = Arc::clone(&self.store);
        let (source, generation) = (self.source.clone(), self.generation);
        log.replay(|id| {
            if let Some(mut entry) = store.manifest_get(&source, &id)?
                && entry.seen != generation
            {
                entry.seen = generation;
                batch.put.push((source.clone(), id, entry));
                if batch.put.len() >= 1_000 {
                    store.apply(std::mem::take(&mut batch))?;
                }
            }
            Ok(())
        })?;
        store.apply(batch)?;

        let mut total = 0u64;
        let mut doomed = 0u64;
        for row in self.store.manifest_iter(&self.source) {
            let (_, entry) = row?;
            total += 1;
            if entry.seen != self.generation {
                doomed += 1;
            }
        }
        if doomed == 0 {
            return Ok(true);
        }
        if !self.allow_mass_delete && doomed as f64 > self.mass_delete_ratio * total as f64 {
            self.report.errors.push(format!(
                "mass-delete guard: the listing did not see {doomed} of {total} indexed documents \
                 ({:.0}%, over the limit of {:.0}%); nothing was deleted. If they are really gone, \
                 run again with --allow-mass-delete",
                doomed as f64 * 100.0 / total as f64,
                self.mass_delete_ratio * 100.0
            ));
            return Ok(false);
        }
        let store = Arc::clone(&self.store);
        let mut rows = store.manifest_iter(&self.source);
        loop {
            let mut ids = Vec::new();
            for row in rows.by_ref() {
                let (id, entry) = row?;
                if entry.seen != self.generation {
                    ids.push(id);
                    if ids.len() >= 1_000 {
                        break;
                    }
                }
            }
            if ids.is_empty() {
                break;
            }
            for id in &ids {
                self.sink.delete(&self.source, id)?;
            }
            self.sink.commit()?;
            self.report.counts.deleted += ids.len() as u64;
            self.store.apply(StoreBatch {
                put: vec![],
                remove: ids
                    .into_iter()
                    .map(|id| (self.source.clone(), id))
                    .collect(),
                source_state: None,
            })?;
        }
        Ok(true)
    }

    /// Applies every op until the channel closes, then commits what is pending.
    fn drain(mut self, mut rx: mpsc::Receiver<Vec<Op>>) -> (Self, Option<EngineError>) {
        let mut result = Ok(());
        'recv: while let Some(ops) = rx.blocking_recv() {
            for op in ops {
                if let Err(e) = self.handle(op) {
                    result = Err(e);
                    break 'recv;
                }
            }
        }
        // Close the channel so the planner stops if we stopped early.
        drop(rx);
        if result.is_ok() {
            result = self.flush();
        }
        (self, result.err())
    }

    /// Sweeps if the listing completed cleanly, settles the source state and the run's
    /// final state.
    fn finish(mut self, error: Option<EngineError>) -> RunReport {
        let mut failed = false;
        self.writer_failed = error.is_some();
        if let Some(e) = error {
            self.report.errors.push(e.to_string());
            failed = true;
        } else if self.listing_failed {
            self.report.errors.push(
                "the listing was incomplete, so no document was deleted; the next run lists again"
                    .into(),
            );
            failed = true;
        } else if self.listing_complete {
            // A refused or impossible sweep still settles the listing: the next run lists
            // again from the new checkpoint. Only an error leaves it to be resumed.
            let settled = match self.sweep() {
                Ok(swept) => {
                    failed = !swept;
                    true
                }
                Err(e) => {
                    self.report.errors.push(format!("sweep: {e}"));
                    failed = true;
                    false
                }
            };
            if settled {
                if let Some(log) = self.seen_log.take()
                    && let Err(e) = log.remove()
                {
                    tracing::warn!(error = %e, "could not remove the seen log");
                }
                self.state.listing = None;
                self.state.checkpoint = Some(self.checkpoint.clone());
                if let Err(e) = self.store.apply(StoreBatch {
                    source_state: Some((self.source.clone(), self.state.clone())),
                    ..StoreBatch::default()
                }) {
                    self.report.errors.push(e.to_string());
                    failed = true;
                }
            }
        } else if self.mode != RunMode::Incremental {
            self.report
                .errors
                .push("the listing ended without completing; nothing was deleted".into());
            failed = true;
        }
        if !self.writer_failed {
            // Every index write of this run is now described by the manifest.
            self.state.running = false;
            if let Err(e) = self.store.apply(StoreBatch {
                source_state: Some((self.source.clone(), self.state.clone())),
                ..StoreBatch::default()
            }) {
                self.report.errors.push(e.to_string());
                failed = true;
            }
        }
        self.report.state = if failed {
            RunState::Failed
        } else if self.report.counts.failed > 0 || self.report.counts.skipped > 0 {
            RunState::Partial
        } else {
            RunState::Succeeded
        };
        self.report.finished_at = Some(OffsetDateTime::now_utc());
        self.report
    }
}

/// After a run died, removes documents it committed to the index but never recorded in the
/// manifest: they may have been deleted at the source since, and no later sweep would
/// find them (sweeps walk the manifest).
fn remove_unrecorded(engine: &Engine, sink: &mut TantivyWriter, source: &str) -> Result<()> {
    let store = &engine.store;
    let unknown = engine.index.unknown_documents(source, |id| {
        store.manifest_get(source, id).map(|e| e.is_some())
    })?;
    if unknown.is_empty() {
        return Ok(());
    }
    for id in &unknown {
        sink.delete(source, id)?;
    }
    sink.commit()?;
    tracing::warn!(
        source,
        count = unknown.len(),
        "removed documents an interrupted run indexed but never recorded; the listing adds back those that still exist"
    );
    Ok(())
}

fn valid_source_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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
    let store = Arc::clone(&engine.store);
    let sink = engine.index.writer().map_err(|e| match e {
        EngineError::Index(m) if m.contains("LockBusy") || m.contains("lock") => {
            EngineError::Busy(engine.dir.clone())
        }
        other => other,
    })?;
    let run_id = store.next_id()?;
    let mut state = store.source_state(&source.id)?;
    let mut sink = sink;
    if state.running {
        remove_unrecorded(engine, &mut sink, &source.id)?;
    }
    state.running = true;
    let (mode, generation, checkpoint) = if options.full {
        (RunMode::Full, run_id, SourceCheckpoint::default())
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
    if mode == RunMode::Incremental {
        store.apply(StoreBatch {
            source_state: Some((source.id.clone(), state.clone())),
            ..StoreBatch::default()
        })?;
    } else {
        state.listing = Some(ListingState {
            generation,
            mode,
            checkpoint: checkpoint.clone(),
            present: match (&state.listing, mode) {
                (Some(listing), RunMode::FullResumed) => listing.present,
                _ => 0,
            },
        });
        store.apply(StoreBatch {
            source_state: Some((source.id.clone(), state.clone())),
            ..StoreBatch::default()
        })?;
    }
    let seen_dir = engine.dir.join("seen");
    let seen_log = match mode {
        RunMode::FullResumed => SeenLog::resume(&seen_dir, &source.id, generation)?,
        RunMode::Full | RunMode::Incremental => {
            Some(SeenLog::create(&seen_dir, &source.id, generation)?)
        }
    };
    let present = match (&state.listing, mode) {
        (Some(listing), RunMode::FullResumed) => listing.present,
        _ => 0,
    };
    let report = RunReport::new(run_id, &source.id, mode);
    store.put_run(&report)?;
    tracing::info!(source = %source.id, run = run_id, ?mode, "sync started");

    let pipeline = options.pipeline_version();
    let writer = Writer {
        source: source.id.clone(),
        mode,
        generation,
        sink,
        store: Arc::clone(&store),
        report,
        progress: Arc::clone(&progress),
        state,
        checkpoint: checkpoint.clone(),
        batch: StoreBatch::default(),
        index_dirty: false,
        pending: 0,
        pending_bytes: 0,
        last_commit: Instant::now(),
        policy: options.commit,
        listing_complete: false,
        listing_failed: false,
        allow_mass_delete: options.allow_mass_delete,
        mass_delete_ratio: options.mass_delete_ratio,
        seen_log,
        present,
        present_at_checkpoint: present,
        fresh: std::collections::HashSet::new(),
        writer_failed: false,
    };
    // Ops travel in groups of whatever is ready (at most 128), so the writer thread is woken
    // once per group rather than once per document. Two groups in flight keep the writer
    // fed (the planner refills them while it works); sixteen held ~4 MB of chunks in memory
    // while the writer committed, the 50k-document sync's peak, for no gain in throughput.
    let (tx, rx) = mpsc::channel::<Vec<Op>>(2);
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
        RunMode::Full => connector.full(&cx, None),
        RunMode::FullResumed => connector.full(&cx, Some(&checkpoint)),
        RunMode::Incremental => connector.incremental(&cx, &checkpoint),
    };
    let planner = Planner {
        source: &source.id,
        store: &*store,
        generation,
        pipeline: pipeline.clone(),
        last_acl: std::sync::Mutex::new(None),
    };
    let fetcher = Fetcher {
        connector,
        cx: &cx,
        registry: Arc::clone(&engine.registry),
        options,
        pipeline,
        generation,
    };
    let mut planner_error = None;
    {
        let planner = &planner;
        let fetcher = &fetcher;
        let progress = &progress;
        let mut ops = stream
            .map(|item| {
                if matches!(item, Ok(Change::Upsert(_))) {
                    progress.scanned.fetch_add(1, Ordering::Relaxed);
                }
                let plan = planner.plan(item);
                async move {
                    match plan? {
                        Plan::Ready(op) => Ok(op),
                        Plan::Fetch { doc, prev } => Ok(fetcher.process(doc, prev).await),
                        Plan::AclOnly { doc, entry, prev } => {
                            Ok(fetcher.acl_only(doc, entry, prev).await)
                        }
                    }
                }
            })
            .buffered(options.concurrency.max(1))
            .ready_chunks(128);
        'stream: while let Some(group) = ops.next().await {
            let mut batch = Vec::with_capacity(group.len());
            let mut stop = false;
            for op in group {
                match op {
                    Ok(op) => {
                        let fatal = matches!(&op, Op::ListingError { fatal: true, .. });
                        batch.push(op);
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
    let (writer, writer_error) = drain
        .await
        .map_err(|e| EngineError::Index(format!("index writer thread failed: {e}")))?;
    let error = writer_error.or(planner_error);
    let mut report = tokio::task::spawn_blocking(move || writer.finish(error))
        .await
        .map_err(|e| EngineError::Index(format!("index writer thread failed: {e}")))?;
    report.counts.scanned = progress.scanned.load(Ordering::Relaxed);
    store.put_run(&report)?;
    tracing::info!(source = %source.id, run = run_id, state = report.state.as_str(), counts = ?report.counts, "sync finished");
    Ok(report)
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
