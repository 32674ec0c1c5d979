//! The schedule's pass (every 2 minutes, or `tick` by hand): judges finished scale-ups, resumes
//! Flink rescales in progress and re-evaluates open decisions (deferred, waiting for a scale-in
//! delay, held by a cooldown) whose alarm still breaches.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use streamops_shared::Metrics;
use tokio::time::Instant;

use super::{Ask, ScalerError, ScalerService};
use crate::audit::AuditEntry;
use crate::measure;
use crate::policy::{ScalingDecision, SkipReason, TargetPolicy, TargetState, effectiveness};
use crate::ports::{Ports, StateStore};

impl<P: Ports> ScalerService<P> {
    pub(crate) async fn tick(
        &self,
        now: DateTime<Utc>,
        until: Instant,
        metrics: &mut Metrics,
    ) -> Result<Value, ScalerError> {
        let mut out = Vec::new();
        for policy in &self.config.policies.targets {
            self.tick_target(policy, now, until, &mut out, metrics)
                .await?;
        }
        Ok(json!({ "tick": now.to_rfc3339(), "decisions": out }))
    }

    async fn tick_target(
        &self,
        policy: &TargetPolicy,
        now: DateTime<Utc>,
        until: Instant,
        out: &mut Vec<Value>,
        metrics: &mut Metrics,
    ) -> Result<(), ScalerError> {
        let mut state = self.ports.store().state(&policy.id).await?;
        if let Some(decision) = self.check_effectiveness(policy, &mut state, now).await? {
            let entry = AuditEntry::decision(decision, now, None);
            out.push(self.record(entry, out.len(), true, metrics).await?);
        }
        if state.memo.rescale.is_none() && state.memo.wakeup.is_none() {
            return Ok(());
        }
        let wakeup = state.memo.wakeup.clone();
        if state.memo.rescale.is_none()
            && let Some(w) = &wakeup
            && let Some(check) = &w.check
            && let Some(detail) = measure::recovered(self.ports.metrics(), check, now).await?
        {
            self.end_wakeup(&policy.id, &w.alarm, now).await?;
            let decision = ScalingDecision::skip(&policy.id, SkipReason::Recovered, detail);
            let entry = AuditEntry::decision(decision, now, Some(&w.alarm));
            out.push(self.record(entry, out.len(), true, metrics).await?);
            return Ok(());
        }
        let Some(w) = wakeup else {
            // Only a rescale to carry on: no new decision is asked for.
            if let Some(progress) = self.resume_rescale(policy, now, until, metrics).await? {
                out.push(progress);
            }
            return Ok(());
        };
        let alarm = w.alarm.clone();
        let (decision, progress) = self
            .evaluate(policy, Ask::Alarm(w), now, until, true, metrics)
            .await?;
        let entry = AuditEntry::decision(decision, now, Some(&alarm));
        out.push(self.record(entry, out.len(), true, metrics).await?);
        out.extend(progress);
        Ok(())
    }

    /// Once the scale-out cooldown after a scale-up has passed, judges whether throughput moved
    /// as expected; an ineffective scale-up blocks further ones (and is notified).
    async fn check_effectiveness(
        &self,
        policy: &TargetPolicy,
        state: &mut TargetState,
        now: DateTime<Utc>,
    ) -> Result<Option<ScalingDecision>, ScalerError> {
        let Some(load_metrics) = &policy.load else {
            return Ok(None);
        };
        let Some(up) = state.memo.last_scale_up.clone() else {
            return Ok(None);
        };
        if up.checked || now < up.at + chrono::Duration::seconds(policy.scale_out_cooldown_seconds)
        {
            return Ok(None);
        }
        let Some(load) = measure::read_load(self.ports.metrics(), load_metrics, now).await? else {
            return Ok(None);
        };
        let Some(verdict) = effectiveness(&up, &load, policy.min_effectiveness) else {
            return Ok(None);
        };
        if let Some(rec) = state.memo.last_scale_up.as_mut() {
            rec.checked = true;
        }
        let decision = verdict.err().map(|detail| {
            state.memo.blocked_scale_up = Some(detail.clone());
            ScalingDecision::skip(&policy.id, SkipReason::Ineffective, detail)
        });
        if !self.save(&policy.id, state, now).await? {
            // Somebody else changed the target; the next tick judges again.
            return Ok(None);
        }
        Ok(decision)
    }
}
