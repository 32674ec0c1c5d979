//! An alarm is a wake-up, not the measurement: before acting, the scaler re-reads the alarm's
//! metric and does not act when it has already recovered, and reads the target's load (input
//! and processing rates, lag) for proportional sizing. Through the metrics port.

use chrono::{DateTime, Utc};
use streamops_shared::AwsCallError;

use crate::metric::{LoadMetrics, MetricCheck, MetricRef, query_window};
use crate::ports::MetricsApi;
use crate::sizing::LoadSample;

/// The most recent datapoint of each metric over its last three periods, times its scale.
pub async fn latest_many<M: MetricsApi>(
    m: &M,
    metrics: &[&MetricRef],
    now: DateTime<Utc>,
) -> Result<Vec<Option<f64>>, AwsCallError> {
    let (start, end) = query_window(metrics, now);
    let values = m.newest(metrics, start, end).await?;
    Ok(metrics
        .iter()
        .enumerate()
        .map(|(i, metric)| values.get(i).copied().flatten().map(|v| v * metric.scale))
        .collect())
}

/// The most recent datapoint of one metric.
pub async fn latest<M: MetricsApi>(
    m: &M,
    metric: &MetricRef,
    now: DateTime<Utc>,
) -> Result<Option<f64>, AwsCallError> {
    Ok(latest_many(m, &[metric], now).await?.remove(0))
}

/// `Some(why)` when the alarm's metric, re-read now, no longer breaches.
pub async fn recovered<M: MetricsApi>(
    m: &M,
    check: &MetricCheck,
    now: DateTime<Utc>,
) -> Result<Option<String>, AwsCallError> {
    let latest = latest(m, &check.metric(), now).await?;
    Ok(check.recovered(latest))
}

/// The target's load now; `None` when the input or processing rate has no recent datapoint.
pub async fn read_load<M: MetricsApi>(
    m: &M,
    load: &LoadMetrics,
    now: DateTime<Utc>,
) -> Result<Option<LoadSample>, AwsCallError> {
    let values = latest_many(m, &load.metrics(), now).await?;
    Ok(load.sample(&values))
}
