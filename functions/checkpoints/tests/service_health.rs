//! The `health` command over the fakes: Flink's REST API reachable and healthy, showing failed
//! checkpoints, unreachable (the book alone), a pipeline that never checkpointed, a recovery,
//! and faults of the book's pipelines index and of the event bus.

mod support;

use std::sync::{Arc, Mutex};

use checkpoints::HealthState;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use streamops_shared::Metrics;
use streamops_test_support::fixture;
use support::*;

const REST: &str = "http://jobmanager:8081";

/// Flink's answer to `/checkpoints` as a real Flink 2.3 gave it (events/checkpoints/flink/), with
/// the latest completed checkpoint (9) acknowledged at `acked`.
fn flink_healthy(acked: DateTime<Utc>) -> Value {
    let mut v = fixture("checkpoints/flink/job-checkpoints.json");
    v["latest"]["completed"]["latest_ack_timestamp"] = json!(acked.timestamp_millis());
    v
}

/// A job whose every checkpoint expired: none completed, four failed, one in progress.
fn flink_failing() -> Value {
    fixture("checkpoints/flink/job-checkpoints-failing.json")
}

fn flink_config() -> Value {
    fixture("checkpoints/flink/checkpoints-config.json")
}

async fn register(service: &Service, pipeline: &str, job: &str) {
    run(
        service,
        json!({"command": "register-job", "pipeline": pipeline, "job_id": job}),
    )
    .await;
}

/// `health` at `at`, with the EMF documents it published.
async fn health(service: &Service, payload: Value, at: DateTime<Utc>) -> (Value, Vec<Value>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let mut m = Metrics::with_sink("streamops", "checkpoints", move |l: &str| {
        sink.lock().unwrap().push(l.to_string())
    });
    let answer = service.handle(payload, at, &mut m).await.unwrap();
    m.flush();
    let docs = lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (answer, docs)
}

/// The value of `metric` in the document of `pipeline` (`None`: the one without a pipeline).
fn metric(docs: &[Value], metric: &str, pipeline: Option<&str>) -> Option<Value> {
    docs.iter()
        .find(|d| d.get("pipeline").and_then(Value::as_str) == pipeline && d.get(metric).is_some())
        .map(|d| d[metric].clone())
}

#[tokio::test]
async fn reachable_flink_with_a_fresh_checkpoint_is_healthy_and_says_so() {
    let (service, fakes) = service_with(&[("CHECKPOINTS_FLINK_REST_URL", REST)]);
    register(&service, "clicks", JOB).await;
    run(&service, checkpoint(&fakes, JOB, 8, 9_990)).await;
    fakes
        .flink
        .answer(Ok(flink_healthy(now() - Duration::seconds(2))));
    fakes.flink.answer_config(Ok(flink_config()));
    let (answer, docs) = health(&service, json!({"command": "health"}), now()).await;
    let r = &answer["pipelines"][0];
    assert_eq!(r["pipeline"], "clicks");
    assert_eq!(r["verdict"], json!({"state": "healthy"}));
    // Its interval is 1 s: 2 s is within the 3 intervals allowed.
    assert_eq!(
        r["age_seconds"], 2,
        "Flink's checkpoint 9 is newer than the book's 8"
    );
    assert_eq!(r["last_good"]["checkpoint_id"], 9);
    assert_eq!(r["last_good"]["known_from"], "flink_rest");
    assert_eq!(r["consecutive_failures"], 0);
    assert_eq!(
        (&r["interval_seconds"], &r["interval_from"]),
        (&json!(1), &json!("flink_config")),
        "1000 ms"
    );
    assert_eq!(r["job_id"], JOB);
    assert_eq!(answer["unhealthy"], 0);
    assert_eq!(
        *fakes.flink.asked.lock().unwrap(),
        [(REST.into(), JOB.into())]
    );
    assert_eq!(
        metric(&docs, "CheckpointAgeSeconds", Some("clicks")),
        Some(json!(2.0))
    );
    assert_eq!(
        metric(&docs, "CheckpointAgeSeconds", None),
        Some(json!(2.0))
    );
    assert_eq!(
        metric(&docs, "CheckpointConsecutiveFailures", Some("clicks")),
        Some(json!(0.0))
    );
    // Healthy is sent too: alerts drops a recovery nobody heard the start of.
    let sent = fakes.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].state, HealthState::Healthy);
    assert_eq!(answer["events_sent"], 1);
}

#[tokio::test]
async fn failed_checkpoints_reported_by_flink_make_the_pipeline_failing() {
    let (service, fakes) = service_with(&[("CHECKPOINTS_FLINK_REST_URL", REST)]);
    register(&service, "clicks", JOB).await;
    run(&service, checkpoint(&fakes, JOB, 41, 9_995)).await;
    fakes.flink.answer(Ok(flink_failing()));
    // Checkpointing switched off answers an error here: the policy's interval stands in.
    fakes.flink.answer_config(Err("404 Not Found".into()));
    let (answer, docs) = health(&service, json!({"command": "health"}), now()).await;
    let r = &answer["pipelines"][0];
    // Four FAILED in Flink's history; the one in progress is not a failure.
    assert_eq!(r["verdict"], json!({"state": "failing", "consecutive": 4}));
    assert_eq!(r["latest_failed"]["id"], 4);
    assert_eq!(r["interval_from"], "policy");
    assert_eq!(
        metric(&docs, "CheckpointConsecutiveFailures", Some("clicks")),
        Some(json!(4.0))
    );
    let e = &fakes.notifier.sent()[0];
    assert_eq!(e.state, HealthState::Failing);
    assert_eq!(e.consecutive_failures, Some(4));
    assert_eq!(
        e.latest_failure.as_deref(),
        Some("Checkpoint expired before completing.")
    );
    // Flink has no completed checkpoint of this job: the last good point is the book's.
    let good = e.last_good.as_ref().unwrap();
    assert_eq!(good.checkpoint_id, Some(41));
    assert_eq!(good.location, location(&checkpoint_dir(JOB, 41)));
    assert_eq!(e.age_seconds, Some(300));
    assert_eq!(e.function, "checkpoints");
}

#[tokio::test]
async fn unreachable_flink_falls_back_to_the_book_and_does_not_invent_failures() {
    let (service, fakes) = service_with(&[
        ("CHECKPOINTS_FLINK_REST_URL", REST),
        (
            "CHECKPOINTS_HEALTH",
            r#"{"pipelines": {"clicks": {"missed_intervals": 5, "interval_seconds": 120}}}"#,
        ),
    ]);
    register(&service, "clicks", JOB).await;
    run(&service, checkpoint(&fakes, JOB, 7, 9_980)).await;
    let (answer, docs) = health(&service, json!({"command": "health"}), now()).await;
    let r = &answer["pipelines"][0];
    // 20 minutes without a checkpoint, 2-minute intervals, late after 5.
    assert_eq!(
        r["verdict"],
        json!({"state": "late", "intervals_missed": 10})
    );
    assert_eq!(r["age_seconds"], 1200);
    assert!(r["consecutive_failures"].is_null());
    let why = r["failures_unknown_because"].as_str().unwrap();
    assert!(
        why.contains("unreachable") && why.contains("refused"),
        "{why}"
    );
    assert_eq!(r["interval_from"], "policy");
    assert_eq!(r["last_good"]["known_from"], "book");
    assert_eq!(
        r["last_good"]["location"],
        location(&checkpoint_dir(JOB, 7))
    );
    assert_eq!(metric(&docs, "CheckpointConsecutiveFailures", None), None);
    let e = &fakes.notifier.sent()[0];
    assert_eq!(
        (e.state, e.intervals_missed, e.missed_intervals_allowed),
        (HealthState::Late, Some(10), 5)
    );
    assert_eq!(e.consecutive_failures, None);
    // The shape the alerts function's fixture (and normalizer) reads: the same fields.
    let ours = serde_json::to_value(e).unwrap();
    let theirs = fixture("alerts/checkpoint-health-late.json")["detail"].clone();
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&ours), keys(&theirs));
    assert_eq!(keys(&ours["last_good"]), keys(&theirs["last_good"]));
}

#[tokio::test]
async fn a_pipeline_that_never_checkpointed_is_unknown_and_sends_nothing() {
    let (service, fakes) = service();
    register(&service, "views", JOB2).await;
    let (answer, docs) = health(&service, json!({"command": "health"}), now()).await;
    let r = &answer["pipelines"][0];
    assert_eq!(r["pipeline"], "views");
    assert_eq!(r["verdict"]["state"], "unknown");
    assert!(
        r["verdict"]["why"]
            .as_str()
            .unwrap()
            .contains("no completed checkpoint")
    );
    assert!(r["age_seconds"].is_null());
    assert!(
        r["failures_unknown_because"]
            .as_str()
            .unwrap()
            .contains("CHECKPOINTS_FLINK_REST_URL")
    );
    assert!(fakes.notifier.sent().is_empty());
    assert_eq!(metric(&docs, "CheckpointAgeSeconds", None), None);
}

#[tokio::test]
async fn a_late_pipeline_recovers_when_a_checkpoint_lands() {
    let (service, fakes) = service();
    register(&service, "clicks", JOB).await;
    run(&service, checkpoint(&fakes, JOB, 7, 9_000)).await;
    let (first, _) = health(&service, json!({"command": "health"}), now()).await;
    assert_eq!(first["pipelines"][0]["verdict"]["state"], "late");
    run(&service, checkpoint(&fakes, JOB, 8, 9_999)).await;
    let (second, _) = health(&service, json!({"command": "health"}), now()).await;
    assert_eq!(second["pipelines"][0]["verdict"]["state"], "healthy");
    let states: Vec<_> = fakes.notifier.sent().iter().map(|e| e.state).collect();
    assert_eq!(states, [HealthState::Late, HealthState::Healthy]);
    let ids: Vec<_> = fakes
        .notifier
        .sent()
        .iter()
        .map(|e| e.last_good.as_ref().unwrap().checkpoint_id)
        .collect();
    assert_eq!(
        ids,
        [Some(7), Some(8)],
        "each names the last good point it saw"
    );
}

#[tokio::test]
async fn one_pipeline_by_name_and_without_events() {
    let (service, fakes) = service();
    register(&service, "clicks", JOB).await;
    register(&service, "views", JOB2).await;
    run(&service, checkpoint(&fakes, JOB, 7, 9_999)).await;
    let (answer, _) = health(
        &service,
        json!({"command": "health", "pipeline": "clicks", "notify": false}),
        now(),
    )
    .await;
    assert_eq!(answer["pipelines"].as_array().unwrap().len(), 1);
    assert_eq!(answer["events_sent"], 0);
    assert!(fakes.notifier.sent().is_empty());
    assert_eq!(fakes.book.script.calls("Query (pipelines index)"), 0);
    let (all, _) = health(&service, json!({"command": "health"}), now()).await;
    let names: Vec<_> = all["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pipeline"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["clicks", "views"]);
}

#[tokio::test]
async fn savepoints_of_no_known_job_are_not_a_pipeline() {
    let (service, fakes) = service();
    run(&service, savepoint(&fakes, "0123456789ab", 3, 9_999)).await;
    let unresolved = checkpoints::Scope::Pipeline("unresolved-a1b2c3".into());
    assert!(
        fakes.book.latest_of(&unresolved).is_some(),
        "booked under it"
    );
    let (answer, _) = health(&service, json!({"command": "health"}), now()).await;
    assert_eq!(answer["pipelines"], json!([]), "{answer}");
}

#[tokio::test]
async fn a_failed_pipelines_query_fails_the_command_retryably() {
    let (service, fakes) = service();
    fakes
        .book
        .script
        .fail("Query (pipelines index)", 1, Fault::Throttled);
    let e = call(&service, json!({"command": "health"}))
        .await
        .unwrap_err();
    assert_eq!(
        streamops_shared::harness::Classified::class(&e),
        streamops_shared::ErrorClass::Retryable
    );
}

#[tokio::test]
async fn a_refused_event_does_not_stop_the_others_and_fails_the_command() {
    let (service, fakes) = service();
    register(&service, "clicks", JOB).await;
    register(&service, "views", JOB2).await;
    run(&service, checkpoint(&fakes, JOB, 7, 9_000)).await;
    run(&service, checkpoint(&fakes, JOB2, 3, 9_000)).await;
    fakes.notifier.script.fail("PutEvents", 1, Fault::Throttled);
    let e = call(&service, json!({"command": "health"}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("PutEvents"), "{e}");
    let sent: Vec<_> = fakes
        .notifier
        .sent()
        .iter()
        .map(|e| e.pipeline.clone())
        .collect();
    assert_eq!(sent, ["views"], "the second pipeline's event still went");
}

#[tokio::test]
async fn the_command_may_name_the_jobmanager_as_verify_does() {
    let (service, fakes) = service();
    register(&service, "clicks", JOB).await;
    run(&service, checkpoint(&fakes, JOB, 8, 9_990)).await;
    fakes.flink.answer(Ok(flink_failing()));
    let payload = json!({"command": "health", "flink_rest_url": "http://10.0.3.7:8081"});
    let (answer, _) = health(&service, payload, now()).await;
    assert_eq!(answer["pipelines"][0]["verdict"]["state"], "failing");
    assert_eq!(
        *fakes.flink.asked.lock().unwrap(),
        [("http://10.0.3.7:8081".into(), JOB.into())]
    );
}
