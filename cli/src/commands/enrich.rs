//! `streamops enrich ...`: the enrich function's commands (functions/enrich/src/ops/).

use clap::Subcommand;
use enrich::ops::{EnrichCommand, dry_run_records, parse_command};
use serde_json::{Value, json};

use super::{Effect, FunctionKind, Request, json_file, payload};

#[derive(Debug, Subcommand)]
pub enum EnrichCmd {
    /// Run records through the pipeline and show the output and every decision; writes nothing.
    DryRun {
        /// A JSON file: a list of events (objects, or strings taken as the raw payload), or a
        /// whole Kinesis or MSK event such as an events/enrich/ file; `-` reads standard input.
        file: String,
    },
    /// The enriched table's columns as Glue and Athena read what enrich writes, derived from
    /// the deployed spec (compare them with the Glue table's).
    Columns,
    /// Re-run a quarantine object after a fix: plans (what would be delivered and what stays
    /// quarantined) unless --apply.
    Replay {
        /// s3://BUCKET/KEY, or a key in the configured quarantine bucket.
        object: String,
        #[arg(long)]
        apply: bool,
    },
}

impl EnrichCmd {
    pub fn request(&self) -> Result<Request, String> {
        let (payload, effect) = match self {
            EnrichCmd::DryRun { file } => (dry_run_payload(json_file(file)?)?, Effect::Read),
            EnrichCmd::Columns => (payload("columns", []), Effect::Read),
            EnrichCmd::Replay { object, apply } => {
                let (bucket, key) = quarantine_object(object)?;
                let fields = [
                    ("bucket", bucket.map(Value::String)),
                    ("key", Some(Value::String(key))),
                    ("dry_run", Some(json!(!apply))),
                ];
                let effect = Effect::Planned { apply: *apply };
                (payload("replay", fields), effect)
            }
        };
        // The function's parser, and for a dry run its reading of the records (an event that
        // is not a Kinesis or MSK event, nothing to run) before anything is sent.
        if let EnrichCommand::DryRun { records, event } = parse_command(&payload)? {
            dry_run_records(&records, event.as_ref())?;
        }
        Ok(Request::new(FunctionKind::Enrich, payload, effect))
    }
}

/// A list is the records; an object is a whole event, or a `dry-run` command itself (as in
/// events/enrich/ops-dry-run-records.json), sent as it is.
fn dry_run_payload(file: Value) -> Result<Value, String> {
    match file {
        Value::Array(records) => Ok(payload(
            "dry-run",
            [("records", Some(Value::Array(records)))],
        )),
        command if command.get("command").is_some() => match command["command"].as_str() {
            Some("dry-run") => Ok(command),
            other => Err(format!(
                "the file is a {} command, not records or an event",
                other.unwrap_or("malformed")
            )),
        },
        event => Ok(payload("dry-run", [("event", Some(event))])),
    }
}

/// `s3://bucket/key` as (bucket, key); a bare key as (None, key): the configured bucket.
fn quarantine_object(object: &str) -> Result<(Option<String>, String), String> {
    let Some(rest) = object.strip_prefix("s3://") else {
        return if object.is_empty() {
            Err("the quarantine object is empty".into())
        } else {
            Ok((None, object.to_string()))
        };
    };
    match rest.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
            Ok((Some(bucket.to_string()), key.to_string()))
        }
        _ => Err(format!("{object:?} is not s3://BUCKET/KEY")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects() {
        assert_eq!(
            quarantine_object("s3://q/quarantine/a.ndjson"),
            Ok((Some("q".into()), "quarantine/a.ndjson".into()))
        );
        assert_eq!(
            quarantine_object("quarantine/a.ndjson"),
            Ok((None, "quarantine/a.ndjson".into()))
        );
        assert!(
            quarantine_object("s3://q")
                .unwrap_err()
                .contains("not s3://BUCKET/KEY")
        );
        assert!(quarantine_object("s3:///k").is_err());
    }
}
