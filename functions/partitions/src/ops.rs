//! Ops commands, sent by hand (`aws lambda invoke`, `sam remote invoke`) as a JSON object with a
//! `command` field. Anything without `command` is treated as an event.

use serde::Deserialize;
use serde_json::Value;

use crate::layout::Granularity;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum PartitionsCommand {
    /// Register the partitions of a time range, in resumable chunks; dry run unless told otherwise.
    Backfill(BackfillRequest),
    /// Registered partitions of a range (from the Glue catalog) and the gaps where S3 has data.
    Status(StatusRequest),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillRequest {
    /// `database.table`, or the table name alone when it is unambiguous.
    pub table: String,
    /// Start of the range (included), e.g. `2026-11-01` or `2026-11-01T06`.
    pub from: String,
    /// End of the range (excluded).
    pub to: String,
    /// `hour` or `day`; must match the table's layout (default: the layout's).
    #[serde(default)]
    pub granularity: Option<Granularity>,
    /// Register only periods whose prefix has at least one object (a one-key listing each).
    #[serde(default)]
    pub confirm_data: bool,
    /// Plan and render the statements without running them (default true).
    #[serde(default = "default_true")]
    pub dry_run: bool,
    /// Periods per chunk (default 500, at most 50000); progress is logged per chunk.
    #[serde(default)]
    pub chunk_size: Option<usize>,
    /// Continue where an earlier call stopped (its `resume_from` answer).
    #[serde(default)]
    pub resume_from: Option<String>,
    /// Stop after this many chunks (default: as many as the invocation's time allows).
    #[serde(default)]
    pub max_chunks: Option<usize>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    pub table: String,
    pub from: String,
    pub to: String,
}

pub const COMMANDS: &str = "backfill, status";
pub const DEFAULT_CHUNK_SIZE: usize = 500;
pub const MAX_CHUNK_SIZE: usize = 50_000;

/// `None` when the payload is not a command; `Some(Err)` with a clear message when it is one but
/// does not parse.
pub fn parse_command(payload: &Value) -> Option<Result<PartitionsCommand, String>> {
    let name = payload.get("command")?;
    Some(
        serde_json::from_value::<PartitionsCommand>(payload.clone()).map_err(|e| {
            let which = name.as_str().unwrap_or("<not a string>");
            format!("invalid ops command {which:?}: {e} (commands: {COMMANDS})")
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_parse_from_their_event_files() {
        for (file, expect) in [("backfill", "Backfill"), ("status", "Status")] {
            let v = streamops_test_support::fixture(&format!("partitions/ops-{file}.json"));
            let cmd = parse_command(&v).unwrap().unwrap();
            assert!(format!("{cmd:?}").starts_with(expect), "{file}: {cmd:?}");
        }
    }

    #[test]
    fn backfill_is_a_dry_run_unless_told_otherwise() {
        let c = parse_command(
            &json!({"command": "backfill", "table": "t", "from": "2026-11-01", "to": "2026-11-02"}),
        )
        .unwrap()
        .unwrap();
        match c {
            PartitionsCommand::Backfill(b) => {
                assert!(b.dry_run);
                assert!(!b.confirm_data);
                assert_eq!(b.granularity, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_commands_get_clear_errors() {
        let e = parse_command(&json!({"command": "repair"}))
            .unwrap()
            .unwrap_err();
        assert!(
            e.contains("invalid ops command \"repair\"") && e.contains("backfill, status"),
            "{e}"
        );
        let e = parse_command(&json!({"command": "status", "table": "t"}))
            .unwrap()
            .unwrap_err();
        assert!(e.contains("missing field `from`"), "{e}");
        let e = parse_command(&json!({"command": "backfill", "table": "t", "from": "a", "to": "b", "granularity": "minute"}))
            .unwrap()
            .unwrap_err();
        assert!(e.contains("unknown variant `minute`"), "{e}");
        let e = parse_command(
            &json!({"command": "backfill", "table": "t", "from": "a", "to": "b", "dryrun": false}),
        )
        .unwrap()
        .unwrap_err();
        assert!(e.contains("unknown field `dryrun`"), "{e}");
        assert!(parse_command(&json!({"Records": []})).is_none());
    }
}
