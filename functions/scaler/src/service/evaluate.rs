//! One target's decision under its lease: the live shape and load read through the ports, the
//! pure decision, the open decision kept for the schedule, and the action recorded in the
//! target's state before it is made.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use serde_json::Value;
use streamops_shared::Metrics;
use tokio::time::Instant;

use super::{Ask, LEASE, ScalerError, ScalerService, concurrent, keeps_wakeup, lease_token};
use crate::measure;
use crate::policy::{
    Direction, Observed, ScalingDecision, SkipReason, TargetKind, TargetPolicy, TargetState,
    Wakeup, decide,
};
use crate::ports::{Ports, StateStore};
use crate::targets;

impl<P: Ports> ScalerService<P> {
    /// Decides (and when `live`, acts on) one target under its lease. Returns the decision and
    /// any progress entries of a Flink rescale (already audited and published).
    pub(crate) async fn evaluate(
        &self,
        policy: &TargetPolicy,
        ask: Ask,
        now: DateTime<Utc>,
        until: Instant,
        live: bool,
        metrics: &mut Metrics,
    ) -> Result<(ScalingDecision, Vec<Value>), ScalerError> {
        if !live {
            let mut state = self.ports.store().state(&policy.id).await?;
            let decision = self.decide_now(policy, &mut state, &ask, now).await?;
            return Ok((decision, Vec::new()));
        }
        self.evaluate_claimed(policy, ask, now, until, &AtomicBool::new(false), metrics)
            .await
    }

    /// [`Self::evaluate`], live; `acting` turns true once the action is about to be made (its
    /// record written): a failure before that left the target as it was.
    pub(crate) async fn evaluate_claimed(
        &self,
        policy: &TargetPolicy,
        ask: Ask,
        now: DateTime<Utc>,
        until: Instant,
        acting: &AtomicBool,
        metrics: &mut Metrics,
    ) -> Result<(ScalingDecision, Vec<Value>), ScalerError> {
        // Boxed: the decision's future is large, and would otherwise live inline twice.
        let work = Box::pin(self.evaluate_leased(policy, ask, now, until, acting, metrics));
        match self.leased(&policy.id, now, work).await? {
            Ok(result) => Ok(result),
            Err(holder) => Ok((
                ScalingDecision::skip(
                    &policy.id,
                    SkipReason::Concurrent,
                    format!("another invocation holds this target's lease ({holder})"),
                ),
                Vec::new(),
            )),
        }
    }

    /// Runs `work` holding the target's lease, and gives the lease back after; `Err(holder)`
    /// without running it when another invocation holds the lease.
    pub(crate) async fn leased<T>(
        &self,
        target: &str,
        now: DateTime<Utc>,
        work: impl Future<Output = Result<T, ScalerError>>,
    ) -> Result<Result<T, String>, ScalerError> {
        let owner = lease_token(target, now);
        let store = self.ports.store();
        if let Err(holder) = store.lease(target, &owner, now + LEASE, now).await? {
            return Ok(Err(holder));
        }
        let result = work.await;
        if let Err(e) = store.release(target, &owner).await {
            // It expires on its own; what was done stands.
            tracing::warn!(target = %target, error = %e, "could not release the lease");
        }
        result.map(Ok)
    }

    /// The pure decision on fresh observations (and load, for proportional sizing).
    pub(crate) async fn decide_now(
        &self,
        policy: &TargetPolicy,
        state: &mut TargetState,
        ask: &Ask,
        now: DateTime<Utc>,
    ) -> Result<ScalingDecision, ScalerError> {
        if let Some(r) = &state.memo.rescale {
            return Ok(ScalingDecision::defer(
                &policy.id,
                SkipReason::Busy,
                format!(
                    "a rescale from {} to {} is in progress ({:?})",
                    r.from, r.to, r.phase
                ),
            ));
        }
        let observed = targets::observe(
            &self.ports,
            &policy.kind,
            policy.respect_other_autoscalers,
            now,
        )
        .await?;
        let direction = ask.direction();
        Ok(match (ask, &observed) {
            (
                Ask::ByHand(size),
                Observed::Ready {
                    size: current,
                    max_size,
                    ..
                },
            ) => by_hand(policy, state, *size, *current, *max_size),
            (Ask::ByHand(_), _) => {
                decide(policy, state, &observed, direction, None, "by hand", now)
            }
            (Ask::Alarm(w), _) => {
                let load = match (&policy.load, &observed) {
                    (Some(load), Observed::Ready { .. }) => {
                        measure::read_load(self.ports.metrics(), load, now).await?
                    }
                    _ => None,
                };
                decide(
                    policy,
                    state,
                    &observed,
                    direction,
                    load.as_ref(),
                    &w.why,
                    now,
                )
            }
        })
    }

    async fn evaluate_leased(
        &self,
        policy: &TargetPolicy,
        ask: Ask,
        now: DateTime<Utc>,
        until: Instant,
        acting: &AtomicBool,
        metrics: &mut Metrics,
    ) -> Result<(ScalingDecision, Vec<Value>), ScalerError> {
        let mut state = self.ports.store().state(&policy.id).await?;
        if state.memo.rescale.is_some() {
            // A rescale under way is carried on: whatever fails from here has acted.
            acting.store(true, Ordering::SeqCst);
            // Finish what is under way before deciding anything new.
            let progress = self
                .drive_rescale(policy, &mut state, now, until, metrics)
                .await?;
            if state.memo.rescale.is_some() {
                let decision = ScalingDecision::defer(
                    &policy.id,
                    SkipReason::Busy,
                    "a Flink rescale of this target is still in progress",
                );
                return Ok((decision, progress.into_iter().collect()));
            }
        }
        let before = state.memo.clone();
        let decision = self.decide_now(policy, &mut state, &ask, now).await?;
        keep_open(&mut state, &decision, ask);
        let ScalingDecision::Act { from, to, .. } = decision.clone() else {
            if state.memo != before && !self.save(&policy.id, &mut state, now).await? {
                return Ok((concurrent(&policy.id), Vec::new()));
            }
            return Ok((decision, Vec::new()));
        };
        // Record the action before making it: a concurrent writer that read the same version
        // loses the conditional write and skips instead of acting twice.
        mark_action(&mut state, &policy.kind, (from, to), now);
        if !self.save(&policy.id, &mut state, now).await? {
            return Ok((concurrent(&policy.id), Vec::new()));
        }
        // From here a failure may have changed the target (a call whose answer was lost): the
        // claim stays, and the retry is a duplicate, never a second action.
        acting.store(true, Ordering::SeqCst);
        let progress = self
            .act(policy, &mut state, (from, to), now, until, metrics)
            .await?;
        Ok((decision, progress))
    }
}

/// A scale by hand: bounded by the policy and the target's ceiling, not held by cooldowns.
fn by_hand(
    policy: &TargetPolicy,
    state: &mut TargetState,
    size: u32,
    current: u32,
    max_size: Option<u32>,
) -> ScalingDecision {
    let to = size
        .clamp(policy.min, policy.max)
        .min(max_size.unwrap_or(u32::MAX));
    if to == current {
        return ScalingDecision::skip(
            &policy.id,
            SkipReason::AtBound,
            format!(
                "already at {current} (bounds {}..={})",
                policy.min, policy.max
            ),
        );
    }
    // A human decided: the record of earlier automatic decisions starts over.
    state.memo.blocked_scale_up = None;
    state.memo.pending_scale_in = None;
    state.memo.last_scale_up = None;
    ScalingDecision::Act {
        target: policy.id.clone(),
        from: current,
        to,
        reason: format!("by hand (bounds {}..={})", policy.min, policy.max),
    }
}

/// Keeps the alarm with the target while the decision stays open (the first wake-up's time:
/// when the decision was first asked for); any other decision closes it.
fn keep_open(state: &mut TargetState, decision: &ScalingDecision, ask: Ask) {
    if !keeps_wakeup(decision) {
        state.memo.wakeup = None;
        return;
    }
    if let Ask::Alarm(w) = ask {
        let since = state
            .memo
            .wakeup
            .as_ref()
            .filter(|old| old.alarm == w.alarm)
            .map(|old| old.since)
            .unwrap_or(w.since);
        state.memo.wakeup = Some(Wakeup { since, ..w });
    }
}

/// The action as the state remembers it: when, which way, to what size, and for Kinesis the
/// call against the daily quota.
fn mark_action(
    state: &mut TargetState,
    kind: &TargetKind,
    (from, to): (u32, u32),
    now: DateTime<Utc>,
) {
    state.last_action_at = Some(now);
    state.last_direction = Some(if to > from {
        Direction::Out
    } else {
        Direction::In
    });
    state.last_size = Some(to);
    if matches!(kind, TargetKind::KinesisStream { .. }) {
        state.kinesis_calls.push(now);
    }
}
