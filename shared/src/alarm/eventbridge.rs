//! The two JSON deliveries that share CloudWatch's alarm-data shape (`alarmName`, `state`,
//! `previousState`, `configuration`): the EventBridge event's `detail` and the Lambda alarm
//! action's `alarmData`.

use serde_json::Value;

use super::{
    ALARM_DETAIL_TYPE, ALARM_SOURCE, ActionsSuppression, AlarmKind, AlarmMetric, AlarmParseError,
    AlarmState, AlarmTransition, Delivery, arn_region_account, embedded_json, parse_time, text,
};

/// What the envelope around the alarm data says.
struct Envelope {
    delivery: Delivery,
    account: Option<String>,
    region: Option<String>,
    arn: Option<String>,
}

pub(super) fn from_eventbridge(event: &Value) -> Result<AlarmTransition, AlarmParseError> {
    let fail = |field: &str, problem: String| AlarmParseError {
        field: field.to_string(),
        problem,
        alarm_name: event
            .pointer("/detail/alarmName")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    match event.get("detail-type").and_then(Value::as_str) {
        Some(ALARM_DETAIL_TYPE) => {}
        other => {
            return Err(fail(
                "detail-type",
                format!("{other:?} is not {ALARM_DETAIL_TYPE:?}"),
            ));
        }
    }
    let detail = event
        .get("detail")
        .filter(|d| d.is_object())
        .ok_or_else(|| fail("detail", "missing or not an object".into()))?;
    // resources[0] is the alarm's ARN.
    let arn = event
        .get("resources")
        .and_then(Value::as_array)
        .and_then(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .find(|a| a.contains(":alarm:"))
        })
        .map(str::to_string);
    let envelope = Envelope {
        delivery: Delivery::EventBridge,
        account: text(event, "account").map(str::to_string),
        region: text(event, "region").map(str::to_string),
        arn,
    };
    read_alarm_data(detail, "detail", envelope)
}

pub(super) fn from_lambda_action(payload: &Value) -> Result<AlarmTransition, AlarmParseError> {
    let data = payload.get("alarmData").filter(|d| d.is_object());
    let fail = |field: &str, problem: String| AlarmParseError {
        field: field.to_string(),
        problem,
        alarm_name: data
            .and_then(|d| d.get("alarmName"))
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    if text(payload, "source") != Some(ALARM_SOURCE) {
        return Err(fail("source", format!("is not {ALARM_SOURCE:?}")));
    }
    let data = data.ok_or_else(|| fail("alarmData", "missing or not an object".into()))?;
    let arn = text(payload, "alarmArn").map(str::to_string);
    let (arn_region, arn_account) = arn.as_deref().map(arn_region_account).unwrap_or_default();
    let envelope = Envelope {
        delivery: Delivery::LambdaAction,
        account: text(payload, "accountId")
            .map(str::to_string)
            .or(arn_account),
        region: text(payload, "region").map(str::to_string).or(arn_region),
        arn,
    };
    read_alarm_data(data, "alarmData", envelope)
}

fn read_alarm_data(
    data: &Value,
    prefix: &str,
    envelope: Envelope,
) -> Result<AlarmTransition, AlarmParseError> {
    let salvaged = data
        .get("alarmName")
        .and_then(Value::as_str)
        .map(str::to_string);
    let fail = |field: &str, problem: String| AlarmParseError {
        field: format!("{prefix}.{field}"),
        problem,
        alarm_name: salvaged.clone(),
    };
    let name = text(data, "alarmName")
        .ok_or_else(|| fail("alarmName", "missing or empty".into()))?
        .to_string();
    let state = read_state(data.get("state")).map_err(|(field, p)| fail(field, p))?;
    let config = data.get("configuration").unwrap_or(&Value::Null);
    let alarm_rule = text(config, "alarmRule").map(str::to_string);
    let metrics: Vec<AlarmMetric> = config
        .get("metrics")
        .and_then(Value::as_array)
        .map(|m| m.iter().map(metric).collect())
        .unwrap_or_default();
    let (arn_region, arn_account) = envelope
        .arn
        .as_deref()
        .map(arn_region_account)
        .unwrap_or_default();
    Ok(AlarmTransition {
        delivery: envelope.delivery,
        kind: if alarm_rule.is_some() {
            AlarmKind::Composite
        } else {
            AlarmKind::Metric
        },
        state: state.value,
        previous_state: data
            .pointer("/previousState/value")
            .and_then(Value::as_str)
            .and_then(AlarmState::parse),
        reason: state.reason,
        threshold: state
            .reason_data
            .as_ref()
            .and_then(|r| r.get("threshold"))
            .and_then(Value::as_f64),
        triggering_alarms: triggering_alarms(state.reason_data.as_ref()),
        reason_data: state.reason_data,
        state_time: state.time,
        description: text(config, "description").map(str::to_string),
        suppressed: state.suppressed,
        threshold_metric_id: metrics
            .iter()
            .find(|m| m.is_anomaly_band())
            .and_then(|m| m.id.clone()),
        metrics,
        comparison: None,
        alarm_rule,
        account: envelope.account.or(arn_account),
        region: envelope.region.or(arn_region),
        arn: envelope.arn,
        name,
    })
}

/// The `state` member: value, time, reason, decoded `reasonData`, suppression.
struct StateRead {
    value: AlarmState,
    time: chrono::DateTime<chrono::Utc>,
    reason: String,
    reason_data: Option<Value>,
    suppressed: Option<ActionsSuppression>,
}

/// Errors are (field under the alarm data, problem).
fn read_state(state: Option<&Value>) -> Result<StateRead, (&'static str, String)> {
    let state = state
        .filter(|s| s.is_object())
        .ok_or(("state", "missing or not an object".to_string()))?;
    let value = state_value(state.get("value")).map_err(|p| ("state.value", p))?;
    let time = match state.get("timestamp") {
        Some(Value::String(s)) => parse_time(s).ok_or(("state.timestamp", not_a_time(s)))?,
        Some(other) => return Err(("state.timestamp", format!("{other} is not a time"))),
        None => return Err(("state.timestamp", "missing".into())),
    };
    Ok(StateRead {
        value,
        time,
        reason: state
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        reason_data: embedded_json(state.get("reasonData")),
        suppressed: text(state, "actionsSuppressedBy").map(|by| ActionsSuppression {
            by: by.to_string().into(),
            reason: text(state, "actionsSuppressedReason").map(str::to_string),
        }),
    })
}

/// `reasonData.triggeringAlarms[].arn` of a composite alarm.
fn triggering_alarms(reason_data: Option<&Value>) -> Vec<String> {
    reason_data
        .and_then(|r| r.get("triggeringAlarms"))
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(|a| a.get("arn").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn state_value(v: Option<&Value>) -> Result<AlarmState, String> {
    match v {
        Some(Value::String(s)) => AlarmState::parse(s)
            .ok_or_else(|| format!("{s:?} is not ALARM, OK or INSUFFICIENT_DATA")),
        Some(other) => Err(format!("{other} is not ALARM, OK or INSUFFICIENT_DATA")),
        None => Err("missing".into()),
    }
}

pub(super) fn not_a_time(s: &str) -> String {
    format!("{s:?} is not a time (expected e.g. 2026-11-23T10:00:13.250+0000 or RFC 3339)")
}

/// `{"id", "metricStat": {"metric": {"namespace", "name", "dimensions": {..}}, "period",
/// "stat", "unit"}, "expression", "label", "returnData"}`.
fn metric(m: &Value) -> AlarmMetric {
    let stat = m.get("metricStat").unwrap_or(&Value::Null);
    let metric = stat.get("metric").unwrap_or(&Value::Null);
    let owned = |v: Option<&str>| v.map(str::to_string);
    AlarmMetric {
        id: owned(text(m, "id")),
        namespace: owned(text(metric, "namespace")),
        name: owned(text(metric, "name")),
        dimensions: metric
            .get("dimensions")
            .and_then(Value::as_object)
            .map(|d| {
                d.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
        stat: owned(text(stat, "stat")),
        period: stat.get("period").and_then(Value::as_i64),
        unit: owned(text(stat, "unit")),
        expression: owned(text(m, "expression")),
        label: owned(text(m, "label")),
        return_data: m.get("returnData").and_then(Value::as_bool).unwrap_or(true),
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use serde_json::json;

    fn event(detail: Value) -> Value {
        json!({"version": "0", "id": "e1", "detail-type": "CloudWatch Alarm State Change",
               "source": "aws.cloudwatch", "account": "123456789012", "time": "2026-11-23T10:00:13Z",
               "region": "us-east-1",
               "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:a"], "detail": detail})
    }

    #[test]
    fn anomaly_reason_data_keeps_its_datapoints_and_band() {
        let t = AlarmTransition::from_eventbridge(&event(json!({
            "alarmName": "a",
            "state": {"value": "ALARM", "reason": "Thresholds Crossed",
                      "reasonData": "{\"version\":\"1.0\",\"period\":60,\"recentDatapoints\":[0.0,7.5],\"recentLowerThresholds\":[1.0],\"recentUpperThresholds\":[5.0]}",
                      "timestamp": "2019-10-03T16:00:04.653+0000"},
            "configuration": {"metrics": [
                {"id": "m1", "metricStat": {"metric": {"namespace": "AWS/EC2", "name": "CPUUtilization",
                  "dimensions": {"InstanceId": "i-1"}}, "period": 60, "stat": "Average"}, "returnData": true},
                {"id": "ad1", "expression": "ANOMALY_DETECTION_BAND(m1, 2)", "label": "expected", "returnData": true}]}
        })))
        .unwrap();
        assert_eq!(t.recent_datapoints(), vec![0.0, 7.5]);
        assert_eq!(t.threshold, None);
        assert!(t.is_anomaly_detection());
        assert_eq!(t.threshold_metric_id.as_deref(), Some("ad1"));
        assert_eq!(t.single_metric(), None);
        assert_eq!(t.description, None);
    }

    #[test]
    fn errors_name_the_field_and_keep_the_alarm_name() {
        let e = AlarmTransition::from_eventbridge(&event(json!({
            "alarmName": "a", "state": {"value": "ALARM", "reason": "r", "timestamp": "soon"}
        })))
        .unwrap_err();
        assert_eq!(e.field, "detail.state.timestamp");
        assert_eq!(e.alarm_name.as_deref(), Some("a"));
        assert!(
            e.to_string()
                .starts_with("detail.state.timestamp: \"soon\""),
            "{e}"
        );
        let e = AlarmTransition::from_eventbridge(&event(json!({
            "alarmName": "a", "state": {"value": 42, "timestamp": "2026-11-23T10:00:13.250+0000"}
        })))
        .unwrap_err();
        assert_eq!(e.field, "detail.state.value");
    }

    #[test]
    fn suppressed_composite_transition() {
        let t = AlarmTransition::from_eventbridge(&event(json!({
            "alarmName": "c",
            "state": {"value": "ALARM", "reason": "r", "timestamp": "2022-07-22T15:57:45.394+0000",
                      "actionsSuppressedBy": "WaitPeriod", "actionsSuppressedReason": "Actions suppressed by WaitPeriod"},
            "configuration": {"alarmRule": "ALARM(x)", "actionsSuppressor": "m",
                              "actionsSuppressorWaitPeriod": 120, "actionsSuppressorExtensionPeriod": 180}
        })))
        .unwrap();
        assert!(t.is_composite());
        assert_eq!(t.suppressed.unwrap().by, SuppressedBy::WaitPeriod);
    }
}
