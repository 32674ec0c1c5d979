//! The ops commands (`backfill`, `status`) and their times and ranges: times read in every
//! documented spelling, ranges walk in chunks that cover every period once, and commands —
//! from the real event files, edited, or junk — are planned within the limits or rejected
//! naming the field; never a panic, whatever the dates.

use chrono::{Datelike, NaiveDateTime, Timelike};
use partitions::{
    CheckedCommand, Granularity, KeyOutcome, MAX_CHUNK_SIZE, MAX_PERIODS, PeriodRange,
    STATUS_MAX_PERIODS, Tables, check_command, format_cursor, parse_time,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use streamops_test_support::fixture;
use streamops_test_support::generate::{json_value_with, mutate, mutations, text};

use crate::generate::{any_time, period, truncate};

const TABLES: &str = r#"[
  {"bucket": "data-1", "prefix": "enriched/", "database": "streamops", "table": "enriched_events", "layout": "hive"},
  {"bucket": "data-1", "prefix": "daily/", "database": "streamops", "table": "daily", "layout": "year={yyyy}/month={MM}/day={dd}/",
   "columns": [{"name": "day", "type": "date", "value": "{yyyy}-{MM}-{dd}"}]}
]"#;

/// Parsed once: a date column's cold-start check renders it for 336 days.
static DEPLOYED: std::sync::LazyLock<Tables> =
    std::sync::LazyLock::new(|| Tables::from_json(TABLES).expect("valid tables"));

fn granularity() -> impl Strategy<Value = Granularity> {
    prop_oneof![Just(Granularity::Hour), Just(Granularity::Day)]
}

/// The spellings of a time an ops command accepts, for `t` (whole seconds, years 0 to 9999).
fn spell(t: NaiveDateTime, how: u8) -> (String, NaiveDateTime) {
    match how % 6 {
        0 => (t.format("%Y-%m-%d").to_string(), truncate(t, false)),
        1 => (t.format("%Y-%m-%dT%H").to_string(), truncate(t, true)),
        2 => (
            t.format("%Y-%m-%dT%H:%M").to_string(),
            t.with_second(0).unwrap(),
        ),
        3 => (t.format("%Y-%m-%dT%H:%M:%S").to_string(), t),
        4 => (t.format("%Y-%m-%dT%H:%M:%SZ").to_string(), t),
        _ => (format_cursor(t), t),
    }
}

/// `t` as a command may carry it (years outside 0 to 9999 with their sign).
fn spelled(t: NaiveDateTime, how: u8) -> String {
    if (0..=9999).contains(&t.year()) {
        spell(t, how).0
    } else {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    }
}

/// A time as a command may carry it: spelled right, or any text.
fn time_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (any_time(), any::<u8>()).prop_map(|(t, how)| spelled(t, how)),
        1 => text(),
    ]
}

/// `from` and `to` of a range: any two times, or a few hours to a few weeks apart.
fn from_to() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        (time_text(), time_text()),
        (any_time(), 1i64..2000, any::<u8>(), any::<u8>()).prop_map(|(from, hours, a, b)| {
            let to = from
                .checked_add_signed(chrono::Duration::hours(hours))
                .unwrap_or(from);
            (spelled(from, a), spelled(to, b))
        }),
    ]
}

/// A backfill or status command: the event file's, with its fields replaced by generated ones
/// and then edited.
fn command() -> impl Strategy<Value = Value> {
    let table = prop_oneof![
        Just(json!("streamops.enriched_events")),
        Just(json!("daily")),
        Just(json!("nope")),
        text().prop_map(Value::from),
    ];
    let chunk = prop_oneof![
        Just(Value::Null),
        (0u64..=60_000).prop_map(Value::from),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
    ];
    (
        0u8..3,
        table,
        from_to(),
        prop::option::of(time_text()),
        prop::option::of(prop::sample::select(&["hour", "day", "minute"][..])),
        chunk,
        prop::option::of(mutations(2)),
    )
        .prop_map(|(which, table, (from, to), resume, gran, chunk, edits)| {
            let backfill = which == 0;
            let mut cmd = fixture(match which {
                0 => "partitions/ops-backfill.json",
                1 => "partitions/ops-status.json",
                _ => "partitions/ops-prune.json",
            });
            cmd["table"] = table;
            cmd["from"] = json!(from);
            cmd["to"] = json!(to);
            if backfill {
                let o = cmd.as_object_mut().unwrap();
                o.remove("granularity");
                if let Some(g) = gran {
                    o.insert("granularity".into(), json!(g));
                }
                if let Some(r) = resume {
                    o.insert("resume_from".into(), json!(r));
                }
                if !chunk.is_null() {
                    o.insert("chunk_size".into(), chunk);
                }
            }
            match edits {
                Some(e) => mutate(&cmd, &e),
                None => cmd,
            }
        })
}

/// A period a command plans has a partition whose location holds objects that read back as it.
fn assert_partition_reads_back(tables: &Tables, table: &partitions::TableDef, p: NaiveDateTime) {
    let spec = table
        .spec_for(p)
        .unwrap_or_else(|e| panic!("{} has no partition for {p}: {e}", table.id()));
    let key = format!("{}part-0.gz", spec.location_key_prefix());
    match tables.classify(&table.bucket, &key, Some(1)) {
        KeyOutcome::Partition(read) => assert_eq!(*read, spec),
        other => panic!("the partition of {p} is at {key:?}, which reads as {other:?}"),
    }
}

/// Every period of `range`, walked in chunks of `size` from its start, each once and in order.
fn walk(range: &PeriodRange, size: usize) -> Vec<NaiveDateTime> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let chunk = range.chunk(cursor, size).unwrap();
        assert!(!chunk.periods.is_empty() && chunk.periods.len() <= size.max(1));
        all.extend(&chunk.periods);
        match chunk.next {
            Some(next) => {
                // The cursor an answer gives reads back as itself (for the years a command takes).
                if (0..=9999).contains(&next.year()) {
                    assert_eq!(parse_time(&format_cursor(next)), Ok(next));
                }
                cursor = Some(next);
            }
            None => return all,
        }
    }
}

proptest! {
    #[test]
    fn times_read_in_every_documented_spelling(t in period(), how in any::<u8>(), junk in text()) {
        let (text, want) = spell(t, how);
        prop_assert_eq!(parse_time(&text), Ok(want));
        match parse_time(&junk) {
            Ok(read) => prop_assert_eq!(parse_time(&format_cursor(read)), Ok(read)),
            Err(e) => prop_assert!(e.contains("is not a time") || e.contains("outside the years 0000 to 9999"), "{}", e),
        }
    }

    #[test]
    fn ranges_cover_every_period_once_or_are_refused(
        from in any_time(),
        to in any_time(),
        granularity in granularity(),
        size in 1usize..200,
    ) {
        match PeriodRange::new(from, to, granularity) {
            Ok(range) => {
                prop_assert!(from < to);
                prop_assert!(!range.is_empty() && range.len() <= MAX_PERIODS);
                prop_assert!(range.start <= from && to <= range.end);
                let all = walk(&range, size);
                prop_assert_eq!(all, range.periods().collect::<Vec<_>>());
            }
            Err(e) => prop_assert!(e.contains("must be after") || e.contains("at most") || e.contains("too late"), "{}", e),
        }
    }

    #[test]
    fn commands_are_planned_within_limits_or_rejected_naming_the_field(cmd in command()) {
        let tables = &*DEPLOYED;
        let Some(result) = check_command(&cmd, tables) else {
            prop_assert!(cmd.get("command").is_none());
            return Ok(());
        };
        match result {
            Ok(CheckedCommand::Backfill(plan)) => {
                prop_assert!((1..=MAX_CHUNK_SIZE).contains(&plan.chunk_size));
                prop_assert!(plan.range.len() <= MAX_PERIODS);
                prop_assert_eq!(plan.range.granularity, plan.table.granularity);
                if let Some(c) = plan.cursor {
                    prop_assert!(plan.range.chunk(Some(c), 1).is_ok());
                }
                for p in plan.range.periods().take(3) {
                    assert_partition_reads_back(tables, plan.table, p);
                }
            }
            Ok(CheckedCommand::Status(plan)) => {
                prop_assert!(plan.range.len() <= STATUS_MAX_PERIODS);
                if let Some(p) = plan.range.periods().last() {
                    assert_partition_reads_back(tables, plan.table, p);
                }
            }
            Ok(CheckedCommand::Prune(plan)) => {
                prop_assert!(plan.range.len() <= MAX_PERIODS);
                if let Some(p) = plan.range.periods().last() {
                    assert_partition_reads_back(tables, plan.table, p);
                }
            }
            // The deployed tables are Hive ones: maintain has nothing to plan over them.
            Ok(CheckedCommand::Maintain(plan)) => {
                prop_assert!(false, "maintain planned over {} tables without Iceberg ones", plan.tables.len());
            }
            Ok(CheckedCommand::MaintenanceStatus(t)) => {
                prop_assert!(false, "status of {} read as an Iceberg table's", t.id());
            }
            Err(e) => {
                let named = ["`from`", "`to`", "`resume_from`", "chunk_size", "no table", "granularity", "invalid"];
                prop_assert!(named.iter().any(|n| e.contains(n)), "{}", e);
            }
        }
    }

    #[test]
    fn junk_commands_are_errors_not_panics(
        junk in json_value_with(&["command", "table", "from", "to", "granularity", "chunk_size", "resume_from", "dry_run"]),
        name in prop::sample::select(&["backfill", "status", "prune", "repair"][..]),
    ) {
        let tables = &*DEPLOYED;
        let mut cmd = match junk { Value::Object(o) => Value::Object(o), _ => json!({}) };
        cmd["command"] = json!(name);
        match check_command(&cmd, tables) {
            Some(Ok(_)) => prop_assert!(name != "repair"),
            Some(Err(e)) => prop_assert!(!e.is_empty()),
            None => prop_assert!(false, "a command read as an event: {}", cmd),
        }
    }
}
