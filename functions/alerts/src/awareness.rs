//! Suite awareness, orchestrated over the ports (the decisions are pure, in
//! [`crate::context`]): the suite's own events start and end activities; an alert about to be
//! sent is annotated with the activities that concern it and, after a checkpoint failure, with
//! the pipeline's latest restorable point from the checkpoints book; a problem on a resource
//! being scaled can be held and re-checked once the action should have settled.
//!
//! Annotations are best effort: a store or book that cannot be read costs the annotation (it
//! is logged and counted), never the alert.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use streamops_shared::{AwsCallError, Metrics};

use crate::context::{Activity, ActivityKind, HeldAlert, change_of, holding};
use crate::dedup::{Decision, judged_against};
use crate::model::Alert;
use crate::outcome::{AlertOutcome, AlertsError, InvocationContext};
use crate::ports::{ActivityStore, FlushQueue, GroupStore, Publisher, RestorePoints, StateStore};
use crate::service::{AlertsService, Basis, HoldCheck, Step};

/// Re-checks that find the action still settling queue themselves again at most this often.
const MIN_RECHECK_DELAY_SECONDS: u64 = 5;

/// What the re-check of a held alert did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum RecheckOutcome {
    /// Still firing after the action should have settled: judged again, and sent or muted.
    Judged { outcome: String },
    /// A newer state (its recovery, most often) arrived while it was held: nothing to send.
    Superseded,
    /// Already sent (a redelivered re-check).
    AlreadySent,
    /// Re-checked before its time (SQS delays at most 900 s): queued again.
    Requeued,
}

impl<S, P, Q, B> AlertsService<S, P, Q, B>
where
    S: StateStore + GroupStore + ActivityStore,
    P: Publisher,
    Q: FlushQueue,
    B: RestorePoints,
{
    /// Starts or ends the activity a suite event reports (`detail`: the event's detail).
    /// Idempotent and order-proof (see [`ActivityStore`]).
    pub(crate) async fn note_activity(
        &self,
        alert: &Alert,
        detail: Option<&Value>,
    ) -> Result<(), AwsCallError> {
        match change_of(alert, detail.unwrap_or(&Value::Null)) {
            Some(activity) => self.store.record_activity(&activity).await,
            None => Ok(()),
        }
    }

    /// The activities in effect at `now` that concern `alert` (best effort: none if unread).
    async fn concerning(
        &self,
        alert: &Alert,
        now: DateTime<Utc>,
        metrics: &mut Metrics,
    ) -> Vec<Activity> {
        match self.store.list_activities().await {
            Ok(all) => all
                .into_iter()
                .filter(|a| a.in_effect(now) && a.concerns(alert))
                .collect(),
            Err(e) => {
                metrics.count("AlertsAnnotationFailures", 1);
                tracing::warn!(fingerprint = %alert.fingerprint, error = %e, "activities unread: sent without them");
                Vec::new()
            }
        }
    }

    /// `alert` with a line per activity that concerns it and, for each pipeline in a
    /// checkpoint failure it follows, the book's latest restorable point.
    pub(crate) async fn annotated(
        &self,
        alert: &Alert,
        now: DateTime<Utc>,
        metrics: &mut Metrics,
    ) -> Alert {
        let mut out = alert.clone();
        if alert.severity == crate::model::Severity::Resolved {
            return out; // a recovery needs no cause
        }
        let activities = self.concerning(alert, now, metrics).await;
        for a in &activities {
            out.details.push(a.annotation());
        }
        let mut pipelines: Vec<&str> = activities
            .iter()
            .filter(|a| a.kind == ActivityKind::CheckpointFailure)
            .map(|a| a.subject.as_str())
            .collect();
        if pipelines.is_empty() && crate::context::is_checkpoint_metric(alert) {
            pipelines.extend(alert.label("pipeline"));
        }
        for pipeline in pipelines {
            match self.book.latest_point(pipeline).await {
                Ok(Some(point)) => out.details.push((
                    format!("latest restorable point ({pipeline})"),
                    point.annotation(),
                )),
                Ok(None) => {}
                Err(e) => {
                    metrics.count("AlertsAnnotationFailures", 1);
                    tracing::warn!(pipeline, error = %e, "checkpoints book unread: sent without its latest point");
                }
            }
        }
        if !activities.is_empty() {
            metrics.count("AlertsAnnotated", 1);
        }
        out
    }

    /// The scaling activity `alert` would be held for under `ALERTS_HOLD_DURING_SCALING`.
    pub(crate) async fn hold_for(&self, alert: &Alert, now: DateTime<Utc>) -> Option<Activity> {
        self.config.hold_during_scaling?;
        let activities = match self.store.list_activities().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(fingerprint = %alert.fingerprint, error = %e, "activities unread: not held");
                return None;
            }
        };
        holding(alert, &activities, self.config.hold_during_scaling, now).cloned()
    }

    /// Queues the re-check of `alert`, held for `activity`, at its settle time. Before the
    /// state is recorded: a failure here fails the alert, whose retry holds it again.
    pub(crate) async fn hold(
        &self,
        alert: &Alert,
        activity: &Activity,
        now: DateTime<Utc>,
    ) -> Result<(), AwsCallError> {
        let until = activity.settles_by.unwrap_or(now);
        let held = HeldAlert {
            alert: alert.clone(),
            activity: activity.clone(),
            held_at: now,
            until,
            delay_seconds: delay_until(now, until),
        };
        self.queue.schedule_recheck(&held).await
    }

    /// A held alert's re-check: sent (judged again, without the hold) only if its state is
    /// still the recorded one and was never sent; a redelivered re-check finds it sent.
    pub(crate) async fn recheck(
        &self,
        held: &HeldAlert,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<RecheckOutcome, AlertsError> {
        if ctx.now < held.until {
            let again = HeldAlert {
                delay_seconds: delay_until(ctx.now, held.until),
                ..held.clone()
            };
            self.queue.schedule_recheck(&again).await?;
            return Ok(RecheckOutcome::Requeued);
        }
        let alert = &held.alert;
        for _ in 0..5 {
            let record = self.store.load_state(&alert.fingerprint).await?;
            let expected = record.as_ref().map(|r| r.version);
            let prev = judged_against(record.as_ref(), ctx.now.timestamp_millis());
            match &prev {
                Some(p) if p.claim.is_some() => {
                    return Err(AlertsError::contended(
                        alert,
                        "a delivery is publishing for this fingerprint; retry later",
                    ));
                }
                Some(p) if p.event_id != alert.event_id => return Ok(RecheckOutcome::Superseded),
                Some(p) if p.published_at_ms.is_some_and(|t| t >= p.state_time_ms) => {
                    return Ok(RecheckOutcome::AlreadySent);
                }
                _ => {}
            }
            let (decision, mute) = self
                .mutes(prev.as_ref(), alert, ctx.now, HoldCheck::Skip)
                .await?;
            let basis = Basis {
                prev: prev.as_ref(),
                expected,
            };
            let step = match decision {
                Decision::Publish => {
                    let mut sent = self.annotated(alert, ctx.now, metrics).await;
                    sent.details.push(held.annotation());
                    metrics.count("AlertsSentAfterHold", 1);
                    self.publish(&sent, basis, ctx, metrics).await?
                }
                Decision::Suppress(reason) => {
                    self.suppress(alert, basis, reason, mute, ctx, metrics)
                        .await?
                }
                Decision::InFlight => {
                    return Err(AlertsError::contended(alert, "in flight; retry later"));
                }
            };
            if let Step::Settled(outcome) = step {
                return Ok(RecheckOutcome::Judged {
                    outcome: verdict(&outcome),
                });
            }
        }
        Err(AlertsError::contended(
            alert,
            "its state kept changing; retry later",
        ))
    }
}

/// How an outcome reads in a re-check's answer: `published`, `grouped`, or the reason muted.
fn verdict(outcome: &AlertOutcome) -> String {
    match outcome.reason {
        Some(r) => r.as_str().to_string(),
        None => serde_json::to_value(outcome.decision)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
    }
}

fn delay_until(now: DateTime<Utc>, until: DateTime<Utc>) -> u64 {
    ((until - now).num_seconds().max(0) as u64).max(MIN_RECHECK_DELAY_SECONDS)
}
