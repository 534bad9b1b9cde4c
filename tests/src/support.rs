//! Shared fixtures: a document folder, an ACL file, identities, an engine, and helpers.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use connector_filesystem::{FileReader, FilesystemConfig, FilesystemConnector, StdFileReader};
use connector_sdk::{Connector, ConnectorError};
use sync_core::{Engine, Identities, IdentitiesFile, Progress, RunReport, Source, SyncOptions};

/// One ACL-file entry: (name, `USER`|`GROUP`, `ALLOW`|`DENY`).
pub type AclEntry<'a> = (&'a str, &'a str, &'a str);

/// A temporary world: `docs/` to sync, `acl.json`, `identities.json`, `data/`.
pub struct World {
    pub dir: tempfile::TempDir,
}

impl World {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("docs")).expect("docs dir");
        World { dir }
    }

    pub fn docs(&self) -> PathBuf {
        self.dir.path().join("docs")
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn acl_path(&self) -> PathBuf {
        self.dir.path().join("acl.json")
    }

    /// Writes `docs/<rel>`, creating folders.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) {
        let path = self.docs().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write doc");
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.docs().join(rel)).expect("remove doc");
    }

    /// Writes the ACL file from (prefix, [(name, USER|GROUP, ALLOW|DENY)]).
    pub fn acl(&self, rules: &[(&str, &[AclEntry<'_>])]) {
        let json: Vec<serde_json::Value> = rules
            .iter()
            .map(|(prefix, entries)| {
                serde_json::json!({
                    "keyPrefix": prefix,
                    "aclEntries": entries.iter().map(|(name, kind, access)| serde_json::json!({
                        "Name": name, "Type": kind, "Access": access
                    })).collect::<Vec<_>>()
                })
            })
            .collect();
        std::fs::write(
            self.acl_path(),
            serde_json::to_vec_pretty(&json).expect("json"),
        )
        .expect("write acl");
    }

    pub fn config(&self) -> FilesystemConfig {
        let mut c = FilesystemConfig::new(self.docs());
        c.acl_file = Some(self.acl_path());
        c
    }

    pub fn engine(&self) -> Engine {
        Engine::open(&self.data()).expect("open engine")
    }
}

/// Records every path the connector reads.
#[derive(Debug, Default)]
pub struct CountingReader {
    pub reads: Mutex<Vec<PathBuf>>,
}

impl FileReader for CountingReader {
    fn read(&self, path: &Path, max: u64) -> Result<Vec<u8>, ConnectorError> {
        self.reads.lock().expect("lock").push(path.to_path_buf());
        StdFileReader.read(path, max)
    }
}

impl CountingReader {
    /// File names read since the last call, sorted.
    pub fn take(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .reads
            .lock()
            .expect("lock")
            .drain(..)
            .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

pub fn fs_source(config: FilesystemConfig, reader: Option<Arc<CountingReader>>) -> Source {
    let connector = match reader {
        Some(r) => FilesystemConnector::with_reader(config, r),
        None => FilesystemConnector::new(config),
    }
    .expect("valid config");
    Source::new("docs", Arc::new(connector) as Arc<dyn Connector>)
}

/// The identities file `json` as the provider of `namespaces`' groups.
pub fn file_identities(json: &[u8], namespaces: &[&str]) -> Identities {
    let file = IdentitiesFile::parse(json).expect("identities file");
    Identities::from_file(&file, namespaces.iter().copied())
}

pub async fn sync(engine: &Engine, source: &Source, options: &SyncOptions) -> RunReport {
    engine
        .sync(source, options, Arc::new(Progress::default()))
        .await
        .expect("run starts")
}

/// `(scanned, added, modified, deleted, acl_updated, unchanged, skipped, failed)`.
pub fn counts(r: &RunReport) -> (u64, u64, u64, u64, u64, u64, u64, u64) {
    let c = &r.counts;
    (
        c.scanned,
        c.added,
        c.modified,
        c.deleted,
        c.acl_updated,
        c.unchanged,
        c.skipped,
        c.failed,
    )
}

/// How many hits `user` gets for `query`.
pub fn hits(engine: &Engine, identities: &Identities, user: &str, query: &str) -> usize {
    engine
        .index()
        .search(query, &identities.principals(user), 10)
        .expect("search")
        .len()
}

/// The doc ids `user` can see (via `search --all`).
pub fn visible(engine: &Engine, identities: &Identities, user: &str) -> BTreeSet<String> {
    engine
        .index()
        .visible_documents(&identities.principals(user))
        .expect("visible docs")
        .into_iter()
        .map(|d| d.doc_id)
        .collect()
}

pub fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// The `tributary` binary of this build, built on first use so the tests never run a
/// stale one.
pub fn tributary_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            // target/<profile>/deps/integration-<hash> → target/<profile>/tributary
            let exe = std::env::current_exe().expect("current exe");
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("target/<profile>");
            let target_dir = profile_dir.parent().expect("target dir");
            // Build with the feature set of the test build (`--workspace --tests`): a
            // plain `-p tributary` build unifies features differently (the test-only
            // fault proxy turns on hyper's server side) and would rebuild the whole AWS
            // stack twice per test run.
            let mut cmd = std::process::Command::new(env!("CARGO"));
            cmd.args([
                "build",
                "--quiet",
                "--workspace",
                "--bins",
                "--tests",
                "--target-dir",
            ])
            .arg(target_dir);
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("run cargo build");
            assert!(status.success(), "cargo build -p tributary failed");
            let bin = profile_dir.join("tributary");
            assert!(bin.exists(), "{} missing after build", bin.display());
            bin
        })
        .clone()
}

/// Runs `tributary -vv --config <config>` through a check of `source`, an identity sync,
/// two syncs, `status` and `runs --json`, each of which must succeed, with `envs` set;
/// returns everything they printed (for the tests that no secret leaks). Blocking: call it
/// from `spawn_blocking` when the fake server runs on the test's runtime.
pub fn cli_output_of_a_sync(config: &Path, source: &str, envs: &[(String, String)]) -> String {
    let mut all = Vec::new();
    for args in [
        &["check", "--source", source][..],
        &["sync", "--identities"],
        &["sync"],
        &["sync"],
        &["status"],
        &["runs", "--json"],
    ] {
        let out = std::process::Command::new(tributary_bin())
            .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .arg("-vv")
            .arg("--config")
            .arg(config)
            .args(args)
            .output()
            .expect("run tributary");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        all.extend_from_slice(&out.stdout);
        all.extend_from_slice(&out.stderr);
    }
    String::from_utf8_lossy(&all).into_owned()
}
