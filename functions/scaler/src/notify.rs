//! Decisions worth a person's look, as events for the alerts function: actions, completed,
//! failed and stranded rescales, deferrals and the skips an operator should see (paused,
//! cooldown, bounds, quota, stabilising, ineffective...). Put on the default event bus (source
//! `streamops.scaler`, detail-type `Scaling Decision`), where the alerts function's rule picks
//! them up and gives them its subject rules, formats, dedup and silences. Duplicates, OK
//! transitions, suppressed transitions, rescale progress and shrink plans are audit-only.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::audit::{AuditEntry, Outcome, Progress};
use crate::policy::{FlinkRescaleMode, ScalingDecision, SkipReason, TargetKind, TargetPolicy};

/// The event's `source`.
pub const SOURCE: &str = "streamops.scaler";
/// The event's `detail-type`.
pub const DETAIL_TYPE: &str = "Scaling Decision";

/// What the notification says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    /// A resize was made (Kinesis, EMR), or a Flink rescale started.
    Scaled,
    /// A Flink job runs at its new parallelism.
    Rescaled,
    /// A resize or rescale did not happen; the target runs as before.
    Failed,
    /// A Flink job is stopped and could not be resubmitted.
    Stranded,
    /// Not now; the schedule re-evaluates it.
    Deferred,
    /// Not scaled, for a reason an operator should see.
    Blocked,
    /// An earlier scale-up did not raise throughput: scale-ups are blocked until `resume`.
    Ineffective,
}

/// How urgent the scaler thinks it is (alerts decides from the outcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SeverityHint {
    Critical,
    Warning,
    Info,
}

impl Notice {
    pub fn severity(self) -> SeverityHint {
        match self {
            Notice::Failed | Notice::Stranded => SeverityHint::Critical,
            Notice::Deferred | Notice::Blocked | Notice::Ineffective => SeverityHint::Warning,
            Notice::Scaled | Notice::Rescaled => SeverityHint::Info,
        }
    }
}

/// The event's detail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionEvent {
    /// The decision's place in the target's audit trail: the same for a resent event.
    pub decision_id: String,
    /// The scaler function that decided (the alerts rule takes its own stack's only).
    pub function: String,
    pub target: String,
    pub outcome: Notice,
    pub severity: SeverityHint,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<u32>,
    /// Why: the action's reason, the skip's detail, the error.
    pub reason: String,
    /// The skip or deferral reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<SkipReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub savepoint: Option<String>,
    /// The Flink rescale's phase, when it stopped in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<&'static str>,
    #[serde(serialize_with = "rfc3339")]
    pub at: DateTime<Utc>,
    /// What the target acts on, by the labels the alerts function gives alarms (`stream`,
    /// `cluster_id`, `pipeline`, `job_name`): how an alarm on one of them is tied to this action.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub about: BTreeMap<&'static str, String>,
    /// For a started action: when the scaler expects it to have settled (the end of its own
    /// cooldown for that direction, the time it gives a change before judging the target again).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_rfc3339"
    )]
    pub settles_by: Option<DateTime<Utc>>,
}

/// The labels naming what a target of `kind` acts on.
pub fn about(kind: &TargetKind) -> BTreeMap<&'static str, String> {
    let mut labels = BTreeMap::new();
    let mut add = |name: &'static str, value: Option<&String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            labels.insert(name, v.clone());
        }
    };
    match kind {
        TargetKind::KinesisStream { stream } => add("stream", Some(stream)),
        TargetKind::EmrInstanceGroup { cluster_id, .. }
        | TargetKind::EmrInstanceFleet { cluster_id, .. } => add("cluster_id", Some(cluster_id)),
        TargetKind::FlinkJob {
            job_name,
            pipeline,
            source_stream,
            emr_step,
            ..
        } => {
            add("job_name", Some(job_name));
            add("pipeline", pipeline.as_ref());
            add("stream", source_stream.as_ref());
            add("cluster_id", emr_step.as_ref().map(|s| &s.cluster_id));
        }
    }
    labels
}

impl DecisionEvent {
    /// Adds what `policy`'s target acts on and, for a started action, when it should settle.
    pub fn with_target(mut self, policy: &TargetPolicy) -> Self {
        self.about = about(&policy.kind);
        if self.outcome == Notice::Scaled {
            let cooldown = match (self.from, self.to) {
                (Some(from), Some(to)) if to < from => policy.scale_in_cooldown_seconds,
                _ => policy.scale_out_cooldown_seconds,
            };
            self.settles_by = Some(self.at + Duration::seconds(cooldown.max(0)));
        }
        self
    }
}

/// What the notification of `entry` says, or `None` when it is not worth one.
pub fn notice(entry: &AuditEntry) -> Option<Notice> {
    Some(match &entry.outcome {
        Outcome::Decision(ScalingDecision::Act { .. }) => Notice::Scaled,
        Outcome::Decision(ScalingDecision::Defer { .. }) => Notice::Deferred,
        Outcome::Decision(ScalingDecision::Skip { reason, .. }) => match reason {
            SkipReason::Duplicate | SkipReason::NotAlarm | SkipReason::ActionsSuppressed => {
                return None;
            }
            SkipReason::Ineffective => Notice::Ineffective,
            _ => Notice::Blocked,
        },
        Outcome::Progress(p) => match p {
            Progress::Failed { .. } => Notice::Failed,
            Progress::Rescaled { .. } => Notice::Rescaled,
            Progress::Stranded { .. } => Notice::Stranded,
            Progress::ShrinkPlan { .. }
            | Progress::RescaleInProgress { .. }
            | Progress::Paused { .. }
            | Progress::Resumed { .. } => return None,
        },
    })
}

/// The event for `entry` (audited as `decision_id` by `function`), if it is worth one.
pub fn event(entry: &AuditEntry, decision_id: String, function: &str) -> Option<DecisionEvent> {
    let outcome = notice(entry)?;
    let mut e = DecisionEvent {
        decision_id,
        function: function.to_string(),
        target: entry.target().to_string(),
        outcome,
        severity: outcome.severity(),
        from: None,
        to: None,
        reason: String::new(),
        cause: None,
        alarm: entry.alarm.clone(),
        job_id: None,
        savepoint: None,
        phase: None,
        at: entry.at,
        about: BTreeMap::new(),
        settles_by: None,
    };
    match &entry.outcome {
        Outcome::Decision(d) => describe_decision(&mut e, d),
        Outcome::Progress(p) => describe_progress(&mut e, p),
    }
    Some(e)
}

fn describe_decision(e: &mut DecisionEvent, d: &ScalingDecision) {
    match d {
        ScalingDecision::Act {
            from, to, reason, ..
        } => {
            (e.from, e.to) = (Some(*from), Some(*to));
            e.reason.clone_from(reason);
        }
        ScalingDecision::Skip { reason, detail, .. }
        | ScalingDecision::Defer { reason, detail, .. } => {
            e.cause = Some(*reason);
            e.reason.clone_from(detail);
        }
    }
}

fn describe_progress(e: &mut DecisionEvent, p: &Progress) {
    let sizes = |e: &mut DecisionEvent, from: u32, to: u32| (e.from, e.to) = (Some(from), Some(to));
    match p {
        Progress::Failed {
            from,
            to,
            error,
            phase,
            ..
        } => {
            sizes(e, *from, *to);
            e.reason.clone_from(error);
            e.phase = phase.as_ref().map(|p| p.name());
        }
        Progress::Stranded {
            from,
            to,
            error,
            phase,
            ..
        } => {
            sizes(e, *from, *to);
            e.reason.clone_from(error);
            e.phase = Some(phase.name());
            e.savepoint = phase.savepoint().map(str::to_string);
        }
        Progress::Rescaled {
            from,
            to,
            job_id,
            mode,
            savepoint,
            ..
        } => {
            sizes(e, *from, *to);
            e.reason = match (mode, savepoint) {
                (FlinkRescaleMode::Savepoint, Some(sp)) => {
                    format!("job {job_id} resubmitted from {sp} runs at parallelism {to}")
                }
                _ => format!("job {job_id} runs at parallelism {to}, rescaled in place"),
            };
            e.job_id = Some(job_id.clone());
            e.savepoint.clone_from(savepoint);
        }
        Progress::ShrinkPlan { .. }
        | Progress::RescaleInProgress { .. }
        | Progress::Paused { .. }
        | Progress::Resumed { .. } => {}
    }
}

fn optional_rfc3339<S: serde::Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rescale::RescalePhase;
    use serde_json::{Value, json};

    fn at() -> DateTime<Utc> {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    fn decision(d: ScalingDecision) -> AuditEntry {
        AuditEntry::decision(d, at(), Some("streamops-raw-iterator-age"))
    }

    fn outcome(entry: &AuditEntry) -> Option<(Notice, SeverityHint)> {
        event(entry, "id".into(), "f").map(|e| (e.outcome, e.severity))
    }

    #[test]
    fn decisions_worth_a_notification_and_how_urgent() {
        let act = ScalingDecision::Act {
            target: "raw".into(),
            from: 2,
            to: 4,
            reason: "lag".into(),
        };
        assert_eq!(
            outcome(&decision(act)),
            Some((Notice::Scaled, SeverityHint::Info))
        );
        let skip = |r| decision(ScalingDecision::skip("raw", r, "d"));
        assert_eq!(
            outcome(&skip(SkipReason::Cooldown)),
            Some((Notice::Blocked, SeverityHint::Warning))
        );
        assert_eq!(
            outcome(&skip(SkipReason::Ineffective)),
            Some((Notice::Ineffective, SeverityHint::Warning))
        );
        for quiet in [
            SkipReason::Duplicate,
            SkipReason::NotAlarm,
            SkipReason::ActionsSuppressed,
        ] {
            assert_eq!(outcome(&skip(quiet)), None, "{quiet:?}");
        }
        let defer = decision(ScalingDecision::defer("job", SkipReason::Busy, "d"));
        assert_eq!(
            outcome(&defer),
            Some((Notice::Deferred, SeverityHint::Warning))
        );
    }

    #[test]
    fn rescale_outcomes_worth_a_notification_and_how_urgent() {
        let phase = RescalePhase::Submitting {
            savepoint: "s3://sp/savepoint-1".into(),
            parallelism: 1,
            rollback: true,
            failure: None,
        };
        let stranded = AuditEntry::progress(
            Progress::Stranded {
                target: "job".into(),
                from: 1,
                to: 2,
                error: "STOPPED".into(),
                phase: phase.clone(),
            },
            at(),
        );
        let e = event(&stranded, "id".into(), "f").unwrap();
        assert_eq!(
            (e.outcome, e.severity, e.savepoint.as_deref(), e.phase),
            (
                Notice::Stranded,
                SeverityHint::Critical,
                Some("s3://sp/savepoint-1"),
                Some("submitting")
            )
        );
        let failed = AuditEntry::progress(
            Progress::Failed {
                target: "raw".into(),
                from: 2,
                to: 4,
                error: "throttled".into(),
                phase: None,
            },
            at(),
        );
        assert_eq!(
            outcome(&failed),
            Some((Notice::Failed, SeverityHint::Critical))
        );
        let progress = AuditEntry::progress(
            Progress::RescaleInProgress {
                target: "job".into(),
                from: 1,
                to: 2,
                phase,
                detail: "d".into(),
            },
            at(),
        );
        assert_eq!(outcome(&progress), None);
        let paused = AuditEntry::progress(Progress::Paused { target: "g".into() }, at());
        assert_eq!(outcome(&paused), None);
    }

    #[test]
    fn what_a_target_acts_on_and_when_its_action_settles() {
        let flink: TargetPolicy = serde_json::from_value(serde_json::json!({
            "id": "job", "kind": "flink_job", "rest_url": "http://127.0.0.1:8081",
            "job_name": "clickstream-enrich", "mode": "adaptive", "pipeline": "clickstream",
            "source_stream": "streamops-raw", "min": 1, "max": 8,
            "scale_out_cooldown_seconds": 120, "scale_in_cooldown_seconds": 900
        }))
        .unwrap();
        let about = about(&flink.kind);
        let labels: Vec<(&str, &str)> = about.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            labels,
            [
                ("job_name", "clickstream-enrich"),
                ("pipeline", "clickstream"),
                ("stream", "streamops-raw")
            ]
        );
        let act = |from, to| {
            let d = ScalingDecision::Act {
                target: "job".into(),
                from,
                to,
                reason: "r".into(),
            };
            event(&AuditEntry::decision(d, at(), None), "id".into(), "f")
                .unwrap()
                .with_target(&flink)
        };
        // A scale-in settles by the scale-in cooldown, a scale-out by the scale-out one.
        assert_eq!(act(4, 2).settles_by, Some(at() + Duration::seconds(900)));
        assert_eq!(act(2, 4).settles_by, Some(at() + Duration::seconds(120)));
        // Only a started action settles: a blocked one names its target, nothing more.
        let blocked = ScalingDecision::Skip {
            target: "job".into(),
            reason: SkipReason::Cooldown,
            detail: "d".into(),
        };
        let e = event(&AuditEntry::decision(blocked, at(), None), "id".into(), "f")
            .unwrap()
            .with_target(&flink);
        assert_eq!((e.settles_by, e.about.len()), (None, 3));
    }

    /// The alerts function's fixture is what the scaler sends: its detail is this event's.
    #[test]
    fn the_alerts_fixture_is_the_event_the_scaler_puts() {
        let act = ScalingDecision::Act {
            target: "raw-stream".into(),
            from: 2,
            to: 4,
            reason: "alarm streamops-raw-iterator-age (Threshold Crossed: 1 out of the last 1 datapoints [90000.0 (23/11/26 09:59:00)] was greater than the threshold (60000.0) (minimum 1 datapoint for OK -> ALARM transition).)".into(),
        };
        let entry = AuditEntry::decision(act, at(), Some("streamops-raw-iterator-age"));
        let id = crate::audit::decision_id("raw-stream", at(), 0);
        let policy: TargetPolicy = serde_json::from_value(serde_json::json!({
            "id": "raw-stream", "kind": "kinesis_stream", "stream": "streamops-raw",
            "min": 1, "max": 8, "scale_out_cooldown_seconds": 300
        }))
        .unwrap();
        let e = event(&entry, id, "streamops-scaler")
            .unwrap()
            .with_target(&policy);
        let fixture = streamops_test_support::fixture("alerts/scaler-decision-scaled.json");
        assert_eq!(fixture["source"], SOURCE);
        assert_eq!(fixture["detail-type"], DETAIL_TYPE);
        assert_eq!(fixture["detail"], serde_json::to_value(&e).unwrap());
        let stranded: Value =
            streamops_test_support::fixture("alerts/scaler-decision-stranded.json");
        let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
        let phase = RescalePhase::Submitting {
            savepoint: "s3://streamops-checkpoints/savepoints/savepoint-5e1f2a-0c8d4b6e7a91".into(),
            parallelism: 1,
            rollback: true,
            failure: None,
        };
        let sent = event(
            &AuditEntry::progress(
                Progress::Stranded {
                    target: "flink-job".into(),
                    from: 1,
                    to: 2,
                    error: "x".into(),
                    phase,
                },
                at(),
            ),
            "x".into(),
            "streamops-scaler",
        )
        .unwrap();
        assert_eq!(
            keys(&stranded["detail"]),
            keys(&serde_json::to_value(&sent).unwrap())
        );
        assert_eq!(stranded["detail"]["outcome"], json!("stranded"));
    }
}
