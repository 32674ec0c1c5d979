//! The Flink JobManager's REST API: find a job and its parallelism, tell whether another
//! autoscaler owns it, rescale it in place (adaptive scheduler) or walk the savepoint state
//! machine (`rescale`) one step at a time within the time it is given.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use streamops_shared::http;
use tokio::time::Instant;

use aws_sdk_emr::types::{ActionOnFailure, HadoopJarStepConfig, StepConfig, StepState};

use crate::policy::EmrStepSubmit;
use crate::rescale::{FlinkRescale, RescalePhase, StepOutcome, savepoint_status};

const CALL: Duration = Duration::from_secs(10);
/// Poll interval while waiting for a savepoint or a job.
const POLL: Duration = Duration::from_millis(400);

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

/// One REST call. Calls that are safe to repeat (reads, the resource-requirements PUT, a stop
/// with our own trigger id) are retried up to 3 times on connection errors and HTTP 5xx, with
/// a short backoff; a job submission is never retried blindly (the state machine checks first).
pub async fn call(
    rest_url: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let repeatable = method != "POST" || path.ends_with("/stop");
    let attempts = if repeatable { 3 } else { 1 };
    let mut last = String::new();
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
        }
        match http::request(rest_url, method, path, body, CALL).await {
            Ok((status, v)) if (200..300).contains(&status) => return Ok(v),
            Ok((status, v)) => {
                last = format!(
                    "{method} {path}: HTTP {status}: {}",
                    v.to_string().chars().take(400).collect::<String>()
                );
                if status < 500 {
                    break;
                }
            }
            Err(e) => last = format!("{method} {path}: {e}"),
        }
    }
    Err(last)
}

/// Every job named `job_name`: (id, state), newest first.
pub async fn jobs_named(rest_url: &str, job_name: &str) -> Result<Vec<(String, String)>, String> {
    let overview = call(rest_url, "GET", "/jobs/overview", None).await?;
    let mut jobs: Vec<(i64, String, String)> = overview["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|j| j["name"] == job_name)
        .map(|j| {
            (
                j["start-time"].as_i64().unwrap_or_default(),
                j["jid"].as_str().unwrap_or_default().to_string(),
                j["state"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    jobs.sort_by_key(|(t, ..)| std::cmp::Reverse(*t));
    Ok(jobs.into_iter().map(|(_, id, st)| (id, st)).collect())
}

/// The running job named `job_name`, with its parallelism (the highest of its vertices) and
/// max parallelism (the lowest: no vertex may exceed its own).
pub async fn flink_job(rest_url: &str, job_name: &str) -> Result<FlinkJobView, String> {
    let jobs = jobs_named(rest_url, job_name).await?;
    job_view(rest_url, job_name, &jobs).await
}

/// `flink_job` on a job list already read.
async fn job_view(
    rest_url: &str,
    job_name: &str,
    jobs: &[(String, String)],
) -> Result<FlinkJobView, String> {
    let Some((id, _)) = jobs.iter().find(|(_, st)| st == "RUNNING") else {
        let states: Vec<&str> = jobs.iter().map(|(_, s)| s.as_str()).collect();
        return Ok(FlinkJobView::NotRunning(format!(
            "no RUNNING job named {job_name} (seen: {})",
            if states.is_empty() {
                "none".into()
            } else {
                states.join(", ")
            }
        )));
    };
    let detail = call(rest_url, "GET", &format!("/jobs/{id}"), None).await?;
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
        job_id: id.clone(),
        parallelism,
        max_parallelism,
    })
}

/// The job's effective configuration as key/value pairs.
pub async fn job_config(rest_url: &str, job_id: &str) -> Result<Vec<(String, String)>, String> {
    let v = call(
        rest_url,
        "GET",
        &format!("/jobs/{job_id}/jobmanager/config"),
        None,
    )
    .await?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some((
                e["key"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect())
}

/// Why another mechanism owns the job's parallelism, if one does: Flink's autoscaler, or the
/// adaptive scheduler in reactive mode (which sizes the job to whatever slots exist).
pub fn other_autoscaler(config: &[(String, String)]) -> Option<String> {
    let get = |k: &str| {
        config
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    if get("job.autoscaler.enabled") == Some("true") {
        return Some("Flink's autoscaler is enabled on the job (job.autoscaler.enabled)".into());
    }
    if get("scheduler-mode") == Some("reactive") {
        return Some("the job runs in reactive mode (scheduler-mode: reactive)".into());
    }
    None
}

/// Whether the job runs on the adaptive scheduler (needed to rescale in place).
pub fn adaptive_scheduler(config: &[(String, String)]) -> bool {
    config
        .iter()
        .any(|(k, v)| k == "jobmanager.scheduler" && v.eq_ignore_ascii_case("adaptive"))
}

async fn wait_parallelism(
    rest_url: &str,
    job_name: &str,
    to: u32,
    until: Instant,
) -> Result<String, String> {
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
        if Instant::now() + POLL >= until {
            return Err(format!(
                "job {job_name} did not show parallelism {to} in the time left"
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// In place, with the adaptive scheduler: the resource requirements' upper bound becomes `to`,
/// then the job must report it.
pub async fn rescale_adaptive(
    rest_url: &str,
    job_name: &str,
    job_id: &str,
    to: u32,
    until: Instant,
) -> Result<(), String> {
    let path = format!("/jobs/{job_id}/resource-requirements");
    let mut req = call(rest_url, "GET", &path, None).await?;
    let Some(vertices) = req.as_object_mut() else {
        return Err("resource requirements are not an object".into());
    };
    for (_, v) in vertices.iter_mut() {
        v["parallelism"] = json!({"lowerBound": 1, "upperBound": to});
    }
    call(rest_url, "PUT", &path, Some(&req)).await?;
    wait_parallelism(rest_url, job_name, to, until)
        .await
        .map(|_| ())
}

/// A trigger id for `POST /jobs/:id/stop`: chosen by us and stored before the call, so a retry
/// of the call (or of the invocation) finds the same savepoint instead of taking another.
pub fn trigger_id(target: &str, job_id: &str, now: DateTime<Utc>) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (target, job_id, now.timestamp_nanos_opt()).hash(&mut h);
    let a = h.finish();
    (a, "second half").hash(&mut h);
    format!("{a:016x}{:016x}", h.finish())
}

pub async fn stop_with_savepoint(
    rest_url: &str,
    job_id: &str,
    trigger: &str,
    savepoint_dir: Option<&str>,
) -> Result<(), String> {
    let mut body = json!({"drain": false, "triggerId": trigger});
    if let Some(dir) = savepoint_dir {
        body["targetDirectory"] = json!(dir);
    }
    call(
        rest_url,
        "POST",
        &format!("/jobs/{job_id}/stop"),
        Some(&body),
    )
    .await
    .map(|_| ())
}

/// How a savepoint-mode target resubmits: the session cluster's jar, or an EMR step.
pub struct Resubmit<'a> {
    pub rest_url: &'a str,
    pub job_name: &'a str,
    pub jar_id: Option<&'a str>,
    pub entry_class: Option<&'a str>,
    pub savepoint_timeout_seconds: i64,
    pub emr_step: Option<(&'a aws_sdk_emr::Client, &'a EmrStepSubmit)>,
}

/// The step of a resubmission is named after the rescale's trigger and parallelism, so an
/// invocation that died after adding it finds it instead of adding another.
fn step_name(r: &FlinkRescale, parallelism: u32) -> String {
    format!("streamops-rescale-{}-p{parallelism}", r.trigger_id)
}

/// The state of the newest step named `name` on the cluster, if any.
async fn step_state(
    emr: &aws_sdk_emr::Client,
    cluster_id: &str,
    name: &str,
) -> Result<Option<StepState>, String> {
    let out = emr
        .list_steps()
        .cluster_id(cluster_id)
        .send()
        .await
        .map_err(|e| {
            format!(
                "ListSteps {cluster_id}: {}",
                streamops_shared::AwsCallError::from_sdk("ListSteps", cluster_id, &e)
            )
        })?;
    Ok(out
        .steps()
        .iter()
        .find(|s| s.name() == Some(name))
        .and_then(|s| s.status())
        .and_then(|s| s.state())
        .cloned())
}

fn step_failed(state: &StepState) -> bool {
    matches!(
        state,
        StepState::Failed | StepState::Cancelled | StepState::Interrupted
    )
}

async fn submit_step(
    emr: &aws_sdk_emr::Client,
    step: &EmrStepSubmit,
    name: &str,
    savepoint: &str,
    parallelism: u32,
    entry_class: Option<&str>,
) -> Result<(), String> {
    if let Some(state) = step_state(emr, &step.cluster_id, name).await?
        && !step_failed(&state)
    {
        return Ok(());
    }
    let config = StepConfig::builder()
        .name(name)
        .action_on_failure(ActionOnFailure::Continue)
        .hadoop_jar_step(
            HadoopJarStepConfig::builder()
                .jar("command-runner.jar")
                .set_args(Some(step.step_args(savepoint, parallelism, entry_class)))
                .build(),
        )
        .build();
    emr.add_job_flow_steps()
        .job_flow_id(&step.cluster_id)
        .steps(config)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            streamops_shared::AwsCallError::from_sdk("AddJobFlowSteps", &step.cluster_id, &e)
                .to_string()
        })
}

/// Runs the machine until it finishes, needs a later invocation, or `until` comes.
pub async fn advance(
    t: &Resubmit<'_>,
    r: &mut FlinkRescale,
    until: Instant,
    now: impl Fn() -> DateTime<Utc>,
) -> StepOutcome {
    loop {
        let outcome = step(t, r, until, &now).await;
        match outcome {
            StepOutcome::Advanced if Instant::now() < until => continue,
            StepOutcome::Advanced => {
                return StepOutcome::Waiting("out of time for this invocation".into());
            }
            other => return other,
        }
    }
}

async fn step(
    t: &Resubmit<'_>,
    r: &mut FlinkRescale,
    until: Instant,
    now: &impl Fn() -> DateTime<Utc>,
) -> StepOutcome {
    match r.phase.clone() {
        RescalePhase::Stopping { trigger_id } => loop {
            let path = format!("/jobs/{}/savepoints/{trigger_id}", r.job_id);
            let outcome = match call(t.rest_url, "GET", &path, None).await {
                Ok(v) => r.on_savepoint(savepoint_status(&v), t.savepoint_timeout_seconds, now()),
                Err(e) => {
                    // The JobManager forgot the trigger (restarted?): if the old job still runs,
                    // nothing was stopped; otherwise keep asking.
                    match jobs_named(t.rest_url, t.job_name).await {
                        Ok(jobs)
                            if jobs
                                .iter()
                                .any(|(id, st)| id == &r.job_id && st == "RUNNING") =>
                        {
                            return StepOutcome::Failed(format!(
                                "the savepoint status of job {} is unknown ({e}); the job keeps running at parallelism {}",
                                r.job_id, r.from
                            ));
                        }
                        _ => StepOutcome::Waiting(e),
                    }
                }
            };
            match outcome {
                StepOutcome::Waiting(_) if Instant::now() + POLL < until => {
                    tokio::time::sleep(POLL).await;
                }
                other => return other,
            }
        },
        RescalePhase::Submitting { parallelism, .. } => {
            // Submitted already by an invocation that died before saving? Then do not again.
            let already = jobs_named(t.rest_url, t.job_name).await.map(|jobs| {
                jobs.iter().any(|(id, st)| {
                    id != &r.job_id
                        && matches!(
                            st.as_str(),
                            "RUNNING" | "CREATED" | "INITIALIZING" | "RESTARTING"
                        )
                })
            });
            let result = match already {
                Ok(true) => Ok(()),
                Err(e) => return StepOutcome::Waiting(e),
                Ok(false) => {
                    let RescalePhase::Submitting { savepoint, .. } = &r.phase else {
                        unreachable!("matched above")
                    };
                    match (t.emr_step, t.jar_id) {
                        (Some((emr, step)), _) => {
                            submit_step(
                                emr,
                                step,
                                &step_name(r, parallelism),
                                savepoint,
                                parallelism,
                                t.entry_class,
                            )
                            .await
                        }
                        (None, Some(jar)) => {
                            let mut body =
                                json!({"savepointPath": savepoint, "parallelism": parallelism});
                            if let Some(c) = t.entry_class {
                                body["entryClass"] = json!(c);
                            }
                            call(t.rest_url, "POST", &format!("/jars/{jar}/run"), Some(&body))
                                .await
                                .map(|_| ())
                        }
                        (None, None) => Err("no jar_id and no emr_step to resubmit with".into()),
                    }
                }
            };
            r.on_submitted(result)
        }
        RescalePhase::Confirming { parallelism, .. } => {
            loop {
                // One job list per round serves both the running check and the failure check.
                let jobs = jobs_named(t.rest_url, t.job_name).await;
                if let Ok(jobs) = &jobs
                    && let Ok(FlinkJobView::Running {
                        job_id,
                        parallelism: p,
                        ..
                    }) = job_view(t.rest_url, t.job_name, jobs).await
                    && p == parallelism
                    && job_id != r.job_id
                {
                    return r.on_running(job_id);
                }
                // A step that failed (the CLI could not submit) is a failed submission too.
                if let Some((emr, step)) = t.emr_step
                    && let Ok(Some(state)) =
                        step_state(emr, &step.cluster_id, &step_name(r, parallelism)).await
                    && step_failed(&state)
                {
                    let detail = format!(
                        "EMR step {} on {} is {}",
                        step_name(r, parallelism),
                        step.cluster_id,
                        state.as_str()
                    );
                    return r.on_submission_failed(detail);
                }
                // A new job that failed outright goes the way of a failed submission.
                if let Ok(jobs) = &jobs
                    && let Some((id, st)) = jobs.first()
                    && id != &r.job_id
                    && matches!(st.as_str(), "FAILED" | "CANCELED")
                {
                    return r.on_submission_failed(format!("job {id} went {st}"));
                }
                if Instant::now() + POLL >= until {
                    return StepOutcome::Waiting(format!(
                        "waiting for job {} to run at parallelism {parallelism}",
                        t.job_name
                    ));
                }
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_autoscalers_are_recognised() {
        let cfg = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(
            other_autoscaler(&cfg(&[("job.autoscaler.enabled", "true")]))
                .unwrap()
                .contains("autoscaler")
        );
        assert!(
            other_autoscaler(&cfg(&[("scheduler-mode", "reactive")]))
                .unwrap()
                .contains("reactive")
        );
        assert_eq!(
            other_autoscaler(&cfg(&[("jobmanager.scheduler", "adaptive")])),
            None
        );
        assert!(adaptive_scheduler(&cfg(&[(
            "jobmanager.scheduler",
            "Adaptive"
        )])));
        assert!(!adaptive_scheduler(&cfg(&[])));
        let a = trigger_id("t", "j", Utc::now());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
