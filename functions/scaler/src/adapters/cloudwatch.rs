//! CloudWatch metrics through the AWS SDK: the newest datapoint of several metrics in one
//! `GetMetricData` call.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use chrono::{DateTime, Utc};
use streamops_shared::AwsCallError;
use streamops_shared::aws::LazyClient;

use crate::metric::MetricRef;
use crate::ports::MetricsApi;

pub struct CloudWatchSdk {
    pub client: LazyClient<Client>,
}

fn query(i: usize, m: &MetricRef) -> MetricDataQuery {
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
}

impl MetricsApi for CloudWatchSdk {
    async fn newest(
        &self,
        metrics: &[&MetricRef],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Option<f64>>, AwsCallError> {
        let queries: Vec<MetricDataQuery> = metrics
            .iter()
            .enumerate()
            .map(|(i, m)| query(i, m))
            .collect();
        let names: Vec<String> = metrics
            .iter()
            .map(|m| format!("{}/{}", m.namespace, m.name))
            .collect();
        let out = self
            .client
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(AwsDateTime::from_secs(start.timestamp()))
            .end_time(AwsDateTime::from_secs(end.timestamp()))
            .send()
            .await
            .map_err(|e| AwsCallError::from_sdk("GetMetricData", names.join(", "), &e))?;
        Ok((0..metrics.len())
            .map(|i| {
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
                    .map(|(_, v)| v)
            })
            .collect())
    }
}
