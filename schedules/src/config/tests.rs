use super::*;
use std::time::Duration;

/// One line per schedule, so a test states the whole resolved result.
fn describe(s: &SourceSchedule) -> String {
    let spec = |kind| s.spec(kind).map_or(OFF.to_owned(), |spec| spec.to_string());
    format!(
        "content={} full={} permissions={} identities={} tz={} jitter={:?} run_at_start={}",
        spec(SyncKind::Content),
        spec(SyncKind::Full),
        spec(SyncKind::Permissions),
        spec(SyncKind::Identities),
        s.time_zone,
        s.jitter,
        s.run_at_start
    )
}

fn table(toml_text: &str) -> ScheduleConfig {
    toml::from_str(toml_text).unwrap_or_else(|e| panic!("{toml_text}: {e}"))
}

/// Resolves the `schedule` table `toml_text` for a source of `source_type` and compares the
/// result with `expected` (a [`describe`] line), or its problems with `expected` (one
/// `key: message` per line).
#[track_caller]
fn check(toml_text: &str, source_type: &str, expected: &str) {
    let config = table(toml_text);
    let got = match config.resolve(source_type, "sources.docs.schedule") {
        Ok(schedule) => describe(&schedule),
        Err(problems) => problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    };
    assert_eq!(got, expected.trim(), "{toml_text}");
    // validate() says the same as resolve(), and nothing when it resolves.
    let problems = config.validate("sources.docs.schedule");
    assert_eq!(problems.is_empty(), !got.contains(": "), "{problems:?}");
}

#[test]
fn defaults_per_source_type() {
    check(
        "",
        "filesystem",
        "content=1m full=0 3 * * 0 permissions=off identities=off tz=UTC jitter=Duration(30s) run_at_start=true",
    );
    check(
        "",
        "s3",
        "content=15m full=0 3 * * 0 permissions=off identities=off tz=UTC jitter=Duration(30s) run_at_start=true",
    );
    check(
        "",
        "google-drive",
        "content=10m full=0 3 * * 0 permissions=off identities=1h tz=UTC jitter=Duration(30s) run_at_start=true",
    );
    check(
        "",
        "sharepoint",
        "content=10m full=0 2 * * * permissions=1h identities=1h tz=UTC jitter=Duration(30s) run_at_start=true",
    );
    check(
        "",
        "slack",
        "content=5m full=0 3 * * 0 permissions=off identities=30m tz=UTC jitter=Duration(30s) run_at_start=true",
    );
    check(
        "",
        "jira",
        "content=10m full=0 2 * * * permissions=1h identities=1h tz=UTC jitter=Duration(30s) run_at_start=true",
    );
    check(
        "",
        "servicenow",
        "content=15m full=0 3 * * 0 permissions=1h identities=1h tz=UTC jitter=Duration(30s) run_at_start=true",
    );
    check(
        "",
        "wiki",
        "content=15m full=0 3 * * 0 permissions=off identities=off tz=UTC jitter=Duration(30s) run_at_start=true",
    );
    assert_eq!(defaults_for("s3"), SourceSchedule::defaults_for("s3"));
    assert_eq!(
        defaults_for("s3").content,
        Some(Spec::Interval(Duration::from_secs(900)))
    );
}

#[test]
fn explicit_values_override_defaults_and_off_turns_a_kind_off() {
    check(
        r#"
content = "15m"
full = "off"
identities = "30 */2 * * *"
time_zone = "Europe/Berlin"
jitter = 0.1
run_at_start = false
"#,
        "google-drive",
        "content=15m full=off permissions=off identities=30 */2 * * * tz=Europe/Berlin jitter=Fraction(0.1) run_at_start=false",
    );
    check(
        r#"jitter = "10%""#,
        "s3",
        "content=15m full=0 3 * * 0 permissions=off identities=off tz=UTC jitter=Fraction(0.1) run_at_start=true",
    );
    check(
        r#"jitter = "off""#,
        "s3",
        "content=15m full=0 3 * * 0 permissions=off identities=off tz=UTC jitter=Duration(0ns) run_at_start=true",
    );
    check(
        r#"jitter = 0"#,
        "s3",
        "content=15m full=0 3 * * 0 permissions=off identities=off tz=UTC jitter=Fraction(0.0) run_at_start=true",
    );
}

#[test]
fn the_time_zone_applies_to_default_cron_specs_too() {
    let config = table(r#"time_zone = "America/New_York""#);
    let schedule = config.resolve("s3", "s").expect("valid");
    let Some(Spec::Cron(full)) = &schedule.full else {
        panic!("s3's default full is cron: {schedule:?}")
    };
    assert_eq!(full.time_zone(), chrono_tz::America::New_York);
}

#[test]
fn validate_reports_every_problem_with_its_key_path() {
    check(
        r#"
content = "15"
full = "0 3 * * * *"
permissions = ""
identities = "1h"
time_zone = "Europe/Berln"
jitter = "2h"
"#,
        "s3",
        r#"
sources.docs.schedule.time_zone: unknown time zone `Europe/Berln`; expected an IANA name such as "UTC", "Europe/Berlin" or "America/New_York"
sources.docs.schedule.content: invalid interval `15`: time unit needed, for example 15sec or 15ms; expected a duration such as "30s", "15m", "1h30m" or "1d", or a 5-field cron expression such as "0 3 * * 0"; or "off" to turn it off
sources.docs.schedule.full: cron expression `0 3 * * * *` has 6 fields; expected 5: minute hour day-of-month month day-of-week; or "off" to turn it off
sources.docs.schedule.permissions: empty schedule; expected an interval such as "15m" or a 5-field cron expression such as "0 3 * * 0"; or "off" to turn it off
sources.docs.schedule.jitter: jitter `2h` is over 1h; expected a duration up to 1h such as "30s", a fraction of the period up to 0.5 such as 0.1 or "10%", or "off"
"#,
    );
    check(
        "jitter = 0.75",
        "s3",
        r#"sources.docs.schedule.jitter: jitter 0.75 is out of range; expected a duration up to 1h such as "30s", a fraction of the period up to 0.5 such as 0.1 or "10%", or "off""#,
    );
    check(
        r#"jitter = "soon""#,
        "s3",
        r#"sources.docs.schedule.jitter: invalid jitter `soon`: expected number at 0; expected a duration up to 1h such as "30s", a fraction of the period up to 0.5 such as 0.1 or "10%", or "off""#,
    );
}

#[test]
fn unknown_keys_are_refused() {
    let err = toml::from_str::<ScheduleConfig>(r#"contents = "15m""#)
        .expect_err("unknown key")
        .to_string();
    assert!(err.contains("unknown field `contents`"), "{err}");
}
