//! Push sources (`type = "push"`, ADR 0026): documents that a client sends to the daemon's
//! API instead of a connector listing them, in the Amazon Q BatchPutDocument /
//! BatchDeleteDocument model. A client starts a **job** (`Jobs::start`), puts and deletes
//! documents in batches, and finishes it; each job is one engine run of the source, whose
//! listing is the job's requests ([`job::JobConnector`]), so a job has the same run report,
//! manifest diff, extraction and mass-delete guard as every other source.
//!
//! - [`PushType`] is the source type the registry lists: its only key is `job_ttl_secs`;
//!   `tributary sync` of a push source fails with a message saying where its documents
//!   come from.
//! - [`wire`] reads a batch (documents with their ACL and content, text or base64 bytes)
//!   and refuses anything invalid with the document's index and field.
//! - [`Jobs`] keeps each source's open job, feeds its run through a bounded channel (a fast
//!   client waits instead of growing memory), and expires a job nobody touched for
//!   `job_ttl_secs`: its run ends with an error and without `ListingComplete`, so nothing
//!   is swept.
//!
//! ```ignore
//! let jobs = Arc::new(push::Jobs::new(engine, observer));
//! let job = jobs.start(&config, "crm", push::Mode::Full).await?;
//! jobs.put(&config, "crm", &job.job, batch).await?;
//! jobs.finish("crm", &job.job).await?;
//! ```

pub mod job;
mod jobs;
#[cfg(test)]
mod tests;
pub mod wire;

use std::sync::Arc;

use async_trait::async_trait;
use connector_sdk::{
    ByteStream, ChangeStream, ConfigProblem, Connector, ConnectorError, ErrorKind, RemoteDocument,
    SourceCheckpoint, SourceType, SyncContext,
};
use futures::StreamExt as _;
use serde::Deserialize;

pub use jobs::{JobView, Jobs, Mode, PushError};

/// The `type` of a push source.
pub const KIND: &str = "push";

/// The message `tributary sync` (and anything else that lists a push source) gives.
pub const NOT_LISTED: &str = "push sources receive documents through the daemon's API \
     (POST /v1/sources/{id}/jobs, see the README), not from a listing: start `tributary daemon`";

/// A push source's keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    /// `job_ttl_secs`: a job with no request for this long expires (default 600).
    #[serde(default = "default_ttl")]
    pub job_ttl_secs: u64,
}

fn default_ttl() -> u64 {
    600
}

/// The shortest and longest `job_ttl_secs`: a job must outlive one slow batch, and an
/// abandoned one must not hold its source for days.
const TTL_RANGE: std::ops::RangeInclusive<u64> = 1..=86_400;

/// `type = "push"`.
#[derive(Debug, Clone, Copy)]
pub struct PushType;

impl SourceType for PushType {
    const KIND: &'static str = KIND;
    type Config = PushConfig;

    fn validate(&self, config: &PushConfig) -> Vec<ConfigProblem> {
        if TTL_RANGE.contains(&config.job_ttl_secs) {
            Vec::new()
        } else {
            vec![ConfigProblem::new(
                "job_ttl_secs",
                format!(
                    "{} is not between {} and {} seconds",
                    config.job_ttl_secs,
                    TTL_RANGE.start(),
                    TTL_RANGE.end()
                ),
            )]
        }
    }

    fn build(&self, _config: &PushConfig) -> Result<Arc<dyn Connector>, ConnectorError> {
        Ok(Arc::new(Unlisted))
    }
}

/// The connector a push source builds outside a job: it has nothing to list, and says so.
/// Jobs run with a [`job::JobConnector`] instead.
#[derive(Debug)]
struct Unlisted;

fn not_listed() -> ConnectorError {
    ConnectorError::new(ErrorKind::Permanent, NOT_LISTED)
}

#[async_trait]
impl Connector for Unlisted {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn check(&self, _cx: &SyncContext) -> Result<(), ConnectorError> {
        Err(not_listed())
    }

    fn full<'a>(
        &'a self,
        _cx: &'a SyncContext,
        _resume: Option<&'a SourceCheckpoint>,
    ) -> ChangeStream<'a> {
        futures::stream::once(async { Err(not_listed()) }).boxed()
    }

    fn incremental<'a>(
        &'a self,
        _cx: &'a SyncContext,
        _since: &'a SourceCheckpoint,
    ) -> ChangeStream<'a> {
        futures::stream::once(async { Err(not_listed()) }).boxed()
    }

    async fn fetch(
        &self,
        _cx: &SyncContext,
        _doc: &RemoteDocument,
    ) -> Result<ByteStream, ConnectorError> {
        Err(not_listed())
    }
}
