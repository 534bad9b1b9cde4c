//! Deadlines and pauses the engine enforces around a connector and the extractors.
//!
//! - [`Throttle`]: a source that answers `RateLimited { retry_after }` pauses the whole run
//!   (the listing and every fetch) for that long, capped by `SyncOptions::max_pause`; the
//!   run then goes on. It never fails a run by itself.
//! - [`Extractions`]: extraction runs on the blocking pool under a wall-clock deadline. An
//!   extractor that ignores its cooperative deadline (a loop in a dependency) is abandoned:
//!   its document fails as `timeout` and the run goes on. A thread cannot be killed, so at
//!   most [`MAX_STUCK`] may be abandoned at once; past that, documents that need the pool
//!   fail at once until one comes back (ADR 0010).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

use super::Progress;
use crate::report::RateLimits;

/// The pause when a source says "slow down" without saying for how long.
const DEFAULT_PAUSE: Duration = Duration::from_secs(5);

/// What a pause is told to, so that `status` in another process sees it while it lasts.
pub(super) type Record = Box<dyn Fn(&RateLimits) + Send + Sync>;

/// Pauses of one run.
pub(super) struct Throttle {
    max_pause: Duration,
    progress: Arc<Progress>,
    state: Mutex<Paused>,
    record: Option<Record>,
}

#[derive(Default)]
struct Paused {
    until: Option<Instant>,
    stats: RateLimits,
}

impl Throttle {
    pub(super) fn new(max_pause: Duration, progress: Arc<Progress>) -> Self {
        Throttle {
            max_pause,
            progress,
            state: Mutex::new(Paused::default()),
            record: None,
        }
    }

    /// The same throttle, calling `record` with the run's pauses each time one starts.
    pub(super) fn recording(mut self, record: Record) -> Self {
        self.record = Some(record);
        self
    }

    /// The source asked to slow down: everything waits until `retry_after` (capped) from now.
    pub(super) async fn pause(&self, retry_after: Option<Duration>) {
        let wait = retry_after.unwrap_or(DEFAULT_PAUSE).min(self.max_pause);
        let now = Instant::now();
        let until = {
            let Ok(mut s) = self.state.lock() else {
                return tokio::time::sleep(wait).await;
            };
            let until = s.until.map_or(now + wait, |u| u.max(now + wait));
            // Wall time paused: only what this pause adds beyond one already running.
            let from = s.until.filter(|u| *u > now).unwrap_or(now);
            s.stats.waited_ms += until.saturating_duration_since(from).as_millis() as u64;
            s.stats.pauses += 1;
            let wall = OffsetDateTime::now_utc() + until.saturating_duration_since(now);
            s.stats.last_until = Some(wall);
            s.until = Some(until);
            self.progress
                .rate_limited_until_ms
                .store(unix_ms(wall), Ordering::Relaxed);
            until
        };
        tracing::info!(
            wait_ms = wait.as_millis() as u64,
            "the source asked to slow down; pausing"
        );
        if let Some(record) = &self.record {
            record(&self.stats());
        }
        self.sleep_until(until).await;
    }

    /// Waits out a pause in progress, if any.
    pub(super) async fn wait(&self) {
        let until = self.state.lock().ok().and_then(|s| s.until);
        if let Some(until) = until
            && until > Instant::now()
        {
            self.sleep_until(until).await;
        }
    }

    async fn sleep_until(&self, until: Instant) {
        tokio::time::sleep_until(until).await;
        if let Ok(s) = self.state.lock()
            && s.until.is_none_or(|u| u <= Instant::now())
        {
            self.progress
                .rate_limited_until_ms
                .store(0, Ordering::Relaxed);
        }
    }

    /// What the run waited, for its report.
    pub(super) fn stats(&self) -> RateLimits {
        self.state
            .lock()
            .map(|s| s.stats.clone())
            .unwrap_or_default()
    }
}

fn unix_ms(t: OffsetDateTime) -> u64 {
    (t.unix_timestamp_nanos() / 1_000_000).max(0) as u64
}

/// At most this many extraction threads may be stuck past their deadline at once.
pub(super) const MAX_STUCK: usize = 4;

/// Extraction on the blocking pool, under a deadline the engine enforces.
#[derive(Clone, Default)]
pub(super) struct Extractions {
    stuck: Arc<AtomicUsize>,
}

/// Why [`Extractions::run`] gave no result.
pub(super) enum Abandoned {
    /// The extraction passed its deadline and was left to finish on its own.
    Deadline(Duration),
    /// Too many earlier ones are still stuck: this one was not started.
    TooManyStuck(usize),
    /// The thread panicked outside the extractor's own guard.
    Panicked(String),
}

const RUNNING: u8 = 0;
const DONE: u8 = 1;
const GIVEN_UP: u8 = 2;

impl Extractions {
    /// Runs `work` on the blocking pool; gives up on it after `deadline`.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        deadline: Duration,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Abandoned> {
        let stuck = self.stuck.load(Ordering::Acquire);
        if stuck >= MAX_STUCK {
            return Err(Abandoned::TooManyStuck(stuck));
        }
        let state = Arc::new(AtomicU8::new(RUNNING));
        let (thread_state, counter) = (Arc::clone(&state), Arc::clone(&self.stuck));
        let handle = tokio::task::spawn_blocking(move || {
            let out = work();
            if thread_state.swap(DONE, Ordering::AcqRel) == GIVEN_UP {
                counter.fetch_sub(1, Ordering::AcqRel);
            }
            out
        });
        match tokio::time::timeout(deadline, handle).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(join)) => Err(Abandoned::Panicked(join.to_string())),
            Err(_) => {
                // Count it before marking it, so the thread's decrement never comes first.
                self.stuck.fetch_add(1, Ordering::AcqRel);
                if state
                    .compare_exchange(RUNNING, GIVEN_UP, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    self.stuck.fetch_sub(1, Ordering::AcqRel); // it finished just now
                }
                Err(Abandoned::Deadline(deadline))
            }
        }
    }

    /// Extractions abandoned and still running.
    #[cfg(test)]
    pub(super) fn stuck(&self) -> usize {
        self.stuck.load(Ordering::Acquire)
    }
}

/// Wall time an extraction may take before the engine gives up on it: the extractor's own
/// budget (which it checks cooperatively) plus a grace of as much again, at most 5 s more.
pub(super) fn extraction_deadline(budget: Duration) -> Duration {
    budget + budget.min(Duration::from_secs(5))
}

/// For the progress line: whether a pause is running (the end, in Unix milliseconds).
pub(super) fn paused_until(progress: &Progress) -> Option<u64> {
    match progress.rate_limited_until_ms.load(Ordering::Relaxed) {
        0 => None,
        ms => Some(ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stuck_extraction_is_abandoned_and_counted_until_it_returns() {
        let ex = Extractions::default();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let out = ex
            .run(Duration::from_millis(20), move || rx.recv().is_ok())
            .await;
        assert!(matches!(out, Err(Abandoned::Deadline(_))));
        assert_eq!(ex.stuck(), 1);
        tx.send(()).expect("release");
        for _ in 0..200 {
            if ex.stuck() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(ex.stuck(), 0, "the thread came back");
        let fine = ex.run(Duration::from_secs(5), || 7).await;
        assert!(matches!(fine, Ok(7)));
    }

    #[tokio::test]
    async fn past_the_cap_nothing_more_is_started() {
        let ex = Extractions::default();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..MAX_STUCK {
            let rx = Arc::clone(&rx);
            let out = ex
                .run(Duration::from_millis(10), move || {
                    rx.lock().map(|r| r.recv().is_ok()).unwrap_or(false)
                })
                .await;
            assert!(matches!(out, Err(Abandoned::Deadline(_))));
        }
        let refused = ex.run(Duration::from_secs(5), || 1).await;
        assert!(matches!(refused, Err(Abandoned::TooManyStuck(n)) if n == MAX_STUCK));
        drop(tx); // every stuck thread returns
    }

    #[tokio::test(start_paused = true)]
    async fn pauses_are_capped_and_counted_as_wall_time() {
        let progress = Arc::new(Progress::default());
        let t = Throttle::new(Duration::from_secs(10), Arc::clone(&progress));
        let start = Instant::now();
        // Two overlapping pauses (3 s, and 60 s capped to 10 s) take 10 s of wall time.
        tokio::join!(
            t.pause(Some(Duration::from_secs(3))),
            t.pause(Some(Duration::from_secs(60)))
        );
        assert_eq!(start.elapsed().as_secs(), 10);
        let stats = t.stats();
        assert_eq!((stats.pauses, stats.waited_ms / 1000), (2, 10));
        assert!(paused_until(&progress).is_none(), "cleared after the pause");
        t.wait().await; // nothing to wait for
        assert_eq!(start.elapsed().as_secs(), 10);
    }
}
