//! `LocalStore`: scoping, atomic batches, readers beside the writer, row formats.

use connector_sdk::RemoteDocument;
use time::OffsetDateTime;

use super::*;
use crate::report::RunMode;

/// A manifest entry with only its version and generation set.
pub(in crate::store) fn entry(version: &str, seen: u64) -> ManifestEntry {
    ManifestEntry {
        version: version.into(),
        acl_hash: "a".into(),
        content_hash: "c".into(),
        pipeline: "p".into(),
        chunks: 1,
        seen,
    }
}

fn retry(attempts: u32) -> RetryEntry {
    RetryEntry {
        doc: RemoteDocument::new("x", "v2", connector_sdk::Acl::default()),
        attempts,
        stage: "fetch".into(),
        kind: "transient".into(),
        message: "reset".into(),
        failed_at: OffsetDateTime::UNIX_EPOCH,
        next_attempt: OffsetDateTime::UNIX_EPOCH,
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
    let row = store.manifest_get("ab", "x").expect("get").expect("row");
    assert_eq!(row.version, "3");
    let first = store.next_id().expect("id");
    assert!(store.next_id().expect("id") > first);
}

#[test]
fn a_second_writer_is_refused_while_readers_see_each_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let writer = LocalStore::open(dir.path()).expect("open");
    // `Engine::open` turns the lock error into "in use by another tributary process".
    let err = LocalStore::open(dir.path()).expect_err("in use");
    assert!(err.to_string().contains("lock"), "{err}");
    let reader = LocalStore::open_read_only(dir.path()).expect("a reader opens alongside");
    assert!(reader.runs().expect("runs").is_empty());
    let mut report = RunReport::new(writer.next_id().expect("id"), "a", RunMode::Full);
    writer
        .apply(StoreBatch {
            put: vec![("a".into(), "x".into(), entry("1", 1))],
            source_state: Some(("a".into(), SourceState::default())),
            run: Some(report.clone()),
            ..StoreBatch::default()
        })
        .expect("apply");
    // The reader sees the commit on its next read, manifest row and report together.
    assert_eq!(reader.manifest_count("a").expect("count"), 1);
    assert_eq!(reader.runs().expect("runs"), [report.clone()]);
    report.counts.added = 1;
    writer.put_run(&report).expect("put");
    assert_eq!(reader.runs().expect("runs")[0].counts.added, 1);
    let err = reader.next_id().expect_err("a reader cannot write");
    assert!(err.to_string().contains("read-only"), "{err}");
    drop(writer);
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
    // A newer format of the memberships themselves is refused, not misread.
    let mut newer = serde_json::to_value(&m).expect("json");
    newer["format"] = serde_json::json!(99);
    local
        .write(|tx| {
            tx.open_table(MEMBERSHIPS)
                .map_err(store_err)?
                .insert("x", encode(&newer)?.as_slice())
                .map_err(store_err)?;
            Ok(())
        })
        .expect("insert");
    assert!(local.memberships("x").is_err());
}

#[test]
fn the_memberships_version_moves_with_memberships_writes_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let writer = LocalStore::open(dir.path()).expect("open");
    let reader = LocalStore::open_read_only(dir.path()).expect("reader");
    assert_eq!(
        reader.memberships_version().expect("read"),
        Some(0),
        "none stored"
    );
    writer
        .put_memberships("wiki", &Memberships::default())
        .expect("put");
    assert_eq!(reader.memberships_version().expect("read"), Some(1));
    // Content commits (manifest rows, run reports, ids) leave it where it was.
    writer
        .apply(StoreBatch {
            put: vec![("a".into(), "x".into(), entry("1", 1))],
            run: Some(RunReport::new(
                writer.next_id().expect("id"),
                "a",
                RunMode::Full,
            )),
            ..StoreBatch::default()
        })
        .expect("apply");
    assert_eq!(reader.memberships_version().expect("read"), Some(1));
    writer
        .put_memberships("drive", &Memberships::default())
        .expect("put");
    assert_eq!(reader.memberships_version().expect("read"), Some(2));
    drop(writer);
    let reopened = LocalStore::open(dir.path()).expect("reopen");
    assert_eq!(reopened.memberships_version().expect("read"), Some(2));
    // Memberships an older build wrote, uncounted: no version to trust.
    reopened
        .write(|tx| {
            tx.open_table(META)
                .map_err(store_err)?
                .remove(MEMBERSHIPS_VERSION)
                .map_err(store_err)?;
            Ok(())
        })
        .expect("forget the count");
    assert_eq!(reopened.memberships_version().expect("read"), None);
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
fn run_history_is_pruned_per_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalStore::open(dir.path()).expect("open");
    for id in 1..=6 {
        let source = if id % 2 == 0 { "even" } else { "odd" };
        store
            .put_run(&RunReport::new(id, source, RunMode::Full))
            .expect("put");
    }
    assert_eq!(store.prune_runs("even", 1).expect("prune"), 2);
    assert_eq!(store.prune_runs("odd", 5).expect("prune"), 0);
    let ids: Vec<u64> = store.runs().expect("runs").iter().map(|r| r.id).collect();
    assert_eq!(ids, [1, 3, 5, 6]);

    // A run's final batch prunes its source's history in the same transaction.
    store
        .apply(StoreBatch {
            run: Some(RunReport::new(7, "odd", RunMode::Incremental)),
            keep_runs: Some(2),
            ..StoreBatch::default()
        })
        .expect("apply");
    let ids: Vec<u64> = store.runs().expect("runs").iter().map(|r| r.id).collect();
    assert_eq!(ids, [5, 6, 7]);
}

#[test]
fn retry_rows_are_written_with_the_manifest_and_scoped_by_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalStore::open(dir.path()).expect("open");
    assert!(store.retries("a").expect("retries").is_empty());
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
    assert_eq!(
        store.retries("a").expect("retries"),
        [("x".to_string(), retry(1))]
    );
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
fn a_row_of_an_unknown_format_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalStore::open(dir.path()).expect("open");
    let mut row = encode_entry(&entry("1", 1)).expect("encode");
    row[0] = ROW_FORMAT + 1;
    store
        .write(|tx| {
            tx.open_table(Rows::new(&manifest_table("a")))
                .map_err(store_err)?
                .insert("x", row.as_slice())
                .map_err(store_err)?;
            Ok(())
        })
        .expect("write");
    let err = store.manifest_get("a", "x").expect_err("unknown format");
    assert!(err.to_string().contains("row format 2"), "{err}");
}
