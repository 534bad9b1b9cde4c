//! Schedule specs: a 5-field cron expression in a time zone, or a fixed interval.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The shortest interval accepted: a sub-second schedule is a typo, not a sync cadence.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// When a kind of sync runs: a cron expression evaluated in a time zone, or an interval.
///
/// Parsed from text: anything with spaces (or an `@daily`-style nickname) is cron, anything
/// else an interval (`"30s"`, `"15m"`, `"1h30m"`, `"1d"`). [`Spec::next_after`] gives the next
/// time either one falls due; [`Display`](fmt::Display) gives back the text it was parsed from.
#[derive(Clone, Debug)]
pub enum Spec {
    /// Fixed wall-clock times in a time zone.
    Cron(CronSpec),
    /// A fixed delay, measured from the end of the previous run (so a slow run is never
    /// followed at once by the next one).
    Interval(Duration),
}

/// A parsed 5-field cron expression and the time zone it is read in.
#[derive(Clone, Debug)]
pub struct CronSpec {
    text: String,
    // Shared: a parsed expression is some 300 bytes, and specs are cloned with every reload.
    cron: Arc<Cron>,
    tz: Tz,
}

impl CronSpec {
    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.text
    }

    /// The time zone the expression's wall-clock times are read in.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }
}

/// Why a schedule or a time zone did not parse. Messages say what was wrong and what is
/// accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// Nothing but whitespace.
    #[error(
        "empty schedule; expected an interval such as \"15m\" or a 5-field cron expression such as \"0 3 * * 0\""
    )]
    Empty,
    /// Text without spaces that is not a duration.
    #[error(
        "invalid interval `{text}`: {reason}; expected a duration such as \"30s\", \"15m\", \"1h30m\" or \"1d\", or a 5-field cron expression such as \"0 3 * * 0\""
    )]
    Interval {
        /// The text as written.
        text: String,
        /// What the duration parser said, lowercase.
        reason: String,
    },
    /// An interval below [`MIN_INTERVAL`].
    #[error("interval `{text}` is shorter than one second; expected at least \"1s\"")]
    IntervalTooShort {
        /// The text as written.
        text: String,
    },
    /// A cron expression with other than 5 fields (seconds and years are not accepted).
    #[error(
        "cron expression `{text}` has {fields} fields; expected 5: minute hour day-of-month month day-of-week"
    )]
    FieldCount {
        /// The text as written.
        text: String,
        /// How many fields it has.
        fields: usize,
    },
    /// Five fields, but one of them is wrong.
    #[error(
        "invalid cron expression `{text}`: {reason}; expected 5 fields: minute (0-59) hour (0-23) day-of-month (1-31) month (1-12 or jan-dec) day-of-week (0-7 or sun-sat)"
    )]
    Cron {
        /// The text as written.
        text: String,
        /// What the cron parser said, lowercase.
        reason: String,
    },
    /// A valid expression that names no real time, such as the 30th of February.
    #[error("cron expression `{text}` never matches a real date")]
    NeverMatches {
        /// The text as written.
        text: String,
    },
    /// Not an IANA time zone name.
    #[error(
        "unknown time zone `{name}`; expected an IANA name such as \"UTC\", \"Europe/Berlin\" or \"America/New_York\""
    )]
    TimeZone {
        /// The name as written.
        name: String,
    },
}

/// Parses an IANA time zone name (`"Europe/Berlin"`, `"UTC"`).
pub fn parse_time_zone(name: &str) -> Result<Tz, SpecError> {
    name.trim().parse::<Tz>().map_err(|_| SpecError::TimeZone {
        name: name.to_owned(),
    })
}

/// An error message of a dependency in this crate's style: lowercase, no trailing period.
fn our_style(message: &str) -> String {
    let message = message.trim().trim_end_matches('.');
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The names of the five cron fields, in order.
const CRON_FIELDS: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];

/// croner's reason, with the field it concerns: its messages ("number out of bounds") do not
/// say which of the five fields is wrong. Found by parsing each field alone among wildcards.
fn cron_reason(text: &str, reason: &str) -> String {
    let reason = our_style(reason).to_lowercase();
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.len() != CRON_FIELDS.len() {
        return reason;
    }
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    for (i, field) in fields.iter().enumerate() {
        let mut alone = ["*"; 5];
        alone[i] = field;
        if parser.parse(&alone.join(" ")).is_err() {
            return format!("{} field `{field}`: {reason}", CRON_FIELDS[i]);
        }
    }
    reason
}

impl Spec {
    /// Parses a schedule; a cron expression is read in `tz`.
    pub fn parse(text: &str, tz: Tz) -> Result<Spec, SpecError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(SpecError::Empty);
        }
        let is_cron = trimmed.starts_with('@') || trimmed.contains(char::is_whitespace);
        if !is_cron {
            let every = humantime::parse_duration(trimmed).map_err(|e| SpecError::Interval {
                text: trimmed.to_owned(),
                reason: our_style(&e.to_string()),
            })?;
            if every < MIN_INTERVAL {
                return Err(SpecError::IntervalTooShort {
                    text: trimmed.to_owned(),
                });
            }
            return Ok(Spec::Interval(every));
        }
        let fields = trimmed.split_whitespace().count();
        if !trimmed.starts_with('@') && fields != 5 {
            return Err(SpecError::FieldCount {
                text: trimmed.to_owned(),
                fields,
            });
        }
        // Seconds and years disallowed: the schedules are classic 5-field cron, and a
        // sixth field is far more often a mistake than a wish for per-second syncs.
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(trimmed)
            .map_err(|e| SpecError::Cron {
                text: trimmed.to_owned(),
                reason: cron_reason(trimmed, &e.to_string()),
            })?;
        let spec = CronSpec {
            text: trimmed.to_owned(),
            cron: Arc::new(cron),
            tz,
        };
        // An expression that never matches would leave its kind silently unscheduled: refuse it
        // at load time instead. Any fixed start works: croner searches years ahead.
        let probe = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
        if probe.and_then(|t| spec.next_after(t)).is_none() {
            return Err(SpecError::NeverMatches {
                text: trimmed.to_owned(),
            });
        }
        Ok(Spec::Cron(spec))
    }

    /// The first time strictly after `t` at which this schedule falls due; `None` only for a
    /// cron expression with no later match that croner can find.
    ///
    /// For an interval, `t + interval`. For cron, the next matching wall-clock minute in the
    /// time zone, with croner's daylight-saving rules: a time skipped by the spring-forward
    /// change fires once, at the first valid time after the gap (02:30 becomes 03:00); a time
    /// repeated by the fall-back change fires once, at its first occurrence.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Spec::Interval(every) => chrono::Duration::from_std(*every)
                .ok()
                .and_then(|d| t.checked_add_signed(d)),
            Spec::Cron(spec) => spec.next_after(t),
        }
    }

    /// How long the slot at `at` lasts until the one after it: the interval, or the gap to the
    /// next cron match. Jitter given as a fraction is a fraction of this.
    pub fn period_after(&self, at: DateTime<Utc>) -> Duration {
        match self {
            Spec::Interval(every) => *every,
            Spec::Cron(spec) => spec
                .next_after(at)
                .and_then(|next| (next - at).to_std().ok())
                .unwrap_or(Duration::ZERO),
        }
    }
}

impl CronSpec {
    fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut from = t.with_timezone(&self.tz);
        // croner searches by local wall-clock time and resolves a repeated (fall-back) local
        // time to its first instant. Started from inside the repeated hour, that instant can lie
        // before `t` (the 02:30 that already ran an hour ago); taking it would run a job twice
        // on fall-back day. Search on from the found match until one lies after `t`: each step
        // moves forward in local time, and a repeated hour holds at most 60 matches.
        for _ in 0..128 {
            let next = self.cron.find_next_occurrence(&from, false).ok()?;
            let next_utc = next.with_timezone(&Utc);
            if next_utc > t {
                return Some(next_utc);
            }
            from = next;
        }
        None
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spec::Cron(spec) => f.write_str(&spec.text),
            Spec::Interval(every) => write!(f, "{}", humantime::format_duration(*every)),
        }
    }
}

/// Parses with cron read in UTC; use [`Spec::parse`] for another time zone.
impl FromStr for Spec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Spec::parse(s, Tz::UTC)
    }
}

impl PartialEq for Spec {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Spec::Interval(a), Spec::Interval(b)) => a == b,
            (Spec::Cron(a), Spec::Cron(b)) => a.text == b.text && a.tz == b.tz,
            _ => false,
        }
    }
}

impl Eq for Spec {}

impl Serialize for Spec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// From a string, cron read in UTC: a config with a time zone goes through
/// [`ScheduleConfig`](crate::ScheduleConfig), which applies it.
impl<'de> Deserialize<'de> for Spec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
