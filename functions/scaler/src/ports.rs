//! The outside systems the scaler talks to, one small trait each, and what they answer as plain
//! data: the state store (DynamoDB: claims, leases, state, audit), the checkpoints book, Kinesis,
//! EMR, CloudWatch metrics, the Flink JobManager's REST API, the YARN ResourceManager and the
//! notifications. The service is generic over them ([`Ports`]); `adapters` implements them
//! with the AWS SDK and HTTP, the tests with in-memory fakes.
//!
//! Methods return `impl Future + Send`: the service's futures stay `Send` whatever implements
//! them.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::Value;
use streamops_shared::{AwsCallError, ErrorClass};

use crate::audit::AuditEntry;
use crate::metric::MetricRef;
use crate::notify::DecisionEvent;
use crate::policy::{FleetMarket, TargetState};
use crate::rescale::SavepointStatus;

/// Claims, leases, each target's state and audit trail (`SCALER_TABLE`).
pub trait StateStore: Sync {
    /// True when this (alarm transition, target) is seen for the first time.
    fn claim(
        &self,
        alarm: &str,
        state_time: &str,
        target: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, AwsCallError>> + Send;

    /// Gives a claim back: its transition was not decided (the evaluation failed before the
    /// action was recorded), so a redelivery evaluates it rather than skipping a duplicate.
    fn unclaim(
        &self,
        alarm: &str,
        state_time: &str,
        target: &str,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// Takes the target's lease for `owner` until `until` unless another holds an unexpired
    /// one; `Err(holder)` then.
    fn lease(
        &self,
        target: &str,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Result<(), String>, AwsCallError>> + Send;

    /// Gives the lease back (only if `owner` still holds it).
    fn release(
        &self,
        target: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// The target's state (the default when it has none yet), with its version.
    fn state(&self, target: &str)
    -> impl Future<Output = Result<TargetState, AwsCallError>> + Send;

    /// Writes `state` if the stored version is still `state.version` (`None`: no state yet);
    /// false when another writer came first.
    fn put_state(
        &self,
        target: &str,
        state: &TargetState,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, AwsCallError>> + Send;

    /// Appends `entry` to the target's trail under [`crate::audit::audit_key`]`(now, seq)`.
    fn audit(
        &self,
        target: &str,
        entry: &AuditEntry,
        now: DateTime<Utc>,
        seq: usize,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// The newest `limit` entries of the target's trail, newest first.
    fn recent_audit(
        &self,
        target: &str,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<Value>, AwsCallError>> + Send;
}

/// The checkpoints book (`SCALER_CHECKPOINTS_TABLE`), where a resubmitted Flink job is
/// registered under its pipeline.
pub trait CheckpointsBook: Sync {
    fn register_job(
        &self,
        pipeline: &str,
        job_id: &str,
        restored_from: &str,
        restore_mode: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;
}

/// A stream as `DescribeStreamSummary` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    pub on_demand: bool,
    /// `ACTIVE`, `UPDATING`, `CREATING`, `DELETING`.
    pub status: String,
    pub open_shards: i32,
}

/// The account's shards (`DescribeLimits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardQuota {
    pub limit: i32,
    pub open: i32,
}

pub trait KinesisApi: Sync {
    fn stream_summary(
        &self,
        stream: &str,
    ) -> impl Future<Output = Result<StreamSummary, AwsCallError>> + Send;
    /// `stream`: the stream the quota is looked up for (named in errors).
    fn shard_quota(
        &self,
        stream: &str,
    ) -> impl Future<Output = Result<ShardQuota, AwsCallError>> + Send;
    /// `UpdateShardCount` with uniform scaling.
    fn update_shard_count(
        &self,
        stream: &str,
        to: u32,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;
}

/// EMR managed scaling's limits on a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedScaling {
    pub minimum: i32,
    pub maximum: i32,
    pub unit: Option<String>,
}

/// An instance group as `ListInstanceGroups` reports it (types and states as EMR spells them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    pub id: String,
    /// `MASTER`, `CORE`, `TASK`.
    pub group_type: Option<String>,
    pub has_autoscaling_policy: bool,
    pub state: Option<String>,
    pub requested: i32,
}

/// An instance fleet as `ListInstanceFleets` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetView {
    pub id: String,
    pub state: Option<String>,
    pub target_on_demand: Option<i32>,
    pub provisioned_on_demand: Option<i32>,
    pub target_spot: Option<i32>,
    pub provisioned_spot: Option<i32>,
}

/// An EC2 instance of a group (`ListInstances`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    pub ec2_id: String,
    pub private_dns: String,
    pub running: bool,
}

/// A `ModifyInstanceGroups` of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupResize {
    pub cluster_id: String,
    pub group_id: String,
    pub count: u32,
    /// On a scale-in: the shrink policy.
    pub shrink: Option<Shrink>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shrink {
    /// YARN's graceful decommission timeout, and the instance termination timeout.
    pub timeout_seconds: i32,
    /// The EC2 instances to terminate (empty: EMR picks).
    pub instances_to_terminate: Vec<String>,
}

pub trait EmrApi: Sync {
    /// The cluster's state (`RUNNING`, `WAITING`, ...).
    fn cluster_state(
        &self,
        cluster_id: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsCallError>> + Send;
    /// Managed scaling's compute limits, when managed scaling is on.
    fn managed_scaling(
        &self,
        cluster_id: &str,
    ) -> impl Future<Output = Result<Option<ManagedScaling>, AwsCallError>> + Send;
    fn instance_groups(
        &self,
        cluster_id: &str,
    ) -> impl Future<Output = Result<Vec<GroupView>, AwsCallError>> + Send;
    fn instance_fleets(
        &self,
        cluster_id: &str,
    ) -> impl Future<Output = Result<Vec<FleetView>, AwsCallError>> + Send;
    fn instances(
        &self,
        cluster_id: &str,
        group_id: &str,
    ) -> impl Future<Output = Result<Vec<InstanceView>, AwsCallError>> + Send;
    fn modify_instance_group(
        &self,
        resize: &GroupResize,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;
    fn modify_instance_fleet(
        &self,
        cluster_id: &str,
        fleet_id: &str,
        market: FleetMarket,
        to: u32,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;
    /// The state of the newest step named `name` (`PENDING`, `RUNNING`, `FAILED`, ...).
    fn step_state(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsCallError>> + Send;
    /// Adds a `command-runner.jar` step running `args` (continue on failure).
    fn add_step(
        &self,
        cluster_id: &str,
        name: &str,
        args: Vec<String>,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;
}

pub trait MetricsApi: Sync {
    /// The newest datapoint (unscaled) of each metric between `start` and `end`, in one
    /// `GetMetricData` call.
    fn newest(
        &self,
        metrics: &[&MetricRef],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Option<f64>>, AwsCallError>> + Send;
}

/// A job as `GET /jobs/overview` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOverview {
    pub id: String,
    pub name: String,
    pub state: String,
    pub start_time: i64,
}

/// A vertex of a job (`GET /jobs/:id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vertex {
    pub status: String,
    pub parallelism: Option<u64>,
    pub max_parallelism: Option<u64>,
}

/// The Flink JobManager's REST API at `rest_url` (errors are the failed call, as text).
pub trait FlinkApi: Sync {
    fn jobs(&self, rest_url: &str)
    -> impl Future<Output = Result<Vec<JobOverview>, String>> + Send;
    fn vertices(
        &self,
        rest_url: &str,
        job_id: &str,
    ) -> impl Future<Output = Result<Vec<Vertex>, String>> + Send;
    /// The job's effective configuration as key/value pairs.
    fn job_config(
        &self,
        rest_url: &str,
        job_id: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, String>> + Send;
    /// Every vertex's parallelism upper bound becomes `to` (adaptive scheduler).
    fn set_parallelism(
        &self,
        rest_url: &str,
        job_id: &str,
        to: u32,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// `POST /jobs/:id/stop` with our trigger id.
    fn stop_with_savepoint(
        &self,
        rest_url: &str,
        job_id: &str,
        trigger: &str,
        savepoint_dir: Option<&str>,
    ) -> impl Future<Output = Result<(), String>> + Send;
    fn savepoint(
        &self,
        rest_url: &str,
        job_id: &str,
        trigger: &str,
    ) -> impl Future<Output = Result<SavepointStatus, String>> + Send;
    /// `POST /jars/:id/run` from `savepoint` at `parallelism`.
    fn run_jar(
        &self,
        rest_url: &str,
        jar_id: &str,
        savepoint: &str,
        parallelism: u32,
        entry_class: Option<&str>,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// A YARN node (`GET /ws/v1/cluster/nodes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YarnNode {
    pub host: String,
    pub state: String,
    pub containers: u64,
}

pub trait YarnApi: Sync {
    fn nodes(&self, rm_url: &str) -> impl Future<Output = Result<Vec<YarnNode>, String>> + Send;
}

/// Where decisions worth a look go (the alerts function, through EventBridge).
pub trait Notifier: Sync {
    fn publish(
        &self,
        event: &DecisionEvent,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;
}

/// Every port the service uses.
pub trait Ports: Sync {
    type Store: StateStore;
    type Book: CheckpointsBook;
    type Kinesis: KinesisApi;
    type Emr: EmrApi;
    type Metrics: MetricsApi;
    type Flink: FlinkApi;
    type Yarn: YarnApi;
    type Notifier: Notifier;
    fn store(&self) -> &Self::Store;
    /// `None` when no checkpoints book is configured.
    fn checkpoints(&self) -> Option<&Self::Book>;
    fn kinesis(&self) -> &Self::Kinesis;
    fn emr(&self) -> &Self::Emr;
    fn metrics(&self) -> &Self::Metrics;
    fn flink(&self) -> &Self::Flink;
    fn yarn(&self) -> &Self::Yarn;
    fn notifier(&self) -> &Self::Notifier;
}

/// One implementation of each port.
pub struct Adapters<S, B, K, E, M, F, Y, N> {
    pub store: S,
    pub checkpoints: Option<B>,
    pub kinesis: K,
    pub emr: E,
    pub metrics: M,
    pub flink: F,
    pub yarn: Y,
    pub notifier: N,
}

impl<S, B, K, E, M, F, Y, N> Ports for Adapters<S, B, K, E, M, F, Y, N>
where
    S: StateStore,
    B: CheckpointsBook,
    K: KinesisApi,
    E: EmrApi,
    M: MetricsApi,
    F: FlinkApi,
    Y: YarnApi,
    N: Notifier,
{
    type Store = S;
    type Book = B;
    type Kinesis = K;
    type Emr = E;
    type Metrics = M;
    type Flink = F;
    type Yarn = Y;
    type Notifier = N;
    fn store(&self) -> &S {
        &self.store
    }
    fn checkpoints(&self) -> Option<&B> {
        self.checkpoints.as_ref()
    }
    fn kinesis(&self) -> &K {
        &self.kinesis
    }
    fn emr(&self) -> &E {
        &self.emr
    }
    fn metrics(&self) -> &M {
        &self.metrics
    }
    fn flink(&self) -> &F {
        &self.flink
    }
    fn yarn(&self) -> &Y {
        &self.yarn
    }
    fn notifier(&self) -> &N {
        &self.notifier
    }
}

/// A call that answered without what was asked for (a stream summary, a group in the list).
pub fn not_in_answer(op: &'static str, what: &str) -> AwsCallError {
    AwsCallError {
        operation: op,
        resource: what.to_string(),
        class: ErrorClass::Permanent,
        code: Some("NotFound".into()),
        message: "not in the answer".into(),
    }
}
