//! Tributary connectors in any language (`type = "process"`): a plugin executable that
//! speaks the stdio JSON-lines protocol (docs/protocol.md, ADR 0025), run and supervised.
//!
//! One process per run: `full`, `incremental`, `identities` and `check` each start one,
//! and the run's fetches go to the process of its listing (while the listing streams). A
//! plugin that crashes, hangs, floods, writes garbage or speaks another protocol version
//! fails the run (or, in a fetch, its document) with a message saying which; the listing
//! then lacks `ListingComplete`, so the engine deletes nothing. The process is killed
//! when its session is dropped, and reaped.

mod config;
mod session;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use connector_sdk::protocol::{Reply, Request, WireDocument};
use connector_sdk::{
    ByteStream, Change, ChangeStream, Connector, ConnectorError, ErrorKind, Membership,
    MembershipStream, RemoteDocument, SourceCheckpoint, SyncContext,
};
use futures::StreamExt;
use tokio::io::AsyncReadExt;

pub use config::{ProcessConfig, ProcessType};
use session::{Call, Session};

/// How many stream items the plugin may send ahead of the engine.
const WINDOW: u32 = 256;

/// A connector whose source is a plugin process.
#[derive(Debug)]
pub struct ProcessConnector {
    config: ProcessConfig,
    /// The process of the latest listing, for its fetches.
    current: Mutex<Option<Arc<Session>>>,
}

impl ProcessConnector {
    /// A connector running `config.command` when it needs to.
    pub fn new(config: ProcessConfig) -> Self {
        ProcessConnector {
            config,
            current: Mutex::new(None),
        }
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Option<Arc<Session>>> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new process for a listing; the previous one (if any) is dropped, and so killed
    /// once its last fetch is done.
    async fn start_listing(&self, cx: &SyncContext) -> Result<Arc<Session>, ConnectorError> {
        self.current().take();
        let session = Session::start(&self.config, cx).await?;
        *self.current() = Some(session.clone());
        Ok(session)
    }

    /// The listing's process for a fetch, or a new one if it is gone.
    async fn session_for_fetch(&self, cx: &SyncContext) -> Result<Arc<Session>, ConnectorError> {
        let alive = self.current().clone().filter(|s| s.alive());
        match alive {
            Some(s) => Ok(s),
            None => self.start_listing(cx).await,
        }
    }

    fn listing<'a>(
        &'a self,
        cx: &'a SyncContext,
        resume: Option<SourceCheckpoint>,
        since: Option<SourceCheckpoint>,
    ) -> ChangeStream<'a> {
        let open = async move {
            let session = self.start_listing(cx).await?;
            let call = match since {
                Some(since) if session.capabilities.incremental => session.call(
                    |id| Request::Incremental {
                        id,
                        since,
                        window: WINDOW,
                    },
                    WINDOW,
                ),
                // Without a change feed, an incremental run is a full listing (diffed
                // against the manifest, swept at its end).
                _ => session.call(
                    |id| Request::Full {
                        id,
                        resume,
                        window: WINDOW,
                    },
                    WINDOW,
                ),
            };
            Ok::<_, ConnectorError>(call)
        };
        futures::stream::once(open)
            .flat_map(|opened| match opened {
                Ok(call) => items(call, |reply| match reply {
                    Reply::Change { change, .. } => Some(Change::try_from(change)),
                    _ => None,
                }),
                Err(e) => futures::stream::iter([Err(e)]).boxed(),
            })
            .boxed()
    }
}

/// A stream call's items until `end`. The process failing ends the stream with its
/// error; an item the engine cannot read is an error item, and the stream goes on.
fn items<T: Send + 'static>(
    call: Call,
    render: fn(Reply) -> Option<Result<T, ConnectorError>>,
) -> futures::stream::BoxStream<'static, Result<T, ConnectorError>> {
    futures::stream::unfold(Some(call), move |call| async move {
        let mut call = call?;
        loop {
            let reply = call.next().await;
            let item = match reply {
                Reply::End { .. } => return None,
                Reply::Error { error, .. } => {
                    let e = ConnectorError::from(error);
                    // The process is gone: this is the stream's last item.
                    if !call.session().alive() {
                        return Some((Err(e), None));
                    }
                    Err(e)
                }
                other => match render(other) {
                    Some(item) => item,
                    None => continue,
                },
            };
            call.consumed();
            return Some((item, Some(call)));
        }
    })
    .boxed()
}

fn unexpected(reply: &Reply) -> ConnectorError {
    let kind = match reply {
        Reply::Ok { .. } => "ok",
        Reply::Change { .. } => "change",
        Reply::Membership { .. } => "membership",
        Reply::End { .. } => "end",
        Reply::Content { .. } => "content",
        Reply::ContentFile { .. } => "content_file",
        Reply::Resolved { .. } => "resolved",
        Reply::Error { .. } => "error",
        Reply::Hello(_) => "hello",
        Reply::Heartbeat => "heartbeat",
    };
    ConnectorError::new(
        ErrorKind::InvalidResponse,
        format!("plugin answered with an unexpected {kind:?} line"),
    )
}

#[async_trait]
impl Connector for ProcessConnector {
    fn kind(&self) -> &'static str {
        "process"
    }

    async fn check(&self, cx: &SyncContext) -> Result<(), ConnectorError> {
        let session = Session::start(&self.config, cx).await?;
        let mut call = session.call(|id| Request::Check { id }, 0);
        match call.next().await {
            Reply::Ok { .. } => Ok(()),
            Reply::Error { error, .. } => Err(error.into()),
            other => Err(unexpected(&other)),
        }
    }

    fn full<'a>(
        &'a self,
        cx: &'a SyncContext,
        resume: Option<&'a SourceCheckpoint>,
    ) -> ChangeStream<'a> {
        self.listing(cx, resume.cloned(), None)
    }

    fn incremental<'a>(
        &'a self,
        cx: &'a SyncContext,
        since: &'a SourceCheckpoint,
    ) -> ChangeStream<'a> {
        self.listing(cx, None, Some(since.clone()))
    }

    async fn fetch(
        &self,
        cx: &SyncContext,
        doc: &RemoteDocument,
    ) -> Result<ByteStream, ConnectorError> {
        let session = self.session_for_fetch(cx).await?;
        let document = WireDocument::from(doc);
        let mut call = session.call(|id| Request::Fetch { id, document }, 0);
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut chunks = Vec::new();
        loop {
            match call.next().await {
                Reply::Content { data, .. } => {
                    let bytes = b64.decode(data.as_bytes()).map_err(|_| {
                        ConnectorError::new(
                            ErrorKind::InvalidResponse,
                            "plugin sent content that is not base64",
                        )
                    })?;
                    chunks.push(Ok(Bytes::from(bytes)));
                }
                Reply::End { .. } => break,
                Reply::ContentFile { path, .. } => {
                    let bytes =
                        read_file(&self.config, &path, cx.limits.max_document_bytes).await?;
                    chunks.push(Ok(Bytes::from(bytes)));
                    break;
                }
                Reply::Error { error, .. } => return Err(error.into()),
                other => return Err(unexpected(&other)),
            }
        }
        Ok(futures::stream::iter(chunks).boxed())
    }

    async fn resolve(
        &self,
        cx: &SyncContext,
        doc: &mut RemoteDocument,
    ) -> Result<bool, ConnectorError> {
        let session = self.session_for_fetch(cx).await?;
        if !session.capabilities.resolve {
            return Ok(false);
        }
        let document = WireDocument::from(&*doc);
        let mut call = session.call(|id| Request::Resolve { id, document }, 0);
        match call.next().await {
            Reply::Resolved {
                applied, document, ..
            } => {
                let resolved = RemoteDocument::try_from(document)?;
                if resolved.id != doc.id {
                    return Err(ConnectorError::new(
                        ErrorKind::InvalidResponse,
                        "plugin resolved a different document",
                    ));
                }
                *doc = resolved;
                Ok(applied)
            }
            Reply::Error { error, .. } => Err(error.into()),
            other => Err(unexpected(&other)),
        }
    }

    fn identities<'a>(&'a self, cx: &'a SyncContext) -> MembershipStream<'a> {
        let open = async move {
            let session = Session::start(&self.config, cx).await?;
            if !session.capabilities.identities {
                return Ok(None);
            }
            Ok::<_, ConnectorError>(Some(
                session.call(|id| Request::Identities { id, window: WINDOW }, WINDOW),
            ))
        };
        futures::stream::once(open)
            .flat_map(|opened| match opened {
                Ok(Some(call)) => items(call, |reply| match reply {
                    Reply::Membership { membership, .. } => Some(Ok::<Membership, _>(membership)),
                    _ => None,
                }),
                Ok(None) => futures::stream::empty().boxed(),
                Err(e) => futures::stream::iter([Err(e)]).boxed(),
            })
            .boxed()
    }
}

/// A `content_file` the plugin named: read up to the limit, relative to its cwd.
async fn read_file(
    config: &ProcessConfig,
    path: &str,
    max: u64,
) -> Result<Vec<u8>, ConnectorError> {
    let mut full = std::path::PathBuf::from(path);
    if full.is_relative()
        && let Some(cwd) = &config.cwd
    {
        full = cwd.join(full);
    }
    let file = tokio::fs::File::open(&full)
        .await
        .map_err(|e| ConnectorError::from_io("content_file", e))?;
    let mut out = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut out)
        .await
        .map_err(|e| ConnectorError::from_io("content_file", e))?;
    if out.len() as u64 > max {
        return Err(ConnectorError::new(
            ErrorKind::TooLarge,
            format!("document is larger than the limit of {max} bytes"),
        ));
    }
    Ok(out)
}
