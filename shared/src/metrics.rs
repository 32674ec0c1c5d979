//! CloudWatch Embedded Metric Format: metrics written as one JSON log line per flush, which
//! CloudWatch turns into metrics asynchronously. No `PutMetricData` call on the hot path.
//!
//! Semantics follow Powertools: counters with the same name add up within an invocation,
//! other values are kept as a list (EMF turns it into a distribution), every document carries
//! the `service` dimension, and metrics with an extra dimension (e.g. `reason`) go into a document
//! of their own because EMF dimension values are document-level properties.
//! Limits honoured: at most 100 metrics per document and 100 values per metric.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{Map, Value, json};

const MAX_METRICS_PER_DOCUMENT: usize = 100;
const MAX_VALUES_PER_METRIC: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
    Bytes,
    Percent,
    None,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
            Unit::Bytes => "Bytes",
            Unit::Percent => "Percent",
            Unit::None => "None",
        }
    }
}

#[derive(Debug, Clone)]
struct Series {
    unit: Unit,
    values: Vec<f64>,
    /// Counters sum into one value; other series keep every value.
    summed: bool,
}

/// Metrics for one invocation. Flushes on drop if not flushed explicitly, so early returns
/// (`?`) still emit what was counted.
pub struct Metrics {
    namespace: String,
    service: String,
    /// Extra dimensions (sorted name/value pairs) to metric series. The empty key holds the
    /// metrics that carry only the `service` dimension.
    groups: BTreeMap<Vec<(String, String)>, BTreeMap<String, Series>>,
    properties: Map<String, Value>,
    sink: Box<dyn FnMut(&str) + Send>,
}

impl Metrics {
    /// Metrics written to stdout, where the Lambda log agent picks them up.
    pub fn new(namespace: impl Into<String>, service: impl Into<String>) -> Self {
        Self::with_sink(namespace, service, |line| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        })
    }

    /// Metrics written to a custom sink (tests capture documents this way).
    pub fn with_sink(
        namespace: impl Into<String>,
        service: impl Into<String>,
        sink: impl FnMut(&str) + Send + 'static,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            service: service.into(),
            groups: BTreeMap::new(),
            properties: Map::new(),
            sink: Box::new(sink),
        }
    }

    /// Adds to a counter.
    pub fn count(&mut self, name: &str, n: u64) {
        self.push(Vec::new(), name, Unit::Count, n as f64, true);
    }

    /// Adds to a counter that carries one extra dimension (e.g. `reason`).
    pub fn count_by(&mut self, name: &str, dimension: &str, value: &str, n: u64) {
        self.push(
            vec![(dimension.to_string(), value.to_string())],
            name,
            Unit::Count,
            n as f64,
            true,
        );
    }

    /// Records one observation (a timing, a size, a ratio).
    pub fn record(&mut self, name: &str, unit: Unit, value: f64) {
        self.push(Vec::new(), name, unit, value, false);
    }

    /// Records one observation of a series that carries one extra dimension (e.g. a gauge per
    /// `pipeline`): kept as a list like [`Metrics::record`], in the dimension's own document.
    pub fn record_by(&mut self, name: &str, dimension: &str, value: &str, unit: Unit, v: f64) {
        self.push(
            vec![(dimension.to_string(), value.to_string())],
            name,
            unit,
            v,
            false,
        );
    }

    /// A searchable property on every document (not a metric, not a dimension).
    pub fn property(&mut self, key: &str, value: impl Into<Value>) {
        self.properties.insert(key.to_string(), value.into());
    }

    fn push(
        &mut self,
        dims: Vec<(String, String)>,
        name: &str,
        unit: Unit,
        value: f64,
        summed: bool,
    ) {
        let series = self
            .groups
            .entry(dims)
            .or_default()
            .entry(name.to_string())
            .or_insert_with(|| Series {
                unit,
                values: Vec::new(),
                summed,
            });
        if series.summed && !series.values.is_empty() {
            series.values[0] += value;
        } else {
            series.values.push(value);
        }
    }

    /// The EMF documents for what was recorded so far, stamped with `timestamp_ms`.
    pub fn documents(&self, timestamp_ms: i64) -> Vec<String> {
        let mut docs = Vec::new();
        for (dims, series) in &self.groups {
            let names: Vec<&String> = series.keys().collect();
            for chunk in names.chunks(MAX_METRICS_PER_DOCUMENT) {
                // A metric with more than 100 values is spread over several documents.
                let rounds = chunk
                    .iter()
                    .map(|n| series[*n].values.len().div_ceil(MAX_VALUES_PER_METRIC))
                    .max()
                    .unwrap_or(1);
                for round in 0..rounds {
                    let mut doc = self.properties.clone();
                    let mut dimension_names = vec![Value::String("service".into())];
                    doc.insert("service".into(), Value::String(self.service.clone()));
                    for (k, v) in dims {
                        dimension_names.push(Value::String(k.clone()));
                        doc.insert(k.clone(), Value::String(v.clone()));
                    }
                    let mut definitions = Vec::new();
                    for name in chunk {
                        let s = &series[*name];
                        let start = round * MAX_VALUES_PER_METRIC;
                        if start >= s.values.len() {
                            continue;
                        }
                        let end = (start + MAX_VALUES_PER_METRIC).min(s.values.len());
                        let slice = &s.values[start..end];
                        definitions.push(json!({"Name": name, "Unit": s.unit.as_str()}));
                        let value = if slice.len() == 1 {
                            json!(slice[0])
                        } else {
                            json!(slice)
                        };
                        doc.insert((*name).clone(), value);
                    }
                    doc.insert(
                        "_aws".into(),
                        json!({
                            "Timestamp": timestamp_ms,
                            "CloudWatchMetrics": [{
                                "Namespace": self.namespace,
                                "Dimensions": [dimension_names],
                                "Metrics": definitions,
                            }]
                        }),
                    );
                    docs.push(Value::Object(doc).to_string());
                }
            }
        }
        docs
    }

    /// Writes the documents and starts over.
    pub fn flush(&mut self) {
        let docs = self.documents(chrono::Utc::now().timestamp_millis());
        for doc in &docs {
            (self.sink)(doc);
        }
        self.groups.clear();
    }
}

impl Drop for Metrics {
    fn drop(&mut self) {
        if !self.groups.is_empty() {
            self.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn captured() -> (Metrics, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        (
            Metrics::with_sink("streamops", "alerts", move |l| {
                sink.lock().unwrap().push(l.to_string())
            }),
            lines,
        )
    }

    #[test]
    fn counters_sum_and_documents_follow_emf() {
        let (mut m, _) = captured();
        m.count("AlertsPublished", 1);
        m.count("AlertsPublished", 2);
        m.record("PublishLatency", Unit::Milliseconds, 12.5);
        m.record("PublishLatency", Unit::Milliseconds, 7.0);
        let docs = m.documents(1_700_000_000_000);
        assert_eq!(docs.len(), 1);
        let d: Value = serde_json::from_str(&docs[0]).unwrap();
        assert_eq!(d["AlertsPublished"], 3.0);
        assert_eq!(d["PublishLatency"], json!([12.5, 7.0]));
        assert_eq!(d["service"], "alerts");
        assert_eq!(d["_aws"]["Timestamp"], 1_700_000_000_000i64);
        let directive = &d["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "streamops");
        assert_eq!(directive["Dimensions"], json!([["service"]]));
        assert_eq!(directive["Metrics"].as_array().unwrap().len(), 2);
        m.groups.clear();
    }

    #[test]
    fn extra_dimension_gets_its_own_document() {
        let (mut m, lines) = captured();
        m.count("Suppressed", 1);
        m.count_by("Suppressed", "reason", "duplicate", 2);
        m.count_by("Suppressed", "reason", "silenced", 1);
        m.flush();
        let docs: Vec<Value> = lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(docs.len(), 3);
        let dup = docs.iter().find(|d| d["reason"] == "duplicate").unwrap();
        assert_eq!(dup["Suppressed"], 2.0);
        assert_eq!(
            dup["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["service", "reason"]])
        );
    }

    #[test]
    fn an_observation_by_dimension_is_kept_in_its_dimensions_document() {
        let (mut m, _) = captured();
        m.record_by("Age", "pipeline", "clicks", Unit::Seconds, 30.0);
        m.record_by("Age", "pipeline", "clicks", Unit::Seconds, 40.0);
        m.record_by("Age", "pipeline", "views", Unit::Seconds, 5.0);
        let docs: Vec<Value> = m
            .documents(0)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let clicks = docs.iter().find(|d| d["pipeline"] == "clicks").unwrap();
        assert_eq!(clicks["Age"], json!([30.0, 40.0]), "not summed");
        assert_eq!(
            clicks["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["service", "pipeline"]])
        );
        assert_eq!(
            clicks["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
            "Seconds"
        );
        assert_eq!(docs.len(), 2);
        m.groups.clear();
    }

    #[test]
    fn more_than_100_values_split_into_several_documents_and_drop_flushes() {
        let (mut m, lines) = captured();
        for i in 0..250 {
            m.record("Lag", Unit::Milliseconds, i as f64);
        }
        drop(m);
        let docs: Vec<Value> = lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(docs.len(), 3);
        let total: usize = docs
            .iter()
            .map(|d| d["Lag"].as_array().unwrap().len())
            .sum();
        assert_eq!(total, 250);
    }
}
