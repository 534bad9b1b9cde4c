//! Slack benchmark against the in-process fake Slack (`fixtures/fake-slack`): a workspace of
//! 10 channels (8 public, 2 private) and 24 people, whose history over 400 days makes about
//! N documents: threads (a root and 1–3 replies within the hour), days of messages outside
//! threads, and shared text files, with a little of everything in the last week. Identity
//! sync, then a full sync (docs/s, requests per document by method, peak RSS), and a no-op
//! incremental (its requests: each channel's reconcile window read again).
//!
//! ```sh
//! cargo bench -p tributary-benches --bench slack -- --docs 10000
//! ```
//!
//! The fake answers from memory in this process, and the bench lifts the connector's
//! per-tier rate limits, so the numbers are the connector's and the engine's cost per
//! document. What the same sync takes at Slack's own rate limits follows from the requests
//! per tier; the bench prints that too.

#[path = "common.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use connector_sdk::{Connector, Secret};
use connector_slack::{SlackConfig, SlackConnector};
use fake_slack::{FakeSlack, Route};
use sync_core::{Engine, Progress, RunReport, RunState, Source, SyncOptions};

// The same allocator as the `tributary` binary.
#[global_allocator]
static ALLOC: tributary_allocator::Allocator = tributary_allocator::Allocator;

const DAY: i64 = 86_400;
const CHANNELS: usize = 10;
const PEOPLE: usize = 24;
/// The workspace's clock at the end: 2026-12-01 00:00 UTC.
const NOW: i64 = 1_796_083_200;

/// Every method, with its rate-limit tier (Slack's docs) and the connector's default calls
/// per minute for that tier (`SlackConfig`), for the "at Slack's limits" estimate.
const ROUTES: [(Route, &str); 12] = [
    (Route::AuthTest, "special"),
    (Route::ConversationsList, "tier2"),
    (Route::ConversationsInfo, "tier3"),
    (Route::ConversationsMembers, "tier4"),
    (Route::ConversationsHistory, "tier3"),
    (Route::ConversationsReplies, "tier3"),
    (Route::ConversationsJoin, "tier3"),
    (Route::UsersList, "tier2"),
    (Route::UsergroupsList, "tier2"),
    (Route::UsergroupsUsersList, "tier2"),
    (Route::FilesInfo, "tier4"),
    (Route::FileDownload, "tier4"),
];

/// Requests since the last reset: the total, the non-zero methods, and the minutes the
/// same calls take at the connector's default per-tier limits (tiers run side by side, so
/// the slowest tier decides).
fn requests(fake: &FakeSlack, defaults: &SlackConfig) -> (usize, String, f64) {
    let mut total = 0;
    let mut split = Vec::new();
    let mut per_tier = [0usize; 3];
    for (route, tier) in ROUTES {
        let n = fake.count(route);
        if n == 0 {
            continue;
        }
        total += n;
        split.push(format!("{route:?} {n}"));
        match tier {
            "tier2" => per_tier[0] += n,
            "tier3" => per_tier[1] += n,
            "tier4" => per_tier[2] += n,
            _ => {}
        }
    }
    let minutes = [
        per_tier[0] as f64 / f64::from(defaults.tier2_per_minute),
        per_tier[1] as f64 / f64::from(defaults.tier3_per_minute),
        per_tier[2] as f64 / f64::from(defaults.tier4_per_minute),
    ]
    .into_iter()
    .fold(0.0, f64::max);
    (total, split.join(", "), minutes)
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

/// Fills the workspace: per channel, `docs / CHANNELS` documents in the proportions 6
/// threads : 3 days : 1 file, over the 400 days before [`NOW`].
fn populate(fake: &FakeSlack, docs: usize) {
    let mut w = fake.world();
    let bot = w.bot_user();
    let people: Vec<String> = (0..PEOPLE)
        .map(|i| {
            w.add_user(
                &format!("person{i}"),
                &format!("person{i}@example.com"),
                &format!("Person {i}"),
            )
        })
        .collect();
    let per_channel = docs / CHANNELS;
    let threads = per_channel * 6 / 10;
    let files = per_channel / 10;
    let days = per_channel - threads - files;
    let start = NOW - 400 * DAY;
    for c in 0..CHANNELS {
        let channel = w.add_channel(&format!("channel-{c}"), c >= 8);
        w.join(&channel, &bot);
        // Public channels: everybody; private ones: a third of the people.
        for (i, p) in people.iter().enumerate() {
            if c < 8 || i % 3 == c % 3 {
                w.join(&channel, p);
            }
        }
        let author = |i: usize| people[(i * 7 + c) % PEOPLE].clone();
        // Threads, spread over the whole span (every 50th in the last week).
        for t in 0..threads {
            let at = if t % 50 == 0 {
                NOW - (t as i64 % 7) * DAY - 3_600
            } else {
                start + (t as i64 * 390 * DAY) / threads as i64
            };
            w.set_time(at);
            let root = w.post(
                &channel,
                &author(t),
                &format!(
                    "Question {t} in channel {c}: how do we roll out release {} to <@{}>'s team?",
                    t % 40,
                    people[t % PEOPLE]
                ),
            );
            for r in 0..(1 + t % 3) {
                w.set_time(at + 300 * (r as i64 + 1));
                w.reply(
                    &channel,
                    &root,
                    &author(t + r + 1),
                    &format!(
                        "Answer {r}: use the runbook for service {} and check the dashboard",
                        (t + r) % 31
                    ),
                );
            }
        }
        // Days of messages outside threads: one day each, 1–3 messages.
        for d in 0..days {
            let day = if d < 7 {
                NOW - (d as i64 + 1) * DAY
            } else {
                start + (d as i64 * 390 / days as i64) * DAY
            };
            for m in 0..(1 + d % 3) {
                w.post_at(
                    &channel,
                    &author(d + m),
                    &format!(
                        "Standup note {m} for day {d}: shipped fix {} and reviewed change {}",
                        d % 53,
                        m + d
                    ),
                    day + 32_400 + m as i64 * 600,
                );
            }
        }
        // Shared text files.
        for f in 0..files {
            w.set_time(start + (f as i64 * 390 * DAY) / files.max(1) as i64 + 43_200);
            let body = format!(
                "Design note {f} of channel {c}: the storage layer keeps {} replicas and compacts every {} hours.\n",
                f % 5 + 1,
                f % 24 + 1
            );
            w.share_file(
                &channel,
                &author(f),
                &format!("note-{c}-{f}.txt"),
                "text/plain",
                body.as_bytes(),
            );
        }
    }
    w.set_time(NOW);
}

fn main() {
    let docs = common::arg("docs", 10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let fake = FakeSlack::start().await.expect("fake slack");
        populate(&fake, docs);

        let defaults = SlackConfig::new();
        let mut config = SlackConfig::new();
        config.token = Some(Secret::new(fake.token()));
        config.api_url = fake.api_url();
        config.tier2_per_minute = 1_000_000;
        config.tier3_per_minute = 1_000_000;
        config.tier4_per_minute = 1_000_000;
        let connector = SlackConnector::new(config).expect("connector");
        let source = Source::new("slack", Arc::new(connector) as Arc<dyn Connector>);
        let (_dir, engine, options) = common::engine();

        fake.reset_counts();
        let started = Instant::now();
        let identities = engine
            .sync_identities(&source, &options)
            .await
            .expect("identity sync");
        assert_eq!(identities.state, RunState::Succeeded, "{identities:?}");
        let identities_s = started.elapsed().as_secs_f64();
        let (identities_requests, identities_split, _) = requests(&fake, &defaults);

        fake.reset_counts();
        let (full, full_s) = run(&engine, &source, &options).await;
        let indexed = full.counts.added as usize;
        assert!(indexed >= docs * 9 / 10, "{full:?}");
        let (full_requests, full_split, full_minutes) = requests(&fake, &defaults);
        let full_rss = common::peak_rss_mb();

        fake.reset_counts();
        let (noop, noop_s) = run(&engine, &source, &options).await;
        assert_eq!(noop.counts.added + noop.counts.modified + noop.counts.deleted, 0, "{noop:?}");
        let (noop_requests, noop_split, noop_minutes) = requests(&fake, &defaults);

        println!("workspace:            {CHANNELS} channels, {PEOPLE} people, {indexed} documents indexed");
        println!("identity sync:        {identities_s:.3} s, {identities_requests} requests ({identities_split})");
        println!(
            "full sync:            {full_s:.2} s  ({:.0} docs/s), {full_requests} requests ({:.3} per document), peak RSS {full_rss:.0} MB",
            indexed as f64 / full_s,
            full_requests as f64 / indexed as f64,
        );
        println!("  by method:          {full_split}");
        println!("  at Slack's limits:  {full_minutes:.0} min (the connector's default tier rates)");
        println!("no-op incremental:    {noop_s:.3} s, {noop_requests} requests ({noop_split}); {noop_minutes:.1} min at Slack's limits");
    });
}
