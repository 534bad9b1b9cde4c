//! The index's reading side: a searcher on the newest commit, the ACL filter, full-text
//! search with or without snippets, and the documents a user may see.
//!
//! **Freshness.** A search sees every commit made before it started, also one made by
//! another process. tantivy's `reload` opens every segment again (and takes the index's meta
//! lock, and starts the doc store's cache cold), which on a read-mostly index cost most of a
//! search, so [`TantivyIndex::searcher`] reloads only when the committed segments differ from
//! the loaded ones. Reading and parsing `meta.json` to find out cost tens of microseconds a
//! search, so the file's stamp (modification time, length and inode) is compared first: a
//! stamp under which the reader was found current is trusted while it lasts, but only once
//! the file is older than [`RACY`] (git's "racily clean" rule, as the API's identities cache
//! uses it): a commit in the same timestamp tick as the check could otherwise leave the
//! stamp unchanged. tantivy writes `meta.json` to a new file and renames it over the old
//! one, so a commit also changes the inode.
//!
//! **Searches during this process's own sync** (the daemon) pay neither cost, nor even the
//! stamp's `stat`. While this process holds the index's writer, nothing but its commits
//! changes what a search finds: tantivy's lock keeps other writers out, and merges change
//! no document. So a commit made after a search reloads the shared reader itself, on the
//! writer's thread, and then *vouches* for it ([`Committing::caught_up`]): searches take
//! the reader as it is until a commit that does not reload is about to land
//! ([`Freshness::begin_commit`]), a reload fails, or the writer closes. While a reloading
//! commit is in flight its searches still use the reader as it was, which holds every
//! commit made before (that one is not made until it returns). The replaced searcher is
//! kept by the writer until its next reload, so that freeing the old segments happens on
//! the writer's thread, not in a search. When the writer closes, a stamp it verified
//! within the racy window is forgotten: another process may commit within that tick.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tantivy::collector::DocSetCollector;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{TantivyDocument, Term};

use super::acl_collector::{AclTopDocs, filter_leaves};
use super::acl_filter::AclFilter;
use super::snippet::Snippets;
use super::{SearchHit, TantivyIndex, VisibleDoc, first_str, index_err};
use crate::Result;

/// How old `meta.json` must be for its stamp to be trusted: longer than the coarsest
/// timestamp granularity of the filesystems an index lives on.
const RACY: Duration = Duration::from_secs(1);

/// What a search returns besides the hits' stored fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchOptions {
    /// A short extract around the matched words in each hit (`SearchHit::snippet`); without,
    /// the snippet is empty and no hit's text is tokenized again.
    pub snippets: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions { snippets: true }
    }
}

/// `meta.json`'s modification time, length and (on Unix) inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MetaStamp {
    modified: SystemTime,
    len: u64,
    inode: u64,
}

impl MetaStamp {
    fn of(path: &Path) -> Option<MetaStamp> {
        let m = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&m);
        #[cfg(not(unix))]
        let inode = 0;
        Some(MetaStamp {
            modified: m.modified().ok()?,
            len: m.len(),
            inode,
        })
    }

    /// Whether a later write is sure to change the stamp.
    fn settled(&self, now: SystemTime) -> bool {
        self.modified
            .checked_add(RACY)
            .is_some_and(|settled_at| settled_at <= now)
    }
}

/// When the reader is current: the stamp of `meta.json` under which it was last found
/// current, or this process's writer's word.
#[derive(Debug)]
pub(super) struct Freshness {
    /// `<index>/meta.json`.
    meta: PathBuf,
    verified: Mutex<Option<MetaStamp>>,
    /// A searcher was asked for since this process's writer last committed: its next
    /// commit reloads the reader for the searches to come.
    searched: AtomicBool,
    /// This process's writer vouches that the reader holds every commit made.
    vouched: AtomicBool,
}

/// A commit of this process's writer in flight (see [`Freshness::begin_commit`]): unless it
/// ends [`Committing::caught_up`], the writer's word is withdrawn.
pub(super) struct Committing<'a> {
    fresh: &'a Freshness,
    /// Whether the commit reloads the reader when it is made.
    pub(super) catch_up: bool,
    caught_up: bool,
}

impl Committing<'_> {
    /// The reader was reloaded after the commit, under the writer's lock, when `meta.json`
    /// showed `stamp`: the writer vouches for it, and the stamp is verified, settled or
    /// not (the writer forgets it when it closes).
    pub(super) fn caught_up(mut self, stamp: Option<MetaStamp>) {
        if let Some(stamp) = stamp {
            self.fresh.set_verified(stamp);
        }
        self.fresh.vouched.store(true, Ordering::Release);
        self.caught_up = true;
    }
}

impl Drop for Committing<'_> {
    fn drop(&mut self) {
        if !self.caught_up {
            self.fresh.vouched.store(false, Ordering::Release);
        }
    }
}

impl Freshness {
    pub(super) fn new(dir: &Path) -> Freshness {
        Freshness {
            meta: dir.join("meta.json"),
            verified: Mutex::default(),
            searched: AtomicBool::new(false),
            vouched: AtomicBool::new(false),
        }
    }

    pub(super) fn stamp(&self) -> Option<MetaStamp> {
        MetaStamp::of(&self.meta)
    }

    fn verified(&self) -> Option<MetaStamp> {
        *self.verified.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_verified(&self, stamp: MetaStamp) {
        *self.verified.lock().unwrap_or_else(PoisonError::into_inner) = Some(stamp);
    }

    #[cfg(test)]
    fn vouched(&self) -> bool {
        self.vouched.load(Ordering::Acquire)
    }

    fn note_search(&self) {
        // Read first: a store on every search would bounce the line between cores.
        if !self.searched.load(Ordering::Relaxed) {
            self.searched.store(true, Ordering::Relaxed);
        }
    }

    /// Called by this process's writer under its lock, before it commits. A commit that
    /// follows a search will reload the reader (`catch_up`). One that will not withdraws
    /// the writer's word before it lands, and forgets a stamp verified within the racy
    /// window: the commit could leave `meta.json`'s stamp as it was.
    pub(super) fn begin_commit(&self) -> Committing<'_> {
        let catch_up = self.searched.swap(false, Ordering::Relaxed);
        if !catch_up {
            self.withdraw();
        }
        Committing {
            fresh: self,
            catch_up,
            caught_up: false,
        }
    }

    /// The writer's word goes (before a commit that will not reload, or as the writer
    /// closes), and with it a stamp only its lock made trustworthy.
    pub(super) fn withdraw(&self) {
        self.vouched.store(false, Ordering::Release);
        self.forget_unsettled();
    }

    /// Forgets a stamp the racy rule would not trust.
    fn forget_unsettled(&self) {
        let now = SystemTime::now();
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.is_some_and(|v| !v.settled(now)) {
            *verified = None;
        }
    }
}

impl TantivyIndex {
    /// A searcher on the newest commit (see the module docs).
    pub(super) fn searcher(&self) -> Result<tantivy::Searcher> {
        self.fresh.note_search();
        if self.fresh.vouched.load(Ordering::Acquire) {
            return Ok(self.reader.searcher());
        }
        // Stamped before reading: a commit between the two leaves a stamp older than what
        // was compared, which the next search sees as changed.
        let stamp = self.fresh.stamp();
        if stamp.is_some() && stamp == self.fresh.verified() {
            return Ok(self.reader.searcher());
        }
        let now = SystemTime::now();
        let searcher = self.current_searcher()?;
        if let Some(stamp) = stamp
            && stamp.settled(now)
        {
            self.fresh.set_verified(stamp);
        }
        Ok(searcher)
    }

    /// A searcher on the committed segments, read from `meta.json`, reloading when the
    /// loaded ones differ.
    fn current_searcher(&self) -> Result<tantivy::Searcher> {
        let searcher = self.reader.searcher();
        let committed = self.index.searchable_segment_metas().map_err(index_err)?;
        let loaded: std::collections::HashSet<_> = searcher
            .segment_readers()
            .iter()
            .map(|r| (r.segment_id(), r.delete_opstamp()))
            .collect();
        if committed.len() == loaded.len()
            && committed
                .iter()
                .all(|m| loaded.contains(&(m.id(), m.delete_opstamp())))
        {
            return Ok(searcher);
        }
        self.reader.reload().map_err(index_err)?;
        Ok(self.reader.searcher())
    }

    /// `query` restricted to the chunks the principals may read (`acl_filter.rs`): at least
    /// one principal allowed, none denied. No principals → no hit. Principals are index
    /// terms (`Identities::principals`).
    pub(super) fn restricted(&self, query: Box<dyn Query>, principals: &[String]) -> BooleanQuery {
        let filter = self.acl_filter(principals);
        BooleanQuery::new(vec![(Occur::Must, query), (Occur::Must, Box::new(filter))])
    }

    fn acl_filter(&self, principals: &[String]) -> AclFilter {
        AclFilter::new(
            self.fields.acl_allow,
            self.fields.acl_deny,
            principals,
            Arc::clone(&self.acl_cache),
        )
    }

    /// Full-text search over chunks the principals may read, with snippets. An empty
    /// principal list matches nothing (fail closed).
    pub fn search(
        &self,
        query: &str,
        principals: &[String],
        limit: usize,
    ) -> Result<Vec<SearchHit>> {
        self.search_with(query, principals, limit, SearchOptions::default())
    }

    /// [`TantivyIndex::search`] with [`SearchOptions`].
    pub fn search_with(
        &self,
        query: &str,
        principals: &[String],
        limit: usize,
        options: SearchOptions,
    ) -> Result<Vec<SearchHit>> {
        if principals.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let searcher = self.searcher()?;
        let f = self.fields;
        let mut parser = QueryParser::for_index(&self.index, vec![f.title, f.text, f.section]);
        parser.set_field_boost(f.title, 2.0);
        let (user_query, _errors) = parser.parse_query_lenient(query);
        // The filter joins each leaf of the query and checks each hit (`acl_collector.rs`).
        let filter = self.acl_filter(principals);
        let filtered = filter_leaves(&*user_query, &filter);
        let top = searcher
            .search(&*filtered, &AclTopDocs::new(limit, filter))
            .map_err(index_err)?;
        let mut snippets = if options.snippets {
            Some(Snippets::new(&searcher, &*user_query, f.text, 200).map_err(index_err)?)
        } else {
            None
        };
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr).map_err(index_err)?;
            let snippet = match snippets.as_mut() {
                Some(s) => {
                    let text = first_str(&doc, f.text).unwrap_or_default();
                    let text = text.trim();
                    let mut snippet = s.best(text);
                    if snippet.is_empty() {
                        // No word of the query in the text (a title match): its start.
                        snippet = text
                            .char_indices()
                            .nth(200)
                            .map_or(text, |(end, _)| &text[..end]);
                    }
                    snippet.split_whitespace().collect::<Vec<_>>().join(" ")
                }
                None => String::new(),
            };
            hits.push(SearchHit {
                source: first_str(&doc, f.source).unwrap_or_default(),
                doc_id: first_str(&doc, f.doc_id).unwrap_or_default(),
                chunk_id: first_str(&doc, f.chunk_id).unwrap_or_default(),
                title: first_str(&doc, f.title).unwrap_or_default(),
                uri: first_str(&doc, f.uri),
                score,
                snippet,
                page: doc.get_first(f.page).and_then(|v| v.as_u64()),
                section: first_str(&doc, f.section).filter(|s| !s.is_empty()),
            });
        }
        Ok(hits)
    }

    /// Every document the principals may read, sorted (for audits).
    pub fn visible_documents(&self, principals: &[String]) -> Result<Vec<VisibleDoc>> {
        if principals.is_empty() {
            return Ok(Vec::new());
        }
        let searcher = self.searcher()?;
        let f = self.fields;
        // Chunk 0 stands for its document: one hit per document.
        let first_chunks: Box<dyn Query> = Box::new(TermQuery::new(
            Term::from_field_u64(f.chunk_ord, 0),
            IndexRecordOption::Basic,
        ));
        let query = self.restricted(first_chunks, principals);
        let addrs = searcher
            .search(&query, &DocSetCollector)
            .map_err(index_err)?;
        let mut docs = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let doc: TantivyDocument = searcher.doc(addr).map_err(index_err)?;
            docs.push(VisibleDoc {
                source: first_str(&doc, f.source).unwrap_or_default(),
                doc_id: first_str(&doc, f.doc_id).unwrap_or_default(),
                title: first_str(&doc, f.title).unwrap_or_default(),
                uri: first_str(&doc, f.uri),
            });
        }
        docs.sort();
        Ok(docs)
    }
}

#[cfg(test)]
mod tests {
    use connector_sdk::Principal;

    use super::*;
    use crate::index::IndexSink;
    use crate::index::acl_filter::tests::put;

    fn add(writer: &mut dyn IndexSink, doc_id: &str) {
        put(
            writer,
            doc_id,
            "quarterly numbers",
            &[Principal::Everyone],
            &[],
        );
    }

    fn backdate(path: &Path) {
        std::fs::File::options()
            .write(true)
            .open(path)
            .expect("open meta.json")
            .set_modified(SystemTime::now() - Duration::from_secs(60))
            .expect("backdate");
    }

    #[test]
    fn a_trusted_stamp_still_sees_the_next_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = TantivyIndex::open(dir.path()).expect("index");
        let mut writer = index.writer().expect("writer");
        add(&mut writer, "a");
        let reader = TantivyIndex::open_read_only(dir.path())
            .expect("open")
            .expect("an index");
        let everyone = ["everyone".to_string()];
        let found = |r: &TantivyIndex| r.search("quarterly", &everyone, 10).expect("search");
        // A settled meta.json: the reader trusts its stamp after one search.
        backdate(&dir.path().join("meta.json"));
        assert_eq!(found(&reader).len(), 1);
        assert!(reader.fresh.verified().is_some(), "the stamp is trusted");
        add(&mut writer, "b");
        assert_eq!(found(&reader).len(), 2, "the next commit is seen");
        // A just-written meta.json is not trusted: the next search reads it.
        assert!(reader.fresh.verified() != reader.fresh.stamp());
    }

    #[test]
    fn a_commit_after_a_search_reloads_the_reader_for_the_searches_to_come() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = TantivyIndex::open(dir.path()).expect("index");
        let mut writer = index.writer().expect("writer");
        let everyone = ["everyone".to_string()];
        let found = |r: &TantivyIndex| r.search("quarterly", &everyone, 10).expect("search");
        let loaded = |r: &TantivyIndex| r.reader.searcher().num_docs();
        add(&mut writer, "a");
        assert!(
            !index.fresh.vouched(),
            "no search yet: the commit did not reload"
        );
        assert_eq!(found(&index).len(), 1);
        // A search came since the last commit: the commit reloads, and the writer vouches
        // for the reader, so the next search neither reads meta.json nor reloads.
        add(&mut writer, "b");
        assert_eq!(loaded(&index), 2, "the commit reloaded the reader");
        assert!(index.fresh.vouched());
        assert_eq!(index.fresh.verified(), index.fresh.stamp());
        // No search since: the next commit leaves the reader (and its memory) alone, and
        // withdraws the writer's word and the unsettled stamp.
        add(&mut writer, "c");
        assert_eq!(loaded(&index), 2, "no search, no reload");
        assert!(!index.fresh.vouched());
        assert_eq!(index.fresh.verified(), None);
        assert_eq!(found(&index).len(), 3, "the search reloads itself");
        assert_eq!(loaded(&index), 3);
        // Closing the writer withdraws its word and forgets a stamp only its lock made
        // trustworthy: another process may commit within the same timestamp tick.
        add(&mut writer, "d");
        assert!(index.fresh.vouched());
        drop(writer);
        assert!(!index.fresh.vouched());
        assert_eq!(index.fresh.verified(), None);
        assert_eq!(found(&index).len(), 4);
    }

    #[test]
    fn a_commit_that_fails_to_catch_up_withdraws_the_writers_word() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = TantivyIndex::open(dir.path()).expect("index");
        let mut writer = index.writer().expect("writer");
        add(&mut writer, "a");
        index
            .search("quarterly", &["everyone".to_string()], 1)
            .expect("search");
        add(&mut writer, "b");
        assert!(index.fresh.vouched());
        // A reloading commit in flight keeps the word (the reader holds every commit made
        // so far); one that ends without its reload, however it ends, withdraws it.
        index.fresh.note_search();
        let commit = index.fresh.begin_commit();
        assert!(commit.catch_up && index.fresh.vouched());
        drop(commit);
        assert!(!index.fresh.vouched());
    }

    #[test]
    fn without_snippets_the_hits_are_the_same() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = TantivyIndex::open(dir.path()).expect("index");
        let mut writer = index.writer().expect("writer");
        add(&mut writer, "a");
        add(&mut writer, "b");
        let everyone = ["everyone".to_string()];
        let with = index.search("numbers", &everyone, 10).expect("search");
        let bare = SearchOptions { snippets: false };
        let without = index
            .search_with("numbers", &everyone, 10, bare)
            .expect("search");
        assert_eq!(with.len(), 2);
        assert!(with.iter().all(|h| h.snippet.contains("numbers")));
        let blank = |hits: Vec<SearchHit>| {
            hits.into_iter()
                .map(|h| SearchHit {
                    snippet: String::new(),
                    ..h
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(blank(with), without);
    }
}
