//! What an invocation works with and reports: the runtime facts it is given, the outcome of
//! each alert, and the error it fails with.

use chrono::{DateTime, Utc};
use serde::Serialize;
use streamops_shared::harness::Classified;
use streamops_shared::{AwsCallError, ErrorClass};

use crate::dedup::SuppressReason;
use streamops_shared::window::ActiveWindow;

use crate::context::Activity;
use crate::inhibit::Inhibitor;
use crate::model::{Alert, Severity};

/// Per-invocation facts the handler needs from the runtime.
pub struct InvocationContext {
    pub request_id: String,
    pub now: DateTime<Utc>,
    /// Until when a claim taken now should hold (the invocation's deadline).
    pub claim_until: DateTime<Utc>,
}

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

impl AlertsError {
    /// The alert could not be settled now (another delivery holds it, or its record kept
    /// changing): the retry settles it.
    pub(crate) fn contended(alert: &Alert, message: impl Into<String>) -> Self {
        AlertsError::Alert {
            fingerprint: alert.fingerprint.clone(),
            resource: alert.resource.clone(),
            message: message.into(),
        }
    }
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

/// Whether an alert was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Published,
    Suppressed,
    /// Joined its group: the group's flush publishes it (with `ALERTS_GROUP_BY`).
    Grouped,
}

/// What happened to one alert, returned to the caller and logged.
#[derive(Debug, Clone, Serialize)]
pub struct AlertOutcome {
    pub fingerprint: String,
    pub resource: String,
    pub severity: Severity,
    pub title: String,
    pub decision: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<SuppressReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub silence_id: Option<String>,
    /// The fingerprint of the firing source that inhibited it, and the rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inhibited_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inhibit_rule: Option<String>,
    /// The mute window in effect, and when its occurrence ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mute_window: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mute_window_ends: Option<DateTime<Utc>>,
    /// The group key it joined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Held while the scaler acts (`ALERTS_HOLD_DURING_SCALING`): the activity, and until when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_for: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_until: Option<DateTime<Utc>>,
}

/// What muted an alert besides its own history: an operator's silence, a firing source or a
/// mute window's occurrence.
#[derive(Debug, Clone)]
pub(crate) enum Mute {
    Silence(String),
    Inhibitor(Inhibitor),
    Window(ActiveWindow),
    /// Held until the scaling activity should have settled.
    Held(Activity),
}

impl AlertOutcome {
    pub(crate) fn published(alert: &Alert, message_id: String) -> Self {
        Self::new(alert, Verdict::Published, None, Some(message_id))
    }

    pub(crate) fn grouped(alert: &Alert, group: String) -> Self {
        let mut out = Self::new(alert, Verdict::Grouped, None, None);
        out.group = Some(group);
        out
    }

    pub(crate) fn suppressed(alert: &Alert, reason: SuppressReason, mute: Option<&Mute>) -> Self {
        let mut out = Self::new(alert, Verdict::Suppressed, Some(reason), None);
        match mute {
            Some(Mute::Silence(id)) => out.silence_id = Some(id.clone()),
            Some(Mute::Inhibitor(i)) => {
                out.inhibited_by = Some(i.source_fingerprint.clone());
                out.inhibit_rule = Some(i.rule.clone());
            }
            Some(Mute::Window(w)) => {
                out.mute_window = Some(w.name.clone());
                out.mute_window_ends = Some(w.ends);
            }
            Some(Mute::Held(a)) => {
                out.held_for = Some(a.key.clone());
                out.held_until = a.settles_by;
            }
            None => {}
        }
        out
    }

    fn new(
        alert: &Alert,
        decision: Verdict,
        reason: Option<SuppressReason>,
        message_id: Option<String>,
    ) -> Self {
        Self {
            fingerprint: alert.fingerprint.clone(),
            resource: alert.resource.clone(),
            severity: alert.severity,
            title: alert.title.clone(),
            decision,
            reason,
            message_id,
            silence_id: None,
            inhibited_by: None,
            inhibit_rule: None,
            mute_window: None,
            mute_window_ends: None,
            group: None,
            held_for: None,
            held_until: None,
        }
    }
}
