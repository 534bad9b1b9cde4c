//! Configuration of a Jira Cloud source (`type = "jira"`).

use std::sync::Arc;

use connector_sdk::{
    ConfigContext, ConfigProblem, Connector, ConnectorError, ErrorKind, Secret, SourceProfile,
    SourceType,
};
use serde::Deserialize;

use crate::JiraConnector;

/// `[[sources]]` keys of `type = "jira"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// The site: `https://<site>.atlassian.net` (or, with an OAuth token,
    /// `https://api.atlassian.com/ex/jira/<cloudId>`). Issue links point under it.
    pub base_url: String,
    /// The account's email, for basic auth with `api_token`.
    #[serde(default)]
    pub email: Option<String>,
    /// The account's API token (basic auth with `email`).
    #[serde(default)]
    pub api_token: Option<Secret>,
    /// The environment variable holding the API token (preferred to `api_token`).
    #[serde(default)]
    pub api_token_env: Option<String>,
    /// An OAuth 2.0 access token, sent as `Authorization: Bearer` (instead of basic auth).
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// The environment variable holding the OAuth 2.0 access token.
    #[serde(default)]
    pub bearer_token_env: Option<String>,
    /// Project keys to sync; empty: every project the account may browse.
    #[serde(default)]
    pub projects: Vec<String>,
    /// A JQL filter every synced issue must also match (`labels != secret`).
    #[serde(default)]
    pub jql: Option<String>,
    /// How far back from the newest `updated` seen an incremental run searches again:
    /// JQL dates have minute precision and search is eventually consistent.
    #[serde(default = "default_overlap")]
    pub overlap_secs: u64,
    /// Whether comments are part of an issue's text.
    #[serde(default = "yes")]
    pub include_comments: bool,
    /// Whether attachments are synced (downloaded and extracted) as documents.
    #[serde(default = "yes")]
    pub include_attachments: bool,
    /// Issues per `search/jql` page (Jira caps pages with fields at 100).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Requests per second to the site (Jira's limits are per site and endpoint).
    #[serde(default = "default_rate")]
    pub requests_per_second: f64,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
    /// How long one request may take.
    #[serde(default = "default_timeout")]
    pub request_timeout_secs: u64,
}

fn yes() -> bool {
    true
}
fn default_overlap() -> u64 {
    300
}
fn default_page_size() -> u32 {
    100
}
fn default_rate() -> f64 {
    10.0
}
fn default_concurrency() -> usize {
    4
}
fn default_timeout() -> u64 {
    60
}

/// The credentials a source authenticates with.
#[derive(Debug, Clone)]
pub(crate) enum Credentials {
    Basic { email: String, token: Secret },
    Bearer(Secret),
}

impl JiraConfig {
    /// A configuration for `base_url` with defaults and no credentials.
    pub fn new(base_url: impl Into<String>) -> Self {
        JiraConfig {
            base_url: base_url.into(),
            email: None,
            api_token: None,
            api_token_env: None,
            bearer_token: None,
            bearer_token_env: None,
            projects: Vec::new(),
            jql: None,
            overlap_secs: default_overlap(),
            include_comments: true,
            include_attachments: true,
            page_size: default_page_size(),
            requests_per_second: default_rate(),
            max_concurrency: default_concurrency(),
            request_timeout_secs: default_timeout(),
        }
    }

    /// Every problem, without I/O.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut problem =
            |key: &str, message: &str| problems.push(ConfigProblem::new(key, message));
        if !(self.base_url.starts_with("https://") || self.base_url.starts_with("http://")) {
            problem("base_url", "must be an http(s) URL");
        }
        let basic = self.api_token.is_some() || self.api_token_env.is_some();
        let bearer = self.bearer_token.is_some() || self.bearer_token_env.is_some();
        match (basic, bearer) {
            (false, false) => problem("api_token_env", "missing (or api_token, or bearer_token)"),
            (true, true) => problem("bearer_token", "give either an API token or a bearer token"),
            (true, false) if self.email.as_deref().is_none_or(str::is_empty) => {
                problem("email", "missing: basic auth needs the account's email")
            }
            _ => {}
        }
        if self.api_token.is_some() && self.api_token_env.is_some() {
            problem("api_token", "give one of api_token and api_token_env");
        }
        if self.bearer_token.is_some() && self.bearer_token_env.is_some() {
            problem(
                "bearer_token",
                "give one of bearer_token and bearer_token_env",
            );
        }
        for (i, key) in self.projects.iter().enumerate() {
            let ok = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                problem(&format!("projects[{i}]"), "not a project key");
            }
        }
        if let Some(jql) = &self.jql
            && (jql.trim().is_empty() || jql.to_ascii_lowercase().contains("order by"))
        {
            problem("jql", "must be a filter without ORDER BY");
        }
        if !(1..=100).contains(&self.page_size) {
            problem("page_size", "must be between 1 and 100");
        }
        if self.requests_per_second.is_nan() || self.requests_per_second <= 0.0 {
            problem("requests_per_second", "must be above 0");
        }
        if self.max_concurrency == 0 {
            problem("max_concurrency", "must be at least 1");
        }
        if self.request_timeout_secs == 0 {
            problem("request_timeout_secs", "must be at least 1");
        }
        problems
    }

    pub(crate) fn credentials(&self) -> Result<Credentials, ConnectorError> {
        let secret = |value: &Option<Secret>, env: &Option<String>| match (value, env) {
            (Some(s), _) => Some(Ok(s.clone())),
            (None, Some(var)) => Some(Secret::from_env(var)),
            (None, None) => None,
        };
        if let Some(token) = secret(&self.bearer_token, &self.bearer_token_env) {
            return Ok(Credentials::Bearer(token?));
        }
        match (secret(&self.api_token, &self.api_token_env), &self.email) {
            (Some(token), Some(email)) => Ok(Credentials::Basic {
                email: email.clone(),
                token: token?,
            }),
            _ => Err(ConnectorError::new(
                ErrorKind::Permanent,
                "api_token_env: missing (or api_token with email, or bearer_token)",
            )),
        }
    }
}

/// `type = "jira"` in the binary's list of source types.
#[derive(Debug, Clone, Copy)]
pub struct JiraType;

impl SourceType for JiraType {
    const KIND: &'static str = "jira";
    type Config = JiraConfig;

    fn describe_key(&self, key: &str) -> Option<&'static str> {
        match key {
            "base_url" => Some("the Jira Cloud site, https://<site>.atlassian.net"),
            "api_token_env" => Some("the environment variable holding the account's API token"),
            _ => None,
        }
    }

    fn resolve(&self, _config: &mut JiraConfig, _cx: &ConfigContext) {}

    fn validate(&self, config: &JiraConfig) -> Vec<ConfigProblem> {
        config.validate()
    }

    fn profile(&self, _config: &JiraConfig) -> SourceProfile {
        // Groups and "any logged-in user" come from the identity sync.
        SourceProfile::default().with_directory()
    }

    fn build(&self, config: &JiraConfig) -> Result<Arc<dyn Connector>, ConnectorError> {
        Ok(Arc::new(JiraConnector::new(config.clone())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let mut c = JiraConfig::new("acme.atlassian.net");
        c.api_token = Some(Secret::new("t"));
        c.projects = vec!["ENG".into(), "a b".into()];
        c.jql = Some("labels = x ORDER BY key".into());
        c.page_size = 0;
        let keys: Vec<String> = c.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            ["base_url", "email", "projects[1]", "jql", "page_size"]
        );
        let mut c = JiraConfig::new("https://acme.atlassian.net");
        c.bearer_token = Some(Secret::new("t"));
        assert!(c.validate().is_empty());
    }
}
