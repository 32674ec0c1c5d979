//! Recurring time windows (`shared/src/window`): generated cron expressions in zones with and
//! without clock changes, at times near their transitions. Active means started <= t < ends;
//! the next start is after t and nothing starts in between; every reported start is one the
//! search finds again; in a zone without clock changes the starts are exactly the minutes whose
//! local time the cron names (a brute-force oracle). Junk never panics and its error names a
//! field.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use proptest::prelude::*;
use streamops_shared::window::TimeWindow;
use streamops_test_support::generate::text;

/// Zones with one-hour, half-hour and whole-day changes, midnight changes, and none.
const ZONES: &[&str] = &[
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "America/Santiago",
    "America/St_Johns",
    "Pacific/Apia",
    "Asia/Kolkata",
];

/// Instants near which those zones change their clocks (2026), and Apia's skipped day.
const TRANSITIONS: &[&str] = &[
    "2026-03-08T07:00:00Z",
    "2026-11-01T06:00:00Z",
    "2026-03-29T01:00:00Z",
    "2026-10-25T01:00:00Z",
    "2026-04-04T15:00:00Z",
    "2026-10-03T15:30:00Z",
    "2026-04-05T03:00:00Z",
    "2026-09-06T04:00:00Z",
    "2011-12-30T10:00:00Z",
];

fn item(lo: u32, hi: u32) -> impl Strategy<Value = String> {
    (lo..=hi, lo..=hi, 1..=hi.max(2)).prop_flat_map(move |(a, b, s)| {
        let (a, b) = (a.min(b), a.max(b));
        prop_oneof![
            Just("*".to_string()),
            Just(a.to_string()),
            Just(format!("{a}-{b}")),
            Just(format!("*/{s}")),
            Just(format!("{a}/{s}")),
            Just(format!("{a}-{b}/{s}")),
        ]
    })
}

fn list(lo: u32, hi: u32) -> impl Strategy<Value = String> {
    prop::collection::vec(item(lo, hi), 1..3).prop_map(|v| v.join(","))
}

fn days() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("* * ?".to_string()),
        (list(1, 31), list(1, 12)).prop_map(|(d, m)| format!("{d} {m} ?")),
        Just("L * ?".to_string()),
        (list(1, 7)).prop_map(|w| format!("? * {w}")),
        (1u32..=7, 1u32..=5).prop_map(|(w, n)| format!("? * {w}#{n}")),
        Just("? * MON-FRI".to_string()),
    ]
}

fn cron() -> impl Strategy<Value = String> {
    (list(0, 59), list(0, 23), days()).prop_map(|(m, h, d)| format!("{m} {h} {d} *"))
}

fn window() -> impl Strategy<Value = TimeWindow> {
    (cron(), 1i64..=3 * 24 * 60, prop::sample::select(ZONES))
        .prop_filter_map("a cron that never fires", |(c, minutes, tz)| {
            TimeWindow::new("w", &c, &format!("{minutes}m"), tz).ok()
        })
}

/// Mostly within a day and a half of a clock change, sometimes anywhere in 2020-2030.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        3 => (prop::sample::select(TRANSITIONS), -129_600i64..129_600)
            .prop_map(|(t, s)| t.parse::<DateTime<Utc>>().unwrap() + Duration::seconds(s)),
        1 => (1_577_836_800i64..1_924_992_000).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
    ]
}

proptest! {
    #[test]
    fn active_means_started_at_or_before_and_ending_after(w in window(), t in instant()) {
        if let Some(a) = w.is_active(t) {
            prop_assert!(a.started <= t && t < a.ends, "{a:?} at {t}");
            prop_assert_eq!(a.ends - a.started, w.duration());
            // What was reported as a start is one the forward search finds.
            prop_assert_eq!(w.next_start(a.started - Duration::seconds(1)), Some(a.started));
        }
    }

    #[test]
    fn the_next_start_is_after_and_nothing_starts_in_between(
        w in window(), t in instant(), frac in 0.0f64..1.0
    ) {
        let Some(next) = w.next_start(t) else { return Ok(()) };
        prop_assert!(next > t, "{next} <= {t}");
        let started = w.is_active(next).map(|a| a.started);
        prop_assert_eq!(started, Some(next), "active at its own start");
        let gap_ms = (next - t).num_milliseconds();
        let u = t + Duration::milliseconds((gap_ms as f64 * frac) as i64);
        if u < next && let Some(a) = w.is_active(u) {
            prop_assert!(a.started <= t, "{a:?} began between {t} and {next}");
        }
    }

    /// Without clock changes a start is exactly a minute whose local time the cron names.
    #[test]
    fn without_clock_changes_starts_are_the_minutes_the_cron_names(
        c in cron(), tz in prop::sample::select(&["UTC", "Asia/Kolkata"][..]),
        minutes in 1i64..=180, t in instant()
    ) {
        let Ok(w) = TimeWindow::new("w", &c, &format!("{minutes}m"), tz) else { return Ok(()) };
        let zone: Tz = tz.parse().unwrap();
        let floor = t - Duration::seconds(t.timestamp().rem_euclid(60));
        let oracle = (0..minutes)
            .map(|back| floor - Duration::minutes(back))
            .find(|m| names(&c, m.with_timezone(&zone)));
        let got = w.is_active(t).map(|a| a.started);
        prop_assert_eq!(got, oracle, "{} in {}", c, tz);
    }

    #[test]
    fn junk_never_panics_and_its_error_names_a_field(
        c in prop_oneof![text(), cron()], d in prop_oneof![text(), Just("2h".to_string())],
        tz in prop_oneof![text(), prop::sample::select(ZONES).prop_map(String::from)],
    ) {
        if let Err(e) = TimeWindow::new("w", &c, &d, &tz) {
            let e = e.to_string();
            prop_assert!(
                ["cron", "duration", "time_zone"].iter().any(|f| e.starts_with(f)),
                "{e}"
            );
        }
    }
}

/// The brute-force reading of a cron at one local minute (the oracle above): every field by
/// itself, with none of the module's code.
fn names(cron: &str, local: DateTime<Tz>) -> bool {
    let f: Vec<&str> = cron.split_whitespace().collect();
    let dow = local.weekday().num_days_from_sunday() + 1;
    let day_ok = match (f[2], f[4]) {
        ("?", w) if w.contains('#') => {
            let (d, n) = w.split_once('#').unwrap();
            dow == d.parse::<u32>().unwrap()
                && (local.day() - 1) / 7 + 1 == n.parse::<u32>().unwrap()
        }
        ("?", "MON-FRI") => !matches!(local.weekday(), Weekday::Sat | Weekday::Sun),
        ("?", w) => field(w, dow, 7),
        ("L", _) => (local.date_naive() + Duration::days(1)).month() != local.month(),
        (d, _) => field(d, local.day(), 31),
    };
    field(f[0], local.minute(), 59)
        && field(f[1], local.hour(), 23)
        && day_ok
        && field(f[3], local.month(), 12)
}

fn field(text: &str, v: u32, hi: u32) -> bool {
    text.split(',').any(|item| {
        let (range, step) = item
            .split_once('/')
            .map_or((item, 1), |(r, s)| (r, s.parse().unwrap()));
        let (a, b) = match range.split_once('-') {
            _ if range == "*" => (0, hi),
            Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
            None if item.contains('/') => (range.parse().unwrap(), hi),
            None => (range.parse().unwrap(), range.parse().unwrap()),
        };
        let first = if range == "*" {
            if hi == 59 || hi == 23 { 0 } else { 1 }
        } else {
            a
        };
        v >= first && v <= b && (v - first) % step == 0
    })
}

#[test]
fn the_oracle_reads_crons_as_eventbridge_does() {
    let t = Tz::UTC.with_ymd_and_hms(2026, 11, 23, 2, 30, 0).unwrap(); // a Monday
    assert!(names("30 2 * * ? *", t));
    assert!(names("*/15 1-3 ? * 2 *", t));
    assert!(!names("*/20 2 ? * 1 *", t));
    assert!(names("0/10 2 23 11 ? *", t));
}
