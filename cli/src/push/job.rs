//! The connector of one push job: its listing is what the job's requests send down a
//! bounded channel, and its `fetch` hands out the bytes a put carried as base64, held in the
//! job's memory until the engine reads them ([`Held`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use connector_sdk::{
    ByteStream, Change, ChangeStream, Connector, ConnectorError, DocumentId, ErrorKind,
    RemoteDocument, SourceCheckpoint, SyncContext,
};
use futures::StreamExt as _;
use tokio::sync::{Notify, mpsc, oneshot};

/// What a job's requests send to its run, in order.
#[derive(Debug)]
pub enum Item {
    /// A document put (its bytes, if any, are in [`Held`] already).
    Upsert(Box<RemoteDocument>),
    /// A document deleted.
    Delete(DocumentId),
    /// The client finished the job: a full job's listing is complete.
    Finish,
    /// Nobody touched the job for this long: the listing ends incomplete.
    Expired(Duration),
}

/// The most bytes of base64 content one job holds that the engine has not read yet; a put
/// that would go over waits for the engine to read some.
pub const MAX_HELD_BYTES: usize = 256 * 1024 * 1024;

/// Bytes of documents put with base64 content, by id and version, until the engine fetches
/// them. A document the engine decides not to fetch (its version is indexed already) is not
/// held at all: the put checks the manifest first (`Jobs::put`).
#[derive(Debug, Default)]
pub struct Held {
    blobs: Mutex<HashMap<(DocumentId, String), Bytes>>,
    bytes: std::sync::atomic::AtomicUsize,
    freed: Notify,
}

impl Held {
    /// Holds `bytes` for version `version` of `id`, waiting while the job holds too much.
    /// Gives up after `patience` (the engine is not reading: it is stuck or gone).
    pub async fn hold(
        &self,
        id: DocumentId,
        version: String,
        bytes: Bytes,
        patience: Duration,
    ) -> Result<(), Duration> {
        use std::sync::atomic::Ordering::SeqCst;
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let freed = self.freed.notified();
            let held = self.bytes.load(SeqCst);
            // One blob larger than the budget still goes in when nothing else is held.
            if held == 0 || held + bytes.len() <= MAX_HELD_BYTES {
                self.bytes.fetch_add(bytes.len(), SeqCst);
                let old = self.lock().insert((id, version), bytes);
                if let Some(old) = old {
                    self.bytes.fetch_sub(old.len(), SeqCst);
                }
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(patience);
            }
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.bytes.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn take(&self, id: &DocumentId, version: &str) -> Option<Bytes> {
        let taken = self.lock().remove(&(id.clone(), version.to_string()));
        if let Some(b) = &taken {
            self.bytes
                .fetch_sub(b.len(), std::sync::atomic::Ordering::SeqCst);
            self.freed.notify_waiters();
        }
        taken
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(DocumentId, String), Bytes>> {
        // A panic while holding the map leaves it whole (inserts and removes are single
        // calls): go on with it.
        self.blobs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One job's connector. The engine calls `full` (a full job) or `incremental` once; the
/// stream it gets reads the channel until the job finishes or expires.
pub struct JobConnector {
    feed: Mutex<Option<mpsc::Receiver<Item>>>,
    /// Told the run's id when the engine starts listing: the job's id.
    started: Mutex<Option<oneshot::Sender<String>>>,
    held: std::sync::Arc<Held>,
    full: bool,
}

impl JobConnector {
    pub fn new(
        feed: mpsc::Receiver<Item>,
        started: oneshot::Sender<String>,
        held: std::sync::Arc<Held>,
        full: bool,
    ) -> Self {
        JobConnector {
            feed: Mutex::new(Some(feed)),
            started: Mutex::new(Some(started)),
            held,
            full,
        }
    }

    fn listing(&self, cx: &SyncContext) -> ChangeStream<'static> {
        let feed = self.feed.lock().ok().and_then(|mut f| f.take());
        if let Some(started) = self.started.lock().ok().and_then(|mut s| s.take()) {
            let _ = started.send(cx.run_id.clone());
        }
        let Some(feed) = feed else {
            return futures::stream::once(async {
                Err(ConnectorError::new(
                    ErrorKind::Permanent,
                    "a push job is listed once",
                ))
            })
            .boxed();
        };
        let full = self.full;
        // The state: the channel, or `None` once the listing has ended.
        futures::stream::unfold(Some(feed), move |feed| async move {
            let mut feed = feed?;
            let item = match feed.recv().await {
                Some(Item::Upsert(doc)) => Ok(Change::Upsert(*doc)),
                Some(Item::Delete(id)) => Ok(Change::Delete(id)),
                Some(Item::Finish) if full => return Some((Ok(Change::ListingComplete), None)),
                Some(Item::Finish) => return None,
                Some(Item::Expired(after)) => {
                    return Some((
                        Err(ConnectorError::new(
                            ErrorKind::Transient,
                            format!(
                                "the push job expired: no request for {} s; nothing was swept",
                                after.as_secs()
                            ),
                        )),
                        None,
                    ));
                }
                // Every sender gone without a `Finish`: the daemon dropped the job.
                None => {
                    return Some((
                        Err(ConnectorError::new(
                            ErrorKind::Transient,
                            "the push job was abandoned; nothing was swept",
                        )),
                        None,
                    ));
                }
            };
            Some((item, Some(feed)))
        })
        .boxed()
    }
}

#[async_trait]
impl Connector for JobConnector {
    fn kind(&self) -> &'static str {
        super::KIND
    }

    async fn check(&self, _cx: &SyncContext) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn full<'a>(
        &'a self,
        cx: &'a SyncContext,
        _resume: Option<&'a SourceCheckpoint>,
    ) -> ChangeStream<'a> {
        self.listing(cx)
    }

    fn incremental<'a>(
        &'a self,
        cx: &'a SyncContext,
        _since: &'a SourceCheckpoint,
    ) -> ChangeStream<'a> {
        self.listing(cx)
    }

    async fn fetch(
        &self,
        _cx: &SyncContext,
        doc: &RemoteDocument,
    ) -> Result<ByteStream, ConnectorError> {
        // Not held: a document on the retry list from an earlier job, or a put the engine
        // reads twice (the same id and version twice in one job). Its old chunks stay; the
        // client puts it again.
        let bytes = self.held.take(&doc.id, &doc.version).ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Transient,
                format!(
                    "the content of {:?} is not held by this job: put the document again",
                    doc.id.as_str()
                ),
            )
        })?;
        Ok(futures::stream::once(async move { Ok(bytes) }).boxed())
    }
}
