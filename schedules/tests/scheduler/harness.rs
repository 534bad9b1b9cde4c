//! A scripted fake [`Runner`] that records every run, checks that no source overlaps itself,
//! and counts concurrency; and the `check` helper that compares its timeline.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use schedules::{
    Backoff, Clock, RunContext, RunOutcome, Runner, ScheduleConfig, Scheduler, SchedulerOptions,
    SourceSchedule, SyncKind, TokioClock,
};

/// The calendar time tests start at, unless they need another.
pub const T0: &str = "2024-05-01T00:00:00Z";

pub fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("bad test time {text}: {e}"))
        .with_timezone(&Utc)
}

pub fn mins(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

/// One step of a scripted run.
#[derive(Clone, Debug)]
pub enum Step {
    /// Works for this long, reporting progress every 30 seconds.
    Work(Duration),
    /// Does nothing and reports nothing for this long (a stuck run).
    Quiet(Duration),
    /// Waits out a rate limit for this long, saying so.
    RateLimited(Duration),
}

/// What one run does: its steps, then its outcome. Unless `ignores_cancel`, a cancelled run
/// returns `Cancelled` at once.
#[derive(Clone, Debug)]
pub struct Script {
    pub steps: Vec<Step>,
    pub outcome: RunOutcome,
    pub ignores_cancel: bool,
}

impl Script {
    /// Works for `d`, then succeeds.
    pub fn ok(d: Duration) -> Self {
        Script {
            steps: vec![Step::Work(d)],
            outcome: RunOutcome::Succeeded,
            ignores_cancel: false,
        }
    }

    /// Works for `d`, then fails.
    pub fn fail(d: Duration) -> Self {
        Script {
            outcome: RunOutcome::failed("scripted failure"),
            ..Script::ok(d)
        }
    }
}

/// One run as the fake saw it.
#[derive(Clone, Debug)]
pub struct Record {
    pub source: String,
    pub kind: SyncKind,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub outcome: Option<RunOutcome>,
}

#[derive(Debug)]
pub struct Fake {
    clock: TokioClock,
    /// Per source, the scripts of its next runs; then `default`.
    scripts: Mutex<HashMap<String, VecDeque<Script>>>,
    default: Mutex<Script>,
    log: Mutex<Vec<Record>>,
    busy: Mutex<HashSet<String>>,
    pub overlaps: AtomicUsize,
    current: AtomicUsize,
    pub max_concurrent: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Fake {
    pub fn script(&self, source: &str, scripts: impl IntoIterator<Item = Script>) {
        lock(&self.scripts)
            .entry(source.to_owned())
            .or_default()
            .extend(scripts);
    }

    pub fn set_default(&self, script: Script) {
        *lock(&self.default) = script;
    }

    pub fn records(&self) -> Vec<Record> {
        lock(&self.log).clone()
    }

    pub fn runs_of(&self, source: &str) -> Vec<Record> {
        self.records()
            .into_iter()
            .filter(|r| r.source == source)
            .collect()
    }

    /// One line per run, in start order: `start source kind outcome`, start as `+h:mm:ss`
    /// after `t0`, or as a UTC time when `t0` is `None`.
    pub fn timeline(&self, t0: Option<DateTime<Utc>>) -> String {
        self.records()
            .iter()
            .map(|r| {
                let at = match t0 {
                    Some(t0) => {
                        let s = (r.start - t0).num_seconds();
                        format!("+{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                    }
                    None => r.start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                };
                let outcome = match &r.outcome {
                    None => "running",
                    Some(RunOutcome::Succeeded) => "ok",
                    Some(RunOutcome::Failed { .. }) => "failed",
                    Some(RunOutcome::Cancelled) => "cancelled",
                };
                format!("{at} {} {} {outcome}", r.source, r.kind)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn play(&self, script: &Script, ctx: &RunContext) -> RunOutcome {
        for step in &script.steps {
            let (total, progress, limited) = match step {
                Step::Work(d) => (*d, true, false),
                Step::Quiet(d) => (*d, false, false),
                Step::RateLimited(d) => (*d, false, true),
            };
            if limited {
                ctx.set_rate_limited(true);
            }
            let mut left = total;
            while !left.is_zero() {
                let nap = left.min(Duration::from_secs(30));
                if script.ignores_cancel {
                    tokio::time::sleep(nap).await;
                } else {
                    tokio::select! {
                        () = tokio::time::sleep(nap) => {}
                        () = ctx.cancellation().cancelled() => return RunOutcome::Cancelled,
                    }
                }
                left -= nap;
                if progress {
                    ctx.progress();
                }
            }
            if limited {
                ctx.set_rate_limited(false);
            }
        }
        script.outcome.clone()
    }
}

/// The runner handed to the scheduler; the test keeps the `Arc<Fake>` to look in.
#[derive(Debug)]
pub struct FakeRunner(pub Arc<Fake>);

impl Runner for FakeRunner {
    async fn run(&self, source: &str, kind: SyncKind, ctx: RunContext) -> RunOutcome {
        let fake = &self.0;
        let start = fake.clock.now();
        if !lock(&fake.busy).insert(source.to_owned()) {
            fake.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        let now_running = fake.current.fetch_add(1, Ordering::SeqCst) + 1;
        fake.max_concurrent.fetch_max(now_running, Ordering::SeqCst);
        let index = {
            let mut log = lock(&fake.log);
            log.push(Record {
                source: source.to_owned(),
                kind,
                start,
                end: None,
                outcome: None,
            });
            log.len() - 1
        };
        let script = lock(&fake.scripts)
            .get_mut(source)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| lock(&fake.default).clone());
        let outcome = fake.play(&script, &ctx).await;
        fake.current.fetch_sub(1, Ordering::SeqCst);
        lock(&fake.busy).remove(source);
        let mut log = lock(&fake.log);
        log[index].end = Some(fake.clock.now());
        log[index].outcome = Some(outcome.clone());
        outcome
    }
}

/// Options for tests: no jitter unless a schedule asks, a fixed seed, and the paused clock.
pub fn options(clock: TokioClock) -> SchedulerOptions {
    SchedulerOptions {
        max_concurrent_runs: 4,
        backoff: Backoff::default(),
        unhealthy_after: 3,
        stall_after: mins(10),
        clock: Arc::new(clock),
        seed: Some(42),
        event_capacity: 10_000,
    }
}

/// A source's schedule from a `schedule` table in TOML, for a source of type "test" (content
/// every 15m and a weekly full unless the table says otherwise), jitter off unless given.
pub fn schedule(toml_text: &str) -> SourceSchedule {
    let mut config: ScheduleConfig =
        toml::from_str(toml_text).unwrap_or_else(|e| panic!("{toml_text}: {e}"));
    if config.jitter.is_none() {
        config.jitter = Some(schedules::JitterSetting::Text("off".into()));
    }
    config
        .resolve("test", "schedule")
        .unwrap_or_else(|p| panic!("{toml_text}: {p:?}"))
}

/// Time since `t0` on a clock.
pub trait Since {
    fn now_since(&self, t0: DateTime<Utc>) -> Duration;
}

impl Since for TokioClock {
    fn now_since(&self, t0: DateTime<Utc>) -> Duration {
        (self.now() - t0).to_std().unwrap_or_default()
    }
}

/// A scheduler over `sources` (id, schedule TOML) starting at calendar time `start`, already
/// driven by a spawned task; the fake runs 1 minute and succeeds unless scripted otherwise.
pub struct World {
    pub scheduler: Scheduler<FakeRunner>,
    pub fake: Arc<Fake>,
    pub clock: TokioClock,
    pub t0: DateTime<Utc>,
    pub driver: tokio::task::JoinHandle<()>,
}

impl World {
    pub fn new(
        start: &str,
        sources: &[(&str, &str)],
        tweak: impl FnOnce(&mut SchedulerOptions),
    ) -> Self {
        let t0 = utc(start);
        let clock = TokioClock::starting_at(t0);
        let fake = Arc::new(Fake {
            clock,
            scripts: Mutex::default(),
            default: Mutex::new(Script::ok(mins(1))),
            log: Mutex::default(),
            busy: Mutex::default(),
            overlaps: AtomicUsize::new(0),
            current: AtomicUsize::new(0),
            max_concurrent: AtomicUsize::new(0),
        });
        let mut opts = options(clock);
        tweak(&mut opts);
        let sources = sources
            .iter()
            .map(|(id, toml_text)| ((*id).to_owned(), schedule(toml_text)));
        let scheduler = Scheduler::new(FakeRunner(fake.clone()), opts, sources);
        let driver = tokio::spawn({
            let scheduler = scheduler.clone();
            async move { scheduler.run().await }
        });
        World {
            scheduler,
            fake,
            clock,
            t0,
            driver,
        }
    }

    /// Lets simulated time pass until `d` after the start.
    pub async fn until(&self, d: Duration) {
        let elapsed = (self.clock.now() - self.t0).to_std().unwrap_or_default();
        tokio::time::sleep(d.saturating_sub(elapsed)).await;
    }

    /// Compares the runs so far with `expected` (see [`Fake::timeline`]), relative to the
    /// start, and checks that no source ever ran twice at once.
    #[track_caller]
    pub fn check(&self, expected: &str) {
        assert_eq!(self.fake.timeline(Some(self.t0)), expected.trim());
        self.check_no_overlap();
    }

    #[track_caller]
    pub fn check_no_overlap(&self) {
        assert_eq!(
            self.fake.overlaps.load(Ordering::SeqCst),
            0,
            "a source ran twice at once"
        );
    }

    /// The events so far as `source kind event` lines (only the kinds named in `only`).
    pub fn events(&self, only: &[&str]) -> Vec<String> {
        self.scheduler
            .events(0)
            .into_iter()
            .filter_map(|e| {
                let json = serde_json::to_value(&e.what).ok()?;
                let name = json.get("event")?.as_str()?.to_owned();
                only.contains(&name.as_str()).then(|| {
                    let kind = e.kind.map_or("-", SyncKind::name);
                    let s = (e.at - self.t0).num_seconds();
                    format!(
                        "+{}:{:02}:{:02} {} {kind} {name}",
                        s / 3600,
                        s / 60 % 60,
                        s % 60,
                        e.source
                    )
                })
            })
            .collect()
    }
}
