//! What the scaler acts on, through the ports: Kinesis streams (`UpdateShardCount`, uniform
//! scaling), EMR instance groups (`ModifyInstanceGroups`) and fleets (`ModifyInstanceFleet`),
//! and Flink jobs (observed here, rescaled by the service). Observing asks the services and
//! lets `observe` classify the answers: the size, or why not to act now.

use chrono::{DateTime, Utc};
use streamops_shared::{AwsCallError, ErrorClass};

use crate::flink;
use crate::measure;
use crate::metric::MetricRef;
use crate::observe;
use crate::policy::{FlinkRescaleMode, Observed, TargetKind};
use crate::ports::{EmrApi, FlinkApi, GroupResize, KinesisApi, Ports, Shrink, YarnApi};
use crate::sizing::Alignment;

pub fn flink_error(resource: &str, message: String) -> AwsCallError {
    AwsCallError {
        operation: "Flink REST",
        resource: resource.to_string(),
        class: ErrorClass::Retryable,
        code: None,
        message,
    }
}

/// The target as its service reports it now.
pub async fn observe<P: Ports>(
    ports: &P,
    kind: &TargetKind,
    respect_others: bool,
    now: DateTime<Utc>,
) -> Result<Observed, AwsCallError> {
    match kind {
        TargetKind::KinesisStream { stream } => observe_stream_target(ports, stream).await,
        TargetKind::EmrInstanceGroup {
            cluster_id,
            instance_group_id,
            allow_core,
            ..
        } => {
            if let Some(o) = cluster_unavailable(ports.emr(), cluster_id, respect_others).await? {
                return Ok(o);
            }
            let groups = ports.emr().instance_groups(cluster_id).await?;
            let (observed, core) = observe::group(
                cluster_id,
                instance_group_id,
                &groups,
                *allow_core,
                respect_others,
            )?;
            match observed {
                Observed::Ready { size, .. } if core => {
                    let hdfs =
                        measure::latest(ports.metrics(), &hdfs_metric(cluster_id), now).await?;
                    Ok(Observed::Ready {
                        size,
                        alignment: Alignment::None,
                        max_size: None,
                        hdfs_percent: hdfs,
                    })
                }
                other => Ok(other),
            }
        }
        TargetKind::EmrInstanceFleet {
            cluster_id,
            instance_fleet_id,
            market,
        } => {
            if let Some(o) = cluster_unavailable(ports.emr(), cluster_id, respect_others).await? {
                return Ok(o);
            }
            let fleets = ports.emr().instance_fleets(cluster_id).await?;
            observe::fleet(cluster_id, instance_fleet_id, &fleets, *market)
        }
        TargetKind::FlinkJob {
            rest_url,
            job_name,
            mode,
            source_stream,
            ..
        } => {
            let job = FlinkJob {
                rest_url,
                job_name,
                mode: *mode,
                source_stream: source_stream.as_deref(),
            };
            observe_flink(ports, &job, respect_others).await
        }
    }
}

async fn observe_stream_target<P: Ports>(
    ports: &P,
    stream: &str,
) -> Result<Observed, AwsCallError> {
    let summary = ports.kinesis().stream_summary(stream).await?;
    let observed = observe::stream(stream, &summary);
    let Observed::Ready { size, .. } = observed else {
        return Ok(observed);
    };
    // The quota is looked up only when the stream itself is the target.
    let quota = ports.kinesis().shard_quota(stream).await?;
    Ok(observe::stream_target(size, quota))
}

/// `Some` when the cluster cannot take a resize now, or EMR managed scaling owns it.
async fn cluster_unavailable<E: EmrApi>(
    emr: &E,
    cluster_id: &str,
    respect_others: bool,
) -> Result<Option<Observed>, AwsCallError> {
    let state = emr.cluster_state(cluster_id).await?;
    if let Some(busy) = observe::cluster(cluster_id, state.as_deref()) {
        return Ok(Some(busy));
    }
    if respect_others && let Some(limits) = emr.managed_scaling(cluster_id).await? {
        return Ok(Some(observe::managed_scaling(cluster_id, &limits)));
    }
    Ok(None)
}

struct FlinkJob<'a> {
    rest_url: &'a str,
    job_name: &'a str,
    mode: FlinkRescaleMode,
    source_stream: Option<&'a str>,
}

async fn observe_flink<P: Ports>(
    ports: &P,
    job: &FlinkJob<'_>,
    respect_others: bool,
) -> Result<Observed, AwsCallError> {
    let fail = |e| flink_error(job.rest_url, e);
    let view = flink::flink_job(ports.flink(), job.rest_url, job.job_name)
        .await
        .map_err(fail)?;
    let (job_id, parallelism, max_parallelism) = match observe::flink_running(view) {
        Ok(running) => running,
        Err(busy) => return Ok(busy),
    };
    let config = ports
        .flink()
        .job_config(job.rest_url, &job_id)
        .await
        .map_err(fail)?;
    if let Some(o) = observe::flink_config(job.job_name, job.mode, &config, respect_others) {
        return Ok(o);
    }
    let source = match job.source_stream {
        Some(stream) => {
            let summary = ports.kinesis().stream_summary(stream).await?;
            Some(observe::stream(stream, &summary))
        }
        None => None,
    };
    Ok(observe::flink_ready(
        parallelism,
        max_parallelism,
        source.as_ref(),
    ))
}

/// Resizes a Kinesis stream or an EMR group/fleet (Flink jobs are rescaled by the service);
/// returns the EC2 instances a group scale-in asks EMR to terminate (empty when EMR picks).
pub async fn resize<P: Ports>(
    ports: &P,
    kind: &TargetKind,
    from: u32,
    to: u32,
) -> Result<Vec<String>, AwsCallError> {
    match kind {
        // `act` sends Flink jobs to their own rescale before it ever calls `resize`.
        TargetKind::FlinkJob { .. } => unreachable!("Flink rescales go through the service"),
        TargetKind::KinesisStream { stream } => ports
            .kinesis()
            .update_shard_count(stream, to)
            .await
            .map(|_| Vec::new()),
        TargetKind::EmrInstanceGroup {
            cluster_id,
            instance_group_id,
            yarn_rm_url,
            decommission_timeout_seconds,
            ..
        } => {
            let mut shrink = None;
            if to < from {
                let terminate = match yarn_rm_url {
                    Some(rm) => {
                        let group = (cluster_id.as_str(), instance_group_id.as_str());
                        let empty = empty_instances(ports, group, rm, (from - to) as usize).await?;
                        tracing::info!(group = %instance_group_id, instances = ?empty, "scale-in terminates the nodes YARN reports empty");
                        empty
                    }
                    None => Vec::new(),
                };
                shrink = Some(Shrink {
                    timeout_seconds: *decommission_timeout_seconds,
                    instances_to_terminate: terminate,
                });
            }
            let resize = GroupResize {
                cluster_id: cluster_id.clone(),
                group_id: instance_group_id.clone(),
                count: to,
                shrink,
            };
            ports.emr().modify_instance_group(&resize).await?;
            Ok(resize
                .shrink
                .map(|s| s.instances_to_terminate)
                .unwrap_or_default())
        }
        TargetKind::EmrInstanceFleet {
            cluster_id,
            instance_fleet_id,
            market,
        } => ports
            .emr()
            .modify_instance_fleet(cluster_id, instance_fleet_id, *market, to)
            .await
            .map(|_| Vec::new()),
    }
}

/// The group's EC2 instances whose YARN NodeManager runs no container (after a parallelism
/// scale-down released their TaskManagers), at most `count`.
async fn empty_instances<P: Ports>(
    ports: &P,
    (cluster_id, group_id): (&str, &str),
    yarn_rm_url: &str,
    count: usize,
) -> Result<Vec<String>, AwsCallError> {
    let nodes = ports
        .yarn()
        .nodes(yarn_rm_url)
        .await
        .map_err(|e| AwsCallError {
            operation: "YARN ResourceManager nodes",
            resource: yarn_rm_url.to_string(),
            class: ErrorClass::Retryable,
            code: None,
            message: e,
        })?;
    let nodes: Vec<(String, u64)> = nodes
        .into_iter()
        .filter(|n| n.state == "RUNNING")
        .map(|n| (n.host, n.containers))
        .collect();
    let instances: Vec<(String, String)> = ports
        .emr()
        .instances(cluster_id, group_id)
        .await?
        .into_iter()
        .filter(|i| i.running)
        .map(|i| (i.ec2_id, i.private_dns))
        .collect();
    Ok(observe::empty_instances(&nodes, &instances, count))
}

/// HDFS utilisation of a cluster, which EMR publishes per cluster.
fn hdfs_metric(cluster_id: &str) -> MetricRef {
    MetricRef {
        namespace: "AWS/ElasticMapReduce".into(),
        name: "HDFSUtilization".into(),
        dimensions: [("JobFlowId".to_string(), cluster_id.to_string())].into(),
        stat: "Average".into(),
        period: 300,
        scale: 1.0,
    }
}
