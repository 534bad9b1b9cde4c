//! Tributary's sync engine: from a connector's change stream to a permission-aware index.
//!
//! [`Engine`] owns the [`index::TantivyIndex`] and a [`store::StateStore`] and runs one
//! source at a time through the pipeline in [`pipeline`]: manifest diff → fetch (N
//! concurrent) → extract and chunk (blocking pool) → index writer (one thread) → commit →
//! manifest and checkpoint. [`RunReport`]s record what each run did; [`Identities`] turns a
//! user into the principals a search filters on.
//!
//! Invariants kept here (see ARCHITECTURE.md):
//! - the index commits before the manifest and checkpoint that describe it are written;
//! - documents not seen by a *complete* listing are deleted only after it completed, and
//!   never more than the mass-delete guard allows;
//! - a document with an empty ACL is invisible.
//!
//! ```no_run
//! # async fn demo(connector: std::sync::Arc<dyn connector_sdk::Connector>) -> Result<(), sync_core::EngineError> {
//! use sync_core::{Engine, Source, SyncOptions};
//!
//! // `connector` is any `connector_sdk::Connector` (`connector_filesystem::FilesystemConnector`,
//! // say): the engine depends on no connector crate, not even in its examples.
//! let engine = Engine::open(std::path::Path::new(".tributary"))?;
//! let source = Source::new("docs", connector);
//! let report = engine.sync(&source, &SyncOptions::default(), Default::default()).await?;
//! println!("{:?}", report.counts);
//! # Ok(()) }
//! ```

pub mod allocator;
pub mod chunker;
pub mod identities;
pub mod index;
mod memory_store;
pub mod pipeline;
pub mod report;
mod seen;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use chunker::ChunkerConfig;
pub use identities::{Identities, IdentitiesFile, Memberships};
pub use index::{SearchHit, StoredAcl, TantivyIndex, VisibleDoc};
pub use memory_store::MemoryStore;
pub use pipeline::{CommitPolicy, Progress, Source, SyncOptions};
pub use report::{Counts, RateLimits, RunMode, RunReason, RunReport, RunState};
pub use store::{LocalStore, StateStore};

/// Engine failures that stop a run (per-document problems go into the run report instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The tantivy index failed or is incompatible.
    #[error("index: {0}")]
    Index(String),
    /// The state store failed or holds data we cannot read.
    #[error("state store: {0}")]
    Store(String),
    /// Invalid configuration or input file.
    #[error("configuration: {0}")]
    Config(String),
    /// Another process holds the index.
    #[error("the index at {0} is in use by another tributary process")]
    Busy(PathBuf),
}

/// Engine result.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// The sync engine over one data directory (`index/` and `state/` inside it).
#[derive(Debug, Clone)]
pub struct Engine {
    dir: PathBuf,
    index: TantivyIndex,
    store: Arc<dyn StateStore>,
    registry: Arc<extractors::Registry>,
}

impl Engine {
    /// Opens (or creates) the data directory.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| EngineError::Config(format!("create data dir {}: {e}", dir.display())))?;
        let store = LocalStore::open(dir).map_err(|e| match e {
            EngineError::Store(m) if m.contains("WouldBlock") || m.contains("lock") => {
                EngineError::Busy(dir.to_path_buf())
            }
            other => other,
        })?;
        Engine::with_store(dir, Arc::new(store))
    }

    /// Opens the index in `dir` (created if need be) with another state store: the engine
    /// reaches its state only through [`StateStore`] (see [`MemoryStore`]).
    pub fn with_store(dir: &Path, store: Arc<dyn StateStore>) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| EngineError::Config(format!("create data dir {}: {e}", dir.display())))?;
        let index = TantivyIndex::open(&dir.join("index"))?;
        Ok(Engine {
            dir: dir.to_path_buf(),
            index,
            store,
            registry: Arc::new(extractors::Registry::default()),
        })
    }

    /// The same engine extracting with `registry` instead of the built-in extractors.
    pub fn with_registry(mut self, registry: extractors::Registry) -> Self {
        self.registry = Arc::new(registry);
        self
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The index, for searches.
    pub fn index(&self) -> &TantivyIndex {
        &self.index
    }

    /// The state store.
    pub fn store(&self) -> &dyn StateStore {
        &*self.store
    }

    /// Runs one sync of `source`; see [`pipeline`].
    pub async fn sync(
        &self,
        source: &Source,
        options: &SyncOptions,
        progress: Arc<Progress>,
    ) -> Result<RunReport> {
        pipeline::run(self, source, options, progress).await
    }
}
