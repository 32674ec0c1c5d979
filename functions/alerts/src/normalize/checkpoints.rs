//! Checkpoint health of a Flink pipeline: EventBridge events from `streamops.checkpoints`
//! ("Checkpoint Health"), one per judged pipeline per evaluation (functions/checkpoints/src/
//! health_event.rs), put on the default bus like the scaler's decisions. Each becomes an alert
//! about the pipeline naming its last good point (checkpoint id, location, age): late (no
//! checkpoint for N intervals) a warning, failing (checkpoints failing in a row) critical,
//! healthy a recovery. The pipeline is the resource, so one pipeline's evaluations share a
//! fingerprint and dedup does the rest: healthy to late is news, late to late a repeat, late
//! to healthy a resolved notice, and healthy after nothing heard is no recovery at all.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use streamops_shared::text::clean_inline;

use super::{Details, NormalizeOptions, runbook_for, truncate};
use crate::model::{Alert, AlertKind, Severity, fingerprint};

pub const SOURCE: &str = "streamops.checkpoints";
pub const DETAIL_TYPE: &str = "Checkpoint Health";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum State {
    Healthy,
    Late,
    Failing,
}

#[derive(Debug, Deserialize)]
struct LastGood {
    #[serde(default)]
    checkpoint_id: Option<u64>,
    location: String,
    completed_at: DateTime<Utc>,
    #[serde(default)]
    known_from: Option<String>,
}

/// The event's detail, as the checkpoints function writes it.
#[derive(Debug, Deserialize)]
struct Health {
    event_id: String,
    #[serde(default)]
    function: Option<String>,
    pipeline: String,
    state: State,
    #[serde(default)]
    intervals_missed: Option<u64>,
    #[serde(default)]
    consecutive_failures: Option<u32>,
    #[serde(default)]
    age_seconds: Option<i64>,
    interval_seconds: u64,
    #[serde(default)]
    missed_intervals_allowed: Option<u32>,
    #[serde(default)]
    last_good: Option<LastGood>,
    #[serde(default)]
    latest_failure: Option<String>,
    #[serde(default)]
    job_id: Option<String>,
    #[serde(default)]
    at: Option<DateTime<Utc>>,
}

pub(super) fn from_checkpoints(
    event: &EventBridgeEvent<Value>,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Result<Alert, String> {
    let h: Health = serde_json::from_value(event.detail.clone()).map_err(|e| e.to_string())?;
    if h.pipeline.is_empty() {
        return Err("detail.pipeline is empty".into());
    }
    let pipeline = clean_inline(&h.pipeline).into_owned();
    let (severity, state) = match h.state {
        State::Late => (Severity::Warning, "LATE"),
        State::Failing => (Severity::Critical, "FAILING"),
        State::Healthy => (Severity::Resolved, "OK"),
    };
    Ok(Alert {
        kind: AlertKind::CheckpointHealth,
        severity,
        title: format!("Checkpoints {pipeline}: {}", what(&h)),
        summary: truncate(&summary(&h, &pipeline), opts.detail_max_bytes),
        source: SOURCE.into(),
        detail_type: DETAIL_TYPE.into(),
        fingerprint: fingerprint(
            event.account.as_deref(),
            event.region.as_deref(),
            SOURCE,
            &pipeline,
        ),
        console_url: None,
        runbook_url: runbook_for(&pipeline, opts),
        region: event.region.clone(),
        account: event.account.clone(),
        time: h.at.or(event.time).unwrap_or(now),
        state: state.into(),
        previous_state: None,
        event_id: h.event_id.clone(),
        details: details(&h),
        suppressed_by: None,
        labels: Default::default(),
        resource: pipeline,
    })
}

fn what(h: &Health) -> String {
    match h.state {
        State::Late => match h.intervals_missed {
            Some(n) => format!("no checkpoint for {n} intervals"),
            None => "no recent checkpoint".into(),
        },
        State::Failing => match h.consecutive_failures {
            Some(n) => format!("{n} checkpoints failed in a row"),
            None => "checkpoints failing".into(),
        },
        State::Healthy => "checkpointing again".into(),
    }
}

/// The last good point in words: what a person restores from if the job has to go.
fn last_good(h: &Health) -> String {
    match &h.last_good {
        Some(p) => {
            let id = p.checkpoint_id.map_or_else(
                || "a checkpoint".to_string(),
                |id| format!("checkpoint {id}"),
            );
            let age = h
                .age_seconds
                .map(|s| format!(", {s} s ago"))
                .unwrap_or_default();
            format!(
                "Last good point: {id} at {} (completed {}{age}).",
                clean_inline(&p.location),
                p.completed_at.to_rfc3339()
            )
        }
        None => "No completed checkpoint is known.".into(),
    }
}

fn summary(h: &Health, pipeline: &str) -> String {
    let head = match h.state {
        State::Late => format!(
            "No checkpoint of pipeline {pipeline} completed for {} s ({} intervals of {} s; late after {}).",
            h.age_seconds.unwrap_or_default(),
            h.intervals_missed.unwrap_or_default(),
            h.interval_seconds,
            h.missed_intervals_allowed
                .map_or_else(|| "?".to_string(), |n| n.to_string()),
        ),
        State::Failing => format!(
            "{} checkpoints of pipeline {pipeline} failed in a row{}.",
            h.consecutive_failures.unwrap_or_default(),
            h.latest_failure
                .as_deref()
                .map(|m| format!(", the latest: {}", clean_inline(m)))
                .unwrap_or_default(),
        ),
        State::Healthy => format!("Pipeline {pipeline} completes checkpoints again."),
    };
    format!("{head} {}", last_good(h))
}

fn details(h: &Health) -> Vec<(String, String)> {
    let mut out = Details::default();
    out.add("pipeline", Some(h.pipeline.clone()));
    out.add("age", h.age_seconds.map(|s| format!("{s} s")));
    out.add(
        "intervals missed",
        h.intervals_missed.map(|n| n.to_string()),
    );
    out.add("interval", Some(format!("{} s", h.interval_seconds)));
    out.add(
        "late after",
        h.missed_intervals_allowed.map(|n| format!("{n} intervals")),
    );
    // Unknown is not zero: the book does not see failed checkpoints.
    out.add(
        "consecutive failures",
        Some(h.consecutive_failures.map_or_else(
            || "unknown (Flink REST API not reachable)".into(),
            |n| n.to_string(),
        )),
    );
    out.add("latest failure", h.latest_failure.clone());
    if let Some(p) = &h.last_good {
        out.add(
            "last good checkpoint",
            p.checkpoint_id.map(|id| id.to_string()),
        );
        out.add("last good location", Some(p.location.clone()));
        out.add("last good completed", Some(p.completed_at.to_rfc3339()));
        out.add("known from", p.known_from.clone());
    }
    out.add("job", h.job_id.clone());
    out.add("evaluation", Some(h.event_id.clone()));
    out.add("checkpoints", h.function.clone());
    out.into_vec()
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{detail, one_at};
    use super::*;
    use crate::dedup::{Decision, SuppressReason, decide, next_state};
    use streamops_test_support::fixture;

    fn now() -> DateTime<Utc> {
        "2026-11-27T09:00:00Z".parse().unwrap()
    }

    fn one(v: &Value) -> Alert {
        one_at(v, now())
    }

    #[test]
    fn a_late_pipeline_is_a_warning_naming_the_last_good_point() {
        let a = one(&fixture("alerts/checkpoint-health-late.json"));
        assert_eq!(
            (a.kind, a.severity, a.state.as_str(), a.resource.as_str()),
            (
                AlertKind::CheckpointHealth,
                Severity::Warning,
                "LATE",
                "clicks"
            )
        );
        assert_eq!(
            a.title,
            "Checkpoints clicks: no checkpoint for 20 intervals"
        );
        assert!(a.summary.contains("checkpoint 7 at s3://"), "{}", a.summary);
        assert!(a.summary.contains("1200 s ago"), "{}", a.summary);
        assert_eq!(detail(&a, "last good checkpoint"), Some("7"));
        assert_eq!(
            detail(&a, "consecutive failures"),
            Some("unknown (Flink REST API not reachable)")
        );
        assert_eq!(
            crate::render::subject(&a),
            "WARNING: Checkpoints clicks: no checkpoint for 20 intervals (us-east-1)"
        );
    }

    #[test]
    fn failing_is_critical_and_says_why() {
        let a = one(&fixture("alerts/checkpoint-health-failing.json"));
        assert_eq!(
            (a.severity, a.state.as_str()),
            (Severity::Critical, "FAILING")
        );
        assert_eq!(a.title, "Checkpoints clicks: 3 checkpoints failed in a row");
        assert!(
            a.summary.contains("expired before completing"),
            "{}",
            a.summary
        );
        assert_eq!(detail(&a, "consecutive failures"), Some("3"));
    }

    #[test]
    fn late_is_news_a_repeat_waits_and_healthy_resolves_only_what_was_heard() {
        let window = 3_600_000;
        let at = now().timestamp_millis();
        let healthy = one(&fixture("alerts/checkpoint-health-healthy.json"));
        assert_eq!(
            decide(None, &healthy, at, window),
            Decision::Suppress(SuppressReason::NotARecovery),
            "healthy with nothing heard is no recovery"
        );
        let late = one(&fixture("alerts/checkpoint-health-late.json"));
        assert_eq!(decide(None, &late, at, window), Decision::Publish);
        let published = next_state(None, &late, Some(at), None);
        let mut again = fixture("alerts/checkpoint-health-late.json");
        again["detail"]["event_id"] = "clicks/1795770300000".into();
        again["detail"]["at"] = "2026-11-27T09:05:00Z".into();
        again["detail"]["intervals_missed"] = 25.into();
        assert_eq!(
            decide(Some(&published), &one(&again), at + 300_000, window),
            Decision::Suppress(SuppressReason::RepeatWithinWindow)
        );
        let mut back = fixture("alerts/checkpoint-health-healthy.json");
        back["detail"]["at"] = "2026-11-27T09:10:00Z".into();
        let back = one(&back);
        assert_eq!(back.fingerprint, late.fingerprint);
        assert_eq!(
            decide(Some(&published), &back, at + 600_000, window),
            Decision::Publish
        );
        assert_eq!(back.severity, Severity::Resolved);
    }

    #[test]
    fn an_event_without_a_pipeline_is_malformed_not_dropped() {
        let mut v = fixture("alerts/checkpoint-health-late.json");
        v["detail"]["pipeline"] = "".into();
        assert_eq!(one(&v).state, "MALFORMED");
        v["detail"].as_object_mut().unwrap().remove("pipeline");
        assert_eq!(one(&v).state, "MALFORMED");
    }
}
