//! Failures: exponential backoff with a cap, the unhealthy state, reset after a success, and
//! a panicking run.

use std::time::Duration;

use schedules::{Backoff, Health, RunOutcome, SyncKind};

use crate::harness::{Script, T0, World, mins};

#[test]
fn backoff_doubles_up_to_its_cap() {
    let b = Backoff::default();
    let got: Vec<u64> = (1..=9).map(|n| b.delay(n).as_secs() / 60).collect();
    assert_eq!(got, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    assert_eq!(b.delay(u32::MAX), Duration::from_secs(3600));
}

#[tokio::test(start_paused = true)]
async fn failed_runs_back_off_then_the_source_is_unhealthy_until_a_success() {
    let w = World::new(
        T0,
        &[(
            "a",
            r#"content = "1h"
full = "off""#,
        )],
        |o| {
            o.backoff = Backoff {
                initial: mins(1),
                max: mins(4),
            };
            o.unhealthy_after = 3;
        },
    );
    w.fake.script("a", vec![Script::fail(Duration::ZERO); 5]);
    w.fake.set_default(Script::ok(Duration::ZERO));

    w.until(mins(2)).await;
    let status = w.scheduler.source_status("a").expect("a");
    assert_eq!(
        (status.health, status.consecutive_failures),
        (Health::Healthy, 2)
    );

    w.until(mins(4)).await;
    let status = w.scheduler.source_status("a").expect("a");
    assert_eq!(
        (status.health, status.consecutive_failures),
        (Health::Unhealthy, 3)
    );
    let content = &status.kinds[0];
    assert!(content.retrying);
    assert_eq!(content.next_due.map(|t| (t - w.t0).num_minutes()), Some(7));
    assert_eq!(
        status.last_outcome.map(|o| (o.kind, o.outcome)),
        Some((SyncKind::Content, RunOutcome::failed("scripted failure")))
    );

    w.until(mins(80)).await;
    // 1m, 2m, 4m, then 4m (the cap) while unhealthy; the success returns to the 1h interval.
    w.check(
        "
+0:00:00 a content failed
+0:01:00 a content failed
+0:03:00 a content failed
+0:07:00 a content failed
+0:11:00 a content failed
+0:15:00 a content ok
+1:15:00 a content ok",
    );
    let status = w.scheduler.source_status("a").expect("a");
    assert_eq!(
        (status.health, status.consecutive_failures),
        (Health::Healthy, 0)
    );
    assert!(!status.kinds[0].retrying);
    assert_eq!(
        status.last_success.map(|t| (t - w.t0).num_minutes()),
        Some(75)
    );
    assert_eq!(
        w.events(&["unhealthy", "recovered"]),
        [
            "+0:03:00 a content unhealthy",
            "+0:15:00 a content recovered"
        ]
    );
    let backoffs: Vec<u64> = w
        .scheduler
        .events(0)
        .into_iter()
        .filter_map(|e| match e.what {
            schedules::EventKind::RetryScheduled { after_secs, .. } => Some(after_secs),
            _ => None,
        })
        .collect();
    assert_eq!(backoffs, [60, 120, 240, 240, 240]);
}

#[tokio::test(start_paused = true)]
async fn failures_of_one_kind_do_not_reset_on_success_of_another() {
    let w = World::new(
        T0,
        &[(
            "a",
            r#"content = "1h"
identities = "2m"
full = "off"
run_at_start = false"#,
        )],
        |o| o.backoff.initial = mins(10),
    );
    w.fake.set_default(Script::ok(Duration::ZERO));
    w.fake.script("a", [Script::fail(Duration::ZERO)]);
    w.scheduler.trigger("a", SyncKind::Content);
    w.until(mins(3)).await;
    // Content failed once at 0:00; identities succeeded at 0:02, which says nothing of content.
    let status = w.scheduler.source_status("a").expect("a");
    assert_eq!(status.kinds[0].consecutive_failures, 1);
    assert_eq!(status.kinds[3].consecutive_failures, 0);
    assert_eq!(status.consecutive_failures, 1);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_run_counts_as_a_failure() {
    #[derive(Debug)]
    struct Panics;
    impl schedules::Runner for Panics {
        async fn run(&self, _: &str, _: SyncKind, _: schedules::RunContext) -> RunOutcome {
            panic!("runner bug")
        }
    }
    let clock = schedules::TokioClock::starting_at(crate::harness::utc(T0));
    let scheduler = schedules::Scheduler::new(
        Panics,
        crate::harness::options(clock),
        [("a".to_owned(), crate::harness::schedule("full = \"off\""))],
    );
    let driver = tokio::spawn({
        let s = scheduler.clone();
        async move { s.run().await }
    });
    tokio::time::sleep(Duration::from_secs(30)).await;
    let status = scheduler.source_status("a").expect("a");
    assert_eq!(
        status.last_outcome.map(|o| o.outcome),
        Some(RunOutcome::failed("the run panicked"))
    );
    assert!(status.kinds[0].retrying);
    scheduler.shutdown();
    driver.await.expect("the driver survives a panicking run");
}
