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
//! ```no_run
//! use connector_filesystem::{FilesystemConfig, FilesystemConnector};
//!
//! let config = FilesystemConfig::new("/srv/docs");
//! assert!(config.validate().is_empty());
//! let connector = FilesystemConnector::new(config).expect("valid config");
//! ```

mod config;
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

pub use config::{ConfigProblem, DefaultAccess, FilesystemConfig};

/// Files up to this size are read on the calling task (see `fetch`).
const INLINE_READ_BYTES: u64 = 64 * 1024;

/// The partition name of the walk cursor in the checkpoint.
pub const WALK_PARTITION: &str = "walk";

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

    fn listing(&self, resume_after: Option<String>) -> ChangeStream<'static> {
        let walker = Arc::clone(&self.inner);
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        // Walking is blocking I/O: run it on the blocking pool and hand items over through a
        // bounded channel, so a huge tree never piles up in memory.
        tokio::task::spawn_blocking(move || walker.walk(resume_after.as_deref(), &tx));
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
        let after = resume.and_then(|cp| cp.cursor(WALK_PARTITION).map(str::to_string));
        self.listing(after)
    }

    /// A folder has no change feed: list everything; the engine's manifest diff finds the
    /// changes without opening unchanged files.
    fn incremental<'a>(
        &'a self,
        _cx: &'a SyncContext,
        _since: &'a SourceCheckpoint,
    ) -> ChangeStream<'a> {
        self.listing(None)
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
