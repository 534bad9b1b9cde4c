//! The `Connector` trait and the stream items it produces.

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::{Acl, ConnectorError, DocumentId, ErrorKind, RemoteDocument, SourceCheckpoint};

/// One item of a listing or change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The document exists with this version and ACL. The engine compares it with what it
    /// indexed before and fetches only when the version changed.
    Upsert(RemoteDocument),
    /// The source reports the document deleted.
    Delete(DocumentId),
    /// The document's permissions changed and its content did not.
    Permissions {
        /// The document.
        id: DocumentId,
        /// Its new ACL.
        acl: Acl,
    },
    /// Everything yielded before this marker is covered by this cursor: once those
    /// documents are committed, a resumed sync may start from here. `None` clears the
    /// partition. Markers travel in-band, so a checkpoint never overtakes its documents.
    Checkpoint {
        /// The partition the cursor belongs to.
        partition: String,
        /// The cursor, opaque to the engine.
        cursor: Option<String>,
    },
    /// The connector has now listed *every* document of the source in this listing
    /// (which may have spanned resumed runs). Only after this marker, and only if the
    /// listing hit no error, does the engine delete documents it did not see.
    ListingComplete,
}

/// A listing or change feed. An `Err` item means the listing is incomplete: the engine
/// records it, keeps going unless the kind is fatal, and will not sweep deletions — except
/// `RateLimited`, which only pauses the run (see [`ErrorKind`]).
pub type ChangeStream<'a> = BoxStream<'a, Result<Change, ConnectorError>>;

/// A document's bytes, in chunks.
pub type ByteStream = BoxStream<'static, Result<Bytes, ConnectorError>>;

/// Identity crawl output.
pub type MembershipStream<'a> = BoxStream<'a, Result<Membership, ConnectorError>>;

/// One membership fact from a source's directory. Group ids are the source's own: the
/// engine puts them in the source's namespace, as it does the groups of ACLs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Membership {
    /// `user` is a direct member of `group`.
    UserInGroup {
        /// The user: an email, or the source's own user id when a `UserEmail` fact (or the
        /// source's configured `aliases`) maps it to an email. Compared case-insensitively.
        user: String,
        /// The group id.
        group: String,
    },
    /// `child` is a member of `parent`: members of `child` are members of `parent`.
    GroupInGroup {
        /// The nested group.
        child: String,
        /// The containing group.
        parent: String,
    },
    /// The source names the person with this email `user` (a Slack user id, a SharePoint
    /// login): ACL entries and memberships naming `user` are that person's.
    UserEmail {
        /// The source's user id, compared case-insensitively.
        user: String,
        /// The person's email, compared case-insensitively.
        email: String,
    },
}

/// Per-document limits the engine enforces, passed to connectors so that they can stop
/// early (skip listing huge objects, cap a download).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest document, in bytes, the engine will fetch.
    pub max_document_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: 50 * 1024 * 1024,
        }
    }
}

/// What a connector knows about the sync it serves.
#[derive(Debug, Clone)]
pub struct SyncContext {
    /// The configured source id.
    pub source_id: String,
    /// The run's id, for log lines.
    pub run_id: String,
    /// Limits to respect.
    pub limits: Limits,
}

/// A source of documents. Implement this to add a connector; register it in the binary.
///
/// Contract (see `docs/connector-spec.md`):
/// - `full` lists everything, emits `Checkpoint` markers the connector can resume from,
///   and ends with `ListingComplete` when it really listed everything.
/// - `incremental` yields only what changed since the checkpoint if the source has a change
///   feed; a source without one lists everything and ends with `ListingComplete`, and the
///   engine diffs against its manifest.
/// - `fetch` must honour `cx.limits.max_document_bytes` or return its bytes as a stream that
///   the engine caps with [`read_bounded`].
/// - A document whose permissions cannot be read gets an empty [`Acl`] (invisible), never
///   a public one.
///
/// What the engine guarantees in return: changes to one document apply in stream order
/// (a repeat waits until the earlier change is committed); a failed document is retried on
/// later runs even if the feed never names it again; a fetch runs under a deadline; a
/// `RateLimited` error pauses the run instead of failing it; an expired cursor turns the
/// run into a full listing; and whatever happens to a document's content, its last listed
/// ACL reaches what is indexed of it. See [`ErrorKind`] for each error kind.
#[async_trait]
pub trait Connector: Send + Sync {
    /// The connector's type name as written in the configuration (`"filesystem"`).
    fn kind(&self) -> &'static str;

    /// Verifies credentials and access with the smallest real listing call.
    async fn check(&self, cx: &SyncContext) -> Result<(), ConnectorError>;

    /// Lists every document, resuming after `resume` if given.
    fn full<'a>(
        &'a self,
        cx: &'a SyncContext,
        resume: Option<&'a SourceCheckpoint>,
    ) -> ChangeStream<'a>;

    /// Lists what changed since `since`.
    fn incremental<'a>(
        &'a self,
        cx: &'a SyncContext,
        since: &'a SourceCheckpoint,
    ) -> ChangeStream<'a>;

    /// Returns the bytes of a document with [`crate::Content::Fetch`].
    async fn fetch(
        &self,
        cx: &SyncContext,
        doc: &RemoteDocument,
    ) -> Result<ByteStream, ConnectorError>;

    /// Completes a listed document with what the listing could not afford to read (S3's
    /// metadata sidecars: title, attributes, an ACL that replaces the prefix ACL).
    ///
    /// The engine calls it only when it is about to index the document or rewrite its ACL,
    /// never for an unchanged one, and before it reads `doc.acl`, `title` or `metadata`.
    /// Returns whether anything was applied. An error fails this document (it is not
    /// indexed with the listing's guess). The default does nothing.
    async fn resolve(
        &self,
        _cx: &SyncContext,
        _doc: &mut RemoteDocument,
    ) -> Result<bool, ConnectorError> {
        Ok(false)
    }

    /// Crawls users and groups: every membership of the source's directory, and the email
    /// of every user the source names by another id. Sources without a directory return an
    /// empty stream (the identities file then defines their groups).
    ///
    /// The engine calls it for an identity sync (`tributary sync --identities`,
    /// `Engine::sync_identities`): it collects the whole stream and only when the stream
    /// ends without an error replaces the memberships it stored for the source's namespace,
    /// so a failed or partial crawl loses nothing. Emit group ids exactly as the ACLs name
    /// them; the engine namespaces both. `RateLimited` pauses the crawl; any other error
    /// fails the identity sync. A directory of more than a million facts is refused.
    fn identities<'a>(&'a self, _cx: &'a SyncContext) -> MembershipStream<'a> {
        futures::stream::empty().boxed()
    }
}

/// Collects a byte stream into memory, failing with [`ErrorKind::TooLarge`] as soon as it
/// exceeds `max` bytes (so a lying size header or an endless stream cannot exhaust memory).
pub async fn read_bounded(mut stream: ByteStream, max: u64) -> Result<Vec<u8>, ConnectorError> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if (out.len() + chunk.len()) as u64 > max {
            return Err(ConnectorError::new(
                ErrorKind::TooLarge,
                format!("document is larger than the limit of {max} bytes"),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(chunks: &[&'static [u8]]) -> ByteStream {
        let items: Vec<Result<Bytes, ConnectorError>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        futures::stream::iter(items).boxed()
    }

    #[tokio::test]
    async fn read_bounded_accepts_exact_limit_and_refuses_one_more() {
        let ok = read_bounded(stream_of(&[b"abc", b"de"]), 5).await;
        assert_eq!(ok.expect("within limit"), b"abcde");
        let err = read_bounded(stream_of(&[b"abc", b"def"]), 5)
            .await
            .expect_err("over limit");
        assert_eq!(err.kind, ErrorKind::TooLarge);
    }
}
