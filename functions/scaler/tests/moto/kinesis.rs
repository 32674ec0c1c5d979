//! Kinesis targets: resharding once per alarm transition, cooldowns, bounds and on-demand
//! streams, concurrent invocations and leases, metrics that recovered, proportional sizing from
//! CloudWatch, SNS-delivered alarms and suppressed actions.

use crate::harness::*;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use streamops_test_support::fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_reshards_once_per_alarm_transition_and_respects_cooldown_and_on_demand() {
    let h = harness().await;
    let out = run(&h, fixture("scaler/alarm-raw-iterator-age.json"), 0).await;
    assert_eq!(
        decisions(&out),
        [
            ("raw-stream".into(), "act".into()),
            ("on-demand".into(), "unsupported".into())
        ],
        "{out}"
    );
    assert_eq!(out["decisions"][0]["to"], 4);
    assert_eq!(shards(&h).await, 4);
    // Redelivered: no second action.
    let again = run(&h, fixture("scaler/alarm-raw-iterator-age.json"), 1).await;
    assert_eq!(
        decisions(&again)[0],
        ("raw-stream".into(), "duplicate".into())
    );
    assert_eq!(shards(&h).await, 4);
    // A new transition inside the cooldown: skipped.
    let soon = run(
        &h,
        alarm("streamops-raw-iterator-age", "2026-11-23T10:03:00.000+0000"),
        3,
    )
    .await;
    assert_eq!(
        decisions(&soon)[0],
        ("raw-stream".into(), "cooldown".into())
    );
    // After the cooldown: 4 -> 6 (max).
    let later = run(
        &h,
        alarm("streamops-raw-iterator-age", "2026-11-23T10:20:00.000+0000"),
        20,
    )
    .await;
    assert_eq!(later["decisions"][0]["to"], 6, "{later}");
    assert_eq!(shards(&h).await, 6);
    let at_max = run(
        &h,
        alarm("streamops-raw-iterator-age", "2026-11-23T10:40:00.000+0000"),
        40,
    )
    .await;
    assert_eq!(
        decisions(&at_max)[0],
        ("raw-stream".into(), "at_bound".into())
    );
    // OK never acts.
    let ok = run(&h, fixture("scaler/alarm-raw-iterator-age-ok.json"), 41).await;
    assert_eq!(decisions(&ok)[0], ("raw-stream".into(), "not_alarm".into()));
    // The audit trail has every decision, newest first; status shows it.
    let status = run(&h, json!({"command": "status"}), 42).await;
    let raw = &status["targets"][0];
    assert_eq!(raw["observed"]["observed"], "ready");
    assert_eq!(raw["observed"]["size"], 6);
    assert_eq!(raw["recent_decisions"].as_array().unwrap().len(), 5);
    assert_eq!(raw["recent_decisions"][0]["reason"], "not_alarm");

    // On-call is told of the two actions, the cooldown, the bound and the unsupported stream;
    // not of the duplicate or the OK: their events on the default bus, as a rule delivers them.
    let mut told = told(&h).await;
    told.sort();
    assert_eq!(
        told,
        [
            "on-demand: blocked (unsupported), warning",
            "on-demand: blocked (unsupported), warning",
            "on-demand: blocked (unsupported), warning",
            "on-demand: blocked (unsupported), warning",
            "raw-stream: blocked (at_bound), warning",
            "raw-stream: blocked (cooldown), warning",
            "raw-stream: scaled 2 -> 4, info",
            "raw-stream: scaled 4 -> 6, info",
        ],
        "{told:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_act_once() {
    let h = harness().await;
    // Two different transitions of the same alarm at the same moment (each passes its claim):
    // the state's conditional write lets exactly one of them act.
    let a = alarm("streamops-raw-iterator-age", "2026-11-23T10:00:00.000+0000");
    let b = alarm("streamops-raw-iterator-age", "2026-11-23T10:00:01.000+0000");
    let (ra, rb) = tokio::join!(run(&h, a, 0), run(&h, b, 0));
    let reasons: Vec<String> = [&ra, &rb]
        .iter()
        .map(|r| decisions(r)[0].1.clone())
        .collect();
    assert_eq!(
        reasons.iter().filter(|r| *r == "act").count(),
        1,
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r == "concurrent" || r == "cooldown"),
        "{reasons:?}"
    );
    assert_eq!(shards(&h).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_whose_metric_has_recovered_does_not_scale() {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let h = harness().await;
    let cw = aws_sdk_cloudwatch::Client::new(&h.sdk);
    let put = |value: f64, at: DateTime<Utc>| {
        MetricDatum::builder()
            .metric_name("GetRecords.IteratorAgeMilliseconds")
            .dimensions(
                Dimension::builder()
                    .name("StreamName")
                    .value("streamops-raw")
                    .build(),
            )
            .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                at.timestamp(),
            ))
            .value(value)
            .build()
    };
    // The lag is gone by the time the event is handled: 1 s of iterator age, threshold 60 s.
    cw.put_metric_data()
        .namespace("AWS/Kinesis")
        .metric_data(put(1000.0, t(0) - Duration::seconds(30)))
        .send()
        .await
        .unwrap();
    let out = run(&h, fixture("scaler/alarm-raw-iterator-age.json"), 0).await;
    assert_eq!(
        decisions(&out)[0],
        ("raw-stream".into(), "recovered".into()),
        "{out}"
    );
    assert_eq!(shards(&h).await, 2);
    // Still lagging: it acts.
    cw.put_metric_data()
        .namespace("AWS/Kinesis")
        .metric_data(put(240000.0, t(5) - Duration::seconds(10)))
        .send()
        .await
        .unwrap();
    let out = run(
        &h,
        alarm("streamops-raw-iterator-age", "2026-11-23T10:05:00.000+0000"),
        5,
    )
    .await;
    assert_eq!(
        decisions(&out)[0],
        ("raw-stream".into(), "act".into()),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lease_makes_a_concurrent_invocation_skip() {
    let h = harness().await;
    let ddb = aws_sdk_dynamodb::Client::new(&h.sdk);
    use aws_sdk_dynamodb::types::AttributeValue as A;
    ddb.put_item()
        .table_name(TABLE)
        .item("pk", A::S("LEASE#raw-stream".into()))
        .item("sk", A::S("LEASE".into()))
        .item("owner", A::S("invocation-7".into()))
        .item("expires_at", A::N((t(10)).timestamp().to_string()))
        .send()
        .await
        .unwrap();
    let out = run(&h, fixture("scaler/alarm-raw-iterator-age.json"), 0).await;
    assert_eq!(
        decisions(&out)[0],
        ("raw-stream".into(), "concurrent".into())
    );
    assert!(
        out["decisions"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("invocation-7"),
        "{out}"
    );
    assert_eq!(shards(&h).await, 2);
    // An expired lease is taken over (its holder died).
    let out = run(
        &h,
        alarm("streamops-raw-iterator-age", "2026-11-23T10:11:00.000+0000"),
        11,
    )
    .await;
    assert_eq!(
        decisions(&out)[0],
        ("raw-stream".into(), "act".into()),
        "{out}"
    );
    assert_eq!(shards(&h).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proportional_sizing_reads_the_load_from_cloudwatch() {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let h = harness().await;
    let cw = aws_sdk_cloudwatch::Client::new(&h.sdk);
    // One datapoint half a minute before `minute`.
    let put = |ns: &str, name: &str, dim: (&str, &str), value: f64, minute: i64| {
        cw.put_metric_data()
            .namespace(ns)
            .metric_data(
                MetricDatum::builder()
                    .metric_name(name)
                    .dimensions(Dimension::builder().name(dim.0).value(dim.1).build())
                    .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                        (t(minute) - Duration::seconds(30)).timestamp(),
                    ))
                    .value(value)
                    .build(),
            )
            .send()
    };
    let stream = ("StreamName", "streamops-enriched");
    let consumer = ("Function", "consumer");
    // 60,000 records a minute in (1,000/s), 48,000 processed (800/s) by 4 shards' consumers,
    // 30 s behind: backlog 30,000 records.
    put("AWS/Kinesis", "IncomingRecords", stream, 60_000.0, 0)
        .await
        .unwrap();
    put(
        "AWS/Kinesis",
        "GetRecords.IteratorAgeMilliseconds",
        stream,
        30_000.0,
        0,
    )
    .await
    .unwrap();
    put("streamops", "RecordsOut", consumer, 48_000.0, 0)
        .await
        .unwrap();
    let out = run(
        &h,
        named_alarm("streamops-enriched-lag", "2026-11-23T10:00:00.000+0000"),
        0,
    )
    .await;
    // Capacity 30,000/300 + 1,000/0.5 = 2,100/s; 4 x 2,100 / 800 = 10.5 -> 11, which the
    // quarter-step alignment of 4 shards takes to 12, and UpdateShardCount caps at double: 8.
    let d = &out["decisions"][0];
    assert_eq!(
        (d["from"].clone(), d["to"].clone()),
        (json!(4), json!(8)),
        "{out}"
    );
    let reason = d["reason"].as_str().unwrap();
    assert!(
        reason.contains("11 needed") && reason.contains("half to double"),
        "{reason}"
    );

    // Ten minutes later the stream has twice the shards, but the consumers still process
    // 800/s with the backlog waiting: the schedule's effectiveness check blocks scale-ups.
    put("AWS/Kinesis", "IncomingRecords", stream, 60_000.0, 10)
        .await
        .unwrap();
    put(
        "AWS/Kinesis",
        "GetRecords.IteratorAgeMilliseconds",
        stream,
        45_000.0,
        10,
    )
    .await
    .unwrap();
    put("streamops", "RecordsOut", consumer, 49_000.0, 10)
        .await
        .unwrap();
    let tick = run(&h, json!({"command": "tick"}), 10).await;
    assert_eq!(
        decisions(&tick),
        [("enriched".into(), "ineffective".into())],
        "{tick}"
    );
    let again = run(
        &h,
        named_alarm("streamops-enriched-lag", "2026-11-23T10:11:00.000+0000"),
        11,
    )
    .await;
    assert_eq!(
        decisions(&again),
        [("enriched".into(), "ineffective".into())],
        "blocked: {again}"
    );
    // `resume` lifts the block.
    run(&h, json!({"command": "resume", "target": "enriched"}), 12).await;
    let status = run(&h, json!({"command": "status"}), 12).await;
    let enriched = status["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "enriched")
        .unwrap();
    assert_eq!(enriched["scale_ups_blocked"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sns_delivered_alarm_scales_and_its_eventbridge_twin_is_a_duplicate() {
    let h = harness().await;
    let out = run(&h, fixture("scaler/sns-alarm-raw-iterator-age.json"), 0).await;
    assert_eq!(
        decisions(&out)[0],
        ("raw-stream".into(), "act".into()),
        "{out}"
    );
    assert_eq!(shards(&h).await, 4);
    let twin = run(&h, fixture("scaler/alarm-raw-iterator-age.json"), 1).await;
    assert_eq!(
        decisions(&twin)[0],
        ("raw-stream".into(), "duplicate".into()),
        "{twin}"
    );
    assert_eq!(shards(&h).await, 4);
}

/// Issue 14: the SNS shapes CloudWatch really sends (description null, no alarm ARN, anomaly
/// detection without a threshold) scale, and an OK delivered that way ends the open decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_sns_shapes_scale_and_an_ok_through_sns_ends_the_open_decision() {
    let h = harness().await;
    let anomaly = sns_message(
        "scaler/sns-alarm-emr-containers-pending-anomaly.json",
        |m| {
            m["AlarmName"] = json!("streamops-raw-iterator-age");
        },
    );
    let out = run(&h, anomaly, 0).await;
    assert_eq!(
        decisions(&out)[0],
        ("raw-stream".into(), "act".into()),
        "{out}"
    );
    assert_eq!(shards(&h).await, 4);
    // A scale-in waiting for its delay, then its OK through SNS, no description, no ARN.
    let idle = run(&h, fixture("scaler/alarm-emr-memory-idle.json"), 1).await;
    assert_eq!(
        decisions(&idle)[0],
        ("emr-task".into(), "stabilising".into())
    );
    let ok = sns_message("scaler/sns-alarm-raw-iterator-age-ok-no-arn.json", |m| {
        m["AlarmName"] = json!("streamops-emr-memory-idle");
        m["AlarmDescription"] = Value::Null;
        m["StateChangeTime"] = json!("2026-11-23T10:20:00.000+0000");
    });
    let out = run(&h, ok, 20).await;
    assert!(
        out["decisions"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("ends its pending decision"),
        "{out}"
    );
    let tick = run(&h, json!({"command": "tick"}), 90).await;
    assert_eq!(tick["decisions"], json!([]), "{tick}");
}

/// Issue 14: CloudWatch suppressed the transition's actions: no scaling, no claim, so the
/// same state once the actions do run (the wait period ended) scales.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_whose_actions_cloudwatch_suppressed_does_not_scale() {
    let h = harness().await;
    let mut suppressed = fixture("scaler/alarm-raw-iterator-age.json");
    suppressed["detail"]["state"]["actionsSuppressedBy"] = json!("WaitPeriod");
    suppressed["detail"]["state"]["actionsSuppressedReason"] =
        json!("Actions suppressed by WaitPeriod");
    let out = run(&h, suppressed, 0).await;
    assert_eq!(
        decisions(&out)[0],
        ("raw-stream".into(), "actions_suppressed".into()),
        "{out}"
    );
    assert_eq!(shards(&h).await, 2);
    let runs = alarm("streamops-raw-iterator-age", "2026-11-23T10:02:00.000+0000");
    let out = run(&h, runs, 2).await;
    assert_eq!(
        decisions(&out)[0],
        ("raw-stream".into(), "act".into()),
        "{out}"
    );
    assert_eq!(shards(&h).await, 4);
}
