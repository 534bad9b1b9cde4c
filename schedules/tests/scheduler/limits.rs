//! The limits: one run per source at a time, full covers content, and the global concurrency
//! limit, fair across sources.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use crate::harness::{Script, T0, World, mins};

#[tokio::test(start_paused = true)]
async fn a_source_never_runs_twice_at_once_and_the_wait_is_recorded() {
    // Content every 5m, identities every 7m, each run 6m long: they keep falling due while the
    // other runs.
    let w = World::new(
        T0,
        &[(
            "a",
            r#"content = "5m"
identities = "7m"
full = "off"
run_at_start = false"#,
        )],
        |_| {},
    );
    w.fake.set_default(Script::ok(mins(6)));
    w.until(mins(40)).await;
    // A kind that falls due while the other runs starts when it ends; its interval then
    // counts from its own end.
    w.check(
        "
+0:05:00 a content ok
+0:11:00 a identities ok
+0:17:00 a content ok
+0:24:00 a identities ok
+0:30:00 a content ok
+0:37:00 a identities running",
    );
    assert_eq!(
        w.events(&["delayed_busy"]),
        [
            "+0:07:00 a identities delayed_busy",
            "+0:16:00 a content delayed_busy",
            "+0:28:00 a content delayed_busy",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_due_full_run_covers_a_due_content_run() {
    // Content and full both fall due while identities runs.
    let w = World::new(
        T0,
        &[(
            "a",
            r#"identities = "10m"
content = "12m"
full = "13m"
run_at_start = false"#,
        )],
        |_| {},
    );
    w.fake.set_default(Script::ok(mins(5)));
    w.until(mins(29)).await;
    // Identities runs 10-15; content (due 12) and full (due 13) wait; full starts at 15 and
    // content is dropped (covered); content is rescheduled 12m after full ends (20 + 12 = 32).
    w.check(
        "
+0:10:00 a identities ok
+0:15:00 a full ok
+0:25:00 a identities running",
    );
    assert_eq!(
        w.events(&["covered_by_full"]),
        ["+0:15:00 a content covered_by_full"]
    );
    let content = &w.scheduler.source_status("a").expect("a").kinds[0];
    assert_eq!(
        content.next_due.map(|t| (t - w.t0).num_minutes()),
        Some(32),
        "content rescheduled from the end of the full run"
    );
}

#[tokio::test(start_paused = true)]
async fn the_concurrency_limit_holds_and_no_source_starves() {
    let spec = r#"content = "1m"
full = "off""#;
    let sources = [
        ("a", spec),
        ("b", spec),
        ("c", spec),
        ("d", spec),
        ("e", spec),
    ];
    let w = World::new(T0, &sources, |o| o.max_concurrent_runs = 2);
    w.fake.set_default(Script::ok(mins(3)));
    w.until(mins(120)).await;
    assert_eq!(
        w.fake.max_concurrent.load(Ordering::SeqCst),
        2,
        "the limit is reached, never passed"
    );
    w.check_no_overlap();
    // Fair: the source that waited longest goes next, so every source gets its turn and the
    // counts differ by at most one.
    let mut counts = BTreeMap::new();
    for r in w.fake.records() {
        *counts.entry(r.source).or_insert(0) += 1;
    }
    let (min, max) = (
        counts.values().min().copied(),
        counts.values().max().copied(),
    );
    assert_eq!(counts.len(), 5, "{counts:?}");
    assert!(
        min >= Some(15) && max.zip(min).is_some_and(|(max, min)| max - min <= 1),
        "{counts:?}"
    );
    assert!(!w.events(&["waiting_for_capacity"]).is_empty());
    // The slots the first five minutes: two at a time, in the order they waited.
    let first: Vec<String> = w
        .fake
        .timeline(Some(w.t0))
        .lines()
        .take(6)
        .map(str::to_owned)
        .collect();
    assert_eq!(
        first,
        [
            "+0:00:00 a content ok",
            "+0:00:00 b content ok",
            "+0:03:00 c content ok",
            "+0:03:00 d content ok",
            "+0:06:00 e content ok",
            "+0:06:00 a content ok",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn lowering_the_limit_while_running_takes_effect_as_runs_end() {
    let spec = r#"content = "1m"
full = "off""#;
    let w = World::new(T0, &[("a", spec), ("b", spec), ("c", spec)], |o| {
        o.max_concurrent_runs = 3
    });
    w.fake.set_default(Script::ok(mins(2)));
    w.until(mins(1)).await;
    assert_eq!(w.scheduler.running_count(), 3);
    w.scheduler.set_max_concurrent_runs(1);
    w.until(mins(3) + std::time::Duration::from_secs(30)).await;
    assert_eq!(w.scheduler.running_count(), 1);
    w.until(mins(30)).await;
    assert_eq!(w.fake.max_concurrent.load(Ordering::SeqCst), 3);
    let late = w
        .fake
        .records()
        .into_iter()
        .filter(|r| r.start >= w.t0 + chrono::Duration::minutes(2));
    let mut running_at: Vec<(DateTime<Utc>, i32)> = Vec::new();
    for r in late {
        running_at.push((r.start, 1));
        running_at.push((r.end.unwrap_or(DateTime::<Utc>::MAX_UTC), -1));
    }
    running_at.sort();
    let mut now = 0;
    for (_, d) in running_at {
        now += d;
        assert!(now <= 1, "two runs at once after the limit went down to 1");
    }
}
