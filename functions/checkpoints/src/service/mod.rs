//! The handler: S3 object events become entries in the book ([`events`]); ops commands (parsed
//! and checked in [`crate::ops`]) read it, link jobs to pipelines and pin points ([`commands`]),
//! prune ([`retention`]), judge checkpoint health ([`health`]) and take savepoints
//! ([`savepoint`]).
//!
//! The service is generic over its ports ([`crate::ports`]): the DynamoDB, S3 and HTTP adapters
//! in production, the in-memory fakes in `tests/service.rs`.

mod commands;
mod events;
mod health;
mod outcome;
mod retention;
mod savepoint;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use streamops_shared::harness::Classified;
use streamops_shared::{AwsCallError, ErrorClass, Metrics};
use tokio::time::{Duration, Instant};

use crate::config::CheckpointsConfig;
use crate::eventbridge::EventBridgeHealth;
use crate::flink_rest::FlinkHttp;
use crate::input::parse_events;
use crate::objects::CheckpointBucket;
use crate::ops::{self, Command};
use crate::ports::{BookStore, CheckpointObjects, FlinkRest, HealthNotifier};
use crate::store::Book;

/// How long [`CheckpointsService::handle`] may run: the function's timeout.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(60);

pub use outcome::{Action, Outcome};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointsError {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    BadCommand(String),
    #[error("{0}")]
    Aws(#[from] AwsCallError),
    #[error("Flink REST API: {0}")]
    Flink(String),
    /// A savepoint outlasted the invocation: a retry of the same command follows it.
    #[error("{0}")]
    InProgress(String),
}

impl Classified for CheckpointsError {
    fn class(&self) -> ErrorClass {
        match self {
            CheckpointsError::Aws(e) => e.class,
            CheckpointsError::Input(_) | CheckpointsError::BadCommand(_) => ErrorClass::Permanent,
            // The JobManager unreachable or busy, or a savepoint still being written: worth
            // another try.
            CheckpointsError::Flink(_) | CheckpointsError::InProgress(_) => ErrorClass::Retryable,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            CheckpointsError::Aws(_) => "AwsCall",
            CheckpointsError::Input(_) => "BadInput",
            CheckpointsError::BadCommand(_) => "BadCommand",
            CheckpointsError::Flink(_) => "FlinkRest",
            CheckpointsError::InProgress(_) => "SavepointInProgress",
        }
    }
}

/// The function, over its ports: the book, the checkpoint bucket, Flink's REST API and where
/// health events go.
pub struct CheckpointsService<B = Book, O = CheckpointBucket, F = FlinkHttp, N = EventBridgeHealth>
{
    pub config: CheckpointsConfig,
    pub book: B,
    pub bucket: O,
    pub flink: F,
    pub notifier: N,
}

impl<B: BookStore, O: CheckpointObjects, F: FlinkRest, N: HealthNotifier>
    CheckpointsService<B, O, F, N>
{
    /// [`Self::handle_until`] with [`DEFAULT_BUDGET`] to run.
    pub async fn handle(
        &self,
        payload: Value,
        now: DateTime<Utc>,
        metrics: &mut Metrics,
    ) -> Result<Value, CheckpointsError> {
        let deadline = Instant::now() + DEFAULT_BUDGET;
        self.handle_until(payload, now, deadline, metrics).await
    }

    /// One invocation; `deadline`: when Lambda stops it (a savepoint is followed until shortly
    /// before).
    pub async fn handle_until(
        &self,
        payload: Value,
        now: DateTime<Utc>,
        deadline: Instant,
        metrics: &mut Metrics,
    ) -> Result<Value, CheckpointsError> {
        if let Some(cmd) = ops::parse(&payload, self.bucket.name()) {
            let cmd = cmd.map_err(CheckpointsError::BadCommand)?;
            return self.command(cmd, now, deadline, metrics).await;
        }
        let items = parse_events(&payload).map_err(CheckpointsError::Input)?;
        let mut outcomes = Vec::with_capacity(items.len());
        for item in items {
            let o = self.object_event(item).await?;
            metrics.count_by("ObjectEvents", "action", o.action.as_str(), 1);
            if let Some(pipeline) = &o.advanced_pipeline {
                metrics.count_by("LatestAdvanced", "pipeline", pipeline, 1);
            }
            tracing::info!(key = %o.key, action = o.action.as_str(), detail = o.detail.as_deref().unwrap_or(""), "object event");
            outcomes.push(o);
        }
        Ok(json!({ "outcomes": outcomes }))
    }

    async fn command(
        &self,
        cmd: Command,
        now: DateTime<Utc>,
        deadline: Instant,
        metrics: &mut Metrics,
    ) -> Result<Value, CheckpointsError> {
        match cmd {
            Command::Latest { scope, prefer } => self.latest_command(&scope, prefer, now).await,
            Command::List { scope, limit } => self.list(&scope, limit).await,
            Command::RegisterJob {
                pipeline,
                job_id,
                restored_from,
                restore_mode,
            } => {
                self.register_job(pipeline, job_id, restored_from, restore_mode, now)
                    .await
            }
            Command::Pin { dir, pinned } => self.pin(&dir, pinned).await,
            Command::Rescan { job_id } => self.rescan(job_id.as_deref(), now).await,
            Command::Verify {
                job_id,
                flink_rest_url,
            } => self.verify(&job_id, flink_rest_url).await,
            Command::Prune { scope, dry_run } => self.prune(&scope, dry_run, now).await,
            Command::Health {
                pipeline,
                notify,
                flink_rest_url,
            } => {
                let run = health::Run {
                    notify,
                    flink_rest_url,
                };
                self.health(pipeline, &run, now, metrics).await
            }
            Command::Savepoint(req) => self.savepoint(req, now, deadline, metrics).await,
        }
    }
}
