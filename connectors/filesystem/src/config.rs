//! Configuration of a filesystem source (`type = "filesystem"`), and [`FilesystemType`],
//! the entry the binary registers.

use std::path::PathBuf;
use std::sync::Arc;

use connector_sdk::{ConfigContext, Connector, ConnectorError, SourceProfile, SourceType};
use serde::Deserialize;

pub use connector_sdk::ConfigProblem;
pub use connector_sdk::acl_file::DefaultAccess;

use crate::FilesystemConnector;

/// The longest `rescan_minutes` (about 19 years: never, in practice).
const MAX_RESCAN_MINUTES: u64 = 10_000_000;

/// `[[sources]]` keys of `type = "filesystem"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesystemConfig {
    /// The folder to sync.
    pub root: PathBuf,
    /// An ACL file in the Amazon Q S3 format; `keyPrefix` is a path relative to `root`.
    #[serde(default)]
    pub acl_file: Option<PathBuf>,
    /// Access for files no ACL prefix covers.
    #[serde(default)]
    pub default_access: DefaultAccess,
    /// Globs over relative paths; when non-empty, only matching files are synced.
    #[serde(default)]
    pub include: Vec<String>,
    /// Globs over relative paths; matching files are never synced.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Keep an inotify change journal between runs of one process (the daemon, or a program
    /// that embeds `sync-core`), so that a re-sync stats only the files that changed instead
    /// of walking the whole folder. A one-off `tributary sync` gains nothing: each process
    /// starts a new journal, and its first run walks. Leave it off for network file systems,
    /// where inotify does not see changes made on other machines. Linux only.
    #[serde(default)]
    pub watch: bool,
    /// With `watch`, walk the whole folder anyway at least this often (minutes), for what
    /// inotify cannot see: writes through another hard link or a shared `mmap`, changes on
    /// other machines, and documents that failed and have not changed since.
    #[serde(default = "default_rescan_minutes")]
    pub rescan_minutes: u64,
}

fn default_rescan_minutes() -> u64 {
    60
}

impl FilesystemConfig {
    /// A configuration for `root` with defaults for everything else.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FilesystemConfig {
            root: root.into(),
            acl_file: None,
            default_access: DefaultAccess::None,
            include: Vec::new(),
            exclude: Vec::new(),
            watch: false,
            rescan_minutes: default_rescan_minutes(),
        }
    }

    /// Checks the configuration without touching the disk; returns every problem.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.root.as_os_str().is_empty() {
            problems.push(ConfigProblem {
                key: "root".into(),
                message: "must not be empty".into(),
            });
        }
        if self.rescan_minutes == 0 {
            problems.push(ConfigProblem {
                key: "rescan_minutes".into(),
                message: "must be at least 1 (to walk on every run, set watch = false)".into(),
            });
        }
        problems.extend(ConfigProblem::out_of_range(
            "rescan_minutes",
            self.rescan_minutes,
            0..=MAX_RESCAN_MINUTES,
        ));
        if self.watch && !cfg!(target_os = "linux") {
            problems.push(ConfigProblem {
                key: "watch".into(),
                message: "the change journal needs Linux (inotify); set watch = false".into(),
            });
        }
        for (name, globs) in [("include", &self.include), ("exclude", &self.exclude)] {
            for (i, glob) in globs.iter().enumerate() {
                if let Err(e) = globset::Glob::new(glob) {
                    problems.push(ConfigProblem {
                        key: format!("{name}[{i}]"),
                        message: format!("invalid glob {glob:?}: {}", e.kind()),
                    });
                }
            }
        }
        problems
    }
}

/// The `filesystem` source type: [`FilesystemConfig`] read from a `[[sources]]` table,
/// `root` and `acl_file` relative to the config file's folder.
#[derive(Debug, Clone, Copy, Default)]
pub struct FilesystemType;

impl SourceType for FilesystemType {
    const KIND: &'static str = "filesystem";
    type Config = FilesystemConfig;

    fn describe_key(&self, key: &str) -> Option<&'static str> {
        (key == "root").then_some("the folder to sync")
    }

    fn resolve(&self, config: &mut FilesystemConfig, cx: &ConfigContext) {
        config.root = cx.resolve_path(&config.root);
        config.acl_file = config.acl_file.as_deref().map(|p| cx.resolve_path(p));
    }

    fn validate(&self, config: &FilesystemConfig) -> Vec<ConfigProblem> {
        config.validate()
    }

    fn profile(&self, config: &FilesystemConfig) -> SourceProfile {
        SourceProfile::default().with_local_path("root", &config.root)
    }

    fn build(&self, config: &FilesystemConfig) -> Result<Arc<dyn Connector>, ConnectorError> {
        match FilesystemConnector::new(config.clone()) {
            Ok(connector) => Ok(Arc::new(connector)),
            Err(problems) => Err(invalid(&problems)),
        }
    }
}

/// What a connector constructor's problems become when a valid config still fails to build.
fn invalid(problems: &[ConfigProblem]) -> ConnectorError {
    ConfigProblem::refusal(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_reports_every_problem() {
        let mut config = FilesystemConfig::new("");
        config.include = vec!["ok/**".into(), "bad/[".into()];
        config.exclude = vec!["{unclosed".into()];
        config.rescan_minutes = 0;
        let keys: Vec<String> = config.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(keys, ["root", "rescan_minutes", "include[1]", "exclude[0]"]);
    }

    #[test]
    fn a_table_is_read_with_paths_relative_to_the_config_folder() {
        use connector_sdk::ErasedSourceType;
        let cx = ConfigContext::new("/etc/trib").with_host_keys(&["id", "type"]);
        let table = serde_json::json!({
            "id": "d", "type": "filesystem", "root": "docs", "acl_file": "/srv/acl.json",
            "default_access": "everyone", "watch": true,
        });
        let source = FilesystemType.parse(&table, &cx).expect("valid");
        let config = source
            .config()
            .downcast_ref::<FilesystemConfig>()
            .expect("typed");
        assert_eq!(config.root, std::path::Path::new("/etc/trib/docs"));
        assert_eq!(
            config.acl_file.as_deref(),
            Some(std::path::Path::new("/srv/acl.json"))
        );
        assert_eq!(
            (config.default_access, config.watch),
            (DefaultAccess::Everyone, true)
        );
        assert_eq!(
            source.profile().local_paths,
            [("root".to_string(), PathBuf::from("/etc/trib/docs"))]
        );

        let table = serde_json::json!({ "root": "", "rescan_minutes": -5, "roots": "x" });
        let problems: Vec<String> = FilesystemType
            .parse(&table, &cx)
            .expect_err("invalid")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            problems,
            [
                "rescan_minutes: -5 is out of range (it may not be negative)",
                "roots: unknown key (known keys: id, type, root, acl_file, default_access, \
                 include, exclude, watch, rescan_minutes)",
                "root: must not be empty",
            ]
        );
    }
}
