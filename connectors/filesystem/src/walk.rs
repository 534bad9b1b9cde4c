//! The folder walk: deterministic order, symlink containment, ACLs, resumable cursor.

use std::collections::BTreeSet;
use std::fs::{FileType, Metadata};
use std::path::{Component, Path, PathBuf};

use connector_sdk::acl_file::AclFile;
use connector_sdk::{Acl, Change, ConnectorError, ErrorKind, RemoteDocument};
use globset::{Glob, GlobSet, GlobSetBuilder};
use time::OffsetDateTime;
use tokio::sync::mpsc::Sender;

/// Items travel to the async side in groups, one wake-up per group instead of per file.
const GROUP: usize = 128;

/// Collects items and sends them in groups; `false` once the receiver is gone.
pub(crate) struct Batcher<'t> {
    tx: &'t Sender<Vec<Item>>,
    items: Vec<Item>,
}

impl<'t> Batcher<'t> {
    pub(crate) fn new(tx: &'t Sender<Vec<Item>>) -> Self {
        Batcher {
            tx,
            items: Vec::with_capacity(GROUP),
        }
    }

    fn send(&mut self, item: Item) -> bool {
        self.items.push(item);
        self.items.len() < GROUP || self.flush()
    }

    pub(crate) fn flush(&mut self) -> bool {
        if self.items.is_empty() {
            return true;
        }
        let items = std::mem::replace(&mut self.items, Vec::with_capacity(GROUP));
        self.tx.blocking_send(items).is_ok()
    }
}

use crate::config::{ConfigProblem, DefaultAccess, FilesystemConfig};
#[cfg(target_os = "linux")]
use crate::journal::{Cursor, Journal};
use crate::tree::{Entry, Problem, SortedWalk};
use crate::{JOURNAL_PARTITION, WALK_PARTITION};
use rayon::prelude::*;

/// Emit a resumable cursor every this many documents.
const CHECKPOINT_EVERY: usize = 500;

/// Entries stat'ed in parallel at a time.
const STAT_BATCH: usize = 1024;

type Item = Result<Change, ConnectorError>;

/// What a listing is asked for.
#[derive(Debug)]
pub(crate) enum Listing {
    /// Everything, after a walk cursor when resuming.
    Full { resume_after: Option<String> },
    /// What changed since the journal cursor (a walk when the journal cannot tell).
    Incremental { journal: Option<String> },
}

#[derive(Debug)]
pub(crate) struct Walker {
    pub(crate) config: FilesystemConfig,
    include: Option<GlobSet>,
    exclude: GlobSet,
    root: std::sync::OnceLock<PathBuf>,
    /// The change journal (`watch = true`), opened by the first listing. Locked for a whole
    /// listing: the engine never runs two syncs of one source at once anyway.
    #[cfg(target_os = "linux")]
    journal: std::sync::Mutex<JournalSlot>,
}

#[cfg(target_os = "linux")]
#[derive(Debug, Default)]
enum JournalSlot {
    #[default]
    Closed,
    Open(Box<Journal>),
    /// inotify could not be initialised (the `max_user_instances` limit); walk.
    Unavailable,
}

/// How a listing went so far.
#[derive(Debug, Default)]
struct WalkState {
    since_checkpoint: usize,
    /// An error went out: the listing is incomplete.
    failed: bool,
    /// Symlinked documents seen (for the journal).
    links: BTreeSet<String>,
}

fn globset(globs: &[String], key: &str) -> Result<GlobSet, Vec<ConfigProblem>> {
    let mut builder = GlobSetBuilder::new();
    let mut problems = Vec::new();
    for (i, g) in globs.iter().enumerate() {
        match Glob::new(g) {
            Ok(glob) => {
                builder.add(glob);
            }
            Err(e) => problems.push(ConfigProblem {
                key: format!("{key}[{i}]"),
                message: e.to_string(),
            }),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    builder.build().map_err(|e| {
        vec![ConfigProblem {
            key: key.into(),
            message: e.to_string(),
        }]
    })
}

impl Walker {
    pub(crate) fn new(config: FilesystemConfig) -> Result<Self, Vec<ConfigProblem>> {
        let include = if config.include.is_empty() {
            None
        } else {
            Some(globset(&config.include, "include")?)
        };
        let exclude = globset(&config.exclude, "exclude")?;
        Ok(Walker {
            config,
            include,
            exclude,
            root: std::sync::OnceLock::new(),
            #[cfg(target_os = "linux")]
            journal: std::sync::Mutex::default(),
        })
    }

    /// The canonical root, computed once (the root must exist by the first listing).
    fn canonical_root(&self) -> Result<PathBuf, ConnectorError> {
        if let Some(root) = self.root.get() {
            return Ok(root.clone());
        }
        let root = self.compute_root()?;
        Ok(self.root.get_or_init(|| root).clone())
    }

    fn compute_root(&self) -> Result<PathBuf, ConnectorError> {
        let root = &self.config.root;
        let canon = root
            .canonicalize()
            .map_err(|e| ConnectorError::from_io(format!("root {}", root.display()), e))?;
        if !canon.is_dir() {
            return Err(ConnectorError::new(
                ErrorKind::Permanent,
                format!("root {} is not a directory", root.display()),
            ));
        }
        Ok(canon)
    }

    fn load_acl_file(&self) -> Result<Option<AclFile>, ConnectorError> {
        let Some(path) = &self.config.acl_file else {
            return Ok(None);
        };
        let bytes = std::fs::read(path)
            .map_err(|e| ConnectorError::from_io(format!("acl file {}", path.display()), e))?;
        AclFile::parse(&bytes).map(Some).map_err(|e| {
            ConnectorError::new(
                ErrorKind::Permanent,
                format!("acl file {}: {e}", path.display()),
            )
            .with_source(e)
        })
    }

    pub(crate) fn check(&self) -> Result<(), ConnectorError> {
        let root = self.canonical_root()?;
        std::fs::read_dir(&root)
            .map_err(|e| ConnectorError::from_io(format!("list {}", root.display()), e))?;
        self.load_acl_file()?;
        Ok(())
    }

    fn acl_for(&self, acl_file: Option<&AclFile>, id: &str) -> Acl {
        if let Some(acl) = acl_file.and_then(|f| f.lookup(id)) {
            return acl.clone();
        }
        match self.config.default_access {
            DefaultAccess::Everyone => Acl::everyone(),
            DefaultAccess::None => Acl::default(),
        }
    }

    /// Maps a document id back to a path, refusing anything that escapes the root.
    pub(crate) fn resolve(&self, id: &str) -> Result<PathBuf, ConnectorError> {
        let rel = Path::new(id);
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(ConnectorError::new(
                ErrorKind::Permanent,
                format!("document id {id:?} is not a plain relative path"),
            ));
        }
        let root = self.canonical_root()?;
        let path = root.join(rel);
        // The listing never descends into symlinked folders, so only the file itself can be
        // a link; a regular file needs no (costly) canonicalisation.
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| ConnectorError::from_io(format!("stat {}", path.display()), e))?;
        if !meta.file_type().is_symlink() {
            return Ok(path);
        }
        let canon = path
            .canonicalize()
            .map_err(|e| ConnectorError::from_io(format!("resolve {}", path.display()), e))?;
        if !canon.starts_with(&root) {
            return Err(ConnectorError::new(
                ErrorKind::Permanent,
                format!("{} points outside the root", path.display()),
            ));
        }
        Ok(canon)
    }

    /// Lists the tree (or the journal's changes) and sends every change to `tx`; stops early
    /// if the receiver is gone.
    pub(crate) fn list(&self, listing: Listing, tx: &Sender<Vec<Item>>) {
        let mut out = Batcher::new(tx);
        if let Err(e) = self.list_inner(listing, &mut out) {
            out.send(Err(e));
        }
        out.flush();
    }

    #[cfg(not(target_os = "linux"))]
    fn list_inner(&self, listing: Listing, out: &mut Batcher<'_>) -> Result<(), ConnectorError> {
        match listing {
            Listing::Full { resume_after } => self.walk_inner(resume_after.as_deref(), out),
            Listing::Incremental { .. } => self.walk_inner(None, out),
        }
    }

    #[cfg(target_os = "linux")]
    fn list_inner(&self, listing: Listing, out: &mut Batcher<'_>) -> Result<(), ConnectorError> {
        let mut slot = self
            .journal
            .lock()
            // A listing that panicked may have left the journal half-updated: start a new
            // session (its first listing walks).
            .unwrap_or_else(|poisoned| {
                let mut slot = poisoned.into_inner();
                *slot = JournalSlot::Closed;
                slot
            });
        let journal = self.open_journal(&mut slot);
        let result = match (listing, journal) {
            (Listing::Full { resume_after }, None) => {
                self.walk_inner(resume_after.as_deref(), None, out)
            }
            // A resumed walk covers only part of the tree: it leaves no journal cursor.
            (
                Listing::Full {
                    resume_after: Some(after),
                },
                Some(_),
            ) => self.walk_inner(Some(&after), None, out),
            (Listing::Full { resume_after: None }, Some(journal)) => {
                self.walk_inner(None, Some(journal), out)
            }
            (Listing::Incremental { .. }, None) => self.walk_inner(None, None, out),
            (Listing::Incremental { journal: cursor }, Some(journal)) => {
                journal.drain();
                let rescan = i64::try_from(self.config.rescan_minutes.saturating_mul(60))
                    .unwrap_or(i64::MAX);
                if let Some(cursor) = cursor.as_deref().and_then(Cursor::parse)
                    && let Some(paths) = journal.changes_since(
                        &cursor,
                        OffsetDateTime::now_utc().unix_timestamp(),
                        rescan,
                    )
                    && self.replay(journal, paths, &cursor, out)?
                {
                    Ok(())
                } else {
                    self.walk_inner(None, Some(journal), out)
                }
            }
        };
        if let JournalSlot::Open(journal) = &*slot
            && journal.gave_up()
        {
            // Dropping it closes the inotify instance and releases every watch.
            *slot = JournalSlot::Unavailable;
        }
        result
    }

    /// The journal, opened on first use, when the source asks for one.
    #[cfg(target_os = "linux")]
    fn open_journal<'s>(&self, slot: &'s mut JournalSlot) -> Option<&'s mut Journal> {
        if !self.config.watch {
            return None;
        }
        if matches!(slot, JournalSlot::Closed) {
            *slot = match Journal::open() {
                Ok(journal) => JournalSlot::Open(Box::new(journal)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start the change journal (inotify); syncs of this source walk the folder");
                    JournalSlot::Unavailable
                }
            };
        }
        match slot {
            JournalSlot::Open(journal) => Some(journal),
            _ => None,
        }
    }

    /// What describing a document needs: the canonical root, the ACL file, the uri prefix.
    fn describe_context(&self, root: &Path) -> Result<DescribeContext, ConnectorError> {
        let acl_file = self.load_acl_file()?;
        // The ACL file is not a document when it lies inside the root: compared by id, which
        // is cheaper than comparing paths once per file.
        let acl_path = self
            .config
            .acl_file
            .as_ref()
            .and_then(|p| p.canonicalize().ok());
        let acl_id = acl_path
            .as_ref()
            .and_then(|p| id_of(p.strip_prefix(root).ok()?));
        let root_str = root.display().to_string();
        Ok(DescribeContext {
            root: root.to_path_buf(),
            acl_file,
            acl_outside_root: acl_path.filter(|_| acl_id.is_none()),
            acl_id,
            uri_prefix: if root_str.ends_with('/') {
                format!("file://{root_str}")
            } else {
                format!("file://{root_str}/")
            },
        })
    }

    fn excluded(&self, rel: &str) -> bool {
        self.include.as_ref().is_some_and(|g| !g.is_match(rel)) || self.exclude.is_match(rel)
    }

    /// Describes the paths the journal reports, in order, then moves the journal cursor.
    /// Returns `false`, having sent nothing, when only a walk can handle them.
    #[cfg(target_os = "linux")]
    fn replay(
        &self,
        journal: &mut Journal,
        paths: Vec<String>,
        cursor: &Cursor,
        out: &mut Batcher<'_>,
    ) -> Result<bool, ConnectorError> {
        let mut items = Vec::with_capacity(paths.len());
        if !paths.is_empty() {
            let root = self.compute_root()?;
            let cx = self.describe_context(&root)?;
            for rel in paths {
                if cx.acl_id.as_deref() == Some(rel.as_str()) {
                    return Ok(false);
                }
                let path = root.join(&rel);
                let lstat = match std::fs::symlink_metadata(&path) {
                    Ok(m) => m,
                    // Gone (or its folder is): proven deleted.
                    Err(e)
                        if e.kind() == std::io::ErrorKind::NotFound
                            || e.kind() == std::io::ErrorKind::NotADirectory =>
                    {
                        journal.set_link(&rel, false);
                        items.push(Ok(Change::Delete(rel.into())));
                        continue;
                    }
                    // The walk reports it (as the document's failure).
                    Err(_) => return Ok(false),
                };
                let file_type = lstat.file_type();
                if file_type.is_dir() {
                    return Ok(false);
                }
                let excluded = self.excluded(&rel);
                journal.set_link(&rel, file_type.is_symlink() && !excluded);
                if excluded {
                    continue;
                }
                let item = self
                    .describe_with(rel.clone(), file_type, || path.clone(), || Ok(lstat), &cx)
                    .unwrap_or_else(|| Ok(Change::Delete(rel.into())));
                items.push(item);
            }
        }
        for item in items {
            if !out.send(item) {
                return Ok(true);
            }
        }
        let next = journal.cursor(journal.seq(), cursor.walked_at);
        out.send(Ok(Change::Checkpoint {
            partition: JOURNAL_PARTITION.into(),
            cursor: Some(next.format()),
        }));
        Ok(true)
    }

    fn walk_inner(
        &self,
        resume_after: Option<&str>,
        #[cfg(target_os = "linux")] mut journal: Option<&mut Journal>,
        out: &mut Batcher<'_>,
    ) -> Result<(), ConnectorError> {
        let root = self.compute_root()?;
        let cx = self.describe_context(&root)?;
        #[cfg(target_os = "linux")]
        let start = journal.as_deref_mut().map(|j| {
            (
                j.begin_walk(cx.acl_outside_root.as_deref()),
                OffsetDateTime::now_utc().unix_timestamp(),
            )
        });
        let mut state = WalkState::default();
        let mut batch: Vec<Entry> = Vec::with_capacity(STAT_BATCH);

        let on_folder = |path: &Path, prefix: &str| {
            #[cfg(target_os = "linux")]
            if let Some(j) = journal.as_deref_mut() {
                j.watch_folder(path, prefix);
            }
            #[cfg(not(target_os = "linux"))]
            let _ = (path, prefix);
        };
        let walk = SortedWalk::new(&root, resume_after, on_folder)
            .map_err(|e| ConnectorError::from_io(format!("list {}", root.display()), e))?;
        for entry in walk {
            match entry {
                Ok(e) => {
                    // Cheap filters first: an excluded file is never even stat'ed.
                    if self.excluded(&e.rel) {
                        continue;
                    }
                    if e.file_type.is_symlink() {
                        state.links.insert(e.rel.clone());
                    }
                    batch.push(e);
                    if batch.len() == STAT_BATCH && !self.emit(&mut batch, &cx, out, &mut state) {
                        return Ok(());
                    }
                }
                Err(Problem::NotUtf8(path)) => {
                    tracing::warn!(path = %path.display(), "skipping a name that is not UTF-8");
                }
                Err(Problem::Unreadable(path, e)) => {
                    // A subtree we cannot read makes the listing incomplete: report it so
                    // the engine deletes nothing, then keep listing the rest.
                    let err = ConnectorError::from_io(format!("list {}", path.display()), e);
                    state.failed = true;
                    if !self.emit(&mut batch, &cx, out, &mut state) || !out.send(Err(err)) {
                        return Ok(());
                    }
                }
            }
        }
        if !self.emit(&mut batch, &cx, out, &mut state) {
            return Ok(());
        }
        out.send(Ok(Change::Checkpoint {
            partition: WALK_PARTITION.into(),
            cursor: None,
        }));
        out.send(Ok(Change::ListingComplete));
        // Only a walk that saw (and watched) everything may say the journal covers the
        // tree from its start; otherwise the next sync walks again.
        #[cfg(target_os = "linux")]
        if let (Some(j), Some((seq, walked_at))) = (journal, start) {
            let complete = !state.failed && resume_after.is_none();
            j.end_walk(complete, state.links);
            if complete && j.watching_all() {
                out.send(Ok(Change::Checkpoint {
                    partition: JOURNAL_PARTITION.into(),
                    cursor: Some(j.cursor(seq, walked_at).format()),
                }));
            }
        }
        Ok(())
    }

    /// Stats and describes a batch of entries on all cores, then sends the results in
    /// walk order, with a checkpoint every `CHECKPOINT_EVERY` documents. Stat calls are
    /// nearly all the work of a no-op sync, and they parallelise well.
    fn emit(
        &self,
        batch: &mut Vec<Entry>,
        cx: &DescribeContext,
        out: &mut Batcher<'_>,
        state: &mut WalkState,
    ) -> bool {
        let items: Vec<Option<Item>> = batch
            .par_drain(..)
            .map(|entry| self.describe(entry, cx))
            .collect();
        for item in items.into_iter().flatten() {
            let cursor = match &item {
                Ok(Change::Upsert(doc)) => {
                    state.since_checkpoint += 1;
                    (state.since_checkpoint >= CHECKPOINT_EVERY)
                        .then(|| doc.id.as_str().to_string())
                }
                Err(_) => {
                    state.failed = true;
                    None
                }
                _ => None,
            };
            if !out.send(item) {
                return false;
            }
            if let Some(cursor) = cursor {
                state.since_checkpoint = 0;
                let cp = Change::Checkpoint {
                    partition: WALK_PARTITION.into(),
                    cursor: Some(cursor),
                };
                if !out.send(Ok(cp)) {
                    return false;
                }
            }
        }
        true
    }

    /// One walk entry as a document, an error, or nothing (not a file we sync). Per-file
    /// work is what a no-op sync costs besides `stat`, so nothing here builds a path it can
    /// avoid: a regular file is stat'ed with `fstatat` on its open folder.
    fn describe(&self, entry: Entry, cx: &DescribeContext) -> Option<Item> {
        let dir_entry = entry.dir_entry;
        self.describe_with(
            entry.rel,
            entry.file_type,
            || dir_entry.path(),
            || dir_entry.metadata(),
            cx,
        )
    }

    /// A path as a document, an error, or nothing; `stat` gives a regular file's metadata,
    /// `path` its path (for a symlink's target and for messages).
    fn describe_with(
        &self,
        id: String,
        file_type: FileType,
        path: impl Fn() -> PathBuf,
        stat: impl FnOnce() -> std::io::Result<Metadata>,
        cx: &DescribeContext,
    ) -> Option<Item> {
        let metadata = if file_type.is_symlink() {
            // Follow a link only to a regular file inside the root; never out of it, and
            // never into a directory (which could loop).
            let path = path();
            match path.canonicalize() {
                Ok(target) if target.starts_with(&cx.root) && target.is_file() => {
                    std::fs::metadata(&target).ok()?
                }
                _ => {
                    tracing::debug!(path = %path.display(), "skipping symlink");
                    return None;
                }
            }
        } else if file_type.is_file() {
            match stat() {
                Ok(m) => m,
                Err(e) => {
                    return Some(Err(ConnectorError::from_io(
                        format!("stat {}", path().display()),
                        e,
                    )));
                }
            }
        } else {
            return None; // sockets, fifos, devices
        };
        if cx.acl_id.as_deref() == Some(id.as_str()) {
            return None;
        }
        let modified = metadata.modified().ok().map(OffsetDateTime::from);
        let mtime_ns = modified.map(|m| m.unix_timestamp_nanos()).unwrap_or(0);
        // The same text either way; u64 formats several times faster than i128.
        let version = match u64::try_from(mtime_ns) {
            Ok(ns) => format!("{}:{ns}", metadata.len()),
            Err(_) => format!("{}:{mtime_ns}", metadata.len()),
        };
        let acl = self.acl_for(cx.acl_file.as_ref(), &id);
        // The root is canonical and `id` is its `/`-joined UTF-8 path below it, so this is
        // the file's path without joining one.
        let title = id.rsplit('/').next().map(str::to_string);
        let uri = format!("{}{id}", cx.uri_prefix);
        let mut doc = RemoteDocument::new(id, version, acl);
        doc.title = title;
        doc.uri = Some(uri);
        doc.size = Some(metadata.len());
        doc.modified = modified;
        Some(Ok(Change::Upsert(doc)))
    }
}

/// What describing an entry needs from the listing.
struct DescribeContext {
    /// The canonical root.
    root: PathBuf,
    acl_file: Option<AclFile>,
    /// The ACL file's document id, when it lies inside the root.
    acl_id: Option<String>,
    /// The ACL file's canonical path, when it lies outside the root (the journal watches it).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    acl_outside_root: Option<PathBuf>,
    /// `file://` and the root, with a trailing `/`.
    uri_prefix: String,
}

/// A path relative to the root as a document id (`/`-separated), if it is UTF-8.
fn id_of(rel: &Path) -> Option<String> {
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_order_matches_sorted_walk_order() {
        // walkdir visits "a" (and everything under it) before its sibling "a.txt".
        assert!(Path::new("a/z.txt") < Path::new("a.txt"));
        assert!(Path::new("a.txt") < Path::new("b/a.txt"));
    }

    #[test]
    fn documents_carry_path_derived_fields_and_the_acl_file_inside_the_root_is_not_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("a")).expect("mkdir");
        std::fs::write(root.join("a/b.txt"), "hello").expect("write");
        std::fs::write(
            root.join("acl.json"),
            r#"[{"keyPrefix": "a/", "aclEntries": [{"Name": "g", "Type": "GROUP", "Access": "ALLOW"}]}]"#,
        )
        .expect("acl");
        let mut config = FilesystemConfig::new(&root);
        config.acl_file = Some(root.join("acl.json"));
        let walker = Walker::new(config).expect("config");
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        walker.list(Listing::Full { resume_after: None }, &tx);
        drop(tx);
        let mut docs = Vec::new();
        while let Some(items) = rx.blocking_recv() {
            for item in items {
                if let Change::Upsert(doc) = item.expect("no listing error") {
                    docs.push(doc);
                }
            }
        }
        assert_eq!(docs.len(), 1, "only a/b.txt: {docs:?}");
        let doc = &docs[0];
        let canonical = root.canonicalize().expect("canonical root");
        let meta = std::fs::metadata(canonical.join("a/b.txt")).expect("stat");
        let mtime_ns = OffsetDateTime::from(meta.modified().expect("mtime")).unix_timestamp_nanos();
        assert_eq!(doc.id.as_str(), "a/b.txt");
        assert_eq!(doc.version, format!("5:{mtime_ns}"));
        assert_eq!(doc.title.as_deref(), Some("b.txt"));
        assert_eq!(
            doc.uri.as_deref(),
            Some(format!("file://{}/a/b.txt", canonical.display()).as_str())
        );
        assert_eq!(doc.size, Some(5));
        assert!(!doc.acl.allow.is_empty(), "the ACL file's prefix applies");
    }
}
