//! The PagerDuty Events API v2 shape (`format: pagerduty`), for incident tools that speak a
//! trigger/resolve protocol with a dedup key: a problem triggers, its recovery resolves the
//! same incident (`dedup_key` = the fingerprint, or `group:<key>` for a group's notification).
//! PagerDuty's own limits: `summary` at most 1024 characters, `severity` one of critical,
//! error, warning, info.

use serde_json::{Value, json};
use streamops_shared::text::clean_inline;

use crate::model::{Alert, Severity};
use crate::normalize::truncate;

/// PagerDuty's longest `payload.summary`.
pub const MAX_SUMMARY_CHARS: usize = 1024;

/// `trigger` for a problem or a notice, `resolve` for a recovery.
pub fn event_action(severity: Severity) -> &'static str {
    if severity == Severity::Resolved {
        "resolve"
    } else {
        "trigger"
    }
}

/// PagerDuty's severities have no `resolved`: a resolve event's payload says `info`.
fn pd_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info | Severity::Resolved => "info",
    }
}

/// The event for one alert.
pub fn alert_event(a: &Alert, routing_key: &str) -> Value {
    let summary = format!(
        "{}: {}",
        a.severity.as_str().to_ascii_uppercase(),
        clean_inline(&a.title)
    );
    let details: serde_json::Map<String, Value> = a
        .details
        .iter()
        .map(|(k, v)| (clean_inline(k).into_owned(), json!(v)))
        .collect();
    let mut links = Vec::new();
    if let Some(u) = &a.console_url {
        links.push(json!({"href": u, "text": "Console"}));
    }
    if let Some(u) = &a.runbook_url {
        links.push(json!({"href": u, "text": "Runbook"}));
    }
    json!({
        "routing_key": routing_key,
        "event_action": event_action(a.severity),
        "dedup_key": a.fingerprint,
        "payload": {
            "summary": truncate(&summary, MAX_SUMMARY_CHARS),
            "source": clean_inline(&a.resource),
            "severity": pd_severity(a.severity),
            "timestamp": a.time,
            "component": a.source,
            "group": a.region,
            "class": a.kind.as_str(),
            "custom_details": {
                "state": a.state,
                "previous_state": a.previous_state,
                "summary": a.summary,
                "account": a.account,
                "region": a.region,
                "labels": a.labels,
                "details": details,
            }
        },
        "links": links,
    })
}

/// The event for a group's notification: `summary` its title, the members in `custom_details`.
pub fn group_event(
    dedup_key: &str,
    title: &str,
    severity: Severity,
    members: Value,
    routing_key: &str,
) -> Value {
    json!({
        "routing_key": routing_key,
        "event_action": event_action(severity),
        "dedup_key": dedup_key,
        "payload": {
            "summary": truncate(&clean_inline(title), MAX_SUMMARY_CHARS),
            "source": "streamops alerts group",
            "severity": pd_severity(severity),
            "custom_details": members,
        }
    })
}
