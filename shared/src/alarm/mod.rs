//! One reading of a CloudWatch alarm state change, whichever way it arrives: the EventBridge
//! "CloudWatch Alarm State Change" event, the classic notification CloudWatch publishes to an
//! SNS topic, or the payload of a Lambda alarm action. alerts and scaler both read alarms
//! through [`AlarmTransition`], so the two can never disagree on what an alarm said or on the
//! identity of a transition (alarm name and state time).
//!
//! Tolerant where AWS varies (documented in the CloudWatch user guide, "Using Amazon SNS
//! notifications", "Alarm events and EventBridge", "Invoke a Lambda function from an alarm"):
//! `AlarmDescription` is `null` for an alarm without one, anomaly-detection alarms have no
//! `Threshold` (a `ThresholdMetricId` and a `Metrics` list instead, and `reasonData` without
//! `threshold`), metric-math alarms have `Metrics` with expressions, some deliveries carry no
//! `AlarmArn`, composite alarms may have their actions suppressed (`actionsSuppressedBy`).
//! Strict where the transition would otherwise be misidentified: the alarm name, the new state
//! and the state time are required, and an error names the field.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod eventbridge;
mod sns;

pub use sns::{SnsContext, region_code};

/// The EventBridge source (and the alerts' fingerprint source) of alarm state changes.
pub const ALARM_SOURCE: &str = "aws.cloudwatch";
pub const ALARM_DETAIL_TYPE: &str = "CloudWatch Alarm State Change";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    /// CloudWatch's spelling of a state value (exactly; anything else is not a state).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "OK" => Some(AlarmState::Ok),
            "ALARM" => Some(AlarmState::Alarm),
            "INSUFFICIENT_DATA" => Some(AlarmState::InsufficientData),
            _ => None,
        }
    }
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the transition reached the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    EventBridge,
    Sns,
    LambdaAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmKind {
    Metric,
    Composite,
}

/// Why CloudWatch did not run the alarm's actions for this transition (composite alarms with
/// an actions suppressor): `WaitPeriod`, `ExtensionPeriod` or `Alarm` (the suppressor alarm is
/// in ALARM).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum SuppressedBy {
    WaitPeriod,
    ExtensionPeriod,
    Alarm,
    Other(String),
}

impl SuppressedBy {
    pub fn as_str(&self) -> &str {
        match self {
            SuppressedBy::WaitPeriod => "WaitPeriod",
            SuppressedBy::ExtensionPeriod => "ExtensionPeriod",
            SuppressedBy::Alarm => "Alarm",
            SuppressedBy::Other(s) => s,
        }
    }
}

impl From<String> for SuppressedBy {
    fn from(s: String) -> Self {
        match s.as_str() {
            "WaitPeriod" => SuppressedBy::WaitPeriod,
            "ExtensionPeriod" => SuppressedBy::ExtensionPeriod,
            "Alarm" => SuppressedBy::Alarm,
            _ => SuppressedBy::Other(s),
        }
    }
}

impl From<SuppressedBy> for String {
    fn from(s: SuppressedBy) -> Self {
        s.as_str().to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionsSuppression {
    pub by: SuppressedBy,
    /// `actionsSuppressedReason`, e.g. "Actions suppressed by WaitPeriod".
    pub reason: Option<String>,
}

/// The comparison of a metric alarm (`ComparisonOperator`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
    /// Anomaly detection: outside the band, above it or below it.
    OutsideBand,
    AboveBand,
    BelowBand,
    Other(String),
}

impl Comparison {
    pub fn parse(s: &str) -> Self {
        match s {
            "GreaterThanThreshold" => Comparison::GreaterThan,
            "GreaterThanOrEqualToThreshold" => Comparison::GreaterThanOrEqual,
            "LessThanThreshold" => Comparison::LessThan,
            "LessThanOrEqualToThreshold" => Comparison::LessThanOrEqual,
            "LessThanLowerOrGreaterThanUpperThreshold" => Comparison::OutsideBand,
            "GreaterThanUpperThreshold" => Comparison::AboveBand,
            "LessThanLowerThreshold" => Comparison::BelowBand,
            other => Comparison::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Comparison::GreaterThan => "GreaterThanThreshold",
            Comparison::GreaterThanOrEqual => "GreaterThanOrEqualToThreshold",
            Comparison::LessThan => "LessThanThreshold",
            Comparison::LessThanOrEqual => "LessThanOrEqualToThreshold",
            Comparison::OutsideBand => "LessThanLowerOrGreaterThanUpperThreshold",
            Comparison::AboveBand => "GreaterThanUpperThreshold",
            Comparison::BelowBand => "LessThanLowerThreshold",
            Comparison::Other(s) => s,
        }
    }

    /// True when breaching is above a fixed threshold, false below; `None` for bands and
    /// unknown operators.
    pub fn breach_above(&self) -> Option<bool> {
        match self {
            Comparison::GreaterThan | Comparison::GreaterThanOrEqual => Some(true),
            Comparison::LessThan | Comparison::LessThanOrEqual => Some(false),
            _ => None,
        }
    }
}

/// One metric or expression of the alarm (a single-metric alarm has one, without an id).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlarmMetric {
    pub id: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub dimensions: Vec<(String, String)>,
    /// The statistic in the GetMetricData spelling (`Average`, `Maximum`, `p99`...).
    pub stat: Option<String>,
    pub period: Option<i64>,
    pub unit: Option<String>,
    /// A metric-math or anomaly-detection expression, e.g. `ANOMALY_DETECTION_BAND(m1, 2)`.
    pub expression: Option<String>,
    pub label: Option<String>,
    pub return_data: bool,
}

impl AlarmMetric {
    pub fn is_anomaly_band(&self) -> bool {
        self.expression
            .as_deref()
            .is_some_and(|e| e.trim_start().starts_with("ANOMALY_DETECTION_BAND"))
    }

    /// `AWS/Kinesis GetRecords.IteratorAgeMilliseconds StreamName=raw` or `e1 = m1+m2 (Total)`.
    pub fn describe(&self) -> String {
        if let Some(expr) = &self.expression {
            let id = self.id.as_deref().unwrap_or("expression");
            return match &self.label {
                Some(label) => format!("{id} = {expr} ({label})"),
                None => format!("{id} = {expr}"),
            };
        }
        let dims: Vec<String> = self
            .dimensions
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "{} {} {}",
            self.namespace.as_deref().unwrap_or(""),
            self.name.as_deref().unwrap_or(""),
            dims.join(",")
        )
        .trim()
        .to_string()
    }
}

/// An alarm state change, read from any of its three deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmTransition {
    pub delivery: Delivery,
    pub name: String,
    pub arn: Option<String>,
    pub account: Option<String>,
    /// The region code (`us-east-1`), however the delivery spelled it.
    pub region: Option<String>,
    pub kind: AlarmKind,
    pub state: AlarmState,
    pub previous_state: Option<AlarmState>,
    pub reason: String,
    /// `reasonData` decoded (it is a JSON string inside the event); SNS carries none.
    pub reason_data: Option<Value>,
    /// When the new state began: with the name, the identity of the transition.
    pub state_time: DateTime<Utc>,
    pub description: Option<String>,
    pub suppressed: Option<ActionsSuppression>,
    pub metrics: Vec<AlarmMetric>,
    /// The fixed threshold; `None` for anomaly-detection and composite alarms.
    pub threshold: Option<f64>,
    /// Anomaly detection: the id of the band expression among `metrics`.
    pub threshold_metric_id: Option<String>,
    pub comparison: Option<Comparison>,
    pub alarm_rule: Option<String>,
    /// ARNs of the alarms that triggered a composite alarm.
    pub triggering_alarms: Vec<String>,
}

/// The single metric an alarm watches with a fixed threshold: enough to re-read it.
#[derive(Debug, Clone, PartialEq)]
pub struct SingleMetric<'a> {
    pub metric: &'a AlarmMetric,
    pub threshold: f64,
    pub breach_above: bool,
}

/// Why a payload is not a readable alarm state change, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmParseError {
    /// The field's path in the delivery, e.g. `detail.state.timestamp` or `StateChangeTime`.
    pub field: String,
    pub problem: String,
    /// The alarm's name when it could be read: what a malformed alert can still be about.
    pub alarm_name: Option<String>,
}

impl fmt::Display for AlarmParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for AlarmParseError {}

impl AlarmTransition {
    /// An EventBridge "CloudWatch Alarm State Change" event (the whole event).
    pub fn from_eventbridge(event: &Value) -> Result<Self, AlarmParseError> {
        eventbridge::from_eventbridge(event)
    }

    /// The payload CloudWatch sends a Lambda function that is an alarm action.
    pub fn from_lambda_action(payload: &Value) -> Result<Self, AlarmParseError> {
        eventbridge::from_lambda_action(payload)
    }

    /// The `Message` of an SNS notification CloudWatch published for an alarm.
    pub fn from_sns_message(message: &str, ctx: &SnsContext) -> Result<Self, AlarmParseError> {
        sns::from_sns_message(message, ctx)
    }

    /// The state time as the scaler's claim key has always spelled it (RFC 3339, UTC).
    pub fn state_time_key(&self) -> String {
        self.state_time.to_rfc3339()
    }

    pub fn is_composite(&self) -> bool {
        self.kind == AlarmKind::Composite
    }

    /// A fixed threshold, from the alarm's configuration or its `reasonData`.
    pub fn fixed_threshold(&self) -> Option<f64> {
        self.threshold.or_else(|| {
            self.reason_data
                .as_ref()
                .and_then(|r| r.get("threshold"))
                .and_then(Value::as_f64)
        })
    }

    /// Anomaly detection: a band expression, a band comparison or band data in `reasonData`.
    pub fn is_anomaly_detection(&self) -> bool {
        self.threshold_metric_id.is_some()
            || self.metrics.iter().any(AlarmMetric::is_anomaly_band)
            || matches!(
                self.comparison,
                Some(Comparison::OutsideBand | Comparison::AboveBand | Comparison::BelowBand)
            )
            || self
                .reason_data
                .as_ref()
                .is_some_and(|r| r.get("recentUpperThresholds").is_some())
    }

    /// `recentDatapoints` of `reasonData`, oldest first as CloudWatch lists them.
    pub fn recent_datapoints(&self) -> Vec<f64> {
        self.reason_data
            .as_ref()
            .and_then(|r| r.get("recentDatapoints"))
            .and_then(Value::as_array)
            .map(|p| p.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    }

    /// The one metric with a fixed threshold this alarm watches; `None` for composite,
    /// metric-math and anomaly-detection alarms (they are taken at their word). Which side is
    /// the breach comes from the comparison, or else from the alarm's own last datapoint.
    pub fn single_metric(&self) -> Option<SingleMetric<'_>> {
        let [metric] = self.metrics.as_slice() else {
            return None;
        };
        metric.namespace.as_ref()?;
        metric.name.as_ref()?;
        if metric.expression.is_some() || self.is_anomaly_detection() {
            return None;
        }
        let threshold = self.fixed_threshold()?;
        let breach_above = match &self.comparison {
            Some(c) => c.breach_above()?,
            None => *self.recent_datapoints().last()? > threshold,
        };
        Some(SingleMetric {
            metric,
            threshold,
            breach_above,
        })
    }
}

/// The time formats CloudWatch and EventBridge write: `2026-11-23T10:00:13.250+0000` (no colon
/// in the offset), RFC 3339 (`...Z`, `+00:00`) and chrono's relaxed RFC 3339 (a space for `T`).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| s.parse::<DateTime<Utc>>().ok())
}

/// `arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME` (any ARN): its region and account.
pub fn arn_region_account(arn: &str) -> (Option<String>, Option<String>) {
    let mut parts = arn.split(':');
    let non_empty = |p: Option<&str>| p.filter(|s| !s.is_empty()).map(str::to_string);
    if parts.next() != Some("arn") {
        return (None, None);
    }
    let region = non_empty(parts.nth(2));
    let account = non_empty(parts.next());
    (region, account)
}

/// A non-empty string member (`null`, absent, empty and other types read as none).
pub(crate) fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// A member that is a JSON object, or a string holding one (`reasonData`, `stateChangeReason`).
pub(crate) fn embedded_json(v: Option<&Value>) -> Option<Value> {
    match v? {
        Value::String(s) => serde_json::from_str::<Value>(s)
            .ok()
            .filter(Value::is_object),
        o @ Value::Object(_) => Some(o.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_format_cloudwatch_writes() {
        let want: DateTime<Utc> = "2026-11-23T10:00:13.250Z".parse().unwrap();
        for s in [
            "2026-11-23T10:00:13.250+0000",
            "2026-11-23T10:00:13.250Z",
            "2026-11-23T10:00:13.250+00:00",
            "2026-11-23 10:00:13.250Z",
            "2026-11-23T11:00:13.250+0100",
        ] {
            assert_eq!(parse_time(s), Some(want), "{s}");
        }
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn arns_give_region_and_account() {
        assert_eq!(
            arn_region_account("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:a:b"),
            (Some("eu-west-1".into()), Some("123456789012".into()))
        );
        assert_eq!(arn_region_account("nope"), (None, None));
    }

    #[test]
    fn comparisons_and_suppressors_are_enums() {
        assert_eq!(
            Comparison::parse("LessThanLowerOrGreaterThanUpperThreshold"),
            Comparison::OutsideBand
        );
        assert_eq!(Comparison::OutsideBand.breach_above(), None);
        assert_eq!(
            Comparison::parse("LessThanThreshold").breach_above(),
            Some(false)
        );
        assert_eq!(
            SuppressedBy::from("WaitPeriod".to_string()),
            SuppressedBy::WaitPeriod
        );
        assert_eq!(
            serde_json::to_value(SuppressedBy::ExtensionPeriod).unwrap(),
            "ExtensionPeriod"
        );
    }
}
