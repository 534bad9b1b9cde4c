//! The ACL as a filter: the chunks with at least one allowed principal and no denied one,
//! as a bitset per segment, built from the principals' postings and kept for the next
//! search by the same principals.
//!
//! **Why not a boolean query of the principals' terms.** Under `Must`, tantivy scores every
//! clause: each allowed principal a chunk matched added its BM25 weight to the chunk's
//! score, so a chunk shared with one rare user outranked the same text shared with everyone,
//! and the union of several long posting lists was scored for every search. The filter
//! scores nothing (a constant 0 added to the user query's score), so the ranking is the user
//! query's alone, and reading the postings into a bitset costs one pass over them.
//!
//! **Why cache.** A segment never changes its postings (deletions are the reader's alive
//! bitset, which collectors apply), so the bitset of one segment for one set of principals
//! stays right until the segment is merged away. A user's next search, and every search of
//! the users of a small team, reuses it; a commit only builds bitsets for the new segments.
//! The cache is bounded by bytes (a bitset is a segment's `max_doc` bits) and forgets the
//! least recently used.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use lru::LruCache;
use tantivy::index::SegmentId;
use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{BitSet, DocId, DocSet, Score, SegmentReader, TERMINATED, TantivyError, Term};

/// The cache's default byte budget: 64 MiB holds the bitsets of ~5,000 principal sets over
/// 100,000 chunks, or ~500 over a million.
pub(super) const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// Bitsets by segment and principal set, least recently used first out.
pub(super) struct AclCache {
    inner: Mutex<Entries>,
}

struct Entries {
    map: LruCache<(SegmentId, Arc<[String]>), Arc<BitSet>>,
    bytes: usize,
    budget: usize,
}

impl fmt::Debug for AclCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.lock();
        f.debug_struct("AclCache")
            .field("entries", &e.map.len())
            .field("bytes", &e.bytes)
            .finish()
    }
}

fn bitset_bytes(bits: &BitSet) -> usize {
    (bits.max_value() as usize).div_ceil(64) * 8 + std::mem::size_of::<BitSet>()
}

impl AclCache {
    pub(super) fn new(budget: usize) -> AclCache {
        AclCache {
            inner: Mutex::new(Entries {
                map: LruCache::unbounded(),
                bytes: 0,
                budget,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, key: &(SegmentId, Arc<[String]>)) -> Option<Arc<BitSet>> {
        self.lock().map.get(key).cloned()
    }

    fn put(&self, key: (SegmentId, Arc<[String]>), bits: Arc<BitSet>) {
        let size = bitset_bytes(&bits);
        let mut e = self.lock();
        if size > e.budget {
            return;
        }
        if let Some(old) = e.map.put(key, bits) {
            e.bytes -= bitset_bytes(&old);
        }
        e.bytes += size;
        while e.bytes > e.budget {
            match e.map.pop_lru() {
                Some((_, old)) => e.bytes -= bitset_bytes(&old),
                None => break,
            }
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().map.len()
    }
}

/// The filter query: `principals` sorted and deduplicated, so that one user's principals in
/// any order share a cache entry.
#[derive(Clone)]
pub(super) struct AclFilter {
    allow: Field,
    deny: Field,
    principals: Arc<[String]>,
    cache: Arc<AclCache>,
}

impl fmt::Debug for AclFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AclFilter")
            .field("principals", &self.principals.len())
            .finish_non_exhaustive()
    }
}

impl AclFilter {
    pub(super) fn new(
        allow: Field,
        deny: Field,
        principals: &[String],
        cache: Arc<AclCache>,
    ) -> AclFilter {
        let mut sorted = principals.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        AclFilter {
            allow,
            deny,
            principals: sorted.into(),
            cache,
        }
    }

    /// The segment's chunks that pass: any allowed principal, no denied one.
    fn bitset(&self, reader: &SegmentReader) -> tantivy::Result<Arc<BitSet>> {
        let key = (reader.segment_id(), Arc::clone(&self.principals));
        if let Some(bits) = self.cache.get(&key) {
            return Ok(bits);
        }
        let mut bits = BitSet::with_max_value(reader.max_doc());
        let allow = reader.inverted_index(self.allow)?;
        let deny = reader.inverted_index(self.deny)?;
        for p in self.principals.iter() {
            let term = Term::from_field_text(self.allow, p);
            if let Some(mut postings) =
                allow.read_block_postings(&term, IndexRecordOption::Basic)?
            {
                while !postings.docs().is_empty() {
                    postings.docs().iter().for_each(|&d| {
                        bits.insert(d);
                    });
                    postings.advance();
                }
            }
        }
        for p in self.principals.iter() {
            let term = Term::from_field_text(self.deny, p);
            if let Some(mut postings) = deny.read_block_postings(&term, IndexRecordOption::Basic)? {
                while !postings.docs().is_empty() {
                    postings.docs().iter().for_each(|&d| bits.remove(d));
                    postings.advance();
                }
            }
        }
        let bits = Arc::new(bits);
        self.cache.put(key, Arc::clone(&bits));
        Ok(bits)
    }
}

impl Query for AclFilter {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }

    // No `query_terms`: principals are not words of the search (snippets, highlighting).
}

impl Weight for AclFilter {
    fn scorer(&self, reader: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(AllowedDocs::new(self.bitset(reader)?)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if self.bitset(reader)?.contains(doc) {
            Ok(Explanation::new("AclFilter", 0.0))
        } else {
            Err(TantivyError::InvalidArgument(format!(
                "document {doc} is not readable by these principals"
            )))
        }
    }
}

/// A shared bitset walked as a doc set, scoring 0.
struct AllowedDocs {
    bits: Arc<BitSet>,
    /// The current document, `TERMINATED` at the end.
    doc: DocId,
}

impl AllowedDocs {
    fn new(bits: Arc<BitSet>) -> AllowedDocs {
        let mut docs = AllowedDocs { bits, doc: 0 };
        docs.doc = docs.next_from(0);
        docs
    }

    /// The first allowed document at or after `from`.
    fn next_from(&self, from: DocId) -> DocId {
        if from >= self.bits.max_value() {
            return TERMINATED;
        }
        let bucket = from / 64;
        let from_low = from % 64;
        if let Some(low) = self
            .bits
            .tinyset(bucket)
            .into_iter()
            .find(|&l| l >= from_low)
        {
            return bucket * 64 + low;
        }
        match self.bits.first_non_empty_bucket(bucket + 1) {
            Some(b) => b * 64 + self.bits.tinyset(b).into_iter().next().unwrap_or(0),
            None => TERMINATED,
        }
    }
}

impl DocSet for AllowedDocs {
    fn advance(&mut self) -> DocId {
        if self.doc != TERMINATED {
            self.doc = self.next_from(self.doc + 1);
        }
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc != TERMINATED && target > self.doc {
            self.doc = self.next_from(target);
        }
        self.doc
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.bits.len() as u32
    }
}

impl Scorer for AllowedDocs {
    fn score(&mut self) -> Score {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use connector_sdk::{Acl, Principal};

    use super::*;
    use crate::chunker::Chunk;
    use crate::index::{DocFields, IndexSink, TantivyIndex};

    /// Upserts `doc_id` with one chunk of `text`, allowed to `allow`, denied to `deny`,
    /// and commits (a segment of its own).
    fn put(
        writer: &mut dyn IndexSink,
        doc_id: &str,
        text: &str,
        allow: &[Principal],
        deny: &[Principal],
    ) {
        let acl = Acl {
            allow: allow.iter().cloned().collect(),
            deny: deny.iter().cloned().collect(),
        };
        let fields = DocFields {
            source: "s",
            namespace: "s",
            doc_id,
            title: doc_id,
            uri: None,
            content_type: "text/plain",
            modified: None,
            acl: &acl,
            metadata: &BTreeMap::new(),
            version: "1",
        };
        let chunk = Chunk {
            ordinal: 0,
            text: text.into(),
            heading: Vec::new(),
            page: None,
        };
        // `replace`: an update removes the chunks of the ACL before.
        writer.upsert(&fields, &[chunk], true).expect("upsert");
        writer.commit().expect("commit");
    }

    /// The ids of the hits for `query` as `principals`, with their scores.
    fn check(index: &TantivyIndex, query: &str, principals: &[&str]) -> Vec<(String, f32)> {
        let principals: Vec<String> = principals.iter().map(|p| p.to_string()).collect();
        index
            .search(query, &principals, 10)
            .expect("search")
            .into_iter()
            .map(|h| (h.doc_id, h.score))
            .collect()
    }

    fn ann() -> Principal {
        Principal::user("ann@example.com")
    }

    #[test]
    fn the_principals_a_chunk_matched_do_not_change_its_rank() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = TantivyIndex::open(dir.path()).expect("index");
        let mut w = index.writer().expect("writer");
        // The same text, once for everyone, once for ann alone (a rare term, whose BM25
        // weight a scoring ACL clause would add), once for both.
        put(
            &mut w,
            "public",
            "roadmap review",
            &[Principal::Everyone],
            &[],
        );
        put(&mut w, "hers", "roadmap review", &[ann()], &[]);
        put(
            &mut w,
            "both",
            "roadmap review",
            &[ann(), Principal::Everyone],
            &[],
        );
        let hits = check(&index, "roadmap", &["everyone", "user:ann@example.com"]);
        assert_eq!(hits.len(), 3, "{hits:?}");
        assert!(
            hits.iter().all(|(_, s)| *s == hits[0].1),
            "equal scores: {hits:?}"
        );
    }

    #[test]
    fn allow_and_deny_hold_across_segments_commits_and_acl_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = TantivyIndex::open(dir.path()).expect("index");
        let mut w = index.writer().expect("writer");
        let team = Principal::group("team");
        put(&mut w, "a", "budget", std::slice::from_ref(&team), &[]);
        put(&mut w, "b", "budget", std::slice::from_ref(&team), &[ann()]);
        let ann_in_team = ["user:ann@example.com", "group:s:team"];
        let ids = |hits: Vec<(String, f32)>| hits.into_iter().map(|h| h.0).collect::<BTreeSet<_>>();
        assert_eq!(
            ids(check(&index, "budget", &ann_in_team)),
            BTreeSet::from(["a".into()])
        );
        assert_eq!(ids(check(&index, "budget", &["group:s:team"])).len(), 2);
        assert!(check(&index, "budget", &["user:bob@example.com"]).is_empty());
        assert!(
            check(&index, "budget", &[]).is_empty(),
            "no principals, no hits"
        );
        // The cached bitsets of the old segments must not hide a new segment's chunk, nor
        // keep a chunk readable under the ACL it had before an update.
        put(&mut w, "c", "budget", &[ann()], &[]);
        put(&mut w, "a", "budget", &[Principal::group("other")], &[]);
        assert_eq!(
            ids(check(&index, "budget", &ann_in_team)),
            BTreeSet::from(["c".into()])
        );
        assert_eq!(
            ids(check(&index, "budget", &["group:s:other"])),
            BTreeSet::from(["a".into()])
        );
        // Principals in another order are the same set, and the same cache entries.
        let before = index.acl_cache.len();
        check(&index, "budget", &["group:s:team", "user:ann@example.com"]);
        assert_eq!(index.acl_cache.len(), before);
    }

    #[test]
    fn the_cache_keeps_to_its_byte_budget() {
        let cache = AclCache::new(3 * bitset_bytes(&BitSet::with_max_value(1000)));
        for i in 0..10u32 {
            let key: Arc<[String]> = vec![format!("user:{i}")].into();
            cache.put(
                (SegmentId::generate_random(), key),
                Arc::new(BitSet::with_max_value(1000)),
            );
        }
        assert_eq!(cache.len(), 3);
        // A bitset over the whole budget is not kept at all.
        let huge = Arc::new(BitSet::with_max_value(1_000_000));
        cache.put(
            (SegmentId::generate_random(), vec!["x".to_string()].into()),
            huge,
        );
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn the_bitset_walks_and_seeks_like_a_sorted_list() {
        // Documents at word edges, in empty stretches and at the very end.
        let max = 1_000;
        let docs = [0u32, 1, 63, 64, 65, 127, 128, 500, 511, 512, 998, 999];
        let mut bits = BitSet::with_max_value(max);
        docs.iter().for_each(|&d| {
            bits.insert(d);
        });
        let bits = Arc::new(bits);
        let mut walk = AllowedDocs::new(Arc::clone(&bits));
        let mut seen = Vec::new();
        while walk.doc() != TERMINATED {
            seen.push(walk.doc());
            walk.advance();
        }
        assert_eq!(seen, docs);
        assert_eq!(walk.advance(), TERMINATED);
        for target in 0..=max {
            let mut s = AllowedDocs::new(Arc::clone(&bits));
            let expected = docs
                .iter()
                .copied()
                .find(|&d| d >= target)
                .unwrap_or(TERMINATED);
            assert_eq!(s.seek(target), expected, "seek({target})");
        }
        assert_eq!(
            AllowedDocs::new(Arc::new(BitSet::with_max_value(0))).doc(),
            TERMINATED
        );
        assert_eq!(
            AllowedDocs::new(Arc::new(BitSet::with_max_value(70))).doc(),
            TERMINATED
        );
    }
}
