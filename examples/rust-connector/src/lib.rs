//! A connector for a "notes" source: one JSON file holding a list of notes, each with an id,
//! a revision, a title, a text and its readers. Small on purpose: it shows everything a
//! connector owes the engine with nothing but `connector-sdk`.
//!
//! - `full` lists every note, in id order, as a [`Change::Upsert`] whose version is the
//!   revision (the engine fetches only notes whose revision moved) and whose ACL names the
//!   readers; every `checkpoint_every` notes it marks its position ([`Change::Checkpoint`]:
//!   a killed sync resumes after the last id the engine committed), and at the end it says
//!   [`Change::ListingComplete`] so the engine may delete notes no longer listed.
//! - `incremental`: the file has no change feed, so it lists everything again; the engine
//!   diffs the listing against what it indexed, and an ACL change alone costs no fetch.
//! - `fetch` returns the note's text; a note gone since the listing is `NotFound`.
//! - A file that cannot be read or parsed fails the listing with a typed error: the engine
//!   then deletes nothing.
//!
//! Readers: `*` is everyone, `group:<name>` a group (its members come from the engine's
//! identities file), `domain:<name>` everybody with an email there, anything else a user's
//! email.

use std::path::PathBuf;

use async_trait::async_trait;
use futures::{StreamExt, stream};
use serde::{Deserialize, Serialize};

use connector_sdk::{
    Acl, ByteStream, Change, ChangeStream, Connector, ConnectorError, ErrorKind, Principal,
    RemoteDocument, SourceCheckpoint, SyncContext,
};

/// One note of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: String,
    pub revision: u64,
    pub title: String,
    pub text: String,
    #[serde(default)]
    pub readers: Vec<String>,
}

/// The partition of the full listing's position.
const POSITION: &str = "full";

/// The connector: the path of the notes file, and how often a full listing marks its
/// position.
#[derive(Debug, Clone)]
pub struct NotesConnector {
    path: PathBuf,
    checkpoint_every: usize,
}

impl NotesConnector {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        NotesConnector {
            path: path.into(),
            checkpoint_every: 100,
        }
    }

    /// Marks the full listing's position every `n` notes (at least 1).
    pub fn checkpoint_every(mut self, n: usize) -> Self {
        self.checkpoint_every = n.max(1);
        self
    }

    /// The notes, or a typed error: a missing file is `NotFound`, an unreadable one
    /// `Transient` (the next run tries again), a malformed one `InvalidResponse`.
    pub fn read(&self) -> Result<Vec<Note>, ConnectorError> {
        let shown = self.path.display();
        let bytes = std::fs::read(&self.path).map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::NotFound {
                ErrorKind::NotFound
            } else {
                ErrorKind::Transient
            };
            ConnectorError::new(kind, format!("cannot read {shown}: {e}"))
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            ConnectorError::new(
                ErrorKind::InvalidResponse,
                format!("{shown} is not a list of notes: {e}"),
            )
        })
    }
}

/// A note's readers as an ACL; no reader means nobody.
pub fn acl_of(readers: &[String]) -> Acl {
    let mut acl = Acl::default();
    for reader in readers {
        let principal = match reader.as_str() {
            "*" => Principal::Everyone,
            r => {
                if let Some(group) = r.strip_prefix("group:") {
                    Principal::group(group)
                } else if let Some(domain) = r.strip_prefix("domain:") {
                    Principal::domain(domain)
                } else {
                    Principal::user(r)
                }
            }
        };
        acl.allow.insert(principal);
    }
    acl
}

fn document(note: &Note) -> RemoteDocument {
    let mut doc = RemoteDocument::new(
        note.id.as_str(),
        note.revision.to_string(),
        acl_of(&note.readers),
    );
    doc.title = Some(note.title.clone());
    doc.content_type = Some("text/plain".into());
    doc.size = Some(note.text.len() as u64);
    doc
}

#[async_trait]
impl Connector for NotesConnector {
    fn kind(&self) -> &'static str {
        "notes"
    }

    async fn check(&self, _cx: &SyncContext) -> Result<(), ConnectorError> {
        self.read().map(|_| ())
    }

    fn full<'a>(
        &'a self,
        _cx: &'a SyncContext,
        resume: Option<&'a SourceCheckpoint>,
    ) -> ChangeStream<'a> {
        let mut notes = match self.read() {
            Ok(notes) => notes,
            Err(e) => return stream::iter([Err(e)]).boxed(),
        };
        notes.sort_by(|a, b| a.id.cmp(&b.id));
        // Resumed: the notes up to the committed position are listed already.
        let after = resume.and_then(|c| c.cursor(POSITION)).map(str::to_string);
        let mut changes = Vec::new();
        let todo = notes
            .iter()
            .filter(|n| after.as_deref().is_none_or(|a| n.id.as_str() > a));
        for (i, note) in todo.enumerate() {
            changes.push(Ok(Change::Upsert(document(note))));
            if (i + 1) % self.checkpoint_every == 0 {
                changes.push(Ok(Change::Checkpoint {
                    partition: POSITION.into(),
                    cursor: Some(note.id.clone()),
                }));
            }
        }
        // The listing is over: the next one starts from the beginning.
        changes.push(Ok(Change::Checkpoint {
            partition: POSITION.into(),
            cursor: None,
        }));
        changes.push(Ok(Change::ListingComplete));
        stream::iter(changes).boxed()
    }

    fn incremental<'a>(
        &'a self,
        cx: &'a SyncContext,
        _since: &'a SourceCheckpoint,
    ) -> ChangeStream<'a> {
        self.full(cx, None)
    }

    async fn fetch(
        &self,
        _cx: &SyncContext,
        doc: &RemoteDocument,
    ) -> Result<ByteStream, ConnectorError> {
        let notes = self.read()?;
        let note = notes
            .into_iter()
            .find(|n| n.id == doc.id.as_str())
            .ok_or_else(|| {
                ConnectorError::new(
                    ErrorKind::NotFound,
                    format!("note {} is gone", doc.id.as_str()),
                )
            })?;
        Ok(stream::iter([Ok(bytes::Bytes::from(note.text))]).boxed())
    }
}
