//! Routing's adapter against a real moto server: one handler publishing to three SNS topics
//! (a pager route in PagerDuty Events v2 with `continue`, a chat route in text, and the
//! default topic), each read back through its own subscribed SQS queue. A critical alarm
//! reaches the pager and chat topics and not the default one; its recovery resolves the same
//! PagerDuty incident (one dedup key) on the pager topic; an EMR event no route takes reaches
//! the default topic alone. Each message carries the alert's fingerprint attribute.

mod support;

use support::{config, ctx, named_topic_with_subscriber};

use alerts::publisher::AlertPublisher;
use alerts::service::AlertsService;
use alerts::store::AlertStore;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use streamops_shared::Metrics;
use streamops_test_support::{MotoServer, create_table, drain_queue, fixture};

fn t0() -> DateTime<Utc> {
    "2026-11-23T10:06:00Z".parse().unwrap()
}

/// Every SNS envelope a subscriber queue received so far.
async fn received(sdk: &aws_config::SdkConfig, queue: &str) -> Vec<Value> {
    drain_queue(sdk, queue)
        .await
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect()
}

fn fingerprint_attribute(envelope: &Value) -> &str {
    envelope["MessageAttributes"]["fingerprint"]["Value"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn routes_reach_their_own_topics_in_their_formats_and_the_rest_the_default() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    create_table(&sdk, "alerts-state", Some("sk")).await;
    let (default_topic, default_q) = named_topic_with_subscriber(&sdk, "alerts", "default-q").await;
    let (pager, pager_q) = named_topic_with_subscriber(&sdk, "pager", "pager-q").await;
    let (chat, chat_q) = named_topic_with_subscriber(&sdk, "chat", "chat-q").await;
    let routes = json!([
        {"name": "pager", "matchers": {"severity": ["critical", "resolved"]}, "topic_arn": pager,
         "format": "pagerduty", "continue": true},
        {"name": "chat", "matchers": {"source": "aws.cloudwatch"}, "topic_arn": chat, "format": "text"}
    ])
    .to_string();
    let vars = [
        ("ALERTS_ROUTES", routes.as_str()),
        (
            "ALERTS_PAGERDUTY_ROUTING_KEY",
            "R0UTINGKEY0123456789012345678901",
        ),
    ];
    let service = AlertsService {
        store: AlertStore::new(aws_sdk_dynamodb::Client::new(&sdk), "alerts-state"),
        publisher: AlertPublisher::new(aws_sdk_sns::Client::new(&sdk), default_topic.clone()),
        queue: alerts::queue::SqsFlushQueue::new(aws_sdk_sqs::Client::new(&sdk), "grouping-off"),
        book: alerts::book::BookReader::new(aws_sdk_dynamodb::Client::new(&sdk), None),
        config: config(&default_topic, &vars),
    };
    let handle = |payload: Value, now: DateTime<Utc>| {
        let service = &service;
        async move {
            let mut metrics = Metrics::with_sink("streamops", "alerts", |_| {});
            service
                .handle(payload, &ctx("req", now), &mut metrics)
                .await
                .unwrap()
        }
    };

    handle(fixture("alerts/alarm-iterator-age-alarm.json"), t0()).await;
    let paged = received(&sdk, &pager_q).await;
    let chatted = received(&sdk, &chat_q).await;
    assert_eq!((paged.len(), chatted.len()), (1, 1));
    assert!(
        received(&sdk, &default_q).await.is_empty(),
        "a routed alert skips the default topic"
    );
    let trigger: Value = serde_json::from_str(paged[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["routing_key"], "R0UTINGKEY0123456789012345678901");
    let fingerprint = fingerprint_attribute(&paged[0]).to_string();
    assert_eq!(trigger["dedup_key"], json!(fingerprint));
    assert_eq!(fingerprint_attribute(&chatted[0]), fingerprint);
    assert!(
        chatted[0]["Message"]
            .as_str()
            .unwrap()
            .starts_with("CRITICAL: ALARM streamops-raw-iterator-age"),
        "{}",
        chatted[0]["Message"]
    );

    handle(
        fixture("alerts/alarm-iterator-age-ok.json"),
        t0() + Duration::minutes(20),
    )
    .await;
    let resolved = received(&sdk, &pager_q).await;
    assert_eq!(resolved.len(), 1);
    let resolve: Value = serde_json::from_str(resolved[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(
        resolve["dedup_key"],
        json!(fingerprint),
        "the same incident"
    );
    assert_eq!(
        received(&sdk, &chat_q).await.len(),
        1,
        "the recovery is a CloudWatch alert too"
    );

    handle(fixture("alerts/emr-instance-group-arrested.json"), t0()).await;
    let fallback = received(&sdk, &default_q).await;
    assert_eq!(fallback.len(), 1, "no route takes an EMR warning");
    assert!(received(&sdk, &pager_q).await.is_empty());
    assert!(received(&sdk, &chat_q).await.is_empty());
}
