//! Suite awareness over the in-memory fakes (`support`): alerts on what the scaler is
//! resizing are annotated with it, and optionally held until it should have settled (then sent
//! once if still firing, never if it recovered); alerts after a checkpoint failure name the
//! book's latest restorable point; a store or book that cannot be read costs the annotation,
//! never the alert.

mod support;

use alerts::context::RestorePoint;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use streamops_test_support::fixture;
use support::{Fault, Fixture, StoreOp, at, config, recheck_event, scaler_decision as decision};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:streamops-alerts";

fn fakes(extra: &[(&str, &str)]) -> Fixture {
    Fixture::new(config(TOPIC, extra))
}

/// An iterator-age alarm on `stream` in `state` at `time` (its own event id).
fn lag(stream: &str, state: &str, time: &str, id: &str) -> Value {
    let mut e = fixture("alerts/alarm-iterator-age-alarm.json");
    e["id"] = json!(id);
    e["detail"]["state"]["value"] = json!(state);
    e["detail"]["state"]["timestamp"] = json!(time);
    e["detail"]["previousState"]["value"] = json!(if state == "OK" { "ALARM" } else { "OK" });
    e["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] =
        json!({ "StreamName": stream });
    e
}

/// Fakes holding problems up to `hold` while the scaler resizes, the resize of
/// [`decision`] begun at 10:00 (settling by 10:05).
async fn resizing(hold: &str) -> Fixture {
    let f = fakes(&[
        ("ALERTS_HOLD_DURING_SCALING", hold),
        ("ALERTS_GROUP_QUEUE_URL", "http://127.0.0.1/q"),
    ]);
    let scaled = decision("scaled", "d1", "2026-11-23T10:00:00Z");
    handle(&f, &scaled, at("2026-11-23T10:00:01Z")).await;
    f
}

fn bodies(f: &Fixture) -> Vec<String> {
    f.topic.delivered().into_iter().map(|m| m.body).collect()
}

fn outcome(out: &Value) -> (&str, Option<&str>) {
    let a = &out["alerts"][0];
    (a["decision"].as_str().unwrap(), a["reason"].as_str())
}

async fn handle(f: &Fixture, event: &Value, now: DateTime<Utc>) -> Value {
    f.handle_as("req", event, now).await.unwrap()
}

#[tokio::test]
async fn an_alarm_on_the_stream_being_resized_names_the_resize_until_it_ends() {
    let f = fakes(&[]);
    handle(
        &f,
        &decision("scaled", "d1", "2026-11-23T10:00:00Z"),
        at("2026-11-23T10:00:01Z"),
    )
    .await;
    assert_eq!(f.store.activities().len(), 1);
    let alarm = lag("streamops-raw", "ALARM", "2026-11-23T10:01:00Z", "a1");
    handle(&f, &alarm, at("2026-11-23T10:01:01Z")).await;
    let body = bodies(&f).pop().unwrap();
    assert!(
        body.contains("the scaler is resizing raw-stream 2 -> 4 since 10:00:00Z, expected to settle by 10:05:00Z"),
        "{body}"
    );
    // Another stream's alarm is not about the resize.
    let mut other = lag("other", "ALARM", "2026-11-23T10:01:30Z", "a2");
    other["detail"]["alarmName"] = json!("other-iterator-age");
    handle(&f, &other, at("2026-11-23T10:01:31Z")).await;
    assert!(!bodies(&f).pop().unwrap().contains("resizing"));
    // The resize failed: it ends; a reordered, older start does not bring it back.
    handle(
        &f,
        &decision("failed", "d2", "2026-11-23T10:02:00Z"),
        at("2026-11-23T10:02:01Z"),
    )
    .await;
    assert!(f.store.activities().is_empty());
    handle(
        &f,
        &decision("scaled", "d0", "2026-11-23T09:59:00Z"),
        at("2026-11-23T10:02:02Z"),
    )
    .await;
    assert!(
        f.store.activities().is_empty(),
        "a stale start after the end"
    );
    let after = lag("streamops-raw", "ALARM", "2026-11-23T10:03:00Z", "a3");
    let mut after = after;
    after["detail"]["alarmName"] = json!("streamops-raw-write-throttled");
    handle(&f, &after, at("2026-11-23T10:03:01Z")).await;
    assert!(!bodies(&f).pop().unwrap().contains("resizing"));
}

#[tokio::test]
async fn a_held_alarm_is_sent_once_after_the_resize_settles_if_it_still_fires() {
    let f = resizing("critical").await;
    let sent_before = f.topic.delivered().len();
    let alarm = lag("streamops-raw", "ALARM", "2026-11-23T10:01:00Z", "a1");
    let out = handle(&f, &alarm, at("2026-11-23T10:01:01Z")).await;
    assert_eq!(outcome(&out), ("suppressed", Some("held-while-scaling")));
    assert_eq!(out["alerts"][0]["held_for"], "scaling/raw-stream");
    assert_eq!(
        f.topic.delivered().len(),
        sent_before,
        "nothing sent while held"
    );
    // The same transition redelivered is a redelivery, not a second hold.
    handle(&f, &alarm, at("2026-11-23T10:01:02Z")).await;
    let mut rechecks = f.queue.drain_rechecks();
    assert_eq!(rechecks.len(), 1);
    let held = rechecks.pop().unwrap();
    assert_eq!(held.until, at("2026-11-23T10:05:00Z"));
    assert_eq!(held.delay_seconds, 239);
    // Delivered early (a long settle is re-checked in 900 s steps): queued again.
    let early = handle(&f, &recheck_event(&held, "m0"), at("2026-11-23T10:02:00Z")).await;
    assert_eq!(early["rechecks"][0]["outcome"]["result"], "requeued");
    assert_eq!(f.queue.drain_rechecks().len(), 1);
    // After the settle time, still firing: sent once, saying it was held.
    let due = at("2026-11-23T10:05:02Z");
    let out = handle(&f, &recheck_event(&held, "m1"), due).await;
    assert_eq!(out["rechecks"][0]["outcome"]["result"], "judged");
    assert_eq!(out["rechecks"][0]["outcome"]["outcome"], "published");
    let body = bodies(&f).pop().unwrap();
    assert!(
        body.contains("held 4 min while the scaler is resizing raw-stream 2 -> 4"),
        "{body}"
    );
    assert_eq!(f.topic.delivered().len(), sent_before + 1);
    // The re-check redelivered sends nothing more; the recovery is a real recovery now.
    let again = handle(&f, &recheck_event(&held, "m1"), due).await;
    assert_eq!(again["rechecks"][0]["outcome"]["result"], "already-sent");
    let ok = lag("streamops-raw", "OK", "2026-11-23T10:07:00Z", "a2");
    assert_eq!(
        outcome(&handle(&f, &ok, at("2026-11-23T10:07:01Z")).await).0,
        "published"
    );
    assert_eq!(f.topic.delivered().len(), sent_before + 2);
}

#[tokio::test]
async fn a_held_alarm_that_recovers_while_the_resize_settles_is_never_sent() {
    let f = resizing("critical").await;
    let sent_before = f.topic.delivered().len();
    handle(
        &f,
        &lag("streamops-raw", "ALARM", "2026-11-23T10:01:00Z", "a1"),
        at("2026-11-23T10:01:01Z"),
    )
    .await;
    let ok = handle(
        &f,
        &lag("streamops-raw", "OK", "2026-11-23T10:03:00Z", "a2"),
        at("2026-11-23T10:03:01Z"),
    )
    .await;
    assert_eq!(outcome(&ok), ("suppressed", Some("not-a-recovery")));
    let held = f.queue.drain_rechecks().pop().unwrap();
    let out = handle(&f, &recheck_event(&held, "m1"), at("2026-11-23T10:05:02Z")).await;
    assert_eq!(out["rechecks"][0]["outcome"]["result"], "superseded");
    assert_eq!(
        f.topic.delivered().len(),
        sent_before,
        "neither the problem nor its recovery"
    );
}

#[tokio::test]
async fn a_queue_that_refuses_the_recheck_fails_the_alert_and_its_retry_holds_it() {
    let f = resizing("critical").await;
    f.queue.script.fail_next("SendMessage", Fault::Throttled);
    let alarm = lag("streamops-raw", "ALARM", "2026-11-23T10:01:00Z", "a1");
    assert!(
        f.handle_as("r1", &alarm, at("2026-11-23T10:01:01Z"))
            .await
            .is_err()
    );
    assert!(
        f.store.record(&alert_fingerprint(&f, &alarm)).is_none(),
        "nothing recorded"
    );
    let out = handle(&f, &alarm, at("2026-11-23T10:01:30Z")).await;
    assert_eq!(outcome(&out), ("suppressed", Some("held-while-scaling")));
    assert_eq!(f.queue.drain_rechecks().len(), 1);
}

fn alert_fingerprint(_f: &Fixture, event: &Value) -> String {
    let now = at("2026-11-23T10:01:00Z");
    alerts::normalize::normalize(event, now, &Default::default())[0]
        .fingerprint
        .clone()
}

fn point() -> RestorePoint {
    RestorePoint {
        location: "s3://streamops-checkpoints/flink/checkpoints/a1b2c3/chk-41".into(),
        kind: "checkpoint".into(),
        job_id: "a1b2c3d4e5f60718293a4b5c6d7e8f90".into(),
        checkpoint_id: Some(41),
        completed_at: Some(at("2026-11-27T08:56:01Z")),
        status: Some("restorable".into()),
    }
}

/// Fakes whose stack's alarms are on pipeline `clicks`, its book's point set, and its
/// checkpoints failing since 09:00.
async fn failing_pipeline() -> Fixture {
    let f = fakes(&[(
        "ALERTS_RESOURCE_LABELS",
        r#"{"streamops-": {"pipeline": "clicks"}}"#,
    )]);
    f.book.set_latest("clicks", point());
    let failing = fixture("alerts/checkpoint-health-failing.json");
    handle(&f, &failing, at("2026-11-27T09:00:01Z")).await;
    f
}

#[tokio::test]
async fn an_alarm_after_a_checkpoint_failure_names_the_books_latest_restorable_point() {
    let f = failing_pipeline().await;
    let alarm = lag("streamops-raw", "ALARM", "2026-11-27T09:02:00Z", "a1");
    handle(&f, &alarm, at("2026-11-27T09:02:01Z")).await;
    let body = bodies(&f).pop().unwrap();
    assert!(
        body.contains("checkpoints of pipeline clicks are failing since 09:00:00Z"),
        "{body}"
    );
    assert!(
        body.contains("s3://streamops-checkpoints/flink/checkpoints/a1b2c3/chk-41 (checkpoint 41 of job a1b2c3d4e5f60718293a4b5c6d7e8f90, completed 2026-11-27T08:56:01Z)"),
        "{body}"
    );
    // A recovery older than the failure (reordered) does not end it; a newer one does, and
    // later alarms say nothing of it.
    let mut healthy = fixture("alerts/checkpoint-health-healthy.json");
    handle(&f, &healthy, at("2026-11-27T09:05:01Z")).await;
    assert_eq!(f.store.activities().len(), 1);
    healthy["id"] = json!("healthy-later");
    healthy["detail"]["event_id"] = json!("clicks/later");
    healthy["detail"]["at"] = json!("2026-11-27T09:10:00Z");
    handle(&f, &healthy, at("2026-11-27T09:10:01Z")).await;
    assert!(f.store.activities().is_empty());
    let mut later = lag("streamops-raw", "ALARM", "2026-11-27T09:12:00Z", "a2");
    later["detail"]["alarmName"] = json!("streamops-raw-write-throttled");
    handle(&f, &later, at("2026-11-27T09:12:01Z")).await;
    assert!(!bodies(&f).pop().unwrap().contains("restorable point"));
}

#[tokio::test]
async fn an_unreadable_book_or_activity_list_costs_the_annotation_not_the_alert() {
    let f = failing_pipeline().await;
    f.book
        .script
        .fail_next("GetItem (book)", Fault::ServerError);
    let out = handle(
        &f,
        &lag("streamops-raw", "ALARM", "2026-11-27T09:02:00Z", "a1"),
        at("2026-11-27T09:02:01Z"),
    )
    .await;
    assert_eq!(outcome(&out).0, "published");
    let body = bodies(&f).pop().unwrap();
    assert!(
        body.contains("checkpoints of pipeline clicks are failing"),
        "{body}"
    );
    assert!(!body.contains("restorable point"), "{body}");
    f.store
        .script
        .fail_next(StoreOp::ListActivities.name(), Fault::Throttled);
    let mut other = lag("streamops-raw", "ALARM", "2026-11-27T09:03:00Z", "a2");
    other["detail"]["alarmName"] = json!("streamops-raw-write-throttled");
    assert_eq!(
        outcome(&handle(&f, &other, at("2026-11-27T09:03:01Z")).await).0,
        "published"
    );
    assert!(
        !bodies(&f)
            .pop()
            .unwrap()
            .contains("checkpoints of pipeline")
    );
    assert_eq!(f.counted("AlertsAnnotationFailures", "alerts"), 2);
}

#[tokio::test]
async fn activities_lists_what_is_going_on_and_the_hold() {
    let f = resizing("warning").await;
    let command = fixture("alerts/ops-activities.json");
    let now = handle(&f, &command, at("2026-11-23T10:01:00Z")).await;
    assert_eq!(now["hold_during_scaling"], "warning");
    let keys: Vec<&str> = now["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["scaling/raw-stream"]);
    assert_eq!(now["activities"][0]["labels"]["stream"], "streamops-raw");
    assert_eq!(now["activities"][0]["settles_by"], "2026-11-23T10:05:00Z");
    // Past the resize's settle time and grace, only with include_ended.
    let later = handle(&f, &command, at("2026-11-23T10:20:00Z")).await;
    assert_eq!(later["activities"].as_array().unwrap().len(), 0);
    let all = handle(
        &f,
        &json!({"command": "activities", "include_ended": true}),
        at("2026-11-23T10:20:00Z"),
    )
    .await;
    assert_eq!(all["activities"][0]["in_effect"], false);
}

#[tokio::test]
async fn explain_says_an_alarm_would_be_held_and_holds_nothing() {
    let f = resizing("critical").await;
    let alarm = lag("streamops-raw", "ALARM", "2026-11-23T10:01:00Z", "a1");
    let why = handle(
        &f,
        &json!({"command": "explain", "event": alarm}),
        at("2026-11-23T10:01:01Z"),
    )
    .await;
    let a = &why["alerts"][0];
    assert_eq!(
        (a["would"].as_str(), a["reason"].as_str()),
        (Some("suppress"), Some("held-while-scaling")),
        "{why}"
    );
    assert_eq!(a["muted_by"]["held_for"], "scaling/raw-stream");
    assert_eq!(a["muted_by"]["until"], "2026-11-23T10:05:00Z");
    assert!(
        f.queue.drain_rechecks().is_empty(),
        "explain queued a re-check"
    );
}
