//! storebench: candidate embedded stores for Tributary's state store (issue 13 part 4).
//!
//! One binary, one phase per process, so the peak RSS printed at the end of a phase (VmHWM)
//! belongs to that phase alone:
//!
//! ```text
//! storebench --backend redb|redb-single|sqlite|lmdb|lmdb-nora --docs N --dir PATH \
//!            --phase load|open|scan|lookup-sorted|lookup-random|commit|commit-scattered|reader \
//!            [--sync normal|full]      # SQLite only (default full)
//! ```
//!
//! The data mirrors the engine's manifest: one source, doc ids like `folder-0042/doc-0001234.md`
//! (zero-padded, so index order is key order) and 60-byte rows. A commit writes manifest rows,
//! a checkpoint and a run report in one durable transaction. Each phase prints one line
//! `RESULT key=value ...` that `run.sh` collects.

use std::error::Error;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The one source the manifest rows belong to.
const SOURCE: &str = "fs-main";
/// Rows per transaction in `load` and per commit in `commit`.
const BATCH: usize = 10_000;
/// Point lookups in the `lookup-*` phases.
const LOOKUPS: usize = 200_000;
/// Commits timed per `commit` process.
const COMMITS: usize = 5;
/// Bytes of a manifest row (a postcard-encoded entry is about this size).
const ROW_BYTES: usize = 60;
/// Bytes of a run report written with each commit.
const REPORT_BYTES: usize = 5 * 1024;
/// Page cache of redb and SQLite, as the engine configures redb today.
const CACHE_BYTES: usize = 2 * 1024 * 1024;
/// LMDB's address-space reservation; the file only grows as pages are used.
const LMDB_MAP_BYTES: usize = 16 * 1024 * 1024 * 1024;
/// Reads the `reader` phase makes, each in its own transaction, while the writer commits.
const READER_READS: usize = 1_000;
const CHECKPOINT_KEY: &str = "checkpoint/fs-main";
const REPORT_KEY: &str = "run/000001";

// ---------------------------------------------------------------------------------------------
// Command line

#[derive(Clone, Copy, PartialEq, Debug)]
enum Backend {
    /// redb 4 as the engine opens it today (ExclusiveWriter: whole-file lock).
    Redb,
    /// redb 4.5+ in `ConcurrencyMode::SingleWriter`: one writer, read-only opens by others.
    RedbSingle,
    Sqlite,
    Lmdb,
    /// LMDB with `MDB_NORDAHEAD`: no kernel read-ahead on the map, so random reads fault in
    /// single pages rather than whole read-ahead windows.
    LmdbNoReadAhead,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Phase {
    Load,
    Open,
    Scan,
    LookupSorted,
    LookupRandom,
    Commit,
    CommitScattered,
    Reader,
    /// Internal: the writer process the `reader` phase starts.
    Writer,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Sync {
    Normal,
    Full,
}

#[derive(Debug)]
struct Args {
    backend: Backend,
    docs: usize,
    dir: PathBuf,
    phase: Phase,
    sync: Sync,
}

impl Args {
    fn parse() -> Result<Args> {
        let mut backend = None;
        let mut docs = None;
        let mut dir = None;
        let mut phase = None;
        let mut sync = Sync::Full;
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--backend" => backend = Some(parse_backend(&value)?),
                "--docs" => docs = Some(value.parse()?),
                "--dir" => dir = Some(PathBuf::from(value)),
                "--phase" => phase = Some(parse_phase(&value)?),
                "--sync" => sync = parse_sync(&value)?,
                _ => return Err(format!("unknown flag {flag}").into()),
            }
        }
        Ok(Args {
            backend: backend.ok_or("--backend is required")?,
            docs: docs.ok_or("--docs is required")?,
            dir: dir.ok_or("--dir is required")?,
            phase: phase.ok_or("--phase is required")?,
            sync,
        })
    }

    /// The arguments again, with another phase (for the writer child process).
    fn with_phase(&self, phase: &str) -> Vec<String> {
        vec![
            "--backend".into(),
            backend_name(self.backend).into(),
            "--docs".into(),
            self.docs.to_string(),
            "--dir".into(),
            self.dir.display().to_string(),
            "--phase".into(),
            phase.into(),
            "--sync".into(),
            format!("{:?}", self.sync).to_lowercase(),
        ]
    }
}

fn parse_backend(s: &str) -> Result<Backend> {
    Ok(match s {
        "redb" => Backend::Redb,
        "redb-single" => Backend::RedbSingle,
        "sqlite" => Backend::Sqlite,
        "lmdb" => Backend::Lmdb,
        "lmdb-nora" => Backend::LmdbNoReadAhead,
        _ => return Err(format!("unknown backend {s}").into()),
    })
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Redb => "redb",
        Backend::RedbSingle => "redb-single",
        Backend::Sqlite => "sqlite",
        Backend::Lmdb => "lmdb",
        Backend::LmdbNoReadAhead => "lmdb-nora",
    }
}

fn parse_phase(s: &str) -> Result<Phase> {
    Ok(match s {
        "load" => Phase::Load,
        "open" => Phase::Open,
        "scan" => Phase::Scan,
        "lookup-sorted" => Phase::LookupSorted,
        "lookup-random" => Phase::LookupRandom,
        "commit" => Phase::Commit,
        "commit-scattered" => Phase::CommitScattered,
        "reader" => Phase::Reader,
        "writer" => Phase::Writer,
        _ => return Err(format!("unknown phase {s}").into()),
    })
}

fn parse_sync(s: &str) -> Result<Sync> {
    Ok(match s {
        "normal" => Sync::Normal,
        "full" => Sync::Full,
        _ => return Err(format!("unknown sync mode {s}").into()),
    })
}

// ---------------------------------------------------------------------------------------------
// Data

/// The doc id of document `i`: zero-padded, so ascending `i` is ascending key order.
fn doc_id(i: usize) -> String {
    format!("folder-{:04}/doc-{:07}.md", i / 1000, i)
}

/// A 60-byte row for document `i` at `version`: random-ish bytes (like hashes), not compressible.
fn row(i: usize, version: u64) -> [u8; ROW_BYTES] {
    let mut out = [0u8; ROW_BYTES];
    let mut rng = Rng::new((i as u64) << 20 ^ version);
    for chunk in out.chunks_mut(8) {
        let bytes = rng.next().to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    out
}

/// splitmix64: deterministic, dependency-free randomness.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `count` distinct document indices in ascending order (every document when `count >= docs`).
fn sorted_sample(docs: usize, count: usize, seed: u64) -> Vec<usize> {
    if count >= docs {
        return (0..docs).collect();
    }
    let mut rng = Rng::new(seed);
    let mut picked = vec![false; docs];
    let mut left = count;
    while left > 0 {
        let i = rng.below(docs);
        if !picked[i] {
            picked[i] = true;
            left -= 1;
        }
    }
    (0..docs).filter(|&i| picked[i]).collect()
}

fn shuffle(v: &mut [usize], seed: u64) {
    let mut rng = Rng::new(seed);
    for i in (1..v.len()).rev() {
        v.swap(i, rng.below(i + 1));
    }
}

/// One commit's writes: manifest rows plus the checkpoint and run report of the same commit.
struct Commit {
    rows: Vec<(String, [u8; ROW_BYTES])>,
    checkpoint: Vec<u8>,
    report: Vec<u8>,
}

impl Commit {
    fn new(indices: impl Iterator<Item = usize>, version: u64) -> Commit {
        let rows = indices.map(|i| (doc_id(i), row(i, version))).collect();
        let checkpoint = format!("{{\"cursor\":\"page-{version}\",\"commit\":{version}}}");
        let mut report = vec![b'r'; REPORT_BYTES];
        report[..8].copy_from_slice(&version.to_le_bytes());
        Commit {
            rows,
            checkpoint: checkpoint.into_bytes(),
            report,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Backends

/// What every candidate store does; one implementation per backend.
trait Store {
    /// Writes one commit in one durable transaction.
    fn write(&mut self, commit: &Commit) -> Result<()>;
    /// Reads every manifest row of the source in key order: (rows, value bytes).
    fn scan(&mut self) -> Result<(usize, usize)>;
    /// Looks up each key in one read snapshot (as the engine's cached redb snapshot does):
    /// the number found.
    fn lookups(&mut self, keys: &[String]) -> Result<usize>;
    /// Reads one manifest row and the checkpoint in a fresh read transaction (to see the latest
    /// commit): (row found, checkpoint).
    fn read_fresh(&mut self, key: &str) -> Result<(bool, Option<Vec<u8>>)>;
}

fn open_store(args: &Args, read_only: bool) -> Result<Box<dyn Store>> {
    Ok(match args.backend {
        Backend::Redb => Box::new(RedbStore::open(
            &args.dir,
            redb::ConcurrencyMode::ExclusiveWriter,
            read_only,
        )?),
        Backend::RedbSingle => Box::new(RedbStore::open(
            &args.dir,
            redb::ConcurrencyMode::SingleWriter,
            read_only,
        )?),
        Backend::Sqlite => Box::new(SqliteStore::open(&args.dir, args.sync, read_only)?),
        Backend::Lmdb => Box::new(LmdbStore::open(&args.dir, read_only, true)?),
        Backend::LmdbNoReadAhead => Box::new(LmdbStore::open(&args.dir, read_only, false)?),
    })
}

// --- redb ---------------------------------------------------------------------------------------

mod redb_store {
    use super::*;
    use redb::{ReadableDatabase, ReadableTable};

    type Table<'n> = redb::TableDefinition<'n, &'static str, &'static [u8]>;
    /// One table per source, as the engine names them.
    const MANIFEST: Table = Table::new("manifest/fs-main");
    const STATE: Table = Table::new("state");

    enum Handle {
        Write(redb::Database),
        Read(redb::ReadOnlyDatabase),
    }

    pub struct RedbStore {
        db: Handle,
    }

    impl RedbStore {
        pub fn open(dir: &Path, mode: redb::ConcurrencyMode, read_only: bool) -> Result<RedbStore> {
            let path = dir.join("manifest.redb");
            let mut builder = redb::Builder::new();
            builder
                .set_cache_size(CACHE_BYTES)
                .set_concurrency_mode(mode);
            let db = if read_only {
                Handle::Read(builder.open_read_only(&path)?)
            } else {
                std::fs::create_dir_all(dir)?;
                Handle::Write(builder.create(&path)?)
            };
            Ok(RedbStore { db })
        }

        fn begin_read(&self) -> Result<redb::ReadTransaction> {
            Ok(match &self.db {
                Handle::Write(db) => db.begin_read()?,
                Handle::Read(db) => db.begin_read()?,
            })
        }
    }

    impl Store for RedbStore {
        fn write(&mut self, commit: &Commit) -> Result<()> {
            let Handle::Write(db) = &self.db else {
                return Err("redb: read-only handle cannot write".into());
            };
            let tx = db.begin_write()?; // Durability::Immediate is the default
            {
                let mut manifest = tx.open_table(MANIFEST)?;
                for (id, row) in &commit.rows {
                    manifest.insert(id.as_str(), row.as_slice())?;
                }
                let mut state = tx.open_table(STATE)?;
                state.insert(CHECKPOINT_KEY, commit.checkpoint.as_slice())?;
                state.insert(REPORT_KEY, commit.report.as_slice())?;
            }
            tx.commit()?;
            Ok(())
        }

        fn scan(&mut self) -> Result<(usize, usize)> {
            let tx = self.begin_read()?;
            let table = tx.open_table(MANIFEST)?;
            let (mut rows, mut bytes) = (0, 0);
            for entry in table.iter()? {
                let (_, value) = entry?;
                rows += 1;
                bytes += value.value().len();
            }
            Ok((rows, bytes))
        }

        fn lookups(&mut self, keys: &[String]) -> Result<usize> {
            let tx = self.begin_read()?;
            let table = tx.open_table(MANIFEST)?;
            let mut found = 0;
            for key in keys {
                if let Some(value) = table.get(key.as_str())? {
                    found += usize::from(!value.value().is_empty());
                }
            }
            Ok(found)
        }

        fn read_fresh(&mut self, key: &str) -> Result<(bool, Option<Vec<u8>>)> {
            let tx = self.begin_read()?;
            let found = tx.open_table(MANIFEST)?.get(key)?.is_some();
            let checkpoint = tx
                .open_table(STATE)?
                .get(CHECKPOINT_KEY)?
                .map(|v| v.value().to_vec());
            Ok((found, checkpoint))
        }
    }
}
use redb_store::RedbStore;

// --- SQLite -------------------------------------------------------------------------------------

mod sqlite_store {
    use super::*;
    use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

    const SCHEMA: &str = "
        CREATE TABLE IF NOT EXISTS manifest (
            source TEXT NOT NULL, doc_id TEXT NOT NULL, row BLOB NOT NULL,
            PRIMARY KEY (source, doc_id)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;";
    const UPSERT_ROW: &str =
        "INSERT OR REPLACE INTO manifest (source, doc_id, row) VALUES (?1, ?2, ?3)";
    const UPSERT_STATE: &str = "INSERT OR REPLACE INTO state (key, value) VALUES (?1, ?2)";
    const GET_ROW: &str = "SELECT row FROM manifest WHERE source = ?1 AND doc_id = ?2";
    const GET_STATE: &str = "SELECT value FROM state WHERE key = ?1";
    const SCAN: &str = "SELECT row FROM manifest WHERE source = ?1 ORDER BY doc_id";

    pub struct SqliteStore {
        conn: Connection,
    }

    impl SqliteStore {
        pub fn open(dir: &Path, sync: Sync, read_only: bool) -> Result<SqliteStore> {
            let path = dir.join("state.sqlite");
            let conn = if read_only {
                Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?
            } else {
                std::fs::create_dir_all(dir)?;
                Connection::open(&path)?
            };
            // A reader waits out a checkpoint's brief lock instead of failing with SQLITE_BUSY.
            conn.busy_timeout(Duration::from_secs(5))?;
            let cache_kib = CACHE_BYTES / 1024;
            conn.execute_batch(&format!(
                "PRAGMA cache_size = -{cache_kib}; PRAGMA mmap_size = 0; PRAGMA temp_store = MEMORY;"
            ))?;
            if !read_only {
                let sync = match sync {
                    Sync::Normal => "NORMAL",
                    Sync::Full => "FULL",
                };
                conn.execute_batch(&format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync};"
                ))?;
                conn.execute_batch(SCHEMA)?;
            }
            conn.set_prepared_statement_cache_capacity(16);
            Ok(SqliteStore { conn })
        }

        fn get_row(&self, key: &str) -> Result<Option<usize>> {
            let mut stmt = self.conn.prepare_cached(GET_ROW)?;
            let len = stmt
                .query_row(params![SOURCE, key], |r| Ok(r.get_ref(0)?.as_blob()?.len()))
                .optional()?;
            Ok(len)
        }
    }

    impl Store for SqliteStore {
        fn write(&mut self, commit: &Commit) -> Result<()> {
            let tx = self.conn.transaction()?;
            {
                let mut put = tx.prepare_cached(UPSERT_ROW)?;
                for (id, row) in &commit.rows {
                    put.execute(params![SOURCE, id, row.as_slice()])?;
                }
                let mut state = tx.prepare_cached(UPSERT_STATE)?;
                state.execute(params![CHECKPOINT_KEY, commit.checkpoint])?;
                state.execute(params![REPORT_KEY, commit.report])?;
            }
            tx.commit()?;
            Ok(())
        }

        fn scan(&mut self) -> Result<(usize, usize)> {
            let mut stmt = self.conn.prepare_cached(SCAN)?;
            let mut rows = stmt.query(params![SOURCE])?;
            let (mut count, mut bytes) = (0, 0);
            while let Some(r) = rows.next()? {
                count += 1;
                bytes += r.get_ref(0)?.as_blob()?.len();
            }
            Ok((count, bytes))
        }

        fn lookups(&mut self, keys: &[String]) -> Result<usize> {
            // One read transaction for the whole listing, like the engine's redb snapshot.
            self.conn.execute_batch("BEGIN")?;
            let mut found = 0;
            for key in keys {
                found += usize::from(self.get_row(key)?.is_some_and(|len| len > 0));
            }
            self.conn.execute_batch("COMMIT")?;
            Ok(found)
        }

        fn read_fresh(&mut self, key: &str) -> Result<(bool, Option<Vec<u8>>)> {
            self.conn.execute_batch("BEGIN")?;
            let found = self.get_row(key)?.is_some();
            let checkpoint = self
                .conn
                .prepare_cached(GET_STATE)?
                .query_row(params![CHECKPOINT_KEY], |r| r.get::<_, Vec<u8>>(0))
                .optional()?;
            self.conn.execute_batch("COMMIT")?;
            Ok((found, checkpoint))
        }
    }
}
use sqlite_store::SqliteStore;

// --- LMDB (heed) --------------------------------------------------------------------------------

mod lmdb_store {
    use super::*;
    use heed::types::{Bytes, Str};
    use heed::{CommitOrAbort, Env, EnvFlags, EnvOpenOptions, WithTls};

    type Db = heed::Database<'static, Str, Bytes>;

    pub struct LmdbStore {
        env: &'static Env<WithTls>,
        manifest: Db,
        state: Db,
    }

    impl LmdbStore {
        pub fn open(dir: &Path, read_only: bool, read_ahead: bool) -> Result<LmdbStore> {
            let path = dir.join("lmdb");
            std::fs::create_dir_all(&path)?;
            let mut options = EnvOpenOptions::new();
            options.map_size(LMDB_MAP_BYTES).max_dbs(8);
            if read_only {
                // SAFETY: READ_ONLY only restricts what this handle does.
                unsafe { options.flags(EnvFlags::READ_ONLY) };
            }
            if !read_ahead {
                // SAFETY: NO_READ_AHEAD only changes the madvise hint of the map.
                unsafe { options.flags(EnvFlags::NO_READ_AHEAD) };
            }
            // SAFETY: LMDB requires that the file is not opened twice by one process and not
            // modified other than through LMDB; each bench process opens it once.
            let env = unsafe { options.open(&path)? };
            // heed ties `Database` to the `Env` borrow; leaking the one env of this short-lived
            // process gives both a 'static lifetime without a self-referential struct.
            let env: &'static Env<WithTls> = Box::leak(Box::new(env));
            let (manifest, state) = if read_only {
                open_dbs(env)?
            } else {
                create_dbs(env)?
            };
            Ok(LmdbStore {
                env,
                manifest,
                state,
            })
        }
    }

    fn create_dbs(env: &'static Env<WithTls>) -> Result<(Db, Db)> {
        let wtxn = env.write_txn()?;
        let dbs = env
            .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_> {
                let manifest: Db = opener.create_database(wtxn, Some("manifest/fs-main"))?;
                let state: Db = opener.create_database(wtxn, Some("state"))?;
                Ok(CommitOrAbort::<_, ()>::Commit((manifest, state)))
            })?
            .unwrap_commit();
        Ok(dbs)
    }

    fn open_dbs(env: &'static Env<WithTls>) -> Result<(Db, Db)> {
        let rtxn = env.read_txn()?;
        let dbs = env
            .open_databases_and_commit(rtxn, |opener, rtxn| -> Result<_> {
                let manifest: Option<Db> = opener.open_database(rtxn, Some("manifest/fs-main"))?;
                let state: Option<Db> = opener.open_database(rtxn, Some("state"))?;
                Ok(CommitOrAbort::<_, ()>::Commit((manifest, state)))
            })?
            .unwrap_commit();
        match dbs {
            (Some(manifest), Some(state)) => Ok((manifest, state)),
            _ => Err("lmdb: databases missing (run the load phase first)".into()),
        }
    }

    impl Store for LmdbStore {
        fn write(&mut self, commit: &Commit) -> Result<()> {
            let mut wtxn = self.env.write_txn()?; // synced at commit: no NO_SYNC flags
            for (id, row) in &commit.rows {
                self.manifest.put(&mut wtxn, id, row.as_slice())?;
            }
            self.state
                .put(&mut wtxn, CHECKPOINT_KEY, &commit.checkpoint)?;
            self.state.put(&mut wtxn, REPORT_KEY, &commit.report)?;
            wtxn.commit()?;
            Ok(())
        }

        fn scan(&mut self) -> Result<(usize, usize)> {
            let rtxn = self.env.read_txn()?;
            let (mut rows, mut bytes) = (0, 0);
            for entry in self.manifest.iter(&rtxn)? {
                let (_, value) = entry?;
                rows += 1;
                bytes += value.len();
            }
            Ok((rows, bytes))
        }

        fn lookups(&mut self, keys: &[String]) -> Result<usize> {
            let rtxn = self.env.read_txn()?;
            let mut found = 0;
            for key in keys {
                if let Some(value) = self.manifest.get(&rtxn, key)? {
                    found += usize::from(!value.is_empty());
                }
            }
            Ok(found)
        }

        fn read_fresh(&mut self, key: &str) -> Result<(bool, Option<Vec<u8>>)> {
            let rtxn = self.env.read_txn()?;
            let found = self.manifest.get(&rtxn, key)?.is_some();
            let checkpoint = self.state.get(&rtxn, CHECKPOINT_KEY)?.map(<[u8]>::to_vec);
            Ok((found, checkpoint))
        }
    }
}
use lmdb_store::LmdbStore;

// ---------------------------------------------------------------------------------------------
// Phases

/// Prints the phase's result line, with the process's peak RSS and `base_kb`, the peak before
/// the store was opened (the bench's own key vectors), so the store's share is the difference.
fn report(args: &Args, base_kb: u64, fields: &[(&str, String)]) -> Result<()> {
    let mut line = format!(
        "RESULT backend={} sync={:?} docs={} phase={:?}",
        backend_name(args.backend),
        args.sync,
        args.docs,
        args.phase
    );
    for (k, v) in fields {
        line.push_str(&format!(" {k}={v}"));
    }
    line.push_str(&format!(
        " peak_rss_kb={} base_rss_kb={base_kb}",
        peak_rss_kb()?
    ));
    // Now (not peak): anonymous memory vs. file pages mapped into the process (LMDB's map).
    line.push_str(&format!(
        " rss_anon_kb={} rss_file_kb={}",
        status_kb("RssAnon:")?,
        status_kb("RssFile:")?
    ));
    println!("{line}");
    Ok(())
}

/// VmHWM (peak resident set) of this process in KiB.
fn peak_rss_kb() -> Result<u64> {
    status_kb("VmHWM:")
}

/// A `... kB` field of /proc/self/status.
fn status_kb(field: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .ok_or_else(|| format!("no {field} in /proc/self/status"))?;
    let kb = line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| format!("malformed {field} line"))?;
    Ok(kb.parse()?)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn phase_load(args: &Args) -> Result<()> {
    if args.dir.exists() {
        std::fs::remove_dir_all(&args.dir)?;
    }
    let base = peak_rss_kb()?;
    let start = Instant::now();
    let mut store = open_store(args, false)?;
    for (n, first) in (0..args.docs).step_by(BATCH).enumerate() {
        let last = (first + BATCH).min(args.docs);
        store.write(&Commit::new(first..last, n as u64))?;
    }
    drop(store);
    report(
        args,
        base,
        &[("load_s", format!("{:.2}", start.elapsed().as_secs_f64()))],
    )
}

fn phase_open(args: &Args) -> Result<()> {
    let base = peak_rss_kb()?;
    let start = Instant::now();
    let mut store = open_store(args, false)?;
    let opened = start.elapsed();
    let (found, _) = store.read_fresh(&doc_id(args.docs / 2))?;
    let first_read = start.elapsed() - opened;
    if !found {
        return Err("open: row not found (run the load phase first)".into());
    }
    report(
        args,
        base,
        &[
            ("open_ms", ms(opened)),
            (
                "first_read_ms",
                format!("{:.3}", first_read.as_secs_f64() * 1e3),
            ),
        ],
    )
}

fn phase_scan(args: &Args) -> Result<()> {
    let base = peak_rss_kb()?;
    let mut store = open_store(args, false)?;
    let start = Instant::now();
    let (rows, bytes) = store.scan()?;
    let took = start.elapsed();
    if rows != args.docs {
        return Err(format!("scan: {rows} rows, expected {}", args.docs).into());
    }
    report(
        args,
        base,
        &[
            ("scan_ms", ms(took)),
            ("rows", rows.to_string()),
            ("bytes", bytes.to_string()),
        ],
    )
}

fn phase_lookup(args: &Args, random: bool) -> Result<()> {
    let mut indices = sorted_sample(args.docs, LOOKUPS, 7);
    if random {
        shuffle(&mut indices, 11);
    }
    let keys: Vec<String> = indices.iter().map(|&i| doc_id(i)).collect();
    drop(indices);
    let base = peak_rss_kb()?;
    let mut store = open_store(args, false)?;
    let start = Instant::now();
    let found = store.lookups(&keys)?;
    let took = start.elapsed();
    if found != keys.len() {
        return Err(format!("lookup: found {found} of {}", keys.len()).into());
    }
    let ns = took.as_nanos() as f64 / keys.len() as f64;
    report(
        args,
        base,
        &[
            ("lookups", keys.len().to_string()),
            ("ns_per_lookup", format!("{ns:.0}")),
            ("total_ms", ms(took)),
        ],
    )
}

/// The rows of commit `n`: a contiguous run of existing docs (a listing's next page), or
/// 10,000 docs scattered over the whole manifest (a change feed's updates), sorted as a
/// batch would be.
fn commit_rows(docs: usize, n: usize, scattered: bool) -> Vec<usize> {
    let count = BATCH.min(docs);
    if scattered {
        return sorted_sample(docs, count, 1000 + n as u64);
    }
    let first = Rng::new(2000 + n as u64).below(docs - count + 1);
    (first..first + count).collect()
}

fn phase_commit(args: &Args, scattered: bool) -> Result<()> {
    let base = peak_rss_kb()?;
    let mut store = open_store(args, false)?;
    let mut times = Vec::with_capacity(COMMITS);
    for n in 0..COMMITS {
        let commit = Commit::new(
            commit_rows(args.docs, n, scattered).into_iter(),
            1_000_000 + n as u64,
        );
        let start = Instant::now();
        store.write(&commit)?;
        times.push(start.elapsed());
    }
    let mean = times.iter().sum::<Duration>() / COMMITS as u32;
    let max = times.iter().max().copied().unwrap_or_default();
    report(
        args,
        base,
        &[
            ("commits", COMMITS.to_string()),
            ("commit_mean_ms", ms(mean)),
            ("commit_max_ms", ms(max)),
        ],
    )
}

/// Internal writer for `reader`: commits in a loop until its stdin closes, printing `ready`
/// after the first commit and the number of commits at the end.
fn phase_writer(args: &Args) -> Result<()> {
    let mut store = open_store(args, false)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink); // returns at EOF: the parent is done
        flag.store(true, Ordering::Release);
    });
    let mut n = 0usize;
    while !stop.load(Ordering::Acquire) {
        let commit = Commit::new(
            commit_rows(args.docs, n, false).into_iter(),
            2_000_000 + n as u64,
        );
        store.write(&commit)?;
        n += 1;
        if n == 1 {
            println!("ready");
            std::io::stdout().flush()?;
        }
    }
    println!("commits={n}");
    Ok(())
}

/// Starts a writer process, then opens the database read-only in this process while the
/// writer commits, and reads (one row and the checkpoint, each time in a fresh transaction).
fn phase_reader(args: &Args) -> Result<()> {
    let base = peak_rss_kb()?;
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(args.with_phase("writer"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = BufReader::new(child.stdout.take().ok_or("writer stdout")?);
    let mut line = String::new();
    out.read_line(&mut line)?;
    if line.trim() != "ready" {
        child.wait()?;
        return Err(format!("writer did not start: {line:?}").into());
    }
    let outcome = read_while_writing(args);
    drop(child.stdin.take()); // EOF: the writer stops after its current commit
    let mut rest = String::new();
    out.read_to_string(&mut rest)?;
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("writer failed: {status}").into());
    }
    let writer_commits = rest.trim().trim_start_matches("commits=").to_string();
    let mut fields = match outcome {
        Ok(fields) => fields,
        Err(e) => vec![
            ("can_read", "no".to_string()),
            ("error", format!("{:?}", e.to_string().replace(' ', "_"))),
        ],
    };
    fields.push(("writer_commits", writer_commits));
    report(args, base, &fields)
}

fn read_while_writing(args: &Args) -> Result<Vec<(&'static str, String)>> {
    let start = Instant::now();
    let mut store = open_store(args, true)?;
    let opened = start.elapsed();
    let mut rng = Rng::new(99);
    let mut first_checkpoint = None;
    let mut last_checkpoint = None;
    let (mut total, mut max) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..READER_READS {
        let key = doc_id(rng.below(args.docs));
        let t = Instant::now();
        let (found, checkpoint) = store.read_fresh(&key)?;
        let took = t.elapsed();
        total += took;
        max = max.max(took);
        if !found {
            return Err(format!("reader: {key} not found").into());
        }
        first_checkpoint.get_or_insert_with(|| checkpoint.clone());
        last_checkpoint = checkpoint;
        std::thread::sleep(Duration::from_millis(1)); // spread the reads over several commits
    }
    let mean_us = total.as_secs_f64() * 1e6 / READER_READS as f64;
    let advanced = first_checkpoint.flatten() != last_checkpoint;
    Ok(vec![
        ("can_read", "yes".to_string()),
        ("open_ms", ms(opened)),
        ("read_mean_us", format!("{mean_us:.0}")),
        ("read_max_ms", format!("{:.2}", max.as_secs_f64() * 1e3)),
        ("saw_new_commits", advanced.to_string()),
    ])
}

fn main() -> Result<()> {
    let args = Args::parse()?;
    match args.phase {
        Phase::Load => phase_load(&args),
        Phase::Open => phase_open(&args),
        Phase::Scan => phase_scan(&args),
        Phase::LookupSorted => phase_lookup(&args, false),
        Phase::LookupRandom => phase_lookup(&args, true),
        Phase::Commit => phase_commit(&args, false),
        Phase::CommitScattered => phase_commit(&args, true),
        Phase::Reader => phase_reader(&args),
        Phase::Writer => phase_writer(&args),
    }
}
