//! The ops commands and the `CHECKPOINTS_*` configuration from any JSON: a command or a clear
//! error, a configuration or an error naming the variable; never a panic.

use checkpoints::{CheckpointsConfig, parse_command};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use streamops_shared::EnvReader;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
        "[0-9a-f]{32}".prop_map(Value::from),
        Just(json!(
            "s3://streamops-checkpoints-123456789012-us-east-1/flink/savepoints/savepoint-a1b2c3-0123456789ab"
        )),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: [&str; 9] = [
    "pipeline",
    "job_id",
    "prefer",
    "limit",
    "restored_from",
    "restore_mode",
    "location",
    "dry_run",
    "flink_rest_url",
];
const COMMANDS: [&str; 9] = [
    "latest",
    "list",
    "register-job",
    "pin",
    "unpin",
    "prune",
    "rescan",
    "verify",
    "nope",
];

/// A command object with some of the real fields, holding any JSON.
fn near_command() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(COMMANDS.to_vec()),
        prop::collection::btree_map(prop::sample::select(FIELDS.to_vec()), json_value(), 0..5),
    )
        .prop_map(|(command, fields)| {
            let mut o: serde_json::Map<String, Value> = fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            o.insert("command".into(), Value::from(command));
            Value::Object(o)
        })
}

fn read_config(
    retention: &str,
    checkpoint_prefix: &str,
    entropy: Option<&str>,
) -> Result<CheckpointsConfig, String> {
    let mut vars: HashMap<String, String> = [
        ("CHECKPOINTS_TABLE", "book"),
        ("CHECKPOINTS_BUCKET", "bucket"),
        ("CHECKPOINTS_RETENTION", retention),
        ("CHECKPOINTS_CHECKPOINT_PREFIX", checkpoint_prefix),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(e) = entropy {
        vars.insert("CHECKPOINTS_ENTROPY_KEY".into(), e.to_string());
    }
    CheckpointsConfig::read(EnvReader::from_map(vars)).map_err(|e| e.to_string())
}

proptest! {
    /// `None` is "not a command" (an object event goes on to the event path).
    #[test]
    fn any_payload_is_a_command_or_a_clear_error(payload in json_value()) {
        if let Some(Err(e)) = parse_command(&payload) {
            prop_assert!(!e.trim().is_empty());
        }
    }

    #[test]
    fn a_near_command_is_a_command_or_an_error_naming_what_is_wrong(payload in near_command()) {
        match parse_command(&payload) {
            Some(Ok(_)) => {}
            Some(Err(e)) => prop_assert!(e.len() > 10, "{e}"),
            None => prop_assert!(false, "{payload} has a command field"),
        }
    }

    #[test]
    fn any_retention_and_prefix_is_a_configuration_or_an_error_naming_the_variable(
        retention in prop_oneof![json_value().prop_map(|v| v.to_string()), ".{0,60}"],
        prefix in prop_oneof![Just("flink/checkpoints/".to_string()), ".{0,30}"],
        entropy in prop::option::of("[a-z_]{0,10}"),
    ) {
        match read_config(&retention, &prefix, entropy.as_deref()) {
            Ok(c) => {
                prop_assert!(c.retention.for_pipeline("any").min_age_hours >= 0);
            }
            Err(e) => prop_assert!(e.contains("CHECKPOINTS_"), "{e}"),
        }
    }
}
