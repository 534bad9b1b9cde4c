//! [`HttpClient`]: a reqwest client whose every call goes through a [`Politeness`], with
//! bodies read under a cap.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::HeaderValue;
use http::header::AUTHORIZATION;
use reqwest::{Client, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::attempt::{Attempt, Outcome, Permit, TransportError, TransportKind};
use super::classify::Reply;
use super::policy::Politeness;
use super::redact_url;
use crate::auth::TokenSource;
use crate::{ByteStream, ConnectorError, ErrorKind};

/// The default cap on a JSON response body: 32 MiB, far above any API page.
pub const DEFAULT_MAX_JSON_BYTES: u64 = 32 * 1024 * 1024;

/// How much of an error response's body is read for the classifiers.
const ERROR_BODY_BYTES: u64 = 64 * 1024;

/// A reqwest client (rustls on aws-lc-rs) on a [`Politeness`], optionally authenticated by
/// a [`TokenSource`]. Clones share the connection pool, the limits and the token.
///
/// Requests are built by a closure called once per attempt (`|client| client.get(url)`),
/// so every retry sends the same request afresh.
#[derive(Clone)]
pub struct HttpClient {
    client: Client,
    policy: Politeness,
    auth: Option<Arc<dyn TokenSource>>,
    max_json_bytes: u64,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("policy", &self.policy)
            .field("auth", &self.auth)
            .field("max_json_bytes", &self.max_json_bytes)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client with its own connection pool: connect timeout 10 s (or the request
    /// timeout, if shorter), a read timeout of the policy's request timeout (so a stalled
    /// download fails), and a `tributary-connector-sdk` user agent.
    pub fn new(policy: Politeness) -> Result<Self, ConnectorError> {
        let timeout = policy.config().request_timeout;
        let client = Client::builder()
            .user_agent(concat!(
                "tributary-connector-sdk/",
                env!("CARGO_PKG_VERSION")
            ))
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .read_timeout(timeout)
            .build()
            .map_err(|err| {
                ConnectorError::new(
                    ErrorKind::Permanent,
                    format!("cannot build the http client: {}", chain(err)),
                )
            })?;
        Ok(HttpClient::with_client(client, policy))
    }

    /// A client on a reqwest client configured by the caller (proxies, root certificates).
    pub fn with_client(client: Client, policy: Politeness) -> Self {
        HttpClient {
            client,
            policy,
            auth: None,
            max_json_bytes: DEFAULT_MAX_JSON_BYTES,
        }
    }

    /// The same client (pool and limits shared) sending `auth`'s token with each request.
    pub fn with_auth(mut self, auth: Arc<dyn TokenSource>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The same client with another cap on JSON and [`send`](Self::send) bodies.
    pub fn with_max_json_bytes(mut self, max: u64) -> Self {
        self.max_json_bytes = max;
        self
    }

    /// The politeness policy.
    pub fn policy(&self) -> &Politeness {
        &self.policy
    }

    /// The underlying reqwest client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// GETs `url` and decodes its JSON body (read under the cap). A body that does not
    /// decode is `InvalidResponse`, naming the call and the field.
    pub async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, ConnectorError> {
        self.send_json(|client| client.get(url)).await
    }

    /// POSTs `form` URL-encoded to `url` and decodes the JSON answer.
    pub async fn post_form<T, F>(&self, url: &str, form: &F) -> Result<T, ConnectorError>
    where
        T: DeserializeOwned,
        F: Serialize + ?Sized,
    {
        self.send_json(|client| client.post(url).form(form)).await
    }

    /// Streams the body of a GET of `url`, failing with `TooLarge` before reading if its
    /// `Content-Length` exceeds `max_bytes`, or as soon as more than `max_bytes` arrive.
    pub async fn get_stream(
        &self,
        url: &str,
        max_bytes: u64,
    ) -> Result<ByteStream, ConnectorError> {
        self.send_stream(|client| client.get(url), max_bytes).await
    }

    /// Sends the request `build` makes and decodes its JSON body.
    pub async fn send_json<T, B>(&self, build: B) -> Result<T, ConnectorError>
    where
        T: DeserializeOwned,
        B: Fn(&Client) -> RequestBuilder,
    {
        let label = self.label(&build)?;
        let reply = self
            .send_labelled(&label, &build, self.max_json_bytes, true)
            .await?;
        decode_json(&label, &reply.body)
    }

    /// Sends the request `build` makes and returns the successful reply with its body,
    /// read under the JSON cap (`InvalidResponse` beyond it).
    pub async fn send<B>(&self, build: B) -> Result<Reply, ConnectorError>
    where
        B: Fn(&Client) -> RequestBuilder,
    {
        let label = self.label(&build)?;
        self.send_labelled(&label, &build, self.max_json_bytes, false)
            .await
    }

    /// Sends the request `build` makes and returns the successful reply of a JSON call with
    /// its headers: the body read under the JSON cap, and retried when it ends in the middle
    /// of its JSON, as [`send_json`](Self::send_json) does. For callers that page by a
    /// header (`Link`) and still decode the body themselves.
    pub async fn send_json_reply<B>(&self, build: B) -> Result<Reply, ConnectorError>
    where
        B: Fn(&Client) -> RequestBuilder,
    {
        let label = self.label(&build)?;
        self.send_labelled(&label, &build, self.max_json_bytes, true)
            .await
    }

    /// Sends the request `build` makes and streams the successful reply's body under
    /// `max_bytes` (`TooLarge`). The stream holds a slot of the concurrency limit until it
    /// is dropped.
    pub async fn send_stream<B>(
        &self,
        build: B,
        max_bytes: u64,
    ) -> Result<ByteStream, ConnectorError>
    where
        B: Fn(&Client) -> RequestBuilder,
    {
        let label = self.label(&build)?;
        let (response, permit) = self
            .policy
            .call_holding_permit(&label, self.auth.as_deref(), |attempt| {
                let request = self.prepare(&build, &attempt);
                let label = label.clone();
                async move {
                    let response = match send(request).await {
                        Ok(response) => response,
                        Err(outcome) => return outcome,
                    };
                    let status = response.status();
                    let headers = response.headers().clone();
                    if let Some(length) = response.content_length()
                        && length > max_bytes
                    {
                        return Outcome::Fatal(too_large(&label, max_bytes));
                    }
                    Outcome::Success {
                        reply: Reply::head(status, headers),
                        value: response,
                    }
                }
            })
            .await?;
        Ok(body_stream(response, permit, max_bytes, label))
    }

    /// Sends with the policy's retries; with `json`, a body that ends in the middle of its
    /// JSON counts as a connection that broke (a proxy or server cut it short) and is
    /// retried, while JSON that is wrong in any other way fails the call.
    async fn send_labelled<B>(
        &self,
        label: &str,
        build: &B,
        max_bytes: u64,
        json: bool,
    ) -> Result<Reply, ConnectorError>
    where
        B: Fn(&Client) -> RequestBuilder,
    {
        self.policy
            .call(label, self.auth.as_deref(), |attempt| {
                let request = self.prepare(build, &attempt);
                let label = label.to_string();
                async move {
                    let response = match send(request).await {
                        Ok(response) => response,
                        Err(outcome) => return outcome,
                    };
                    let status = response.status();
                    let headers = response.headers().clone();
                    match read_capped(response, max_bytes).await {
                        Ok(Some(body)) if json && cut_short(&body) => {
                            Outcome::Transport(TransportError::new(
                                TransportKind::Reset,
                                "the body ended in the middle of its JSON".to_string(),
                            ))
                        }
                        Ok(Some(body)) => {
                            let reply = Reply::new(status, headers, body);
                            Outcome::Success {
                                value: reply.clone(),
                                reply,
                            }
                        }
                        Ok(None) => Outcome::Fatal(ConnectorError::new(
                            ErrorKind::InvalidResponse,
                            format!(
                                "{label}: response body is larger than the limit of \
                                 {max_bytes} bytes"
                            ),
                        )),
                        Err(err) => Outcome::Transport(err),
                    }
                }
            })
            .await
    }

    /// `METHOD scheme://host/path` of the request `build` makes.
    fn label<B>(&self, build: &B) -> Result<String, ConnectorError>
    where
        B: Fn(&Client) -> RequestBuilder,
    {
        let request = build(&self.client).build().map_err(|err| {
            ConnectorError::new(
                ErrorKind::Permanent,
                format!("cannot build the request: {}", chain(err)),
            )
        })?;
        Ok(format!(
            "{} {}",
            request.method(),
            redact_url(request.url().as_str())
        ))
    }

    /// The request of one attempt, with its `Authorization` header (marked sensitive).
    fn prepare<B>(&self, build: &B, attempt: &Attempt) -> Result<RequestBuilder, ConnectorError>
    where
        B: Fn(&Client) -> RequestBuilder,
    {
        let request = build(&self.client);
        let Some(authorization) = attempt.authorization() else {
            return Ok(request);
        };
        let mut value = HeaderValue::from_str(authorization.expose()).map_err(|_| {
            ConnectorError::new(
                ErrorKind::Unauthorized,
                "the token is not a valid header value",
            )
        })?;
        value.set_sensitive(true);
        Ok(request.header(AUTHORIZATION, value))
    }
}

/// Sends a prepared request and keeps a successful response; anything else (no response,
/// or a status that is not a success) is the attempt's outcome.
async fn send<T>(request: Result<RequestBuilder, ConnectorError>) -> Result<Response, Outcome<T>> {
    let request = request.map_err(Outcome::Fatal)?;
    let response = request
        .send()
        .await
        .map_err(|err| Outcome::Transport(transport_error(err)))?;
    if !response.status().is_success() {
        return Err(failure(response).await);
    }
    Ok(response)
}

/// A reply the caller cannot use, with a prefix of its body for the classifiers.
async fn failure<T>(response: Response) -> Outcome<T> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_prefix(response, ERROR_BODY_BYTES).await;
    Outcome::Failure(Reply::new(status, headers, body))
}

fn too_large(label: &str, max_bytes: u64) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::TooLarge,
        format!("{label}: document is larger than the limit of {max_bytes} bytes"),
    )
}

/// The body, or `None` as soon as it is known to exceed `max` (from `Content-Length`
/// before reading, or while reading).
async fn read_capped(mut response: Response, max: u64) -> Result<Option<Bytes>, TransportError> {
    if response.content_length().is_some_and(|length| length > max) {
        return Ok(None);
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if (body.len() + chunk.len()) as u64 > max {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.freeze()))
}

/// Up to `max` bytes of the body; what cannot be read is left out (it only informs the
/// classifiers of an error already known).
async fn read_prefix(mut response: Response, max: u64) -> Bytes {
    let mut body = BytesMut::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = (max as usize).saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() as u64 >= max {
            break;
        }
    }
    body.freeze()
}

/// The body of a download as a stream, capped, holding the concurrency slot.
fn body_stream(response: Response, permit: Permit, max: u64, label: String) -> ByteStream {
    struct State {
        response: Response,
        _permit: Permit,
        read: u64,
        max: u64,
        label: String,
    }
    let state = State {
        response,
        _permit: permit,
        read: 0,
        max,
        label,
    };
    futures::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        match state.response.chunk().await {
            Ok(Some(chunk)) => {
                state.read += chunk.len() as u64;
                if state.read > state.max {
                    let err = too_large(&state.label, state.max);
                    return Some((Err(err), None));
                }
                Some((Ok(chunk), Some(state)))
            }
            Ok(None) => None,
            Err(err) => {
                let err = transport_error(err);
                let kind = match err.kind {
                    TransportKind::Timeout => ErrorKind::Timeout,
                    _ => ErrorKind::Transient,
                };
                let message = format!("{}: reading the body: {}", state.label, err.message);
                Some((Err(ConnectorError::new(kind, message)), None))
            }
        }
    })
    .boxed()
}

/// A reqwest error as a transport failure, its message without the URL.
fn transport_error(err: reqwest::Error) -> TransportError {
    let kind = if err.is_timeout() {
        TransportKind::Timeout
    } else if err.is_connect() {
        TransportKind::Connect
    } else if err.is_request() || err.is_body() || err.is_decode() {
        TransportKind::Reset
    } else {
        TransportKind::Other
    };
    TransportError::new(kind, chain(err))
}

/// The error and its causes, `: `-separated, with the URL stripped from reqwest's own.
fn chain(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Whether `body` is JSON that stops before its end (checked by a parse that keeps
/// nothing: a list page is parsed twice, which costs far less than its round trip).
fn cut_short(body: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(body)
        .is_err_and(|e| e.classify() == serde_json::error::Category::Eof)
}

/// Decodes a JSON body; the error names the call and where decoding failed, never a value.
fn decode_json<T: DeserializeOwned>(label: &str, body: &[u8]) -> Result<T, ConnectorError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|err| (err.path().to_string(), err.into_inner()))
        .and_then(|value| {
            let end = deserializer.end();
            end.map(|()| value).map_err(|err| (".".to_string(), err))
        })
        .map_err(|(path, err)| {
            ConnectorError::new(
                ErrorKind::InvalidResponse,
                format!(
                    "{label}: unexpected JSON at {path}: {}",
                    describe_json_error(&err)
                ),
            )
        })
}

/// What went wrong, without the offending value: serde's data errors quote it
/// (`invalid type: string "…", expected u64`), so only the expectation is kept.
pub(crate) fn describe_json_error(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match err.classify() {
        Category::Eof => "truncated JSON".to_string(),
        Category::Io | Category::Syntax => format!(
            "malformed JSON at line {} column {}",
            err.line(),
            err.column()
        ),
        Category::Data => {
            let text = err.to_string();
            let text = text.split(" at line ").next().unwrap_or_default();
            if text.starts_with("missing field") || text.starts_with("duplicate field") {
                return text.to_string();
            }
            let what = [
                "invalid type",
                "invalid value",
                "invalid length",
                "unknown variant",
                "unknown field",
            ]
            .into_iter()
            .find(|prefix| text.starts_with(prefix))
            .unwrap_or("unexpected value");
            match text.rsplit_once(", expected ") {
                Some((_, expected)) => format!("{what}, expected {expected}"),
                None => what.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // Read only through `Debug`.
    struct Page {
        files: Vec<File>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // Read only through `Debug`.
    struct File {
        id: String,
        size: u64,
    }

    /// The message of decoding `body` as a `Page`.
    fn check(body: &str) -> String {
        decode_json::<Page>("GET https://h/p", body.as_bytes())
            .map(|page| format!("{page:?}"))
            .unwrap_or_else(|err| {
                assert_eq!(err.kind, ErrorKind::InvalidResponse);
                err.message
            })
    }

    #[test]
    fn json_errors_name_the_field_not_the_value() {
        assert_eq!(
            check(r#"{"files":[{"id":"a","size":1},{"id":"b","size":"SECRET-VALUE"}]}"#),
            "GET https://h/p: unexpected JSON at files[1].size: invalid type, expected u64"
        );
        assert_eq!(
            check(r#"{"files":[{"size":1}]}"#),
            "GET https://h/p: unexpected JSON at files[0]: missing field `id`"
        );
        assert_eq!(
            check(r#"{"files":[{"id":"a","size":1}]"#),
            "GET https://h/p: unexpected JSON at ?: truncated JSON"
        );
        assert_eq!(
            check(r#"{"files":[]} trailing"#),
            "GET https://h/p: unexpected JSON at .: malformed JSON at line 1 column 14"
        );
        assert_eq!(
            check(r#"{"files":[{"id":"a","size":1}]}"#),
            r#"Page { files: [File { id: "a", size: 1 }] }"#
        );
    }
}
