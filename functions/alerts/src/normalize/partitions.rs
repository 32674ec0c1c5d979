//! Iceberg maintenance that did not succeed: EventBridge events from `streamops.partitions`
//! ("Iceberg Maintenance"), one per query of a `maintain` run that failed, was stopped at its
//! runtime bound, was left running at the invocation's deadline, or did not start. Each becomes
//! an alert about its table; the table and the operation make the fingerprint (a second failed
//! OPTIMIZE of a table inside the window is a repeat, its VACUUM another alert); the run's event
//! id makes a resent event a redelivery. Severity from the outcome: a failed query or start an
//! error, a stopped, left-running or unstarted one a warning.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use streamops_shared::text::clean_inline;

use super::{Details, NormalizeOptions, runbook_for, truncate};
use crate::model::{Alert, AlertKind, Severity, fingerprint};

pub const SOURCE: &str = "streamops.partitions";
pub const DETAIL_TYPE: &str = "Iceberg Maintenance";

/// The event's detail, as partitions writes it (functions/partitions/src/events.rs).
#[derive(Debug, Deserialize)]
struct Maintenance {
    event_id: String,
    #[serde(default)]
    function: Option<String>,
    table: String,
    operation: String,
    outcome: String,
    #[serde(default)]
    query_execution_id: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    seconds: Option<f64>,
    #[serde(default)]
    stop_error: Option<String>,
    #[serde(default)]
    max_runtime_seconds: Option<u64>,
    /// For a query left running: why no follow-up looks at it.
    #[serde(default)]
    follow_up: Option<FollowUp>,
    #[serde(default)]
    at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct FollowUp {
    state: String,
    #[serde(default)]
    reason: Option<String>,
}

pub(super) fn from_partitions(
    event: &EventBridgeEvent<Value>,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Result<Alert, String> {
    let m: Maintenance = serde_json::from_value(event.detail.clone()).map_err(|e| e.to_string())?;
    if m.table.is_empty() || m.operation.is_empty() {
        return Err("detail.table and detail.operation must be set".into());
    }
    let table = clean_inline(&m.table).into_owned();
    let operation = clean_inline(&m.operation).to_ascii_uppercase();
    let outcome = clean_inline(&m.outcome).into_owned();
    let summary = match &m.reason {
        Some(r) if !r.is_empty() => {
            format!("{operation} of {table} {outcome}: {}", clean_inline(r))
        }
        _ => format!("{operation} of {table} {outcome}"),
    };
    Ok(Alert {
        kind: AlertKind::Generic,
        severity: severity(&m.outcome),
        title: format!("Iceberg {table}: {operation} {}", what(&m.outcome)),
        summary: truncate(&summary, opts.detail_max_bytes),
        source: SOURCE.into(),
        detail_type: DETAIL_TYPE.into(),
        fingerprint: fingerprint(
            event.account.as_deref(),
            event.region.as_deref(),
            SOURCE,
            &format!("{table} {operation}"),
        ),
        console_url: None,
        runbook_url: runbook_for(&table, opts),
        region: event.region.clone(),
        account: event.account.clone(),
        time: m.at.or(event.time).unwrap_or(now),
        state: format!("{operation} {}", outcome.to_ascii_uppercase()),
        previous_state: None,
        event_id: m.event_id.clone(),
        details: details(&m),
        suppressed_by: None,
        labels: Default::default(),
        resource: table,
    })
}

fn severity(outcome: &str) -> Severity {
    match outcome {
        "failed" | "start_failed" => Severity::Error,
        _ => Severity::Warning,
    }
}

fn what(outcome: &str) -> String {
    match outcome {
        "failed" => "FAILED".into(),
        "start_failed" => "could not start".into(),
        "stopped" => "stopped at its runtime bound".into(),
        "left_running" => "still running at the deadline".into(),
        "not_started" => "not started (no time left)".into(),
        other => clean_inline(other).into_owned(),
    }
}

fn details(m: &Maintenance) -> Vec<(String, String)> {
    let mut out = Details::default();
    out.add("operation", Some(m.operation.clone()));
    out.add("outcome", Some(m.outcome.clone()));
    out.add("query", m.query_execution_id.clone());
    out.add("state", m.state.clone());
    out.add("seconds", m.seconds.map(|s| format!("{s:.0}")));
    out.add(
        "max_runtime_seconds",
        m.max_runtime_seconds.map(|s| s.to_string()),
    );
    out.add("stop_error", m.stop_error.clone());
    out.add(
        "follow_up",
        m.follow_up.as_ref().map(|f| match &f.reason {
            Some(reason) => format!("{}: {reason}", f.state),
            None => f.state.clone(),
        }),
    );
    out.add("partitions", m.function.clone());
    out.into_vec()
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{detail, one_at};
    use super::*;
    use crate::dedup::{Decision as Dedup, SuppressReason, decide, next_state};
    use streamops_test_support::fixture;

    fn now() -> DateTime<Utc> {
        "2026-11-23T12:00:00Z".parse().unwrap()
    }

    fn one(v: &Value) -> Alert {
        one_at(v, now())
    }

    #[test]
    fn a_failed_optimize_is_an_error_about_its_table() {
        let a = one(&fixture("alerts/partitions-maintenance-failed.json"));
        assert_eq!(
            (a.kind, a.severity, a.resource.as_str(), a.state.as_str()),
            (
                AlertKind::Generic,
                Severity::Error,
                "streamops.enriched_iceberg",
                "OPTIMIZE FAILED"
            )
        );
        assert_eq!(
            a.title,
            "Iceberg streamops.enriched_iceberg: OPTIMIZE FAILED"
        );
        assert!(a.summary.contains("ICEBERG_COMMIT_ERROR"), "{}", a.summary);
        assert_eq!(
            detail(&a, "query"),
            Some("0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9")
        );
        assert_eq!(detail(&a, "partitions"), Some("streamops-partitions"));
        assert_eq!(
            a.event_id,
            "8f2c1e4a-7b6d-4c3e-9a1f-0d2e3c4b5a69/streamops.enriched_iceberg/optimize"
        );
    }

    #[test]
    fn a_stopped_query_is_a_warning_and_each_operation_has_its_own_fingerprint() {
        let failed = one(&fixture("alerts/partitions-maintenance-failed.json"));
        let stopped = one(&fixture("alerts/partitions-maintenance-stopped.json"));
        assert_eq!(stopped.severity, Severity::Warning);
        assert_eq!(stopped.state, "VACUUM STOPPED");
        assert_eq!(
            stopped.title,
            "Iceberg streamops.enriched_iceberg: VACUUM stopped at its runtime bound"
        );
        assert_eq!(detail(&stopped, "max_runtime_seconds"), Some("1800"));
        assert_ne!(failed.fingerprint, stopped.fingerprint);
        let mut optimize_stopped = fixture("alerts/partitions-maintenance-stopped.json");
        optimize_stopped["detail"]["operation"] = "optimize".into();
        assert_eq!(one(&optimize_stopped).fingerprint, failed.fingerprint);
        for (outcome, severity) in [
            ("start_failed", Severity::Error),
            ("left_running", Severity::Warning),
            ("not_started", Severity::Warning),
        ] {
            let mut v = fixture("alerts/partitions-maintenance-failed.json");
            v["detail"]["outcome"] = outcome.into();
            assert_eq!(one(&v).severity, severity, "{outcome}");
        }
    }

    #[test]
    fn a_query_left_running_without_a_follow_up_says_why() {
        let a = one(&fixture("alerts/partitions-maintenance-left-running.json"));
        assert_eq!(a.severity, Severity::Warning);
        assert_eq!(
            a.title,
            "Iceberg streamops.enriched_iceberg: OPTIMIZE still running at the deadline"
        );
        let follow_up = detail(&a, "follow_up").unwrap();
        assert!(
            follow_up.starts_with("failed: CreateSchedule") && follow_up.contains("iam:PassRole"),
            "{follow_up}"
        );
    }

    #[test]
    fn a_resent_event_is_a_redelivery() {
        let first = one(&fixture("alerts/partitions-maintenance-failed.json"));
        let published = next_state(None, &first, Some(now().timestamp_millis()), None);
        let mut resent = fixture("alerts/partitions-maintenance-failed.json");
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
    fn an_event_without_a_table_is_malformed_not_dropped() {
        let mut v = fixture("alerts/partitions-maintenance-failed.json");
        v["detail"].as_object_mut().unwrap().remove("table");
        assert_eq!(one(&v).state, "MALFORMED");
        v["detail"]["table"] = "".into();
        assert_eq!(one(&v).state, "MALFORMED");
    }
}
