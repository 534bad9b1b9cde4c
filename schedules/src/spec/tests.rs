use super::*;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("bad test time {text}: {e}"))
        .with_timezone(&Utc)
}

/// The next `expected.len()` times `text` (in `tz`) falls due after `from`, each after the
/// previous one, compared as RFC 3339 UTC strings so a failure shows the whole sequence.
#[track_caller]
fn check(text: &str, tz: &str, from: &str, expected: &[&str]) {
    let tz = parse_time_zone(tz).expect("test time zone");
    let spec = Spec::parse(text, tz).unwrap_or_else(|e| panic!("{text}: {e}"));
    let mut t = utc(from);
    let mut got = Vec::new();
    for _ in expected {
        t = spec
            .next_after(t)
            .unwrap_or_else(|| panic!("{text}: no time after {t}"));
        got.push(t.to_rfc3339());
    }
    let expected: Vec<String> = expected.iter().map(|e| utc(e).to_rfc3339()).collect();
    assert_eq!(got, expected, "{text} in {tz} after {from}");
}

#[track_caller]
fn check_error(text: &str, expected: &str) {
    match text.parse::<Spec>() {
        Ok(spec) => panic!("{text:?} parsed as {spec:?}, expected the error {expected:?}"),
        Err(e) => assert_eq!(e.to_string(), expected, "{text:?}"),
    }
}

#[test]
fn intervals() {
    check(
        "30s",
        "UTC",
        "2024-05-01T10:00:00Z",
        &["2024-05-01T10:00:30Z", "2024-05-01T10:01:00Z"],
    );
    check(
        "15m",
        "UTC",
        "2024-05-01T10:00:07Z",
        &["2024-05-01T10:15:07Z"],
    );
    check(
        "1h30m",
        "UTC",
        "2024-05-01T10:00:00Z",
        &["2024-05-01T11:30:00Z", "2024-05-01T13:00:00Z"],
    );
    check(
        "1d",
        "UTC",
        "2024-05-01T10:00:00Z",
        &["2024-05-02T10:00:00Z"],
    );
    // An interval is elapsed time: a DST change does not move it (a day is 24 hours even on
    // the 23-hour day in Berlin).
    check(
        "1d",
        "Europe/Berlin",
        "2024-03-30T12:00:00Z",
        &["2024-03-31T12:00:00Z"],
    );
    assert_eq!(
        "1h30m".parse::<Spec>(),
        Ok(Spec::Interval(Duration::from_secs(5400)))
    );
    assert_eq!(
        "1h30m".parse::<Spec>().map(|s| s.to_string()),
        Ok("1h 30m".to_owned())
    );
}

#[test]
fn cron_in_utc_and_in_a_time_zone() {
    check(
        "0 3 * * 0",
        "UTC",
        "2024-05-01T00:00:00Z",
        &["2024-05-05T03:00:00Z", "2024-05-12T03:00:00Z"],
    );
    check(
        "*/15 * * * *",
        "UTC",
        "2024-05-01T10:07:00Z",
        &["2024-05-01T10:15:00Z", "2024-05-01T10:30:00Z"],
    );
    // 03:00 in Berlin is 01:00 UTC in summer, 02:00 UTC in winter.
    check(
        "0 3 * * *",
        "Europe/Berlin",
        "2024-07-01T12:00:00Z",
        &["2024-07-02T01:00:00Z"],
    );
    check(
        "0 3 * * *",
        "Europe/Berlin",
        "2024-12-01T12:00:00Z",
        &["2024-12-02T02:00:00Z"],
    );
    check(
        "@daily",
        "America/New_York",
        "2024-07-01T12:00:00Z",
        &["2024-07-02T04:00:00Z"],
    );
    // Strictly after: a time that matches is not its own next time.
    check(
        "0 3 * * *",
        "UTC",
        "2024-05-01T03:00:00Z",
        &["2024-05-02T03:00:00Z"],
    );
    // Names of days and months, any case.
    check(
        "0 9 * jan mon",
        "UTC",
        "2024-01-01T09:30:00Z",
        &["2024-01-08T09:00:00Z"],
    );
}

#[test]
fn spring_forward_runs_a_skipped_time_once_after_the_gap() {
    // Europe/Berlin, 2024-03-31: 02:00 CET becomes 03:00 CEST, so 02:30 does not exist. croner
    // runs a fixed-time job once, at the first valid time after the gap (03:00 CEST = 01:00Z),
    // and the next day at 02:30 CEST again.
    check(
        "30 2 * * *",
        "Europe/Berlin",
        "2024-03-29T12:00:00Z",
        &[
            "2024-03-30T01:30:00Z",
            "2024-03-31T01:00:00Z",
            "2024-04-01T00:30:00Z",
        ],
    );
    // America/New_York, 2024-03-10: 02:00 EST becomes 03:00 EDT.
    check(
        "30 2 * * *",
        "America/New_York",
        "2024-03-09T12:00:00Z",
        &["2024-03-10T07:00:00Z", "2024-03-11T06:30:00Z"],
    );
}

#[test]
fn fall_back_runs_a_repeated_time_once() {
    // Europe/Berlin, 2024-10-27: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice (00:30Z
    // and 01:30Z). The job runs once, at the first; the next run is the next day.
    check(
        "30 2 * * *",
        "Europe/Berlin",
        "2024-10-26T12:00:00Z",
        &["2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"],
    );
    // America/New_York, 2024-11-03: 02:00 EDT becomes 01:00 EST; 01:30 happens twice.
    check(
        "30 1 * * *",
        "America/New_York",
        "2024-11-02T12:00:00Z",
        &["2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z"],
    );
}

#[test]
fn fall_back_from_inside_the_repeated_hour_does_not_run_again() {
    // Regression: croner resolves the repeated 02:30 to its first instant even when asked
    // from the second pass of the hour, an instant before `t`. A scheduler that finished the
    // 00:30Z run at 01:05Z (02:05 CET, second pass) would have run the job again at once.
    check(
        "30 2 * * *",
        "Europe/Berlin",
        "2024-10-27T01:05:00Z",
        &["2024-10-28T01:30:00Z"],
    );
    check(
        "30 1 * * *",
        "America/New_York",
        "2024-11-03T06:10:00Z",
        &["2024-11-04T06:30:00Z"],
    );
}

#[test]
fn fall_back_runs_each_wall_clock_minute_of_a_stepped_job_once() {
    // A stepped job names wall-clock minutes too: in the repeated hour each fires once, at its
    // first occurrence, so "every 15 minutes" leaves a one-hour gap on fall-back day. An
    // interval ("15m") is the schedule for even spacing.
    check(
        "*/15 * * * *",
        "Europe/Berlin",
        "2024-10-26T23:50:00Z",
        &[
            "2024-10-27T00:00:00Z",
            "2024-10-27T00:15:00Z",
            "2024-10-27T00:30:00Z",
            "2024-10-27T00:45:00Z",
            "2024-10-27T02:00:00Z",
        ],
    );
}

#[test]
fn period_after_is_the_gap_to_the_next_slot() {
    let weekly = "0 3 * * 0".parse::<Spec>().expect("cron");
    assert_eq!(
        weekly.period_after(utc("2024-05-05T03:00:00Z")),
        Duration::from_secs(7 * 86400)
    );
    let every = "15m".parse::<Spec>().expect("interval");
    assert_eq!(
        every.period_after(utc("2024-05-05T03:00:00Z")),
        Duration::from_secs(900)
    );
}

#[test]
fn errors_say_what_is_wrong_and_what_is_accepted() {
    check_error(
        "  ",
        "empty schedule; expected an interval such as \"15m\" or a 5-field cron expression such as \"0 3 * * 0\"",
    );
    check_error(
        "15",
        "invalid interval `15`: time unit needed, for example 15sec or 15ms; expected a duration such as \"30s\", \"15m\", \"1h30m\" or \"1d\", or a 5-field cron expression such as \"0 3 * * 0\"",
    );
    check_error(
        "500ms",
        "interval `500ms` is shorter than one second; expected at least \"1s\"",
    );
    check_error(
        "0 0 3 * * 0",
        "cron expression `0 0 3 * * 0` has 6 fields; expected 5: minute hour day-of-month month day-of-week",
    );
    check_error(
        "0 25 * * *",
        "invalid cron expression `0 25 * * *`: hour field `25`: component error: number out of bounds; expected 5 fields: minute (0-59) hour (0-23) day-of-month (1-31) month (1-12 or jan-dec) day-of-week (0-7 or sun-sat)",
    );
    check_error(
        "* * * foo *",
        "invalid cron expression `* * * foo *`: month field `foo`: pattern contains illegal characters: cronpattern contains illegal character 'f' in part 'foo'; expected 5 fields: minute (0-59) hour (0-23) day-of-month (1-31) month (1-12 or jan-dec) day-of-week (0-7 or sun-sat)",
    );
    check_error(
        "0 0 30 2 *",
        "cron expression `0 0 30 2 *` never matches a real date",
    );
    assert_eq!(
        parse_time_zone("Mars/Olympus").map_err(|e| e.to_string()),
        Err("unknown time zone `Mars/Olympus`; expected an IANA name such as \"UTC\", \"Europe/Berlin\" or \"America/New_York\"".to_owned())
    );
}
