//! Run reports: what one sync of one source did.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How a run listed its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// A full listing from the start.
    Full,
    /// A full listing resumed from the checkpoint of an interrupted run.
    FullResumed,
    /// Changes since the last checkpoint (a complete listing for sources without a feed).
    Incremental,
    /// An identity sync: the source's users and groups, not its documents
    /// (`Engine::sync_identities`).
    Identities,
}

/// Why a run listed the way it did, where the mode alone does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunReason {
    /// The change feed no longer accepted the stored cursor, so the run listed everything
    /// (and swept at the end) instead of failing on the dead cursor run after run.
    CursorExpired,
}

impl RunReason {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunReason::CursorExpired => "cursor_expired",
        }
    }
}

/// How long a run waited because its source asked it to slow down.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    /// Times the source answered "rate limited".
    pub pauses: u64,
    /// Milliseconds spent waiting.
    pub waited_ms: u64,
    /// The end of the latest pause.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_until: Option<OffsetDateTime>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Still going (or the process died; a later run resumes it).
    Running,
    /// Everything listed was processed; no document failed.
    Succeeded,
    /// The listing completed but some documents failed or were refused; they are retried
    /// on the next run.
    Partial,
    /// The run could not complete (listing error, refused mass delete, store or index
    /// error). Nothing it did not prove deleted was deleted.
    Failed,
    /// Told to stop before the end (a shutdown): what it finished is committed, nothing
    /// was deleted, and the next run resumes from its last checkpoint.
    Stopped,
}

impl RunState {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Partial => "partial",
            RunState::Failed => "failed",
            RunState::Stopped => "stopped",
        }
    }
}

/// Document counts of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Documents the listing yielded.
    pub scanned: u64,
    /// New documents indexed.
    pub added: u64,
    /// Changed documents re-indexed.
    pub modified: u64,
    /// Documents whose ACL alone was rewritten (no fetch).
    pub acl_updated: u64,
    /// Documents removed from the index.
    pub deleted: u64,
    /// Documents left as they were (not fetched, or fetched and found identical).
    pub unchanged: u64,
    /// Documents skipped by a rule (too large…); see `skipped_by_reason`.
    pub skipped: u64,
    /// Documents that failed to fetch, extract or index.
    pub failed: u64,
    /// Bytes fetched.
    pub bytes: u64,
    /// Documents of the retry list this run tried again (included in the counts above).
    #[serde(default)]
    pub retried: u64,
    /// Identity syncs: users the crawl named.
    #[serde(default)]
    pub users: u64,
    /// Identity syncs: groups the crawl named.
    #[serde(default)]
    pub groups: u64,
    /// Identity syncs: facts stored (memberships of users and groups, aliases).
    #[serde(default)]
    pub memberships: u64,
}

/// One document that failed or was skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentFailure {
    /// The document id within its source.
    pub doc_id: String,
    /// Where it failed: `rules`, `fetch`, `extract`, `index`.
    pub stage: String,
    /// The error kind (`too_large`, `corrupt`, `unsupported`, `not_found`…).
    pub kind: String,
    /// Details.
    pub message: String,
}

/// At most this many document failures are kept in one report; counts stay exact.
pub const MAX_REPORTED_FAILURES: usize = 1_000;

/// The record of one run, stored and shown by `tributary runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// Unique, increasing run id.
    pub id: u64,
    /// The source id.
    pub source: String,
    /// How it listed.
    pub mode: RunMode,
    /// Why, when the mode alone does not say (`cursor_expired`).
    #[serde(default)]
    pub reason: Option<RunReason>,
    /// How it ended.
    pub state: RunState,
    /// When it started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it ended, if it did.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Document counts.
    pub counts: Counts,
    /// Skips by reason.
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Failed and skipped documents (capped at [`MAX_REPORTED_FAILURES`]).
    pub failed_documents: Vec<DocumentFailure>,
    /// Run-level problems: listing errors, a refused mass delete.
    pub errors: Vec<String>,
    /// Pauses the source asked for.
    #[serde(default)]
    pub rate_limited: RateLimits,
}

impl RunReport {
    pub(crate) fn new(id: u64, source: &str, mode: RunMode) -> Self {
        RunReport {
            id,
            source: source.to_string(),
            mode,
            reason: None,
            state: RunState::Running,
            started_at: OffsetDateTime::now_utc(),
            finished_at: None,
            counts: Counts::default(),
            skipped_by_reason: BTreeMap::new(),
            failed_documents: Vec::new(),
            errors: Vec::new(),
            rate_limited: RateLimits::default(),
        }
    }

    pub(crate) fn fail_doc(&mut self, doc_id: &str, stage: &str, kind: &str, message: String) {
        self.counts.failed += 1;
        self.push_failure(doc_id, stage, kind, message);
    }

    pub(crate) fn skip_doc(&mut self, doc_id: &str, reason: &str, message: String) {
        self.counts.skipped += 1;
        *self
            .skipped_by_reason
            .entry(reason.to_string())
            .or_default() += 1;
        self.push_failure(doc_id, "rules", reason, message);
    }

    fn push_failure(&mut self, doc_id: &str, stage: &str, kind: &str, message: String) {
        if self.failed_documents.len() < MAX_REPORTED_FAILURES {
            self.failed_documents.push(DocumentFailure {
                doc_id: doc_id.to_string(),
                stage: stage.to_string(),
                kind: kind.to_string(),
                message,
            });
        }
    }
}
