//! The Python example (`examples/python-connector/plugin.py`) under the conformance kit,
//! through the stdio protocol and `connector-process`: documents are JSON records in its
//! `records` folder (a kit path `team/q3.txt` is `records/team/q3.txt.json`), readers
//! are the record's `allow` terms, and groups are its `groups.json` directory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use connector_process::ProcessConnector;
use connector_sdk::Connector;
use connector_sdk::testkit::{
    Capabilities, Groups, HandleError, HandleResult, NewDocument, Reader, SourceFactory,
    SourceHandle, Support, assert_conformant,
};

use super::kit;

fn failed(e: impl std::fmt::Display) -> HandleError {
    HandleError::failed(e)
}

fn term(reader: &Reader) -> String {
    match reader {
        Reader::User(email) => format!("user:{email}"),
        Reader::Group(group) => format!("group:{group}"),
        Reader::Domain(domain) => format!("domain:{domain}"),
    }
}

struct RecordsHandle {
    dir: tempfile::TempDir,
    connector: Arc<ProcessConnector>,
    /// Each record's text and readers, to rewrite it whole.
    records: Mutex<BTreeMap<String, (String, Vec<Reader>)>>,
    /// group → members (`group:<child>` for a nested group).
    groups: Mutex<BTreeMap<String, Vec<String>>>,
}

impl RecordsHandle {
    fn file(&self, path: &str) -> PathBuf {
        self.dir.path().join("records").join(format!("{path}.json"))
    }

    fn write(&self, path: &str, text: &str, readers: &[Reader]) -> HandleResult {
        let file = self.file(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        let name = path.rsplit('/').next().unwrap_or(path);
        let record = serde_json::json!({
            "title": name,
            "body": text,
            "allow": readers.iter().map(term).collect::<Vec<_>>(),
        });
        std::fs::write(file, record.to_string()).map_err(failed)?;
        self.records
            .lock()
            .map_err(failed)?
            .insert(path.to_string(), (text.to_string(), readers.to_vec()));
        Ok(())
    }

    fn remove(&self, path: &str) -> HandleResult<(String, Vec<Reader>)> {
        std::fs::remove_file(self.file(path)).map_err(failed)?;
        self.records
            .lock()
            .map_err(failed)?
            .remove(path)
            .ok_or_else(|| failed(format!("no record {path}")))
    }

    fn relocate(&self, path: &str, to: &str) -> HandleResult {
        let (text, readers) = self.remove(path)?;
        self.write(to, &text, &readers)
    }

    fn change_groups(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, Vec<String>>),
    ) -> HandleResult {
        let mut groups = self.groups.lock().map_err(failed)?;
        change(&mut groups);
        let json = serde_json::to_string(&*groups).map_err(failed)?;
        std::fs::write(self.dir.path().join("groups.json"), json).map_err(failed)
    }
}

#[async_trait]
impl SourceHandle for RecordsHandle {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::clone(&self.connector) as Arc<dyn Connector>
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            groups: Groups::Directory,
            domain_readers: Support::Yes,
        }
    }

    async fn add(&self, path: &str, text: &str, readers: &[Reader]) -> HandleResult {
        self.write(path, text, readers)
    }

    async fn add_many(&self, docs: &[NewDocument]) -> HandleResult {
        for doc in docs {
            self.write(&doc.path, &doc.text, &doc.readers)?;
        }
        Ok(())
    }

    async fn edit(&self, path: &str, text: &str) -> HandleResult {
        let readers = self
            .records
            .lock()
            .map_err(failed)?
            .get(path)
            .map(|(_, r)| r.clone())
            .ok_or_else(|| failed(format!("no record {path}")))?;
        self.write(path, text, &readers)
    }

    async fn delete(&self, path: &str) -> HandleResult {
        self.remove(path).map(drop)
    }

    async fn rename(&self, path: &str, new_name: &str) -> HandleResult {
        let to = match path.rsplit_once('/') {
            Some((folder, _)) => format!("{folder}/{new_name}"),
            None => new_name.to_string(),
        };
        self.relocate(path, &to)
    }

    async fn move_to(&self, path: &str, folder: &str) -> HandleResult {
        let name = path.rsplit('/').next().unwrap_or(path);
        self.relocate(path, &format!("{folder}/{name}"))
    }

    async fn set_readers(&self, path: &str, readers: &[Reader]) -> HandleResult {
        let text = self
            .records
            .lock()
            .map_err(failed)?
            .get(path)
            .map(|(t, _)| t.clone())
            .ok_or_else(|| failed(format!("no record {path}")))?;
        self.write(path, &text, readers)
    }

    async fn add_to_group(&self, user: &str, group: &str) -> HandleResult {
        self.change_groups(|g| {
            g.entry(group.to_string())
                .or_default()
                .push(user.to_string())
        })
    }

    async fn remove_from_group(&self, user: &str, group: &str) -> HandleResult {
        self.change_groups(|g| {
            if let Some(members) = g.get_mut(group) {
                members.retain(|m| m != user);
            }
        })
    }

    async fn nest_group(&self, child: &str, parent: &str) -> HandleResult {
        self.change_groups(|g| {
            g.entry(parent.to_string())
                .or_default()
                .push(format!("group:{child}"))
        })
    }

    async fn expire_cursor(&self) -> HandleResult {
        Err(HandleError::unsupported(
            "the example's cursor is a snapshot of every record's version and ACL: it never \
             expires",
        ))
    }

    async fn fault_storm(&self, _on: bool) -> HandleResult<String> {
        Err(HandleError::unsupported(
            "the example reads a local folder: no server to throttle or reset (the \
             supervision tests in tests/src/process cover a failing plugin)",
        ))
    }
}

struct RecordsFactory;

#[async_trait]
impl SourceFactory for RecordsFactory {
    async fn create(&self, _scenario: &str) -> HandleResult<Box<dyn SourceHandle>> {
        let dir = tempfile::tempdir().map_err(failed)?;
        std::fs::create_dir_all(dir.path().join("records")).map_err(failed)?;
        std::fs::write(dir.path().join("groups.json"), "{}").map_err(failed)?;
        std::fs::copy(
            crate::process::example_dir().join("plugin.py"),
            dir.path().join("plugin.py"),
        )
        .map_err(failed)?;
        let connector = Arc::new(ProcessConnector::new(crate::process::example_config(
            dir.path(),
        )));
        Ok(Box::new(RecordsHandle {
            dir,
            connector,
            records: Mutex::new(BTreeMap::new()),
            groups: Mutex::new(BTreeMap::new()),
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_example_is_conformant_through_the_stdio_protocol() {
    let report = kit().run("process (python example)", &RecordsFactory).await;
    println!("{report}");
    assert_conformant(&report);
    if std::env::var_os("TRIBUTARY_CONFORMANCE_ONLY").is_some() {
        return;
    }
    let skipped: Vec<&str> = report.skipped().iter().map(|s| s.name.as_str()).collect();
    assert!(skipped.contains(&"expired_cursor"), "{report}");
    assert!(!skipped.contains(&"group_membership"), "{report}");
}
