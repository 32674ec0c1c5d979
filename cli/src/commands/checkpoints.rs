//! `streamops checkpoints ...`: the checkpoints function's commands
//! (functions/checkpoints/src/ops.rs).

use checkpoints::{RestoreMode, check_command};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{Effect, FunctionKind, Request, payload, serde_word, string};

/// A pipeline or a job: exactly one, as the function requires.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ScopeArgs {
    /// The pipeline (as registered with register-job).
    #[arg(long)]
    pipeline: Option<String>,
    /// One Flink job (32 hex digits).
    #[arg(long)]
    job_id: Option<String>,
}

impl ScopeArgs {
    fn fields(&self) -> [(&'static str, Option<Value>); 2] {
        [
            ("pipeline", string(&self.pipeline)),
            ("job_id", string(&self.job_id)),
        ]
    }
}

#[derive(Debug, Subcommand)]
pub enum CheckpointsCmd {
    /// The path to restore from, with its age.
    Latest {
        #[command(flatten)]
        scope: ScopeArgs,
        /// savepoint or checkpoint: the newest of that kind instead of the newest of both.
        #[arg(long, value_parser = ["savepoint", "checkpoint"])]
        prefer: Option<String>,
    },
    /// Recent points, newest first.
    List {
        #[command(flatten)]
        scope: ScopeArgs,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Link a job id to a pipeline, with where it was restored from and how.
    RegisterJob {
        #[arg(long)]
        pipeline: String,
        #[arg(long)]
        job_id: String,
        /// The savepoint or checkpoint directory the job started from (s3://...).
        #[arg(long)]
        restored_from: Option<String>,
        /// CLAIM, NO_CLAIM or LEGACY.
        #[arg(long, value_parser = serde_word::<RestoreMode>)]
        restore_mode: Option<RestoreMode>,
    },
    /// Keep a point out of retention (s3://BUCKET/DIR).
    Pin { location: String },
    /// Let retention have a point again; needs --apply.
    Unpin {
        location: String,
        #[arg(long)]
        apply: bool,
    },
    /// Compare the book with the JobManager's view of a job.
    Verify {
        #[arg(long)]
        job_id: String,
        /// Instead of the configured CHECKPOINTS_FLINK_REST_URL.
        #[arg(long)]
        flink_rest_url: Option<String>,
    },
    /// Record every `_metadata` in the bucket that the book misses (idempotent).
    Rescan {
        #[arg(long)]
        job_id: Option<String>,
    },
    /// Checkpoint health of every pipeline in the book (or one): age, consecutive failures,
    /// verdict; its events reach the alerts function unless --no-notify.
    Health {
        #[arg(long)]
        pipeline: Option<String>,
        /// Report only: send no health events.
        #[arg(long)]
        no_notify: bool,
        /// Instead of the configured CHECKPOINTS_FLINK_REST_URL.
        #[arg(long)]
        flink_rest_url: Option<String>,
    },
    /// Apply retention: plans (what would be deleted) unless --apply.
    Prune {
        #[command(flatten)]
        scope: ScopeArgs,
        #[arg(long)]
        apply: bool,
    },
    /// Take a savepoint of the pipeline's running job and book it: says which job and where
    /// unless --apply. Run again with the same --trigger-id (or --schedule-time) to follow one
    /// still in progress.
    Savepoint(SavepointArgs),
}

#[derive(Debug, Args)]
pub struct SavepointArgs {
    #[arg(long)]
    pipeline: String,
    /// Instead of the pipeline's job from the book (it must be running).
    #[arg(long)]
    job_id: Option<String>,
    /// Follow (or take, once) the savepoint of this trigger id (32 hex digits).
    #[arg(long, conflicts_with = "schedule_time")]
    trigger_id: Option<String>,
    /// A slot of the savepoint schedule (RFC 3339): as the schedule would, retention included.
    #[arg(long)]
    schedule_time: Option<String>,
    /// Recorded with the savepoint (default: manual).
    #[arg(long)]
    requested_by: Option<String>,
    /// Instead of the configured CHECKPOINTS_FLINK_REST_URL.
    #[arg(long)]
    flink_rest_url: Option<String>,
    #[arg(long)]
    apply: bool,
}

impl SavepointArgs {
    fn payload(&self) -> (Value, Effect) {
        let fields = [
            ("pipeline", Some(json!(self.pipeline))),
            ("job_id", string(&self.job_id)),
            ("trigger_id", string(&self.trigger_id)),
            ("schedule_time", string(&self.schedule_time)),
            ("requested_by", string(&self.requested_by)),
            ("flink_rest_url", string(&self.flink_rest_url)),
            ("dry_run", Some(json!(!self.apply))),
        ];
        let effect = Effect::Planned { apply: self.apply };
        (payload("savepoint", fields), effect)
    }
}

impl CheckpointsCmd {
    pub fn request(&self) -> Result<Request, String> {
        let (payload, effect) = self.payload();
        // The function's own checks (exactly one scope, a Flink job id, a location in the
        // checkpoint bucket). Pins are checked against the bucket their location names: which
        // bucket the function is configured with is its business, and it says so if they differ.
        let bucket = match self {
            CheckpointsCmd::Pin { location } | CheckpointsCmd::Unpin { location, .. } => {
                location_bucket(location)?
            }
            _ => String::new(),
        };
        super::parsed(check_command(&payload, &bucket))?;
        Ok(Request::new(FunctionKind::Checkpoints, payload, effect))
    }

    fn payload(&self) -> (Value, Effect) {
        match self {
            CheckpointsCmd::Latest { scope, prefer } => {
                let [p, j] = scope.fields();
                let prefer = ("prefer", string(prefer));
                (payload("latest", [p, j, prefer]), Effect::Read)
            }
            CheckpointsCmd::List { scope, limit } => {
                let [p, j] = scope.fields();
                let limit = ("limit", limit.map(|l| json!(l)));
                (payload("list", [p, j, limit]), Effect::Read)
            }
            CheckpointsCmd::RegisterJob {
                pipeline,
                job_id,
                restored_from,
                restore_mode,
            } => {
                let fields = [
                    ("pipeline", Some(json!(pipeline))),
                    ("job_id", Some(json!(job_id))),
                    ("restored_from", string(restored_from)),
                    ("restore_mode", restore_mode.map(|m| json!(m))),
                ];
                (payload("register-job", fields), Effect::Write)
            }
            CheckpointsCmd::Pin { location } => (
                payload("pin", [("location", Some(json!(location)))]),
                Effect::Write,
            ),
            CheckpointsCmd::Unpin { location, apply } => (
                payload("unpin", [("location", Some(json!(location)))]),
                Effect::Guarded { apply: *apply },
            ),
            CheckpointsCmd::Verify {
                job_id,
                flink_rest_url,
            } => {
                let fields = [
                    ("job_id", Some(json!(job_id))),
                    ("flink_rest_url", string(flink_rest_url)),
                ];
                (payload("verify", fields), Effect::Read)
            }
            CheckpointsCmd::Rescan { job_id } => (
                payload("rescan", [("job_id", string(job_id))]),
                Effect::Write,
            ),
            CheckpointsCmd::Health {
                pipeline,
                no_notify,
                flink_rest_url,
            } => {
                // `notify` only when it differs from the function's default (true).
                let notify = ("notify", no_notify.then(|| json!(false)));
                let url = ("flink_rest_url", string(flink_rest_url));
                let fields = [("pipeline", string(pipeline)), notify, url];
                // Alerts dedups what it is sent: a health run changes nothing to undo.
                (payload("health", fields), Effect::Read)
            }
            CheckpointsCmd::Prune { scope, apply } => {
                let [p, j] = scope.fields();
                let dry_run = ("dry_run", Some(json!(!apply)));
                let effect = Effect::Planned { apply: *apply };
                (payload("prune", [p, j, dry_run]), effect)
            }
            CheckpointsCmd::Savepoint(args) => args.payload(),
        }
    }
}

fn location_bucket(location: &str) -> Result<String, String> {
    location
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .map(|(bucket, _)| bucket.to_string())
        .filter(|b| !b.is_empty())
        .ok_or_else(|| format!("location {location:?} is not s3://BUCKET/DIRECTORY"))
}
