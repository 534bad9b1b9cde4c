//! Jobs end to end: what is put is searchable by exactly whom its ACL names; a replay
//! changes nothing; deletes delete; a full job sweeps what it did not name unless that is
//! too much; an expired job deletes nothing; a stopping daemon indexes what it accepted.

use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine as _;
use serde_json::json;

use super::{Push, text_doc};

const ALICE: &str = "alice@example.com"; // backend, engineering
const BOB: &str = "bob@example.com"; // hr
const DAVE: &str = "dave@example.com"; // sales

/// Three documents: one for a user, one for a group, one for everyone but a denied user;
/// one of them HTML sent as bytes, so it goes through the HTML extractor.
fn three() -> serde_json::Value {
    let html = "<html><head><title>Pricing</title></head><body><p>quarterly pricing sheet \
                for the sales team</p><script>var ignored = 'zebra';</script></body></html>";
    json!([
        text_doc("memo-1", "the roadmap memo mentions kiwi", &["user:alice@example.com"]),
        {
            "id": "pricing",
            "content_type": "text/html",
            "base64": base64::engine::general_purpose::STANDARD.encode(html),
            "uri": "https://crm.example.com/pricing",
            "metadata": {"region": "emea"},
            "acl": {"allow": ["group:sales"]},
        },
        {
            "id": "all-hands",
            "text": "all hands notes about kiwi and pricing",
            "acl": {"allow": ["everyone"], "deny": ["user:bob@example.com"]},
        },
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_documents_are_searchable_by_their_acl_only() {
    let p = Push::new().await;
    let job = p.start("crm", "incremental").await;
    p.put_ok("crm", &job, three()).await;
    let view = p.finish("crm", &job).await;
    let report = &view["report"];
    assert_eq!(report["state"], "succeeded", "{view}");
    assert_eq!(report["counts"]["added"], 3, "{view}");
    assert_eq!(
        report["id"].to_string(),
        format!("{job}"),
        "the job is its run"
    );
    assert_eq!(
        p.visible(ALICE).await,
        ["crm:all-hands", "crm:memo-1"],
        "alice: her memo and the public notes"
    );
    assert_eq!(p.visible(DAVE).await, ["crm:all-hands", "crm:pricing"]);
    assert_eq!(p.visible(BOB).await, Vec::<String>::new(), "bob is denied");
    // The HTML went through its extractor: its text is found, its script is not.
    assert_eq!(p.hits("quarterly", DAVE).await.len(), 1);
    assert!(p.hits("zebra", DAVE).await.is_empty());
    assert!(p.hits("quarterly", ALICE).await.is_empty());
    // The run is in the runs list like any other source's.
    let (_, runs) = p
        .send("GET", "/v1/runs?source=crm", serde_json::Value::Null)
        .await;
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_batch_changes_nothing_and_deletes_delete() {
    let p = Push::new().await;
    let job = p.start("crm", "incremental").await;
    p.put_ok("crm", &job, three()).await;
    p.finish("crm", &job).await;
    let before = p.hits("kiwi", ALICE).await;
    assert_eq!(before.len(), 2, "{before:?}");

    // The same batch twice in one job, then again in the next: unchanged, no new chunks.
    let job = p.start("crm", "incremental").await;
    p.put_ok("crm", &job, three()).await;
    p.put_ok("crm", &job, three()).await;
    let view = p.finish("crm", &job).await;
    let counts = &view["report"]["counts"];
    assert_eq!(counts["unchanged"], 6, "{view}");
    assert_eq!(
        (counts["added"].as_u64(), counts["modified"].as_u64()),
        (Some(0), Some(0)),
        "{view}"
    );
    assert_eq!(counts["failed"], 0, "{view}");
    assert_eq!(p.hits("kiwi", ALICE).await, before);

    // An ACL change alone rewrites the ACL, and the content stays.
    let job = p.start("crm", "incremental").await;
    p.put_ok(
        "crm",
        &job,
        json!([text_doc(
            "memo-1",
            "the roadmap memo mentions kiwi",
            &["group:sales"]
        )]),
    )
    .await;
    let (status, body) = p.delete("crm", &job, &["all-hands", "never-existed"]).await;
    assert_eq!(
        (status.as_u16(), &body["accepted"]),
        (200, &json!(2)),
        "{body}"
    );
    let view = p.finish("crm", &job).await;
    assert_eq!(view["report"]["counts"]["acl_updated"], 1, "{view}");
    assert_eq!(view["report"]["counts"]["deleted"], 1, "{view}");
    assert_eq!(p.visible(ALICE).await, Vec::<String>::new());
    assert_eq!(p.visible(DAVE).await, ["crm:memo-1", "crm:pricing"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_job_sweeps_what_it_did_not_name_behind_the_mass_delete_guard() {
    let p = Push::new().await;
    let job = p.start("crm", "full").await;
    let docs: Vec<_> = (0..6)
        .map(|i| {
            text_doc(
                &format!("d{i}"),
                &format!("document {i} about lemons"),
                &["everyone"],
            )
        })
        .collect();
    p.put_ok("crm", &job, json!(docs)).await;
    let view = p.finish("crm", &job).await;
    assert_eq!(view["report"]["counts"]["added"], 6, "{view}");

    // Five of six named again: one swept.
    let job = p.start("crm", "full").await;
    p.put_ok("crm", &job, json!(docs[..5])).await;
    let view = p.finish("crm", &job).await;
    assert_eq!(view["report"]["state"], "succeeded", "{view}");
    assert_eq!(view["report"]["counts"]["deleted"], 1, "{view}");
    assert_eq!(view["report"]["counts"]["unchanged"], 5, "{view}");
    assert_eq!(p.visible(BOB).await.len(), 5);

    // One of five named: sweeping four (80%) is over the guard's 50%: nothing deleted, and
    // the report says why.
    let job = p.start("crm", "full").await;
    p.put_ok("crm", &job, json!(docs[..1])).await;
    let view = p.finish("crm", &job).await;
    assert_eq!(view["report"]["state"], "failed", "{view}");
    assert_eq!(view["report"]["counts"]["deleted"], 0, "{view}");
    let errors = view["report"]["errors"].to_string();
    assert!(
        errors.contains("mass") || errors.contains("allow_mass_delete"),
        "{errors}"
    );
    assert_eq!(p.visible(BOB).await.len(), 5, "nothing was deleted");

    // An incremental job never sweeps, finished or not.
    let job = p.start("crm", "incremental").await;
    p.put_ok("crm", &job, json!(docs[..1])).await;
    let view = p.finish("crm", &job).await;
    assert_eq!(view["report"]["counts"]["deleted"], 0, "{view}");
    assert_eq!(p.visible(BOB).await.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_job_keeps_what_was_put_and_deletes_nothing() {
    let p = Push::new().await;
    let job = p.start("short", "incremental").await;
    p.put_ok(
        "short",
        &job,
        json!([
            text_doc("a", "apricot", &["everyone"]),
            text_doc("b", "apricot", &["everyone"])
        ]),
    )
    .await;
    p.finish("short", &job).await;

    // A full job that names one of the two and is then abandoned: it expires (the source's
    // `job_ttl_secs` is 1), what it put is indexed, and the other document is not swept.
    let job = p.start("short", "full").await;
    p.put_ok(
        "short",
        &job,
        json!([text_doc("c", "apricot", &["everyone"])]),
    )
    .await;
    let view = p.ended("short", &job).await;
    assert_eq!(view["state"], "expired", "{view}");
    assert_eq!(view["report"]["counts"]["deleted"], 0, "{view}");
    let errors = view["report"]["errors"].to_string();
    assert!(errors.contains("expired"), "{errors}");
    assert_eq!(p.visible(BOB).await, ["short:a", "short:b", "short:c"]);
    // An expired job takes nothing more, and the source takes a new job.
    let (status, body) = p
        .put("short", &job, json!([text_doc("d", "x", &["everyone"])]))
        .await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    let job = p.start("short", "incremental").await;
    let view = p.ended("short", &job).await;
    assert_eq!(
        view["state"], "expired",
        "an untouched job expires too: {view}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_daemon_indexes_what_it_accepted_then_refuses_more() {
    let p = Push::new().await;
    let job = p.start("crm", "full").await;
    // More than the run reads before the stop: most still wait in the job's channel.
    let docs: Vec<_> = (0..300)
        .map(|i| text_doc(&format!("d{i:03}"), "kiwi", &["everyone"]))
        .collect();
    p.put_ok("crm", &job, json!(docs)).await;
    p.jobs.shutdown();
    let (status, body) = p
        .put(
            "crm",
            &job,
            json!([text_doc("late", "kiwi", &["everyone"])]),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    tokio::time::timeout(Duration::from_secs(60), p.jobs.idle())
        .await
        .expect("the job's run stops");
    let view = p.job("crm", &job).await;
    assert_eq!(view["state"], "ended", "{view}");
    assert_eq!(view["report"]["state"], "stopped", "{view}");
    let counts = &view["report"]["counts"];
    assert_eq!(
        (&counts["added"], &counts["deleted"]),
        (&json!(300), &json!(0)),
        "{view}"
    );
    assert_eq!(p.visible(BOB).await.len(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_daemon_indexes_what_a_finished_job_still_queues() {
    let p = Push::new().await;
    let job = p.start("crm", "incremental").await;
    let docs: Vec<_> = (0..300)
        .map(|i| text_doc(&format!("d{i:03}"), "kiwi", &["everyone"]))
        .collect();
    p.put_ok("crm", &job, json!(docs)).await;
    let (status, view) = p
        .send(
            "POST",
            &format!("/v1/sources/crm/jobs/{job}/finish"),
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{view}");
    // Finished, not yet read: the documents and the finish still wait in the channel.
    p.jobs.shutdown();
    tokio::time::timeout(Duration::from_secs(60), p.jobs.idle())
        .await
        .expect("the job's run ends");
    let view = p.job("crm", &job).await;
    assert_eq!(view["report"]["counts"]["added"], 300, "{view}");
    assert_eq!(p.visible(BOB).await.len(), 300);
}
