//! The index's format, written into every commit, and the migration of older indexes.
//!
//! Format 1 (before namespaces) indexed a group as `group:<id>`; format 2 indexes it as
//! `group:<namespace>:<id>` (ADR 0012). The format travels in the payload of every tantivy
//! commit, so it changes in the same atomic commit as the terms it describes: a migration
//! killed halfway committed nothing, and the next open starts it again. An index without a
//! payload is of format 1 (a new index gets its payload from an empty first commit).

use std::collections::HashSet;
use std::path::Path;

use tantivy::{Index, IndexWriter, TantivyDocument, Term};

use super::writer::with_acl;
use super::{Fields, all_str, first_str, index_err};
use crate::identities::group_term;
use crate::{EngineError, Result};

/// The format this build writes.
pub const INDEX_FORMAT: u32 = 2;

/// Memory for the migration's writer (it rewrites every chunk once).
const MIGRATION_MEMORY: usize = 64 * 1024 * 1024;

#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    tributary_index_format: u32,
}

/// Commits `writer`'s operations, stamping the commit with this build's format.
pub(super) fn commit(writer: &mut IndexWriter) -> Result<()> {
    let payload = serde_json::to_string(&Payload {
        tributary_index_format: INDEX_FORMAT,
    })
    .map_err(index_err)?;
    let mut prepared = writer.prepare_commit().map_err(index_err)?;
    prepared.set_payload(&payload);
    prepared.commit().map_err(index_err)?;
    Ok(())
}

/// The format of the last commit.
fn format_of(index: &Index) -> Result<u32> {
    match index.load_metas().map_err(index_err)?.payload {
        None => Ok(1),
        Some(text) => serde_json::from_str::<Payload>(&text)
            .map(|p| p.tributary_index_format)
            .map_err(|e| EngineError::Index(format!("unreadable index format {text:?}: {e}"))),
    }
}

/// A format-1 term in format 2: groups move into the namespace of their document's source
/// (the only namespace format 1 could have meant: a source's own).
fn namespaced(term: &str, source: &str) -> String {
    match term.strip_prefix("group:") {
        Some(id) => group_term(source, id),
        None => term.to_string(),
    }
}

/// Brings an index of an older format to [`INDEX_FORMAT`]: every chunk is rewritten from
/// its stored fields with namespaced ACL terms (nothing is extracted again), in one commit.
pub(super) fn migrate(index: &Index, f: &Fields, dir: &Path) -> Result<()> {
    let format = format_of(index)?;
    if format == INDEX_FORMAT {
        return Ok(());
    }
    if format > INDEX_FORMAT {
        return Err(EngineError::Index(format!(
            "the index at {} has format {format}, written by a newer tributary (this one \
             writes {INDEX_FORMAT})",
            dir.display()
        )));
    }
    if index
        .searchable_segment_metas()
        .map_err(index_err)?
        .is_empty()
    {
        // Nothing indexed yet (a new index before its first commit): nothing to rewrite,
        // and its first commit records the format.
        return Ok(());
    }
    let mut writer = index
        .writer_with_num_threads(1, MIGRATION_MEMORY)
        .map_err(|e| match e {
            tantivy::TantivyError::LockFailure(..) => EngineError::Busy(dir.to_path_buf()),
            other => index_err(other),
        })?;
    let reader = index.reader().map_err(index_err)?;
    let searcher = reader.searcher();
    // Every document's old chunks go (deletes first, so they cannot touch the copies added
    // after them in this commit), then every chunk comes back with namespaced terms.
    let mut keys = HashSet::new();
    let mut chunks = 0u64;
    for pass in [Pass::Delete, Pass::Add] {
        for segment in searcher.segment_readers() {
            let store = segment.get_store_reader(16).map_err(index_err)?;
            for doc in store.iter::<TantivyDocument>(segment.alive_bitset()) {
                let doc = doc.map_err(index_err)?;
                match pass {
                    Pass::Delete => {
                        let key = first_str(&doc, f.doc_key).unwrap_or_default();
                        if keys.insert(key.clone()) {
                            writer.delete_term(Term::from_field_text(f.doc_key, &key));
                        }
                    }
                    Pass::Add => {
                        let source = first_str(&doc, f.source).unwrap_or_default();
                        let rewrite = |field| -> Vec<String> {
                            all_str(&doc, field)
                                .iter()
                                .map(|t| namespaced(t, &source))
                                .collect()
                        };
                        let (allow, deny) = (rewrite(f.acl_allow), rewrite(f.acl_deny));
                        writer
                            .add_document(with_acl(f, &doc, &allow, &deny))
                            .map_err(index_err)?;
                        chunks += 1;
                    }
                }
            }
        }
    }
    commit(&mut writer)?;
    writer.wait_merging_threads().map_err(index_err)?;
    tracing::info!(
        chunks,
        documents = keys.len(),
        from = format,
        to = INDEX_FORMAT,
        "index migrated: group terms are namespaced by source"
    );
    Ok(())
}

#[derive(Clone, Copy)]
enum Pass {
    Delete,
    Add,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_group_terms_move_into_their_sources_namespace() {
        assert_eq!(namespaced("group:eng", "wiki"), "group:wiki:eng");
        assert_eq!(namespaced("group:a:b", "wiki"), "group:wiki:a:b");
        for same in ["user:a@x.io", "domain:x.io", "everyone"] {
            assert_eq!(namespaced(same, "wiki"), same);
        }
    }
}
