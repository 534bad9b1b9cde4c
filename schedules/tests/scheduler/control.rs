//! Control from outside: trigger-now, reload, shutdown; and what the status reports (stalled
//! runs, its JSON).

use std::time::Duration;

use schedules::{SyncKind, TriggerOutcome};

use crate::harness::{Script, Since, Step, T0, World, mins, schedule};

#[tokio::test(start_paused = true)]
async fn trigger_queues_a_run_now_or_after_the_running_one() {
    let w = World::new(
        T0,
        &[(
            "a",
            r#"content = "1h"
full = "0 3 * * *"
run_at_start = false"#,
        )],
        |_| {},
    );
    w.fake.set_default(Script::ok(mins(5)));
    w.until(mins(10)).await;
    assert_eq!(
        w.scheduler.trigger("a", SyncKind::Content),
        TriggerOutcome::Queued
    );
    w.until(mins(12)).await;
    assert_eq!(
        w.scheduler.trigger("a", SyncKind::Full),
        TriggerOutcome::Busy {
            running: SyncKind::Content
        }
    );
    assert_eq!(
        w.scheduler.trigger("a", SyncKind::Permissions),
        TriggerOutcome::KindOff
    );
    assert_eq!(
        w.scheduler.trigger("zz", SyncKind::Content),
        TriggerOutcome::UnknownSource
    );
    w.until(mins(30)).await;
    w.check(
        "
+0:10:00 a content ok
+0:15:00 a full ok",
    );
    assert_eq!(
        w.events(&["triggered"]),
        ["+0:10:00 a content triggered", "+0:12:00 a full triggered"]
    );
}

#[tokio::test(start_paused = true)]
async fn trigger_of_the_running_kind_runs_it_again_after() {
    let w = World::new(T0, &[("a", "content = \"1h\"\nfull = \"off\"")], |_| {});
    w.fake.set_default(Script::ok(mins(5)));
    w.until(mins(1)).await;
    let busy = TriggerOutcome::Busy {
        running: SyncKind::Content,
    };
    assert_eq!(w.scheduler.trigger("a", SyncKind::Content), busy);
    w.until(mins(20)).await;
    w.check(
        "
+0:00:00 a content ok
+0:05:00 a content ok",
    );
}

#[tokio::test(start_paused = true)]
async fn reload_adds_removes_and_reschedules_changed_specs() {
    let spec = "content = \"10m\"\nfull = \"off\"\nrun_at_start = false";
    let w = World::new(T0, &[("a", spec), ("b", spec)], |_| {});
    w.fake.set_default(Script::ok(mins(3)));
    w.until(mins(11)).await;
    // a goes (after its run in flight), b's content becomes 20m, c comes (run at start).
    w.scheduler.reload([
        (
            "b".to_owned(),
            schedule("content = \"20m\"\nfull = \"off\"\nrun_at_start = false"),
        ),
        (
            "c".to_owned(),
            schedule("content = \"10m\"\nfull = \"off\""),
        ),
    ]);
    let a = w.scheduler.source_status("a").expect("a finishes its run");
    assert!(a.removed && a.running.is_some());
    w.until(mins(38)).await;
    w.check(
        "
+0:10:00 a content ok
+0:10:00 b content ok
+0:11:00 c content ok
+0:24:00 c content ok
+0:33:00 b content ok
+0:37:00 c content running",
    );
    assert_eq!(w.scheduler.source_status("a"), None);
    assert_eq!(
        w.events(&["added", "removed"]),
        ["+0:11:00 c - added", "+0:13:00 a - removed"]
    );
    assert_eq!(
        w.scheduler.trigger("a", SyncKind::Content),
        TriggerOutcome::UnknownSource
    );
}

#[tokio::test(start_paused = true)]
async fn reload_keeps_unchanged_schedules_and_forgets_failures_of_kinds_turned_off() {
    let b = "content = \"10m\"\nfull = \"off\"\nrun_at_start = false";
    let f = "content = \"1h\"\nidentities = \"1m\"\nfull = \"off\"\nrun_at_start = false";
    let w = World::new(T0, &[("b", b), ("f", f)], |o| {
        o.unhealthy_after = 1;
        o.backoff.initial = mins(30);
    });
    w.fake.set_default(Script::ok(Duration::ZERO));
    w.fake.script("f", [Script::fail(Duration::ZERO)]);
    w.until(mins(5)).await;
    let f_status = w.scheduler.source_status("f").expect("f");
    assert_eq!(f_status.health, schedules::Health::Unhealthy);
    // The same config again, but f's failing identity sync turned off.
    let f_off = "content = \"1h\"\nidentities = \"off\"\nfull = \"off\"\nrun_at_start = false";
    w.scheduler.reload([
        ("b".to_owned(), schedule(b)),
        ("f".to_owned(), schedule(f_off)),
    ]);
    let f_status = w.scheduler.source_status("f").expect("f");
    assert_eq!(
        f_status.health,
        schedules::Health::Healthy,
        "a kind turned off cannot keep it unhealthy"
    );
    assert_eq!(f_status.kinds[3].next_due, None);
    w.until(mins(12)).await;
    // b still runs at 0:10, its slot from before the reload, not 10m after the reload.
    w.check(
        "
+0:01:00 f identities failed
+0:10:00 b content ok",
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_runs_in_flight_and_starts_no_new_ones() {
    let spec = "content = \"1m\"\nfull = \"off\"";
    let mut w = World::new(T0, &[("a", spec), ("b", spec)], |o| {
        o.max_concurrent_runs = 1
    });
    // a's run does not stop when asked: shutdown must wait for it all the same.
    w.fake.script(
        "a",
        [Script {
            ignores_cancel: true,
            ..Script::ok(mins(10))
        }],
    );
    w.until(mins(1)).await;
    w.scheduler.shutdown();
    assert_eq!(
        w.scheduler.trigger("b", SyncKind::Content),
        TriggerOutcome::ShuttingDown
    );
    w.until(mins(5)).await;
    assert!(!w.driver.is_finished(), "returned with a run in flight");
    tokio::time::timeout(mins(30), &mut w.driver)
        .await
        .expect("the driver returns once the run ends")
        .expect("driver task");
    assert_eq!(w.clock.now_since(w.t0), mins(10));
    // b was due all along and never started.
    w.check("+0:00:00 a content ok");
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_runs_that_listen() {
    let mut w = World::new(T0, &[("a", "content = \"1m\"\nfull = \"off\"")], |_| {});
    w.fake.set_default(Script::ok(mins(10)));
    w.until(mins(1)).await;
    w.scheduler.shutdown();
    tokio::time::timeout(Duration::from_secs(1), &mut w.driver)
        .await
        .expect("the run stops at once")
        .expect("driver task");
    w.check("+0:00:00 a content cancelled");
    let status = w.scheduler.source_status("a").expect("a");
    assert_eq!(
        status.consecutive_failures, 0,
        "a cancelled run is no failure"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_without_progress_is_stalled_but_a_rate_limited_or_working_one_is_not() {
    let w = World::new(T0, &[("a", "content = \"1h\"\nfull = \"off\"")], |o| {
        o.stall_after = mins(10)
    });
    w.fake.script(
        "a",
        [Script {
            steps: vec![
                Step::Work(mins(30)),
                Step::RateLimited(mins(30)),
                Step::Work(mins(5)),
                Step::Quiet(mins(20)),
                Step::Work(mins(1)),
            ],
            ..Script::ok(Duration::ZERO)
        }],
    );
    let stalled = |w: &World| {
        let running = w.scheduler.source_status("a").and_then(|s| s.running);
        running.map(|r| (r.rate_limited, r.stalled))
    };
    w.until(mins(25)).await;
    assert_eq!(
        stalled(&w),
        Some((false, false)),
        "a long run that works is not stalled"
    );
    w.until(mins(55)).await;
    assert_eq!(
        stalled(&w),
        Some((true, false)),
        "waiting on a rate limit is not a stall"
    );
    w.until(mins(74)).await;
    assert_eq!(
        stalled(&w),
        Some((false, false)),
        "9 minutes without progress"
    );
    w.until(mins(80)).await;
    assert_eq!(
        stalled(&w),
        Some((false, true)),
        "15 minutes without progress"
    );
    w.until(mins(90)).await;
    assert_eq!(stalled(&w), None, "the run ended");
    assert_eq!(w.events(&["stalled"]), ["+1:15:00 a content stalled"]);
}

#[tokio::test(start_paused = true)]
async fn status_json_shape() {
    let w = World::new(
        T0,
        &[("a", "content = \"15m\"\nfull = \"0 3 * * 0\"")],
        |_| {},
    );
    w.until(mins(2)).await;
    let status = w.scheduler.source_status("a").expect("a");
    let json = serde_json::to_string_pretty(&status).expect("serialize");
    // The daemon's API serves this: a change of shape shows here. `UPDATE_EXPECT=1` rewrites.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scheduler/status.json");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, format!("{json}\n")).expect("write status.json");
    }
    let expected = std::fs::read_to_string(&path).expect("read status.json");
    assert_eq!(json, expected.trim());
}
