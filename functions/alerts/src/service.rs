//! The handler: route a payload to an ops command or to normalization, run the dedup protocol
//! for each alert, publish, and report what happened.
//!
//! Publish protocol for one alert (Powertools' idempotency design, keyed on the fingerprint):
//! read the record, decide (pure), write the new record with a claim conditioned on the version
//! read, publish, then release the claim. If the publish fails the claim is rolled back and the
//! invocation fails, so the event source retries and the retry publishes. If the invocation dies
//! between claim and publish, the claim expires and a redelivery of the same event publishes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use streamops_shared::ErrorClass;
use streamops_shared::dynamo::WriteOutcome;
use streamops_shared::harness::Classified;
use streamops_shared::{AwsCallError, Metrics};

use crate::config::AlertsConfig;
use crate::dedup::{Decision, SuppressReason, decide, next_state};
use crate::model::{Alert, AlertKind, Severity, fingerprint};
use crate::normalize::normalize;
use crate::ops::{AlertsCommand, parse_command};
use crate::publisher::AlertPublisher;
use crate::render::render;
use crate::silence::{Silence, create_silence};
use crate::store::{AlertStore, state_expiry};

/// How often a read-decide-write cycle is retried when another invocation wrote in between.
const MAX_VERSION_CONFLICTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    #[error("{0}")]
    Aws(#[from] AwsCallError),
    #[error("{0}")]
    BadCommand(String),
    #[error("alert {fingerprint} ({resource}): {message}")]
    Alert {
        fingerprint: String,
        resource: String,
        message: String,
    },
}

impl Classified for AlertsError {
    fn class(&self) -> ErrorClass {
        match self {
            AlertsError::Aws(e) => e.class,
            AlertsError::BadCommand(_) => ErrorClass::Permanent,
            // A concurrent delivery or a state that kept changing: the retry publishes.
            AlertsError::Alert { .. } => ErrorClass::Retryable,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            AlertsError::Aws(_) => "AwsCall",
            AlertsError::BadCommand(_) => "BadCommand",
            AlertsError::Alert { .. } => "AlertContended",
        }
    }
}

/// What happened to one alert, returned to the caller and logged.
#[derive(Debug, Clone, Serialize)]
pub struct AlertOutcome {
    pub fingerprint: String,
    pub resource: String,
    pub severity: Severity,
    pub title: String,
    pub decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub silence_id: Option<String>,
}

pub struct AlertsService {
    pub config: AlertsConfig,
    pub store: AlertStore,
    pub publisher: AlertPublisher,
}

/// Per-invocation facts the handler needs from the runtime.
pub struct InvocationContext {
    pub request_id: String,
    pub now: DateTime<Utc>,
    /// Until when a claim taken now should hold (the invocation's deadline).
    pub claim_until: DateTime<Utc>,
}

impl AlertsService {
    pub async fn handle(
        &self,
        payload: Value,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Value, AlertsError> {
        if let Some(command) = parse_command(&payload) {
            let command = command.map_err(AlertsError::BadCommand)?;
            return self.run_command(command, ctx, metrics).await;
        }
        let alerts = normalize(&payload, ctx.now, &self.config.normalize);
        metrics.count("AlertsReceived", alerts.len() as u64);
        let mut outcomes = Vec::with_capacity(alerts.len());
        let mut first_error = None;
        for alert in &alerts {
            match self.process(alert, ctx, metrics).await {
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
        let now_ms = ctx.now.timestamp_millis();
        let window_ms = self.config.dedup_window.as_millis() as i64;
        let expires_at = state_expiry(ctx.now, self.config.state_ttl);
        for _ in 0..MAX_VERSION_CONFLICTS {
            let prev = self.store.load_state(&alert.fingerprint).await?;
            let mut decision = decide(prev.as_ref(), alert, now_ms, window_ms);
            let mut silence_id = None;
            if decision == Decision::Publish {
                if !alert.severity.passes(self.config.min_severity) {
                    decision = Decision::Suppress(SuppressReason::BelowMinimumSeverity);
                } else if let Some(s) = self.matching_silence(alert, ctx.now).await? {
                    silence_id = Some(s.id);
                    decision = Decision::Suppress(SuppressReason::Silenced);
                }
            }
            let expected = prev.as_ref().map(|p| p.version);
            match decision {
                Decision::InFlight => {
                    return Err(AlertsError::Alert {
                        fingerprint: alert.fingerprint.clone(),
                        resource: alert.resource.clone(),
                        message: "another delivery is publishing for this fingerprint; retry later"
                            .into(),
                    });
                }
                Decision::Suppress(reason) => {
                    if reason.records_state() {
                        let next = next_state(prev.as_ref(), alert, None, None);
                        if self
                            .store
                            .write_state(alert, &next, expected, expires_at)
                            .await?
                            == WriteOutcome::ConditionFailed
                        {
                            continue;
                        }
                    }
                    metrics.count_by("AlertsSuppressed", "reason", reason.as_str(), 1);
                    tracing::info!(fingerprint = %alert.fingerprint, resource = %alert.resource, state = %alert.state,
                        reason = reason.as_str(), silence = silence_id.as_deref().unwrap_or(""), "alert suppressed");
                    return Ok(outcome(
                        alert,
                        "suppressed",
                        Some(reason.as_str()),
                        None,
                        silence_id,
                    ));
                }
                Decision::Publish => {
                    let claimed = next_state(
                        prev.as_ref(),
                        alert,
                        Some(now_ms),
                        Some(ctx.claim_until.timestamp_millis()),
                    );
                    if self
                        .store
                        .write_state(alert, &claimed, expected, expires_at)
                        .await?
                        == WriteOutcome::ConditionFailed
                    {
                        continue;
                    }
                    let message = render(alert, self.config.format);
                    let started = std::time::Instant::now();
                    match self.publisher.publish(&message).await {
                        Ok(message_id) => {
                            metrics.record(
                                "PublishLatency",
                                streamops_shared::Unit::Milliseconds,
                                started.elapsed().as_secs_f64() * 1000.0,
                            );
                            metrics.count_by(
                                "AlertsPublished",
                                "severity",
                                alert.severity.as_str(),
                                1,
                            );
                            self.store
                                .release_claim(&alert.fingerprint, &alert.event_id)
                                .await?;
                            tracing::info!(fingerprint = %alert.fingerprint, resource = %alert.resource, state = %alert.state,
                                severity = alert.severity.as_str(), message_id = %message_id, "alert published");
                            return Ok(outcome(alert, "published", None, Some(message_id), None));
                        }
                        Err(e) => {
                            // Roll back (best effort: if this fails too, the claim expires on its own).
                            if let Err(rollback) = self
                                .store
                                .roll_back_claim(alert, prev.as_ref(), expires_at)
                                .await
                            {
                                tracing::error!(fingerprint = %alert.fingerprint, error = %rollback, "claim roll-back failed; it expires at the invocation deadline");
                            }
                            return Err(e.into());
                        }
                    }
                }
            }
        }
        Err(AlertsError::Alert {
            fingerprint: alert.fingerprint.clone(),
            resource: alert.resource.clone(),
            message: format!(
                "state changed under us {MAX_VERSION_CONFLICTS} times in a row; retry later"
            ),
        })
    }

    async fn matching_silence(
        &self,
        alert: &Alert,
        now: DateTime<Utc>,
    ) -> Result<Option<Silence>, AwsCallError> {
        Ok(self
            .store
            .list_silences()
            .await?
            .into_iter()
            .find(|s| s.matches(alert, now)))
    }

    async fn run_command(
        &self,
        command: AlertsCommand,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Value, AlertsError> {
        match command {
            AlertsCommand::SendTestAlert(req) => {
                let severity = req.severity.unwrap_or(Severity::Info);
                let region = crate::normalize::region_from_arn(&self.config.topic_arn);
                let alert = test_alert(severity, req.message, region, ctx);
                let message_id = self
                    .publisher
                    .publish(&render(&alert, self.config.format))
                    .await?;
                metrics.count("TestAlertsPublished", 1);
                tracing::info!(message_id = %message_id, "test alert published");
                Ok(
                    json!({ "command": "send-test-alert", "message_id": message_id, "fingerprint": alert.fingerprint, "subject": crate::render::subject(&alert) }),
                )
            }
            AlertsCommand::CreateSilence(req) => {
                let id = silence_id(&ctx.request_id);
                let silence = create_silence(req, id, ctx.now).map_err(AlertsError::BadCommand)?;
                self.store.put_silence(&silence).await?;
                tracing::info!(silence = %silence.id, ends_at = %silence.ends_at, "silence created");
                Ok(json!({ "command": "create-silence", "silence": silence }))
            }
            AlertsCommand::ListSilences(req) => {
                let mut silences = self.store.list_silences().await?;
                if !req.include_expired {
                    silences.retain(|s| s.is_active(ctx.now));
                }
                silences.sort_by_key(|s| s.ends_at);
                Ok(json!({ "command": "list-silences", "silences": silences }))
            }
            AlertsCommand::RemoveSilence(req) => {
                if !self.store.delete_silence(&req.id).await? {
                    return Err(AlertsError::BadCommand(format!(
                        "no silence with id {:?} (list-silences shows the ids)",
                        req.id
                    )));
                }
                tracing::info!(silence = %req.id, "silence removed");
                Ok(json!({ "command": "remove-silence", "removed": req.id }))
            }
        }
    }
}

fn outcome(
    alert: &Alert,
    decision: &'static str,
    reason: Option<&'static str>,
    message_id: Option<String>,
    silence_id: Option<String>,
) -> AlertOutcome {
    AlertOutcome {
        fingerprint: alert.fingerprint.clone(),
        resource: alert.resource.clone(),
        severity: alert.severity,
        title: alert.title.clone(),
        decision,
        reason,
        message_id,
        silence_id,
    }
}

fn silence_id(request_id: &str) -> String {
    let digest = Sha256::digest(request_id.as_bytes());
    format!("sil-{}", &hex::encode(digest)[..12])
}

fn test_alert(
    severity: Severity,
    message: Option<String>,
    region: Option<String>,
    ctx: &InvocationContext,
) -> Alert {
    let resource = "streamops-test-alert".to_string();
    Alert {
        kind: AlertKind::Test,
        severity,
        title: "Test alert from streamops".into(),
        summary: message.unwrap_or_else(|| {
            "This is a test alert sent with the send-test-alert ops command.".into()
        }),
        source: "streamops.alerts".into(),
        detail_type: "Test Alert".into(),
        fingerprint: fingerprint(None, None, "streamops.alerts", &resource),
        resource,
        region,
        account: None,
        time: ctx.now,
        state: "TEST".into(),
        previous_state: None,
        event_id: ctx.request_id.clone(),
        console_url: None,
        runbook_url: None,
        details: vec![("request id".into(), ctx.request_id.clone())],
        suppressed_by: None,
    }
}
