//! What the scaler acts on: Kinesis streams (`UpdateShardCount`, uniform scaling), EMR instance
//! groups (`ModifyInstanceGroups`) and fleets (`ModifyInstanceFleet`), and Flink jobs (through
//! `flink`). Observing reports the size, or why not to act now.

use aws_sdk_emr::types::{
    ClusterState, InstanceFleetModifyConfig, InstanceFleetState, InstanceGroupModifyConfig,
    InstanceGroupState, InstanceGroupType, InstanceResizePolicy, InstanceState, ShrinkPolicy,
};
use aws_sdk_kinesis::types::{ScalingType, StreamMode, StreamStatus};
use chrono::{DateTime, Utc};
use streamops_shared::{AwsCallError, ErrorClass, http};

use crate::flink::{self, FlinkJobView};
use crate::metrics::latest;
use crate::policy::{FleetMarket, MetricRef, Observed, TargetKind};
use crate::sizing::Alignment;

/// UpdateShardCount cannot take a stream beyond this many shards.
pub const KINESIS_MAX_SHARDS: u32 = 10_000;

pub struct Targets {
    pub kinesis: aws_sdk_kinesis::Client,
    pub emr: aws_sdk_emr::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

fn missing(op: &'static str, what: &str) -> AwsCallError {
    AwsCallError {
        operation: op,
        resource: what.to_string(),
        class: ErrorClass::Permanent,
        code: Some("NotFound".into()),
        message: "not in the answer".into(),
    }
}

pub fn flink_error(resource: &str, message: String) -> AwsCallError {
    AwsCallError {
        operation: "Flink REST",
        resource: resource.to_string(),
        class: ErrorClass::Retryable,
        code: None,
        message,
    }
}

fn state_word(s: Option<&str>) -> String {
    s.unwrap_or("unknown").to_string()
}

impl Targets {
    pub async fn observe(
        &self,
        kind: &TargetKind,
        respect_others: bool,
        now: DateTime<Utc>,
    ) -> Result<Observed, AwsCallError> {
        match kind {
            TargetKind::KinesisStream { stream } => {
                let observed = self.observe_stream(stream).await?;
                let Observed::Ready { size, .. } = observed else {
                    return Ok(observed);
                };
                // The account's shard quota bounds a scale-out (and a stream takes at most
                // 10,000 shards through UpdateShardCount).
                let limits = self
                    .kinesis
                    .describe_limits()
                    .send()
                    .await
                    .map_err(|e| AwsCallError::from_sdk("DescribeLimits", stream, &e))?;
                let headroom = (limits.shard_limit() - limits.open_shard_count()).max(0) as u32;
                Ok(Observed::Ready {
                    size,
                    alignment: Alignment::QuarterSteps { current: size },
                    max_size: Some(size.saturating_add(headroom).min(KINESIS_MAX_SHARDS)),
                    hdfs_percent: None,
                })
            }
            TargetKind::EmrInstanceGroup {
                cluster_id,
                instance_group_id,
                allow_core,
                ..
            } => {
                if let Some(o) = self.cluster_unavailable(cluster_id, respect_others).await? {
                    return Ok(o);
                }
                let groups = self
                    .emr
                    .list_instance_groups()
                    .cluster_id(cluster_id)
                    .send()
                    .await
                    .map_err(|e| AwsCallError::from_sdk("ListInstanceGroups", cluster_id, &e))?;
                let g = groups
                    .instance_groups()
                    .iter()
                    .find(|g| g.id() == Some(instance_group_id.as_str()))
                    .ok_or_else(|| {
                        missing(
                            "ListInstanceGroups",
                            &format!("{cluster_id}/{instance_group_id}"),
                        )
                    })?;
                let core = g.instance_group_type() == Some(&InstanceGroupType::Core);
                if g.instance_group_type() == Some(&InstanceGroupType::Master)
                    || (core && !allow_core)
                {
                    return Ok(Observed::Unsupported {
                        detail: format!(
                            "instance group {instance_group_id} is a {} group; the scaler resizes task groups, and core groups only with allow_core (they hold HDFS)",
                            state_word(g.instance_group_type().map(|t| t.as_str()))
                        ),
                    });
                }
                if respect_others && g.auto_scaling_policy().is_some() {
                    return Ok(Observed::OwnedElsewhere {
                        detail: format!(
                            "instance group {instance_group_id} has an EMR automatic scaling policy"
                        ),
                    });
                }
                let gstate = g.status().and_then(|s| s.state()).cloned();
                if gstate != Some(InstanceGroupState::Running) {
                    return Ok(Observed::Busy {
                        detail: format!(
                            "instance group {instance_group_id} is {}",
                            state_word(gstate.as_ref().map(|s| s.as_str()))
                        ),
                    });
                }
                let hdfs_percent = if core {
                    latest(&self.cloudwatch, &hdfs_metric(cluster_id), now).await?
                } else {
                    None
                };
                Ok(Observed::Ready {
                    size: g.requested_instance_count().unwrap_or_default().max(0) as u32,
                    alignment: Alignment::None,
                    max_size: None,
                    hdfs_percent,
                })
            }
            TargetKind::EmrInstanceFleet {
                cluster_id,
                instance_fleet_id,
                market,
            } => {
                if let Some(o) = self.cluster_unavailable(cluster_id, respect_others).await? {
                    return Ok(o);
                }
                let fleets = self
                    .emr
                    .list_instance_fleets()
                    .cluster_id(cluster_id)
                    .send()
                    .await
                    .map_err(|e| AwsCallError::from_sdk("ListInstanceFleets", cluster_id, &e))?;
                let f = fleets
                    .instance_fleets()
                    .iter()
                    .find(|f| f.id() == Some(instance_fleet_id.as_str()))
                    .ok_or_else(|| {
                        missing(
                            "ListInstanceFleets",
                            &format!("{cluster_id}/{instance_fleet_id}"),
                        )
                    })?;
                let fstate = f.status().and_then(|s| s.state()).cloned();
                if fstate != Some(InstanceFleetState::Running) {
                    return Ok(Observed::Busy {
                        detail: format!(
                            "instance fleet {instance_fleet_id} is {}",
                            state_word(fstate.as_ref().map(|s| s.as_str()))
                        ),
                    });
                }
                let (target, provisioned) = match market {
                    FleetMarket::OnDemand => (
                        f.target_on_demand_capacity(),
                        f.provisioned_on_demand_capacity(),
                    ),
                    FleetMarket::Spot => (f.target_spot_capacity(), f.provisioned_spot_capacity()),
                };
                let target = target.unwrap_or_default().max(0) as u32;
                if provisioned.map(|p| p.max(0) as u32) != Some(target) {
                    return Ok(Observed::Busy {
                        detail: format!(
                            "instance fleet {instance_fleet_id} is still provisioning ({} of {target} units)",
                            provisioned.unwrap_or_default()
                        ),
                    });
                }
                Ok(Observed::ready(target))
            }
            TargetKind::FlinkJob {
                rest_url,
                job_name,
                mode,
                source_stream,
                ..
            } => {
                let view = flink::flink_job(rest_url, job_name)
                    .await
                    .map_err(|e| flink_error(rest_url, e))?;
                let (job_id, parallelism, max_parallelism) = match view {
                    FlinkJobView::Running {
                        job_id,
                        parallelism,
                        max_parallelism,
                    } => (job_id, parallelism, max_parallelism),
                    FlinkJobView::NotRunning(detail) => return Ok(Observed::Busy { detail }),
                };
                let config = flink::job_config(rest_url, &job_id)
                    .await
                    .map_err(|e| flink_error(rest_url, e))?;
                if respect_others && let Some(why) = flink::other_autoscaler(&config) {
                    return Ok(Observed::OwnedElsewhere {
                        detail: format!("job {job_name}: {why}"),
                    });
                }
                if *mode == crate::policy::FlinkRescaleMode::Adaptive
                    && !flink::adaptive_scheduler(&config)
                {
                    return Ok(Observed::Unsupported {
                        detail: format!(
                            "job {job_name} does not run on the adaptive scheduler (jobmanager.scheduler: adaptive), so it cannot rescale in place; use mode savepoint"
                        ),
                    });
                }
                let alignment = match source_stream {
                    Some(stream) => match self.observe_stream(stream).await? {
                        Observed::Ready { size, .. } => Alignment::Shards {
                            shards: size,
                            max_parallelism,
                        },
                        _ => Alignment::KeyGroups { max_parallelism },
                    },
                    None => Alignment::KeyGroups { max_parallelism },
                };
                Ok(Observed::Ready {
                    size: parallelism,
                    alignment,
                    max_size: Some(max_parallelism),
                    hdfs_percent: None,
                })
            }
        }
    }

    async fn observe_stream(&self, stream: &str) -> Result<Observed, AwsCallError> {
        let out = self
            .kinesis
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("DescribeStreamSummary", stream, &e))?;
        let d = out
            .stream_description_summary()
            .ok_or_else(|| missing("DescribeStreamSummary", stream))?;
        if d.stream_mode_details().map(|m| m.stream_mode()) == Some(&StreamMode::OnDemand) {
            return Ok(Observed::Unsupported {
                detail: format!("stream {stream} is on-demand: Kinesis scales it"),
            });
        }
        if d.stream_status() != &StreamStatus::Active {
            return Ok(Observed::Busy {
                detail: format!("stream {stream} is {}", d.stream_status().as_str()),
            });
        }
        // Its open shards (the quota is looked up only when the stream itself is the target).
        Ok(Observed::ready(d.open_shard_count().max(0) as u32))
    }

    /// `Some` when the cluster cannot take a resize now, or EMR managed scaling owns it.
    async fn cluster_unavailable(
        &self,
        cluster_id: &str,
        respect_others: bool,
    ) -> Result<Option<Observed>, AwsCallError> {
        let cluster = self
            .emr
            .describe_cluster()
            .cluster_id(cluster_id)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("DescribeCluster", cluster_id, &e))?;
        let state = cluster
            .cluster()
            .and_then(|c| c.status())
            .and_then(|s| s.state())
            .cloned();
        if !matches!(state, Some(ClusterState::Running | ClusterState::Waiting)) {
            return Ok(Some(Observed::Busy {
                detail: format!(
                    "cluster {cluster_id} is {}",
                    state_word(state.as_ref().map(|s| s.as_str()))
                ),
            }));
        }
        if respect_others {
            let managed = self
                .emr
                .get_managed_scaling_policy()
                .cluster_id(cluster_id)
                .send()
                .await
                .map_err(|e| AwsCallError::from_sdk("GetManagedScalingPolicy", cluster_id, &e))?;
            if let Some(limits) = managed
                .managed_scaling_policy()
                .and_then(|p| p.compute_limits())
            {
                return Ok(Some(Observed::OwnedElsewhere {
                    detail: format!(
                        "EMR managed scaling is on for cluster {cluster_id} ({} to {} {}): the scaler does not fight it",
                        limits.minimum_capacity_units().unwrap_or_default(),
                        limits.maximum_capacity_units().unwrap_or_default(),
                        limits.unit_type().map(|u| u.as_str()).unwrap_or("units")
                    ),
                }));
            }
        }
        Ok(None)
    }

    /// Resizes a Kinesis stream or an EMR group/fleet (Flink jobs go through `flink`); returns
    /// the EC2 instances a group scale-in asks EMR to terminate (empty when EMR picks).
    pub async fn resize(
        &self,
        kind: &TargetKind,
        from: u32,
        to: u32,
    ) -> Result<Vec<String>, AwsCallError> {
        match kind {
            TargetKind::FlinkJob { .. } => unreachable!("Flink rescales go through flink.rs"),
            TargetKind::KinesisStream { stream } => self
                .kinesis
                .update_shard_count()
                .stream_name(stream)
                .target_shard_count(to as i32)
                .scaling_type(ScalingType::UniformScaling)
                .send()
                .await
                .map(|_| Vec::new())
                .map_err(|e| AwsCallError::from_sdk("UpdateShardCount", stream, &e)),
            TargetKind::EmrInstanceGroup {
                cluster_id,
                instance_group_id,
                yarn_rm_url,
                decommission_timeout_seconds,
                ..
            } => {
                let mut config = InstanceGroupModifyConfig::builder()
                    .instance_group_id(instance_group_id)
                    .instance_count(to as i32);
                let mut terminating = Vec::new();
                if to < from {
                    let mut resize = InstanceResizePolicy::builder();
                    if let Some(rm) = yarn_rm_url {
                        let empty = self
                            .empty_instances(
                                cluster_id,
                                instance_group_id,
                                rm,
                                (from - to) as usize,
                            )
                            .await?;
                        tracing::info!(group = %instance_group_id, instances = ?empty, "scale-in terminates the nodes YARN reports empty");
                        if !empty.is_empty() {
                            terminating.clone_from(&empty);
                            resize = resize.set_instances_to_terminate(Some(empty));
                        }
                    }
                    config = config.shrink_policy(
                        ShrinkPolicy::builder()
                            .decommission_timeout(*decommission_timeout_seconds)
                            .instance_resize_policy(
                                resize
                                    .instance_termination_timeout(*decommission_timeout_seconds)
                                    .build(),
                            )
                            .build(),
                    );
                }
                self.emr
                    .modify_instance_groups()
                    .cluster_id(cluster_id)
                    .instance_groups(config.build())
                    .send()
                    .await
                    .map(|_| terminating)
                    .map_err(|e| {
                        AwsCallError::from_sdk(
                            "ModifyInstanceGroups",
                            format!("{cluster_id}/{instance_group_id}"),
                            &e,
                        )
                    })
            }
            TargetKind::EmrInstanceFleet {
                cluster_id,
                instance_fleet_id,
                market,
            } => {
                let config =
                    InstanceFleetModifyConfig::builder().instance_fleet_id(instance_fleet_id);
                let config = match market {
                    FleetMarket::OnDemand => config.target_on_demand_capacity(to as i32),
                    FleetMarket::Spot => config.target_spot_capacity(to as i32),
                };
                self.emr
                    .modify_instance_fleet()
                    .cluster_id(cluster_id)
                    .instance_fleet(config.build())
                    .send()
                    .await
                    .map(|_| Vec::new())
                    .map_err(|e| {
                        AwsCallError::from_sdk(
                            "ModifyInstanceFleet",
                            format!("{cluster_id}/{instance_fleet_id}"),
                            &e,
                        )
                    })
            }
        }
    }

    /// The group's EC2 instances whose YARN NodeManager runs no container (after a parallelism
    /// scale-down released their TaskManagers), at most `count`.
    async fn empty_instances(
        &self,
        cluster_id: &str,
        group_id: &str,
        yarn_rm_url: &str,
        count: usize,
    ) -> Result<Vec<String>, AwsCallError> {
        let nodes = http::get_json(yarn_rm_url, "/ws/v1/cluster/nodes")
            .await
            .map_err(|e| AwsCallError {
                operation: "YARN ResourceManager nodes",
                resource: yarn_rm_url.to_string(),
                class: ErrorClass::Retryable,
                code: None,
                message: e,
            })?;
        let nodes: Vec<(String, u64)> = nodes["nodes"]["node"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["state"] == "RUNNING")
            .filter_map(|n| {
                Some((
                    n["nodeHostName"].as_str()?.to_string(),
                    n["numContainers"].as_u64().unwrap_or(0),
                ))
            })
            .collect();
        let out = self
            .emr
            .list_instances()
            .cluster_id(cluster_id)
            .instance_group_id(group_id)
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("ListInstances", group_id, &e))?;
        let instances: Vec<(String, String)> = out
            .instances()
            .iter()
            .filter(|i| i.status().and_then(|s| s.state()) == Some(&InstanceState::Running))
            .filter_map(|i| {
                Some((
                    i.ec2_instance_id()?.to_string(),
                    i.private_dns_name()?.to_string(),
                ))
            })
            .collect();
        Ok(empty_instances(&nodes, &instances, count))
    }
}

/// Instances (EC2 id, private DNS name) whose YARN node (host name, containers) is empty.
pub fn empty_instances(
    nodes: &[(String, u64)],
    instances: &[(String, String)],
    count: usize,
) -> Vec<String> {
    let host = |h: &str| h.split('.').next().unwrap_or(h).to_ascii_lowercase();
    instances
        .iter()
        .filter(|(_, dns)| {
            nodes
                .iter()
                .any(|(n, containers)| *containers == 0 && host(n) == host(dns))
        })
        .map(|(id, _)| id.clone())
        .take(count)
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_nodes_are_matched_by_host() {
        let nodes = vec![
            ("ip-10-0-0-1.ec2.internal".to_string(), 0),
            ("ip-10-0-0-2.ec2.internal".to_string(), 3),
            ("ip-10-0-0-3".to_string(), 0),
        ];
        let instances = vec![
            ("i-1".to_string(), "ip-10-0-0-1.ec2.internal".to_string()),
            ("i-2".to_string(), "ip-10-0-0-2.ec2.internal".to_string()),
            ("i-3".to_string(), "IP-10-0-0-3.ec2.internal".to_string()),
        ];
        assert_eq!(empty_instances(&nodes, &instances, 5), vec!["i-1", "i-3"]);
        assert_eq!(empty_instances(&nodes, &instances, 1), vec!["i-1"]);
    }
}
