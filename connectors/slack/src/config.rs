//! Configuration of a Slack source (`type = "slack"`).

use std::sync::Arc;

use connector_sdk::{
    ConfigContext, ConfigProblem, Connector, ConnectorError, ErrorKind, Secret, SourceProfile,
    SourceType,
};
use serde::Deserialize;

use crate::SlackConnector;

/// Slack's Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// `[[sources]]` keys of `type = "slack"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The app's bot token (`xoxb-…`), or a user token (`xoxp-…`).
    #[serde(default)]
    pub token: Option<Secret>,
    /// The environment variable holding the token (preferred to `token`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// The Web API's base URL: a proxy, Slack GovSlack (`https://slack-gov.com/api`), tests.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Globs over channel names (`eng-*`); empty: every channel the app is in.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Globs over channel names never synced.
    #[serde(default)]
    pub exclude_channels: Vec<String>,
    /// Whether group direct messages (multi-person DMs) the app is in are synced. One-to-one
    /// DMs never are.
    #[serde(default)]
    pub include_mpims: bool,
    /// Whether the app joins the public channels it is not in (`conversations.join`);
    /// otherwise they are skipped, with a warning naming them.
    #[serde(default)]
    pub join_public_channels: bool,
    /// Whether archived channels are synced.
    #[serde(default = "yes")]
    pub include_archived: bool,
    /// Whether files shared in the channels are synced (downloaded and extracted).
    #[serde(default = "yes")]
    pub files: bool,
    /// How many days back from the newest message an incremental run reads again, so that
    /// edits, deletions and new replies inside it are caught. Older deletions are found by
    /// the full reconcile.
    #[serde(default = "default_reconcile_days")]
    pub reconcile_window_days: u32,
    /// Messages per `conversations.history` / `replies` call (Slack caps non-Marketplace
    /// apps created after May 2025 at 15).
    #[serde(default = "default_history_limit")]
    pub history_limit: u32,
    /// Calls per minute to Tier 2 methods (`conversations.list`, `users.list`).
    #[serde(default = "default_tier2")]
    pub tier2_per_minute: u32,
    /// Calls per minute to Tier 3 methods (`conversations.history`, `replies`, `info`);
    /// 1 for non-Marketplace apps created after May 2025.
    #[serde(default = "default_tier3")]
    pub tier3_per_minute: u32,
    /// Calls per minute to Tier 4 methods (`conversations.members`) and file downloads.
    #[serde(default = "default_tier4")]
    pub tier4_per_minute: u32,
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
fn default_reconcile_days() -> u32 {
    7
}
fn default_history_limit() -> u32 {
    200
}
fn default_tier2() -> u32 {
    20
}
fn default_tier3() -> u32 {
    50
}
fn default_tier4() -> u32 {
    100
}
fn default_timeout() -> u64 {
    60
}

impl SlackConfig {
    /// A configuration with defaults and no token.
    pub fn new() -> Self {
        SlackConfig {
            token: None,
            token_env: None,
            api_url: default_api_url(),
            channels: Vec::new(),
            exclude_channels: Vec::new(),
            include_mpims: false,
            join_public_channels: false,
            include_archived: true,
            files: true,
            reconcile_window_days: default_reconcile_days(),
            history_limit: default_history_limit(),
            tier2_per_minute: default_tier2(),
            tier3_per_minute: default_tier3(),
            tier4_per_minute: default_tier4(),
            request_timeout_secs: default_timeout(),
        }
    }

    /// Every problem, without I/O.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut problem =
            |key: &str, message: &str| problems.push(ConfigProblem::new(key, message));
        match (&self.token, &self.token_env) {
            (None, None) => problem("token_env", "missing (or token)"),
            (Some(_), Some(_)) => problem("token", "give one of token and token_env"),
            _ => {}
        }
        if !(self.api_url.starts_with("https://") || self.api_url.starts_with("http://")) {
            problem("api_url", "must be an http(s) URL");
        }
        for (key, globs) in [
            ("channels", &self.channels),
            ("exclude_channels", &self.exclude_channels),
        ] {
            for (i, glob) in globs.iter().enumerate() {
                if let Err(e) = globset::Glob::new(glob) {
                    problem(&format!("{key}[{i}]"), &format!("not a glob: {}", e.kind()));
                }
            }
        }
        if !(1..=3650).contains(&self.reconcile_window_days) {
            problem("reconcile_window_days", "must be between 1 and 3650");
        }
        if !(1..=999).contains(&self.history_limit) {
            problem("history_limit", "must be between 1 and 999");
        }
        for (key, rate) in [
            ("tier2_per_minute", self.tier2_per_minute),
            ("tier3_per_minute", self.tier3_per_minute),
            ("tier4_per_minute", self.tier4_per_minute),
        ] {
            if rate == 0 {
                problem(key, "must be at least 1");
            }
        }
        if self.request_timeout_secs == 0 {
            problem("request_timeout_secs", "must be at least 1");
        }
        problems
    }

    /// The token, from the environment or the configuration.
    pub(crate) fn token(&self) -> Result<Secret, ConnectorError> {
        match (&self.token, &self.token_env) {
            (Some(token), _) => Ok(token.clone()),
            (None, Some(var)) => Secret::from_env(var),
            (None, None) => Err(ConnectorError::new(
                ErrorKind::Permanent,
                "token_env: missing (or token)",
            )),
        }
    }
}

impl Default for SlackConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// `type = "slack"` in the binary's list of source types.
#[derive(Debug, Clone, Copy)]
pub struct SlackType;

impl SourceType for SlackType {
    const KIND: &'static str = "slack";
    type Config = SlackConfig;

    fn describe_key(&self, key: &str) -> Option<&'static str> {
        match key {
            "token_env" => Some("the environment variable holding the Slack app's token"),
            _ => None,
        }
    }

    fn resolve(&self, _config: &mut SlackConfig, _cx: &ConfigContext) {}

    fn validate(&self, config: &SlackConfig) -> Vec<ConfigProblem> {
        config.validate()
    }

    fn profile(&self, _config: &SlackConfig) -> SourceProfile {
        // Channel membership is a directory of its own (the identity sync).
        SourceProfile::default().with_directory()
    }

    fn build(&self, config: &SlackConfig) -> Result<Arc<dyn Connector>, ConnectorError> {
        Ok(Arc::new(SlackConnector::new(config.clone())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let mut c = SlackConfig::new();
        c.api_url = "slack.com/api".into();
        c.channels = vec!["eng-[".into()];
        c.reconcile_window_days = 0;
        c.tier3_per_minute = 0;
        let keys: Vec<String> = c.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "token_env",
                "api_url",
                "channels[0]",
                "reconcile_window_days",
                "tier3_per_minute"
            ]
        );
        c = SlackConfig::new();
        c.token = Some(Secret::new("xoxb-1"));
        assert!(c.validate().is_empty());
    }
}
