//! One plugin process: spawned, greeted, configured, then shared by the requests of a run.
//!
//! Three tasks per process: a writer (requests to stdin), a reader (stdout lines, each
//! bounded and under the idle deadline, dispatched to the request they name), and a
//! stderr drain (to the log, capped). A reaper owns the child and kills it when the
//! session is dropped or the reader gives up. Whatever ends the process — a crash, a hang,
//! a flood, garbage — every open request gets the reason as its error, so that a listing
//! ends without `ListingComplete` (nothing is deleted) and a fetch fails its document.

use std::collections::HashMap;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use connector_sdk::protocol::{Capabilities, PROTOCOL_VERSION, Reply, Request, WireError};
use connector_sdk::{ConnectorError, ErrorKind, SyncContext};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdout, Command};
use tokio::sync::{mpsc, oneshot};

use crate::config::ProcessConfig;

/// Where a request's replies go, and what bounds them.
struct Pending {
    tx: mpsc::UnboundedSender<Reply>,
    /// For streams: the window, items received and items the consumer acked.
    window: u32,
    received: u64,
    acked: Arc<AtomicU32>,
    /// For fetches: decoded content bytes so far, and the most allowed.
    bytes: u64,
    max_bytes: u64,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<HashMap<u64, Pending>>,
    /// Why the process is gone, once it is.
    failure: Mutex<Option<(ErrorKind, String)>>,
    status: Mutex<Option<ExitStatus>>,
    /// Set when the session is dropped: the engine is done with the plugin, so its end
    /// (killed by the reaper) is expected, not a failure to warn about.
    closing: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Records why the process is gone (the first reason wins) and fails every open
    /// request with it.
    fn fail(&self, kind: ErrorKind, message: String) {
        // Pending first, then failure, as in `Session::call`: a request is either
        // registered before the failure (and drained here) or sees it.
        let mut pending = lock(&self.pending);
        let (kind, message) = lock(&self.failure).get_or_insert((kind, message)).clone();
        for (id, p) in pending.drain() {
            let _ = p.tx.send(Reply::Error {
                id,
                error: WireError::from(&ConnectorError::new(kind.clone(), message.clone())),
                problems: Vec::new(),
            });
        }
    }

    fn failure(&self) -> Option<ConnectorError> {
        lock(&self.failure)
            .as_ref()
            .map(|(k, m)| ConnectorError::new(k.clone(), m.clone()))
    }
}

/// A running plugin.
pub(crate) struct Session {
    pub(crate) capabilities: Capabilities,
    pub(crate) program: String,
    stdin: mpsc::UnboundedSender<Vec<u8>>,
    shared: Arc<Shared>,
    next_id: AtomicU64,
    _kill: oneshot::Sender<()>,
    pub(crate) max_document_bytes: u64,
}

impl Drop for Session {
    /// Runs before the fields drop, so the reader knows the kill that follows is ours.
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("program", &self.program)
            .finish()
    }
}

/// An open request: its replies, and (for a stream) how to ack them.
pub(crate) struct Call {
    pub(crate) id: u64,
    pub(crate) rx: mpsc::UnboundedReceiver<Reply>,
    acked: Arc<AtomicU32>,
    window: u32,
    unacked: u32,
    session: Arc<Session>,
}

impl Call {
    /// The next reply; an `Error` naming the process's failure when the plugin is gone.
    pub(crate) async fn next(&mut self) -> Reply {
        match self.rx.recv().await {
            Some(reply) => reply,
            None => {
                let e = self.session.shared.failure().unwrap_or_else(|| {
                    ConnectorError::new(ErrorKind::Transient, "plugin stopped answering")
                });
                Reply::Error {
                    id: self.id,
                    error: WireError::from(&e),
                    problems: Vec::new(),
                }
            }
        }
    }

    /// One stream item consumed: ack in batches of half the window.
    pub(crate) fn consumed(&mut self) {
        self.unacked += 1;
        if self.unacked >= (self.window / 2).max(1) {
            self.acked.fetch_add(self.unacked, Ordering::SeqCst);
            self.session.send(&Request::Ack {
                id: self.id,
                count: self.unacked,
            });
            self.unacked = 0;
        }
    }

    pub(crate) fn session(&self) -> &Arc<Session> {
        &self.session
    }
}

impl Drop for Call {
    /// A stream or fetch the engine stopped reading: the plugin may stop it too.
    fn drop(&mut self) {
        if lock(&self.session.shared.pending)
            .remove(&self.id)
            .is_some()
        {
            self.session.send(&Request::Cancel { id: self.id });
        }
    }
}

impl Session {
    /// Spawns the plugin, reads its hello and sends `init`.
    pub(crate) async fn start(
        config: &ProcessConfig,
        cx: &SyncContext,
    ) -> Result<Arc<Session>, ConnectorError> {
        let program = config.program().to_string();
        let mut command = Command::new(&program);
        command
            .args(&config.command[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in &config.env {
            command.env(k, v.expose());
        }
        if let Some(cwd) = &config.cwd {
            command.current_dir(cwd);
        }
        let mut child = command.spawn().map_err(|e| {
            ConnectorError::new(
                ErrorKind::Permanent,
                format!("cannot start plugin {program:?}: {e}"),
            )
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(ConnectorError::new(
                ErrorKind::Permanent,
                "plugin pipes missing",
            ));
        };
        let shared = Arc::new(Shared::default());
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let (dead_tx, dead_rx) = oneshot::channel::<()>();
        // The reaper: waits for the child, or kills it when the session goes away or the
        // reader gives up (`dead`). Either way the process is reaped.
        let reaper_shared = shared.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status.ok(),
                _ = kill_rx => { let _ = child.kill().await; child.wait().await.ok() }
                _ = dead_rx => { let _ = child.kill().await; child.wait().await.ok() }
            };
            *lock(&reaper_shared.status) = status;
        });
        tokio::spawn(drain_stderr(
            stderr,
            program.clone(),
            cx.source_id.clone(),
            config.max_stderr_bytes,
        ));
        let (stdin_tx, mut stdin_rx) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            let mut stdin = stdin;
            while let Some(line) = stdin_rx.recv().await {
                if stdin.write_all(&line).await.is_err() || stdin.flush().await.is_err() {
                    break;
                }
            }
        });

        let max_line = config.max_line_bytes as usize;
        let mut stdout = BufReader::new(stdout);
        let start = Duration::from_secs(config.start_timeout_secs);
        let hello = tokio::time::timeout(start, read_line(&mut stdout, max_line)).await;
        let fail = |kind: ErrorKind, what: String| {
            ConnectorError::new(kind, format!("plugin {program:?} {what}"))
        };
        let hello = match hello {
            Err(_) => {
                return Err(fail(
                    ErrorKind::Timeout,
                    format!("said no hello within {}s", config.start_timeout_secs),
                ));
            }
            Ok(Err(e)) => return Err(fail(e.0, format!("{} before its hello", e.1))),
            Ok(Ok(line)) => line,
        };
        let capabilities = match serde_json::from_slice::<Reply>(&hello) {
            Ok(Reply::Hello(h)) if h.protocol == PROTOCOL_VERSION => h.capabilities,
            Ok(Reply::Hello(h)) => {
                return Err(fail(
                    ErrorKind::Permanent,
                    format!(
                        "speaks protocol {}; this engine speaks protocol {PROTOCOL_VERSION}",
                        h.protocol
                    ),
                ));
            }
            _ => {
                return Err(fail(
                    ErrorKind::InvalidResponse,
                    format!("did not start with a protocol hello: {}", preview(&hello)),
                ));
            }
        };
        tokio::spawn(read_replies(
            stdout,
            shared.clone(),
            program.clone(),
            Duration::from_secs(config.idle_timeout_secs),
            max_line,
            dead_tx,
        ));
        let session = Arc::new(Session {
            capabilities,
            program: program.clone(),
            stdin: stdin_tx,
            shared,
            next_id: AtomicU64::new(1),
            _kill: kill_tx,
            max_document_bytes: cx.limits.max_document_bytes,
        });
        let mut init = session.call(
            |id| Request::Init {
                id,
                source_id: cx.source_id.clone(),
                run_id: cx.run_id.clone(),
                max_document_bytes: cx.limits.max_document_bytes,
                heartbeat_secs: (config.idle_timeout_secs / 4).max(1),
                config: config
                    .config
                    .clone()
                    .unwrap_or_else(|| serde_json::json!({})),
            },
            0,
        );
        match tokio::time::timeout(start, init.next()).await {
            Err(_) => Err(fail(
                ErrorKind::Timeout,
                format!("did not answer init within {}s", config.start_timeout_secs),
            )),
            Ok(Reply::Ok { .. }) => Ok(session.clone()),
            // The process died: its own reason, not a refusal.
            Ok(Reply::Error { error, .. }) if !session.alive() => Err(error.into()),
            Ok(Reply::Error {
                error, problems, ..
            }) => {
                let e = ConnectorError::from(error);
                let listed: Vec<String> = problems
                    .iter()
                    .map(|p| format!("config.{}: {}", p.key, p.message))
                    .collect();
                let what = if listed.is_empty() {
                    e.message
                } else {
                    listed.join("; ")
                };
                Err(fail(e.kind, format!("refused its configuration: {what}")))
            }
            Ok(other) => Err(fail(
                ErrorKind::InvalidResponse,
                format!("answered init with {other:?}"),
            )),
        }
    }

    /// Sends a request made with a fresh id; its replies come through the returned call.
    pub(crate) fn call(self: &Arc<Self>, make: impl FnOnce(u64) -> Request, window: u32) -> Call {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = mpsc::unbounded_channel();
        let acked = Arc::new(AtomicU32::new(0));
        let mut pending = lock(&self.shared.pending);
        if self.shared.failure().is_none() {
            pending.insert(
                id,
                Pending {
                    tx,
                    window,
                    received: 0,
                    acked: acked.clone(),
                    bytes: 0,
                    max_bytes: self.max_document_bytes,
                },
            );
            drop(pending);
            self.send(&make(id));
        }
        Call {
            id,
            rx,
            acked,
            window,
            unacked: 0,
            session: self.clone(),
        }
    }

    fn send(&self, request: &Request) {
        if let Ok(mut line) = serde_json::to_vec(request) {
            line.push(b'\n');
            let _ = self.stdin.send(line);
        }
    }

    /// Whether the process is still usable.
    pub(crate) fn alive(&self) -> bool {
        self.shared.failure().is_none()
    }
}

/// A line of at most `max` bytes (without its newline); EOF and overlong lines are errors.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Vec<u8>, (ErrorKind, String)> {
    let mut line = Vec::new();
    let n = r
        .take(max as u64 + 1)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| (ErrorKind::Transient, format!("could not be read ({e})")))?;
    if n == 0 {
        return Err((ErrorKind::Transient, "exited".into()));
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.len() > max {
        return Err((
            ErrorKind::InvalidResponse,
            format!("wrote a line longer than max_line_bytes ({max})"),
        ));
    } else {
        return Err((
            ErrorKind::Transient,
            "exited in the middle of a line".into(),
        ));
    }
    Ok(line)
}

/// The start of a bad line, for the message: enough to recognise it, never much.
fn preview(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(&line[..line.len().min(80)]);
    format!("{text:?}")
}

async fn read_replies(
    mut stdout: BufReader<ChildStdout>,
    shared: Arc<Shared>,
    program: String,
    idle: Duration,
    max_line: usize,
    dead: oneshot::Sender<()>,
) {
    let (kind, what) = loop {
        let line = match tokio::time::timeout(idle, read_line(&mut stdout, max_line)).await {
            Err(_) => {
                break (
                    ErrorKind::Timeout,
                    format!(
                        "is hung: no line, not even a heartbeat, for {}s",
                        idle.as_secs()
                    ),
                );
            }
            Ok(Err(e)) => break e,
            Ok(Ok(line)) => line,
        };
        let reply = match serde_json::from_slice::<Reply>(&line) {
            Ok(reply) => reply,
            Err(e) => {
                break (
                    ErrorKind::InvalidResponse,
                    format!(
                        "wrote a line that is not protocol {PROTOCOL_VERSION} ({e}): {}",
                        preview(&line)
                    ),
                );
            }
        };
        if let Err(violation) = dispatch(&shared, reply) {
            break (ErrorKind::InvalidResponse, violation);
        }
    };
    // Kill first, so that the exit status says whether it crashed on its own.
    let _ = dead.send(());
    let mut status = None;
    for _ in 0..20 {
        status = *lock(&shared.status);
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let status = status.map(|s| format!(" ({s})")).unwrap_or_default();
    if shared.closing.load(Ordering::SeqCst) && lock(&shared.pending).is_empty() {
        tracing::debug!(plugin = %program, "plugin stopped after its session ended{status}");
    } else {
        tracing::warn!(plugin = %program, "plugin {what}{status}");
    }
    shared.fail(kind, format!("plugin {program:?} {what}{status}"));
}

/// Routes one reply to its request. A reply for an unknown id is late (a cancelled
/// request): dropped. Breaking the window or a fetch's size is a protocol violation.
fn dispatch(shared: &Shared, reply: Reply) -> Result<(), String> {
    let id = match &reply {
        Reply::Heartbeat => return Ok(()),
        Reply::Hello(_) => return Err("said hello twice".into()),
        Reply::Ok { id }
        | Reply::Error { id, .. }
        | Reply::Change { id, .. }
        | Reply::Membership { id, .. }
        | Reply::End { id }
        | Reply::Content { id, .. }
        | Reply::ContentFile { id, .. }
        | Reply::Resolved { id, .. } => *id,
    };
    let mut pending = lock(&shared.pending);
    let Some(p) = pending.get_mut(&id) else {
        return Ok(());
    };
    let last = matches!(
        reply,
        Reply::Ok { .. } | Reply::End { .. } | Reply::ContentFile { .. } | Reply::Resolved { .. }
    ) || (matches!(reply, Reply::Error { .. }) && p.window == 0);
    match &reply {
        Reply::Change { .. } | Reply::Membership { .. } | Reply::Error { .. } if p.window > 0 => {
            p.received += 1;
            let acked = u64::from(p.acked.load(Ordering::SeqCst));
            if p.received > acked + u64::from(p.window) {
                return Err(format!(
                    "sent more than its window of {} unacknowledged items",
                    p.window
                ));
            }
        }
        Reply::Content { data, .. } => {
            p.bytes += (data.len() as u64 / 4) * 3;
            if p.bytes > p.max_bytes + 3 {
                let _ = p.tx.send(Reply::Error {
                    id,
                    error: WireError::from(&ConnectorError::new(
                        ErrorKind::TooLarge,
                        format!("document is larger than the limit of {} bytes", p.max_bytes),
                    )),
                    problems: Vec::new(),
                });
                pending.remove(&id);
                return Ok(());
            }
        }
        _ => {}
    }
    let _ = p.tx.send(reply);
    if last {
        pending.remove(&id);
    }
    Ok(())
}

async fn drain_stderr(
    stderr: tokio::process::ChildStderr,
    program: String,
    source: String,
    max: u64,
) {
    let mut lines = BufReader::new(stderr);
    let mut logged = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        // Lines are cut at 4 KiB; the rest of a long one is read as further lines.
        match (&mut lines).take(4096).read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if logged < max {
                    let text = String::from_utf8_lossy(&line);
                    tracing::info!(source = %source, plugin = %program, "plugin stderr: {}", text.trim_end());
                    logged += n as u64;
                    if logged >= max {
                        tracing::warn!(source = %source, plugin = %program, "plugin stderr: the rest is not logged (max_stderr_bytes = {max})");
                    }
                }
            }
        }
    }
}
