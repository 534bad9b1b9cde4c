//! The state store: manifest, per-source checkpoints and run reports.
//!
//! [`StateStore`] is the seam (a PostgreSQL store for several daemons can implement it);
//! [`SledStore`] is the embedded implementation. Everything lives in one sled tree with
//! key prefixes, so that one [`StoreBatch`] — manifest rows plus the checkpoint that covers
//! them — is applied atomically and made durable before `apply` returns.

use std::path::Path;

use connector_sdk::SourceCheckpoint;
use serde::{Deserialize, Serialize};

use crate::report::{RunMode, RunReport};
use crate::{EngineError, Result};

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

/// Writes applied together, atomically and durably.
#[derive(Debug, Default)]
pub struct StoreBatch {
    /// Manifest rows to write: (source, doc id, entry).
    pub put: Vec<(String, String, ManifestEntry)>,
    /// Manifest rows to remove: (source, doc id).
    pub remove: Vec<(String, String)>,
    /// A new state for a source.
    pub source_state: Option<(String, SourceState)>,
}

impl StoreBatch {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.put.is_empty() && self.remove.is_empty() && self.source_state.is_none()
    }
}

/// Iterator over one source's manifest.
pub type ManifestIter<'a> = Box<dyn Iterator<Item = Result<(String, ManifestEntry)>> + 'a>;

/// Durable engine state. Implementations must make `apply` atomic and durable.
pub trait StateStore: Send + Sync + std::fmt::Debug {
    /// One manifest row.
    fn manifest_get(&self, source: &str, doc_id: &str) -> Result<Option<ManifestEntry>>;
    /// All manifest rows of a source, in doc id order, read lazily from disk.
    fn manifest_iter<'a>(&'a self, source: &str) -> ManifestIter<'a>;
    /// Number of manifest rows of a source.
    fn manifest_count(&self, source: &str) -> Result<u64>;
    /// Applies a batch atomically and durably.
    fn apply(&self, batch: StoreBatch) -> Result<()>;
    /// A source's state (default when never synced).
    fn source_state(&self, source: &str) -> Result<SourceState>;
    /// A fresh, strictly increasing id (run ids, listing generations).
    fn next_id(&self) -> Result<u64>;
    /// Stores (or replaces) a run report.
    fn put_run(&self, report: &RunReport) -> Result<()>;
    /// All run reports, oldest first.
    fn runs(&self) -> Result<Vec<RunReport>>;
}

/// The sled implementation of [`StateStore`].
#[derive(Debug, Clone)]
pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
}

fn store_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Store(e.to_string())
}

fn manifest_prefix(source: &str) -> Vec<u8> {
    let mut k = b"m\0".to_vec();
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k
}

fn manifest_key(source: &str, doc_id: &str) -> Vec<u8> {
    let mut k = manifest_prefix(source);
    k.extend_from_slice(doc_id.as_bytes());
    k
}

fn source_key(source: &str) -> Vec<u8> {
    let mut k = b"s\0".to_vec();
    k.extend_from_slice(source.as_bytes());
    k
}

fn run_key(id: u64) -> Vec<u8> {
    let mut k = b"r\0".to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| EngineError::Store(format!("corrupt {what}: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(store_err)
}

// Manifest rows are read for every listed document on every run: they use postcard (compact,
// no field names) instead of JSON. Source states and run reports stay JSON, readable in a dump.
fn decode_entry(bytes: &[u8]) -> Result<ManifestEntry> {
    postcard::from_bytes(bytes)
        .map_err(|e| EngineError::Store(format!("corrupt manifest entry: {e}")))
}

fn encode_entry(entry: &ManifestEntry) -> Result<Vec<u8>> {
    postcard::to_stdvec(entry).map_err(store_err)
}

impl SledStore {
    /// Opens (or creates) the store in `dir`. The cache is bounded so memory stays flat
    /// whatever the number of documents.
    pub fn open(dir: &Path) -> Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(64 * 1024 * 1024)
            .open()
            .map_err(|e| EngineError::Store(format!("open {}: {e}", dir.display())))?;
        let tree = db.open_tree("tributary").map_err(store_err)?;
        Ok(SledStore { db, tree })
    }
}

impl StateStore for SledStore {
    fn manifest_get(&self, source: &str, doc_id: &str) -> Result<Option<ManifestEntry>> {
        match self
            .tree
            .get(manifest_key(source, doc_id))
            .map_err(store_err)?
        {
            Some(v) => Ok(Some(decode_entry(&v)?)),
            None => Ok(None),
        }
    }

    fn manifest_iter<'a>(&'a self, source: &str) -> ManifestIter<'a> {
        let prefix_len = manifest_prefix(source).len();
        Box::new(
            self.tree
                .scan_prefix(manifest_prefix(source))
                .map(move |kv| {
                    let (k, v) = kv.map_err(store_err)?;
                    let id = String::from_utf8_lossy(&k[prefix_len..]).into_owned();
                    Ok((id, decode_entry(&v)?))
                }),
        )
    }

    fn manifest_count(&self, source: &str) -> Result<u64> {
        let mut n = 0;
        for kv in self.tree.scan_prefix(manifest_prefix(source)).keys() {
            kv.map_err(store_err)?;
            n += 1;
        }
        Ok(n)
    }

    fn apply(&self, batch: StoreBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut b = sled::Batch::default();
        for (source, id, entry) in &batch.put {
            b.insert(manifest_key(source, id), encode_entry(entry)?);
        }
        for (source, id) in &batch.remove {
            b.remove(manifest_key(source, id));
        }
        if let Some((source, state)) = &batch.source_state {
            b.insert(source_key(source), encode(state)?);
        }
        self.tree.apply_batch(b).map_err(store_err)?;
        self.db.flush().map_err(store_err)?;
        Ok(())
    }

    fn source_state(&self, source: &str) -> Result<SourceState> {
        match self.tree.get(source_key(source)).map_err(store_err)? {
            Some(v) => decode(&v, "source state"),
            None => Ok(SourceState::default()),
        }
    }

    fn next_id(&self) -> Result<u64> {
        // A plain persistent counter: sled's own generate_id jumps by a million after
        // every restart, which makes run ids needlessly hard to read.
        let next = self
            .tree
            .update_and_fetch(b"n\0id", |old| {
                let n = old
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map_or(0, u64::from_be_bytes);
                Some((n + 1).to_be_bytes().to_vec())
            })
            .map_err(store_err)?
            .and_then(|b| <[u8; 8]>::try_from(&*b).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| EngineError::Store("id counter is corrupt".into()))?;
        self.db.flush().map_err(store_err)?;
        Ok(next)
    }

    fn put_run(&self, report: &RunReport) -> Result<()> {
        self.tree
            .insert(run_key(report.id), encode(report)?)
            .map_err(store_err)?;
        self.db.flush().map_err(store_err)?;
        Ok(())
    }

    fn runs(&self) -> Result<Vec<RunReport>> {
        self.tree
            .scan_prefix(b"r\0")
            .map(|kv| {
                let (_, v) = kv.map_err(store_err)?;
                decode(&v, "run report")
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: &str, seen: u64) -> ManifestEntry {
        ManifestEntry {
            version: version.into(),
            acl_hash: "a".into(),
            content_hash: "c".into(),
            pipeline: "p".into(),
            chunks: 1,
            seen,
        }
    }

    #[test]
    fn manifest_is_scoped_by_source_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = SledStore::open(dir.path()).expect("open");
            store
                .apply(StoreBatch {
                    put: vec![
                        ("a".into(), "x".into(), entry("1", 1)),
                        ("a".into(), "y".into(), entry("2", 1)),
                        ("ab".into(), "x".into(), entry("3", 1)),
                    ],
                    remove: vec![],
                    source_state: None,
                })
                .expect("apply");
        }
        let store = SledStore::open(dir.path()).expect("reopen");
        let ids: Vec<String> = store
            .manifest_iter("a")
            .map(|r| r.expect("row").0)
            .collect();
        assert_eq!(ids, ["x", "y"]);
        assert_eq!(
            store
                .manifest_get("ab", "x")
                .expect("get")
                .expect("row")
                .version,
            "3"
        );
        let first = store.next_id().expect("id");
        assert!(store.next_id().expect("id") > first);
    }
}
