//! The filesystem connector under the conformance kit: files in a temporary folder, readers
//! in an ACL file outside it; walking (the default) and with the change journal (`watch`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use connector_filesystem::{FileReader, FilesystemConfig, FilesystemConnector, StdFileReader};
use connector_sdk::testkit::{
    Capabilities, Groups, HandleError, HandleResult, Misbehavior, NewDocument, Reader,
    SourceFactory, SourceHandle, Support, assert_conformant,
};
use connector_sdk::{Connector, ConnectorError};

use super::{NO_DOMAINS, acl_file, kit};

/// Reads files, failing every other read with an I/O error while a storm lasts: a local
/// folder has no server to throttle or reset, but a disk or a network mount can fail.
#[derive(Debug, Default)]
struct StormyReader {
    storm: AtomicBool,
    reads: AtomicU64,
    failed: AtomicU64,
}

impl FileReader for StormyReader {
    fn read(&self, path: &Path, max: u64) -> Result<Vec<u8>, ConnectorError> {
        let n = self.reads.fetch_add(1, Ordering::Relaxed);
        if self.storm.load(Ordering::Relaxed) && n.is_multiple_of(2) {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return Err(ConnectorError::from_io(
                format!("read {}", path.display()),
                std::io::Error::other("injected i/o error"),
            ));
        }
        StdFileReader.read(path, max)
    }
}

struct FsHandle {
    dir: tempfile::TempDir,
    readers: Mutex<BTreeMap<String, Vec<Reader>>>,
    reader: Arc<StormyReader>,
    connector: Arc<FilesystemConnector>,
    watch: bool,
}

fn failed(e: impl std::fmt::Display) -> HandleError {
    HandleError::failed(e)
}

impl FsHandle {
    fn root(&self) -> PathBuf {
        self.dir.path().join("docs")
    }

    fn acl_path(&self) -> PathBuf {
        self.dir.path().join("acl.json")
    }

    fn file(&self, path: &str) -> PathBuf {
        self.root().join(path)
    }

    fn write(&self, path: &str, text: &str) -> HandleResult {
        let file = self.file(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        std::fs::write(file, text).map_err(failed)
    }

    /// Rewrites the ACL file from the readers of every document.
    fn write_acl(&self) -> HandleResult {
        let readers = self.readers.lock().map_err(failed)?;
        let json = acl_file(readers.iter(), str::to_string)?;
        std::fs::write(self.acl_path(), json).map_err(failed)
    }

    fn relocate(&self, path: &str, to: &str) -> HandleResult {
        let target = self.file(to);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        std::fs::rename(self.file(path), target).map_err(failed)?;
        {
            let mut readers = self.readers.lock().map_err(failed)?;
            if let Some(r) = readers.remove(path) {
                readers.insert(to.to_string(), r);
            }
        }
        self.write_acl()
    }
}

#[async_trait]
impl SourceHandle for FsHandle {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::clone(&self.connector) as Arc<dyn Connector>
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            groups: Groups::IdentitiesFile(
                "a folder's groups are defined by the engine's identities file, not by the \
                 source: the connector has no directory to sync"
                    .into(),
            ),
            domain_readers: Support::no(NO_DOMAINS),
        }
    }

    /// The walk marks its position every 500 documents.
    fn resume_scale(&self) -> usize {
        1100
    }

    async fn add(&self, path: &str, text: &str, readers: &[Reader]) -> HandleResult {
        self.write(path, text)?;
        self.readers
            .lock()
            .map_err(failed)?
            .insert(path.to_string(), readers.to_vec());
        self.write_acl()
    }

    async fn add_many(&self, docs: &[NewDocument]) -> HandleResult {
        for doc in docs {
            self.write(&doc.path, &doc.text)?;
            self.readers
                .lock()
                .map_err(failed)?
                .insert(doc.path.clone(), doc.readers.clone());
        }
        self.write_acl()
    }

    async fn edit(&self, path: &str, text: &str) -> HandleResult {
        self.write(path, text)
    }

    async fn delete(&self, path: &str) -> HandleResult {
        std::fs::remove_file(self.file(path)).map_err(failed)?;
        self.readers.lock().map_err(failed)?.remove(path);
        self.write_acl()
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
        self.readers
            .lock()
            .map_err(failed)?
            .insert(path.to_string(), readers.to_vec());
        self.write_acl()
    }

    async fn expire_cursor(&self) -> HandleResult {
        Err(HandleError::unsupported(if self.watch {
            "the change journal never refuses a cursor: when it cannot answer, it walks \
             (ADR 0009)"
        } else {
            "without `watch` there is no cursor: every incremental sync walks the folder"
        }))
    }

    async fn fault_storm(&self, on: bool) -> HandleResult<String> {
        self.reader.storm.store(on, Ordering::Relaxed);
        if !on {
            let failed = self.reader.failed.load(Ordering::Relaxed);
            return Ok(format!("{failed} file reads failed"));
        }
        Ok(
            "every other file read fails with an i/o error (a folder has no server: no \
            throttling, resets, bodies or tokens)"
                .into(),
        )
    }

    async fn misbehave(&self, _kind: Option<Misbehavior>) -> HandleResult {
        Err(HandleError::unsupported(
            "a local folder has no server to misbehave",
        ))
    }
}

struct FsFactory {
    watch: bool,
}

#[async_trait]
impl SourceFactory for FsFactory {
    async fn create(&self, _scenario: &str) -> HandleResult<Box<dyn SourceHandle>> {
        let dir = tempfile::tempdir().map_err(failed)?;
        std::fs::create_dir_all(dir.path().join("docs")).map_err(failed)?;
        std::fs::write(dir.path().join("acl.json"), "[]").map_err(failed)?;
        let mut config = FilesystemConfig::new(dir.path().join("docs"));
        config.acl_file = Some(dir.path().join("acl.json"));
        config.watch = self.watch;
        let reader = Arc::new(StormyReader::default());
        let connector = FilesystemConnector::with_reader(config, Arc::clone(&reader) as _)
            .map_err(|problems| failed(format!("{problems:?}")))?;
        Ok(Box::new(FsHandle {
            dir,
            readers: Mutex::new(BTreeMap::new()),
            reader,
            connector: Arc::new(connector),
            watch: self.watch,
        }))
    }
}

/// What must hold of either report: the scenarios a folder cannot play are skipped, for
/// their reasons, and everything else passes.
fn check(report: &connector_sdk::testkit::Report) {
    println!("{report}");
    assert_conformant(report);
    if std::env::var_os("TRIBUTARY_CONFORMANCE_ONLY").is_some() {
        return;
    }
    let skipped: Vec<&str> = report.skipped().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        skipped,
        [
            "group_membership",
            "expired_cursor",
            "misbehaving_server/repeated_page_token",
            "misbehaving_server/malformed_body",
            "misbehaving_server/wrong_field_types",
            "misbehaving_server/credentials_revoked",
        ],
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filesystem_connector_is_conformant() {
    let report = kit().run("filesystem", &FsFactory { watch: false }).await;
    check(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filesystem_connector_with_its_change_journal_is_conformant() {
    let report = kit()
        .run("filesystem (watch)", &FsFactory { watch: true })
        .await;
    check(&report);
}
