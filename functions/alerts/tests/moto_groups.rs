//! Grouping's adapters against a real moto server: the group item's version-conditioned
//! writes in DynamoDB (a stale version refused), the flush queue's delayed messages in SQS
//! (the body the handler reads back), and a storm through the handler: one flush queued, and
//! that flush, delivered as the mapping would, publishing one SNS message for all members.

mod support;

use support::{queue, topic_with_subscriber};

use alerts::config::AlertsConfig;
use alerts::group::{QueuedWork, parse_flush_event};
use alerts::ports::{FlushQueue, GroupStore};
use alerts::publisher::AlertPublisher;
use alerts::queue::SqsFlushQueue;
use alerts::service::{AlertsService, InvocationContext};
use alerts::store::AlertStore;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use streamops_shared::dynamo::WriteOutcome;
use streamops_shared::{EnvReader, Metrics};
use streamops_test_support::{MotoServer, create_table, drain_queue, fixture};

/// Receives the flush queue's messages as the mapping's SQS event (delay or not: moto's
/// receive honours DelaySeconds, so the test waits past it only when it must).
async fn receive_as_event(sdk: &aws_config::SdkConfig, url: &str) -> Value {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let records: Vec<Value> = out
        .messages()
        .iter()
        .map(|m| json!({"messageId": m.message_id(), "eventSource": "aws:sqs", "body": m.body()}))
        .collect();
    json!({ "Records": records })
}

fn t0() -> DateTime<Utc> {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

fn ctx(now: DateTime<Utc>) -> InvocationContext {
    InvocationContext {
        request_id: "r".into(),
        now,
        claim_until: now + Duration::seconds(30),
    }
}

#[tokio::test]
async fn group_items_are_version_conditioned_and_flush_messages_read_back() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    create_table(&sdk, "alerts-state", Some("sk")).await;
    let store = AlertStore::new(aws_sdk_dynamodb::Client::new(&sdk), "alerts-state");
    let alert = alerts::normalize::normalize(
        &fixture("alerts/alarm-iterator-age-alarm.json"),
        t0(),
        &Default::default(),
    )
    .remove(0);
    let cfg = alerts::group::GroupConfig {
        by: vec!["account".into()],
        wait: std::time::Duration::from_secs(0),
        interval: std::time::Duration::from_secs(60),
        max_members: alerts::group::DEFAULT_MAX_MEMBERS,
    };
    let (group, request) = alerts::group::add_member(None, &alert, &cfg, t0().timestamp_millis());
    assert_eq!(
        store.write_group(&group, None, 0).await.unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(
        store.write_group(&group, None, 0).await.unwrap(),
        WriteOutcome::ConditionFailed
    );
    let stored = store.load_group(&group.key).await.unwrap().unwrap();
    assert_eq!((stored.version, &stored.members), (1, &group.members));
    assert_eq!(
        store.write_group(&stored, Some(1), 0).await.unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(
        store.write_group(&stored, Some(1), 0).await.unwrap(),
        WriteOutcome::ConditionFailed
    );

    let url = queue(&sdk, "flushes").await;
    let q = SqsFlushQueue::new(aws_sdk_sqs::Client::new(&sdk), &url);
    q.schedule(&request.unwrap()).await.unwrap();
    let event = receive_as_event(&sdk, &url).await;
    let records = parse_flush_event(&event).unwrap();
    let Ok(QueuedWork::Flush(got)) = &records[0].request else {
        panic!("not a flush: {:?}", records[0].request.as_ref().err());
    };
    assert_eq!((got.group.as_str(), got.flush), (group.key.as_str(), 1));
}

#[tokio::test]
async fn a_storm_through_the_handler_is_one_sns_message() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    create_table(&sdk, "alerts-state", Some("sk")).await;
    let (topic, subscriber) = topic_with_subscriber(&sdk).await;
    let (sns, sqs) = (
        aws_sdk_sns::Client::new(&sdk),
        aws_sdk_sqs::Client::new(&sdk),
    );
    let flushes = queue(&sdk, "flushes").await;
    let vars = [
        ("ALERTS_TOPIC_ARN", topic.as_str()),
        ("ALERTS_TABLE_NAME", "alerts-state"),
        ("ALERTS_GROUP_BY", "account,region"),
        ("ALERTS_GROUP_WAIT", "0"),
        ("ALERTS_GROUP_QUEUE_URL", flushes.as_str()),
    ];
    let vars = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = AlertsConfig::read(EnvReader::from_map(vars)).unwrap();
    let service = AlertsService {
        store: AlertStore::new(aws_sdk_dynamodb::Client::new(&sdk), "alerts-state"),
        publisher: AlertPublisher::new(sns.clone(), topic.clone()),
        queue: SqsFlushQueue::new(sqs.clone(), flushes.clone()),
        book: alerts::book::BookReader::new(aws_sdk_dynamodb::Client::new(&sdk), None),
        config,
    };
    let mut metrics = Metrics::with_sink("streamops", "alerts", |_| {});
    for i in 0..5 {
        let mut v = fixture("alerts/alarm-iterator-age-alarm.json");
        v["id"] = json!(format!("e{i}"));
        v["detail"]["alarmName"] = json!(format!("storm-{i}"));
        let out = service.handle(v, &ctx(t0()), &mut metrics).await.unwrap();
        assert_eq!(out["alerts"][0]["decision"], "grouped", "{out}");
    }
    let event = receive_as_event(&sdk, &flushes).await;
    assert_eq!(
        event["Records"].as_array().unwrap().len(),
        1,
        "one flush queued: {event}"
    );
    let out = service
        .handle(
            event.clone(),
            &ctx(t0() + Duration::seconds(1)),
            &mut metrics,
        )
        .await
        .unwrap();
    assert_eq!(out["flushes"][0]["outcome"]["result"], "published", "{out}");
    // The mapping redelivers the same message: nothing more is published.
    let again = service
        .handle(event, &ctx(t0() + Duration::seconds(60)), &mut metrics)
        .await
        .unwrap();
    assert_eq!(
        again["flushes"][0]["outcome"]["result"], "nothing",
        "{again}"
    );
    let delivered = drain_queue(&sdk, &subscriber).await;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    for i in 0..5 {
        assert!(
            delivered[0].contains(&format!("storm-{i}")),
            "{}",
            delivered[0]
        );
    }
    // `groups` finds it through its index item (a Query, no Scan) and reads it back.
    let listed = service
        .handle(
            json!({"command": "groups"}),
            &ctx(t0() + Duration::seconds(61)),
            &mut metrics,
        )
        .await
        .unwrap();
    let groups = listed["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{listed}");
    assert_eq!(groups[0]["members"].as_array().unwrap().len(), 5);
    assert_eq!(
        (groups[0]["pending"].as_u64(), groups[0]["flushed"].as_u64()),
        (Some(0), Some(1))
    );
}
