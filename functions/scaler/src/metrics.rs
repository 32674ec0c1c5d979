//! An alarm is a wake-up, not the measurement: before acting, the scaler re-reads the alarm's
//! metric with `GetMetricData` and does not act when it has already recovered, and reads the
//! target's load (input and processing rates, lag) for proportional sizing.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use streamops_shared::AwsCallError;

use crate::policy::{LoadMetrics, MetricRef};
use crate::sizing::LoadSample;

/// The alarm's metric and which side of its threshold is the breach, from the alarm event.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct MetricCheck {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
    pub period: i32,
    pub stat: String,
    pub threshold: f64,
    /// True when breaching means above the threshold (the alarm's own datapoints were above it).
    pub breach_above: bool,
}

/// Reads the check from an EventBridge alarm state change's `detail` (single-metric alarms
/// only; composite, metric-math and anomaly-detection alarms give `None` and are taken at their
/// word). The reading is the shared alarm parser's, see [`crate::alarm::check_from`].
pub fn metric_check(detail: &Value) -> Option<MetricCheck> {
    let event = serde_json::json!({
        "detail-type": streamops_shared::alarm::ALARM_DETAIL_TYPE,
        "detail": detail,
    });
    let t = streamops_shared::alarm::AlarmTransition::from_eventbridge(&event).ok()?;
    crate::alarm::check_from(&t)
}

/// Whether `latest` still breaches; `None` (no fresh datapoint) leaves the alarm's word standing.
pub fn still_breaching(check: &MetricCheck, latest: Option<f64>) -> bool {
    match latest {
        None => true,
        Some(v) if check.breach_above => v > check.threshold,
        Some(v) => v < check.threshold,
    }
}

impl MetricCheck {
    pub fn metric(&self) -> MetricRef {
        MetricRef {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            dimensions: self.dimensions.iter().cloned().collect(),
            stat: self.stat.clone(),
            period: self.period,
            scale: 1.0,
        }
    }
}

/// The alarm metric's most recent datapoint.
pub async fn latest_value(
    client: &Client,
    check: &MetricCheck,
    now: DateTime<Utc>,
) -> Result<Option<f64>, AwsCallError> {
    latest(client, &check.metric(), now).await
}

/// The most recent datapoint of one metric over its last three periods, times its scale.
pub async fn latest(
    client: &Client,
    metric: &MetricRef,
    now: DateTime<Utc>,
) -> Result<Option<f64>, AwsCallError> {
    Ok(latest_many(client, &[metric], now).await?.remove(0))
}

/// The most recent datapoint of each metric, in one `GetMetricData` call.
pub async fn latest_many(
    client: &Client,
    metrics: &[&MetricRef],
    now: DateTime<Utc>,
) -> Result<Vec<Option<f64>>, AwsCallError> {
    let longest = metrics.iter().map(|m| m.period).max().unwrap_or(60);
    let queries: Vec<MetricDataQuery> = metrics
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let metric = Metric::builder()
                .namespace(&m.namespace)
                .metric_name(&m.name)
                .set_dimensions(Some(
                    m.dimensions
                        .iter()
                        .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                        .collect(),
                ))
                .build();
            MetricDataQuery::builder()
                .id(format!("m{i}"))
                .metric_stat(
                    MetricStat::builder()
                        .metric(metric)
                        .period(m.period)
                        .stat(&m.stat)
                        .build(),
                )
                .return_data(true)
                .build()
        })
        .collect();
    let start = now - Duration::seconds(3 * longest as i64);
    let names: Vec<String> = metrics
        .iter()
        .map(|m| format!("{}/{}", m.namespace, m.name))
        .collect();
    let out = client
        .get_metric_data()
        .set_metric_data_queries(Some(queries))
        .start_time(AwsDateTime::from_secs(start.timestamp()))
        .end_time(AwsDateTime::from_secs(now.timestamp() + 60))
        .send()
        .await
        .map_err(|e| AwsCallError::from_sdk("GetMetricData", names.join(", "), &e))?;
    Ok(metrics
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let id = format!("m{i}");
            let r = out
                .metric_data_results()
                .iter()
                .find(|r| r.id() == Some(id.as_str()))?;
            r.timestamps()
                .iter()
                .map(|t| t.secs())
                .zip(r.values().iter().copied())
                .max_by_key(|(t, _)| *t)
                .map(|(_, v)| v * m.scale)
        })
        .collect())
}

/// The target's load now; `None` when the input or processing rate has no recent datapoint.
pub async fn read_load(
    client: &Client,
    load: &LoadMetrics,
    now: DateTime<Utc>,
) -> Result<Option<LoadSample>, AwsCallError> {
    let mut metrics = vec![&load.input_rate, &load.processing_rate];
    metrics.extend(load.busy_ratio.iter());
    metrics.extend(load.lag_ms.iter());
    metrics.extend(load.backlog_records.iter());
    let values = latest_many(client, &metrics, now).await?;
    let mut rest = values[2..].iter().copied();
    let busy_ratio = load.busy_ratio.as_ref().and_then(|_| rest.next().flatten());
    let lag = load.lag_ms.as_ref().and_then(|_| rest.next().flatten());
    let backlog = load
        .backlog_records
        .as_ref()
        .and_then(|_| rest.next().flatten());
    let (Some(input_rate), Some(processing_rate)) = (values[0], values[1]) else {
        return Ok(None);
    };
    let backlog_records = backlog
        .or_else(|| lag.map(|l| LoadSample::backlog_from_lag(l, input_rate)))
        .unwrap_or(0.0);
    Ok(Some(LoadSample {
        input_rate,
        processing_rate,
        busy_ratio,
        backlog_records,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(still_breaching(&c, Some(90000.0)));
        assert!(!still_breaching(&c, Some(1000.0)));
        assert!(still_breaching(&c, None));
        let low = MetricCheck {
            breach_above: false,
            threshold: 15.0,
            ..c
        };
        assert!(still_breaching(&low, Some(9.0)) && !still_breaching(&low, Some(40.0)));
    }
}
