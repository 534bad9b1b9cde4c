//! The folder walk: deterministic order, symlink containment, ACLs, resumable cursor.

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

use crate::WALK_PARTITION;
use crate::config::{ConfigProblem, DefaultAccess, FilesystemConfig};
use crate::tree::{Entry, Problem, SortedWalk};
use rayon::prelude::*;

/// Emit a resumable cursor every this many documents.
const CHECKPOINT_EVERY: usize = 500;

/// Entries stat'ed in parallel at a time.
const STAT_BATCH: usize = 1024;

type Item = Result<Change, ConnectorError>;

#[derive(Debug)]
pub(crate) struct Walker {
    pub(crate) config: FilesystemConfig,
    include: Option<GlobSet>,
    exclude: GlobSet,
    root: std::sync::OnceLock<PathBuf>,
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

    /// Walks the tree and sends every change to `tx`; stops early if the receiver is gone.
    pub(crate) fn walk(&self, resume_after: Option<&str>, tx: &Sender<Vec<Item>>) {
        let mut out = Batcher::new(tx);
        if let Err(e) = self.walk_inner(resume_after, &mut out) {
            out.send(Err(e));
        }
        out.flush();
    }

    fn walk_inner(
        &self,
        resume_after: Option<&str>,
        out: &mut Batcher<'_>,
    ) -> Result<(), ConnectorError> {
        let root = self.compute_root()?;
        let acl_file = self.load_acl_file()?;
        // The ACL file is not a document when it lies inside the root: compared by id, which
        // is cheaper than comparing paths once per file.
        let acl_id = self
            .config
            .acl_file
            .as_ref()
            .and_then(|p| p.canonicalize().ok())
            .and_then(|p| id_of(p.strip_prefix(&root).ok()?));
        let root_str = root.display().to_string();
        let cx = Describe {
            root: &root,
            acl_file: acl_file.as_ref(),
            acl_id: acl_id.as_deref(),
            uri_prefix: if root_str.ends_with('/') {
                format!("file://{root_str}")
            } else {
                format!("file://{root_str}/")
            },
        };
        let mut since_checkpoint = 0usize;
        let mut batch: Vec<Entry> = Vec::with_capacity(STAT_BATCH);

        let walk = SortedWalk::new(&root, resume_after)
            .map_err(|e| ConnectorError::from_io(format!("list {}", root.display()), e))?;
        for entry in walk {
            match entry {
                Ok(e) => {
                    // Cheap filters first: an excluded file is never even stat'ed.
                    if self.include.as_ref().is_some_and(|g| !g.is_match(&e.rel))
                        || self.exclude.is_match(&e.rel)
                    {
                        continue;
                    }
                    batch.push(e);
                    if batch.len() == STAT_BATCH
                        && !self.emit(&mut batch, &cx, out, &mut since_checkpoint)
                    {
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
                    if !self.emit(&mut batch, &cx, out, &mut since_checkpoint)
                        || !out.send(Err(err))
                    {
                        return Ok(());
                    }
                }
            }
        }
        if !self.emit(&mut batch, &cx, out, &mut since_checkpoint) {
            return Ok(());
        }
        out.send(Ok(Change::Checkpoint {
            partition: WALK_PARTITION.into(),
            cursor: None,
        }));
        out.send(Ok(Change::ListingComplete));
        Ok(())
    }

    /// Stats and describes a batch of entries on all cores, then sends the results in
    /// walk order, with a checkpoint every `CHECKPOINT_EVERY` documents. Stat calls are
    /// nearly all the work of a no-op sync, and they parallelise well.
    fn emit(
        &self,
        batch: &mut Vec<Entry>,
        cx: &Describe<'_>,
        out: &mut Batcher<'_>,
        since_checkpoint: &mut usize,
    ) -> bool {
        let items: Vec<Option<Item>> = batch
            .par_drain(..)
            .map(|entry| self.describe(entry, cx))
            .collect();
        for item in items.into_iter().flatten() {
            let cursor = match &item {
                Ok(Change::Upsert(doc)) => {
                    *since_checkpoint += 1;
                    (*since_checkpoint >= CHECKPOINT_EVERY).then(|| doc.id.as_str().to_string())
                }
                _ => None,
            };
            if !out.send(item) {
                return false;
            }
            if let Some(cursor) = cursor {
                *since_checkpoint = 0;
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

    /// One entry as a document, an error, or nothing (not a file we sync). Per-file work is
    /// what a no-op sync costs besides `stat`, so nothing here builds a path it can avoid.
    fn describe(&self, entry: Entry, cx: &Describe<'_>) -> Option<Item> {
        let file_type = entry.file_type;
        let metadata = if file_type.is_symlink() {
            // Follow a link only to a regular file inside the root; never out of it, and
            // never into a directory (which could loop).
            let path = entry.dir_entry.path();
            match path.canonicalize() {
                Ok(target) if target.starts_with(cx.root) && target.is_file() => {
                    std::fs::metadata(&target).ok()?
                }
                _ => {
                    tracing::debug!(path = %path.display(), "skipping symlink");
                    return None;
                }
            }
        } else if file_type.is_file() {
            // fstatat on the open folder: no path resolution.
            match entry.dir_entry.metadata() {
                Ok(m) => m,
                Err(e) => {
                    return Some(Err(ConnectorError::from_io(
                        format!("stat {}", entry.dir_entry.path().display()),
                        e,
                    )));
                }
            }
        } else {
            return None; // sockets, fifos, devices
        };
        if cx.acl_id == Some(entry.rel.as_str()) {
            return None;
        }
        let id = entry.rel;
        let modified = metadata.modified().ok().map(OffsetDateTime::from);
        let mtime_ns = modified.map(|m| m.unix_timestamp_nanos()).unwrap_or(0);
        // The same text either way; u64 formats several times faster than i128.
        let version = match u64::try_from(mtime_ns) {
            Ok(ns) => format!("{}:{ns}", metadata.len()),
            Err(_) => format!("{}:{mtime_ns}", metadata.len()),
        };
        let acl = self.acl_for(cx.acl_file, &id);
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
struct Describe<'a> {
    root: &'a Path,
    acl_file: Option<&'a AclFile>,
    /// The ACL file's document id, when it lies inside the root.
    acl_id: Option<&'a str>,
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
        walker.walk(None, &tx);
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
