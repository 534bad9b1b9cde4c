//! The notes connector under `connector-sdk`'s conformance kit: each kit document is a note
//! whose id is the kit's path, whose title is the path's last segment and whose readers are
//! the kit's readers; the handle rewrites the notes file for every change.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use connector_sdk::Connector;
use connector_sdk::testkit::{
    Capabilities, Groups, HandleError, HandleResult, Kit, Misbehavior, Reader, SourceFactory,
    SourceHandle, Support, assert_conformant,
};
use notes_connector::{Note, NotesConnector};

struct NotesHandle {
    _dir: tempfile::TempDir,
    path: PathBuf,
    connector: Arc<NotesConnector>,
    /// The source as it is: note id → note.
    notes: Mutex<BTreeMap<String, Note>>,
}

fn failed(e: impl std::fmt::Display) -> HandleError {
    HandleError::failed(e)
}

fn readers_of(readers: &[Reader]) -> Vec<String> {
    readers
        .iter()
        .map(|r| match r {
            Reader::User(email) => email.clone(),
            Reader::Group(group) => format!("group:{group}"),
            Reader::Domain(domain) => format!("domain:{domain}"),
        })
        .collect()
}

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

impl NotesHandle {
    /// Changes the notes and writes the file.
    fn change(&self, f: impl FnOnce(&mut BTreeMap<String, Note>) -> HandleResult) -> HandleResult {
        let mut notes = self.notes.lock().map_err(failed)?;
        f(&mut notes)?;
        self.write(&notes)
    }

    fn write(&self, notes: &BTreeMap<String, Note>) -> HandleResult {
        let list: Vec<&Note> = notes.values().collect();
        let json = serde_json::to_vec_pretty(&list).map_err(failed)?;
        std::fs::write(&self.path, json).map_err(failed)
    }

    /// Moves a note to a new id (a rename or a move): same text and readers.
    fn relocate(&self, path: &str, to: String) -> HandleResult {
        self.change(|notes| {
            let mut note = notes
                .remove(path)
                .ok_or_else(|| failed(format!("no note {path}")))?;
            note.title = name_of(&to).to_string();
            note.id = to.clone();
            notes.insert(to, note);
            Ok(())
        })
    }
}

#[async_trait]
impl SourceHandle for NotesHandle {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::clone(&self.connector) as Arc<dyn Connector>
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            groups: Groups::IdentitiesFile(
                "a notes file names groups; their members come from the identities file".into(),
            ),
            domain_readers: Support::Yes,
        }
    }

    async fn add(&self, path: &str, text: &str, readers: &[Reader]) -> HandleResult {
        self.change(|notes| {
            notes.insert(
                path.to_string(),
                Note {
                    id: path.to_string(),
                    revision: 1,
                    title: name_of(path).to_string(),
                    text: text.to_string(),
                    readers: readers_of(readers),
                },
            );
            Ok(())
        })
    }

    async fn edit(&self, path: &str, text: &str) -> HandleResult {
        self.change(|notes| {
            let note = notes
                .get_mut(path)
                .ok_or_else(|| failed(format!("no note {path}")))?;
            note.revision += 1;
            note.text = text.to_string();
            Ok(())
        })
    }

    async fn delete(&self, path: &str) -> HandleResult {
        self.change(|notes| {
            notes.remove(path);
            Ok(())
        })
    }

    async fn rename(&self, path: &str, new_name: &str) -> HandleResult {
        let to = match path.rsplit_once('/') {
            Some((folder, _)) => format!("{folder}/{new_name}"),
            None => new_name.to_string(),
        };
        self.relocate(path, to)
    }

    async fn move_to(&self, path: &str, folder: &str) -> HandleResult {
        self.relocate(path, format!("{folder}/{}", name_of(path)))
    }

    /// Readers change, the revision does not: an ACL-only change.
    async fn set_readers(&self, path: &str, readers: &[Reader]) -> HandleResult {
        self.change(|notes| {
            let note = notes
                .get_mut(path)
                .ok_or_else(|| failed(format!("no note {path}")))?;
            note.readers = readers_of(readers);
            Ok(())
        })
    }

    /// A file has no pages, tokens or credentials; it can be garbage or of the wrong shape.
    async fn misbehave(&self, kind: Option<Misbehavior>) -> HandleResult {
        let notes = self.notes.lock().map_err(failed)?;
        match kind {
            None => self.write(&notes),
            Some(Misbehavior::MalformedBody) => {
                std::fs::write(&self.path, b"[{\"id\": \"cut off").map_err(failed)
            }
            Some(Misbehavior::WrongFieldTypes) => {
                std::fs::write(&self.path, br#"{"0": {"id": 7, "revision": "x"}}"#).map_err(failed)
            }
            Some(other) => Err(HandleError::unsupported(format!(
                "a notes file has no {}",
                other.name().replace('_', " ")
            ))),
        }
    }
}

struct NotesFactory;

#[async_trait]
impl SourceFactory for NotesFactory {
    async fn create(&self, _scenario: &str) -> HandleResult<Box<dyn SourceHandle>> {
        let dir = tempfile::tempdir().map_err(failed)?;
        let path = dir.path().join("notes.json");
        std::fs::write(&path, b"[]").map_err(failed)?;
        // Small steps, so that the kit's kill-and-resume scenario finds positions to kill at.
        let connector = NotesConnector::new(&path).checkpoint_every(5);
        Ok(Box::new(NotesHandle {
            _dir: dir,
            path,
            connector: Arc::new(connector),
            notes: Mutex::new(BTreeMap::new()),
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notes_connector_is_conformant() {
    let report = Kit::new()
        .run("notes (an example outside the workspace)", &NotesFactory)
        .await;
    println!("{report}");
    assert_conformant(&report);
}
