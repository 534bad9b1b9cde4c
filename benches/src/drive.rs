//! Google Drive benchmark against the in-process fake Drive (`fixtures/fake-drive`): a full
//! sync of N small files spread over users' My Drives and shared drives (docs/s, requests
//! per document, peak RSS), then a no-op incremental re-sync (time and requests).
//!
//! ```sh
//! cargo bench -p tributary-benches --bench drive -- --files 10000
//! ```
//!
//! The fake answers from memory in this process, so the numbers are the connector's and the
//! engine's cost per document (and the fake's), not Google's latency.

#[path = "common.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use connector_google_drive::{DriveConfig, DriveConnector};
use connector_sdk::Secret;
use fake_drive::{FakeDrive, Permission, Role};
use sync_core::{Progress, Source};

// The same allocator as the `tributary` binary.
#[global_allocator]
static ALLOC: tributary_allocator::Allocator = tributary_allocator::Allocator;

fn total_requests(fake: &FakeDrive) -> usize {
    fake.counts().values().sum()
}

fn main() {
    let files = common::arg("files", 10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let fake = FakeDrive::start_with_test_key().await.expect("fake drive");
        let users: Vec<String> = (0..10).map(|i| format!("user{i}@example.com")).collect();
        {
            let mut w = fake.world();
            w.add_admin("admin@example.com", "Admin");
            for u in &users {
                w.add_user(u, u);
            }
            w.add_group("all@example.com", "All");
            let drives: Vec<String> = (0..2)
                .map(|i| {
                    let d = w.add_shared_drive(&format!("Team {i}"));
                    w.add_drive_member(&d, Permission::user(&users[i], Role::Organizer));
                    d
                })
                .collect();
            let mut folders = Vec::new();
            for u in &users {
                let root = w.root_of(u);
                folders.push(w.add_folder(&root, "Projects"));
            }
            for d in &drives {
                folders.push(w.add_folder(d, "Shared"));
            }
            for i in 0..files {
                let folder = &folders[i % folders.len()];
                let text = format!(
                    "document {i}: quarterly notes on project {} with action items for team {}",
                    i % 97,
                    i % 13
                );
                let id = w.add_file(folder, &format!("doc-{i}.txt"), "text/plain", text.as_bytes());
                if i % 3 == 0 {
                    w.share(&id, Permission::group("all@example.com", Role::Reader));
                }
            }
        }
        let mut config = DriveConfig::new("admin@example.com");
        config.api_url = fake.url();
        config.credentials_env = Some("UNUSED".into());
        config.requests_per_second = 100_000.0;
        config.concurrency = 16;
        let key = Secret::new(fake.service_account_json());
        let connector = DriveConnector::new(config, &key).expect("connector");
        let source = Source::new("drive", Arc::new(connector));
        let (_dir, engine, options) = common::engine();

        fake.reset_counts();
        let started = Instant::now();
        let full = engine
            .sync(&source, &options, Arc::new(Progress::default()))
            .await
            .expect("full sync");
        let full_s = started.elapsed().as_secs_f64();
        let full_requests = total_requests(&fake);
        assert_eq!(full.counts.added as usize, files, "{full:?}");

        fake.reset_counts();
        let started = Instant::now();
        let noop = engine
            .sync(&source, &options, Arc::new(Progress::default()))
            .await
            .expect("no-op sync");
        let noop_s = started.elapsed().as_secs_f64();
        assert_eq!(noop.counts.added + noop.counts.modified, 0, "{noop:?}");
        let noop_requests = total_requests(&fake);
        let by_route: Vec<String> = fake
            .counts()
            .into_iter()
            .fold(std::collections::BTreeMap::<&str, usize>::new(), |mut m, ((r, _), n)| {
                *m.entry(r.name()).or_default() += n;
                m
            })
            .into_iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();

        println!("files:                {files} over 10 My Drives and 2 shared drives");
        println!(
            "full sync:            {full_s:.2} s  ({:.0} docs/s), {full_requests} requests ({:.2} per document), peak RSS {:.0} MB",
            files as f64 / full_s,
            full_requests as f64 / files as f64,
            common::peak_rss_mb()
        );
        println!(
            "no-op incremental:    {noop_s:.3} s, {noop_requests} requests ({})",
            by_route.join(", ")
        );
    });
}
