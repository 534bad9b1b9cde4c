//! Jira benchmark against the in-process fake Jira (`fixtures/fake-jira`): a full sync of
//! N issues over a few projects, with ADF descriptions and a comment each (docs/s,
//! requests per document, peak RSS), then a no-op incremental re-sync (time and requests).
//!
//! ```sh
//! cargo bench -p tributary-benches --bench jira -- --issues 10000
//! ```
//!
//! The fake answers from memory in this process, so the numbers are the connector's and the
//! engine's cost per document (and the fake's), not Atlassian's latency.

#[path = "common.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use connector_jira::{JiraConfig, JiraConnector};
use connector_sdk::Secret;
use fake_jira::{FakeJira, Holder, Route};
use serde_json::json;
use sync_core::{Progress, Source};

// The same allocator as the `tributary` binary.
#[global_allocator]
static ALLOC: tributary_allocator::Allocator = tributary_allocator::Allocator;

const PROJECTS: [&str; 4] = ["ENG", "OPS", "SALES", "HR"];

fn main() {
    let issues = common::arg("issues", 10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let fake = FakeJira::start().await.expect("fake jira");
        let (email, token) = {
            let mut w = fake.world();
            let admin = w.add_user("admin", "admin@example.com", "Europe/Berlin");
            w.make_admin(&admin);
            let users: Vec<String> = (0..10)
                .map(|i| w.add_user(&format!("user{i}"), &format!("user{i}@example.com"), "UTC"))
                .collect();
            let staff = w.add_group("staff");
            w.add_member(&staff, &admin);
            for u in &users {
                w.add_member(&staff, u);
            }
            let scheme = w.add_scheme("Default");
            w.grant_browse(scheme, Holder::Group(staff));
            w.grant_browse(scheme, Holder::Reporter);
            for p in PROJECTS {
                w.add_project(p, p, &admin, scheme);
            }
            for i in 0..issues {
                let body = json!({"type": "doc", "version": 1, "content": [
                    {"type": "paragraph", "content": [{"type": "text",
                        "text": format!("issue {i}: quarterly notes on project {} with action items for team {}", i % 97, i % 13)}]},
                    {"type": "bulletList", "content": [{"type": "listItem", "content": [
                        {"type": "paragraph", "content": [{"type": "text", "text": "follow up"}]}]}]}]});
                let reporter = &users[i % users.len()];
                let (id, _) = w.create_issue(PROJECTS[i % PROJECTS.len()], &format!("Issue {i}"), Some(body), reporter);
                w.comment(id, reporter, json!({"type": "doc", "version": 1, "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "looks good"}]}]}));
                w.advance(1_000);
            }
            w.credentials(&admin)
        };
        let mut config = JiraConfig::new(fake.url());
        config.email = Some(email);
        config.api_token = Some(Secret::new(token));
        config.requests_per_second = 100_000.0;
        config.max_concurrency = 16;
        let connector = JiraConnector::new(config).expect("connector");
        let source = Source::new("jira", Arc::new(connector));
        let (_dir, engine, options) = common::engine();

        fake.reset_counts();
        let started = Instant::now();
        let full = engine
            .sync(&source, &options, Arc::new(Progress::default()))
            .await
            .expect("full sync");
        let full_s = started.elapsed().as_secs_f64();
        let full_requests = fake.total_requests();
        let full_routes = by_route(&fake);
        assert_eq!(full.counts.added as usize, issues, "{full:?}");

        fake.reset_counts();
        let started = Instant::now();
        let noop = engine
            .sync(&source, &options, Arc::new(Progress::default()))
            .await
            .expect("no-op sync");
        let noop_s = started.elapsed().as_secs_f64();
        assert_eq!(noop.counts.added + noop.counts.modified, 0, "{noop:?}");
        let noop_requests = fake.total_requests();
        let noop_routes = by_route(&fake);

        println!("issues:               {issues} over {} projects", PROJECTS.len());
        println!(
            "full sync:            {full_s:.2} s  ({:.0} docs/s), {full_requests} requests ({:.3} per document), peak RSS {:.0} MB\n  by route:           {full_routes}",
            issues as f64 / full_s,
            full_requests as f64 / issues as f64,
            common::peak_rss_mb()
        );
        println!(
            "no-op incremental:    {noop_s:.3} s, {noop_requests} requests ({noop_routes})"
        );
    });
}

/// The requests the fake served, by route (those it served any of).
fn by_route(fake: &FakeJira) -> String {
    Route::ALL
        .iter()
        .map(|r| (r, fake.count(*r)))
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| format!("{r:?} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
