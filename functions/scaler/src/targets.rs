//! What the scaler acts on: Kinesis streams (`UpdateShardCount`, uniform scaling) and EMR
//! instance groups (`ModifyInstanceGroups`). Observing reports the size, or why not to act now.

use aws_sdk_emr::types::{ClusterState, InstanceGroupModifyConfig, InstanceGroupState};
use aws_sdk_kinesis::types::{ScalingType, StreamMode, StreamStatus};
use streamops_shared::{AwsCallError, ErrorClass};

use std::time::Duration;

use serde_json::{Value, json};
use streamops_shared::http;

use crate::policy::{FlinkRescaleMode, Observed, TargetKind};

const FLINK_CALL: Duration = Duration::from_secs(10);
/// How long a rescale may take to show (savepoint, resubmit, tasks running).
const FLINK_SETTLE: Duration = Duration::from_secs(90);

pub struct Targets {
    pub kinesis: aws_sdk_kinesis::Client,
    pub emr: aws_sdk_emr::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
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
            TargetKind::FlinkJob {
                rest_url, job_name, ..
            } => Ok(match flink_job(rest_url, job_name).await? {
                FlinkJobView::Running { parallelism, .. } => Observed::Ready { size: parallelism },
                FlinkJobView::NotRunning(detail) => Observed::Busy { detail },
            }),
        }
    }

    /// Resizes; for a Flink resubmission, returns the new job id and the savepoint it restored.
    pub async fn resize(
        &self,
        kind: &TargetKind,
        to: u32,
    ) -> Result<Option<(String, String)>, AwsCallError> {
        match kind {
            TargetKind::FlinkJob {
                rest_url,
                job_name,
                mode,
                jar_id,
                entry_class,
                ..
            } => rescale_flink(
                rest_url,
                job_name,
                *mode,
                jar_id.as_deref(),
                entry_class.as_deref(),
                to,
            )
            .await
            .map_err(|message| AwsCallError {
                operation: "Flink rescale",
                resource: format!("{rest_url} job {job_name}"),
                class: ErrorClass::Retryable,
                code: None,
                message,
            }),
            TargetKind::KinesisStream { stream } => self
                .kinesis
                .update_shard_count()
                .stream_name(stream)
                .target_shard_count(to as i32)
                .scaling_type(ScalingType::UniformScaling)
                .send()
                .await
                .map(|_| None)
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
                .map(|_| None)
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

/// A Flink job as the JobManager reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum FlinkJobView {
    Running {
        job_id: String,
        parallelism: u32,
        max_parallelism: u32,
    },
    NotRunning(String),
}

fn flink_error(e: String) -> AwsCallError {
    AwsCallError {
        operation: "Flink REST",
        resource: "jobmanager".into(),
        class: ErrorClass::Retryable,
        code: None,
        message: e,
    }
}

/// The running job named `job_name`, with its parallelism (the highest of its vertices).
pub async fn flink_job(rest_url: &str, job_name: &str) -> Result<FlinkJobView, AwsCallError> {
    let overview = http::get_json(rest_url, "/jobs/overview")
        .await
        .map_err(flink_error)?;
    let jobs: Vec<&Value> = overview["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|j| j["name"] == job_name)
        .collect();
    let Some(job) = jobs.iter().find(|j| j["state"] == "RUNNING") else {
        let states: Vec<String> = jobs
            .iter()
            .map(|j| j["state"].as_str().unwrap_or("?").to_string())
            .collect();
        return Ok(FlinkJobView::NotRunning(format!(
            "no RUNNING job named {job_name} (seen: {})",
            if states.is_empty() {
                "none".into()
            } else {
                states.join(", ")
            }
        )));
    };
    let id = job["jid"].as_str().unwrap_or_default().to_string();
    let detail = http::get_json(rest_url, &format!("/jobs/{id}"))
        .await
        .map_err(flink_error)?;
    let vertices = detail["vertices"].as_array().cloned().unwrap_or_default();
    if vertices.iter().any(|v| v["status"] != "RUNNING") {
        return Ok(FlinkJobView::NotRunning(format!(
            "job {id} has vertices that are not RUNNING"
        )));
    }
    let parallelism = vertices
        .iter()
        .filter_map(|v| v["parallelism"].as_u64())
        .max()
        .unwrap_or(1) as u32;
    let max_parallelism = vertices
        .iter()
        .filter_map(|v| v["maxParallelism"].as_u64())
        .min()
        .unwrap_or(128) as u32;
    Ok(FlinkJobView::Running {
        job_id: id,
        parallelism,
        max_parallelism,
    })
}

async fn wait_parallelism(rest_url: &str, job_name: &str, to: u32) -> Result<String, String> {
    let deadline = tokio::time::Instant::now() + FLINK_SETTLE;
    loop {
        if let Ok(FlinkJobView::Running {
            job_id,
            parallelism,
            ..
        }) = flink_job(rest_url, job_name).await
            && parallelism == to
        {
            return Ok(job_id);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "job {job_name} did not reach parallelism {to} within {FLINK_SETTLE:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn call(
    rest_url: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let (status, v) = http::request(rest_url, method, path, body, FLINK_CALL).await?;
    if !(200..300).contains(&status) {
        return Err(format!(
            "{method} {path}: HTTP {status}: {}",
            v.to_string().chars().take(400).collect::<String>()
        ));
    }
    Ok(v)
}

/// Rescales the running job named `job_name` to `to` (never above its max parallelism) and
/// waits until the JobManager reports it.
pub async fn rescale_flink(
    rest_url: &str,
    job_name: &str,
    mode: FlinkRescaleMode,
    jar_id: Option<&str>,
    entry_class: Option<&str>,
    to: u32,
) -> Result<Option<(String, String)>, String> {
    let FlinkJobView::Running {
        job_id,
        parallelism: from,
        max_parallelism,
    } = flink_job(rest_url, job_name).await.map_err(|e| e.message)?
    else {
        return Err(format!("no RUNNING job named {job_name}"));
    };
    let to = to.min(max_parallelism);
    match mode {
        FlinkRescaleMode::Adaptive => {
            let mut req = call(
                rest_url,
                "GET",
                &format!("/jobs/{job_id}/resource-requirements"),
                None,
            )
            .await?;
            let Some(vertices) = req.as_object_mut() else {
                return Err("resource requirements are not an object".into());
            };
            for (_, v) in vertices.iter_mut() {
                v["parallelism"] = json!({"lowerBound": 1, "upperBound": to});
            }
            call(
                rest_url,
                "PUT",
                &format!("/jobs/{job_id}/resource-requirements"),
                Some(&req),
            )
            .await?;
            wait_parallelism(rest_url, job_name, to).await.map(|_| None)
        }
        FlinkRescaleMode::Savepoint => {
            let jar = jar_id.ok_or("savepoint mode needs jar_id")?;
            let trigger = format!("{:032x}", fastrand_u128());
            // A client-chosen trigger id: a retried call does not take a second savepoint.
            let stop = call(
                rest_url,
                "POST",
                &format!("/jobs/{job_id}/stop"),
                Some(&json!({"drain": false, "triggerId": trigger})),
            )
            .await?;
            let request = stop["request-id"].as_str().unwrap_or(&trigger).to_string();
            let deadline = tokio::time::Instant::now() + FLINK_SETTLE;
            let location = loop {
                let st = call(
                    rest_url,
                    "GET",
                    &format!("/jobs/{job_id}/savepoints/{request}"),
                    None,
                )
                .await?;
                if st["status"]["id"] == "COMPLETED" {
                    match st["operation"]["location"].as_str() {
                        Some(l) => break l.to_string(),
                        None => {
                            return Err(format!(
                                "stop-with-savepoint of {job_id} failed (the job keeps running): {}",
                                st["operation"]["failure-cause"]
                            ));
                        }
                    }
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(format!(
                        "the savepoint of {job_id} did not complete within {FLINK_SETTLE:?}"
                    ));
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            };
            let submit = |p: u32| {
                let mut body = json!({"savepointPath": location, "parallelism": p});
                if let Some(c) = entry_class {
                    body["entryClass"] = json!(c);
                }
                body
            };
            match call(
                rest_url,
                "POST",
                &format!("/jars/{jar}/run"),
                Some(&submit(to)),
            )
            .await
            {
                Ok(_) => wait_parallelism(rest_url, job_name, to)
                    .await
                    .map(|job| Some((job, location.clone()))),
                Err(e) => {
                    // Back to the old parallelism from the same savepoint, then report.
                    let back = call(
                        rest_url,
                        "POST",
                        &format!("/jars/{jar}/run"),
                        Some(&submit(from)),
                    )
                    .await;
                    Err(format!(
                        "resubmit at parallelism {to} failed ({e}); resubmitted at {from}: {}",
                        if back.is_ok() {
                            "ok"
                        } else {
                            "FAILED, the job is stopped"
                        }
                    ))
                }
            }
        }
    }
}

fn fastrand_u128() -> u128 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    t ^ ((std::process::id() as u128) << 64)
}
