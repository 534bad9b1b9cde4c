//! `tributary.toml`: loading, validation that reports every problem with its key path, and
//! the zero-config quickstart.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use connector_sdk::ErasedSourceType;
use sync_core::{ChunkerConfig, CommitPolicy, SyncOptions};
use toml::{Table, Value};

use crate::reader::{Problem, Reader, resolve};
use crate::sources::{self, SourceConfig};

/// The default config file name, looked up in the current directory.
pub const DEFAULT_CONFIG: &str = "tributary.toml";

/// All problems of one config file, shown together.
#[derive(Debug)]
pub struct Problems {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} has {} problem(s):", self.file, self.problems.len())?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// `[sync]`: tuning shared by every source.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub concurrency: Option<usize>,
    pub max_document_bytes: usize,
    pub max_output_bytes: usize,
    pub extract_timeout_secs: u64,
    pub fetch_timeout_secs: u64,
    pub max_pause_secs: u64,
    pub retry_backoff_secs: u64,
    pub keep_runs: usize,
    pub commit_docs: usize,
    pub commit_interval_secs: u64,
    pub mass_delete_ratio: f64,
    pub chunker: ChunkerConfig,
}

impl Default for SyncSettings {
    fn default() -> Self {
        let limits = extractors::Limits::default();
        SyncSettings {
            concurrency: None,
            max_document_bytes: limits.max_input_bytes,
            max_output_bytes: limits.max_output_bytes,
            extract_timeout_secs: limits.timeout.as_secs(),
            fetch_timeout_secs: SyncOptions::default().fetch_timeout.as_secs(),
            max_pause_secs: SyncOptions::default().max_pause.as_secs(),
            retry_backoff_secs: SyncOptions::default().retry_backoff.as_secs(),
            keep_runs: SyncOptions::default().keep_runs,
            commit_docs: CommitPolicy::default().docs,
            commit_interval_secs: CommitPolicy::default().interval.as_secs(),
            mass_delete_ratio: 0.5,
            chunker: ChunkerConfig::default(),
        }
    }
}

impl SyncSettings {
    pub fn options(&self) -> SyncOptions {
        let mut o = SyncOptions::default();
        if let Some(c) = self.concurrency {
            o.concurrency = c;
        }
        o.limits.max_input_bytes = self.max_document_bytes;
        o.limits.max_output_bytes = self.max_output_bytes;
        o.limits.timeout = Duration::from_secs(self.extract_timeout_secs);
        o.fetch_timeout = Duration::from_secs(self.fetch_timeout_secs);
        o.max_pause = Duration::from_secs(self.max_pause_secs);
        o.retry_backoff = Duration::from_secs(self.retry_backoff_secs);
        o.keep_runs = self.keep_runs;
        o.commit.docs = self.commit_docs;
        o.commit.interval = Duration::from_secs(self.commit_interval_secs);
        o.mass_delete_ratio = self.mass_delete_ratio;
        o.chunker = self.chunker;
        o
    }
}

/// A validated configuration, with paths resolved against the config file's folder.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the configuration came from, for messages.
    pub origin: String,
    pub data_dir: PathBuf,
    pub identities_file: Option<PathBuf>,
    /// `[identities] sources`: the sources (or namespaces) whose groups the file defines;
    /// `None`: every source without a directory of its own (filesystem, S3).
    pub identities_sources: Option<Vec<String>>,
    pub sync: SyncSettings,
    /// `[daemon]`: read by every command, used by `tributary daemon`.
    pub daemon: crate::daemon::DaemonSettings,
    pub sources: Vec<SourceConfig>,
}

impl Config {
    /// Parses and validates TOML text; `base` is the folder relative paths start from.
    pub fn parse(text: &str, base: &Path, origin: &str) -> Result<Config, Problems> {
        Config::parse_with(text, base, origin, sources::SOURCE_TYPES)
    }

    /// [`Config::parse`] with the source types `types` (tests add fakes).
    pub fn parse_with(
        text: &str,
        base: &Path,
        origin: &str,
        types: &[&dyn ErasedSourceType],
    ) -> Result<Config, Problems> {
        let fail = |problems| Problems {
            file: origin.to_string(),
            problems,
        };
        let root: Table = text.parse().map_err(|e: toml::de::Error| {
            fail(vec![Problem {
                key: "(syntax)".into(),
                message: syntax_error(text, &e),
            }])
        })?;
        let mut problems = Vec::new();
        let mut config = Config {
            origin: origin.to_string(),
            data_dir: base.join(".tributary"),
            identities_file: None,
            identities_sources: None,
            sync: SyncSettings::default(),
            daemon: crate::daemon::DaemonSettings::default(),
            sources: Vec::new(),
        };
        let mut top = Reader::new(&root, "", &mut problems);
        let index = top.table("index");
        let identities = top.table("identities");
        let sync = top.table("sync");
        let daemon = top.table("daemon");
        let sources = top.get("sources");
        top.finish();
        config.daemon = crate::daemon::DaemonSettings::parse(daemon, &mut problems);

        if let Some(t) = index {
            let mut r = Reader::new(t, "index", &mut problems);
            if let Some(p) = r.string("path") {
                config.data_dir = resolve(base, &p);
            }
            r.finish();
        }
        if let Some(t) = identities {
            let mut r = Reader::new(t, "identities", &mut problems);
            config.identities_file = r.string("file").map(|p| resolve(base, &p));
            if r.get("sources").is_some() {
                config.identities_sources = Some(r.strings("sources"));
            }
            r.finish();
        }
        if let Some(t) = sync {
            let s = &mut config.sync;
            let mut r = Reader::new(t, "sync", &mut problems);
            if let Some(n) = r.integer("concurrency", 1, 256) {
                s.concurrency = Some(n as usize);
            }
            if let Some(n) = r.integer("max_document_bytes", 1, 4 << 30) {
                s.max_document_bytes = n as usize;
            }
            if let Some(n) = r.integer("max_output_bytes", 1, 1 << 30) {
                s.max_output_bytes = n as usize;
            }
            if let Some(n) = r.integer("extract_timeout_secs", 1, 3600) {
                s.extract_timeout_secs = n as u64;
            }
            if let Some(n) = r.integer("fetch_timeout_secs", 1, 86_400) {
                s.fetch_timeout_secs = n as u64;
            }
            if let Some(n) = r.integer("max_rate_limit_pause_secs", 1, 86_400) {
                s.max_pause_secs = n as u64;
            }
            if let Some(n) = r.integer("retry_backoff_secs", 0, 86_400) {
                s.retry_backoff_secs = n as u64;
            }
            if let Some(n) = r.integer("keep_runs", 1, 1_000_000) {
                s.keep_runs = n as usize;
            }
            if let Some(n) = r.integer("commit_docs", 1, 1_000_000) {
                s.commit_docs = n as usize;
            }
            if let Some(n) = r.integer("commit_interval_secs", 1, 86_400) {
                s.commit_interval_secs = n as u64;
            }
            if let Some(f) = r.float("mass_delete_ratio", 0.0, 1.0) {
                s.mass_delete_ratio = f;
            }
            if let Some(n) = r.integer("chunk_target_bytes", 64, 1 << 20) {
                s.chunker.target_bytes = n as usize;
            }
            if let Some(n) = r.integer("chunk_overlap_bytes", 0, 1 << 19) {
                s.chunker.overlap_bytes = n as usize;
            }
            for p in s.chunker.validate() {
                r.problem("chunk", p);
            }
            r.finish();
        }
        match sources {
            None => problems.push(Problem {
                key: "sources".into(),
                message: "no [[sources]] configured".into(),
            }),
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let key = format!("sources[{i}]");
                    match item {
                        Value::Table(t) => {
                            if let Some(source) =
                                sources::parse(t, &key, base, types, &mut problems)
                            {
                                if config.sources.iter().any(|s| s.id == source.id) {
                                    problems.push(Problem {
                                        key: format!("{key}.id"),
                                        message: format!("duplicate source id {:?}", source.id),
                                    });
                                }
                                config.sources.push(source);
                            }
                        }
                        other => problems.push(Problem {
                            key,
                            message: format!("expected a table, found {}", other.type_str()),
                        }),
                    }
                }
            }
            Some(other) => problems.push(Problem {
                key: "sources".into(),
                message: format!(
                    "expected an array of tables ([[sources]]), found {}",
                    other.type_str()
                ),
            }),
        }
        for (i, source) in config.sources.iter().enumerate() {
            for (name, folder) in source.local_paths() {
                if config.data_dir.starts_with(folder) {
                    // The sync would index the index's own files (and, with `watch`, every
                    // commit would queue changes for the next run).
                    problems.push(Problem {
                        key: format!("sources[{i}].{name}"),
                        message: format!(
                            "{} contains the index folder {} (index.path): move the index out of the synced folder",
                            folder.display(),
                            config.data_dir.display()
                        ),
                    });
                }
            }
        }
        for (i, name) in config.identities_sources.iter().flatten().enumerate() {
            let known = config
                .sources
                .iter()
                .any(|s| s.id == *name || s.namespace() == name);
            if !known {
                problems.push(Problem {
                    key: format!("identities.sources[{i}]"),
                    message: format!(
                        "{name:?} is neither a source id nor a source's group_namespace"
                    ),
                });
            }
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(fail(problems))
        }
    }

    /// The namespaces whose groups the identities file defines (none without a file).
    pub fn file_namespaces(&self) -> Vec<String> {
        if self.identities_file.is_none() {
            return Vec::new();
        }
        let mut out: Vec<String> = match &self.identities_sources {
            Some(names) => names
                .iter()
                .map(|n| {
                    self.sources
                        .iter()
                        .find(|s| s.id == *n)
                        .map_or(n.clone(), |s| s.namespace().to_string())
                })
                .collect(),
            None => self
                .sources
                .iter()
                .filter(|s| s.has_no_directory())
                .map(|s| s.namespace().to_string())
                .collect(),
        };
        out.sort();
        out.dedup();
        out
    }

    /// Loads `path`, or — when no path was given and `./tributary.toml` does not exist —
    /// the bundled sample configuration.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        Config::load_with(path, false)
    }

    /// [`Config::load`]; with `watch_by_default`, a filesystem source without a `watch`
    /// key watches its folder (what `tributary daemon` wants: a long-lived process keeps
    /// the change journal alive between runs).
    pub fn load_with(path: Option<&Path>, watch_by_default: bool) -> anyhow::Result<Config> {
        let (path, explicit) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG), false),
        };
        if !path.exists() {
            if explicit {
                anyhow::bail!("config file {} does not exist", path.display());
            }
            return Self::sample(watch_by_default);
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("read {}: {e}", path.display()))?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let text = match watch_by_default {
            true => watching(&text),
            false => text,
        };
        Ok(Config::parse(&text, base, &path.display().to_string())?)
    }

    /// The zero-config quickstart: the bundled sample folder into `./.tributary`.
    fn sample(watch_by_default: bool) -> anyhow::Result<Config> {
        let fixtures = [
            PathBuf::from("fixtures"),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures"),
        ]
        .into_iter()
        .find(|p| p.join("sample-docs").is_dir())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no {DEFAULT_CONFIG} here and the bundled sample (fixtures/sample-docs) was not found; \
                 pass --config FILE"
            )
        })?;
        let text = format!(
            r#"
[index]
path = "{data}"
[identities]
file = "{fx}/sample-identities.json"
[[sources]]
id = "sample"
type = "filesystem"
root = "{fx}/sample-docs"
acl_file = "{fx}/sample-acl.json"
"#,
            data = ".tributary",
            fx = fixtures.display()
        );
        let text = match watch_by_default {
            true => watching(&text),
            false => text,
        };
        let mut config = Config::parse(&text, Path::new("."), "the bundled sample configuration")?;
        config.origin = format!(
            "the bundled sample ({}; no {DEFAULT_CONFIG} in this folder)",
            fixtures.join("sample-docs").display()
        );
        Ok(config)
    }
}

/// The config text with `watch = true` in every filesystem source that does not say
/// (on Linux, where the change journal works). Text that does not parse is left as it is,
/// for [`Config::parse`] to report.
fn watching(text: &str) -> String {
    let Ok(mut root) = text.parse::<Table>() else {
        return text.to_string();
    };
    if !cfg!(target_os = "linux") {
        return text.to_string();
    }
    if let Some(Value::Array(sources)) = root.get_mut("sources") {
        for source in sources {
            if let Value::Table(t) = source
                && t.get("type").and_then(Value::as_str) == Some("filesystem")
                && !t.contains_key("watch")
            {
                t.insert("watch".into(), Value::Boolean(true));
            }
        }
    }
    toml::to_string(&root).unwrap_or_else(|_| text.to_string())
}

/// A TOML syntax error as `line L, column C: message`, without toml's excerpt of the line:
/// the line may hold a secret (`api_token = "...` with its closing quote missing).
fn syntax_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let text = r#"
colour = "blue"
[index]
path = 7
[sync]
commit_docs = 0
chunk_target_bytes = 100
chunk_overlap_bytes = 80
[[sources]]
id = "a:b"
type = "filesystem"
[[sources]]
id = "x"
type = "ftp"
[[sources]]
id = "fs"
type = "filesystem"
root = "docs"
include = ["[bad"]
default_access = "public"
"#;
        let err = Config::parse(text, Path::new("/base"), "t.toml").expect_err("invalid");
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "colour",
                "index.path",
                "sync.commit_docs",
                "sync.chunk",
                "sources[0].id",
                "sources[0].root",
                "sources[1].type",
                "sources[2].default_access",
                "sources[2].include[0]",
            ],
            "{err}"
        );
    }

    #[test]
    fn the_change_journal_keys_are_read_and_checked() {
        let source = "[[sources]]\nid = \"d\"\ntype = \"filesystem\"\nroot = \"docs\"\n";
        let config = Config::parse(
            &format!("{source}watch = true\nrescan_minutes = 5\n"),
            Path::new("/base"),
            "t.toml",
        )
        .expect("valid");
        let fs = config.sources[0]
            .connector
            .config()
            .downcast_ref::<connector_filesystem::FilesystemConfig>()
            .expect("a filesystem source");
        assert_eq!((fs.watch, fs.rescan_minutes), (true, 5));
        let err = Config::parse(
            &format!("{source}watch = \"yes\"\nrescan_minutes = 0\n"),
            Path::new("/base"),
            "t.toml",
        )
        .expect_err("invalid");
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["sources[0].watch", "sources[0].rescan_minutes"],
            "{err}"
        );
    }

    #[test]
    fn the_deadline_pause_and_retry_keys_reach_the_sync_options() {
        let source = "[[sources]]\nid = \"d\"\ntype = \"filesystem\"\nroot = \"docs\"\n";
        let text = format!(
            "[sync]\nfetch_timeout_secs = 7\nmax_rate_limit_pause_secs = 9\nretry_backoff_secs = 0\nkeep_runs = 3\n{source}"
        );
        let o = Config::parse(&text, Path::new("/base"), "t.toml")
            .expect("valid")
            .sync
            .options();
        assert_eq!(
            (o.fetch_timeout, o.max_pause, o.retry_backoff, o.keep_runs),
            (
                Duration::from_secs(7),
                Duration::from_secs(9),
                Duration::ZERO,
                3
            )
        );
        let text =
            format!("[sync]\nfetch_timeout_secs = 0\nmax_rate_limit_pause_secs = -1\n{source}");
        let err = Config::parse(&text, Path::new("/base"), "t.toml").expect_err("invalid");
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["sync.fetch_timeout_secs", "sync.max_rate_limit_pause_secs"],
            "{err}"
        );
    }

    #[test]
    fn namespaces_aliases_and_the_files_sources_are_read_and_checked() {
        let text = r#"
[identities]
file = "ids.json"
[[sources]]
id = "site-a"
type = "filesystem"
root = "a"
group_namespace = "tenant"
[sources.aliases]
"U024BE7LH" = "Alice@Example.com"
[[sources]]
id = "b"
type = "filesystem"
root = "b"
[[sources]]
id = "c"
type = "s3"
bucket = "bucket-c"
"#;
        let config = Config::parse(text, Path::new("/base"), "t.toml").expect("valid");
        let a = &config.sources[0];
        assert_eq!(
            (a.namespace(), config.sources[1].namespace()),
            ("tenant", "b")
        );
        assert_eq!(
            a.aliases.get("u024be7lh").map(String::as_str),
            Some("alice@example.com")
        );
        // By default the file defines the groups of every source without a directory.
        assert_eq!(config.file_namespaces(), ["b", "c", "tenant"]);
        let only = text.replace(
            "file = \"ids.json\"",
            "file = \"ids.json\"\nsources = [\"site-a\"]",
        );
        let config = Config::parse(&only, Path::new("/base"), "t.toml").expect("valid");
        assert_eq!(config.file_namespaces(), ["tenant"]);

        let bad = r#"
[identities]
file = "ids.json"
sources = ["nowhere"]
[[sources]]
id = "d"
type = "filesystem"
root = "d"
group_namespace = "a:b"
aliases = { "U1" = "not-an-email", "U2" = 7 }
"#;
        let err = Config::parse(bad, Path::new("/base"), "t.toml").expect_err("invalid");
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "sources[0].group_namespace",
                "sources[0].aliases.U1",
                "sources[0].aliases.U2",
                "identities.sources[0]",
            ],
            "{err}"
        );
    }

    #[test]
    fn a_synced_folder_may_not_contain_the_index() {
        let source = "[[sources]]\nid = \"d\"\ntype = \"filesystem\"\nroot = \".\"\n";
        let err = Config::parse(source, Path::new("/srv"), "t.toml").expect_err("invalid");
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["sources[0].root"], "{err}");
        let elsewhere = format!("[index]\npath = \"/var/lib/tributary\"\n{source}");
        Config::parse(&elsewhere, Path::new("/srv"), "t.toml").expect("index outside the root");
    }

    #[test]
    fn relative_paths_resolve_against_the_config_folder() {
        let text = "[index]\npath = \"data\"\n[[sources]]\nid = \"d\"\ntype = \"filesystem\"\n\
                    root = \"docs\"\nacl_file = \"acl/docs.json\"\n";
        let config = Config::parse(text, Path::new("/etc/trib"), "t.toml").expect("valid");
        assert_eq!(config.data_dir, Path::new("/etc/trib/data"));
        assert_eq!(config.sources[0].id, "d");
        // The connector's own paths too: its source type gets the folder in its context.
        let fs = config.sources[0]
            .connector
            .config()
            .downcast_ref::<connector_filesystem::FilesystemConfig>()
            .expect("a filesystem source");
        assert_eq!(fs.root, Path::new("/etc/trib/docs"));
        assert_eq!(
            fs.acl_file.as_deref(),
            Some(Path::new("/etc/trib/acl/docs.json"))
        );
    }
}
