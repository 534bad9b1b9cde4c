//! Tributary connector for a local folder: the quickstart source, and the reference
//! implementation of the [`connector_sdk::Connector`] contract.
//!
//! [`FilesystemConnector`] walks a root folder in a deterministic order (siblings sorted by
//! name), yields one [`connector_sdk::RemoteDocument`] per regular file, and reads bytes only
//! in `fetch`, through the [`FileReader`] seam. Document ids are paths relative to the root
//! with `/` separators; versions are size + modification time, so an unchanged file is
//! never opened. ACLs come from an Amazon Q style ACL file ([`connector_sdk::acl_file`])
//! whose `keyPrefix`es are relative paths.
//!
//! An incremental listing walks the whole folder and lets the engine diff it, unless the
//! source sets `watch`: then a connector that lives across syncs keeps an inotify change
//! journal and lists only the paths that changed, walking whenever the journal cannot be
//! sure (ADR 0009).
//!
//! [`FilesystemType`] is the `type = "filesystem"` entry a host registers: it reads a
//! [`FilesystemConfig`] from a `[[sources]]` table ([`connector_sdk::SourceType`]).
//!
//! ```no_run
//! use connector_filesystem::{FilesystemConfig, FilesystemConnector};
//!
//! let config = FilesystemConfig::new("/srv/docs");
//! assert!(config.validate().is_empty());
//! let connector = FilesystemConnector::new(config).expect("valid config");
//! ```

mod config;
#[cfg(target_os = "linux")]
mod journal;
mod tree;
mod walk;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use connector_sdk::{
    ByteStream, ChangeStream, Connector, ConnectorError, ErrorKind, RemoteDocument,
    SourceCheckpoint, SyncContext,
};
use futures::StreamExt;

pub use config::{ConfigProblem, DefaultAccess, FilesystemConfig, FilesystemType};

/// Files up to this size are read on the calling task (see `fetch`).
const INLINE_READ_BYTES: u64 = 64 * 1024;

/// The partition name of the walk cursor in the checkpoint.
pub const WALK_PARTITION: &str = "walk";

/// The partition name of the change journal's cursor in the checkpoint (`watch = true`).
pub const JOURNAL_PARTITION: &str = "journal";

/// How file bytes are read. A seam so tests can prove which files were opened.
pub trait FileReader: Send + Sync + fmt::Debug {
    /// Reads at most `max` bytes of `path`; a longer file is an error of kind `TooLarge`.
    fn read(&self, path: &Path, max: u64) -> Result<Vec<u8>, ConnectorError>;
}

/// Reads files with `std::fs`, refusing files over the limit without reading them whole.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFileReader;

impl FileReader for StdFileReader {
    fn read(&self, path: &Path, max: u64) -> Result<Vec<u8>, ConnectorError> {
        let file = std::fs::File::open(path)
            .map_err(|e| ConnectorError::from_io(format!("open {}", path.display()), e))?;
        let mut buf = Vec::new();
        // Read one byte past the limit: the file may have grown since it was listed.
        file.take(max.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| ConnectorError::from_io(format!("read {}", path.display()), e))?;
        if buf.len() as u64 > max {
            return Err(ConnectorError::new(
                ErrorKind::TooLarge,
                format!("{} is larger than the limit of {max} bytes", path.display()),
            ));
        }
        Ok(buf)
    }
}

/// A connector over one local folder.
#[derive(Debug, Clone)]
pub struct FilesystemConnector {
    inner: Arc<walk::Walker>,
    reader: Arc<dyn FileReader>,
}

impl FilesystemConnector {
    /// Builds the connector; fails with every configuration problem at once.
    pub fn new(config: FilesystemConfig) -> Result<Self, Vec<ConfigProblem>> {
        Self::with_reader(config, Arc::new(StdFileReader))
    }

    /// Builds the connector with a custom [`FileReader`].
    pub fn with_reader(
        config: FilesystemConfig,
        reader: Arc<dyn FileReader>,
    ) -> Result<Self, Vec<ConfigProblem>> {
        let problems = config.validate();
        if !problems.is_empty() {
            return Err(problems);
        }
        let walker = walk::Walker::new(config)?;
        Ok(FilesystemConnector {
            inner: Arc::new(walker),
            reader,
        })
    }

    /// The configured root.
    pub fn root(&self) -> &Path {
        &self.inner.config.root
    }

    fn absolute(&self, doc: &RemoteDocument) -> Result<PathBuf, ConnectorError> {
        self.inner.resolve(doc.id.as_str())
    }

    fn listing(&self, listing: walk::Listing) -> ChangeStream<'static> {
        let walker = Arc::clone(&self.inner);
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        // Walking is blocking I/O: run it on the blocking pool and hand items over through a
        // bounded channel, so a huge tree never piles up in memory.
        tokio::task::spawn_blocking(move || walker.list(listing, &tx));
        futures::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|items| (futures::stream::iter(items), rx))
        })
        .flatten()
        .boxed()
    }
}

#[async_trait]
impl Connector for FilesystemConnector {
    fn kind(&self) -> &'static str {
        "filesystem"
    }

    async fn check(&self, _cx: &SyncContext) -> Result<(), ConnectorError> {
        let walker = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || walker.check())
            .await
            .map_err(|e| {
                ConnectorError::new(ErrorKind::Permanent, format!("check panicked: {e}"))
            })?
    }

    fn full<'a>(
        &'a self,
        _cx: &'a SyncContext,
        resume: Option<&'a SourceCheckpoint>,
    ) -> ChangeStream<'a> {
        let resume_after = resume.and_then(|cp| cp.cursor(WALK_PARTITION).map(str::to_string));
        self.listing(walk::Listing::Full { resume_after })
    }

    /// With `watch`, the change journal's paths since the checkpoint's cursor when it can
    /// tell; otherwise a walk of everything, which the engine diffs against its manifest
    /// without opening unchanged files.
    fn incremental<'a>(
        &'a self,
        _cx: &'a SyncContext,
        since: &'a SourceCheckpoint,
    ) -> ChangeStream<'a> {
        let journal = since.cursor(JOURNAL_PARTITION).map(str::to_string);
        self.listing(walk::Listing::Incremental { journal })
    }

    async fn fetch(
        &self,
        cx: &SyncContext,
        doc: &RemoteDocument,
    ) -> Result<ByteStream, ConnectorError> {
        let path = self.absolute(doc)?;
        let reader = Arc::clone(&self.reader);
        let max = cx.limits.max_document_bytes;
        // A small file reads in microseconds; the hop to the blocking pool would cost more.
        let bytes = if doc.size.is_some_and(|s| s <= INLINE_READ_BYTES) {
            reader.read(&path, max)?
        } else {
            tokio::task::spawn_blocking(move || reader.read(&path, max))
                .await
                .map_err(|e| {
                    ConnectorError::new(ErrorKind::Permanent, format!("read panicked: {e}"))
                })??
        };
        Ok(futures::stream::once(async move { Ok(Bytes::from(bytes)) }).boxed())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use connector_sdk::Change;

    /// What a listing said: upserted ids, deleted ids, whether it was a complete walk, and
    /// the checkpoint it leaves.
    #[derive(Debug, Default)]
    struct Listed {
        upserts: Vec<String>,
        deletes: Vec<String>,
        walked: bool,
        checkpoint: SourceCheckpoint,
    }

    async fn check(stream: ChangeStream<'_>, from: &SourceCheckpoint) -> Listed {
        let mut listed = Listed {
            checkpoint: from.clone(),
            ..Listed::default()
        };
        let changes: Vec<_> = stream.collect().await;
        for change in changes {
            match change.expect("no listing error") {
                Change::Upsert(doc) => listed.upserts.push(doc.id.as_str().to_string()),
                Change::Delete(id) => listed.deletes.push(id.as_str().to_string()),
                Change::ListingComplete => listed.walked = true,
                Change::Checkpoint { partition, cursor } => {
                    listed.checkpoint.set(&partition, cursor)
                }
                Change::Permissions { .. } => panic!("no permission-only changes here"),
            }
        }
        listed
    }

    fn cx() -> SyncContext {
        SyncContext {
            source_id: "docs".into(),
            run_id: "1".into(),
            limits: connector_sdk::Limits::default(),
        }
    }

    fn watching(root: &Path) -> FilesystemConnector {
        let mut config = FilesystemConfig::new(root);
        config.watch = true;
        FilesystemConnector::new(config).expect("config")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_journal_replays_until_a_later_cursor_is_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.txt"), "a").expect("write");
        let connector = watching(dir.path());
        let cx = cx();
        let start = SourceCheckpoint::default();
        let full = check(connector.full(&cx, None), &start).await;
        assert!(full.walked);
        assert_eq!(full.upserts, ["a.txt"]);
        let c0 = full.checkpoint;
        assert!(c0.cursor(JOURNAL_PARTITION).is_some(), "{c0:?}");

        std::fs::write(dir.path().join("b.txt"), "b").expect("write");
        let first = check(connector.incremental(&cx, &c0), &c0).await;
        assert!(!first.walked, "the journal answered");
        assert_eq!(first.upserts, ["b.txt"]);
        // The engine did not commit `first`'s cursor (the run failed): the change comes again.
        let again = check(connector.incremental(&cx, &c0), &c0).await;
        assert_eq!(
            (again.walked, again.upserts),
            (false, vec!["b.txt".to_string()])
        );
        let quiet = check(
            connector.incremental(&cx, &again.checkpoint),
            &again.checkpoint,
        )
        .await;
        assert!(!quiet.walked && quiet.upserts.is_empty() && quiet.deletes.is_empty());

        // A symlinked document changes with its target, which has its own events.
        std::os::unix::fs::symlink("b.txt", dir.path().join("link.txt")).expect("symlink");
        let linked = check(
            connector.incremental(&cx, &quiet.checkpoint),
            &quiet.checkpoint,
        )
        .await;
        assert_eq!(linked.upserts, ["link.txt"]);
        std::fs::write(dir.path().join("b.txt"), "b, edited").expect("write");
        std::fs::remove_file(dir.path().join("a.txt")).expect("rm");
        let edited = check(
            connector.incremental(&cx, &linked.checkpoint),
            &linked.checkpoint,
        )
        .await;
        assert_eq!(
            (edited.upserts, edited.deletes),
            (
                vec!["b.txt".to_string(), "link.txt".to_string()],
                vec!["a.txt".to_string()]
            )
        );

        // Another process (a new connector) cannot trust this journal: it walks.
        let other = watching(dir.path());
        let walked = check(
            other.incremental(&cx, &edited.checkpoint),
            &edited.checkpoint,
        )
        .await;
        assert!(walked.walked);
        assert_eq!(walked.upserts, ["b.txt", "link.txt"]);
        assert_ne!(
            walked.checkpoint.cursor(JOURNAL_PARTITION),
            edited.checkpoint.cursor(JOURNAL_PARTITION)
        );

        // A cursor whose walk is older than `rescan_minutes`: walk again.
        let cursor = edited.checkpoint.cursor(JOURNAL_PARTITION).expect("cursor");
        let (rest, _walked_at) = cursor.rsplit_once(':').expect("walked_at");
        let mut stale = edited.checkpoint.clone();
        stale.set(JOURNAL_PARTITION, Some(format!("{rest}:0")));
        let rescan = check(connector.incremental(&cx, &stale), &stale).await;
        assert!(rescan.walked);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn excluded_files_stay_out_and_the_acl_file_inside_the_root_makes_a_walk() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.txt"), "a").expect("write");
        std::fs::write(dir.path().join("acl.json"), "[]").expect("acl");
        let mut config = FilesystemConfig::new(dir.path());
        config.watch = true;
        config.acl_file = Some(dir.path().join("acl.json"));
        config.exclude = vec!["*.tmp".into()];
        let connector = FilesystemConnector::new(config).expect("config");
        let cx = cx();
        let full = check(connector.full(&cx, None), &SourceCheckpoint::default()).await;
        assert_eq!(full.upserts, ["a.txt"]);

        std::fs::write(dir.path().join("scratch.tmp"), "x").expect("write");
        let excluded = check(
            connector.incremental(&cx, &full.checkpoint),
            &full.checkpoint,
        )
        .await;
        assert!(!excluded.walked);
        assert!(
            excluded.upserts.is_empty() && excluded.deletes.is_empty(),
            "{excluded:?}"
        );

        std::fs::write(dir.path().join("acl.json"), "[ ]").expect("acl");
        let acl = check(
            connector.incremental(&cx, &excluded.checkpoint),
            &excluded.checkpoint,
        )
        .await;
        assert!(acl.walked, "an ACL change can touch every document");
        assert_eq!(acl.upserts, ["a.txt"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_watch_every_incremental_walks_and_leaves_no_journal_cursor() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.txt"), "a").expect("write");
        let connector =
            FilesystemConnector::new(FilesystemConfig::new(dir.path())).expect("config");
        let cx = cx();
        let start = SourceCheckpoint::default();
        let full = check(connector.full(&cx, None), &start).await;
        assert_eq!(full.checkpoint.cursor(JOURNAL_PARTITION), None);
        let next = check(
            connector.incremental(&cx, &full.checkpoint),
            &full.checkpoint,
        )
        .await;
        assert!(next.walked);
        assert_eq!(next.upserts, ["a.txt"]);
    }
}
