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
        let acl_path = self
            .config
            .acl_file
            .as_ref()
            .and_then(|p| p.canonicalize().ok());
        let cx = Describe {
            root: &root,
            acl_file: acl_file.as_ref(),
            acl_path: acl_path.as_deref(),
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

    /// One entry as a document, an error, or nothing (not a file we sync).
    fn describe(&self, entry: Entry, cx: &Describe<'_>) -> Option<Item> {
        let path = entry.dir_entry.path();
        let file_type = entry.file_type;
        let metadata = if file_type.is_symlink() {
            // Follow a link only to a regular file inside the root; never out of it, and
            // never into a directory (which could loop).
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
                        format!("stat {}", path.display()),
                        e,
                    )));
                }
            }
        } else {
            return None; // sockets, fifos, devices
        };
        if cx.acl_path == Some(path.as_path()) {
            return None;
        }
        let id = entry.rel;
        let modified = metadata.modified().ok().map(OffsetDateTime::from);
        let mtime_ns = modified.map(|m| m.unix_timestamp_nanos()).unwrap_or(0);
        let version = format!("{}:{}", metadata.len(), mtime_ns);
        let acl = self.acl_for(cx.acl_file, &id);
        let mut doc = RemoteDocument::new(id, version, acl);
        doc.title = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string);
        doc.uri = Some(format!("file://{}", path.display()));
        doc.size = Some(metadata.len());
        doc.modified = modified;
        Some(Ok(Change::Upsert(doc)))
    }
}

/// What describing an entry needs from the listing.
struct Describe<'a> {
    root: &'a Path,
    acl_file: Option<&'a AclFile>,
    acl_path: Option<&'a Path>,
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
}
