//! The `savepoint` command (by hand, and on a pipeline's savepoint schedule): the pipeline's
//! running job ([`crate::savepoint::choose_job`]), a claim of the request's slot in the book
//! (a retried invocation follows the savepoint it triggered instead of taking another), the
//! trigger with our own trigger id, the status followed until it completes or the invocation's
//! time runs out, the point booked with its trigger, and after a scheduled savepoint the
//! pipeline's retention. A savepoint that cannot be taken goes to alerts as a `Savepoint` event.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use streamops_shared::Metrics;
use streamops_shared::dynamo::WriteOutcome;
use streamops_shared::flink::{SavepointStatus, savepoint_status};
use tokio::time::{Duration, Instant};

use super::events::Sighting;
use super::outcome::{Action, Outcome};
use super::{CheckpointsError, CheckpointsService};
use crate::book::Scope;
use crate::layout::PointKind;
use crate::ops::SavepointRequest;
use crate::ports::{BookStore, CheckpointObjects, FlinkRest, HealthNotifier};
use crate::savepoint::{
    ClaimState, Failure, JobSource, SavepointClaim, SavepointEvent, SavepointOutcome,
    SavepointTrigger, TriggerKind, choose_job, parse_overview, savepoint_dir, slot, trigger_body,
    trigger_id,
};

/// Between two reads of the savepoint's status.
const POLL: Duration = Duration::from_millis(500);
/// Kept after the wait for booking the point, retention and the answer.
const MARGIN: Duration = Duration::from_secs(5);
/// How long the `_metadata` may take to show in the bucket after Flink says COMPLETED.
const OBJECT_WAIT: Duration = Duration::from_secs(5);

impl<B: BookStore, O: CheckpointObjects, F: FlinkRest, N: HealthNotifier>
    CheckpointsService<B, O, F, N>
{
    pub(super) async fn savepoint(
        &self,
        req: SavepointRequest,
        now: DateTime<Utc>,
        deadline: Instant,
        metrics: &mut Metrics,
    ) -> Result<Value, CheckpointsError> {
        let url = self.rest_url(req.flink_rest_url.clone())?;
        let kind = match req.schedule_time {
            Some(_) => TriggerKind::Scheduled,
            None => TriggerKind::Manual,
        };
        let id = req
            .trigger_id
            .clone()
            .unwrap_or_else(|| match req.schedule_time {
                Some(t) => trigger_id(&format!("{}/{}", req.pipeline, slot(Some(t), ""))),
                None => trigger_id(&format!("{}/{:?}", req.pipeline, now.timestamp_nanos_opt())),
            });
        let slot = slot(req.schedule_time, &id);
        if let Some(claim) = self.book.savepoint_claim(&req.pipeline, &slot).await? {
            if req.dry_run {
                return Ok(answer(&claim, SavepointOutcome::DryRun, None, json!({})));
            }
            tracing::info!(pipeline = %req.pipeline, slot, "savepoint slot claimed already: following it");
            return self.follow(claim, &url, None, now, deadline, metrics).await;
        }
        let mut claim = SavepointClaim {
            pipeline: req.pipeline.clone(),
            slot,
            job_id: String::new(),
            trigger: SavepointTrigger {
                kind,
                trigger_id: id,
                requested_by: requested_by(&req, kind),
                requested_at: now,
            },
            state: ClaimState::Triggered { posted: false },
        };
        let source = match self.find_job(&req, &url, now).await? {
            Ok((job, source)) => {
                claim.job_id = job;
                source
            }
            Err(why) => {
                if req.dry_run {
                    let extra = json!({"failure": Failure::JobNotRunning, "reason": why});
                    return Ok(answer(&claim, SavepointOutcome::DryRun, None, extra));
                }
                return self
                    .not_taken(claim, Failure::JobNotRunning, why, metrics)
                    .await;
            }
        };
        if req.dry_run {
            return self.dry_run(&claim, source, now).await;
        }
        if self.book.claim_savepoint(&claim).await? == WriteOutcome::ConditionFailed
            && let Some(theirs) = self
                .book
                .savepoint_claim(&claim.pipeline, &claim.slot)
                .await?
        {
            // A concurrent invocation of the same slot claimed it first: follow its trigger.
            return self
                .follow(theirs, &url, None, now, deadline, metrics)
                .await;
        }
        self.follow(claim, &url, Some(source), now, deadline, metrics)
            .await
    }

    /// Which job and where, and for a scheduled savepoint what retention would prune.
    async fn dry_run(
        &self,
        claim: &SavepointClaim,
        source: JobSource,
        now: DateTime<Utc>,
    ) -> Result<Value, CheckpointsError> {
        let retention = match claim.trigger.kind {
            TriggerKind::Scheduled => self.retention(&claim.pipeline, true, now).await?,
            TriggerKind::Manual => json!(null),
        };
        let target = &self.config.savepoint_target;
        let extra = json!({"target_directory": target, "retention": retention});
        Ok(answer(claim, SavepointOutcome::DryRun, Some(source), extra))
    }

    /// Triggers the claim's savepoint unless Flink acknowledged it already, waits for it, and
    /// settles the claim.
    async fn follow(
        &self,
        mut claim: SavepointClaim,
        url: &str,
        source: Option<JobSource>,
        now: DateTime<Utc>,
        deadline: Instant,
        metrics: &mut Metrics,
    ) -> Result<Value, CheckpointsError> {
        match &claim.state {
            ClaimState::Completed { .. } => {
                return Ok(answer(
                    &claim,
                    SavepointOutcome::AlreadyCompleted,
                    source,
                    json!({}),
                ));
            }
            ClaimState::Failed { .. } => {
                return Ok(answer(
                    &claim,
                    SavepointOutcome::AlreadyFailed,
                    source,
                    json!({}),
                ));
            }
            ClaimState::Triggered { .. } => {}
        }
        let job = claim.job_id.clone();
        let trigger = claim.trigger.trigger_id.clone();
        if !claim.posted() {
            let body = trigger_body(
                &self.config.savepoint_target,
                self.config.savepoint_format,
                &trigger,
            );
            self.flink
                .trigger_savepoint(url, &job, &body)
                .await
                .map_err(|e| CheckpointsError::Flink(format!("savepoint of job {job}: {e}")))?;
            claim.state = ClaimState::Triggered { posted: true };
            self.book.update_claim(&claim).await?;
            tracing::info!(pipeline = %claim.pipeline, job, trigger, "savepoint triggered");
        }
        let status = match self.wait(url, &job, &trigger, deadline).await? {
            Ok(status) => status,
            Err(lost) => {
                return self
                    .not_taken(claim, Failure::TriggerLost, lost, metrics)
                    .await;
            }
        };
        match status {
            SavepointStatus::InProgress => Err(CheckpointsError::InProgress(format!(
                "the savepoint of job {job} (trigger {trigger}, slot {}) is still in progress; \
                 the same command again follows it",
                claim.slot
            ))),
            SavepointStatus::Failed(cause) => {
                let why = format!("Flink failed the savepoint: {cause}");
                self.not_taken(claim, Failure::SavepointFailed, why, metrics)
                    .await
            }
            SavepointStatus::Completed(location) => {
                self.completed(claim, location, source, now, deadline, metrics)
                    .await
            }
        }
    }

    /// Reads the savepoint's status until it is no longer in progress or `deadline` less the
    /// margin comes; `Ok(Err(why))` when Flink does not know the trigger (HTTP 404: its
    /// operation cache expired, the JobManager restarted, or the job is gone).
    async fn wait(
        &self,
        url: &str,
        job: &str,
        trigger: &str,
        deadline: Instant,
    ) -> Result<Result<SavepointStatus, String>, CheckpointsError> {
        let until = deadline.checked_sub(MARGIN).unwrap_or(deadline);
        let started = Instant::now();
        loop {
            let status = match self.flink.savepoint_status(url, job, trigger).await {
                Ok(v) => savepoint_status(&v),
                Err(e) if e.contains("HTTP 404") => {
                    return Ok(Err(format!(
                        "the JobManager does not know trigger {trigger} of job {job}: {e}"
                    )));
                }
                Err(e) => return Err(CheckpointsError::Flink(format!("savepoint status: {e}"))),
            };
            if status != SavepointStatus::InProgress || Instant::now() + POLL > until {
                return Ok(Ok(status));
            }
            tracing::info!(
                job,
                trigger,
                waited_ms = started.elapsed().as_millis() as u64,
                "savepoint in progress"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    async fn completed(
        &self,
        mut claim: SavepointClaim,
        location: String,
        source: Option<JobSource>,
        now: DateTime<Utc>,
        deadline: Instant,
        metrics: &mut Metrics,
    ) -> Result<Value, CheckpointsError> {
        let prefix = &self.config.locations.savepoint_prefix;
        let booked = match savepoint_dir(&location, prefix) {
            Some(dir) => Some(
                self.book_savepoint(&dir, &claim.trigger, now, deadline)
                    .await?,
            ),
            None => {
                tracing::warn!(
                    location,
                    prefix,
                    "savepoint outside the savepoint prefix: not booked"
                );
                None
            }
        };
        let retention = match claim.trigger.kind {
            TriggerKind::Scheduled => self.retention(&claim.pipeline, false, now).await?,
            TriggerKind::Manual => json!(null),
        };
        claim.state = ClaimState::Completed {
            location: location.clone(),
        };
        self.book.update_claim(&claim).await?;
        metrics.count_by(
            "Savepoints",
            "outcome",
            SavepointOutcome::Completed.as_str(),
            1,
        );
        tracing::info!(pipeline = %claim.pipeline, location, "savepoint completed");
        let extra = json!({"booked": booked, "retention": retention});
        Ok(answer(&claim, SavepointOutcome::Completed, source, extra))
    }

    /// Books the savepoint in `dir` with its trigger, reading its `_metadata` as an object
    /// event would. Flink answers COMPLETED once `_metadata` is written, so it is normally
    /// there; if not within [`OBJECT_WAIT`], its object event books it (with the trigger).
    async fn book_savepoint(
        &self,
        dir: &str,
        trigger: &SavepointTrigger,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<Outcome, CheckpointsError> {
        self.book.note_trigger(dir, trigger).await?;
        let sighting = Sighting {
            key: format!("{dir}_metadata"),
            size: None,
            etag: None,
            time: now,
        };
        let until =
            (Instant::now() + OBJECT_WAIT).min(deadline.checked_sub(MARGIN).unwrap_or(deadline));
        loop {
            let o = self.created(&sighting).await?;
            let gone = o.action == Action::Ignored && o.detail.as_deref() == Some("object_gone");
            if !gone || Instant::now() + POLL > until {
                return Ok(o);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The pipeline's retention for real (or planned, `dry_run`): its `prune` answer.
    async fn retention(
        &self,
        pipeline: &str,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<Value, CheckpointsError> {
        let v = self
            .prune(&Scope::Pipeline(pipeline.to_string()), dry_run, now)
            .await?;
        Ok(
            json!({"policy": v["policy"], "pruned": v["prune"], "changed_since_plan": v["changed_since_plan"]}),
        )
    }

    /// The job to savepoint, or why there is none. A job found by name only (not in the book)
    /// is registered under the pipeline, so its savepoints book under it.
    async fn find_job(
        &self,
        req: &SavepointRequest,
        url: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<(String, JobSource), String>, CheckpointsError> {
        let scope = Scope::Pipeline(req.pipeline.clone());
        let (_, lineage) = self.jobs(&scope).await?;
        let latest = self.latest(&scope, Some(PointKind::Checkpoint)).await?;
        let book_job = super::health::running_job(&lineage, latest.as_ref());
        let overview = self
            .flink
            .jobs_overview(url)
            .await
            .map_err(|e| CheckpointsError::Flink(format!("job overview: {e}")))?;
        let jobs = parse_overview(&overview).map_err(CheckpointsError::Flink)?;
        let found = choose_job(
            req.job_id.as_deref(),
            book_job.as_deref(),
            &req.pipeline,
            &jobs,
        );
        if let Ok((job, _)) = &found
            && !req.dry_run
            && self.book.pipeline_of(job).await?.is_none()
        {
            self.register_job(req.pipeline.clone(), job.clone(), None, None, now)
                .await?;
        }
        Ok(found)
    }

    /// Sends the savepoint event for alerts, then settles the claim as failed (a claim of a
    /// job that is not running is never written: the next request looks again).
    async fn not_taken(
        &self,
        mut claim: SavepointClaim,
        failure: Failure,
        reason: String,
        metrics: &mut Metrics,
    ) -> Result<Value, CheckpointsError> {
        let event = SavepointEvent {
            event_id: format!("{}/{}", claim.pipeline, claim.slot),
            function: self.config.function_name.clone(),
            pipeline: claim.pipeline.clone(),
            failure,
            reason: reason.clone(),
            trigger: claim.trigger.kind,
            trigger_id: Some(claim.trigger.trigger_id.clone())
                .filter(|_| failure != Failure::JobNotRunning),
            job_id: Some(claim.job_id.clone()).filter(|j| !j.is_empty()),
            requested_by: claim.trigger.requested_by.clone(),
            at: claim.trigger.requested_at,
        };
        tracing::warn!(pipeline = %claim.pipeline, ?failure, reason, "savepoint not taken");
        self.notifier.publish_savepoint(&event).await?;
        claim.state = ClaimState::Failed {
            reason: reason.clone(),
        };
        if failure != Failure::JobNotRunning {
            self.book.update_claim(&claim).await?;
        }
        metrics.count_by(
            "Savepoints",
            "outcome",
            SavepointOutcome::Failed.as_str(),
            1,
        );
        let extra = json!({"failure": failure, "reason": reason, "event_sent": true});
        Ok(answer(&claim, SavepointOutcome::Failed, None, extra))
    }
}

/// Who asked, as the request says; else `schedule` or `manual`.
fn requested_by(req: &SavepointRequest, kind: TriggerKind) -> String {
    let default = match kind {
        TriggerKind::Scheduled => "schedule",
        TriggerKind::Manual => "manual",
    };
    req.requested_by
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| default.into())
}

/// The command's answer: the claim's facts, then `extra`'s.
fn answer(
    claim: &SavepointClaim,
    outcome: SavepointOutcome,
    source: Option<JobSource>,
    extra: Value,
) -> Value {
    let mut v = json!({
        "pipeline": claim.pipeline,
        "outcome": outcome,
        "slot": claim.slot,
        "trigger": claim.trigger,
        "job_id": Some(&claim.job_id).filter(|j| !j.is_empty()),
        "job_from": source,
        "state": claim.state,
    });
    if let (Some(o), Value::Object(extra)) = (v.as_object_mut(), extra) {
        o.extend(extra);
    }
    v
}
