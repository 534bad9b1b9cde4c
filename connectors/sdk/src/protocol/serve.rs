//! `serve_stdio`: a Rust connector as a plugin executable. Reads requests from stdin,
//! answers on stdout — protocol lines only, everything else goes to stderr — and runs
//! every request on a task of its own, so that fetches answer while a listing streams.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::AbortHandle;

use super::{
    Capabilities, Hello, MAX_FRAME_BYTES, PROTOCOL_VERSION, Reply, Request, WireChange,
    WireDocument, WireError, WireProblem,
};
use crate::{
    ConfigContext, ConfigProblem, Connector, ConnectorError, ErasedSourceType, ErrorKind, Limits,
    RemoteDocument, SyncContext,
};

/// The longest request line a plugin reads (a `fetch` carries one document).
const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// How a plugin makes its connector from the `init` request's `config`.
pub type Build =
    Box<dyn Fn(&serde_json::Value) -> Result<Arc<dyn Connector>, Vec<ConfigProblem>> + Send + Sync>;

/// Serves `connector` on stdin/stdout until stdin closes; the `init` request's `config` is
/// ignored (the connector is already configured).
pub async fn serve_stdio(
    connector: Arc<dyn Connector>,
    capabilities: Capabilities,
) -> std::io::Result<()> {
    let build: Build = Box::new(move |_| Ok(connector.clone()));
    serve(tokio::io::stdin(), tokio::io::stdout(), build, capabilities).await
}

/// Serves a source type on stdin/stdout: the `init` request's `config` is read as a
/// `[[sources]]` table of `source_type` (relative paths against the working directory),
/// and its problems are the answer when it is invalid.
pub async fn serve_stdio_configured(
    source_type: &'static dyn ErasedSourceType,
    capabilities: Capabilities,
) -> std::io::Result<()> {
    let build: Build = Box::new(move |config| {
        let cx = ConfigContext::new(".");
        let configured = source_type.parse(config, &cx)?;
        configured
            .build()
            .map_err(|e| vec![ConfigProblem::new("config", e.message)])
    });
    serve(tokio::io::stdin(), tokio::io::stdout(), build, capabilities).await
}

/// The protocol loop over any pair of pipes (tests use in-memory ones).
pub async fn serve<R, W>(
    input: R,
    output: W,
    build: Build,
    capabilities: Capabilities,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel::<Reply>();
    let writer = tokio::spawn(write_lines(output, rx));
    let _ = tx.send(Reply::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        name: String::new(),
        capabilities,
    }));
    let mut session = Session {
        build,
        tx: tx.clone(),
        connector: None,
        cx: None,
        streams: Arc::new(Mutex::new(HashMap::new())),
        heartbeat: None,
    };
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut input)
            .take(MAX_REQUEST_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            break;
        }
        if line.len() > MAX_REQUEST_BYTES {
            eprintln!("refusing a request line of more than {MAX_REQUEST_BYTES} bytes");
            break;
        }
        match serde_json::from_slice::<Request>(&line) {
            Ok(request) => session.handle(request),
            Err(e) if line.iter().all(u8::is_ascii_whitespace) => drop(e),
            Err(e) => eprintln!("ignoring a request that is not protocol {PROTOCOL_VERSION}: {e}"),
        }
    }
    session.shutdown();
    drop(session);
    drop(tx);
    writer.await.map_err(std::io::Error::other)?
}

async fn write_lines<W: AsyncWrite + Unpin>(
    mut output: W,
    mut rx: mpsc::UnboundedReceiver<Reply>,
) -> std::io::Result<()> {
    while let Some(reply) = rx.recv().await {
        let mut line = serde_json::to_vec(&reply).map_err(std::io::Error::other)?;
        line.push(b'\n');
        output.write_all(&line).await?;
        output.flush().await?;
    }
    Ok(())
}

type Streams = Arc<Mutex<HashMap<u64, (AbortHandle, Arc<Semaphore>)>>>;

struct Session {
    build: Build,
    tx: mpsc::UnboundedSender<Reply>,
    connector: Option<Arc<dyn Connector>>,
    cx: Option<Arc<SyncContext>>,
    streams: Streams,
    heartbeat: Option<AbortHandle>,
}

fn error_reply(id: u64, e: &ConnectorError) -> Reply {
    Reply::Error {
        id,
        error: WireError::from(e),
        problems: Vec::new(),
    }
}

impl Session {
    fn handle(&mut self, request: Request) {
        let id = request.id();
        match request {
            Request::Init {
                source_id,
                run_id,
                max_document_bytes,
                heartbeat_secs,
                config,
                ..
            } => self.init(
                id,
                source_id,
                run_id,
                max_document_bytes,
                heartbeat_secs,
                &config,
            ),
            Request::Ack { count, .. } => {
                if let Some((_, permits)) = lock(&self.streams).get(&id) {
                    permits.add_permits(count as usize);
                }
            }
            Request::Cancel { .. } => {
                if let Some((task, _)) = lock(&self.streams).remove(&id) {
                    task.abort();
                    let _ = self.tx.send(Reply::End { id });
                }
            }
            other => {
                let (Some(connector), Some(cx)) = (self.connector.clone(), self.cx.clone()) else {
                    let e =
                        ConnectorError::new(ErrorKind::Permanent, "no init before this request");
                    let _ = self.tx.send(error_reply(id, &e));
                    return;
                };
                self.run(other, connector, cx);
            }
        }
    }

    fn init(
        &mut self,
        id: u64,
        source_id: String,
        run_id: String,
        max_document_bytes: u64,
        heartbeat_secs: u64,
        config: &serde_json::Value,
    ) {
        match self.build(config) {
            Ok(connector) => {
                self.connector = Some(connector);
                self.cx = Some(Arc::new(SyncContext {
                    source_id,
                    run_id,
                    limits: Limits { max_document_bytes },
                }));
                let tx = self.tx.clone();
                let every = Duration::from_secs(heartbeat_secs.max(1));
                if let Some(old) = self.heartbeat.take() {
                    old.abort();
                }
                self.heartbeat = Some(
                    tokio::spawn(async move {
                        loop {
                            tokio::time::sleep(every).await;
                            if tx.send(Reply::Heartbeat).is_err() {
                                break;
                            }
                        }
                    })
                    .abort_handle(),
                );
                let _ = self.tx.send(Reply::Ok { id });
            }
            Err(problems) => {
                let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
                let e = ConnectorError::new(
                    ErrorKind::Permanent,
                    format!("invalid configuration: {}", listed.join("; ")),
                );
                let _ = self.tx.send(Reply::Error {
                    id,
                    error: WireError::from(&e),
                    problems: problems.iter().map(WireProblem::from).collect(),
                });
            }
        }
    }

    fn build(&self, config: &serde_json::Value) -> Result<Arc<dyn Connector>, Vec<ConfigProblem>> {
        (self.build)(config)
    }

    fn run(&mut self, request: Request, connector: Arc<dyn Connector>, cx: Arc<SyncContext>) {
        let tx = self.tx.clone();
        let id = request.id();
        let window = match &request {
            Request::Full { window, .. }
            | Request::Incremental { window, .. }
            | Request::Identities { window, .. } => *window as usize,
            _ => 0,
        };
        let permits = Arc::new(Semaphore::new(window));
        let streams = self.streams.clone();
        let stream_permits = permits.clone();
        // The map is locked while the task starts, so that its removal (when it ends)
        // cannot come before its insertion.
        let mut open = lock(&self.streams);
        let task = tokio::spawn(async move {
            let cx = &*cx;
            let connector = &*connector;
            match request {
                Request::Check { .. } => {
                    let _ = tx.send(match connector.check(cx).await {
                        Ok(()) => Reply::Ok { id },
                        Err(e) => error_reply(id, &e),
                    });
                }
                Request::Full { resume, .. } => {
                    let stream = connector.full(cx, resume.as_ref());
                    pump(id, stream, &permits, &tx, |c| Reply::Change {
                        id,
                        change: WireChange::from(&c),
                    })
                    .await;
                }
                Request::Incremental { since, .. } => {
                    let stream = connector.incremental(cx, &since);
                    pump(id, stream, &permits, &tx, |c| Reply::Change {
                        id,
                        change: WireChange::from(&c),
                    })
                    .await;
                }
                Request::Identities { .. } => {
                    let stream = connector.identities(cx);
                    pump(id, stream, &permits, &tx, |membership| Reply::Membership {
                        id,
                        membership,
                    })
                    .await;
                }
                Request::Fetch { document, .. } => fetch(id, connector, cx, document, &tx).await,
                Request::Resolve { document, .. } => {
                    let reply = match RemoteDocument::try_from(document) {
                        Ok(mut doc) => match connector.resolve(cx, &mut doc).await {
                            Ok(applied) => Reply::Resolved {
                                id,
                                applied,
                                document: WireDocument::from(&doc),
                            },
                            Err(e) => error_reply(id, &e),
                        },
                        Err(e) => error_reply(id, &e),
                    };
                    let _ = tx.send(reply);
                }
                Request::Init { .. } | Request::Ack { .. } | Request::Cancel { .. } => {}
            }
            lock(&streams).remove(&id);
        });
        open.insert(id, (task.abort_handle(), stream_permits));
    }

    fn shutdown(&mut self) {
        for (_, (task, _)) in lock(&self.streams).drain() {
            task.abort();
        }
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sends a stream's items as the engine's window allows (one permit per item, the
/// engine's `ack`s add permits), then `end`.
async fn pump<T>(
    id: u64,
    mut stream: futures::stream::BoxStream<'_, Result<T, ConnectorError>>,
    permits: &Semaphore,
    tx: &mpsc::UnboundedSender<Reply>,
    render: impl Fn(T) -> Reply,
) {
    while let Some(item) = stream.next().await {
        match permits.acquire().await {
            Ok(p) => p.forget(),
            Err(_) => return,
        }
        let reply = match item {
            Ok(v) => render(v),
            Err(e) => error_reply(id, &e),
        };
        if tx.send(reply).is_err() {
            return;
        }
    }
    let _ = tx.send(Reply::End { id });
}

async fn fetch(
    id: u64,
    connector: &dyn Connector,
    cx: &SyncContext,
    document: WireDocument,
    tx: &mpsc::UnboundedSender<Reply>,
) {
    let doc = match RemoteDocument::try_from(document) {
        Ok(doc) => doc,
        Err(e) => {
            let _ = tx.send(error_reply(id, &e));
            return;
        }
    };
    let mut stream = match connector.fetch(cx, &doc).await {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.send(error_reply(id, &e));
            return;
        }
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                for frame in bytes.chunks(MAX_FRAME_BYTES) {
                    let _ = tx.send(Reply::Content {
                        id,
                        data: b64.encode(frame),
                    });
                }
            }
            Err(e) => {
                let _ = tx.send(error_reply(id, &e));
                return;
            }
        }
    }
    let _ = tx.send(Reply::End { id });
}
