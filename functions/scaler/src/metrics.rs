//! An alarm is a wake-up, not the measurement: before acting, the scaler re-reads the alarm's
//! metric with `GetMetricData` and does not act when it has already recovered.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use streamops_shared::AwsCallError;

/// The alarm's metric and which side of its threshold is the breach, from the alarm event.
#[derive(Debug, Clone, PartialEq)]
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

/// Reads the check from an alarm state change's `detail` (single-metric alarms only; composite
/// and metric-math alarms give `None` and are taken at their word).
pub fn metric_check(detail: &Value) -> Option<MetricCheck> {
    let metrics = detail["configuration"]["metrics"].as_array()?;
    let [m] = metrics.as_slice() else { return None };
    let stat = &m["metricStat"];
    let metric = &stat["metric"];
    let reason: Value = serde_json::from_str(detail["state"]["reasonData"].as_str()?).ok()?;
    let threshold = reason["threshold"].as_f64()?;
    let last = reason["recentDatapoints"].as_array()?.last()?.as_f64()?;
    Some(MetricCheck {
        namespace: metric["namespace"].as_str()?.to_string(),
        name: metric["name"].as_str()?.to_string(),
        dimensions: metric["dimensions"]
            .as_object()
            .map(|d| {
                d.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
        period: stat["period"].as_i64().unwrap_or(60) as i32,
        stat: stat["stat"].as_str().unwrap_or("Average").to_string(),
        threshold,
        breach_above: last > threshold,
    })
}

/// Whether `latest` still breaches; `None` (no fresh datapoint) leaves the alarm's word standing.
pub fn still_breaching(check: &MetricCheck, latest: Option<f64>) -> bool {
    match latest {
        None => true,
        Some(v) if check.breach_above => v > check.threshold,
        Some(v) => v < check.threshold,
    }
}

/// The most recent datapoint of the metric over the last three periods.
pub async fn latest_value(
    client: &Client,
    check: &MetricCheck,
    now: DateTime<Utc>,
) -> Result<Option<f64>, AwsCallError> {
    let metric = Metric::builder()
        .namespace(&check.namespace)
        .metric_name(&check.name)
        .set_dimensions(Some(
            check
                .dimensions
                .iter()
                .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                .collect(),
        ))
        .build();
    let query = MetricDataQuery::builder()
        .id("m1")
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(check.period)
                .stat(&check.stat)
                .build(),
        )
        .return_data(true)
        .build();
    let start = now - Duration::seconds(3 * check.period as i64);
    let out = client
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(AwsDateTime::from_secs(start.timestamp()))
        .end_time(AwsDateTime::from_secs(now.timestamp() + 60))
        .send()
        .await
        .map_err(|e| {
            AwsCallError::from_sdk(
                "GetMetricData",
                format!("{}/{}", check.namespace, check.name),
                &e,
            )
        })?;
    let result = out.metric_data_results().first();
    // Values come newest first (TimestampDescending is the default order).
    Ok(result.and_then(|r| {
        let mut points: Vec<(i64, f64)> = r
            .timestamps()
            .iter()
            .map(|t| t.secs())
            .zip(r.values().iter().copied())
            .collect();
        points.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
        points.first().map(|(_, v)| *v)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_from_the_alarm_fixture() {
        let e: Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../events/scaler/alarm-raw-iterator-age.json"
            ))
            .unwrap(),
        )
        .unwrap();
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
