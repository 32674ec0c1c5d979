//! Every file in events/partitions/ is a valid input of this function: an ops command that
//! parses, or an event whose objects (created or removed) map to partitions of the sample
//! table configuration.

use partitions::{Item, KeyOutcome, Tables, decode_key, parse_command, parse_payload};
use streamops_test_support::event_files;

/// The table the sample events are written for: the template's enriched-events table, which
/// Firehose dynamic partitioning fills under enriched/dt=YYYY-MM-DD/hour=HH/.
const SAMPLE_TABLES: &str = r#"[{"bucket":"streamops-data-123456789012-us-east-1","prefix":"enriched/","database":"streamops","table":"enriched_events","layout":"hive","error_prefix":"firehose-errors/"}]"#;

#[test]
fn every_partitions_event_file_parses_as_partitions_input() {
    let tables = Tables::from_json(SAMPLE_TABLES).unwrap();
    let (mut commands, mut events) = (0, 0);
    for (path, value) in event_files("partitions") {
        if let Some(cmd) = parse_command(&value) {
            cmd.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            commands += 1;
            continue;
        }
        let batch = parse_payload(value).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut partitions = 0;
        for item in batch.messages.iter().flat_map(|m| &m.items) {
            // Created objects are registered, removed ones dropped: both name a partition.
            if let Item::Object(o) | Item::Removed(o) = item {
                let key = decode_key(&o.raw_key).unwrap();
                match tables.classify(&o.bucket, &key, o.size) {
                    KeyOutcome::Partition(_) => partitions += 1,
                    other => panic!("{}: {key} -> {other:?}", path.display()),
                }
            }
        }
        assert!(partitions > 0, "{} names no partition", path.display());
        events += 1;
    }
    assert!(
        commands >= 2 && events >= 3,
        "only {commands} commands and {events} events in {}",
        "events/partitions"
    );
}

#[test]
fn the_iceberg_fixtures_are_the_maintenance_commands_of_the_templates_iceberg_table() {
    use partitions::{CheckedCommand, check_command};
    let event_file = |name: &str| {
        event_files("partitions")
            .into_iter()
            .find(|(p, _)| p.ends_with(name))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("events/partitions/{name}"))
    };
    let tables = Tables::from_json(&SAMPLE_TABLES.replace(
        "}]",
        r#"},{"format":"iceberg","bucket":"streamops-data-123456789012-us-east-1","prefix":"iceberg/enriched/","database":"streamops","table":"enriched_iceberg","optimize_where":{"column":"dt","type":"string","last_days":7},"max_runtime_seconds":1800}]"#,
    ))
    .unwrap();
    let status = event_file("ops-status-iceberg.json");
    match check_command(&status, &tables) {
        Some(Ok(CheckedCommand::MaintenanceStatus(t))) => {
            assert_eq!(t.id(), "streamops.enriched_iceberg")
        }
        other => panic!("{other:?}"),
    }
    match check_command(&event_file("ops-maintain.json"), &tables) {
        Some(Ok(CheckedCommand::Maintain(plan))) => {
            assert!(plan.dry_run && plan.follow_up.is_none());
        }
        other => panic!("{other:?}"),
    }
    // What a follow-up schedule sends (docs/partitions.md#follow-ups).
    match check_command(&event_file("ops-maintain-follow-up.json"), &tables) {
        Some(Ok(CheckedCommand::Maintain(plan))) => {
            assert!(!plan.dry_run && plan.tables.len() == 1);
            assert_eq!(
                plan.follow_up.as_deref(),
                Some("8f2c1e4a-7b6d-4c3e-9a1f-0d2e3c4b5a69")
            );
        }
        other => panic!("{other:?}"),
    }
}
