//! The ops commands (`ops` parses them): status, scale by hand, pause, resume, explain, tick.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use streamops_shared::Metrics;
use tokio::time::Instant;

use crate::alarm::parse_alarms;
use crate::audit::{AuditEntry, Progress};
use crate::ops::ScalerCommand;
use crate::policy::{ScalingDecision, TargetPolicy};
use crate::ports::{Ports, StateStore};
use crate::service::{Ask, ScalerError, ScalerService};
use crate::targets;

impl<P: Ports> ScalerService<P> {
    pub(crate) async fn command(
        &self,
        cmd: ScalerCommand,
        now: DateTime<Utc>,
        until: Instant,
        metrics: &mut Metrics,
    ) -> Result<Value, ScalerError> {
        match cmd {
            ScalerCommand::Status => self.status(now).await,
            ScalerCommand::Scale {
                target,
                size,
                reason,
                dry_run,
            } => {
                let policy = self.policy(&target)?.clone();
                self.scale(&policy, size, &reason, dry_run, (now, until), metrics)
                    .await
            }
            ScalerCommand::Pause { target } | ScalerCommand::Resume { target }
                if self.config.policies.target(&target).is_none() =>
            {
                self.policy(&target).map(|_| Value::Null)
            }
            ScalerCommand::Pause { target } => self.set_paused(&target, true, now).await,
            ScalerCommand::Resume { target } => self.set_paused(&target, false, now).await,
            ScalerCommand::Explain { event } => self.explain(&event, now, until, metrics).await,
            ScalerCommand::Tick => self.tick(now, until, metrics).await,
        }
    }

    /// Every target: its observed shape, bounds, pause, last action, cooldowns left, open
    /// decisions, blocks, a rescale in progress, its excluded periods (in effect until when, or
    /// when next), and its five latest decisions.
    async fn status(&self, now: DateTime<Utc>) -> Result<Value, ScalerError> {
        let mut targets = Vec::new();
        for p in &self.config.policies.targets {
            targets.push(self.target_status(p, now).await?);
        }
        Ok(json!({ "targets": targets }))
    }

    async fn target_status(
        &self,
        p: &TargetPolicy,
        now: DateTime<Utc>,
    ) -> Result<Value, ScalerError> {
        let store = self.ports.store();
        let state = store.state(&p.id).await?;
        let observed =
            targets::observe(&self.ports, &p.kind, p.respect_other_autoscalers, now).await?;
        let cooldown_left = |secs: i64| {
            state
                .last_action_at
                .map(|t| {
                    (t + chrono::Duration::seconds(secs) - now)
                        .num_seconds()
                        .max(0)
                })
                .unwrap_or(0)
        };
        Ok(json!({
            "target": p.id, "policy": p, "observed": observed, "paused": state.paused,
            "last_action_at": state.last_action_at, "last_size": state.last_size,
            "scale_out_cooldown_left_seconds": cooldown_left(p.scale_out_cooldown_seconds),
            "scale_in_cooldown_left_seconds": cooldown_left(p.scale_in_cooldown_seconds),
            "pending_scale_in": state.memo.pending_scale_in,
            "open_decision": state.memo.wakeup,
            "scale_ups_blocked": state.memo.blocked_scale_up,
            "rescale_in_progress": state.memo.rescale,
            "excluded_periods": p.excluded_periods.iter().map(|w| json!({
                "name": w.name(), "active": w.is_active(now), "next_start": w.next_start(now),
            })).collect::<Vec<_>>(),
            "recent_decisions": store.recent_audit(&p.id, 5).await?,
        }))
    }

    /// A human decision: bounded by the policy but not held by cooldowns; a dry run decides
    /// without acting or recording.
    async fn scale(
        &self,
        policy: &TargetPolicy,
        size: u32,
        reason: &str,
        dry_run: bool,
        (now, until): (DateTime<Utc>, Instant),
        metrics: &mut Metrics,
    ) -> Result<Value, ScalerError> {
        let why = format!("by hand: {reason}");
        let (mut decision, progress) = self
            .evaluate(policy, Ask::ByHand(size), now, until, !dry_run, metrics)
            .await?;
        if let ScalingDecision::Act { reason, .. } = &mut decision {
            *reason = format!("{why} {reason}");
        }
        let entry = AuditEntry::decision(decision, now, None);
        let entry = self.record(entry, 0, !dry_run, metrics).await?;
        Ok(json!({ "dry_run": dry_run, "decision": entry, "progress": progress }))
    }

    async fn set_paused(
        &self,
        target: &str,
        paused: bool,
        now: DateTime<Utc>,
    ) -> Result<Value, ScalerError> {
        for _ in 0..3 {
            let mut state = self.ports.store().state(target).await?;
            state.paused = paused;
            if !paused {
                // Resuming is also how an operator lifts a block after an ineffective scale-up.
                state.memo.blocked_scale_up = None;
                state.memo.last_scale_up = None;
            }
            if self.save(target, &mut state, now).await? {
                let target = target.to_string();
                let progress = if paused {
                    Progress::Paused { target }
                } else {
                    Progress::Resumed { target }
                };
                let entry = AuditEntry::progress(progress, now);
                self.ports
                    .store()
                    .audit(entry.target(), &entry, now, 0)
                    .await?;
                return Ok(json!({ "target": entry.target(), "paused": paused }));
            }
        }
        Err(ScalerError::BadCommand(format!(
            "target {target} kept changing; try again"
        )))
    }

    /// The decisions an alarm event would lead to now, without claiming it or acting.
    async fn explain(
        &self,
        event: &Value,
        now: DateTime<Utc>,
        until: Instant,
        metrics: &mut Metrics,
    ) -> Result<Value, ScalerError> {
        let alarms = parse_alarms(event).map_err(ScalerError::BadCommand)?;
        let mut decisions = Vec::new();
        for alarm in &alarms {
            decisions.extend(self.on_alarm(alarm, now, until, false, metrics).await?);
        }
        let names: Vec<&str> = alarms.iter().map(|a| a.name.as_str()).collect();
        Ok(json!({ "explain": true, "alarm": names.join(", "), "decisions": decisions }))
    }
}
