//! A Flink savepoint rescale carried on as far as an invocation allows (the state machine is
//! stored with the target), and what each stop of it means for the target's state, the audit
//! trail and the checkpoints book.

use chrono::{DateTime, Utc};
use serde_json::Value;
use streamops_shared::Metrics;
use tokio::time::Instant;

use super::{ScalerError, ScalerService};
use crate::audit::Progress;
use crate::flink::savepoint::{Resubmit, Through, advance};
use crate::policy::{FlinkRescaleMode, TargetKind, TargetPolicy, TargetState};
use crate::ports::{CheckpointsBook, Ports, StateStore};
use crate::rescale::{FlinkRescale, StepOutcome};
use crate::restart::{self, RestartSample};

impl<P: Ports> ScalerService<P> {
    /// Carries a target's Flink rescale on under its lease; `None` when another invocation
    /// holds the lease (it is carrying it on) or there is none any more.
    pub(crate) async fn resume_rescale(
        &self,
        policy: &TargetPolicy,
        now: DateTime<Utc>,
        until: Instant,
        metrics: &mut Metrics,
    ) -> Result<Option<Value>, ScalerError> {
        let work = Box::pin(async {
            let mut state = self.ports.store().state(&policy.id).await?;
            self.drive_rescale(policy, &mut state, now, until, metrics)
                .await
        });
        Ok(self.leased(&policy.id, now, work).await?.ok().flatten())
    }

    /// Advances the target's Flink rescale as far as this invocation allows; audits (and
    /// notifies, except plain progress) where it got to. `None` when there is no rescale.
    pub(crate) async fn drive_rescale(
        &self,
        policy: &TargetPolicy,
        state: &mut TargetState,
        now: DateTime<Utc>,
        until: Instant,
        metrics: &mut Metrics,
    ) -> Result<Option<Value>, ScalerError> {
        let (
            TargetKind::FlinkJob {
                rest_url,
                job_name,
                jar_id,
                entry_class,
                pipeline,
                savepoint_timeout_seconds,
                emr_step,
                ..
            },
            Some(mut rescale),
        ) = (&policy.kind, state.memo.rescale.clone())
        else {
            return Ok(None);
        };
        let resubmit = Resubmit {
            rest_url,
            job_name,
            jar_id: jar_id.as_deref(),
            entry_class: entry_class.as_deref(),
            savepoint_timeout_seconds: *savepoint_timeout_seconds,
            emr_step: emr_step.as_ref(),
        };
        let via = Through {
            flink: self.ports.flink(),
            emr: self.ports.emr(),
        };
        // The clock moves while the machine runs (timeouts are measured against it).
        let started = Instant::now();
        let clock = move || now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
        let outcome = advance(&via, &resubmit, &mut rescale, until, clock).await;
        let at = clock();
        let progress = self
            .settle(
                policy,
                state,
                &rescale,
                outcome,
                pipeline.as_deref(),
                (now, at),
            )
            .await?;
        if !self.save(&policy.id, state, now).await? {
            tracing::warn!(target = %policy.id, "rescale progress not saved: the target changed meanwhile");
        }
        Ok(Some(self.note(progress, at, now, metrics).await?))
    }

    /// What the machine's stop means: the rescale kept (waiting, overdue, stranded) or ended
    /// (failed: back at the old size; done: the new job registered in the checkpoints book and
    /// the restart, from the stop to `at` when it was seen running, remembered). `now` is the
    /// invocation's time.
    async fn settle(
        &self,
        policy: &TargetPolicy,
        state: &mut TargetState,
        rescale: &FlinkRescale,
        outcome: StepOutcome,
        pipeline: Option<&str>,
        (now, at): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<Progress, ScalerError> {
        let (target, from, to) = (policy.id.clone(), rescale.from, rescale.to);
        let phase = rescale.phase.clone();
        Ok(match outcome {
            // `advance` loops while a step says Advanced and hands over the first other outcome.
            StepOutcome::Advanced => unreachable!("advance runs until the machine stops"),
            StepOutcome::Waiting(detail) => {
                state.memo.rescale = Some(rescale.clone());
                Progress::RescaleInProgress {
                    target,
                    from,
                    to,
                    phase,
                    detail,
                }
            }
            StepOutcome::SavepointOverdue(error) => {
                state.memo.rescale = Some(rescale.clone());
                Progress::Failed {
                    target,
                    from,
                    to,
                    error,
                    phase: Some(phase),
                }
            }
            StepOutcome::Stranded(error) => {
                // Kept: every later invocation retries the resubmission at the old parallelism.
                state.memo.rescale = Some(rescale.clone());
                Progress::Stranded {
                    target,
                    from,
                    to,
                    error,
                    phase,
                }
            }
            StepOutcome::Failed(error) => {
                state.memo.rescale = None;
                state.last_size = Some(rescale.from);
                Progress::Failed {
                    target,
                    from,
                    to,
                    error,
                    phase: None,
                }
            }
            StepOutcome::Done {
                job_id,
                savepoint,
                parallelism,
            } => {
                state.memo.rescale = None;
                self.register(pipeline, &job_id, &savepoint, now).await?;
                let restart_seconds = remember_restart(state, rescale, at);
                Progress::Rescaled {
                    target,
                    from,
                    to,
                    job_id,
                    mode: FlinkRescaleMode::Savepoint,
                    savepoint: Some(savepoint),
                    parallelism: Some(parallelism),
                    restart_seconds,
                }
            }
        })
    }

    /// The resubmitted job restores from the savepoint without claiming it: registered so in
    /// the checkpoints book under the target's pipeline (when both are configured).
    async fn register(
        &self,
        pipeline: Option<&str>,
        job_id: &str,
        savepoint: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ScalerError> {
        let (Some(pipeline), Some(book)) = (pipeline, self.ports.checkpoints()) else {
            return Ok(());
        };
        book.register_job(pipeline, job_id, savepoint, "NO_CLAIM", now)
            .await?;
        tracing::info!(pipeline = %pipeline, job = %job_id, savepoint = %savepoint, "resubmitted job registered in the checkpoints book");
        Ok(())
    }
}

/// The restart a finished rescale measured (from the stop, chosen and saved just before it
/// was sent, to `at`, when the new job was seen running), kept with the target for
/// `measured_restart`; `None` when the clocks disagree (a negative duration).
fn remember_restart(
    state: &mut TargetState,
    rescale: &FlinkRescale,
    at: DateTime<Utc>,
) -> Option<f64> {
    let seconds = (at - rescale.started_at).num_milliseconds() as f64 / 1000.0;
    let sample = RestartSample {
        stopped_at: rescale.started_at,
        seconds,
        from: rescale.from,
        to: rescale.to,
    };
    restart::remember(&mut state.memo.restarts, sample).then_some(seconds)
}
