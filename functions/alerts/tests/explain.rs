//! The `explain` command over the in-memory fakes: what a delivery of an event would do and
//! why (published to which routes, a redelivery, silenced by which silence, inhibited by which
//! source and rule, grouped into which group), with nothing written, queued or published; an
//! event that reads as no alert is refused saying so.

mod support;

use serde_json::{Value, json};
use streamops_test_support::fixture;
use support::{Fixture, StoreOp, at, config};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:streamops-alerts";
const PAGER: &str = "arn:aws:sns:us-east-1:123456789012:pager";
const RULES: &str = r#"[
  {"name": "emr-cluster-failed",
   "source": {"kind": "emr-cluster", "state": "TERMINATED_WITH_ERRORS"},
   "target": {"kind": ["metric-alarm", "composite-alarm"], "namespace": "AWS/ElasticMapReduce"},
   "equal": ["account", "region", "cluster_id"], "max_minutes": 360}]"#;

fn explain(event: &Value) -> Value {
    json!({"command": "explain", "event": event})
}

/// The fixture's YARN memory alarm: an EMR alarm on the fixture cluster.
fn emr_alarm() -> Value {
    fixture("alerts/alarm-emr-yarn-memory-alarm.json")
}

/// Every write the store saw: explain must add none.
fn writes(f: &Fixture) -> usize {
    [
        StoreOp::WriteState,
        StoreOp::PutSilence,
        StoreOp::PutInhibitor,
        StoreOp::PutMuted,
        StoreOp::WriteGroup,
        StoreOp::ReleaseClaim,
    ]
    .iter()
    .map(|op| f.store.calls(*op))
    .sum()
}

#[tokio::test]
async fn a_new_alarm_would_be_published_to_its_routes_and_nothing_is_done() {
    let routes = json!([{"name": "pager", "matchers": {"severity": "critical"}, "topic_arn": PAGER,
                         "format": "pagerduty", "continue": true}])
    .to_string();
    let f = Fixture::new(config(
        TOPIC,
        &[
            ("ALERTS_ROUTES", &routes),
            (
                "ALERTS_PAGERDUTY_ROUTING_KEY",
                "R0UTINGKEY0123456789012345678901",
            ),
        ],
    ));
    let alarm = fixture("alerts/alarm-iterator-age-alarm.json");
    let t = at("2026-11-23T10:06:00Z");
    let out = f.handle_as("req-x", &explain(&alarm), t).await.unwrap();
    let a = &out["alerts"][0];
    assert_eq!(a["would"], "publish", "{out}");
    assert_eq!(a["record"], Value::Null);
    // `continue` on the pager route, but no later route takes it: the default is only for
    // what no route took.
    assert_eq!(
        a["to"],
        json!([{"route": "pager", "topic_arn": PAGER, "format": "pagerduty"}])
    );
    let ok = f
        .handle_as(
            "req-z",
            &explain(&fixture("alerts/alarm-insufficient-data.json")),
            t,
        )
        .await
        .unwrap();
    let to = &ok["alerts"][0]["to"];
    assert_eq!(
        to,
        &json!([{"route": "default", "topic_arn": TOPIC, "format": "text"}]),
        "{ok}"
    );
    assert!(f.topic.delivered().is_empty());
    assert_eq!(writes(&f), 0);

    // Delivered for real, the same event would now be a redelivery.
    f.handle_as("req-1", &alarm, t).await.unwrap();
    let again = f.handle_as("req-y", &explain(&alarm), t).await.unwrap();
    let a = &again["alerts"][0];
    assert_eq!(
        (a["would"].as_str(), a["reason"].as_str()),
        (Some("suppress"), Some("redelivered"))
    );
    assert_eq!(a["record"]["state"], "ALARM");
    assert_eq!(a["record"]["problem_notified"], true);
    assert_eq!(f.topic.delivered().len(), 1);
}

#[tokio::test]
async fn a_symptom_would_be_inhibited_by_its_firing_root_cause_and_a_silence_names_itself() {
    let f = Fixture::new(config(TOPIC, &[("ALERTS_INHIBIT_RULES", RULES)]));
    let root = fixture("alerts/emr-cluster-terminated-with-errors.json");
    let t = at("2026-11-23T10:06:00Z");
    let published = f.handle_as("req-root", &root, t).await.unwrap();
    let root_fp = published["alerts"][0]["fingerprint"].clone();
    let before = writes(&f);
    let out = f
        .handle_as("req-x", &explain(&emr_alarm()), t)
        .await
        .unwrap();
    let a = &out["alerts"][0];
    assert_eq!(
        (a["would"].as_str(), a["reason"].as_str()),
        (Some("suppress"), Some("inhibited")),
        "{out}"
    );
    assert_eq!(
        a["muted_by"],
        json!({"inhibited_by": root_fp, "rule": "emr-cluster-failed"})
    );
    assert_eq!(writes(&f), before, "explain writes nothing");

    let g = Fixture::new(config(TOPIC, &[]));
    let silence = g
        .handle_as(
            "req-s",
            &json!({"command": "create-silence", "alarm_name_prefix": "streamops-", "duration_minutes": 60}),
            t,
        )
        .await
        .unwrap();
    let out = g
        .handle_as(
            "req-x",
            &explain(&fixture("alerts/alarm-iterator-age-alarm.json")),
            t,
        )
        .await
        .unwrap();
    let a = &out["alerts"][0];
    assert_eq!(a["reason"], "silenced");
    assert_eq!(a["muted_by"], json!({"silence": silence["silence"]["id"]}));
}

#[tokio::test]
async fn with_grouping_an_alert_would_join_its_group_which_is_named_with_its_members() {
    let f = Fixture::new(config(
        TOPIC,
        &[
            ("ALERTS_GROUP_BY", "account,region"),
            ("ALERTS_GROUP_WAIT", "30"),
            ("ALERTS_GROUP_INTERVAL", "300"),
            ("ALERTS_GROUP_QUEUE_URL", "http://127.0.0.1/flushes"),
        ],
    ));
    let t = at("2026-11-23T10:06:00Z");
    f.handle_as("req-1", &emr_alarm(), t).await.unwrap();
    let queued = f.queue.sent().len();
    let out = f
        .handle_as(
            "req-x",
            &explain(&fixture("alerts/alarm-iterator-age-alarm.json")),
            t,
        )
        .await
        .unwrap();
    let a = &out["alerts"][0];
    assert_eq!(a["would"], "group", "{out}");
    assert_eq!(
        a["group"]["labels"],
        json!({"account": "123456789012", "region": "us-east-1"})
    );
    assert_eq!(a["group"]["members_now"], 1);
    assert_eq!(a["group"]["wait_seconds"], 30);
    assert_eq!(f.queue.sent().len(), queued, "no flush queued");
}

#[tokio::test]
async fn an_unknown_shape_would_be_a_malformed_alert_and_no_event_is_refused() {
    let f = Fixture::new(config(TOPIC, &[]));
    let t = at("2026-11-23T10:06:00Z");
    // Nothing is dropped unseen: an unknown payload would go out as a malformed-event alert.
    let out = f
        .handle_as("req-x", &explain(&json!({"hello": "world"})), t)
        .await
        .unwrap();
    let a = &out["alerts"][0];
    assert_eq!(
        (a["would"].as_str(), a["state"].as_str()),
        (Some("publish"), Some("MALFORMED"))
    );
    let err = f
        .handle_as("req-x", &json!({"command": "explain"}), t)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing field `event`"), "{err}");
}
