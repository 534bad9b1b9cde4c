//! [`LocalStore`]: the whole state store in one redb file, `manifest.redb` (ADR 0013).
//!
//! - One writer process, any number of readers: redb's `SingleWriter` mode lets `status`,
//!   `runs` and `search` open the file read-only while a sync writes it, and refuses a
//!   second writer (in this process or another) with `DatabaseAlreadyOpen`.
//! - One transaction per [`StoreBatch`]: manifest rows, retry rows, the source state (its
//!   checkpoint) and the run report of a commit are durable together or not at all.
//! - Every row carries its format: a leading byte ([`ROW_FORMAT`]) before the payload
//!   (postcard for manifest rows, which are read once per listed document on every run;
//!   JSON for the rest, readable in a dump). A row of an unknown format is an error that
//!   says so, never a silent misread. Tables of the layouts before rows had a format are
//!   moved by `legacy.rs` when the store is opened for writing.
//! - Memory stays within redb's cache whatever the number of documents (ADR 0005).

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle};
use serde::{Deserialize, Serialize};

use super::{ManifestEntry, ManifestIter, RetryEntry, SourceState, StateStore, StoreBatch};
use crate::identities::Memberships;
use crate::report::RunReport;
use crate::{EngineError, Result};

/// The format byte every row starts with.
pub(super) const ROW_FORMAT: u8 = 1;
/// The layout of the whole store, in `meta` under `format`: 2 since everything lives in redb
/// (1 was sled for states and runs, redb for the manifest, rows without a format byte).
pub(super) const STORE_FORMAT: u64 = 2;

/// Ids reserved by one durable write (see `next_id`).
const ID_BLOCK: u64 = 32;

/// redb's page cache: the store's resident memory stays within it, whatever the number of
/// documents (lookups beyond it are served by the OS page cache). Small, because the sync
/// reads the manifest in key order, one pass: 16 MB made no measurable difference to a no-op
/// sync of 10k or 100k documents (1 MB did: 30% slower).
const CACHE_BYTES: usize = 2 * 1024 * 1024;

pub(super) type Rows<'n> = TableDefinition<'n, &'static str, &'static [u8]>;
/// `format` (u64, big-endian), `id` (the id counter, u64 big-endian).
pub(super) const META: Rows<'static> = Rows::new("meta");
/// Source id → source state.
pub(super) const STATES: Rows<'static> = Rows::new("states");
/// Run id → run report.
pub(super) const RUNS: TableDefinition<'static, u64, &'static [u8]> = TableDefinition::new("runs");
/// (source, run id): one source's history without reading reports (which can hold 1,000
/// failures each).
pub(super) const RUNS_BY_SOURCE: TableDefinition<'static, (&'static str, u64), ()> =
    TableDefinition::new("runs-by-source");

/// Group namespace → its memberships (the last complete identity sync's).
pub(super) const MEMBERSHIPS: Rows<'static> = Rows::new("memberships");
/// `meta` key: the count of memberships writes (`LocalStore::memberships_version`).
const MEMBERSHIPS_VERSION: &str = "memberships-version";

/// The table of one source's manifest (doc id → entry). Source ids never contain `:`.
pub(super) fn manifest_table(source: &str) -> String {
    format!("manifest:{source}")
}

/// The table of one source's retry list (doc id → entry).
pub(super) fn retry_table(source: &str) -> String {
    format!("retry:{source}")
}

fn open_err(path: &Path, e: impl std::fmt::Display) -> EngineError {
    EngineError::Store(format!("open {}: {e}", path.display()))
}

pub(super) fn store_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Store(e.to_string())
}

/// `payload` behind the format byte.
pub(super) fn with_format(payload: &[u8]) -> Vec<u8> {
    let mut row = Vec::with_capacity(payload.len() + 1);
    row.push(ROW_FORMAT);
    row.extend_from_slice(payload);
    row
}

/// The payload of a row, if its format is one this build reads.
fn payload<'r>(row: &'r [u8], what: &str) -> Result<&'r [u8]> {
    match row.split_first() {
        Some((&ROW_FORMAT, rest)) => Ok(rest),
        Some((format, _)) => Err(EngineError::Store(format!(
            "{what} has row format {format}, which this version of tributary does not know \
             (written by a newer one?)"
        ))),
        None => Err(EngineError::Store(format!("{what} is empty"))),
    }
}

pub(super) fn decode<T: for<'de> Deserialize<'de>>(row: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(payload(row, what)?)
        .map_err(|e| EngineError::Store(format!("corrupt {what}: {e}")))
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map(|json| with_format(&json))
        .map_err(store_err)
}

fn decode_entry(row: &[u8]) -> Result<ManifestEntry> {
    postcard::from_bytes(payload(row, "manifest entry")?)
        .map_err(|e| EngineError::Store(format!("corrupt manifest entry: {e}")))
}

pub(super) fn encode_entry(entry: &ManifestEntry) -> Result<Vec<u8>> {
    postcard::to_stdvec(entry)
        .map(|bytes| with_format(&bytes))
        .map_err(store_err)
}

enum Db {
    Write(redb::Database),
    Read(redb::ReadOnlyDatabase),
}

/// The embedded implementation of [`StateStore`].
pub struct LocalStore {
    /// The last manifest snapshot read, reused by point lookups until the next write (see
    /// [`LocalStore::with_snapshot`]). Declared first: it must drop before the database.
    snapshot: Mutex<Option<Snapshot>>,
    /// Bumped after every committed write; a snapshot of an older epoch is stale.
    epoch: AtomicU64,
    /// Ids reserved and not yet handed out: (last handed out, last reserved).
    ids: Mutex<(u64, u64)>,
    db: Db,
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
        f.debug_struct("LocalStore")
            .field("read_only", &matches!(self.db, Db::Read(_)))
            .finish_non_exhaustive()
    }
}

fn builder() -> redb::Builder {
    let mut builder = redb::Builder::new();
    builder
        .set_cache_size(CACHE_BYTES)
        .set_concurrency_mode(redb::ConcurrencyMode::SingleWriter);
    builder
}

impl LocalStore {
    /// Opens (or creates) the store in `dir` for writing, upgrading a store of an older
    /// layout first. Fails with a message naming the lock while another writer holds it.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(super::STORE_FILE);
        let db = builder().create(&path).map_err(|e| open_err(&path, e))?;
        let store = LocalStore::new(Db::Write(db));
        super::legacy::upgrade(&store, dir)?;
        Ok(store)
    }

    /// Opens the store in `dir` to read it, alongside a process that writes it. Sees every
    /// commit made before each read. A store still in an older layout must be opened for
    /// writing once (any sync) before it can be read this way.
    pub fn open_read_only(dir: &Path) -> Result<Self> {
        let path = dir.join(super::STORE_FILE);
        let db = builder()
            .open_read_only(&path)
            .map_err(|e| open_err(&path, e))?;
        let store = LocalStore::new(Db::Read(db));
        // No format yet: a new store whose writer has not finished opening it, or one of
        // layout 1, which has its sled folder or its unformatted tables.
        let old_layout = match store.format()? {
            Some(format) if format > STORE_FORMAT => {
                return Err(EngineError::Store(format!(
                    "the store at {} has layout {format}, written by a newer tributary (this \
                     one reads {STORE_FORMAT})",
                    dir.display()
                )));
            }
            Some(format) => format < STORE_FORMAT || dir.join("state").exists(),
            None => dir.join("state").exists() || store.has_unformatted_tables()?,
        };
        if old_layout {
            return Err(EngineError::Store(format!(
                "the store at {} is in an older layout: it is upgraded by the next sync",
                dir.display()
            )));
        }
        Ok(store)
    }

    fn new(db: Db) -> Self {
        LocalStore {
            snapshot: Mutex::new(None),
            epoch: AtomicU64::new(0),
            ids: Mutex::new((0, 0)),
            db,
        }
    }

    /// Whether tables of layout 1 (`manifest/<source>`, `retry/<source>`) are left.
    pub(super) fn has_unformatted_tables(&self) -> Result<bool> {
        Ok(self
            .read()?
            .list_tables()
            .map_err(store_err)?
            .any(|t| t.name().contains('/')))
    }

    /// Whether this handle may write.
    pub fn is_read_only(&self) -> bool {
        matches!(self.db, Db::Read(_))
    }

    pub(super) fn read(&self) -> Result<redb::ReadTransaction> {
        match &self.db {
            Db::Write(db) => db.begin_read(),
            Db::Read(db) => db.begin_read(),
        }
        .map_err(store_err)
    }

    /// Runs `f` in one write transaction and commits it durably.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T>,
    ) -> Result<T> {
        let Db::Write(db) = &self.db else {
            return Err(EngineError::Store("the store is open read-only".into()));
        };
        let tx = db.begin_write().map_err(store_err)?;
        let out = f(&tx)?;
        tx.commit().map_err(store_err)?;
        self.epoch.fetch_add(1, Ordering::Release);
        Ok(out)
    }

    /// How many times memberships were written: 0 while none are stored, `None` when some
    /// are but were never counted (an older build wrote them). It changes in the
    /// transaction of every change to the stored memberships and with nothing else, so a
    /// reader can keep identities derived from them until it moves (the API: a content run
    /// commits many times a second, which must not reload them). One read transaction.
    pub fn memberships_version(&self) -> Result<Option<u64>> {
        let tx = self.read()?;
        let counted = match tx.open_table(META) {
            Ok(meta) => meta_u64_in(&meta, MEMBERSHIPS_VERSION)?,
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(store_err(e)),
        };
        if counted.is_some() {
            return Ok(counted);
        }
        let none_stored = match tx.open_table(MEMBERSHIPS) {
            Ok(table) => table.is_empty().map_err(store_err)?,
            Err(redb::TableError::TableDoesNotExist(_)) => true,
            Err(e) => return Err(store_err(e)),
        };
        Ok(none_stored.then_some(0))
    }

    /// The store layout recorded in `meta` (`None` for a new or a first-layout store).
    pub(super) fn format(&self) -> Result<Option<u64>> {
        self.meta_u64("format")
    }

    pub(super) fn meta_u64(&self, key: &str) -> Result<Option<u64>> {
        let tx = self.read()?;
        let table = match tx.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(store_err(e)),
        };
        meta_u64_in(&table, key)
    }

    /// Runs `f` on a snapshot of `source`'s manifest that includes every write committed
    /// before this call. Lookups come one per listed document; opening a read transaction
    /// for each cost about as much as the lookup itself, so the writer keeps its snapshot
    /// until its next write. A read-only handle cannot know when another process wrote,
    /// so it reads a fresh snapshot each time.
    fn with_snapshot<T>(&self, source: &str, f: impl FnOnce(Option<&ReadTable>) -> T) -> Result<T> {
        if self.is_read_only() {
            return Ok(f(self.open_rows(&manifest_table(source))?.as_ref()));
        }
        let epoch = self.epoch.load(Ordering::Acquire);
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
                table: self.open_rows(&manifest_table(source))?,
            });
        }
        Ok(f(cached.as_ref().and_then(|s| s.table.as_ref())))
    }

    /// A read-only view of the table `name`; `None` before its first row.
    pub(super) fn open_rows(&self, name: &str) -> Result<Option<ReadTable>> {
        let tx = self.read()?;
        match tx.open_table(Rows::new(name)) {
            Ok(table) => Ok(Some(table)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(store_err(e)),
        }
    }
}

/// A `meta` counter (a big-endian u64) in `table`, read or written in the caller's
/// transaction.
fn meta_u64_in(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<u64>> {
    table
        .get(key)
        .map_err(store_err)?
        .map(|v| {
            <[u8; 8]>::try_from(v.value())
                .map(u64::from_be_bytes)
                .map_err(|_| EngineError::Store(format!("corrupt meta value {key}")))
        })
        .transpose()
}

/// Writes (or removes) (source, doc id) rows into the per-source tables `table` names,
/// opening each table once per run of rows of one source (batches hold one source almost
/// always).
fn put_rows<T>(
    tx: &redb::WriteTransaction,
    rows: &[(String, String, T)],
    table: fn(&str) -> String,
    encode: impl Fn(&T) -> Result<Vec<u8>>,
) -> Result<()> {
    let mut i = 0;
    while i < rows.len() {
        let source = &rows[i].0;
        let name = table(source);
        let mut table = tx.open_table(Rows::new(&name)).map_err(store_err)?;
        while let Some((_, id, value)) = rows.get(i).filter(|r| &r.0 == source) {
            table
                .insert(id.as_str(), encode(value)?.as_slice())
                .map_err(store_err)?;
            i += 1;
        }
    }
    Ok(())
}

fn remove_rows(
    tx: &redb::WriteTransaction,
    rows: &[(String, String)],
    table: fn(&str) -> String,
) -> Result<()> {
    let mut i = 0;
    while i < rows.len() {
        let source = &rows[i].0;
        let name = table(source);
        let mut table = tx.open_table(Rows::new(&name)).map_err(store_err)?;
        while let Some((_, id)) = rows.get(i).filter(|r| &r.0 == source) {
            table.remove(id.as_str()).map_err(store_err)?;
            i += 1;
        }
    }
    Ok(())
}

pub(super) fn insert_run(tx: &redb::WriteTransaction, report: &RunReport) -> Result<()> {
    tx.open_table(RUNS)
        .map_err(store_err)?
        .insert(report.id, encode(report)?.as_slice())
        .map_err(store_err)?;
    tx.open_table(RUNS_BY_SOURCE)
        .map_err(store_err)?
        .insert((report.source.as_str(), report.id), ())
        .map_err(store_err)?;
    Ok(())
}

/// Deletes all but the newest `keep` run reports of `source`; returns how many went.
fn prune_runs_in(tx: &redb::WriteTransaction, source: &str, keep: usize) -> Result<usize> {
    let mut runs = tx.open_table(RUNS).map_err(store_err)?;
    let mut index = tx.open_table(RUNS_BY_SOURCE).map_err(store_err)?;
    let old: Vec<u64> = index
        .range((source, 0)..=(source, u64::MAX))
        .map_err(store_err)?
        .rev()
        .skip(keep)
        .map(|kv| kv.map(|(k, _)| k.value().1).map_err(store_err))
        .collect::<Result<_>>()?;
    for id in &old {
        runs.remove(id).map_err(store_err)?;
        index.remove((source, *id)).map_err(store_err)?;
    }
    Ok(old.len())
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
        let rows = self.open_rows(&manifest_table(source)).and_then(|t| {
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
        match self.open_rows(&manifest_table(source))? {
            Some(table) => table.len().map_err(store_err),
            None => Ok(0),
        }
    }

    fn apply(&self, batch: StoreBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            put_rows(tx, &batch.put, manifest_table, encode_entry)?;
            remove_rows(tx, &batch.remove, manifest_table)?;
            put_rows(tx, &batch.retry_put, retry_table, encode)?;
            remove_rows(tx, &batch.retry_remove, retry_table)?;
            if let Some((source, state)) = &batch.source_state {
                tx.open_table(STATES)
                    .map_err(store_err)?
                    .insert(source.as_str(), encode(state)?.as_slice())
                    .map_err(store_err)?;
            }
            if let Some(report) = &batch.run {
                insert_run(tx, report)?;
                if let Some(keep) = batch.keep_runs {
                    prune_runs_in(tx, &report.source, keep)?;
                }
            }
            Ok(())
        })
    }

    fn source_state(&self, source: &str) -> Result<SourceState> {
        let Some(table) = self.open_rows(STATES.name())? else {
            return Ok(SourceState::default());
        };
        match table.get(source).map_err(store_err)? {
            Some(v) => decode(v.value(), "source state"),
            None => Ok(SourceState::default()),
        }
    }

    fn retries(&self, source: &str) -> Result<Vec<(String, RetryEntry)>> {
        let Some(table) = self.open_rows(&retry_table(source))? else {
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
        let Some(table) = self.open_rows(&retry_table(source))? else {
            return Ok(None);
        };
        match table.get(doc_id).map_err(store_err)? {
            Some(v) => Ok(Some(decode(v.value(), "retry entry")?)),
            None => Ok(None),
        }
    }

    fn next_id(&self) -> Result<u64> {
        let mut ids = self
            .ids
            .lock()
            .map_err(|_| EngineError::Store("id block lock poisoned".into()))?;
        if ids.0 == ids.1 {
            // Reserve the next block durably: ids stay unique and increasing across
            // restarts (a restart skips what was left of a block), and a run's id costs no
            // commit of its own (a commit in this mode costs two fdatasyncs).
            let limit = self.write(|tx| {
                let mut meta = tx.open_table(META).map_err(store_err)?;
                let last = meta_u64_in(&meta, "id")?.unwrap_or(0);
                let limit = last + ID_BLOCK;
                meta.insert("id", limit.to_be_bytes().as_slice())
                    .map_err(store_err)?;
                Ok((last, limit))
            })?;
            *ids = limit;
        }
        ids.0 += 1;
        Ok(ids.0)
    }

    fn put_run(&self, report: &RunReport) -> Result<()> {
        self.write(|tx| insert_run(tx, report))
    }

    fn update_run(&self, id: u64, change: &mut dyn FnMut(&mut RunReport)) -> Result<()> {
        self.write(|tx| {
            let row = tx
                .open_table(RUNS)
                .map_err(store_err)?
                .get(id)
                .map_err(store_err)?
                .map(|v| v.value().to_vec());
            if let Some(row) = row {
                let mut report: RunReport = decode(&row, "run report")?;
                change(&mut report);
                insert_run(tx, &report)?;
            }
            Ok(())
        })
    }

    fn prune_runs(&self, source: &str, keep: usize) -> Result<usize> {
        let tx = self.read()?;
        let excess = match tx.open_table(RUNS_BY_SOURCE) {
            Ok(index) => index
                .range((source, 0)..=(source, u64::MAX))
                .map_err(store_err)?
                .rev()
                .nth(keep)
                .is_some(),
            Err(redb::TableError::TableDoesNotExist(_)) => false,
            Err(e) => return Err(store_err(e)),
        };
        drop(tx);
        // Looked at first: a run that has nothing to prune costs no commit.
        if !excess {
            return Ok(0);
        }
        self.write(|tx| prune_runs_in(tx, source, keep))
    }

    fn put_memberships(&self, namespace: &str, memberships: &Memberships) -> Result<()> {
        self.write(|tx| {
            tx.open_table(MEMBERSHIPS)
                .map_err(store_err)?
                .insert(namespace, encode(memberships)?.as_slice())
                .map_err(store_err)?;
            // Counted in the same transaction: see `memberships_version`.
            let mut meta = tx.open_table(META).map_err(store_err)?;
            let last = meta_u64_in(&meta, MEMBERSHIPS_VERSION)?.unwrap_or(0);
            meta.insert(MEMBERSHIPS_VERSION, (last + 1).to_be_bytes().as_slice())
                .map_err(store_err)?;
            Ok(())
        })
    }

    fn memberships(&self, namespace: &str) -> Result<Option<Memberships>> {
        let Some(table) = self.open_rows(MEMBERSHIPS.name())? else {
            return Ok(None);
        };
        let Some(row) = table.get(namespace).map_err(store_err)? else {
            return Ok(None);
        };
        let m: Memberships = decode(row.value(), "memberships")?;
        m.check_format()?;
        Ok(Some(m))
    }

    fn membership_namespaces(&self) -> Result<Vec<String>> {
        let Some(table) = self.open_rows(MEMBERSHIPS.name())? else {
            return Ok(Vec::new());
        };
        table
            .range::<&str>(..)
            .map_err(store_err)?
            .map(|kv| kv.map(|(k, _)| k.value().to_string()).map_err(store_err))
            .collect()
    }

    fn runs(&self) -> Result<Vec<RunReport>> {
        let tx = self.read()?;
        let runs = match tx.open_table(RUNS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(store_err(e)),
        };
        runs.range::<u64>(..)
            .map_err(store_err)?
            .map(|kv| {
                let (_, v) = kv.map_err(store_err)?;
                decode(v.value(), "run report")
            })
            .collect()
    }
}

#[cfg(test)]
pub(super) mod tests;
