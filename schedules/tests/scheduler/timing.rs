//! When runs start: intervals, run-at-start, cron across daylight-saving changes, jitter.

use std::time::Duration;

use crate::harness::{T0, World, mins, utc};

#[tokio::test(start_paused = true)]
async fn intervals_count_from_the_end_of_the_previous_run() {
    let w = World::new(
        T0,
        &[(
            "a",
            r#"content = "10m"
full = "off"
run_at_start = false"#,
        )],
        |_| {},
    );
    w.until(mins(35)).await;
    // 1-minute runs: 10m after each end.
    w.check(
        "
+0:10:00 a content ok
+0:21:00 a content ok
+0:32:00 a content ok",
    );
}

#[tokio::test(start_paused = true)]
async fn run_at_start_runs_the_cheap_kinds_at_once_and_full_waits_for_its_slot() {
    let w = World::new(
        T0,
        &[(
            "a",
            r#"content = "1h"
identities = "1h"
full = "0 3 * * *""#,
        )],
        |_| {},
    );
    w.until(mins(5)).await;
    // Both due at the start: identities first (the tie-break), content right after, delayed
    // behind it, and that wait is recorded. Full waits for 03:00.
    w.check(
        "
+0:00:00 a identities ok
+0:01:00 a content ok",
    );
    assert_eq!(
        w.events(&["delayed_busy"]),
        ["+0:00:00 a content delayed_busy"]
    );
    let status = w.scheduler.source_status("a").expect("a");
    let full = &status.kinds[1];
    assert_eq!(full.next_due, Some(utc("2024-05-01T03:00:00Z")));
}

#[tokio::test(start_paused = true)]
async fn cron_in_berlin_across_spring_forward_runs_once_a_day() {
    // 2024-03-31, 02:00 CET becomes 03:00 CEST: 02:30 does not exist that day and the job runs
    // once, at 03:00 CEST (01:00Z).
    let w = World::new(
        "2024-03-29T12:00:00Z",
        &[(
            "a",
            r#"content = "30 2 * * *"
full = "off"
time_zone = "Europe/Berlin"
run_at_start = false"#,
        )],
        |_| {},
    );
    w.until(Duration::from_secs(3 * 86400)).await;
    assert_eq!(
        w.fake.timeline(None),
        "
2024-03-30T01:30:00Z a content ok
2024-03-31T01:00:00Z a content ok
2024-04-01T00:30:00Z a content ok"
            .trim()
    );
    w.check_no_overlap();
}

#[tokio::test(start_paused = true)]
async fn cron_in_berlin_across_fall_back_runs_once_even_when_a_run_ends_in_the_repeated_hour() {
    // 2024-10-27, 03:00 CEST becomes 02:00 CET: 02:30 happens at 00:30Z and again at 01:30Z.
    // The 40-minute run that starts at the first ends at 01:10Z, 02:10 local in the second
    // pass of the hour; the job must not run again at 01:30Z.
    let w = World::new(
        "2024-10-25T12:00:00Z",
        &[(
            "a",
            r#"content = "30 2 * * *"
full = "off"
time_zone = "Europe/Berlin"
run_at_start = false"#,
        )],
        |_| {},
    );
    w.fake.set_default(crate::harness::Script::ok(mins(40)));
    w.until(Duration::from_secs(3 * 86400)).await;
    assert_eq!(
        w.fake.timeline(None),
        "
2024-10-26T00:30:00Z a content ok
2024-10-27T00:30:00Z a content ok
2024-10-28T01:30:00Z a content ok"
            .trim()
    );
}

#[tokio::test(start_paused = true)]
async fn cron_in_new_york_across_both_changes() {
    let spec = |at: &str| {
        format!(
            "content = \"{at}\"\nfull = \"off\"\ntime_zone = \"America/New_York\"\nrun_at_start = false"
        )
    };
    // Spring forward, 2024-03-10: 02:00 EST becomes 03:00 EDT. 02:30 does not exist; the job
    // runs once, at 03:00 EDT (07:00Z), then 02:30 EDT (06:30Z).
    let w = World::new(
        "2024-03-09T12:00:00Z",
        &[("a", &spec("30 2 * * *"))],
        |_| {},
    );
    w.until(Duration::from_secs(2 * 86400)).await;
    assert_eq!(
        w.fake.timeline(None),
        "2024-03-10T07:00:00Z a content ok\n2024-03-11T06:30:00Z a content ok"
    );
    // Fall back, 2024-11-03: 02:00 EDT becomes 01:00 EST, so 01:30 happens twice; the job runs
    // at the first (01:30 EDT, 05:30Z), then at 01:30 EST the next day (06:30Z).
    let w = World::new(
        "2024-11-02T12:00:00Z",
        &[("a", &spec("30 1 * * *"))],
        |_| {},
    );
    w.until(Duration::from_secs(2 * 86400)).await;
    assert_eq!(
        w.fake.timeline(None),
        "2024-11-03T05:30:00Z a content ok\n2024-11-04T06:30:00Z a content ok"
    );
}

#[tokio::test(start_paused = true)]
async fn jitter_delays_each_slot_within_its_bound_and_is_reproducible() {
    let sources = [(
        "a",
        r#"content = "1m"
full = "off"
jitter = "20s"
run_at_start = false"#,
    )];
    let gaps = |w: &World| -> Vec<Duration> {
        let runs = w.fake.runs_of("a");
        let mut gaps = vec![(runs[0].start - w.t0).to_std().unwrap_or_default()];
        for pair in runs.windows(2) {
            let end = pair[0].end.expect("ended");
            gaps.push((pair[1].start - end).to_std().unwrap_or_default());
        }
        gaps
    };
    let w = World::new(T0, &sources, |_| {});
    w.fake
        .set_default(crate::harness::Script::ok(Duration::ZERO));
    w.until(mins(200)).await;
    let first = gaps(&w);
    assert!(first.len() > 100, "{} runs", first.len());
    for gap in &first {
        assert!(
            (mins(1)..=mins(1) + Duration::from_secs(20)).contains(gap),
            "a slot 1m after the last run, jittered by at most 20s: {gap:?}"
        );
    }
    // The draws spread over the bound rather than sitting at one value.
    let spread = first.iter().max().copied().unwrap_or_default()
        - first.iter().min().copied().unwrap_or_default();
    assert!(spread > Duration::from_secs(15), "spread {spread:?}");
    // Same seed, same schedule.
    let again = World::new(T0, &sources, |_| {});
    again
        .fake
        .set_default(crate::harness::Script::ok(Duration::ZERO));
    again.until(mins(200)).await;
    assert_eq!(gaps(&again), first);
}
