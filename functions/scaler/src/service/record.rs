//! Where decisions go: the target's audit trail (the record), the function's metrics and log,
//! and, for those worth a look, a notification for the alerts function.

use chrono::{DateTime, Utc};
use serde_json::Value;
use streamops_shared::Metrics;

use super::{ScalerError, ScalerService};
use crate::audit::{AuditEntry, Outcome, Progress, decision_id};
use crate::notify;
use crate::policy::ScalingDecision;
use crate::ports::{Notifier, Ports, StateStore};

/// The audit sequence number of progress entries (after an invocation's decisions).
const PROGRESS_SEQ: usize = 99;

impl<P: Ports> ScalerService<P> {
    /// A decision: when `live`, audited as the invocation's `seq`th, counted, logged and
    /// notified. Returns the entry as the response shows it.
    pub(crate) async fn record(
        &self,
        entry: AuditEntry,
        seq: usize,
        live: bool,
        metrics: &mut Metrics,
    ) -> Result<Value, ScalerError> {
        let json = entry.to_json();
        if live {
            let target = entry.target();
            self.ports
                .store()
                .audit(target, &entry, entry.at, seq)
                .await?;
            count(&entry, metrics);
            tracing::info!(target = target, decision = %json, "scaling decision");
            self.publish(&entry, decision_id(target, entry.at, seq), metrics)
                .await;
        }
        Ok(json)
    }

    /// What came of acting, audited (under `now`, after the decisions) and notified when worth
    /// a look (not rescale progress or shrink plans).
    pub(crate) async fn note(
        &self,
        progress: Progress,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
        metrics: &mut Metrics,
    ) -> Result<Value, ScalerError> {
        let entry = AuditEntry::progress(progress, at);
        let target = entry.target().to_string();
        self.ports
            .store()
            .audit(&target, &entry, now, PROGRESS_SEQ)
            .await?;
        let json = entry.to_json();
        tracing::info!(target = target, entry = %json, "scaling progress");
        self.publish(&entry, decision_id(&target, now, PROGRESS_SEQ), metrics)
            .await;
        Ok(json)
    }

    /// The audit trail is the record; a notification that cannot be sent is logged and counted.
    async fn publish(&self, entry: &AuditEntry, id: String, metrics: &mut Metrics) {
        let Some(mut event) = notify::event(entry, id, &self.config.function_name) else {
            return;
        };
        if let Some(policy) = self.config.policies.target(entry.target()) {
            event = event.with_target(policy);
        }
        if let Err(e) = self.ports.notifier().publish(&event).await {
            metrics.count("AlertPublishErrors", 1);
            tracing::error!(error = %e, "could not publish the scaling decision");
        }
    }
}

fn count(entry: &AuditEntry, metrics: &mut Metrics) {
    let Outcome::Decision(decision) = &entry.outcome else {
        return;
    };
    match decision {
        ScalingDecision::Act { target, .. } => {
            metrics.count_by("ScalingActions", "target", target, 1)
        }
        ScalingDecision::Skip { reason, .. } => {
            metrics.count_by("ScalingSkipped", "reason", reason.as_str(), 1)
        }
        ScalingDecision::Defer { reason, .. } => {
            metrics.count_by("ScalingDeferred", "reason", reason.as_str(), 1)
        }
    }
}
