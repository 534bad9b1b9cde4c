//! Jitter: a random delay added to each scheduled slot, so that sources sharing a schedule do
//! not all start in the same second.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The largest jitter that may be configured, and the ceiling of a fractional one: past an
/// hour, jitter stops spreading load and starts breaking the schedule an operator wrote.
pub const MAX_JITTER: Duration = Duration::from_secs(3600);

/// The largest fraction of a slot's period a jitter may take, and the ceiling of every jitter:
/// a jittered run must never reach the slot after its own.
pub const MAX_JITTER_FRACTION: f64 = 0.5;

/// How much random delay each slot gets: a fixed maximum, or a fraction of the slot's period
/// (the interval, or the gap to the next cron match).
///
/// Either way the delay drawn is uniform in `[0, bound]`, where the bound
/// ([`Jitter::bound`]) is never more than half the period nor more than [`MAX_JITTER`]. Retries
/// after a failure, triggered runs and runs at start are not jittered: they are not slots.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Jitter {
    /// At most this long.
    Duration(Duration),
    /// At most this fraction of the period, in `[0, 0.5]`.
    Fraction(f64),
}

impl Default for Jitter {
    /// 30 seconds: enough to spread sources that share a schedule, too little to move a cron
    /// slot noticeably (and halved for intervals under a minute).
    fn default() -> Self {
        Jitter::Duration(Duration::from_secs(30))
    }
}

impl Jitter {
    /// No jitter.
    pub const OFF: Jitter = Jitter::Duration(Duration::ZERO);

    /// The longest delay this jitter may add to a slot whose period is `period`.
    pub fn bound(&self, period: Duration) -> Duration {
        let wanted = match *self {
            Jitter::Duration(d) => d,
            Jitter::Fraction(f) => period.mul_f64(f.clamp(0.0, MAX_JITTER_FRACTION)),
        };
        wanted
            .min(period.mul_f64(MAX_JITTER_FRACTION))
            .min(MAX_JITTER)
    }

    /// A delay drawn uniformly from `[0, bound(period)]`, in whole milliseconds.
    pub fn draw(&self, period: Duration, rng: &mut fastrand::Rng) -> Duration {
        let bound = u64::try_from(self.bound(period).as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rng.u64(0..=bound))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_cap_at_half_the_period_and_an_hour() {
        let s = Duration::from_secs;
        let check = |jitter: Jitter, period: u64, bound: u64| {
            assert_eq!(
                jitter.bound(s(period)),
                s(bound),
                "{jitter:?} over {period}s"
            );
        };
        check(Jitter::Duration(s(30)), 900, 30);
        check(Jitter::Duration(s(30)), 20, 10);
        check(Jitter::Fraction(0.1), 900, 90);
        check(Jitter::Fraction(0.9), 900, 450);
        check(Jitter::Fraction(0.1), 7 * 86400, 3600);
        check(Jitter::Duration(s(7200)), 7 * 86400, 3600);
        check(Jitter::OFF, 900, 0);
    }

    #[test]
    fn draws_stay_within_the_bound_and_cover_it() {
        let mut rng = fastrand::Rng::with_seed(7);
        for (jitter, period) in [
            (
                Jitter::Duration(Duration::from_secs(30)),
                Duration::from_secs(900),
            ),
            (Jitter::Fraction(0.25), Duration::from_secs(60)),
            (
                Jitter::Duration(Duration::from_secs(30)),
                Duration::from_secs(10),
            ),
        ] {
            let bound = jitter.bound(period);
            let draws: Vec<Duration> = (0..10_000).map(|_| jitter.draw(period, &mut rng)).collect();
            let max = draws.iter().max().copied().unwrap_or_default();
            let min = draws.iter().min().copied().unwrap_or_default();
            assert!(
                max <= bound,
                "{jitter:?}: drew {max:?} over the bound {bound:?}"
            );
            // Uniform over the whole range: the extremes are reached within 1%, and the mean
            // is near the middle. A draw stuck at zero or at the bound fails here.
            assert!(
                max >= bound.mul_f64(0.99),
                "{jitter:?}: max {max:?} of {bound:?}"
            );
            assert!(
                min <= bound.mul_f64(0.01),
                "{jitter:?}: min {min:?} of {bound:?}"
            );
            let mean = draws.iter().sum::<Duration>() / 10_000;
            let half = bound / 2;
            assert!(
                mean.abs_diff(half) <= bound / 50,
                "{jitter:?}: mean {mean:?}, expected about {half:?}"
            );
        }
        assert_eq!(
            Jitter::OFF.draw(Duration::from_secs(60), &mut rng),
            Duration::ZERO
        );
    }
}
