//! The handler: an alarm state change becomes, per matching rule, a claimed, leased, decided,
//! acted and audited scaling decision; the schedule (`tick`) resumes what could not finish and
//! re-evaluates open decisions; ops commands show and steer the targets.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use streamops_shared::ErrorClass;
use streamops_shared::harness::Classified;
use streamops_shared::{AwsCallError, Metrics};
use tokio::time::Instant;

pub use crate::alarm::{AlarmChange, Disposition, parse_alarm, parse_alarms};
use crate::config::ScalerConfig;
use crate::flink::{FlinkJobView, Resubmit};
use crate::notify::DecisionNotifier;
use crate::ops::{ScalerCommand, parse_command};
use crate::policy::{
    Direction, FlinkRescaleMode, Observed, ScalingDecision, SkipReason, TargetKind, TargetPolicy,
    TargetState, Wakeup, decide,
};
use crate::rescale::{FlinkRescale, StepOutcome};
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

impl Classified for ScalerError {
    fn class(&self) -> ErrorClass {
        match self {
            ScalerError::Aws(e) => e.class,
            ScalerError::Input(_) | ScalerError::BadCommand(_) => ErrorClass::Permanent,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            ScalerError::Aws(_) => "AwsCall",
            ScalerError::Input(_) => "BadInput",
            ScalerError::BadCommand(_) => "BadCommand",
        }
    }
}
pub struct ScalerService {
    pub config: ScalerConfig,
    pub store: ScalerStore,
    pub targets: Targets,
    pub notifier: Option<DecisionNotifier>,
}

/// What a decision is asked for: an alarm (with its direction and wake-up), or a size by hand.
#[derive(Debug, Clone)]
enum Ask {
    Alarm(Wakeup),
    ByHand(u32),
}

impl Ask {
    fn direction(&self) -> Direction {
        match self {
            Ask::Alarm(w) => w.direction,
            Ask::ByHand(_) => Direction::Out,
        }
    }
}

/// How long a target's lease lasts: longer than any invocation (15 min), so a crashed holder
/// blocks the target only until then.
const LEASE: chrono::Duration = chrono::Duration::minutes(16);

/// Skip reasons that leave the decision open for the schedule to re-evaluate while the alarm
/// stays in ALARM (EventBridge reports a transition once, not a lasting state).
fn keeps_wakeup(decision: &ScalingDecision) -> bool {
    match decision {
        ScalingDecision::Defer { .. } => true,
        ScalingDecision::Skip { reason, .. } => matches!(
            reason,
            SkipReason::Stabilising | SkipReason::Cooldown | SkipReason::QuotaExhausted
        ),
        ScalingDecision::Act { .. } => false,
    }
}

impl ScalerService {
    /// `until`: when this invocation must have finished its work (the Lambda deadline less a
    /// margin); a Flink rescale still running then resumes on the next invocation.
    pub async fn handle(
        &self,
        payload: Value,
        now: DateTime<Utc>,
        until: Instant,
        metrics: &mut Metrics,
    ) -> Result<Value, ScalerError> {
        if let Some(cmd) = parse_command(&payload) {
            return self
                .command(cmd.map_err(ScalerError::BadCommand)?, now, until, metrics)
                .await;
        }
        let alarms = parse_alarms(&payload).map_err(ScalerError::Input)?;
        let mut decisions = Vec::new();
        for alarm in &alarms {
            decisions.extend(self.on_alarm(alarm, now, until, true, metrics).await?);
        }
        let names: Vec<&str> = alarms.iter().map(|a| a.name.as_str()).collect();
        let states: Vec<&str> = alarms.iter().map(|a| a.state.as_str()).collect();
        Ok(json!({ "alarm": names.join(", "), "state": states.join(", "), "decisions": decisions }))
    }

    /// `live`: claim, act and audit; otherwise only decide (explain).
    async fn on_alarm(
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
            (Some(check), Disposition::Decide, false) => self.recovered(check, now).await?,
            _ => None,
        };
        for rule in rules {
            let policy = self
                .config
                .policies
                .target(&rule.target)
                .expect("validated at cold start");
            let (decision, progress) = self
                .alarm_decision(
                    alarm,
                    rule,
                    policy,
                    recovered.as_deref(),
                    (now, until),
                    live,
                    metrics,
                )
                .await?;
            let entry = self
                .record(
                    &policy.id,
                    &decision,
                    Some(&alarm.name),
                    now,
                    live,
                    out.len(),
                    metrics,
                )
                .await?;
            out.push(entry);
            out.extend(progress);
        }
        Ok(out)
    }

    /// What one rule's target makes of the alarm: an OK ends the decision it left open, a
    /// suppressed ALARM is skipped (CloudWatch did not run its actions, and neither does the
    /// scaler; not claimed, so the same state delivered again once the actions do run is a
    /// transition of its own), a recovered one too, a duplicate is skipped; else decided.
    #[allow(clippy::too_many_arguments)]
    async fn alarm_decision(
        &self,
        alarm: &AlarmChange,
        rule: &crate::policy::AlarmRule,
        policy: &TargetPolicy,
        recovered: Option<&str>,
        (now, until): (DateTime<Utc>, Instant),
        live: bool,
        metrics: &mut Metrics,
    ) -> Result<(ScalingDecision, Vec<Value>), ScalerError> {
        let skip = |reason, detail: String| {
            Ok((
                ScalingDecision::skip(&policy.id, reason, detail),
                Vec::new(),
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
                .store
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
        self.evaluate(policy, Ask::Alarm(wakeup), now, until, live, metrics)
            .await
    }

    /// `Some(why)` when the alarm's metric, re-read now, no longer breaches.
    async fn recovered(
        &self,
        check: &crate::metrics::MetricCheck,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, ScalerError> {
        let latest = crate::metrics::latest_value(&self.targets.cloudwatch, check, now).await?;
        Ok((!crate::metrics::still_breaching(check, latest)).then(|| {
            format!(
                "{} {} is {} now, no longer {} {}",
                check.namespace,
                check.name,
                latest.unwrap_or_default(),
                if check.breach_above { "above" } else { "below" },
                check.threshold
            )
        }))
    }

    /// An OK (or INSUFFICIENT_DATA) transition ends the decision its ALARM left open.
    async fn end_wakeup(
        &self,
        target: &str,
        alarm: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, ScalerError> {
        for _ in 0..3 {
            let mut state = self.store.state(target).await?;
            if state.memo.wakeup.as_ref().map(|w| w.alarm.as_str()) != Some(alarm) {
                return Ok(false);
            }
            state.memo.wakeup = None;
            state.memo.pending_scale_in = None;
            if self.store.save(target, &mut state, now).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Decides (and when `live`, acts on) one target under its lease. Returns the decision and
    /// any progress entries of a Flink rescale (already audited and published).
    async fn evaluate(
        &self,
        policy: &TargetPolicy,
        ask: Ask,
        now: DateTime<Utc>,
        until: Instant,
        live: bool,
        metrics: &mut Metrics,
    ) -> Result<(ScalingDecision, Vec<Value>), ScalerError> {
        if !live {
            let mut state = self.store.state(&policy.id).await?;
            let decision = self.decide_now(policy, &mut state, &ask, now).await?;
            return Ok((decision, Vec::new()));
        }
        match self
            .leased(
                &policy.id,
                now,
                // Boxed: the decision's future is large, and would otherwise live inline twice.
                Box::pin(self.evaluate_leased(policy, ask, now, until, metrics)),
            )
            .await?
        {
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
    async fn leased<T>(
        &self,
        target: &str,
        now: DateTime<Utc>,
        work: impl std::future::Future<Output = Result<T, ScalerError>>,
    ) -> Result<Result<T, String>, ScalerError> {
        let owner = format!("{:x}", fastrand_token(target, now));
        if let Err(holder) = self.store.lease(target, &owner, now + LEASE, now).await? {
            return Ok(Err(holder));
        }
        let result = work.await;
        if let Err(e) = self.store.release(target, &owner).await {
            // It expires on its own; what was done stands.
            tracing::warn!(target = %target, error = %e, "could not release the lease");
        }
        result.map(Ok)
    }

    /// Once the scale-out cooldown after a scale-up has passed, judges whether throughput moved
    /// as expected; an ineffective scale-up blocks further ones (and is alerted).
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
        let Some(load) =
            crate::metrics::read_load(&self.targets.cloudwatch, load_metrics, now).await?
        else {
            return Ok(None);
        };
        let Some(verdict) = crate::policy::effectiveness(&up, &load, policy.min_effectiveness)
        else {
            return Ok(None);
        };
        if let Some(rec) = state.memo.last_scale_up.as_mut() {
            rec.checked = true;
        }
        let decision = match verdict {
            Ok(()) => None,
            Err(detail) => {
                state.memo.blocked_scale_up = Some(detail.clone());
                Some(ScalingDecision::skip(
                    &policy.id,
                    SkipReason::Ineffective,
                    detail,
                ))
            }
        };
        if !self.store.save(&policy.id, state, now).await? {
            // Somebody else changed the target; the next tick judges again.
            return Ok(None);
        }
        Ok(decision)
    }

    /// Carries a target's Flink rescale on under its lease; `None` when another invocation
    /// holds the lease (it is carrying it on).
    async fn resume_rescale(
        &self,
        policy: &TargetPolicy,
        now: DateTime<Utc>,
        until: Instant,
        metrics: &mut Metrics,
    ) -> Result<Option<Value>, ScalerError> {
        let work = Box::pin(async {
            let mut state = self.store.state(&policy.id).await?;
            self.drive_rescale(policy, &mut state, now, until, metrics)
                .await
        });
        Ok(self.leased(&policy.id, now, work).await?.ok())
    }

    /// The pure decision on fresh observations (and load, for proportional sizing).
    async fn decide_now(
        &self,
        policy: &TargetPolicy,
        state: &mut TargetState,
        ask: &Ask,
        now: DateTime<Utc>,
    ) -> Result<ScalingDecision, ScalerError> {
        let direction = ask.direction();
        let (forced_size, why) = match ask {
            Ask::ByHand(size) => (Some(*size), "by hand"),
            Ask::Alarm(w) => (None, w.why.as_str()),
        };
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
        let observed = self
            .targets
            .observe(&policy.kind, policy.respect_other_autoscalers, now)
            .await?;
        let load = match (&policy.load, &observed) {
            (Some(load), Observed::Ready { .. }) => {
                crate::metrics::read_load(&self.targets.cloudwatch, load, now).await?
            }
            _ => None,
        };
        Ok(match (forced_size, &observed) {
            (
                Some(size),
                Observed::Ready {
                    size: current,
                    max_size,
                    ..
                },
            ) => {
                let to = size
                    .clamp(policy.min, policy.max)
                    .min(max_size.unwrap_or(u32::MAX));
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
                    // A human decided: the record of earlier automatic decisions starts over.
                    state.memo.blocked_scale_up = None;
                    state.memo.pending_scale_in = None;
                    state.memo.last_scale_up = None;
                    ScalingDecision::Act {
                        target: policy.id.clone(),
                        from: *current,
                        to,
                        reason: format!("by hand (bounds {}..={})", policy.min, policy.max),
                    }
                }
            }
            (Some(_), _) => decide(policy, state, &observed, direction, None, why, now),
            (None, _) => decide(policy, state, &observed, direction, load.as_ref(), why, now),
        })
    }

    async fn evaluate_leased(
        &self,
        policy: &TargetPolicy,
        ask: Ask,
        now: DateTime<Utc>,
        until: Instant,
        metrics: &mut Metrics,
    ) -> Result<(ScalingDecision, Vec<Value>), ScalerError> {
        let mut state = self.store.state(&policy.id).await?;
        if state.memo.rescale.is_some() {
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
                return Ok((decision, vec![progress]));
            }
        }
        let before = state.memo.clone();
        let decision = self.decide_now(policy, &mut state, &ask, now).await?;
        let wakeup = match ask {
            Ask::Alarm(w) => Some(w),
            Ask::ByHand(_) => None,
        };
        if keeps_wakeup(&decision) {
            if let Some(w) = wakeup {
                // Keep the first wake-up's time: it is when the decision was first asked for.
                let since = state
                    .memo
                    .wakeup
                    .as_ref()
                    .filter(|old| old.alarm == w.alarm)
                    .map(|old| old.since)
                    .unwrap_or(w.since);
                state.memo.wakeup = Some(Wakeup { since, ..w });
            }
        } else {
            state.memo.wakeup = None;
        }
        let ScalingDecision::Act { from, to, .. } = decision.clone() else {
            if state.memo != before && !self.store.save(&policy.id, &mut state, now).await? {
                return Ok((concurrent(&policy.id), Vec::new()));
            }
            return Ok((decision, Vec::new()));
        };
        // Record the action before making it: a concurrent writer that read the same version
        // loses the conditional write and skips instead of acting twice.
        state.last_action_at = Some(now);
        state.last_direction = Some(if to > from {
            Direction::Out
        } else {
            Direction::In
        });
        state.last_size = Some(to);
        if matches!(policy.kind, TargetKind::KinesisStream { .. }) {
            state.kinesis_calls.push(now);
        }
        if !self.store.save(&policy.id, &mut state, now).await? {
            return Ok((concurrent(&policy.id), Vec::new()));
        }
        let progress = self
            .act(policy, &mut state, (from, to), now, until, metrics)
            .await?;
        Ok((decision, progress))
    }

    /// Makes the change the decision recorded.
    async fn act(
        &self,
        policy: &TargetPolicy,
        state: &mut TargetState,
        (from, to): (u32, u32),
        now: DateTime<Utc>,
        until: Instant,
        metrics: &mut Metrics,
    ) -> Result<Vec<Value>, ScalerError> {
        let fail = |e: String| json!({"decision": "failed", "target": policy.id, "from": from, "to": to, "error": e, "at": now.to_rfc3339()});
        let TargetKind::FlinkJob {
            rest_url,
            job_name,
            mode,
            savepoint_dir,
            ..
        } = &policy.kind
        else {
            return match self.targets.resize(&policy.kind, from, to).await {
                Ok(terminating) if terminating.is_empty() => Ok(Vec::new()),
                // Which nodes a scale-in takes away (those YARN reports empty), for the record.
                Ok(terminating) => Ok(vec![
                    self.note(
                        &policy.id,
                        &json!({"decision": "shrink_plan", "target": policy.id, "from": from, "to": to,
                                "instances_to_terminate": terminating, "at": now.to_rfc3339()}),
                        now,
                        metrics,
                    )
                    .await?,
                ]),
                Err(e) => {
                    // Audited as failed; the invocation fails so the event source retries, and the
                    // claim makes that retry a recorded duplicate rather than a second attempt.
                    self.note(&policy.id, &fail(e.to_string()), now, metrics).await?;
                    Err(e.into())
                }
            };
        };
        let job_id = match crate::flink::flink_job(rest_url, job_name).await {
            Ok(FlinkJobView::Running { job_id, .. }) => job_id,
            Ok(FlinkJobView::NotRunning(d)) | Err(d) => {
                return Ok(vec![self.note(&policy.id, &fail(d), now, metrics).await?]);
            }
        };
        if *mode == FlinkRescaleMode::Adaptive {
            let entry = match crate::flink::rescale_adaptive(rest_url, job_name, &job_id, to, until)
                .await
            {
                Ok(()) => {
                    json!({"decision": "rescaled", "target": policy.id, "from": from, "to": to, "job_id": job_id, "mode": "adaptive", "at": now.to_rfc3339()})
                }
                Err(e) => fail(e),
            };
            return Ok(vec![self.note(&policy.id, &entry, now, metrics).await?]);
        }
        let trigger = crate::flink::trigger_id(&policy.id, &job_id, now);
        // Stored before the call: whatever happens next, the trigger is known and resumable.
        state.memo.rescale = Some(FlinkRescale::new(&job_id, from, to, trigger.clone(), now));
        if !self.store.save(&policy.id, state, now).await? {
            return Ok(vec![
                self.note(
                    &policy.id,
                    &fail("the target changed while starting the rescale".into()),
                    now,
                    metrics,
                )
                .await?,
            ]);
        }
        if let Err(e) =
            crate::flink::stop_with_savepoint(rest_url, &job_id, &trigger, savepoint_dir.as_deref())
                .await
        {
            state.memo.rescale = None;
            self.store.save(&policy.id, state, now).await?;
            return Ok(vec![
                self.note(
                    &policy.id,
                    &fail(format!(
                        "stop-with-savepoint was refused, the job keeps running: {e}"
                    )),
                    now,
                    metrics,
                )
                .await?,
            ]);
        }
        Ok(vec![
            self.drive_rescale(policy, state, now, until, metrics)
                .await?,
        ])
    }

    /// Advances the target's Flink rescale as far as this invocation allows; audits (and
    /// publishes, except plain progress) where it got to.
    async fn drive_rescale(
        &self,
        policy: &TargetPolicy,
        state: &mut TargetState,
        now: DateTime<Utc>,
        until: Instant,
        metrics: &mut Metrics,
    ) -> Result<Value, ScalerError> {
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
            return Ok(Value::Null);
        };
        let resubmit = Resubmit {
            rest_url,
            job_name,
            jar_id: jar_id.as_deref(),
            entry_class: entry_class.as_deref(),
            savepoint_timeout_seconds: *savepoint_timeout_seconds,
            emr_step: emr_step.as_ref().map(|s| (&self.targets.emr, s)),
        };
        // The clock moves while the machine runs (timeouts are measured against it).
        let started = Utc::now();
        let clock = move || now + (Utc::now() - started);
        let outcome = crate::flink::advance(&resubmit, &mut rescale, until, clock).await;
        let base = json!({"target": policy.id, "from": rescale.from, "to": rescale.to, "at": clock().to_rfc3339()});
        let with = |extra: Value| {
            let mut e = base.clone();
            e.as_object_mut()
                .expect("object")
                .extend(extra.as_object().expect("object").clone());
            e
        };
        let entry = match outcome {
            StepOutcome::Advanced => unreachable!("advance runs until the machine stops"),
            StepOutcome::Waiting(detail) => {
                state.memo.rescale = Some(rescale.clone());
                with(
                    json!({"decision": "rescale_in_progress", "phase": rescale.phase, "detail": detail}),
                )
            }
            StepOutcome::SavepointOverdue(detail) => {
                state.memo.rescale = Some(rescale.clone());
                with(json!({"decision": "failed", "error": detail, "phase": rescale.phase}))
            }
            StepOutcome::Stranded(detail) => {
                // Kept: every later invocation retries the resubmission at the old parallelism.
                state.memo.rescale = Some(rescale.clone());
                with(json!({"decision": "stranded", "error": detail, "phase": rescale.phase}))
            }
            StepOutcome::Failed(detail) => {
                state.memo.rescale = None;
                state.last_size = Some(rescale.from);
                with(json!({"decision": "failed", "error": detail}))
            }
            StepOutcome::Done {
                job_id,
                savepoint,
                parallelism,
            } => {
                state.memo.rescale = None;
                if let (Some(pipeline), Some(table)) = (pipeline, &self.config.checkpoints_table) {
                    // The resubmitted job restores from the savepoint without claiming it.
                    streamops_shared::lineage::register_job(
                        self.store.client(),
                        table,
                        pipeline,
                        &job_id,
                        Some(&savepoint),
                        Some("NO_CLAIM"),
                        now,
                    )
                    .await?;
                    tracing::info!(pipeline = %pipeline, job = %job_id, savepoint = %savepoint, "resubmitted job registered in the checkpoints book");
                }
                with(
                    json!({"decision": "rescaled", "job_id": job_id, "savepoint": savepoint, "parallelism": parallelism, "mode": "savepoint"}),
                )
            }
        };
        if !self.store.save(&policy.id, state, now).await? {
            tracing::warn!(target = %policy.id, "rescale progress not saved: the target changed meanwhile");
        }
        self.note(&policy.id, &entry, now, metrics).await
    }

    /// Audits an entry outside the decision flow and publishes it (progress and shrink plans
    /// stay audit-only).
    async fn note(
        &self,
        target: &str,
        entry: &Value,
        now: DateTime<Utc>,
        metrics: &mut Metrics,
    ) -> Result<Value, ScalerError> {
        self.store.audit(target, entry, now, 99).await?;
        tracing::info!(target = target, entry = %entry, "scaling progress");
        if !matches!(
            entry["decision"].as_str(),
            Some("rescale_in_progress" | "shrink_plan")
        ) {
            self.publish(entry, metrics).await;
        }
        Ok(entry.clone())
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
                ScalingDecision::Skip { reason, .. } | ScalingDecision::Defer { reason, .. } => {
                    metrics.count_by(
                        if matches!(decision, ScalingDecision::Defer { .. }) {
                            "ScalingDeferred"
                        } else {
                            "ScalingSkipped"
                        },
                        "reason",
                        serde_json::to_value(reason).unwrap().as_str().unwrap_or(""),
                        1,
                    )
                }
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

    /// The schedule's pass: resumes Flink rescales in progress and re-evaluates open decisions
    /// (deferred, waiting for a scale-in delay, held by a cooldown) whose alarm still breaches.
    async fn tick(
        &self,
        now: DateTime<Utc>,
        until: Instant,
        metrics: &mut Metrics,
    ) -> Result<Value, ScalerError> {
        let mut out = Vec::new();
        for policy in &self.config.policies.targets {
            let mut state = self.store.state(&policy.id).await?;
            if let Some(decision) = self.check_effectiveness(policy, &mut state, now).await? {
                out.push(
                    self.record(&policy.id, &decision, None, now, true, out.len(), metrics)
                        .await?,
                );
            }
            if state.memo.rescale.is_none() && state.memo.wakeup.is_none() {
                continue;
            }
            let wakeup = state.memo.wakeup.clone();
            if state.memo.rescale.is_none()
                && let Some(w) = &wakeup
                && let Some(check) = &w.check
                && let Some(detail) = self.recovered(check, now).await?
            {
                let alarm = w.alarm.clone();
                self.end_wakeup(&policy.id, &alarm, now).await?;
                let decision = ScalingDecision::skip(&policy.id, SkipReason::Recovered, detail);
                out.push(
                    self.record(
                        &policy.id,
                        &decision,
                        Some(&alarm),
                        now,
                        true,
                        out.len(),
                        metrics,
                    )
                    .await?,
                );
                continue;
            }
            let Some(w) = wakeup else {
                // Only a rescale to carry on: no new decision is asked for.
                if let Some(progress) = self.resume_rescale(policy, now, until, metrics).await? {
                    out.push(progress);
                }
                continue;
            };
            let alarm = w.alarm.clone();
            let (decision, progress) = self
                .evaluate(policy, Ask::Alarm(w), now, until, true, metrics)
                .await?;
            let alarm = Some(alarm.as_str());
            out.push(
                self.record(&policy.id, &decision, alarm, now, true, out.len(), metrics)
                    .await?,
            );
            out.extend(progress);
        }
        Ok(json!({ "tick": now.to_rfc3339(), "decisions": out }))
    }

    async fn command(
        &self,
        cmd: ScalerCommand,
        now: DateTime<Utc>,
        until: Instant,
        metrics: &mut Metrics,
    ) -> Result<Value, ScalerError> {
        match cmd {
            ScalerCommand::Status => {
                let mut targets = Vec::new();
                for p in &self.config.policies.targets {
                    let state = self.store.state(&p.id).await?;
                    let observed = self
                        .targets
                        .observe(&p.kind, p.respect_other_autoscalers, now)
                        .await?;
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
                        "pending_scale_in": state.memo.pending_scale_in,
                        "open_decision": state.memo.wakeup,
                        "scale_ups_blocked": state.memo.blocked_scale_up,
                        "rescale_in_progress": state.memo.rescale,
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
                let (mut decision, progress) = self
                    .evaluate(&policy, Ask::ByHand(size), now, until, !dry_run, metrics)
                    .await?;
                if let ScalingDecision::Act { reason, .. } = &mut decision {
                    *reason = format!("{why} {reason}");
                }
                let entry = self
                    .record(&target, &decision, None, now, !dry_run, 0, metrics)
                    .await?;
                Ok(json!({ "dry_run": dry_run, "decision": entry, "progress": progress }))
            }
            ScalerCommand::Pause { target } | ScalerCommand::Resume { target }
                if self.config.policies.target(&target).is_none() =>
            {
                self.policy(&target).map(|_| Value::Null)
            }
            ScalerCommand::Pause { target } => self.set_paused(&target, true, now).await,
            ScalerCommand::Resume { target } => self.set_paused(&target, false, now).await,
            ScalerCommand::Explain { event } => {
                let alarms = parse_alarms(&event).map_err(ScalerError::BadCommand)?;
                let mut decisions = Vec::new();
                for alarm in &alarms {
                    decisions.extend(self.on_alarm(alarm, now, until, false, metrics).await?);
                }
                let names: Vec<&str> = alarms.iter().map(|a| a.name.as_str()).collect();
                Ok(json!({ "explain": true, "alarm": names.join(", "), "decisions": decisions }))
            }
            ScalerCommand::Tick => self.tick(now, until, metrics).await,
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
            if !paused {
                // Resuming is also how an operator lifts a block after an ineffective scale-up.
                state.memo.blocked_scale_up = None;
                state.memo.last_scale_up = None;
            }
            if self.store.save(target, &mut state, now).await? {
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

fn concurrent(target: &str) -> ScalingDecision {
    ScalingDecision::skip(
        target,
        SkipReason::Concurrent,
        "another invocation changed this target at the same time",
    )
}

/// A lease owner token: unique enough to tell invocations apart.
fn fastrand_token(target: &str, now: DateTime<Utc>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        target,
        now.timestamp_nanos_opt(),
        std::process::id(),
        std::time::SystemTime::now(),
        std::thread::current().id(),
    )
        .hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        streamops_test_support::fixture(&format!("scaler/{name}"))
    }

    #[test]
    fn sns_and_eventbridge_deliveries_of_one_transition_read_the_same() {
        let eb = parse_alarms(&fixture("alarm-raw-iterator-age.json")).unwrap();
        let sns = parse_alarms(&fixture("sns-alarm-raw-iterator-age.json")).unwrap();
        assert_eq!(sns.len(), 1);
        assert_eq!(
            (&sns[0].name, &sns[0].state, &sns[0].state_time),
            (&eb[0].name, &eb[0].state, &eb[0].state_time),
            "same claim key both ways"
        );
        let check = sns[0].check.as_ref().unwrap();
        assert_eq!(
            (
                check.namespace.as_str(),
                check.stat.as_str(),
                check.threshold,
                check.breach_above
            ),
            ("AWS/Kinesis", "Maximum", 60000.0, true)
        );
        assert_eq!(
            check.dimensions,
            vec![("StreamName".to_string(), "streamops-raw".to_string())]
        );
        let mut bad = fixture("sns-alarm-raw-iterator-age.json");
        bad["Records"][0]["Sns"]["Message"] = json!("{\"hello\": 1}");
        assert!(
            parse_alarms(&bad)
                .unwrap_err()
                .contains("not a CloudWatch alarm notification")
        );
    }
}
