//! Configuration of a ServiceNow source (`type = "servicenow"`).

use std::sync::Arc;

use connector_sdk::{
    ConfigContext, ConfigProblem, Connector, ConnectorError, ErrorKind, Secret, SourceProfile,
    SourceType,
};
use serde::Deserialize;

use crate::ServiceNowConnector;

/// How the connector signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// HTTP Basic with `username` and `password` (an integration user).
    #[default]
    Basic,
    /// OAuth (`/oauth_token.do`), the password grant: `client_id`, `client_secret`,
    /// `username`, `password`.
    OauthPassword,
    /// OAuth, the client credentials grant: `client_id`, `client_secret`.
    OauthClientCredentials,
}

/// `[[sources]]` keys of `type = "servicenow"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNowConfig {
    /// The instance, `https://<name>.service-now.com`.
    pub instance_url: String,
    /// `basic` (default), `oauth_password` or `oauth_client_credentials`.
    #[serde(default)]
    pub auth: AuthMode,
    /// The integration user (Basic and the OAuth password grant).
    #[serde(default)]
    pub username: Option<String>,
    /// Its password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// The environment variable holding the password (preferred to `password`).
    #[serde(default)]
    pub password_env: Option<String>,
    /// The OAuth application's client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Its secret.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// The environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Knowledge bases to sync, by title or `sys_id`; every one when empty.
    #[serde(default)]
    pub knowledge_bases: Vec<String>,
    /// Whether article attachments are synced.
    #[serde(default = "yes")]
    pub attachments: bool,
    /// Whether incidents are synced (off by default).
    #[serde(default)]
    pub incidents: bool,
    /// Roles that see every incident (their holders read all); the caller, the opener
    /// and the assignee of an incident see it too.
    #[serde(default = "default_incident_roles")]
    pub incident_visibility: Vec<String>,
    /// Records per Table API page.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Requests per second to the instance (its rate-limit rules are per hour; this
    /// spreads them).
    #[serde(default = "default_rate")]
    pub requests_per_second: f64,
    /// How far back (seconds) an incremental run reads again before its watermark, so
    /// that a record committed late with an earlier `sys_updated_on` is still seen.
    #[serde(default = "default_overlap")]
    pub overlap_secs: u32,
    /// How long one request may take.
    #[serde(default = "default_timeout")]
    pub request_timeout_secs: u64,
}

fn yes() -> bool {
    true
}
fn default_incident_roles() -> Vec<String> {
    vec!["itil".into()]
}
fn default_page_size() -> u32 {
    500
}
fn default_rate() -> f64 {
    10.0
}
fn default_overlap() -> u32 {
    60
}
fn default_timeout() -> u64 {
    60
}

impl ServiceNowConfig {
    /// A configuration for `instance_url` with defaults and no credentials.
    pub fn new(instance_url: impl Into<String>) -> Self {
        ServiceNowConfig {
            instance_url: instance_url.into(),
            auth: AuthMode::Basic,
            username: None,
            password: None,
            password_env: None,
            client_id: None,
            client_secret: None,
            client_secret_env: None,
            knowledge_bases: Vec::new(),
            attachments: true,
            incidents: false,
            incident_visibility: default_incident_roles(),
            page_size: default_page_size(),
            requests_per_second: default_rate(),
            overlap_secs: default_overlap(),
            request_timeout_secs: default_timeout(),
        }
    }

    /// Every problem, without I/O.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut problem =
            |key: &str, message: &str| problems.push(ConfigProblem::new(key, message));
        let url = self.instance_url.trim_end_matches('/');
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.contains('?') {
            problem("instance_url", "must be an http(s) URL without a query");
        }
        let owner = !matches!(self.auth, AuthMode::OauthClientCredentials);
        if owner {
            if self.username.as_deref().is_none_or(str::is_empty) {
                problem("username", "missing");
            }
            match (&self.password, &self.password_env) {
                (None, None) => problem("password_env", "missing (or password)"),
                (Some(_), Some(_)) => problem("password", "give one of password and password_env"),
                _ => {}
            }
        }
        if self.auth != AuthMode::Basic {
            if self.client_id.as_deref().is_none_or(str::is_empty) {
                problem("client_id", "missing");
            }
            match (&self.client_secret, &self.client_secret_env) {
                (None, None) => problem("client_secret_env", "missing (or client_secret)"),
                (Some(_), Some(_)) => problem(
                    "client_secret",
                    "give one of client_secret and client_secret_env",
                ),
                _ => {}
            }
        }
        if !(1..=10_000).contains(&self.page_size) {
            problem("page_size", "must be between 1 and 10000");
        }
        if !(self.requests_per_second > 0.0 && self.requests_per_second.is_finite()) {
            problem("requests_per_second", "must be above 0");
        }
        if self.request_timeout_secs == 0 {
            problem("request_timeout_secs", "must be at least 1");
        }
        problems
    }

    pub(crate) fn password(&self) -> Result<Secret, ConnectorError> {
        secret(&self.password, &self.password_env, "password_env")
    }

    pub(crate) fn client_secret(&self) -> Result<Secret, ConnectorError> {
        secret(
            &self.client_secret,
            &self.client_secret_env,
            "client_secret_env",
        )
    }
}

fn secret(
    value: &Option<Secret>,
    env: &Option<String>,
    key: &str,
) -> Result<Secret, ConnectorError> {
    match (value, env) {
        (Some(v), _) => Ok(v.clone()),
        (None, Some(var)) => Secret::from_env(var),
        (None, None) => Err(ConnectorError::new(
            ErrorKind::Permanent,
            format!("{key}: missing"),
        )),
    }
}

/// `type = "servicenow"` in the binary's list of source types.
#[derive(Debug, Clone, Copy)]
pub struct ServiceNowType;

impl SourceType for ServiceNowType {
    const KIND: &'static str = "servicenow";
    type Config = ServiceNowConfig;

    fn describe_key(&self, key: &str) -> Option<&'static str> {
        match key {
            "instance_url" => Some("the instance, https://<name>.service-now.com"),
            "password_env" => {
                Some("the environment variable holding the integration user's password")
            }
            _ => None,
        }
    }

    fn resolve(&self, _config: &mut ServiceNowConfig, _cx: &ConfigContext) {}

    fn validate(&self, config: &ServiceNowConfig) -> Vec<ConfigProblem> {
        config.validate()
    }

    fn profile(&self, _config: &ServiceNowConfig) -> SourceProfile {
        // Groups, roles and departments come from the instance's own directory.
        SourceProfile::default().with_directory()
    }

    fn build(&self, config: &ServiceNowConfig) -> Result<Arc<dyn Connector>, ConnectorError> {
        Ok(Arc::new(ServiceNowConnector::new(config.clone())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let mut c = ServiceNowConfig::new("dev1234.service-now.com");
        c.auth = AuthMode::OauthPassword;
        c.page_size = 0;
        let keys: Vec<String> = c.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "instance_url",
                "username",
                "password_env",
                "client_id",
                "client_secret_env",
                "page_size"
            ]
        );
        let mut c = ServiceNowConfig::new("https://dev1234.service-now.com");
        c.username = Some("svc".into());
        c.password = Some(Secret::new("x"));
        assert!(c.validate().is_empty());
        c.auth = AuthMode::OauthClientCredentials;
        c.client_id = Some("id".into());
        c.client_secret_env = Some("SN_SECRET".into());
        assert!(c.validate().is_empty());
    }
}
