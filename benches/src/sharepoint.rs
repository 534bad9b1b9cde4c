//! SharePoint benchmark against the in-process fake Graph (`fixtures/fake-graph`): a tenant
//! of 4 sites with 10 document libraries, folders and N small text files, a mix of inherited
//! and unique permissions (user grants, sharing links, a restricted folder per library).
//! Identity sync, then a full sync (docs/s, requests per document by route, peak RSS), a
//! no-op incremental (time, requests: one delta call per library), and a throttled
//! incremental of 50 edits whose total time is set against the `Retry-After` seconds the
//! fake served.
//!
//! ```sh
//! cargo bench -p tributary-benches --bench sharepoint -- --files 10000
//! ```
//!
//! The fake answers from memory in this process, so the numbers are the connector's and the
//! engine's cost per document (and the fake's), not Microsoft's latency.

#[path = "common.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use connector_sdk::{Connector, Secret};
use connector_sharepoint::{SharePointConfig, SharePointConnector};
use fake_graph::{FakeGraph, Fault, Grant, LinkKind, LinkScope, Principal, Role, Route, When};
use sync_core::{Engine, Progress, RunReport, RunState, Source, SyncOptions};

// The same allocator as the `tributary` binary.
#[global_allocator]
static ALLOC: tributary_allocator::Allocator = tributary_allocator::Allocator;

const ROUTES: [Route; 22] = [
    Route::Token,
    Route::Batch,
    Route::SitesList,
    Route::SiteGet,
    Route::DrivesList,
    Route::DriveGet,
    Route::Delta,
    Route::ItemGet,
    Route::Children,
    Route::Content,
    Route::Download,
    Route::Permissions,
    Route::Users,
    Route::Groups,
    Route::Members,
    Route::TransitiveMembers,
    Route::SiteGroups,
    Route::SiteGroupUsers,
    Route::Lists,
    Route::ListItems,
    Route::RoleAssignments,
    Route::Attachments,
];

/// Seconds of `Retry-After` on each throttled response of the throttled run.
const RETRY_AFTER_SECS: u64 = 2;

/// Requests since the last reset: the total and the non-zero routes (`$batch` counts its
/// envelope; the requests inside it count as their own routes, `Permissions` mostly).
fn requests(fake: &FakeGraph) -> (usize, String) {
    let counts: Vec<(Route, usize)> = ROUTES
        .iter()
        .map(|&r| (r, fake.count(r)))
        .filter(|&(_, n)| n > 0)
        .collect();
    let total = counts.iter().map(|(_, n)| n).sum();
    let split = counts
        .iter()
        .map(|(r, n)| format!("{r:?} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    (total, split)
}

async fn run(engine: &Engine, source: &Source, options: &SyncOptions) -> (RunReport, f64) {
    let started = Instant::now();
    let report = engine
        .sync(source, options, Arc::new(Progress::default()))
        .await
        .expect("sync");
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(report.state, RunState::Succeeded, "{report:?}");
    (report, secs)
}

fn main() {
    let files = common::arg("files", 10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let fake = FakeGraph::start().await.expect("fake graph");
        let (libraries, ids) = {
            let mut w = fake.world();
            let users: Vec<String> = (0..8)
                .map(|i| w.add_user(&format!("user{i}@contoso.com"), &format!("User {i}")))
                .collect();
            let staff = w.add_group("Staff", "staff@contoso.com");
            for u in &users[4..] {
                w.add_group_member(&staff, fake_graph::Member::User(u.clone()));
            }
            // Each library: 3 folders inheriting the library's permissions, and one
            // "Restricted" folder with unique permissions (one user).
            let mut folders = Vec::new();
            let mut libraries = 0;
            for (s, restricted_to) in users.iter().enumerate().take(4) {
                let site = w.add_site(&format!("site{s}"), &format!("Site {s}"));
                w.add_site_group_member(
                    &site.id,
                    site.members,
                    Principal::User(format!("user{s}@contoso.com")),
                );
                w.add_site_group_member(&site.id, site.visitors, Principal::EntraGroup(staff.clone()));
                let mut roots = vec![site.root.clone()];
                for l in 1..(if s < 2 { 3 } else { 2 }) {
                    let drive = w.add_drive(&site.id, &format!("Library {l}"));
                    roots.push(w.root(&drive).expect("library root"));
                }
                libraries += roots.len();
                for root in &roots {
                    for f in 0..3 {
                        folders.push(w.add_folder(root, &format!("Folder {f}")));
                    }
                    let restricted = w.add_folder(root, "Restricted");
                    w.break_inheritance(&restricted);
                    for p in w.effective_permissions(&restricted) {
                        w.unshare(&restricted, &p.id);
                    }
                    w.share(&restricted, Grant::user(restricted_to, Role::Write));
                    folders.push(restricted);
                }
            }
            // Files: every 10th shared with a user (unique permissions), every 25th with an
            // organization view link, every 50th with a specific-people link.
            let mut ids = Vec::with_capacity(files);
            for i in 0..files {
                let folder = &folders[i % folders.len()];
                let text = format!(
                    "document {i}: quarterly notes on project {} with action items for team {}",
                    i % 97,
                    i % 13
                );
                let id = w.add_file(folder, &format!("doc-{i}.txt"), "text/plain", text.as_bytes());
                if i % 10 == 0 {
                    w.share(&id, Grant::user(&users[i % users.len()], Role::Read));
                }
                if i % 25 == 0 {
                    w.share(&id, Grant::link(LinkKind::View, LinkScope::Organization));
                }
                if i % 50 == 0 {
                    w.share(&id, Grant::link_for(LinkKind::Edit, &[&users[(i + 1) % users.len()]]));
                }
                ids.push(id);
            }
            (libraries, ids)
        };

        let app = fake.config();
        let mut config = SharePointConfig::new(&app.tenant_id, &app.client_id);
        config.client_secret = Some(Secret::new(app.client_secret.clone()));
        config.graph_url = fake.graph_url();
        config.authority_url = fake.url();
        config.requests_per_second = 100_000.0;
        config.concurrency = 16;
        let connector = SharePointConnector::new(config).expect("connector");
        let source = Source::new("sharepoint", Arc::new(connector) as Arc<dyn Connector>);
        let (_dir, engine, options) = common::engine();

        // Identity sync.
        fake.reset_counts();
        let started = Instant::now();
        let identities = engine
            .sync_identities(&source, &options)
            .await
            .expect("identity sync");
        assert_eq!(identities.state, RunState::Succeeded, "{identities:?}");
        let identities_s = started.elapsed().as_secs_f64();
        let (identities_requests, identities_split) = requests(&fake);

        // Full sync.
        fake.reset_counts();
        let (full, full_s) = run(&engine, &source, &options).await;
        assert_eq!(full.counts.added as usize, files, "{full:?}");
        let (full_requests, full_split) = requests(&fake);
        let full_rss = common::peak_rss_mb();

        // No-op incremental: one delta call per library, nothing else but perhaps a token.
        fake.reset_counts();
        let (noop, noop_s) = run(&engine, &source, &options).await;
        assert_eq!(noop.counts.added + noop.counts.modified, 0, "{noop:?}");
        let (noop_requests, noop_split) = requests(&fake);
        assert_eq!(fake.count(Route::Delta), libraries, "{noop_split}");

        // Throttled incremental: 50 edits spread over every library, and a 429 with
        // Retry-After on the 2nd delta call, the 5th permissions request (inside a $batch)
        // and the 10th content request.
        let edits = 50.min(files);
        {
            let mut w = fake.world();
            for k in 0..edits {
                let i = k * files / edits;
                w.edit(&ids[i], format!("document {i}, revised").as_bytes());
            }
        }
        fake.reset_counts();
        fake.inject(Route::Delta, When::Nth(2), Fault::throttled(RETRY_AFTER_SECS));
        fake.inject(Route::Permissions, When::Nth(5), Fault::throttled(RETRY_AFTER_SECS));
        fake.inject(Route::Content, When::Nth(10), Fault::throttled(RETRY_AFTER_SECS));
        let (throttled, throttled_s) = run(&engine, &source, &options).await;
        assert_eq!(throttled.counts.modified as usize, edits, "{throttled:?}");
        let served = fake.faulted();
        fake.clear_faults();
        let (throttled_requests, throttled_split) = requests(&fake);
        let asked_s = (served as u64 * RETRY_AFTER_SECS) as f64;

        println!(
            "files:                {files} in {libraries} libraries over 4 sites (8 users, 1 group)"
        );
        println!(
            "identity sync:        {identities_s:.3} s, {identities_requests} requests ({identities_split})"
        );
        println!(
            "full sync:            {full_s:.2} s  ({:.0} docs/s), {full_requests} requests ({:.3} per document), peak RSS {full_rss:.0} MB",
            files as f64 / full_s,
            full_requests as f64 / files as f64,
        );
        println!("  by route:           {full_split}");
        println!("no-op incremental:    {noop_s:.3} s, {noop_requests} requests ({noop_split})");
        println!(
            "throttled ({edits} edits): {throttled_s:.2} s, {served} throttled responses × {RETRY_AFTER_SECS} s = {asked_s:.0} s asked ({:.2}× the sum; pauses {}, waited {} ms), {throttled_requests} requests ({throttled_split})",
            throttled_s / asked_s,
            throttled.rate_limited.pauses,
            throttled.rate_limited.waited_ms,
        );
    });
}
