//! The alarm state changes the scaler acts on, read by the shared parser
//! ([`streamops_shared::alarm`], the one alerts uses too): an EventBridge "CloudWatch Alarm
//! State Change" event, an SNS notification event (one per record, each message in
//! CloudWatch's SNS alarm format) or a Lambda alarm-action payload. A transition is identified
//! by the alarm's name and its state time, the same whichever way it arrived, so the twins of
//! one transition are claimed once.

use aws_lambda_events::sns::SnsEvent;
use serde_json::Value;
use streamops_shared::alarm::{
    ALARM_SOURCE, AlarmParseError, AlarmState, AlarmTransition, SnsContext, SuppressedBy,
};
use streamops_shared::text::shorten_at_word;

use crate::metric::MetricCheck;

/// How much of the alarm's reason a decision keeps (cut at a word, with an ellipsis).
pub const REASON_MAX_CHARS: usize = 200;

/// The parts of an alarm state change the scaler uses.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmChange {
    /// The alarm's metric, to re-read before acting (single-metric alarms).
    pub check: Option<MetricCheck>,
    pub name: String,
    pub state: AlarmState,
    /// The state's timestamp (RFC 3339, UTC): with the name, it identifies the transition.
    pub state_time: String,
    pub reason: String,
    /// CloudWatch suppressed this transition's actions (composite alarm actions suppressor):
    /// the scaler does not act on it either.
    pub suppressed: Option<SuppressedBy>,
}

/// What the scaler does with an alarm state change, before looking at any target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// ALARM: a decision is asked for (claimed once per transition).
    Decide,
    /// ALARM whose actions CloudWatch suppressed: skipped and not claimed.
    ActionsSuppressed(SuppressedBy),
    /// OK or INSUFFICIENT_DATA: ends the decision an earlier ALARM left open.
    EndsOpenDecision,
}

impl AlarmChange {
    pub fn disposition(&self) -> Disposition {
        match (self.state, &self.suppressed) {
            (AlarmState::Alarm, None) => Disposition::Decide,
            (AlarmState::Alarm, Some(by)) => Disposition::ActionsSuppressed(by.clone()),
            (AlarmState::Ok | AlarmState::InsufficientData, _) => Disposition::EndsOpenDecision,
        }
    }

    pub fn from_transition(t: &AlarmTransition) -> Self {
        AlarmChange {
            check: check_from(t),
            name: t.name.clone(),
            state: t.state,
            state_time: t.state_time_key(),
            reason: t.reason.clone(),
            suppressed: t.suppressed.as_ref().map(|s| s.by.clone()),
        }
    }

    /// The reason as a decision records it: at most [`REASON_MAX_CHARS`], cut at a word.
    pub fn short_reason(&self) -> String {
        shorten_at_word(&self.reason, REASON_MAX_CHARS).into_owned()
    }
}

/// Alarm state changes from an EventBridge event or a Lambda alarm action (one), or an SNS
/// notification event (one per record).
pub fn parse_alarms(payload: &Value) -> Result<Vec<AlarmChange>, String> {
    if payload.get("Records").is_none() {
        return parse_alarm(payload).map(|a| vec![a]);
    }
    let event: SnsEvent =
        serde_json::from_value(payload.clone()).map_err(|e| format!("not an SNS event: {e}"))?;
    event
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            // No fallback time: the state time is the claim key, and a guess would not match
            // the EventBridge twin's.
            let ctx = SnsContext {
                topic_arn: Some(&r.sns.topic_arn),
                fallback_time: None,
            };
            AlarmTransition::from_sns_message(&r.sns.message, &ctx)
                .map(|t| AlarmChange::from_transition(&t))
                .map_err(|e| sns_error(i, &r.sns.message_id, &e))
        })
        .collect()
}

fn sns_error(i: usize, message_id: &str, e: &AlarmParseError) -> String {
    // A message that names no alarm is not an alarm notification at all.
    if e.alarm_name.is_none() {
        return format!(
            "SNS record {i} (message {message_id}) is not a CloudWatch alarm notification: {e}"
        );
    }
    format!("SNS record {i} (message {message_id}): alarm notification field {e}")
}

/// One EventBridge alarm state change, or a Lambda alarm-action payload.
pub fn parse_alarm(payload: &Value) -> Result<AlarmChange, String> {
    let lambda_action = payload.get("alarmData").is_some()
        && payload.get("detail-type").is_none()
        && payload.get("source").and_then(Value::as_str) == Some(ALARM_SOURCE);
    let read = if lambda_action {
        AlarmTransition::from_lambda_action(payload)
    } else {
        if !payload.is_object() || payload.get("detail-type").is_none() {
            return Err(format!(
                "not an EventBridge event, an SNS event or a Lambda alarm action (a JSON {})",
                if payload.is_object() {
                    "object without detail-type"
                } else {
                    "value that is no object"
                }
            ));
        }
        AlarmTransition::from_eventbridge(payload)
    };
    read.map(|t| AlarmChange::from_transition(&t))
        .map_err(|e| format!("alarm state change field {e}"))
}

/// The check of a single-metric alarm with a fixed threshold; `None` for composite,
/// metric-math and anomaly-detection alarms (taken at their word).
pub fn check_from(t: &AlarmTransition) -> Option<MetricCheck> {
    let single = t.single_metric()?;
    let m = single.metric;
    Some(MetricCheck {
        namespace: m.namespace.clone()?,
        name: m.name.clone()?,
        dimensions: m.dimensions.clone(),
        period: m.period.unwrap_or(60) as i32,
        stat: m.stat.clone().unwrap_or_else(|| "Average".into()),
        threshold: single.threshold,
        breach_above: single.breach_above,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Reads the check from an EventBridge alarm state change's `detail` (single-metric alarms
    /// only; composite, metric-math and anomaly-detection alarms give `None` and are taken at their
    /// word).
    fn metric_check(detail: &Value) -> Option<MetricCheck> {
        let event = serde_json::json!({
            "detail-type": streamops_shared::alarm::ALARM_DETAIL_TYPE,
            "detail": detail,
        });
        let t = AlarmTransition::from_eventbridge(&event).ok()?;
        check_from(&t)
    }

    #[test]
    fn check_from_the_alarm_fixture() {
        let e = streamops_test_support::fixture("scaler/alarm-raw-iterator-age.json");
        let c = metric_check(&e["detail"]).unwrap();
        assert_eq!(
            (c.namespace.as_str(), c.name.as_str()),
            ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds")
        );
        assert_eq!(
            c.dimensions,
            vec![("StreamName".to_string(), "streamops-raw".to_string())]
        );
        assert!(c.breach_above);
        assert_eq!(c.threshold, 60000.0);
        assert!(c.still_breaching(Some(90000.0)));
        assert!(!c.still_breaching(Some(1000.0)));
        assert!(c.still_breaching(None));
        let low = MetricCheck {
            breach_above: false,
            threshold: 15.0,
            ..c
        };
        assert!(low.still_breaching(Some(9.0)) && !low.still_breaching(Some(40.0)));
    }

    fn fixture(name: &str) -> Value {
        streamops_test_support::fixture(&format!("scaler/{name}"))
    }

    #[test]
    fn a_long_reason_is_cut_at_a_word_with_an_ellipsis() {
        let mut v = fixture("alarm-raw-iterator-age.json");
        let reason = format!("Threshold Crossed: {}", "datapoint ".repeat(40));
        v["detail"]["state"]["reason"] = json!(reason);
        let a = parse_alarm(&v).unwrap();
        let short = a.short_reason();
        assert!(short.chars().count() <= REASON_MAX_CHARS);
        assert!(short.ends_with("datapoint…"), "{short}");
    }

    #[test]
    fn a_bad_timestamp_is_named() {
        let mut v = fixture("alarm-raw-iterator-age.json");
        v["detail"]["state"]["timestamp"] = json!("23/11/2026 10:00");
        let e = parse_alarms(&v).unwrap_err();
        assert!(e.contains("detail.state.timestamp"), "{e}");
        let mut v = fixture("sns-alarm-raw-iterator-age.json");
        let msg = v["Records"][0]["Sns"]["Message"]
            .as_str()
            .unwrap()
            .replace("2026-11-23T10:00:13.250+0000", "23/11/2026 10:00");
        v["Records"][0]["Sns"]["Message"] = json!(msg);
        let e = parse_alarms(&v).unwrap_err();
        assert!(e.contains("StateChangeTime"), "{e}");
    }
}
