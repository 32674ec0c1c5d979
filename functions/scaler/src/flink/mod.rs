//! A Flink job through the JobManager's REST API (the Flink port): find a job and its
//! parallelism, tell whether another autoscaler owns it, rescale it in place (adaptive
//! scheduler), or walk the savepoint state machine (`savepoint`, over `rescale`) one step at a
//! time within the time it is given.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::ports::{FlinkApi, JobOverview, Vertex};

pub mod savepoint;

/// Poll interval while waiting for a savepoint or a job.
pub(crate) const POLL: Duration = Duration::from_millis(400);

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

/// Every job named `job_name`: (id, state), newest first.
pub fn named(jobs: &[JobOverview], job_name: &str) -> Vec<(String, String)> {
    let mut named: Vec<&JobOverview> = jobs.iter().filter(|j| j.name == job_name).collect();
    named.sort_by_key(|j| std::cmp::Reverse(j.start_time));
    named
        .into_iter()
        .map(|j| (j.id.clone(), j.state.clone()))
        .collect()
}

pub async fn jobs_named<F: FlinkApi>(
    flink: &F,
    rest_url: &str,
    job_name: &str,
) -> Result<Vec<(String, String)>, String> {
    Ok(named(&flink.jobs(rest_url).await?, job_name))
}

/// The running job named `job_name`, with its parallelism (the highest of its vertices) and
/// max parallelism (the lowest: no vertex may exceed its own).
pub async fn flink_job<F: FlinkApi>(
    flink: &F,
    rest_url: &str,
    job_name: &str,
) -> Result<FlinkJobView, String> {
    let jobs = jobs_named(flink, rest_url, job_name).await?;
    job_view(flink, rest_url, job_name, &jobs).await
}

/// `flink_job` on a job list already read.
pub(crate) async fn job_view<F: FlinkApi>(
    flink: &F,
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
    let vertices = flink.vertices(rest_url, id).await?;
    Ok(view_of(id, &vertices))
}

/// A running job's view from its vertices.
pub fn view_of(job_id: &str, vertices: &[Vertex]) -> FlinkJobView {
    if vertices.iter().any(|v| v.status != "RUNNING") {
        return FlinkJobView::NotRunning(format!("job {job_id} has vertices that are not RUNNING"));
    }
    let parallelism = vertices
        .iter()
        .filter_map(|v| v.parallelism)
        .max()
        .unwrap_or(1) as u32;
    let max_parallelism = vertices
        .iter()
        .filter_map(|v| v.max_parallelism)
        .min()
        .unwrap_or(128) as u32;
    FlinkJobView::Running {
        job_id: job_id.to_string(),
        parallelism,
        max_parallelism,
    }
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

async fn wait_parallelism<F: FlinkApi>(
    flink: &F,
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
        }) = flink_job(flink, rest_url, job_name).await
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
pub async fn rescale_adaptive<F: FlinkApi>(
    flink: &F,
    rest_url: &str,
    job_name: &str,
    job_id: &str,
    to: u32,
    until: Instant,
) -> Result<(), String> {
    flink.set_parallelism(rest_url, job_id, to).await?;
    wait_parallelism(flink, rest_url, job_name, to, until)
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

    #[test]
    fn jobs_newest_first_and_their_parallelism() {
        let job = |id: &str, name: &str, state: &str, start_time| JobOverview {
            id: id.into(),
            name: name.into(),
            state: state.into(),
            start_time,
        };
        let jobs = [
            job("a", "j", "FINISHED", 1),
            job("b", "other", "RUNNING", 3),
            job("c", "j", "RUNNING", 2),
        ];
        assert_eq!(
            named(&jobs, "j"),
            [
                ("c".to_string(), "RUNNING".to_string()),
                ("a".to_string(), "FINISHED".to_string())
            ]
        );
        let v = |status: &str, p, m| Vertex {
            status: status.into(),
            parallelism: Some(p),
            max_parallelism: Some(m),
        };
        assert_eq!(
            view_of("c", &[v("RUNNING", 2, 128), v("RUNNING", 4, 64)]),
            FlinkJobView::Running {
                job_id: "c".into(),
                parallelism: 4,
                max_parallelism: 64
            }
        );
        assert!(matches!(
            view_of("c", &[v("RUNNING", 2, 128), v("DEPLOYING", 4, 64)]),
            FlinkJobView::NotRunning(_)
        ));
    }
}
