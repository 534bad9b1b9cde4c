//! Push sources' config (no schedule, a bounded time to live), reading batches (every
//! refusal names its field; versions follow what is indexed), and the job's connector.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use connector_sdk::{Change, Connector, Content, Principal, SyncContext};
use futures::StreamExt as _;
use tokio::sync::{mpsc, oneshot};

use super::job::{Held, Item, JobConnector};
use super::wire::{RefusalKind, read_delete, read_put};
use crate::config::Config;

fn config(source: &str) -> Result<Config, crate::config::Problems> {
    let text = format!("[index]\npath = \"data\"\n[[sources]]\n{source}");
    Config::parse(&text, Path::new("/base"), "t.toml")
}

#[test]
fn a_push_source_runs_on_no_schedule_and_its_ttl_is_bounded() {
    let c = config("id = \"crm\"\ntype = \"push\"").expect("valid");
    let s = &c.sources[0];
    assert_eq!(s.type_name(), "push");
    assert!(
        s.schedule.content.is_none() && s.schedule.full.is_none(),
        "{:?}",
        s.schedule
    );
    let p = config("id = \"crm\"\ntype = \"push\"\nschedule = { content = \"5m\", full = \"1d\" }")
        .expect_err("a schedule is refused");
    let keys: Vec<&str> = p.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        ["sources[0].schedule.content", "sources[0].schedule.full"],
        "{p}"
    );
    assert!(config("id = \"crm\"\ntype = \"push\"\nschedule = { content = \"off\" }").is_ok());
    for bad in ["0", "86401"] {
        let p = config(&format!(
            "id = \"crm\"\ntype = \"push\"\njob_ttl_secs = {bad}"
        ))
        .expect_err("out of range");
        assert_eq!(p.problems[0].key, "sources[0].job_ttl_secs", "{p}");
    }
    let p = config("id = \"crm\"\ntype = \"push\"\nroot = \"x\"").expect_err("unknown key");
    assert_eq!(p.problems[0].key, "sources[0].root", "{p}");
}

#[tokio::test]
async fn a_push_source_outside_a_job_lists_nothing_and_says_why() {
    let c = config("id = \"crm\"\ntype = \"push\"").expect("valid");
    let connector = c.sources[0].build().expect("builds");
    let cx = SyncContext {
        source_id: "crm".into(),
        run_id: "1".into(),
        limits: Default::default(),
    };
    let first = connector.full(&cx, None).next().await.expect("one item");
    let e = first.expect_err("an error");
    assert!(e.message.contains("daemon's API"), "{e}");
    assert!(connector.check(&cx).await.is_err());
}

#[test]
fn a_batch_reads_into_documents_with_versions_that_ignore_the_acl() {
    let batch = |allow: &str, text: &str| {
        format!(
            r#"{{"documents": [{{"id": "a", "title": "T", "text": "{text}", "content_type": "text/markdown",
                "modified": "2026-01-02T03:04:05Z", "metadata": {{"k": 1}},
                "acl": {{"allow": ["{allow}", "group:Sales", "domain:Example.com"], "deny": ["user:Eve@Example.com"]}}}},
               {{"id": "b", "base64": "{b64}", "acl": {{"allow": ["everyone"]}}}}]}}"#,
            b64 = base64::engine::general_purpose::STANDARD.encode([0u8, 159, 146, 150])
        )
    };
    let docs = read_put(batch("user:Ann@Example.com", "# hi").as_bytes()).expect("valid");
    let (a, b) = (&docs[0].doc, &docs[1].doc);
    assert_eq!(a.content, Content::Inline("# hi".into()));
    assert!(docs[0].bytes.is_none());
    assert!(a.acl.allow.contains(&Principal::user("ann@example.com")));
    assert!(
        a.acl.allow.contains(&Principal::group("Sales")),
        "group ids keep their case"
    );
    assert!(a.acl.allow.contains(&Principal::domain("example.com")));
    assert!(a.acl.deny.contains(&Principal::user("eve@example.com")));
    assert_eq!(a.content_type.as_deref(), Some("text/markdown"));
    assert_eq!(a.metadata["k"], 1);
    assert_eq!(b.content, Content::Fetch);
    assert_eq!(docs[1].bytes.as_deref(), Some(&[0u8, 159, 146, 150][..]));
    assert_eq!(b.size, Some(4));
    // The ACL is not part of the version (an ACL change is not a content change); the
    // content is.
    let other_acl = read_put(batch("user:bob@example.com", "# hi").as_bytes()).expect("valid");
    assert_eq!(other_acl[0].doc.version, a.version);
    let other_text = read_put(batch("user:Ann@Example.com", "# ho").as_bytes()).expect("valid");
    assert_ne!(other_text[0].doc.version, a.version);
    assert_ne!(a.version, b.version);
}

#[test]
fn refusals_say_what_and_where() {
    let refused = |body: &str| read_put(body.as_bytes()).expect_err("refused");
    let r = refused(r#"{"documents": [{"id": "a", "text": "t", "acl": {"allow": ["user:"]}}]}"#);
    assert_eq!(r.kind, RefusalKind::Invalid);
    assert!(
        r.message.starts_with("documents[0].acl.allow[0]"),
        "{}",
        r.message
    );
    let r =
        refused(r#"{"documents": [{"id": "a", "text": "t", "acl": {"allow": ["domain:a@b"]}}]}"#);
    assert!(r.message.contains("not a domain"), "{}", r.message);
    let r = refused(&format!(
        r#"{{"documents": [{{"id": "{}", "text": "t", "acl": {{"allow": ["everyone"]}}}}]}}"#,
        "x".repeat(super::wire::MAX_ID_BYTES + 1)
    ));
    assert!(r.message.starts_with("documents[0].id"), "{}", r.message);
    let r = refused(
        r#"{"documents": [{"id": "a\u0007", "text": "t", "acl": {"allow": ["everyone"]}}]}"#,
    );
    assert!(r.message.contains("control"), "{}", r.message);
    assert_eq!(
        read_delete(br#"{"ids": ["a", "b"]}"#).expect("valid").len(),
        2
    );
    assert_eq!(
        read_delete(br#"{"ids": []}"#).expect_err("empty").kind,
        RefusalKind::Invalid
    );
}

#[tokio::test]
async fn the_job_connector_lists_its_channel_and_hands_out_held_bytes_once() {
    let (tx, rx) = mpsc::channel(4);
    let (started_tx, started) = oneshot::channel();
    let held = Arc::new(Held::default());
    let connector = JobConnector::new(rx, started_tx, Arc::clone(&held), true);
    let cx = SyncContext {
        source_id: "crm".into(),
        run_id: "42".into(),
        limits: Default::default(),
    };
    let docs = read_put(
        br#"{"documents": [{"id": "b", "base64": "AAEC", "acl": {"allow": ["everyone"]}}]}"#,
    )
    .expect("valid");
    let doc = docs[0].doc.clone();
    let bytes = docs[0].bytes.clone().expect("bytes");
    held.hold(
        doc.id.clone(),
        doc.version.clone(),
        bytes,
        Duration::from_secs(1),
    )
    .await
    .expect("room");
    assert_eq!(held.bytes(), 3);
    let mut stream = connector.full(&cx, None);
    assert_eq!(
        started.await.expect("told"),
        "42",
        "the job learns its run's id"
    );
    tx.send(Item::Upsert(Box::new(doc.clone())))
        .await
        .expect("send");
    tx.send(Item::Finish).await.expect("send");
    assert!(matches!(stream.next().await, Some(Ok(Change::Upsert(_)))));
    assert!(matches!(
        stream.next().await,
        Some(Ok(Change::ListingComplete))
    ));
    assert!(stream.next().await.is_none(), "nothing after the end");
    let body = connector.fetch(&cx, &doc).await.expect("held");
    let got = connector_sdk::read_bounded(body, 10).await.expect("bytes");
    assert_eq!(got, [0, 1, 2]);
    assert_eq!(held.bytes(), 0, "fetched bytes are let go");
    let again = connector
        .fetch(&cx, &doc)
        .await
        .err()
        .expect("not held twice");
    assert!(again.message.contains("put the document again"), "{again}");
}

#[tokio::test]
async fn an_expired_or_dropped_incremental_job_ends_its_listing_with_an_error() {
    for item in [Some(Item::Expired(Duration::from_secs(7))), None] {
        let (tx, rx) = mpsc::channel(4);
        let (started_tx, _started) = oneshot::channel();
        let connector = JobConnector::new(rx, started_tx, Arc::default(), false);
        let cx = SyncContext {
            source_id: "crm".into(),
            run_id: "1".into(),
            limits: Default::default(),
        };
        let since = connector_sdk::SourceCheckpoint::default();
        let mut stream = connector.incremental(&cx, &since);
        match item {
            Some(item) => tx.send(item).await.expect("send"),
            None => drop(tx),
        }
        let e = stream.next().await.expect("an item").expect_err("an error");
        assert!(e.message.contains("nothing was swept"), "{e}");
        assert!(stream.next().await.is_none());
    }
}
