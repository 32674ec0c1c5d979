//! The handler: an alarm state change becomes, per matching rule, a claimed, decided, acted
//! and audited scaling decision; ops commands show and steer the targets.

use aws_lambda_events::cloudwatch_alarms::{CloudWatchAlarmData, CloudWatchAlarmStateValue};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use streamops_shared::{AwsCallError, Metrics};

use crate::config::ScalerConfig;
use crate::notify::DecisionNotifier;
use crate::ops::{ScalerCommand, parse_command};
use crate::policy::{Direction, Observed, ScalingDecision, SkipReason, TargetPolicy, decide};
use crate::state::ScalerStore;
use crate::targets::Targets;

#[derive(Debug, thiserror::Error)]
pub enum ScalerError {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    BadCommand(String),
    #[error("{0}")]
    Aws(#[from] AwsCallError),
}

/// The parts of an alarm state change the scaler uses.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmChange {
    /// The alarm's metric, to re-read before acting (single-metric alarms).
    pub check: Option<crate::metrics::MetricCheck>,
    pub name: String,
    pub state: String,
    /// The state's timestamp: with the name, it identifies the transition.
    pub state_time: String,
    pub reason: String,
}

pub fn parse_alarm(payload: &Value) -> Result<AlarmChange, String> {
    let event: EventBridgeEvent<Value> = serde_json::from_value(payload.clone())
        .map_err(|e| format!("not an EventBridge event: {e}"))?;
    if event.detail_type != "CloudWatch Alarm State Change" {
        return Err(format!(
            "detail-type {:?} is not a CloudWatch alarm state change",
            event.detail_type
        ));
    }
    let data: CloudWatchAlarmData<Value> =
        serde_json::from_value(event.detail.clone()).map_err(|e| format!("alarm detail: {e}"))?;
    let state = data.state.as_ref().ok_or("detail.state is missing")?;
    let name = data.alarm_name.clone();
    if name.is_empty() {
        return Err("detail.alarmName is missing".into());
    }
    let value = match state.value {
        CloudWatchAlarmStateValue::Alarm => "ALARM",
        CloudWatchAlarmStateValue::Ok => "OK",
        _ => "INSUFFICIENT_DATA",
    };
    Ok(AlarmChange {
        check: crate::metrics::metric_check(&event.detail),
        name,
        state: value.to_string(),
        state_time: state.timestamp.to_rfc3339(),
        reason: state.reason.clone(),
    })
}

pub struct ScalerService {
    pub config: ScalerConfig,
    pub store: ScalerStore,
    pub targets: Targets,
    pub notifier: Option<DecisionNotifier>,
}

impl ScalerService {
    pub async fn handle(
        &self,
        payload: Value,
        now: DateTime<Utc>,
        metrics: &mut Metrics,
    ) -> Result<Value, ScalerError> {
        if let Some(cmd) = parse_command(&payload) {
            return self
                .command(cmd.map_err(ScalerError::BadCommand)?, now, metrics)
                .await;
        }
        let alarm = parse_alarm(&payload).map_err(ScalerError::Input)?;
        let decisions = self.on_alarm(&alarm, now, true, metrics).await?;
        Ok(json!({ "alarm": alarm.name, "state": alarm.state, "decisions": decisions }))
    }

    /// `live`: claim, act and audit; otherwise only decide (explain).
    async fn on_alarm(
        &self,
        alarm: &AlarmChange,
        now: DateTime<Utc>,
        live: bool,
        metrics: &mut Metrics,
    ) -> Result<Vec<Value>, ScalerError> {
        let rules = self.config.policies.rules_for(&alarm.name);
        let mut out = Vec::new();
        // Re-read the metric once for all targets of this alarm.
        let recovered = match (&alarm.check, alarm.state.as_str(), rules.is_empty()) {
            (Some(check), "ALARM", false) => {
                let latest =
                    crate::metrics::latest_value(&self.targets.cloudwatch, check, now).await?;
                (!crate::metrics::still_breaching(check, latest)).then(|| {
                    format!(
                        "{} {} is {} now, no longer {} {}",
                        check.namespace,
                        check.name,
                        latest.unwrap_or_default(),
                        if check.breach_above { "above" } else { "below" },
                        check.threshold
                    )
                })
            }
            _ => None,
        };
        for rule in rules {
            let policy = self
                .config
                .policies
                .target(&rule.target)
                .expect("validated at cold start");
            let decision = if alarm.state != "ALARM" {
                // An OK transition never acts; it ends the episode (nothing pending to cancel here).
                ScalingDecision::skip(
                    &policy.id,
                    SkipReason::NotAlarm,
                    format!("{} is {}", alarm.name, alarm.state),
                )
            } else if let Some(detail) = &recovered {
                ScalingDecision::skip(&policy.id, SkipReason::Recovered, detail.clone())
            } else if live
                && !self
                    .store
                    .claim(&alarm.name, &alarm.state_time, &policy.id, now)
                    .await?
            {
                ScalingDecision::skip(
                    &policy.id,
                    SkipReason::Duplicate,
                    format!("{} at {} was already handled", alarm.name, alarm.state_time),
                )
            } else {
                let why = format!(
                    "alarm {} ({})",
                    alarm.name,
                    alarm.reason.chars().take(200).collect::<String>()
                );
                self.decide_and_act(policy, rule.direction, &why, now, live, None)
                    .await?
            };
            out.push(
                self.record(
                    &policy.id,
                    &decision,
                    Some(&alarm.name),
                    now,
                    live,
                    out.len(),
                    metrics,
                )
                .await?,
            );
        }
        Ok(out)
    }

    async fn decide_and_act(
        &self,
        policy: &TargetPolicy,
        direction: Direction,
        why: &str,
        now: DateTime<Utc>,
        live: bool,
        forced_size: Option<u32>,
    ) -> Result<ScalingDecision, ScalerError> {
        let mut state = self.store.state(&policy.id).await?;
        let observed = self.targets.observe(&policy.kind).await?;
        let decision = match (forced_size, &observed) {
            (Some(size), Observed::Ready { size: current }) => {
                let to = size.clamp(policy.min, policy.max);
                if to == *current {
                    ScalingDecision::skip(
                        &policy.id,
                        SkipReason::AtBound,
                        format!(
                            "already at {current} (bounds {}..={})",
                            policy.min, policy.max
                        ),
                    )
                } else {
                    ScalingDecision::Act {
                        target: policy.id.clone(),
                        from: *current,
                        to,
                        reason: why.to_string(),
                    }
                }
            }
            _ => decide(policy, &state, &observed, direction, why, now),
        };
        let ScalingDecision::Act { from, to, .. } = &decision else {
            return Ok(decision);
        };
        if !live {
            return Ok(decision);
        }
        // Record the action before making it: a concurrent invocation that read the same
        // version loses the conditional write and skips instead of acting twice.
        state.last_action_at = Some(now);
        state.last_direction = Some(if to > from {
            Direction::Out
        } else {
            Direction::In
        });
        state.last_size = Some(*to);
        if matches!(policy.kind, crate::policy::TargetKind::KinesisStream { .. }) {
            state.kinesis_calls.push(now);
        }
        if !self.store.save(&policy.id, &state, now).await? {
            return Ok(ScalingDecision::skip(
                &policy.id,
                SkipReason::Concurrent,
                "another invocation changed this target at the same time",
            ));
        }
        let resized = self.targets.resize(&policy.kind, *to).await;
        if let (
            Ok(Some((job, savepoint))),
            crate::policy::TargetKind::FlinkJob {
                pipeline: Some(pipeline),
                ..
            },
            Some(table),
        ) = (&resized, &policy.kind, &self.config.checkpoints_table)
        {
            // The resubmitted job restores from the savepoint without claiming it (Flink's default).
            streamops_shared::lineage::register_job(
                self.store.client(),
                table,
                pipeline,
                job,
                Some(savepoint),
                Some("NO_CLAIM"),
                now,
            )
            .await?;
            tracing::info!(pipeline = %pipeline, job = %job, savepoint = %savepoint, "resubmitted job registered in the checkpoints book");
        }
        if let Err(e) = resized {
            // Audited as failed; the invocation fails so the event source retries, and the
            // claim makes that retry a recorded duplicate rather than a second attempt.
            let entry = json!({"decision": "failed", "target": policy.id, "from": from, "to": to, "error": e.to_string(), "at": now.to_rfc3339()});
            self.store.audit(&policy.id, &entry, now, 99).await?;
            self.publish(
                &entry,
                &mut Metrics::new(streamops_shared::METRICS_NAMESPACE, "scaler"),
            )
            .await;
            return Err(e.into());
        }
        Ok(decision)
    }

    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        target: &str,
        decision: &ScalingDecision,
        alarm: Option<&str>,
        now: DateTime<Utc>,
        live: bool,
        seq: usize,
        metrics: &mut Metrics,
    ) -> Result<Value, ScalerError> {
        let mut entry = serde_json::to_value(decision).expect("decisions serialize");
        entry["at"] = json!(now.to_rfc3339());
        if let Some(a) = alarm {
            entry["alarm"] = json!(a);
        }
        if live {
            self.store.audit(target, &entry, now, seq).await?;
            match decision {
                ScalingDecision::Act { .. } => {
                    metrics.count_by("ScalingActions", "target", target, 1)
                }
                ScalingDecision::Skip { reason, .. } => metrics.count_by(
                    "ScalingSkipped",
                    "reason",
                    serde_json::to_value(reason).unwrap().as_str().unwrap_or(""),
                    1,
                ),
            }
            tracing::info!(target = target, decision = %entry, "scaling decision");
            self.publish(&entry, metrics).await;
        }
        Ok(entry)
    }

    /// The audit trail is the record; a message that cannot be sent is logged and counted.
    async fn publish(&self, entry: &Value, metrics: &mut Metrics) {
        if let Some(n) = &self.notifier
            && let Err(e) = n.notify(entry).await
        {
            metrics.count("AlertPublishErrors", 1);
            tracing::error!(error = %e, "could not publish the scaling decision");
        }
    }

    fn policy(&self, id: &str) -> Result<&TargetPolicy, ScalerError> {
        self.config.policies.target(id).ok_or_else(|| {
            let known: Vec<&str> = self
                .config
                .policies
                .targets
                .iter()
                .map(|t| t.id.as_str())
                .collect();
            ScalerError::BadCommand(format!(
                "unknown target {id:?}; targets: {}",
                known.join(", ")
            ))
        })
    }

    async fn command(
        &self,
        cmd: ScalerCommand,
        now: DateTime<Utc>,
        metrics: &mut Metrics,
    ) -> Result<Value, ScalerError> {
        match cmd {
            ScalerCommand::Status => {
                let mut targets = Vec::new();
                for p in &self.config.policies.targets {
                    let state = self.store.state(&p.id).await?;
                    let observed = self.targets.observe(&p.kind).await?;
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
                    targets.push(json!({
                        "target": p.id, "policy": p, "observed": observed, "paused": state.paused,
                        "last_action_at": state.last_action_at, "last_size": state.last_size,
                        "scale_out_cooldown_left_seconds": cooldown_left(p.scale_out_cooldown_seconds),
                        "scale_in_cooldown_left_seconds": cooldown_left(p.scale_in_cooldown_seconds),
                        "recent_decisions": self.store.recent_audit(&p.id, 5).await?,
                    }));
                }
                Ok(json!({ "targets": targets }))
            }
            ScalerCommand::Scale {
                target,
                size,
                reason,
                dry_run,
            } => {
                let policy = self.policy(&target)?.clone();
                let why = format!("by hand: {reason}");
                let decision = self
                    .decide_and_act(&policy, Direction::Out, &why, now, !dry_run, Some(size))
                    .await?;
                let entry = self
                    .record(&target, &decision, None, now, !dry_run, 0, metrics)
                    .await?;
                Ok(json!({ "dry_run": dry_run, "decision": entry }))
            }
            ScalerCommand::Pause { target } | ScalerCommand::Resume { target }
                if self.config.policies.target(&target).is_none() =>
            {
                self.policy(&target).map(|_| Value::Null)
            }
            ScalerCommand::Pause { target } => self.set_paused(&target, true, now).await,
            ScalerCommand::Resume { target } => self.set_paused(&target, false, now).await,
            ScalerCommand::Explain { event } => {
                let alarm = parse_alarm(&event).map_err(ScalerError::BadCommand)?;
                let decisions = self.on_alarm(&alarm, now, false, metrics).await?;
                Ok(
                    json!({ "explain": true, "alarm": alarm.name, "state": alarm.state, "decisions": decisions }),
                )
            }
        }
    }

    async fn set_paused(
        &self,
        target: &str,
        paused: bool,
        now: DateTime<Utc>,
    ) -> Result<Value, ScalerError> {
        for _ in 0..3 {
            let mut state = self.store.state(target).await?;
            state.paused = paused;
            if self.store.save(target, &state, now).await? {
                let entry = json!({"decision": if paused { "paused" } else { "resumed" }, "target": target, "at": now.to_rfc3339()});
                self.store.audit(target, &entry, now, 0).await?;
                return Ok(json!({ "target": target, "paused": paused }));
            }
        }
        Err(ScalerError::BadCommand(format!(
            "target {target} kept changing; try again"
        )))
    }
}
