//! Incremental syncs: exact counts, ACL-only updates, and unchanged files never read.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sync_core::{ChunkerConfig, Engine, MemoryIndex, MemoryStore, RunMode, RunState, SyncOptions};

use crate::support::{CountingReader, World, counts, fs_source, hits, set, sync, visible};

pub(crate) const IDENTITIES: &str =
    r#"{"users": {"ann@example.com": ["team"], "ben@example.com": ["other"]}}"#;

pub(crate) fn world() -> World {
    let w = World::new();
    w.write("a.txt", "alpha original text");
    w.write("b.md", "# Bravo\nto be deleted");
    w.write(
        "team/c.html",
        "<html><body><p>charlie page</p></body></html>",
    );
    w.write("team/d.csv", "name,value\ndelta,4\n");
    w.write("e.json", r#"{"echo": "value"}"#);
    w.write("f.txt", "foxtrot stays the same");
    w.acl(&[("", &[("team", "GROUP", "ALLOW")])]);
    w
}

/// The world after a first full sync, with the reader's count reset.
async fn synced() -> (
    World,
    sync_core::Engine,
    Arc<CountingReader>,
    sync_core::Source,
) {
    let w = world();
    let engine = w.engine();
    let reader = Arc::new(CountingReader::default());
    let source = fs_source(w.config(), Some(Arc::clone(&reader)));
    sync(&engine, &source, &SyncOptions::default()).await;
    reader.take();
    (w, engine, reader, source)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_deletes_adds_and_acl_changes_are_counted_exactly() {
    check(World::engine).await;
}

/// The same runs with the state in memory: the engine reaches its state only through the
/// `StateStore` seam, and nothing of it reaches the disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_runs_with_an_in_memory_store_count_the_same() {
    let w = check(|w| Engine::with_store(&w.data(), Arc::new(MemoryStore::new())).expect("engine"))
        .await;
    assert!(!w.data().join("manifest.redb").exists());
    assert!(!w.data().join("state").exists());
}

/// And with the index in memory too: the engine writes, reconciles and searches only
/// through the `DocumentIndex` seam.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_runs_with_an_in_memory_index_and_store_count_the_same() {
    let w = check(|w| {
        Engine::with_parts(
            &w.data(),
            Arc::new(MemoryIndex::new()),
            Arc::new(MemoryStore::new()),
        )
        .expect("engine")
    })
    .await;
    assert!(!w.data().join("index").exists());
    assert!(!w.data().join("manifest.redb").exists());
}

/// A first sync, an incremental one after an edit, a delete, an add, a touch and an ACL
/// change, and a no-op, with exact counts and reads; returns the world.
async fn check(engine: fn(&World) -> Engine) -> World {
    let w = world();
    let engine = engine(&w);
    let reader = Arc::new(CountingReader::default());
    let source = fs_source(w.config(), Some(Arc::clone(&reader)));
    let options = SyncOptions::default();

    let first = sync(&engine, &source, &options).await;
    assert_eq!(
        (first.mode, first.state),
        (RunMode::Full, RunState::Succeeded)
    );
    assert_eq!(first.counts.added, 6);
    assert_eq!(reader.take().len(), 6);

    // Edit (new size), delete, add, touch without changing content, and move team/ to
    // another group in the ACL file.
    w.write("a.txt", "alpha edited text, now longer");
    w.remove("b.md");
    w.write("g.md", "# Golf\nnew document");
    let f = std::fs::File::options()
        .write(true)
        .open(w.docs().join("f.txt"))
        .expect("open f");
    f.set_modified(SystemTime::now() + Duration::from_secs(60))
        .expect("touch");
    w.acl(&[
        ("", &[("team", "GROUP", "ALLOW")]),
        ("team/", &[("other", "GROUP", "ALLOW")]),
    ]);

    let second = sync(&engine, &source, &options).await;
    assert_eq!(
        (second.mode, second.state),
        (RunMode::Incremental, RunState::Succeeded),
        "{second:?}"
    );
    assert_eq!(
        counts(&second),
        (6, 1, 1, 1, 2, 2, 0, 0),
        "{:?}",
        second.counts
    );
    // Only the edited, the touched (to compare its hash) and the new file were read.
    assert_eq!(reader.take(), ["a.txt", "f.txt", "g.md"]);

    let ids = crate::support::file_identities(IDENTITIES.as_bytes(), &["docs"]);
    assert_eq!(
        visible(&engine, &ids, "ann@example.com"),
        set(&["a.txt", "e.json", "f.txt", "g.md"])
    );
    assert_eq!(
        visible(&engine, &ids, "ben@example.com"),
        set(&["team/c.html", "team/d.csv"])
    );
    let ann = |q: &str| hits(&engine, &ids, "ann@example.com", q);
    assert_eq!((ann("edited"), ann("original")), (1, 0));

    // Nothing changed: nothing is read, everything is unchanged.
    let third = sync(&engine, &source, &options).await;
    assert_eq!(third.counts.unchanged, 6, "{:?}", third.counts);
    assert_eq!(third.counts.scanned, 6);
    assert!(reader.take().is_empty());
    drop(engine);
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_pipeline_version_re_extracts_everything() {
    let (_w, engine, reader, source) = synced().await;

    let options = SyncOptions {
        chunker: ChunkerConfig {
            target_bytes: 800,
            overlap_bytes: 100,
        },
        ..SyncOptions::default()
    };
    let report = sync(&engine, &source, &options).await;
    assert_eq!(
        (report.counts.modified, report.counts.unchanged),
        (6, 0),
        "same bytes, new pipeline: {:?}",
        report.counts
    );
    assert_eq!(reader.take().len(), 6, "every document was fetched again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flag_relists_without_refetching_unchanged_documents() {
    let (w, engine, reader, source) = synced().await;
    w.remove("e.json");
    let options = SyncOptions {
        full: true,
        ..SyncOptions::default()
    };
    let report = sync(&engine, &source, &options).await;
    assert_eq!(report.mode, RunMode::Full);
    assert_eq!((report.counts.unchanged, report.counts.deleted), (5, 1));
    assert!(reader.take().is_empty());
}
