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
//!
//! **Dense principals have bitsets of their own.** A group many chunks are shared with
//! (`all-staff`, a division) has long postings, and with more users than the cache holds
//! every search decoded them again (at a million chunks and 2,000 users, most of a search).
//! A principal on at least one chunk in [`DENSE`] gets its own cached bitset, shared by every
//! user in the group; a user's set is then the word-wide union of those and the short
//! postings of the rest (the user's own name, small teams).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use fixedbitset::FixedBitSet;
use lru::LruCache;
use tantivy::index::SegmentId;
use tantivy::postings::TermInfo;
use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{
    DocId, DocSet, InvertedIndexReader, Score, SeekDangerResult, SegmentReader, TERMINATED,
    TantivyError, Term,
};

/// The cache's default byte budget: 64 MiB holds the bitsets of ~5,000 principal sets over
/// 100,000 chunks, or ~500 over a million.
pub(super) const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// A principal allowed on at least one chunk in `DENSE` (on average one per bitset word)
/// has a bitset of its own: its bitset is no larger than its postings, and far faster to
/// join than they are to decode.
const DENSE: u64 = 64;

/// A segment's chunks that pass a filter: the bits, and how many are set.
#[derive(Debug)]
pub(super) struct Allowed {
    bits: FixedBitSet,
    len: u32,
}

impl Allowed {
    fn new(bits: FixedBitSet) -> Allowed {
        let len = u32::try_from(bits.count_ones(..)).unwrap_or(u32::MAX);
        Allowed { bits, len }
    }

    pub(super) fn contains(&self, doc: DocId) -> bool {
        self.bits.contains(doc as usize)
    }

    pub(super) fn len(&self) -> u32 {
        self.len
    }

    fn bytes(&self) -> usize {
        self.bits.len().div_ceil(8) + std::mem::size_of::<Allowed>()
    }
}

/// What the cache holds: a principal set's bitset, or one dense principal's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Set(SegmentId, Arc<[String]>),
    Principal(SegmentId, String),
}

/// Bitsets by segment and principal set or principal, least recently used first out.
pub(super) struct AclCache {
    inner: Mutex<Entries>,
}

struct Entries {
    map: LruCache<Key, Arc<Allowed>>,
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

    fn get(&self, key: &Key) -> Option<Arc<Allowed>> {
        self.lock().map.get(key).cloned()
    }

    fn put(&self, key: Key, bits: Arc<Allowed>) {
        let size = bits.bytes();
        let mut e = self.lock();
        if size > e.budget {
            return;
        }
        if let Some(old) = e.map.put(key, bits) {
            e.bytes -= old.bytes();
        }
        e.bytes += size;
        while e.bytes > e.budget {
            match e.map.pop_lru() {
                Some((_, old)) => e.bytes -= old.bytes(),
                None => break,
            }
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().map.len()
    }
}

/// Calls `each` with every document of a term's postings.
fn for_each_doc(
    index: &InvertedIndexReader,
    info: &TermInfo,
    mut each: impl FnMut(usize),
) -> tantivy::Result<()> {
    let mut postings = index.read_block_postings_from_terminfo(info, IndexRecordOption::Basic)?;
    while !postings.docs().is_empty() {
        postings.docs().iter().for_each(|&d| each(d as usize));
        postings.advance();
    }
    Ok(())
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
    pub(super) fn bitset(&self, reader: &SegmentReader) -> tantivy::Result<Arc<Allowed>> {
        let key = Key::Set(reader.segment_id(), Arc::clone(&self.principals));
        if let Some(bits) = self.cache.get(&key) {
            return Ok(bits);
        }
        let max_doc = reader.max_doc() as usize;
        let mut bits = FixedBitSet::with_capacity(max_doc);
        let allow = reader.inverted_index(self.allow)?;
        for p in self.principals.iter() {
            let term = Term::from_field_text(self.allow, p);
            let Some(info) = allow.get_term_info(&term)? else {
                continue;
            };
            if u64::from(info.doc_freq) * DENSE >= max_doc as u64 {
                bits.union_with(&self.principal_bitset(reader, &allow, p, &info)?.bits);
            } else {
                // A document id past `max_doc` would be a corrupt segment: skipped, not a panic.
                for_each_doc(&allow, &info, |d| {
                    if d < max_doc {
                        bits.insert(d);
                    }
                })?;
            }
        }
        let deny = reader.inverted_index(self.deny)?;
        for p in self.principals.iter() {
            let term = Term::from_field_text(self.deny, p);
            if let Some(info) = deny.get_term_info(&term)? {
                for_each_doc(&deny, &info, |d| {
                    if d < max_doc {
                        bits.set(d, false);
                    }
                })?;
            }
        }
        let bits = Arc::new(Allowed::new(bits));
        self.cache.put(key, Arc::clone(&bits));
        Ok(bits)
    }

    /// One dense principal's allowed chunks in the segment, from the cache or its postings.
    fn principal_bitset(
        &self,
        reader: &SegmentReader,
        allow: &InvertedIndexReader,
        principal: &str,
        info: &TermInfo,
    ) -> tantivy::Result<Arc<Allowed>> {
        let key = Key::Principal(reader.segment_id(), principal.to_string());
        if let Some(bits) = self.cache.get(&key) {
            return Ok(bits);
        }
        let max_doc = reader.max_doc() as usize;
        let mut bits = FixedBitSet::with_capacity(max_doc);
        for_each_doc(allow, info, |d| {
            if d < max_doc {
                bits.insert(d);
            }
        })?;
        let bits = Arc::new(Allowed::new(bits));
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
    allowed: Arc<Allowed>,
    /// The current document, `TERMINATED` at the end.
    doc: DocId,
}

impl AllowedDocs {
    fn new(allowed: Arc<Allowed>) -> AllowedDocs {
        let mut docs = AllowedDocs { allowed, doc: 0 };
        docs.doc = docs.next_from(0);
        docs
    }

    /// The first allowed document at or after `from`: the word holding `from` masked below
    /// it, else the next non-zero word's lowest bit.
    fn next_from(&self, from: DocId) -> DocId {
        const BITS: usize = usize::BITS as usize;
        let from = from as usize;
        if from >= self.allowed.bits.len() {
            return TERMINATED;
        }
        let words = self.allowed.bits.as_slice();
        let at = from / BITS;
        let here = words[at] & (usize::MAX << (from % BITS));
        let found = if here != 0 {
            Some(at * BITS + here.trailing_zeros() as usize)
        } else {
            words[at + 1..]
                .iter()
                .position(|&w| w != 0)
                .map(|i| (at + 1 + i) * BITS + words[at + 1 + i].trailing_zeros() as usize)
        };
        found
            .filter(|&d| d < self.allowed.bits.len())
            .map_or(TERMINATED, |d| d as DocId)
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
        self.allowed.len()
    }

    /// A membership test: no walk to the next allowed document unless it is the target.
    fn seek_danger(&mut self, target: DocId) -> SeekDangerResult {
        if target as usize >= self.allowed.bits.len() {
            self.doc = TERMINATED;
            return SeekDangerResult::SeekLowerBound(TERMINATED);
        }
        if self.allowed.contains(target) {
            self.doc = target;
            SeekDangerResult::Found
        } else {
            // Any bound in (target, next allowed]: the next document is one.
            SeekDangerResult::SeekLowerBound(target + 1)
        }
    }
}

impl Scorer for AllowedDocs {
    fn score(&mut self) -> Score {
        0.0
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use connector_sdk::{Acl, Principal};

    use super::*;
    use crate::chunker::Chunk;
    use crate::index::{DocFields, IndexSink, TantivyIndex};

    /// Upserts `doc_id` with one chunk of `text`, allowed to `allow`, denied to `deny`,
    /// and commits (a segment of its own). Also the other index tests' writer.
    pub(in crate::index) fn put(
        writer: &mut dyn IndexSink,
        doc_id: &str,
        text: &str,
        allow: &[Principal],
        deny: &[Principal],
    ) {
        upsert(writer, doc_id, text, allow, deny);
        writer.commit().expect("commit");
    }

    /// [`put`] without the commit.
    pub(in crate::index) fn upsert(
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
    }

    /// The ids of the hits for `query` as `principals`, with their scores (all of them: the
    /// limit is above every test's chunk count).
    fn check(index: &TantivyIndex, query: &str, principals: &[&str]) -> Vec<(String, f32)> {
        let principals: Vec<String> = principals.iter().map(|p| p.to_string()).collect();
        index
            .search(query, &principals, 1_000)
            .expect("search")
            .into_iter()
            .map(|h| (h.doc_id, h.score))
            .collect()
    }

    fn ids(hits: Vec<(String, f32)>) -> BTreeSet<String> {
        hits.into_iter().map(|h| h.0).collect()
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

    /// A bitset of `max` documents with `docs` set.
    fn allowed(max: usize, docs: &[u32]) -> Arc<Allowed> {
        let mut bits = FixedBitSet::with_capacity(max);
        docs.iter().for_each(|&d| bits.insert(d as usize));
        Arc::new(Allowed::new(bits))
    }

    #[test]
    fn the_cache_keeps_to_its_byte_budget() {
        let cache = AclCache::new(3 * allowed(1000, &[]).bytes());
        for i in 0..10u32 {
            let key: Arc<[String]> = vec![format!("user:{i}")].into();
            cache.put(
                Key::Set(SegmentId::generate_random(), key),
                allowed(1000, &[i]),
            );
        }
        assert_eq!(cache.len(), 3);
        // A bitset over the whole budget is not kept at all.
        let huge = allowed(1_000_000, &[]);
        let key = Key::Principal(SegmentId::generate_random(), "x".into());
        cache.put(key, huge);
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn dense_principals_are_joined_from_bitsets_of_their_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = TantivyIndex::open(dir.path()).expect("index");
        let mut w = index.writer().expect("writer");
        let staff = Principal::group("staff");
        let bob = Principal::user("bob@example.com");
        // `staff` on every other chunk (dense), ann on one, bob denied one of staff's.
        for i in 0..200 {
            let allow = if i % 2 == 0 {
                vec![staff.clone()]
            } else {
                vec![]
            };
            let deny = if i == 10 { vec![bob.clone()] } else { vec![] };
            upsert(&mut w, &format!("d{i}"), "budget", &allow, &deny);
        }
        upsert(&mut w, "ann-only", "budget", &[ann()], &[]);
        w.commit().expect("commit");
        let staff_term = "group:s:staff";
        let found = |principals: &[&str]| ids(check(&index, "budget", principals));
        let segments = index.searcher().expect("searcher").segment_readers().len();
        let bob_sees = found(&[staff_term, "user:bob@example.com"]);
        assert_eq!(bob_sees.len(), 99, "staff's 100 but the one denied to bob");
        assert!(!bob_sees.contains("d10") && bob_sees.contains("d12"));
        assert_eq!(
            index.acl_cache.len(),
            2 * segments,
            "bob's set, staff's bitset"
        );
        // Ann's set shares staff's bitset: one more entry for her set, none for staff.
        let ann_sees = found(&[staff_term, "user:ann@example.com"]);
        assert_eq!(ann_sees.len(), 101);
        assert!(ann_sees.contains("d10") && ann_sees.contains("ann-only"));
        assert_eq!(
            index.acl_cache.len(),
            3 * segments,
            "ann's set; staff's is shared"
        );
        assert_eq!(
            found(&["user:ann@example.com"]),
            BTreeSet::from(["ann-only".into()])
        );
    }

    #[test]
    fn the_bitset_walks_and_seeks_like_a_sorted_list() {
        // Documents at word edges, in empty stretches and at the very end.
        let max = 1_000;
        let docs = [0u32, 1, 63, 64, 65, 127, 128, 500, 511, 512, 998, 999];
        let bits = allowed(max as usize, &docs);
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
        // `seek_danger` with rising targets, as an intersection calls it: found exactly
        // when allowed, else a bound past the target and no further than the next one.
        let mut s = AllowedDocs::new(Arc::clone(&bits));
        for target in (0..=max + 1).chain([TERMINATED]) {
            let next = docs.iter().copied().find(|&d| d >= target);
            match s.seek_danger(target) {
                SeekDangerResult::Found => {
                    assert_eq!(next, Some(target), "found {target}");
                    assert_eq!(s.doc(), target);
                }
                SeekDangerResult::SeekLowerBound(bound) => {
                    assert_ne!(next, Some(target), "{target} is allowed");
                    assert!(
                        bound > target || bound == TERMINATED,
                        "bound {bound} after {target}"
                    );
                    assert!(
                        bound <= next.unwrap_or(TERMINATED),
                        "bound {bound} past {next:?}"
                    );
                }
            }
        }
        assert_eq!(AllowedDocs::new(allowed(0, &[])).doc(), TERMINATED);
        assert_eq!(AllowedDocs::new(allowed(70, &[])).doc(), TERMINATED);
    }
}
