//! Ops commands, invoked by hand: `{"command": "latest", ...}` and friends.

use serde::Deserialize;
use serde_json::Value;

use crate::book::RestoreMode;
use crate::layout::PointKind;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CheckpointsCommand {
    /// The path to restore from, with its age.
    Latest {
        #[serde(default)]
        pipeline: Option<String>,
        #[serde(default)]
        job_id: Option<String>,
        /// `savepoint` or `checkpoint`: the newest of that kind instead of the newest of both.
        #[serde(default)]
        prefer: Option<Preference>,
    },
    /// Recent points, newest first.
    List {
        #[serde(default)]
        pipeline: Option<String>,
        #[serde(default)]
        job_id: Option<String>,
        #[serde(default = "default_limit")]
        limit: usize,
    },
    /// Links a job id to a pipeline, with where it was restored from and how.
    RegisterJob {
        pipeline: String,
        job_id: String,
        #[serde(default)]
        restored_from: Option<String>,
        #[serde(default)]
        restore_mode: Option<RestoreMode>,
    },
    Pin {
        location: String,
    },
    Unpin {
        location: String,
    },
    /// Compares the book with the JobManager's view (`GET /jobs/:id/checkpoints`).
    Verify {
        job_id: String,
        /// Overrides `CHECKPOINTS_FLINK_REST_URL` (e.g. after the cluster moved).
        #[serde(default)]
        flink_rest_url: Option<String>,
    },
    /// Lists the checkpoint and savepoint prefixes and records every `_metadata` the book misses
    /// (events lost or never delivered). Idempotent: known points change nothing.
    Rescan {
        /// Only this job's checkpoint directory (savepoints are always scanned).
        #[serde(default)]
        job_id: Option<String>,
    },
    /// Applies retention to a pipeline (or one job); dry run unless `dry_run` is false.
    Prune {
        #[serde(default)]
        pipeline: Option<String>,
        #[serde(default)]
        job_id: Option<String>,
        #[serde(default = "yes")]
        dry_run: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preference {
    Savepoint,
    Checkpoint,
}

impl Preference {
    pub fn kind(self) -> PointKind {
        match self {
            Preference::Savepoint => PointKind::Savepoint,
            Preference::Checkpoint => PointKind::Checkpoint,
        }
    }
}

fn default_limit() -> usize {
    20
}

fn yes() -> bool {
    true
}

pub const COMMANDS: &str = "latest, list, register-job, pin, unpin, prune, verify, rescan";

pub fn parse_command(payload: &Value) -> Option<Result<CheckpointsCommand, String>> {
    let name = payload.get("command")?.as_str().unwrap_or("");
    Some(serde_json::from_value(payload.clone()).map_err(|e| {
        if COMMANDS.split(", ").any(|c| c == name) {
            format!("invalid {name} command: {e}")
        } else {
            format!("unknown command {name:?}; checkpoints accepts: {COMMANDS}")
        }
    }))
}

/// Exactly one of pipeline and job id.
pub fn scope(pipeline: &Option<String>, job_id: &Option<String>) -> Result<Scope, String> {
    match (pipeline, job_id) {
        (Some(p), None) if !p.is_empty() => Ok(Scope::Pipeline(p.clone())),
        (None, Some(j)) if !j.is_empty() => Ok(Scope::Job(j.clone())),
        _ => Err("give exactly one of `pipeline` and `job_id`".into()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Pipeline(String),
    Job(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_and_errors() {
        assert!(matches!(
            parse_command(&json!({"command": "prune", "pipeline": "p"}))
                .unwrap()
                .unwrap(),
            CheckpointsCommand::Prune { dry_run: true, .. }
        ));
        let e = parse_command(&json!({"command": "register-job", "pipeline": "p", "job_id": "j", "restore_mode": "COPY"}))
            .unwrap()
            .unwrap_err();
        assert!(
            e.contains("invalid register-job") && e.contains("COPY"),
            "{e}"
        );
        let e = parse_command(&json!({"command": "restore"}))
            .unwrap()
            .unwrap_err();
        assert!(e.contains("unknown command") && e.contains("latest"), "{e}");
        assert!(parse_command(&json!({"Records": []})).is_none());
        assert_eq!(
            scope(&Some("p".into()), &None),
            Ok(Scope::Pipeline("p".into()))
        );
        assert!(scope(&Some("p".into()), &Some("j".into())).is_err());
        assert!(scope(&None, &None).is_err());
    }
}
