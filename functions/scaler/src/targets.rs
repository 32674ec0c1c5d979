//! What the scaler acts on: Kinesis streams (`UpdateShardCount`, uniform scaling) and EMR
//! instance groups (`ModifyInstanceGroups`). Observing reports the size, or why not to act now.

use aws_sdk_emr::types::{ClusterState, InstanceGroupModifyConfig, InstanceGroupState};
use aws_sdk_kinesis::types::{ScalingType, StreamMode, StreamStatus};
use streamops_shared::{AwsCallError, ErrorClass};

use crate::policy::{Observed, TargetKind};

pub struct Targets {
    pub kinesis: aws_sdk_kinesis::Client,
    pub emr: aws_sdk_emr::Client,
}

impl Targets {
    pub async fn observe(&self, kind: &TargetKind) -> Result<Observed, AwsCallError> {
        match kind {
            TargetKind::KinesisStream { stream } => {
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
                Ok(Observed::Ready {
                    size: d.open_shard_count().max(0) as u32,
                })
            }
            TargetKind::EmrInstanceGroup {
                cluster_id,
                instance_group_id,
            } => {
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
                    return Ok(Observed::Busy {
                        detail: format!(
                            "cluster {cluster_id} is {}",
                            state
                                .map(|s| s.as_str().to_string())
                                .unwrap_or_else(|| "unknown".into())
                        ),
                    });
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
                let gstate = g.status().and_then(|s| s.state()).cloned();
                if gstate != Some(InstanceGroupState::Running) {
                    return Ok(Observed::Busy {
                        detail: format!(
                            "instance group {instance_group_id} is {}",
                            gstate
                                .map(|s| s.as_str().to_string())
                                .unwrap_or_else(|| "unknown".into())
                        ),
                    });
                }
                Ok(Observed::Ready {
                    size: g.requested_instance_count().unwrap_or_default().max(0) as u32,
                })
            }
        }
    }

    pub async fn resize(&self, kind: &TargetKind, to: u32) -> Result<(), AwsCallError> {
        match kind {
            TargetKind::KinesisStream { stream } => self
                .kinesis
                .update_shard_count()
                .stream_name(stream)
                .target_shard_count(to as i32)
                .scaling_type(ScalingType::UniformScaling)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsCallError::from_sdk("UpdateShardCount", stream, &e)),
            TargetKind::EmrInstanceGroup {
                cluster_id,
                instance_group_id,
            } => self
                .emr
                .modify_instance_groups()
                .cluster_id(cluster_id)
                .instance_groups(
                    InstanceGroupModifyConfig::builder()
                        .instance_group_id(instance_group_id)
                        .instance_count(to as i32)
                        .build(),
                )
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    AwsCallError::from_sdk(
                        "ModifyInstanceGroups",
                        format!("{cluster_id}/{instance_group_id}"),
                        &e,
                    )
                }),
        }
    }
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
