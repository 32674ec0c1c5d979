//! The outside systems the service talks to, one small port each, and the values that cross them.
//! The adapters ([`crate::store`] for DynamoDB, [`crate::objects`] for S3, [`crate::flink_rest`]
//! for the JobManager, [`crate::eventbridge`] for health events) implement them; the fakes in `tests/support` implement them in memory.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::Value;
use streamops_shared::AwsCallError;
use streamops_shared::dynamo::WriteOutcome;

use crate::book::{CheckpointRecord, JobLineage, PointId, PointStatus, Scope};
use crate::health_event::HealthEvent;
use crate::savepoint::{SavepointClaim, SavepointEvent, SavepointTrigger};

/// What a latest pointer names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestPointer {
    pub location: String,
    pub point: PointId,
}

/// The book (DynamoDB): points, latest pointers and the pipeline registry, conditional writes only.
pub trait BookStore {
    /// Records a point once; a redelivered event finds it (`ConditionFailed`) and changes nothing.
    fn record(
        &self,
        r: &CheckpointRecord,
    ) -> impl Future<Output = Result<WriteOutcome, AwsCallError>> + Send;

    /// Moves the latest pointer of a job or pipeline to `r` only if `r` is newer than what it names.
    fn advance_latest(
        &self,
        of: &Scope,
        r: &CheckpointRecord,
    ) -> impl Future<Output = Result<WriteOutcome, AwsCallError>> + Send;

    fn latest(
        &self,
        of: &Scope,
    ) -> impl Future<Output = Result<Option<LatestPointer>, AwsCallError>> + Send;

    fn point(
        &self,
        id: &PointId,
    ) -> impl Future<Output = Result<Option<CheckpointRecord>, AwsCallError>> + Send;

    /// Every point of a job, oldest first.
    fn points(
        &self,
        job: &str,
    ) -> impl Future<Output = Result<Vec<CheckpointRecord>, AwsCallError>> + Send;

    /// Sets a point's status if it is still `from`; `false` when it is not (or is not in the book).
    fn set_status(
        &self,
        id: &PointId,
        from: PointStatus,
        to: PointStatus,
    ) -> impl Future<Output = Result<bool, AwsCallError>> + Send;

    /// Marks a point [`PointStatus::Pruning`] if it is still `from` and not pinned: the one write
    /// that lets a prune delete it. `false` when somebody changed it since the plan.
    fn mark_pruning(
        &self,
        id: &PointId,
        from: PointStatus,
    ) -> impl Future<Output = Result<bool, AwsCallError>> + Send;

    /// `false` when the point is not in the book.
    fn set_pinned(
        &self,
        id: &PointId,
        pinned: bool,
    ) -> impl Future<Output = Result<bool, AwsCallError>> + Send;

    /// Deletes a point's entry (idempotent): a savepoint booked under `unresolved-<prefix>`
    /// once its job is known and the point is booked under it.
    fn forget(&self, id: &PointId) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// Registers a job of a pipeline (idempotent: the last registration wins).
    fn register_job(&self, j: &JobLineage)
    -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// Remembers a full job id under its first six hex digits, for savepoint directories.
    fn index_job(&self, job: &str) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    fn jobs_with_prefix(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, AwsCallError>> + Send;

    fn pipeline_of(
        &self,
        job: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsCallError>> + Send;

    fn lineage(
        &self,
        pipeline: &str,
    ) -> impl Future<Output = Result<Vec<JobLineage>, AwsCallError>> + Send;

    /// Claims a pipeline's savepoint slot once: `ConditionFailed` when it is claimed already
    /// (a retry of the invocation, or a concurrent one).
    fn claim_savepoint(
        &self,
        c: &SavepointClaim,
    ) -> impl Future<Output = Result<WriteOutcome, AwsCallError>> + Send;

    fn savepoint_claim(
        &self,
        pipeline: &str,
        slot: &str,
    ) -> impl Future<Output = Result<Option<SavepointClaim>, AwsCallError>> + Send;

    /// Writes a claim's new state (only the invocation that holds it, or a retry of it, does).
    fn update_claim(
        &self,
        c: &SavepointClaim,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// Remembers why the savepoint in `dir` was taken, for its point whichever books it first.
    fn note_trigger(
        &self,
        dir: &str,
        t: &SavepointTrigger,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    fn trigger_of(
        &self,
        dir: &str,
    ) -> impl Future<Output = Result<Option<SavepointTrigger>, AwsCallError>> + Send;

    /// Sets a point's trigger; `false` when the point is not in the book.
    fn set_trigger(
        &self,
        id: &PointId,
        t: &SavepointTrigger,
    ) -> impl Future<Output = Result<bool, AwsCallError>> + Send;

    /// Every pipeline the book has items under (a registered job or a latest pointer), sorted:
    /// from the book's pipelines index.
    fn pipelines(&self) -> impl Future<Output = Result<Vec<String>, AwsCallError>> + Send;
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedObject {
    pub key: String,
    pub size: i64,
    pub etag: Option<String>,
    pub last_modified: DateTime<Utc>,
}

/// Keys a prune must never delete, whatever directory it was asked to clear: Flink
/// reference-counts the files under `shared/` across checkpoints, and `taskowned/` belongs to
/// the running job.
pub fn is_protected(key: &str) -> bool {
    key.contains("/shared/") || key.contains("/taskowned/")
}

/// The checkpoint bucket (S3).
pub trait CheckpointObjects {
    fn name(&self) -> &str;

    /// The first bytes of an object (fewer if it is shorter; empty if it is empty); `None` when
    /// there is no such object (deleted since its event was sent, or since a listing).
    fn head_bytes(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, AwsCallError>> + Send;

    /// Every object under `prefix`, with size and last-modified time.
    fn list_objects(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ListedObject>, AwsCallError>> + Send;

    /// Deletes every key under `dir` except [`is_protected`] ones; returns how many were deleted.
    fn delete_dir(&self, dir: &str) -> impl Future<Output = Result<usize, AwsCallError>> + Send;
}

/// Flink's REST API (the JobManager).
pub trait FlinkRest {
    /// `GET /jobs/:id/checkpoints` at `endpoint` (`http://host:port`).
    fn job_checkpoints(
        &self,
        endpoint: &str,
        job: &str,
    ) -> impl Future<Output = Result<Value, String>> + Send;

    /// `GET /jobs/:id/checkpoints/config`: the job's checkpointing configuration.
    fn checkpoint_config(
        &self,
        endpoint: &str,
        job: &str,
    ) -> impl Future<Output = Result<Value, String>> + Send;

    /// `GET /jobs/overview`: every job the JobManager knows, with its name and state.
    fn jobs_overview(&self, endpoint: &str) -> impl Future<Output = Result<Value, String>> + Send;

    /// `POST /jobs/:id/savepoints` with `body` (carrying our trigger id: a repeat finds the
    /// operation Flink already has).
    fn trigger_savepoint(
        &self,
        endpoint: &str,
        job: &str,
        body: &Value,
    ) -> impl Future<Output = Result<Value, String>> + Send;

    /// `GET /jobs/:id/savepoints/:trigger`.
    fn savepoint_status(
        &self,
        endpoint: &str,
        job: &str,
        trigger: &str,
    ) -> impl Future<Output = Result<Value, String>> + Send;
}

/// Where the function's events go (EventBridge, for the alerts function's rules): health
/// evaluations, and savepoints that could not be taken.
pub trait HealthNotifier {
    fn publish(&self, event: &HealthEvent)
    -> impl Future<Output = Result<(), AwsCallError>> + Send;

    fn publish_savepoint(
        &self,
        event: &SavepointEvent,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;
}
