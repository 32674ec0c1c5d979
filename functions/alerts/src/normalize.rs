//! Turns every accepted input into [`Alert`]s. Pure: no AWS, no clock except the `now` passed in.
//!
//! Accepted: EventBridge "CloudWatch Alarm State Change" (metric and composite), SNS-delivered
//! classic alarm notifications, EventBridge "EMR Cluster State Change" and "EMR Step Status
//! Change", Lambda destination failures (source `aws.lambda` or `lambda`), and anything else as a
//! generic alert. A known event type whose body does not match its schema also becomes a generic
//! alert that names the parse error: an alerting path must not drop what it cannot read.

use std::collections::BTreeMap;

use aws_lambda_events::cloudwatch_alarms::{
    CloudWatchAlarmData, CloudWatchAlarmState, CloudWatchAlarmStateReasonData,
    CloudWatchAlarmStateValue,
};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sns::{CloudWatchAlarmPayload, SnsEvent};
use chrono::{DateTime, Utc};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::Value;

use crate::model::{Alert, AlertKind, Severity, fingerprint};

pub const ALARM_DETAIL_TYPE: &str = "CloudWatch Alarm State Change";
pub const EMR_CLUSTER_DETAIL_TYPE: &str = "EMR Cluster State Change";
pub const EMR_STEP_DETAIL_TYPE: &str = "EMR Step Status Change";
pub const LAMBDA_FAILURE_DETAIL_TYPE: &str = "Lambda Function Invocation Result - Failure";

/// Settings that shape normalization.
#[derive(Debug, Clone)]
pub struct NormalizeOptions {
    /// Resource-name prefix to runbook URL; the longest matching prefix wins, `*` is the default.
    pub runbooks: BTreeMap<String, String>,
    /// How much of an unknown event's detail is copied into the alert.
    pub detail_max_bytes: usize,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        Self {
            runbooks: BTreeMap::new(),
            detail_max_bytes: 4096,
        }
    }
}

/// Normalizes an EventBridge event or an SNS event into alerts.
pub fn normalize(payload: &Value, now: DateTime<Utc>, opts: &NormalizeOptions) -> Vec<Alert> {
    if is_sns_event(payload) {
        return match serde_json::from_value::<SnsEvent>(payload.clone()) {
            Ok(event) => event
                .records
                .iter()
                .map(|r| from_sns_message(&r.sns, now, opts))
                .collect(),
            Err(e) => vec![malformed(
                payload,
                "aws.sns",
                "SNS notification",
                &e.to_string(),
                now,
                opts,
            )],
        };
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

fn from_eventbridge(payload: &Value, now: DateTime<Utc>, opts: &NormalizeOptions) -> Alert {
    let source = payload
        .get("source")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    let detail_type = payload
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    let envelope = match serde_json::from_value::<EventBridgeEvent<Value>>(payload.clone()) {
        Ok(e) => e,
        Err(e) => return malformed(payload, &source, &detail_type, &e.to_string(), now, opts),
    };
    let parsed = match (detail_type.as_str(), source.as_str()) {
        (ALARM_DETAIL_TYPE, _) => from_alarm_event(&envelope, opts),
        (EMR_CLUSTER_DETAIL_TYPE, _) => from_emr_cluster(&envelope, now, opts),
        (EMR_STEP_DETAIL_TYPE, _) => from_emr_step(&envelope, now, opts),
        (LAMBDA_FAILURE_DETAIL_TYPE, "aws.lambda" | "lambda") => {
            from_lambda_failure(&envelope, now, opts)
        }
        _ => Ok(generic(&envelope, now, opts)),
    };
    parsed.unwrap_or_else(|e| malformed(payload, &source, &detail_type, &e, now, opts))
}

fn from_alarm_event(
    event: &EventBridgeEvent<Value>,
    opts: &NormalizeOptions,
) -> Result<Alert, String> {
    let data: CloudWatchAlarmData<Value> =
        serde_json::from_value(event.detail.clone()).map_err(|e| e.to_string())?;
    let state: &CloudWatchAlarmState<CloudWatchAlarmStateReasonData> =
        data.state.as_ref().ok_or("detail.state is missing")?;
    let composite = data.configuration.get("alarmRule").is_some();
    let value = state_name(&state.value);
    let previous = data
        .previous_state
        .as_ref()
        .map(|p| state_name(&p.value).to_string());
    let description = data
        .configuration
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_string);
    let region = event.region.clone();
    let mut details = Vec::new();
    if let Some(reason_data) = &state.reason_data {
        details.extend(reason_facts(reason_data));
    }
    if let Some(rule) = data.configuration.get("alarmRule").and_then(Value::as_str) {
        details.push(("alarm rule".into(), rule.to_string()));
    }
    if let Some(metrics) = data.configuration.get("metrics").and_then(Value::as_array) {
        for m in metrics {
            if let Some(metric) = m.pointer("/metricStat/metric") {
                let ns = metric
                    .get("namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let name = metric.get("name").and_then(Value::as_str).unwrap_or("");
                let dims = metric
                    .get("dimensions")
                    .and_then(Value::as_object)
                    .map(|d| {
                        d.iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                details.push((
                    "metric".into(),
                    format!("{ns} {name} {dims}").trim().to_string(),
                ));
            }
        }
    }
    let alarm = AlarmFacts {
        name: data.alarm_name.clone(),
        state: value.to_string(),
        previous,
        reason: state.reason.clone(),
        description,
        time: state.timestamp,
        region,
        account: event.account.clone(),
        event_id: event.id.clone().unwrap_or_else(|| {
            format!("{}@{}", data.alarm_name, state.timestamp.timestamp_millis())
        }),
        composite,
        details,
    };
    Ok(alarm_alert(alarm, opts))
}

fn state_name(v: &CloudWatchAlarmStateValue) -> &'static str {
    match v {
        CloudWatchAlarmStateValue::Alarm => "ALARM",
        CloudWatchAlarmStateValue::InsufficientData => "INSUFFICIENT_DATA",
        _ => "OK",
    }
}

/// The useful part of `reasonData` (a JSON string in the event, parsed by aws_lambda_events).
fn reason_facts(reason: &CloudWatchAlarmStateReasonData) -> Vec<(String, String)> {
    let value = serde_json::to_value(reason).ok().and_then(|v| {
        v.as_str()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
    });
    let Some(v) = value else { return Vec::new() };
    let mut out = Vec::new();
    if let Some(t) = v.get("threshold") {
        out.push(("threshold".into(), t.to_string()));
    }
    if let Some(points) = v.get("recentDatapoints").and_then(Value::as_array) {
        if !points.is_empty() {
            let list: Vec<String> = points.iter().map(|p| p.to_string()).collect();
            out.push(("recent datapoints".into(), list.join(", ")));
        }
    }
    if let (Some(stat), Some(period)) =
        (v.get("statistic").and_then(Value::as_str), v.get("period"))
    {
        out.push(("statistic".into(), format!("{stat} over {period}s")));
    }
    if let Some(triggering) = v.get("triggeringAlarms").and_then(Value::as_array) {
        let names: Vec<String> = triggering
            .iter()
            .filter_map(|a| a.get("arn").and_then(Value::as_str))
            .map(|arn| arn.rsplit(':').next().unwrap_or(arn).to_string())
            .collect();
        if !names.is_empty() {
            out.push(("triggering alarms".into(), names.join(", ")));
        }
    }
    out
}

struct AlarmFacts {
    name: String,
    state: String,
    previous: Option<String>,
    reason: String,
    description: Option<String>,
    time: DateTime<Utc>,
    region: Option<String>,
    account: Option<String>,
    event_id: String,
    composite: bool,
    details: Vec<(String, String)>,
}

/// Severity of an alarm state: ALARM is critical, INSUFFICIENT_DATA a warning, OK a resolved
/// notice (whether it is sent is the dedup decision's business).
fn alarm_severity(state: &str) -> Severity {
    match state {
        "ALARM" => Severity::Critical,
        "INSUFFICIENT_DATA" => Severity::Warning,
        _ => Severity::Resolved,
    }
}

fn alarm_alert(a: AlarmFacts, opts: &NormalizeOptions) -> Alert {
    let source = "aws.cloudwatch";
    let severity = alarm_severity(&a.state);
    let title = format!("{} {}", a.state, a.name);
    let region_suffix = a
        .region
        .as_deref()
        .map(|r| format!(" in {r}"))
        .unwrap_or_default();
    let mut summary = format!("Alarm \"{}\"{region_suffix} is now {}", a.name, a.state);
    if let Some(prev) = &a.previous {
        summary.push_str(&format!(" (was {prev})"));
    }
    summary.push_str(&format!(": {}", a.reason));
    let runbook = a
        .description
        .as_deref()
        .and_then(runbook_in_description)
        .or_else(|| runbook_for(&a.name, opts));
    let mut details = a.details;
    if let Some(desc) = &a.description {
        details.insert(0, ("description".into(), desc.clone()));
    }
    Alert {
        kind: if a.composite {
            AlertKind::CompositeAlarm
        } else {
            AlertKind::MetricAlarm
        },
        severity,
        title,
        summary,
        source: source.into(),
        detail_type: ALARM_DETAIL_TYPE.into(),
        fingerprint: fingerprint(a.account.as_deref(), a.region.as_deref(), source, &a.name),
        console_url: a.region.as_deref().map(|r| {
            format!(
                "https://{r}.console.aws.amazon.com/cloudwatch/home?region={r}#alarmsV2:alarm/{}",
                utf8_percent_encode(&a.name, NON_ALPHANUMERIC)
            )
        }),
        runbook_url: runbook,
        resource: a.name,
        region: a.region,
        account: a.account,
        time: a.time,
        state: a.state,
        previous_state: a.previous,
        event_id: a.event_id,
        details,
    }
}

fn from_sns_message(
    msg: &aws_lambda_events::sns::SnsMessage,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Alert {
    match serde_json::from_str::<CloudWatchAlarmPayload>(&msg.message) {
        Ok(p) => {
            let mut details = Vec::new();
            let t = &p.trigger;
            if let (Some(ns), Some(name)) = (&t.namespace, &t.metric_name) {
                details.push(("metric".into(), format!("{ns} {name}")));
            }
            details.push((
                "threshold".into(),
                format!("{} {}", t.comparison_operator, t.threshold),
            ));
            let facts = AlarmFacts {
                time: parse_cloudwatch_time(&p.state_change_time).unwrap_or(msg.timestamp),
                state: p.new_state_value.clone(),
                previous: Some(p.old_state_value.clone()).filter(|s| !s.is_empty()),
                reason: p.new_state_reason.clone(),
                description: Some(p.alarm_description.clone()).filter(|d| !d.is_empty()),
                region: region_from_arn(&p.alarm_arn),
                account: Some(p.aws_account_id.clone()),
                event_id: msg.message_id.clone(),
                composite: false,
                name: p.alarm_name.clone(),
                details,
            };
            alarm_alert(facts, opts)
        }
        Err(_) => {
            // Not an alarm notification: still an alert, about the topic that carried it.
            let region = region_from_arn(&msg.topic_arn);
            let account = msg.topic_arn.split(':').nth(4).map(str::to_string);
            let source = "aws.sns";
            let subject = msg
                .subject
                .clone()
                .unwrap_or_else(|| "SNS notification".into());
            Alert {
                kind: AlertKind::Generic,
                severity: Severity::Warning,
                title: subject.clone(),
                summary: truncate(&msg.message, opts.detail_max_bytes),
                source: source.into(),
                detail_type: "SNS notification".into(),
                fingerprint: fingerprint(
                    account.as_deref(),
                    region.as_deref(),
                    source,
                    &msg.topic_arn,
                ),
                resource: msg.topic_arn.clone(),
                region,
                account,
                time: msg.timestamp.min(now),
                state: "NOTIFICATION".into(),
                previous_state: None,
                event_id: msg.message_id.clone(),
                console_url: None,
                runbook_url: runbook_for(&msg.topic_arn, opts),
                details: vec![],
            }
        }
    }
}

/// CloudWatch writes `2026-11-23T10:00:00.000+0000` (no colon in the offset).
fn parse_cloudwatch_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub fn region_from_arn(arn: &str) -> Option<String> {
    arn.split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
}

/// `stateChangeReason` is a JSON string in EMR events; sometimes an object; sometimes absent.
fn json_string_or_object(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => {
            serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
        }
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmrClusterDetail {
    cluster_id: String,
    state: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    state_change_reason: Option<Value>,
}

fn from_emr_cluster(
    event: &EventBridgeEvent<Value>,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Result<Alert, String> {
    let d: EmrClusterDetail =
        serde_json::from_value(event.detail.clone()).map_err(|e| e.to_string())?;
    let reason = json_string_or_object(d.state_change_reason.as_ref());
    let code = reason
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let severity = match d.state.as_str() {
        "TERMINATED_WITH_ERRORS" => Severity::Critical,
        "TERMINATED" if matches!(code.as_str(), "USER_REQUEST" | "ALL_STEPS_COMPLETED") => {
            Severity::Info
        }
        "TERMINATED" => Severity::Warning,
        _ => Severity::Info,
    };
    let label = d
        .name
        .clone()
        .map(|n| format!("{} ({n})", d.cluster_id))
        .unwrap_or_else(|| d.cluster_id.clone());
    let mut details = vec![];
    if !code.is_empty() {
        details.push(("reason code".into(), code.clone()));
    }
    if let Some(m) = reason.get("message").and_then(Value::as_str) {
        details.push(("reason".into(), m.to_string()));
    }
    let region = event.region.clone();
    Ok(Alert {
        kind: AlertKind::EmrCluster,
        severity,
        title: format!("EMR cluster {label} {}", d.state),
        summary: d
            .message
            .clone()
            .unwrap_or_else(|| format!("EMR cluster {label} is now {}", d.state)),
        source: event.source.clone(),
        detail_type: EMR_CLUSTER_DETAIL_TYPE.into(),
        fingerprint: fingerprint(
            event.account.as_deref(),
            region.as_deref(),
            &event.source,
            &d.cluster_id,
        ),
        console_url: region.as_deref().map(|r| emr_console(r, &d.cluster_id)),
        runbook_url: runbook_for(d.name.as_deref().unwrap_or(&d.cluster_id), opts),
        resource: d.cluster_id.clone(),
        region,
        account: event.account.clone(),
        time: event.time.unwrap_or(now),
        state: d.state,
        previous_state: None,
        event_id: event
            .id
            .clone()
            .unwrap_or_else(|| format!("{}@{}", d.cluster_id, now.timestamp_millis())),
        details,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmrStepDetail {
    cluster_id: String,
    step_id: String,
    state: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    action_on_failure: Option<String>,
    #[serde(default)]
    state_change_reason: Option<Value>,
    #[serde(default)]
    log_uri: Option<String>,
}

fn from_emr_step(
    event: &EventBridgeEvent<Value>,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Result<Alert, String> {
    let d: EmrStepDetail =
        serde_json::from_value(event.detail.clone()).map_err(|e| e.to_string())?;
    let severity = match d.state.as_str() {
        "FAILED" => Severity::Critical,
        "CANCELLED" | "INTERRUPTED" => Severity::Warning,
        _ => Severity::Info,
    };
    let label = d
        .name
        .clone()
        .map(|n| format!("{} ({n})", d.step_id))
        .unwrap_or_else(|| d.step_id.clone());
    let mut details = vec![("cluster".into(), d.cluster_id.clone())];
    if let Some(a) = &d.action_on_failure {
        details.push(("action on failure".into(), a.clone()));
    }
    let reason = json_string_or_object(d.state_change_reason.as_ref());
    if let Some(m) = reason.get("message").and_then(Value::as_str) {
        details.push(("reason".into(), m.to_string()));
    }
    if let Some(l) = &d.log_uri {
        details.push(("logs".into(), l.clone()));
    }
    let resource = format!("{}/{}", d.cluster_id, d.step_id);
    let region = event.region.clone();
    Ok(Alert {
        kind: AlertKind::EmrStep,
        severity,
        title: format!("EMR step {label} {}", d.state),
        summary: d.message.clone().unwrap_or_else(|| {
            format!(
                "Step {label} on cluster {} is now {}",
                d.cluster_id, d.state
            )
        }),
        source: event.source.clone(),
        detail_type: EMR_STEP_DETAIL_TYPE.into(),
        fingerprint: fingerprint(
            event.account.as_deref(),
            region.as_deref(),
            &event.source,
            &resource,
        ),
        console_url: region.as_deref().map(|r| emr_console(r, &d.cluster_id)),
        runbook_url: runbook_for(d.name.as_deref().unwrap_or(&resource), opts),
        resource,
        region,
        account: event.account.clone(),
        time: event.time.unwrap_or(now),
        state: d.state,
        previous_state: None,
        event_id: event.id.clone().unwrap_or_else(|| {
            format!("{}/{}@{}", d.cluster_id, d.step_id, now.timestamp_millis())
        }),
        details,
    })
}

fn emr_console(region: &str, cluster: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/emr/home?region={region}#/clusterDetails/{cluster}"
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LambdaFailureDetail {
    request_context: LambdaRequestContext,
    #[serde(default)]
    response_context: Option<Value>,
    #[serde(default)]
    response_payload: Option<Value>,
    #[serde(default)]
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LambdaRequestContext {
    request_id: String,
    function_arn: String,
    #[serde(default)]
    condition: Option<String>,
    #[serde(default)]
    approximate_invoke_count: Option<u64>,
}

fn from_lambda_failure(
    event: &EventBridgeEvent<Value>,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Result<Alert, String> {
    let d: LambdaFailureDetail =
        serde_json::from_value(event.detail.clone()).map_err(|e| e.to_string())?;
    let arn = &d.request_context.function_arn;
    // arn:aws:lambda:region:account:function:name[:qualifier]
    let parts: Vec<&str> = arn.split(':').collect();
    let function = parts.get(6).copied().unwrap_or(arn.as_str()).to_string();
    let region = parts
        .get(3)
        .map(|s| s.to_string())
        .or_else(|| event.region.clone());
    let account = parts
        .get(4)
        .map(|s| s.to_string())
        .or_else(|| event.account.clone());
    let error_type = d
        .response_payload
        .as_ref()
        .and_then(|p| p.get("errorType"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let error_message = d
        .response_payload
        .as_ref()
        .and_then(|p| p.get("errorMessage"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let condition = d
        .request_context
        .condition
        .clone()
        .unwrap_or_else(|| "failure".into());
    let mut summary =
        format!("Function {function} failed an asynchronous invocation ({condition})");
    if !error_message.is_empty() || !error_type.is_empty() {
        summary.push_str(format!(": {error_type} {error_message}").trim_end());
    }
    let mut details = vec![("request id".into(), d.request_context.request_id.clone())];
    if let Some(n) = d.request_context.approximate_invoke_count {
        details.push(("attempts".into(), n.to_string()));
    }
    if let Some(fe) = d
        .response_context
        .as_ref()
        .and_then(|c| c.get("functionError"))
        .and_then(Value::as_str)
    {
        details.push(("function error".into(), fe.to_string()));
    }
    Ok(Alert {
        kind: AlertKind::FunctionFailure,
        severity: Severity::Error,
        title: format!("Lambda {function} invocation failed"),
        summary: truncate(&summary, opts.detail_max_bytes),
        source: "aws.lambda".into(),
        detail_type: LAMBDA_FAILURE_DETAIL_TYPE.into(),
        fingerprint: fingerprint(
            account.as_deref(),
            region.as_deref(),
            "aws.lambda",
            &function,
        ),
        console_url: region.as_deref().map(|r| {
            format!(
                "https://{r}.console.aws.amazon.com/lambda/home?region={r}#/functions/{function}"
            )
        }),
        runbook_url: runbook_for(&function, opts),
        resource: function,
        region,
        account,
        time: d.timestamp.or(event.time).unwrap_or(now),
        state: "FAILURE".into(),
        previous_state: None,
        event_id: event
            .id
            .clone()
            .unwrap_or_else(|| d.request_context.request_id.clone()),
        details,
    })
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
    }
}

/// A known event type whose body did not parse: a warning that names the problem and carries
/// a truncated copy of what arrived.
fn malformed(
    payload: &Value,
    source: &str,
    detail_type: &str,
    error: &str,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Alert {
    let account = payload
        .get("account")
        .and_then(Value::as_str)
        .map(str::to_string);
    let region = payload
        .get("region")
        .and_then(Value::as_str)
        .map(str::to_string);
    let id = payload
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string);
    let copy = truncate(&payload.to_string(), opts.detail_max_bytes);
    Alert {
        kind: AlertKind::Generic,
        severity: Severity::Warning,
        title: format!("Malformed {detail_type} event from {source}"),
        summary: format!("A {detail_type} event from {source} did not match its schema: {error}"),
        source: source.to_string(),
        detail_type: detail_type.to_string(),
        fingerprint: fingerprint(
            account.as_deref(),
            region.as_deref(),
            source,
            &format!("malformed:{detail_type}"),
        ),
        console_url: None,
        runbook_url: None,
        resource: format!("malformed:{detail_type}"),
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
        details: vec![
            ("error".into(), error.to_string()),
            ("payload".into(), copy),
        ],
    }
}

fn unrecognised(payload: &Value, now: DateTime<Utc>, opts: &NormalizeOptions) -> Alert {
    malformed(
        payload,
        "unknown",
        "unrecognised payload",
        "neither an EventBridge event nor an SNS event",
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

fn runbook_for(resource: &str, opts: &NormalizeOptions) -> Option<String> {
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
