//! The Drive source's filters in a sync: path globs, MIME type globs and shared drives by
//! name or id, checked on the titles finally indexed and on what was downloaded (a file
//! a filter leaves out must cost no download), in full and incremental runs.

use std::collections::BTreeMap;

use connector_google_drive::DriveConfig;
use fake_drive::{Permission, Role, Route, mime};
use sync_core::RunState;

use super::Drive;
use crate::support::set;

const ANN: &str = "ann@example.com";

/// Ids of what `world` made, by name.
type Ids = BTreeMap<&'static str, String>;

fn globs(patterns: &[&str]) -> Vec<String> {
    patterns.iter().map(|p| p.to_string()).collect()
}

/// ann's My Drive: `Reports/{q1.txt, q1.json, Old/q0.txt}`, `Scratch/{todo.txt,
/// Notes/notes.txt}`, `budget.csv` and the Google Doc `Memo`; shared drives (ann organizes
/// them) `Legal`: `policy.txt`, `Contracts/{lease.txt, draft.md}`; `Sales`: `pitch.txt`;
/// `Archive`: `minutes.txt`. The source is configured by `change` once the world exists,
/// so that it can name what is in it.
async fn world(change: impl FnOnce(&mut DriveConfig, &Ids)) -> Drive {
    let mut d = Drive::empty(|_| {}).await;
    {
        let mut w = d.fake.world();
        w.add_user(ANN, "Ann");
        let root = w.root_of(ANN);
        let reports = w.add_folder(&root, "Reports");
        let old = w.add_folder(&reports, "Old");
        let scratch = w.add_folder(&root, "Scratch");
        let notes = w.add_folder(&scratch, "Notes");
        let mut made = vec![("Reports", reports.clone()), ("Scratch", scratch.clone())];
        for (parent, name, mime_type) in [
            (&reports, "q1.txt", "text/plain"),
            (&reports, "q1.json", "application/json"),
            (&old, "q0.txt", "text/plain"),
            (&scratch, "todo.txt", "text/plain"),
            (&notes, "notes.txt", "text/plain"),
            (&root, "budget.csv", "text/csv"),
        ] {
            let body = if mime_type == "application/json" {
                "{\"quarter\": 1}".to_string()
            } else {
                format!("the text of {name}")
            };
            made.push((name, w.add_file(parent, name, mime_type, body.as_bytes())));
        }
        w.add_file(&root, "Memo", mime::DOCUMENT, b"# Memo\nthe memo");
        made.push(("Notes", notes));
        made.push(("Old", old));
        for (drive, files) in [
            ("Legal", &["policy.txt"][..]),
            ("Sales", &["pitch.txt"][..]),
            ("Archive", &["minutes.txt"][..]),
        ] {
            let id = w.add_shared_drive(drive);
            w.add_drive_member(&id, Permission::user(ANN, Role::Organizer));
            for name in files {
                w.add_file(&id, name, "text/plain", name.as_bytes());
            }
            if drive == "Legal" {
                let contracts = w.add_folder(&id, "Contracts");
                w.add_file(&contracts, "lease.txt", "text/plain", b"the lease");
                // No heading: Markdown takes its first heading as the title.
                w.add_file(
                    &contracts,
                    "draft.md",
                    "text/markdown",
                    b"terms of the draft",
                );
            }
            made.push((drive, id));
        }
        d.ids.extend(made);
    }
    let ids = d.ids.clone();
    d.reconfigure(|c| change(c, &ids));
    d
}

/// Succeeded, and what ann finds is exactly `titles`.
async fn synced(d: &Drive, titles: &[&str]) -> sync_core::RunReport {
    let run = d.sync().await;
    assert_eq!(run.state, RunState::Succeeded, "{run:?}");
    assert_eq!(run.counts.failed, 0, "{run:?}");
    assert_eq!(d.titles(ANN), set(titles), "{run:?}");
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_globs_pick_files_and_moves_across_them_add_and_delete() {
    let d = world(|c, _| {
        c.include_paths = globs(&["My Drive of ann@example.com/Reports/**", "Legal/**"]);
        c.exclude_paths = globs(&["**/Old/**", "**/*.md"]);
    })
    .await;
    synced(&d, &["lease.txt", "policy.txt", "q1.json", "q1.txt"]).await;
    // What the globs leave out is never downloaded (nor exported: Memo is outside).
    assert_eq!(d.fake.count(Route::FilesDownload), 4);
    assert_eq!(d.fake.count(Route::FilesExport), 0);

    // Out of the included folder, into it, into it with a whole folder, and out of the
    // excluded one: the index follows each move, downloading only what comes in.
    {
        let mut w = d.fake.world();
        w.move_to(&d.file("q1.txt"), &d.file("Scratch"));
        w.move_to(&d.file("todo.txt"), &d.file("Reports"));
        w.move_to(&d.file("Notes"), &d.file("Reports"));
        w.move_to(&d.file("q0.txt"), &d.file("Reports"));
    }
    d.fake.reset_counts();
    let moved = synced(
        &d,
        &[
            "lease.txt",
            "notes.txt",
            "policy.txt",
            "q0.txt",
            "q1.json",
            "todo.txt",
        ],
    )
    .await;
    assert_eq!(
        (moved.counts.added, moved.counts.deleted),
        (3, 1),
        "{moved:?}"
    );
    assert_eq!(d.fake.count(Route::FilesDownload), 3);

    // An excluded folder name reached by a rename takes its files out too.
    d.fake.world().rename(&d.file("Reports"), "Old");
    let renamed = synced(&d, &["lease.txt", "policy.txt"]).await;
    assert_eq!(renamed.counts.deleted, 4, "{renamed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mime_globs_pick_types_and_what_they_leave_out_is_never_downloaded() {
    let d = world(|c, _| {
        c.include_mime_types = globs(&["text/*", mime::DOCUMENT]);
        c.exclude_mime_types = globs(&["text/markdown"]);
    })
    .await;
    let all_text = [
        "Memo",
        "budget.csv",
        "lease.txt",
        "minutes.txt",
        "notes.txt",
        "pitch.txt",
        "policy.txt",
        "q0.txt",
        "q1.txt",
        "todo.txt",
    ];
    synced(&d, &all_text).await;
    assert_eq!(d.fake.count(Route::FilesDownload), 9);
    assert_eq!(d.fake.count(Route::FilesExport), 1);

    // New files of both kinds and an edit of a left-out one: only the text comes in.
    {
        let mut w = d.fake.world();
        let reports = d.file("Reports");
        w.add_file(&reports, "chart.json", "application/json", b"{\"x\": 2}");
        w.add_file(&reports, "q2.txt", "text/plain", b"the second quarter");
        w.edit(&d.file("q1.json"), b"{\"quarter\": 1, \"final\": true}");
    }
    d.fake.reset_counts();
    let mut more = all_text.to_vec();
    more.push("q2.txt");
    let run = synced(&d, &more).await;
    assert_eq!(run.counts.added, 1, "{run:?}");
    assert_eq!(d.fake.count(Route::FilesDownload), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_drives_are_picked_by_name_or_id_and_an_excluded_one_leaves_the_index() {
    let d = world(|c, ids| {
        c.my_drives = false;
        c.include_shared_drives = vec!["Legal".into(), ids["Sales"].clone()];
    })
    .await;
    synced(&d, &["draft.md", "lease.txt", "pitch.txt", "policy.txt"]).await;
    // Archive is never listed, so its file is never downloaded.
    assert_eq!(d.fake.count(Route::FilesDownload), 4);

    // Excluding a drive that was synced deletes its documents, by name this time.
    let mut d = d;
    let sales = d.file("Sales");
    d.reconfigure(|c| {
        c.my_drives = false;
        c.include_shared_drives = vec!["Legal".into(), sales];
        c.exclude_shared_drives = vec!["Sales".into()];
    });
    d.fake.reset_counts();
    let run = synced(&d, &["draft.md", "lease.txt", "policy.txt"]).await;
    assert_eq!(run.counts.deleted, 1, "{run:?}");
    assert_eq!(d.fake.count(Route::FilesDownload), 0);
}
