//! Upgrades a store of an older layout to [`STORE_FORMAT`] when it is opened for writing.
//!
//! Layout 1 (before ADR 0013) kept source states, run reports and the id counter in sled
//! (`state/`, keys `s\0<source>`, `r\0<id>`, `n\0id`; manifest rows of the layout before
//! ADR 0005 under `m\0<source>\0<doc id>`), and the manifest and retry list in redb tables
//! `manifest/<source>` and `retry/<source>` whose rows had no format byte.
//!
//! Every step is a redb transaction that can be repeated: rows are copied (never merged),
//! and a table of the old layout is emptied in the transaction that copies its last rows.
//! `format` is written last; only then is `state/` removed, so a crash anywhere repeats
//! work and loses nothing. The compat tests (`tests/src/compat.rs`) open committed data
//! directories of each earlier layout.

use std::path::Path;

use redb::{ReadableTable, TableHandle};

use super::local::{
    LocalStore, META, Rows, STATES, STORE_FORMAT, insert_run, manifest_table, retry_table,
    store_err, with_format,
};
use crate::report::RunReport;
use crate::{EngineError, Result};

/// Rows moved per transaction, so an upgrade of a million rows never holds them all.
const CHUNK: usize = 10_000;

pub(super) fn upgrade(store: &LocalStore, dir: &Path) -> Result<()> {
    let sled_dir = dir.join("state");
    if store.format()? != Some(STORE_FORMAT) {
        move_unformatted_tables(store)?;
        if sled_dir.exists() {
            copy_from_sled(store, &sled_dir)?;
        }
        store.write(|tx| {
            tx.open_table(META)
                .map_err(store_err)?
                .insert("format", STORE_FORMAT.to_be_bytes().as_slice())
                .map_err(store_err)?;
            Ok(())
        })?;
    }
    if sled_dir.exists() {
        std::fs::remove_dir_all(&sled_dir).map_err(|e| {
            EngineError::Store(format!("remove the old store {}: {e}", sled_dir.display()))
        })?;
        tracing::info!(dir = %dir.display(), "moved the old sled state into the redb store");
    }
    Ok(())
}

/// Moves `manifest/<source>` and `retry/<source>` (rows without a format byte) to the
/// tables of this layout, `CHUNK` rows a transaction.
fn move_unformatted_tables(store: &LocalStore) -> Result<()> {
    let names: Vec<String> = store
        .read()?
        .list_tables()
        .map_err(store_err)?
        .map(|t| t.name().to_string())
        .collect();
    for name in names {
        let target = if let Some(source) = name.strip_prefix("manifest/") {
            manifest_table(source)
        } else if let Some(source) = name.strip_prefix("retry/") {
            retry_table(source)
        } else {
            continue;
        };
        loop {
            let moved = store.write(|tx| {
                let mut old = tx.open_table(Rows::new(&name)).map_err(store_err)?;
                let mut new = tx.open_table(Rows::new(&target)).map_err(store_err)?;
                let mut moved = 0;
                for _ in 0..CHUNK {
                    let Some((k, v)) = old.pop_first().map_err(store_err)? else {
                        break;
                    };
                    new.insert(k.value(), with_format(v.value()).as_slice())
                        .map_err(store_err)?;
                    moved += 1;
                }
                Ok(moved)
            })?;
            if moved < CHUNK {
                break;
            }
        }
        store.write(|tx| {
            tx.delete_table(Rows::new(&name)).map_err(store_err)?;
            Ok(())
        })?;
    }
    Ok(())
}

/// Copies source states, run reports, the id counter and any manifest rows of the sled
/// layout into redb.
fn copy_from_sled(store: &LocalStore, sled_dir: &Path) -> Result<()> {
    let db = sled::Config::new()
        .path(sled_dir)
        .cache_capacity(8 * 1024 * 1024)
        .open()
        .map_err(|e| {
            EngineError::Store(format!("open the old store {}: {e}", sled_dir.display()))
        })?;
    let tree = db.open_tree("tributary").map_err(store_err)?;
    let id = match tree.get(b"n\0id").map_err(store_err)? {
        Some(v) => <[u8; 8]>::try_from(&*v)
            .map(u64::from_be_bytes)
            .map_err(|_| EngineError::Store("old id counter is corrupt".into()))?,
        None => 0,
    };
    store.write(|tx| {
        let mut states = tx.open_table(STATES).map_err(store_err)?;
        for kv in tree.scan_prefix(b"s\0") {
            let (k, v) = kv.map_err(store_err)?;
            let source = String::from_utf8_lossy(&k[2..]);
            states
                .insert(&*source, with_format(&v).as_slice())
                .map_err(store_err)?;
        }
        drop(states);
        for kv in tree.scan_prefix(b"r\0") {
            let (_, v) = kv.map_err(store_err)?;
            let report: RunReport = serde_json::from_slice(&v)
                .map_err(|e| EngineError::Store(format!("corrupt old run report: {e}")))?;
            insert_run(tx, &report)?;
        }
        let mut meta = tx.open_table(META).map_err(store_err)?;
        let current = match meta.get("id").map_err(store_err)? {
            Some(v) => <[u8; 8]>::try_from(v.value()).map_or(0, u64::from_be_bytes),
            None => 0,
        };
        meta.insert("id", current.max(id).to_be_bytes().as_slice())
            .map_err(store_err)?;
        Ok(())
    })?;
    // Manifest rows of the layout before ADR 0005: `m\0<source>\0<doc id>`.
    let mut rows = tree.scan_prefix(b"m\0").peekable();
    while rows.peek().is_some() {
        store.write(|tx| {
            for kv in rows.by_ref().take(CHUNK) {
                let (k, v) = kv.map_err(store_err)?;
                let rest = &k[2..];
                let split = rest.iter().position(|&b| b == 0).ok_or_else(|| {
                    EngineError::Store("corrupt old manifest key (no source)".into())
                })?;
                let source = String::from_utf8_lossy(&rest[..split]);
                let doc_id = String::from_utf8_lossy(&rest[split + 1..]);
                tx.open_table(Rows::new(&manifest_table(&source)))
                    .map_err(store_err)?
                    .insert(&*doc_id, with_format(&v).as_slice())
                    .map_err(store_err)?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use redb::ReadableTableMetadata;

    use super::*;
    use crate::report::RunMode;
    use crate::store::{ManifestEntry, SourceState, StateStore};

    fn entry(version: &str) -> ManifestEntry {
        crate::store::local::tests::entry(version, 3)
    }

    /// A data directory as layout 1 left it: sled with a state, two reports, the counter
    /// and 25,000 manifest rows of the layout before ADR 0005; redb with a manifest and a
    /// retry table whose rows have no format byte.
    fn layout_one(dir: &Path) {
        let db = sled::open(dir.join("state")).expect("sled");
        let tree = db.open_tree("tributary").expect("tree");
        for i in 0..25_000 {
            let key = format!("m\0old\0doc-{i:05}");
            let value = postcard::to_stdvec(&entry(&i.to_string())).expect("encode");
            tree.insert(key.as_bytes(), value).expect("insert");
        }
        let state = SourceState {
            running: true,
            ..SourceState::default()
        };
        tree.insert(b"s\0new", serde_json::to_vec(&state).expect("json"))
            .expect("state");
        for (id, source) in [(7u64, "old"), (9, "new")] {
            let mut key = b"r\0".to_vec();
            key.extend_from_slice(&id.to_be_bytes());
            let report = RunReport::new(id, source, RunMode::Full);
            tree.insert(key, serde_json::to_vec(&report).expect("json"))
                .expect("run");
        }
        tree.insert(b"n\0id", &41u64.to_be_bytes())
            .expect("counter");
        db.flush().expect("flush");
        drop(db);
        let redb = redb::Database::create(dir.join("manifest.redb")).expect("redb");
        let tx = redb.begin_write().expect("tx");
        {
            let mut manifest = tx.open_table(Rows::new("manifest/new")).expect("table");
            let row = postcard::to_stdvec(&entry("n1")).expect("encode");
            manifest.insert("a.md", row.as_slice()).expect("insert");
            let mut retry = tx.open_table(Rows::new("retry/new")).expect("table");
            let doc =
                connector_sdk::RemoteDocument::new("b.md", "v", connector_sdk::Acl::default());
            let json = serde_json::json!({
                "doc": doc, "attempts": 2, "stage": "fetch", "kind": "transient",
                "message": "reset", "failed_at": "2026-01-01T00:00:00Z",
                "next_attempt": "2026-01-01T00:01:00Z"
            });
            retry
                .insert("b.md", serde_json::to_vec(&json).expect("json").as_slice())
                .expect("insert");
        }
        tx.commit().expect("commit");
    }

    #[test]
    fn a_store_of_layout_one_is_moved_whole_and_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        layout_one(dir.path());
        let store = LocalStore::open(dir.path()).expect("open upgrades");
        assert!(!dir.path().join("state").exists(), "sled is gone");
        assert_eq!(store.manifest_count("old").expect("count"), 25_000);
        let row = store
            .manifest_get("old", "doc-12345")
            .expect("get")
            .expect("row");
        assert_eq!((row.version.as_str(), row.seen), ("12345", 3));
        assert_eq!(
            store
                .manifest_get("new", "a.md")
                .expect("get")
                .map(|e| e.version),
            Some("n1".to_string())
        );
        assert_eq!(
            store
                .retry_get("new", "b.md")
                .expect("get")
                .map(|r| r.attempts),
            Some(2)
        );
        assert!(store.source_state("new").expect("state").running);
        let runs: Vec<(u64, String)> = store
            .runs()
            .expect("runs")
            .into_iter()
            .map(|r| (r.id, r.source))
            .collect();
        assert_eq!(runs, [(7, "old".to_string()), (9, "new".to_string())]);
        assert_eq!(store.next_id().expect("id"), 42, "the counter goes on");
        assert_eq!(
            store.prune_runs("old", 0).expect("prune"),
            1,
            "old runs are indexed"
        );
        // The unformatted tables are gone; reopening finds nothing to move.
        let names: Vec<String> = store
            .read()
            .expect("read")
            .list_tables()
            .expect("tables")
            .map(|t| t.name().to_string())
            .collect();
        assert!(names.iter().all(|n| !n.contains('/')), "{names:?}");
        drop(store);
        let store = LocalStore::open(dir.path()).expect("reopen");
        assert_eq!(store.manifest_count("old").expect("count"), 25_000);
        let reader = LocalStore::open_read_only(dir.path()).expect("readable alongside");
        assert_eq!(
            reader
                .open_rows(&manifest_table("old"))
                .expect("t")
                .expect("t")
                .len()
                .expect("len"),
            25_000
        );
    }

    #[test]
    fn a_store_of_layout_one_cannot_be_read_before_it_is_upgraded() {
        let dir = tempfile::tempdir().expect("tempdir");
        layout_one(dir.path());
        let err = LocalStore::open_read_only(dir.path()).expect_err("old layout");
        assert!(
            err.to_string().contains("upgraded by the next sync"),
            "{err}"
        );
    }
}
