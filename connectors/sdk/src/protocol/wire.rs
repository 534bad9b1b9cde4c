//! The wire rendering of the SDK's types: documents with ACLs as flat principal terms
//! (`user:ann@example.com`, `group:eng`, `domain:example.com`, `everyone`), changes tagged
//! by `kind`, errors by their stable kind names. Optional fields may be absent, so that a
//! plugin in any language writes only what it knows.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{
    Acl, Change, ConnectorError, Content, DocumentId, ErrorKind, Principal, RemoteDocument,
};

/// An ACL: principal terms. Absent lists are empty, so an absent ACL is invisible.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WireAcl {
    /// Terms of the principals allowed.
    pub allow: Vec<String>,
    /// Terms of the principals denied (deny wins).
    pub deny: Vec<String>,
}

/// A [`RemoteDocument`] on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireDocument {
    /// Stable id, unique within the source.
    pub id: String,
    /// The source's version of the content (compared for equality only).
    pub version: String,
    /// Human title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A link back to the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The source's content type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Size in bytes, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Last modification, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    /// Who may read it; absent = nobody.
    #[serde(default)]
    pub acl: WireAcl,
    /// Source metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// The text, when the listing carries it; absent: the engine sends `fetch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
}

/// A [`Change`] on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WireChange {
    /// [`Change::Upsert`].
    Upsert {
        /// The document.
        document: WireDocument,
    },
    /// [`Change::Delete`].
    Delete {
        /// The document id.
        doc_id: String,
    },
    /// [`Change::Permissions`].
    Permissions {
        /// The document id.
        doc_id: String,
        /// Its new ACL.
        acl: WireAcl,
    },
    /// [`Change::Checkpoint`]: an in-band cursor.
    Checkpoint {
        /// The partition.
        partition: String,
        /// The cursor; `null` clears the partition.
        #[serde(default)]
        cursor: Option<String>,
    },
    /// [`Change::ListingComplete`].
    ListingComplete,
}

/// A [`ConnectorError`] on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    /// [`ErrorKind::as_str`]: `transient`, `rate_limited`, `unauthorized`, `not_found`,
    /// `cursor_expired`, `invalid_response`, `too_large`, `timeout`, `permanent`.
    pub kind: String,
    /// What failed, lowercase.
    #[serde(default)]
    pub message: String,
    /// For `rate_limited`: how long the source asked to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<f64>,
}

fn invalid(message: String) -> ConnectorError {
    ConnectorError::new(ErrorKind::InvalidResponse, message)
}

/// A principal from its term; `None` for anything else.
pub fn principal_from_term(term: &str) -> Option<Principal> {
    if term == "everyone" {
        return Some(Principal::Everyone);
    }
    let (kind, id) = term.split_once(':')?;
    if id.trim().is_empty() {
        return None;
    }
    match kind {
        "user" => Some(Principal::user(id)),
        "group" => Some(Principal::group(id)),
        "domain" => Some(Principal::domain(id)),
        _ => None,
    }
}

impl From<&Acl> for WireAcl {
    fn from(acl: &Acl) -> Self {
        WireAcl {
            allow: acl.allow.iter().map(Principal::term).collect(),
            deny: acl.deny.iter().map(Principal::term).collect(),
        }
    }
}

impl TryFrom<&WireAcl> for Acl {
    type Error = ConnectorError;

    /// Refuses the whole ACL for one unknown term: dropping a deny entry would widen it.
    fn try_from(wire: &WireAcl) -> Result<Self, ConnectorError> {
        Ok(Acl {
            allow: principals(&wire.allow)?,
            deny: principals(&wire.deny)?,
        })
    }
}

fn principals(terms: &[String]) -> Result<BTreeSet<Principal>, ConnectorError> {
    terms
        .iter()
        .map(|t| {
            principal_from_term(t).ok_or_else(|| invalid(format!("unknown principal term {t:?}")))
        })
        .collect()
}

impl From<&RemoteDocument> for WireDocument {
    fn from(doc: &RemoteDocument) -> Self {
        WireDocument {
            id: doc.id.as_str().to_string(),
            version: doc.version.clone(),
            title: doc.title.clone(),
            uri: doc.uri.clone(),
            content_type: doc.content_type.clone(),
            size: doc.size,
            modified: doc.modified.and_then(|m| m.format(&Rfc3339).ok()),
            acl: WireAcl::from(&doc.acl),
            metadata: doc.metadata.clone(),
            inline: match &doc.content {
                Content::Fetch => None,
                Content::Inline(text) => Some(text.clone()),
            },
        }
    }
}

impl TryFrom<WireDocument> for RemoteDocument {
    type Error = ConnectorError;

    fn try_from(wire: WireDocument) -> Result<Self, ConnectorError> {
        if wire.id.is_empty() {
            return Err(invalid("a document without an id".into()));
        }
        let acl = Acl::try_from(&wire.acl)
            .map_err(|e| invalid(format!("document {:?}: {}", wire.id, e.message)))?;
        let modified = match &wire.modified {
            None => None,
            Some(m) => Some(OffsetDateTime::parse(m, &Rfc3339).map_err(|_| {
                invalid(format!("document {:?}: modified is not RFC 3339", wire.id))
            })?),
        };
        Ok(RemoteDocument {
            id: DocumentId::new(wire.id),
            title: wire.title,
            uri: wire.uri,
            content_type: wire.content_type,
            size: wire.size,
            modified,
            version: wire.version,
            acl,
            metadata: wire.metadata,
            content: match wire.inline {
                None => Content::Fetch,
                Some(text) => Content::Inline(text),
            },
        })
    }
}

impl From<&Change> for WireChange {
    fn from(change: &Change) -> Self {
        match change {
            Change::Upsert(doc) => WireChange::Upsert {
                document: WireDocument::from(doc),
            },
            Change::Delete(id) => WireChange::Delete {
                doc_id: id.as_str().to_string(),
            },
            Change::Permissions { id, acl } => WireChange::Permissions {
                doc_id: id.as_str().to_string(),
                acl: WireAcl::from(acl),
            },
            Change::Checkpoint { partition, cursor } => WireChange::Checkpoint {
                partition: partition.clone(),
                cursor: cursor.clone(),
            },
            Change::ListingComplete => WireChange::ListingComplete,
        }
    }
}

impl TryFrom<WireChange> for Change {
    type Error = ConnectorError;

    fn try_from(wire: WireChange) -> Result<Self, ConnectorError> {
        Ok(match wire {
            WireChange::Upsert { document } => Change::Upsert(RemoteDocument::try_from(document)?),
            WireChange::Delete { doc_id } if !doc_id.is_empty() => {
                Change::Delete(DocumentId::new(doc_id))
            }
            WireChange::Permissions { doc_id, acl } if !doc_id.is_empty() => Change::Permissions {
                acl: Acl::try_from(&acl)
                    .map_err(|e| invalid(format!("document {doc_id:?}: {}", e.message)))?,
                id: DocumentId::new(doc_id),
            },
            WireChange::Delete { .. } | WireChange::Permissions { .. } => {
                return Err(invalid("a change without a doc_id".into()));
            }
            WireChange::Checkpoint { partition, cursor } => {
                Change::Checkpoint { partition, cursor }
            }
            WireChange::ListingComplete => Change::ListingComplete,
        })
    }
}

impl From<&ConnectorError> for WireError {
    fn from(e: &ConnectorError) -> Self {
        WireError {
            kind: e.kind.as_str().to_string(),
            message: e.message.clone(),
            retry_after_secs: match e.kind {
                ErrorKind::RateLimited { retry_after } => retry_after.map(|d| d.as_secs_f64()),
                _ => None,
            },
        }
    }
}

impl From<WireError> for ConnectorError {
    /// An unknown kind is the plugin's mistake: `invalid_response`, which retries the
    /// document later and never sweeps.
    fn from(e: WireError) -> Self {
        let kind = match e.kind.as_str() {
            "transient" => ErrorKind::Transient,
            "rate_limited" => ErrorKind::RateLimited {
                retry_after: e
                    .retry_after_secs
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| Duration::from_secs_f64(s.min(86_400.0))),
            },
            "unauthorized" => ErrorKind::Unauthorized,
            "not_found" => ErrorKind::NotFound,
            "cursor_expired" => ErrorKind::CursorExpired,
            "invalid_response" => ErrorKind::InvalidResponse,
            "too_large" => ErrorKind::TooLarge,
            "timeout" => ErrorKind::Timeout,
            "permanent" => ErrorKind::Permanent,
            other => {
                return ConnectorError::new(
                    ErrorKind::InvalidResponse,
                    format!("plugin error of unknown kind {other:?}: {}", e.message),
                );
            }
        };
        ConnectorError::new(kind, e.message)
    }
}
