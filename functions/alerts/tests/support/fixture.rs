//! The alerts service over fresh fakes, as every fake-backed test builds it: configured by a
//! few variables over a topic and a table, invoked at a given time, its subjects and its EMF
//! counts read back.

use std::sync::{Arc, Mutex};

use alerts::config::AlertsConfig;
use alerts::service::{AlertsError, AlertsService, InvocationContext};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use streamops_shared::{EnvReader, Metrics};

use super::{FakeBook, FakePublisher, FakeQueue, FakeStore};

pub struct Fixture {
    pub service: AlertsService<FakeStore, FakePublisher, FakeQueue, FakeBook>,
    pub store: FakeStore,
    pub topic: FakePublisher,
    pub queue: FakeQueue,
    pub book: FakeBook,
    /// Every EMF line the invocations flushed.
    pub metrics: Arc<Mutex<Vec<String>>>,
}

/// The configuration `vars` give over `ALERTS_TOPIC_ARN` = `topic` and a table (later pairs win).
pub fn config(topic: &str, vars: &[(&str, &str)]) -> AlertsConfig {
    let mut all: std::collections::HashMap<String, String> = [
        ("ALERTS_TOPIC_ARN", topic),
        ("ALERTS_TABLE_NAME", "alerts-state"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    AlertsConfig::read(EnvReader::from_map(all)).unwrap()
}

/// An invocation at `now` whose claims last 30 s.
pub fn ctx(request_id: &str, now: DateTime<Utc>) -> InvocationContext {
    InvocationContext {
        request_id: request_id.into(),
        now,
        claim_until: now + Duration::seconds(30),
    }
}

pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

impl Fixture {
    pub fn new(config: AlertsConfig) -> Self {
        let (store, topic, queue, book): (FakeStore, FakePublisher, FakeQueue, FakeBook) =
            Default::default();
        Fixture {
            service: AlertsService {
                config,
                store: Clone::clone(&store),
                publisher: Clone::clone(&topic),
                queue: Clone::clone(&queue),
                book: Clone::clone(&book),
            },
            store,
            topic,
            queue,
            book,
            metrics: Default::default(),
        }
    }

    /// One invocation with `payload` at `now` as request `request_id`, its metrics kept.
    pub async fn handle_as(
        &self,
        request_id: &str,
        payload: &Value,
        now: DateTime<Utc>,
    ) -> Result<Value, AlertsError> {
        let sink = self.metrics.clone();
        let mut metrics = Metrics::with_sink("streamops", "alerts", move |line| {
            sink.lock().unwrap().push(line.to_string())
        });
        let out = self
            .service
            .handle(payload.clone(), &ctx(request_id, now), &mut metrics)
            .await;
        metrics.flush();
        out
    }

    /// The subjects the topic accepted, in order.
    pub fn subjects(&self) -> Vec<String> {
        self.topic
            .delivered()
            .into_iter()
            .map(|m| m.subject)
            .collect()
    }

    /// The sum of an EMF count over every flushed line carrying `dimension_value`.
    pub fn counted(&self, metric: &str, dimension_value: &str) -> u64 {
        self.metrics
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| {
                v.as_object()
                    .is_some_and(|o| o.values().any(|x| x == dimension_value))
            })
            .filter_map(|v| v[metric].as_f64())
            .sum::<f64>() as u64
    }
}
