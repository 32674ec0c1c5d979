//! Named keys under generated input: whatever text sits in a key's segment of an object key, or
//! in a command's `keys`, it becomes a partition (or a command) exactly when an independent
//! reading of the rule admits it, and then the partition, its location and its SQL hold it
//! verbatim; anything else is refused with the key named. Never a panic.

use partitions::{
    CheckedCommand, KeyOutcome, SkipReason, Tables, check_command, render_statements,
};
use proptest::prelude::*;
use serde_json::json;
use streamops_test_support::generate::{nasty, text};

/// The widest class there is, and an enumeration.
fn keyed_tables() -> Tables {
    Tables::from_json(
        &json!([
            {"bucket": "b-1", "prefix": "wide/", "database": "db", "table": "wide",
             "layout": "source={source}/{yyyy}/{MM}/{dd}/{HH}/",
             "keys": {"source": {"pattern": "a-zA-Z0-9_.-", "max_len": 32}},
             "columns": [{"name": "source", "value": "{source}"}, {"name": "dt", "value": "{yyyy}-{MM}-{dd}"}]},
            {"bucket": "b-1", "prefix": "listed/", "database": "db", "table": "listed",
             "layout": "source={source}/{yyyy}/{MM}/{dd}/{HH}/",
             "keys": {"source": {"values": ["web", "app", "v1.2"]}},
             "columns": [{"name": "source", "value": "{source}"}, {"name": "dt", "value": "{yyyy}-{MM}-{dd}"}]}
        ])
        .to_string(),
    )
    .unwrap()
}

/// The wide rule, read here independently of the crate.
fn wide_admits(v: &str) -> bool {
    (1..=32).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && !v.starts_with('.')
        && !v.contains("..")
        && !v.contains("--")
}

fn listed_admits(v: &str) -> bool {
    ["web", "app", "v1.2"].contains(&v)
}

/// Segment text: anything outside input carries, hostile fragments, and near misses.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => text(),
        2 => nasty(),
        2 => "[a-zA-Z0-9_.-]{0,40}",
        1 => prop::sample::select(vec!["web", "app", "v1.2", "Web", "web.", "web-", "wеb", "ｗｅｂ"])
            .prop_map(str::to_string),
    ]
}

proptest! {
    #[test]
    fn a_segment_is_a_partition_exactly_when_its_rule_admits_it(value in segment(), listed in any::<bool>()) {
        let tables = keyed_tables();
        let (prefix, admits): (&str, fn(&str) -> bool) =
            if listed { ("listed/", listed_admits) } else { ("wide/", wide_admits) };
        let key = format!("{prefix}source={value}/2026/11/23/10/part-0.gz");
        let outcome = tables.classify("b-1", &key, Some(10));
        if value.contains('/') {
            // The segment ends at the first slash: another layout, or the same with less.
            let first = value.split('/').next().unwrap_or("");
            if let KeyOutcome::Partition(p) = &outcome {
                prop_assert_eq!(&p.values[0].1, first);
            }
            return Ok(());
        }
        match outcome {
            KeyOutcome::Partition(p) => {
                prop_assert!(admits(&value), "{:?} was admitted", value);
                prop_assert_eq!(&p.values[0], &("source".to_string(), value.clone()));
                prop_assert_eq!(
                    p.location.clone(),
                    format!("s3://b-1/{prefix}source={value}/2026/11/23/10/")
                );
                let sql = render_statements(&[*p], 262_144).unwrap();
                let want = format!("`source` = '{value}'");
                prop_assert!(sql[0].sql.contains(&want), "{}", sql[0].sql);
            }
            KeyOutcome::Skip(SkipReason::InvalidKey, Some(reason)) => {
                prop_assert!(!admits(&value), "{:?} was refused: {}", value, reason);
                prop_assert!(
                    reason.starts_with("key `source`: ") || reason.contains("does not match layout"),
                    "{}", reason
                );
            }
            KeyOutcome::Skip(_, _) => prop_assert!(!admits(&value) || value.is_empty()),
        }
    }

    #[test]
    fn command_key_values_are_accepted_exactly_when_the_rule_admits_them(
        values in prop::collection::vec(segment(), 1..4),
        verb in prop::sample::select(vec!["backfill", "status", "prune"]),
    ) {
        let tables = keyed_tables();
        let cmd = json!({"command": verb, "table": "wide", "from": "2026-11-23T10", "to": "2026-11-23T12",
                         "keys": {"source": values}});
        let distinct = values.iter().enumerate().all(|(i, v)| !values[..i].contains(v));
        match check_command(&cmd, &tables).expect("a command") {
            Ok(CheckedCommand::Backfill(_) | CheckedCommand::Status(_)) | Ok(CheckedCommand::Prune(_)) => {
                prop_assert!(values.iter().all(|v| wide_admits(v)) && distinct, "{:?}", values);
            }
            Ok(CheckedCommand::Maintain(_) | CheckedCommand::MaintenanceStatus(_)) => {
                prop_assert!(false, "{verb} was checked as maintenance")
            }
            Err(e) => {
                prop_assert!(!values.iter().all(|v| wide_admits(v)) || !distinct, "{:?}: {}", values, e);
                let prefix = format!("{verb} `keys`: key `source`: ");
                prop_assert!(e.starts_with(&prefix), "{}", e);
            }
        }
    }
}
