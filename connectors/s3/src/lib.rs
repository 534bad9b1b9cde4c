//! Tributary connector for Amazon S3 and S3-compatible stores, on `aws-sdk-s3`.
//!
//! - **Listing**: ListObjectsV2 pages per configured prefix; the document id is the object
//!   key; folder placeholders (`key/`), the ACL file and metadata sidecars are not
//!   documents. The listing position (a start-after key per prefix) travels in-band as
//!   checkpoints, so a killed full sync resumes where it stopped.
//! - **Versions** are size + ETag (+ the sidecar's ETag): an opaque token, never a content
//!   hash. The engine compares them with its manifest, so an unchanged object is never
//!   downloaded, and a GET sends the listed ETag as `If-Match`.
//! - **ACLs** come from an Amazon Q style ACL file in the bucket (`keyPrefix` =
//!   `s3://BUCKET/prefix/`), or from a sidecar's `AccessControlList`, which wins for its
//!   document. Keys nothing covers get `default_access` (nobody, unless configured).
//! - **Configuration**: [`S3Type`] is the `type = "s3"` entry a host registers; it reads an
//!   [`S3Config`] from a `[[sources]]` table ([`connector_sdk::SourceType`]).
//!
//! ```no_run
//! use connector_s3::{S3Config, S3Connector};
//!
//! let mut config = S3Config::new("corp-docs");
//! config.prefixes = vec!["policies/".into()];
//! config.acl_file_key = Some("acl.json".into());
//! let connector = S3Connector::new(config).expect("valid config");
//! ```

mod client;
mod config;
mod listing;
mod sidecar;

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::config::SharedCredentialsProvider;
use bytes::Bytes;
use connector_sdk::acl_file::AclFile;
use connector_sdk::{
    ByteStream, Change, ChangeStream, Connector, ConnectorError, ErrorKind, RemoteDocument,
    SourceCheckpoint, SyncContext,
};
use futures::StreamExt;
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::{OnceCell, Semaphore, mpsc};

pub use aws_sdk_s3::config::Credentials;
pub use config::{ConfigProblem, DefaultAccess, S3Config, S3Type};

use listing::{KeyKind, Listed, Paired, Pairing};

/// Checkpoint partition holding the ACL file's ETag and body, so a re-sync whose ACL file
/// did not change needs a HeadObject, not a GetObject.
pub const ACL_PARTITION: &str = "acl_file";

/// Checkpoint partition naming the run that started the listing being resumed.
pub const LISTING_PARTITION: &str = "listing";

/// ACL files up to this size are kept in the checkpoint; a bigger one is read every run.
const MAX_CACHED_ACL_BYTES: usize = 1024 * 1024;

/// The largest ACL file read at all.
const MAX_ACL_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Attempts to download one object when the body breaks off mid-stream (the SDK retries
/// failed requests; a body that fails after the response started is ours to retry).
const BODY_ATTEMPTS: u32 = 3;

type Item = Result<Change, ConnectorError>;

/// A connector over one bucket (optionally some prefixes of it).
#[derive(Debug, Clone)]
pub struct S3Connector {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: S3Config,
    prefixes: Vec<String>,
    include: Option<GlobSet>,
    exclude: GlobSet,
    credentials: Option<SharedCredentialsProvider>,
    client: OnceCell<aws_sdk_s3::Client>,
    downloads: Semaphore,
}

fn globset(globs: &[String]) -> Result<GlobSet, globset::Error> {
    let mut builder = GlobSetBuilder::new();
    for g in globs {
        builder.add(Glob::new(g)?);
    }
    builder.build()
}

/// The ACL file as kept in the checkpoint.
#[derive(Serialize, Deserialize)]
struct CachedAcl {
    etag: String,
    body: String,
}

impl S3Connector {
    /// Builds the connector with credentials from the AWS default chain; fails with every
    /// configuration problem at once. No request is made until the first sync or check.
    pub fn new(config: S3Config) -> Result<Self, Vec<ConfigProblem>> {
        Self::build(config, None)
    }

    /// Builds the connector with explicit credentials (tests, embedders with their own
    /// secret store).
    pub fn with_credentials(
        config: S3Config,
        credentials: Credentials,
    ) -> Result<Self, Vec<ConfigProblem>> {
        Self::build(config, Some(SharedCredentialsProvider::new(credentials)))
    }

    fn build(
        config: S3Config,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Result<Self, Vec<ConfigProblem>> {
        let problems = config.validate();
        if !problems.is_empty() {
            return Err(problems);
        }
        let glob_problem = |key: &str, e: globset::Error| {
            vec![ConfigProblem {
                key: key.into(),
                message: e.to_string(),
            }]
        };
        let include = if config.include.is_empty() {
            None
        } else {
            Some(globset(&config.include).map_err(|e| glob_problem("include", e))?)
        };
        let exclude = globset(&config.exclude).map_err(|e| glob_problem("exclude", e))?;
        Ok(S3Connector {
            inner: Arc::new(Inner {
                prefixes: config.effective_prefixes(),
                include,
                exclude,
                credentials,
                client: OnceCell::new(),
                downloads: Semaphore::new(config.concurrency),
                config,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &S3Config {
        &self.inner.config
    }

    fn listing(&self, cx: &SyncContext, mode: Mode) -> ChangeStream<'static> {
        let inner = Arc::clone(&self.inner);
        let run_id = cx.run_id.clone();
        // Pages are fetched ahead on their own task while the engine works through the
        // previous one; the bounded channel keeps at most a few pages in memory.
        let (tx, rx) = mpsc::channel::<Item>(2048);
        tokio::spawn(async move {
            let out = Out(tx);
            if let Err(e) = inner.list(mode, &run_id, &out).await {
                out.send(Err(e)).await;
            }
        });
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) })
            .boxed()
    }
}

/// Where a listing starts.
enum Mode {
    /// A full listing, resumed from a checkpoint if given.
    Full(Option<SourceCheckpoint>),
    /// A re-listing for an incremental sync (S3 has no change feed).
    Relist(SourceCheckpoint),
}

/// The listing's sender; `send` is false once the engine stopped listening.
struct Out(mpsc::Sender<Item>);

impl Out {
    async fn send(&self, item: Item) -> bool {
        self.0.send(item).await.is_ok()
    }

    async fn checkpoint(&self, partition: &str, cursor: Option<String>) -> bool {
        self.send(Ok(Change::Checkpoint {
            partition: partition.to_string(),
            cursor,
        }))
        .await
    }
}

fn list_partition(prefix: &str) -> String {
    format!("list:{prefix}")
}

impl Inner {
    async fn client(&self) -> Result<&aws_sdk_s3::Client, ConnectorError> {
        self.client
            .get_or_try_init(|| client::build(&self.config, self.credentials.clone()))
            .await
    }

    fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.config.bucket)
    }

    fn key_kind(&self, key: &str) -> KeyKind {
        if key.ends_with('/') || self.config.acl_file_key.as_deref() == Some(key) {
            KeyKind::Ignored
        } else if key.ends_with(&self.config.metadata_suffix) {
            KeyKind::Sidecar
        } else if self.include.as_ref().is_some_and(|g| !g.is_match(key))
            || self.exclude.is_match(key)
        {
            KeyKind::Ignored
        } else {
            KeyKind::Document
        }
    }

    /// Reads an object whole, at most `max` bytes, with `If-Match: etag`.
    async fn get(
        &self,
        key: &str,
        etag: Option<&str>,
        max: u64,
    ) -> Result<Vec<u8>, ConnectorError> {
        let client = self.client().await?;
        let what = format!("get {}", self.uri(key));
        let _permit = self.downloads.acquire().await.map_err(|_| {
            ConnectorError::new(ErrorKind::Permanent, "the connector is shutting down")
        })?;
        let mut attempt = 1;
        loop {
            let mut request = client.get_object().bucket(&self.config.bucket).key(key);
            if let Some(etag) = etag {
                request = request.if_match(etag);
            }
            let response = request
                .send()
                .await
                .map_err(|e| client::classify(&what, e))?;
            if response
                .content_length()
                .is_some_and(|n| u64::try_from(n).unwrap_or(0) > max)
            {
                return Err(ConnectorError::new(
                    ErrorKind::TooLarge,
                    format!("{what}: larger than the limit of {max} bytes"),
                ));
            }
            let mut body = response.body;
            let mut out = Vec::new();
            let broken = loop {
                match body.next().await {
                    None => break None,
                    Some(Ok(chunk)) => {
                        if (out.len() + chunk.len()) as u64 > max {
                            return Err(ConnectorError::new(
                                ErrorKind::TooLarge,
                                format!("{what}: larger than the limit of {max} bytes"),
                            ));
                        }
                        out.extend_from_slice(&chunk);
                    }
                    Some(Err(e)) => break Some(e),
                }
            };
            match broken {
                None => return Ok(out),
                Some(e) if attempt >= BODY_ATTEMPTS => {
                    return Err(ConnectorError::new(
                        ErrorKind::Transient,
                        format!("{what}: the body broke off {attempt} times: {e}"),
                    )
                    .with_source(e));
                }
                Some(e) => {
                    tracing::debug!(key, attempt, error = %e, "object body broke off; downloading again");
                    tokio::time::sleep(self.config.initial_backoff * 2u32.pow(attempt - 1)).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Loads the ACL file, from the checkpoint's copy when its ETag still matches.
    /// Returns the parsed file and the checkpoint cursor to store (if small enough).
    async fn load_acl(
        &self,
        cached: Option<&str>,
    ) -> Result<(Option<AclFile>, Option<String>), ConnectorError> {
        let Some(key) = &self.config.acl_file_key else {
            return Ok((None, None));
        };
        let client = self.client().await?;
        let what = format!("acl file {}", self.uri(key));
        let head = client
            .head_object()
            .bucket(&self.config.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                // Without the ACL file no document can be synced: a refused HeadObject
                // (expired credentials come as a bare 400) stops the listing.
                let mut err = client::classify_listing(&what, e);
                if err.kind == ErrorKind::NotFound {
                    // Fail closed: without the file, no document's ACL is known.
                    err.message = format!("{what} does not exist");
                    err.kind = ErrorKind::Permanent;
                }
                err
            })?;
        let etag = head.e_tag().unwrap_or_default().to_string();
        let cached: Option<CachedAcl> = cached.and_then(|c| serde_json::from_str(c).ok());
        let body = match cached {
            Some(c) if !etag.is_empty() && c.etag == etag => c.body,
            _ => {
                let bytes = self
                    .get(
                        key,
                        (!etag.is_empty()).then_some(etag.as_str()),
                        MAX_ACL_FILE_BYTES,
                    )
                    .await?;
                String::from_utf8(bytes).map_err(|_| {
                    ConnectorError::new(ErrorKind::Permanent, format!("{what} is not UTF-8"))
                })?
            }
        };
        let file = AclFile::parse(body.as_bytes()).map_err(|e| {
            ConnectorError::new(ErrorKind::Permanent, format!("{what}: {e}")).with_source(e)
        })?;
        let cursor = (body.len() <= MAX_CACHED_ACL_BYTES && !etag.is_empty())
            .then(|| serde_json::to_string(&CachedAcl { etag, body }).ok())
            .flatten();
        Ok((Some(file), cursor))
    }

    fn document(&self, paired: Paired, acl_file: Option<&AclFile>) -> RemoteDocument {
        let object = paired.object;
        let uri = self.uri(&object.key);
        let acl = acl_file
            .and_then(|f| f.lookup(&uri))
            .cloned()
            .unwrap_or_else(|| self.config.default_access.acl());
        let version = listing::version(&object, paired.sidecar_etag.as_deref());
        let title = object
            .key
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let mut doc = RemoteDocument::new(object.key, version, acl);
        doc.title = Some(title);
        doc.uri = Some(uri);
        doc.size = Some(object.size);
        doc.modified = object.modified;
        doc
    }

    /// A request of the listing was throttled beyond the SDK's retries: the error goes to
    /// the engine (which pauses the run), the listing backs off and asks again. Returns
    /// `false` once the engine stopped listening.
    async fn throttled(&self, out: &Out, e: ConnectorError, attempts: &mut u32) -> bool {
        let wait = match e.kind {
            ErrorKind::RateLimited {
                retry_after: Some(wait),
            } => wait,
            _ => (self.config.initial_backoff * 2u32.pow((*attempts).min(6)))
                .min(std::time::Duration::from_secs(20)),
        };
        *attempts += 1;
        if !out.send(Err(e)).await {
            return false;
        }
        tokio::time::sleep(wait).await;
        true
    }

    async fn list(&self, mode: Mode, run_id: &str, out: &Out) -> Result<(), ConnectorError> {
        let (checkpoint, resumed) = match &mode {
            Mode::Full(Some(cp)) => (Some(cp), true),
            Mode::Full(None) => (None, false),
            Mode::Relist(cp) => (Some(cp), false),
        };
        let mut throttled = 0;
        let (acl_file, acl_cursor) = loop {
            match self
                .load_acl(checkpoint.and_then(|cp| cp.cursor(ACL_PARTITION)))
                .await
            {
                Err(e) if matches!(e.kind, ErrorKind::RateLimited { .. }) => {
                    if !self.throttled(out, e, &mut throttled).await {
                        return Ok(());
                    }
                }
                loaded => break loaded?,
            }
        };
        if acl_cursor.is_some() && !out.checkpoint(ACL_PARTITION, acl_cursor).await {
            return Ok(());
        }
        match checkpoint.and_then(|cp| cp.cursor(LISTING_PARTITION)) {
            Some(started_by) if resumed => {
                tracing::info!(bucket = %self.config.bucket, started_by, "resuming the listing");
            }
            _ => {
                if !out
                    .checkpoint(LISTING_PARTITION, Some(run_id.to_string()))
                    .await
                {
                    return Ok(());
                }
            }
        }
        let client = self.client().await?;
        for prefix in &self.prefixes {
            let partition = list_partition(prefix);
            let start_after = match checkpoint
                .filter(|_| resumed)
                .and_then(|cp| cp.cursor(&partition))
            {
                Some("done") => continue,
                Some(c) => c.strip_prefix("after:").map(str::to_string),
                None => None,
            };
            let what = format!("list {}", self.uri(prefix));
            let mut pairing = Pairing::new(&self.config.metadata_suffix, start_after.clone());
            let mut last_cursor = start_after.clone();
            let mut token: Option<String> = None;
            // Every continuation token this prefix's listing followed: a server that hands
            // one out again would be followed forever.
            let mut followed: HashSet<String> = HashSet::new();
            loop {
                let page = loop {
                    let mut request = client
                        .list_objects_v2()
                        .bucket(&self.config.bucket)
                        .prefix(prefix)
                        .max_keys(self.config.page_size);
                    if let Some(t) = &token {
                        request = request.continuation_token(t);
                    } else if let Some(after) = &start_after {
                        request = request.start_after(after);
                    }
                    match request
                        .send()
                        .await
                        .map_err(|e| client::classify_listing(&what, e))
                    {
                        Ok(page) => break page,
                        Err(e) if matches!(e.kind, ErrorKind::RateLimited { .. }) => {
                            if !self.throttled(out, e, &mut throttled).await {
                                return Ok(());
                            }
                        }
                        Err(e) => return Err(e),
                    }
                };
                listing::check_page(
                    &what,
                    page.is_truncated(),
                    page.key_count(),
                    page.contents().len() + page.common_prefixes().len(),
                )?;
                let mut released = Vec::new();
                for object in page.contents() {
                    let Some(key) = object.key() else { continue };
                    let listed = Listed {
                        key: key.to_string(),
                        etag: object.e_tag().unwrap_or_default().to_string(),
                        size: object
                            .size()
                            .and_then(|s| u64::try_from(s).ok())
                            .unwrap_or(0),
                        modified: object
                            .last_modified()
                            .and_then(|t| OffsetDateTime::from_unix_timestamp(t.secs()).ok()),
                    };
                    let kind = self.key_kind(key);
                    pairing.push(listed, kind, &mut released);
                }
                let truncated = page.is_truncated().unwrap_or(false);
                if !truncated {
                    pairing.finish(&mut released);
                }
                for paired in released {
                    let doc = self.document(paired, acl_file.as_ref());
                    if !out.send(Ok(Change::Upsert(doc))).await {
                        return Ok(());
                    }
                }
                if !truncated {
                    if !out.checkpoint(&partition, Some("done".into())).await {
                        return Ok(());
                    }
                    break;
                }
                let cursor = pairing.resume_cursor().map(str::to_string);
                if cursor.is_some() && cursor != last_cursor {
                    let value = cursor.as_ref().map(|c| format!("after:{c}"));
                    if !out.checkpoint(&partition, value).await {
                        return Ok(());
                    }
                    last_cursor = cursor;
                }
                token = match page.next_continuation_token() {
                    Some(t) if !followed.insert(t.to_string()) => {
                        return Err(ConnectorError::new(
                            ErrorKind::InvalidResponse,
                            format!(
                                "{what}: the server handed out the continuation token {t:?} again"
                            ),
                        ));
                    }
                    Some(t) if !t.is_empty() => Some(t.to_string()),
                    _ => {
                        return Err(ConnectorError::new(
                            ErrorKind::InvalidResponse,
                            format!("{what}: a truncated page without a continuation token"),
                        ));
                    }
                };
            }
        }
        // Every prefix is listed: clear the positions, so the next listing starts over.
        for prefix in &self.prefixes {
            if !out.checkpoint(&list_partition(prefix), None).await {
                return Ok(());
            }
        }
        if out.checkpoint(LISTING_PARTITION, None).await {
            out.send(Ok(Change::ListingComplete)).await;
        }
        Ok(())
    }
}

#[async_trait]
impl Connector for S3Connector {
    fn kind(&self) -> &'static str {
        "s3"
    }

    /// One small listing (and a HeadObject of the ACL file): proves credentials, region,
    /// endpoint and bucket access.
    async fn check(&self, _cx: &SyncContext) -> Result<(), ConnectorError> {
        let inner = &self.inner;
        let client = inner.client().await?;
        let prefix = inner.prefixes.first().cloned().unwrap_or_default();
        client
            .list_objects_v2()
            .bucket(&inner.config.bucket)
            .prefix(&prefix)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| client::classify_listing(&format!("list {}", inner.uri(&prefix)), e))?;
        inner.load_acl(None).await?;
        Ok(())
    }

    fn full<'a>(
        &'a self,
        cx: &'a SyncContext,
        resume: Option<&'a SourceCheckpoint>,
    ) -> ChangeStream<'a> {
        self.listing(cx, Mode::Full(resume.cloned()))
    }

    /// S3 has no change feed: list again; the engine's manifest diff (ETag + size) finds
    /// what changed, and only that is downloaded.
    fn incremental<'a>(
        &'a self,
        cx: &'a SyncContext,
        since: &'a SourceCheckpoint,
    ) -> ChangeStream<'a> {
        self.listing(cx, Mode::Relist(since.clone()))
    }

    async fn fetch(
        &self,
        cx: &SyncContext,
        doc: &RemoteDocument,
    ) -> Result<ByteStream, ConnectorError> {
        let inner = &self.inner;
        let max = inner
            .config
            .max_object_bytes
            .min(cx.limits.max_document_bytes);
        if let Some(size) = doc.size
            && size > max
        {
            return Err(ConnectorError::new(
                ErrorKind::TooLarge,
                format!("{size} bytes is over the limit of {max} bytes"),
            ));
        }
        let etag = listing::if_match(&doc.version);
        let bytes = inner.get(doc.id.as_str(), etag, max).await?;
        Ok(futures::stream::once(async move { Ok(Bytes::from(bytes)) }).boxed())
    }

    /// Applies the document's metadata sidecar (title, content type, attributes, ACL).
    async fn resolve(
        &self,
        _cx: &SyncContext,
        doc: &mut RemoteDocument,
    ) -> Result<bool, ConnectorError> {
        let inner = &self.inner;
        let Some((_, Some(sidecar_etag))) = listing::parse_version(&doc.version) else {
            return Ok(false);
        };
        let key = format!("{}{}", doc.id.as_str(), inner.config.metadata_suffix);
        let sidecar_etag = sidecar_etag.to_string();
        let bytes = inner
            .get(&key, Some(&sidecar_etag), sidecar::MAX_SIDECAR_BYTES)
            .await?;
        let sidecar = sidecar::parse(&key, &bytes)?;
        if let Some(title) = sidecar.title {
            doc.title = Some(title);
        }
        if let Some(content_type) = sidecar.content_type {
            doc.content_type = Some(content_type);
        }
        doc.metadata.extend(sidecar.attributes);
        if let Some(acl) = sidecar.acl {
            doc.acl = acl;
        }
        Ok(true)
    }
}
