//! The checkpoints service's orchestration over in-memory fakes of its ports (no moto): object
//! events, rescan, pin/unpin, verify and prune, including faults moto cannot produce — a write
//! that took effect but whose response was lost, a throttled pointer update between two writes,
//! a pin landing between a prune's plan and its deletes, a delete failing half-way.

mod support;

use checkpoints::{PointStatus, Scope};
use serde_json::{Value, json};
use streamops_shared::ErrorClass;
use streamops_shared::harness::Classified;
use support::*;

fn ids(list: &Value) -> Vec<i64> {
    list["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["checkpoint_id"].as_i64().unwrap())
        .collect()
}

// ------------------------------------------------------------------ created / deleted events

#[tokio::test]
async fn created_events_record_points_and_move_the_latest_forward_only() {
    let (service, fakes) = service();
    let e1 = checkpoint(&fakes, JOB, 1, 1);
    let e2 = checkpoint(&fakes, JOB, 2, 2);
    let e3 = checkpoint(&fakes, JOB, 3, 3);
    assert_eq!(actions(&run(&service, e1).await), ["recorded_latest"]);
    assert_eq!(
        actions(&run(&service, e3.clone()).await),
        ["recorded_latest"]
    );
    assert_eq!(
        actions(&run(&service, e2).await),
        ["recorded"],
        "older: the pointer stays"
    );
    assert_eq!(actions(&run(&service, e3).await), ["already_recorded"]);
    let latest = run(&service, json!({"command": "latest", "job_id": JOB})).await;
    assert_eq!(latest["location"], location(&checkpoint_dir(JOB, 3)));
    assert_eq!(latest["age_seconds"], (now() - t(3)).num_seconds());
    assert_eq!(
        fakes.book.latest_of(&Scope::Pipeline(JOB.into())),
        Some(location(&checkpoint_dir(JOB, 3))),
        "an unregistered job is its own pipeline"
    );
    let list = run(
        &service,
        json!({"command": "list", "job_id": JOB, "limit": 2}),
    )
    .await;
    assert_eq!(ids(&list), [3, 2]);
}

#[tokio::test]
async fn removed_events_mark_points_subsumed_once_and_latest_falls_back() {
    let (service, fakes) = service();
    for id in 1..=3 {
        let e = checkpoint(&fakes, JOB, id, id as i64);
        run(&service, e).await;
    }
    let gone = format!("{}_metadata", checkpoint_dir(JOB, 3));
    assert_eq!(
        actions(&run(&service, removed(&gone, 9)).await),
        ["subsumed"]
    );
    assert_eq!(
        actions(&run(&service, removed(&gone, 9)).await),
        ["unchanged"]
    );
    let state = format!("{}0b3e-state", checkpoint_dir(JOB, 2));
    let out = run(&service, removed(&state, 9)).await;
    assert_eq!(actions(&out), ["ignored"]);
    assert_eq!(out["outcomes"][0]["detail"], "not a _metadata object");
    // The pointer still names chk-3, which is no longer restorable: latest falls back to chk-2.
    let latest = run(&service, json!({"command": "latest", "job_id": JOB})).await;
    assert_eq!(latest["checkpoint_id"], 2);
}

#[tokio::test]
async fn corrupt_metadata_is_recorded_but_never_offered_for_restore() {
    let (service, fakes) = service();
    run(&service, checkpoint(&fakes, JOB, 5, 5)).await;
    let empty = format!("{}_metadata", checkpoint_dir(JOB, 6));
    fakes.bucket.put(&empty, Vec::new(), t(6));
    let zip = format!("{}_metadata", checkpoint_dir(JOB, 7));
    let size = fakes
        .bucket
        .put(&zip, b"PK\x03\x04 a zip file".to_vec(), t(7));
    let reads = fakes.bucket.script.calls("GetObject");
    let out = run(&service, event("ObjectCreated:Put", &empty, Some(0), t(6))).await;
    assert_eq!(actions(&out), ["corrupt"]);
    assert_eq!(
        fakes.bucket.script.calls("GetObject"),
        reads,
        "a zero-byte object is not read"
    );
    let out = run(&service, event("ObjectCreated:Put", &zip, Some(size), t(7))).await;
    assert_eq!(actions(&out), ["corrupt"]);
    assert!(
        out["outcomes"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("not Flink metadata")
    );
    let again = run(&service, event("ObjectCreated:Put", &zip, Some(size), t(7))).await;
    assert_eq!(actions(&again), ["already_recorded"]);
    let latest = run(&service, json!({"command": "latest", "job_id": JOB})).await;
    assert_eq!(latest["checkpoint_id"], 5);
    let statuses: Vec<PointStatus> = fakes.book.points().iter().map(|p| p.status).collect();
    assert_eq!(
        statuses,
        [
            PointStatus::Restorable,
            PointStatus::Corrupt,
            PointStatus::Corrupt
        ]
    );
}

#[tokio::test]
async fn a_lost_record_response_is_completed_by_the_redelivery() {
    let (service, fakes) = service();
    let e = checkpoint(&fakes, JOB, 1, 1);
    fakes
        .book
        .script
        .fail("PutItem (record)", 1, Fault::LostResponse);
    let err = call(&service, e.clone()).await.unwrap_err();
    assert_eq!(
        (err.class(), err.kind()),
        (ErrorClass::Retryable, "AwsCall")
    );
    assert_eq!(fakes.book.points().len(), 1, "the write took effect");
    assert_eq!(fakes.book.latest_of(&Scope::Job(JOB.into())), None);
    assert_eq!(actions(&run(&service, e).await), ["latest_repaired"]);
    assert_eq!(
        fakes.book.latest_of(&Scope::Job(JOB.into())),
        Some(location(&checkpoint_dir(JOB, 1)))
    );
}

#[tokio::test]
async fn a_throttled_pointer_update_fails_the_event_and_the_retry_repairs_the_pointer() {
    let (service, fakes) = service();
    run(
        &service,
        json!({"command": "register-job", "pipeline": "clicks", "job_id": JOB}),
    )
    .await;
    let e = checkpoint(&fakes, JOB, 4, 4);
    // The job's pointer moves, the pipeline's is throttled.
    fakes
        .book
        .script
        .fail("PutItem (latest)", 2, Fault::Throttled);
    let err = call(&service, e.clone()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert!(fakes.book.latest_of(&Scope::Job(JOB.into())).is_some());
    assert_eq!(
        fakes.book.latest_of(&Scope::Pipeline("clicks".into())),
        None
    );
    assert_eq!(actions(&run(&service, e).await), ["latest_repaired"]);
    let latest = run(&service, json!({"command": "latest", "pipeline": "clicks"})).await;
    assert_eq!(latest["checkpoint_id"], 4);
}

#[tokio::test]
async fn a_failed_header_read_records_nothing_and_the_retry_records_it() {
    let (service, fakes) = service();
    let e = checkpoint(&fakes, JOB, 1, 1);
    fakes.bucket.script.fail("GetObject", 1, Fault::Throttled);
    assert!(call(&service, e.clone()).await.is_err());
    assert!(fakes.book.points().is_empty());
    assert_eq!(actions(&run(&service, e).await), ["recorded_latest"]);
}

#[tokio::test]
async fn every_delivery_shape_reaches_the_book() {
    let (service, fakes) = service();
    let cp = checkpoint(&fakes, JOB, 1, 1);
    let s3_body = cp.to_string();
    let sqs = json!({"Records": [
        {"messageId": "m1", "eventSource": "aws:sqs", "body": "{\"Event\": \"s3:TestEvent\"}"},
        {"messageId": "m2", "eventSource": "aws:sqs", "body": s3_body},
    ]});
    let out = run(&service, sqs).await;
    assert_eq!(actions(&out), ["ignored", "recorded_latest"]);
    assert_eq!(out["outcomes"][0]["detail"], "test_event");

    let cp2 = checkpoint(&fakes, JOB, 2, 2);
    let sns_envelope = json!({"Type": "Notification", "Message": cp2.to_string()});
    let via_sqs_sns = json!({"Records": [{"messageId": "m3", "eventSource": "aws:sqs", "body": sns_envelope.to_string()}]});
    assert_eq!(
        actions(&run(&service, via_sqs_sns).await),
        ["recorded_latest"]
    );

    let cp3 = checkpoint(&fakes, JOB, 3, 3);
    let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "s", "Message": cp3.to_string()}}]});
    assert_eq!(actions(&run(&service, sns).await), ["recorded_latest"]);

    let sp = savepoint(&fakes, "00000000000a", 9, 4);
    let key = sp["Records"][0]["s3"]["object"]["key"].clone();
    let eb = json!({"version": "0", "id": "1", "detail-type": "Object Created", "source": "aws.s3",
        "account": "1", "time": t(4).to_rfc3339(), "region": "us-east-1", "resources": [],
        "detail": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 41}}});
    assert_eq!(actions(&run(&service, eb).await), ["recorded_latest"]);

    let other = json!({"Records": [
        record("ObjectCreated:Put", "another-bucket", "flink/checkpoints/x/chk-1/_metadata", Some(9), t(5)),
        record("ObjectCreated:Put", BUCKET, "flink/checkpoints/bad%FF/_metadata", Some(9), t(5)),
        record("ObjectTagging:Put", BUCKET, "flink/checkpoints/x/chk-1/_metadata", Some(9), t(5)),
    ]});
    let out = run(&service, other).await;
    assert_eq!(actions(&out), ["ignored", "ignored", "ignored"]);
    assert!(
        out["outcomes"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("bucket another-bucket")
    );
    assert!(
        out["outcomes"][1]["detail"]
            .as_str()
            .unwrap()
            .starts_with("undecodable_key")
    );
    assert_eq!(out["outcomes"][2]["detail"], "not_an_object_change");
    assert_eq!(fakes.book.points().len(), 4);
}

#[tokio::test]
async fn savepoints_resolve_their_job_by_prefix_or_stay_unresolved() {
    let (service, fakes) = service();
    run(&service, savepoint(&fakes, "00000000000a", 10, 1)).await;
    let first = fakes.book.points();
    assert_eq!(first[0].job_id, "unresolved-a1b2c3");
    assert_eq!(
        first[0].checkpoint_id,
        Some(10),
        "the id from the metadata header"
    );
    run(
        &service,
        json!({"command": "register-job", "pipeline": "clicks", "job_id": JOB}),
    )
    .await;
    run(&service, savepoint(&fakes, "00000000000b", 11, 2)).await;
    let sp = run(
        &service,
        json!({"command": "latest", "pipeline": "clicks", "prefer": "savepoint"}),
    )
    .await;
    assert_eq!(
        (sp["job_id"].as_str(), sp["checkpoint_id"].as_i64()),
        (Some(JOB), Some(11))
    );
}

// ------------------------------------------------------------------ rescan

#[tokio::test]
async fn rescan_records_what_the_book_misses_and_keeps_first_sightings() {
    let (service, fakes) = service();
    let e1 = checkpoint(&fakes, JOB, 1, 1);
    run(&service, e1).await;
    // Written again later (LastModified moves) and two more the events never told.
    checkpoint(&fakes, JOB, 1, 50);
    checkpoint(&fakes, JOB, 2, 2);
    savepoint(&fakes, "00000000000a", 7, 3);
    fakes
        .bucket
        .script
        .fail("ListObjectsV2", 1, Fault::Throttled);
    let err = call(&service, json!({"command": "rescan"}))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert_eq!(
        fakes.book.points().len(),
        1,
        "nothing recorded from a failed listing"
    );
    let out = run(&service, json!({"command": "rescan"})).await;
    assert_eq!(out["scanned"], 3);
    assert_eq!(out["counts"]["already_recorded"], 1, "{out}");
    assert_eq!(out["recorded"].as_array().unwrap().len(), 2, "{out}");
    let chk1 = fakes.book.at(&location(&checkpoint_dir(JOB, 1))).unwrap();
    assert_eq!(chk1.completed_at, t(1), "the first sighting's time stands");
    let again = run(&service, json!({"command": "rescan", "job_id": JOB})).await;
    assert!(again["recorded"].as_array().unwrap().is_empty(), "{again}");
}

// ------------------------------------------------------------------ pin / unpin

#[tokio::test]
async fn pin_and_unpin_a_point() {
    let (service, fakes) = service();
    run(&service, savepoint(&fakes, "00000000000a", 10, 1)).await;
    let loc = location(&savepoint_dir("00000000000a"));
    let no_slash = loc.trim_end_matches('/').to_string();
    let out = run(&service, json!({"command": "pin", "location": no_slash})).await;
    assert_eq!(out, json!({"location": loc, "pinned": true}));
    assert!(fakes.book.at(&loc).unwrap().pinned);
    run(&service, json!({"command": "unpin", "location": loc})).await;
    assert!(!fakes.book.at(&loc).unwrap().pinned);
    for (location, want) in [
        (
            location(&savepoint_dir("0000000000ff")),
            "is not in the book",
        ),
        (
            location("flink/other/"),
            "is not a checkpoint or savepoint directory",
        ),
        ("s3://elsewhere/x/".to_string(), "is not in s3://"),
    ] {
        let err = call(&service, json!({"command": "pin", "location": location}))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "BadCommand");
        assert!(err.to_string().contains(want), "{err}");
    }
    fakes
        .book
        .script
        .fail("UpdateItem (pin)", 4, Fault::Throttled);
    let err = call(&service, json!({"command": "pin", "location": loc}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.class(), err.kind()),
        (ErrorClass::Retryable, "AwsCall")
    );
}

// ------------------------------------------------------------------ verify

#[tokio::test]
async fn verify_compares_the_book_with_flink() {
    let (service, fakes) = service_with(&[("CHECKPOINTS_FLINK_REST_URL", "http://127.0.0.1:8081")]);
    run(&service, checkpoint(&fakes, JOB, 7, 1)).await;
    let path = format!("s3a://{BUCKET}/{}", checkpoint_dir(JOB, 7));
    fakes.flink.answer(Ok(
        json!({"latest": {"completed": {"id": 7, "external_path": path}, "savepoint": null}}),
    ));
    let out = run(&service, json!({"command": "verify", "job_id": JOB})).await;
    assert_eq!(out["in_sync"], true, "{out}");
    assert_eq!(
        fakes.flink.asked.lock().unwrap()[0],
        ("http://127.0.0.1:8081".to_string(), JOB.to_string())
    );
    fakes.flink.answer(Ok(
        json!({"latest": {"completed": {"id": 8, "external_path": "s3://x/chk-8"}}}),
    ));
    let out = run(&service, json!({"command": "verify", "job_id": JOB})).await;
    assert_eq!(out["in_sync"], false);
    assert_eq!(out["differences"].as_array().unwrap().len(), 2, "{out}");
    fakes
        .flink
        .answer(Err("connect 127.0.0.1:8081: refused".into()));
    let err = call(&service, json!({"command": "verify", "job_id": JOB}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.class(), err.kind()),
        (ErrorClass::Retryable, "FlinkRest")
    );

    let (no_url, _) = support::service();
    let err = call(&no_url, json!({"command": "verify", "job_id": JOB}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.class(), err.kind()),
        (ErrorClass::Permanent, "BadCommand")
    );
}

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
