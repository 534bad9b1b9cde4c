//! The Slack Web API calls, each on the politeness of its rate-limit tier (Tier 2
//! `conversations.list`, `users.list`; Tier 3 `conversations.history`, `replies`, `join`,
//! `auth.test`; Tier 4 `conversations.members` and downloads), all with the token in the
//! `Authorization` header (never the query string). Slack's `{"ok": false}` answers are
//! read by the toolkit's `SlackThrottling`: `ratelimited` pauses the run, `invalid_auth`
//! is `Unauthorized`, anything else fails with Slack's error code.

use std::sync::Arc;
use std::time::Duration;

use connector_sdk::auth::StaticToken;
use connector_sdk::feed::{encode_segment as encode, next_page};
use connector_sdk::http::{HttpClient, Politeness, PolitenessConfig, SlackThrottling};
use connector_sdk::{ByteStream, ConnectorError, ErrorKind, Secret};
use serde::de::DeserializeOwned;

use crate::config::SlackConfig;
use crate::wire::{AuthTest, Conversation, ConversationList, History, Members, User, UserList};

/// The client of one source.
#[derive(Debug)]
pub(crate) struct Api {
    base: String,
    tier2: HttpClient,
    tier3: HttpClient,
    tier4: HttpClient,
    history_limit: u32,
}

/// A query string from pairs, values percent-encoded.
fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The host of a URL, lowercased.
fn host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(host.to_ascii_lowercase())
}

impl Api {
    pub(crate) fn new(config: &SlackConfig, token: Secret) -> Result<Self, ConnectorError> {
        let token = Arc::new(StaticToken::new(token));
        let client = |per_minute: u32| -> Result<HttpClient, ConnectorError> {
            let policy = Politeness::new(PolitenessConfig {
                requests_per_second: Some(f64::from(per_minute) / 60.0),
                burst: per_minute.clamp(1, 10),
                max_concurrency: Some(4),
                request_timeout: Duration::from_secs(config.request_timeout_secs),
                ..PolitenessConfig::default()
            })?
            .with_classifier(SlackThrottling);
            Ok(HttpClient::new(policy)?.with_auth(token.clone()))
        };
        Ok(Api {
            base: config.api_url.trim_end_matches('/').to_string(),
            tier2: client(config.tier2_per_minute)?,
            tier3: client(config.tier3_per_minute)?,
            tier4: client(config.tier4_per_minute)?,
            history_limit: config.history_limit,
        })
    }

    fn url(&self, method: &str, pairs: &[(&str, &str)]) -> String {
        format!("{}/{method}?{}", self.base, query(pairs))
    }

    /// Every page of a cursor-paginated method; `page` reads one page's items and next
    /// cursor. Pages shorter than asked are not the end: only an empty cursor is.
    async fn all<T, P, F>(
        &self,
        client: &HttpClient,
        method: &str,
        pairs: &[(&str, &str)],
        page: F,
    ) -> Result<Vec<T>, ConnectorError>
    where
        P: DeserializeOwned,
        F: Fn(P) -> (Vec<T>, Option<String>),
    {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut with_cursor = pairs.to_vec();
            if let Some(c) = &cursor {
                with_cursor.push(("cursor", c));
            }
            let (items, next) = page(client.get_json(&self.url(method, &with_cursor)).await?);
            out.extend(items);
            match next_page(cursor.take(), next, method)? {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// `auth.test`: who the token is, in which workspace.
    pub(crate) async fn auth_test(&self) -> Result<AuthTest, ConnectorError> {
        self.tier3.get_json(&self.url("auth.test", &[])).await
    }

    /// The conversations of `types` the token can see.
    pub(crate) async fn conversations(
        &self,
        types: &str,
        include_archived: bool,
    ) -> Result<Vec<Conversation>, ConnectorError> {
        let exclude = if include_archived { "false" } else { "true" };
        self.all(
            &self.tier2,
            "conversations.list",
            &[
                ("types", types),
                ("exclude_archived", exclude),
                ("limit", "200"),
            ],
            |p: ConversationList| (p.channels, p.response_metadata.next()),
        )
        .await
    }

    /// A conversation's members (user ids).
    pub(crate) async fn members(&self, channel: &str) -> Result<Vec<String>, ConnectorError> {
        self.all(
            &self.tier4,
            "conversations.members",
            &[("channel", channel), ("limit", "200")],
            |p: Members| (p.members, p.response_metadata.next()),
        )
        .await
    }

    /// Every user of the workspace.
    pub(crate) async fn users(&self) -> Result<Vec<User>, ConnectorError> {
        self.all(
            &self.tier2,
            "users.list",
            &[("limit", "200")],
            |p: UserList| (p.members, p.response_metadata.next()),
        )
        .await
    }

    /// Joins a public channel.
    pub(crate) async fn join(&self, channel: &str) -> Result<(), ConnectorError> {
        let _: serde_json::Value = self
            .tier3
            .get_json(&self.url("conversations.join", &[("channel", channel)]))
            .await?;
        Ok(())
    }

    /// One page of a channel's messages since `oldest` (inclusive), newest first.
    pub(crate) async fn history_page(
        &self,
        channel: &str,
        oldest: &str,
        cursor: Option<&str>,
    ) -> Result<History, ConnectorError> {
        let limit = self.history_limit.to_string();
        let mut pairs = vec![
            ("channel", channel),
            ("oldest", oldest),
            ("inclusive", "true"),
            ("limit", limit.as_str()),
        ];
        if let Some(c) = cursor {
            pairs.push(("cursor", c));
        }
        self.tier3
            .get_json(&self.url("conversations.history", &pairs))
            .await
    }

    /// A thread: its parent, then its replies, oldest first.
    pub(crate) async fn thread(
        &self,
        channel: &str,
        ts: &str,
    ) -> Result<Vec<crate::wire::Message>, ConnectorError> {
        let limit = self.history_limit.to_string();
        self.all(
            &self.tier3,
            "conversations.replies",
            &[("channel", channel), ("ts", ts), ("limit", limit.as_str())],
            |p: History| (p.messages, p.response_metadata.next()),
        )
        .await
    }

    /// A file's bytes, with the token — sent only to the API's host or Slack's own, so
    /// that a file URL pointing elsewhere never receives it.
    pub(crate) async fn download(&self, url: &str, max: u64) -> Result<ByteStream, ConnectorError> {
        let to = host(url);
        let trusted = to.as_deref().is_some_and(|h| {
            Some(h) == host(&self.base).as_deref()
                || h == "slack.com"
                || h.ends_with(".slack.com")
                || h.ends_with(".slack-edge.com")
        });
        if !trusted {
            return Err(ConnectorError::new(
                ErrorKind::Permanent,
                "the file's download URL is not on Slack's host: not sending the token there",
            ));
        }
        self.tier4.get_stream(url, max).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_from_urls() {
        assert_eq!(
            host("https://files.slack.com/files-pri/T1-F1/download/a.pdf").as_deref(),
            Some("files.slack.com")
        );
        assert_eq!(
            host("http://127.0.0.1:9000/api").as_deref(),
            Some("127.0.0.1:9000")
        );
        assert_eq!(
            host("https://evil.test@Files.Slack.com/x").as_deref(),
            Some("files.slack.com")
        );
        assert_eq!(host("not a url"), None);
        assert_eq!(
            query(&[("cursor", "dGVhbTpD=="), ("limit", "2")]),
            "cursor=dGVhbTpD%3D%3D&limit=2"
        );
    }
}
