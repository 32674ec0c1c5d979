//! The service's orchestration over in-memory fakes of every port (tests/support): alarms,
//! actions, the tick, the Flink savepoint rescale (stop, submit, confirm, rollback, stranded),
//! leases and cooldowns, under scripted faults: throttling, server errors, a write that
//! succeeded but whose response was lost, a lease, claim or state write of a concurrent
//! invocation. No moto, no network: a plain `cargo test -p scaler` runs them.

mod support;

use chrono::{DateTime, Duration, Utc};
use scaler::policy::TargetState;
use scaler::rescale::{FlinkRescale, RescalePhase};
use scaler::service::{ScalerError, ScalerService, parse_alarms};
use serde_json::{Value, json};
use streamops_shared::Metrics;
use streamops_shared::harness::Failure;
use streamops_test_support::fixture;
use support::*;

const RAW_AGE: &str = "streamops-raw-iterator-age";
const FLINK_LAG: &str = "streamops-flink-lag";

fn policies(flink: Value) -> Value {
    json!({
        "targets": [
            {"id": "raw-stream", "kind": "kinesis_stream", "stream": "raw", "min": 1, "max": 8,
             "scale_out_cooldown_seconds": 300, "scale_in_cooldown_seconds": 3600},
            {"id": "emr-task", "kind": "emr_instance_group", "cluster_id": "j-1", "instance_group_id": "ig-task",
             "min": 1, "max": 6, "scale_out": {"step": 2}, "yarn_rm_url": "http://127.0.0.1:8088",
             "scale_in_delay_seconds": 0, "scale_in_cooldown_seconds": 0},
            flink
        ],
        "rules": [
            {"alarm": RAW_AGE, "target": "raw-stream", "direction": "out"},
            {"alarm": "streamops-emr-memory-idle", "target": "emr-task", "direction": "in"},
            {"alarm": FLINK_LAG, "target": "flink-job", "direction": "out"}
        ]
    })
}

fn savepoint_job(extra: Value) -> Value {
    let mut t = json!({"id": "flink-job", "kind": "flink_job", "rest_url": "http://127.0.0.1:8081",
        "job_name": "counting", "mode": "savepoint", "jar_id": "jar-1", "pipeline": "counting",
        "min": 1, "max": 4, "scale_out_cooldown_seconds": 0, "savepoint_timeout_seconds": 60});
    t.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    t
}

/// A world with the raw stream (2 shards), an EMR cluster with a task group of 2, and a Flink
/// job `counting` at parallelism 1; and the service over it.
fn world(flink: Value) -> (World, ScalerService<FakePorts>) {
    let w = World::default();
    w.kinesis.stream("raw", 2);
    let instance = |id: &str| scaler::ports::InstanceView {
        ec2_id: id.into(),
        private_dns: format!("ip-{id}.ec2.internal"),
        running: true,
    };
    w.emr.cluster(
        "j-1",
        FakeCluster {
            state: "WAITING".into(),
            groups: vec![task_group("ig-task", 2)],
            instances: [(
                "ig-task".to_string(),
                vec![instance("i-1"), instance("i-2")],
            )]
            .into(),
            ..Default::default()
        },
    );
    w.flink.job("old", "counting", 1);
    let svc = w.service(&policies(flink));
    (w, svc)
}

fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .to_utc()
        + Duration::minutes(minutes)
}

fn until(secs: u64) -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(secs)
}

/// The raw stream's alarm (with its metric to re-read), at `state_time`.
fn alarm(name: &str, state_time: &str) -> Value {
    let mut e = fixture("scaler/alarm-raw-iterator-age.json");
    e["detail"]["alarmName"] = json!(name);
    e["detail"]["state"]["timestamp"] = json!(state_time);
    e
}

/// An alarm with no single metric to re-read: taken at its word.
fn at_its_word(name: &str, state_time: &str) -> Value {
    let mut e = alarm(name, state_time);
    e["detail"]["configuration"] = json!({"metrics": []});
    e
}

async fn attempt(
    svc: &ScalerService<FakePorts>,
    payload: Value,
    minute: i64,
    m: &mut Metrics,
) -> Result<Value, ScalerError> {
    svc.handle(payload, t(minute), until(3), m).await
}

async fn run(svc: &ScalerService<FakePorts>, payload: Value, minute: i64) -> Value {
    attempt(svc, payload, minute, &mut metrics())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// What each decision of a response says, in a word or two (`act`, `skip duplicate`, ...).
fn said(out: &Value) -> Vec<String> {
    out["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(words)
        .collect()
}

fn tick() -> Value {
    json!({"command": "tick"})
}

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
    // acting, and at most once means this transition is not acted on again.
    w.store.script.fail_next("put_state", Fault::LostResponse);
    let event = alarm(RAW_AGE, "2026-11-23T10:00:00.000+0000");
    assert!(
        attempt(&svc, event.clone(), 0, &mut metrics())
            .await
            .is_err()
    );
    assert_eq!(said(&run(&svc, event, 1).await), ["skip duplicate"]);
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

// ---------------------------------------------------------------- the Flink savepoint rescale

fn lag(state_time: &str) -> Value {
    at_its_word(FLINK_LAG, state_time)
}

#[tokio::test]
async fn a_savepoint_rescale_stops_submits_confirms_and_registers_the_new_job() {
    let (w, svc) = world(savepoint_job(json!({})));
    let out = run(&svc, lag("2026-11-23T10:00:00.000+0000"), 0).await;
    assert_eq!(said(&out), ["act", "rescaled"]);
    let (job, parallelism) = w.flink.running("counting").unwrap();
    assert_eq!(parallelism, 2);
    assert_ne!(job, "old");
    assert_eq!(out["decisions"][1]["job_id"], job.as_str());
    let stops = w.flink.data().stops.clone();
    assert_eq!(stops.len(), 1);
    let savepoint = out["decisions"][1]["savepoint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        w.book.jobs.lock().unwrap().clone(),
        [(
            "counting".to_string(),
            job,
            savepoint,
            "NO_CLAIM".to_string()
        )]
    );
    // The rescale's outcome is audited (and sent) as it happens, the decision after it.
    assert_eq!(
        w.notifier.told(),
        ["flink-job: rescaled", "flink-job: scaled"]
    );
    assert_eq!(w.store.state_of("flink-job").memo.rescale, None);
}

#[tokio::test]
async fn a_slow_savepoint_is_reported_once_and_the_tick_finishes_the_rescale() {
    let (w, svc) = world(savepoint_job(json!({})));
    w.flink.data().savepoint.in_progress_polls = 10_000;
    let out = svc
        .handle(
            lag("2026-11-23T10:00:00.000+0000"),
            t(0),
            until(1),
            &mut metrics(),
        )
        .await
        .unwrap();
    assert_eq!(said(&out), ["act", "rescale_in_progress"]);
    // Two minutes on, past the 60 s timeout: reported once, still watched.
    let overdue = svc
        .handle(tick(), t(2), until(1), &mut metrics())
        .await
        .unwrap();
    assert_eq!(said(&overdue), ["failed"]);
    assert!(
        overdue["decisions"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not complete after 60 s")
    );
    assert_eq!(overdue["decisions"][0]["phase"]["phase"], "stopping");
    let still = svc
        .handle(tick(), t(4), until(1), &mut metrics())
        .await
        .unwrap();
    assert_eq!(said(&still), ["rescale_in_progress"]);
    w.flink.data().savepoint.in_progress_polls = 0;
    let done = run(&svc, tick(), 6).await;
    assert_eq!(said(&done), ["rescaled"]);
    assert_eq!(w.flink.running("counting").unwrap().1, 2);
    assert_eq!(
        w.notifier.told(),
        [
            "flink-job: scaled",
            "flink-job: failed",
            "flink-job: rescaled"
        ],
        "progress is audit-only"
    );
}

#[tokio::test]
async fn a_refused_resubmission_rolls_back_to_the_old_parallelism_from_the_same_savepoint() {
    let (w, svc) = world(savepoint_job(json!({})));
    w.flink.data().refuse_run_at.insert(2);
    let out = run(&svc, lag("2026-11-23T10:00:00.000+0000"), 0).await;
    assert_eq!(said(&out), ["act", "failed"]);
    let error = out["decisions"][1]["error"].as_str().unwrap();
    assert!(
        error.contains("HTTP 500") && error.contains("old parallelism 1"),
        "{error}"
    );
    let runs = w.flink.data().runs.clone();
    assert_eq!(
        runs.iter().map(|r| r.2).collect::<Vec<_>>(),
        [2, 1],
        "the same savepoint both times: {runs:?}"
    );
    assert_eq!(runs[0].1, runs[1].1);
    assert_eq!(w.flink.running("counting").unwrap().1, 1);
    let st = w.store.state_of("flink-job");
    assert_eq!((st.memo.rescale, st.last_size), (None, Some(1)));
}

#[tokio::test]
async fn a_stranded_rescale_is_critical_holds_new_decisions_and_every_tick_retries_it() {
    let (w, svc) = world(savepoint_job(json!({})));
    w.flink.data().refuse_run_at.extend([1, 2]);
    let out = run(&svc, lag("2026-11-23T10:00:00.000+0000"), 0).await;
    assert_eq!(said(&out), ["act", "stranded"]);
    let sent: Vec<Value> = w
        .notifier
        .sent()
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    let e = sent.iter().find(|e| e["outcome"] == "stranded").unwrap();
    assert_eq!(
        (e["outcome"].as_str(), e["severity"].as_str()),
        (Some("stranded"), Some("critical"))
    );
    assert!(
        e["savepoint"].as_str().unwrap().contains("savepoint-old"),
        "{e}"
    );
    assert!(w.flink.running("counting").is_none(), "the job is stopped");
    assert!(matches!(
        w.store.state_of("flink-job").memo.rescale.unwrap().phase,
        RescalePhase::Submitting {
            rollback: true,
            parallelism: 1,
            ..
        }
    ));
    // A new alarm carries the rescale on first, and waits while it is stranded.
    let held = run(&svc, lag("2026-11-23T10:05:00.000+0000"), 5).await;
    assert_eq!(said(&held), ["defer busy", "stranded"]);
    // The JobManager takes jobs again: the next tick restores the old parallelism.
    w.flink.data().refuse_run_at.clear();
    let back = run(&svc, tick(), 6).await;
    assert_eq!(said(&back), ["failed"]);
    assert_eq!(w.flink.running("counting").unwrap().1, 1);
    assert_eq!(w.store.state_of("flink-job").memo.rescale, None);
}

#[tokio::test]
async fn a_job_an_invocation_submitted_before_dying_is_not_submitted_twice() {
    let (w, svc) = world(savepoint_job(json!({})));
    let savepoint = "s3://savepoints/savepoint-old-t".to_string();
    let mut rescale = FlinkRescale::new("old", 1, 2, "t".into(), t(0));
    rescale.phase = RescalePhase::Submitting {
        savepoint: savepoint.clone(),
        parallelism: 2,
        rollback: false,
        failure: None,
    };
    w.store.set_state("flink-job", |st: &mut TargetState| {
        st.memo.rescale = Some(rescale)
    });
    w.flink.data().jobs[0].state = "FINISHED".into();
    w.flink.submit(&savepoint, 2);
    let out = run(&svc, tick(), 1).await;
    assert_eq!(said(&out), ["rescaled"]);
    assert!(w.flink.data().runs.is_empty(), "no second submission");
}

#[tokio::test]
async fn a_jobmanager_that_forgot_the_trigger_leaves_the_running_job_alone() {
    let (w, svc) = world(savepoint_job(json!({})));
    w.flink.data().forgot_triggers = true;
    let out = run(&svc, lag("2026-11-23T10:00:00.000+0000"), 0).await;
    assert_eq!(said(&out), ["act", "failed"]);
    let error = out["decisions"][1]["error"].as_str().unwrap();
    assert!(
        error.contains("unknown") && error.contains("keeps running"),
        "{error}"
    );
    assert_eq!(w.flink.running("counting"), Some(("old".to_string(), 1)));
    assert_eq!(w.store.state_of("flink-job").memo.rescale, None);
}

#[tokio::test]
async fn a_failed_savepoint_or_a_refused_stop_keeps_the_job_running() {
    let (w, svc) = world(savepoint_job(json!({})));
    w.flink.data().savepoint.fails = Some("java.io.IOException: denied".into());
    let out = run(&svc, lag("2026-11-23T10:00:00.000+0000"), 0).await;
    assert_eq!(said(&out), ["act", "failed"]);
    assert!(
        out["decisions"][1]["error"]
            .as_str()
            .unwrap()
            .contains("denied")
    );
    w.flink
        .script
        .fail_next("stop_with_savepoint", Fault::ServerError);
    let out = run(&svc, lag("2026-11-23T10:05:00.000+0000"), 5).await;
    assert_eq!(said(&out), ["act", "failed"]);
    assert!(
        out["decisions"][1]["error"]
            .as_str()
            .unwrap()
            .contains("stop-with-savepoint was refused")
    );
    assert_eq!(w.flink.running("counting"), Some(("old".to_string(), 1)));
    assert!(w.flink.data().runs.is_empty());
    assert_eq!(w.store.state_of("flink-job").memo.rescale, None);
}

/// The EMR step runner: runs what a `streamops-rescale-*` step asks (`-s <savepoint> -p <n>`)
/// on the fake JobManager, or fails the step at `fail_at`.
fn run_steps(w: &World, fail_at: Option<u32>) {
    let (flink, emr) = (w.flink.clone(), w.emr.clone());
    w.emr.on_step(move |_, name, args| {
        let after = |flag: &str| args[args.iter().position(|a| a == flag).unwrap() + 1].clone();
        let parallelism: u32 = after("-p").parse().unwrap();
        if Some(parallelism) == fail_at {
            emr.set_step_state(name, "FAILED");
        } else {
            flink.submit(&after("-s"), parallelism);
        }
    });
}

fn emr_step_job() -> Value {
    savepoint_job(json!({"jar_id": null,
        "emr_step": {"cluster_id": "j-1", "jar": "s3://artifacts/counting-job.jar"}}))
}

#[tokio::test]
async fn a_resubmission_through_an_emr_step_adds_one_step_named_after_the_trigger() {
    let (w, svc) = world(emr_step_job());
    run_steps(&w, None);
    let out = run(&svc, lag("2026-11-23T10:00:00.000+0000"), 0).await;
    assert_eq!(said(&out), ["act", "rescaled"]);
    let steps = w.emr.data().steps.clone();
    assert_eq!(steps.len(), 1);
    assert!(steps[0].1.starts_with("streamops-rescale-") && steps[0].1.ends_with("-p2"));
    assert_eq!(
        steps[0].3.last().unwrap(),
        "s3://artifacts/counting-job.jar"
    );
    assert_eq!(w.flink.running("counting").unwrap().1, 2);
}

#[tokio::test]
async fn a_failed_emr_step_rolls_back_through_another_step() {
    let (w, svc) = world(emr_step_job());
    run_steps(&w, Some(2));
    let out = run(&svc, lag("2026-11-23T10:00:00.000+0000"), 0).await;
    assert_eq!(said(&out), ["act", "failed"]);
    let error = out["decisions"][1]["error"].as_str().unwrap();
    assert!(
        error.contains("FAILED") && error.contains("old parallelism 1"),
        "{error}"
    );
    let names: Vec<String> = w.emr.data().steps.iter().map(|s| s.1.clone()).collect();
    assert!(
        names[0].ends_with("-p2") && names[1].ends_with("-p1"),
        "{names:?}"
    );
    assert_eq!(w.flink.running("counting").unwrap().1, 1);
}

#[tokio::test]
async fn an_adaptive_job_rescales_in_place() {
    let (w, svc) = world(json!({"id": "flink-job", "kind": "flink_job",
        "rest_url": "http://127.0.0.1:8081", "job_name": "counting", "mode": "adaptive",
        "min": 1, "max": 4}));
    w.flink.data().config = vec![("jobmanager.scheduler".into(), "adaptive".into())];
    let out = run(&svc, lag("2026-11-23T10:00:00.000+0000"), 0).await;
    assert_eq!(said(&out), ["act", "rescaled"]);
    assert_eq!(w.flink.running("counting"), Some(("old".to_string(), 2)));
    assert!(w.flink.data().stops.is_empty());
    // Another autoscaler on the job: left alone.
    w.flink
        .data()
        .config
        .push(("job.autoscaler.enabled".into(), "true".into()));
    let out = run(&svc, lag("2026-11-23T10:05:00.000+0000"), 5).await;
    assert_eq!(said(&out), ["skip owned_elsewhere"]);
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
