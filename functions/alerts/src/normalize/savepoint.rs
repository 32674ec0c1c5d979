//! Savepoints the checkpoints function could not take: EventBridge events from
//! `streamops.checkpoints` ("Savepoint", functions/checkpoints/src/savepoint.rs), one per
//! savepoint request (a schedule slot, or one by hand) that Flink failed, lost, or could not
//! start because no job of the pipeline runs. Each becomes an alert about the pipeline's
//! savepoints (its own fingerprint, apart from the pipeline's checkpoint health); the request
//! makes the event id, so a resent event is a redelivery. Severity: a failed or lost savepoint
//! an error (the schedule's point in time has no savepoint), no running job a warning (the
//! job's own alarms tell why it is not running).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use streamops_shared::text::clean_inline;

use super::{Details, NormalizeOptions, runbook_for, truncate};
use crate::model::{Alert, AlertKind, Severity, fingerprint};

pub const SOURCE: &str = super::checkpoints::SOURCE;
pub const DETAIL_TYPE: &str = "Savepoint";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Failure {
    JobNotRunning,
    SavepointFailed,
    TriggerLost,
}

/// The event's detail, as the checkpoints function writes it.
#[derive(Debug, Deserialize)]
struct Savepoint {
    event_id: String,
    #[serde(default)]
    function: Option<String>,
    pipeline: String,
    failure: Failure,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    trigger: Option<String>,
    #[serde(default)]
    trigger_id: Option<String>,
    #[serde(default)]
    job_id: Option<String>,
    #[serde(default)]
    requested_by: Option<String>,
    #[serde(default)]
    at: Option<DateTime<Utc>>,
}

pub(super) fn from_savepoint(
    event: &EventBridgeEvent<Value>,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Result<Alert, String> {
    let s: Savepoint = serde_json::from_value(event.detail.clone()).map_err(|e| e.to_string())?;
    if s.pipeline.is_empty() {
        return Err("detail.pipeline is empty".into());
    }
    let pipeline = clean_inline(&s.pipeline).into_owned();
    let (severity, state, what) = match s.failure {
        Failure::SavepointFailed => (Severity::Error, "FAILED", "savepoint FAILED"),
        Failure::TriggerLost => (Severity::Error, "LOST", "savepoint lost by the JobManager"),
        Failure::JobNotRunning => (
            Severity::Warning,
            "NOT_TAKEN",
            "no savepoint: no running job",
        ),
    };
    let trigger = s.trigger.as_deref().unwrap_or("requested");
    let mut summary = format!("The {trigger} savepoint of pipeline {pipeline} was not taken");
    if let Some(r) = s.reason.as_deref().filter(|r| !r.is_empty()) {
        summary.push_str(&format!(": {}", clean_inline(r)));
    }
    summary.push('.');
    Ok(Alert {
        kind: AlertKind::Generic,
        severity,
        title: format!("Savepoint {pipeline}: {what}"),
        summary: truncate(&summary, opts.detail_max_bytes),
        source: SOURCE.into(),
        detail_type: DETAIL_TYPE.into(),
        fingerprint: fingerprint(
            event.account.as_deref(),
            event.region.as_deref(),
            SOURCE,
            &format!("{pipeline} savepoint"),
        ),
        console_url: None,
        runbook_url: runbook_for(&pipeline, opts),
        region: event.region.clone(),
        account: event.account.clone(),
        time: s.at.or(event.time).unwrap_or(now),
        state: state.into(),
        previous_state: None,
        event_id: s.event_id.clone(),
        details: details(&s),
        suppressed_by: None,
        labels: Default::default(),
        resource: pipeline,
    })
}

fn details(s: &Savepoint) -> Vec<(String, String)> {
    let mut out = Details::default();
    out.add("trigger", s.trigger.clone());
    out.add("trigger_id", s.trigger_id.clone());
    out.add("job", s.job_id.clone());
    out.add("requested_by", s.requested_by.clone());
    out.add("checkpoints", s.function.clone());
    out.into_vec()
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{detail, one_at};
    use super::*;
    use crate::dedup::{Decision as Dedup, SuppressReason, decide, next_state};
    use streamops_test_support::fixture;

    fn now() -> DateTime<Utc> {
        "2026-11-27T01:00:00Z".parse().unwrap()
    }

    fn one(v: &Value) -> Alert {
        one_at(v, now())
    }

    #[test]
    fn a_failed_scheduled_savepoint_is_an_error_about_the_pipelines_savepoints() {
        let a = one(&fixture("alerts/savepoint-failed.json"));
        assert_eq!(
            (a.kind, a.severity, a.resource.as_str(), a.state.as_str()),
            (AlertKind::Generic, Severity::Error, "clicks", "FAILED")
        );
        assert_eq!(a.title, "Savepoint clicks: savepoint FAILED");
        assert!(
            a.summary.starts_with(
                "The scheduled savepoint of pipeline clicks was not taken: Flink failed"
            ),
            "{}",
            a.summary
        );
        assert_eq!(
            detail(&a, "trigger_id"),
            Some("5a7e0c1d2b3f40516273849a0b1c2d3e")
        );
        assert_eq!(detail(&a, "job"), Some("a1b2c3d4e5f60718293a4b5c6d7e8f90"));
        assert_eq!(detail(&a, "checkpoints"), Some("streamops-checkpoints"));
        let health = one(&fixture("alerts/checkpoint-health-failing.json"));
        assert_eq!(health.resource, a.resource);
        assert_ne!(
            health.fingerprint, a.fingerprint,
            "apart from checkpoint health"
        );
    }

    #[test]
    fn no_running_job_is_a_warning_and_a_resent_event_a_redelivery() {
        let a = one(&fixture("alerts/savepoint-job-not-running.json"));
        assert_eq!(
            (a.severity, a.state.as_str()),
            (Severity::Warning, "NOT_TAKEN")
        );
        assert_eq!(detail(&a, "trigger_id"), None);
        let mut lost = fixture("alerts/savepoint-failed.json");
        lost["detail"]["failure"] = "trigger_lost".into();
        assert_eq!(one(&lost).state, "LOST");
        let published = next_state(None, &a, Some(now().timestamp_millis()), None);
        let mut resent = fixture("alerts/savepoint-job-not-running.json");
        resent["id"] = "another-delivery".into();
        assert_eq!(
            decide(
                Some(&published),
                &one(&resent),
                now().timestamp_millis() + 1000,
                3_600_000
            ),
            Dedup::Suppress(SuppressReason::Redelivered)
        );
    }

    #[test]
    fn an_event_without_a_pipeline_or_failure_is_malformed_not_dropped() {
        let mut v = fixture("alerts/savepoint-failed.json");
        v["detail"]["failure"] = "exploded".into();
        assert_eq!(one(&v).state, "MALFORMED");
        v["detail"]["failure"] = "savepoint_failed".into();
        v["detail"]["pipeline"] = "".into();
        assert_eq!(one(&v).state, "MALFORMED");
    }
}
