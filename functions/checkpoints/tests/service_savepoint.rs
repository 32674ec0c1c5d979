//! The `savepoint` command over the fakes, with Flink's answers as a real Flink 2.3 gave them
//! (events/checkpoints/flink/): a scheduled savepoint taken, booked with its trigger and
//! followed by retention; a retried invocation that takes no second one; a trigger that fails,
//! a status read failing mid-way, a savepoint Flink fails, a trigger Flink lost, the deadline
//! coming first; the object event arriving before or after the command; no running job.

mod support;

use checkpoints::{ClaimState, Failure, PointKind, TriggerKind};
use serde_json::{Value, json};
use streamops_shared::harness::Classified;
use streamops_shared::{ErrorClass, Metrics};
use streamops_test_support::fixture;
use support::*;
use tokio::time::{Duration, Instant};

const REST: &str = "http://jobmanager:8081";
const SCHEDULE: &str =
    "arn:aws:scheduler:us-east-1:123456789012:schedule/default/streamops-savepoint";
const NEW: &str = "0000000000ff";

fn flink(name: &str) -> Value {
    fixture(&format!("checkpoints/flink/{name}.json"))
}

fn in_progress() -> Result<Value, String> {
    Ok(flink("savepoint-in-progress"))
}

/// Flink's COMPLETED answer, naming the savepoint directory `suffix` of JOB in the bucket.
fn completed(suffix: &str) -> Result<Value, String> {
    let mut v = flink("savepoint-completed");
    let dir = savepoint_dir(suffix);
    v["operation"]["location"] = json!(format!("s3a://{BUCKET}/{}", dir.trim_end_matches('/')));
    Ok(v)
}

fn scheduled(at: &str) -> Value {
    json!({"command": "savepoint", "pipeline": "clicks", "dry_run": false,
           "schedule_time": at, "requested_by": SCHEDULE})
}

const SLOT: &str = "2026-11-27T00:40:00Z";

/// clicks runs JOB (registered), with two savepoints booked days ago.
async fn pipeline(service: &Service, fakes: &Fakes) -> Vec<String> {
    run(
        service,
        json!({"command": "register-job", "pipeline": "clicks", "job_id": JOB}),
    )
    .await;
    let mut old = Vec::new();
    for (i, suffix) in ["00000000000a", "00000000000b"].iter().enumerate() {
        run(
            service,
            savepoint(fakes, suffix, 10 + i as u64, 10 + i as i64),
        )
        .await;
        old.push(location(&savepoint_dir(suffix)));
    }
    fakes
        .flink
        .jobs(&[(JOB, "streamops-counting-job", "RUNNING")]);
    old
}

fn svc() -> (Service, Fakes) {
    service_with(&[("CHECKPOINTS_FLINK_REST_URL", REST)])
}

async fn until(
    service: &Service,
    payload: Value,
    seconds: u64,
) -> Result<Value, checkpoints::CheckpointsError> {
    let mut m = Metrics::with_sink("streamops", "checkpoints", |_: &str| {});
    let deadline = Instant::now() + Duration::from_secs(seconds);
    service.handle_until(payload, now(), deadline, &mut m).await
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_savepoint_is_taken_booked_with_its_trigger_and_retention_keeps_the_count() {
    let (service, fakes) = svc();
    let old = pipeline(&service, &fakes).await;
    savepoint(&fakes, NEW, 30, 10_000);
    fakes
        .flink
        .statuses(vec![in_progress(), in_progress(), completed(NEW)]);
    let out = run(&service, scheduled(SLOT)).await;
    assert_eq!(out["outcome"], "completed", "{out}");
    assert_eq!(out["job_id"], JOB);
    assert_eq!(out["job_from"], "book");
    let sent = fakes.flink.triggered();
    assert_eq!(sent.len(), 1);
    let (job, body) = &sent[0];
    assert_eq!(job, JOB);
    assert_eq!(
        body["target-directory"],
        format!("s3://{BUCKET}/flink/savepoints/")
    );
    assert_eq!(
        (&body["cancel-job"], &body["formatType"]),
        (&json!(false), &json!("CANONICAL"))
    );
    assert_eq!(body["triggerId"], out["trigger"]["trigger_id"]);
    assert_eq!(*fakes.flink.status_reads.lock().unwrap(), 3);
    let new = location(&savepoint_dir(NEW));
    assert_eq!(out["booked"]["action"], "recorded_latest", "{out}");
    let p = fakes.book.at(&new).expect("booked");
    let t = p.trigger.expect("with its trigger");
    assert_eq!(
        (t.kind, t.requested_by.as_str()),
        (TriggerKind::Scheduled, SCHEDULE)
    );
    assert_eq!(t.trigger_id, out["trigger"]["trigger_id"].as_str().unwrap());
    assert_eq!((p.kind, p.checkpoint_id), (PointKind::Savepoint, Some(30)));
    // keep_savepoints 1 (min age 1 h): both old savepoints go, the new one is the latest.
    assert_eq!(out["retention"]["pruned"], json!(old), "{out}");
    assert!(
        fakes
            .bucket
            .keys()
            .iter()
            .all(|k| !k.contains("00000000000a") && !k.contains("00000000000b"))
    );
    let claims = fakes.book.claims();
    assert_eq!(claims.len(), 1);
    assert!(
        matches!(&claims[0].state, ClaimState::Completed { location } if location.ends_with(NEW))
    );
}

#[tokio::test(start_paused = true)]
async fn a_retried_scheduled_invocation_takes_no_second_savepoint() {
    let (service, fakes) = svc();
    pipeline(&service, &fakes).await;
    savepoint(&fakes, NEW, 30, 10_000);
    fakes.flink.statuses(vec![completed(NEW)]);
    let first = run(&service, scheduled(SLOT)).await;
    let again = run(&service, scheduled(SLOT)).await;
    assert_eq!(
        (first["outcome"].as_str(), again["outcome"].as_str()),
        (Some("completed"), Some("already_completed"))
    );
    assert_eq!(again["trigger"], first["trigger"]);
    assert_eq!(fakes.flink.triggered().len(), 1, "one savepoint per slot");
    let next = run(&service, scheduled("2026-11-27T06:40:00Z")).await;
    assert_eq!(next["outcome"], "completed");
    assert_ne!(
        next["trigger"]["trigger_id"],
        first["trigger"]["trigger_id"]
    );
    assert_eq!(
        fakes.flink.triggered().len(),
        2,
        "the next slot takes its own"
    );
}

#[tokio::test(start_paused = true)]
async fn a_trigger_that_failed_is_retryable_and_the_retry_sends_the_same_trigger_id() {
    let (service, fakes) = svc();
    pipeline(&service, &fakes).await;
    savepoint(&fakes, NEW, 30, 10_000);
    fakes.flink.next_trigger(Err(
        "POST /jobs/x/savepoints: connect 127.0.0.1:8081: refused".into(),
    ));
    let e = call(&service, scheduled(SLOT)).await.unwrap_err();
    assert_eq!(
        (e.class(), e.kind()),
        (ErrorClass::Retryable, "FlinkRest"),
        "{e}"
    );
    let claim = fakes
        .book
        .claims()
        .pop()
        .expect("claimed before the trigger");
    assert_eq!(claim.state, ClaimState::Triggered { posted: false });
    fakes.flink.statuses(vec![completed(NEW)]);
    let out = run(&service, scheduled(SLOT)).await;
    assert_eq!(out["outcome"], "completed");
    let sent = fakes.flink.triggered();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1["triggerId"], claim.trigger.trigger_id.as_str());
}

#[tokio::test(start_paused = true)]
async fn a_status_read_failing_mid_way_is_retryable_and_the_retry_only_follows() {
    let (service, fakes) = svc();
    pipeline(&service, &fakes).await;
    savepoint(&fakes, NEW, 30, 10_000);
    fakes
        .flink
        .statuses(vec![in_progress(), Err("GET: connect refused".into())]);
    let e = call(&service, scheduled(SLOT)).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Retryable, "{e}");
    assert!(e.to_string().contains("savepoint status"), "{e}");
    // A dry run of the claimed slot only says where it stands: nothing sent, nothing read.
    let reads = *fakes.flink.status_reads.lock().unwrap();
    let mut dry = scheduled(SLOT);
    dry["dry_run"] = json!(true);
    let dry = run(&service, dry).await;
    assert_eq!(
        dry["state"],
        json!({"state": "triggered", "posted": true}),
        "{dry}"
    );
    assert_eq!(*fakes.flink.status_reads.lock().unwrap(), reads);
    fakes.flink.statuses(vec![completed(NEW)]);
    let out = run(&service, scheduled(SLOT)).await;
    assert_eq!(out["outcome"], "completed");
    assert_eq!(
        fakes.flink.triggered().len(),
        1,
        "acknowledged once: never sent again"
    );
    assert!(
        fakes
            .book
            .at(&location(&savepoint_dir(NEW)))
            .unwrap()
            .trigger
            .is_some()
    );
}

#[tokio::test(start_paused = true)]
async fn a_savepoint_flink_fails_goes_to_alerts_once_and_is_not_retaken() {
    let (service, fakes) = svc();
    pipeline(&service, &fakes).await;
    fakes
        .flink
        .statuses(vec![in_progress(), Ok(flink("savepoint-failed"))]);
    let out = run(&service, scheduled(SLOT)).await;
    assert_eq!(
        (out["outcome"].as_str(), out["failure"].as_str()),
        (Some("failed"), Some("savepoint_failed"))
    );
    let events = fakes.notifier.savepoint_events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (e.failure, e.trigger, e.pipeline.as_str()),
        (Failure::SavepointFailed, TriggerKind::Scheduled, "clicks")
    );
    assert!(e.reason.contains("IO-problem detected"), "{}", e.reason);
    assert_eq!(e.job_id.as_deref(), Some(JOB));
    let again = run(&service, scheduled(SLOT)).await;
    assert_eq!(again["outcome"], "already_failed");
    let mut dry = scheduled(SLOT);
    dry["dry_run"] = json!(true);
    let dry = run(&service, dry).await;
    assert_eq!(
        (dry["outcome"].as_str(), dry["state"]["state"].as_str()),
        (Some("dry_run"), Some("failed"))
    );
    assert_eq!(
        (
            fakes.flink.triggered().len(),
            fakes.notifier.savepoint_events().len()
        ),
        (1, 1)
    );
    assert!(
        out["retention"].is_null(),
        "no retention after a failed savepoint"
    );
}

#[tokio::test(start_paused = true)]
async fn a_trigger_flink_no_longer_knows_is_reported_lost() {
    let (service, fakes) = svc();
    pipeline(&service, &fakes).await;
    let unknown = flink("savepoint-unknown-trigger");
    let e = format!(
        "GET /jobs/{JOB}/savepoints/x: HTTP 404: {}",
        unknown["body"]
    );
    fakes.flink.statuses(vec![Err(e)]);
    let out = run(&service, scheduled(SLOT)).await;
    assert_eq!(out["failure"], "trigger_lost", "{out}");
    assert!(
        out["reason"]
            .as_str()
            .unwrap()
            .contains("There is no savepoint operation")
    );
    assert_eq!(
        fakes.notifier.savepoint_events()[0].failure,
        Failure::TriggerLost
    );
}

#[tokio::test(start_paused = true)]
async fn the_deadline_answers_in_progress_with_the_trigger_and_a_retry_picks_it_up() {
    let (service, fakes) = svc();
    pipeline(&service, &fakes).await;
    savepoint(&fakes, NEW, 30, 10_000);
    fakes.flink.statuses(vec![in_progress()]);
    let started = Instant::now();
    let e = until(&service, scheduled(SLOT), 15).await.unwrap_err();
    let waited = started.elapsed();
    assert!(
        waited <= Duration::from_secs(10) && waited >= Duration::from_secs(9),
        "{waited:?}: the deadline less the margin"
    );
    assert_eq!(
        (e.class(), e.kind()),
        (ErrorClass::Retryable, "SavepointInProgress")
    );
    let trigger = fakes.book.claims()[0].trigger.trigger_id.clone();
    assert!(e.to_string().contains(&trigger), "{e}");
    assert!(
        fakes.notifier.savepoint_events().is_empty(),
        "still in progress is no failure"
    );
    fakes.flink.statuses(vec![completed(NEW)]);
    let out = until(&service, scheduled(SLOT), 15).await.unwrap();
    assert_eq!(out["outcome"], "completed");
    assert_eq!(fakes.flink.triggered().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_object_event_after_the_command_books_one_point_with_the_trigger() {
    let (service, fakes) = svc();
    pipeline(&service, &fakes).await;
    fakes.flink.statuses(vec![completed(NEW)]);
    let out = run(&service, scheduled(SLOT)).await;
    assert_eq!(out["outcome"], "completed");
    assert_eq!(
        out["booked"]["detail"], "object_gone",
        "not in the bucket yet: {out}"
    );
    let new = location(&savepoint_dir(NEW));
    assert!(fakes.book.at(&new).is_none());
    let event = savepoint(&fakes, NEW, 30, 10_001);
    assert_eq!(
        actions(&run(&service, event.clone()).await),
        ["recorded_latest"]
    );
    assert_eq!(actions(&run(&service, event).await), ["already_recorded"]);
    let points: Vec<_> = fakes
        .book
        .points()
        .into_iter()
        .filter(|p| p.location == new)
        .collect();
    assert_eq!(points.len(), 1);
    assert_eq!(
        points[0].trigger.as_ref().unwrap().kind,
        TriggerKind::Scheduled
    );
}

#[tokio::test(start_paused = true)]
async fn the_object_event_before_the_command_gets_the_trigger_on_its_point() {
    let (service, fakes) = svc();
    pipeline(&service, &fakes).await;
    let event = savepoint(&fakes, NEW, 30, 9_999);
    assert_eq!(actions(&run(&service, event).await), ["recorded_latest"]);
    let new = location(&savepoint_dir(NEW));
    assert!(fakes.book.at(&new).unwrap().trigger.is_none());
    fakes.flink.statuses(vec![completed(NEW)]);
    let out = run(
        &service,
        json!({"command": "savepoint", "pipeline": "clicks", "dry_run": false}),
    )
    .await;
    assert_eq!(out["booked"]["action"], "already_recorded", "{out}");
    let points: Vec<_> = fakes
        .book
        .points()
        .into_iter()
        .filter(|p| p.location == new)
        .collect();
    assert_eq!(points.len(), 1);
    let trigger = points[0].trigger.clone().expect("the command's trigger");
    assert_eq!(
        (trigger.kind, trigger.requested_by.as_str()),
        (TriggerKind::Manual, "manual")
    );
    assert_eq!(
        points[0].completed_at,
        t(9_999),
        "the first sighting's time stands"
    );
    assert!(
        out["retention"].is_null(),
        "a manual savepoint applies no retention"
    );
}

#[tokio::test]
async fn no_running_job_is_reported_and_nothing_is_triggered_or_claimed() {
    let (service, fakes) = svc();
    pipeline(&service, &fakes).await;
    fakes
        .flink
        .jobs(&[(JOB, "streamops-counting-job", "CANCELED")]);
    let out = run(&service, scheduled(SLOT)).await;
    assert_eq!(
        (out["outcome"].as_str(), out["failure"].as_str()),
        (Some("failed"), Some("job_not_running"))
    );
    let reason = out["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("the book's job {JOB} is CANCELED")),
        "{reason}"
    );
    assert!(fakes.flink.triggered().is_empty() && fakes.book.claims().is_empty());
    let e = &fakes.notifier.savepoint_events()[0];
    assert_eq!(
        (e.failure, e.job_id.as_deref()),
        (Failure::JobNotRunning, None)
    );
    // A later request looks again: the job runs once more.
    fakes
        .flink
        .jobs(&[(JOB, "streamops-counting-job", "RUNNING")]);
    let dry = run(
        &service,
        json!({"command": "savepoint", "pipeline": "clicks", "schedule_time": SLOT}),
    )
    .await;
    assert_eq!(
        (dry["outcome"].as_str(), dry["job_from"].as_str()),
        (Some("dry_run"), Some("book"))
    );
}

#[tokio::test]
async fn a_dry_run_names_the_job_the_target_and_what_retention_would_prune() {
    let (service, fakes) = svc();
    let old = pipeline(&service, &fakes).await;
    let dry = run(
        &service,
        json!({"command": "savepoint", "pipeline": "clicks", "schedule_time": SLOT}),
    )
    .await;
    assert_eq!(dry["outcome"], "dry_run");
    assert_eq!(
        dry["target_directory"],
        format!("s3://{BUCKET}/flink/savepoints/")
    );
    assert_eq!(
        dry["retention"]["pruned"],
        json!([old[0]]),
        "keep 1: the newer old one stays"
    );
    assert!(fakes.flink.triggered().is_empty() && fakes.book.claims().is_empty());
    assert!(fakes.bucket.deleted().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_job_named_as_the_pipeline_is_taken_when_the_book_has_none_and_registered() {
    let (service, fakes) = svc();
    fakes
        .flink
        .jobs(&[(JOB2, "clicks", "CANCELED"), (JOB, "clicks", "RUNNING")]);
    savepoint(&fakes, NEW, 30, 10_000);
    fakes.flink.statuses(vec![completed(NEW)]);
    let out = run(
        &service,
        json!({"command": "savepoint", "pipeline": "clicks", "dry_run": false}),
    )
    .await;
    assert_eq!(
        (out["job_id"].as_str(), out["job_from"].as_str()),
        (Some(JOB), Some("job_name"))
    );
    let p = fakes.book.at(&location(&savepoint_dir(NEW))).unwrap();
    assert_eq!(
        (p.pipeline.as_str(), p.job_id.as_str()),
        ("clicks", JOB),
        "booked under the pipeline"
    );
}

#[tokio::test]
async fn flink_unreachable_is_retryable_and_claims_nothing() {
    let (service, fakes) = svc();
    pipeline(&service, &fakes).await;
    fakes
        .flink
        .overview_fails("GET /jobs/overview: connect 127.0.0.1:8081: refused");
    let e = call(&service, scheduled(SLOT)).await.unwrap_err();
    assert_eq!((e.class(), e.kind()), (ErrorClass::Retryable, "FlinkRest"));
    assert!(fakes.book.claims().is_empty());
    let (unconfigured, _) = support::service();
    let e = call(&unconfigured, scheduled(SLOT)).await.unwrap_err();
    assert_eq!(e.kind(), "BadCommand", "no endpoint configured: {e}");
}

#[tokio::test(start_paused = true)]
async fn a_book_fault_after_the_trigger_leaves_a_claim_the_retry_finishes() {
    let (service, fakes) = svc();
    pipeline(&service, &fakes).await;
    savepoint(&fakes, NEW, 30, 10_000);
    fakes.flink.statuses(vec![completed(NEW)]);
    fakes
        .book
        .script
        .fail("PutItem (trigger)", 1, Fault::Throttled);
    let e = call(&service, scheduled(SLOT)).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Retryable, "{e}");
    let out = run(&service, scheduled(SLOT)).await;
    assert_eq!(out["outcome"], "completed");
    assert_eq!(fakes.flink.triggered().len(), 1);
    assert!(
        fakes
            .book
            .at(&location(&savepoint_dir(NEW)))
            .unwrap()
            .trigger
            .is_some()
    );
}

/// The claim landed but its answer was lost: the retry finds the claim (not yet acknowledged
/// by Flink) and triggers it, once.
#[tokio::test(start_paused = true)]
async fn a_claim_whose_answer_was_lost_is_found_by_the_retry() {
    let (service, fakes) = svc();
    pipeline(&service, &fakes).await;
    savepoint(&fakes, NEW, 30, 10_000);
    fakes.flink.statuses(vec![completed(NEW)]);
    fakes
        .book
        .script
        .fail("PutItem (savepoint claim)", 1, Fault::LostResponse);
    let e = call(&service, scheduled(SLOT)).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Retryable, "{e}");
    assert!(fakes.flink.triggered().is_empty());
    let out = run(&service, scheduled(SLOT)).await;
    assert_eq!(out["outcome"], "completed");
    assert_eq!(fakes.flink.triggered().len(), 1);
}
