//! The checkpoints prune over in-memory fakes of the ports (no moto): what the plan keeps, and
//! faults moto cannot produce: a pin or a status change landing between the plan and the
//! deletes, a delete failing half-way, lost responses, book reads failing before any delete.

mod support;

use checkpoints::PointStatus;
use serde_json::{Value, json};
use streamops_shared::ErrorClass;
use streamops_shared::harness::Classified;
use support::*;

// ------------------------------------------------------------------ prune

/// Job A with chk-1, chk-2 (subsumed) and chk-3, an orphaned chk-0 and shared state; three
/// savepoints (keep 1, min age 1 h: the oldest two may go). Returns the savepoint locations.
async fn history(service: &Service, fakes: &Fakes) -> Vec<String> {
    run(
        service,
        json!({"command": "register-job", "pipeline": "clicks", "job_id": JOB}),
    )
    .await;
    for id in 1..=3 {
        run(service, checkpoint(fakes, JOB, id, id as i64)).await;
    }
    for id in [1, 2] {
        let key = format!("{}_metadata", checkpoint_dir(JOB, id));
        run(service, removed(&key, 5)).await;
    }
    fakes.bucket.put(
        &format!("flink/checkpoints/{JOB}/shared/8f14e45f"),
        vec![7; 128],
        t(3),
    );
    fakes.bucket.put(
        &format!("{}1a2b-state", checkpoint_dir(JOB, 0)),
        vec![7; 16],
        t(0),
    );
    let mut savepoints = Vec::new();
    for (i, suffix) in ["00000000000a", "00000000000b", "00000000000c"]
        .iter()
        .enumerate()
    {
        run(
            service,
            savepoint(fakes, suffix, 10 + i as u64, 10 + i as i64),
        )
        .await;
        savepoints.push(location(&savepoint_dir(suffix)));
    }
    savepoints
}

fn kept(plan: &Value) -> Vec<(String, String)> {
    plan["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["prune"] == false)
        .map(|d| {
            (
                d["location"].as_str().unwrap().to_string(),
                d["kept_because"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn prune(dry_run: bool) -> Value {
    json!({"command": "prune", "pipeline": "clicks", "dry_run": dry_run})
}

#[tokio::test]
async fn prune_deletes_only_what_the_plan_lets_go() {
    let (service, fakes) = service();
    let sp = history(&service, &fakes).await;
    let dry = run(&service, prune(true)).await;
    let expected = json!([
        location(&checkpoint_dir(JOB, 1)),
        location(&checkpoint_dir(JOB, 2)),
        sp[0],
        sp[1]
    ]);
    let mut planned: Vec<Value> = dry["prune"].as_array().unwrap().clone();
    planned.sort_by_key(|v| v.to_string());
    let mut expected: Vec<Value> = expected.as_array().unwrap().clone();
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(planned, expected, "{dry}");
    assert!(kept(&dry).contains(&(sp[2].clone(), "latest_restorable".into())));
    assert!(kept(&dry).contains(&(
        location(&checkpoint_dir(JOB, 3)),
        "retained_by_flink".into()
    )));
    assert_eq!(dry["orphaned_directories"][0]["checkpoint_id"], 0);
    assert!(
        fakes.bucket.deleted().is_empty(),
        "a dry run deletes nothing"
    );

    let done = run(&service, prune(false)).await;
    assert_eq!(done["changed_since_plan"], json!([]));
    let deleted = fakes.bucket.deleted();
    assert_eq!(done["deleted_objects"], deleted.len());
    assert!(
        deleted.iter().all(|k| !k.contains("/shared/")),
        "{deleted:?}"
    );
    assert!(
        deleted.iter().any(|k| k.contains("/chk-0/")),
        "the orphan goes"
    );
    for keep in [&sp[2], &location(&checkpoint_dir(JOB, 3))] {
        let dir = keep.trim_start_matches(&format!("s3://{BUCKET}/"));
        assert!(
            deleted.iter().all(|k| !k.starts_with(dir)),
            "{keep} must survive"
        );
    }
    for gone in [&sp[0], &sp[1]] {
        assert_eq!(fakes.book.at(gone).unwrap().status, PointStatus::Pruned);
    }
}

/// A second job restored from the oldest savepoint, registered as Flink's REST and `flink run
/// -s` write the path (no trailing `/`): a prune scoped by the first job's id keeps that
/// savepoint as a restore source, as the pipeline-scoped prune does.
#[tokio::test]
async fn a_job_scoped_prune_keeps_a_savepoint_another_job_was_restored_from() {
    let (service, fakes) = service();
    let sp = history(&service, &fakes).await;
    let restored_from = sp[0].trim_end_matches('/');
    run(
        &service,
        json!({"command": "register-job", "pipeline": "clicks", "job_id": JOB2,
               "restored_from": restored_from, "restore_mode": "NO_CLAIM"}),
    )
    .await;
    for scope in [
        json!({"command": "prune", "job_id": JOB, "dry_run": true}),
        prune(true),
    ] {
        let plan = run(&service, scope.clone()).await;
        assert!(
            kept(&plan).contains(&(sp[0].clone(), "restore_source".into())),
            "{scope}: {plan}"
        );
        assert!(plan["prune"].as_array().unwrap().contains(&json!(sp[1])));
    }
    let done = run(
        &service,
        json!({"command": "prune", "job_id": JOB, "dry_run": false}),
    )
    .await;
    assert!(!done["prune"].as_array().unwrap().contains(&json!(sp[0])));
    assert_eq!(
        fakes.book.at(&sp[0]).unwrap().status,
        PointStatus::Restorable
    );
    assert_eq!(fakes.book.at(&sp[1]).unwrap().status, PointStatus::Pruned);
}

#[tokio::test]
async fn a_pin_or_a_status_change_after_the_plan_keeps_the_point() {
    let (service, fakes) = service();
    let sp = history(&service, &fakes).await;
    // Between the plan and the deletes: an operator pins savepoint a, and savepoint b's
    // `_metadata` disappears (its removal event marks it subsumed).
    fakes.book.interfere_before_mark(&sp[0], Interference::Pin);
    fakes
        .book
        .interfere_before_mark(&sp[1], Interference::Status(PointStatus::Subsumed));
    let done = run(&service, prune(false)).await;
    let mut changed: Vec<String> =
        serde_json::from_value(done["changed_since_plan"].clone()).unwrap();
    changed.sort();
    assert_eq!(changed, [sp[0].clone(), sp[1].clone()]);
    for suffix in ["00000000000a", "00000000000b"] {
        let dir = savepoint_dir(suffix);
        assert!(
            fakes.bucket.deleted().iter().all(|k| !k.starts_with(&dir)),
            "{dir} was deleted"
        );
    }
    let pinned = fakes.book.at(&sp[0]).unwrap();
    assert_eq!(
        (pinned.status, pinned.pinned),
        (PointStatus::Restorable, true)
    );
    assert_eq!(fakes.book.at(&sp[1]).unwrap().status, PointStatus::Subsumed);
    let chk1 = location(&checkpoint_dir(JOB, 1));
    assert_eq!(fakes.book.at(&chk1).unwrap().status, PointStatus::Pruned);
    // The next prune sees the subsumed savepoint and takes it; the pinned one stays.
    let next = run(&service, prune(false)).await;
    assert_eq!(next["changed_since_plan"], json!([]));
    assert_eq!(fakes.book.at(&sp[1]).unwrap().status, PointStatus::Pruned);
    assert_eq!(
        fakes.book.at(&sp[0]).unwrap().status,
        PointStatus::Restorable
    );
}

#[tokio::test]
async fn a_delete_failing_half_way_leaves_the_point_pruning_and_the_next_prune_finishes_it() {
    let (service, fakes) = service();
    let sp = history(&service, &fakes).await;
    // The second point's delete fails; the prune stops there.
    fakes
        .bucket
        .script
        .fail("DeleteObjects", 2, Fault::Throttled);
    let err = call(&service, prune(false)).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable);
    let statuses: Vec<(String, PointStatus)> = fakes
        .book
        .points()
        .into_iter()
        .map(|p| (p.location, p.status))
        .collect();
    let pruning: Vec<&String> = statuses
        .iter()
        .filter(|(_, s)| *s == PointStatus::Pruning)
        .map(|(l, _)| l)
        .collect();
    assert_eq!(pruning.len(), 1, "{statuses:?}");
    // A pruning point is not restorable: listed as pruning, never offered.
    let list = run(
        &service,
        json!({"command": "list", "job_id": JOB, "limit": 50}),
    )
    .await;
    let listed: Vec<&str> = list["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "pruning")
        .map(|p| p["location"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [pruning[0].as_str()]);
    let latest = run(&service, json!({"command": "latest", "pipeline": "clicks"})).await;
    assert_eq!(latest["location"], sp[2]);

    let done = run(&service, prune(false)).await;
    assert_eq!(done["changed_since_plan"], json!([]));
    let after: Vec<PointStatus> = fakes.book.points().iter().map(|p| p.status).collect();
    assert!(!after.contains(&PointStatus::Pruning), "{after:?}");
    assert_eq!(
        after.iter().filter(|s| **s == PointStatus::Pruned).count(),
        4
    );
    assert!(fakes.bucket.keys().iter().any(|k| k.contains("/shared/")));
}

#[tokio::test]
async fn lost_responses_during_a_prune_are_finished_by_the_next_prune() {
    let (service, fakes) = service();
    let sp = history(&service, &fakes).await;
    // The first delete happens but its answer is lost; then the status write of the next
    // point takes effect but its answer is lost too.
    fakes
        .bucket
        .script
        .fail("DeleteObjects", 1, Fault::LostResponse);
    assert!(call(&service, prune(false)).await.is_err());
    fakes
        .book
        .script
        .fail("UpdateItem (status)", 4, Fault::LostResponse);
    let second = call(&service, prune(false)).await;
    assert!(second.is_err(), "{second:?}");
    let done = run(&service, prune(false)).await;
    assert_eq!(done["changed_since_plan"], json!([]));
    for gone in [&sp[0], &sp[1]] {
        assert_eq!(
            fakes.book.at(gone).unwrap().status,
            PointStatus::Pruned,
            "{gone}"
        );
    }
    assert_eq!(
        fakes.book.at(&sp[2]).unwrap().status,
        PointStatus::Restorable
    );
    let keys = fakes.bucket.keys();
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&savepoint_dir("00000000000c")))
    );
    assert!(keys.iter().any(|k| k.contains("/shared/")));
}

#[tokio::test]
async fn a_book_read_failure_aborts_the_prune_before_anything_is_deleted() {
    for operation in ["Query (lineage)", "Query (points)", "GetItem (latest)"] {
        let (service, fakes) = service();
        history(&service, &fakes).await;
        let before = fakes.book.script.calls(operation);
        fakes
            .book
            .script
            .fail_from(operation, before + 1, Fault::Throttled);
        let err = call(&service, prune(false)).await.unwrap_err();
        assert_eq!(err.class(), ErrorClass::Retryable, "{operation}");
        assert!(
            fakes.bucket.deleted().is_empty(),
            "{operation}: deleted before the plan was complete"
        );
        assert!(
            fakes
                .book
                .points()
                .iter()
                .all(|p| p.status != PointStatus::Pruning),
            "{operation}"
        );
    }
    // A listing failure (orphans) also stops the prune before it deletes.
    let (service, fakes) = service();
    history(&service, &fakes).await;
    fakes
        .bucket
        .script
        .fail_from("ListObjectsV2", 1, Fault::Denied);
    let err = call(&service, prune(false)).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(fakes.bucket.deleted().is_empty());
}
