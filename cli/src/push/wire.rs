//! A push job's request bodies: a batch of documents to put, a batch of ids to delete. Each
//! document is read on its own, so that a refusal names its index and field
//! (`documents[3].acl.allow[0]`), and the whole batch is refused if any document is: a
//! client never has to find out which half of a batch went in.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use connector_sdk::{Acl, Content, DocumentId, Principal, RemoteDocument};
use serde::Deserialize;
use time::OffsetDateTime;

/// Most documents (or ids) in one batch: a batch is validated whole before any of it goes
/// in, so its size bounds what a request holds.
pub const MAX_DOCUMENTS_PER_BATCH: usize = 1000;

/// The largest content of one document, decoded, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 10 * 1024 * 1024;

/// The largest request body of the push routes: one document at the limit, base64-encoded
/// (4/3 of it), with room for its fields, or many smaller ones.
pub const MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;

/// The longest document id, in bytes (ids are index terms and manifest keys).
pub const MAX_ID_BYTES: usize = 1024;

/// Most principals in one ACL list.
pub const MAX_PRINCIPALS: usize = 1000;

/// Why a batch was refused; [`Refusal::kind`] picks the HTTP status and the stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub message: String,
}

/// What was wrong with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The body or a document is not what the route takes (400 `bad_request`).
    Invalid,
    /// More than [`MAX_DOCUMENTS_PER_BATCH`] documents or ids (400 `too_many_documents`).
    TooMany,
    /// A document's content is over [`MAX_DOCUMENT_BYTES`] (413 `document_too_large`).
    TooLarge,
}

fn invalid(message: impl Into<String>) -> Refusal {
    Refusal {
        kind: RefusalKind::Invalid,
        message: message.into(),
    }
}

/// One document of a batch, as a client writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentIn {
    id: String,
    title: Option<String>,
    uri: Option<String>,
    content_type: Option<String>,
    /// RFC 3339.
    modified: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, serde_json::Value>,
    acl: Option<AclIn>,
    /// The content as text (extracted by `content_type`, plain text when none)...
    text: Option<String>,
    /// ...or as bytes, base64 (standard alphabet, padded).
    base64: Option<String>,
}

/// Who may read a document: principal terms (`user:<email>`, `group:<id>` in the source's
/// namespace, `domain:<domain>`, `everyone`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AclIn {
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    documents: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    ids: Vec<String>,
}

/// A document ready for the job: what the engine lists, and its bytes when the content
/// came as base64 (text rides inline in the document).
#[derive(Debug, Clone)]
pub struct Accepted {
    pub doc: RemoteDocument,
    pub bytes: Option<Bytes>,
}

/// Reads a put body: every document valid, or the first problem.
pub fn read_put(body: &[u8]) -> Result<Vec<Accepted>, Refusal> {
    let put: PutBody = serde_json::from_slice(body).map_err(|e| invalid(format!("body: {e}")))?;
    check_count(put.documents.len(), "documents")?;
    put.documents
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let doc: DocumentIn = serde_json::from_value(value)
                .map_err(|e| invalid(format!("documents[{i}]: {e}")))?;
            accept(doc).map_err(|r| Refusal {
                message: format!("documents[{i}].{}", r.message),
                ..r
            })
        })
        .collect()
}

/// Reads a delete body: the ids, each valid.
pub fn read_delete(body: &[u8]) -> Result<Vec<DocumentId>, Refusal> {
    let del: DeleteBody =
        serde_json::from_slice(body).map_err(|e| invalid(format!("body: {e}")))?;
    check_count(del.ids.len(), "ids")?;
    del.ids
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            check_id(&id).map_err(|m| invalid(format!("ids[{i}]: {m}")))?;
            Ok(DocumentId::new(id))
        })
        .collect()
}

fn check_count(n: usize, what: &str) -> Result<(), Refusal> {
    if n == 0 {
        return Err(invalid(format!(
            "{what}: empty (a batch names at least one)"
        )));
    }
    if n > MAX_DOCUMENTS_PER_BATCH {
        return Err(Refusal {
            kind: RefusalKind::TooMany,
            message: format!(
                "{what}: {n} in one batch is over the limit of {MAX_DOCUMENTS_PER_BATCH}: split it"
            ),
        });
    }
    Ok(())
}

fn check_id(id: &str) -> Result<(), String> {
    if id.trim().is_empty() {
        return Err("an empty id".into());
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "{} bytes is over the limit of {MAX_ID_BYTES}",
            id.len()
        ));
    }
    if id.chars().any(char::is_control) {
        return Err("control characters in an id".into());
    }
    Ok(())
}

/// One document, checked. The message of a refusal starts with the field it names.
fn accept(doc: DocumentIn) -> Result<Accepted, Refusal> {
    check_id(&doc.id).map_err(|m| invalid(format!("id: {m}")))?;
    let acl = match &doc.acl {
        Some(acl) => read_acl(acl)?,
        // Fail closed, loudly: the engine would index it invisible, and the client would
        // never know why nobody finds it.
        None => {
            return Err(invalid(
                "acl: missing (every document says who may read it: {\"allow\": [\"user:ann@example.com\"]}, or [\"everyone\"] for public)",
            ));
        }
    };
    let modified = doc
        .modified
        .as_deref()
        .map(|m| {
            OffsetDateTime::parse(m, &time::format_description::well_known::Rfc3339)
                .map_err(|e| invalid(format!("modified: {m:?} is not an RFC 3339 time ({e})")))
        })
        .transpose()?;
    let (content, bytes) = match (doc.text, doc.base64) {
        (Some(text), None) => (Content::Inline(text), None),
        (None, Some(b64)) => {
            // A base64 text decodes to 3/4 of its length: refuse before decoding.
            if b64.len() / 4 * 3 > MAX_DOCUMENT_BYTES + 3 {
                return Err(too_large(b64.len() / 4 * 3));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| invalid(format!("base64: not base64 ({e})")))?;
            (Content::Fetch, Some(Bytes::from(bytes)))
        }
        (Some(_), Some(_)) => return Err(invalid("text: give `text` or `base64`, not both")),
        (None, None) => {
            return Err(invalid(
                "text: missing (the content, as `text` or as `base64` bytes)",
            ));
        }
    };
    let size = match (&content, &bytes) {
        (Content::Inline(text), _) => text.len(),
        (_, Some(b)) => b.len(),
        _ => 0,
    };
    if size > MAX_DOCUMENT_BYTES {
        return Err(too_large(size));
    }
    let mut out = RemoteDocument::new(doc.id, String::new(), acl);
    out.title = doc.title;
    out.uri = doc.uri;
    out.content_type = doc.content_type;
    out.modified = modified;
    out.metadata = doc.metadata;
    out.size = Some(size as u64);
    out.content = content;
    out.version = version(&out, bytes.as_deref());
    Ok(Accepted { doc: out, bytes })
}

fn too_large(size: usize) -> Refusal {
    Refusal {
        kind: RefusalKind::TooLarge,
        message: format!(
            "content: {size} bytes is over the limit of {MAX_DOCUMENT_BYTES} bytes per document"
        ),
    }
}

fn read_acl(acl: &AclIn) -> Result<Acl, Refusal> {
    let mut out = Acl::default();
    for (list, terms, set) in [
        ("allow", &acl.allow, &mut out.allow),
        ("deny", &acl.deny, &mut out.deny),
    ] {
        if terms.len() > MAX_PRINCIPALS {
            return Err(invalid(format!(
                "acl.{list}: {} principals is over the limit of {MAX_PRINCIPALS}",
                terms.len()
            )));
        }
        for (i, term) in terms.iter().enumerate() {
            set.insert(principal(term).map_err(|m| invalid(format!("acl.{list}[{i}]: {m}")))?);
        }
    }
    if out.allow.is_empty() {
        return Err(invalid(
            "acl.allow: empty (nobody could read the document; name who may, or \"everyone\")",
        ));
    }
    Ok(out)
}

/// A principal term, with users checked to be email addresses (people are one person across
/// sources by email).
fn principal(term: &str) -> Result<Principal, String> {
    let term = term.trim();
    let bad = || {
        format!(
            "{term:?} is not a principal (user:<email>, group:<id>, domain:<domain> or everyone)"
        )
    };
    if term == "everyone" {
        return Ok(Principal::Everyone);
    }
    let (kind, id) = term.split_once(':').ok_or_else(bad)?;
    let id = id.trim();
    if id.is_empty() {
        return Err(bad());
    }
    match kind {
        "user" if is_email(id) => Ok(Principal::user(id)),
        "user" => Err(format!("{term:?}: a user is named by an email address")),
        "group" => Ok(Principal::group(id)),
        "domain" if !id.contains('@') && !id.contains(char::is_whitespace) => {
            Ok(Principal::domain(id))
        }
        "domain" => Err(format!("{term:?} is not a domain")),
        _ => Err(bad()),
    }
}

fn is_email(s: &str) -> bool {
    matches!(s.split_once('@'), Some((local, domain))
        if !local.is_empty() && !domain.is_empty() && !domain.contains('@')
            && !s.contains(char::is_whitespace))
}

/// The document's version: a hash of everything indexed but its ACL, so that putting the
/// same document again is "unchanged" (nothing read, nothing written) and a changed ACL
/// alone only rewrites its chunks' ACLs.
fn version(doc: &RemoteDocument, bytes: Option<&[u8]>) -> String {
    let mut h = blake3::Hasher::new();
    let mut field = |b: &[u8]| {
        // Length-prefixed, so that moving bytes from one field to the next changes it.
        h.update(&(b.len() as u64).to_le_bytes());
        h.update(b);
    };
    match (&doc.content, bytes) {
        (Content::Inline(text), _) => field(text.as_bytes()),
        (_, Some(b)) => field(b),
        (_, None) => field(b""),
    }
    field(doc.title.as_deref().unwrap_or_default().as_bytes());
    field(doc.uri.as_deref().unwrap_or_default().as_bytes());
    field(doc.content_type.as_deref().unwrap_or_default().as_bytes());
    let modified = doc.modified.map(|m| m.unix_timestamp_nanos().to_string());
    field(modified.unwrap_or_default().as_bytes());
    field(
        serde_json::to_string(&doc.metadata)
            .unwrap_or_default()
            .as_bytes(),
    );
    format!("push-{}", &h.finalize().to_hex()[..32])
}
