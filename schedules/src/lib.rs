//! The scheduling core of `tributary daemon`: when each source syncs, and what is reported
//! about it. Generic over what a run is: the daemon implements [`Runner`] on the sync engine;
//! this crate depends on no engine, connector or CLI.
//!
//! # The model
//!
//! Each source has four kinds of sync ([`SyncKind`]): `content` (incremental), `full` (a
//! reconcile that lists everything), `permissions` and `identities`. Each kind has its own
//! [`Spec`] or is off. A spec is a 5-field cron expression read in the source's IANA time zone
//! (`"0 3 * * 0"`), or an interval (`"15m"`, `"1h30m"`) counted from the end of the previous
//! run, so a slow run is never followed at once by the next. A source's `schedule` table
//! ([`ScheduleConfig`]) overrides the defaults of its type ([`defaults_for`]) key by key, and
//! `"off"` turns a kind off; [`ScheduleConfig::validate`] reports every problem with its key
//! path, and [`ScheduleConfig::resolve`] gives the [`SourceSchedule`] the scheduler runs.
//!
//! The [`Scheduler`] keeps, per source and kind, the next due time, and when one passes starts
//! a run, keeping these rules:
//!
//! - **One run per source at a time.** A kind that falls due while its source runs another
//!   waits, and the wait is recorded ([`EventKind::DelayedBusy`]).
//! - **Full covers content.** A full reconcile sees every change an incremental run would, so
//!   when a full run starts and content is due too, the content run is dropped
//!   ([`EventKind::CoveredByFull`]) and rescheduled from the end of the full run. Otherwise
//!   the kind that has waited longest goes first, whatever its kind, so none starves; on a
//!   tie: full, identities, permissions, content (revocations before new documents).
//! - **A global limit**, `max_concurrent_runs`, fair across sources: when a run ends, the
//!   source that has waited longest starts next (on a tie, the one served least recently).
//! - **Jitter** ([`Jitter`]): each slot is delayed by a random amount up to a duration or a
//!   fraction of the period, never more than half the period nor an hour, so sources sharing a
//!   schedule do not start in the same second. Seeded ([`SchedulerOptions::seed`]) for tests.
//! - **Backoff and health.** A failed run is retried after a backoff ([`Backoff`]: 1m, 2m,
//!   4m, … at most 1h) instead of waiting for its next slot or retrying in a loop. A kind that
//!   failed `unhealthy_after` times in a row makes its source [`Health::Unhealthy`]: still
//!   retried at the capped backoff, and reported. Its next success resets the count; a
//!   cancelled run neither counts nor resets.
//! - **Run at start**: content, permissions and identities run as soon as the scheduler starts
//!   (or a reload adds the source); full waits for its slot, as it is the expensive one.
//! - **Trigger now** ([`Scheduler::trigger`]), **reload** ([`Scheduler::reload`]: removed
//!   sources finish their run in flight, new ones start, unchanged specs keep their due times)
//!   and **shutdown** ([`Scheduler::shutdown`]: nothing new starts, each run's cancellation
//!   token fires, and [`Scheduler::run`] returns when the runs in flight have returned).
//! - **Stalled runs.** Each run reports progress through its [`RunContext`]. A run with no
//!   progress for `stall_after` while not rate-limited is reported stalled
//!   ([`RunningStatus::stalled`], [`EventKind::Stalled`]); a long run that keeps reporting
//!   progress, or one waiting out a rate limit, never is. The scheduler reports a stall and
//!   leaves the run alone: only the runner knows whether it is safe to abandon.
//!
//! # Daylight saving time
//!
//! Cron expressions name wall-clock times, and croner handles the two changes: a time skipped
//! by the spring-forward change (02:30 in Berlin on the last Sunday of March) fires once, at the
//! first valid time after the gap (03:00); a time repeated by the fall-back change fires once,
//! at its first occurrence, and not again in the repeated hour even when a run ends inside it.
//! A stepped expression (`"*/15 * * * *"`) fires at each wall-clock minute once too, so it
//! leaves a one-hour gap on fall-back day; an interval (`"15m"`) is elapsed time and ignores
//! the changes.
//!
//! # Time
//!
//! The scheduler sleeps on tokio's clock and reads calendar time from a [`Clock`]:
//! [`SystemClock`] in production (re-read at least once a minute, so a clock step delays a
//! slot by at most that), [`TokioClock`] in tests, which follows tokio's paused clock from a
//! fixed calendar time so `tokio::time::pause` drives cron schedules too.
//!
//! # Example
//!
//! ```
//! use schedules::{
//!     RunContext, RunOutcome, Runner, ScheduleConfig, Scheduler, SchedulerOptions, SyncKind,
//!     TriggerOutcome,
//! };
//!
//! struct Engine;
//!
//! impl Runner for Engine {
//!     async fn run(&self, source: &str, kind: SyncKind, ctx: RunContext) -> RunOutcome {
//!         // A real runner syncs here, calling ctx.progress() as documents land and
//!         // stopping early when ctx.cancellation() fires.
//!         ctx.progress();
//!         RunOutcome::Succeeded
//!     }
//! }
//!
//! let table: ScheduleConfig = toml::from_str(
//!     r#"
//!     content = "15m"
//!     full = "0 3 * * 0"
//!     time_zone = "Europe/Berlin"
//!     "#,
//! )?;
//! let schedule = table
//!     .resolve("s3", "sources.docs.schedule")
//!     .map_err(|problems| format!("{problems:?}"))?;
//! let scheduler = Scheduler::new(Engine, SchedulerOptions::default(), [("docs".to_owned(), schedule)]);
//!
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
//! runtime.block_on(async {
//!     let driver = tokio::spawn({
//!         let scheduler = scheduler.clone();
//!         async move { scheduler.run().await }
//!     });
//!     assert_eq!(scheduler.trigger("docs", SyncKind::Full), TriggerOutcome::Queued);
//!     scheduler.shutdown();
//!     driver.await
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod clock;
mod config;
mod jitter;
mod kind;
mod run;
mod scheduler;
mod spec;
mod status;

pub use clock::{Clock, SystemClock, TokioClock};
pub use config::{
    JitterSetting, OFF, ScheduleConfig, ScheduleProblem, SourceSchedule, defaults_for,
};
pub use jitter::{Jitter, MAX_JITTER, MAX_JITTER_FRACTION};
pub use kind::{SyncKind, UnknownSyncKind};
pub use run::{RunContext, RunOutcome, Runner};
pub use scheduler::{Backoff, Scheduler, SchedulerOptions, TriggerOutcome};
pub use spec::{CronSpec, MIN_INTERVAL, Spec, SpecError, parse_time_zone};
pub use status::{Event, EventKind, Health, KindStatus, LastOutcome, RunningStatus, SourceStatus};
