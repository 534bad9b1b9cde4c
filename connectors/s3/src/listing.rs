//! Turning a key-ordered listing into documents: which keys are documents, which are
//! metadata sidecars, pairing the two, and the resume cursor. Pure, so it is tested
//! without a server.
//!
//! A sidecar `KEY.metadata.json` is listed *after* `KEY`, but not always right after it
//! (`KEY-2` sorts between them). So a document waits in `pending` until the listing has
//! passed the place where its sidecar would be; the resume cursor only advances past keys
//! whose documents have all been released, so a resumed listing never skips one.

use std::collections::BTreeMap;

use connector_sdk::{ConnectorError, ErrorKind};
use time::OffsetDateTime;

/// Refuses a ListObjectsV2 page that cannot be whole: the SDK's XML reader accepts a body
/// cut short, and a cut-off last page would look like the end of the listing (and have its
/// missing keys swept). S3 always says `IsTruncated`; `KeyCount`, when given, counts the
/// keys and common prefixes of the page.
pub(crate) fn check_page(
    what: &str,
    is_truncated: Option<bool>,
    key_count: Option<i32>,
    held: usize,
) -> Result<(), ConnectorError> {
    let problem = match (is_truncated, key_count) {
        (None, _) => Some("a page without IsTruncated (a cut-off answer?)".to_string()),
        (_, Some(n)) if usize::try_from(n).ok() != Some(held) => Some(format!(
            "a page that says KeyCount {n} but holds {held} keys (a cut-off answer?)"
        )),
        _ => None,
    };
    match problem {
        Some(p) => Err(ConnectorError::new(
            ErrorKind::InvalidResponse,
            format!("{what}: {p}"),
        )),
        None => Ok(()),
    }
}

/// One entry of a ListObjectsV2 page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub(crate) key: String,
    /// As listed, quotes included: it goes back verbatim into `If-Match`.
    pub(crate) etag: String,
    pub(crate) size: u64,
    pub(crate) modified: Option<OffsetDateTime>,
}

/// What a key is to the sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Document,
    Sidecar,
    /// Folder placeholders, the ACL file, keys the globs exclude.
    Ignored,
}

/// A document released by the pairing, with its sidecar's ETag if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Paired {
    pub(crate) object: Listed,
    pub(crate) sidecar_etag: Option<String>,
}

struct Pending {
    object: Listed,
    sidecar_etag: Option<String>,
    /// The key listed just before this document: a cursor that does not skip it.
    listed_before: Option<String>,
}

/// Pairs documents with their sidecars over one prefix's key-ordered listing.
pub(crate) struct Pairing {
    suffix: String,
    /// By sidecar key: the place in the listing where the document can be released.
    pending: BTreeMap<String, Pending>,
    last_key: Option<String>,
}

impl Pairing {
    /// A pairing for a listing that starts after `start_after` (a resumed one), if given.
    pub(crate) fn new(suffix: &str, start_after: Option<String>) -> Self {
        Pairing {
            suffix: suffix.to_string(),
            pending: BTreeMap::new(),
            last_key: start_after,
        }
    }

    /// Feeds the next listed key; appends documents that are now complete to `out`.
    pub(crate) fn push(&mut self, object: Listed, kind: KeyKind, out: &mut Vec<Paired>) {
        let key = object.key.clone();
        match kind {
            KeyKind::Document => {
                let sidecar_key = format!("{key}{}", self.suffix);
                self.pending.insert(
                    sidecar_key,
                    Pending {
                        object,
                        sidecar_etag: None,
                        listed_before: self.last_key.clone(),
                    },
                );
            }
            KeyKind::Sidecar => {
                // A sidecar without its document is ignored: it describes nothing.
                if let Some(p) = self.pending.get_mut(&key) {
                    p.sidecar_etag = Some(object.etag);
                }
            }
            KeyKind::Ignored => {}
        }
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().as_str() > key.as_str() {
                break;
            }
            let p = entry.remove();
            out.push(Paired {
                object: p.object,
                sidecar_etag: p.sidecar_etag,
            });
        }
        self.last_key = Some(key);
    }

    /// The listing of this prefix ended: everything pending is complete.
    pub(crate) fn finish(&mut self, out: &mut Vec<Paired>) {
        out.extend(
            std::mem::take(&mut self.pending)
                .into_values()
                .map(|p| Paired {
                    object: p.object,
                    sidecar_etag: p.sidecar_etag,
                }),
        );
    }

    /// A start-after key from which a resumed listing loses nothing: every document at or
    /// before it has been released. `None` when no such key exists yet.
    pub(crate) fn resume_cursor(&self) -> Option<&str> {
        match self
            .pending
            .values()
            .min_by(|a, b| a.object.key.cmp(&b.object.key))
        {
            None => self.last_key.as_deref(),
            Some(first) => first.listed_before.as_deref(),
        }
    }
}

/// A document's version: size and ETag of the object, plus its sidecar's ETag, so a
/// changed sidecar re-indexes its document. ETags are opaque tokens, never content hashes.
///
/// Some S3-compatible stores list no ETag; their objects are versioned by modification
/// time instead (`lm:<unix seconds>`), which is never sent as `If-Match`.
pub(crate) fn version(object: &Listed, sidecar_etag: Option<&str>) -> String {
    let token = if object.etag.is_empty() {
        format!(
            "lm:{}",
            object.modified.map_or(0, OffsetDateTime::unix_timestamp)
        )
    } else {
        object.etag.clone()
    };
    match sidecar_etag.filter(|s| !s.is_empty()) {
        Some(s) => format!("{} {token} meta {s}", object.size),
        None => format!("{} {token}", object.size),
    }
}

/// The ETag to send as `If-Match`, if the version has a real one.
pub(crate) fn if_match(version: &str) -> Option<&str> {
    parse_version(version)
        .map(|(etag, _)| etag)
        .filter(|e| !e.starts_with("lm:"))
}

/// The object's and the sidecar's ETags back out of a version.
pub(crate) fn parse_version(version: &str) -> Option<(&str, Option<&str>)> {
    let mut parts = version.split(' ');
    let _size = parts.next()?;
    let etag = parts.next()?;
    match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) => Some((etag, None)),
        (Some("meta"), Some(sidecar), None) => Some((etag, Some(sidecar))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(key: &str) -> Listed {
        Listed {
            key: key.into(),
            etag: format!("\"e-{key}\""),
            size: 1,
            modified: None,
        }
    }

    /// Feeds `keys` in order (sidecars end in `.m`); returns the released documents as
    /// `key` or `key+sidecar`, and the resume cursor after each key.
    fn check(keys: &[&str], released: &[&str], cursors: &[Option<&str>]) {
        let mut pairing = Pairing::new(".m", None);
        let mut out = Vec::new();
        let mut seen_cursors = Vec::new();
        for key in keys {
            let kind = if key.ends_with(".m") {
                KeyKind::Sidecar
            } else if key.ends_with('/') {
                KeyKind::Ignored
            } else {
                KeyKind::Document
            };
            pairing.push(listed(key), kind, &mut out);
            seen_cursors.push(pairing.resume_cursor().map(str::to_string));
        }
        pairing.finish(&mut out);
        let got: Vec<String> = out
            .iter()
            .map(|p| match &p.sidecar_etag {
                Some(_) => format!("{}+sidecar", p.object.key),
                None => p.object.key.clone(),
            })
            .collect();
        assert_eq!(got, released);
        let want: Vec<Option<String>> = cursors.iter().map(|c| c.map(str::to_string)).collect();
        assert_eq!(seen_cursors, want);
    }

    #[test]
    fn documents_wait_for_their_sidecar_and_the_cursor_never_skips_one() {
        check(
            &["a", "a-2", "a.m", "b", "b.m", "c/", "d"],
            &["a-2", "a+sidecar", "b+sidecar", "d"],
            &[
                None,        // "a" waits for "a.m"; nothing was listed before it
                None,        // "a-2" waits too
                Some("a.m"), // "a-2.m" < "a.m": both released, nothing pending
                Some("a.m"), // "b" waits
                Some("b.m"),
                Some("c/"),
                Some("c/"), // "d" waits until the listing ends
            ],
        );
    }

    #[test]
    fn orphan_sidecars_are_ignored() {
        check(&["x.m", "y"], &["y"], &[Some("x.m"), Some("x.m")]);
    }

    #[test]
    fn versions_round_trip() {
        let o = listed("k");
        assert_eq!(parse_version(&version(&o, None)), Some(("\"e-k\"", None)));
        assert_eq!(
            parse_version(&version(&o, Some("\"s\""))),
            Some(("\"e-k\"", Some("\"s\"")))
        );
        assert_eq!(parse_version("garbage"), None);
        // No ETag listed: versioned by modification time, never sent as If-Match.
        let mut bare = listed("k");
        bare.etag.clear();
        bare.modified = OffsetDateTime::from_unix_timestamp(1_700_000_000).ok();
        assert_eq!(version(&bare, None), "1 lm:1700000000");
        assert_eq!(if_match(&version(&bare, None)), None);
        assert_eq!(if_match(&version(&o, None)), Some("\"e-k\""));
    }

    #[test]
    fn pages_that_cannot_be_whole_are_refused() {
        assert!(check_page("list", Some(false), Some(2), 2).is_ok());
        assert!(check_page("list", Some(true), None, 5).is_ok());
        for (truncated, count, held) in [(None, Some(0), 0), (Some(false), Some(1000), 412)] {
            let err = check_page("list s3://b/", truncated, count, held).expect_err("refused");
            assert_eq!(err.kind, ErrorKind::InvalidResponse);
            assert!(
                err.message.starts_with("list s3://b/: a page"),
                "{}",
                err.message
            );
        }
    }
}
