//! ServiceNow: the published knowledge articles of the configured knowledge bases, with
//! their attachments, readable as the bases' and articles' user criteria say; and, if
//! asked, incidents, readable by configured roles and the people on them.
//!
//! - `api.rs`: the Table and Attachment API calls, keyset paging.
//! - `listing.rs`: full and incremental listings, deletions, the checkpoint.
//! - `acl.rs`: user criteria as allow/deny sets (ADR 0024).
//! - `identity.rs`: the directory (users, groups, roles) and the ACL tables.
//! - `docs.rs`: records as documents. `config.rs`: the source's keys.

mod acl;
mod api;
mod config;
mod docs;
mod identity;
mod listing;

use std::sync::Arc;

use async_trait::async_trait;
use connector_sdk::feed::{self, Out};
use connector_sdk::{
    ByteStream, ChangeStream, ConfigProblem, Connector, ConnectorError, ErrorKind,
    MembershipStream, RemoteDocument, SourceCheckpoint, SyncContext,
};

pub use acl::EVERYONE;
pub use config::{AuthMode, ServiceNowConfig, ServiceNowType};

/// The ServiceNow connector.
#[derive(Debug, Clone)]
pub struct ServiceNowConnector {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: ServiceNowConfig,
    pub(crate) api: api::Api,
}

impl ServiceNowConnector {
    /// A connector for `config`, reading its secrets (from the environment if so
    /// configured). Makes no request.
    pub fn new(config: ServiceNowConfig) -> Result<Self, ConnectorError> {
        ConfigProblem::check(&config.validate())?;
        let api = api::Api::new(&config)?;
        Ok(ServiceNowConnector {
            inner: Arc::new(Inner { config, api }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ServiceNowConfig {
        &self.inner.config
    }
}

#[async_trait]
impl Connector for ServiceNowConnector {
    fn kind(&self) -> &'static str {
        "servicenow"
    }

    /// The credentials, and that the knowledge tables can be read.
    async fn check(&self, _cx: &SyncContext) -> Result<(), ConnectorError> {
        let fields = "sys_id,sys_updated_on";
        for table in ["kb_knowledge_base", "kb_knowledge", "user_criteria"] {
            self.inner
                .api
                .page(&format!("table/{table}"), "", fields, 0)
                .await?;
        }
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
        feed::spawn(move |out: Out| async move { inner.incremental(&since, &out).await })
    }

    /// An attachment's bytes (articles and incidents are inline).
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
            .download(id, cx.limits.max_document_bytes)
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
