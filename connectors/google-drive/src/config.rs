//! Configuration of a Google Drive source (`type = "google-drive"`).

use std::path::PathBuf;
use std::sync::Arc;

use connector_sdk::{
    ConfigContext, ConfigProblem, Connector, ConnectorError, ErrorKind, Secret, SourceProfile,
    SourceType,
};
use serde::Deserialize;

use crate::DriveConnector;

/// Google's API host; Drive and the Admin SDK live under it.
pub const DEFAULT_API_URL: &str = "https://www.googleapis.com";

/// `[[sources]]` keys of `type = "google-drive"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DriveConfig {
    /// The service account's JSON key file (its `token_uri` is honoured).
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// Or: the environment variable that holds the JSON key itself.
    #[serde(default)]
    pub credentials_env: Option<String>,
    /// The administrator impersonated to read the directory and the shared drives.
    pub admin_email: String,
    /// Google's API host (a proxy, a test server).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Replaces the key file's `token_uri`.
    #[serde(default)]
    pub token_url: Option<String>,
    /// Sync every user's My Drive (the files each owns).
    #[serde(default = "yes")]
    pub my_drives: bool,
    /// Sync shared drives.
    #[serde(default = "yes")]
    pub shared_drives: bool,
    /// Only these users' My Drives (emails); empty: every active user of the directory.
    #[serde(default)]
    pub users: Vec<String>,
    /// Only these shared drives (names or ids); empty: all.
    #[serde(default)]
    pub include_shared_drives: Vec<String>,
    /// Never these shared drives (names or ids).
    #[serde(default)]
    pub exclude_shared_drives: Vec<String>,
    /// Globs over paths (`Legal/Contracts/**`, `My Drive of ann@example.com/**`); when
    /// non-empty, only matching files are synced.
    #[serde(default)]
    pub include_paths: Vec<String>,
    /// Globs over paths; matching files are never synced.
    #[serde(default)]
    pub exclude_paths: Vec<String>,
    /// Globs over MIME types (`application/pdf`, `image/*`); when non-empty, only these.
    #[serde(default)]
    pub include_mime_types: Vec<String>,
    /// Globs over MIME types never synced.
    #[serde(default)]
    pub exclude_mime_types: Vec<String>,
    /// Whether "anyone with the link" (and "anyone in the domain with the link") makes a
    /// file searchable by everyone (the domain). Off: a link is handed to some people.
    #[serde(default)]
    pub link_sharing_searchable: bool,
    /// Items per listing page (Drive's maximum is 1000).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Requests per second to Google (all calls of the source together).
    #[serde(default = "default_rate")]
    pub requests_per_second: f64,
    /// Requests in flight at once (downloads included).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// How long one request may take.
    #[serde(default = "default_timeout")]
    pub request_timeout_secs: u64,
}

fn yes() -> bool {
    true
}
fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}
fn default_page_size() -> u32 {
    1000
}
fn default_rate() -> f64 {
    20.0
}
fn default_concurrency() -> usize {
    8
}
fn default_timeout() -> u64 {
    60
}

impl DriveConfig {
    /// A configuration with defaults, impersonating `admin_email`.
    pub fn new(admin_email: impl Into<String>) -> Self {
        DriveConfig {
            credentials_file: None,
            credentials_env: None,
            admin_email: admin_email.into(),
            api_url: default_api_url(),
            token_url: None,
            my_drives: true,
            shared_drives: true,
            users: Vec::new(),
            include_shared_drives: Vec::new(),
            exclude_shared_drives: Vec::new(),
            include_paths: Vec::new(),
            exclude_paths: Vec::new(),
            include_mime_types: Vec::new(),
            exclude_mime_types: Vec::new(),
            link_sharing_searchable: false,
            page_size: default_page_size(),
            requests_per_second: default_rate(),
            concurrency: default_concurrency(),
            request_timeout_secs: default_timeout(),
        }
    }

    /// Every problem, without I/O.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut problem =
            |key: &str, message: &str| problems.push(ConfigProblem::new(key, message));
        match (&self.credentials_file, &self.credentials_env) {
            (None, None) => problem(
                "credentials_file",
                "missing (the service account's JSON key; or credentials_env)",
            ),
            (Some(_), Some(_)) => problem(
                "credentials_env",
                "give credentials_file or credentials_env, not both",
            ),
            _ => {}
        }
        if !self.admin_email.contains('@') {
            problem("admin_email", "must be an email address");
        }
        for (key, url) in [
            ("api_url", Some(&self.api_url)),
            ("token_url", self.token_url.as_ref()),
        ] {
            if let Some(url) = url
                && !(url.starts_with("https://") || url.starts_with("http://"))
            {
                problem(key, "must be an http(s) URL");
            }
        }
        if !self.my_drives && !self.shared_drives {
            problem(
                "shared_drives",
                "my_drives and shared_drives are both off: nothing to sync",
            );
        }
        for (i, user) in self.users.iter().enumerate() {
            if !user.contains('@') {
                problem(&format!("users[{i}]"), "must be an email address");
            }
        }
        for (key, globs) in [
            ("include_paths", &self.include_paths),
            ("exclude_paths", &self.exclude_paths),
            ("include_mime_types", &self.include_mime_types),
            ("exclude_mime_types", &self.exclude_mime_types),
        ] {
            for (i, glob) in globs.iter().enumerate() {
                if let Err(e) = globset::Glob::new(glob) {
                    problem(&format!("{key}[{i}]"), &format!("not a glob: {}", e.kind()));
                }
            }
        }
        if !(1..=1000).contains(&self.page_size) {
            problem("page_size", "must be between 1 and 1000");
        }
        if !(self.requests_per_second.is_finite() && self.requests_per_second > 0.0) {
            problem("requests_per_second", "must be a positive number");
        }
        if self.concurrency == 0 {
            problem("concurrency", "must be at least 1");
        }
        if self.request_timeout_secs == 0 {
            problem("request_timeout_secs", "must be at least 1");
        }
        problems
    }
}

/// `type = "google-drive"` in the binary's list of source types.
#[derive(Debug, Clone, Copy)]
pub struct DriveType;

impl SourceType for DriveType {
    const KIND: &'static str = "google-drive";
    type Config = DriveConfig;

    fn describe_key(&self, key: &str) -> Option<&'static str> {
        (key == "admin_email").then_some("the administrator impersonated to read the directory")
    }

    fn resolve(&self, config: &mut DriveConfig, cx: &ConfigContext) {
        if let Some(file) = &config.credentials_file {
            config.credentials_file = Some(cx.resolve_path(file));
        }
    }

    fn validate(&self, config: &DriveConfig) -> Vec<ConfigProblem> {
        config.validate()
    }

    fn profile(&self, config: &DriveConfig) -> SourceProfile {
        // Downloads wait on Google, not on CPU; the source has a directory of its own.
        SourceProfile::default()
            .with_directory()
            .with_documents_in_flight(config.concurrency)
    }

    fn build(&self, config: &DriveConfig) -> Result<Arc<dyn Connector>, ConnectorError> {
        let key = match (&config.credentials_file, &config.credentials_env) {
            (Some(path), _) => std::fs::read_to_string(path)
                .map(Secret::new)
                .map_err(|e| {
                    ConnectorError::from_io(format_args!("reading {}", path.display()), e)
                })?,
            (None, Some(var)) => Secret::from_env(var)?,
            (None, None) => {
                return Err(ConnectorError::new(
                    ErrorKind::Permanent,
                    "credentials_file: missing (the service account's JSON key)",
                ));
            }
        };
        Ok(Arc::new(DriveConnector::new(config.clone(), &key)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let mut c = DriveConfig::new("admin");
        c.page_size = 5000;
        c.include_paths = vec!["a/[".into()];
        c.users = vec!["ann@example.com".into(), "bob".into()];
        c.my_drives = false;
        c.shared_drives = false;
        let keys: Vec<String> = c.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "credentials_file",
                "admin_email",
                "shared_drives",
                "users[1]",
                "include_paths[0]",
                "page_size"
            ]
        );
        let mut ok = DriveConfig::new("admin@example.com");
        ok.credentials_env = Some("DRIVE_KEY".into());
        assert!(ok.validate().is_empty());
    }
}
