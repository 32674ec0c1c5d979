//! Ops commands, invoked by hand: `{"command": "latest", ...}` and friends. [`parse`] reads one
//! and checks its arguments, so the service only ever runs a valid [`Command`].

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::book::{RestoreMode, Scope};
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
    /// Checkpoint health of every pipeline in the book (or one): age of the latest completed
    /// checkpoint, consecutive failures, verdict; published as metrics and health events.
    Health {
        #[serde(default)]
        pipeline: Option<String>,
        /// `false`: report only, send no health events (metrics are published either way).
        #[serde(default = "yes")]
        notify: bool,
        /// Overrides `CHECKPOINTS_FLINK_REST_URL`, as for `verify`.
        #[serde(default)]
        flink_rest_url: Option<String>,
    },
    /// Takes a savepoint of the pipeline's running job, follows it to completion and books it
    /// with its trigger; a scheduled one (`schedule_time`) then applies the pipeline's
    /// retention. Dry run (which job, where, what retention would prune) unless `dry_run` is false.
    Savepoint {
        pipeline: String,
        /// Instead of the pipeline's job from the book (it must be running).
        #[serde(default)]
        job_id: Option<String>,
        /// The schedule's slot (`<aws.scheduler.scheduled-time>`): one savepoint per slot.
        #[serde(default)]
        schedule_time: Option<String>,
        /// By hand: follow (or take, once) the savepoint of this trigger id.
        #[serde(default)]
        trigger_id: Option<String>,
        /// Recorded with the savepoint (the schedule's ARN; `manual` by default).
        #[serde(default)]
        requested_by: Option<String>,
        #[serde(default = "yes")]
        dry_run: bool,
        #[serde(default)]
        flink_rest_url: Option<String>,
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

pub const COMMANDS: &str =
    "latest, list, register-job, pin, unpin, prune, verify, rescan, health, savepoint";

pub fn parse_command(payload: &Value) -> Option<Result<CheckpointsCommand, String>> {
    streamops_shared::ops::parse_command(payload, "checkpoints", COMMANDS)
}

/// Exactly one of pipeline and job id.
pub fn scope(pipeline: &Option<String>, job_id: &Option<String>) -> Result<Scope, String> {
    match (pipeline, job_id) {
        (Some(p), None) if !p.is_empty() => Ok(Scope::Pipeline(p.clone())),
        (None, Some(j)) if !j.is_empty() => Ok(Scope::Job(j.clone())),
        _ => Err("give exactly one of `pipeline` and `job_id`".into()),
    }
}

/// A command with its arguments checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Latest {
        scope: Scope,
        prefer: Option<PointKind>,
    },
    List {
        scope: Scope,
        limit: usize,
    },
    RegisterJob {
        pipeline: String,
        job_id: String,
        restored_from: Option<String>,
        restore_mode: Option<RestoreMode>,
    },
    /// `dir`: the directory's key prefix in the checkpoint bucket, ending in `/`.
    Pin {
        dir: String,
        pinned: bool,
    },
    Rescan {
        job_id: Option<String>,
    },
    Verify {
        job_id: String,
        flink_rest_url: Option<String>,
    },
    Prune {
        scope: Scope,
        dry_run: bool,
    },
    Health {
        pipeline: Option<String>,
        notify: bool,
        flink_rest_url: Option<String>,
    },
    Savepoint(SavepointRequest),
}

/// A `savepoint` command with its arguments checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavepointRequest {
    pub pipeline: String,
    pub job_id: Option<String>,
    pub schedule_time: Option<DateTime<Utc>>,
    pub trigger_id: Option<String>,
    pub requested_by: Option<String>,
    pub dry_run: bool,
    pub flink_rest_url: Option<String>,
}

/// `None` when the payload is not a command; `Some(Err)` naming the problem when it is one but
/// does not parse or its arguments do not fit (`bucket`: the checkpoint bucket pins must be in).
pub fn parse(payload: &Value, bucket: &str) -> Option<Result<Command, String>> {
    Some(parse_command(payload)?.and_then(|cmd| check(cmd, bucket)))
}

fn check(cmd: CheckpointsCommand, bucket: &str) -> Result<Command, String> {
    Ok(match cmd {
        CheckpointsCommand::Latest {
            pipeline,
            job_id,
            prefer,
        } => Command::Latest {
            scope: scope(&pipeline, &job_id)?,
            prefer: prefer.map(Preference::kind),
        },
        CheckpointsCommand::List {
            pipeline,
            job_id,
            limit,
        } => Command::List {
            scope: scope(&pipeline, &job_id)?,
            limit,
        },
        CheckpointsCommand::RegisterJob {
            pipeline,
            job_id,
            restored_from,
            restore_mode,
        } => {
            if job_id.len() != 32 || !job_id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "job_id {job_id:?} is not a Flink job id (32 hex digits)"
                ));
            }
            Command::RegisterJob {
                pipeline,
                job_id,
                restored_from,
                restore_mode,
            }
        }
        CheckpointsCommand::Pin { location } => Command::Pin {
            dir: pin_dir(&location, bucket)?,
            pinned: true,
        },
        CheckpointsCommand::Unpin { location } => Command::Pin {
            dir: pin_dir(&location, bucket)?,
            pinned: false,
        },
        CheckpointsCommand::Rescan { job_id } => Command::Rescan { job_id },
        CheckpointsCommand::Verify {
            job_id,
            flink_rest_url,
        } => Command::Verify {
            job_id,
            flink_rest_url,
        },
        CheckpointsCommand::Prune {
            pipeline,
            job_id,
            dry_run,
        } => Command::Prune {
            scope: scope(&pipeline, &job_id)?,
            dry_run,
        },
        CheckpointsCommand::Health {
            pipeline,
            notify,
            flink_rest_url,
        } => health(pipeline, notify, flink_rest_url)?,
        cmd @ CheckpointsCommand::Savepoint { .. } => Command::Savepoint(savepoint(cmd)?),
    })
}

fn savepoint(cmd: CheckpointsCommand) -> Result<SavepointRequest, String> {
    let CheckpointsCommand::Savepoint {
        pipeline,
        job_id,
        schedule_time,
        trigger_id,
        requested_by,
        dry_run,
        flink_rest_url,
    } = cmd
    else {
        return Err("not a savepoint command".into());
    };
    Ok(SavepointRequest {
        schedule_time: schedule_slot(schedule_time.as_deref(), trigger_id.as_deref())?,
        job_id: hex_id("job_id", job_id)?,
        trigger_id: hex_id("trigger_id", trigger_id)?,
        pipeline: named(pipeline)?,
        requested_by,
        dry_run,
        flink_rest_url: endpoint(flink_rest_url)?,
    })
}

fn named(pipeline: String) -> Result<String, String> {
    if pipeline.is_empty() {
        return Err("`pipeline` is empty".into());
    }
    Ok(pipeline)
}

/// A Flink id (32 hex digits), if given.
fn hex_id(what: &str, id: Option<String>) -> Result<Option<String>, String> {
    match id {
        Some(id) if !crate::layout::is_job_id(&id) => {
            Err(format!("{what} {id:?} is not a Flink id (32 hex digits)"))
        }
        id => Ok(id),
    }
}

/// The schedule's time (RFC 3339, as EventBridge Scheduler writes it); a scheduled savepoint
/// has no caller-chosen trigger id.
fn schedule_slot(
    time: Option<&str>,
    trigger_id: Option<&str>,
) -> Result<Option<DateTime<Utc>>, String> {
    let Some(time) = time else { return Ok(None) };
    if trigger_id.is_some() {
        return Err("give `schedule_time` (scheduled) or `trigger_id` (by hand), not both".into());
    }
    DateTime::parse_from_rfc3339(time)
        .map(|t| Some(t.to_utc()))
        .map_err(|e| format!("schedule_time {time:?} is not an RFC 3339 time: {e}"))
}

fn endpoint(url: Option<String>) -> Result<Option<String>, String> {
    if let Some(url) = &url {
        crate::flink_rest::parse_endpoint(url)
            .map_err(|e| format!("flink_rest_url {url:?}: {e}"))?;
    }
    Ok(url)
}

/// All pipelines or one named; a JobManager endpoint the config reader would accept.
fn health(
    pipeline: Option<String>,
    notify: bool,
    flink_rest_url: Option<String>,
) -> Result<Command, String> {
    if pipeline.as_deref() == Some("") {
        return Err("`pipeline` is empty: name one, or leave it out for all".into());
    }
    Ok(Command::Health {
        pipeline,
        notify,
        flink_rest_url: endpoint(flink_rest_url)?,
    })
}

/// `s3://<bucket>/<dir>` (with or without the trailing `/`) as the directory's key prefix.
fn pin_dir(location: &str, bucket: &str) -> Result<String, String> {
    let prefix = format!("s3://{bucket}/");
    let dir = location
        .strip_prefix(&prefix)
        .ok_or_else(|| format!("location {location:?} is not in {prefix}"))?;
    Ok(if dir.ends_with('/') {
        dir.to_string()
    } else {
        format!("{dir}/")
    })
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

    #[test]
    fn arguments_are_checked_before_anything_runs() {
        let parse = |v: Value| parse(&v, "bkt").unwrap();
        assert_eq!(
            parse(json!({"command": "latest", "pipeline": "p", "prefer": "savepoint"})),
            Ok(Command::Latest {
                scope: Scope::Pipeline("p".into()),
                prefer: Some(PointKind::Savepoint)
            })
        );
        assert_eq!(
            parse(json!({"command": "latest"})).unwrap_err(),
            "give exactly one of `pipeline` and `job_id`"
        );
        let e =
            parse(json!({"command": "register-job", "pipeline": "p", "job_id": "j"})).unwrap_err();
        assert_eq!(e, "job_id \"j\" is not a Flink job id (32 hex digits)");
        assert_eq!(
            parse(
                json!({"command": "unpin", "location": "s3://bkt/flink/savepoints/savepoint-a1b2c3-0123456789ab"})
            ),
            Ok(Command::Pin {
                dir: "flink/savepoints/savepoint-a1b2c3-0123456789ab/".into(),
                pinned: false
            })
        );
        assert_eq!(
            parse(json!({"command": "health"})),
            Ok(Command::Health {
                pipeline: None,
                notify: true,
                flink_rest_url: None
            })
        );
        let e = parse(json!({"command": "health", "flink_rest_url": "10.0.0.1:8081"})).unwrap_err();
        assert!(e.starts_with("flink_rest_url \"10.0.0.1:8081\""), "{e}");
        assert_eq!(
            parse(json!({"command": "health", "pipeline": "", "notify": false})).unwrap_err(),
            "`pipeline` is empty: name one, or leave it out for all"
        );
        let e = parse(json!({"command": "pin", "location": "s3://elsewhere/x/"})).unwrap_err();
        assert_eq!(e, "location \"s3://elsewhere/x/\" is not in s3://bkt/");
        let e =
            parse(json!({"command": "savepoint", "pipeline": "p", "schedule_time": "yesterday"}))
                .unwrap_err();
        assert!(e.starts_with("schedule_time \"yesterday\""), "{e}");
        let e =
            parse(json!({"command": "savepoint", "pipeline": "p", "trigger_id": "x"})).unwrap_err();
        assert_eq!(e, "trigger_id \"x\" is not a Flink id (32 hex digits)");
        let Ok(Command::Savepoint(r)) = parse(
            json!({"command": "savepoint", "pipeline": "p", "schedule_time": "2026-12-02T05:00:00Z"}),
        ) else {
            panic!("a scheduled savepoint parses")
        };
        assert!(r.dry_run, "a dry run unless told");
        assert_eq!(
            r.schedule_time.unwrap().to_rfc3339(),
            "2026-12-02T05:00:00+00:00"
        );
        assert_eq!(
            parse(json!({"command": "prune", "job_id": "j", "dry_run": false})),
            Ok(Command::Prune {
                scope: Scope::Job("j".into()),
                dry_run: false
            })
        );
    }
}
