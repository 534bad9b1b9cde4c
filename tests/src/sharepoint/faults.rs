//! A misbehaving Graph: throttling with `Retry-After` (on a delta page and inside a
//! `$batch`), permissions that cannot be read (fail closed, then `resolve`), expired tokens,
//! 5xx and broken bodies. Every case ends in the clean result, or in an honest failure
//! that deletes nothing and leaks nothing.

use fake_graph::{Fault, Route, When};
use sync_core::RunState;

use super::{Tenant, check};
use crate::support::set;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_pauses_the_run_and_it_ends_clean() {
    let t = Tenant::new().await;
    t.sync_identities().await;
    t.fake
        .inject(Route::Delta, When::Next(1), Fault::throttled(1));
    t.fake
        .inject(Route::Permissions, When::Next(1), Fault::throttled(1));
    t.fake
        .inject(Route::Content, When::Next(1), Fault::unavailable(1));
    let report = t.sync().await;
    check(&report, (3, 3, 0, 0, 0, 0, 0, 0));
    assert!(report.rate_limited.pauses >= 2, "{report:?}");
    assert!(report.rate_limited.waited_ms >= 1000, "{report:?}");
    assert_eq!(t.titles("cat@contoso.com"), set(&["lease.txt"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_that_cannot_be_read_keep_the_document_invisible_until_they_are() {
    let t = Tenant::new().await;
    t.sync_identities().await;
    check(&t.sync().await, (3, 3, 0, 0, 0, 0, 0, 0));
    assert!(t.titles("bob@contoso.com").contains("plan.txt"));
    // plan.txt loses bob's access while its permissions can be read neither in a batch
    // nor directly.
    {
        let mut w = t.fake.world();
        w.edit(&t.id("plan.txt"), b"the launch plan, secret now");
        w.break_inheritance(&t.id("plan.txt"));
        for p in w.effective_permissions(&t.id("plan.txt")) {
            w.unshare(&t.id("plan.txt"), &p.id);
        }
        w.share(
            &t.id("plan.txt"),
            fake_graph::Grant::user(&t.id("ann"), fake_graph::Role::Write),
        );
    }
    let denied = serde_json::json!({"error": {"code": "accessDenied", "message": "no"}});
    t.fake.inject(
        Route::Permissions,
        When::Always,
        Fault::status(403, &denied),
    );
    let failing = t.sync().await;
    assert_eq!(failing.state, RunState::Partial, "{failing:?}");
    assert_eq!(failing.counts.failed, 1, "{failing:?}");
    // Nobody finds it meanwhile: not bob (whose access is gone), not ann either.
    assert!(!t.titles("bob@contoso.com").contains("plan.txt"));
    assert!(!t.titles("ann@contoso.com").contains("plan.txt"));
    assert!(t.titles("ann@contoso.com").contains("notes.txt"));

    t.fake.clear_faults();
    let healed = t.sync().await;
    assert_eq!(healed.state, RunState::Succeeded, "{healed:?}");
    assert!(t.titles("ann@contoso.com").contains("plan.txt"));
    assert!(!t.titles("bob@contoso.com").contains("plan.txt"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_5xx_and_broken_bodies_are_ridden_out() {
    let t = Tenant::new().await;
    t.sync_identities().await;
    check(&t.sync().await, (3, 3, 0, 0, 0, 0, 0, 0));
    t.fake
        .world()
        .edit(&t.id("lease.txt"), b"the office lease, renewed");
    t.fake.expire_tokens();
    t.fake
        .inject(Route::Delta, When::Next(1), Fault::server_error(502));
    t.fake
        .inject(Route::Batch, When::Next(1), Fault::server_error(500));
    let report = t.sync().await;
    check(&report, (1, 0, 1, 0, 0, 0, 0, 0));
    assert!(
        t.fake.count(Route::Token) >= 2,
        "a fresh token after the 401"
    );
}
