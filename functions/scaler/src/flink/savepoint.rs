//! The savepoint rescale's steps against the JobManager (and EMR, for a resubmission through a
//! step): stopping with a savepoint, submitting from it, confirming the new job runs. The
//! transitions themselves are `rescale`'s, pure.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::{FlinkJobView, POLL, job_view, jobs_named};
use crate::policy::EmrStepSubmit;
use crate::ports::{EmrApi, FlinkApi};
use crate::rescale::{FlinkRescale, RescalePhase, StepOutcome};

/// How a savepoint-mode target resubmits: the session cluster's jar, or an EMR step.
pub struct Resubmit<'a> {
    pub rest_url: &'a str,
    pub job_name: &'a str,
    pub jar_id: Option<&'a str>,
    pub entry_class: Option<&'a str>,
    pub savepoint_timeout_seconds: i64,
    pub emr_step: Option<&'a EmrStepSubmit>,
}

/// The ports a rescale walks through.
pub struct Through<'a, F, E> {
    pub flink: &'a F,
    pub emr: &'a E,
}

/// The step of a resubmission is named after the rescale's trigger and parallelism, so an
/// invocation that died after adding it finds it instead of adding another.
pub fn step_name(r: &FlinkRescale, parallelism: u32) -> String {
    format!("streamops-rescale-{}-p{parallelism}", r.trigger_id)
}

/// Whether an EMR step state means the step will not submit the job.
pub fn step_failed(state: &str) -> bool {
    matches!(state, "FAILED" | "CANCELLED" | "INTERRUPTED")
}

/// Runs the machine until it finishes, needs a later invocation, or `until` comes.
pub async fn advance<F: FlinkApi, E: EmrApi>(
    via: &Through<'_, F, E>,
    t: &Resubmit<'_>,
    r: &mut FlinkRescale,
    until: Instant,
    now: impl Fn() -> DateTime<Utc> + Sync,
) -> StepOutcome {
    loop {
        let outcome = match r.phase.clone() {
            RescalePhase::Stopping { trigger_id } => {
                stopping(via, t, r, &trigger_id, until, &now).await
            }
            RescalePhase::Submitting { parallelism, .. } => {
                submitting(via, t, r, parallelism).await
            }
            RescalePhase::Confirming { parallelism, .. } => {
                confirming(via, t, r, parallelism, until).await
            }
        };
        match outcome {
            StepOutcome::Advanced if Instant::now() < until => continue,
            StepOutcome::Advanced => {
                return StepOutcome::Waiting("out of time for this invocation".into());
            }
            other => return other,
        }
    }
}

/// Polls the savepoint of the stop until it completes, fails or time runs out.
async fn stopping<F: FlinkApi, E: EmrApi>(
    via: &Through<'_, F, E>,
    t: &Resubmit<'_>,
    r: &mut FlinkRescale,
    trigger_id: &str,
    until: Instant,
    now: &impl Fn() -> DateTime<Utc>,
) -> StepOutcome {
    loop {
        let outcome = match via.flink.savepoint(t.rest_url, &r.job_id, trigger_id).await {
            Ok(status) => r.on_savepoint(status, t.savepoint_timeout_seconds, now()),
            Err(e) => {
                // The JobManager forgot the trigger (restarted?): if the old job still runs,
                // nothing was stopped; otherwise keep asking.
                match jobs_named(via.flink, t.rest_url, t.job_name).await {
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
    }
}

/// Submits the job from the savepoint at `parallelism`, unless an invocation that died before
/// saving already did.
async fn submitting<F: FlinkApi, E: EmrApi>(
    via: &Through<'_, F, E>,
    t: &Resubmit<'_>,
    r: &mut FlinkRescale,
    parallelism: u32,
) -> StepOutcome {
    let already = jobs_named(via.flink, t.rest_url, t.job_name)
        .await
        .map(|jobs| {
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
            let savepoint = r.phase.savepoint().unwrap_or_default().to_string();
            submit(via, t, r, &savepoint, parallelism).await
        }
    };
    r.on_submitted(result)
}

async fn submit<F: FlinkApi, E: EmrApi>(
    via: &Through<'_, F, E>,
    t: &Resubmit<'_>,
    r: &FlinkRescale,
    savepoint: &str,
    parallelism: u32,
) -> Result<(), String> {
    match (t.emr_step, t.jar_id) {
        (Some(step), _) => {
            let name = step_name(r, parallelism);
            if let Some(state) = step_state(via.emr, step, &name).await?
                && !step_failed(&state)
            {
                return Ok(());
            }
            let args = step.step_args(savepoint, parallelism, t.entry_class);
            via.emr
                .add_step(&step.cluster_id, &name, args)
                .await
                .map_err(|e| e.to_string())
        }
        (None, Some(jar)) => {
            via.flink
                .run_jar(t.rest_url, jar, savepoint, parallelism, t.entry_class)
                .await
        }
        (None, None) => Err("no jar_id and no emr_step to resubmit with".into()),
    }
}

async fn step_state<E: EmrApi>(
    emr: &E,
    step: &EmrStepSubmit,
    name: &str,
) -> Result<Option<String>, String> {
    emr.step_state(&step.cluster_id, name)
        .await
        .map_err(|e| format!("ListSteps {}: {e}", step.cluster_id))
}

/// Waits for the new job to run at `parallelism`; a failed step or job is a failed submission.
async fn confirming<F: FlinkApi, E: EmrApi>(
    via: &Through<'_, F, E>,
    t: &Resubmit<'_>,
    r: &mut FlinkRescale,
    parallelism: u32,
    until: Instant,
) -> StepOutcome {
    loop {
        // One job list per round serves both the running check and the failure check.
        let jobs = jobs_named(via.flink, t.rest_url, t.job_name).await;
        if let Ok(jobs) = &jobs
            && let Ok(FlinkJobView::Running {
                job_id,
                parallelism: p,
                ..
            }) = job_view(via.flink, t.rest_url, t.job_name, jobs).await
            && p == parallelism
            && job_id != r.job_id
        {
            return r.on_running(job_id);
        }
        // A step that failed (the CLI could not submit) is a failed submission too.
        if let Some(step) = t.emr_step
            && let Ok(Some(state)) = step_state(via.emr, step, &step_name(r, parallelism)).await
            && step_failed(&state)
        {
            let detail = format!(
                "EMR step {} on {} is {state}",
                step_name(r, parallelism),
                step.cluster_id
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
