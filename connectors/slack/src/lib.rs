//! Slack: the public and private channels a Slack app is in (and, if asked, its group
//! DMs; never one-to-one DMs), as threads, days of channel messages, and shared files,
//! each readable by whoever may read the channel.
//!
//! - `api.rs`: the Web API calls, each on its rate-limit tier's politeness.
//! - `listing.rs`: full and incremental listings, one channel at a time, with the
//!   reconcile window (ADR 0022 says why threads and days).
//! - `render.rs`: Slack's markup as text; authors, times and permalinks.
//! - `identity.rs`: the workspace's members and each channel's members.
//! - `wire.rs`: Slack's objects. `config.rs`: the source's keys.
//!
//! Permissions: a channel's documents are readable by the group `channel:<id>` (its
//! members, from the identity sync), and those of a public channel also by the group
//! `workspace` (every full member; guests read only the channels they are in). Membership
//! changes therefore arrive with the identity sync and need no document update.

mod api;
mod config;
mod identity;
mod listing;
mod render;
mod wire;

use std::sync::Arc;

use async_trait::async_trait;
use connector_sdk::feed::{self, Out};
use connector_sdk::globs::GlobFilter;
use connector_sdk::{
    ByteStream, ChangeStream, ConfigProblem, Connector, ConnectorError, ErrorKind,
    MembershipStream, RemoteDocument, SourceCheckpoint, SyncContext,
};

pub use config::{DEFAULT_API_URL, SlackConfig, SlackType};
pub use listing::WORKSPACE;

/// The Slack connector.
#[derive(Debug, Clone)]
pub struct SlackConnector {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: SlackConfig,
    pub(crate) api: api::Api,
    channels: GlobFilter,
}

fn unhashed(patterns: &[String]) -> Vec<String> {
    patterns
        .iter()
        .map(|p| p.trim_start_matches('#').to_string())
        .collect()
}

impl SlackConnector {
    /// A connector for `config`, reading its token (from the environment if so
    /// configured). Makes no request.
    pub fn new(config: SlackConfig) -> Result<Self, ConnectorError> {
        ConfigProblem::check(&config.validate())?;
        let api = api::Api::new(&config, config.token()?)?;
        Ok(SlackConnector {
            inner: Arc::new(Inner {
                // `#general` and `general` name the same channel.
                channels: GlobFilter::new(
                    ("channels", &unhashed(&config.channels)),
                    ("exclude_channels", &unhashed(&config.exclude_channels)),
                )?,
                config,
                api,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SlackConfig {
        &self.inner.config
    }
}

impl Inner {
    pub(crate) fn wants_channel(&self, name: &str) -> bool {
        self.channels.matches(name)
    }
}

fn meta<'a>(doc: &'a RemoteDocument, key: &str) -> Result<&'a str, ConnectorError> {
    doc.metadata
        .get(key)
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Permanent,
                format!(
                    "document {} has no {key}: it was not listed as a file",
                    doc.id
                ),
            )
        })
}

#[async_trait]
impl Connector for SlackConnector {
    fn kind(&self) -> &'static str {
        "slack"
    }

    /// The token (`auth.test`) and the channel list.
    async fn check(&self, _cx: &SyncContext) -> Result<(), ConnectorError> {
        self.inner.api.auth_test().await?;
        self.inner
            .api
            .conversations("public_channel,private_channel", false)
            .await?;
        Ok(())
    }

    fn full<'a>(
        &'a self,
        _cx: &'a SyncContext,
        resume: Option<&'a SourceCheckpoint>,
    ) -> ChangeStream<'a> {
        let inner = Arc::clone(&self.inner);
        let resume = resume.cloned();
        feed::spawn(move |out: Out| async move { inner.full(resume, &out).await })
    }

    fn incremental<'a>(
        &'a self,
        _cx: &'a SyncContext,
        since: &'a SourceCheckpoint,
    ) -> ChangeStream<'a> {
        let inner = Arc::clone(&self.inner);
        let since = since.clone();
        feed::spawn(move |out: Out| async move { inner.incremental(since, &out).await })
    }

    /// A shared file's bytes (threads and days are inline).
    async fn fetch(
        &self,
        cx: &SyncContext,
        doc: &RemoteDocument,
    ) -> Result<ByteStream, ConnectorError> {
        let url = meta(doc, "download_url")?;
        self.inner
            .api
            .download(url, cx.limits.max_document_bytes)
            .await
    }

    fn identities<'a>(&'a self, _cx: &'a SyncContext) -> MembershipStream<'a> {
        let inner = Arc::clone(&self.inner);
        feed::produce(move |tx| async move {
            if let Err(e) = inner.crawl_identities(&tx).await {
                let _ = tx.send(Err(e)).await;
            }
        })
    }
}
