//! The Drive source when Google misbehaves: a storm of throttling, 5xx, resets, broken
//! bodies and an expired token ends in exactly the clean result; answers that cannot be
//! trusted (a page token repeated forever, malformed JSON, wrong field types, credentials
//! refused for good) end the run with a clear error, nothing deleted and no hang.

use std::time::Duration;

use fake_drive::{Fault, Mangle, RetryAfter, Route, When};
use sync_core::{RunState, SyncOptions};

use super::{Drive, check};
use crate::support::set;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_storm_ends_in_the_clean_result() {
    let d = Drive::new().await;
    let f = &d.fake;
    f.inject(
        Route::UsersList,
        When::Nth(1),
        Fault::too_many_requests(Some(RetryAfter::Seconds(1))),
    );
    f.inject(Route::DrivesList, When::Nth(1), Fault::Reset);
    f.inject(Route::DrivesList, When::Nth(2), Fault::BreakBody);
    f.inject(
        Route::ChangesGetStartPageToken,
        When::Next(2),
        Fault::server_error(500),
    );
    f.inject(Route::FilesList, When::Nth(1), Fault::user_rate_limit());
    f.inject(Route::FilesList, When::Nth(2), Fault::server_error(502));
    f.inject(
        Route::PermissionsList,
        When::Nth(1),
        Fault::server_error(503),
    );
    f.inject(Route::FilesDownload, When::Nth(1), Fault::auth_error());
    d.sync_identities().await;
    let storm = d.sync().await;
    check(&storm, (3, 3, 0, 0, 0, 0, 0, 0));
    assert!(
        storm.rate_limited.pauses >= 1,
        "the 429 paused the run: {storm:?}"
    );
    assert_eq!(d.titles("bob@example.com"), set(&["notes.txt", "plan.txt"]));
    assert_eq!(d.titles("cat@example.com"), set(&["lease.txt"]));
    // The 401 made the connector fetch a new token for that user once.
    assert!(d.fake.count(Route::Token) >= 5, "{:?}", d.fake.counts());

    // A download that breaks off mid-body cannot be retried inside the call (its bytes
    // were already streaming to the engine): the engine fetches it again, once or twice.
    d.fake
        .world()
        .edit(&d.file("notes.txt"), b"bob's notes, v2");
    d.fake.reset_counts();
    d.fake
        .inject(Route::FilesDownload, When::Next(2), Fault::BreakBody);
    let rode = d.sync().await;
    check(&rode, (1, 0, 1, 0, 0, 0, 0, 0));
    assert_eq!(d.fake.count(Route::FilesDownload), 3);

    // Broken three times, the document fails for this run, waits on the retry list, and
    // the next run fetches it.
    d.fake.clear_faults();
    d.fake
        .world()
        .edit(&d.file("notes.txt"), b"bob's notes, edited");
    d.fake
        .inject(Route::FilesDownload, When::Next(3), Fault::BreakBody);
    let broken = d.sync().await;
    assert_eq!(broken.state, RunState::Partial, "{broken:?}");
    assert_eq!(
        (broken.counts.modified, broken.counts.failed),
        (0, 1),
        "{broken:?}"
    );
    let retried = d.sync().await;
    check(&retried, (1, 0, 1, 0, 0, 0, 0, 0));
    assert_eq!(retried.counts.retried, 1, "{retried:?}");
}

/// A clean first sync; then `fault` on `route`, and a run (full when `full`) that must
/// fail cleanly, keep everything, and leave the next clean run to do the work.
async fn fails_cleanly(route: Route, fault: Fault, full: bool, page_size: u32) {
    let d = Drive::with_config(|c| c.page_size = page_size).await;
    d.sync_identities().await;
    check(&d.sync().await, (3, 3, 0, 0, 0, 0, 0, 0));
    d.fake
        .world()
        .edit(&d.file("notes.txt"), b"bob's notes, edited");
    d.fake.inject(route, When::Always, fault);
    let options = SyncOptions {
        full,
        ..d.options.clone()
    };
    let run = tokio::time::timeout(
        Duration::from_secs(60),
        crate::support::sync(&d.engine, &d.source, &options),
    )
    .await
    .expect("the run ends: no hang on a misbehaving server");
    assert_ne!(run.state, RunState::Succeeded, "{run:?}");
    assert_eq!(run.counts.deleted, 0, "{run:?}");
    assert!(!run.errors.is_empty(), "a clear error: {run:?}");
    assert_eq!(d.titles("bob@example.com"), set(&["notes.txt", "plan.txt"]));
    assert_eq!(d.titles("cat@example.com"), set(&["lease.txt"]));

    d.fake.clear_faults();
    let after = d.sync().await;
    assert_eq!(after.state, RunState::Succeeded, "{after:?}");
    assert_eq!(after.counts.deleted, 0, "{after:?}");
    let hits = crate::support::hits(
        &d.engine,
        &{
            let mut ids = sync_core::Identities::new();
            ids.add_stored(d.engine.store()).expect("ids");
            ids
        },
        "bob@example.com",
        "edited",
    );
    assert_eq!(hits, 1, "the edit lands once the server behaves: {after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_token_repeated_forever_is_an_error_not_a_loop() {
    fails_cleanly(Route::FilesList, Fault::RepeatPageToken, true, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_in_the_changes_feed_fails_the_run_and_loses_nothing() {
    fails_cleanly(Route::ChangesList, Fault::MalformedJson, false, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_json_fails_the_run_and_loses_nothing() {
    fails_cleanly(Route::ChangesList, Fault::TruncateJson, false, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_field_types_in_a_listing_fail_the_run_and_lose_nothing() {
    fails_cleanly(
        Route::FilesList,
        Fault::WrongTypes(Mangle::NumbersNotStrings),
        true,
        1000,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_refused_for_good_fail_the_run_and_lose_nothing() {
    fails_cleanly(Route::ChangesList, Fault::auth_error(), false, 1000).await;
}
