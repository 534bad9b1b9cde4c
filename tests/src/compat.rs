//! A data directory written by an earlier Tributary opens and syncs on with this one
//! (tantivy's `compat_tests` habit). `fixtures/compat/store-v1` is the quickstart's
//! `.tributary` as the build before the retry list and the run index wrote it (sled
//! source states and runs, the redb manifest, the tantivy index). Never regenerate it: add
//! a `store-v2` next to it when the format changes, and keep both tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use connector_filesystem::{FilesystemConfig, FilesystemConnector};
use connector_sdk::Connector;
use sync_core::{Engine, RunMode, RunState, Source, SyncOptions};

use crate::support::{counts, file_identities, hits, sync};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_the_first_format_opens_searches_and_syncs_on() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (data, docs) = (tmp.path().join("data"), tmp.path().join("docs"));
    copy_dir(&fixtures().join("compat/store-v1"), &data);
    copy_dir(&fixtures().join("sample-docs"), &docs);
    let engine = Engine::open(&data).expect("an old store opens");
    let ids = file_identities(
        &std::fs::read(fixtures().join("sample-identities.json")).expect("identities"),
        &["sample"],
    );
    assert!(hits(&engine, &ids, "bob@example.com", "vacation") > 0);
    assert_migrated(&engine);
    let old_runs = engine.store().runs().expect("old run reports read");
    assert_eq!(old_runs.len(), 1);
    assert_eq!(
        (
            old_runs[0].source.as_str(),
            old_runs[0].state,
            old_runs[0].reason
        ),
        ("sample", RunState::Succeeded, None)
    );
    assert!(
        engine
            .store()
            .retries("sample")
            .expect("no retry table yet")
            .is_empty()
    );

    let mut config = FilesystemConfig::new(&docs);
    config.acl_file = Some(fixtures().join("sample-acl.json"));
    let connector = FilesystemConnector::new(config).expect("config");
    let source = Source::new("sample", Arc::new(connector) as Arc<dyn Connector>);
    let report = sync(&engine, &source, &SyncOptions::default()).await;
    // Incremental from the old checkpoint; the copies have new mtimes, so every file is
    // read again and found identical: nothing is re-indexed.
    assert_eq!(
        (report.mode, report.state, counts(&report)),
        (
            RunMode::Incremental,
            RunState::Succeeded,
            (31, 0, 0, 0, 0, 31, 0, 0)
        ),
        "{report:?}"
    );
    assert!(hits(&engine, &ids, "bob@example.com", "vacation") > 0);
    // The old report joined the per-source run index: it can be pruned like a new one.
    assert_eq!(engine.store().prune_runs("sample", 1).expect("prune"), 1);
    assert_eq!(engine.store().runs().expect("runs").len(), 1);
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
