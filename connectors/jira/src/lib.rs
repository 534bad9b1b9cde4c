//! Jira Cloud: the issues of a site's projects (all the account may browse, or the
//! configured ones, narrowed by a JQL filter) as documents — key, summary, the fields
//! worth searching, the description and the comments as text with their structure
//! (Atlassian Document Format rendered) — and their attachments, each readable by whoever
//! may browse the issue.
//!
//! - `api.rs`: the REST v3 calls, on one polite client, credentials only to the site.
//! - `listing.rs`: full and incremental listings per project (ADR 0023 says why).
//! - `acl.rs`: permission schemes, project roles and security levels → ACLs.
//! - `adf.rs`: ADF → text. `identity.rs`: users, groups, "any logged-in user".
//! - `wire.rs`: Jira's resources. `config.rs`: the source's keys.
//!
//! ```no_run
//! use connector_jira::{JiraConfig, JiraConnector};
//! use connector_sdk::Secret;
//!
//! let mut config = JiraConfig::new("https://acme.atlassian.net");
//! config.email = Some("bot@acme.test".into());
//! config.api_token = Some(Secret::new("an API token"));
//! config.projects = vec!["ENG".into()];
//! let connector = JiraConnector::new(config).expect("valid configuration");
//! # let _ = connector;
//! ```

mod acl;
mod adf;
mod api;
mod config;
mod identity;
mod listing;
mod reconcile;
mod render;
mod wire;

use std::sync::Arc;

use async_trait::async_trait;
use connector_sdk::feed::{self, Out};
use connector_sdk::{
    ByteStream, ChangeStream, ConfigProblem, Connector, ConnectorError, ErrorKind,
    MembershipStream, RemoteDocument, SourceCheckpoint, SyncContext,
};

pub use acl::SITE_USERS;
pub use config::{JiraConfig, JiraType};

/// The Jira connector.
#[derive(Debug, Clone)]
pub struct JiraConnector {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: JiraConfig,
    pub(crate) api: api::Api,
}

impl JiraConnector {
    /// A connector for `config`, reading its credentials (from the environment if so
    /// configured). Makes no request.
    pub fn new(config: JiraConfig) -> Result<Self, ConnectorError> {
        ConfigProblem::check(&config.validate())?;
        let api = api::Api::new(&config)?;
        Ok(JiraConnector {
            inner: Arc::new(Inner { config, api }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &JiraConfig {
        &self.inner.config
    }
}

#[async_trait]
impl Connector for JiraConnector {
    fn kind(&self) -> &'static str {
        "jira"
    }

    /// The credentials (`myself`) and the project list.
    async fn check(&self, _cx: &SyncContext) -> Result<(), ConnectorError> {
        self.inner.api.myself().await?;
        self.inner.api.projects().await?;
        Ok(())
    }

    fn full<'a>(
        &'a self,
        _cx: &'a SyncContext,
        resume: Option<&'a SourceCheckpoint>,
    ) -> ChangeStream<'a> {
        let inner = Arc::clone(&self.inner);
        let resume = resume.cloned();
        feed::spawn(move |out: Out| async move { inner.run(None, resume, &out).await })
    }

    fn incremental<'a>(
        &'a self,
        _cx: &'a SyncContext,
        since: &'a SourceCheckpoint,
    ) -> ChangeStream<'a> {
        let inner = Arc::clone(&self.inner);
        let since = since.clone();
        feed::spawn(move |out: Out| async move { inner.run(Some(since), None, &out).await })
    }

    /// An attachment's bytes (issues are inline).
    async fn fetch(
        &self,
        cx: &SyncContext,
        doc: &RemoteDocument,
    ) -> Result<ByteStream, ConnectorError> {
        let id = doc
            .metadata
            .get("attachment_id")
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                ConnectorError::new(
                    ErrorKind::Permanent,
                    format!("document {} is not an attachment", doc.id),
                )
            })?;
        self.inner
            .api
            .attachment(id, cx.limits.max_document_bytes)
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
