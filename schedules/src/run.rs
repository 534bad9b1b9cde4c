//! What the scheduler asks of a run: the [`Runner`] trait, the [`RunOutcome`] it returns, and
//! the [`RunContext`] it reports progress through.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::kind::SyncKind;

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum RunOutcome {
    /// The run did its work. Resets the failure count of its kind.
    Succeeded,
    /// The run failed; the kind is retried after a backoff.
    Failed {
        /// Why, for the status and the event log.
        message: String,
    },
    /// The run stopped because it was asked to ([`RunContext::cancellation`]); neither a
    /// success nor a failure. The kind waits for its next slot.
    Cancelled,
}

impl RunOutcome {
    /// A failure with this message.
    pub fn failed(message: impl Into<String>) -> Self {
        RunOutcome::Failed {
            message: message.into(),
        }
    }
}

/// What a run is: the scheduler decides when, the runner does the work.
///
/// Implement it with `async fn run(..)`; the future must be `Send`, because each run is a
/// tokio task of its own.
pub trait Runner: Send + Sync + 'static {
    /// Runs one sync of `kind` for `source`. It should watch `ctx.cancellation()` and wind down
    /// when it fires (at shutdown), and call `ctx.progress()` as work gets done so that a long
    /// healthy run is never reported stalled.
    fn run(
        &self,
        source: &str,
        kind: SyncKind,
        ctx: RunContext,
    ) -> impl Future<Output = RunOutcome> + Send;
}

/// The progress state of one run, shared by its [`RunContext`] and the scheduler.
#[derive(Debug)]
pub(crate) struct Progress {
    state: Mutex<ProgressState>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct ProgressState {
    pub(crate) last_progress: DateTime<Utc>,
    pub(crate) rate_limited: bool,
}

impl Progress {
    pub(crate) fn new(now: DateTime<Utc>) -> Self {
        Progress {
            state: Mutex::new(ProgressState {
                last_progress: now,
                rate_limited: false,
            }),
        }
    }

    pub(crate) fn get(&self) -> ProgressState {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut ProgressState)) {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// Handed to each run: its cancellation token, and where it reports progress and rate
/// limiting. Cheap to clone; clones report into the same run.
#[derive(Clone, Debug)]
pub struct RunContext {
    kind: SyncKind,
    cancel: CancellationToken,
    progress: Arc<Progress>,
    clock: Arc<dyn Clock>,
}

impl RunContext {
    pub(crate) fn new(
        kind: SyncKind,
        cancel: CancellationToken,
        progress: Arc<Progress>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        RunContext {
            kind,
            cancel,
            progress,
            clock,
        }
    }

    /// The kind of this run.
    pub fn kind(&self) -> SyncKind {
        self.kind
    }

    /// Fires when the scheduler shuts down: finish or abandon in-flight work, commit, return.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Records that the run made progress (a document listed, fetched, committed). A run with
    /// no progress for the scheduler's `stall_after` while not rate-limited is reported stalled.
    pub fn progress(&self) {
        let now = self.clock.now();
        self.progress.update(|p| p.last_progress = now);
    }

    /// Records whether the run is waiting out a rate limit. Waiting on a rate limit is not a
    /// stall, however long. Entering or leaving the state counts as progress, so that the time
    /// spent waiting is not held against the run once it goes on.
    pub fn set_rate_limited(&self, rate_limited: bool) {
        let now = self.clock.now();
        self.progress.update(|p| {
            if p.rate_limited != rate_limited {
                p.rate_limited = rate_limited;
                p.last_progress = now;
            }
        });
    }
}
