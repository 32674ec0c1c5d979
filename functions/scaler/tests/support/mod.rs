//! In-memory fakes of every port the scaler uses, with scripted faults: throttling, server
//! errors, a write that succeeded but whose response was lost, and hooks that let a concurrent
//! invocation act between two calls (take a lease or a claim, write the state). Each fake is a
//! cheap handle on shared state: a test keeps a clone to script it and to look at what the
//! service did.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
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

/// What a scripted call does instead of (or after) its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Refused with a throttling error (retryable); nothing is done.
    Throttled,
    /// A 5xx (retryable); nothing is done.
    ServerError,
    /// Done, but the answer never arrived: the caller sees a retryable error.
    LostResponse,
    /// Access denied (permanent); nothing is done.
    Denied,
}

impl Fault {
    pub fn aws(self, operation: &'static str) -> AwsCallError {
        let (class, code) = match self {
            Fault::Throttled => (ErrorClass::Retryable, Some("ThrottlingException")),
            Fault::ServerError => (ErrorClass::Retryable, Some("InternalServerError")),
            Fault::LostResponse => (ErrorClass::Retryable, None),
            Fault::Denied => (ErrorClass::Permanent, Some("AccessDeniedException")),
        };
        AwsCallError {
            operation,
            resource: "fake".into(),
            class,
            code: code.map(str::to_string),
            message: format!("injected: {self:?}"),
        }
    }

    pub fn http(self, what: &str) -> String {
        match self {
            Fault::Throttled => format!("{what}: HTTP 429: injected"),
            Fault::ServerError => format!("{what}: HTTP 503: injected"),
            Fault::LostResponse => format!("{what}: connection reset: injected"),
            Fault::Denied => format!("{what}: HTTP 403: injected"),
        }
    }

    /// Whether the call's work is done despite the error.
    pub fn applies(self) -> bool {
        self == Fault::LostResponse
    }
}

/// Faults queued per operation: each call takes the next one.
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<HashMap<String, VecDeque<Fault>>>>);

impl Faults {
    /// The next `times` calls of `op` fail with `fault`.
    pub fn next(&self, op: &str, fault: Fault, times: usize) {
        let mut f = self.0.lock().unwrap();
        let q = f.entry(op.to_string()).or_default();
        q.extend(std::iter::repeat_n(fault, times));
    }

    fn take(&self, op: &str) -> Option<Fault> {
        self.0.lock().unwrap().get_mut(op)?.pop_front()
    }
}

/// The AWS operation a fake's call stands for, as errors name it.
fn operation(op: &'static str) -> &'static str {
    match op {
        "claim" | "lease" => "PutItem (if absent)",
        "release" => "DeleteItem (if equals)",
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

/// Runs `work` unless a fault is scripted for `op`; a lost response runs it and then fails.
fn with_fault<T>(
    faults: &Faults,
    op: &'static str,
    work: impl FnOnce() -> T,
) -> Result<T, AwsCallError> {
    match faults.take(op) {
        None => Ok(work()),
        Some(f) if f.applies() => {
            work();
            Err(f.aws(operation(op)))
        }
        Some(f) => Err(f.aws(operation(op))),
    }
}

fn with_http_fault<T>(
    faults: &Faults,
    op: &'static str,
    work: impl FnOnce() -> Result<T, String>,
) -> Result<T, String> {
    match faults.take(op) {
        None => work(),
        Some(f) if f.applies() => {
            let _ = work();
            Err(f.http(op))
        }
        Some(f) => Err(f.http(op)),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap()
}

// ---------------------------------------------------------------- the state store

/// A hook run once, just before the next call of an operation: another invocation acting in
/// between.
type Hook = Box<dyn FnOnce(&mut StoreData) + Send>;

#[derive(Default)]
pub struct StoreData {
    /// Claim key -> expiry (epoch seconds).
    pub claims: HashMap<String, i64>,
    /// Target -> (owner, expiry).
    pub leases: HashMap<String, (String, DateTime<Utc>)>,
    pub states: HashMap<String, TargetState>,
    /// (target, audit key) -> entry: a write to the same key replaces, as in DynamoDB.
    pub audit: BTreeMap<(String, String), AuditEntry>,
    /// Every call, in order (`put_state raw-stream`, `release raw-stream`, ...).
    pub calls: Vec<String>,
}

impl StoreData {
    /// Another invocation writes the target's state (its version moves on).
    pub fn concurrent_write(&mut self, target: &str) {
        let st = self.states.entry(target.to_string()).or_default();
        st.version = Some(st.version.map_or(1, |v| v + 1));
    }
}

#[derive(Clone, Default)]
pub struct FakeStore {
    pub data: Arc<Mutex<StoreData>>,
    pub faults: Faults,
    hooks: Arc<Mutex<HashMap<String, VecDeque<Hook>>>>,
}

impl FakeStore {
    pub fn data(&self) -> MutexGuard<'_, StoreData> {
        lock(&self.data)
    }

    /// Runs `hook` on the store just before the next call of `op`.
    pub fn before(&self, op: &str, hook: impl FnOnce(&mut StoreData) + Send + 'static) {
        lock(&self.hooks)
            .entry(op.to_string())
            .or_default()
            .push_back(Box::new(hook));
    }

    fn enter(&self, op: &str, target: &str) {
        let hook = lock(&self.hooks).get_mut(op).and_then(VecDeque::pop_front);
        let mut d = self.data();
        if let Some(h) = hook {
            h(&mut d);
        }
        d.calls.push(format!("{op} {target}"));
    }

    /// The target's trail, oldest first.
    pub fn trail(&self, target: &str) -> Vec<AuditEntry> {
        self.data()
            .audit
            .iter()
            .filter(|((t, _), _)| t == target)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// The target's trail as `decision`/`reason` words, oldest first.
    pub fn trail_words(&self, target: &str) -> Vec<String> {
        self.trail(target)
            .iter()
            .map(|e| words(&e.to_json()))
            .collect()
    }

    pub fn state_of(&self, target: &str) -> TargetState {
        self.data().states.get(target).cloned().unwrap_or_default()
    }

    pub fn set_state(&self, target: &str, edit: impl FnOnce(&mut TargetState)) {
        let mut d = self.data();
        let st = d.states.entry(target.to_string()).or_default();
        edit(st);
        st.version = Some(st.version.map_or(1, |v| v + 1));
    }

    pub fn count(&self, call: &str) -> usize {
        self.data().calls.iter().filter(|c| *c == call).count()
    }
}

/// `act`, `skip cooldown`, `failed`, `rescaled`...: what an entry says, in a word or two.
pub fn words(entry: &Value) -> String {
    let decision = entry["decision"].as_str().unwrap_or("?");
    match entry["reason"].as_str() {
        Some(reason) if decision == "skip" || decision == "defer" => format!("{decision} {reason}"),
        _ => decision.to_string(),
    }
}

impl StateStore for FakeStore {
    async fn claim(
        &self,
        alarm: &str,
        state_time: &str,
        target: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AwsCallError> {
        self.enter("claim", target);
        let key = format!("{alarm}#{state_time}#{target}");
        let expires = (now + Duration::days(7)).timestamp();
        let data = self.data.clone();
        // A lost response on a conditional write: the SDK's retry finds the item written.
        let lost = matches!(
            self.faults
                .0
                .lock()
                .unwrap()
                .get("claim")
                .and_then(|q| q.front()),
            Some(Fault::LostResponse)
        );
        if lost {
            self.faults.take("claim");
            lock(&data).claims.insert(key, expires);
            return Ok(false);
        }
        with_fault(&self.faults, "claim", || {
            let mut d = lock(&data);
            match d.claims.get(&key) {
                Some(exp) if *exp >= now.timestamp() => false,
                _ => {
                    d.claims.insert(key, expires);
                    true
                }
            }
        })
    }

    async fn lease(
        &self,
        target: &str,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Result<(), String>, AwsCallError> {
        self.enter("lease", target);
        let data = self.data.clone();
        with_fault(&self.faults, "lease", || {
            let mut d = lock(&data);
            match d.leases.get(target) {
                Some((holder, exp)) if exp.timestamp() >= now.timestamp() => {
                    Err(format!("{holder} until {}", exp.to_rfc3339()))
                }
                _ => {
                    d.leases
                        .insert(target.to_string(), (owner.to_string(), until));
                    Ok(())
                }
            }
        })
    }

    async fn release(&self, target: &str, owner: &str) -> Result<(), AwsCallError> {
        self.enter("release", target);
        let data = self.data.clone();
        with_fault(&self.faults, "release", || {
            let mut d = lock(&data);
            if d.leases.get(target).is_some_and(|(o, _)| o == owner) {
                d.leases.remove(target);
            }
        })
    }

    async fn state(&self, target: &str) -> Result<TargetState, AwsCallError> {
        self.enter("state", target);
        let data = self.data.clone();
        with_fault(&self.faults, "state", || {
            lock(&data).states.get(target).cloned().unwrap_or_default()
        })
    }

    async fn put_state(
        &self,
        target: &str,
        state: &TargetState,
        now: DateTime<Utc>,
    ) -> Result<bool, AwsCallError> {
        self.enter("put_state", target);
        let data = self.data.clone();
        with_fault(&self.faults, "put_state", || {
            let mut d = lock(&data);
            let stored = d.states.get(target).and_then(|s| s.version);
            if stored != state.version {
                return false;
            }
            let mut new = state.clone();
            new.kinesis_calls.retain(|t| now - *t < Duration::hours(24));
            new.version = Some(state.version.map_or(1, |v| v + 1));
            d.states.insert(target.to_string(), new);
            true
        })
    }

    async fn audit(
        &self,
        target: &str,
        entry: &AuditEntry,
        now: DateTime<Utc>,
        seq: usize,
    ) -> Result<(), AwsCallError> {
        self.enter("audit", target);
        let data = self.data.clone();
        with_fault(&self.faults, "audit", || {
            lock(&data)
                .audit
                .insert((target.to_string(), audit_key(now, seq)), entry.clone());
        })
    }

    async fn recent_audit(&self, target: &str, limit: i32) -> Result<Vec<Value>, AwsCallError> {
        self.enter("recent_audit", target);
        let data = self.data.clone();
        with_fault(&self.faults, "recent_audit", || {
            let d = lock(&data);
            d.audit
                .iter()
                .rev()
                .filter(|((t, _), _)| t == target)
                .take(limit.max(0) as usize)
                .map(|(_, e)| e.to_json())
                .collect()
        })
    }
}

// ---------------------------------------------------------------- the checkpoints book

/// A registration: (pipeline, job, restored from, restore mode).
pub type Registration = (String, String, String, String);

#[derive(Clone, Default)]
pub struct FakeBook {
    pub jobs: Arc<Mutex<Vec<Registration>>>,
    pub faults: Faults,
}

impl CheckpointsBook for FakeBook {
    async fn register_job(
        &self,
        pipeline: &str,
        job_id: &str,
        restored_from: &str,
        restore_mode: &str,
        _now: DateTime<Utc>,
    ) -> Result<(), AwsCallError> {
        let jobs = self.jobs.clone();
        with_fault(&self.faults, "register_job", || {
            lock(&jobs).push((
                pipeline.into(),
                job_id.into(),
                restored_from.into(),
                restore_mode.into(),
            ))
        })
    }
}

// ---------------------------------------------------------------- Kinesis

#[derive(Default)]
pub struct KinesisData {
    pub streams: HashMap<String, StreamSummary>,
    pub quota: Option<ShardQuota>,
    /// Every UpdateShardCount asked for (also the refused ones).
    pub updates: Vec<(String, u32)>,
}

#[derive(Clone, Default)]
pub struct FakeKinesis {
    pub data: Arc<Mutex<KinesisData>>,
    pub faults: Faults,
}

impl FakeKinesis {
    pub fn stream(&self, name: &str, shards: i32) {
        lock(&self.data).streams.insert(
            name.into(),
            StreamSummary {
                on_demand: false,
                status: "ACTIVE".into(),
                open_shards: shards,
            },
        );
    }

    pub fn edit(&self, name: &str, edit: impl FnOnce(&mut StreamSummary)) {
        edit(
            lock(&self.data)
                .streams
                .get_mut(name)
                .expect("a known stream"),
        );
    }

    pub fn shards(&self, name: &str) -> i32 {
        lock(&self.data).streams[name].open_shards
    }

    pub fn updates(&self) -> Vec<(String, u32)> {
        lock(&self.data).updates.clone()
    }
}

impl KinesisApi for FakeKinesis {
    async fn stream_summary(&self, stream: &str) -> Result<StreamSummary, AwsCallError> {
        let data = self.data.clone();
        with_fault(&self.faults, "stream_summary", || {
            lock(&data).streams.get(stream).cloned()
        })?
        .ok_or_else(|| scaler::ports::not_in_answer("DescribeStreamSummary", stream))
    }

    async fn shard_quota(&self, _stream: &str) -> Result<ShardQuota, AwsCallError> {
        let data = self.data.clone();
        with_fault(&self.faults, "shard_quota", || {
            lock(&data).quota.unwrap_or(ShardQuota {
                limit: 500,
                open: 10,
            })
        })
    }

    async fn update_shard_count(&self, stream: &str, to: u32) -> Result<(), AwsCallError> {
        lock(&self.data).updates.push((stream.into(), to));
        let data = self.data.clone();
        with_fault(&self.faults, "update_shard_count", || {
            if let Some(s) = lock(&data).streams.get_mut(stream) {
                s.open_shards = to as i32;
            }
        })
    }
}

// ---------------------------------------------------------------- EMR

#[derive(Default, Clone)]
pub struct FakeCluster {
    pub state: String,
    pub managed: Option<ManagedScaling>,
    pub groups: Vec<GroupView>,
    pub fleets: Vec<FleetView>,
    pub instances: HashMap<String, Vec<InstanceView>>,
}

/// Runs when a step is added: (cluster, name, args).
type StepHook = Arc<dyn Fn(&str, &str, &[String]) + Send + Sync>;

#[derive(Default)]
pub struct EmrData {
    pub clusters: HashMap<String, FakeCluster>,
    pub resizes: Vec<GroupResize>,
    pub fleet_resizes: Vec<(String, FleetMarket, u32)>,
    /// (cluster, name, state, args), oldest first.
    pub steps: Vec<(String, String, String, Vec<String>)>,
}

#[derive(Clone, Default)]
pub struct FakeEmr {
    pub data: Arc<Mutex<EmrData>>,
    pub faults: Faults,
    on_step: Arc<Mutex<Option<StepHook>>>,
}

impl FakeEmr {
    pub fn cluster(&self, id: &str, cluster: FakeCluster) {
        lock(&self.data).clusters.insert(id.into(), cluster);
    }

    pub fn data(&self) -> MutexGuard<'_, EmrData> {
        lock(&self.data)
    }

    pub fn on_step(&self, hook: impl Fn(&str, &str, &[String]) + Send + Sync + 'static) {
        *lock(&self.on_step) = Some(Arc::new(hook));
    }

    pub fn set_step_state(&self, name_prefix: &str, state: &str) {
        for s in lock(&self.data).steps.iter_mut() {
            if s.1.starts_with(name_prefix) {
                s.2 = state.into();
            }
        }
    }

    fn with_cluster<T>(&self, id: &str, f: impl FnOnce(&mut FakeCluster) -> T) -> Option<T> {
        lock(&self.data).clusters.get_mut(id).map(f)
    }
}

pub fn task_group(id: &str, requested: i32) -> GroupView {
    GroupView {
        id: id.into(),
        group_type: Some("TASK".into()),
        has_autoscaling_policy: false,
        state: Some("RUNNING".into()),
        requested,
    }
}

fn no_cluster(op: &'static str, id: &str) -> AwsCallError {
    AwsCallError {
        operation: op,
        resource: id.into(),
        class: ErrorClass::Permanent,
        code: Some("InvalidRequestException".into()),
        message: "no such cluster".into(),
    }
}

impl EmrApi for FakeEmr {
    async fn cluster_state(&self, cluster_id: &str) -> Result<Option<String>, AwsCallError> {
        with_fault(&self.faults, "cluster_state", || {
            self.with_cluster(cluster_id, |c| Some(c.state.clone()))
        })?
        .ok_or_else(|| no_cluster("DescribeCluster", cluster_id))
    }

    async fn managed_scaling(
        &self,
        cluster_id: &str,
    ) -> Result<Option<ManagedScaling>, AwsCallError> {
        with_fault(&self.faults, "managed_scaling", || {
            self.with_cluster(cluster_id, |c| c.managed.clone())
        })?
        .ok_or_else(|| no_cluster("GetManagedScalingPolicy", cluster_id))
    }

    async fn instance_groups(&self, cluster_id: &str) -> Result<Vec<GroupView>, AwsCallError> {
        with_fault(&self.faults, "instance_groups", || {
            self.with_cluster(cluster_id, |c| c.groups.clone())
        })?
        .ok_or_else(|| no_cluster("ListInstanceGroups", cluster_id))
    }

    async fn instance_fleets(&self, cluster_id: &str) -> Result<Vec<FleetView>, AwsCallError> {
        with_fault(&self.faults, "instance_fleets", || {
            self.with_cluster(cluster_id, |c| c.fleets.clone())
        })?
        .ok_or_else(|| no_cluster("ListInstanceFleets", cluster_id))
    }

    async fn instances(
        &self,
        cluster_id: &str,
        group_id: &str,
    ) -> Result<Vec<InstanceView>, AwsCallError> {
        with_fault(&self.faults, "instances", || {
            self.with_cluster(cluster_id, |c| {
                c.instances.get(group_id).cloned().unwrap_or_default()
            })
        })?
        .ok_or_else(|| no_cluster("ListInstances", cluster_id))
    }

    async fn modify_instance_group(&self, resize: &GroupResize) -> Result<(), AwsCallError> {
        lock(&self.data).resizes.push(resize.clone());
        with_fault(&self.faults, "modify_instance_group", || {
            self.with_cluster(&resize.cluster_id, |c| {
                if let Some(g) = c.groups.iter_mut().find(|g| g.id == resize.group_id) {
                    g.requested = resize.count as i32;
                }
            });
        })
    }

    async fn modify_instance_fleet(
        &self,
        cluster_id: &str,
        fleet_id: &str,
        market: FleetMarket,
        to: u32,
    ) -> Result<(), AwsCallError> {
        lock(&self.data)
            .fleet_resizes
            .push((fleet_id.into(), market, to));
        with_fault(&self.faults, "modify_instance_fleet", || {
            self.with_cluster(cluster_id, |c| {
                if let Some(f) = c.fleets.iter_mut().find(|f| f.id == fleet_id) {
                    let (target, provisioned) = match market {
                        FleetMarket::OnDemand => {
                            (&mut f.target_on_demand, &mut f.provisioned_on_demand)
                        }
                        FleetMarket::Spot => (&mut f.target_spot, &mut f.provisioned_spot),
                    };
                    (*target, *provisioned) = (Some(to as i32), Some(to as i32));
                }
            });
        })
    }

    async fn step_state(
        &self,
        cluster_id: &str,
        name: &str,
    ) -> Result<Option<String>, AwsCallError> {
        with_fault(&self.faults, "step_state", || {
            lock(&self.data)
                .steps
                .iter()
                .rev()
                .find(|(c, n, ..)| c == cluster_id && n == name)
                .map(|s| s.2.clone())
        })
    }

    async fn add_step(
        &self,
        cluster_id: &str,
        name: &str,
        args: Vec<String>,
    ) -> Result<(), AwsCallError> {
        with_fault(&self.faults, "add_step", || {
            lock(&self.data).steps.push((
                cluster_id.into(),
                name.into(),
                "PENDING".into(),
                args.clone(),
            ));
        })?;
        let hook = lock(&self.on_step).clone();
        if let Some(h) = hook {
            h(cluster_id, name, &args);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- CloudWatch

#[derive(Clone, Default)]
pub struct FakeMetrics {
    /// (namespace, name) -> the newest datapoint, unscaled.
    pub values: Arc<Mutex<HashMap<(String, String), f64>>>,
    pub faults: Faults,
    pub reads: Arc<Mutex<usize>>,
}

impl FakeMetrics {
    pub fn set(&self, namespace: &str, name: &str, value: f64) {
        lock(&self.values).insert((namespace.into(), name.into()), value);
    }

    pub fn clear(&self, namespace: &str, name: &str) {
        lock(&self.values).remove(&(namespace.into(), name.into()));
    }
}

impl MetricsApi for FakeMetrics {
    async fn newest(
        &self,
        metrics: &[&MetricRef],
        _start: DateTime<Utc>,
        _end: DateTime<Utc>,
    ) -> Result<Vec<Option<f64>>, AwsCallError> {
        *lock(&self.reads) += 1;
        with_fault(&self.faults, "newest", || {
            let values = lock(&self.values);
            metrics
                .iter()
                .map(|m| values.get(&(m.namespace.clone(), m.name.clone())).copied())
                .collect()
        })
    }
}

// ---------------------------------------------------------------- Flink

#[derive(Debug, Clone)]
pub struct FakeJob {
    pub id: String,
    pub name: String,
    pub state: String,
    pub start_time: i64,
    pub parallelism: u32,
    pub max_parallelism: u32,
}

/// How a stop-with-savepoint goes.
#[derive(Debug, Clone, Default)]
pub struct SavepointScript {
    /// Polls answered IN_PROGRESS before the outcome.
    pub in_progress_polls: usize,
    /// The savepoint fails with this cause (the job keeps running).
    pub fails: Option<String>,
}

#[derive(Default)]
pub struct FlinkData {
    pub jobs: Vec<FakeJob>,
    pub config: Vec<(String, String)>,
    pub savepoint: SavepointScript,
    /// Trigger -> (job, polls so far).
    pub triggers: HashMap<String, (String, usize)>,
    /// `POST /jars/:id/run` at these parallelisms is refused with HTTP 500.
    pub refuse_run_at: HashSet<u32>,
    /// A job submitted at these parallelisms starts, then goes FAILED.
    pub fail_job_at: HashSet<u32>,
    /// The JobManager forgot every trigger (it restarted).
    pub forgot_triggers: bool,
    /// (jar, savepoint, parallelism, entry class) of every submission.
    pub runs: Vec<(String, String, u32, Option<String>)>,
    pub stops: Vec<(String, String, Option<String>)>,
    pub clock: i64,
}

#[derive(Clone, Default)]
pub struct FakeFlink {
    pub data: Arc<Mutex<FlinkData>>,
    pub faults: Faults,
}

impl FakeFlink {
    /// A running job `name` at `parallelism` (max parallelism 128).
    pub fn job(&self, id: &str, name: &str, parallelism: u32) {
        let mut d = lock(&self.data);
        d.clock += 1;
        let start_time = d.clock;
        d.jobs.push(FakeJob {
            id: id.into(),
            name: name.into(),
            state: "RUNNING".into(),
            start_time,
            parallelism,
            max_parallelism: 128,
        });
    }

    pub fn data(&self) -> MutexGuard<'_, FlinkData> {
        lock(&self.data)
    }

    /// The newest job named `name` that runs: (id, parallelism).
    pub fn running(&self, name: &str) -> Option<(String, u32)> {
        let d = lock(&self.data);
        d.jobs
            .iter()
            .filter(|j| j.name == name && j.state == "RUNNING")
            .max_by_key(|j| j.start_time)
            .map(|j| (j.id.clone(), j.parallelism))
    }

    /// A submission from a savepoint: a new job of the stopped one's name.
    pub fn submit(&self, savepoint: &str, parallelism: u32) {
        let mut d = lock(&self.data);
        let name = d
            .jobs
            .iter()
            .find(|j| savepoint.contains(&j.id))
            .map(|j| j.name.clone())
            .unwrap_or_else(|| "job".into());
        d.clock += 1;
        let n = d.clock;
        let state = if d.fail_job_at.contains(&parallelism) {
            "FAILED"
        } else {
            "RUNNING"
        };
        d.jobs.push(FakeJob {
            id: format!("job-{n}"),
            name,
            state: state.into(),
            start_time: n,
            parallelism,
            max_parallelism: 128,
        });
    }
}

impl FlinkApi for FakeFlink {
    async fn jobs(&self, _rest_url: &str) -> Result<Vec<JobOverview>, String> {
        with_http_fault(&self.faults, "jobs", || {
            Ok(lock(&self.data)
                .jobs
                .iter()
                .map(|j| JobOverview {
                    id: j.id.clone(),
                    name: j.name.clone(),
                    state: j.state.clone(),
                    start_time: j.start_time,
                })
                .collect())
        })
    }

    async fn vertices(&self, _rest_url: &str, job_id: &str) -> Result<Vec<Vertex>, String> {
        with_http_fault(&self.faults, "vertices", || {
            let d = lock(&self.data);
            let j = d
                .jobs
                .iter()
                .find(|j| j.id == job_id)
                .ok_or_else(|| format!("GET /jobs/{job_id}: HTTP 404"))?;
            let v = Vertex {
                status: j.state.clone(),
                parallelism: Some(j.parallelism.into()),
                max_parallelism: Some(j.max_parallelism.into()),
            };
            Ok(vec![v.clone(), v])
        })
    }

    async fn job_config(
        &self,
        _rest_url: &str,
        _job_id: &str,
    ) -> Result<Vec<(String, String)>, String> {
        with_http_fault(&self.faults, "job_config", || {
            Ok(lock(&self.data).config.clone())
        })
    }

    async fn set_parallelism(&self, _rest_url: &str, job_id: &str, to: u32) -> Result<(), String> {
        with_http_fault(&self.faults, "set_parallelism", || {
            let mut d = lock(&self.data);
            let j = d
                .jobs
                .iter_mut()
                .find(|j| j.id == job_id)
                .ok_or("no such job")?;
            j.parallelism = to;
            Ok(())
        })
    }

    async fn stop_with_savepoint(
        &self,
        _rest_url: &str,
        job_id: &str,
        trigger: &str,
        savepoint_dir: Option<&str>,
    ) -> Result<(), String> {
        with_http_fault(&self.faults, "stop_with_savepoint", || {
            let mut d = lock(&self.data);
            d.stops.push((
                job_id.into(),
                trigger.into(),
                savepoint_dir.map(str::to_string),
            ));
            // A retried stop with the same trigger finds the same savepoint.
            d.triggers
                .entry(trigger.to_string())
                .or_insert((job_id.to_string(), 0));
            Ok(())
        })
    }

    async fn savepoint(
        &self,
        _rest_url: &str,
        job_id: &str,
        trigger: &str,
    ) -> Result<SavepointStatus, String> {
        with_http_fault(&self.faults, "savepoint", || {
            let mut d = lock(&self.data);
            if d.forgot_triggers {
                return Err(format!(
                    "GET /jobs/{job_id}/savepoints/{trigger}: HTTP 404: unknown trigger"
                ));
            }
            let script = d.savepoint.clone();
            let polls = {
                let t = d
                    .triggers
                    .get_mut(trigger)
                    .ok_or_else(|| format!("GET /jobs/{job_id}/savepoints/{trigger}: HTTP 404"))?;
                t.1 += 1;
                t.1
            };
            if polls <= script.in_progress_polls {
                return Ok(SavepointStatus::InProgress);
            }
            if let Some(cause) = script.fails {
                return Ok(SavepointStatus::Failed(cause));
            }
            if let Some(j) = d.jobs.iter_mut().find(|j| j.id == job_id) {
                j.state = "FINISHED".into();
            }
            Ok(SavepointStatus::Completed(format!(
                "s3://savepoints/savepoint-{job_id}-{trigger}"
            )))
        })
    }

    async fn run_jar(
        &self,
        _rest_url: &str,
        jar_id: &str,
        savepoint: &str,
        parallelism: u32,
        entry_class: Option<&str>,
    ) -> Result<(), String> {
        with_http_fault(&self.faults, "run_jar", || {
            {
                let mut d = lock(&self.data);
                d.runs.push((
                    jar_id.into(),
                    savepoint.into(),
                    parallelism,
                    entry_class.map(str::to_string),
                ));
                if d.refuse_run_at.contains(&parallelism) {
                    return Err(format!(
                        "POST /jars/{jar_id}/run: HTTP 500: {{\"errors\":[\"refused\"]}}"
                    ));
                }
            }
            self.submit(savepoint, parallelism);
            Ok(())
        })
    }
}

// ---------------------------------------------------------------- YARN

#[derive(Clone, Default)]
pub struct FakeYarn {
    pub nodes: Arc<Mutex<Vec<YarnNode>>>,
    pub faults: Faults,
}

impl YarnApi for FakeYarn {
    async fn nodes(&self, _rm_url: &str) -> Result<Vec<YarnNode>, String> {
        with_http_fault(&self.faults, "nodes", || Ok(lock(&self.nodes).clone()))
    }
}

// ---------------------------------------------------------------- notifications

#[derive(Clone, Default)]
pub struct FakeNotifier {
    pub events: Arc<Mutex<Vec<DecisionEvent>>>,
    pub faults: Faults,
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
        with_fault(&self.faults, "publish", || {
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
