//! Per-source schedule config: the `schedule` table as written, defaults per source type,
//! validation with key paths, and the resolved [`SourceSchedule`] the scheduler runs.

use std::fmt;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::jitter::{Jitter, MAX_JITTER, MAX_JITTER_FRACTION};
use crate::kind::SyncKind;
use crate::spec::{Spec, parse_time_zone};

/// The word that turns one kind of sync off for a source (`full = "off"`).
pub const OFF: &str = "off";

/// A source's `schedule` table as written in the config file: every key optional, strings kept
/// as written so that [`ScheduleConfig::validate`] can report every problem at once.
///
/// ```toml
/// [sources.docs.schedule]
/// content = "15m"          # an interval: 30s, 15m, 1h30m, 1d
/// full = "0 3 * * 0"       # a 5-field cron expression, read in time_zone
/// permissions = "off"      # this kind never runs on a schedule
/// time_zone = "Europe/Berlin"
/// jitter = "30s"           # or a fraction of the period: 0.1, or "10%"
/// run_at_start = true
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// The content (incremental) sync: a spec, or `"off"`.
    pub content: Option<String>,
    /// The full reconcile: a spec, or `"off"`.
    pub full: Option<String>,
    /// The permission sync: a spec, or `"off"`.
    pub permissions: Option<String>,
    /// The identity sync: a spec, or `"off"`.
    pub identities: Option<String>,
    /// The IANA time zone cron expressions are read in; UTC if absent.
    pub time_zone: Option<String>,
    /// Jitter: a duration (`"30s"`), a fraction of the period (`0.1` or `"10%"`), or `"off"`.
    pub jitter: Option<JitterSetting>,
    /// Whether the content, permission and identity syncs run as soon as the scheduler starts
    /// (or the source appears on a reload).
    pub run_at_start: Option<bool>,
}

/// The `jitter` key as written: TOML text or a number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JitterSetting {
    /// `"30s"`, `"10%"` or `"off"`.
    Text(String),
    /// A fraction of the period, such as `0.1`.
    Fraction(f64),
}

/// One problem with a schedule table, with the key path it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleProblem {
    /// Dotted key path, the caller's prefix and the key: `sources.docs.schedule.full`.
    pub key: String,
    /// What is wrong and what is accepted, lowercase.
    pub message: String,
}

impl fmt::Display for ScheduleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// The resolved schedule of one source: what the [`Scheduler`](crate::Scheduler) runs.
///
/// `None` for a kind means it never runs on a schedule (and cannot be triggered).
#[derive(Clone, Debug, PartialEq)]
pub struct SourceSchedule {
    /// The content (incremental) sync.
    pub content: Option<Spec>,
    /// The full reconcile; it covers a content sync.
    pub full: Option<Spec>,
    /// The permission sync.
    pub permissions: Option<Spec>,
    /// The identity sync.
    pub identities: Option<Spec>,
    /// The time zone the cron specs above were read in.
    pub time_zone: Tz,
    /// Random delay added to each slot.
    pub jitter: Jitter,
    /// Whether content, permissions and identities run at once when the source is first
    /// scheduled. Full waits for its slot: it is the expensive one, and a daemon restart
    /// should not cost a full reconcile of every source.
    pub run_at_start: bool,
}

impl SourceSchedule {
    /// The spec of one kind.
    pub fn spec(&self, kind: SyncKind) -> Option<&Spec> {
        match kind {
            SyncKind::Content => self.content.as_ref(),
            SyncKind::Full => self.full.as_ref(),
            SyncKind::Permissions => self.permissions.as_ref(),
            SyncKind::Identities => self.identities.as_ref(),
        }
    }

    /// The defaults of a source type, in UTC: what an empty `schedule` table gives.
    pub fn defaults_for(source_type: &str) -> SourceSchedule {
        ScheduleConfig::default()
            .resolve(source_type, "schedule")
            .unwrap_or_else(|_| unreachable_defaults())
    }
}

/// Defaults are constants checked by a test; this is only the type system's due.
fn unreachable_defaults() -> SourceSchedule {
    SourceSchedule {
        content: None,
        full: None,
        permissions: None,
        identities: None,
        time_zone: Tz::UTC,
        jitter: Jitter::default(),
        run_at_start: true,
    }
}

/// The default specs of one source type, as text: content, full, permissions, identities.
struct Defaults([Option<&'static str>; 4]);

/// Weekly full reconcile, Sunday 03:00: a quiet hour on a quiet day in most places.
const WEEKLY: &str = "0 3 * * 0";
/// Daily full reconcile at 02:00.
const DAILY: &str = "0 2 * * *";

/// The default schedules of a source type (the `type` of a source in the config). Why each:
///
/// - `filesystem`: content every minute (with the change journal a run reads only what
///   changed, so it is cheap), a weekly full to catch what the journal missed; no directory
///   and no separate permissions.
/// - `s3`: listing a bucket is the only way to see changes, so content every 15 minutes; a
///   weekly full.
/// - `google-drive`: the change feed reports content and permission changes alike, so no
///   separate permission sync; content every 10 minutes, a weekly full, identities hourly.
/// - `sharepoint`: its delta feed misses permission changes (broken inheritance, site
///   membership), so permissions hourly; content every 10 minutes, a daily full, identities
///   hourly.
/// - `slack`: channel membership is the permission and changes without messages; the
///   connector reads it in its identity sync (ADR 0022), so identities every 30 minutes;
///   content every 5 minutes (chat is expected fresh), a weekly full (deletions older than
///   the reconcile window).
/// - `jira`: permission schemes and project roles change without touching issues, so
///   permissions hourly; content every 10 minutes, a daily full, identities hourly.
/// - `servicenow`: roles and ACL rules are separate from records, so permissions hourly;
///   content every 15 minutes, a weekly full, identities hourly.
/// - `push`: nothing: its documents arrive through the daemon's API in jobs its client
///   starts (ADR 0026), so no kind runs on a schedule.
/// - any other type: content every 15 minutes and a weekly full, nothing else until configured.
pub fn defaults_for(source_type: &str) -> SourceSchedule {
    SourceSchedule::defaults_for(source_type)
}

fn default_texts(source_type: &str) -> Defaults {
    let d = |content, full, permissions, identities| {
        Defaults([Some(content), Some(full), permissions, identities])
    };
    match source_type {
        "filesystem" => d("1m", WEEKLY, None, None),
        "s3" => d("15m", WEEKLY, None, None),
        "google-drive" => d("10m", WEEKLY, None, Some("1h")),
        "sharepoint" => d("10m", DAILY, Some("1h"), Some("1h")),
        "slack" => d("5m", WEEKLY, None, Some("30m")),
        "jira" => d("10m", DAILY, Some("1h"), Some("1h")),
        "servicenow" => d("15m", WEEKLY, Some("1h"), Some("1h")),
        "push" => Defaults([None, None, None, None]),
        _ => d("15m", WEEKLY, None, None),
    }
}

impl ScheduleConfig {
    fn setting(&self, kind: SyncKind) -> Option<&str> {
        match kind {
            SyncKind::Content => self.content.as_deref(),
            SyncKind::Full => self.full.as_deref(),
            SyncKind::Permissions => self.permissions.as_deref(),
            SyncKind::Identities => self.identities.as_deref(),
        }
    }

    /// Every problem in the table, each with its key path under `prefix` (the table's own
    /// path, such as `sources.docs.schedule`). Pure: no I/O, no clock.
    pub fn validate(&self, prefix: &str) -> Vec<ScheduleProblem> {
        match self.resolve("", prefix) {
            Ok(_) => Vec::new(),
            Err(problems) => problems,
        }
    }

    /// The schedule of a source of type `source_type`: its defaults, overridden by every key
    /// given here. Fails with every problem (the same as [`ScheduleConfig::validate`]).
    pub fn resolve(
        &self,
        source_type: &str,
        prefix: &str,
    ) -> Result<SourceSchedule, Vec<ScheduleProblem>> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(ScheduleProblem {
                key: format!("{prefix}.{key}"),
                message,
            });
        };
        // A bad time zone is reported once; the cron specs are still checked, in UTC, so
        // that their own problems show in the same pass.
        let time_zone = match self.time_zone.as_deref().map(parse_time_zone) {
            None => Tz::UTC,
            Some(Ok(tz)) => tz,
            Some(Err(e)) => {
                problem("time_zone", e.to_string());
                Tz::UTC
            }
        };
        let defaults = default_texts(source_type);
        let mut specs: [Option<Spec>; 4] = Default::default();
        for (i, kind) in SyncKind::ALL.into_iter().enumerate() {
            let text = match self.setting(kind) {
                Some(text) => text,
                None => match defaults.0[i] {
                    Some(text) => text,
                    None => continue,
                },
            };
            if text.trim() == OFF {
                continue;
            }
            match Spec::parse(text, time_zone) {
                Ok(spec) => specs[i] = Some(spec),
                Err(e) => problem(kind.name(), format!("{e}; or \"{OFF}\" to turn it off")),
            }
        }
        let jitter = match &self.jitter {
            None => Jitter::default(),
            Some(setting) => match parse_jitter(setting) {
                Ok(jitter) => jitter,
                Err(message) => {
                    problem("jitter", message);
                    Jitter::default()
                }
            },
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let [content, full, permissions, identities] = specs;
        Ok(SourceSchedule {
            content,
            full,
            permissions,
            identities,
            time_zone,
            jitter,
            run_at_start: self.run_at_start.unwrap_or(true),
        })
    }
}

const JITTER_ACCEPTED: &str = "expected a duration up to 1h such as \"30s\", a fraction of the period up to 0.5 such as 0.1 or \"10%\", or \"off\"";

fn parse_jitter(setting: &JitterSetting) -> Result<Jitter, String> {
    let fraction = |f: f64, written: &str| {
        if (0.0..=MAX_JITTER_FRACTION).contains(&f) {
            Ok(Jitter::Fraction(f))
        } else {
            Err(format!(
                "jitter {written} is out of range; {JITTER_ACCEPTED}"
            ))
        }
    };
    match setting {
        JitterSetting::Fraction(f) => fraction(*f, &f.to_string()),
        JitterSetting::Text(text) => {
            let text = text.trim();
            if text == OFF {
                return Ok(Jitter::OFF);
            }
            if let Some(percent) = text.strip_suffix('%') {
                return match percent.trim().parse::<f64>() {
                    Ok(p) => fraction(p / 100.0, text),
                    Err(_) => Err(format!("invalid jitter `{text}`; {JITTER_ACCEPTED}")),
                };
            }
            match humantime::parse_duration(text) {
                Ok(d) if d <= MAX_JITTER => Ok(Jitter::Duration(d)),
                Ok(_) => Err(format!("jitter `{text}` is over 1h; {JITTER_ACCEPTED}")),
                Err(e) => Err(format!("invalid jitter `{text}`: {e}; {JITTER_ACCEPTED}")),
            }
        }
    }
}

#[cfg(test)]
mod tests;
