//! In-memory fakes of every port the scaler uses, with scripted faults (the shared
//! `streamops_test_support::faults` script, by the fake's operation name): throttling, server
//! errors, a write that succeeded but whose response was lost, and hooks that let a concurrent
//! invocation act between two calls (take a lease or a claim, write the state). Each fake is a
//! cheap handle on shared state: a test keeps a clone to script it and to look at what the
//! service did.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};
use scaler::audit::{AuditEntry, audit_key};
use scaler::config::ScalerConfig;
use scaler::metric::MetricRef;
use scaler::notify::DecisionEvent;
use scaler::policy::{FleetMarket, TargetState};
use scaler::ports::{
    Adapters, CheckpointsBook, EmrApi, FleetView, FlinkApi, GroupResize, GroupView, InstanceView,
    JobOverview, KinesisApi, ManagedScaling, MetricsApi, Notifier, ShardQuota, StateStore,
    StreamSummary, Vertex, YarnApi, YarnNode,
};
use scaler::rescale::SavepointStatus;
use scaler::service::ScalerService;
use serde_json::Value;
use streamops_shared::{AwsCallError, EnvReader, ErrorClass, Metrics};

pub type FakePorts = Adapters<
    FakeStore,
    FakeBook,
    FakeKinesis,
    FakeEmr,
    FakeMetrics,
    FakeFlink,
    FakeYarn,
    FakeNotifier,
>;

// ---------------------------------------------------------------- faults

pub use streamops_test_support::faults::{Fault, Interleave, Script, lock};

/// The AWS operation a fake's call stands for, as errors name it.
fn operation(op: &'static str) -> &'static str {
    match op {
        "claim" | "lease" => "PutItem (if absent)",
        "release" => "DeleteItem (if equals)",
        "unclaim" => "DeleteItem (claim)",
        "state" => "GetItem",
        "put_state" => "PutItem (if version)",
        "audit" => "PutItem (audit)",
        "recent_audit" => "Query (audit)",
        "register_job" => "PutItem (lineage)",
        "stream_summary" => "DescribeStreamSummary",
        "shard_quota" => "DescribeLimits",
        "update_shard_count" => "UpdateShardCount",
        "cluster_state" => "DescribeCluster",
        "managed_scaling" => "GetManagedScalingPolicy",
        "instance_groups" => "ListInstanceGroups",
        "instance_fleets" => "ListInstanceFleets",
        "instances" => "ListInstances",
        "modify_instance_group" => "ModifyInstanceGroups",
        "modify_instance_fleet" => "ModifyInstanceFleet",
        "step_state" => "ListSteps",
        "add_step" => "AddJobFlowSteps",
        "newest" => "GetMetricData",
        "publish" => "PutEvents",
        other => other,
    }
}

/// Runs `work` as the script says for this call of `op` (`faults::outcome`); a fault is the
/// error of the AWS operation the call stands for.
fn with_fault<T>(
    script: &Script,
    op: &'static str,
    work: impl FnOnce() -> T,
) -> Result<T, AwsCallError> {
    script.run(op, work).map_err(|f| f.aws_error(operation(op)))
}

/// The same for a plain HTTP call (Flink REST, YARN), whose errors are lines of text.
fn with_http_fault<T>(
    script: &Script,
    op: &'static str,
    work: impl FnOnce() -> Result<T, String>,
) -> Result<T, String> {
    script.run(op, work).map_err(|f| f.http_error(op))?
}

mod cluster;
mod flink;
mod setup;
mod store;
pub use cluster::*;
pub use flink::*;
#[allow(unused_imports)] // each test binary uses part of the support
pub use setup::*;
pub use store::*;

// ---------------------------------------------------------------- notifications

#[derive(Clone, Default)]
pub struct FakeNotifier {
    pub events: Arc<Mutex<Vec<DecisionEvent>>>,
    pub script: Script,
}

impl FakeNotifier {
    pub fn sent(&self) -> Vec<DecisionEvent> {
        lock(&self.events).clone()
    }

    /// `target: outcome` of every event sent, in order.
    pub fn told(&self) -> Vec<String> {
        self.sent()
            .iter()
            .map(|e| {
                let v = serde_json::to_value(e).unwrap();
                format!("{}: {}", e.target, v["outcome"].as_str().unwrap_or("?"))
            })
            .collect()
    }
}

impl Notifier for FakeNotifier {
    async fn publish(&self, event: &DecisionEvent) -> Result<(), AwsCallError> {
        let events = self.events.clone();
        with_fault(&self.script, "publish", || {
            lock(&events).push(event.clone())
        })
    }
}

// ---------------------------------------------------------------- the world

/// Every fake, and the service over them.
#[derive(Clone, Default)]
pub struct World {
    pub store: FakeStore,
    pub book: FakeBook,
    pub kinesis: FakeKinesis,
    pub emr: FakeEmr,
    pub metrics: FakeMetrics,
    pub flink: FakeFlink,
    pub yarn: FakeYarn,
    pub notifier: FakeNotifier,
}

impl World {
    /// The service with `policies` (the `SCALER_POLICIES` JSON) over these fakes.
    pub fn service(&self, policies: &Value) -> ScalerService<FakePorts> {
        let env = EnvReader::from_map(
            [
                ("SCALER_TABLE", "scaler".to_string()),
                ("SCALER_POLICIES", policies.to_string()),
                ("SCALER_CHECKPOINTS_TABLE", "checkpoints".to_string()),
                ("AWS_LAMBDA_FUNCTION_NAME", "streamops-scaler".to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        );
        ScalerService {
            config: ScalerConfig::read(env).unwrap(),
            ports: Adapters {
                store: self.store.clone(),
                checkpoints: Some(self.book.clone()),
                kinesis: self.kinesis.clone(),
                emr: self.emr.clone(),
                metrics: self.metrics.clone(),
                flink: self.flink.clone(),
                yarn: self.yarn.clone(),
                notifier: self.notifier.clone(),
            },
        }
    }
}

/// Metrics that go nowhere, and what they recorded.
pub fn metrics() -> Metrics {
    Metrics::with_sink("streamops", "scaler", |_: &str| {})
}

/// Whether `metrics` counted `name`.
pub fn counted(metrics: &Metrics, name: &str) -> bool {
    metrics
        .documents(0)
        .iter()
        .any(|d| d.contains(&format!("\"{name}\"")))
}
