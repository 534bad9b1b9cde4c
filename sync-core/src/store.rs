//! The state store: manifest, per-source checkpoints and run reports.
//!
//! [`StateStore`] is the seam (a PostgreSQL store for several daemons can implement it);
//! [`LocalStore`] is the embedded implementation. It keeps what is small and transactional —
//! source states with their checkpoints, run reports, the id counter — in sled, and the
//! manifest, the one part that grows with the number of documents, in a redb table per
//! source: sled's resident memory grows with its row count whatever its cache size, redb's
//! stays within its cache (ADR 0004, ADR 0005).
//!
//! A [`StoreBatch`] writes its manifest rows first and the source state (the checkpoint)
//! second, each durable before the next step. A crash between the two leaves the manifest
//! *ahead* of the checkpoint, which is harmless — the rows describe index commits that
//! happened, and the resumed listing finds those documents unchanged — but never behind it.

use std::path::Path;

use connector_sdk::{RemoteDocument, SourceCheckpoint};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::identities::Memberships;
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

/// Writes applied together, atomically and durably.
#[derive(Debug, Default)]
pub struct StoreBatch {
    /// Manifest rows to write: (source, doc id, entry).
    pub put: Vec<(String, String, ManifestEntry)>,
    /// Manifest rows to remove: (source, doc id).
    pub remove: Vec<(String, String)>,
    /// Retry-list rows to write: (source, doc id, entry). Written in the manifest's
    /// transaction.
    pub retry_put: Vec<(String, String, RetryEntry)>,
    /// Retry-list rows to remove: (source, doc id).
    pub retry_remove: Vec<(String, String)>,
    /// A new state for a source.
    pub source_state: Option<(String, SourceState)>,
}

impl StoreBatch {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.put.is_empty()
            && self.remove.is_empty()
            && self.retry_put.is_empty()
            && self.retry_remove.is_empty()
            && self.source_state.is_none()
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
    /// Applies a batch durably: all its manifest rows atomically, then the source state.
    /// The source state must never become durable before the rows of its batch.
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

/// The embedded implementation of [`StateStore`]: sled for source states and run reports,
/// redb for the manifest.
pub struct LocalStore {
    /// The last manifest snapshot read, reused by point lookups until the next write (see
    /// [`LocalStore::snapshot`]). Declared first: it must drop before the database.
    snapshot: std::sync::Mutex<Option<Snapshot>>,
    /// Bumped after every committed manifest write; a snapshot of an older epoch is stale.
    epoch: std::sync::atomic::AtomicU64,
    db: sled::Db,
    tree: sled::Tree,
    manifest: redb::Database,
}

type ReadTable = redb::ReadOnlyTable<&'static str, &'static [u8]>;

/// A read transaction on one source's manifest table, as of one epoch.
struct Snapshot {
    epoch: u64,
    source: String,
    table: Option<ReadTable>,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore").finish_non_exhaustive()
    }
}

/// redb's page cache: the manifest's resident memory stays within it, whatever the number of
/// documents (lookups beyond it are served by the OS page cache). Small, because the sync
/// reads the manifest in key order, one pass: 16 MB made no measurable difference to a no-op
/// sync of 10k or 100k documents (1 MB did: 30% slower), and filling it was 7 MB of a
/// 50k-document sync's growth.
const MANIFEST_CACHE_BYTES: usize = 2 * 1024 * 1024;

/// sled now holds only source states, run reports and a counter.
const SLED_CACHE_BYTES: u64 = 8 * 1024 * 1024;

fn store_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Store(e.to_string())
}

/// The redb table holding one source's manifest (doc id → postcard-encoded entry).
fn manifest_table(source: &str) -> String {
    format!("manifest/{source}")
}

/// The redb table holding one source's retry list (doc id → JSON-encoded [`RetryEntry`]).
fn retry_table(source: &str) -> String {
    format!("retry/{source}")
}

type Table<'n> = redb::TableDefinition<'n, &'static str, &'static [u8]>;

/// Manifest rows of the sled layout before ADR 0005: `m\0<source>\0<doc id>`.
const LEGACY_MANIFEST_PREFIX: &[u8] = b"m\0";

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

/// The per-source index of run reports, `q\0<source>\0<id>` → nothing, so that pruning one
/// source's history reads keys, not reports (which can hold 1,000 failures each).
fn source_run_prefix(source: &str) -> Vec<u8> {
    let mut k = b"q\0".to_vec();
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k
}

fn source_run_key(source: &str, id: u64) -> Vec<u8> {
    let mut k = source_run_prefix(source);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// A namespace's memberships, one JSON value: `g\0<namespace>`.
const MEMBERSHIPS_PREFIX: &[u8] = b"g\0";

fn memberships_key(namespace: &str) -> Vec<u8> {
    let mut k = MEMBERSHIPS_PREFIX.to_vec();
    k.extend_from_slice(namespace.as_bytes());
    k
}

/// Set once every run report has its per-source index key.
const RUNS_INDEXED: &[u8] = b"n\0runs-indexed";

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

impl LocalStore {
    /// Opens (or creates) the store in `dir`: sled in `dir/state`, the manifest in
    /// `dir/manifest.redb`. Both caches are bounded, so memory stays flat whatever the number
    /// of documents. Manifest rows left in sled by an older version are moved to redb.
    pub fn open(dir: &Path) -> Result<Self> {
        // sled's background threads can hold the lock file a moment after the last handle of
        // an earlier open in this process is dropped: retry briefly before calling it busy.
        let config = sled::Config::new()
            .path(dir.join("state"))
            .cache_capacity(SLED_CACHE_BYTES);
        let mut attempt = 0;
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock") && attempt < 20 =>
                {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(EngineError::Store(format!("open {}: {e}", dir.display())));
                }
            }
        };
        let tree = db.open_tree("tributary").map_err(store_err)?;
        let path = dir.join("manifest.redb");
        let manifest = redb::Builder::new()
            .set_cache_size(MANIFEST_CACHE_BYTES)
            .create(&path)
            .map_err(|e| EngineError::Store(format!("open {}: {e}", path.display())))?;
        let store = LocalStore {
            snapshot: std::sync::Mutex::new(None),
            epoch: std::sync::atomic::AtomicU64::new(0),
            db,
            tree,
            manifest,
        };
        store.migrate_legacy_manifest()?;
        store.index_runs()?;
        Ok(store)
    }

    /// Gives every run report written before the per-source index its index key (once).
    fn index_runs(&self) -> Result<()> {
        if self.tree.contains_key(RUNS_INDEXED).map_err(store_err)? {
            return Ok(());
        }
        #[derive(Deserialize)]
        struct Head {
            id: u64,
            source: String,
        }
        let mut batch = sled::Batch::default();
        for kv in self.tree.scan_prefix(b"r\0") {
            let (_, v) = kv.map_err(store_err)?;
            let head: Head = decode(&v, "run report")?;
            batch.insert(source_run_key(&head.source, head.id), &[] as &[u8]);
        }
        batch.insert(RUNS_INDEXED, &[] as &[u8]);
        self.tree.apply_batch(batch).map_err(store_err)?;
        self.db.flush().map_err(store_err)?;
        Ok(())
    }

    /// Moves manifest rows from the old sled layout into redb, 10,000 at a time; each chunk is
    /// durable in redb before it is removed from sled, so a crash only repeats a chunk.
    fn migrate_legacy_manifest(&self) -> Result<()> {
        loop {
            let mut chunk = Vec::new();
            for kv in self.tree.scan_prefix(LEGACY_MANIFEST_PREFIX).take(10_000) {
                chunk.push(kv.map_err(store_err)?);
            }
            if chunk.is_empty() {
                return Ok(());
            }
            let mut batch = StoreBatch::default();
            let mut done = sled::Batch::default();
            for (key, value) in &chunk {
                let rest = &key[LEGACY_MANIFEST_PREFIX.len()..];
                let split = rest.iter().position(|&b| b == 0).ok_or_else(|| {
                    EngineError::Store("corrupt legacy manifest key (no source)".into())
                })?;
                let source = String::from_utf8_lossy(&rest[..split]).into_owned();
                let doc_id = String::from_utf8_lossy(&rest[split + 1..]).into_owned();
                batch.put.push((source, doc_id, decode_entry(value)?));
                done.remove(key.clone());
            }
            self.write_manifest(&batch)?;
            self.tree.apply_batch(done).map_err(store_err)?;
            self.db.flush().map_err(store_err)?;
            tracing::info!(rows = chunk.len(), "moved manifest rows from sled to redb");
        }
    }

    /// Writes a batch's manifest rows in one durable redb transaction (puts, then removes).
    fn write_manifest(&self, batch: &StoreBatch) -> Result<()> {
        if batch.put.is_empty()
            && batch.remove.is_empty()
            && batch.retry_put.is_empty()
            && batch.retry_remove.is_empty()
        {
            return Ok(());
        }
        let tx = self.manifest.begin_write().map_err(store_err)?;
        // Batches hold one source almost always: open each table once per run of rows.
        let mut i = 0;
        while i < batch.put.len() {
            let source = &batch.put[i].0;
            let name = manifest_table(source);
            let mut table = tx.open_table(Table::new(&name)).map_err(store_err)?;
            while let Some((s, id, entry)) = batch.put.get(i).filter(|p| &p.0 == source) {
                debug_assert_eq!(s, source);
                table
                    .insert(id.as_str(), encode_entry(entry)?.as_slice())
                    .map_err(store_err)?;
                i += 1;
            }
        }
        remove_rows(&tx, &batch.remove, manifest_table)?;
        for (source, id, entry) in &batch.retry_put {
            let name = retry_table(source);
            let mut table = tx.open_table(Table::new(&name)).map_err(store_err)?;
            table
                .insert(id.as_str(), encode(entry)?.as_slice())
                .map_err(store_err)?;
        }
        remove_rows(&tx, &batch.retry_remove, retry_table)?;
        tx.commit().map_err(store_err)?;
        self.epoch
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Runs `f` on a snapshot of `source`'s manifest that includes every write committed
    /// before this call. Lookups come one per listed document; opening a read transaction
    /// for each cost about as much as the lookup itself, so the snapshot is kept and only
    /// replaced after a write (or for another source).
    fn with_snapshot<T>(&self, source: &str, f: impl FnOnce(Option<&ReadTable>) -> T) -> Result<T> {
        let epoch = self.epoch.load(std::sync::atomic::Ordering::Acquire);
        let mut cached = self
            .snapshot
            .lock()
            .map_err(|_| EngineError::Store("manifest snapshot lock poisoned".into()))?;
        let fresh = cached
            .as_ref()
            .is_some_and(|s| s.epoch == epoch && s.source == source);
        if !fresh {
            *cached = None; // release the old read transaction first
            *cached = Some(Snapshot {
                epoch,
                source: source.to_string(),
                table: self.read_table(source)?,
            });
        }
        Ok(f(cached.as_ref().and_then(|s| s.table.as_ref())))
    }

    /// A read-only view of a source's manifest table; `None` before its first row.
    fn read_table(&self, source: &str) -> Result<Option<ReadTable>> {
        self.open_read(&manifest_table(source))
    }

    /// A read-only view of the table `name`; `None` before its first row.
    fn open_read(&self, name: &str) -> Result<Option<ReadTable>> {
        use redb::ReadableDatabase;
        let tx = self.manifest.begin_read().map_err(store_err)?;
        match tx.open_table(Table::new(name)) {
            Ok(table) => Ok(Some(table)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(store_err(e)),
        }
    }
}

/// Removes (source, doc id) rows from the tables `table` names.
fn remove_rows(
    tx: &redb::WriteTransaction,
    rows: &[(String, String)],
    table: fn(&str) -> String,
) -> Result<()> {
    let mut i = 0;
    while i < rows.len() {
        let source = &rows[i].0;
        let name = table(source);
        let mut table = tx.open_table(Table::new(&name)).map_err(store_err)?;
        while let Some((_, id)) = rows.get(i).filter(|r| &r.0 == source) {
            table.remove(id.as_str()).map_err(store_err)?;
            i += 1;
        }
    }
    Ok(())
}

impl StateStore for LocalStore {
    fn manifest_get(&self, source: &str, doc_id: &str) -> Result<Option<ManifestEntry>> {
        self.with_snapshot(source, |table| {
            let Some(table) = table else {
                return Ok(None);
            };
            match table.get(doc_id).map_err(store_err)? {
                Some(v) => Ok(Some(decode_entry(v.value())?)),
                None => Ok(None),
            }
        })?
    }

    fn manifest_iter<'a>(&'a self, source: &str) -> ManifestIter<'a> {
        let rows = self.read_table(source).and_then(|t| {
            t.map(|t| t.range::<&str>(..).map_err(store_err))
                .transpose()
        });
        match rows {
            Ok(None) => Box::new(std::iter::empty()),
            Err(e) => Box::new(std::iter::once(Err(e))),
            Ok(Some(range)) => Box::new(range.map(|kv| {
                let (k, v) = kv.map_err(store_err)?;
                Ok((k.value().to_string(), decode_entry(v.value())?))
            })),
        }
    }

    fn manifest_count(&self, source: &str) -> Result<u64> {
        use redb::ReadableTableMetadata;
        match self.read_table(source)? {
            Some(table) => table.len().map_err(store_err),
            None => Ok(0),
        }
    }

    fn apply(&self, batch: StoreBatch) -> Result<()> {
        self.write_manifest(&batch)?;
        if let Some((source, state)) = &batch.source_state {
            self.tree
                .insert(source_key(source), encode(state)?)
                .map_err(store_err)?;
            self.db.flush().map_err(store_err)?;
        }
        Ok(())
    }

    fn source_state(&self, source: &str) -> Result<SourceState> {
        match self.tree.get(source_key(source)).map_err(store_err)? {
            Some(v) => decode(&v, "source state"),
            None => Ok(SourceState::default()),
        }
    }

    fn retries(&self, source: &str) -> Result<Vec<(String, RetryEntry)>> {
        let Some(table) = self.open_read(&retry_table(source))? else {
            return Ok(Vec::new());
        };
        table
            .range::<&str>(..)
            .map_err(store_err)?
            .map(|kv| {
                let (k, v) = kv.map_err(store_err)?;
                Ok((k.value().to_string(), decode(v.value(), "retry entry")?))
            })
            .collect()
    }

    fn retry_get(&self, source: &str, doc_id: &str) -> Result<Option<RetryEntry>> {
        let Some(table) = self.open_read(&retry_table(source))? else {
            return Ok(None);
        };
        match table.get(doc_id).map_err(store_err)? {
            Some(v) => Ok(Some(decode(v.value(), "retry entry")?)),
            None => Ok(None),
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
        let mut batch = sled::Batch::default();
        batch.insert(run_key(report.id), encode(report)?);
        batch.insert(source_run_key(&report.source, report.id), &[] as &[u8]);
        self.tree.apply_batch(batch).map_err(store_err)?;
        self.db.flush().map_err(store_err)?;
        Ok(())
    }

    fn prune_runs(&self, source: &str, keep: usize) -> Result<usize> {
        let prefix = source_run_prefix(source);
        let mut batch = sled::Batch::default();
        let mut pruned = 0;
        for kv in self.tree.scan_prefix(&prefix).rev().skip(keep) {
            let (key, _) = kv.map_err(store_err)?;
            let id = <[u8; 8]>::try_from(&key[prefix.len()..])
                .map(u64::from_be_bytes)
                .map_err(|_| EngineError::Store("corrupt run index key".into()))?;
            batch.remove(key);
            batch.remove(run_key(id));
            pruned += 1;
        }
        if pruned > 0 {
            self.tree.apply_batch(batch).map_err(store_err)?;
            self.db.flush().map_err(store_err)?;
        }
        Ok(pruned)
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

    // Memberships: one JSON value per namespace, replaced by one sled insert (atomic) and
    // flushed before the identity sync reports success.
    fn put_memberships(&self, namespace: &str, memberships: &Memberships) -> Result<()> {
        self.tree
            .insert(memberships_key(namespace), encode(memberships)?)
            .map_err(store_err)?;
        self.db.flush().map_err(store_err)?;
        Ok(())
    }

    fn memberships(&self, namespace: &str) -> Result<Option<Memberships>> {
        let Some(v) = self
            .tree
            .get(memberships_key(namespace))
            .map_err(store_err)?
        else {
            return Ok(None);
        };
        let m: Memberships = decode(&v, "memberships")?;
        m.check_format()?;
        Ok(Some(m))
    }

    fn membership_namespaces(&self) -> Result<Vec<String>> {
        self.tree
            .scan_prefix(MEMBERSHIPS_PREFIX)
            .keys()
            .map(|k| {
                let k = k.map_err(store_err)?;
                Ok(String::from_utf8_lossy(&k[MEMBERSHIPS_PREFIX.len()..]).into_owned())
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
            let store = LocalStore::open(dir.path()).expect("open");
            store
                .apply(StoreBatch {
                    put: vec![
                        ("a".into(), "x".into(), entry("1", 1)),
                        ("a".into(), "y".into(), entry("2", 1)),
                        ("ab".into(), "x".into(), entry("3", 1)),
                    ],
                    ..StoreBatch::default()
                })
                .expect("apply");
        }
        let store = LocalStore::open(dir.path()).expect("reopen");
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

    #[test]
    fn a_store_in_use_is_refused_and_a_closed_one_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = LocalStore::open(dir.path()).expect("open");
        // Held: the second open gives up after its short retries, naming the lock (which
        // `Engine::open` turns into "in use by another tributary process").
        let err = LocalStore::open(dir.path()).expect_err("in use");
        assert!(err.to_string().contains("lock"), "{err}");
        drop(first);
        LocalStore::open(dir.path()).expect("reopens once closed");
    }

    #[test]
    fn memberships_are_replaced_per_namespace_on_both_stores_and_survive_reopen() {
        use connector_sdk::Membership;
        let mut m = Memberships::default();
        m.add(Membership::UserInGroup {
            user: "Ann@X.io".into(),
            group: "eng".into(),
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let memory = crate::MemoryStore::new();
        {
            let local = LocalStore::open(dir.path()).expect("open");
            for store in [&local as &dyn StateStore, &memory] {
                assert_eq!(store.memberships("wiki").expect("read"), None);
                store
                    .put_memberships("wiki", &Memberships::default())
                    .expect("put");
                store.put_memberships("wiki", &m).expect("replace");
                store
                    .put_memberships("drive", &Memberships::default())
                    .expect("put");
                assert_eq!(store.memberships("wiki").expect("read"), Some(m.clone()));
                assert_eq!(
                    store.membership_namespaces().expect("list"),
                    ["drive", "wiki"]
                );
            }
        }
        let local = LocalStore::open(dir.path()).expect("reopen");
        assert_eq!(local.memberships("wiki").expect("read"), Some(m.clone()));
        // A newer format is refused, not misread.
        let mut newer = serde_json::to_value(&m).expect("json");
        newer["format"] = serde_json::json!(99);
        local
            .tree
            .insert(
                memberships_key("x"),
                serde_json::to_vec(&newer).expect("json"),
            )
            .expect("insert");
        assert!(local.memberships("x").is_err());
    }

    #[test]
    fn a_batch_puts_then_removes_across_sources_and_counts_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::open(dir.path()).expect("open");
        assert_eq!(store.manifest_count("a").expect("count"), 0);
        assert!(store.manifest_get("a", "x").expect("get").is_none());
        store
            .apply(StoreBatch {
                put: vec![
                    ("a".into(), "x".into(), entry("1", 1)),
                    ("b".into(), "x".into(), entry("1", 1)),
                    ("a".into(), "z".into(), entry("1", 1)),
                    ("a".into(), "y".into(), entry("1", 1)),
                ],
                remove: vec![("a".into(), "z".into())],
                source_state: Some(("a".into(), SourceState::default())),
                ..StoreBatch::default()
            })
            .expect("apply");
        assert_eq!(store.manifest_count("a").expect("count"), 2);
        assert_eq!(store.manifest_count("b").expect("count"), 1);
        let rows: Vec<(String, String)> = store
            .manifest_iter("a")
            .map(|r| r.expect("row"))
            .map(|(id, e)| (id, e.version))
            .collect();
        assert_eq!(rows, [("x".into(), "1".into()), ("y".into(), "1".into())]);
    }

    #[test]
    fn run_history_is_pruned_per_source_and_old_reports_are_indexed_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = LocalStore::open(dir.path()).expect("open");
            for id in 1..=6 {
                let source = if id % 2 == 0 { "even" } else { "odd" };
                store
                    .put_run(&RunReport::new(id, source, RunMode::Full))
                    .expect("put");
            }
            // As a store of the previous layout would be: reports without index keys.
            store.tree.remove(RUNS_INDEXED).expect("unmark");
            for (k, _) in store.tree.scan_prefix(b"q\0").map(|kv| kv.expect("kv")) {
                store.tree.remove(k).expect("drop index key");
            }
        }
        let store = LocalStore::open(dir.path()).expect("reopen");
        assert_eq!(store.prune_runs("even", 1).expect("prune"), 2);
        assert_eq!(store.prune_runs("odd", 5).expect("prune"), 0);
        let ids: Vec<u64> = store.runs().expect("runs").iter().map(|r| r.id).collect();
        assert_eq!(ids, [1, 3, 5, 6]);
    }

    #[test]
    fn retry_rows_are_written_with_the_manifest_and_scoped_by_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::open(dir.path()).expect("open");
        assert!(store.retries("a").expect("retries").is_empty());
        let retry = |attempts| RetryEntry {
            doc: RemoteDocument::new("x", "v2", connector_sdk::Acl::default()),
            attempts,
            stage: "fetch".into(),
            kind: "transient".into(),
            message: "reset".into(),
            failed_at: OffsetDateTime::UNIX_EPOCH,
            next_attempt: OffsetDateTime::UNIX_EPOCH,
        };
        store
            .apply(StoreBatch {
                put: vec![("a".into(), "y".into(), entry("1", 1))],
                retry_put: vec![
                    ("a".into(), "x".into(), retry(1)),
                    ("b".into(), "x".into(), retry(2)),
                ],
                ..StoreBatch::default()
            })
            .expect("apply");
        let a = store.retries("a").expect("retries");
        assert_eq!(a, [("x".to_string(), retry(1))]);
        assert_eq!(store.retry_get("b", "x").expect("get"), Some(retry(2)));
        store
            .apply(StoreBatch {
                retry_remove: vec![("a".into(), "x".into())],
                ..StoreBatch::default()
            })
            .expect("apply");
        assert!(store.retries("a").expect("retries").is_empty());
        assert_eq!(store.retries("b").expect("retries").len(), 1);
        assert_eq!(store.manifest_count("a").expect("count"), 1);
    }

    #[test]
    fn manifest_rows_of_the_old_sled_layout_move_to_redb() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            // The layout before ADR 0005: rows in sled under `m\0<source>\0<doc id>`.
            let db = sled::open(dir.path().join("state")).expect("sled");
            let tree = db.open_tree("tributary").expect("tree");
            for i in 0..25_000 {
                let key = format!("m\0src\0doc-{i:05}");
                let value = encode_entry(&entry(&i.to_string(), 3)).expect("encode");
                tree.insert(key.as_bytes(), value).expect("insert");
            }
            tree.insert(
                source_key("src"),
                encode(&SourceState::default()).expect("state"),
            )
            .expect("state");
            db.flush().expect("flush");
        }
        let store = LocalStore::open(dir.path()).expect("open");
        assert_eq!(store.manifest_count("src").expect("count"), 25_000);
        let row = store
            .manifest_get("src", "doc-12345")
            .expect("get")
            .expect("row");
        assert_eq!((row.version.as_str(), row.seen), ("12345", 3));
        assert_eq!(store.tree.scan_prefix(LEGACY_MANIFEST_PREFIX).count(), 0);
        assert_eq!(
            store.source_state("src").expect("state"),
            SourceState::default()
        );
        drop(store);
        // Reopening finds nothing left to move and keeps the rows.
        let store = LocalStore::open(dir.path()).expect("reopen");
        assert_eq!(store.manifest_count("src").expect("count"), 25_000);
    }
}
