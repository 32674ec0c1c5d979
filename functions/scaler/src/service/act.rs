//! Making the change a decision recorded: a resize (Kinesis, EMR), an in-place Flink rescale,
//! or the start of a savepoint rescale (which `rescale` carries on).

use chrono::{DateTime, Utc};
use serde_json::Value;
use streamops_shared::Metrics;
use tokio::time::Instant;

use super::{ScalerError, ScalerService};
use crate::audit::Progress;
use crate::flink::{self, FlinkJobView};
use crate::policy::{FlinkRescaleMode, TargetKind, TargetPolicy, TargetState};
use crate::ports::{FlinkApi, Ports};
use crate::rescale::FlinkRescale;
use crate::targets;

/// The change being made: its target and sizes, and when it was decided.
struct Change<'a> {
    policy: &'a TargetPolicy,
    from: u32,
    to: u32,
    now: DateTime<Utc>,
}

impl Change<'_> {
    fn failed(&self, error: String) -> Progress {
        Progress::Failed {
            target: self.policy.id.clone(),
            from: self.from,
            to: self.to,
            error,
            phase: None,
        }
    }
}

impl<P: Ports> ScalerService<P> {
    /// Makes the change the decision recorded.
    pub(crate) async fn act(
        &self,
        policy: &TargetPolicy,
        state: &mut TargetState,
        (from, to): (u32, u32),
        now: DateTime<Utc>,
        until: Instant,
        metrics: &mut Metrics,
    ) -> Result<Vec<Value>, ScalerError> {
        let change = Change {
            policy,
            from,
            to,
            now,
        };
        let TargetKind::FlinkJob {
            rest_url,
            job_name,
            mode,
            ..
        } = &policy.kind
        else {
            return self.resize(&change, metrics).await;
        };
        let job_id = match flink::flink_job(self.ports.flink(), rest_url, job_name).await {
            Ok(FlinkJobView::Running { job_id, .. }) => job_id,
            Ok(FlinkJobView::NotRunning(d)) | Err(d) => {
                return Ok(vec![self.note(change.failed(d), now, now, metrics).await?]);
            }
        };
        if *mode == FlinkRescaleMode::Adaptive {
            let r =
                flink::rescale_adaptive(self.ports.flink(), rest_url, job_name, &job_id, to, until)
                    .await;
            let progress = match r {
                Ok(()) => Progress::Rescaled {
                    target: policy.id.clone(),
                    from,
                    to,
                    job_id,
                    mode: FlinkRescaleMode::Adaptive,
                    savepoint: None,
                    parallelism: None,
                    restart_seconds: None,
                },
                Err(e) => change.failed(e),
            };
            return Ok(vec![self.note(progress, now, now, metrics).await?]);
        }
        self.start_savepoint_rescale(&change, state, &job_id, until, metrics)
            .await
    }

    /// A Kinesis or EMR resize; a failed call is audited as failed and fails the invocation.
    async fn resize(
        &self,
        change: &Change<'_>,
        metrics: &mut Metrics,
    ) -> Result<Vec<Value>, ScalerError> {
        let Change {
            policy,
            from,
            to,
            now,
        } = *change;
        match targets::resize(&self.ports, &policy.kind, from, to).await {
            Ok(terminating) if terminating.is_empty() => Ok(Vec::new()),
            // Which nodes a scale-in takes away (those YARN reports empty), for the record.
            Ok(terminating) => {
                let plan = Progress::ShrinkPlan {
                    target: policy.id.clone(),
                    from,
                    to,
                    instances_to_terminate: terminating,
                };
                Ok(vec![self.note(plan, now, now, metrics).await?])
            }
            Err(e) => {
                // Audited as failed; the invocation fails so the event source retries, and the
                // claim makes that retry a recorded duplicate rather than a second attempt.
                self.note(change.failed(e.to_string()), now, now, metrics)
                    .await?;
                Err(e.into())
            }
        }
    }

    /// Stores the rescale (its trigger chosen first, so whatever happens next is resumable),
    /// stops the job with a savepoint, and carries the rescale as far as this invocation goes.
    async fn start_savepoint_rescale(
        &self,
        change: &Change<'_>,
        state: &mut TargetState,
        job_id: &str,
        until: Instant,
        metrics: &mut Metrics,
    ) -> Result<Vec<Value>, ScalerError> {
        let Change {
            policy,
            from,
            to,
            now,
        } = *change;
        let TargetKind::FlinkJob {
            rest_url,
            savepoint_dir,
            ..
        } = &policy.kind
        else {
            // The only caller, `act`, comes here from its `TargetKind::FlinkJob` branch.
            unreachable!("a savepoint rescale is of a Flink job")
        };
        let trigger = flink::trigger_id(&policy.id, job_id, now);
        state.memo.rescale = Some(FlinkRescale::new(job_id, from, to, trigger.clone(), now));
        if !self.save(&policy.id, state, now).await? {
            let failed = change.failed("the target changed while starting the rescale".into());
            return Ok(vec![self.note(failed, now, now, metrics).await?]);
        }
        let stopped = self
            .ports
            .flink()
            .stop_with_savepoint(rest_url, job_id, &trigger, savepoint_dir.as_deref())
            .await;
        if let Err(e) = stopped {
            state.memo.rescale = None;
            self.save(&policy.id, state, now).await?;
            let failed = change.failed(format!(
                "stop-with-savepoint was refused, the job keeps running: {e}"
            ));
            return Ok(vec![self.note(failed, now, now, metrics).await?]);
        }
        let progress = self
            .drive_rescale(policy, state, now, until, metrics)
            .await?;
        Ok(progress.into_iter().collect())
    }
}
