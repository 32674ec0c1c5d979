//! The window rules of the module documentation, each with a clock change that tests it.

use super::*;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn window(cron: &str, duration: &str, tz: &str) -> TimeWindow {
    TimeWindow::new("w", cron, duration, tz).unwrap()
}

fn active(w: &TimeWindow, t: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    w.is_active(at(t)).map(|a| (a.started, a.ends))
}

#[test]
fn a_daily_window_is_active_from_its_start_to_before_its_end() {
    let w = window("cron(0 2 * * ? *)", "2h", "UTC");
    assert_eq!(active(&w, "2026-11-23T01:59:59Z"), None);
    let span = Some((at("2026-11-23T02:00:00Z"), at("2026-11-23T04:00:00Z")));
    assert_eq!(active(&w, "2026-11-23T02:00:00Z"), span, "the start is in");
    assert_eq!(active(&w, "2026-11-23T03:59:59Z"), span);
    assert_eq!(active(&w, "2026-11-23T04:00:00Z"), None, "the end is out");
    assert_eq!(
        w.next_start(at("2026-11-23T02:00:00Z")),
        Some(at("2026-11-24T02:00:00Z")),
        "strictly after"
    );
    assert_eq!(w.is_active(at("2026-11-23T03:00:00Z")).unwrap().name, "w");
}

/// New York springs forward on 8 March 2026: 02:00 EST becomes 03:00 EDT, so 02:30 never
/// happens. The window starts when the clock jumps past it, and keeps its hour.
#[test]
fn a_start_the_clock_skips_happens_at_the_end_of_the_gap() {
    let w = window("30 2 * * ? *", "1h", "America/New_York");
    let day_before = at("2026-03-07T07:30:00Z"); // 02:30 EST
    let jump = at("2026-03-08T07:00:00Z"); // 03:00 EDT, the transition
    let day_after = at("2026-03-09T06:30:00Z"); // 02:30 EDT
    assert_eq!(w.next_start(day_before), Some(jump));
    assert_eq!(w.next_start(jump), Some(day_after));
    assert_eq!(active(&w, "2026-03-08T06:59:59Z"), None, "01:59 EST");
    assert_eq!(
        active(&w, "2026-03-08T07:59:59Z"),
        Some((jump, at("2026-03-08T08:00:00Z")))
    );
    assert_eq!(active(&w, "2026-03-08T08:00:00Z"), None, "04:00 EDT");
    // Several starts in one gap are one start (Berlin: 02:00 CET to 03:00 CEST on 29 March).
    let w = window("*/15 2 * * ? *", "10m", "Europe/Berlin");
    let jump = at("2026-03-29T01:00:00Z");
    assert_eq!(w.next_start(at("2026-03-29T00:00:00Z")), Some(jump));
    assert_eq!(w.next_start(jump), Some(at("2026-03-30T00:00:00Z")));
}

/// New York falls back on 1 November 2026: 02:00 EDT becomes 01:00 EST, so 01:00-01:59 is
/// shown twice.
#[test]
fn a_start_the_clock_shows_twice_happens_once_and_lengths_are_real_time() {
    let w = window("30 1 * * ? *", "30m", "America/New_York");
    let first = at("2026-11-01T05:30:00Z"); // 01:30 EDT
    assert_eq!(w.next_start(at("2026-11-01T00:00:00Z")), Some(first));
    assert_eq!(
        w.next_start(first),
        Some(at("2026-11-02T06:30:00Z")),
        "not again at 01:30 EST"
    );
    assert_eq!(active(&w, "2026-11-01T06:40:00Z"), None, "01:40 EST");
    // A window across the repeated hour lasts its duration of real time: 00:30 EDT + 3h ends
    // at 02:30 EST by the clock.
    let w = window("30 0 * * ? *", "3h", "America/New_York");
    let span = Some((at("2026-11-01T04:30:00Z"), at("2026-11-01T07:30:00Z")));
    assert_eq!(
        active(&w, "2026-11-01T06:15:00Z"),
        span,
        "01:15 EST, second pass"
    );
    assert_eq!(active(&w, "2026-11-01T07:29:59Z"), span);
    assert_eq!(active(&w, "2026-11-01T07:30:00Z"), None);
}

/// Samoa skipped 30 December 2011 (UTC-10 to UTC+14): that day's start comes at local
/// midnight of the 31st, the 31st's own two hours later.
#[test]
fn a_skipped_day_still_has_its_window() {
    let w = window("0 2 * * ? 2011", "1h", "Pacific/Apia");
    let skipped = at("2011-12-30T10:00:00Z");
    assert_eq!(w.next_start(at("2011-12-29T12:00:00Z")), Some(skipped));
    assert_eq!(w.next_start(skipped), Some(at("2011-12-30T12:00:00Z")));
    assert_eq!(
        w.next_start(at("2011-12-31T00:00:00Z")),
        None,
        "2011 is over"
    );
}

#[test]
fn overlapping_occurrences_report_the_latest_begun() {
    let w = window("0 * * * ? *", "2h", "UTC");
    assert_eq!(
        active(&w, "2026-11-23T10:30:00Z"),
        Some((at("2026-11-23T10:00:00Z"), at("2026-11-23T12:00:00Z")))
    );
}

#[test]
fn monthly_windows_by_last_day_and_nth_weekday() {
    let w = window("0 22 L * ? *", "4h", "Europe/London");
    assert_eq!(
        w.next_start(at("2026-02-01T00:00:00Z")),
        Some(at("2026-02-28T22:00:00Z"))
    );
    // The first Sunday of April 2026 is the 5th; London is on BST (UTC+1) by then.
    let w = window("0 3 ? * SUN#1 *", "2h", "Europe/London");
    assert_eq!(
        w.next_start(at("2026-04-01T00:00:00Z")),
        Some(at("2026-04-05T02:00:00Z"))
    );
    assert!(w.is_active(at("2026-04-05T03:59:00Z")).is_some());
}

#[test]
fn errors_name_the_field_and_the_bad_value() {
    let err = |name: &str, cron: &str, d: &str, tz: &str| {
        TimeWindow::new(name, cron, d, tz).unwrap_err().to_string()
    };
    assert_eq!(
        err("w", "0 2 * * ? *", "2h", "Europe/Berln"),
        "time_zone \"Europe/Berln\": not an IANA time zone name (e.g. Europe/Berlin, America/New_York, UTC)"
    );
    assert_eq!(
        err("w", "0 25 * * ? *", "2h", "UTC"),
        "cron: hours \"25\": 25 is out of range 0-23"
    );
    assert_eq!(
        err("w", "0 0 30 2 ? *", "2h", "UTC"),
        "cron \"0 0 30 2 ? *\": never fires (a day the month does not have?)"
    );
    for (d, problem) in [
        ("2x", "not a duration like 2h"),
        ("30m2h", "not a duration like 2h"),
        ("", "not a duration like 2h"),
        ("0m", "shorter than a minute"),
        ("32d", "longer than 31 days"),
        ("99999999999999999999m", "not a duration like 2h"),
    ] {
        let e = err("w", "0 2 * * ? *", d, "UTC");
        assert!(
            e.starts_with(&format!("duration {d:?}: {problem}")),
            "{d}: {e}"
        );
    }
    assert!(err("a b", "0 2 * * ? *", "2h", "UTC").starts_with("name \"a b\""));
    assert_eq!(
        parse_duration("1d2h30m").unwrap(),
        Duration::minutes(24 * 60 + 150)
    );
}

#[test]
fn a_window_reads_and_writes_as_its_spec() {
    let json = r#"{"name": "nightly", "cron": "cron(0 2 * * ? *)", "duration": "2h", "time_zone": "Europe/Berlin"}"#;
    let w: TimeWindow = serde_json::from_str(json).unwrap();
    assert_eq!(w.duration(), Duration::hours(2));
    let back: serde_json::Value = serde_json::to_value(&w).unwrap();
    assert_eq!(
        back,
        serde_json::from_str::<serde_json::Value>(json).unwrap()
    );
    let e = serde_json::from_str::<TimeWindow>(&json.replace("\"2h\"", "\"2 hours\"")).unwrap_err();
    assert!(e.to_string().contains("duration \"2 hours\""), "{e}");
    let e = serde_json::from_str::<TimeWindow>(&json.replace("time_zone", "tz")).unwrap_err();
    assert!(e.to_string().contains("unknown field `tz`"), "{e}");
}
