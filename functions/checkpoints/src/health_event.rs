//! A pipeline's checkpoint health as an EventBridge event for the alerts function, the path the
//! scaler's decisions take: put on the default bus (source `streamops.checkpoints`, detail-type
//! `Checkpoint Health`), where the alerts rule picks this stack's up and its normalizer makes an
//! alert naming the pipeline and the last good point. Every evaluation of a judged pipeline is
//! sent, healthy ones too: alerts deduplicates (healthy to late is news, late to late a repeat,
//! late to healthy a recovery), so this function keeps no state of its own. Unknown verdicts
//! are not sent: there is nothing to name and no state to move.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::health::{GoodPoint, HealthReport, Verdict};

/// The event's `source`.
pub const SOURCE: &str = "streamops.checkpoints";
/// The event's `detail-type`.
pub const DETAIL_TYPE: &str = "Checkpoint Health";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Healthy,
    Late,
    Failing,
}

/// The event's detail (read by functions/alerts/src/normalize/checkpoints.rs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthEvent {
    /// The evaluation's identity: the same for a resent event.
    pub event_id: String,
    /// The checkpoints function that judged (the alerts rule takes its own stack's only).
    pub function: String,
    pub pipeline: String,
    pub state: HealthState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intervals_missed: Option<u64>,
    /// `None`: unknown (Flink's REST API did not answer), not zero.
    pub consecutive_failures: Option<u32>,
    pub age_seconds: Option<i64>,
    pub interval_seconds: u64,
    /// The pipeline's threshold: late after this many intervals.
    pub missed_intervals_allowed: u32,
    pub last_good: Option<GoodPoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_failure: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// The event for `report` (judged by `function` with `allowed` missed intervals), or `None`
/// for an unknown verdict.
pub fn event(report: &HealthReport, function: &str, allowed: u32) -> Option<HealthEvent> {
    let (state, intervals_missed) = match &report.verdict {
        Verdict::Healthy => (HealthState::Healthy, None),
        Verdict::Late { intervals_missed } => (HealthState::Late, Some(*intervals_missed)),
        Verdict::Failing { .. } => (HealthState::Failing, None),
        Verdict::Unknown { .. } => return None,
    };
    Some(HealthEvent {
        event_id: format!(
            "{}/{}",
            report.pipeline,
            report.evaluated_at.timestamp_millis()
        ),
        function: function.to_string(),
        pipeline: report.pipeline.clone(),
        state,
        intervals_missed,
        consecutive_failures: report.consecutive_failures,
        age_seconds: report.age_seconds,
        interval_seconds: report.interval_seconds,
        missed_intervals_allowed: allowed,
        last_good: report.last_good.clone(),
        latest_failure: report
            .latest_failed
            .as_ref()
            .and_then(|f| f.message.clone()),
        job_id: report.job_id.clone(),
        at: report.evaluated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{Evidence, HealthPolicy, evaluate};

    #[test]
    fn unknown_is_not_sent_and_late_carries_its_intervals() {
        let now: DateTime<Utc> = "2026-11-20T10:10:00Z".parse().unwrap();
        let none = evaluate(
            "p",
            None,
            None,
            Evidence::BookOnly { why: "x".into() },
            &HealthPolicy::default(),
            now,
        );
        assert!(event(&none, "f", 3).is_none());
        let late = HealthReport {
            verdict: Verdict::Late {
                intervals_missed: 4,
            },
            ..none
        };
        let e = event(&late, "streamops-checkpoints", 3).unwrap();
        assert_eq!(e.state, HealthState::Late);
        assert_eq!(e.intervals_missed, Some(4));
        assert_eq!(e.event_id, format!("p/{}", now.timestamp_millis()));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["state"], "late");
        assert!(v["consecutive_failures"].is_null(), "unknown stays null");
    }
}
