//! The Jira Cloud REST v3 calls, all through one polite client (the site's rate and
//! concurrency limits, `Retry-After` and `X-RateLimit-*` read by the toolkit) with the
//! credentials in the `Authorization` header. Every URL is built from `base_url`, so the
//! credentials only ever go to the configured site: attachment bytes are asked for with
//! `redirect=false`, and the `content` URLs Jira returns are never followed.

use std::sync::Arc;
use std::time::Duration;

use connector_sdk::auth::{BasicAuth, StaticToken, TokenSource};
use connector_sdk::feed::{encode_segment as encode, next_page};
use connector_sdk::http::{HttpClient, Politeness, PolitenessConfig};
use connector_sdk::{ByteStream, ConnectorError, ErrorKind};
use serde::de::DeserializeOwned;

use crate::config::{Credentials, JiraConfig};
use crate::wire::{
    CommentPage, Group, Issue, LevelMember, Paged, PermissionScheme, Project, Role, SchemeRef,
    SearchPage, SecurityScheme, User,
};

/// Page size of the `startAt` pages (Jira's usual maximum is 50 or 100).
const PAGE: usize = 50;
/// Pages of a `startAt` walk before it is taken for a server that never ends.
const MAX_PAGES: usize = 100_000;

/// The client of one source.
#[derive(Debug)]
pub(crate) struct Api {
    base: String,
    client: HttpClient,
    page_size: u32,
}

fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Api {
    pub(crate) fn new(config: &JiraConfig) -> Result<Self, ConnectorError> {
        let auth: Arc<dyn TokenSource> = match config.credentials()? {
            Credentials::Basic { email, token } => Arc::new(BasicAuth::new(email, &token)),
            Credentials::Bearer(token) => Arc::new(StaticToken::new(token)),
        };
        let policy = Politeness::new(PolitenessConfig {
            requests_per_second: Some(config.requests_per_second),
            burst: (config.requests_per_second.ceil() as u32).clamp(1, 20),
            max_concurrency: Some(config.max_concurrency),
            request_timeout: Duration::from_secs(config.request_timeout_secs),
            ..PolitenessConfig::default()
        })?;
        Ok(Api {
            base: config.base_url.trim_end_matches('/').to_string(),
            client: HttpClient::new(policy)?.with_auth(auth),
            page_size: config.page_size,
        })
    }

    /// The site's URL, without a trailing slash.
    pub(crate) fn site(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str, pairs: &[(&str, &str)]) -> String {
        let mut url = format!("{}/rest/api/3/{path}", self.base);
        if !pairs.is_empty() {
            url.push('?');
            url.push_str(&query(pairs));
        }
        url
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
    ) -> Result<T, ConnectorError> {
        self.client.get_json(&self.url(path, pairs)).await
    }

    /// Every value of a `startAt`/`maxResults` resource. The end is `isLast`, or, when
    /// the server does not say, an empty page or `total` reached.
    async fn paged<T: DeserializeOwned>(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
    ) -> Result<Vec<T>, ConnectorError> {
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let start = out.len().to_string();
            let max = PAGE.to_string();
            let mut all = pairs.to_vec();
            all.push(("startAt", &start));
            all.push(("maxResults", &max));
            let page: Paged<T> = self.get(path, &all).await?;
            let got = page.values.len();
            out.extend(page.values);
            let total_reached = page.total.is_some_and(|t| out.len() as u64 >= t);
            if got == 0 || page.is_last == Some(true) || (page.is_last.is_none() && total_reached) {
                return Ok(out);
            }
        }
        Err(ConnectorError::new(
            ErrorKind::InvalidResponse,
            format!("{path} never reached its last page"),
        ))
    }

    /// `myself`: who the credentials are, and their time zone.
    pub(crate) async fn myself(&self) -> Result<User, ConnectorError> {
        self.get("myself", &[]).await
    }

    /// Every project the account may browse, with its lead.
    pub(crate) async fn projects(&self) -> Result<Vec<Project>, ConnectorError> {
        self.paged("project/search", &[("expand", "lead")]).await
    }

    /// One page of a JQL search with `fields`.
    pub(crate) async fn search(
        &self,
        jql: &str,
        fields: &str,
        token: Option<&str>,
    ) -> Result<SearchPage, ConnectorError> {
        let max = self.page_size.to_string();
        let mut pairs = vec![
            ("jql", jql),
            ("fields", fields),
            ("maxResults", max.as_str()),
        ];
        if let Some(t) = token {
            pairs.push(("nextPageToken", t));
        }
        self.get("search/jql", &pairs).await
    }

    /// One page of a JQL search for issue ids alone, which Jira serves 5000 a page.
    pub(crate) async fn search_ids(
        &self,
        jql: &str,
        token: Option<&str>,
    ) -> Result<SearchPage, ConnectorError> {
        let mut pairs = vec![("jql", jql), ("fields", "id"), ("maxResults", "5000")];
        if let Some(t) = token {
            pairs.push(("nextPageToken", t));
        }
        self.get("search/jql", &pairs).await
    }

    /// One issue with `fields`; `None` when Jira answers 404, which it does for an issue
    /// that was deleted and for one the account may not browse.
    pub(crate) async fn issue(
        &self,
        id: &str,
        fields: &str,
    ) -> Result<Option<Issue>, ConnectorError> {
        match self
            .get(&format!("issue/{}", encode(id)), &[("fields", fields)])
            .await
        {
            Ok(issue) => Ok(Some(issue)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The next page token of a search, checked: the same token twice is a server that
    /// would loop.
    pub(crate) fn next_token(
        current: Option<String>,
        page: &SearchPage,
    ) -> Result<Option<String>, ConnectorError> {
        if page.is_last == Some(true) {
            return Ok(None);
        }
        next_page(current, page.next_page_token.clone(), "search/jql")
    }

    /// A page of an issue's comments from `start`.
    pub(crate) async fn comments(
        &self,
        issue: &str,
        start: usize,
    ) -> Result<CommentPage, ConnectorError> {
        let start = start.to_string();
        let max = PAGE.to_string();
        self.get(
            &format!("issue/{}/comment", encode(issue)),
            &[("startAt", &start), ("maxResults", &max)],
        )
        .await
    }

    pub(crate) async fn scheme_of(&self, project: &str) -> Result<SchemeRef, ConnectorError> {
        self.get(
            &format!("project/{}/permissionscheme", encode(project)),
            &[],
        )
        .await
    }

    pub(crate) async fn permission_scheme(
        &self,
        id: &str,
    ) -> Result<PermissionScheme, ConnectorError> {
        self.get(
            &format!("permissionscheme/{}", encode(id)),
            &[("expand", "permissions,user,group,projectRole")],
        )
        .await
    }

    pub(crate) async fn role(&self, project: &str, role: &str) -> Result<Role, ConnectorError> {
        self.get(
            &format!("project/{}/role/{}", encode(project), encode(role)),
            &[],
        )
        .await
    }

    /// The project's issue security scheme; `None` when it has none (404).
    pub(crate) async fn security_scheme(
        &self,
        project: &str,
    ) -> Result<Option<SecurityScheme>, ConnectorError> {
        match self
            .get(
                &format!("project/{}/issuesecuritylevelscheme", encode(project)),
                &[],
            )
            .await
        {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn level_members(
        &self,
        scheme: &str,
        level: &str,
    ) -> Result<Vec<LevelMember>, ConnectorError> {
        self.paged(
            "issuesecurityschemes/level/member",
            &[
                ("schemeId", scheme),
                ("levelId", level),
                ("expand", "user,group"),
            ],
        )
        .await
    }

    /// A group's active members.
    pub(crate) async fn group_members(&self, group: &str) -> Result<Vec<User>, ConnectorError> {
        self.paged(
            "group/member",
            &[("groupId", group), ("includeInactiveUsers", "false")],
        )
        .await
    }

    pub(crate) async fn groups(&self) -> Result<Vec<Group>, ConnectorError> {
        self.paged("group/bulk", &[]).await
    }

    /// Every user of the site (`users/search` answers a bare array: the end is an
    /// empty page).
    pub(crate) async fn users(&self) -> Result<Vec<User>, ConnectorError> {
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let start = out.len().to_string();
            let max = PAGE.to_string();
            let page: Vec<User> = self
                .get("users/search", &[("startAt", &start), ("maxResults", &max)])
                .await?;
            if page.is_empty() {
                return Ok(out);
            }
            out.extend(page);
        }
        Err(ConnectorError::new(
            ErrorKind::InvalidResponse,
            "users/search never reached its last page",
        ))
    }

    /// An attachment's bytes, from the site itself (`redirect=false`).
    pub(crate) async fn attachment(
        &self,
        id: &str,
        max: u64,
    ) -> Result<ByteStream, ConnectorError> {
        let url = self.url(
            &format!("attachment/content/{}", encode(id)),
            &[("redirect", "false")],
        );
        self.client.get_stream(&url, max).await
    }
}
