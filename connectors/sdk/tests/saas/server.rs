//! The fake SaaS server: axum on 127.0.0.1:0, answering each path from a script, counting
//! requests and requests in flight; and a raw TCP server that resets connections.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Step {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: StepBody,
    delay: Duration,
}

#[derive(Debug, Clone)]
enum StepBody {
    /// `{n}` becomes the path's request count, `{assertion}` the form's `assertion`.
    Text(String),
    /// 64 KiB chunks forever, without a `Content-Length`.
    Endless,
}

impl Step {
    /// An empty answer with `status`.
    pub fn status(status: u16) -> Step {
        Step {
            status,
            headers: Vec::new(),
            body: StepBody::Text(String::new()),
            delay: Duration::ZERO,
        }
    }

    /// A 200 with a JSON body.
    pub fn json(body: &str) -> Step {
        Step::status(200).body(body)
    }

    /// A 200 whose body never ends.
    pub fn endless() -> Step {
        Step {
            body: StepBody::Endless,
            ..Step::status(200)
        }
    }

    /// The same step with a JSON body.
    pub fn body(mut self, body: &str) -> Step {
        self.body = StepBody::Text(body.to_string());
        self.header("content-type", "application/json")
    }

    /// The same step with one more header.
    pub fn header(mut self, name: &'static str, value: &str) -> Step {
        self.headers.push((name, value.to_string()));
        self
    }

    /// The same step, answered after `delay`.
    pub fn delay(mut self, delay: Duration) -> Step {
        self.delay = delay;
        self
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The body, as text.
    pub body: String,
}

#[derive(Default)]
struct ServerState {
    scripts: Mutex<HashMap<String, VecDeque<Step>>>,
    seen: Mutex<HashMap<String, Vec<Seen>>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The scripted server. Dropping it stops it.
pub struct Server {
    base: String,
    state: Arc<ServerState>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Starts a server; every path answers 404 until scripted.
    pub async fn start() -> Server {
        let state = Arc::new(ServerState::default());
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Server {
            base: format!("http://{addr}"),
            state,
            task,
        }
    }

    /// The URL of `path` (which may carry a query string).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answers `path` with `steps` in order; the last one repeats.
    pub fn script(&self, path: &str, steps: impl IntoIterator<Item = Step>) {
        lock(&self.state.scripts).insert(path.to_string(), steps.into_iter().collect());
    }

    /// The requests `path` got.
    pub fn seen(&self, path: &str) -> Vec<Seen> {
        lock(&self.state.seen)
            .get(path)
            .cloned()
            .unwrap_or_default()
    }

    /// How many requests `path` got.
    pub fn hits(&self, path: &str) -> usize {
        self.seen(path).len()
    }

    /// The most requests that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
}

/// Decrements the in-flight count when the answer is done (or abandoned).
struct InFlight(Arc<ServerState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _in_flight = InFlight(Arc::clone(&state));
    let path = request.uri().path().to_string();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .expect("request body");
    let body = String::from_utf8_lossy(&body).into_owned();
    let assertion = form_field(&body, "assertion").unwrap_or_default();
    let n = {
        let mut seen = lock(&state.seen);
        let list = seen.entry(path.clone()).or_default();
        list.push(Seen {
            authorization,
            body,
        });
        list.len()
    };
    let step = {
        let mut scripts = lock(&state.scripts);
        match scripts.get_mut(&path) {
            Some(steps) if steps.len() > 1 => steps.pop_front(),
            Some(steps) => steps.front().cloned(),
            None => None,
        }
    }
    .unwrap_or_else(|| Step::status(404));
    tokio::time::sleep(step.delay).await;
    let mut response = Response::builder().status(step.status);
    for (name, value) in &step.headers {
        response = response.header(*name, value);
    }
    let body = match step.body {
        StepBody::Text(text) => Body::from(
            text.replace("{n}", &n.to_string())
                .replace("{assertion}", &assertion),
        ),
        StepBody::Endless => {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            Body::from_stream(futures::stream::repeat_with(move || {
                Ok::<_, Infallible>(chunk.clone())
            }))
        }
    };
    response.body(body).expect("response")
}

/// A field of a URL-encoded form.
pub fn form_field(form: &str, name: &str) -> Option<String> {
    form.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A raw HTTP server whose first `resets` connections are reset (RST) once the request is
/// read; later ones get `200 {"ok":true}`. Returns its URL and the connection count.
pub async fn resetting_server(resets: usize) -> (String, Arc<AtomicUsize>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let connections = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&connections);
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let n = count.fetch_add(1, Ordering::SeqCst);
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => request.extend_from_slice(&buf[..read]),
                }
            }
            if n < resets {
                stream.set_zero_linger().expect("SO_LINGER");
                drop(stream);
            } else {
                let body = r#"{"ok":true}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        }
    });
    (format!("http://{addr}/reset"), connections, task)
}
