//! The Flink savepoint rescale over in-memory fakes (tests/support): stop with a savepoint,
//! submit, confirm, roll back, a stranded rescale, an EMR step as the submitter, an adaptive
//! job rescaled in place; under a slow savepoint, a refused resubmission, a JobManager that
//! forgot the trigger, a failed savepoint or stop. No moto, no network.

mod support;

use scaler::policy::TargetState;
use scaler::rescale::{FlinkRescale, RescalePhase};
use serde_json::{Value, json};
use support::*;

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

/// A savepoint rescale of the lagging job started at t(0), its savepoint still in progress.
async fn rescale_waiting_on_its_savepoint() -> (World, scaler::service::ScalerService<FakePorts>) {
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
    (w, svc)
}

#[tokio::test]
async fn a_slow_savepoint_is_reported_once_and_the_tick_finishes_the_rescale() {
    let (w, svc) = rescale_waiting_on_its_savepoint().await;
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

#[tokio::test]
async fn a_finished_savepoint_rescale_remembers_how_long_it_stopped_the_job() {
    let (w, svc) = rescale_waiting_on_its_savepoint().await;
    w.flink.data().savepoint.in_progress_polls = 0;
    let done = run(&svc, tick(), 6).await;
    assert_eq!(said(&done), ["rescaled"]);
    let seconds = done["decisions"][0]["restart_seconds"].as_f64().unwrap();
    assert!((360.0..370.0).contains(&seconds), "{done}");
    let kept = w.store.state_of("flink-job").memo.restarts;
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].from, kept[0].to, kept[0].seconds), (1, 2, seconds));
}
