//! The claim of an alarm transition and what a failure after it does (issue 16's scaler soak:
//! an alarm storm under DynamoDB faults). The claim is written before the target is observed;
//! when the evaluation then fails before the action is recorded, the claim is given back, so
//! the event source's retry evaluates the transition instead of skipping it as a duplicate. A
//! failure after the action was recorded still makes the retry a duplicate: never a second
//! action.

mod support;

use chrono::{DateTime, Duration, Utc};
use scaler::service::ScalerService;
use serde_json::{Value, json};
use streamops_test_support::fixture;
use support::*;

const RAW_AGE: &str = "streamops-raw-iterator-age";

fn world() -> (World, ScalerService<FakePorts>) {
    let w = World::default();
    w.kinesis.stream("raw", 2);
    let svc = w.service(&json!({
        "targets": [{"id": "raw-stream", "kind": "kinesis_stream", "stream": "raw", "min": 1, "max": 8,
                     "scale_out_cooldown_seconds": 300}],
        "rules": [{"alarm": RAW_AGE, "target": "raw-stream", "direction": "out"}]
    }));
    (w, svc)
}

fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .to_utc()
        + Duration::minutes(minutes)
}

fn alarm() -> Value {
    let mut e = fixture("scaler/alarm-raw-iterator-age.json");
    e["detail"]["state"]["timestamp"] = json!("2026-11-23T10:00:00.000+0000");
    e
}

async fn attempt(
    svc: &ScalerService<FakePorts>,
    payload: Value,
    minute: i64,
) -> Result<Value, String> {
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    svc.handle(payload, t(minute), until, &mut metrics())
        .await
        .map_err(|e| e.to_string())
}

fn said(out: &Value) -> Vec<String> {
    out["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(words)
        .collect()
}

#[tokio::test]
async fn a_throttled_observation_after_the_claim_gives_it_back_and_the_retry_acts() {
    let (w, svc) = world();
    w.kinesis
        .script
        .fail_next("stream_summary", Fault::Throttled);
    let e = attempt(&svc, alarm(), 0).await.unwrap_err();
    assert!(e.contains("DescribeStreamSummary"), "{e}");
    assert!(w.kinesis.updates().is_empty());
    // Lambda's retry of the failed invocation (a minute later): evaluated, not a duplicate.
    let retry = attempt(&svc, alarm(), 1).await.unwrap();
    assert_eq!(said(&retry), ["act"]);
    assert_eq!(w.kinesis.updates(), [("raw".to_string(), 4)]);
    // The claim stands once the transition was decided: a later redelivery is a duplicate.
    assert_eq!(
        said(&attempt(&svc, alarm(), 2).await.unwrap()),
        ["skip duplicate"]
    );
    assert_eq!(w.kinesis.updates().len(), 1);
}

#[tokio::test]
async fn a_failed_state_read_after_the_claim_gives_it_back_and_the_retry_acts() {
    let (w, svc) = world();
    w.store.script.fail_next("state", Fault::ServerError);
    assert!(attempt(&svc, alarm(), 0).await.is_err());
    assert_eq!(said(&attempt(&svc, alarm(), 1).await.unwrap()), ["act"]);
    assert_eq!(w.kinesis.updates(), [("raw".to_string(), 4)]);
}

#[tokio::test]
async fn a_state_write_lost_before_acting_is_not_dropped_the_tick_acts_after_the_cooldown() {
    let (w, svc) = world();
    // The write recording the action lands, its answer does not: the invocation fails before
    // acting. The retry finds the recorded action's cooldown and keeps the alarm open; the
    // tick acts once the cooldown is over. One action, late; not none.
    w.store.script.fail_next("put_state", Fault::LostResponse);
    assert!(attempt(&svc, alarm(), 0).await.is_err());
    assert!(w.kinesis.updates().is_empty());
    assert_eq!(
        said(&attempt(&svc, alarm(), 1).await.unwrap()),
        ["skip cooldown"]
    );
    attempt(&svc, json!({"command": "tick"}), 6).await.unwrap();
    assert_eq!(w.kinesis.updates(), [("raw".to_string(), 4)]);
}

#[tokio::test]
async fn a_failure_after_the_action_was_recorded_keeps_the_claim_never_a_second_action() {
    let (w, svc) = world();
    w.kinesis
        .script
        .fail_next("update_shard_count", Fault::Throttled);
    assert!(attempt(&svc, alarm(), 0).await.is_err());
    assert_eq!(
        said(&attempt(&svc, alarm(), 1).await.unwrap()),
        ["skip duplicate"]
    );
    assert_eq!(w.kinesis.updates(), [("raw".to_string(), 4)]);
    assert_eq!(w.store.count("unclaim raw-stream"), 0);
}

#[tokio::test]
async fn a_decision_that_changed_nothing_and_could_not_be_audited_is_decided_again() {
    let (w, svc) = world();
    // A first transition acts; a second, inside the cooldown, is skipped, and its audit
    // write fails: the retry decides it again, so the trail shows the skip.
    attempt(&svc, alarm(), 0).await.unwrap();
    let mut second = alarm();
    second["detail"]["state"]["timestamp"] = json!("2026-11-23T10:01:00.000+0000");
    w.store.script.fail_next("audit", Fault::ServerError);
    assert!(attempt(&svc, second.clone(), 1).await.is_err());
    assert_eq!(
        said(&attempt(&svc, second, 2).await.unwrap()),
        ["skip cooldown"]
    );
    assert_eq!(w.store.trail_words("raw-stream"), ["act", "skip cooldown"]);
    assert_eq!(w.kinesis.updates().len(), 1);
}
