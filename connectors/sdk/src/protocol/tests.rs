use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::*;
use crate::{
    Acl, ByteStream, Change, ChangeStream, Connector, ConnectorError, ErrorKind, Principal,
    RemoteDocument, SyncContext,
};

#[test]
fn documents_round_trip_and_absent_acl_is_invisible() {
    let mut acl = Acl::default();
    acl.allow.insert(Principal::group("eng:core"));
    acl.deny.insert(Principal::user("Mallory@Example.com"));
    let mut doc = RemoteDocument::new("a/b", "v1", acl);
    doc.title = Some("B".into());
    let wire = WireDocument::from(&doc);
    assert_eq!(wire.acl.allow, ["group:eng:core"]);
    let back = RemoteDocument::try_from(wire).expect("round trip");
    assert_eq!(back, doc);

    let bare: WireDocument = serde_json::from_str(r#"{"id":"x","version":"1"}"#).expect("minimal");
    let bare = RemoteDocument::try_from(bare).expect("valid");
    assert!(bare.acl.allow.is_empty(), "no acl: nobody");
}

#[test]
fn an_unknown_principal_refuses_the_whole_acl_rather_than_widening_it() {
    let wire: WireChange = serde_json::from_str(
        r#"{"kind":"permissions","doc_id":"x","acl":{"allow":["group:a"],"deny":["robot:r2"]}}"#,
    )
    .expect("parses");
    let err = Change::try_from(wire).expect_err("unknown term");
    assert_eq!(err.kind, ErrorKind::InvalidResponse);
    assert!(err.message.contains("robot:r2"), "{}", err.message);
}

#[test]
fn errors_keep_their_kind_and_unknown_kinds_are_invalid_responses() {
    let e: ConnectorError = serde_json::from_str::<WireError>(
        r#"{"kind":"rate_limited","message":"slow down","retry_after_secs":2.5}"#,
    )
    .expect("parses")
    .into();
    assert_eq!(
        e.kind,
        ErrorKind::RateLimited {
            retry_after: Some(std::time::Duration::from_millis(2500))
        }
    );
    let e: ConnectorError = WireError {
        kind: "oops".into(),
        message: "m".into(),
        retry_after_secs: None,
    }
    .into();
    assert_eq!(e.kind, ErrorKind::InvalidResponse);
}

#[derive(Debug)]
struct Three;

#[async_trait]
impl Connector for Three {
    fn kind(&self) -> &'static str {
        "three"
    }
    async fn check(&self, _: &SyncContext) -> Result<(), ConnectorError> {
        Ok(())
    }
    fn full<'a>(&'a self, _: &'a SyncContext, _: Option<&'a SourceCheckpoint>) -> ChangeStream<'a> {
        let docs = (0..3).map(|i| {
            Ok(Change::Upsert(RemoteDocument::new(
                format!("d{i}"),
                "1",
                Acl::everyone(),
            )))
        });
        futures::stream::iter(docs.chain([Ok(Change::ListingComplete)])).boxed()
    }
    fn incremental<'a>(&'a self, cx: &'a SyncContext, _: &'a SourceCheckpoint) -> ChangeStream<'a> {
        self.full(cx, None)
    }
    async fn fetch(
        &self,
        _: &SyncContext,
        doc: &RemoteDocument,
    ) -> Result<ByteStream, ConnectorError> {
        let body = Bytes::from(vec![b'x'; MAX_FRAME_BYTES + 10]);
        if doc.id.as_str() == "missing" {
            return Err(ConnectorError::new(ErrorKind::NotFound, "gone"));
        }
        Ok(futures::stream::iter([Ok(body)]).boxed())
    }
}

/// The listing waits for the engine's window, fetch frames are bounded and a fetch
/// answers while the listing is stalled.
#[tokio::test]
async fn serve_respects_the_window_and_answers_fetches_meanwhile() {
    let (engine_side, plugin_side) = tokio::io::duplex(1 << 20);
    let (plugin_in, plugin_out) = tokio::io::split(plugin_side);
    let build: Build = Box::new(|_| Ok(Arc::new(Three) as Arc<dyn Connector>));
    let server = tokio::spawn(serve(plugin_in, plugin_out, build, Capabilities::default()));
    let (engine_in, mut engine_out) = tokio::io::split(engine_side);
    let mut lines = BufReader::new(engine_in).lines();
    let mut next = async || -> Reply {
        loop {
            let line = lines.next_line().await.expect("read").expect("a line");
            let reply: Reply = serde_json::from_str(&line).expect("protocol line");
            if reply != Reply::Heartbeat {
                return reply;
            }
        }
    };
    assert!(matches!(
        next().await,
        Reply::Hello(Hello { protocol: 1, .. })
    ));
    let mut send = async |r: Request| {
        let mut line = serde_json::to_vec(&r).expect("json");
        line.push(b'\n');
        engine_out.write_all(&line).await.expect("write");
    };
    send(Request::Init {
        id: 1,
        source_id: "s".into(),
        run_id: "r".into(),
        max_document_bytes: 1 << 20,
        heartbeat_secs: 60,
        config: serde_json::json!({}),
    })
    .await;
    assert_eq!(next().await, Reply::Ok { id: 1 });
    send(Request::Full {
        id: 2,
        resume: None,
        window: 0,
    })
    .await;
    send(Request::Fetch {
        id: 3,
        document: WireDocument::from(&RemoteDocument::new("d0", "1", Acl::everyone())),
    })
    .await;
    // Window 0: nothing of the listing, the fetch's two frames and its end.
    for _ in 0..2 {
        let Reply::Content { id: 3, data } = next().await else {
            panic!("a frame")
        };
        assert!(data.len() <= MAX_FRAME_BYTES * 4 / 3 + 4);
    }
    assert_eq!(next().await, Reply::End { id: 3 });
    send(Request::Fetch {
        id: 4,
        document: WireDocument::from(&RemoteDocument::new("missing", "1", Acl::everyone())),
    })
    .await;
    let Reply::Error { id: 4, error, .. } = next().await else {
        panic!("an error")
    };
    assert_eq!(error.kind, "not_found");
    send(Request::Ack { id: 2, count: 4 }).await;
    let mut kinds = Vec::new();
    loop {
        match next().await {
            Reply::Change { id: 2, change } => kinds.push(change),
            Reply::End { id: 2 } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(kinds.len(), 4);
    assert_eq!(kinds[3], WireChange::ListingComplete);
    // The plugin's stdin closes: it stops and its output ends.
    engine_out.shutdown().await.expect("close");
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("the plugin exits when its input closes")
        .expect("joins")
        .expect("clean exit on eof");
}
