//! Slowing down *before* the source throttles: the quota headers a reply carries.
//!
//! Several APIs say how much of a quota window is left: the IETF draft's `RateLimit-Limit`
//! / `RateLimit-Remaining` / `RateLimit-Reset` (SharePoint Online and Graph send them once
//! an app has used 80% of its resource units), and the older `X-RateLimit-Remaining` /
//! `X-RateLimit-Reset` (Jira, GitHub). The policy spreads what is left over the time left:
//! after a reply saying `remaining` requests are allowed in the next `reset` seconds, calls
//! start at least `reset / (remaining + 1)` apart until the window ends, so the quota is
//! never spent faster than it comes back. A window that is empty holds every call until it
//! resets. A reset is read as delta-seconds, or as an epoch time or RFC 3339 date when it
//! is too large for a delay (`X-RateLimit-Reset` of GitHub, of Jira); a wait longer than
//! five minutes is capped there: the source's own 429 tells the rest.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use tokio::time::Instant;

/// The longest the quota headers alone hold calls back.
const MAX_WAIT: Duration = Duration::from_secs(300);

/// The pacing the last quota headers asked for.
#[derive(Debug)]
pub(crate) struct QuotaPacer {
    state: Mutex<Pacing>,
}

#[derive(Debug, Clone, Copy)]
struct Pacing {
    /// The earliest start of the next call.
    next: Instant,
    /// The gap between calls while the window lasts.
    interval: Duration,
    /// When the window resets and the pacing ends.
    until: Instant,
}

impl QuotaPacer {
    pub(crate) fn new() -> Self {
        let now = Instant::now();
        QuotaPacer {
            state: Mutex::new(Pacing {
                next: now,
                interval: Duration::ZERO,
                until: now,
            }),
        }
    }

    /// Reads a reply's quota headers, if it has any.
    pub(crate) fn observe(&self, headers: &HeaderMap) {
        let Some((remaining, reset)) = read(headers, SystemTime::now()) else {
            return;
        };
        let reset = reset.min(MAX_WAIT);
        let now = Instant::now();
        let mut pacing = self.state.lock().unwrap_or_else(|e| e.into_inner());
        pacing.until = now + reset;
        pacing.interval = if remaining == 0 {
            reset
        } else {
            reset / (remaining.min(u32::MAX as u64) as u32 + 1)
        };
        if remaining == 0 {
            pacing.next = pacing.next.max(now + reset);
        }
    }

    /// How long the next call must wait, and takes its slot.
    pub(crate) fn slot(&self) -> Duration {
        let now = Instant::now();
        let mut pacing = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now >= pacing.until && now >= pacing.next {
            return Duration::ZERO;
        }
        let start = pacing.next.max(now);
        if start < pacing.until {
            pacing.next = start + pacing.interval;
        }
        start - now
    }
}

/// `(remaining, time to reset)` from the draft's headers or the `X-` ones.
fn read(headers: &HeaderMap, now: SystemTime) -> Option<(u64, Duration)> {
    let number = |name: &str| -> Option<&str> {
        headers
            .get(name)?
            .to_str()
            .ok()
            .map(|v| v.split([',', ';']).next().unwrap_or("").trim())
    };
    for (remaining, reset) in [
        ("ratelimit-remaining", "ratelimit-reset"),
        ("x-ratelimit-remaining", "x-ratelimit-reset"),
    ] {
        let (Some(left), Some(reset)) = (number(remaining), number(reset)) else {
            continue;
        };
        let Ok(left) = left.parse::<u64>() else {
            continue;
        };
        if let Some(delay) = reset_delay(reset, now) {
            return Some((left, delay));
        }
    }
    None
}

/// A reset as a delay: delta-seconds, an epoch time in seconds, or an RFC 3339 date.
fn reset_delay(value: &str, now: SystemTime) -> Option<Duration> {
    let since_epoch = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    if let Ok(n) = value.parse::<u64>() {
        // Anything past the year 2001 in seconds is a date, not a delay.
        return Some(if n > 1_000_000_000 {
            Duration::from_secs(n.saturating_sub(since_epoch))
        } else {
            Duration::from_secs(n)
        });
    }
    let at =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).ok()?;
    let at = u64::try_from(at.unix_timestamp()).ok()?;
    Some(Duration::from_secs(at.saturating_sub(since_epoch)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("header value"));
        }
        map
    }

    #[test]
    fn both_header_families_and_every_reset_form_are_read() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let draft = headers(&[("RateLimit-Remaining", "4"), ("RateLimit-Reset", "10")]);
        assert_eq!(read(&draft, now), Some((4, Duration::from_secs(10))));
        let epoch = headers(&[
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", "1800000030"),
        ]);
        assert_eq!(read(&epoch, now), Some((0, Duration::from_secs(30))));
        let date = headers(&[
            ("X-RateLimit-Remaining", "7"),
            ("X-RateLimit-Reset", "2027-01-15T08:00:20Z"),
        ]);
        assert_eq!(read(&date, now), Some((7, Duration::from_secs(20))));
        assert_eq!(read(&headers(&[("RateLimit-Remaining", "x")]), now), None);
        assert_eq!(read(&HeaderMap::new(), now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn what_is_left_is_spread_over_the_window_and_an_empty_one_holds() {
        let quota = QuotaPacer::new();
        assert_eq!(quota.slot(), Duration::ZERO);
        quota.observe(&headers(&[
            ("RateLimit-Remaining", "4"),
            ("RateLimit-Reset", "10"),
        ]));
        let gaps: Vec<Duration> = (0..3).map(|_| quota.slot()).collect();
        assert_eq!(
            gaps,
            [
                Duration::ZERO,
                Duration::from_secs(2),
                Duration::from_secs(4)
            ]
        );
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(quota.slot(), Duration::ZERO, "the window has reset");
        quota.observe(&headers(&[
            ("RateLimit-Remaining", "0"),
            ("RateLimit-Reset", "3600"),
        ]));
        assert_eq!(quota.slot(), MAX_WAIT, "capped");
    }
}
