//! Revoked access is revoked on the run that lists it, whatever happens to the content.
//!
//! Each case narrows a document's ACL from `all-staff` to `execs` in the same change that
//! makes its new content fail. The old text may stay searchable (nothing is deleted that was
//! not proven deleted), but only under the new ACL; when the ACL itself cannot be
//! determined, nobody sees the document.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use connector_filesystem::{FileReader, FilesystemConnector, StdFileReader};
use connector_sdk::{Connector, ConnectorError, ErrorKind};
use sync_core::{Engine, Identities, RunReport, RunState, Source, SyncOptions};

use fault_proxy::Fault;

use crate::s3::{self, Bucket};
use crate::support::{World, hits, sync, visible};

/// After the run that narrowed `doc` and failed its content with `kind`: the report counts
/// the failure (or skip) and the ACL update, `bob` (all-staff) lost access, and `erin` (an
/// exec) still finds the old text when `exec_sees`, or nobody does (an unknown ACL).
fn check_revoked(
    engine: &Engine,
    report: &RunReport,
    doc: &str,
    kind: &str,
    skipped: bool,
    exec_sees: bool,
) {
    let c = &report.counts;
    assert_eq!(report.state, RunState::Partial, "{kind}: {report:?}");
    assert_eq!(
        (c.acl_updated, c.failed, c.skipped, c.unchanged),
        (1, u64::from(!skipped), u64::from(skipped), 1),
        "{kind}: {report:?}"
    );
    let failed: Vec<(&str, &str)> = report
        .failed_documents
        .iter()
        .map(|f| (f.doc_id.as_str(), f.kind.as_str()))
        .collect();
    assert_eq!(failed, [(doc, kind)]);
    let ids = identities();
    let bob = visible(engine, &ids, "bob@example.com");
    assert!(!bob.contains(doc), "{kind}: bob still sees {doc}");
    assert_eq!(bob.len(), 1, "{kind}: bob keeps the open document");
    assert_eq!(hits(engine, &ids, "bob@example.com", "budget"), 0);
    // Nothing unproven was deleted: the exec still finds the old text, unless the ACL is
    // unknown, when nobody does.
    let erin = visible(engine, &ids, "erin@example.com");
    assert_eq!(erin.contains(doc), exec_sees, "{kind}: erin and {doc}");
    assert_eq!(
        hits(engine, &ids, "erin@example.com", "budget") > 0,
        exec_sees
    );
}

/// `bob` is all-staff only; `erin` is an exec (and all-staff).
pub(crate) fn identities() -> Identities {
    crate::support::file_identities(
        br#"{"users": {"bob@example.com": ["all-staff"],
                       "erin@example.com": ["all-staff", "execs"]}}"#,
        &["docs", "s3docs"],
    )
}

/// Fails every read while `failing` is set, as a flaky network share would.
#[derive(Debug, Default)]
struct FlakyReader {
    failing: AtomicBool,
}

impl FileReader for FlakyReader {
    fn read(&self, path: &Path, max: u64) -> Result<Vec<u8>, ConnectorError> {
        if self.failing.load(Ordering::Relaxed) && path.ends_with("plan.json") {
            return Err(ConnectorError::new(
                ErrorKind::Transient,
                "read plan.json: connection reset by the file server",
            ));
        }
        StdFileReader.read(path, max)
    }
}

/// How the second run's new content fails.
#[derive(Debug, Clone, Copy)]
enum Failure {
    TooLarge,
    Corrupt,
    Timeout,
    FetchError,
    /// S3 only: the metadata sidecar, which carries the ACL, cannot be read.
    Sidecar,
}

/// Syncs `plan.json` (all-staff), then narrows it to execs while making its new content fail
/// as `failure` says, syncs again, and checks the second run's report and who sees what.
async fn check_fs(failure: Failure, kind: &str, skipped: bool) {
    let w = World::new();
    w.write("plan.json", items("draft"));
    w.write("open.txt", "the canteen menu");
    w.acl(&[("", &[("all-staff", "GROUP", "ALLOW")])]);
    let reader = Arc::new(FlakyReader::default());
    let connector = FilesystemConnector::with_reader(w.config(), Arc::clone(&reader) as _)
        .expect("valid config");
    let source = Source::new("docs", Arc::new(connector) as Arc<dyn Connector>);
    let engine = w.engine();
    let ids = identities();
    let mut options = SyncOptions::default();
    options.limits.max_input_bytes = 256 * 1024;
    let first = sync(&engine, &source, &options).await;
    assert_eq!(first.state, RunState::Succeeded, "{first:?}");
    assert!(hits(&engine, &ids, "bob@example.com", "budget") > 0);

    w.acl(&[
        ("", &[("all-staff", "GROUP", "ALLOW")]),
        ("plan.json", &[("execs", "GROUP", "ALLOW")]),
    ]);
    match failure {
        Failure::TooLarge => w.write("plan.json", items(&"x".repeat(200))),
        Failure::Corrupt => w.write("plan.json", b"{\"item\": \"\xff\xfe budget\"}"),
        Failure::Timeout => {
            w.write("plan.json", items("final"));
            options.limits.timeout = Duration::ZERO;
        }
        Failure::FetchError => {
            w.write("plan.json", items("final"));
            reader.failing.store(true, Ordering::Relaxed);
        }
        Failure::Sidecar => unreachable!("a folder has no sidecars"),
    }
    let second = sync(&engine, &source, &options).await;
    check_revoked(&engine, &second, "plan.json", kind, skipped, true);

    // The next run tries the content again (and, once it can be read, indexes it).
    reader.failing.store(false, Ordering::Relaxed);
    options.limits.timeout = SyncOptions::default().limits.timeout;
    w.write("plan.json", r#"{"item": "budget restored"}"#);
    let third = sync(&engine, &source, &options).await;
    assert_eq!(
        (third.state, third.counts.modified, third.counts.unchanged),
        (RunState::Succeeded, 1, 1),
        "{failure:?}: {third:?}"
    );
    assert_eq!(hits(&engine, &ids, "erin@example.com", "restored"), 1);
    assert_eq!(hits(&engine, &ids, "bob@example.com", "budget"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrowed_acl_lands_when_the_new_content_is_too_large() {
    check_fs(Failure::TooLarge, "too_large", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrowed_acl_lands_when_the_new_content_is_corrupt() {
    check_fs(Failure::Corrupt, "corrupt", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrowed_acl_lands_when_extraction_times_out() {
    check_fs(Failure::Timeout, "timeout", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrowed_acl_lands_when_the_fetch_fails() {
    check_fs(Failure::FetchError, "transient", false).await;
}

/// A JSON document with enough nodes for the extractor to look at its deadline (every
/// 4,096 nodes).
fn items(note: &str) -> String {
    let items: Vec<String> = (0..2000)
        .map(|i| format!(r#"{{"quarter": "q{i}", "item": "budget cut", "note": "{note}"}}"#))
        .collect();
    format!("[{}]", items.join(","))
}

/// A sidecar whose ACL lets `group` read its document.
fn sidecar(group: &str) -> String {
    format!(
        r#"{{"AccessControlList": [{{"Name": "{group}", "Type": "GROUP", "Access": "ALLOW"}}]}}"#
    )
}

fn sidecar_get(seen: &fault_proxy::Seen) -> bool {
    fault_proxy::s3::get_object(seen) && seen.path.ends_with("/plan.json.metadata.json")
}

fn plan_get(seen: &fault_proxy::Seen) -> bool {
    fault_proxy::s3::get_object(seen) && seen.path.ends_with("/plan.json")
}

/// The same story on S3 (moto), where the ACL comes from the ACL file or a sidecar.
async fn check_s3(failure: Failure, kind: &str, skipped: bool) {
    let bucket = Bucket::new(&format!("revoke-{failure:?}").to_lowercase()).await;
    bucket.put("plan.json", items("draft")).await;
    bucket.put("open.txt", "the canteen menu").await;
    let with_sidecar = matches!(failure, Failure::Sidecar);
    if with_sidecar {
        bucket
            .put("plan.json.metadata.json", sidecar("all-staff"))
            .await;
    }
    bucket
        .acl(&[("", &[("all-staff", "GROUP", "ALLOW")])])
        .await;
    let proxy = s3::proxy().await;
    let mut config = bucket.config(&proxy);
    config.max_attempts = 2;
    let source = s3::source(config);
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path()).expect("engine");
    let mut options = SyncOptions::default();
    options.limits.max_input_bytes = 256 * 1024;
    let first = sync(&engine, &source, &options).await;
    assert_eq!(first.state, RunState::Succeeded, "{first:?}");
    assert!(hits(&engine, &identities(), "bob@example.com", "budget") > 0);

    if with_sidecar {
        bucket
            .put("plan.json.metadata.json", sidecar("execs"))
            .await;
    } else {
        bucket
            .acl(&[
                ("", &[("all-staff", "GROUP", "ALLOW")]),
                ("plan.json", &[("execs", "GROUP", "ALLOW")]),
            ])
            .await;
    }
    match failure {
        Failure::TooLarge => bucket.put("plan.json", items(&"x".repeat(200))).await,
        Failure::Corrupt => {
            bucket
                .put("plan.json", b"{\"item\": \"\xff\xfe\"}".to_vec())
                .await
        }
        Failure::Timeout => {
            bucket.put("plan.json", items("final")).await;
            options.limits.timeout = Duration::ZERO;
        }
        Failure::FetchError => {
            bucket.put("plan.json", items("final")).await;
            proxy.inject(plan_get, Fault::status(403, "AccessDenied"), 100);
        }
        Failure::Sidecar => proxy.inject(sidecar_get, Fault::status(403, "AccessDenied"), 100),
    }
    let second = sync(&engine, &source, &options).await;
    check_revoked(&engine, &second, "plan.json", kind, skipped, !with_sidecar);

    // Once the source answers again, the document is indexed under the new ACL.
    proxy.clear();
    options.limits.timeout = SyncOptions::default().limits.timeout;
    bucket
        .put("plan.json", r#"{"item": "budget restored"}"#)
        .await;
    let third = sync(&engine, &source, &options).await;
    assert_eq!(
        (third.state, third.counts.modified, third.counts.unchanged),
        (RunState::Succeeded, 1, 1),
        "{failure:?}: {third:?}"
    );
    let ids = identities();
    assert_eq!(hits(&engine, &ids, "erin@example.com", "restored"), 1);
    assert_eq!(hits(&engine, &ids, "bob@example.com", "budget"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_a_narrowed_acl_lands_when_the_new_object_is_too_large() {
    check_s3(Failure::TooLarge, "too_large", true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_a_narrowed_acl_lands_when_the_new_object_is_corrupt() {
    check_s3(Failure::Corrupt, "corrupt", false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_a_narrowed_acl_lands_when_extraction_times_out() {
    check_s3(Failure::Timeout, "timeout", false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_a_narrowed_acl_lands_when_the_download_is_denied() {
    check_s3(Failure::FetchError, "permanent", false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_an_unreadable_sidecar_makes_the_document_invisible() {
    check_s3(Failure::Sidecar, "permanent", false).await;
}
