//! The classic alarm notification CloudWatch publishes to an SNS topic (the `Message` of the
//! SNS record, itself JSON): `AlarmName`, `AlarmDescription` (null without a description),
//! `AWSAccountId`, `NewStateValue`, `NewStateReason`, `StateChangeTime`, `Region` (a display
//! name such as "US East (N. Virginia)"), `AlarmArn` (not always present), `OldStateValue` and
//! `Trigger` (a single metric with `Threshold`, or `Metrics` for metric math and anomaly
//! detection, where `ThresholdMetricId` replaces `Threshold`); composite alarms have
//! `AlarmRule` and `TriggeringChildren` instead of `Trigger`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    AlarmKind, AlarmMetric, AlarmParseError, AlarmState, AlarmTransition, Comparison, Delivery,
    arn_region_account, eventbridge::not_a_time, parse_time, text,
};

/// What the SNS record around the message says, for what the message itself may lack.
#[derive(Debug, Clone, Default)]
pub struct SnsContext<'a> {
    /// The topic's ARN: region and account when the message has no `AlarmArn`.
    pub topic_arn: Option<&'a str>,
    /// Used when `StateChangeTime` is missing or unreadable; `None` makes that an error.
    pub fallback_time: Option<DateTime<Utc>>,
}

pub(super) fn from_sns_message(
    message: &str,
    ctx: &SnsContext,
) -> Result<AlarmTransition, AlarmParseError> {
    let v: Value = serde_json::from_str(message).map_err(|e| AlarmParseError {
        field: "Message".into(),
        problem: format!("not JSON: {e}"),
        alarm_name: None,
    })?;
    let salvaged = v
        .get("AlarmName")
        .and_then(Value::as_str)
        .map(str::to_string);
    let fail = |field: &str, problem: String| AlarmParseError {
        field: field.to_string(),
        problem,
        alarm_name: salvaged.clone(),
    };
    if !v.is_object() {
        return Err(fail("Message", "not a JSON object".into()));
    }
    let name = text(&v, "AlarmName")
        .ok_or_else(|| fail("AlarmName", "missing or empty".into()))?
        .to_string();
    let state = match v.get("NewStateValue") {
        Some(Value::String(s)) => AlarmState::parse(s).ok_or_else(|| {
            fail(
                "NewStateValue",
                format!("{s:?} is not ALARM, OK or INSUFFICIENT_DATA"),
            )
        })?,
        _ => return Err(fail("NewStateValue", "missing or not a string".into())),
    };
    let state_time = match text(&v, "StateChangeTime") {
        Some(s) => parse_time(s).or(ctx.fallback_time),
        None => ctx.fallback_time,
    }
    .ok_or_else(|| {
        let seen = text(&v, "StateChangeTime").map(not_a_time);
        fail("StateChangeTime", seen.unwrap_or_else(|| "missing".into()))
    })?;
    let arn = text(&v, "AlarmArn").map(str::to_string);
    let (region, account) = region_account(&v, arn.as_deref(), ctx.topic_arn);
    let trigger = v.get("Trigger").unwrap_or(&Value::Null);
    let alarm_rule = text(&v, "AlarmRule").map(str::to_string);
    Ok(AlarmTransition {
        delivery: Delivery::Sns,
        kind: if alarm_rule.is_some() {
            AlarmKind::Composite
        } else {
            AlarmKind::Metric
        },
        previous_state: text(&v, "OldStateValue").and_then(AlarmState::parse),
        reason: text(&v, "NewStateReason").unwrap_or_default().to_string(),
        reason_data: None,
        description: text(&v, "AlarmDescription").map(str::to_string),
        suppressed: None,
        metrics: trigger_metrics(trigger),
        threshold: trigger.get("Threshold").and_then(Value::as_f64),
        threshold_metric_id: text(trigger, "ThresholdMetricId").map(str::to_string),
        comparison: text(trigger, "ComparisonOperator").map(Comparison::parse),
        alarm_rule,
        triggering_alarms: triggering_children(&v),
        account,
        region,
        arn,
        state,
        state_time,
        name,
    })
}

/// Region: the alarm ARN's, else the `Region` display name's code, else the topic's. Account:
/// `AWSAccountId`, else the alarm ARN's, else the topic's.
fn region_account(
    v: &Value,
    arn: Option<&str>,
    topic_arn: Option<&str>,
) -> (Option<String>, Option<String>) {
    let (arn_region, arn_account) = arn.map(arn_region_account).unwrap_or_default();
    let (topic_region, topic_account) = topic_arn.map(arn_region_account).unwrap_or_default();
    let region = arn_region
        .or_else(|| text(v, "Region").and_then(region_code).map(str::to_string))
        .or(topic_region);
    let account = text(v, "AWSAccountId")
        .map(str::to_string)
        .or(arn_account)
        .or(topic_account);
    (region, account)
}

/// `TriggeringChildren[].Arn` of a composite alarm's notification.
fn triggering_children(v: &Value) -> Vec<String> {
    v.get("TriggeringChildren")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter_map(|a| text(a, "Arn").or_else(|| text(a, "arn")))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `Trigger.Metrics` when present (metric math, anomaly detection), else the single metric the
/// trigger names itself.
fn trigger_metrics(trigger: &Value) -> Vec<AlarmMetric> {
    if let Some(list) = trigger
        .get("Metrics")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
    {
        return list.iter().map(query_metric).collect();
    }
    if text(trigger, "MetricName").is_none() {
        return Vec::new();
    }
    vec![AlarmMetric {
        id: None,
        namespace: text(trigger, "Namespace").map(str::to_string),
        name: text(trigger, "MetricName").map(str::to_string),
        dimensions: dimensions(trigger.get("Dimensions")),
        stat: text(trigger, "Statistic")
            .map(api_statistic)
            .or_else(|| text(trigger, "ExtendedStatistic").map(str::to_string)),
        period: trigger.get("Period").and_then(Value::as_i64),
        unit: text(trigger, "Unit").map(str::to_string),
        expression: None,
        label: None,
        return_data: true,
    }]
}

/// One of `Trigger.Metrics`: `{"Id", "Expression", "Label", "ReturnData", "MetricStat":
/// {"Metric": {"Namespace", "MetricName", "Dimensions"}, "Period", "Stat", "Unit"}}`.
fn query_metric(q: &Value) -> AlarmMetric {
    let stat = q.get("MetricStat").unwrap_or(&Value::Null);
    let metric = stat.get("Metric").unwrap_or(&Value::Null);
    let owned = |v: Option<&str>| v.map(str::to_string);
    AlarmMetric {
        id: owned(text(q, "Id")),
        namespace: owned(text(metric, "Namespace")),
        name: owned(text(metric, "MetricName")),
        dimensions: dimensions(metric.get("Dimensions")),
        stat: owned(text(stat, "Stat")),
        period: stat
            .get("Period")
            .or_else(|| q.get("Period"))
            .and_then(Value::as_i64),
        unit: owned(text(stat, "Unit")),
        expression: owned(text(q, "Expression")),
        label: owned(text(q, "Label")),
        return_data: q.get("ReturnData").and_then(Value::as_bool).unwrap_or(true),
    }
}

/// `[{"value": "...", "name": "..."}]` (CloudWatch writes the keys in lower case).
fn dimensions(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|d| {
                    let name = text(d, "name").or_else(|| text(d, "Name"))?;
                    let value = d.get("value").or_else(|| d.get("Value"))?.as_str()?;
                    Some((name.to_string(), value.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `MAXIMUM` (the SNS spelling) to `Maximum` (GetMetricData's).
fn api_statistic(s: &str) -> String {
    match s.to_ascii_uppercase().as_str() {
        "AVERAGE" => "Average".into(),
        "SUM" => "Sum".into(),
        "MINIMUM" => "Minimum".into(),
        "MAXIMUM" => "Maximum".into(),
        "SAMPLE_COUNT" | "SAMPLECOUNT" => "SampleCount".into(),
        _ => s.to_string(),
    }
}

/// The region code for the display name the SNS message's `Region` holds ("US East (N.
/// Virginia)"), or for a code itself; `None` for a name not in the table.
pub fn region_code(name: &str) -> Option<&'static str> {
    const REGIONS: &[(&str, &str)] = &[
        ("US East (N. Virginia)", "us-east-1"),
        ("US East (Ohio)", "us-east-2"),
        ("US West (N. California)", "us-west-1"),
        ("US West (Oregon)", "us-west-2"),
        ("Africa (Cape Town)", "af-south-1"),
        ("Asia Pacific (Hong Kong)", "ap-east-1"),
        ("Asia Pacific (Taipei)", "ap-east-2"),
        ("Asia Pacific (Mumbai)", "ap-south-1"),
        ("Asia Pacific (Hyderabad)", "ap-south-2"),
        ("Asia Pacific (Tokyo)", "ap-northeast-1"),
        ("Asia Pacific (Seoul)", "ap-northeast-2"),
        ("Asia Pacific (Osaka)", "ap-northeast-3"),
        ("Asia Pacific (Singapore)", "ap-southeast-1"),
        ("Asia Pacific (Sydney)", "ap-southeast-2"),
        ("Asia Pacific (Jakarta)", "ap-southeast-3"),
        ("Asia Pacific (Melbourne)", "ap-southeast-4"),
        ("Asia Pacific (Malaysia)", "ap-southeast-5"),
        ("Asia Pacific (Thailand)", "ap-southeast-7"),
        ("Canada (Central)", "ca-central-1"),
        ("Canada West (Calgary)", "ca-west-1"),
        ("EU (Frankfurt)", "eu-central-1"),
        ("EU (Zurich)", "eu-central-2"),
        ("EU (Ireland)", "eu-west-1"),
        ("EU (London)", "eu-west-2"),
        ("EU (Paris)", "eu-west-3"),
        ("EU (Milan)", "eu-south-1"),
        ("EU (Spain)", "eu-south-2"),
        ("EU (Stockholm)", "eu-north-1"),
        ("Israel (Tel Aviv)", "il-central-1"),
        ("Middle East (Bahrain)", "me-south-1"),
        ("Middle East (UAE)", "me-central-1"),
        ("Mexico (Central)", "mx-central-1"),
        ("South America (Sao Paulo)", "sa-east-1"),
        ("AWS GovCloud (US-West)", "us-gov-west-1"),
        ("AWS GovCloud (US-East)", "us-gov-east-1"),
        ("China (Beijing)", "cn-north-1"),
        ("China (Ningxia)", "cn-northwest-1"),
    ];
    let name = name.trim();
    // Newer messages say "Europe (...)" where older ones say "EU (...)"; display names match
    // in any case, so this prefix does too.
    const EUROPE: &str = "Europe (";
    let eu;
    let rest = name
        .get(..EUROPE.len())
        .filter(|p| p.eq_ignore_ascii_case(EUROPE))
        .map(|_| &name[EUROPE.len()..]);
    let name = match rest {
        Some(rest) => {
            eu = format!("EU ({rest}");
            eu.as_str()
        }
        None => name,
    };
    REGIONS
        .iter()
        .find(|(display, code)| display.eq_ignore_ascii_case(name) || *code == name)
        .map(|(_, code)| *code)
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::region_code;

    const ANOMALY: &str = r#"{"AlarmName":"cpu-anomaly","AlarmDescription":null,"AWSAccountId":"123456789012",
      "NewStateValue":"OK","NewStateReason":"Thresholds Crossed: 1 out of the last 1 datapoints [12.0 (03/10/19 16:00:00)] was not less than the lower thresholds [8.1] or not greater than the upper thresholds [20.4] (minimum 1 datapoint for ALARM -> OK transition).",
      "StateChangeTime":"2019-10-03T16:00:04.653+0000","Region":"EU (Ireland)","OldStateValue":"ALARM",
      "Trigger":{"Period":60,"EvaluationPeriods":1,"ComparisonOperator":"LessThanLowerOrGreaterThanUpperThreshold",
        "ThresholdMetricId":"ad1","TreatMissingData":"missing","EvaluateLowSampleCountPercentile":"",
        "Metrics":[{"Expression":"ANOMALY_DETECTION_BAND(m1, 2)","Id":"ad1","Label":"CPUUtilization (expected)","ReturnData":true},
          {"Id":"m1","MetricStat":{"Metric":{"Dimensions":[{"value":"i-1","name":"InstanceId"}],"MetricName":"CPUUtilization","Namespace":"AWS/EC2"},"Period":60,"Stat":"Average"},"ReturnData":true}]}}"#;

    #[test]
    fn anomaly_message_without_threshold_description_or_arn() {
        let t = AlarmTransition::from_sns_message(ANOMALY, &SnsContext::default()).unwrap();
        assert_eq!(t.state, AlarmState::Ok);
        assert_eq!(t.previous_state, Some(AlarmState::Alarm));
        assert_eq!(t.description, None);
        assert_eq!(t.arn, None);
        assert_eq!(t.region.as_deref(), Some("eu-west-1"));
        assert_eq!(t.threshold, None);
        assert_eq!(t.comparison, Some(Comparison::OutsideBand));
        assert!(t.is_anomaly_detection());
        assert_eq!(t.metrics.len(), 2);
        assert_eq!(
            t.metrics[1].dimensions,
            vec![("InstanceId".into(), "i-1".into())]
        );
        assert_eq!(t.single_metric(), None);
    }

    #[test]
    fn region_and_account_fall_back_to_the_topic() {
        let msg = ANOMALY
            .replace("EU (Ireland)", "Somewhere (New)")
            .replace("\"AWSAccountId\":\"123456789012\",", "");
        let ctx = SnsContext {
            topic_arn: Some("arn:aws:sns:ap-south-2:210987654321:alarms"),
            fallback_time: None,
        };
        let t = AlarmTransition::from_sns_message(&msg, &ctx).unwrap();
        assert_eq!(t.region.as_deref(), Some("ap-south-2"));
        assert_eq!(t.account.as_deref(), Some("210987654321"));
        assert_eq!(region_code("Europe (Frankfurt)"), Some("eu-central-1"));
        assert_eq!(region_code("us-west-2"), Some("us-west-2"));
    }

    #[test]
    fn a_bad_state_change_time_names_the_field_unless_there_is_a_fallback() {
        let msg = ANOMALY.replace("2019-10-03T16:00:04.653+0000", "03/10/2019");
        let e = AlarmTransition::from_sns_message(&msg, &SnsContext::default()).unwrap_err();
        assert_eq!(e.field, "StateChangeTime");
        assert_eq!(e.alarm_name.as_deref(), Some("cpu-anomaly"));
        let at: DateTime<Utc> = "2019-10-03T16:00:05Z".parse().unwrap();
        let ctx = SnsContext {
            topic_arn: None,
            fallback_time: Some(at),
        };
        assert_eq!(
            AlarmTransition::from_sns_message(&msg, &ctx)
                .unwrap()
                .state_time,
            at
        );
        let e = AlarmTransition::from_sns_message("{\"hello\":1}", &ctx).unwrap_err();
        assert_eq!(e.field, "AlarmName");
    }
}
