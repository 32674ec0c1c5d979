//! Routing over the in-memory fakes: a critical alarm to the pager (PagerDuty Events v2,
//! trigger) and, through `continue`, to chat; its recovery resolves the same PagerDuty
//! incident (one dedup key); an EMR warning to its own chat topic only; what no route takes to
//! the default topic; a group notification routed by its labels and severity; a failed
//! second destination rolls the claim back, and the retry reaches both (the first twice).

mod support;

use alerts::config::AlertsConfig;
use alerts::service::{AlertsService, InvocationContext};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use streamops_shared::{EnvReader, Metrics};
use streamops_test_support::fixture;
use support::{FakeBook, FakePublisher, FakeQueue, FakeStore, Fault, flush_event};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:alerts";
const PAGER: &str = "arn:aws:sns:us-east-1:123456789012:pager";
const CHAT: &str = "arn:aws:sns:us-east-1:123456789012:chat";
const EMR_CHAT: &str = "arn:aws:sns:us-east-1:123456789012:emr-chat";

fn routes() -> String {
    json!([
        {"name": "pager", "matchers": {"severity": ["critical", "resolved"]},
         "topic_arn": PAGER, "format": "pagerduty", "continue": true},
        {"name": "emr-chat", "matchers": {"namespace": "AWS/ElasticMapReduce"},
         "topic_arn": EMR_CHAT, "format": "chatbot"},
        {"name": "chat", "matchers": {"source": "aws.cloudwatch"}, "topic_arn": CHAT, "format": "text"}
    ])
    .to_string()
}

fn service(
    extra: &[(&str, &str)],
) -> (
    AlertsService<FakeStore, FakePublisher, FakeQueue, FakeBook>,
    FakePublisher,
    FakeQueue,
) {
    let routes = routes();
    let mut vars = vec![
        ("ALERTS_TOPIC_ARN", TOPIC),
        ("ALERTS_TABLE_NAME", "alerts-state"),
        ("ALERTS_ROUTES", routes.as_str()),
        (
            "ALERTS_PAGERDUTY_ROUTING_KEY",
            "R0UTINGKEY0123456789012345678901",
        ),
    ];
    vars.extend_from_slice(extra);
    let vars = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = AlertsConfig::read(EnvReader::from_map(vars)).unwrap();
    let (topic, queue) = (FakePublisher::default(), FakeQueue::default());
    let s = AlertsService {
        config,
        store: FakeStore::default(),
        publisher: topic.clone(),
        queue: queue.clone(),
        book: FakeBook::default(),
    };
    (s, topic, queue)
}

fn ctx(now: DateTime<Utc>) -> InvocationContext {
    InvocationContext {
        request_id: "r".into(),
        now,
        claim_until: now + Duration::seconds(30),
    }
}

fn t0() -> DateTime<Utc> {
    "2026-11-23T10:00:20Z".parse().unwrap()
}

async fn handle(
    s: &AlertsService<FakeStore, FakePublisher, FakeQueue, FakeBook>,
    v: &Value,
    now: DateTime<Utc>,
) -> Result<Value, String> {
    let mut metrics = Metrics::with_sink("streamops", "alerts", |_| {});
    s.handle(v.clone(), &ctx(now), &mut metrics)
        .await
        .map_err(|e| e.to_string())
}

fn topics(p: &FakePublisher) -> Vec<String> {
    p.delivered()
        .iter()
        .map(|m| m.topic.clone().unwrap_or_else(|| "default".into()))
        .collect()
}

#[tokio::test]
async fn a_critical_alarm_pages_and_chats_and_its_recovery_resolves_the_same_incident() {
    let (s, topic, _) = service(&[]);
    handle(&s, &fixture("alerts/alarm-iterator-age-alarm.json"), t0())
        .await
        .unwrap();
    assert_eq!(topics(&topic), [PAGER, CHAT]);
    let sent = topic.delivered();
    let pd: Value = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(pd["routing_key"], "R0UTINGKEY0123456789012345678901");
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["payload"]["severity"], "critical");
    assert_eq!(pd["payload"]["source"], "streamops-raw-iterator-age");
    assert!(
        pd["payload"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("CRITICAL: ALARM")
    );
    assert!(
        pd["payload"]["timestamp"].is_string()
            && pd["payload"]["custom_details"]["state"] == "ALARM"
    );
    let dedup_key = pd["dedup_key"].clone();
    assert_eq!(dedup_key, json!(sent[0].attributes[2].1), "the fingerprint");
    assert!(
        sent[1]
            .body
            .starts_with("CRITICAL: ALARM streamops-raw-iterator-age")
    );

    handle(
        &s,
        &fixture("alerts/alarm-iterator-age-ok.json"),
        t0() + Duration::minutes(20),
    )
    .await
    .unwrap();
    let sent = topic.delivered();
    assert_eq!(topics(&topic)[2..], [PAGER, CHAT]);
    let resolve: Value = serde_json::from_str(&sent[2].body).unwrap();
    assert_eq!(
        (
            resolve["event_action"].clone(),
            resolve["dedup_key"].clone()
        ),
        (json!("resolve"), dedup_key)
    );
}

#[tokio::test]
async fn the_first_matching_route_takes_it_and_what_none_takes_goes_to_the_default_topic() {
    let (s, topic, _) = service(&[]);
    let mut emr = fixture("alerts/alarm-emr-yarn-memory-alarm.json");
    emr["detail"]["state"]["value"] = json!("INSUFFICIENT_DATA");
    handle(&s, &emr, t0()).await.unwrap();
    assert_eq!(
        topics(&topic),
        [EMR_CHAT],
        "a warning: not the pager; emr-chat stops there"
    );
    handle(&s, &fixture("alerts/emr-step-failed.json"), t0())
        .await
        .unwrap();
    assert_eq!(
        topics(&topic)[1..],
        [PAGER],
        "critical pages; no later route takes an EMR step"
    );
    let resized = fixture("alerts/emr-instance-group-resized.json");
    handle(&s, &resized, t0()).await.unwrap();
    assert_eq!(
        topics(&topic)[2..],
        ["default"],
        "no route takes an EMR info"
    );
    let body = &topic.delivered()[2].body;
    assert!(
        body.starts_with("INFO: "),
        "in ALERTS_MESSAGE_FORMAT (text): {body}"
    );
}

#[tokio::test]
async fn a_failed_second_destination_rolls_back_and_the_retry_reaches_both() {
    let (s, topic, _) = service(&[]);
    topic.script.fail("Publish", 2, Fault::ServerError);
    let alarm = fixture("alerts/alarm-iterator-age-alarm.json");
    let err = handle(&s, &alarm, t0()).await.unwrap_err();
    assert!(err.contains("Publish"), "{err}");
    let out = handle(&s, &alarm, t0() + Duration::seconds(90))
        .await
        .unwrap();
    assert_eq!(out["alerts"][0]["decision"], "published", "{out}");
    assert_eq!(
        topics(&topic),
        [PAGER, PAGER, CHAT],
        "at-least-once per destination"
    );
}

#[tokio::test]
async fn a_group_notification_is_routed_by_its_labels_and_severity() {
    let (s, topic, queue) = service(&[
        ("ALERTS_GROUP_BY", "account,region"),
        ("ALERTS_GROUP_QUEUE_URL", "http://127.0.0.1/q"),
    ]);
    for i in 0..3 {
        let mut a = fixture("alerts/alarm-iterator-age-alarm.json");
        a["id"] = json!(format!("e{i}"));
        a["detail"]["alarmName"] = json!(format!("storm-{i}"));
        handle(&s, &a, t0()).await.unwrap();
    }
    assert!(topic.delivered().is_empty());
    let q = queue.drain();
    handle(&s, &flush_event(&q[0], "m1"), t0() + Duration::seconds(30))
        .await
        .unwrap();
    assert_eq!(
        topics(&topic),
        [PAGER],
        "a group has no `source` label: chat does not take it"
    );
    let pd: Value = serde_json::from_str(&topic.delivered()[0].body).unwrap();
    assert_eq!(pd["dedup_key"], format!("group:{}", q[0].group));
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(
        pd["payload"]["custom_details"]["members"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}
