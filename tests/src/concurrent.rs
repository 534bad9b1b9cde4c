//! Several sources synced at once by one engine: the final index and manifests equal those
//! of the same syncs run one after another, and one source never runs twice at once.

use std::sync::Arc;
use std::time::Duration;

use connector_filesystem::{FilesystemConfig, FilesystemConnector};
use connector_sdk::Connector;
use sync_core::store::ManifestEntry;
use sync_core::{CommitPolicy, Engine, EngineError, Progress, RunState, Source, SyncOptions};

use crate::support::{World, counts, sync};

const SOURCES: [&str; 3] = ["alpha", "bravo", "charlie"];

/// Writes `docs/<source>/…`: 40 documents per source, in two folders with different ACLs.
fn populate(w: &World) {
    for source in SOURCES {
        for i in 0..40 {
            let folder = if i % 2 == 0 { "open" } else { "team" };
            w.write(
                &format!("{source}/{folder}/doc-{i:02}.md"),
                format!("# {source} {i}\nthe {source} document number {i}, shared words\n"),
            );
        }
    }
    w.acl(&[
        ("", &[("staff", "GROUP", "ALLOW")]),
        (
            "team/",
            &[("team", "GROUP", "ALLOW"), ("intern", "USER", "DENY")],
        ),
    ]);
}

fn sources(w: &World) -> Vec<Source> {
    SOURCES
        .iter()
        .map(|id| {
            let mut config = FilesystemConfig::new(w.docs().join(id));
            config.acl_file = Some(w.acl_path());
            let connector = FilesystemConnector::new(config).expect("valid config");
            Source::new(*id, Arc::new(connector) as Arc<dyn Connector>)
        })
        .collect()
}

/// Commits every 7 documents, so each run's commits land while the others have documents
/// handed over but not committed.
fn options() -> SyncOptions {
    SyncOptions {
        commit: CommitPolicy {
            docs: 7,
            bytes: usize::MAX,
            interval: Duration::from_secs(3600),
        },
        ..SyncOptions::default()
    }
}

/// What a run leaves: every chunk, and each source's manifest without the generations
/// (run ids, which interleave differently).
type Snapshot = (
    Vec<sync_core::StoredChunk>,
    Vec<(String, String, String, String, u32)>,
);

fn snapshot(engine: &Engine) -> Snapshot {
    let chunks = engine.index().all_chunks().expect("chunks");
    let mut rows = Vec::new();
    for source in SOURCES {
        for row in engine.store().manifest_iter(source) {
            let (id, e): (String, ManifestEntry) = row.expect("manifest row");
            rows.push((source.to_string(), id, e.version, e.acl_hash, e.chunks));
        }
    }
    (chunks, rows)
}

/// Syncs every source at once, then one after another into a second data directory, and
/// compares what they left; returns each concurrent run's counts.
async fn both_ways(
    w: &World,
    together: &Engine,
    apart: &Engine,
) -> Vec<(u64, u64, u64, u64, u64, u64, u64, u64)> {
    let (sources, options) = (sources(w), options());
    let reports =
        futures::future::join_all(sources.iter().map(|s| sync(together, s, &options))).await;
    for s in &sources {
        sync(apart, s, &options).await;
    }
    assert_eq!(snapshot(together), snapshot(apart));
    reports
        .iter()
        .map(|r| {
            assert_eq!(r.state, RunState::Succeeded, "{r:?}");
            counts(r)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_synced_at_once_end_as_synced_one_by_one() {
    let w = World::new();
    populate(&w);
    let together = Engine::open(&w.dir.path().join("together")).expect("engine");
    let apart = Engine::open(&w.dir.path().join("apart")).expect("engine");

    let first = both_ways(&w, &together, &apart).await;
    assert_eq!(first, [(40, 40, 0, 0, 0, 0, 0, 0); 3]);
    assert_eq!(together.index().all_chunks().expect("chunks").len(), 120);

    // An edit, a delete, an add and an ACL change in every source, synced at once again.
    for source in SOURCES {
        w.write(
            &format!("{source}/open/doc-00.md"),
            "# edited\nnew words, longer than before",
        );
        w.remove(&format!("{source}/team/doc-01.md"));
        w.write(
            &format!("{source}/open/doc-99.md"),
            "# added\nanother document",
        );
    }
    w.acl(&[
        ("", &[("staff", "GROUP", "ALLOW")]),
        ("team/", &[("team", "GROUP", "ALLOW")]),
    ]);
    let second = both_ways(&w, &together, &apart).await;
    // scanned, added, modified, deleted, acl_updated, unchanged, skipped, failed
    assert_eq!(second, [(40, 1, 1, 1, 19, 19, 0, 0); 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_already_syncing_is_refused_and_free_again_after() {
    let w = World::new();
    populate(&w);
    let engine = Engine::open(&w.data()).expect("engine");
    let source = sources(&w).remove(0);
    let (progress, options) = (|| Arc::new(Progress::default()), options());
    // `join` polls the first run until it waits (it has claimed the source by then), then
    // the second, which finds it taken.
    let (first, second) = tokio::join!(
        engine.sync(&source, &options, progress()),
        engine.sync(&source, &options, progress()),
    );
    assert_eq!(first.expect("first run").state, RunState::Succeeded);
    match second {
        Err(EngineError::SourceBusy(id)) => assert_eq!(id, "alpha"),
        other => panic!("expected SourceBusy, got {other:?}"),
    }
    let third = sync(&engine, &source, &options).await;
    assert_eq!(third.counts.unchanged, 40, "{:?}", third.counts);
}
