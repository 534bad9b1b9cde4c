//! Amazon Q / Kendra metadata sidecars: `KEY.metadata.json` next to `KEY`.
//!
//! ```json
//! {"Title": "Q3 plan", "ContentType": "PDF",
//!  "Attributes": {"department": "finance", "_created_at": "2026-01-05T10:00:00Z"},
//!  "AccessControlList": [{"Name": "finance", "Type": "GROUP", "Access": "ALLOW"}]}
//! ```
//!
//! `AccessControlList` replaces the prefix ACL for that one document. A sidecar that does
//! not parse is an error for its document (never "no sidecar"): its ACL might have been the
//! one keeping the document private.

use std::collections::BTreeMap;

use connector_sdk::acl_file::{RawEntry, acl_from_entries};
use connector_sdk::{Acl, ConnectorError, ErrorKind};
use serde::Deserialize;

/// Sidecars are small; a bigger one is refused rather than read.
pub(crate) const MAX_SIDECAR_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Raw {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    access_control_list: Option<Vec<RawEntry>>,
    // `DocumentId` and anything newer are accepted and ignored: the key is the id.
}

/// What a sidecar says about its document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sidecar {
    pub(crate) title: Option<String>,
    /// A MIME type (Amazon Q's names such as `PDF` are mapped).
    pub(crate) content_type: Option<String>,
    pub(crate) attributes: BTreeMap<String, serde_json::Value>,
    pub(crate) acl: Option<Acl>,
}

/// Parses a sidecar's bytes; `key` names it in errors.
pub(crate) fn parse(key: &str, bytes: &[u8]) -> Result<Sidecar, ConnectorError> {
    let invalid = |message: String| {
        ConnectorError::new(
            ErrorKind::InvalidResponse,
            format!("metadata sidecar {key}: {message}"),
        )
    };
    let raw: Raw = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    let acl = match raw.access_control_list {
        Some(entries) => Some(acl_from_entries(&entries).map_err(|e| invalid(e.to_string()))?),
        None => None,
    };
    Ok(Sidecar {
        title: raw.title.filter(|t| !t.trim().is_empty()),
        content_type: raw.content_type.as_deref().map(mime_type),
        attributes: raw.attributes,
        acl,
    })
}

/// Amazon Q's `ContentType` names as MIME types; anything else passes through.
fn mime_type(name: &str) -> String {
    let mime = match name.to_ascii_uppercase().as_str() {
        "PDF" => "application/pdf",
        "HTML" => "text/html",
        "MS_WORD" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "MS_EXCEL" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "PPT" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "PLAIN_TEXT" => "text/plain",
        "CSV" => "text/csv",
        "JSON" => "application/json",
        "MD" => "text/markdown",
        "XML" => "application/xml",
        "RTF" => "application/rtf",
        _ => return name.to_string(),
    };
    mime.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_sidecar() {
        let s = parse(
            "a.pdf.metadata.json",
            br#"{"DocumentId": "a.pdf", "Title": "Q3 plan", "ContentType": "PDF",
                "Attributes": {"department": "finance", "year": 2026},
                "AccessControlList": [{"Name": "finance", "Type": "GROUP", "Access": "ALLOW"},
                                      {"Name": "Eve@Example.com", "Type": "USER", "Access": "DENY"}]}"#,
        )
        .expect("valid");
        assert_eq!(s.title.as_deref(), Some("Q3 plan"));
        assert_eq!(s.content_type.as_deref(), Some("application/pdf"));
        assert_eq!(s.attributes["year"], serde_json::json!(2026));
        let acl = s.acl.expect("acl");
        assert_eq!(acl.allow_terms(), ["group:finance"]);
        assert_eq!(acl.deny_terms(), ["user:eve@example.com"]);
    }

    #[test]
    fn an_empty_sidecar_changes_nothing_and_a_broken_one_is_an_error() {
        let s = parse("k", b"{}").expect("valid");
        assert_eq!((s.title, s.content_type, s.acl), (None, None, None));
        let err = parse("k.metadata.json", b"{\"Title\": ").expect_err("truncated");
        assert_eq!(err.kind, ErrorKind::InvalidResponse);
        assert!(err.message.contains("k.metadata.json"), "{}", err.message);
        let err = parse(
            "k",
            br#"{"AccessControlList": [{"Name": "x", "Type": "ROLE", "Access": "ALLOW"}]}"#,
        )
        .expect_err("unknown type");
        assert!(err.message.contains("ROLE"), "{}", err.message);
    }
}
