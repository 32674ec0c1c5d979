//! The handler: route a payload to an ops command or to normalization, run the dedup protocol
//! for each alert, publish, and report what happened. Generic over its [`ports`](crate::ports):
//! the state store, the publisher, the flush queue and the checkpoints book. Suite awareness
//! (activities, annotation, the hold) is in `awareness.rs`, grouping in `grouping.rs`.
//!
//! Publish protocol for one alert (Powertools' idempotency design, keyed on the fingerprint):
//! read the record, decide (pure), write the new record with a claim conditioned on the version
//! read, publish, then release the claim. If the publish fails the claim is rolled back and the
//! invocation fails, so the event source retries and the retry publishes. If the invocation dies
//! between claim and publish, the claim expires and a redelivery of the same event publishes.
//! If SNS accepted the message but its answer was lost (a timeout after the publish), the claim
//! is rolled back all the same and the retry publishes again: delivery to the topic is
//! at-least-once, and the two copies carry the same `fingerprint` attribute.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use streamops_shared::dynamo::WriteOutcome;
use streamops_shared::{AwsCallError, Metrics};

use crate::book::BookReader;
use crate::config::AlertsConfig;
use crate::dedup::{
    Decision, StoredState, SuppressReason, decide, judged_against, next_state, repeat_moves_record,
};
use crate::group::parse_flush_event;
use crate::inhibit::{Inhibitor, MutedTarget};
use crate::model::Alert;
use crate::mute::{muted_key, reason_label};
use crate::normalize::normalize;
use crate::ops::{AlertsCommand, parse_command};
use crate::ports::{ActivityStore, FlushQueue, GroupStore, Publisher, RestorePoints, StateStore};
use crate::publisher::AlertPublisher;
use crate::queue::SqsFlushQueue;
use crate::silence::Silence;
use crate::store::AlertStore;

use crate::outcome::Mute;
pub use crate::outcome::{AlertOutcome, AlertsError, InvocationContext, Verdict};

/// How often a read-decide-write cycle is retried when another invocation wrote in between.
const MAX_VERSION_CONFLICTS: usize = 5;

/// The service over its ports; the defaults are the AWS adapters `main.rs` builds.
pub struct AlertsService<S = AlertStore, P = AlertPublisher, Q = SqsFlushQueue, B = BookReader> {
    pub config: AlertsConfig,
    pub store: S,
    pub publisher: P,
    /// The groups' delayed flushes and the held alerts' re-checks.
    pub queue: Q,
    /// The checkpoints book, read to name a pipeline's latest restorable point.
    pub book: B,
}

/// How a claimed alert went out: its own message, or into its group (the key).
enum Delivery {
    Message(String),
    Grouped(String),
}

/// The record an alert was judged against, and the stored version its write is conditioned
/// on (they differ when the stored record holds an abandoned claim).
#[derive(Clone, Copy)]
pub(crate) struct Basis<'a> {
    pub prev: Option<&'a StoredState>,
    pub expected: Option<u64>,
}

/// Whether the judgement may hold an alert while the scaler acts: not the re-check of one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum HoldCheck {
    Apply,
    Skip,
}

/// One pass of the read-decide-write cycle.
pub(crate) enum Step {
    /// Boxed: an outcome is large beside the other variant, and settles once per alert.
    Settled(Box<AlertOutcome>),
    /// The record's version moved between our read and our write: read again.
    VersionMoved,
}

impl<S: StateStore + GroupStore + ActivityStore, P: Publisher, Q: FlushQueue, B: RestorePoints>
    AlertsService<S, P, Q, B>
{
    pub async fn handle(
        &self,
        payload: Value,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Value, AlertsError> {
        // Only the flush queue's mapping sends SQS events (alerts come by EventBridge and SNS).
        if let Some(records) = parse_flush_event(&payload) {
            // Boxed: the flush's future beside the alerts' would be too deep a type to lay out.
            return Ok(Box::pin(self.handle_flushes(records, ctx, metrics)).await);
        }
        if let Some(command) = parse_command(&payload) {
            let command = command.map_err(AlertsError::BadCommand)?;
            if let AlertsCommand::Explain(req) = &command {
                // Boxed, as the flushes: its future beside the others is too deep to lay out.
                return Box::pin(self.explain(&req.event, ctx)).await;
            }
            return crate::ops::run(
                &self.config,
                &self.store,
                &self.publisher,
                command,
                ctx,
                metrics,
            )
            .await;
        }
        let alerts = normalize(&payload, ctx.now, &self.config.normalize);
        metrics.count("AlertsReceived", alerts.len() as u64);
        let mut outcomes = Vec::with_capacity(alerts.len());
        let mut first_error = None;
        for alert in &alerts {
            // A suite event's activity first: its own alert may be muted, the activity counts.
            let noted = self
                .note_activity(alert, suite_detail(&payload, alert))
                .await;
            let processed = match noted {
                Ok(()) => self.process(alert, ctx, metrics).await,
                Err(e) => Err(e.into()),
            };
            match processed {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => {
                    // Keep going: the others are recorded and will dedup on the retry.
                    tracing::error!(fingerprint = %alert.fingerprint, resource = %alert.resource, error = %e, "alert not published");
                    metrics.count("AlertsFailed", 1);
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        Ok(json!({ "alerts": outcomes }))
    }

    async fn process(
        &self,
        alert: &Alert,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<AlertOutcome, AlertsError> {
        for _ in 0..MAX_VERSION_CONFLICTS {
            let record = self.store.load_state(&alert.fingerprint).await?;
            // The write that follows is conditioned on the stored item's version; the decision
            // is on the record `judged_against` gives (before an abandoned claim).
            let expected = record.as_ref().map(|r| r.version);
            let prev = judged_against(record.as_ref(), ctx.now.timestamp_millis());
            let (decision, mute) = self.judge(prev.as_ref(), alert, ctx.now).await?;
            if records_state(decision) {
                // Before the state record: a record that says "firing" always has its inhibitors.
                self.record_inhibitors(alert).await?;
            }
            let step = match decision {
                Decision::InFlight => {
                    return Err(AlertsError::contended(
                        alert,
                        "another delivery is publishing for this fingerprint; retry later",
                    ));
                }
                Decision::Suppress(reason) => {
                    if let Some(Mute::Held(activity)) = &mute {
                        self.hold(alert, activity, ctx.now).await?;
                    }
                    let prev = Basis {
                        prev: prev.as_ref(),
                        expected,
                    };
                    self.suppress(alert, prev, reason, mute, ctx, metrics)
                        .await?
                }
                Decision::Publish => {
                    let prev = Basis {
                        prev: prev.as_ref(),
                        expected,
                    };
                    let annotated = self.annotated(alert, ctx.now, metrics).await;
                    self.publish(&annotated, prev, ctx, metrics).await?
                }
            };
            if let Step::Settled(outcome) = step {
                self.end_silences_resolved_by(alert, &outcome, ctx.now, metrics)
                    .await?;
                return Ok(*outcome);
            }
        }
        Err(AlertsError::contended(
            alert,
            format!("state changed under us {MAX_VERSION_CONFLICTS} times in a row; retry later"),
        ))
    }

    /// The dedup decision, then (on `Publish` only) [`Self::mutes`].
    pub(crate) async fn judge(
        &self,
        prev: Option<&StoredState>,
        alert: &Alert,
        now: DateTime<Utc>,
    ) -> Result<(Decision, Option<Mute>), AwsCallError> {
        let window_ms = self.config.dedup_window.as_millis() as i64;
        let decision = decide(prev, alert, now.timestamp_millis(), window_ms);
        if decision != Decision::Publish {
            return Ok((decision, None));
        }
        self.mutes(prev, alert, now, HoldCheck::Apply).await
    }

    /// The minimum severity, the silences, the mute windows, the inhibitions and (with
    /// `HoldCheck::Apply`) the hold while the scaler acts; with what muted it.
    pub(crate) async fn mutes(
        &self,
        prev: Option<&StoredState>,
        alert: &Alert,
        now: DateTime<Utc>,
        hold: HoldCheck,
    ) -> Result<(Decision, Option<Mute>), AwsCallError> {
        if !alert.severity.passes(self.config.min_severity) {
            return Ok((
                Decision::Suppress(SuppressReason::BelowMinimumSeverity),
                None,
            ));
        }
        let problem_sent_at = prev
            .filter(|p| p.problem_notified)
            .and_then(|p| p.published_at_ms);
        if let Some(s) = self.matching_silence(alert, problem_sent_at, now).await? {
            return Ok((
                Decision::Suppress(SuppressReason::Silenced),
                Some(Mute::Silence(s.id)),
            ));
        }
        // Overlapping windows: the first configured one that mutes the alert names it.
        let mut windows = self.config.mute_windows.iter();
        if let Some(w) = windows.find_map(|w| w.mutes(alert, problem_sent_at)) {
            return Ok((
                Decision::Suppress(SuppressReason::MuteWindow),
                Some(Mute::Window(w)),
            ));
        }
        if let Some(i) = self.firing_source(alert, now).await? {
            return Ok((
                Decision::Suppress(SuppressReason::Inhibited),
                Some(Mute::Inhibitor(i)),
            ));
        }
        if hold == HoldCheck::Apply
            && let Some(activity) = self.hold_for(alert, now).await
        {
            return Ok((
                Decision::Suppress(SuppressReason::HeldWhileScaling),
                Some(Mute::Held(activity)),
            ));
        }
        Ok((Decision::Publish, None))
    }

    /// Stores `alert` as a firing source of every rule it is a source of (idempotent).
    async fn record_inhibitors(&self, alert: &Alert) -> Result<(), AwsCallError> {
        for rule in &self.config.inhibit_rules {
            if let Some(inhibitor) = rule.inhibitor(alert) {
                // Kept a day past the rule's bound, for `inhibitions` to show what just ended.
                let expires_at = inhibitor.until.timestamp() + 86_400;
                self.store.put_inhibitor(&inhibitor, expires_at).await?;
            }
        }
        Ok(())
    }

    /// A source that mutes `alert` and still fires by its own state record, if any.
    async fn firing_source(
        &self,
        alert: &Alert,
        now: DateTime<Utc>,
    ) -> Result<Option<Inhibitor>, AwsCallError> {
        for rule in &self.config.inhibit_rules {
            let Some(prefix) = rule.target_prefix(alert) else {
                continue;
            };
            for inhibitor in self.store.list_inhibitors(&prefix).await? {
                if inhibitor.source_fingerprint == alert.fingerprint {
                    continue; // an alert never mutes itself
                }
                let record = self.store.load_state(&inhibitor.source_fingerprint).await?;
                if inhibitor.is_firing(record.as_ref(), now) {
                    return Ok(Some(inhibitor));
                }
            }
        }
        Ok(None)
    }

    /// Records the state when the reason asks for it (or a repeat is newer than the record),
    /// counts and logs the suppression.
    pub(crate) async fn suppress(
        &self,
        alert: &Alert,
        basis: Basis<'_>,
        reason: SuppressReason,
        mute: Option<Mute>,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Step, AlertsError> {
        let prev = basis.prev;
        let moves =
            reason == SuppressReason::RepeatWithinWindow && repeat_moves_record(prev, alert);
        if reason.records_state() || moves {
            let next = next_state(prev, alert, None, None);
            let expires_at = state_expiry(ctx.now, self.config.state_ttl);
            let written = self
                .store
                .write_state(alert, &next, basis.expected, expires_at)
                .await?;
            if written == WriteOutcome::ConditionFailed {
                return Ok(Step::VersionMoved);
            }
        }
        self.note_suppressed(alert, reason, mute.as_ref(), ctx, metrics)
            .await;
        Ok(Step::Settled(Box::new(AlertOutcome::suppressed(
            alert,
            reason,
            mute.as_ref(),
        ))))
    }

    /// Counts and logs a suppression, with what muted it.
    async fn note_suppressed(
        &self,
        alert: &Alert,
        reason: SuppressReason,
        mute: Option<&Mute>,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) {
        let label = match mute {
            Some(Mute::Window(w)) => reason_label(&w.name),
            _ => reason.as_str().to_string(),
        };
        metrics.count_by("AlertsSuppressed", "reason", &label, 1);
        match mute {
            Some(Mute::Inhibitor(source)) => self.note_muted(alert, source, ctx, metrics).await,
            Some(Mute::Window(w)) => {
                tracing::info!(fingerprint = %alert.fingerprint, resource = %alert.resource, state = %alert.state,
                    reason = %label, window = %w.name, window_started = %w.started, window_ends = %w.ends,
                    "alert suppressed");
                let muted = MutedTarget::of(alert, &label);
                self.list_muted_under(&muted_key(&w.name), &muted, ctx)
                    .await;
            }
            Some(Mute::Held(a)) => {
                tracing::info!(fingerprint = %alert.fingerprint, resource = %alert.resource, state = %alert.state,
                    reason = %label, held_for = %a.key, until = ?a.settles_by, "alert held while the scaler acts");
            }
            Some(Mute::Silence(id)) => {
                tracing::info!(fingerprint = %alert.fingerprint, resource = %alert.resource, state = %alert.state,
                    reason = %label, silence = %id, "alert suppressed");
            }
            None => {
                tracing::info!(fingerprint = %alert.fingerprint, resource = %alert.resource, state = %alert.state,
                    reason = %label, "alert suppressed");
            }
        }
    }

    /// Counts and logs an inhibited target, and lists it under its source for `inhibitions`.
    async fn note_muted(
        &self,
        alert: &Alert,
        source: &Inhibitor,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) {
        metrics.count_by("AlertsInhibited", "rule", &source.rule, 1);
        tracing::info!(fingerprint = %alert.fingerprint, resource = %alert.resource, state = %alert.state,
            reason = "inhibited", rule = %source.rule, source_fingerprint = %source.source_fingerprint,
            source_resource = %source.source_resource, "alert suppressed");
        let muted = MutedTarget::of(alert, &source.rule);
        self.list_muted_under(&source.source_fingerprint, &muted, ctx)
            .await;
    }

    /// Lists a muted alert under what muted it (an inhibition source, a mute window) for the
    /// ops commands. Its state is recorded already: a failure here is logged, not retried (the
    /// retry would be a redelivery and list nothing either).
    async fn list_muted_under(&self, key: &str, muted: &MutedTarget, ctx: &InvocationContext) {
        let expires_at = state_expiry(ctx.now, self.config.state_ttl);
        if let Err(e) = self.store.put_muted(key, muted, expires_at).await {
            tracing::warn!(fingerprint = %muted.fingerprint, muted_by = %key, error = %e,
                "muted, but not listed under what muted it");
        }
    }

    /// Claims the record, publishes, releases the claim; rolls the claim back if SNS fails.
    pub(crate) async fn publish(
        &self,
        alert: &Alert,
        basis: Basis<'_>,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Step, AlertsError> {
        let prev = basis.prev;
        let now_ms = ctx.now.timestamp_millis();
        let claim_until = Some(ctx.claim_until.timestamp_millis());
        let claimed = next_state(prev, alert, Some(now_ms), claim_until);
        let expires_at = state_expiry(ctx.now, self.config.state_ttl);
        let written = self
            .store
            .write_state(alert, &claimed, basis.expected, expires_at)
            .await?;
        if written == WriteOutcome::ConditionFailed {
            return Ok(Step::VersionMoved);
        }
        let started = std::time::Instant::now();
        // Grouped: joining the group is this alert's publish; the flush sends it. Ungrouped,
        // or its group full: its own message.
        let grouped = match &self.config.group {
            Some(cfg) => Box::pin(self.add_to_group(alert, cfg, ctx)).await,
            None => Ok(None),
        };
        let delivered = match grouped {
            Ok(Some(key)) => Ok(Delivery::Grouped(key)),
            Ok(None) => self
                .publish_routed(alert)
                .await
                .map(Delivery::Message)
                .map_err(AlertsError::from),
            Err(e) => Err(e),
        };
        let delivered = match delivered {
            Ok(d) => d,
            Err(e) => {
                // Roll back (best effort: if this fails too, the claim expires on its own).
                if let Err(rollback) = self.store.roll_back_claim(alert, prev, expires_at).await {
                    tracing::error!(fingerprint = %alert.fingerprint, error = %rollback, "claim roll-back failed; it expires at the invocation deadline");
                }
                return Err(e);
            }
        };
        metrics.record(
            "PublishLatency",
            streamops_shared::Unit::Milliseconds,
            started.elapsed().as_secs_f64() * 1000.0,
        );
        let severity = alert.severity.as_str();
        match delivered {
            Delivery::Message(_) => {
                if self.config.group.is_some() {
                    metrics.count("AlertsGroupOverflow", 1);
                }
                metrics.count_by("AlertsPublished", "severity", severity, 1)
            }
            Delivery::Grouped(_) => metrics.count_by("AlertsGrouped", "severity", severity, 1),
        }
        // The alert is out: failing the invocation now would have its retry (a minute later,
        // past the claim's expiry) publish it again. A claim left behind expires at this
        // invocation's deadline; until then other deliveries back off, after it they are judged
        // against the record before the claim and publish again (at-least-once): a claim
        // nobody released cannot say whether its publish happened.
        self.release(alert).await;
        let outcome = match delivered {
            Delivery::Message(message_id) => {
                tracing::info!(fingerprint = %alert.fingerprint, resource = %alert.resource, state = %alert.state,
                    severity = alert.severity.as_str(), message_id = %message_id, "alert published");
                AlertOutcome::published(alert, message_id)
            }
            Delivery::Grouped(group) => AlertOutcome::grouped(alert, group),
        };
        Ok(Step::Settled(Box::new(outcome)))
    }

    /// Releases this alert's claim, retrying a failed release a few times: a claim left
    /// behind means a second message once it expires.
    async fn release(&self, alert: &Alert) {
        const ATTEMPTS: u64 = 3;
        for attempt in 1..=ATTEMPTS {
            match self
                .store
                .release_claim(&alert.fingerprint, &alert.event_id)
                .await
            {
                Ok(()) => return,
                Err(e) if attempt < ATTEMPTS && e.is_retryable() => {
                    tracing::info!(fingerprint = %alert.fingerprint, error = %e, attempt, "claim release failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(25 * attempt)).await;
                }
                Err(e) => {
                    tracing::warn!(fingerprint = %alert.fingerprint, error = %e,
                        "published, but the claim was not released; it expires at the invocation deadline");
                    return;
                }
            }
        }
    }

    async fn matching_silence(
        &self,
        alert: &Alert,
        problem_sent_at_ms: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Option<Silence>, AwsCallError> {
        Ok(self
            .store
            .list_silences()
            .await?
            .into_iter()
            .find(|s| s.mutes(alert, problem_sent_at_ms, now)))
    }

    /// Ends the "until resolved" silences of an alert that resolved, whatever became of its
    /// notice; after the alert was judged, so the silence still covered its resolution. Not
    /// for a stale (out-of-order) recovery. A redelivery ends them again (idempotent), so an
    /// invocation that failed here settles on its retry.
    async fn end_silences_resolved_by(
        &self,
        alert: &Alert,
        outcome: &AlertOutcome,
        now: DateTime<Utc>,
        metrics: &mut Metrics,
    ) -> Result<(), AwsCallError> {
        if alert.severity != crate::model::Severity::Resolved
            || outcome.reason == Some(SuppressReason::OutOfOrder)
        {
            return Ok(());
        }
        for silence in self.store.list_silences().await? {
            if silence.ended_by(alert, now) && self.store.delete_silence(&silence.id).await? {
                metrics.count("SilencesEnded", 1);
                tracing::info!(silence = %silence.id, fingerprint = %alert.fingerprint,
                    resource = %alert.resource, "silence ended: its alert resolved");
            }
        }
        Ok(())
    }
}

/// The detail of the EventBridge event `alert` came from, when it is one of the suite's own
/// (the activities are read from it).
fn suite_detail<'a>(payload: &'a Value, alert: &Alert) -> Option<&'a Value> {
    let source = payload.get("source").and_then(Value::as_str)?;
    (source == alert.source && source.starts_with("streamops."))
        .then(|| payload.get("detail"))
        .flatten()
}

/// Whether the alert's state is recorded under this decision (and so a source it is fires).
fn records_state(decision: Decision) -> bool {
    match decision {
        Decision::Publish => true,
        Decision::Suppress(reason) => reason.records_state(),
        Decision::InFlight => false,
    }
}

/// The TTL for a state item written now.
fn state_expiry(now: DateTime<Utc>, ttl: std::time::Duration) -> i64 {
    now.timestamp() + ttl.as_secs() as i64
}
