//! The index's writing side: tantivy's one `IndexWriter` per index, shared by the runs of a
//! process ([`SharedWriter`]), one [`TantivyWriter`] handle per run, and the [`IndexSink`]
//! it implements (see the parent module's docs, and ADR 0014).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use connector_sdk::Acl;
use tantivy::collector::DocSetCollector;
use tantivy::indexer::{LogMergePolicy, UserOperation};
use tantivy::query::TermQuery;
use tantivy::schema::{IndexRecordOption, OwnedValue};
use tantivy::{IndexReader, IndexWriter, Searcher, TantivyDocument, Term};

use super::search::Freshness;
use super::{DocFields, Fields, IndexSink, TantivyIndex, all_str, doc_key, index_err, migration};
use crate::chunker::Chunk;
use crate::identities::acl_terms;
use crate::{EngineError, Result};

/// Memory the writer may use for its in-memory segments, whatever the corpus size.
const WRITER_MEMORY: usize = 96 * 1024 * 1024;

/// tantivy indexing threads for a machine with `cores`: one per core, at most four.
pub(super) fn indexing_threads(cores: usize) -> usize {
    cores.clamp(1, 4)
}

/// Segments of one size a level collects before tantivy merges them: eight commit windows'
/// worth. Every indexing thread writes a segment per commit, so with the default of eight
/// segments two threads merged every four commits (from 40k documents), and each merge left
/// its freed memory in the merge threads, raising the sync's peak (ADR 0008): 42 MB at 10k,
/// 53 MB at 50k, against 47 MB when the first merge waits for eight commits (80k). Searches
/// meanwhile read up to twice as many small segments, which costs little.
pub(super) fn merge_policy(threads: usize) -> LogMergePolicy {
    let mut policy = LogMergePolicy::default();
    policy.set_min_num_segments(8 * threads);
    policy
}

/// tantivy's one writer, shared by the [`TantivyWriter`] handles of concurrent runs: they
/// hand operations over and commit under one lock. (Handing over under a shared lock, so
/// that two runs call `IndexWriter::run` at once, lost documents: in 1 of 6 runs of the
/// concurrent test, a group of ACL rewrites ended with its deletes applied and its adds
/// gone. Handing over only queues operations for tantivy's own threads, so serialising it
/// costs nothing measurable.)
pub(super) struct SharedWriter {
    writer: Mutex<IndexWriter>,
    /// Commits made through any handle, so each knows when its reader is stale.
    commits: AtomicU64,
    /// The index's freshness, which commits after a search keep current (`search.rs`).
    fresh: Arc<Freshness>,
    /// The searcher a commit's reload replaced: dropped at the next reload or with the
    /// writer, so that freeing its old segments happens here, not in a search.
    retired: Mutex<Option<Searcher>>,
}

impl Drop for SharedWriter {
    fn drop(&mut self) {
        // Once tantivy's lock is released, another process may commit.
        self.fresh.withdraw();
    }
}

impl TantivyIndex {
    /// A writer handle for one run. Handles share the process's one tantivy writer, which
    /// is opened by the first and closed (its lock released) with the last; tantivy's lock
    /// makes a writer in another process fail.
    pub fn writer(&self) -> Result<TantivyWriter> {
        let mut slot = self
            .shared
            .lock()
            .map_err(|_| EngineError::Index("index writer registry poisoned".into()))?;
        let shared = match slot.upgrade() {
            Some(shared) => shared,
            None => {
                let threads = indexing_threads(
                    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
                );
                let writer = self
                    .index
                    .writer_with_num_threads(threads, WRITER_MEMORY)
                    .map_err(|e| EngineError::Index(format!("open index writer: {e}")))?;
                writer.set_merge_policy(Box::new(merge_policy(threads)));
                let shared = Arc::new(SharedWriter {
                    writer: Mutex::new(writer),
                    commits: AtomicU64::new(0),
                    fresh: Arc::clone(&self.fresh),
                    retired: Mutex::default(),
                });
                *slot = Arc::downgrade(&shared);
                shared
            }
        };
        Ok(TantivyWriter {
            shared: Some(shared),
            registry: Arc::clone(&self.shared),
            reader: self.reader.clone(),
            reloaded_at: None,
            fields: self.fields,
            pending: Vec::new(),
        })
    }
}

/// A copy of a stored chunk with other ACL terms: every stored field is copied (the text
/// too, so nothing is extracted again), the ACL fields replaced.
pub(super) fn with_acl(
    f: &Fields,
    old: &TantivyDocument,
    allow: &[String],
    deny: &[String],
) -> TantivyDocument {
    let mut new = TantivyDocument::new();
    for (field, value) in old.field_values() {
        if field != f.acl_allow && field != f.acl_deny {
            new.add_field_value(field, &OwnedValue::from(value));
        }
    }
    for t in allow {
        new.add_text(f.acl_allow, t);
    }
    for t in deny {
        new.add_text(f.acl_deny, t);
    }
    new
}

/// One run's handle on the shared index writer, used by one thread of the pipeline.
pub struct TantivyWriter {
    /// Always `Some` until dropped (see `Drop`).
    shared: Option<Arc<SharedWriter>>,
    registry: Arc<Mutex<Weak<SharedWriter>>>,
    reader: IndexReader,
    /// The shared commit count when `reader` last reloaded; `None` before the first reload.
    reloaded_at: Option<u64>,
    fields: Fields,
    /// Operations not yet handed to tantivy. Handing them over in groups (one `run` call)
    /// instead of one by one saves a thread wake-up per document; order is preserved.
    pending: Vec<UserOperation>,
}

/// Hand pending operations to tantivy once this many have accumulated.
const OPS_PER_RUN: usize = 512;

impl std::fmt::Debug for TantivyWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TantivyWriter").finish_non_exhaustive()
    }
}

impl Drop for TantivyWriter {
    fn drop(&mut self) {
        // Dropped under the registry's lock: when this is the last handle, tantivy's writer
        // closes (its threads joined, its lock released) before another run can ask for a
        // new one, which would otherwise find the lock still held.
        let _slot = self.registry.lock();
        drop(self.shared.take());
    }
}

fn writer_poisoned<T>(_: T) -> EngineError {
    EngineError::Index("index writer lock poisoned (a thread panicked while writing)".into())
}

impl TantivyWriter {
    fn shared(&self) -> &SharedWriter {
        self.shared.as_deref().expect("only taken in drop")
    }

    fn push(&mut self, op: UserOperation) -> Result<()> {
        self.pending.push(op);
        if self.pending.len() >= OPS_PER_RUN {
            self.hand_over()?;
        }
        Ok(())
    }

    fn hand_over(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            let ops = std::mem::take(&mut self.pending);
            let writer = self.shared().writer.lock().map_err(writer_poisoned)?;
            writer.run(ops).map_err(index_err)?;
        }
        Ok(())
    }

    fn key_term(&self, source: &str, doc_id: &str) -> Term {
        Term::from_field_text(self.fields.doc_key, &doc_key(source, doc_id))
    }
}

impl IndexSink for TantivyWriter {
    fn upsert(&mut self, doc: &DocFields<'_>, chunks: &[Chunk], replace: bool) -> Result<()> {
        let f = self.fields;
        let key = doc_key(doc.source, doc.doc_id);
        if replace {
            self.push(UserOperation::Delete(Term::from_field_text(
                f.doc_key, &key,
            )))?;
        }
        let (allow, deny) = acl_terms(doc.acl, doc.namespace);
        let metadata: BTreeMap<String, OwnedValue> = doc
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), OwnedValue::from(v.clone())))
            .collect();
        for chunk in chunks {
            let mut d = TantivyDocument::new();
            d.add_text(f.doc_key, &key);
            d.add_text(f.chunk_id, format!("{}#{}", doc.doc_id, chunk.ordinal));
            d.add_u64(f.chunk_ord, u64::from(chunk.ordinal));
            d.add_text(f.doc_id, doc.doc_id);
            d.add_text(f.source, doc.source);
            d.add_text(f.title, doc.title);
            d.add_text(f.text, &chunk.text);
            if let Some(uri) = doc.uri {
                d.add_text(f.uri, uri);
            }
            d.add_text(f.content_type, doc.content_type);
            if let Some(m) = doc.modified {
                d.add_i64(f.modified, m.unix_timestamp());
            }
            if let Some(page) = chunk.page {
                d.add_u64(f.page, u64::from(page));
            }
            d.add_text(f.section, chunk.heading.join(" > "));
            for t in &allow {
                d.add_text(f.acl_allow, t);
            }
            for t in &deny {
                d.add_text(f.acl_deny, t);
            }
            d.add_object(f.metadata, metadata.clone());
            d.add_text(f.version, doc.version);
            self.push(UserOperation::Add(d))?;
        }
        Ok(())
    }

    fn delete(&mut self, source: &str, doc_id: &str) -> Result<()> {
        let term = self.key_term(source, doc_id);
        self.push(UserOperation::Delete(term))
    }

    fn update_acl(
        &mut self,
        source: &str,
        namespace: &str,
        doc_id: &str,
        acl: &Acl,
    ) -> Result<Option<u32>> {
        let f = self.fields;
        let commits = self.shared().commits.load(Ordering::Acquire);
        if self.reloaded_at != Some(commits) {
            self.reader.reload().map_err(index_err)?;
            self.reloaded_at = Some(commits);
        }
        let searcher = self.reader.searcher();
        let term = self.key_term(source, doc_id);
        let query = TermQuery::new(term.clone(), IndexRecordOption::Basic);
        let addrs = searcher
            .search(&query, &DocSetCollector)
            .map_err(index_err)?;
        if addrs.is_empty() {
            return Ok(None);
        }
        let (allow, deny) = acl_terms(acl, namespace);
        let mut docs = Vec::with_capacity(addrs.len());
        let mut same = true;
        for addr in addrs {
            let old: TantivyDocument = searcher.doc(addr).map_err(index_err)?;
            same &= all_str(&old, f.acl_allow) == allow && all_str(&old, f.acl_deny) == deny;
            docs.push(with_acl(&f, &old, &allow, &deny));
        }
        if same {
            // The effective ACL did not change (a sidecar ACL overrides the prefix ACL
            // that did): nothing to rewrite.
            return Ok(Some(0));
        }
        self.push(UserOperation::Delete(term))?;
        let n = docs.len() as u32;
        for d in docs {
            self.push(UserOperation::Add(d))?;
        }
        Ok(Some(n))
    }

    fn commit(&mut self) -> Result<()> {
        self.hand_over()?;
        let shared = Arc::clone(self.shared.as_ref().expect("only taken in drop"));
        // Under the writer's lock no other commit can land until this one has reloaded.
        let mut writer = shared.writer.lock().map_err(writer_poisoned)?;
        let committing = shared.fresh.begin_commit();
        migration::commit(&mut writer)?;
        let commits = shared.commits.fetch_add(1, Ordering::Release) + 1;
        // The reader catches up here only for searches (the daemon's), and otherwise when
        // an ACL rewrite needs it: reloading opens every new segment (term dictionaries,
        // fast fields, store caches), memory a sync that only adds documents never uses.
        if committing.catch_up {
            let stamp = shared.fresh.stamp();
            let replaced = self.reader.searcher();
            self.reader.reload().map_err(index_err)?;
            self.reloaded_at = Some(commits);
            committing.caught_up(stamp);
            // The searcher it replaces drops here, on this thread.
            *shared.retired.lock().map_err(writer_poisoned)? = Some(replaced);
        }
        Ok(())
    }
}
