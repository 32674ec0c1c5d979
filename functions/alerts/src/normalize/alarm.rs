//! Alarm state changes, from all three deliveries (EventBridge, SNS, Lambda alarm action),
//! read by the shared [`AlarmTransition`] parser and turned into one alert shape. The
//! fingerprint is (account, region, `aws.cloudwatch`, alarm name) whichever way the transition
//! came, so twin deliveries dedupe.

use chrono::{DateTime, Utc};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use streamops_shared::alarm::{
    ALARM_DETAIL_TYPE, ALARM_SOURCE, AlarmParseError, AlarmState, AlarmTransition, SnsContext,
};
use streamops_shared::text::clean_inline;

use super::{NormalizeOptions, content_digest, malformed, runbook_for, runbook_in_description};
use crate::model::{Alert, AlertKind, Severity, fingerprint};

/// An EventBridge "CloudWatch Alarm State Change" event.
pub(super) fn from_eventbridge(
    payload: &Value,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Alert {
    match AlarmTransition::from_eventbridge(payload) {
        Ok(t) => {
            let id = payload
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| synthetic_id("eventbridge", &t));
            alarm_alert(&t, id, opts)
        }
        Err(e) => malformed_alarm(payload, ALARM_SOURCE, ALARM_DETAIL_TYPE, &e, now, opts),
    }
}

/// The payload of a Lambda alarm action (`source`, `alarmArn`, `accountId`, `region`, `time`,
/// `alarmData`). It has no delivery id: the alarm, state and state time stand in for one, so
/// Lambda's retries of the same invocation are recognised.
pub(super) fn from_lambda_action(
    payload: &Value,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Alert {
    match AlarmTransition::from_lambda_action(payload) {
        Ok(t) => {
            let id = synthetic_id("lambda-action", &t);
            alarm_alert(&t, id, opts)
        }
        Err(e) => malformed_alarm(payload, ALARM_SOURCE, "Lambda alarm action", &e, now, opts),
    }
}

fn synthetic_id(delivery: &str, t: &AlarmTransition) -> String {
    format!(
        "{delivery}:{}@{}:{}",
        t.name,
        t.state_time.timestamp_millis(),
        t.state
    )
}

/// Whether an SNS message is (meant to be) a CloudWatch alarm notification: a JSON object
/// naming an alarm or a new state. Anything else on the topic is a plain notification.
pub(super) fn is_alarm_message(message: &str) -> bool {
    serde_json::from_str::<Value>(message)
        .is_ok_and(|v| v.get("AlarmName").is_some() || v.get("NewStateValue").is_some())
}

/// One SNS record whose message is an alarm notification.
pub(super) fn from_sns_message(
    msg: &aws_lambda_events::sns::SnsMessage,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Alert {
    let ctx = SnsContext {
        topic_arn: Some(&msg.topic_arn),
        fallback_time: Some(msg.timestamp),
    };
    match AlarmTransition::from_sns_message(&msg.message, &ctx) {
        Ok(t) => alarm_alert(&t, msg.message_id.clone(), opts),
        Err(e) => {
            let copy = Value::String(msg.message.clone());
            let mut a =
                malformed_alarm(&copy, ALARM_SOURCE, "SNS alarm notification", &e, now, opts);
            a.event_id = msg.message_id.clone();
            if a.region.is_none() {
                a.region = super::region_from_arn(&msg.topic_arn);
            }
            a
        }
    }
}

fn malformed_alarm(
    payload: &Value,
    source: &str,
    detail_type: &str,
    e: &AlarmParseError,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Alert {
    malformed(
        payload,
        source,
        detail_type,
        &e.to_string(),
        e.alarm_name.as_deref(),
        now,
        opts,
    )
}

/// ALARM is critical, INSUFFICIENT_DATA a warning, OK a resolved notice (whether it is sent
/// is the dedup decision's business, and so is a transition whose actions were suppressed).
fn alarm_severity(state: AlarmState) -> Severity {
    match state {
        AlarmState::Alarm => Severity::Critical,
        AlarmState::InsufficientData => Severity::Warning,
        AlarmState::Ok => Severity::Resolved,
    }
}

pub(super) fn alarm_alert(t: &AlarmTransition, event_id: String, opts: &NormalizeOptions) -> Alert {
    // The name as shown is cleaned of line breaks and bidirectional overrides; the fingerprint
    // and the console link use it exactly as CloudWatch has it.
    let name = clean_inline(&t.name).into_owned();
    let state = t.state.as_str();
    let region_suffix = t
        .region
        .as_deref()
        .map(|r| format!(" in {r}"))
        .unwrap_or_default();
    let mut summary = format!("Alarm \"{name}\"{region_suffix} is now {state}");
    if let Some(prev) = t.previous_state {
        summary.push_str(&format!(" (was {prev})"));
    }
    summary.push_str(&format!(": {}", clean_inline(&t.reason)));
    if let Some(s) = &t.suppressed {
        summary.push_str(&format!(
            " CloudWatch suppressed this transition's actions ({}).",
            s.by.as_str()
        ));
    }
    let runbook = t
        .description
        .as_deref()
        .and_then(runbook_in_description)
        .or_else(|| runbook_for(&t.name, opts));
    Alert {
        kind: if t.is_composite() {
            AlertKind::CompositeAlarm
        } else {
            AlertKind::MetricAlarm
        },
        severity: alarm_severity(t.state),
        title: format!("{state} {name}"),
        summary,
        source: ALARM_SOURCE.into(),
        detail_type: ALARM_DETAIL_TYPE.into(),
        fingerprint: fingerprint(
            t.account.as_deref(),
            t.region.as_deref(),
            ALARM_SOURCE,
            &t.name,
        ),
        console_url: t.region.as_deref().map(|r| {
            format!(
                "https://{r}.console.aws.amazon.com/cloudwatch/home?region={r}#alarmsV2:alarm/{}",
                utf8_percent_encode(&t.name, NON_ALPHANUMERIC)
            )
        }),
        runbook_url: runbook,
        resource: name,
        region: t.region.clone(),
        account: t.account.clone(),
        time: t.state_time,
        state: state.to_string(),
        previous_state: t.previous_state.map(|p| p.as_str().to_string()),
        event_id,
        details: alarm_details(t),
        suppressed_by: t.suppressed.as_ref().map(|s| s.by.clone()),
        labels: super::labels::from_alarm(t),
    }
}

/// The facts of the body, in display order: description, threshold and comparison, recent
/// datapoints, anomaly band, statistic, triggering alarms, rule, metrics, suppression.
fn alarm_details(t: &AlarmTransition) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: String| out.push((k.to_string(), v));
    if let Some(d) = &t.description {
        push("description", clean_inline(d).into_owned());
    }
    if let Some(th) = t.fixed_threshold() {
        push("threshold", Value::from(th).to_string());
    }
    if let Some(c) = &t.comparison {
        push("comparison", c.as_str().to_string());
    }
    let points = t.recent_datapoints();
    if !points.is_empty() {
        let list: Vec<String> = points.iter().map(|p| Value::from(*p).to_string()).collect();
        push("recent datapoints", list.join(", "));
    } else if let Some(p) = bracketed_after(&t.reason, "datapoints [") {
        push("recent datapoints", p);
    }
    if let Some(band) = band(t) {
        push("band", band);
    }
    if let Some(m) = t.metrics.iter().find(|m| m.is_anomaly_band()) {
        push("anomaly detection", m.describe());
    }
    let rd = t.reason_data.as_ref();
    if let (Some(stat), Some(period)) = (
        rd.and_then(|r| r.get("statistic")).and_then(Value::as_str),
        rd.and_then(|r| r.get("period")),
    ) {
        push("statistic", format!("{stat} over {period}s"));
    }
    let triggering: Vec<String> = t
        .triggering_alarms
        .iter()
        .map(|arn| clean_inline(arn.rsplit(':').next().unwrap_or(arn)).into_owned())
        .collect();
    if !triggering.is_empty() {
        push("triggering alarms", triggering.join(", "));
    }
    if let Some(rule) = &t.alarm_rule {
        push("alarm rule", clean_inline(rule).into_owned());
    }
    for m in t.metrics.iter().filter(|m| !m.is_anomaly_band()) {
        let key = if m.expression.is_some() {
            "expression"
        } else {
            "metric"
        };
        push(key, m.describe());
    }
    if let Some(s) = &t.suppressed {
        let why = s
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        push("actions suppressed", format!("{}{why}", s.by.as_str()));
    }
    out
}

/// An anomaly band: `recentLowerThresholds`/`recentUpperThresholds` of `reasonData`, else the
/// bounds the reason text names ("the lower thresholds [8.1] ... the upper thresholds [20.4]").
fn band(t: &AlarmTransition) -> Option<String> {
    let list = |key: &str| {
        let values = t.reason_data.as_ref()?.get(key)?.as_array()?;
        let text: Vec<String> = values.iter().map(Value::to_string).collect();
        (!text.is_empty()).then(|| format!("[{}]", text.join(", ")))
    };
    let lower = list("recentLowerThresholds")
        .or_else(|| bracketed_after(&t.reason, "lower thresholds [").map(|v| format!("[{v}]")));
    let upper = list("recentUpperThresholds")
        .or_else(|| bracketed_after(&t.reason, "upper thresholds [").map(|v| format!("[{v}]")));
    match (lower, upper) {
        (Some(l), Some(u)) => Some(format!("lower {l}, upper {u}")),
        (Some(l), None) => Some(format!("lower {l}")),
        (None, Some(u)) => Some(format!("upper {u}")),
        (None, None) => None,
    }
}

/// The text between `marker` (which ends in `[`) and the matching `]`.
fn bracketed_after(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)? + marker.len();
    let mut depth = 1;
    for (i, c) in text[start..].char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    let inner = text[start..start + i].trim();
                    return (!inner.is_empty()).then(|| clean_inline(inner).into_owned());
                }
            }
            _ => {}
        }
    }
    None
}

/// A plain (non-alarm) notification on a subscribed topic: a warning about the topic. Its
/// fingerprint includes a digest of the message, so two different notifications on one topic
/// never dedupe against each other.
pub(super) fn sns_notification(
    msg: &aws_lambda_events::sns::SnsMessage,
    now: DateTime<Utc>,
    opts: &NormalizeOptions,
) -> Alert {
    let region = super::region_from_arn(&msg.topic_arn);
    let account = msg.topic_arn.split(':').nth(4).map(str::to_string);
    let source = "aws.sns";
    let subject = msg
        .subject
        .clone()
        .unwrap_or_else(|| "SNS notification".into());
    let digest = content_digest(msg.message.as_bytes());
    Alert {
        kind: AlertKind::Generic,
        severity: Severity::Warning,
        title: subject,
        summary: super::truncate(&msg.message, opts.detail_max_bytes),
        source: source.into(),
        detail_type: "SNS notification".into(),
        fingerprint: fingerprint(
            account.as_deref(),
            region.as_deref(),
            source,
            &format!("{}#{digest}", msg.topic_arn),
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
        details: vec![("message digest".into(), digest)],
        suppressed_by: None,
        labels: Default::default(),
    }
}
