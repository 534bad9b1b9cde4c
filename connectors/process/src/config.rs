//! Configuration of a process source (`type = "process"`), and [`ProcessType`], the entry
//! the binary registers.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use connector_sdk::{
    ConfigContext, ConfigProblem, Connector, ConnectorError, Secret, SourceProfile, SourceType,
};
use serde::Deserialize;

use crate::ProcessConnector;

/// `[[sources]]` keys of `type = "process"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessConfig {
    /// The program and its arguments. A program with a `/` in it is relative to the
    /// config file's folder; otherwise it is looked up on `PATH`.
    pub command: Vec<String>,
    /// Extra environment variables for the plugin. Values are secrets: never logged.
    #[serde(default)]
    pub env: BTreeMap<String, Secret>,
    /// The plugin's working directory; the config file's folder by default.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// The plugin's own configuration, sent to it in `init` (it validates it).
    #[serde(default)]
    pub config: Option<serde_json::Value>,
    /// How long the plugin has to say hello and accept its configuration.
    #[serde(default = "default_start_timeout")]
    pub start_timeout_secs: u64,
    /// No line at all (not even a heartbeat) for this long: the plugin is hung, killed,
    /// and the run fails.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
    /// The longest line the plugin may write; a longer one is a flood, and fails the run.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: u64,
    /// How much of the plugin's stderr goes to the log per process; the rest is dropped.
    #[serde(default = "default_max_stderr_bytes")]
    pub max_stderr_bytes: u64,
    /// The plugin has a directory of users and groups (it answers `identities`).
    #[serde(default)]
    pub directory: bool,
    /// How many documents the engine keeps in flight (concurrent fetches).
    #[serde(default)]
    pub documents_in_flight: Option<usize>,
}

fn default_start_timeout() -> u64 {
    30
}
fn default_idle_timeout() -> u64 {
    120
}
fn default_max_line_bytes() -> u64 {
    8 * 1024 * 1024
}
fn default_max_stderr_bytes() -> u64 {
    64 * 1024
}

impl ProcessConfig {
    /// A configuration running `command`, with defaults for everything else.
    pub fn new<S: Into<String>>(command: impl IntoIterator<Item = S>) -> Self {
        ProcessConfig {
            command: command.into_iter().map(Into::into).collect(),
            env: BTreeMap::new(),
            cwd: None,
            config: None,
            start_timeout_secs: default_start_timeout(),
            idle_timeout_secs: default_idle_timeout(),
            max_line_bytes: default_max_line_bytes(),
            max_stderr_bytes: default_max_stderr_bytes(),
            directory: false,
            documents_in_flight: None,
        }
    }

    /// Every problem of the configuration, without touching the disk.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        match self.command.first() {
            None => problems.push(ConfigProblem::new(
                "command",
                "must name the plugin program",
            )),
            Some(p) if p.trim().is_empty() => {
                problems.push(ConfigProblem::new("command[0]", "must not be empty"))
            }
            Some(_) => {}
        }
        for key in self.env.keys() {
            if key.is_empty() || key.contains(['=', '\0']) {
                problems.push(ConfigProblem::new(
                    format!("env.{key}"),
                    "is not a valid variable name",
                ));
            }
        }
        if let Some(config) = &self.config
            && !config.is_object()
        {
            problems.push(ConfigProblem::new("config", "must be a table"));
        }
        problems.extend(ConfigProblem::out_of_range(
            "start_timeout_secs",
            self.start_timeout_secs,
            1..=3600,
        ));
        problems.extend(ConfigProblem::out_of_range(
            "idle_timeout_secs",
            self.idle_timeout_secs,
            2..=86_400,
        ));
        problems.extend(ConfigProblem::out_of_range(
            "max_line_bytes",
            self.max_line_bytes,
            1024..=(256 * 1024 * 1024),
        ));
        problems.extend(ConfigProblem::out_of_range(
            "max_stderr_bytes",
            self.max_stderr_bytes,
            0..=(64 * 1024 * 1024),
        ));
        if let Some(n) = self.documents_in_flight {
            problems.extend(ConfigProblem::out_of_range(
                "documents_in_flight",
                n,
                1..=256,
            ));
        }
        problems
    }

    /// The program's name, for messages: never its arguments, which may hold anything.
    pub fn program(&self) -> &str {
        self.command.first().map_or("", String::as_str)
    }
}

/// The `process` source type.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessType;

impl SourceType for ProcessType {
    const KIND: &'static str = "process";
    type Config = ProcessConfig;

    fn describe_key(&self, key: &str) -> Option<&'static str> {
        (key == "command").then_some("the plugin program and its arguments")
    }

    fn resolve(&self, config: &mut ProcessConfig, cx: &ConfigContext) {
        let cwd = config.cwd.clone().unwrap_or_default();
        config.cwd = Some(if cwd.as_os_str().is_empty() {
            cx.base_dir.clone()
        } else {
            cx.resolve_path(&cwd)
        });
        if let Some(program) = config.command.first_mut()
            && program.contains('/')
        {
            *program = cx
                .resolve_path(std::path::Path::new(program.as_str()))
                .to_string_lossy()
                .into_owned();
        }
    }

    fn validate(&self, config: &ProcessConfig) -> Vec<ConfigProblem> {
        config.validate()
    }

    fn profile(&self, config: &ProcessConfig) -> SourceProfile {
        let mut profile = SourceProfile::default();
        if config.directory {
            profile = profile.with_directory();
        }
        if let Some(n) = config.documents_in_flight {
            profile = profile.with_documents_in_flight(n);
        }
        profile
    }

    fn build(&self, config: &ProcessConfig) -> Result<Arc<dyn Connector>, ConnectorError> {
        Ok(Arc::new(ProcessConnector::new(config.clone())))
    }
}

#[cfg(test)]
mod tests {
    use connector_sdk::ErasedSourceType;

    use super::*;

    fn problems(table: serde_json::Value) -> Vec<String> {
        let cx = ConfigContext::new("/etc/tributary").with_host_keys(&["id", "type"]);
        match ProcessType.parse(&table, &cx) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn every_problem_at_once_and_no_env_value_in_them() {
        let said = problems(serde_json::json!({
            "id": "p", "type": "process", "command": [],
            "env": {"A=B": "hunter2-secret"}, "config": "not a table",
            "idle_timeout_secs": 1, "max_line_bytes": 10,
        }));
        assert_eq!(
            said,
            [
                "command: must name the plugin program",
                "env.A=B: is not a valid variable name",
                "config: must be a table",
                "idle_timeout_secs: 1 is out of range (2..=86400)",
                "max_line_bytes: 10 is out of range (1024..=268435456)",
            ]
        );
        assert!(!said.join(" ").contains("hunter2"));
    }

    #[test]
    fn relative_programs_and_the_working_directory_start_at_the_config_folder() {
        let cx = ConfigContext::new("/etc/tributary").with_host_keys(&["id", "type"]);
        let table = serde_json::json!({"id": "p", "type": "process",
            "command": ["./plugins/wiki.py", "--fast"], "env": {"TOKEN": "s3cr3t"}});
        let configured = ProcessType.parse(&table, &cx).expect("valid");
        let config = configured
            .config()
            .downcast_ref::<ProcessConfig>()
            .expect("a process config");
        assert_eq!(config.command[0], "/etc/tributary/./plugins/wiki.py");
        assert_eq!(
            config.cwd.as_deref(),
            Some(std::path::Path::new("/etc/tributary"))
        );
        assert!(
            !format!("{configured:?}").contains("s3cr3t"),
            "env values never print"
        );
        let on_path = serde_json::json!({"id": "p", "type": "process", "command": ["python3"]});
        let configured = ProcessType.parse(&on_path, &cx).expect("valid");
        let config = configured
            .config()
            .downcast_ref::<ProcessConfig>()
            .expect("config");
        assert_eq!(
            config.command[0], "python3",
            "a bare name is looked up on PATH"
        );
    }
}
