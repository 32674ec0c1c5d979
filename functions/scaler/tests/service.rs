//! The service's orchestration over in-memory fakes of every port (tests/support): alarms,
//! actions, the tick, leases and cooldowns, ops commands, under scripted faults: throttling,
//! server errors, a write that succeeded but whose response was lost, a lease, claim or state
//! write of a concurrent invocation. No moto, no network: a plain `cargo test -p scaler` runs
//! them. The Flink savepoint rescale has its own file, service_flink.rs.

mod support;

use scaler::service::parse_alarms;
use serde_json::json;
use streamops_shared::harness::Failure;
use streamops_test_support::fixture;
use support::*;

// ---------------------------------------------------------------- alarms, claims, redelivery

#[tokio::test]
async fn a_duplicate_alarm_delivery_acts_once() {
    let (w, svc) = world(savepoint_job(json!({})));
    let event = fixture("scaler/alarm-raw-iterator-age.json");
    assert_eq!(said(&run(&svc, event.clone(), 0).await), ["act"]);
    assert_eq!(said(&run(&svc, event, 1).await), ["skip duplicate"]);
    // The SNS delivery of the same transition has the same claim key.
    let twin = run(&svc, fixture("scaler/sns-alarm-raw-iterator-age.json"), 2).await;
    assert_eq!(said(&twin), ["skip duplicate"]);
    assert_eq!(w.kinesis.updates(), [("raw".to_string(), 4)]);
    assert_eq!(
        w.store.trail_words("raw-stream"),
        ["act", "skip duplicate", "skip duplicate"]
    );
    assert_eq!(
        w.notifier.told(),
        ["raw-stream: scaled"],
        "duplicates are audit-only"
    );
}

#[tokio::test]
async fn an_alarm_whose_metric_recovered_is_not_claimed_and_acts_once_it_breaches_again() {
    let (w, svc) = world(savepoint_job(json!({})));
    w.metrics
        .set("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", 1000.0);
    let event = alarm(RAW_AGE, "2026-11-23T10:00:00.000+0000");
    assert_eq!(said(&run(&svc, event.clone(), 0).await), ["skip recovered"]);
    w.metrics
        .set("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", 90000.0);
    assert_eq!(said(&run(&svc, event, 1).await), ["act"]);
    assert_eq!(w.kinesis.updates().len(), 1);
}

#[tokio::test]
async fn a_throttled_metric_reread_fails_before_the_claim_so_the_redelivery_decides() {
    let (w, svc) = world(savepoint_job(json!({})));
    w.metrics.script.fail_next("newest", Fault::Throttled);
    let event = alarm(RAW_AGE, "2026-11-23T10:00:00.000+0000");
    let e = attempt(&svc, event.clone(), 0, &mut metrics())
        .await
        .unwrap_err();
    assert_eq!(Failure::of(&e).error_type, "Retryable.AwsCall", "{e}");
    assert_eq!(w.store.count("claim raw-stream"), 0);
    assert_eq!(said(&run(&svc, event, 1).await), ["act"]);
    assert_eq!(w.kinesis.updates(), [("raw".to_string(), 4)]);
}

#[tokio::test]
async fn a_claim_taken_by_a_concurrent_invocation_is_a_duplicate() {
    let (w, svc) = world(savepoint_job(json!({})));
    let event = alarm(RAW_AGE, "2026-11-23T10:00:00.000+0000");
    let key = format!(
        "{RAW_AGE}#{}#raw-stream",
        parse_alarms(&event).unwrap()[0].state_time
    );
    w.store.before("claim", move |d| {
        d.claims.insert(key, t(60 * 24 * 7).timestamp());
    });
    assert_eq!(said(&run(&svc, event, 0).await), ["skip duplicate"]);
    assert!(w.kinesis.updates().is_empty());
}

// ---------------------------------------------------------------- acting under faults

#[tokio::test]
async fn a_throttled_update_shard_count_is_audited_failed_and_the_redelivery_does_not_retry_it() {
    let (w, svc) = world(savepoint_job(json!({})));
    w.kinesis
        .script
        .fail_next("update_shard_count", Fault::Throttled);
    let event = alarm(RAW_AGE, "2026-11-23T10:00:00.000+0000");
    let e = attempt(&svc, event.clone(), 0, &mut metrics())
        .await
        .unwrap_err();
    // The invocation fails retryably (EventBridge redelivers) with the call named.
    assert_eq!(Failure::of(&e).error_type, "Retryable.AwsCall");
    assert!(e.to_string().contains("UpdateShardCount"), "{e}");
    assert_eq!(w.store.trail_words("raw-stream"), ["failed"]);
    assert_eq!(w.notifier.told(), ["raw-stream: failed"]);
    let sent = &w.notifier.sent()[0];
    assert_eq!(serde_json::to_value(sent).unwrap()["severity"], "critical");
    // The action was recorded before the call: the redelivery is a duplicate, not a second
    // call (the first may have gone through with its answer lost), and the next transition
    // waits out the cooldown.
    assert_eq!(said(&run(&svc, event, 1).await), ["skip duplicate"]);
    let next = run(&svc, alarm(RAW_AGE, "2026-11-23T10:02:00.000+0000"), 2).await;
    assert_eq!(said(&next), ["skip cooldown"]);
    assert_eq!(w.kinesis.updates(), [("raw".to_string(), 4)]);
    assert_eq!(w.kinesis.shards("raw"), 2);
}

#[tokio::test]
async fn a_dynamodb_fault_after_the_action_does_not_act_twice_on_redelivery() {
    let (w, svc) = world(savepoint_job(json!({})));
    w.store.script.fail_next("audit", Fault::ServerError);
    let event = alarm(RAW_AGE, "2026-11-23T10:00:00.000+0000");
    let e = attempt(&svc, event.clone(), 0, &mut metrics())
        .await
        .unwrap_err();
    assert_eq!(Failure::of(&e).error_type, "Retryable.AwsCall");
    assert_eq!(w.kinesis.shards("raw"), 4, "the action was made");
    assert_eq!(said(&run(&svc, event, 1).await), ["skip duplicate"]);
    assert_eq!(w.kinesis.updates(), [("raw".to_string(), 4)]);
    assert_eq!(w.store.state_of("raw-stream").last_size, Some(4));
}

#[tokio::test]
async fn a_state_write_whose_response_was_lost_never_leads_to_a_second_action() {
    let (w, svc) = world(savepoint_job(json!({})));
    // The write recording the action lands, its answer does not: the invocation fails before
    // acting and gives its claim back; the retry finds the recorded action's cooldown (no
    // second action) and keeps the alarm open for the tick (claims.rs: it acts after it).
    w.store.script.fail_next("put_state", Fault::LostResponse);
    let event = alarm(RAW_AGE, "2026-11-23T10:00:00.000+0000");
    assert!(
        attempt(&svc, event.clone(), 0, &mut metrics())
            .await
            .is_err()
    );
    assert_eq!(said(&run(&svc, event, 1).await), ["skip cooldown"]);
    assert!(w.kinesis.updates().is_empty());
    assert_eq!(w.store.state_of("raw-stream").last_size, Some(4));
    assert!(w.store.data().leases.is_empty(), "the lease was given back");
}

#[tokio::test]
async fn a_notification_that_cannot_be_sent_is_counted_and_the_decision_stands() {
    let (w, svc) = world(savepoint_job(json!({})));
    w.notifier.script.fail_next("publish", Fault::Throttled);
    let mut m = metrics();
    let out = attempt(
        &svc,
        alarm(RAW_AGE, "2026-11-23T10:00:00.000+0000"),
        0,
        &mut m,
    )
    .await
    .unwrap();
    assert_eq!(said(&out), ["act"]);
    assert!(counted(&m, "AlertPublishErrors"));
    assert_eq!(w.kinesis.shards("raw"), 4);
    assert_eq!(w.store.trail_words("raw-stream"), ["act"]);
    assert!(w.notifier.sent().is_empty());
}

#[tokio::test]
async fn notifications_carry_the_audit_entry_as_decision_id_and_the_function() {
    let (w, svc) = world(savepoint_job(json!({})));
    run(&svc, alarm(RAW_AGE, "2026-11-23T10:00:00.000+0000"), 0).await;
    let e = serde_json::to_value(&w.notifier.sent()[0]).unwrap();
    assert_eq!(
        (
            e["decision_id"].as_str(),
            e["function"].as_str(),
            e["outcome"].as_str(),
            e["from"].as_u64(),
            e["to"].as_u64(),
            e["alarm"].as_str()
        ),
        (
            Some("raw-stream/2026-11-23T10:00:00+00:00/0000"),
            Some("streamops-scaler"),
            Some("scaled"),
            Some(2),
            Some(4),
            Some(RAW_AGE)
        )
    );
}

// ---------------------------------------------------------------- leases and concurrency

#[tokio::test]
async fn a_lease_held_by_a_concurrent_invocation_is_concurrent_until_it_expires() {
    let (w, svc) = world(savepoint_job(json!({})));
    w.store
        .data()
        .leases
        .insert("raw-stream".into(), ("invocation-7".into(), t(10)));
    let out = run(&svc, alarm(RAW_AGE, "2026-11-23T10:00:00.000+0000"), 0).await;
    assert_eq!(said(&out), ["skip concurrent"]);
    assert!(
        out["decisions"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("invocation-7")
    );
    assert!(w.kinesis.updates().is_empty());
    // Its holder died: once expired, the lease is taken over.
    let later = run(&svc, alarm(RAW_AGE, "2026-11-23T10:11:00.000+0000"), 11).await;
    assert_eq!(said(&later), ["act"]);
    assert!(w.store.data().leases.is_empty(), "given back after");
}

#[tokio::test]
async fn a_state_written_by_a_concurrent_invocation_between_read_and_write_is_concurrent() {
    let (w, svc) = world(savepoint_job(json!({})));
    w.store
        .before("put_state", |d| d.concurrent_write("raw-stream"));
    let out = run(&svc, alarm(RAW_AGE, "2026-11-23T10:00:00.000+0000"), 0).await;
    assert_eq!(said(&out), ["skip concurrent"]);
    assert!(w.kinesis.updates().is_empty());
}

#[tokio::test]
async fn a_lease_that_cannot_be_given_back_expires_and_the_action_stands() {
    let (w, svc) = world(savepoint_job(json!({})));
    w.store.script.fail_next("release", Fault::ServerError);
    let out = run(&svc, alarm(RAW_AGE, "2026-11-23T10:00:00.000+0000"), 0).await;
    assert_eq!(said(&out), ["act"]);
    assert_eq!(w.store.data().leases.len(), 1);
    let held = run(&svc, alarm(RAW_AGE, "2026-11-23T10:06:00.000+0000"), 6).await;
    assert_eq!(said(&held), ["skip concurrent"]);
    let after = run(&svc, alarm(RAW_AGE, "2026-11-23T10:17:00.000+0000"), 17).await;
    assert_eq!(said(&after), ["act"]);
    assert_eq!(
        w.kinesis.updates(),
        [("raw".to_string(), 4), ("raw".to_string(), 8)]
    );
}

// ---------------------------------------------------------------- cooldowns and the tick

#[tokio::test]
async fn a_transition_inside_the_cooldown_is_held_and_the_tick_acts_once_it_is_over() {
    let (w, svc) = world(savepoint_job(json!({})));
    run(&svc, alarm(RAW_AGE, "2026-11-23T10:00:00.000+0000"), 0).await;
    let soon = run(&svc, alarm(RAW_AGE, "2026-11-23T10:03:00.000+0000"), 3).await;
    assert_eq!(said(&soon), ["skip cooldown"]);
    assert_eq!(said(&run(&svc, tick(), 4).await), ["skip cooldown"]);
    assert_eq!(said(&run(&svc, tick(), 6).await), ["act"]);
    assert_eq!(said(&run(&svc, tick(), 8).await), Vec::<String>::new());
    assert_eq!(
        w.kinesis.updates(),
        [("raw".to_string(), 4), ("raw".to_string(), 8)]
    );
    let open = w.store.state_of("raw-stream").memo.wakeup;
    assert!(
        open.is_none(),
        "the action closed the open decision: {open:?}"
    );
}

#[tokio::test]
async fn a_busy_stream_is_deferred_and_a_throttled_tick_leaves_it_open_for_the_next() {
    let (w, svc) = world(savepoint_job(json!({})));
    w.kinesis.edit("raw", |s| s.status = "UPDATING".into());
    let out = run(&svc, alarm(RAW_AGE, "2026-11-23T10:00:00.000+0000"), 0).await;
    assert_eq!(said(&out), ["defer busy"]);
    assert_eq!(w.notifier.told(), ["raw-stream: deferred"]);
    w.kinesis.edit("raw", |s| s.status = "ACTIVE".into());
    // The shard quota read is throttled: the tick fails, the decision stays open.
    w.kinesis.script.fail_next("shard_quota", Fault::Throttled);
    let e = attempt(&svc, tick(), 2, &mut metrics()).await.unwrap_err();
    assert_eq!(Failure::of(&e).error_type, "Retryable.AwsCall");
    assert!(w.store.state_of("raw-stream").memo.wakeup.is_some());
    assert_eq!(said(&run(&svc, tick(), 4).await), ["act"]);
    assert_eq!(w.kinesis.updates(), [("raw".to_string(), 4)]);
}

#[tokio::test]
async fn the_tick_ends_an_open_decision_whose_metric_recovered() {
    let (w, svc) = world(savepoint_job(json!({})));
    w.kinesis.edit("raw", |s| s.status = "UPDATING".into());
    run(&svc, alarm(RAW_AGE, "2026-11-23T10:00:00.000+0000"), 0).await;
    w.metrics
        .set("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", 1000.0);
    assert_eq!(said(&run(&svc, tick(), 2).await), ["skip recovered"]);
    assert_eq!(said(&run(&svc, tick(), 4).await), Vec::<String>::new());
    assert!(w.kinesis.updates().is_empty());
}

#[tokio::test]
async fn a_scale_in_terminates_the_nodes_yarn_reports_empty_and_a_yarn_outage_fails_it() {
    let (w, svc) = world(savepoint_job(json!({})));
    let node = |host: &str, containers| scaler::ports::YarnNode {
        host: host.into(),
        state: "RUNNING".into(),
        containers,
    };
    *w.yarn.nodes.lock().unwrap() = vec![node("ip-i-1", 3), node("ip-i-2", 0)];
    w.yarn.script.fail_next("nodes", Fault::ServerError);
    let idle = at_its_word("streamops-emr-memory-idle", "2026-11-23T10:00:00.000+0000");
    let e = attempt(&svc, idle, 0, &mut metrics()).await.unwrap_err();
    assert!(e.to_string().contains("YARN"), "{e}");
    assert_eq!(w.store.trail_words("emr-task"), ["failed"]);
    assert!(w.emr.data().resizes.is_empty());
    let again = at_its_word("streamops-emr-memory-idle", "2026-11-23T11:00:00.000+0000");
    let out = run(&svc, again, 60).await;
    assert_eq!(said(&out), ["act", "shrink_plan"]);
    assert_eq!(
        out["decisions"][1]["instances_to_terminate"],
        json!(["i-2"])
    );
    let resize = w.emr.data().resizes[0].clone();
    assert_eq!(
        (resize.count, resize.shrink.unwrap().instances_to_terminate),
        (1, vec!["i-2".to_string()])
    );
}

// ---------------------------------------------------------------- ops commands

#[tokio::test]
async fn explain_claims_nothing_pause_holds_and_a_scale_by_hand_ignores_the_cooldown() {
    let (w, svc) = world(savepoint_job(json!({})));
    let event = alarm(RAW_AGE, "2026-11-23T10:00:00.000+0000");
    let explained = run(
        &svc,
        json!({"command": "explain", "event": event.clone()}),
        0,
    )
    .await;
    assert_eq!(said(&explained), ["act"]);
    assert!(w.kinesis.updates().is_empty() && w.store.data().claims.is_empty());
    run(&svc, json!({"command": "pause", "target": "raw-stream"}), 0).await;
    assert_eq!(said(&run(&svc, event.clone(), 1).await), ["skip paused"]);
    run(
        &svc,
        json!({"command": "resume", "target": "raw-stream"}),
        2,
    )
    .await;
    let next = alarm(RAW_AGE, "2026-11-23T10:03:00.000+0000");
    assert_eq!(said(&run(&svc, next, 3).await), ["act"]);
    let by_hand =
        json!({"command": "scale", "target": "raw-stream", "size": 20, "reason": "launch"});
    let out = run(&svc, by_hand, 4).await;
    assert_eq!(
        (
            out["decision"]["from"].clone(),
            out["decision"]["to"].clone()
        ),
        (json!(4), json!(8))
    );
    assert_eq!(
        w.store.trail_words("raw-stream"),
        ["paused", "skip paused", "resumed", "act", "act"]
    );
}

// ---------------------------------------------------------------- excluded periods

/// The world's policies with a nightly period on the raw stream: 10:00 to 10:30 UTC, the
/// minutes 0 to 30 of `run`'s clock.
fn with_excluded_period(w: &World, scale_out: bool) -> scaler::service::ScalerService<FakePorts> {
    let mut p = policies(savepoint_job(json!({})));
    p["targets"][0]["excluded_periods"] = json!([{"name": "nightly-batch",
        "cron": "cron(0 10 * * ? *)", "duration": "30m", "time_zone": "UTC"}]);
    p["targets"][0]["scale_out_during_exclusion"] = json!(scale_out);
    w.service(&p)
}

#[tokio::test]
async fn an_alarm_during_an_excluded_period_is_audited_blocked_and_the_tick_acts_after_it() {
    let (w, _) = world(savepoint_job(json!({})));
    let svc = with_excluded_period(&w, false);
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let mut m = streamops_shared::Metrics::with_sink("streamops", "scaler", move |l: &str| {
        sink.lock().unwrap().push(l.to_string())
    });
    let event = alarm(RAW_AGE, "2026-11-23T10:05:00.000+0000");
    let out = attempt(&svc, event, 5, &mut m).await.unwrap();
    m.flush();
    assert_eq!(said(&out), ["skip excluded_period"]);
    let detail = out["decisions"][0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("excluded period nightly-batch from 2026-11-23 10:00:00 UTC until 2026-11-23 10:30:00 UTC"),
        "{detail}"
    );
    assert!(w.kinesis.updates().is_empty(), "nothing is called");
    assert_eq!(w.store.trail_words("raw-stream"), ["skip excluded_period"]);
    assert_eq!(w.notifier.told(), ["raw-stream: blocked"]);
    let counted = lines.lock().unwrap().iter().any(|l| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        v["reason"] == "excluded_period" && v["ScalingSkipped"] == 1.0
    });
    assert!(counted, "{:?}", lines.lock().unwrap());
    // The decision stays open: the tick is held while the period lasts and acts after it.
    assert_eq!(said(&run(&svc, tick(), 20).await), ["skip excluded_period"]);
    assert_eq!(said(&run(&svc, tick(), 30).await), ["act"]);
    assert_eq!(w.kinesis.updates(), [("raw".to_string(), 4)]);
}

#[tokio::test]
async fn an_alarm_after_the_period_acts_and_scale_out_may_be_allowed_during_it() {
    let (w, _) = world(savepoint_job(json!({})));
    let svc = with_excluded_period(&w, false);
    let after = run(&svc, alarm(RAW_AGE, "2026-11-23T10:31:00.000+0000"), 31).await;
    assert_eq!(said(&after), ["act"]);
    assert_eq!(w.kinesis.updates(), [("raw".to_string(), 4)]);

    let (w, _) = world(savepoint_job(json!({})));
    let svc = with_excluded_period(&w, true);
    let during = run(&svc, alarm(RAW_AGE, "2026-11-23T10:05:00.000+0000"), 5).await;
    assert_eq!(said(&during), ["act"], "scale_out_during_exclusion");
    assert_eq!(w.kinesis.updates(), [("raw".to_string(), 4)]);
}

#[tokio::test]
async fn status_shows_the_period_in_effect_and_the_next() {
    let (w, _) = world(savepoint_job(json!({})));
    let svc = with_excluded_period(&w, false);
    let status = run(&svc, json!({"command": "status"}), 10).await;
    let raw = &status["targets"][0];
    assert_eq!(raw["target"], "raw-stream");
    let period = &raw["excluded_periods"][0];
    assert_eq!(period["name"], "nightly-batch");
    assert_eq!(period["active"]["ends"], "2026-11-23T10:30:00Z");
    assert_eq!(period["next_start"], "2026-11-24T10:00:00Z");
    assert_eq!(
        raw["policy"]["excluded_periods"][0]["cron"],
        "cron(0 10 * * ? *)"
    );
}
