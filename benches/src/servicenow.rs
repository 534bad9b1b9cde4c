//! ServiceNow benchmark against the in-process fake instance (`fixtures/fake-servicenow`):
//! N published knowledge articles over 4 knowledge bases with user criteria (a group, a
//! role, a user deny; every 10th article with its own Can Read criteria, so its ACL is an
//! intersection expanded to users), every 20th with an attachment. Identity sync, then a
//! full sync (docs/s, requests per document, peak RSS), and a no-op incremental (time,
//! requests).
//!
//! ```sh
//! cargo bench -p tributary-benches --bench servicenow -- --articles 10000
//! ```
//!
//! The fake answers from memory in this process, so the numbers are the connector's and the
//! engine's cost per document (and the fake's), not an instance's latency.

#[path = "common.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use connector_sdk::{Connector, Secret};
use connector_servicenow::{ServiceNowConfig, ServiceNowConnector};
use fake_servicenow::{FakeServiceNow, Route};
use sync_core::{Engine, Progress, RunReport, RunState, Source, SyncOptions};

// The same allocator as the `tributary` binary.
#[global_allocator]
static ALLOC: tributary_allocator::Allocator = tributary_allocator::Allocator;

const ROUTES: [Route; 6] = [
    Route::OAuthToken,
    Route::TableList,
    Route::TableRecord,
    Route::AttachmentList,
    Route::AttachmentMeta,
    Route::AttachmentFile,
];

fn requests(fake: &FakeServiceNow) -> (usize, String) {
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
    let articles = common::arg("articles", 10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let fake = FakeServiceNow::start().await.expect("fake servicenow");
        let attachments = {
            let mut w = fake.world();
            let users: Vec<String> = (0..40)
                .map(|i| w.add_user(&format!("user{i}"), &format!("user{i}@acme.test")))
                .collect();
            let staff = w.add_group("Staff");
            for u in users.iter().step_by(2) {
                w.add_member(&staff, u);
            }
            let itil = w.add_role("itil");
            for u in users.iter().step_by(3) {
                w.grant_role(u, &itil);
            }
            let c_staff = w.add_criteria("Staff", &[("group", &staff)]);
            let c_itil = w.add_criteria("ITIL", &[("role", &itil)]);
            let c_deny = w.add_criteria("Not user0", &[("user", &users[0])]);
            let kbs: Vec<String> = (0..4).map(|k| w.add_kb(&format!("KB {k}"))).collect();
            w.kb_criteria(&kbs[1], &c_staff, true);
            w.kb_criteria(&kbs[1], &c_deny, false);
            w.kb_criteria(&kbs[2], &c_itil, true);
            let mut attachments = 0;
            for i in 0..articles {
                let text = format!(
                    "<p>article {i}: how to configure service {} for team {}</p>",
                    i % 97,
                    i % 13
                );
                let id = w.add_article(&kbs[i % 4], &format!("Article {i}"), &text);
                if i % 10 == 0 {
                    w.update("kb_knowledge", &id, &[("can_read_user_criteria", &c_itil)]);
                }
                if i % 20 == 0 {
                    let body = format!("attachment of article {i}");
                    w.attach("kb_knowledge", &id, &format!("a{i}.txt"), "text/plain", body.as_bytes());
                    attachments += 1;
                }
                if i % 100 == 99 {
                    w.advance(1);
                }
            }
            attachments
        };

        let mut config = ServiceNowConfig::new(fake.url());
        config.username = Some(fake.username());
        config.password = Some(Secret::new(fake.password()));
        config.requests_per_second = 100_000.0;
        let connector = ServiceNowConnector::new(config).expect("connector");
        let source = Source::new("servicenow", Arc::new(connector) as Arc<dyn Connector>);
        let (_dir, engine, options) = common::engine();

        fake.reset_counts();
        let started = Instant::now();
        let identities = engine
            .sync_identities(&source, &options)
            .await
            .expect("identity sync");
        assert_eq!(identities.state, RunState::Succeeded, "{identities:?}");
        let identities_s = started.elapsed().as_secs_f64();
        let (identities_requests, identities_split) = requests(&fake);

        fake.reset_counts();
        let (full, full_s) = run(&engine, &source, &options).await;
        let docs = articles + attachments;
        assert_eq!(full.counts.added as usize, docs, "{full:?}");
        let (full_requests, full_split) = requests(&fake);
        let full_rss = common::peak_rss_mb();

        fake.reset_counts();
        let (noop, noop_s) = run(&engine, &source, &options).await;
        assert_eq!(noop.counts.added + noop.counts.modified, 0, "{noop:?}");
        let (noop_requests, noop_split) = requests(&fake);

        println!("documents:            {articles} articles and {attachments} attachments in 4 KBs (40 users)");
        println!("identity sync:        {identities_s:.3} s, {identities_requests} requests ({identities_split})");
        println!(
            "full sync:            {full_s:.2} s  ({:.0} docs/s), {full_requests} requests ({:.3} per document), peak RSS {full_rss:.0} MB",
            docs as f64 / full_s,
            full_requests as f64 / docs as f64,
        );
        println!("  by route:           {full_split}");
        println!("no-op incremental:    {noop_s:.3} s, {noop_requests} requests ({noop_split})");
    });
}
