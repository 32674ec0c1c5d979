//! The outside systems the service talks to, one small trait each: the state store (dedup
//! records, publish claims, silences, firing inhibition sources, groups, the suite's
//! activities), the publisher, the flush queue and the checkpoints book (read only). [`crate::store::AlertStore`]
//! (DynamoDB) and [`crate::publisher::AlertPublisher`] (SNS) are the production adapters; the
//! tests' in-memory fakes (`tests/support`) script their faults.
//!
//! Methods return `Send` futures (written `fn .. -> impl Future + Send`, implemented with
//! `async fn`), so a service built on any adapter can run on a multi-threaded runtime.

use std::future::Future;

use streamops_shared::AwsCallError;
use streamops_shared::dynamo::WriteOutcome;

pub use crate::context::{Activity, HeldAlert, RestorePoint};
pub use crate::dedup::{Claim, StoredState};
pub use crate::group::{FlushRequest, Group};
pub use crate::inhibit::{Inhibitor, MutedTarget};
pub use crate::model::Alert;
pub use crate::render::SnsMessage;
pub use crate::silence::Silence;

/// Dedup state per fingerprint (with its publish claim) and the operators' silences.
///
/// The contract the service relies on, which every adapter keeps:
/// - a stored state carries a version; [`StateStore::write_state`] stores `expected + 1`
///   (1 for a new record) only if the stored version is still `expected` (`None`: no record);
/// - [`StateStore::release_claim`] drops the claim only if it is still this event's, and
///   bumps the version; a claim taken over by another event is left alone (not an error);
/// - [`StateStore::roll_back_claim`] puts back the record as it was before the claim (version
///   `previous + 2`, or no record at all) only if the claim is still this event's.
pub trait StateStore {
    fn load_state(
        &self,
        fingerprint: &str,
    ) -> impl Future<Output = Result<Option<StoredState>, AwsCallError>> + Send;

    /// Writes `state` if the stored version is still `expected` (None: no item yet).
    fn write_state(
        &self,
        alert: &Alert,
        state: &StoredState,
        expected: Option<u64>,
        expires_at: i64,
    ) -> impl Future<Output = Result<WriteOutcome, AwsCallError>> + Send;

    /// After a successful publish: drop our claim (only ours) and bump the version.
    fn release_claim(
        &self,
        fingerprint: &str,
        event_id: &str,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// After a failed publish: put back what was there before our claim.
    fn roll_back_claim(
        &self,
        alert: &Alert,
        previous: Option<&StoredState>,
        expires_at: i64,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// Stores a new silence (its id must not exist yet).
    fn put_silence(
        &self,
        silence: &Silence,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// Every stored silence, active or not.
    fn list_silences(&self) -> impl Future<Output = Result<Vec<Silence>, AwsCallError>> + Send;

    /// `true` if the silence existed.
    fn delete_silence(&self, id: &str) -> impl Future<Output = Result<bool, AwsCallError>> + Send;

    /// Stores (or overwrites, idempotently) a firing source under [`Inhibitor::sort_key`].
    fn put_inhibitor(
        &self,
        inhibitor: &Inhibitor,
        expires_at: i64,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// The stored inhibitors whose sort key starts with `prefix` (`""`: all), firing or not.
    fn list_inhibitors(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<Inhibitor>, AwsCallError>> + Send;

    /// Records that `target` was muted by the source `source_fingerprint` (once per target).
    fn put_muted(
        &self,
        source_fingerprint: &str,
        target: &MutedTarget,
        expires_at: i64,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// The targets muted by one source.
    fn list_muted(
        &self,
        source_fingerprint: &str,
    ) -> impl Future<Output = Result<Vec<MutedTarget>, AwsCallError>> + Send;
}

/// Where alerts go.
pub trait Publisher {
    /// Publishes and returns the message id.
    fn publish(
        &self,
        message: &SnsMessage,
    ) -> impl Future<Output = Result<String, AwsCallError>> + Send;
}

/// Group state (see `group.rs`), one item per group key.
///
/// Contract: [`GroupStore::write_group`] stores the group with version `expected + 1` (1 for
/// a new group) only if the stored version is still `expected` (`None`: no group yet).
pub trait GroupStore {
    /// The group with its version, read consistently.
    fn load_group(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Group>, AwsCallError>> + Send;

    fn write_group(
        &self,
        group: &Group,
        expected: Option<u64>,
        expires_at: i64,
    ) -> impl Future<Output = Result<WriteOutcome, AwsCallError>> + Send;

    /// The keys of the groups written (and not yet expired), for `groups`.
    fn list_group_keys(&self) -> impl Future<Output = Result<Vec<String>, AwsCallError>> + Send;
}

/// Where a group's delayed flush is queued (SQS, a per-message delay); each message invokes
/// the function again, which flushes the group.
pub trait FlushQueue {
    fn schedule(
        &self,
        request: &FlushRequest,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// Queues the re-check of a held alert, delayed by its `delay_seconds`.
    fn schedule_recheck(
        &self,
        held: &HeldAlert,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;
}

/// What the suite is doing (see `context.rs`): one activity (or end marker) per key, in the
/// state table.
///
/// Contract: [`ActivityStore::record_activity`] stores it unless the one under its key has a
/// later or equal `since` (a reordered, older start or end changes nothing; a redelivery is a
/// no-op).
pub trait ActivityStore {
    fn record_activity(
        &self,
        activity: &Activity,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// Every stored activity and end marker (they are few: one per target and pipeline).
    fn list_activities(&self) -> impl Future<Output = Result<Vec<Activity>, AwsCallError>> + Send;
}

/// The checkpoints book, read only: a pipeline's latest restorable point.
pub trait RestorePoints {
    /// `Ok(None)`: the book has no point for the pipeline, or no book is configured.
    fn latest_point(
        &self,
        pipeline: &str,
    ) -> impl Future<Output = Result<Option<RestorePoint>, AwsCallError>> + Send;
}
