//! The outside systems the service talks to, one small port each, and the values that cross them.
//! The SDK adapters ([`crate::registry`], [`crate::athena`], [`crate::glue`], [`crate::s3data`])
//! implement them for AWS; the fakes in `tests/support` implement them in memory.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::Value;
use streamops_shared::AwsCallError;
use streamops_shared::dynamo::WriteOutcome;

use crate::poll::PollStats;
use crate::table::PartitionSpec;

/// What a registry claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// We hold the claim: register the partition.
    Claimed,
    /// A registered mark exists: nothing to do.
    AlreadyRegistered,
    /// Another invocation holds an unexpired claim: its result is not known yet.
    InFlight,
}

/// The registry of partitions (DynamoDB): one conditional write per partition.
pub trait RegistryStore {
    /// Puts a `pending` mark with our token unless a live mark exists.
    fn claim(
        &self,
        spec: &PartitionSpec,
        token: &str,
        claim_expires_at: i64,
        now: i64,
    ) -> impl Future<Output = Result<ClaimOutcome, AwsCallError>> + Send;

    /// Turns our claim into a registered mark with the long TTL (a no-op if the claim is no longer ours).
    fn confirm(
        &self,
        spec: &PartitionSpec,
        token: &str,
        expires_at: i64,
        now: i64,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// Deletes our claim (only if it still carries our token) so a retry registers the partition.
    fn release(
        &self,
        spec: &PartitionSpec,
        token: &str,
    ) -> impl Future<Output = Result<WriteOutcome, AwsCallError>> + Send;

    /// Deletes the partition's mark, whatever it holds: the partition is being dropped, and an
    /// object landing from now on must claim and register it afresh.
    fn forget(&self, spec: &PartitionSpec)
    -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// Records partitions a backfill registered (unconditionally).
    fn record_registered(
        &self,
        specs: &[&PartitionSpec],
        token: &str,
        expires_at: i64,
        now: i64,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;
}

/// How a DDL query ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryResult {
    Succeeded,
    /// FAILED or CANCELLED, with Athena's reason and whether Athena says a retry may succeed.
    Failed {
        state: String,
        reason: String,
        /// Athena's error category: 1 system, 2 user, 3 other.
        category: Option<i32>,
        error_type: Option<i32>,
        retryable: bool,
    },
    /// Still QUEUED or RUNNING at the deadline (it may yet finish; `ADD IF NOT EXISTS` makes a
    /// retry harmless either way).
    TimedOut {
        last_state: String,
    },
}

impl QueryResult {
    /// A short classification for logs and responses.
    pub fn classification(&self) -> &'static str {
        match self {
            QueryResult::Succeeded => "succeeded",
            QueryResult::TimedOut { .. } => "timed_out",
            QueryResult::Failed {
                retryable: true, ..
            } => "failed_retryable",
            QueryResult::Failed {
                category: Some(1), ..
            } => "failed_system",
            QueryResult::Failed {
                category: Some(2), ..
            } => "failed_user",
            QueryResult::Failed { state, .. } if state == "CANCELLED" => "cancelled",
            QueryResult::Failed { .. } => "failed_other",
        }
    }
}

#[derive(Debug, Clone)]
pub struct QueryReport {
    pub query_id: String,
    pub result: QueryResult,
    pub stats: PollStats,
    pub start_retries: u32,
}

/// Runs one DDL statement (Athena) and waits for it until `deadline`.
pub trait DdlRunner {
    /// `idempotency` identifies the attempt: a retried start with the same one never runs twice.
    fn run(
        &self,
        sql: &str,
        database: &str,
        idempotency: &str,
        deadline: Instant,
    ) -> impl Future<Output = Result<QueryReport, AwsCallError>> + Send;
}

/// One partition's result in the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryResult {
    Created,
    AlreadyExists,
    Failed { code: String, message: String },
}

/// The Glue Data Catalog's partitions of a table.
pub trait PartitionCatalog {
    /// Creates `specs` (one table) with the table's storage descriptor; one result per spec, in order.
    fn create_partitions(
        &self,
        database: &str,
        table: &str,
        specs: &[&PartitionSpec],
        deadline: Instant,
    ) -> impl Future<Output = Result<Vec<EntryResult>, AwsCallError>> + Send;

    /// Deletes `specs` (one table); one result per spec, in order. A partition the catalog
    /// does not have counts as deleted.
    fn delete_partitions(
        &self,
        database: &str,
        table: &str,
        specs: &[&PartitionSpec],
        deadline: Instant,
    ) -> impl Future<Output = Result<Vec<Result<(), String>>, AwsCallError>> + Send;

    /// The value lists of every registered partition of a table.
    fn partition_values(
        &self,
        database: &str,
        table: &str,
    ) -> impl Future<Output = Result<BTreeSet<Vec<String>>, AwsCallError>> + Send;
}

/// The data bucket (S3): does a partition directory hold any object, and which directories are
/// there at one level?
pub trait DataListing {
    fn has_objects(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<bool, AwsCallError>> + Send;

    /// The names of the directories right under `prefix` (a listing delimited by `/`: each
    /// common prefix without `prefix` and its trailing `/`), sorted, at most `limit + 1` of them
    /// so the caller can tell there were more.
    fn directories(
        &self,
        bucket: &str,
        prefix: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<String>, AwsCallError>> + Send;
}

/// Long-running queries (Iceberg maintenance) under the caller's control: started, waited for
/// up to a bound the caller picks, and stopped.
pub trait MaintenanceQueries {
    /// `StartQueryExecution` (throttled starts retried until `deadline`): the query's id.
    /// `idempotency` identifies the attempt, so a retried start never runs it twice.
    fn start(
        &self,
        sql: &str,
        database: &str,
        idempotency: &str,
        deadline: Instant,
    ) -> impl Future<Output = Result<String, AwsCallError>> + Send;

    /// Polls the query to a final state or `until` ([`QueryResult::TimedOut`] then).
    fn wait(
        &self,
        query_id: &str,
        until: Instant,
    ) -> impl Future<Output = Result<(QueryResult, PollStats), AwsCallError>> + Send;

    /// `StopQueryExecution`.
    fn stop(&self, query_id: &str) -> impl Future<Output = Result<(), AwsCallError>> + Send;
}

/// Events for the alerts function (EventBridge, default bus).
pub trait EventPublisher {
    fn publish(
        &self,
        event: &crate::maintenance::MaintenanceEvent,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;
}

/// A query left running by an earlier `maintain` run, as its lease recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftQuery {
    pub query_execution_id: String,
    pub operation: crate::maintenance::Operation,
    pub sql: String,
    /// When it started (epoch seconds).
    pub started_at: i64,
}

/// What taking a table's maintenance lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// Ours until we release it. `left`: the query an earlier run left running under a lease
    /// that has since expired (its runtime bound has passed): to be looked at, and stopped if
    /// it still runs.
    Acquired { left: Option<LeftQuery> },
    /// Another run holds the table (its query, if it left one running).
    Held { left: Option<LeftQuery> },
}

/// One lease per Iceberg table, so two `maintain` runs never run queries on it at once.
pub trait MaintenanceLeases {
    fn acquire_lease(
        &self,
        table: &str,
        token: &str,
        expires_at: i64,
        now: i64,
    ) -> impl Future<Output = Result<LeaseOutcome, AwsCallError>> + Send;

    /// Keeps our lease past this run for the query left running, until `expires_at`.
    fn hold_lease(
        &self,
        table: &str,
        token: &str,
        left: &LeftQuery,
        expires_at: i64,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// Deletes our lease (only if it still carries our token).
    fn release_lease(
        &self,
        table: &str,
        token: &str,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// A follow-up takes over the lease the run `from` kept (or that this run, `to`, already
    /// took: a retried follow-up), until `expires_at`: the query it records, or `None` when
    /// the lease was released or taken by another run since (nothing to follow).
    fn take_over_lease(
        &self,
        table: &str,
        from: &str,
        to: &str,
        expires_at: i64,
    ) -> impl Future<Output = Result<Option<LeftQuery>, AwsCallError>> + Send;

    /// Keeps how the table's latest run ended (its answer), for `status`.
    fn record_run(
        &self,
        table: &str,
        at: DateTime<Utc>,
        run: &Value,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// The table's lease (if one is held or kept) and its latest run, for `status`.
    fn maintenance_state(
        &self,
        table: &str,
    ) -> impl Future<Output = Result<MaintenanceState, AwsCallError>> + Send;
}

/// A table's maintenance as `status` shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MaintenanceState {
    pub lease: Option<LeaseView>,
    /// The latest run's answer for the table, and when it ran.
    pub last_run: Option<(DateTime<Utc>, Value)>,
}

/// A lease as stored: whose, until when, and the query it keeps, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseView {
    pub token: String,
    pub expires_at: i64,
    pub left: Option<LeftQuery>,
}

/// One-time schedules that invoke this function again (EventBridge Scheduler).
pub trait FollowUpScheduler {
    /// Creates the schedule `name` to send `input` once at `at`, deleted after it ran. One
    /// that exists already (a retried run asked for it) counts as created.
    fn schedule_once(
        &self,
        name: &str,
        at: DateTime<Utc>,
        input: &Value,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;
}
