//! What a decision sees of a target ([`Observed`]) and what it comes to ([`ScalingDecision`],
//! with a [`SkipReason`] when it does not act).

use serde::{Deserialize, Serialize};

use crate::sizing::Alignment;

/// The target as its service reports it now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "observed", rename_all = "snake_case")]
pub enum Observed {
    Ready {
        size: u32,
        alignment: Alignment,
        /// A hard ceiling of the target itself (a Flink job's max parallelism, a stream's shards
        /// within the account's shard quota).
        max_size: Option<u32>,
        /// HDFS utilisation of a core group's cluster, which bounds how far it may shrink.
        hdfs_percent: Option<f64>,
    },
    /// Changing already (stream UPDATING, group RESIZING, cluster not RUNNING/WAITING).
    Busy { detail: String },
    /// Nothing to scale (an on-demand stream).
    Unsupported { detail: String },
    /// Another autoscaler owns the target (EMR managed scaling, Flink's autoscaler).
    OwnedElsewhere { detail: String },
}

impl Observed {
    pub fn ready(size: u32) -> Self {
        Observed::Ready {
            size,
            alignment: Alignment::None,
            max_size: None,
            hdfs_percent: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    Duplicate,
    Paused,
    Cooldown,
    AtBound,
    Busy,
    Unsupported,
    QuotaExhausted,
    NotAlarm,
    Concurrent,
    /// The alarm's metric, re-read now, no longer breaches.
    Recovered,
    /// A scale-in waits for its delay window to pass.
    Stabilising,
    /// No scale-in while a backlog is being drained.
    Draining,
    /// An earlier scale-up did not raise throughput as expected.
    Ineffective,
    /// Proportional sizing finds the current size enough (out) or needed (in).
    Sufficient,
    /// The load metrics proportional sizing needs have no recent data.
    NoData,
    /// Another autoscaler owns the target.
    OwnedElsewhere,
    /// Shrinking would leave HDFS fuller than the policy allows.
    HdfsProtection,
    /// CloudWatch suppressed the alarm's actions for this transition (composite alarm with an
    /// actions suppressor in ALARM, or inside its wait or extension period).
    ActionsSuppressed,
    /// One of the target's excluded periods is in effect (the detail names it and its end).
    ExcludedPeriod,
}

impl SkipReason {
    /// The name the audit trail, the metrics and the notifications use (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Duplicate => "duplicate",
            SkipReason::Paused => "paused",
            SkipReason::Cooldown => "cooldown",
            SkipReason::AtBound => "at_bound",
            SkipReason::Busy => "busy",
            SkipReason::Unsupported => "unsupported",
            SkipReason::QuotaExhausted => "quota_exhausted",
            SkipReason::NotAlarm => "not_alarm",
            SkipReason::Concurrent => "concurrent",
            SkipReason::Recovered => "recovered",
            SkipReason::Stabilising => "stabilising",
            SkipReason::Draining => "draining",
            SkipReason::Ineffective => "ineffective",
            SkipReason::Sufficient => "sufficient",
            SkipReason::NoData => "no_data",
            SkipReason::OwnedElsewhere => "owned_elsewhere",
            SkipReason::HdfsProtection => "hdfs_protection",
            SkipReason::ActionsSuppressed => "actions_suppressed",
            SkipReason::ExcludedPeriod => "excluded_period",
        }
    }

    /// Every reason, for exhaustive checks.
    pub const ALL: [SkipReason; 19] = [
        SkipReason::Duplicate,
        SkipReason::Paused,
        SkipReason::Cooldown,
        SkipReason::AtBound,
        SkipReason::Busy,
        SkipReason::Unsupported,
        SkipReason::QuotaExhausted,
        SkipReason::NotAlarm,
        SkipReason::Concurrent,
        SkipReason::Recovered,
        SkipReason::Stabilising,
        SkipReason::Draining,
        SkipReason::Ineffective,
        SkipReason::Sufficient,
        SkipReason::NoData,
        SkipReason::OwnedElsewhere,
        SkipReason::HdfsProtection,
        SkipReason::ActionsSuppressed,
        SkipReason::ExcludedPeriod,
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ScalingDecision {
    Act {
        target: String,
        from: u32,
        to: u32,
        reason: String,
    },
    Skip {
        target: String,
        reason: SkipReason,
        detail: String,
    },
    /// Not now, but not dropped: the schedule re-evaluates it (busy target, no load data yet).
    Defer {
        target: String,
        reason: SkipReason,
        detail: String,
    },
}

impl ScalingDecision {
    pub fn skip(target: &str, reason: SkipReason, detail: impl Into<String>) -> Self {
        ScalingDecision::Skip {
            target: target.to_string(),
            reason,
            detail: detail.into(),
        }
    }

    pub fn target(&self) -> &str {
        match self {
            ScalingDecision::Act { target, .. }
            | ScalingDecision::Skip { target, .. }
            | ScalingDecision::Defer { target, .. } => target,
        }
    }

    pub fn defer(target: &str, reason: SkipReason, detail: impl Into<String>) -> Self {
        ScalingDecision::Defer {
            target: target.to_string(),
            reason,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_are_their_serde_names() {
        for r in SkipReason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}
