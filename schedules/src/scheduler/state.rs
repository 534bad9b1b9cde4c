//! The scheduler's bookkeeping: per source and kind, when it is due and how it has gone.
//! Plain data and decisions, no tasks and no sleeping: the driver in `mod.rs` calls in with the
//! current time.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{SchedulerOptions, TriggerOutcome};
use crate::config::SourceSchedule;
use crate::kind::SyncKind;
use crate::run::{Progress, RunOutcome};
use crate::status::{Event, EventKind};

mod snapshot;

fn idx(kind: SyncKind) -> usize {
    match kind {
        SyncKind::Content => 0,
        SyncKind::Full => 1,
        SyncKind::Permissions => 2,
        SyncKind::Identities => 3,
    }
}

fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[derive(Debug, Default)]
struct KindState {
    next_due: Option<DateTime<Utc>>,
    retrying: bool,
    failures: u32,
    last_started: Option<DateTime<Utc>>,
    last_outcome: Option<(DateTime<Utc>, RunOutcome)>,
    last_success: Option<DateTime<Utc>>,
    /// Content dropped for a running full run; rescheduled when it ends.
    covered: bool,
    /// Whether the current due slot's wait has been recorded (once per slot, not per wake).
    wait_recorded: bool,
}

impl KindState {
    fn due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_due.filter(|t| *t <= now)
    }

    fn set_due(&mut self, due: Option<DateTime<Utc>>, retrying: bool) {
        self.next_due = due;
        self.retrying = retrying;
        self.wait_recorded = false;
    }
}

#[derive(Debug)]
struct Running {
    kind: SyncKind,
    since: DateTime<Utc>,
    progress: Arc<Progress>,
    stall_recorded: bool,
}

#[derive(Debug)]
struct SourceState {
    schedule: SourceSchedule,
    kinds: [KindState; 4],
    running: Option<Running>,
    removed: bool,
    /// When this source last started a run, as a position in the order of all starts (0:
    /// never). Breaks ties between sources that waited equally long in favour of the one
    /// served least recently; names alone would favour the same sources every time.
    start_order: u64,
}

impl SourceState {
    fn kind(&mut self, kind: SyncKind) -> &mut KindState {
        &mut self.kinds[idx(kind)]
    }

    fn worst_failures(&self) -> u32 {
        self.kinds.iter().map(|k| k.failures).max().unwrap_or(0)
    }
}

/// Orders sources waiting to run: the oldest due time, then the least recently served.
type WaitKey = (DateTime<Utc>, u64);

/// A run the driver should start now.
#[derive(Debug)]
pub(super) struct Start {
    pub(super) source: Arc<str>,
    pub(super) kind: SyncKind,
    pub(super) progress: Arc<Progress>,
}

#[derive(Debug)]
pub(super) struct State {
    options: SchedulerOptions,
    sources: BTreeMap<Arc<str>, SourceState>,
    running: usize,
    starts: u64,
    rng: fastrand::Rng,
    events: VecDeque<Event>,
    next_seq: u64,
    pub(super) stopping: bool,
}

impl State {
    pub(super) fn new(options: SchedulerOptions) -> Self {
        let rng = options
            .seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        State {
            options,
            sources: BTreeMap::new(),
            running: 0,
            starts: 0,
            rng,
            events: VecDeque::new(),
            next_seq: 0,
            stopping: false,
        }
    }

    pub(super) fn options(&self) -> &SchedulerOptions {
        &self.options
    }

    pub(super) fn set_max_concurrent_runs(&mut self, n: usize) {
        self.options.max_concurrent_runs = n;
    }

    pub(super) fn running(&self) -> usize {
        self.running
    }

    fn record(&mut self, at: DateTime<Utc>, source: &str, kind: Option<SyncKind>, what: EventKind) {
        let kind_name = kind.map_or("-", SyncKind::name);
        match &what {
            EventKind::Finished {
                outcome: RunOutcome::Failed { message },
            } => tracing::warn!(source, kind = kind_name, message, "run failed"),
            EventKind::Unhealthy { .. } | EventKind::Stalled { .. } => {
                tracing::warn!(source, kind = kind_name, event = ?what, "scheduler")
            }
            _ => tracing::info!(source, kind = kind_name, event = ?what, "scheduler"),
        }
        let event = Event {
            seq: self.next_seq,
            at,
            source: source.to_owned(),
            kind,
            what,
        };
        self.next_seq += 1;
        if self.events.len() >= self.options.event_capacity.max(1) {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    pub(super) fn events_since(&self, seq: u64) -> Vec<Event> {
        self.events
            .iter()
            .filter(|e| e.seq >= seq)
            .cloned()
            .collect()
    }

    /// The next slot of `kind` after `from`, jittered; `None` when the kind is off.
    fn next_slot(
        rng: &mut fastrand::Rng,
        schedule: &SourceSchedule,
        kind: SyncKind,
        from: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let spec = schedule.spec(kind)?;
        let at = spec.next_after(from)?;
        let jitter = schedule.jitter.draw(spec.period_after(at), rng);
        Some(after(at, jitter))
    }

    fn add(&mut self, name: &str, schedule: SourceSchedule, now: DateTime<Utc>) {
        let mut kinds: [KindState; 4] = Default::default();
        for kind in SyncKind::ALL {
            let due = if schedule.spec(kind).is_none() {
                None
            } else if schedule.run_at_start && kind != SyncKind::Full {
                Some(now)
            } else {
                Self::next_slot(&mut self.rng, &schedule, kind, now)
            };
            kinds[idx(kind)].next_due = due;
        }
        self.sources.insert(
            Arc::from(name),
            SourceState {
                schedule,
                kinds,
                running: None,
                removed: false,
                start_order: 0,
            },
        );
    }

    /// Replaces the set of sources. Kept sources keep their history, and their due times for
    /// kinds whose spec did not change; a changed spec is rescheduled from now. Removed
    /// sources that are running finish their run first.
    pub(super) fn reload(
        &mut self,
        sources: impl IntoIterator<Item = (String, SourceSchedule)>,
        now: DateTime<Utc>,
        initial: bool,
    ) {
        let new: BTreeMap<String, SourceSchedule> = sources.into_iter().collect();
        let gone: Vec<Arc<str>> = self
            .sources
            .keys()
            .filter(|name| !new.contains_key(&***name))
            .cloned()
            .collect();
        for name in gone {
            let busy = self.sources.get_mut(&name).is_some_and(|s| {
                s.removed = true;
                s.running.is_some()
            });
            if !busy {
                self.sources.remove(&name);
                self.record(now, &name, None, EventKind::Removed);
            }
        }
        for (name, schedule) in new {
            let Some(src) = self.sources.get_mut(name.as_str()) else {
                self.add(&name, schedule, now);
                if !initial {
                    self.record(now, &name, None, EventKind::Added);
                }
                continue;
            };
            src.removed = false;
            for kind in SyncKind::ALL {
                if schedule.spec(kind) == src.schedule.spec(kind) {
                    continue;
                }
                let running = src.running.as_ref().is_some_and(|r| r.kind == kind);
                let due = Self::next_slot(&mut self.rng, &schedule, kind, now);
                let state = src.kind(kind);
                if schedule.spec(kind).is_none() {
                    // A kind turned off cannot recover by succeeding: forget its failures, or
                    // the source would stay unhealthy for good.
                    state.failures = 0;
                }
                if !running && !state.covered {
                    state.set_due(due, false);
                }
            }
            src.schedule = schedule;
        }
    }

    /// The next run to start now, if any: the idle source that has waited longest (since its
    /// oldest due kind; on a tie, the one served least recently), so no source starves; within
    /// it, a due full run first (it covers content), else its oldest due kind. `None` when
    /// nothing is due or the concurrency limit is reached; waits are then recorded as events.
    pub(super) fn pick(&mut self, now: DateTime<Utc>) -> Option<Start> {
        if self.stopping {
            return None;
        }
        if self.running < self.options.max_concurrent_runs.max(1) {
            // (waited since, start order) of the best candidate so far: lower is first.
            let mut best: Option<(WaitKey, Arc<str>, SyncKind)> = None;
            for (name, src) in &self.sources {
                if src.running.is_some() || src.removed {
                    continue;
                }
                let due: Vec<(DateTime<Utc>, SyncKind)> = SyncKind::ALL
                    .into_iter()
                    .filter_map(|k| src.kinds[idx(k)].due(now).map(|t| (t, k)))
                    .collect();
                let Some(waited_since) = due.iter().map(|(t, _)| *t).min() else {
                    continue;
                };
                let kind = if due.iter().any(|(_, k)| *k == SyncKind::Full) {
                    SyncKind::Full
                } else {
                    due.iter()
                        .min_by_key(|(t, k)| (*t, k.tie_rank()))
                        .map_or(SyncKind::Content, |(_, k)| *k)
                };
                let key = (waited_since, src.start_order);
                if best.as_ref().is_none_or(|(best, _, _)| key < *best) {
                    best = Some((key, name.clone(), kind));
                }
            }
            if let Some((_, name, kind)) = best {
                return Some(self.start(name, kind, now));
            }
        }
        self.record_waits(now);
        None
    }

    fn start(&mut self, name: Arc<str>, kind: SyncKind, now: DateTime<Utc>) -> Start {
        let progress = Arc::new(Progress::new(now));
        let mut covered = false;
        self.starts += 1;
        if let Some(src) = self.sources.get_mut(&name) {
            src.start_order = self.starts;
            src.running = Some(Running {
                kind,
                since: now,
                progress: progress.clone(),
                stall_recorded: false,
            });
            let state = src.kind(kind);
            state.set_due(None, state.retrying);
            state.last_started = Some(now);
            if kind == SyncKind::Full {
                let content = src.kind(SyncKind::Content);
                if content.due(now).is_some() {
                    content.set_due(None, false);
                    content.covered = true;
                    covered = true;
                }
            }
        }
        self.running += 1;
        self.record(now, &name, Some(kind), EventKind::Started);
        if covered {
            self.record(
                now,
                &name,
                Some(SyncKind::Content),
                EventKind::CoveredByFull,
            );
        }
        Start {
            source: name,
            kind,
            progress,
        }
    }

    /// Records, once per due slot, each kind that is due but cannot start.
    fn record_waits(&mut self, now: DateTime<Utc>) {
        let mut waits = Vec::new();
        for (name, src) in &mut self.sources {
            if src.removed {
                continue;
            }
            let behind = src.running.as_ref().map(|r| r.kind);
            for kind in SyncKind::ALL {
                let state = src.kind(kind);
                if state.due(now).is_some() && !state.wait_recorded {
                    state.wait_recorded = true;
                    let what = match behind {
                        Some(behind) => EventKind::DelayedBusy { behind },
                        None => EventKind::WaitingForCapacity,
                    };
                    waits.push((name.clone(), kind, what));
                }
            }
        }
        for (name, kind, what) in waits {
            self.record(now, &name, Some(kind), what);
        }
    }

    /// Books the end of a run.
    pub(super) fn finish(
        &mut self,
        name: &str,
        kind: SyncKind,
        outcome: RunOutcome,
        now: DateTime<Utc>,
    ) {
        self.running = self.running.saturating_sub(1);
        self.record(
            now,
            name,
            Some(kind),
            EventKind::Finished {
                outcome: outcome.clone(),
            },
        );
        let threshold = self.options.unhealthy_after.max(1);
        let backoff = self.options.backoff;
        let Some(src) = self.sources.get_mut(name) else {
            return;
        };
        let was_unhealthy = src.worst_failures() >= threshold;
        src.running = None;
        let slot = Self::next_slot(&mut self.rng, &src.schedule, kind, now);
        let scheduled = src.schedule.spec(kind).is_some();
        let state = src.kind(kind);
        state.last_outcome = Some((now, outcome.clone()));
        // A due time set while the kind ran can only come from a trigger: it stands.
        let triggered = state.next_due;
        let mut retry = None;
        match outcome {
            RunOutcome::Succeeded => {
                state.failures = 0;
                state.last_success = Some(now);
                state.set_due(triggered.or(slot), false);
            }
            RunOutcome::Failed { .. } => {
                state.failures = state.failures.saturating_add(1);
                let delay = backoff.delay(state.failures);
                // A kind turned off while it ran is not retried.
                let due = scheduled.then(|| after(now, delay));
                match triggered {
                    Some(t) => state.set_due(Some(t), false),
                    None => state.set_due(due, true),
                }
                retry = Some((state.failures, delay));
            }
            // Cancelled is neither: the kind keeps its failure count and waits for its slot.
            RunOutcome::Cancelled => state.set_due(triggered.or(slot), false),
        }
        if kind == SyncKind::Full && src.kind(SyncKind::Content).covered {
            // Whatever the full run's outcome: had it failed, it retries on its own backoff,
            // and content goes back to its schedule rather than running straight after.
            let slot = Self::next_slot(&mut self.rng, &src.schedule, SyncKind::Content, now);
            let content = src.kind(SyncKind::Content);
            content.covered = false;
            content.set_due(slot, false);
        }
        let removed = src.removed;
        let failures = src.worst_failures();
        if let Some((failures, delay)) = retry {
            let after_secs = delay.as_secs();
            self.record(
                now,
                name,
                Some(kind),
                EventKind::RetryScheduled {
                    failures,
                    after_secs,
                },
            );
        }
        match (was_unhealthy, failures >= threshold) {
            (false, true) => self.record(now, name, Some(kind), EventKind::Unhealthy { failures }),
            (true, false) => self.record(now, name, Some(kind), EventKind::Recovered),
            _ => {}
        }
        if removed {
            self.sources.remove(name);
            self.record(now, name, None, EventKind::Removed);
        }
    }

    /// Asks for a run of `kind` now, ahead of its slot or its backoff.
    pub(super) fn trigger(
        &mut self,
        name: &str,
        kind: SyncKind,
        now: DateTime<Utc>,
    ) -> TriggerOutcome {
        if self.stopping {
            return TriggerOutcome::ShuttingDown;
        }
        let Some(src) = self.sources.get_mut(name).filter(|s| !s.removed) else {
            return TriggerOutcome::UnknownSource;
        };
        if src.schedule.spec(kind).is_none() {
            return TriggerOutcome::KindOff;
        }
        let running = src.running.as_ref().map(|r| r.kind);
        let state = src.kind(kind);
        // Earlier than now is kept: a kind already waiting keeps its place in line.
        let due = state.next_due.map_or(now, |t| t.min(now));
        state.covered = false;
        state.set_due(Some(due), false);
        self.record(now, name, Some(kind), EventKind::Triggered);
        match running {
            Some(running) => TriggerOutcome::Busy { running },
            None => TriggerOutcome::Queued,
        }
    }

    /// Records stalled runs, once per stall.
    pub(super) fn check_stalls(&mut self, now: DateTime<Utc>) {
        let stall_after = self.options.stall_after;
        let mut stalled = Vec::new();
        for (name, src) in &mut self.sources {
            let Some(run) = &mut src.running else {
                continue;
            };
            let p = run.progress.get();
            let quiet = (now - p.last_progress).to_std().unwrap_or_default();
            if p.rate_limited || quiet < stall_after {
                run.stall_recorded = false;
            } else if !run.stall_recorded {
                run.stall_recorded = true;
                stalled.push((name.clone(), run.kind, quiet.as_secs()));
            }
        }
        for (name, kind, since_progress_secs) in stalled {
            self.record(
                now,
                &name,
                Some(kind),
                EventKind::Stalled {
                    since_progress_secs,
                },
            );
        }
    }

    /// When the driver must look again: the earliest future due time, or the moment a running
    /// run would count as stalled. Due times already past are not
    /// wake-ups: they wait for a run to end, which wakes the driver anyway.
    pub(super) fn next_wake(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut wake: Option<DateTime<Utc>> = None;
        let mut consider = |t: DateTime<Utc>| {
            if t > now && wake.is_none_or(|w| t < w) {
                wake = Some(t);
            }
        };
        for src in self.sources.values() {
            if let Some(run) = &src.running {
                let p = run.progress.get();
                if !p.rate_limited && !run.stall_recorded {
                    consider(after(p.last_progress, self.options.stall_after));
                }
            }
            // Also for a busy source: at its due time the wait is recorded.
            if !src.removed {
                src.kinds
                    .iter()
                    .filter_map(|k| k.next_due)
                    .for_each(&mut consider);
            }
        }
        wake
    }
}
