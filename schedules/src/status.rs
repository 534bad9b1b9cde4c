//! What the scheduler reports: a status snapshot per source and a log of recent events.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::kind::SyncKind;
use crate::run::RunOutcome;

/// Whether a source's runs keep failing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// No kind has failed `unhealthy_after` times in a row.
    Healthy,
    /// Some kind has failed `unhealthy_after` times in a row. It is still retried, at the
    /// capped backoff; its next success makes the source healthy again.
    Unhealthy,
}

/// One source, as of the snapshot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceStatus {
    /// The source's id.
    pub source: String,
    /// Healthy, or unhealthy because some kind keeps failing.
    pub health: Health,
    /// The longest current run of failures among its kinds.
    pub consecutive_failures: u32,
    /// The run going on now, if any (a source never runs two at once).
    pub running: Option<RunningStatus>,
    /// The most recent outcome of any kind.
    pub last_outcome: Option<LastOutcome>,
    /// The most recent success of any kind.
    pub last_success: Option<DateTime<Utc>>,
    /// True when a reload removed the source while it ran: it is dropped when the run ends.
    pub removed: bool,
    /// Every kind, scheduled or off, in [`SyncKind::ALL`] order.
    pub kinds: Vec<KindStatus>,
}

/// The run going on now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunningStatus {
    /// Which kind runs.
    pub kind: SyncKind,
    /// When it started.
    pub since: DateTime<Utc>,
    /// The last progress the runner reported (the start, until it reports any).
    pub last_progress: DateTime<Utc>,
    /// Whether the runner says it is waiting out a rate limit.
    pub rate_limited: bool,
    /// No progress for `stall_after` while not rate-limited.
    pub stalled: bool,
}

/// An outcome and when it happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LastOutcome {
    /// The kind that ran.
    pub kind: SyncKind,
    /// When the run ended.
    pub at: DateTime<Utc>,
    /// How it ended (flattened in JSON: `"state": "failed", "message": …`).
    #[serde(flatten)]
    pub outcome: RunOutcome,
}

/// One kind of one source.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KindStatus {
    /// Which kind.
    pub kind: SyncKind,
    /// Its schedule as written (`"15m"`, `"0 3 * * 0"`), or `None` when it is off.
    pub schedule: Option<String>,
    /// When it runs next: `None` while it runs, while a full run covers it, or when it is off.
    /// A time in the past means it is due and waiting (for the source or for a slot).
    pub next_due: Option<DateTime<Utc>>,
    /// Whether `next_due` is a retry after a failure rather than a scheduled slot.
    pub retrying: bool,
    /// Failures since its last success.
    pub consecutive_failures: u32,
    /// When it last started.
    pub last_started: Option<DateTime<Utc>>,
    /// Its last outcome and when.
    pub last_outcome: Option<LastOutcome>,
    /// When it last succeeded.
    pub last_success: Option<DateTime<Utc>>,
}

/// Something the scheduler did or decided, for the log and the API.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Increases by one per event, so a reader can ask for what it has not seen.
    pub seq: u64,
    /// When.
    pub at: DateTime<Utc>,
    /// Which source.
    pub source: String,
    /// Which kind, when the event concerns one.
    pub kind: Option<SyncKind>,
    /// What happened.
    pub what: EventKind,
}

/// What an [`Event`] records.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A run started.
    Started,
    /// A run ended.
    Finished {
        /// How.
        outcome: RunOutcome,
    },
    /// The kind fell due while the source was busy with another run: it waits (recorded once
    /// per due slot).
    DelayedBusy {
        /// The kind that was running.
        behind: SyncKind,
    },
    /// The kind fell due while `max_concurrent_runs` runs were going: it waits for one to end
    /// (recorded once per due slot).
    WaitingForCapacity,
    /// A due content run was dropped because a full run of the source started, which covers
    /// it; content is rescheduled from the end of the full run.
    CoveredByFull,
    /// Someone asked for a run now ([`Scheduler::trigger`](crate::Scheduler::trigger)).
    Triggered,
    /// After a failure, the kind is retried after this backoff.
    RetryScheduled {
        /// Consecutive failures so far.
        failures: u32,
        /// The backoff, in seconds.
        after_secs: u64,
    },
    /// The source became unhealthy: the kind failed this many times in a row.
    Unhealthy {
        /// Consecutive failures.
        failures: u32,
    },
    /// The source is healthy again.
    Recovered,
    /// The running run has made no progress for this long while not rate-limited (recorded
    /// once per stall).
    Stalled {
        /// Seconds since the last progress.
        since_progress_secs: u64,
    },
    /// A reload added the source.
    Added,
    /// A reload removed the source; if it was running, it was dropped when the run ended.
    Removed,
}
