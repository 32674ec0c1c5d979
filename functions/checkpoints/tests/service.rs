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

/// The dashboard's checkpoint age per pipeline reads `LatestAdvanced` (by `pipeline`): one per
/// event that moved the pipeline's pointer, none for an older point or a redelivery.
#[tokio::test]
async fn the_latest_advanced_metric_counts_pipeline_pointer_moves_only() {
    let (service, fakes) = service();
    run(
        &service,
        json!({"command": "register-job", "pipeline": "clicks", "job_id": JOB}),
    )
    .await;
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let mut m = streamops_shared::Metrics::with_sink("streamops", "checkpoints", move |l: &str| {
        sink.lock().unwrap().push(l.to_string())
    });
    for (id, minute) in [(1, 1), (3, 3), (2, 2), (3, 3)] {
        let event = checkpoint(&fakes, JOB, id, minute);
        service.handle(event, now(), &mut m).await.unwrap();
    }
    m.flush();
    let docs: Vec<Value> = lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let advanced: Vec<&Value> = docs
        .iter()
        .filter(|d| d.get("LatestAdvanced").is_some())
        .collect();
    assert_eq!(advanced.len(), 1, "{docs:?}");
    assert_eq!(advanced[0]["pipeline"], "clicks");
    assert_eq!(
        advanced[0]["LatestAdvanced"], 2.0,
        "the older point and the redelivery move nothing"
    );
    assert_eq!(
        advanced[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["service", "pipeline"]])
    );
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

/// Found by the soak (tests/reliability/soak/checkpoints.py, reordered events): the created
/// event of a checkpoint Flink has already subsumed arrives after its `_metadata` was deleted.
/// It used to fail on NoSuchKey (permanent, retried twice by Lambda anyway, then an alert for
/// nothing); there is nothing to restore from, so it is ignored, and the book stays as the
/// bucket is.
#[tokio::test]
async fn a_created_event_for_an_object_already_deleted_is_ignored() {
    let (service, fakes) = service();
    let e = checkpoint(&fakes, JOB, 1, 1);
    fakes
        .bucket
        .remove(&format!("{}_metadata", checkpoint_dir(JOB, 1)));
    let out = run(&service, e).await;
    assert_eq!(actions(&out), ["ignored"]);
    assert_eq!(out["outcomes"][0]["detail"], "object_gone");
    assert!(fakes.book.points().is_empty());
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
    // The registration adopted the savepoint booked before it: one entry, under the job.
    let points = fakes.book.points();
    assert!(points.iter().all(|p| p.job_id == JOB), "{points:?}");
    assert_eq!(points.len(), 2);
}

/// Found by the checkpoints crash soak: a savepoint whose event came before its job's
/// registration stayed booked under `unresolved-<prefix>` next to the job's own entry (a
/// rescan booked it again under the job). The registration and a rescan both adopt it.
#[tokio::test]
async fn a_savepoint_booked_before_its_job_was_registered_is_adopted() {
    let (service, fakes) = service();
    run(&service, savepoint(&fakes, "00000000000a", 10, 1)).await;
    // The registration's own adoption fails half-way (the forget is throttled): the rescan
    // finishes it.
    fakes
        .book
        .script
        .fail("DeleteItem (forget)", 1, Fault::Throttled);
    let register = json!({"command": "register-job", "pipeline": "clicks", "job_id": JOB});
    assert!(call(&service, register).await.is_err());
    let rescan = run(&service, json!({"command": "rescan"})).await;
    assert_eq!(rescan["adopted"], 1, "{rescan}");
    let points = fakes.book.points();
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(
        (points[0].job_id.as_str(), points[0].pipeline.as_str()),
        (JOB, "clicks")
    );
    let latest = run(&service, json!({"command": "latest", "pipeline": "clicks"})).await;
    assert_eq!(latest["location"], location(&savepoint_dir("00000000000a")));
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

/// Found by the soak (tests/reliability/soak/checkpoints.py, dropped events): the removal event
/// of a subsumed checkpoint never arrived, so the book offered a point whose `_metadata` was
/// gone, and rescan, which only added what the book missed, left it. It now marks such points
/// subsumed, except ones younger than the invocation (their object may postdate the listing).
#[tokio::test]
async fn rescan_marks_points_whose_metadata_is_gone_subsumed() {
    let (service, fakes) = service();
    for id in 1..=3 {
        let e = checkpoint(&fakes, JOB, id, id as i64);
        run(&service, e).await;
    }
    let just_now = checkpoint(&fakes, JOB2, 1, 10_000);
    run(&service, just_now).await;
    for (job, id) in [(JOB, 1), (JOB2, 1)] {
        let dir = checkpoint_dir(job, id);
        fakes.bucket.remove(&format!("{dir}_metadata"));
        fakes.bucket.remove(&format!("{dir}0b3e-state"));
    }
    fakes.bucket.put(
        &format!("flink/checkpoints/{JOB2}/shared/0a1b"),
        vec![1],
        t(1),
    );
    let out = run(&service, json!({"command": "rescan"})).await;
    assert_eq!(
        out["subsumed"],
        json!([location(&checkpoint_dir(JOB, 1))]),
        "{out}"
    );
    let status = |job: &str, id: u64| {
        fakes
            .book
            .at(&location(&checkpoint_dir(job, id)))
            .unwrap()
            .status
    };
    assert_eq!(status(JOB, 1), PointStatus::Subsumed);
    assert_eq!(status(JOB, 3), PointStatus::Restorable);
    assert_eq!(
        status(JOB2, 1),
        PointStatus::Restorable,
        "younger than the rescan: not judged"
    );
    let again = run(&service, json!({"command": "rescan", "job_id": JOB})).await;
    assert_eq!(again["subsumed"], json!([]), "{again}");
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
