//! Alarm handling: each rule an alarm state change matches leads to one decision for its
//! target, recorded in order; an OK ends the decision its ALARM left open.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use serde_json::Value;
use streamops_shared::Metrics;
use tokio::time::Instant;

use super::{Ask, ScalerError, ScalerService};
use crate::alarm::{AlarmChange, Disposition};
use crate::audit::AuditEntry;
use crate::measure;
use crate::policy::{AlarmRule, ScalingDecision, SkipReason, TargetPolicy, Wakeup};
use crate::ports::{Ports, StateStore};

impl<P: Ports> ScalerService<P> {
    /// `live`: claim, act and audit; otherwise only decide (explain).
    pub(crate) async fn on_alarm(
        &self,
        alarm: &AlarmChange,
        now: DateTime<Utc>,
        until: Instant,
        live: bool,
        metrics: &mut Metrics,
    ) -> Result<Vec<Value>, ScalerError> {
        let rules = self.config.policies.rules_for(&alarm.name);
        let mut out = Vec::new();
        // Re-read the metric once for all targets of this alarm.
        let recovered = match (&alarm.check, alarm.disposition(), rules.is_empty()) {
            (Some(check), Disposition::Decide, false) => {
                measure::recovered(self.ports.metrics(), check, now).await?
            }
            _ => None,
        };
        for rule in rules {
            // Every rule's target was checked to exist when the policies were read; should one
            // be missing anyway, the invocation fails with its name instead of a panic.
            let policy = self.config.policies.target(&rule.target).ok_or_else(|| {
                ScalerError::Input(format!("rule names unknown target {:?}", rule.target))
            })?;
            let asked = AlarmAsk {
                alarm,
                rule,
                policy,
                recovered: recovered.as_deref(),
                live,
            };
            let (decision, progress, claimed) =
                self.alarm_decision(&asked, now, until, metrics).await?;
            let acted = matches!(decision, ScalingDecision::Act { .. });
            let entry = AuditEntry::decision(decision, now, Some(&alarm.name));
            match self.record(entry, out.len(), live, metrics).await {
                Ok(json) => out.push(json),
                Err(e) => {
                    // A decision that changed nothing but could not be audited: decided again
                    // by the retry, so the trail shows it. An action's claim stays.
                    if claimed && !acted {
                        self.unclaim(alarm, &policy.id).await;
                    }
                    return Err(e);
                }
            }
            out.extend(progress);
        }
        Ok(out)
    }

    /// Gives this invocation's claim of the transition back, so a redelivery evaluates it.
    async fn unclaim(&self, alarm: &AlarmChange, target: &str) {
        let store = self.ports.store();
        if let Err(e) = store.unclaim(&alarm.name, &alarm.state_time, target).await {
            tracing::warn!(alarm = %alarm.name, target = %target, error = %e,
                "could not give the claim back; a redelivery of this transition is skipped");
        }
    }

    /// What one rule's target makes of the alarm (and whether this invocation claimed the
    /// transition): an OK ends the decision it left open, a
    /// suppressed ALARM is skipped (CloudWatch did not run its actions, and neither does the
    /// scaler; not claimed, so the same state delivered again once the actions do run is a
    /// transition of its own), a recovered one too, a duplicate is skipped; else decided.
    async fn alarm_decision(
        &self,
        asked: &AlarmAsk<'_>,
        now: DateTime<Utc>,
        until: Instant,
        metrics: &mut Metrics,
    ) -> Result<(ScalingDecision, Vec<Value>, bool), ScalerError> {
        let AlarmAsk {
            alarm,
            rule,
            policy,
            recovered,
            live,
        } = *asked;
        let skip = |reason, detail: String| {
            Ok((
                ScalingDecision::skip(&policy.id, reason, detail),
                Vec::new(),
                false,
            ))
        };
        match alarm.disposition() {
            Disposition::EndsOpenDecision => {
                let ended = live && self.end_wakeup(&policy.id, &alarm.name, now).await?;
                let tail = if ended {
                    "; this ends its pending decision"
                } else {
                    ""
                };
                return skip(
                    SkipReason::NotAlarm,
                    format!("{} is {}{tail}", alarm.name, alarm.state),
                );
            }
            Disposition::ActionsSuppressed(by) => {
                let detail = format!(
                    "{} is ALARM, but CloudWatch suppressed its actions ({})",
                    alarm.name,
                    by.as_str()
                );
                return skip(SkipReason::ActionsSuppressed, detail);
            }
            Disposition::Decide => {}
        }
        if let Some(detail) = recovered {
            return skip(SkipReason::Recovered, detail.to_string());
        }
        if live
            && !self
                .ports
                .store()
                .claim(&alarm.name, &alarm.state_time, &policy.id, now)
                .await?
        {
            let detail = format!("{} at {} was already handled", alarm.name, alarm.state_time);
            return skip(SkipReason::Duplicate, detail);
        }
        let wakeup = Wakeup {
            alarm: alarm.name.clone(),
            direction: rule.direction,
            since: now,
            why: format!("alarm {} ({})", alarm.name, alarm.short_reason()),
            check: alarm.check.clone(),
        };
        if !live {
            let (d, p) = self
                .evaluate(policy, Ask::Alarm(wakeup), now, until, live, metrics)
                .await?;
            return Ok((d, p, false));
        }
        self.evaluate_transition(alarm, policy, wakeup, now, until, metrics)
            .await
            .map(|(d, p)| (d, p, true))
    }

    /// A claimed transition decided under the target's lease; its claim given back when that
    /// fails before anything was done, so the event source's retry evaluates it instead of
    /// skipping it as a duplicate (at most once would otherwise drop the alarm: EventBridge
    /// reports a transition once).
    async fn evaluate_transition(
        &self,
        alarm: &AlarmChange,
        policy: &TargetPolicy,
        wakeup: Wakeup,
        now: DateTime<Utc>,
        until: Instant,
        metrics: &mut Metrics,
    ) -> Result<(ScalingDecision, Vec<Value>), ScalerError> {
        let acting = AtomicBool::new(false);
        let result = self
            .evaluate_claimed(policy, Ask::Alarm(wakeup), now, until, &acting, metrics)
            .await;
        if result.is_err() && !acting.load(Ordering::SeqCst) {
            self.unclaim(alarm, &policy.id).await;
        }
        result
    }

    /// An OK (or INSUFFICIENT_DATA) transition ends the decision its ALARM left open.
    pub(crate) async fn end_wakeup(
        &self,
        target: &str,
        alarm: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, ScalerError> {
        for _ in 0..3 {
            let mut state = self.ports.store().state(target).await?;
            if state.memo.wakeup.as_ref().map(|w| w.alarm.as_str()) != Some(alarm) {
                return Ok(false);
            }
            state.memo.wakeup = None;
            state.memo.pending_scale_in = None;
            if self.save(target, &mut state, now).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// One rule's question about one alarm state change.
#[derive(Clone, Copy)]
struct AlarmAsk<'a> {
    alarm: &'a AlarmChange,
    rule: &'a AlarmRule,
    policy: &'a TargetPolicy,
    /// Why the alarm's metric no longer breaches, when it does not.
    recovered: Option<&'a str>,
    live: bool,
}
