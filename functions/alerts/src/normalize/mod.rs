//! Turns every accepted input into [`Alert`]s. Pure: no AWS, no clock except the `now` passed in.
//!
//! Accepted: alarm state changes from EventBridge ("CloudWatch Alarm State Change", metric and
//! composite), SNS (classic alarm notifications) and Lambda alarm actions, all read by the
//! shared [`streamops_shared::alarm`] parser; EventBridge "EMR Cluster State Change", "EMR
//! Step Status Change", "EMR Instance Group State Change", "EMR Instance Fleet State Change"
//! and "EMR Auto Scaling Policy State Change"; Lambda destination failures (source
//! `aws.lambda` or `lambda`); the scaler's "Scaling Decision", partitions' "Iceberg
//! Maintenance" and the checkpoints function's "Checkpoint Health" events (our own sources);
//! anything else as a generic alert. A known event type whose body
//! does not match its schema becomes a warning that names the parse error: an alerting path
//! must not drop what it cannot read.

use std::collections::BTreeMap;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sns::SnsEvent;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use streamops_shared::text::clean_inline;

use crate::model::{Alert, AlertKind, Severity, fingerprint};

mod alarm;
pub(crate) mod checkpoints;
mod emr;
pub mod labels;
mod lambda;
mod partitions;
mod savepoint;
pub(crate) mod scaler;
#[cfg(test)]
mod test_util;

pub use streamops_shared::alarm::ALARM_DETAIL_TYPE;
pub const EMR_CLUSTER_DETAIL_TYPE: &str = "EMR Cluster State Change";
pub const EMR_STEP_DETAIL_TYPE: &str = "EMR Step Status Change";
pub const EMR_GROUP_DETAIL_TYPE: &str = "EMR Instance Group State Change";
pub const EMR_FLEET_DETAIL_TYPE: &str = "EMR Instance Fleet State Change";
pub const EMR_AUTOSCALING_DETAIL_TYPE: &str = "EMR Auto Scaling Policy State Change";
pub const LAMBDA_FAILURE_DETAIL_TYPE: &str = "Lambda Function Invocation Result - Failure";

/// Settings that shape normalization.
#[derive(Debug, Clone)]
pub struct NormalizeOptions {
    /// Resource-name prefix to runbook URL; the longest matching prefix wins, `*` is the default.
    pub runbooks: BTreeMap<String, String>,
    /// How much of an unknown event's detail is copied into the alert.
    pub detail_max_bytes: usize,
    /// Resource-name prefix to labels added to its alerts; the longest matching prefix wins.
    pub resource_labels: BTreeMap<String, BTreeMap<String, String>>,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        Self {
            runbooks: BTreeMap::new(),
            detail_max_bytes: 4096,
            resource_labels: BTreeMap::new(),
        }
    }
}

/// Normalizes an EventBridge event, an SNS event or a Lambda alarm action into alerts.
pub fn normalize(payload: &Value, now: DateTime<Utc>, opts: &NormalizeOptions) -> Vec<Alert> {
    let mut alerts = read_alerts(payload, now, opts);
    for alert in &mut alerts {
        labels::attach(alert, opts);
    }
    alerts
}

fn read_alerts(payload: &Value, now: DateTime<Utc>, opts: &NormalizeOptions) -> Vec<Alert> {
    if is_sns_event(payload) {
        return match serde_json::from_value::<SnsEvent>(payload.clone()) {
            Ok(event) => event
                .records
                .iter()
                .map(|r| from_sns_record(&r.sns, now, opts))
                .collect(),
            Err(e) => vec![malformed(
                payload,
                "aws.sns",
                "SNS notification",
                &e.to_string(),
                None,
                now,
                opts,
            )],
        };
    }
    if is_lambda_alarm_action(payload) {
        return vec![alarm::from_lambda_action(payload, now, opts)];
    }
    if payload.get("detail-type").is_some() && payload.get("source").is_some() {
        return vec![from_eventbridge(payload, now, opts)];
    }
    vec![unrecognised(payload, now, opts)]
}

fn is_sns_event(payload: &Value) -> bool {
    payload
        .get("Records")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(|r| r.get("EventSource").or_else(|| r.get("eventSource")))
        .and_then(Value::as_str)
        == Some("aws:sns")
}

/// The documented alarm-action payload: `source` `aws.cloudwatch` with `alarmData` (and no
/// EventBridge `detail-type`).
fn is_lambda_alarm_action(payload: &Value) -> bool {
    payload.get("alarmData").is_some()
        && payload.get("detail-type").is_none()
        && payload.get("source").and_then(Value::as_str)
            == Some(streamops_shared::alarm::ALARM_SOURCE)
}

fn from_sns_record(
    msg: &aws_lambda_events::sns::SnsMessage,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Alert {
    if alarm::is_alarm_message(&msg.message) {
        alarm::from_sns_message(msg, now, opts)
    } else {
        alarm::sns_notification(msg, now, opts)
    }
}

fn from_eventbridge(payload: &Value, now: DateTime<Utc>, opts: &NormalizeOptions) -> Alert {
    let text = |k: &str| {
        payload
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string()
    };
    let (source, detail_type) = (text("source"), text("detail-type"));
    if detail_type == ALARM_DETAIL_TYPE {
        return alarm::from_eventbridge(payload, now, opts);
    }
    let envelope = match serde_json::from_value::<EventBridgeEvent<Value>>(payload.clone()) {
        Ok(e) => e,
        Err(e) => {
            return malformed(
                payload,
                &source,
                &detail_type,
                &e.to_string(),
                None,
                now,
                opts,
            );
        }
    };
    let parsed = match (detail_type.as_str(), source.as_str()) {
        (EMR_CLUSTER_DETAIL_TYPE, _) => emr::from_emr_cluster(&envelope, now, opts),
        (EMR_STEP_DETAIL_TYPE, _) => emr::from_emr_step(&envelope, now, opts),
        (EMR_GROUP_DETAIL_TYPE, _) => emr::from_emr_instances(&envelope, false, now, opts),
        (EMR_FLEET_DETAIL_TYPE, _) => emr::from_emr_instances(&envelope, true, now, opts),
        (EMR_AUTOSCALING_DETAIL_TYPE, _) => emr::from_emr_autoscaling(&envelope, now, opts),
        (LAMBDA_FAILURE_DETAIL_TYPE, "aws.lambda" | "lambda") => {
            lambda::from_lambda_failure(&envelope, now, opts)
        }
        (scaler::DETAIL_TYPE, scaler::SOURCE) => scaler::from_scaler(&envelope, now, opts),
        (checkpoints::DETAIL_TYPE, checkpoints::SOURCE) => {
            checkpoints::from_checkpoints(&envelope, now, opts)
        }
        (savepoint::DETAIL_TYPE, savepoint::SOURCE) => {
            savepoint::from_savepoint(&envelope, now, opts)
        }
        (partitions::DETAIL_TYPE, partitions::SOURCE) => {
            partitions::from_partitions(&envelope, now, opts)
        }
        _ => Ok(generic(&envelope, now, opts)),
    };
    parsed.unwrap_or_else(|e| malformed(payload, &source, &detail_type, &e, None, now, opts))
}

/// An alert's details as the normalizers of our own events list them: each value cleaned to
/// one line, a missing one left out.
#[derive(Default)]
pub(crate) struct Details(Vec<(String, String)>);

impl Details {
    pub(crate) fn add(&mut self, key: &str, value: Option<String>) {
        if let Some(v) = value {
            self.0
                .push((key.to_string(), clean_inline(&v).into_owned()));
        }
    }

    pub(crate) fn into_vec(self) -> Vec<(String, String)> {
        self.0
    }
}

pub fn region_from_arn(arn: &str) -> Option<String> {
    arn.split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
}

/// Detail fields that commonly name the resource of an AWS event, in order of preference.
const RESOURCE_FIELDS: &[&str] = &[
    "jobName",
    "name",
    "clusterId",
    "functionName",
    "instance-id",
    "stateMachineArn",
    "resourceId",
];

fn generic(event: &EventBridgeEvent<Value>, now: DateTime<Utc>, opts: &NormalizeOptions) -> Alert {
    let named_in_detail = || {
        RESOURCE_FIELDS
            .iter()
            .find_map(|f| event.detail.get(*f).and_then(Value::as_str))
            .map(str::to_string)
    };
    let resource = event
        .resources
        .as_ref()
        .and_then(|r| r.first().cloned())
        .or_else(named_in_detail)
        .unwrap_or_else(|| event.detail_type.clone());
    let state = ["state", "status", "State", "Status"]
        .iter()
        .find_map(|f| event.detail.get(*f).and_then(Value::as_str))
        .unwrap_or(&event.detail_type)
        .to_string();
    let detail = truncate(&event.detail.to_string(), opts.detail_max_bytes);
    Alert {
        kind: AlertKind::Generic,
        severity: Severity::Warning,
        title: format!("{} {resource} {state}", event.detail_type),
        summary: format!(
            "Event {} from {}: {detail}",
            event.detail_type, event.source
        ),
        source: event.source.clone(),
        detail_type: event.detail_type.clone(),
        fingerprint: fingerprint(
            event.account.as_deref(),
            event.region.as_deref(),
            &event.source,
            &resource,
        ),
        console_url: None,
        runbook_url: runbook_for(&resource, opts),
        resource,
        region: event.region.clone(),
        account: event.account.clone(),
        time: event.time.unwrap_or(now),
        state,
        previous_state: None,
        event_id: event
            .id
            .clone()
            .unwrap_or_else(|| format!("generic@{}", now.timestamp_millis())),
        details: vec![("detail".into(), detail)],
        suppressed_by: None,
        labels: Default::default(),
    }
}

/// A known event type whose body did not parse, or a payload that is no event at all: a
/// warning that names the problem and carries a truncated copy of what arrived. Its resource
/// (and so its fingerprint) is derived from the content, a digest of the payload and the alarm
/// name when one could be read, so two different unreadable payloads never dedupe against each
/// other: an alerting path must not drop what it cannot read. A redelivery of the same payload
/// shares the fingerprint and is deduplicated like any repeat.
fn malformed(
    payload: &Value,
    source: &str,
    detail_type: &str,
    error: &str,
    salvaged_name: Option<&str>,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Alert {
    let member = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| payload.get(*k).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let account = member(&["account", "accountId"]);
    let region = member(&["region"]);
    let id = member(&["id"]);
    let text = payload.to_string();
    let digest = content_digest(text.as_bytes());
    let identity = match salvaged_name {
        Some(name) => format!("malformed:{detail_type}:{name}:{digest}"),
        None => format!("malformed:{detail_type}:{digest}"),
    };
    let mut details = vec![("error".to_string(), clean_inline(error).into_owned())];
    if let Some(name) = salvaged_name {
        details.push(("alarm".into(), clean_inline(name).into_owned()));
    }
    details.push(("payload digest".into(), digest));
    details.push(("payload".into(), truncate(&text, opts.detail_max_bytes)));
    Alert {
        kind: AlertKind::Generic,
        severity: Severity::Warning,
        title: format!("Malformed {detail_type} event from {source}"),
        summary: format!("A {detail_type} event from {source} did not match its schema: {error}"),
        source: source.to_string(),
        detail_type: detail_type.to_string(),
        fingerprint: fingerprint(account.as_deref(), region.as_deref(), source, &identity),
        console_url: None,
        runbook_url: None,
        resource: clean_inline(&identity).into_owned(),
        region,
        account,
        time: now,
        state: "MALFORMED".into(),
        previous_state: None,
        event_id: id.unwrap_or_else(|| {
            format!(
                "malformed@{}",
                now.timestamp_nanos_opt().unwrap_or_default()
            )
        }),
        details,
        suppressed_by: None,
        labels: Default::default(),
    }
}

/// The first 16 hex digits of the SHA-256 of `bytes`: a content identity for unreadable input.
pub(crate) fn content_digest(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..8])
}

fn unrecognised(payload: &Value, now: DateTime<Utc>, opts: &NormalizeOptions) -> Alert {
    let salvaged = payload
        .get("AlarmName")
        .or_else(|| payload.pointer("/alarmData/alarmName"))
        .or_else(|| payload.pointer("/detail/alarmName"))
        .and_then(Value::as_str);
    malformed(
        payload,
        "unknown",
        "unrecognised payload",
        "neither an EventBridge event, an SNS event nor a Lambda alarm action",
        salvaged,
        now,
        opts,
    )
}

/// `runbook: https://...` (or `runbook=`) in an alarm description.
pub fn runbook_in_description(description: &str) -> Option<String> {
    let lower = description.to_ascii_lowercase();
    let at = lower.find("runbook")?;
    let rest = description[at + "runbook".len()..].trim_start_matches([':', '=', ' ']);
    let url: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
    let url = url.trim_end_matches(['.', ',', ')', ';']).to_string();
    (url.starts_with("https://") || url.starts_with("http://")).then_some(url)
}

pub(crate) fn runbook_for(resource: &str, opts: &NormalizeOptions) -> Option<String> {
    opts.runbooks
        .iter()
        .filter(|(prefix, _)| prefix.as_str() != "*" && resource.starts_with(prefix.as_str()))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, url)| url.clone())
        .or_else(|| opts.runbooks.get("*").cloned())
}

/// Cuts `s` to at most `max` bytes on a character boundary, with a visible marker.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    const MARKER: &str = "…[truncated]";
    let mut end = max.saturating_sub(MARKER.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARKER}", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    use streamops_test_support::fixture;

    fn now() -> DateTime<Utc> {
        "2026-11-23T12:00:00Z".parse().unwrap()
    }

    fn one(payload: &Value) -> Alert {
        let mut alerts = normalize(payload, now(), &NormalizeOptions::default());
        assert_eq!(alerts.len(), 1);
        alerts.remove(0)
    }

    #[test]
    fn metric_alarm_event_becomes_critical_alert_with_reason_data_and_links() {
        let a = one(&fixture("alerts/alarm-iterator-age-alarm.json"));
        assert_eq!(a.kind, AlertKind::MetricAlarm);
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.state, "ALARM");
        assert_eq!(a.previous_state.as_deref(), Some("OK"));
        assert_eq!(a.resource, "streamops-raw-iterator-age");
        assert_eq!(a.region.as_deref(), Some("us-east-1"));
        assert_eq!(
            a.time,
            "2026-11-23T10:00:13.250Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(
            a.details
                .iter()
                .any(|(k, v)| k == "threshold" && v == "60000.0"),
            "{:?}",
            a.details
        );
        assert!(
            a.console_url
                .as_deref()
                .unwrap()
                .ends_with("#alarmsV2:alarm/streamops%2Draw%2Diterator%2Dage")
        );
        assert_eq!(
            a.runbook_url.as_deref(),
            Some("https://runbooks.example.com/streamops/iterator-age")
        );
    }

    #[test]
    fn ok_alarm_is_a_resolved_notice_candidate() {
        let a = one(&fixture("alerts/alarm-iterator-age-ok.json"));
        assert_eq!(a.severity, Severity::Resolved);
        assert_eq!(a.title, "OK streamops-raw-iterator-age");
    }

    #[test]
    fn composite_alarm_is_recognised() {
        let a = one(&fixture("alerts/alarm-composite-alarm.json"));
        assert_eq!(a.kind, AlertKind::CompositeAlarm);
        assert!(a.details.iter().any(|(k, _)| k == "alarm rule"));
        assert!(
            a.details
                .iter()
                .any(|(k, v)| k == "triggering alarms" && v.contains("streamops-raw-iterator-age"))
        );
    }

    #[test]
    fn sns_alarm_notification_shares_fingerprint_with_eventbridge_path() {
        let sns = one(&fixture("alerts/sns-alarm-notification.json"));
        let eb = one(&fixture("alerts/alarm-iterator-age-alarm.json"));
        assert_eq!(sns.kind, AlertKind::MetricAlarm);
        assert_eq!(sns.state, "ALARM");
        assert_eq!(sns.fingerprint, eb.fingerprint);
        assert_eq!(sns.time, eb.time);
        assert_ne!(sns.event_id, eb.event_id);
    }

    #[test]
    fn emr_cluster_terminated_with_errors_is_critical_with_decoded_reason() {
        let a = one(&fixture("alerts/emr-cluster-terminated-with-errors.json"));
        assert_eq!(a.kind, AlertKind::EmrCluster);
        assert_eq!(a.severity, Severity::Critical);
        assert!(
            a.details
                .iter()
                .any(|(k, v)| k == "reason code" && v == "BOOTSTRAP_FAILURE")
        );
        assert!(
            a.console_url
                .unwrap()
                .contains("clusterDetails/j-2AXXXXXXGAPLF")
        );
    }

    #[test]
    fn emr_step_failed_is_critical() {
        let a = one(&fixture("alerts/emr-step-failed.json"));
        assert_eq!(a.kind, AlertKind::EmrStep);
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.resource, "j-2AXXXXXXGAPLF/s-1K8QZ5YV2H2MN");
    }

    #[test]
    fn lambda_failure_accepts_both_sources() {
        let a = one(&fixture("alerts/lambda-destination-failure.json"));
        assert_eq!(a.kind, AlertKind::FunctionFailure);
        assert_eq!(a.severity, Severity::Error);
        assert_eq!(a.resource, "streamops-enrich");
        let mut v = fixture("alerts/lambda-destination-failure.json");
        v["source"] = Value::String("aws.lambda".into());
        assert_eq!(one(&v).kind, AlertKind::FunctionFailure);
    }

    #[test]
    fn unknown_event_becomes_generic_with_truncated_detail() {
        let mut v = fixture("alerts/generic-event.json");
        v["detail"]["blob"] = Value::String("x".repeat(10_000));
        let a = normalize(
            &v,
            now(),
            &NormalizeOptions {
                detail_max_bytes: 512,
                ..Default::default()
            },
        )
        .remove(0);
        assert_eq!(a.kind, AlertKind::Generic);
        assert_eq!(a.source, "aws.glue");
        assert_eq!(a.resource, "streamops-compaction");
        assert_eq!(a.state, "FAILED");
        assert_eq!(a.title, "Glue Job State Change streamops-compaction FAILED");
        let detail = &a.details[0].1;
        assert!(detail.len() <= 512 && detail.ends_with("…[truncated]"));
    }

    #[test]
    fn wrong_types_in_a_known_event_become_a_malformed_warning_not_a_panic() {
        let mut v = fixture("alerts/alarm-iterator-age-alarm.json");
        v["detail"]["state"]["value"] = Value::from(42);
        let a = one(&v);
        assert_eq!(a.severity, Severity::Warning);
        assert!(
            a.title
                .starts_with("Malformed CloudWatch Alarm State Change")
        );
        assert!(a.summary.contains("did not match its schema"));
        let mut v = fixture("alerts/emr-step-failed.json");
        v["detail"] = Value::String("nope".into());
        assert_eq!(one(&v).state, "MALFORMED");
    }

    #[test]
    fn non_event_payloads_never_panic() {
        for v in [
            Value::Null,
            Value::from(3),
            Value::String("hi".into()),
            serde_json::json!({"Records": "x"}),
            serde_json::json!([]),
        ] {
            let a = one(&v);
            assert_eq!(a.state, "MALFORMED");
        }
    }

    #[test]
    fn runbook_from_description_and_config_prefixes() {
        assert_eq!(
            runbook_in_description("Lag. Runbook: https://x.example/rb.").as_deref(),
            Some("https://x.example/rb")
        );
        assert_eq!(runbook_in_description("no link here"), None);
        let opts = NormalizeOptions {
            runbooks: [
                ("*".to_string(), "https://d".to_string()),
                ("streamops-raw".to_string(), "https://raw".to_string()),
            ]
            .into(),
            ..Default::default()
        };
        assert_eq!(
            runbook_for("streamops-raw-x", &opts).as_deref(),
            Some("https://raw")
        );
        assert_eq!(runbook_for("other", &opts).as_deref(), Some("https://d"));
    }

    #[test]
    fn truncate_respects_utf8_boundaries() {
        let s = "é".repeat(100);
        let t = truncate(&s, 51);
        assert!(t.len() <= 51);
        assert!(t.ends_with("…[truncated]"));
    }
}
