//! The normalized alert every input becomes, and its severity.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use streamops_shared::alarm::SuppressedBy;

/// Ordered from most to least urgent; `Resolved` is the notice that a problem ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Error,
    Warning,
    Info,
    Resolved,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
            Severity::Resolved => "resolved",
        }
    }

    /// Whether an alert of this severity passes a minimum-severity filter. Resolved notices
    /// always pass: a recovery must reach whoever saw the problem.
    pub fn passes(self, minimum: Severity) -> bool {
        self == Severity::Resolved || self <= minimum
    }

    /// A problem worth a later "resolved" notice.
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            Severity::Critical | Severity::Error | Severity::Warning
        )
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" => Ok(Severity::Critical),
            "error" => Ok(Severity::Error),
            "warning" => Ok(Severity::Warning),
            "info" => Ok(Severity::Info),
            "resolved" => Ok(Severity::Resolved),
            other => Err(format!(
                "unknown severity {other:?} (critical, error, warning, info, resolved)"
            )),
        }
    }
}

/// What kind of input produced the alert; decides recovery handling and rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertKind {
    MetricAlarm,
    CompositeAlarm,
    EmrCluster,
    EmrStep,
    EmrInstanceGroup,
    EmrInstanceFleet,
    EmrAutoScalingPolicy,
    FunctionFailure,
    /// A pipeline's checkpoint health (the checkpoints function's events): late, failing, or
    /// healthy again.
    CheckpointHealth,
    Generic,
    Test,
}

impl AlertKind {
    pub const ALL: [AlertKind; 11] = [
        AlertKind::MetricAlarm,
        AlertKind::CompositeAlarm,
        AlertKind::EmrCluster,
        AlertKind::EmrStep,
        AlertKind::EmrInstanceGroup,
        AlertKind::EmrInstanceFleet,
        AlertKind::EmrAutoScalingPolicy,
        AlertKind::FunctionFailure,
        AlertKind::CheckpointHealth,
        AlertKind::Generic,
        AlertKind::Test,
    ];

    /// The kebab-case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::MetricAlarm => "metric-alarm",
            AlertKind::CompositeAlarm => "composite-alarm",
            AlertKind::EmrCluster => "emr-cluster",
            AlertKind::EmrStep => "emr-step",
            AlertKind::EmrInstanceGroup => "emr-instance-group",
            AlertKind::EmrInstanceFleet => "emr-instance-fleet",
            AlertKind::EmrAutoScalingPolicy => "emr-auto-scaling-policy",
            AlertKind::FunctionFailure => "function-failure",
            AlertKind::CheckpointHealth => "checkpoint-health",
            AlertKind::Generic => "generic",
            AlertKind::Test => "test",
        }
    }

    pub fn is_alarm(self) -> bool {
        matches!(self, AlertKind::MetricAlarm | AlertKind::CompositeAlarm)
    }

    /// Kinds whose `OK` state is a recovery of an earlier problem (resolved only when the
    /// problem was heard): alarms, and checkpoint health, which reports every evaluation.
    pub fn has_recoveries(self) -> bool {
        self.is_alarm() || self == AlertKind::CheckpointHealth
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    pub severity: Severity,
    pub title: String,
    pub summary: String,
    /// Event source, e.g. `aws.cloudwatch`, `aws.emr`, `aws.lambda`.
    pub source: String,
    /// The EventBridge detail-type, or the closest equivalent.
    pub detail_type: String,
    /// What the alert is about: alarm name, cluster id, cluster/step, function name.
    pub resource: String,
    pub region: Option<String>,
    pub account: Option<String>,
    /// When the reported state began (alarm state timestamp, event time).
    pub time: DateTime<Utc>,
    /// The state reported (ALARM, OK, TERMINATED_WITH_ERRORS, FAILED, ...).
    pub state: String,
    pub previous_state: Option<String>,
    /// The delivery's identity (EventBridge id, SNS MessageId): a redelivery carries the same one.
    pub event_id: String,
    pub console_url: Option<String>,
    pub runbook_url: Option<String>,
    /// Extra facts for the message body, in display order.
    pub details: Vec<(String, String)>,
    pub fingerprint: String,
    /// Set when CloudWatch suppressed the alarm actions of this transition (a composite alarm's
    /// actions suppressor): it is recorded, not paged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed_by: Option<SuppressedBy>,
    /// Facts inhibition rules match on, besides the built-in ones ([`Alert::label`]): e.g.
    /// `cluster_id` (EMR events, alarm dimensions `JobFlowId`/`ClusterId`), `namespace` and
    /// `metric` (an alarm's first metric), and those `ALERTS_RESOURCE_LABELS` gives.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Label names every alert answers from its own fields.
pub const BUILT_IN_LABELS: &[&str] = &[
    "kind", "severity", "state", "source", "resource", "account", "region",
];

impl Alert {
    /// The value of a label: a built-in one (see [`BUILT_IN_LABELS`]) or one of `labels`.
    pub fn label(&self, name: &str) -> Option<&str> {
        match name {
            "kind" => Some(self.kind.as_str()),
            "severity" => Some(self.severity.as_str()),
            "state" => Some(&self.state),
            "source" => Some(&self.source),
            "resource" => Some(&self.resource),
            "account" => self.account.as_deref(),
            "region" => self.region.as_deref(),
            other => self.labels.get(other).map(String::as_str),
        }
    }
}

/// Dedup identity of "the same thing": account, region, source and resource. Two deliveries of
/// the same alarm (EventBridge and SNS) share it; different alarms never do.
pub fn fingerprint(
    account: Option<&str>,
    region: Option<&str>,
    source: &str,
    resource: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        account.unwrap_or(""),
        region.unwrap_or(""),
        source,
        resource,
    ] {
        h.update(part.as_bytes());
        h.update([0x1f]); // unit separator: ("a","bc") and ("ab","c") must differ
    }
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_filter_keeps_more_urgent_and_resolved() {
        assert!(Severity::Critical.passes(Severity::Warning));
        assert!(Severity::Warning.passes(Severity::Warning));
        assert!(!Severity::Info.passes(Severity::Warning));
        assert!(Severity::Resolved.passes(Severity::Critical));
    }

    #[test]
    fn fingerprint_is_stable_and_separates_fields() {
        let a = fingerprint(Some("1"), Some("us-east-1"), "aws.cloudwatch", "alarm-a");
        assert_eq!(
            a,
            fingerprint(Some("1"), Some("us-east-1"), "aws.cloudwatch", "alarm-a")
        );
        assert_eq!(a.len(), 32);
        assert_ne!(
            a,
            fingerprint(Some("1"), Some("us-east-1"), "aws.cloudwatch", "alarm-b")
        );
        assert_ne!(
            fingerprint(Some("1"), Some("us"), "x", "ab"),
            fingerprint(Some("1"), Some("us"), "xa", "b")
        );
    }

    #[test]
    fn kind_names_are_their_serialized_names() {
        for kind in AlertKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn severity_parses_case_insensitively_and_rejects_unknown() {
        assert_eq!("CRITICAL".parse::<Severity>().unwrap(), Severity::Critical);
        assert!(
            "loud"
                .parse::<Severity>()
                .unwrap_err()
                .contains("unknown severity")
        );
    }
}
