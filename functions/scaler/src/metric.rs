//! The metric vocabulary: a metric to read ([`MetricRef`]), where a target's load is measured
//! ([`LoadMetrics`]), an alarm's metric and the side of its threshold that breaches
//! ([`MetricCheck`]). Pure: reading goes through the metrics port (`measure`).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::sizing::LoadSample;

/// One CloudWatch metric, read with `GetMetricData`; the value is multiplied by `scale` (e.g.
/// 1/60 turns a per-minute Sum into a per-second rate).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricRef {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    #[serde(default = "default_stat")]
    pub stat: String,
    #[serde(default = "default_period")]
    pub period: i32,
    #[serde(default = "default_scale")]
    pub scale: f64,
}

fn default_stat() -> String {
    "Average".into()
}
fn default_period() -> i32 {
    60
}
fn default_scale() -> f64 {
    1.0
}

/// Where a target's load is measured.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoadMetrics {
    /// Records per second arriving.
    pub input_rate: MetricRef,
    /// Records per second the target processes.
    pub processing_rate: MetricRef,
    /// Busy fraction 0..1 (e.g. Flink busyTimeMsPerSecond with scale 0.001).
    #[serde(default)]
    pub busy_ratio: Option<MetricRef>,
    /// Lag in milliseconds (Kinesis iterator age, `millisBehindLatest`), turned into records
    /// with the input rate...
    #[serde(default)]
    pub lag_ms: Option<MetricRef>,
    /// ...or the backlog in records directly (Kafka consumer lag).
    #[serde(default)]
    pub backlog_records: Option<MetricRef>,
}

impl LoadMetrics {
    /// Every metric to read, in the order [`LoadMetrics::sample`] takes their values.
    pub fn metrics(&self) -> Vec<&MetricRef> {
        let mut metrics = vec![&self.input_rate, &self.processing_rate];
        metrics.extend(self.busy_ratio.iter());
        metrics.extend(self.lag_ms.iter());
        metrics.extend(self.backlog_records.iter());
        metrics
    }

    /// The load from the values of [`LoadMetrics::metrics`]; `None` when the input or
    /// processing rate has no recent datapoint.
    pub fn sample(&self, values: &[Option<f64>]) -> Option<LoadSample> {
        let mut rest = values.get(2..).unwrap_or_default().iter().copied();
        let busy_ratio = self.busy_ratio.as_ref().and_then(|_| rest.next().flatten());
        let lag = self.lag_ms.as_ref().and_then(|_| rest.next().flatten());
        let backlog = self
            .backlog_records
            .as_ref()
            .and_then(|_| rest.next().flatten());
        let (Some(input_rate), Some(processing_rate)) = (
            values.first().copied().flatten(),
            values.get(1).copied().flatten(),
        ) else {
            return None;
        };
        let backlog_records = backlog
            .or_else(|| lag.map(|l| LoadSample::backlog_from_lag(l, input_rate)))
            .unwrap_or(0.0);
        Some(LoadSample {
            input_rate,
            processing_rate,
            busy_ratio,
            backlog_records,
        })
    }
}

/// The time range a read of `metrics` covers at `now`: their last three (longest) periods, and
/// a minute past now for datapoints stamped slightly ahead.
pub fn query_window(metrics: &[&MetricRef], now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let longest = metrics.iter().map(|m| m.period).max().unwrap_or(60);
    (
        now - Duration::seconds(3 * longest as i64),
        now + Duration::seconds(60),
    )
}

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

    /// Whether `latest` still breaches; `None` (no fresh datapoint) leaves the alarm's word
    /// standing.
    pub fn still_breaching(&self, latest: Option<f64>) -> bool {
        match latest {
            None => true,
            Some(v) if self.breach_above => v > self.threshold,
            Some(v) => v < self.threshold,
        }
    }

    /// Why the alarm no longer holds, when `latest` no longer breaches.
    pub fn recovered(&self, latest: Option<f64>) -> Option<String> {
        (!self.still_breaching(latest)).then(|| {
            format!(
                "{} {} is {} now, no longer {} {}",
                self.namespace,
                self.name,
                latest.unwrap_or_default(),
                if self.breach_above { "above" } else { "below" },
                self.threshold
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> MetricCheck {
        MetricCheck {
            namespace: "AWS/Kinesis".into(),
            name: "GetRecords.IteratorAgeMilliseconds".into(),
            dimensions: vec![("StreamName".into(), "streamops-raw".into())],
            period: 60,
            stat: "Maximum".into(),
            threshold: 60000.0,
            breach_above: true,
        }
    }

    #[test]
    fn breaching_and_recovered() {
        let c = check();
        assert!(c.still_breaching(Some(90000.0)));
        assert!(!c.still_breaching(Some(1000.0)));
        assert!(c.still_breaching(None));
        assert_eq!(
            c.recovered(Some(1000.0)).as_deref(),
            Some(
                "AWS/Kinesis GetRecords.IteratorAgeMilliseconds is 1000 now, no longer above 60000"
            )
        );
        let low = MetricCheck {
            breach_above: false,
            threshold: 15.0,
            ..c
        };
        assert!(low.still_breaching(Some(9.0)) && !low.still_breaching(Some(40.0)));
    }

    #[test]
    fn a_load_sample_from_its_values() {
        let m = |name: &str| MetricRef {
            namespace: "n".into(),
            name: name.into(),
            dimensions: BTreeMap::new(),
            stat: "Sum".into(),
            period: 300,
            scale: 1.0,
        };
        let load = LoadMetrics {
            input_rate: m("in"),
            processing_rate: m("out"),
            busy_ratio: None,
            lag_ms: Some(m("lag")),
            backlog_records: None,
        };
        assert_eq!(load.metrics().len(), 3);
        let s = load
            .sample(&[Some(1000.0), Some(800.0), Some(30_000.0)])
            .unwrap();
        assert_eq!((s.backlog_records, s.busy_ratio), (30_000.0, None));
        assert_eq!(load.sample(&[None, Some(800.0), None]), None);
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let (start, end) = query_window(&load.metrics(), now);
        assert_eq!(
            ((now - start).num_seconds(), (end - now).num_seconds()),
            (900, 60)
        );
    }
}
