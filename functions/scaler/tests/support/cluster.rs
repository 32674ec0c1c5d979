//! Fakes of Kinesis, EMR and CloudWatch metrics: the targets the scaler resizes and what it reads.

use super::*;

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
    pub script: Script,
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
        with_fault(&self.script, "stream_summary", || {
            lock(&data).streams.get(stream).cloned()
        })?
        .ok_or_else(|| scaler::ports::not_in_answer("DescribeStreamSummary", stream))
    }

    async fn shard_quota(&self, _stream: &str) -> Result<ShardQuota, AwsCallError> {
        let data = self.data.clone();
        with_fault(&self.script, "shard_quota", || {
            lock(&data).quota.unwrap_or(ShardQuota {
                limit: 500,
                open: 10,
            })
        })
    }

    async fn update_shard_count(&self, stream: &str, to: u32) -> Result<(), AwsCallError> {
        lock(&self.data).updates.push((stream.into(), to));
        let data = self.data.clone();
        with_fault(&self.script, "update_shard_count", || {
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
    pub script: Script,
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
        with_fault(&self.script, "cluster_state", || {
            self.with_cluster(cluster_id, |c| Some(c.state.clone()))
        })?
        .ok_or_else(|| no_cluster("DescribeCluster", cluster_id))
    }

    async fn managed_scaling(
        &self,
        cluster_id: &str,
    ) -> Result<Option<ManagedScaling>, AwsCallError> {
        with_fault(&self.script, "managed_scaling", || {
            self.with_cluster(cluster_id, |c| c.managed.clone())
        })?
        .ok_or_else(|| no_cluster("GetManagedScalingPolicy", cluster_id))
    }

    async fn instance_groups(&self, cluster_id: &str) -> Result<Vec<GroupView>, AwsCallError> {
        with_fault(&self.script, "instance_groups", || {
            self.with_cluster(cluster_id, |c| c.groups.clone())
        })?
        .ok_or_else(|| no_cluster("ListInstanceGroups", cluster_id))
    }

    async fn instance_fleets(&self, cluster_id: &str) -> Result<Vec<FleetView>, AwsCallError> {
        with_fault(&self.script, "instance_fleets", || {
            self.with_cluster(cluster_id, |c| c.fleets.clone())
        })?
        .ok_or_else(|| no_cluster("ListInstanceFleets", cluster_id))
    }

    async fn instances(
        &self,
        cluster_id: &str,
        group_id: &str,
    ) -> Result<Vec<InstanceView>, AwsCallError> {
        with_fault(&self.script, "instances", || {
            self.with_cluster(cluster_id, |c| {
                c.instances.get(group_id).cloned().unwrap_or_default()
            })
        })?
        .ok_or_else(|| no_cluster("ListInstances", cluster_id))
    }

    async fn modify_instance_group(&self, resize: &GroupResize) -> Result<(), AwsCallError> {
        lock(&self.data).resizes.push(resize.clone());
        with_fault(&self.script, "modify_instance_group", || {
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
        with_fault(&self.script, "modify_instance_fleet", || {
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
        with_fault(&self.script, "step_state", || {
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
        with_fault(&self.script, "add_step", || {
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
    pub script: Script,
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
        with_fault(&self.script, "newest", || {
            let values = lock(&self.values);
            metrics
                .iter()
                .map(|m| values.get(&(m.namespace.clone(), m.name.clone())).copied())
                .collect()
        })
    }
}
