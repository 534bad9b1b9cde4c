//! [`MemoryIndex`]: a [`DocumentIndex`] that keeps its chunks in memory.
//!
//! It proves the seam — the engine writes, reconciles and searches only through the trait —
//! and lets tests check the pipeline's writes without tantivy. It keeps tantivy's contract
//! where the engine depends on it: writes are invisible until `commit`, `update_acl` reads
//! the committed chunks, a delete removes every chunk of a document, and the ACL filter is
//! the same (an allowed principal, no denied one, no principals no hits). Its search is
//! deliberately simple: a chunk matches when it holds any query word (as tantivy's default
//! `OR` parser), scored by how many times; snippets are the chunk's first 200 characters.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use connector_sdk::Acl;

use crate::chunker::Chunk;
use crate::identities::acl_terms;
use crate::index::{
    DocFields, DocumentIndex, IndexSink, SearchHit, StoredAcl, StoredChunk, VisibleDoc, doc_key,
};
use crate::{EngineError, Result};

/// One chunk as the in-memory index keeps it.
#[derive(Debug, Clone)]
struct MemChunk {
    stored: StoredChunk,
    ordinal: u32,
    title: String,
    uri: Option<String>,
    page: Option<u64>,
    section: String,
}

/// Committed documents by document key, each with its chunks in order.
type Documents = BTreeMap<String, Vec<MemChunk>>;

/// The in-memory index. Clones share the same documents.
#[derive(Debug, Clone, Default)]
pub struct MemoryIndex {
    committed: Arc<Mutex<Documents>>,
}

impl MemoryIndex {
    /// An empty index.
    pub fn new() -> Self {
        MemoryIndex::default()
    }

    fn documents(&self) -> Result<MutexGuard<'_, Documents>> {
        lock(&self.committed)
    }
}

fn lock(documents: &Mutex<Documents>) -> Result<MutexGuard<'_, Documents>> {
    documents
        .lock()
        .map_err(|_| EngineError::Index("memory index lock poisoned".into()))
}

fn visible(chunk: &StoredChunk, principals: &[String]) -> bool {
    chunk.acl_allow.iter().any(|t| principals.contains(t))
        && !chunk.acl_deny.iter().any(|t| principals.contains(t))
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl DocumentIndex for MemoryIndex {
    fn writer(&self) -> Result<Box<dyn IndexSink>> {
        Ok(Box::new(MemoryWriter {
            committed: Arc::clone(&self.committed),
            pending: Vec::new(),
        }))
    }

    fn search(&self, query: &str, principals: &[String], limit: usize) -> Result<Vec<SearchHit>> {
        let wanted: HashSet<String> = words(query).into_iter().collect();
        let documents = self.documents()?;
        let mut hits: Vec<SearchHit> = documents
            .values()
            .flatten()
            .filter(|c| visible(&c.stored, principals))
            .filter_map(|c| {
                let text = format!("{} {} {}", c.title, c.stored.text, c.section);
                let score = words(&text).iter().filter(|w| wanted.contains(*w)).count();
                (score > 0).then(|| SearchHit {
                    source: c.stored.source.clone(),
                    doc_id: c.stored.doc_id.clone(),
                    chunk_id: c.stored.chunk_id.clone(),
                    title: c.title.clone(),
                    uri: c.uri.clone(),
                    score: score as f32,
                    snippet: c.stored.text.chars().take(200).collect(),
                    page: c.page,
                    section: Some(c.section.clone()).filter(|s| !s.is_empty()),
                })
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(limit);
        Ok(hits)
    }

    fn visible_documents(&self, principals: &[String]) -> Result<Vec<VisibleDoc>> {
        let documents = self.documents()?;
        let mut docs: Vec<VisibleDoc> = documents
            .values()
            .filter_map(|chunks| chunks.iter().find(|c| c.ordinal == 0))
            .filter(|c| visible(&c.stored, principals))
            .map(|c| VisibleDoc {
                source: c.stored.source.clone(),
                doc_id: c.stored.doc_id.clone(),
                title: c.title.clone(),
                uri: c.uri.clone(),
            })
            .collect();
        docs.sort();
        Ok(docs)
    }

    fn all_chunks(&self) -> Result<Vec<StoredChunk>> {
        let mut out: Vec<StoredChunk> = self
            .documents()?
            .values()
            .flatten()
            .map(|c| c.stored.clone())
            .collect();
        out.sort();
        Ok(out)
    }

    fn unknown_documents(
        &self,
        source: &str,
        known: &mut dyn FnMut(&str) -> Result<bool>,
    ) -> Result<Vec<String>> {
        let ids: Vec<String> = self
            .documents()?
            .values()
            .filter_map(|chunks| chunks.first())
            .filter(|c| c.stored.source == source)
            .map(|c| c.stored.doc_id.clone())
            .collect();
        let mut unknown = Vec::new();
        for id in ids {
            if !known(&id)? {
                unknown.push(id);
            }
        }
        Ok(unknown)
    }

    fn document_acl(&self, source: &str, doc_id: &str) -> Result<Option<StoredAcl>> {
        let documents = self.documents()?;
        Ok(documents
            .get(&doc_key(source, doc_id))
            .and_then(|chunks| chunks.first())
            .map(|c| StoredAcl {
                title: c.title.clone(),
                allow: c.stored.acl_allow.clone(),
                deny: c.stored.acl_deny.clone(),
            }))
    }

    fn document_counts(&self) -> Result<BTreeMap<String, u64>> {
        let mut counts = BTreeMap::new();
        for chunks in self.documents()?.values() {
            if let Some(c) = chunks.first() {
                *counts.entry(c.stored.source.clone()).or_default() += 1;
            }
        }
        Ok(counts)
    }
}

/// A write waiting for `commit`.
enum MemOp {
    Delete(String),
    Add(String, Box<MemChunk>),
}

/// One run's writer: operations wait in `pending` until `commit` applies them in order.
struct MemoryWriter {
    committed: Arc<Mutex<Documents>>,
    pending: Vec<MemOp>,
}

impl IndexSink for MemoryWriter {
    fn upsert(&mut self, doc: &DocFields<'_>, chunks: &[Chunk], replace: bool) -> Result<()> {
        let key = doc_key(doc.source, doc.doc_id);
        if replace {
            self.pending.push(MemOp::Delete(key.clone()));
        }
        let metadata = serde_json::to_string(doc.metadata)
            .map_err(|e| EngineError::Index(format!("metadata: {e}")))?;
        let (allow, deny) = acl_terms(doc.acl, doc.namespace);
        for chunk in chunks {
            let stored = StoredChunk {
                source: doc.source.to_string(),
                doc_id: doc.doc_id.to_string(),
                chunk_id: format!("{}#{}", doc.doc_id, chunk.ordinal),
                version: doc.version.to_string(),
                acl_allow: allow.clone(),
                acl_deny: deny.clone(),
                text: chunk.text.clone(),
                metadata: metadata.clone(),
            };
            self.pending.push(MemOp::Add(
                key.clone(),
                Box::new(MemChunk {
                    stored,
                    ordinal: chunk.ordinal,
                    title: doc.title.to_string(),
                    uri: doc.uri.map(str::to_string),
                    page: chunk.page.map(u64::from),
                    section: chunk.heading.join(" > "),
                }),
            ));
        }
        Ok(())
    }

    fn delete(&mut self, source: &str, doc_id: &str) -> Result<()> {
        self.pending.push(MemOp::Delete(doc_key(source, doc_id)));
        Ok(())
    }

    fn update_acl(
        &mut self,
        source: &str,
        namespace: &str,
        doc_id: &str,
        acl: &Acl,
    ) -> Result<Option<u32>> {
        let key = doc_key(source, doc_id);
        let Some(old) = lock(&self.committed)?.get(&key).cloned() else {
            return Ok(None);
        };
        let (allow, deny) = acl_terms(acl, namespace);
        if old
            .iter()
            .all(|c| c.stored.acl_allow == allow && c.stored.acl_deny == deny)
        {
            return Ok(Some(0));
        }
        self.pending.push(MemOp::Delete(key.clone()));
        let n = old.len() as u32;
        for mut chunk in old {
            chunk.stored.acl_allow = allow.clone();
            chunk.stored.acl_deny = deny.clone();
            self.pending.push(MemOp::Add(key.clone(), Box::new(chunk)));
        }
        Ok(Some(n))
    }

    fn commit(&mut self) -> Result<()> {
        let mut documents = lock(&self.committed)?;
        for op in self.pending.drain(..) {
            match op {
                MemOp::Delete(key) => {
                    documents.remove(&key);
                }
                MemOp::Add(key, chunk) => documents.entry(key).or_default().push(*chunk),
            }
        }
        Ok(())
    }
}
