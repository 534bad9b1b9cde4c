//! A watched folder (`watch = true`) re-synced by one long-lived engine: the change journal
//! answers when it can, a walk when it cannot, and the counts are exact either way.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sync_core::{RunMode, RunReport, RunState, SyncOptions};

use crate::incremental::{IDENTITIES, world};
use crate::support::{CountingReader, counts, fs_source, hits, set, sync, visible};

/// The counts of a succeeded incremental run (see [`counts`]).
fn check(report: &RunReport) -> (u64, u64, u64, u64, u64, u64, u64, u64) {
    assert_eq!(
        (report.mode, report.state),
        (RunMode::Incremental, RunState::Succeeded),
        "{report:?}"
    );
    counts(report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_folder_resyncs_from_its_journal_with_exact_counts() {
    let w = world();
    let engine = w.engine();
    let reader = Arc::new(CountingReader::default());
    let mut config = w.config();
    config.watch = true;
    let source = fs_source(config, Some(Arc::clone(&reader)));
    let options = SyncOptions::default();

    let first = sync(&engine, &source, &options).await;
    assert_eq!((first.mode, first.counts.added), (RunMode::Full, 6));
    reader.take();

    // Nothing changed: the journal says so without a walk (nothing scanned, nothing read).
    let quiet = sync(&engine, &source, &options).await;
    assert_eq!(check(&quiet), (0, 0, 0, 0, 0, 0, 0, 0));

    // Edit, delete, add, rename a file into a folder, touch without a content change.
    w.write("a.txt", "alpha edited text, now longer");
    w.remove("b.md");
    w.write("g.md", "# Golf\nnew document");
    std::fs::rename(w.docs().join("e.json"), w.docs().join("team/e.json")).expect("mv");
    std::fs::File::options()
        .write(true)
        .open(w.docs().join("f.txt"))
        .expect("open f")
        .set_modified(SystemTime::now() + Duration::from_secs(60))
        .expect("touch");
    let edits = sync(&engine, &source, &options).await;
    // Only the four paths with events were looked at (a walk scans all six).
    assert_eq!(check(&edits), (4, 2, 1, 2, 0, 1, 0, 0));
    assert_eq!(reader.take(), ["a.txt", "e.json", "f.txt", "g.md"]);

    // The ACL file changed: every document's ACL may have, so the journal walks.
    w.acl(&[
        ("", &[("team", "GROUP", "ALLOW")]),
        ("team/", &[("other", "GROUP", "ALLOW")]),
    ]);
    let acl = sync(&engine, &source, &options).await;
    assert_eq!(check(&acl), (6, 0, 0, 0, 3, 3, 0, 0));
    assert!(reader.take().is_empty());

    // A new folder: its files may predate its watch, so the journal walks.
    w.write("new/h.txt", "hotel in a new folder");
    let folder = sync(&engine, &source, &options).await;
    assert_eq!(check(&folder), (7, 1, 0, 0, 0, 6, 0, 0));
    assert_eq!(reader.take(), ["h.txt"]);

    // A removed folder: the journal cannot list what lay below it; the walk's sweep can.
    std::fs::remove_dir_all(w.docs().join("team")).expect("rm team");
    let removed = sync(&engine, &source, &options).await;
    assert_eq!(check(&removed), (4, 0, 0, 3, 0, 4, 0, 0));

    let quiet = sync(&engine, &source, &options).await;
    assert_eq!(check(&quiet), (0, 0, 0, 0, 0, 0, 0, 0));

    // The index equals a clean sync of the same folder without a journal.
    let ids = crate::support::file_identities(IDENTITIES.as_bytes(), &["docs"]);
    let data = tempfile::tempdir().expect("tempdir");
    let clean = sync_core::Engine::open(data.path()).expect("engine");
    sync(&clean, &fs_source(w.config(), None), &options).await;
    for user in ["ann@example.com", "ben@example.com"] {
        assert_eq!(
            visible(&engine, &ids, user),
            visible(&clean, &ids, user),
            "{user}"
        );
    }
    assert_eq!(
        visible(&engine, &ids, "ann@example.com"),
        set(&["a.txt", "f.txt", "g.md", "new/h.txt"])
    );
    let ann = |q: &str| hits(&engine, &ids, "ann@example.com", q);
    assert_eq!((ann("edited"), ann("original")), (1, 0));
}
