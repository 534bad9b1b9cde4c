//! What the API asks of the running daemon, as a trait: the API is written and tested
//! against a fake, and depends on nothing of the daemon but this.

use std::sync::Arc;

use schedules::{SourceStatus, SyncKind, TriggerOutcome};

use crate::config::Config;

/// What the HTTP API needs from the running daemon.
pub trait Control: Send + Sync + 'static {
    /// The configuration in force (replaced on SIGHUP reload).
    fn config(&self) -> Arc<Config>;
    /// The scheduler's view of every source (`schedules::SourceStatus` serializes).
    fn statuses(&self) -> Vec<SourceStatus>;
    /// Starts a run of `source` now: `Queued`, `Busy { .. }`, `UnknownSource`, `KindOff` or
    /// `ShuttingDown`.
    fn trigger(&self, source: &str, kind: SyncKind) -> TriggerOutcome;
    /// Whether the daemon is ready (config loaded, engine open, scheduler running) and not
    /// shutting down.
    fn ready(&self) -> bool;
}
