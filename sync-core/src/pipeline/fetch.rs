//! The fetch stage: resolve, fetch, extract and chunk one document (N at a time).

use std::sync::Arc;

use connector_sdk::{
    Acl, Connector, ConnectorError, Content, ErrorKind, RemoteDocument, SyncContext, read_bounded,
};
use extractors::{Hints, Registry};

use super::throttle::{Abandoned, Extractions, Throttle, extraction_deadline};
use super::{Kept, KeptAcl, Op, SyncOptions, acl_hash, hash};
use crate::chunker::{self, Chunk};
use crate::store::ManifestEntry;

/// Inputs up to this size are extracted on the async worker (see `Fetcher::process`).
const INLINE_EXTRACT_BYTES: u64 = 16 * 1024;
/// Fetches, extracts and chunks one document.
pub(super) struct Fetcher<'a> {
    pub(super) connector: &'a dyn Connector,
    /// See `Source::acl_salt`.
    pub(super) acl_salt: &'a str,
    pub(super) cx: &'a SyncContext,
    pub(super) registry: Arc<Registry>,
    pub(super) options: &'a SyncOptions,
    pub(super) pipeline: String,
    pub(super) generation: u64,
    pub(super) throttle: &'a Throttle,
    pub(super) extractions: Extractions,
}

/// A document that a source keeps rate-limiting is given up (for this run) after this many
/// pauses.
const MAX_THROTTLED_ATTEMPTS: u32 = 10;

/// How many times one run fetches a document whose body keeps breaking off.
const MAX_BROKEN_BODIES: u32 = 3;

/// A failed document; one indexed before keeps its chunks under `acl`. `listed` is the
/// document as listed (before `resolve`), kept for the retry list.
fn failed(
    listed: &RemoteDocument,
    listed_acl: &Acl,
    prev: Option<ManifestEntry>,
    acl: KeptAcl,
    stage: &'static str,
    kind: &str,
    message: String,
) -> Op {
    let skipped = kind == "too_large" && stage == "fetch";
    let retry = (!skipped).then(|| {
        let mut doc = Box::new(listed.clone());
        doc.acl = listed_acl.clone();
        doc
    });
    Op::Failed {
        id: listed.id.clone(),
        stage,
        kind: kind.to_string(),
        message,
        keep: prev.map(|entry| Kept { entry, acl }),
        skipped,
        retry,
    }
}

/// The last path segment of an id, for extension-based format detection.
fn file_name_hint(doc: &RemoteDocument) -> String {
    let id = doc.id.as_str();
    let last = id.rsplit('/').next().unwrap_or(id);
    if last.contains('.') {
        last.to_string()
    } else {
        doc.title.clone().unwrap_or_else(|| last.to_string())
    }
}

impl Fetcher<'_> {
    /// An ACL-only change: the connector resolves the document's effective ACL (no
    /// content is downloaded); if it cannot, the effective ACL is unknown and the
    /// document's chunks become invisible until a later run resolves it.
    pub(super) async fn acl_only(
        &self,
        mut doc: Box<RemoteDocument>,
        entry: ManifestEntry,
        prev: ManifestEntry,
    ) -> Op {
        let listed = doc.acl.clone();
        let resolved = self.resolve(&mut doc).await;
        if resolved.is_err() {
            doc.acl = listed;
        }
        match resolved {
            Ok(_) => Op::AclOnly {
                id: doc.id,
                acl: doc.acl,
                entry,
            },
            Err(e) => Op::Failed {
                id: doc.id.clone(),
                stage: "resolve",
                kind: e.kind.as_str().to_string(),
                message: e.message,
                keep: Some(Kept {
                    entry: prev,
                    acl: KeptAcl::Unknown,
                }),
                skipped: false,
                retry: Some(doc),
            },
        }
    }

    pub(super) async fn process(
        &self,
        mut doc: Box<RemoteDocument>,
        prev: Option<ManifestEntry>,
    ) -> Op {
        let max = self.options.limits.max_input_bytes as u64;
        let prev = prev.map(|mut e| {
            e.seen = self.generation;
            e
        });
        // The manifest keeps the hash of the ACL as *listed*, so that an unchanged listing
        // is recognised without asking the connector to resolve anything.
        let acl_h = acl_hash(&doc.acl, self.acl_salt);
        let listed_acl = doc.acl.clone();
        // Resolve first, even for a document that is then refused for its size: its
        // effective ACL must reach its old chunks whatever happens to the content.
        let resolved = match self.resolve(&mut doc).await {
            Ok(resolved) => resolved,
            Err(e) => {
                let kind = e.kind.as_str();
                return failed(
                    &doc,
                    &listed_acl,
                    prev,
                    KeptAcl::Unknown,
                    "resolve",
                    kind,
                    e.message,
                );
            }
        };
        let fail = |stage: &'static str, kind: &str, message: String| {
            let acl = KeptAcl::Known(doc.acl.clone());
            failed(&doc, &listed_acl, prev.clone(), acl, stage, kind, message)
        };
        if let Some(size) = doc.size
            && size > max
        {
            return fail(
                "fetch",
                "too_large",
                format!("{size} bytes is over the limit of {max} bytes"),
            );
        }
        let bytes = match &doc.content {
            Content::Inline(text) => text.clone().into_bytes(),
            Content::Fetch => match self.fetch(&doc, max).await {
                Ok(b) => b,
                Err(e) => return fail("fetch", e.kind.as_str(), e.message),
            },
        };
        let size = bytes.len() as u64;
        // What is indexed besides the bytes — the title, the content type, the metadata
        // (and what resolving added: a sidecar's ACL) — is part of "the same content": a
        // document renamed at a source whose ids do not change (Drive, SharePoint) must be
        // indexed again under its new title, not kept as "touched, not changed".
        let content_hash = {
            let mut h = blake3::Hasher::new();
            h.update(&bytes);
            if resolved {
                h.update(doc.acl.canonical().as_bytes());
            }
            h.update(doc.title.as_deref().unwrap_or_default().as_bytes());
            h.update(doc.content_type.as_deref().unwrap_or_default().as_bytes());
            h.update(
                serde_json::to_string(&doc.metadata)
                    .unwrap_or_default()
                    .as_bytes(),
            );
            h.finalize().to_hex()[..32].to_string()
        };
        // Entries written before the hash covered the title and metadata hold the hash of
        // the bytes alone; for them (whose ids carry their names: paths, keys) equal bytes
        // are still the same content, and the entry moves to the new hash.
        let legacy = || !resolved && p_hash_is(&prev, &hash(&bytes));
        if let Some(p) = &prev
            && (p.content_hash == content_hash || legacy())
            && p.pipeline == self.pipeline
        {
            // Touched, not changed (a new mtime, a re-uploaded object): no re-extraction.
            let mut entry = p.clone();
            entry.content_hash = content_hash.clone();
            entry.version = doc.version.clone();
            entry.seen = self.generation;
            // A resolved document's effective ACL is in its content hash: equal hashes,
            // equal ACLs.
            let acl = (!resolved && entry.acl_hash != acl_h).then(|| doc.acl.clone());
            entry.acl_hash = acl_h;
            return Op::SameContent {
                id: doc.id.clone(),
                acl,
                entry,
                bytes: size,
            };
        }

        let registry = Arc::clone(&self.registry);
        let limits = self.options.limits.clone();
        let chunker = self.options.chunker;
        let name = file_name_hint(&doc);
        let name_hint = name.clone();
        let bytes_head = bytes[..bytes.len().min(1024)].to_vec();
        let content_type = doc.content_type.clone();
        let work = move || {
            let hints = Hints {
                content_type: content_type.as_deref(),
                file_name: Some(&name),
            };
            registry.extract(&bytes, &hints, &limits).map(|ex| {
                let mut chunks = chunker::chunk(&ex, &chunker);
                if chunks.is_empty() {
                    // An empty document still gets one chunk, so it is listed and its
                    // title is searchable.
                    chunks.push(Chunk {
                        ordinal: 0,
                        text: String::new(),
                        heading: Vec::new(),
                        page: None,
                    });
                }
                (ex.format.name().to_string(), ex.title, chunks)
            })
        };
        // Small documents extract in tens of microseconds: a hop to the blocking pool would
        // cost more than the work. Anything bigger (and every binary format) goes there, so
        // the async workers never block for long.
        let cheap = size <= INLINE_EXTRACT_BYTES && {
            let hints = Hints {
                content_type: doc.content_type.as_deref(),
                file_name: Some(&name_hint),
            };
            use extractors::Format::*;
            matches!(
                extractors::detect(&bytes_head, &hints),
                Text | Markdown | Html | Csv | Json
            )
        };
        let extracted = if cheap {
            Ok(work())
        } else {
            let deadline = extraction_deadline(self.options.limits.timeout);
            self.extractions.run(deadline, work).await
        };
        match extracted {
            Err(Abandoned::Deadline(after)) => fail(
                "extract",
                "timeout",
                format!(
                    "extraction was still running after {} ms and was abandoned",
                    after.as_millis()
                ),
            ),
            Err(Abandoned::TooManyStuck(n)) => fail(
                "extract",
                "timeout",
                format!("not extracted: {n} earlier extractions are stuck past their deadline"),
            ),
            Err(Abandoned::Panicked(what)) => fail(
                "extract",
                "corrupt",
                format!("extraction task failed: {what}"),
            ),
            Ok(Err(e)) => fail("extract", e.kind.as_str(), e.message),
            Ok(Ok((format, title, chunks))) => {
                let title = title
                    .or_else(|| doc.title.clone())
                    .unwrap_or_else(|| doc.id.to_string());
                let entry = ManifestEntry {
                    version: doc.version.clone(),
                    acl_hash: acl_h,
                    content_hash,
                    pipeline: self.pipeline.clone(),
                    chunks: chunks.len() as u32,
                    seen: self.generation,
                };
                Op::Indexed {
                    is_new: prev.is_none(),
                    doc,
                    format,
                    title,
                    chunks,
                    entry,
                    bytes: size,
                }
            }
        }
    }

    /// Lets the connector complete the document, pausing while the source rate-limits.
    async fn resolve(&self, doc: &mut RemoteDocument) -> Result<bool, ConnectorError> {
        let mut attempt = 0;
        loop {
            self.throttle.wait().await;
            let result = self.connector.resolve(self.cx, doc).await;
            if !self.again(&result, &mut attempt).await {
                return result;
            }
        }
    }

    /// Fetches the bytes under the fetch deadline, pausing while the source rate-limits.
    /// A body that breaks off after it began (`Transient` while reading) is fetched again,
    /// up to [`MAX_BROKEN_BODIES`] times: the connector's own retries end once it hands
    /// the stream over, and a connection that drops mid-download is the commonest
    /// transient fault of all.
    async fn fetch(&self, doc: &RemoteDocument, max: u64) -> Result<Vec<u8>, ConnectorError> {
        let deadline = self.options.fetch_timeout;
        let mut attempt = 0;
        let mut broken = 0;
        loop {
            self.throttle.wait().await;
            // The error, and whether it came while reading the body.
            let fetch = async {
                let stream = self.connector.fetch(self.cx, doc).await;
                let stream = stream.map_err(|e| (e, false))?;
                read_bounded(stream, max).await.map_err(|e| (e, true))
            };
            let result = match tokio::time::timeout(deadline, fetch).await {
                Ok(Ok(bytes)) => Ok(bytes),
                Ok(Err((e, reading))) => {
                    if reading && e.kind == ErrorKind::Transient && broken + 1 < MAX_BROKEN_BODIES {
                        broken += 1;
                        tracing::debug!(doc = %doc.id, error = %e, "the body broke off; fetching it again");
                        continue;
                    }
                    Err(e)
                }
                Err(_) => Err(ConnectorError::new(
                    ErrorKind::Timeout,
                    format!("no complete answer within {} ms", deadline.as_millis()),
                )),
            };
            if !self.again(&result, &mut attempt).await {
                return result;
            }
        }
    }

    /// Whether to make a connector call again: while the source answers `RateLimited`, the
    /// run pauses (see [`Throttle`]) and the call is repeated, up to
    /// [`MAX_THROTTLED_ATTEMPTS`] times.
    async fn again<T>(&self, result: &Result<T, ConnectorError>, attempt: &mut u32) -> bool {
        match result {
            Err(ConnectorError {
                kind: ErrorKind::RateLimited { retry_after },
                ..
            }) if *attempt + 1 < MAX_THROTTLED_ATTEMPTS => {
                *attempt += 1;
                self.throttle.pause(*retry_after).await;
                true
            }
            _ => false,
        }
    }
}

/// Whether `prev`'s stored content hash is `h`.
fn p_hash_is(prev: &Option<crate::store::ManifestEntry>, h: &str) -> bool {
    prev.as_ref().is_some_and(|p| p.content_hash == h)
}
