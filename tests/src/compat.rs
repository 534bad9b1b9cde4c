//! A data directory written by an earlier Tributary opens and syncs on with this one
//! (tantivy's `compat_tests` habit). Never regenerate a fixture: add the next one beside
//! them when the format changes, and keep every test.
//!
//! - `fixtures/compat/store-v1`: the quickstart's `.tributary` as the build before the retry
//!   list and the run index wrote it (sled source states and runs, the redb manifest, the
//!   tantivy index).
//! - `fixtures/compat/store-v2`: the last layout with sled (ADR 0013), with a retry list
//!   (`broken.pdf`, which fails to extract) and the per-source run index: the quickstart's
//!   folder plus `broken.pdf`, synced by the build of commit b0d1da7.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use connector_filesystem::{FilesystemConfig, FilesystemConnector};
use connector_sdk::Connector;
use sync_core::{
    Engine, LocalStore, RunMode, RunReport, RunState, Source, StateStore, SyncOptions,
};

use crate::support::{counts, file_identities, hits, sync};

/// The extractors' version the compat stores were synced with (their manifest rows say so).
const FIXTURE_EXTRACTOR_VERSION: u32 = 4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

/// The bytes of `broken.pdf` in the store-v2 fixture's folder.
const BROKEN_PDF: &[u8] = b"%PDF-1.7\nnot really a pdf\n";

/// Copies a fixture data directory and the sample folder (with `broken.pdf` if asked),
/// opens it, checks what an old store must still answer, syncs on incrementally, and
/// returns the run's report and the engine.
async fn open_and_sync_on(fixture: &str, broken: bool) -> (RunReport, Engine, tempfile::TempDir) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (data, docs) = (tmp.path().join("data"), tmp.path().join("docs"));
    copy_dir(&fixtures().join("compat").join(fixture), &data);
    copy_dir(&fixtures().join("sample-docs"), &docs);
    if broken {
        std::fs::write(docs.join("broken.pdf"), BROKEN_PDF).expect("write broken.pdf");
    }
    // A reader cannot upgrade the layout: it says so, and the first open for writing does.
    let err = LocalStore::open_read_only(&data).expect_err("old layout");
    assert!(
        err.to_string().contains("upgraded by the next sync"),
        "{err}"
    );
    let engine = Engine::open(&data).expect("an old store opens");
    assert!(
        !data.join("state").exists(),
        "the sled folder went into redb"
    );
    let ids = file_identities(
        &std::fs::read(fixtures().join("sample-identities.json")).expect("identities"),
        &["sample"],
    );
    assert!(hits(&engine, &ids, "bob@example.com", "vacation") > 0);
    assert_migrated(&engine);
    let old_runs = engine.store().runs().expect("old run reports read");
    assert_eq!(old_runs.len(), 1);
    assert_eq!(
        (old_runs[0].source.as_str(), old_runs[0].reason),
        ("sample", None)
    );

    let mut config = FilesystemConfig::new(&docs);
    config.acl_file = Some(fixtures().join("sample-acl.json"));
    let connector = FilesystemConnector::new(config).expect("config");
    let source = Source::new("sample", Arc::new(connector) as Arc<dyn Connector>);
    let report = sync(&engine, &source, &SyncOptions::default()).await;
    assert!(hits(&engine, &ids, "bob@example.com", "vacation") > 0);
    // The old report joined the per-source run index: it can be pruned like a new one.
    assert_eq!(engine.store().prune_runs("sample", 1).expect("prune"), 1);
    assert_eq!(engine.store().runs().expect("runs").len(), 1);
    if !broken {
        // The folder copied again: new modification times, the same bytes. Each file is
        // read and found identical by its content, so nothing is re-indexed. (Not with
        // broken.pdf, whose retry count the caller checks.)
        copy_dir(&fixtures().join("sample-docs"), &docs);
        let again = sync(&engine, &source, &SyncOptions::default()).await;
        assert_eq!(
            (
                again.counts.added,
                again.counts.modified,
                again.counts.deleted
            ),
            (0, 0, 0),
            "{again:?}"
        );
        assert!(again.counts.unchanged >= 30, "{again:?}");
    }
    (report, engine, tmp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_the_first_format_opens_searches_and_syncs_on() {
    let (report, engine, _tmp) = open_and_sync_on("store-v1", false).await;
    // Incremental from the old checkpoint. The fixtures were synced with
    // EXTRACTOR_VERSION 4; any later version re-extracts every document exactly once (the
    // pipeline version is part of each manifest row), so all 31 are modified, none added
    // or deleted.
    const { assert!(extractors::EXTRACTOR_VERSION > FIXTURE_EXTRACTOR_VERSION) };
    assert_eq!(
        (report.mode, report.state, counts(&report)),
        (
            RunMode::Incremental,
            RunState::Succeeded,
            (31, 0, 31, 0, 0, 0, 0, 0)
        ),
        "{report:?}"
    );
    assert!(
        engine
            .store()
            .retries("sample")
            .expect("retries")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_the_last_sled_layout_keeps_its_retry_list_and_syncs_on() {
    let (report, engine, tmp) = open_and_sync_on("store-v2", true).await;
    assert_eq!(
        (report.mode, report.state, counts(&report)),
        (
            RunMode::Incremental,
            RunState::Partial,
            // Re-extracted under the newer extractors, as above; broken.pdf fails again.
            (32, 0, 31, 0, 0, 0, 0, 1)
        ),
        "{report:?}"
    );
    // The old retry row was read: this failure is the second attempt.
    let retries = engine.store().retries("sample").expect("retries");
    assert_eq!(retries.len(), 1, "{retries:?}");
    assert_eq!(
        (retries[0].0.as_str(), retries[0].1.attempts),
        ("broken.pdf", 2)
    );
    drop(engine);
    // Upgraded, the directory now opens read-only too.
    let reader = LocalStore::open_read_only(&tmp.path().join("data")).expect("reader");
    assert_eq!(reader.retries("sample").expect("retries").len(), 1);
}

/// The first format indexed groups as `group:<id>`: opening the store rewrote every chunk's
/// ACL terms into its source's namespace, and nothing else.
fn assert_migrated(engine: &Engine) {
    let chunks = engine.index().all_chunks().expect("chunks");
    let acls: BTreeMap<String, (Vec<String>, Vec<String>)> = chunks
        .iter()
        .map(|c| (c.doc_id.clone(), (c.acl_allow.clone(), c.acl_deny.clone())))
        .collect();
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    for (doc, allow, deny) in [
        ("hr/vacation-policy.md", &["group:sample:hr"][..], &[][..]),
        (
            "engineering/security/threat-model.md",
            &["group:sample:security"],
            &["user:intern@example.com"],
        ),
        (
            "finance/q3-budget.csv",
            &["user:ceo@example.com", "group:sample:finance"],
            &[],
        ),
        (
            "hr/handbook/employee-handbook.md",
            &["group:sample:all-staff"],
            &[],
        ),
        ("drafts/unannounced-reorg.md", &[], &[]),
    ] {
        assert_eq!(acls[doc], (strings(allow), strings(deny)), "{doc}");
    }
    for c in &chunks {
        for term in c.acl_allow.iter().chain(&c.acl_deny) {
            assert!(
                !term.starts_with("group:") || term.starts_with("group:sample:"),
                "{term} of {} is not namespaced",
                c.doc_id
            );
        }
    }
    assert_eq!(
        engine.index().document_counts().expect("counts"),
        BTreeMap::from([("sample".to_string(), 31)])
    );
    // The text came along: nothing was extracted again, yet everything is searchable.
    assert!(chunks.iter().all(|c| !c.text.is_empty()));
}

#[test]
fn a_migrated_index_reopens_as_it_is() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    copy_dir(&fixtures().join("compat/store-v1"), &data);
    let before = {
        let engine = Engine::open(&data).expect("migrates");
        engine.index().all_chunks().expect("chunks")
    };
    let meta = std::fs::read_to_string(data.join("index/meta.json")).expect("meta");
    assert!(
        meta.contains(r#"tributary_index_format\":2"#),
        "the format is in the commit: {meta}"
    );
    let engine = Engine::open(&data).expect("reopens");
    assert_eq!(engine.index().all_chunks().expect("chunks"), before);
    assert_migrated(&engine);
}
