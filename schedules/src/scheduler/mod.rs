//! The scheduler: an async driver that starts runs when they fall due, within its limits.

mod state;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::config::SourceSchedule;
use crate::kind::SyncKind;
use crate::run::{RunContext, RunOutcome, Runner};
use crate::status::{Event, SourceStatus};
use state::State;

/// The longest the driver sleeps without re-reading the calendar clock: a system clock step
/// (NTP, suspend and resume) then delays a slot by at most this.
const MAX_NAP: Duration = Duration::from_secs(60);

/// Exponential backoff for retries after a failure: `initial`, doubled per consecutive
/// failure, at most `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The cap: a source that keeps failing is retried this often, never more often.
    pub max: Duration,
}

impl Default for Backoff {
    /// 1m, 2m, 4m, … at most 1h.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(60),
            max: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    /// The wait after the `failures`-th consecutive failure (1 for the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// The scheduler's limits and injectables.
#[derive(Clone)]
pub struct SchedulerOptions {
    /// Runs going on at once across all sources (at least 1).
    pub max_concurrent_runs: usize,
    /// Retry backoff after a failure.
    pub backoff: Backoff,
    /// Consecutive failures of one kind after which the source is unhealthy.
    pub unhealthy_after: u32,
    /// A run with no progress for this long while not rate-limited is stalled.
    pub stall_after: Duration,
    /// Calendar time: [`SystemClock`], or a [`TokioClock`](crate::TokioClock) in tests.
    pub clock: Arc<dyn Clock>,
    /// Seed for jitter; `None` seeds from the system. Set it for reproducible tests.
    pub seed: Option<u64>,
    /// How many recent events are kept.
    pub event_capacity: usize,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            max_concurrent_runs: 2,
            backoff: Backoff::default(),
            unhealthy_after: 3,
            stall_after: Duration::from_secs(15 * 60),
            clock: Arc::new(SystemClock),
            seed: None,
            event_capacity: 1000,
        }
    }
}

impl fmt::Debug for SchedulerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedulerOptions")
            .field("max_concurrent_runs", &self.max_concurrent_runs)
            .field("backoff", &self.backoff)
            .field("unhealthy_after", &self.unhealthy_after)
            .field("stall_after", &self.stall_after)
            .field("clock", &self.clock)
            .field("seed", &self.seed)
            .field("event_capacity", &self.event_capacity)
            .finish()
    }
}

/// What [`Scheduler::trigger`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum TriggerOutcome {
    /// Queued: it starts as soon as a concurrency slot is free.
    Queued,
    /// Queued, but the source is busy with a run of `running`: it starts after that one.
    Busy {
        /// The kind running now.
        running: SyncKind,
    },
    /// No such source.
    UnknownSource,
    /// The kind is off for this source; turn it on in its schedule.
    KindOff,
    /// The scheduler is shutting down and starts nothing more.
    ShuttingDown,
}

struct Inner<R> {
    runner: Arc<R>,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    wake: Notify,
    shutdown: CancellationToken,
    driving: AtomicBool,
}

/// Starts runs of a [`Runner`] when they fall due, per source and [`SyncKind`].
///
/// Cheap to clone (the clones share one scheduler): the daemon keeps one to drive
/// ([`Scheduler::run`]) and hands clones to its HTTP API (trigger, status) and signal handlers
/// (reload, shutdown). See the crate docs for the rules it keeps.
pub struct Scheduler<R> {
    inner: Arc<Inner<R>>,
}

impl<R> Clone for Scheduler<R> {
    fn clone(&self) -> Self {
        Scheduler {
            inner: self.inner.clone(),
        }
    }
}

impl<R> fmt::Debug for Scheduler<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("state", &self.inner.state)
            .field("stopping", &self.inner.shutdown.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl<R: Runner> Scheduler<R> {
    /// A scheduler for `sources` (id and resolved schedule). Due times are set from the clock
    /// now: run-at-start kinds are due at once. Nothing runs until [`Scheduler::run`] drives it.
    pub fn new(
        runner: R,
        options: SchedulerOptions,
        sources: impl IntoIterator<Item = (String, SourceSchedule)>,
    ) -> Self {
        let clock = options.clock.clone();
        let mut state = State::new(options);
        state.reload(sources, clock.now(), true);
        Scheduler {
            inner: Arc::new(Inner {
                runner: Arc::new(runner),
                clock,
                state: Mutex::new(state),
                wake: Notify::new(),
                shutdown: CancellationToken::new(),
                driving: AtomicBool::new(false),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Drives the scheduler: starts runs as they fall due and books their ends, until
    /// [`Scheduler::shutdown`]; then waits for the runs in flight (their cancellation tokens
    /// fired) and returns. Spawn it once; a second concurrent call returns at once.
    ///
    /// A panicking run counts as a failed run. Dropping this future (aborting its task)
    /// aborts the runs in flight: call [`Scheduler::shutdown`] and await it instead.
    pub async fn run(&self) {
        if self.inner.driving.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = &*self.inner;
        let mut runs: JoinSet<RunOutcome> = JoinSet::new();
        let mut in_flight: HashMap<tokio::task::Id, (Arc<str>, SyncKind)> = HashMap::new();
        loop {
            let stopping = inner.shutdown.is_cancelled();
            let now = inner.clock.now();
            let wake_at = {
                let mut state = self.state();
                state.stopping = stopping;
                while let Some(start) = state.pick(now) {
                    let ctx = RunContext::new(
                        start.kind,
                        inner.shutdown.child_token(),
                        start.progress,
                        inner.clock.clone(),
                    );
                    let runner = inner.runner.clone();
                    let source = start.source.clone();
                    let kind = start.kind;
                    let task = runs.spawn(async move { runner.run(&source, kind, ctx).await });
                    in_flight.insert(task.id(), (start.source, kind));
                }
                state.check_stalls(now);
                state.next_wake(now)
            };
            if stopping && runs.is_empty() {
                return;
            }
            let nap = wake_at
                .and_then(|t| (t - now).to_std().ok())
                .map_or(MAX_NAP, |d| d.min(MAX_NAP));
            tokio::select! {
                Some(done) = runs.join_next_with_id(), if !runs.is_empty() => {
                    let (id, outcome) = match done {
                        Ok((id, outcome)) => (id, outcome),
                        Err(e) if e.is_panic() => (e.id(), RunOutcome::failed("the run panicked")),
                        Err(e) => (e.id(), RunOutcome::Cancelled),
                    };
                    if let Some((source, kind)) = in_flight.remove(&id) {
                        let now = inner.clock.now();
                        self.state().finish(&source, kind, outcome, now);
                    }
                }
                () = tokio::time::sleep(nap) => {}
                () = inner.wake.notified() => {}
                () = inner.shutdown.cancelled(), if !stopping => {}
            }
        }
    }

    /// Asks for a run of `kind` of `source` now, ahead of its slot or retry backoff. It still
    /// waits for the source to be idle and for a concurrency slot.
    pub fn trigger(&self, source: &str, kind: SyncKind) -> TriggerOutcome {
        let now = self.inner.clock.now();
        let outcome = self.state().trigger(source, kind, now);
        self.inner.wake.notify_one();
        outcome
    }

    /// Replaces the set of sources and their schedules while running. New sources start
    /// (with run-at-start); removed ones stop being scheduled, after their run in flight if
    /// any; kept ones keep their history and, for unchanged specs, their due times.
    pub fn reload(&self, sources: impl IntoIterator<Item = (String, SourceSchedule)>) {
        let now = self.inner.clock.now();
        self.state().reload(sources, now, false);
        self.inner.wake.notify_one();
    }

    /// Changes the concurrency limit; runs beyond a lowered limit finish undisturbed.
    pub fn set_max_concurrent_runs(&self, max_concurrent_runs: usize) {
        self.state().set_max_concurrent_runs(max_concurrent_runs);
        self.inner.wake.notify_one();
    }

    /// Stops starting runs and fires every run's cancellation token; [`Scheduler::run`]
    /// returns once the runs in flight have returned. Await it with the grace period as a
    /// timeout.
    pub fn shutdown(&self) {
        self.state().stopping = true;
        self.inner.shutdown.cancel();
    }

    /// The token [`Scheduler::shutdown`] cancels (each run's token is a child of it).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Runs going on now.
    pub fn running_count(&self) -> usize {
        self.state().running()
    }

    /// The limits in force.
    pub fn options(&self) -> SchedulerOptions {
        self.state().options().clone()
    }

    /// Every source's status, by source id.
    pub fn status(&self) -> Vec<SourceStatus> {
        let now = self.inner.clock.now();
        self.state().snapshot(None, now)
    }

    /// One source's status.
    pub fn source_status(&self, source: &str) -> Option<SourceStatus> {
        let now = self.inner.clock.now();
        self.state().snapshot(Some(source), now).pop()
    }

    /// The recent events (at most `event_capacity`) with `seq >= since`, oldest first; pass
    /// 0 for all of them, or the last seen `seq + 1` for what is new.
    pub fn events(&self, since: u64) -> Vec<Event> {
        self.state().events_since(since)
    }
}
