//! `PARTITIONS_TABLES` and the rest of the configuration: generated tables, edited (a member
//! removed, retyped, spliced with junk), are either accepted — and then every period of years
//! 0 to 9999 has a partition whose location reads back to it — or rejected with problems that
//! name the table and the field; every other variable's bad value names the variable.

use std::collections::HashMap;

use partitions::{KeyOutcome, PartitionsConfig, Tables};
use proptest::prelude::*;
use serde_json::Value;
use streamops_shared::EnvReader;
use streamops_test_support::generate::{json_value_with, mutate, mutations, text};

use crate::generate::{period, tables, tables_json};

const TABLE_KEYS: &[&str] = &[
    "bucket",
    "prefix",
    "database",
    "table",
    "layout",
    "columns",
    "error_prefix",
    "name",
    "type",
    "value",
];

/// What a rejection of `PARTITIONS_TABLES` may say: each problem names its table and field, or
/// is about the document or about two tables.
fn assert_problem_is_clear(problem: &str) {
    let table_field = problem.starts_with("table #") && problem.contains(": field `");
    let document = problem.starts_with("not a JSON array of table objects: ")
        || problem == "no tables configured";
    let pair = problem.starts_with("tables ") && problem.contains(" overlap: s3://")
        || problem.starts_with("table ") && problem.ends_with(" is configured twice");
    assert!(table_field || document || pair, "{problem:?}");
}

/// Every accepted table has a partition for every period its layout can name, at a location
/// under its prefix whose objects read back as that partition.
fn assert_tables_partition_every_period(tables: &Tables, p: chrono::NaiveDateTime) {
    for t in &tables.tables {
        let spec = t
            .spec_for(p)
            .unwrap_or_else(|e| panic!("{} has no partition for {p}: {e}", t.id()));
        let under = format!("s3://{}/{}", t.bucket, t.prefix);
        assert!(spec.location.starts_with(&under) && spec.location.ends_with('/'));
        let key = format!("{}part-0.gz", spec.location_key_prefix());
        match tables.classify(&t.bucket, &key, Some(1)) {
            KeyOutcome::Partition(read) => assert_eq!(*read, spec),
            other => panic!("{key} of {} reads as {other:?}", t.id()),
        }
    }
}

proptest! {
    #[test]
    fn edited_tables_are_accepted_whole_or_rejected_naming_table_and_field(
        gens in tables(),
        edits in mutations(3),
        p in period(),
    ) {
        let doc: Value = serde_json::from_str(&tables_json(&gens)).unwrap();
        let edited = mutate(&doc, &edits);
        match Tables::from_json(&edited.to_string()) {
            Ok(tables) => {
                prop_assert_eq!(tables.tables.len(), edited.as_array().map_or(0, Vec::len));
                assert_tables_partition_every_period(&tables, p);
            }
            Err(problems) => {
                prop_assert!(!problems.is_empty());
                for problem in &problems {
                    assert_problem_is_clear(problem);
                }
            }
        }
    }

    #[test]
    fn junk_tables_are_rejected_clearly(doc in prop_oneof![
        json_value_with(TABLE_KEYS).prop_map(|v| v.to_string()),
        text(),
    ]) {
        match Tables::from_json(&doc) {
            Ok(tables) => prop_assert!(!tables.tables.is_empty()),
            Err(problems) => {
                prop_assert!(!problems.is_empty());
                for problem in &problems {
                    assert_problem_is_clear(problem);
                }
            }
        }
    }

    #[test]
    fn every_bad_variable_is_named(
        gens in tables(),
        values in prop::collection::vec(prop::option::of(text()), 8),
    ) {
        let names = [
            "PARTITIONS_REGISTRY_TABLE", "PARTITIONS_REGISTRY_TTL_DAYS", "PARTITIONS_MODE",
            "PARTITIONS_ATHENA_WORKGROUP", "PARTITIONS_ATHENA_OUTPUT_LOCATION",
            "PARTITIONS_QUERY_TIMEOUT_SECONDS", "PARTITIONS_MAX_STATEMENT_BYTES", "S3_FORCE_PATH_STYLE",
        ];
        let mut vars: HashMap<String, String> = names
            .iter()
            .zip(&values)
            .filter_map(|(n, v)| Some((n.to_string(), v.clone()?)))
            .collect();
        vars.insert("PARTITIONS_TABLES".into(), tables_json(&gens));
        match PartitionsConfig::read(EnvReader::from_map(vars.clone())) {
            Ok(c) => {
                prop_assert!(!c.registry_table.trim().is_empty());
                prop_assert!((4096..=262_144).contains(&c.max_statement_bytes));
                prop_assert!(c.registry_ttl.as_secs() >= 86_400);
                prop_assert!(c.output_location.is_none_or(|l| l.starts_with("s3://")));
            }
            Err(e) => {
                let text = e.to_string();
                for p in &e.problems {
                    prop_assert!(p.variable == "PARTITIONS_TABLES" || names.contains(&p.variable.as_str()));
                    prop_assert!(text.contains(&p.variable));
                    // A value that is there is quoted back (cut to 120 bytes).
                    if let Some(found) = &p.found {
                        let sent = vars.get(&p.variable).map(String::as_str);
                        prop_assert!(sent == Some(found.as_str()) || p.variable == "PARTITIONS_REGISTRY_TTL_DAYS" || p.variable == "PARTITIONS_MAX_STATEMENT_BYTES", "{:?}", p);
                    }
                }
            }
        }
    }
}
