//! What the audit trail records, as enums: every decision ([`ScalingDecision`]) and every
//! outcome of acting on one or of an ops command ([`Progress`]), each with its time and, for a
//! decision an alarm asked for, the alarm. Serialized as the flat JSON objects the trail has
//! always held (`{"decision": "act", "target": ..., "at": ...}`).

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use crate::policy::{FlinkRescaleMode, ScalingDecision};
use crate::rescale::RescalePhase;

/// One entry of a target's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    #[serde(flatten)]
    pub outcome: Outcome,
    #[serde(serialize_with = "rfc3339")]
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    /// What was decided: act, skip or defer.
    Decision(ScalingDecision),
    /// What came of acting (or of an ops command).
    Progress(Progress),
}

/// What came of an action, a rescale step or an ops command.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Progress {
    /// The resize or rescale did not happen (the target runs as before); `phase` when a
    /// savepoint is overdue and still watched.
    Failed {
        target: String,
        from: u32,
        to: u32,
        error: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        phase: Option<RescalePhase>,
    },
    /// Which nodes a group scale-in asked EMR to terminate (those YARN reported empty).
    ShrinkPlan {
        target: String,
        from: u32,
        to: u32,
        instances_to_terminate: Vec<String>,
    },
    /// A Flink job runs at its new parallelism.
    Rescaled {
        target: String,
        from: u32,
        to: u32,
        job_id: String,
        mode: FlinkRescaleMode,
        #[serde(skip_serializing_if = "Option::is_none")]
        savepoint: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        parallelism: Option<u32>,
        /// How long a savepoint rescale stopped the job (stop to the new job running), as
        /// measured and remembered for `measured_restart`.
        #[serde(skip_serializing_if = "Option::is_none")]
        restart_seconds: Option<f64>,
    },
    /// A savepoint rescale carries on in a later invocation.
    RescaleInProgress {
        target: String,
        from: u32,
        to: u32,
        phase: RescalePhase,
        detail: String,
    },
    /// The job is stopped and could not be resubmitted: a human must act.
    Stranded {
        target: String,
        from: u32,
        to: u32,
        error: String,
        phase: RescalePhase,
    },
    Paused {
        target: String,
    },
    Resumed {
        target: String,
    },
}

impl Progress {
    pub fn target(&self) -> &str {
        match self {
            Progress::Failed { target, .. }
            | Progress::ShrinkPlan { target, .. }
            | Progress::Rescaled { target, .. }
            | Progress::RescaleInProgress { target, .. }
            | Progress::Stranded { target, .. }
            | Progress::Paused { target }
            | Progress::Resumed { target } => target,
        }
    }
}

impl AuditEntry {
    pub fn decision(decision: ScalingDecision, at: DateTime<Utc>, alarm: Option<&str>) -> Self {
        AuditEntry {
            outcome: Outcome::Decision(decision),
            at,
            alarm: alarm.map(str::to_string),
        }
    }

    pub fn progress(progress: Progress, at: DateTime<Utc>) -> Self {
        AuditEntry {
            outcome: Outcome::Progress(progress),
            at,
            alarm: None,
        }
    }

    pub fn target(&self) -> &str {
        match &self.outcome {
            Outcome::Decision(d) => d.target(),
            Outcome::Progress(p) => p.target(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        // Strings, numbers and JSON values: serializing cannot fail.
        serde_json::to_value(self).expect("audit entries serialize")
    }
}

/// The sort key of an entry in the target's trail (`AUDIT#<time>#<n>`): entries of one
/// invocation are told apart by `seq`.
pub fn audit_key(now: DateTime<Utc>, seq: usize) -> String {
    format!("AUDIT#{}#{seq:04}", now.to_rfc3339())
}

/// A decision's identity: its target and its place in the target's audit trail. A notification
/// carries it, so alerts can tell a resent event from a new decision.
pub fn decision_id(target: &str, now: DateTime<Utc>, seq: usize) -> String {
    format!("{target}/{}/{seq:04}", now.to_rfc3339())
}

/// The time as the trail has always written it (`to_rfc3339`, `+00:00`).
fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::SkipReason;
    use serde_json::json;

    fn at() -> DateTime<Utc> {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn entries_serialize_as_the_flat_objects_of_the_trail() {
        let act = ScalingDecision::Act {
            target: "raw".into(),
            from: 2,
            to: 4,
            reason: "why".into(),
        };
        assert_eq!(
            AuditEntry::decision(act, at(), Some("lag")).to_json(),
            json!({"decision": "act", "target": "raw", "from": 2, "to": 4, "reason": "why",
                   "at": "2026-11-23T10:00:00+00:00", "alarm": "lag"})
        );
        let skip = ScalingDecision::skip("raw", SkipReason::Cooldown, "wait");
        assert_eq!(
            AuditEntry::decision(skip, at(), None).to_json(),
            json!({"decision": "skip", "target": "raw", "reason": "cooldown", "detail": "wait",
                   "at": "2026-11-23T10:00:00+00:00"})
        );
        let plan = Progress::ShrinkPlan {
            target: "g".into(),
            from: 2,
            to: 1,
            instances_to_terminate: vec!["i-1".into()],
        };
        assert_eq!(
            AuditEntry::progress(plan, at()).to_json(),
            json!({"decision": "shrink_plan", "target": "g", "from": 2, "to": 1,
                   "instances_to_terminate": ["i-1"], "at": "2026-11-23T10:00:00+00:00"})
        );
        let phase = RescalePhase::Stopping {
            trigger_id: "t".into(),
        };
        let waiting = Progress::RescaleInProgress {
            target: "job".into(),
            from: 1,
            to: 2,
            phase,
            detail: "d".into(),
        };
        assert_eq!(
            AuditEntry::progress(waiting, at()).to_json(),
            json!({"decision": "rescale_in_progress", "target": "job", "from": 1, "to": 2,
                   "phase": {"phase": "stopping", "trigger_id": "t"}, "detail": "d",
                   "at": "2026-11-23T10:00:00+00:00"})
        );
        let adaptive = Progress::Rescaled {
            target: "job".into(),
            from: 1,
            to: 2,
            job_id: "j".into(),
            mode: FlinkRescaleMode::Adaptive,
            savepoint: None,
            parallelism: None,
            restart_seconds: None,
        };
        assert_eq!(
            AuditEntry::progress(adaptive, at()).to_json(),
            json!({"decision": "rescaled", "target": "job", "from": 1, "to": 2, "job_id": "j",
                   "mode": "adaptive", "at": "2026-11-23T10:00:00+00:00"})
        );
        assert_eq!(
            AuditEntry::progress(Progress::Paused { target: "g".into() }, at()).to_json(),
            json!({"decision": "paused", "target": "g", "at": "2026-11-23T10:00:00+00:00"})
        );
        assert_eq!(audit_key(at(), 3), "AUDIT#2026-11-23T10:00:00+00:00#0003");
    }
}
