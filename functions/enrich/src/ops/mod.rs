//! Ops commands, invoked by hand: `{"command": "dry-run", ...}` or `{"command": "replay", ...}`.
//! This file reads them; `run.rs` carries them out through the service's pipeline and ports.

use serde::Deserialize;
use serde_json::Value;

use crate::input::{InputRecord, Invocation, Original, parse_invocation};
use crate::origin::{RecordOrigin, SourceKind};

mod run;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum EnrichCommand {
    /// Runs records through the pipeline (reference lookups included) and returns the enriched
    /// output and every decision. Writes nothing.
    DryRun {
        /// Events as JSON objects, or strings taken as the raw payload text.
        #[serde(default)]
        records: Vec<Value>,
        /// A whole Kinesis or MSK event, e.g. the contents of an events/ file.
        #[serde(default)]
        event: Option<Value>,
    },
    /// Re-runs the records of a quarantine object after a fix: good ones are written to the
    /// enriched stream, the rest stay quarantined with their new reasons.
    Replay {
        /// Defaults to the configured quarantine bucket. What stays poison is written back to
        /// this bucket (the object shrinks in place), not to the configured one.
        #[serde(default)]
        bucket: Option<String>,
        key: String,
        /// Report what would happen without writing.
        #[serde(default)]
        dry_run: bool,
    },
    /// The enriched table's columns as Glue and Athena read what enrich writes, from the
    /// deployed spec (`crate::columns`).
    Columns {},
}

pub const COMMANDS: &str = "dry-run, replay, columns";

/// The caller has seen a `command` field; without one this is an unknown (empty) command.
pub fn parse_command(payload: &Value) -> Result<EnrichCommand, String> {
    streamops_shared::ops::parse_command(payload, "enrich", COMMANDS)
        .unwrap_or_else(|| Err(format!("unknown command \"\"; enrich accepts: {COMMANDS}")))
}

/// The input records of a dry run, in order.
pub fn dry_run_records(
    records: &[Value],
    event: Option<&Value>,
) -> Result<Vec<InputRecord>, String> {
    let mut out = Vec::new();
    if let Some(event) = event {
        match parse_invocation(&event.to_string()).map_err(|e| format!("dry-run event: {e}"))? {
            Invocation::Stream(batch) => out.extend(batch.records),
            Invocation::Command(_) => return Err("dry-run event is itself a command".into()),
        }
    }
    for (i, r) in records.iter().enumerate() {
        let bytes = match r {
            Value::String(text) => text.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        };
        out.push(InputRecord {
            origin: RecordOrigin {
                source: SourceKind::Kinesis,
                stream: "dry-run".into(),
                shard: "dry-run".into(),
                position: i.to_string(),
                arrival: None,
                key: None,
                sub_sequence: None,
            },
            original: Original::Bytes(bytes),
            poison: None,
            headers: Vec::new(),
        });
    }
    if out.is_empty() {
        return Err(
            "dry-run needs `records` (a list of events) or `event` (a Kinesis or MSK event)".into(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_parse_with_clear_errors() {
        assert!(matches!(
            parse_command(&json!({"command": "replay", "key": "quarantine/a.ndjson"})).unwrap(),
            EnrichCommand::Replay { dry_run: false, .. }
        ));
        let e = parse_command(&json!({"command": "replay"})).unwrap_err();
        assert!(
            e.contains("invalid replay command") && e.contains("key"),
            "{e}"
        );
        let e = parse_command(&json!({"command": "reprocess"})).unwrap_err();
        assert!(
            e.contains("unknown command \"reprocess\"") && e.contains("dry-run"),
            "{e}"
        );
        let e = parse_command(&json!({"command": "dry-run", "recs": []})).unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
    }

    #[test]
    fn dry_run_takes_objects_strings_and_events() {
        let recs = dry_run_records(&[json!({"a": 1}), json!("not json")], None).unwrap();
        assert_eq!(recs[0].bytes(), br#"{"a":1}"#);
        assert_eq!(recs[1].bytes(), b"not json");
        assert_eq!(recs[1].origin.position, "1");
        assert!(dry_run_records(&[], None).unwrap_err().contains("needs"));
    }
}
