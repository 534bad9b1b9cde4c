//! Calendar time for the scheduler, injectable so tests can run on tokio's paused clock.

use std::fmt;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Where the scheduler reads calendar time from.
///
/// Cron slots are calendar times, while the scheduler sleeps on tokio's clock. Production uses
/// [`SystemClock`]; tests use [`TokioClock`], which follows tokio's clock from a fixed calendar
/// time, so that `tokio::time::pause` and `advance` move both together.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current calendar time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's calendar time. The scheduler re-reads it at least once a minute, so a clock
/// step (NTP, suspend and resume) delays a slot by at most that.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Calendar time that follows tokio's clock from a fixed start: paused and advanced with it.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    wall: DateTime<Utc>,
    at: Instant,
}

impl TokioClock {
    /// A clock that reads `wall` now and moves with tokio's clock from here on.
    pub fn starting_at(wall: DateTime<Utc>) -> Self {
        TokioClock {
            wall,
            at: Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        chrono::Duration::from_std(self.at.elapsed())
            .ok()
            .and_then(|d| self.wall.checked_add_signed(d))
            .unwrap_or(self.wall)
    }
}
