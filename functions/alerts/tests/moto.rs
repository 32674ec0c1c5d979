//! The alerts handler against a real moto server: DynamoDB for dedup state and silences, SNS
//! for publishing, an SQS queue subscribed to the topic as the subscriber.

mod support;

use support::moto_harness::{harness, harness_with, quiet_metrics};
use support::{at, ctx};

use alerts::publisher::AlertPublisher;
use alerts::service::AlertsService;
use chrono::Duration;
use serde_json::{Value, json};
use streamops_test_support::{fixture, free_port, sdk_config_for};

fn decision(out: &Value) -> (&str, Option<&str>) {
    let a = &out["alerts"][0];
    (a["decision"].as_str().unwrap(), a["reason"].as_str())
}

#[tokio::test]
async fn same_alarm_twice_publishes_once_then_ok_publishes_one_resolved_notice() {
    let h = harness().await;
    let alarm = fixture("alerts/alarm-iterator-age-alarm.json");
    let now = at("2026-11-23T10:00:20Z");

    let first = h.handle(alarm.clone(), now).await.unwrap();
    assert_eq!(decision(&first), ("published", None));
    let again = h
        .handle(alarm.clone(), now + Duration::seconds(5))
        .await
        .unwrap();
    assert_eq!(decision(&again), ("suppressed", Some("redelivered")));
    // The same transition through the SNS path: another id, same state, inside the window.
    let via_sns = h
        .handle(
            fixture("alerts/sns-alarm-notification.json"),
            now + Duration::seconds(6),
        )
        .await
        .unwrap();
    assert_eq!(
        decision(&via_sns),
        ("suppressed", Some("repeat-within-window"))
    );

    let msgs = h.received().await;
    assert_eq!(msgs.len(), 1, "{msgs:#?}");
    assert_eq!(
        msgs[0]["Subject"],
        "CRITICAL: ALARM streamops-raw-iterator-age (us-east-1)"
    );
    assert_eq!(
        msgs[0]["MessageAttributes"]["severity"]["Value"],
        "critical"
    );
    assert_eq!(
        msgs[0]["MessageAttributes"]["source"]["Value"],
        "aws.cloudwatch"
    );
    assert_eq!(
        msgs[0]["MessageAttributes"]["fingerprint"]["Value"],
        first["alerts"][0]["fingerprint"]
    );
    assert!(
        msgs[0]["Message"]
            .as_str()
            .unwrap()
            .contains("Runbook:     https://runbooks.example.com/streamops/iterator-age")
    );

    let ok = fixture("alerts/alarm-iterator-age-ok.json");
    let resolved = h
        .handle(ok.clone(), at("2026-11-23T10:25:20Z"))
        .await
        .unwrap();
    assert_eq!(decision(&resolved), ("published", None));
    let ok_again = h.handle(ok, at("2026-11-23T10:25:30Z")).await.unwrap();
    assert_eq!(decision(&ok_again), ("suppressed", Some("redelivered")));
    let msgs = h.received().await;
    assert_eq!(msgs.len(), 1, "{msgs:#?}");
    assert_eq!(
        msgs[0]["MessageAttributes"]["severity"]["Value"],
        "resolved"
    );
    assert!(
        msgs[0]["Subject"]
            .as_str()
            .unwrap()
            .starts_with("RESOLVED: OK streamops-raw-iterator-age (us-east-1)")
    );

    // A late redelivery of the old ALARM after the OK is out of order and changes nothing.
    let late = h.handle(alarm, at("2026-11-23T10:30:00Z")).await.unwrap();
    assert_eq!(decision(&late), ("suppressed", Some("out-of-order")));
    assert!(h.received().await.is_empty());
}

#[tokio::test]
async fn new_alarm_first_ok_is_not_sent() {
    let h = harness().await;
    let out = h
        .handle(
            fixture("alerts/alarm-new-alarm-initial-ok.json"),
            at("2026-11-23T10:25:20Z"),
        )
        .await
        .unwrap();
    assert_eq!(decision(&out), ("suppressed", Some("not-a-recovery")));
    assert!(h.received().await.is_empty());
}

#[tokio::test]
async fn emr_failure_and_generic_events_are_published_with_their_severity() {
    let h = harness().await;
    let now = at("2026-11-23T10:20:00Z");
    for (file, severity) in [
        ("alerts/emr-cluster-terminated-with-errors.json", "critical"),
        ("alerts/emr-step-failed.json", "critical"),
        ("alerts/lambda-destination-failure.json", "error"),
        ("alerts/generic-event.json", "warning"),
        ("alerts/alarm-composite-alarm.json", "critical"),
    ] {
        let out = h.handle(fixture(file), now).await.unwrap();
        assert_eq!(decision(&out), ("published", None), "{file}");
        assert_eq!(out["alerts"][0]["severity"], severity, "{file}");
    }
    assert_eq!(h.received().await.len(), 5);
}

#[tokio::test]
async fn malformed_input_gives_a_generic_alert_or_a_clear_error_never_a_panic() {
    let h = harness().await;
    let now = at("2026-11-23T10:20:00Z");
    let mut wrong_types = fixture("alerts/alarm-iterator-age-alarm.json");
    wrong_types["detail"]["state"] = json!("ALARM");
    let out = h.handle(wrong_types, now).await.unwrap();
    assert_eq!(decision(&out), ("published", None));
    assert!(
        out["alerts"][0]["title"]
            .as_str()
            .unwrap()
            .starts_with("Malformed CloudWatch Alarm State Change event")
    );
    let out = h.handle(json!({"hello": "world"}), now).await.unwrap();
    assert_eq!(out["alerts"][0]["severity"], "warning");
    let err = h
        .handle(
            json!({"command": "create-silence", "alarm_name_prefix": "x"}),
            now,
        )
        .await
        .unwrap_err();
    assert!(err.contains("needs an end"), "{err}");
    let err = h
        .handle(json!({"command": "explode"}), now)
        .await
        .unwrap_err();
    assert!(err.contains("invalid ops command \"explode\""), "{err}");
    let msgs = h.received().await;
    assert_eq!(msgs.len(), 2);
    assert!(
        msgs.iter()
            .all(|m| m["MessageAttributes"]["severity"]["Value"] == "warning")
    );
}

#[tokio::test]
async fn silences_mute_matching_alerts_until_removed() {
    let h = harness().await;
    let now = at("2026-11-23T10:00:20Z");
    let created = h
        .handle(json!({"command": "create-silence", "alarm_name_prefix": "streamops-raw-", "duration_minutes": 60, "comment": "reshard"}), now)
        .await
        .unwrap();
    let id = created["silence"]["id"].as_str().unwrap().to_string();
    let listed = h
        .handle(json!({"command": "list-silences"}), now)
        .await
        .unwrap();
    assert_eq!(listed["silences"][0]["id"], id.as_str());

    let out = h
        .handle(fixture("alerts/alarm-iterator-age-alarm.json"), now)
        .await
        .unwrap();
    assert_eq!(decision(&out), ("suppressed", Some("silenced")));
    assert_eq!(out["alerts"][0]["silence_id"], id.as_str());
    // The silenced ALARM was never heard, so its OK is not a recovery either.
    let ok = h
        .handle(
            fixture("alerts/alarm-iterator-age-ok.json"),
            at("2026-11-23T10:25:20Z"),
        )
        .await
        .unwrap();
    assert_eq!(decision(&ok), ("suppressed", Some("not-a-recovery")));
    // Other alarms are not affected.
    let other = h
        .handle(fixture("alerts/alarm-composite-alarm.json"), now)
        .await
        .unwrap();
    assert_eq!(decision(&other), ("published", None));

    let removed = h
        .handle(json!({"command": "remove-silence", "id": id}), now)
        .await
        .unwrap();
    assert_eq!(removed["removed"], id.as_str());
    let err = h
        .handle(json!({"command": "remove-silence", "id": id}), now)
        .await
        .unwrap_err();
    assert!(err.contains("no silence with id"), "{err}");
    let after = h
        .handle(json!({"command": "list-silences"}), now)
        .await
        .unwrap();
    assert!(after["silences"].as_array().unwrap().is_empty());
    assert_eq!(h.received().await.len(), 1);
}

/// A silence with `regex`, `not` and `not_regex` matchers goes through DynamoDB (stored in its
/// operator form, compiled again when read) and mutes what it matches only.
#[tokio::test]
async fn a_silence_by_pattern_and_negation_mutes_what_it_matches_only() {
    let h = harness().await;
    let now = at("2026-11-23T10:00:20Z");
    let created = h
        .handle(fixture("alerts/ops-create-silence-regex.json"), now)
        .await
        .unwrap();
    let id = created["silence"]["id"].as_str().unwrap().to_string();
    let listed = h
        .handle(json!({"command": "list-silences"}), now)
        .await
        .unwrap();
    let stored = &listed["silences"][0]["matchers"]["conditions"];
    assert_eq!(
        stored["resource"],
        json!([{"regex": "streamops-raw-.*"}]),
        "{listed}"
    );
    assert_eq!(stored["severity"], json!([{"not": ["warning"]}]));
    let muted = h
        .handle(fixture("alerts/alarm-iterator-age-alarm.json"), now)
        .await
        .unwrap();
    assert_eq!(decision(&muted), ("suppressed", Some("silenced")));
    assert_eq!(muted["alerts"][0]["silence_id"], id.as_str());
    let other = h
        .handle(fixture("alerts/alarm-composite-alarm.json"), now)
        .await
        .unwrap();
    assert_eq!(
        decision(&other),
        ("published", None),
        "its name does not match the pattern"
    );
    assert_eq!(h.received().await.len(), 1);
}

#[tokio::test]
async fn test_alert_is_delivered() {
    let h = harness().await;
    let out = h
        .handle(
            fixture("alerts/ops-send-test-alert.json"),
            at("2026-11-23T10:00:00Z"),
        )
        .await
        .unwrap();
    assert!(!out["message_id"].as_str().unwrap().is_empty());
    let msgs = h.received().await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        msgs[0]["Subject"],
        "WARNING: Test alert from streamops (us-east-1)"
    );
    assert!(
        msgs[0]["Message"]
            .as_str()
            .unwrap()
            .contains("Checking that on-call receives streamops alerts.")
    );
}

/// SNS down: the claim is rolled back and the invocation fails, so the retry publishes exactly once.
#[tokio::test]
async fn failed_publish_rolls_back_so_the_retry_publishes() {
    let h = harness().await;
    let dead_sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(
            &sdk_config_for(&format!("http://127.0.0.1:{}", free_port())).await,
        )
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .build(),
    );
    let broken = AlertsService {
        config: h.service.config.clone(),
        store: h.service.store.clone(),
        publisher: AlertPublisher::new(dead_sns, h.service.config.topic_arn.clone()),
        queue: h.service.queue.clone(),
        book: h.service.book.clone(),
    };
    let alarm = fixture("alerts/alarm-iterator-age-alarm.json");
    let now = at("2026-11-23T10:00:20Z");
    let err = broken
        .handle(alarm.clone(), &ctx("r1", now), &mut quiet_metrics())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Publish on topic") && err.contains("retryable"),
        "{err}"
    );
    assert!(h.received().await.is_empty());

    let retry = h
        .handle(alarm.clone(), now + Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(decision(&retry), ("published", None));
    let again = h.handle(alarm, now + Duration::seconds(61)).await.unwrap();
    assert_eq!(decision(&again), ("suppressed", Some("redelivered")));
    assert_eq!(h.received().await.len(), 1);
}

/// Two invocations racing on the same new alarm: the conditional write lets exactly one publish.
#[tokio::test]
async fn concurrent_deliveries_publish_once() {
    let h = harness().await;
    let alarm = fixture("alerts/alarm-iterator-age-alarm.json");
    let mut via_sns = fixture("alerts/sns-alarm-notification.json");
    via_sns["Records"][0]["Sns"]["MessageId"] = json!("another-delivery");
    let now = at("2026-11-23T10:00:20Z");
    let (a, b) = tokio::join!(h.handle(alarm, now), h.handle(via_sns, now));
    let decisions =
        [a, b].map(|r| r.map(|v| v["alerts"][0]["decision"].as_str().unwrap().to_string()));
    let published = decisions
        .iter()
        .filter(|d| d.as_deref() == Ok("published"))
        .count();
    assert_eq!(published, 1, "{decisions:?}");
    assert_eq!(h.received().await.len(), 1);
}

/// Issue 14: real SNS shapes on one topic are two alerts (not one topic-keyed warning and a
/// repeat); a Lambda alarm action dedupes with its EventBridge twin; an anomaly alarm's OK is
/// a resolved notice; a transition whose actions CloudWatch suppressed is recorded, not sent,
/// and the same state once the actions run is sent.
#[tokio::test]
async fn real_alarm_shapes_publish_once_per_alarm_and_transition() {
    let h = harness().await;
    let now = at("2026-11-23T10:45:00Z");
    let run = |name: &'static str, secs: i64| {
        let h = &h;
        async move {
            let out = h
                .handle(
                    fixture(&format!("alerts/{name}")),
                    now + Duration::seconds(secs),
                )
                .await
                .unwrap();
            let (d, r) = decision(&out);
            (d.to_string(), r.map(str::to_string))
        }
    };
    let published = ("published".to_string(), None);
    assert_eq!(run("sns-alarm-null-description.json", 0).await, published);
    assert_eq!(run("sns-alarm-no-arn.json", 1).await, published);
    assert_eq!(run("sns-alarm-anomaly-alarm.json", 2).await, published);
    assert_eq!(run("lambda-action-metric-alarm.json", 3).await, published);
    assert_eq!(
        run("alarm-iterator-age-alarm.json", 4).await,
        (
            "suppressed".to_string(),
            Some("repeat-within-window".to_string())
        )
    );
    let resolved = h
        .handle(
            fixture("alerts/sns-alarm-anomaly-ok.json"),
            at("2026-11-23T11:10:20Z"),
        )
        .await
        .unwrap();
    assert_eq!(decision(&resolved), ("published", None));
    assert_eq!(resolved["alerts"][0]["severity"], "resolved");
    // Composite: suppressed by its wait period, then the actions run.
    let suppressed = fixture("alerts/alarm-composite-suppressed.json");
    let out = h
        .handle(suppressed.clone(), at("2026-11-23T12:57:50Z"))
        .await
        .unwrap();
    assert_eq!(decision(&out), ("suppressed", Some("actions-suppressed")));
    let mut runs = suppressed;
    runs["id"] = json!("f0e1d2c3-after-the-wait-period");
    let state = runs["detail"]["state"].as_object_mut().unwrap();
    state.remove("actionsSuppressedBy");
    state.remove("actionsSuppressedReason");
    state.insert("timestamp".into(), json!("2026-11-23T12:59:45.394+0000"));
    let out = h.handle(runs, at("2026-11-23T12:59:50Z")).await.unwrap();
    assert_eq!(decision(&out), ("published", None));

    let subjects: Vec<String> = h
        .received()
        .await
        .iter()
        .map(|m| m["Subject"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(subjects.len(), 6, "{subjects:#?}");
    for want in [
        "CRITICAL: ALARM streamops-enriched-write-throttles (us-east-1)",
        "CRITICAL: ALARM streamops-enrich-errors (us-east-1)",
        "CRITICAL: ALARM streamops-raw-incoming-anomaly (us-east-1)",
        "CRITICAL: ALARM streamops-raw-iterator-age (us-east-1)",
        "RESOLVED: OK streamops-raw-incoming-anomaly (us-east-1)",
        "CRITICAL: ALARM streamops-pipeline-degraded (us-east-1)",
    ] {
        assert!(
            subjects.iter().any(|s| s == want),
            "{want} not in {subjects:#?}"
        );
    }
}

/// Inhibition on DynamoDB: the EMR termination is stored as a firing source, the YARN alarm on
/// its cluster (a `JobFlowId` dimension) is found by the key query and muted, the same alarm
/// on another cluster is not; `inhibitions` lists the source with what it muted. Then a
/// silence until resolved ends with its alarm's recovery.
#[tokio::test]
async fn an_emr_termination_mutes_its_cluster_alarms_and_silences_end_when_resolved() {
    let rules = r#"[{"name": "emr-cluster-failed",
        "source": {"kind": "emr-cluster", "state": "TERMINATED_WITH_ERRORS"},
        "target": {"namespace": "AWS/ElasticMapReduce"},
        "equal": ["account", "region", "cluster_id"]}]"#;
    let h = harness_with(&[("ALERTS_INHIBIT_RULES", rules)]).await;
    let now = at("2026-11-23T10:06:10Z");
    let root = h
        .handle(
            fixture("alerts/emr-cluster-terminated-with-errors.json"),
            now,
        )
        .await
        .unwrap();
    assert_eq!(decision(&root), ("published", None));
    let yarn = fixture("alerts/alarm-emr-yarn-memory-alarm.json");
    let out = h.handle(yarn.clone(), now).await.unwrap();
    assert_eq!(decision(&out), ("suppressed", Some("inhibited")));
    assert_eq!(
        out["alerts"][0]["inhibited_by"],
        root["alerts"][0]["fingerprint"]
    );
    let mut elsewhere = yarn;
    elsewhere["id"] = json!("yarn-elsewhere");
    elsewhere["detail"]["alarmName"] = json!("other-emr-yarn-memory");
    elsewhere["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] =
        json!({"JobFlowId": "j-OTHER"});
    let out = h.handle(elsewhere, now).await.unwrap();
    assert_eq!(decision(&out), ("published", None));
    let listed = h
        .handle(json!({"command": "inhibitions"}), now)
        .await
        .unwrap();
    assert_eq!(listed["rules"][0]["name"], "emr-cluster-failed");
    assert_eq!(
        listed["rules"][0]["target"]["labels"]["namespace"],
        json!(["AWS/ElasticMapReduce"])
    );
    let active = &listed["inhibitions"][0];
    assert_eq!(active["source_resource"], "j-2AXXXXXXGAPLF");
    assert_eq!(active["muted_count"], 1);
    assert_eq!(active["muted"][0]["resource"], "streamops-emr-yarn-memory");
    assert_eq!(h.received().await.len(), 2);

    let created = h
        .handle(
            fixture("alerts/ops-create-silence-until-resolved.json"),
            now,
        )
        .await
        .unwrap();
    assert_eq!(created["silence"]["until_resolved"], true);
    let mut lag = fixture("alerts/alarm-iterator-age-alarm.json");
    lag["id"] = json!("lag-alarm");
    lag["detail"]["alarmName"] = json!("streamops-flink-lag");
    lag["detail"]["state"]["timestamp"] = json!("2026-11-23T10:06:00.000+0000");
    let out = h.handle(lag.clone(), now).await.unwrap();
    assert_eq!(decision(&out), ("suppressed", Some("silenced")));
    let mut ok = fixture("alerts/alarm-iterator-age-ok.json");
    ok["id"] = json!("lag-ok");
    ok["detail"]["alarmName"] = json!("streamops-flink-lag");
    ok["detail"]["state"]["timestamp"] = json!("2026-11-23T10:30:00.000+0000");
    h.handle(ok, at("2026-11-23T10:30:05Z")).await.unwrap();
    let listed = h
        .handle(
            json!({"command": "list-silences", "include_expired": true}),
            now,
        )
        .await
        .unwrap();
    assert_eq!(listed["silences"], json!([]), "ended by the recovery");
    assert_eq!(h.received().await.len(), 0, "nothing more was sent");
}

/// The adapter keeps a claim's record-before (`claim_before`) through a write and a read, and
/// drops it with the claim on release: what lets a delivery after an abandoned claim be judged
/// against the record before it.
#[tokio::test]
async fn a_claim_keeps_the_record_before_it_until_released() {
    use alerts::dedup::{judged_against, next_state};
    use alerts::ports::StateStore;
    let h = harness().await;
    let store = &h.service.store;
    let t0 = at("2026-11-23T10:00:20Z");
    let alarm = fixture("alerts/alarm-iterator-age-alarm.json");
    h.handle(alarm.clone(), t0).await.unwrap();
    let normalized = alerts::normalize::normalize(
        &fixture("alerts/alarm-iterator-age-ok.json"),
        t0,
        &h.service.config.normalize,
    );
    let ok = &normalized[0];
    let notified = store.load_state(&ok.fingerprint).await.unwrap().unwrap();
    let claim_until = (t0 + Duration::seconds(30)).timestamp_millis();
    let claimed = next_state(
        Some(&notified),
        ok,
        Some(t0.timestamp_millis()),
        Some(claim_until),
    );
    let expires_at = (t0 + Duration::days(1)).timestamp();
    store
        .write_state(ok, &claimed, Some(notified.version), expires_at)
        .await
        .unwrap();
    let read = store.load_state(&ok.fingerprint).await.unwrap().unwrap();
    let before = read
        .claim
        .as_ref()
        .and_then(|c| c.before.as_deref())
        .unwrap();
    assert_eq!(before.state, "ALARM");
    assert_eq!(before.published_at_ms, notified.published_at_ms);
    assert!(before.problem_notified);
    let basis = judged_against(Some(&read), claim_until).unwrap();
    assert_eq!(
        (basis.state.as_str(), basis.version),
        ("ALARM", read.version)
    );
    store
        .release_claim(&ok.fingerprint, &ok.event_id)
        .await
        .unwrap();
    let released = store.load_state(&ok.fingerprint).await.unwrap().unwrap();
    assert_eq!((released.state.as_str(), released.claim), ("OK", None));
}
