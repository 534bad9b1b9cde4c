//! `/metrics`: the series `Metrics::record_run` feeds and the gauges of each scrape.

use axum::http::StatusCode;
use schedules::{Health, RunningStatus, SyncKind};
use sync_core::{RunMode, RunReport, RunState};

use super::{Fixture, at};
use crate::api::Metrics;
use crate::api::metrics::{Scrape, SourceGauges};

/// The value of the series `name{labels}` (labels exactly as encoded), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

fn failed_run(report: &RunReport) -> RunReport {
    let mut r = report.clone();
    r.id += 1;
    r.state = RunState::Failed;
    r.counts = Default::default();
    r.counts.failed = 2;
    r.counts.bytes = 100;
    r.rate_limited.pauses = 3;
    r.rate_limited.waited_ms = 2500;
    r.finished_at = Some(r.started_at + time::Duration::seconds(42));
    r
}

#[tokio::test]
async fn record_run_feeds_the_run_document_byte_and_duration_series() {
    let f = Fixture::synced().await;
    let report = f.report.clone().expect("synced");
    let (_, before) = f.get_text("/metrics").await;
    assert_eq!(
        value(
            &before,
            r#"tributary_runs_total{source="sample",kind="content",state="succeeded"}"#
        ),
        None,
        "nothing recorded yet"
    );
    f.metrics.record_run(&report, "content");
    f.metrics.record_run(&failed_run(&report), "full");
    let (status, text) = f.get_text("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let expect = [
        (
            r#"tributary_runs_total{source="sample",kind="content",state="succeeded"}"#,
            1.0,
        ),
        (
            r#"tributary_runs_total{source="sample",kind="full",state="failed"}"#,
            1.0,
        ),
        (
            r#"tributary_documents_total{source="sample",outcome="added"}"#,
            report.counts.added as f64,
        ),
        (
            r#"tributary_documents_total{source="sample",outcome="failed"}"#,
            2.0,
        ),
        (
            r#"tributary_documents_total{source="sample",outcome="deleted"}"#,
            0.0,
        ),
        (
            r#"tributary_fetched_bytes_total{source="sample"}"#,
            (report.counts.bytes + 100) as f64,
        ),
        (
            r#"tributary_rate_limited_seconds_total{source="sample"}"#,
            2.5,
        ),
        (r#"tributary_rate_limit_pauses_total{source="sample"}"#, 3.0),
        (
            r#"tributary_run_duration_seconds_count{source="sample",kind="full"}"#,
            1.0,
        ),
        (
            r#"tributary_run_duration_seconds_sum{source="sample",kind="full"}"#,
            42.0,
        ),
        (
            r#"tributary_run_duration_seconds_bucket{source="sample",kind="full",le="30"}"#,
            0.0,
        ),
        (
            r#"tributary_run_duration_seconds_bucket{source="sample",kind="full",le="60"}"#,
            1.0,
        ),
    ];
    for (series, want) in expect {
        assert_eq!(value(&text, series), Some(want), "{series} in\n{text}");
    }
    assert!(report.counts.added > 0 && report.counts.bytes > 0);
    for family in [
        "tributary_runs_total counter",
        "tributary_documents_total counter",
        "tributary_run_duration_seconds histogram",
        "tributary_index_documents gauge",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family}\n")),
            "{family} in\n{text}"
        );
    }
}

#[tokio::test]
async fn scrape_gauges_come_from_the_scheduler_the_store_and_the_index() {
    let f = Fixture::synced().await;
    {
        let mut statuses = f.control.statuses.lock().expect("lock");
        statuses[1].health = Health::Unhealthy;
        statuses[1].consecutive_failures = 4;
        statuses[0].running = Some(RunningStatus {
            kind: SyncKind::Content,
            since: at("2026-05-01T04:00:00Z"),
            last_progress: at("2026-05-01T04:00:00Z"),
            rate_limited: false,
            stalled: true,
        });
    }
    let (status, text) = f.get_text("/metrics").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let report = f.report.as_ref().expect("synced");
    let finished = report.finished_at.expect("finished");
    let expect = [
        (r#"tributary_index_documents{source="sample"}"#, 31.0),
        (r#"tributary_index_documents{source="notes"}"#, 0.0),
        (r#"tributary_pending_retries{source="sample"}"#, 0.0),
        (r#"tributary_source_healthy{source="sample"}"#, 1.0),
        (r#"tributary_source_healthy{source="notes"}"#, 0.0),
        (
            r#"tributary_source_consecutive_failures{source="notes"}"#,
            4.0,
        ),
        ("tributary_running_runs", 1.0),
        ("tributary_stalled_runs", 1.0),
    ];
    for (series, want) in expect {
        assert_eq!(value(&text, series), Some(want), "{series} in\n{text}");
    }
    let last = value(
        &text,
        r#"tributary_last_success_timestamp_seconds{source="sample",run="documents"}"#,
    )
    .expect("last success of the sample");
    assert!(
        (last - finished.unix_timestamp() as f64).abs() < 1.0,
        "{last} vs {finished}"
    );
    assert_eq!(
        value(
            &text,
            r#"tributary_last_success_timestamp_seconds{source="notes",run="documents"}"#
        ),
        None,
        "never synced: no timestamp rather than 0"
    );
    let index_bytes = value(&text, "tributary_index_size_bytes").expect("index size");
    assert!(index_bytes > 10_000.0, "{index_bytes}");
    assert!(value(&text, "tributary_store_size_bytes").expect("store size") > 0.0);
}

#[test]
fn only_completed_runs_count_as_successes() {
    let start = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let run = |id: u64, mode, state, end: i64| RunReport {
        id,
        source: "s".into(),
        mode,
        reason: None,
        state,
        started_at: start,
        finished_at: Some(start + time::Duration::seconds(end)),
        counts: Default::default(),
        skipped_by_reason: Default::default(),
        failed_documents: Vec::new(),
        errors: Vec::new(),
        rate_limited: Default::default(),
    };
    let runs = [
        run(1, RunMode::Full, RunState::Succeeded, 10),
        run(2, RunMode::Incremental, RunState::Partial, 20),
        run(3, RunMode::Identities, RunState::Succeeded, 30),
        run(4, RunMode::Incremental, RunState::Failed, 40),
        run(5, RunMode::Identities, RunState::Partial, 50),
        run(6, RunMode::Incremental, RunState::Stopped, 60),
    ];
    let at = |secs: i64| Some((start + time::Duration::seconds(secs)).unix_timestamp() as f64);
    assert_eq!(
        super::super::handlers::last_success(&runs, "s", false),
        at(20)
    );
    assert_eq!(
        super::super::handlers::last_success(&runs, "s", true),
        at(30)
    );
    assert_eq!(
        super::super::handlers::last_success(&runs, "t", false),
        None
    );
}

#[test]
fn a_removed_source_leaves_the_scrape() {
    let metrics = Metrics::new();
    let gauges = |ids: &[&str]| Scrape {
        sources: ids
            .iter()
            .map(|id| SourceGauges {
                source: id.to_string(),
                documents: 7,
                ..SourceGauges::default()
            })
            .collect(),
        ..Scrape::default()
    };
    let both = metrics.encode(&gauges(&["a", "b"]));
    assert_eq!(
        value(&both, r#"tributary_index_documents{source="b"}"#),
        Some(7.0)
    );
    let one = metrics.encode(&gauges(&["a"]));
    assert_eq!(
        value(&one, r#"tributary_index_documents{source="a"}"#),
        Some(7.0)
    );
    assert_eq!(
        value(&one, r#"tributary_index_documents{source="b"}"#),
        None,
        "{one}"
    );
}
