//! Tributary's sync engine: from a connector's change stream to a permission-aware index.
//!
//! [`Engine`] reaches its index through [`DocumentIndex`] ([`TantivyIndex`] on disk) and its
//! state through [`StateStore`], and runs sources (several at once if asked, never one
//! source twice at once) through the pipeline in [`pipeline`]: manifest diff → fetch (N
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

pub mod chunker;
pub mod identities;
pub mod index;
mod memory_index;
mod memory_store;
pub mod pipeline;
pub mod report;
mod seen;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use chunker::ChunkerConfig;
pub use identities::{Identities, IdentitiesFile, Memberships};
pub use index::{
    DocumentIndex, IndexSink, SearchHit, SearchOptions, StoredAcl, StoredChunk, TantivyIndex,
    VisibleDoc,
};
pub use memory_index::MemoryIndex;
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
    /// A run of this source is already in progress in this process.
    #[error("source {0} is already syncing")]
    SourceBusy(String),
}

/// The state store's "another process holds it" as [`EngineError::Busy`].
fn busy(e: EngineError, dir: &Path) -> EngineError {
    match e {
        EngineError::Store(m) if m.contains("lock") => EngineError::Busy(dir.to_path_buf()),
        other => other,
    }
}

/// Engine result.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// The sync engine over one data directory (`index/` and `state/` inside it). Clones share
/// everything, so one engine can run several sources at once (`sync` on each, concurrently).
#[derive(Debug, Clone)]
pub struct Engine {
    dir: PathBuf,
    index: Arc<dyn DocumentIndex>,
    store: Arc<dyn StateStore>,
    registry: Arc<extractors::Registry>,
    /// Sources with a run in progress: a second run of one source would race the first on
    /// its manifest and checkpoint.
    running: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl Engine {
    /// Opens (or creates) the data directory.
    pub fn open(dir: &Path) -> Result<Self> {
        Engine::open_searching(dir).map(|(engine, _)| engine)
    }

    /// [`Engine::open`], and a handle on the engine's own index for a process that searches
    /// what it syncs (the daemon's API). Searches on it see each of the engine's commits as
    /// soon as it is made, and the commit that follows a search reloads the reader on the
    /// writer's thread, so a search during a sync neither reads `meta.json` nor opens
    /// segments (`index/search.rs`).
    pub fn open_searching(dir: &Path) -> Result<(Self, TantivyIndex)> {
        std::fs::create_dir_all(dir)
            .map_err(|e| EngineError::Config(format!("create data dir {}: {e}", dir.display())))?;
        let store = LocalStore::open(dir).map_err(|e| busy(e, dir))?;
        let index = TantivyIndex::open(&dir.join("index"))?;
        let engine = Engine::with_parts(dir, Arc::new(index.clone()), Arc::new(store))?;
        Ok((engine, index))
    }

    /// Opens the data directory to look at it (`status`, `runs`), also while a sync in
    /// another process writes it: the state store is opened read-only and sees each of that
    /// sync's commits. A look never writes, so it can never keep a sync from starting: a
    /// directory without a store or index yet looks empty, and a store of an older layout
    /// is an error until a sync upgrades it.
    pub fn open_read_only(dir: &Path) -> Result<Self> {
        // A file that is not there, or that a starting sync has created but not yet
        // initialised, holds nothing yet.
        let file = dir.join(store::STORE_FILE);
        let store: Arc<dyn StateStore> = match std::fs::metadata(&file).map(|m| m.len()) {
            Ok(0) | Err(_) => Arc::new(MemoryStore::new()),
            Ok(_) => match LocalStore::open_read_only(dir) {
                Ok(store) => Arc::new(store),
                Err(EngineError::Store(m)) if m.contains("is empty") => {
                    Arc::new(MemoryStore::new())
                }
                Err(e) => return Err(e),
            },
        };
        let index: Arc<dyn DocumentIndex> = match TantivyIndex::open_read_only(&dir.join("index"))?
        {
            Some(index) => Arc::new(index),
            None => Arc::new(MemoryIndex::new()),
        };
        Engine::with_parts(dir, index, store)
    }

    /// Opens the index in `dir` (created if need be) with another state store: the engine
    /// reaches its state only through [`StateStore`] (see [`MemoryStore`]).
    pub fn with_store(dir: &Path, store: Arc<dyn StateStore>) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| EngineError::Config(format!("create data dir {}: {e}", dir.display())))?;
        let index = TantivyIndex::open(&dir.join("index"))?;
        Engine::with_parts(dir, Arc::new(index), store)
    }

    /// An engine on any index and state store ([`MemoryIndex`] and [`MemoryStore`] in
    /// tests); `dir` holds only the run's scratch files (the seen logs).
    pub fn with_parts(
        dir: &Path,
        index: Arc<dyn DocumentIndex>,
        store: Arc<dyn StateStore>,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| EngineError::Config(format!("create data dir {}: {e}", dir.display())))?;
        Ok(Engine {
            dir: dir.to_path_buf(),
            index,
            store,
            registry: Arc::new(extractors::Registry::default()),
            running: Arc::default(),
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
    pub fn index(&self) -> &dyn DocumentIndex {
        &*self.index
    }

    /// The state store.
    pub fn store(&self) -> &dyn StateStore {
        &*self.store
    }

    /// Runs one sync of `source`; see [`pipeline`]. Runs of different sources may go on at
    /// once (their documents share the index's writer); a second run of a source already
    /// syncing fails with [`EngineError::SourceBusy`].
    pub async fn sync(
        &self,
        source: &Source,
        options: &SyncOptions,
        progress: Arc<Progress>,
    ) -> Result<RunReport> {
        pipeline::run(self, source, options, progress).await
    }
}
