//! The alerts handler over a real moto server, as the moto tests build it: DynamoDB for the
//! state table, SNS for the topic, an SQS queue subscribed to it as the subscriber.

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use serde_json::Value;
use streamops_shared::Metrics;
use streamops_test_support::{MotoServer, create_table, drain_queue};

use alerts::publisher::AlertPublisher;
use alerts::service::AlertsService;
use alerts::store::AlertStore;

use super::{config, ctx, topic_with_subscriber};

/// The checkpoints book the harness's service reads (empty unless a test writes it).
pub const BOOK_TABLE: &str = "checkpoints-book";

pub struct Harness {
    _moto: MotoServer,
    pub sdk: SdkConfig,
    pub service: AlertsService,
    pub queue_url: String,
}

pub async fn harness() -> Harness {
    harness_with(&[]).await
}

/// The service with a one-hour dedup window and the variables `extra` on top.
pub async fn harness_with(extra: &[(&str, &str)]) -> Harness {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    create_table(&sdk, "alerts-state", Some("sk")).await;
    create_table(&sdk, BOOK_TABLE, Some("sk")).await;
    let (topic, queue_url) = topic_with_subscriber(&sdk).await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut vars = vec![("ALERTS_DEDUP_WINDOW_SECONDS", "3600")];
    vars.extend_from_slice(extra);
    let service = AlertsService {
        store: AlertStore::new(ddb.clone(), "alerts-state"),
        book: alerts::book::BookReader::new(ddb, Some(BOOK_TABLE.into())),
        publisher: AlertPublisher::new(sns, topic.clone()),
        // Grouping is off here (moto_groups.rs has it on): nothing is sent to it.
        queue: alerts::queue::SqsFlushQueue::new(sqs.clone(), "grouping-off"),
        config: config(&topic, &vars),
    };
    Harness {
        _moto: moto,
        sdk,
        service,
        queue_url,
    }
}

pub fn quiet_metrics() -> Metrics {
    Metrics::with_sink("streamops", "alerts", |_| {})
}

impl Harness {
    pub async fn handle(&self, payload: Value, now: DateTime<Utc>) -> Result<Value, String> {
        self.service
            .handle(payload, &ctx("req", now), &mut quiet_metrics())
            .await
            .map_err(|e| e.to_string())
    }

    /// Every SNS envelope the subscriber queue received so far.
    pub async fn received(&self) -> Vec<Value> {
        drain_queue(&self.sdk, &self.queue_url)
            .await
            .iter()
            .map(|body| serde_json::from_str(body).unwrap())
            .collect()
    }
}
