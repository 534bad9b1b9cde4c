//! Configuration of a SharePoint Online source (`type = "sharepoint"`).

use std::path::PathBuf;
use std::sync::Arc;

use connector_sdk::{
    ConfigContext, ConfigProblem, Connector, ConnectorError, ErrorKind, Secret, SourceProfile,
    SourceType,
};
use serde::Deserialize;

use crate::SharePointConnector;

/// Microsoft Graph, global service.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";
/// Microsoft Entra ID's token authority, global service.
pub const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";

/// `[[sources]]` keys of `type = "sharepoint"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SharePointConfig {
    /// The Entra ID tenant (directory) id or a verified domain.
    pub tenant_id: String,
    /// The app registration's application (client) id.
    pub client_id: String,
    /// The client secret. Prefer `client_secret_env` (the secret stays out of the file).
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// The environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Or: a PEM file with the app's certificate and its private key (client assertion).
    /// SharePoint's REST API (site groups) takes app-only tokens from certificates only.
    #[serde(default)]
    pub certificate_file: Option<PathBuf>,
    /// Microsoft Graph, with its version (national clouds, proxies, tests).
    #[serde(default = "default_graph_url")]
    pub graph_url: String,
    /// Where tokens come from: `{authority_url}/{tenant_id}/oauth2/v2.0/token`.
    #[serde(default = "default_authority_url")]
    pub authority_url: String,
    /// Replaces the scheme and host of sites' URLs for SharePoint REST calls (a proxy, a
    /// test server); tokens are still asked for the sites' own host.
    #[serde(default)]
    pub sharepoint_url: Option<String>,
    /// Globs over site URLs (`https://contoso.sharepoint.com/sites/legal*`); empty: every
    /// site the app can see.
    #[serde(default)]
    pub sites: Vec<String>,
    /// Globs over site URLs never synced.
    #[serde(default)]
    pub exclude_sites: Vec<String>,
    /// Globs over document library names; empty: every library.
    #[serde(default)]
    pub libraries: Vec<String>,
    /// Globs over document library names never synced.
    #[serde(default)]
    pub exclude_libraries: Vec<String>,
    /// Globs over paths `<site name>/<library>/<folders>/<file>`; when non-empty, only
    /// matching files are synced.
    #[serde(default)]
    pub include_paths: Vec<String>,
    /// Globs over paths never synced.
    #[serde(default)]
    pub exclude_paths: Vec<String>,
    /// File extensions (`pdf`, `docx`); when non-empty, only these.
    #[serde(default)]
    pub include_file_types: Vec<String>,
    /// File extensions never synced.
    #[serde(default)]
    pub exclude_file_types: Vec<String>,
    /// Whether an "anyone with the link" link makes a file searchable by everybody. Off:
    /// such a link is handed to some people, and it is no grant to the tenant.
    #[serde(default)]
    pub anonymous_links_searchable: bool,
    /// Whether the identity sync reads SharePoint site groups' members (SharePoint REST).
    #[serde(default = "yes")]
    pub site_groups: bool,
    /// Whether the items of lists (not libraries) are synced, with their attachments. Their
    /// permissions are SharePoint REST role assignments, which app-only tokens read only
    /// with a certificate.
    #[serde(default = "yes")]
    pub list_items: bool,
    /// Whether site pages (the Site Pages list) are synced.
    #[serde(default = "yes")]
    pub pages: bool,
    /// Globs over list display names (`Announcements`, `Site Pages`); empty: every list.
    #[serde(default)]
    pub lists: Vec<String>,
    /// Globs over list display names never synced.
    #[serde(default)]
    pub exclude_lists: Vec<String>,
    /// How far back before the newest modification the last run saw an incremental run
    /// looks again at list items (their attachments): covers clock skew and changes that
    /// become visible late.
    #[serde(default = "default_overlap")]
    pub modified_overlap_secs: u64,
    /// Items per delta page (Graph's `$top`).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Requests per second to Microsoft (all calls of the source together).
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
fn default_graph_url() -> String {
    DEFAULT_GRAPH_URL.into()
}
fn default_authority_url() -> String {
    DEFAULT_AUTHORITY_URL.into()
}
fn default_page_size() -> u32 {
    500
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
fn default_overlap() -> u64 {
    600
}

/// How the app proves who it is.
#[derive(Debug, Clone)]
pub(crate) enum Credential {
    Secret(Secret),
    /// The PEM text of a certificate and its private key.
    Certificate(Secret),
}

impl SharePointConfig {
    /// A configuration with defaults for `tenant_id` and `client_id`, without credentials.
    pub fn new(tenant_id: impl Into<String>, client_id: impl Into<String>) -> Self {
        SharePointConfig {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            client_secret: None,
            client_secret_env: None,
            certificate_file: None,
            graph_url: default_graph_url(),
            authority_url: default_authority_url(),
            sharepoint_url: None,
            sites: Vec::new(),
            exclude_sites: Vec::new(),
            libraries: Vec::new(),
            exclude_libraries: Vec::new(),
            include_paths: Vec::new(),
            exclude_paths: Vec::new(),
            include_file_types: Vec::new(),
            exclude_file_types: Vec::new(),
            anonymous_links_searchable: false,
            site_groups: true,
            list_items: true,
            pages: true,
            lists: Vec::new(),
            exclude_lists: Vec::new(),
            modified_overlap_secs: default_overlap(),
            page_size: default_page_size(),
            requests_per_second: default_rate(),
            concurrency: default_concurrency(),
            request_timeout_secs: default_timeout(),
        }
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority_url.trim_end_matches('/'),
            self.tenant_id
        )
    }

    /// Every problem, without I/O.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut problem =
            |key: &str, message: &str| problems.push(ConfigProblem::new(key, message));
        let id_like = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
        };
        if !id_like(&self.tenant_id) {
            problem("tenant_id", "must be a tenant id (a GUID) or a domain");
        }
        if !id_like(&self.client_id) {
            problem("client_id", "must be the app registration's client id");
        }
        let given = [
            self.client_secret.is_some(),
            self.client_secret_env.is_some(),
            self.certificate_file.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        match given {
            0 => problem(
                "client_secret_env",
                "missing (or client_secret, or certificate_file)",
            ),
            1 => {}
            _ => problem(
                "certificate_file",
                "give one of client_secret, client_secret_env and certificate_file",
            ),
        }
        for (key, url) in [
            ("graph_url", Some(&self.graph_url)),
            ("authority_url", Some(&self.authority_url)),
            ("sharepoint_url", self.sharepoint_url.as_ref()),
        ] {
            if let Some(url) = url
                && !(url.starts_with("https://") || url.starts_with("http://"))
            {
                problem(key, "must be an http(s) URL");
            }
        }
        for (key, globs) in [
            ("sites", &self.sites),
            ("exclude_sites", &self.exclude_sites),
            ("libraries", &self.libraries),
            ("exclude_libraries", &self.exclude_libraries),
            ("include_paths", &self.include_paths),
            ("exclude_paths", &self.exclude_paths),
        ] {
            for (i, glob) in globs.iter().enumerate() {
                if let Err(e) = globset::Glob::new(glob) {
                    problem(&format!("{key}[{i}]"), &format!("not a glob: {}", e.kind()));
                }
            }
        }
        for (key, types) in [
            ("include_file_types", &self.include_file_types),
            ("exclude_file_types", &self.exclude_file_types),
        ] {
            for (i, t) in types.iter().enumerate() {
                let t = t.trim_start_matches('.');
                if t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    problem(&format!("{key}[{i}]"), "must be a file extension (`pdf`)");
                }
            }
        }
        if self.modified_overlap_secs > 7 * 24 * 3600 {
            problem("modified_overlap_secs", "must be at most a week (604800)");
        }
        if !(1..=999).contains(&self.page_size) {
            problem("page_size", "must be between 1 and 999");
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

    /// The credential, read from the environment or the certificate file.
    pub(crate) fn credential(&self) -> Result<Credential, ConnectorError> {
        match (
            &self.client_secret,
            &self.client_secret_env,
            &self.certificate_file,
        ) {
            (Some(secret), _, _) => Ok(Credential::Secret(secret.clone())),
            (None, Some(var), _) => Secret::from_env(var).map(Credential::Secret),
            (None, None, Some(path)) => std::fs::read_to_string(path)
                .map(|pem| Credential::Certificate(Secret::new(pem)))
                .map_err(|e| {
                    ConnectorError::from_io(format_args!("reading {}", path.display()), e)
                }),
            (None, None, None) => Err(ConnectorError::new(
                ErrorKind::Permanent,
                "client_secret_env: missing (or client_secret, or certificate_file)",
            )),
        }
    }
}

/// `type = "sharepoint"` in the binary's list of source types.
#[derive(Debug, Clone, Copy)]
pub struct SharePointType;

impl SourceType for SharePointType {
    const KIND: &'static str = "sharepoint";
    type Config = SharePointConfig;

    fn describe_key(&self, key: &str) -> Option<&'static str> {
        match key {
            "tenant_id" => Some("the Entra ID tenant id"),
            "client_id" => Some("the app registration's client id"),
            _ => None,
        }
    }

    fn resolve(&self, config: &mut SharePointConfig, cx: &ConfigContext) {
        if let Some(file) = &config.certificate_file {
            config.certificate_file = Some(cx.resolve_path(file));
        }
    }

    fn validate(&self, config: &SharePointConfig) -> Vec<ConfigProblem> {
        config.validate()
    }

    fn profile(&self, config: &SharePointConfig) -> SourceProfile {
        // Downloads wait on Microsoft, not on CPU; the tenant has a directory of its own.
        SourceProfile::default()
            .with_directory()
            .with_documents_in_flight(config.concurrency)
    }

    fn build(&self, config: &SharePointConfig) -> Result<Arc<dyn Connector>, ConnectorError> {
        Ok(Arc::new(SharePointConnector::new(config.clone())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let mut c = SharePointConfig::new("", "app id");
        c.page_size = 5000;
        c.graph_url = "graph.microsoft.com".into();
        c.include_paths = vec!["a/[".into()];
        c.include_file_types = vec!["pdf".into(), "*.doc".into()];
        c.concurrency = 0;
        let keys: Vec<String> = c.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "tenant_id",
                "client_id",
                "client_secret_env",
                "graph_url",
                "include_paths[0]",
                "include_file_types[1]",
                "page_size",
                "concurrency"
            ]
        );
        let mut two = SharePointConfig::new("contoso.onmicrosoft.com", "0000-1111");
        two.client_secret = Some(Secret::new("s"));
        two.certificate_file = Some("app.pem".into());
        let keys: Vec<String> = two.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(keys, ["certificate_file"]);
        two.certificate_file = None;
        assert!(two.validate().is_empty());
        assert_eq!(
            two.token_url(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
    }

    #[test]
    fn a_secret_in_the_file_never_prints() {
        let c: SharePointConfig = serde_json::from_str(
            r#"{"tenant_id":"t","client_id":"c","client_secret":"hunter2-very-secret"}"#,
        )
        .expect("parses");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
