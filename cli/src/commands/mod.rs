//! What each subcommand sends: the payload built from the arguments, checked with the very
//! parser the function runs on it (`<function>::ops::parse_command` and its argument checks),
//! so a payload the function would refuse never leaves the machine.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub mod alerts;
pub mod checkpoints;
pub mod enrich;
pub mod partitions;
pub mod scaler;

/// The five functions, named as the template's outputs and the local stack's binaries name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FunctionKind {
    Alerts,
    Checkpoints,
    Enrich,
    Partitions,
    Scaler,
}

impl FunctionKind {
    /// The binary (and the local stack's function name).
    pub fn binary(self) -> &'static str {
        match self {
            FunctionKind::Alerts => "alerts",
            FunctionKind::Checkpoints => "checkpoints",
            FunctionKind::Enrich => "enrich",
            FunctionKind::Partitions => "partitions",
            FunctionKind::Scaler => "scaler",
        }
    }

    /// The stack output that holds the deployed function's name (template.yaml `Outputs`).
    pub fn stack_output(self) -> &'static str {
        match self {
            FunctionKind::Alerts => "AlertsFunctionName",
            FunctionKind::Checkpoints => "CheckpointsFunctionName",
            FunctionKind::Enrich => "EnrichFunctionName",
            FunctionKind::Partitions => "PartitionsFunctionName",
            FunctionKind::Scaler => "ScalerFunctionName",
        }
    }
}

/// How a command changes things, which decides whether `--apply` and a confirmation are needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads only: sent as is.
    Read,
    /// Changes state an operator can undo with another command (a silence, a pause): sent as is.
    Write,
    /// The function has its own dry run: without `--apply` the payload says `dry_run: true`
    /// and the function plans; with it the function acts.
    Planned { apply: bool },
    /// The function has no dry run: without `--apply` nothing is sent, the payload is shown.
    Guarded { apply: bool },
}

impl Effect {
    /// True when the command will change things if sent (what the confirmation prompt is for).
    pub fn acts(self) -> bool {
        matches!(
            self,
            Effect::Planned { apply: true } | Effect::Guarded { apply: true }
        )
    }
}

/// How the CLI follows up a command's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// One invocation.
    Once,
    /// Re-invoke with the answer's `resume_from` until it says `done` (partitions' backfill).
    Chunks,
    /// One invocation; a Flink rescale it leaves running is followed with the scaler's
    /// `status` (scaler scale --apply).
    Rescale(Wait),
}

/// How long to follow a rescale, and how often to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub timeout: std::time::Duration,
    pub interval: std::time::Duration,
}

/// A checked command, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub function: FunctionKind,
    pub payload: Value,
    pub effect: Effect,
    pub follow: Follow,
}

impl Request {
    fn new(function: FunctionKind, payload: Value, effect: Effect) -> Self {
        Self {
            function,
            payload,
            effect,
            follow: Follow::Once,
        }
    }

    /// The command's name, as sent.
    pub fn command(&self) -> &str {
        self.payload["command"].as_str().unwrap_or("")
    }
}

/// A payload `{"command": name, ...}` with the given fields; absent (`None`) ones are left out
/// so the function's own defaults apply.
fn payload<const N: usize>(command: &str, fields: [(&str, Option<Value>); N]) -> Value {
    let mut map = Map::new();
    map.insert("command".into(), Value::String(command.into()));
    for (name, value) in fields {
        if let Some(v) = value {
            map.insert(name.into(), v);
        }
    }
    Value::Object(map)
}

fn string(s: &Option<String>) -> Option<Value> {
    s.as_ref().map(|s| Value::String(s.clone()))
}

/// A function's `parse_command` answer as the CLI's: `None` (no command) cannot happen for a
/// payload built with [`payload`], but is an error all the same rather than a panic.
fn parsed<C>(answer: Option<Result<C, String>>) -> Result<C, String> {
    answer.unwrap_or_else(|| Err("the payload has no `command` field".into()))
}

/// Reads a command-line word as the function's own type (its serde names), so a value the
/// function does not know is refused here with the names it knows.
fn serde_word<T: DeserializeOwned>(word: &str) -> Result<T, String> {
    serde_json::from_value(Value::String(word.to_string())).map_err(|e| e.to_string())
}

/// A JSON file's contents (`-` reads standard input).
fn json_file(path: &str) -> Result<Value, String> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("standard input: {e}"))?
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?
    };
    serde_json::from_str(&text).map_err(|e| format!("{path} is not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_leave_out_what_is_not_given() {
        assert_eq!(
            payload(
                "latest",
                [("pipeline", string(&Some("p".into()))), ("job_id", None)]
            ),
            json!({"command": "latest", "pipeline": "p"})
        );
    }

    #[test]
    fn words_are_read_with_the_functions_types() {
        let s: ::alerts::model::Severity = serde_word("warning").unwrap();
        assert_eq!(s, ::alerts::model::Severity::Warning);
        let e = serde_word::<::alerts::model::Severity>("loud").unwrap_err();
        assert!(
            e.contains("unknown variant `loud`") && e.contains("critical"),
            "{e}"
        );
    }
}
