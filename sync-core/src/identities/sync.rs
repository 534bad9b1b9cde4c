//! The identity sync: a source's directory, crawled through `Connector::identities`, becomes
//! its namespace's stored [`Memberships`] — all of it or nothing.

use std::time::Duration;

use connector_sdk::{ConnectorError, ErrorKind, Limits, SyncContext};
use futures::StreamExt;
use time::OffsetDateTime;

use super::Memberships;
use crate::pipeline::{Source, SyncOptions, check_namespace};
use crate::report::{RunMode, RunReport, RunState};
use crate::{Engine, Result};

impl Engine {
    /// Crawls `source`'s users and groups and, only when the crawl ends without an error,
    /// replaces the memberships stored for its namespace: a failed or partial crawl keeps
    /// the old ones. A crawl of more than `options.max_memberships` facts is refused rather
    /// than held in memory without limit. `RateLimited` pauses the crawl (at most
    /// `options.max_pause` at once); any other error fails the run.
    pub async fn sync_identities(
        &self,
        source: &Source,
        options: &SyncOptions,
    ) -> Result<RunReport> {
        check_namespace(source)?;
        let run_id = self.store.next_id()?;
        let mut report = RunReport::new(run_id, &source.id, RunMode::Identities);
        self.store.put_run(&report)?;
        tracing::info!(source = %source.id, run = run_id, namespace = source.namespace(), "identity sync started");
        let cx = SyncContext {
            source_id: source.id.clone(),
            run_id: run_id.to_string(),
            limits: Limits {
                max_document_bytes: options.limits.max_input_bytes as u64,
            },
        };
        let crawled = crawl(source, &cx, options, &mut report).await;
        match crawled {
            Ok(memberships) => {
                report.counts.users = memberships.user_count();
                report.counts.groups = memberships.group_count();
                report.counts.memberships = memberships.len() as u64;
                match self.store.put_memberships(source.namespace(), &memberships) {
                    Ok(()) => report.state = RunState::Succeeded,
                    Err(e) => {
                        report.errors.push(format!("store: {e}"));
                        report.state = RunState::Failed;
                    }
                }
            }
            Err(message) => {
                tracing::warn!(source = %source.id, %message, "identity sync failed; the stored memberships stay");
                report.errors.push(message);
                report.state = RunState::Failed;
            }
        }
        report.finished_at = Some(OffsetDateTime::now_utc());
        self.store.put_run(&report)?;
        self.store
            .prune_runs(&source.id, options.keep_runs.max(1))?;
        tracing::info!(source = %source.id, run = run_id, state = report.state.as_str(), "identity sync finished");
        Ok(report)
    }
}

/// The whole crawl, or why there is none.
async fn crawl(
    source: &Source,
    cx: &SyncContext,
    options: &SyncOptions,
    report: &mut RunReport,
) -> std::result::Result<Memberships, String> {
    let mut memberships = Memberships::default();
    let mut stream = source.connector.identities(cx);
    while let Some(item) = stream.next().await {
        match item {
            Ok(fact) => {
                memberships.add(fact);
                if memberships.len() > options.max_memberships {
                    return Err(format!(
                        "identities: the directory has more than {} memberships; refusing to \
                         hold more (the stored memberships stay)",
                        options.max_memberships
                    ));
                }
            }
            Err(ConnectorError {
                kind: ErrorKind::RateLimited { retry_after },
                ..
            }) => {
                let wait = retry_after
                    .unwrap_or(Duration::from_secs(1))
                    .min(options.max_pause);
                report.rate_limited.pauses += 1;
                report.rate_limited.waited_ms += wait.as_millis() as u64;
                report.rate_limited.last_until = Some(OffsetDateTime::now_utc() + wait);
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(format!("identities: {e}")),
        }
    }
    Ok(memberships)
}
