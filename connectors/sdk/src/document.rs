//! Documents as a source lists them.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Acl;

/// A stable, source-scoped document id: a relative path, an object key, `gdrive:<fileId>`.
///
/// It must not change when the document's content, title or permissions change, and must
/// be unique within one source. The engine scopes it by the source id, so two sources may
/// use the same ids.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DocumentId(String);

impl DocumentId {
    /// Wraps a source's own id.
    pub fn new(id: impl Into<String>) -> Self {
        DocumentId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for DocumentId {
    fn from(s: &str) -> Self {
        DocumentId(s.to_string())
    }
}

/// Where a document's content comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    /// The engine calls [`crate::Connector::fetch`] to get the bytes (files, objects).
    Fetch,
    /// The listing already carried the text (a chat message, a ticket's fields).
    Inline(String),
}

/// One document as a listing or change feed yields it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteDocument {
    /// Stable id, unique within the source.
    pub id: DocumentId,
    /// Human title, if the source has one; extractors may find a better one.
    pub title: Option<String>,
    /// A link back to the document in its source, for citations.
    pub uri: Option<String>,
    /// The source's content type, if it reports one (a hint for format detection).
    pub content_type: Option<String>,
    /// Size in bytes, if known before fetching (used to skip oversized documents early).
    pub size: Option<u64>,
    /// Last modification time, if known.
    #[serde(with = "time::serde::rfc3339::option")]
    pub modified: Option<OffsetDateTime>,
    /// The source's version of the content (ETag, revision, size+mtime). Opaque: the
    /// engine only compares it for equality. A changed version makes the engine fetch.
    pub version: String,
    /// Who may read it. An empty allow set keeps the document invisible.
    pub acl: Acl,
    /// Source metadata kept with the document in the index.
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// How to get the content.
    pub content: Content,
}

impl RemoteDocument {
    /// A document to be fetched, with no metadata; set the other fields as needed.
    pub fn new(id: impl Into<DocumentId>, version: impl Into<String>, acl: Acl) -> Self {
        RemoteDocument {
            id: id.into(),
            title: None,
            uri: None,
            content_type: None,
            size: None,
            modified: None,
            version: version.into(),
            acl,
            metadata: BTreeMap::new(),
            content: Content::Fetch,
        }
    }
}

impl From<String> for DocumentId {
    fn from(s: String) -> Self {
        DocumentId(s)
    }
}
