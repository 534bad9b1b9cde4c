//! The kit's self-tests: a correct toy connector passes every scenario, and each broken
//! toy is caught by the check meant for its bug.

use std::time::Duration;

use super::toy::{Bug, ToyFactory};
use super::{Kit, KitOptions, ModelOptions, Outcome, Report, SCENARIOS};

fn options() -> KitOptions {
    KitOptions {
        step_timeout: Duration::from_secs(20),
        give_up_timeout: Duration::from_secs(2),
        model: ModelOptions {
            max_pause: Duration::from_millis(10),
            ..ModelOptions::default()
        },
    }
}

async fn run(bug: Option<Bug>, only: &[&str]) -> Report {
    let factory = ToyFactory {
        bug,
        cursor_expiry: true,
    };
    let kit = Kit::with_options(options());
    let kit = if only.is_empty() { kit } else { kit.only(only) };
    kit.run("toy", &factory).await
}

/// The problems of the failed scenario `name`, joined; panics with the report if it did
/// not fail.
fn problems(report: &Report, name: &str) -> String {
    match report.outcome(name) {
        Some(Outcome::Failed { problems, .. }) => problems.join("\n"),
        _ => panic!("{name} should have failed:\n{report}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_connector_passes_every_scenario() {
    let report = run(None, &[]).await;
    println!("{report}");
    assert_eq!(report.passed().len(), SCENARIOS.len(), "{report}");
    super::assert_conformant(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_source_cannot_do_is_skipped_with_its_reason() {
    let factory = ToyFactory {
        bug: None,
        cursor_expiry: false,
    };
    let report = Kit::with_options(options())
        .only(&["expired_cursor"])
        .run("toy", &factory)
        .await;
    assert_eq!(
        report.outcome("expired_cursor"),
        Some(&Outcome::Skipped {
            reason: "this toy's cursors never expire".into()
        }),
        "{report}"
    );
    assert!(
        report.to_string().contains("SKIP expired_cursor"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_complete_after_an_error_is_caught() {
    let report = run(Some(Bug::CompleteAfterError), &["fault_storm"]).await;
    let p = problems(&report, "fault_storm");
    assert!(
        p.contains("ListingComplete after the listing error"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_change_that_looks_like_a_content_change_is_caught() {
    let report = run(Some(Bug::AclBumpsVersion), &["acl_only_change", "noop"]).await;
    let p = problems(&report, "acl_only_change");
    assert!(
        p.contains("MUST NOT change the document's version"),
        "{report}"
    );
    assert!(matches!(
        report.outcome("noop_incremental"),
        Some(Outcome::Passed { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_that_overtakes_its_documents_is_caught() {
    let report = run(
        Some(Bug::CheckpointTooEarly),
        &["kill_and_resume", "full_sync"],
    )
    .await;
    let p = problems(&report, "kill_and_resume");
    assert!(
        p.contains("the index holds the wrong documents: missing"),
        "{report}"
    );
    // Without a kill, the bug does no harm: only the resume scenario sees it.
    assert!(matches!(
        report.outcome("full_sync"),
        Some(Outcome::Passed { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_that_follows_a_repeated_page_token_forever_is_caught() {
    let name = "misbehaving_server/repeated_page_token";
    let report = run(Some(Bug::LoopsOnRepeatedToken), &[name]).await;
    assert!(
        problems(&report, name).contains("no answer within"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_page_swallowed_in_silence_is_caught() {
    let name = "misbehaving_server/malformed_body";
    let report = run(Some(Bug::SwallowsMalformed), &[name]).await;
    let p = problems(&report, name);
    assert!(p.contains("nothing may be deleted"), "{report}");
    assert!(p.contains("ended without an error"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_without_nested_groups_is_caught() {
    let report = run(Some(Bug::FlatGroups), &["full_sync"]).await;
    let p = problems(&report, "full_sync");
    assert!(
        p.contains("ben@example.com sees the wrong documents"),
        "{report}"
    );
}
