//! Connectors in other languages, through the engine: the Python example
//! (`examples/python-connector`) as a `type = "process"` source — full and incremental
//! syncs, edits, ACL changes, deletions, its directory of groups, searches as its users,
//! and the same through the `tributary` binary with the example's own `tributary.toml` —
//! and a supervised plugin that misbehaves in every way (`supervision`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use connector_process::{ProcessConfig, ProcessConnector};
use connector_sdk::Connector;
use sync_core::{Engine, Identities, RunMode, RunReport, RunState, Source, SyncOptions};

use crate::support::sync;

mod supervision;

/// The example's folder in this checkout.
pub fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/python-connector")
}

/// Copies the example's data (and plugin) into `to`, so that a test can change it.
pub fn copy_example(to: &Path) {
    let from = example_dir();
    for rel in [
        "plugin.py",
        "tributary.toml",
        "groups.json",
        "records",
        "attachments",
    ] {
        copy(&from.join(rel), &to.join(rel));
    }
}

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read dir") {
            let entry = entry.expect("entry");
            copy(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).expect("copy");
    }
}

/// The example's configuration, its plugin running in `dir`.
pub fn example_config(dir: &Path) -> ProcessConfig {
    let mut config = ProcessConfig::new(["python3", "plugin.py"]);
    config.cwd = Some(dir.to_path_buf());
    config.config = Some(serde_json::json!({"records": "records", "groups": "groups.json"}));
    config.directory = true;
    config
}

/// The example as a `process` source whose plugin runs in `dir`.
fn example_source(dir: &Path) -> Source {
    let connector = ProcessConnector::new(example_config(dir));
    Source::new("records", Arc::new(connector) as Arc<dyn Connector>)
}

struct Example {
    engine: Engine,
    source: Source,
    dir: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Example {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_example(dir.path());
        let data = tempfile::tempdir().expect("tempdir");
        Example {
            engine: Engine::open(data.path()).expect("engine"),
            source: example_source(dir.path()),
            dir,
            _data: data,
        }
    }

    fn options(full: bool) -> SyncOptions {
        SyncOptions {
            full,
            retry_backoff: Duration::ZERO,
            ..SyncOptions::default()
        }
    }

    async fn sync(&self) -> RunReport {
        sync(&self.engine, &self.source, &Self::options(false)).await
    }

    async fn full(&self) -> RunReport {
        sync(&self.engine, &self.source, &Self::options(true)).await
    }

    fn hits(&self, user: &str, query: &str) -> usize {
        let mut ids = Identities::new();
        ids.add_stored(self.engine.store()).expect("memberships");
        crate::support::hits(&self.engine, &ids, user, query)
    }

    fn write(&self, record: &str, json: serde_json::Value) {
        let path = self
            .dir
            .path()
            .join("records")
            .join(format!("{record}.json"));
        std::fs::write(path, json.to_string()).expect("write record");
    }
}

fn succeeded(report: &RunReport) {
    assert_eq!(report.state, RunState::Succeeded, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_example_syncs_with_its_acls_groups_and_incremental_changes() {
    let t = Example::new();
    let identities = t
        .engine
        .sync_identities(&t.source, &Example::options(false))
        .await
        .expect("identity sync starts");
    assert_eq!(identities.state, RunState::Succeeded, "{identities:?}");
    assert_eq!(identities.counts.memberships, 7, "{identities:?}");

    let report = t.sync().await;
    succeeded(&report);
    assert_eq!(report.counts.added, 5, "{report:?}");
    // Users and groups, nested groups, deny over allow, a domain, content from a file.
    assert_eq!(t.hits("ann@acme.test", "quantum"), 1, "engineering");
    assert_eq!(t.hits("carol@acme.test", "quantum"), 1, "named by the acl");
    assert_eq!(t.hits("dan@acme.test", "quantum"), 0);
    assert_eq!(t.hits("carol@acme.test", "salary"), 1);
    assert_eq!(t.hits("intern@acme.test", "salary"), 0, "denied by name");
    assert_eq!(
        t.hits("ann@acme.test", "ramen"),
        1,
        "staff through engineering"
    );
    assert_eq!(t.hits("dan@acme.test", "ramen"), 1, "staff directly");
    assert_eq!(t.hits("mallory@evil.test", "ramen"), 0);
    assert_eq!(
        t.hits("dan@acme.test", "vacation"),
        1,
        "the acme.test domain"
    );
    assert_eq!(t.hits("mallory@evil.test", "vacation"), 0);
    for user in ["ann@acme.test", "carol@acme.test", "dan@acme.test"] {
        assert_eq!(t.hits(user, "zeppelin"), 0, "an unreadable acl: nobody");
    }

    // An edit, an ACL change and a deletion, through the plugin's change feed.
    t.write(
        "roadmap",
        serde_json::json!({"title": "Roadmap", "body": "Roadmap: the teleporter slips a year.",
            "allow": ["group:engineering", "user:carol@acme.test"]}),
    );
    t.write(
        "welcome",
        serde_json::json!({"title": "Welcome", "allow": ["group:engineering"],
            "body": "Welcome to Acme. The cafeteria serves ramen on Fridays."}),
    );
    std::fs::remove_file(t.dir.path().join("records/salaries.json")).expect("rm");
    let report = t.sync().await;
    succeeded(&report);
    assert_eq!(report.mode, RunMode::Incremental, "{report:?}");
    let c = &report.counts;
    assert_eq!(
        (c.modified, c.acl_updated, c.deleted),
        (1, 1, 1),
        "{report:?}"
    );
    assert_eq!(t.hits("ann@acme.test", "teleporter"), 1);
    assert_eq!(
        t.hits("ann@acme.test", "toaster"),
        0,
        "the old text is gone"
    );
    assert_eq!(t.hits("dan@acme.test", "ramen"), 0, "no longer staff-wide");
    assert_eq!(t.hits("ann@acme.test", "ramen"), 1);
    assert_eq!(t.hits("carol@acme.test", "salary"), 0, "deleted");

    // A full reconcile agrees with the feed: nothing more to do.
    let report = t.full().await;
    succeeded(&report);
    let c = &report.counts;
    assert_eq!(
        (c.added, c.modified, c.deleted, c.acl_updated),
        (0, 0, 0, 0),
        "{report:?}"
    );
    assert_eq!(c.unchanged, 4, "{report:?}");

    // A record removed while no run watched is swept by the next full listing only.
    std::fs::remove_file(t.dir.path().join("records/roadmap.json")).expect("rm");
    let report = t.full().await;
    succeeded(&report);
    assert_eq!(report.counts.deleted, 1, "{report:?}");
    assert_eq!(t.hits("ann@acme.test", "teleporter"), 0);
}

/// The example as its README runs it: the `tributary` binary with the example's own
/// `tributary.toml` (relative paths only), at `-vv`, with a secret in the plugin's `env`
/// that must appear nowhere in what it prints.
#[test]
fn the_example_config_syncs_through_the_binary_and_keeps_env_values_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_example(dir.path());
    let config = dir.path().join("tributary.toml");
    let mut toml = std::fs::read_to_string(&config).expect("read config");
    toml.push_str("\n[sources.env]\nRECORDS_API_TOKEN = \"xoxp-very-secret-7731\"\n");
    std::fs::write(&config, toml).expect("write config");
    let out = crate::support::cli_output_of_a_sync(&config, "records", &[]);
    assert!(
        !out.contains("very-secret-7731"),
        "the env value leaked:\n{out}"
    );
    let search = |query: &str, user: &str| {
        let out = std::process::Command::new(crate::support::tributary_bin())
            .arg("--config")
            .arg(&config)
            .args(["search", query, "--as", user])
            .output()
            .expect("run tributary search");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(search("quantum", "ann@acme.test").contains("Roadmap"));
    assert!(!search("quantum", "dan@acme.test").contains("Roadmap"));
    assert!(search("vacation", "dan@acme.test").contains("Employee handbook"));
    assert!(!search("zeppelin", "carol@acme.test").contains("Board minutes"));
}
