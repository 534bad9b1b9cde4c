//! The state store: manifest, per-source checkpoints, the retry list and run reports.
//!
//! [`StateStore`] is the seam (a PostgreSQL store for several daemons can implement it);
//! [`LocalStore`] is the embedded implementation: one redb file that one process writes and
//! others read while it does (ADR 0013). A [`StoreBatch`] — the manifest rows, retry rows,
//! checkpoint and run report that describe one index commit — is one durable transaction.
//! The index commits first, so the store may lag the index after a crash, never lead it.

use connector_sdk::{RemoteDocument, SourceCheckpoint};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Result;
use crate::identities::Memberships;
use crate::report::{RunMode, RunReport};

mod legacy;
mod local;

pub use local::LocalStore;

/// The store's file in a data directory (the name predates the rest of the state moving in).
pub const STORE_FILE: &str = "manifest.redb";

/// What the engine remembers about one indexed document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The source's version string when it was last indexed.
    pub version: String,
    /// Hash of the canonical ACL it was indexed with.
    pub acl_hash: String,
    /// Hash of the fetched bytes (empty for inline content).
    pub content_hash: String,
    /// The extractor/chunker pipeline version that produced its chunks.
    pub pipeline: String,
    /// Number of chunks in the index.
    pub chunks: u32,
    /// The listing generation that last saw it (mark-and-sweep).
    pub seen: u64,
}

/// An unfinished full listing, resumable after a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingState {
    /// Documents seen by this listing are marked with this generation.
    pub generation: u64,
    /// The mode the listing started in.
    pub mode: RunMode,
    /// The connector's cursor as of the last commit.
    pub checkpoint: SourceCheckpoint,
    /// Documents seen up to that cursor that are in the manifest (see `seen.rs`).
    #[serde(default)]
    pub present: u64,
}

/// Per-source sync state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    /// The cursor for the next incremental run; `None` until a full listing completed.
    pub checkpoint: Option<SourceCheckpoint>,
    /// A full listing in progress (or interrupted), if any.
    pub listing: Option<ListingState>,
    /// A run is in progress, or died: the index may hold documents it committed but never
    /// recorded in the manifest. The next run removes them first.
    #[serde(default)]
    pub running: bool,
}

/// A document that failed in a run and waits to be tried again: a change feed will not list
/// it again until it changes, so the engine keeps what it needs to fetch it once more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryEntry {
    /// The document as it was last listed.
    pub doc: RemoteDocument,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The last failure's stage (`fetch`, `extract`, `resolve`, `index`).
    pub stage: String,
    /// The last failure's kind.
    pub kind: String,
    /// The last failure's message.
    pub message: String,
    /// When it last failed.
    #[serde(with = "time::serde::rfc3339")]
    pub failed_at: OffsetDateTime,
    /// Not tried again before this.
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt: OffsetDateTime,
}

/// Writes applied together, in one durable transaction.
#[derive(Debug, Default)]
pub struct StoreBatch {
    /// Manifest rows to write: (source, doc id, entry).
    pub put: Vec<(String, String, ManifestEntry)>,
    /// Manifest rows to remove: (source, doc id).
    pub remove: Vec<(String, String)>,
    /// Retry-list rows to write: (source, doc id, entry).
    pub retry_put: Vec<(String, String, RetryEntry)>,
    /// Retry-list rows to remove: (source, doc id).
    pub retry_remove: Vec<(String, String)>,
    /// A new state for a source.
    pub source_state: Option<(String, SourceState)>,
    /// The run's report as of this commit (or a new one).
    pub run: Option<RunReport>,
    /// With `run`: keep only the newest this many reports of its source (run history's
    /// retention), in the same transaction.
    pub keep_runs: Option<usize>,
}

impl StoreBatch {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.put.is_empty()
            && self.remove.is_empty()
            && self.retry_put.is_empty()
            && self.retry_remove.is_empty()
            && self.source_state.is_none()
            && self.run.is_none()
    }
}

/// Iterator over one source's manifest.
pub type ManifestIter<'a> = Box<dyn Iterator<Item = Result<(String, ManifestEntry)>> + 'a>;

/// Durable engine state.
pub trait StateStore: Send + Sync + std::fmt::Debug {
    /// One manifest row.
    fn manifest_get(&self, source: &str, doc_id: &str) -> Result<Option<ManifestEntry>>;
    /// All manifest rows of a source, in doc id order, read lazily from disk (a snapshot:
    /// writes made while iterating are not seen).
    fn manifest_iter<'a>(&'a self, source: &str) -> ManifestIter<'a>;
    /// Number of manifest rows of a source.
    fn manifest_count(&self, source: &str) -> Result<u64>;
    /// Applies a batch durably and atomically: all of it, or (after a crash) none of it.
    fn apply(&self, batch: StoreBatch) -> Result<()>;
    /// One source's retry list, in doc id order.
    fn retries(&self, source: &str) -> Result<Vec<(String, RetryEntry)>>;
    /// One retry-list row.
    fn retry_get(&self, source: &str, doc_id: &str) -> Result<Option<RetryEntry>>;
    /// A source's state (default when never synced).
    fn source_state(&self, source: &str) -> Result<SourceState>;
    /// A fresh, strictly increasing id (run ids, listing generations).
    fn next_id(&self) -> Result<u64>;
    /// Stores (or replaces) a run report.
    fn put_run(&self, report: &RunReport) -> Result<()>;
    /// Changes a stored run report in place (nothing if there is none).
    fn update_run(&self, id: u64, change: &mut dyn FnMut(&mut RunReport)) -> Result<()>;
    /// All run reports, oldest first.
    fn runs(&self) -> Result<Vec<RunReport>>;
    /// Deletes all but the newest `keep` run reports of `source`; returns how many went.
    fn prune_runs(&self, source: &str, keep: usize) -> Result<usize>;
    /// Replaces a namespace's memberships (one atomic, durable write).
    fn put_memberships(&self, namespace: &str, memberships: &Memberships) -> Result<()>;
    /// A namespace's memberships, as the last complete identity sync stored them.
    fn memberships(&self, namespace: &str) -> Result<Option<Memberships>>;
    /// The namespaces with stored memberships, sorted.
    fn membership_namespaces(&self) -> Result<Vec<String>>;
}
