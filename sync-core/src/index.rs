//! The tantivy index: one tantivy document per chunk, upserts by document key, and search
//! filtered by ACL terms.
//!
//! [`DocumentIndex`] is the seam the engine reaches its index through (writes, the crash
//! reconciliation, searches); [`IndexSink`] is its write half. [`TantivyIndex`] is the on-disk
//! implementation, [`crate::MemoryIndex`] the in-memory twin for tests.
//!
//! tantivy allows one `IndexWriter` per index, so [`TantivyIndex::writer`] shares one among
//! every run of the process: each run gets its own [`TantivyWriter`] handle, which hands its
//! operations over in whole groups (a document's delete and adds are never split by another
//! run's commit) and commits the shared writer. Another run's commit may make this run's
//! handed-over documents durable before this run records them in the manifest: the index is
//! then *ahead* of the manifest, which a crash already allows (the next run of a source that
//! died removes what its manifest does not know).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use connector_sdk::Acl;
use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, OwnedValue, STORED, STRING, Schema, TEXT, Value,
};
use tantivy::{DocAddress, Index, IndexReader, ReloadPolicy, TantivyDocument, Term};
use time::OffsetDateTime;

use crate::chunker::Chunk;
use crate::{EngineError, Result};

mod acl_collector;
mod acl_filter;
mod migration;
mod search;
mod snippet;
mod writer;

pub use migration::INDEX_FORMAT;
pub use search::SearchOptions;
use writer::SharedWriter;
pub use writer::TantivyWriter;

#[derive(Debug, Clone, Copy)]
struct Fields {
    doc_key: Field,
    chunk_id: Field,
    chunk_ord: Field,
    doc_id: Field,
    source: Field,
    title: Field,
    text: Field,
    uri: Field,
    content_type: Field,
    modified: Field,
    page: Field,
    section: Field,
    acl_allow: Field,
    acl_deny: Field,
    metadata: Field,
    version: Field,
}

/// Only fields something queries are indexed: `doc_key` (upserts, deletes), `chunk_ord` (one
/// hit per document), `source` and `content_type` (filters), `modified` (ranges), the ACL
/// terms and the text fields. Ids, versions and URIs are stored only.
fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        doc_key: b.add_text_field("doc_key", STRING | STORED),
        chunk_id: b.add_text_field("chunk_id", STORED),
        chunk_ord: b.add_u64_field("chunk_ord", INDEXED | STORED),
        doc_id: b.add_text_field("doc_id", STORED),
        source: b.add_text_field("source", STRING | STORED),
        title: b.add_text_field("title", TEXT | STORED),
        text: b.add_text_field("text", TEXT | STORED),
        uri: b.add_text_field("uri", STORED),
        content_type: b.add_text_field("content_type", STRING | STORED),
        modified: b.add_i64_field("modified", INDEXED | STORED | FAST),
        page: b.add_u64_field("page", STORED),
        section: b.add_text_field("section", TEXT | STORED),
        acl_allow: b.add_text_field("acl_allow", STRING | STORED),
        acl_deny: b.add_text_field("acl_deny", STRING | STORED),
        metadata: b.add_json_field("metadata", STORED),
        version: b.add_text_field("version", STORED),
    };
    (b.build(), fields)
}

/// Opens the index in `dir`, refusing one of another schema.
fn open_existing(dir: &Path, schema: &Schema) -> Result<Index> {
    let index = Index::open_in_dir(dir).map_err(index_err)?;
    // Comparing the schema itself (not a marker file) cannot be left half-written by a crash
    // during creation, and catches any drift.
    if index.schema() != *schema {
        return Err(EngineError::Index(format!(
            "the index at {} was written by an incompatible version of tributary \
             (schema differs); delete the folder and sync again",
            dir.display()
        )));
    }
    Ok(index)
}

/// The unique key of a document across sources (source ids never contain `:`).
pub fn doc_key(source: &str, doc_id: &str) -> String {
    format!("{source}:{doc_id}")
}

/// Everything about a document that every one of its chunks carries.
#[derive(Debug, Clone)]
pub struct DocFields<'a> {
    /// The source id.
    pub source: &'a str,
    /// The namespace of the source's groups (`group:<namespace>:<id>`).
    pub namespace: &'a str,
    /// The document id within the source.
    pub doc_id: &'a str,
    /// Title shown in results.
    pub title: &'a str,
    /// Link back to the source.
    pub uri: Option<&'a str>,
    /// Detected format or the source's content type.
    pub content_type: &'a str,
    /// Last modification time.
    pub modified: Option<OffsetDateTime>,
    /// Who may read it.
    pub acl: &'a Acl,
    /// Source and format metadata.
    pub metadata: &'a BTreeMap<String, serde_json::Value>,
    /// The source's version string.
    pub version: &'a str,
}

/// Where chunks go. Every write is an upsert by document key, so replaying a batch after a
/// crash is harmless; nothing is visible to searches before `commit`.
pub trait IndexSink: Send {
    /// Writes all chunks of a document. With `replace`, its previous chunks are removed
    /// first; without, the caller guarantees the index has none (a delete per new document
    /// is most of tantivy's work on a first sync).
    fn upsert(&mut self, doc: &DocFields<'_>, chunks: &[Chunk], replace: bool) -> Result<()>;
    /// Removes a document.
    fn delete(&mut self, source: &str, doc_id: &str) -> Result<()>;
    /// Rewrites a document's ACL (its groups in `namespace`) from its stored chunks;
    /// `Ok(None)` if it has no chunks, `Ok(Some(0))` if they already carry exactly this ACL
    /// (nothing is written).
    fn update_acl(
        &mut self,
        source: &str,
        namespace: &str,
        doc_id: &str,
        acl: &Acl,
    ) -> Result<Option<u32>>;
    /// Makes all writes so far durable and visible.
    fn commit(&mut self) -> Result<()>;
}

/// Everything the engine needs of an index: a writer for a run, the crash reconciliation,
/// and the searches that the CLI and embedders make. Implementations must be safe to share
/// between runs of several sources at once: [`DocumentIndex::writer`] may be called again
/// while earlier writers live, and each writer's `commit` makes at least its own writes
/// durable.
pub trait DocumentIndex: Send + Sync + std::fmt::Debug {
    /// A writer for one run.
    fn writer(&self) -> Result<Box<dyn IndexSink>>;
    /// Full-text search over chunks the principals (index terms, `Identities::principals`)
    /// may read; no principals, no hits.
    fn search(&self, query: &str, principals: &[String], limit: usize) -> Result<Vec<SearchHit>>;
    /// Every document the principals may read, sorted.
    fn visible_documents(&self, principals: &[String]) -> Result<Vec<VisibleDoc>>;
    /// Every stored chunk, sorted (tests, audits).
    fn all_chunks(&self) -> Result<Vec<StoredChunk>>;
    /// Ids of `source`'s indexed documents for which `known` says no.
    fn unknown_documents(
        &self,
        source: &str,
        known: &mut dyn FnMut(&str) -> Result<bool>,
    ) -> Result<Vec<String>>;
    /// Number of documents (not chunks) per source.
    fn document_counts(&self) -> Result<BTreeMap<String, u64>>;
    /// A document's allow and deny terms as indexed; `None` when the index does not hold it.
    fn document_acl(&self, source: &str, doc_id: &str) -> Result<Option<StoredAcl>>;
}

/// The on-disk tantivy index.
#[derive(Clone)]
pub struct TantivyIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    /// The writer every run of this process shares, while one lives (see the module docs).
    shared: Arc<Mutex<Weak<SharedWriter>>>,
    /// When the reader was last found current (`search.rs`).
    fresh: Arc<search::Freshness>,
    /// The ACL filter's bitsets, kept between searches (`acl_filter.rs`).
    acl_cache: Arc<acl_filter::AclCache>,
}

impl std::fmt::Debug for TantivyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TantivyIndex").finish_non_exhaustive()
    }
}

fn index_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Index(e.to_string())
}

/// One search result: a chunk.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchHit {
    /// The source id.
    pub source: String,
    /// The document id.
    pub doc_id: String,
    /// `<doc_id>#<ordinal>`.
    pub chunk_id: String,
    /// The document title.
    pub title: String,
    /// Link back to the source, if any.
    pub uri: Option<String>,
    /// BM25 score.
    pub score: f32,
    /// A short extract around the matched words.
    pub snippet: String,
    /// Page, slide or sheet, for citations.
    pub page: Option<u64>,
    /// Heading path, for citations.
    pub section: Option<String>,
}

/// One document a user may see (`search --all`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct VisibleDoc {
    /// The source id.
    pub source: String,
    /// The document id.
    pub doc_id: String,
    /// The document title.
    pub title: String,
    /// Link back to the source.
    pub uri: Option<String>,
}

/// A document's ACL as the index holds it (`acl explain`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredAcl {
    /// The document title.
    pub title: String,
    /// Allow terms, as indexed.
    pub allow: Vec<String>,
    /// Deny terms, as indexed.
    pub deny: Vec<String>,
}

/// One chunk as stored, for consistency checks and `repair`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoredChunk {
    /// The source id.
    pub source: String,
    /// The document id.
    pub doc_id: String,
    /// The chunk id.
    pub chunk_id: String,
    /// The document version.
    pub version: String,
    /// Allow terms.
    pub acl_allow: Vec<String>,
    /// Deny terms.
    pub acl_deny: Vec<String>,
    /// The chunk text.
    pub text: String,
    /// The document's metadata (source attributes, format) as compact JSON.
    pub metadata: String,
}

fn first_str(doc: &TantivyDocument, field: Field) -> Option<String> {
    doc.get_first(field)
        .and_then(|v| v.as_str().map(str::to_string))
}

fn all_str(doc: &TantivyDocument, field: Field) -> Vec<String> {
    doc.get_all(field)
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

impl TantivyIndex {
    /// Opens the index in `dir`, creating it if empty.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| EngineError::Index(format!("create {}: {e}", dir.display())))?;
        let (schema, fields) = build_schema();
        let index = if dir.join("meta.json").exists() {
            open_existing(dir, &schema)?
        } else {
            // Its first commit records the format (every commit does); until then it holds
            // nothing a migration would rewrite. (An empty first commit to record it cost a
            // second writer's memory and a commit's fsyncs on every new index.)
            Index::create_in_dir(dir, schema).map_err(index_err)?
        };
        migration::migrate(&index, &fields, dir)?;
        TantivyIndex::with_reader(index, fields, dir)
    }

    /// Opens the index in `dir` to search it, also while another process writes it: nothing
    /// is created, migrated or locked, so a look can never keep a sync from starting (the
    /// sync that opens an index of an older format migrates it). `None` before the first
    /// sync created it.
    pub fn open_read_only(dir: &Path) -> Result<Option<Self>> {
        if !dir.join("meta.json").exists() {
            return Ok(None);
        }
        let (schema, fields) = build_schema();
        let index = open_existing(dir, &schema)?;
        TantivyIndex::with_reader(index, fields, dir).map(Some)
    }

    fn with_reader(index: Index, fields: Fields, dir: &Path) -> Result<Self> {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(index_err)?;
        Ok(TantivyIndex {
            index,
            reader,
            fields,
            shared: Arc::default(),
            fresh: Arc::new(search::Freshness::new(dir)),
            acl_cache: Arc::new(acl_filter::AclCache::new(acl_filter::DEFAULT_CACHE_BYTES)),
        })
    }

    /// Every stored chunk, sorted. Meant for tests, `repair` and small audits.
    pub fn all_chunks(&self) -> Result<Vec<StoredChunk>> {
        let searcher = self.searcher()?;
        let f = self.fields;
        let addrs: HashSet<DocAddress> = searcher
            .search(&AllQuery, &DocSetCollector)
            .map_err(index_err)?;
        let mut out = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let doc: TantivyDocument = searcher.doc(addr).map_err(index_err)?;
            out.push(StoredChunk {
                source: first_str(&doc, f.source).unwrap_or_default(),
                doc_id: first_str(&doc, f.doc_id).unwrap_or_default(),
                chunk_id: first_str(&doc, f.chunk_id).unwrap_or_default(),
                version: first_str(&doc, f.version).unwrap_or_default(),
                acl_allow: all_str(&doc, f.acl_allow),
                acl_deny: all_str(&doc, f.acl_deny),
                text: first_str(&doc, f.text).unwrap_or_default(),
                metadata: doc
                    .get_first(f.metadata)
                    .map(|v| serde_json::to_string(&OwnedValue::from(v)).unwrap_or_default())
                    .unwrap_or_default(),
            });
        }
        out.sort();
        Ok(out)
    }

    /// Ids of `source`'s documents in the index for which `known` says no: documents an
    /// interrupted run indexed but never recorded in the manifest. Only called after a
    /// crash; holds one address per document of the source in memory meanwhile.
    pub fn unknown_documents(
        &self,
        source: &str,
        mut known: impl FnMut(&str) -> Result<bool>,
    ) -> Result<Vec<String>> {
        let searcher = self.searcher()?;
        let f = self.fields;
        let query = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.source, source),
                    IndexRecordOption::Basic,
                )) as Box<dyn Query>,
            ),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_u64(f.chunk_ord, 0),
                    IndexRecordOption::Basic,
                )),
            ),
        ]);
        let addrs = searcher
            .search(&query, &DocSetCollector)
            .map_err(index_err)?;
        let mut unknown = Vec::new();
        for addr in addrs {
            let doc: TantivyDocument = searcher.doc(addr).map_err(index_err)?;
            let id = first_str(&doc, f.doc_id).unwrap_or_default();
            if !known(&id)? {
                unknown.push(id);
            }
        }
        Ok(unknown)
    }

    /// A document's allow and deny terms as indexed (from its first chunk: every chunk of a
    /// document carries the same ACL); `None` when the index does not hold it.
    pub fn document_acl(&self, source: &str, doc_id: &str) -> Result<Option<StoredAcl>> {
        let searcher = self.searcher()?;
        let f = self.fields;
        let query = TermQuery::new(
            Term::from_field_text(f.doc_key, &doc_key(source, doc_id)),
            IndexRecordOption::Basic,
        );
        let top = searcher
            .search(&query, &TopDocs::with_limit(1).order_by_score())
            .map_err(index_err)?;
        let Some((_, addr)) = top.first() else {
            return Ok(None);
        };
        let doc: TantivyDocument = searcher.doc(*addr).map_err(index_err)?;
        Ok(Some(StoredAcl {
            title: first_str(&doc, f.title).unwrap_or_default(),
            allow: all_str(&doc, f.acl_allow),
            deny: all_str(&doc, f.acl_deny),
        }))
    }

    /// Number of documents (not chunks) per source.
    pub fn document_counts(&self) -> Result<BTreeMap<String, u64>> {
        let searcher = self.searcher()?;
        let f = self.fields;
        let query = TermQuery::new(
            Term::from_field_u64(f.chunk_ord, 0),
            IndexRecordOption::Basic,
        );
        let addrs = searcher
            .search(&query, &DocSetCollector)
            .map_err(index_err)?;
        let mut counts = BTreeMap::new();
        for addr in addrs {
            let doc: TantivyDocument = searcher.doc(addr).map_err(index_err)?;
            *counts
                .entry(first_str(&doc, f.source).unwrap_or_default())
                .or_default() += 1;
        }
        Ok(counts)
    }
}

impl DocumentIndex for TantivyIndex {
    fn writer(&self) -> Result<Box<dyn IndexSink>> {
        Ok(Box::new(TantivyIndex::writer(self)?))
    }

    fn search(&self, query: &str, principals: &[String], limit: usize) -> Result<Vec<SearchHit>> {
        TantivyIndex::search(self, query, principals, limit)
    }

    fn visible_documents(&self, principals: &[String]) -> Result<Vec<VisibleDoc>> {
        TantivyIndex::visible_documents(self, principals)
    }

    fn all_chunks(&self) -> Result<Vec<StoredChunk>> {
        TantivyIndex::all_chunks(self)
    }

    fn unknown_documents(
        &self,
        source: &str,
        known: &mut dyn FnMut(&str) -> Result<bool>,
    ) -> Result<Vec<String>> {
        TantivyIndex::unknown_documents(self, source, known)
    }

    fn document_counts(&self) -> Result<BTreeMap<String, u64>> {
        TantivyIndex::document_counts(self)
    }

    fn document_acl(&self, source: &str, doc_id: &str) -> Result<Option<StoredAcl>> {
        TantivyIndex::document_acl(self, source, doc_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_with_another_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut b = Schema::builder();
        b.add_text_field("something_else", TEXT);
        Index::create_in_dir(dir.path(), b.build()).expect("foreign index");
        let err = TantivyIndex::open(dir.path()).expect_err("refused");
        assert!(err.to_string().contains("incompatible"), "{err}");
        let fresh = tempfile::tempdir().expect("tempdir");
        TantivyIndex::open(fresh.path()).expect("created");
        TantivyIndex::open(fresh.path()).expect("reopened");
    }

    #[test]
    fn merges_wait_for_eight_commits_whatever_the_threads() {
        use writer::{indexing_threads, merge_policy};
        assert_eq!(
            [1, 2, 3, 4, 8, 16].map(indexing_threads),
            [1, 2, 3, 4, 4, 4]
        );
        // LogMergePolicy keeps its settings private; its Debug output shows them.
        let shown = format!("{:?}", merge_policy(2));
        assert!(shown.contains("min_num_segments: 16"), "{shown}");
    }
}
