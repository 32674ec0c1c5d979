//! The checkpoints handler against a real moto server (S3 for the checkpoint bucket, DynamoDB for
//! the book): objects laid out the way Flink writes them, events delivered in order, reordered,
//! redelivered, corrupt and unrelated; then pins, lineage and prunes; health's query of the
//! book's pipelines index and its events on the default bus (EventBridge, to an SQS queue a rule
//! sends them to, as the template's rule sends them to the alerts function).

use aws_config::SdkConfig;
use checkpoints::{
    Book, CheckpointBucket, CheckpointsConfig, CheckpointsService, EventBridgeHealth, FlinkHttp,
    HEALTH_DETAIL_TYPE, HEALTH_SOURCE, METADATA_MAGIC,
};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use streamops_shared::{EnvReader, Metrics};
use streamops_test_support::{MotoServer, create_bucket, drain_queue, fixture};

mod support;
use support::create_book;

const BUCKET: &str = "streamops-checkpoints-123456789012-us-east-1";
const TABLE: &str = "streamops-checkpoints";
const JOB: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const JOB2: &str = "ffeedd00112233445566778899aabbcc";

struct Harness {
    _moto: MotoServer,
    sdk: SdkConfig,
    service: CheckpointsService,
}

async fn harness() -> Harness {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    create_book(&sdk, TABLE).await;
    create_bucket(&sdk, BUCKET).await;
    let env = EnvReader::from_map(
        [
            ("CHECKPOINTS_TABLE", TABLE),
            ("CHECKPOINTS_BUCKET", BUCKET),
            (
                "CHECKPOINTS_RETENTION",
                r#"{"default": {"keep_savepoints": 1, "min_age_hours": 1}}"#,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    );
    let config = CheckpointsConfig::read(env).unwrap();
    let service = CheckpointsService {
        book: Book::new(aws_sdk_dynamodb::Client::new(&sdk), TABLE),
        bucket: CheckpointBucket::new(s3(&sdk), BUCKET),
        flink: FlinkHttp,
        notifier: EventBridgeHealth {
            client: streamops_shared::aws::LazyClient::new(&sdk, aws_sdk_eventbridge::Client::new),
        },
        config,
    };
    Harness {
        _moto: moto,
        sdk,
        service,
    }
}

fn s3(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    streamops_shared::aws::s3_client(sdk, true)
}

/// A `_metadata` body as Flink writes it: magic, format version 4, checkpoint id.
fn metadata(id: u64) -> Vec<u8> {
    let mut b = METADATA_MAGIC.to_be_bytes().to_vec();
    b.extend(4u32.to_be_bytes());
    b.extend(id.to_be_bytes());
    b.extend(b"operator-state-handles...");
    b
}

async fn put(h: &Harness, key: &str, body: Vec<u8>) -> i64 {
    let len = body.len() as i64;
    s3(&h.sdk)
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
    len
}

fn event(name: &str, key: &str, size: Option<i64>, time: DateTime<Utc>) -> Value {
    let mut e = fixture("checkpoints/s3-checkpoint-completed.json");
    let r = &mut e["Records"][0];
    r["eventName"] = json!(name);
    r["eventTime"] = json!(time.to_rfc3339());
    // Keys arrive form-URL-encoded.
    r["s3"]["object"]["key"] = json!(key.replace(' ', "+").replace('=', "%3D"));
    match size {
        Some(s) => r["s3"]["object"]["size"] = json!(s),
        None => {
            r["s3"]["object"].as_object_mut().unwrap().remove("size");
        }
    }
    e
}

fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
        .unwrap()
        .to_utc()
        + Duration::minutes(minutes)
}

async fn run(h: &Harness, payload: Value) -> Value {
    let mut m = Metrics::with_sink("streamops", "checkpoints", |_: &str| {});
    h.service.handle(payload, t(10_000), &mut m).await.unwrap()
}

fn actions(v: &Value) -> Vec<String> {
    v["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["action"].as_str().unwrap().to_string())
        .collect()
}

async fn checkpoint(h: &Harness, job: &str, id: u64, minute: i64) -> Value {
    let key = format!("flink/checkpoints/{job}/chk-{id}/_metadata");
    let size = put(h, &key, metadata(id)).await;
    put(
        h,
        &format!("flink/checkpoints/{job}/chk-{id}/0b3e-state"),
        vec![1; 64],
    )
    .await;
    event("ObjectCreated:Put", &key, Some(size), t(minute))
}

async fn latest(h: &Harness, scope: Value) -> Value {
    let mut cmd = json!({"command": "latest"});
    cmd.as_object_mut()
        .unwrap()
        .extend(scope.as_object().unwrap().clone());
    run(h, cmd).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_order_redelivered_and_reordered_events_keep_the_latest_monotonic() {
    let h = harness().await;
    let e1 = checkpoint(&h, JOB, 1, 1).await;
    let e2 = checkpoint(&h, JOB, 2, 2).await;
    let e3 = checkpoint(&h, JOB, 3, 3).await;
    assert_eq!(actions(&run(&h, e1).await), ["recorded_latest"]);
    // chk-3 arrives before chk-2.
    assert_eq!(actions(&run(&h, e3.clone()).await), ["recorded_latest"]);
    assert_eq!(
        actions(&run(&h, e2).await),
        ["recorded"],
        "an older checkpoint never moves the pointer back"
    );
    // A redelivered event changes nothing.
    assert_eq!(actions(&run(&h, e3).await), ["already_recorded"]);
    let l = latest(&h, json!({"job_id": JOB})).await;
    assert_eq!(
        l["location"],
        format!("s3://{BUCKET}/flink/checkpoints/{JOB}/chk-3/")
    );
    assert_eq!(l["checkpoint_id"], 3);
    // An unregistered job is its own pipeline.
    assert_eq!(
        latest(&h, json!({"pipeline": JOB})).await["location"],
        l["location"]
    );
    let list = run(&h, json!({"command": "list", "job_id": JOB})).await;
    let ids: Vec<i64> = list["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["checkpoint_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [3, 2, 1]);

    // An event that never arrived: rescan lists the prefixes and records what the book misses.
    let lost = checkpoint(&h, JOB, 4, 6).await;
    drop(lost);
    let rescan = run(&h, json!({"command": "rescan", "job_id": JOB})).await;
    assert_eq!(rescan["counts"]["already_recorded"], 3, "{rescan}");
    assert_eq!(rescan["recorded"].as_array().unwrap().len(), 1, "{rescan}");
    assert_eq!(latest(&h, json!({"job_id": JOB})).await["checkpoint_id"], 4);
    let again = run(&h, json!({"command": "rescan"})).await;
    assert!(
        again["recorded"].as_array().unwrap().is_empty(),
        "a second rescan finds nothing new: {again}"
    );

    // Flink deletes subsumed checkpoints: the book marks them, and `latest` is unaffected.
    let removed = event(
        "ObjectRemoved:Delete",
        &format!("flink/checkpoints/{JOB}/chk-1/_metadata"),
        None,
        t(4),
    );
    assert_eq!(actions(&run(&h, removed.clone()).await), ["subsumed"]);
    assert_eq!(actions(&run(&h, removed).await), ["unchanged"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_and_unrelated_objects_are_never_restorable() {
    let h = harness().await;
    let good = checkpoint(&h, JOB, 5, 5).await;
    run(&h, good).await;
    let empty = format!("flink/checkpoints/{JOB}/chk-6/_metadata");
    put(&h, &empty, Vec::new()).await;
    let zip = format!("flink/checkpoints/{JOB}/chk-7/_metadata");
    let zip_size = put(
        &h,
        &zip,
        b"PK\x03\x04 this is a zip file, not Flink".to_vec(),
    )
    .await;
    let out = run(&h, event("ObjectCreated:Put", &empty, Some(0), t(6))).await;
    assert_eq!(actions(&out), ["corrupt"]);
    let out = run(&h, event("ObjectCreated:Put", &zip, Some(zip_size), t(7))).await;
    assert_eq!(actions(&out), ["corrupt"]);
    assert!(
        out["outcomes"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("not Flink metadata")
    );
    assert_eq!(
        latest(&h, json!({"job_id": JOB})).await["checkpoint_id"],
        5,
        "corrupt points never become latest"
    );

    for (key, why) in [
        (
            format!("flink/checkpoints/{JOB}/shared/8f14e45f-ceea"),
            "shared_state",
        ),
        (
            format!("flink/checkpoints/{JOB}/taskowned/x"),
            "task_owned_state",
        ),
        (
            format!("flink/checkpoints/{JOB}/chk-8/_metadata.inprogress"),
            "temporary",
        ),
        (
            "warehouse/orders/part-0.parquet".to_string(),
            "outside_prefixes",
        ),
        (
            format!("flink/checkpoints/{JOB}/chk-5/0b3e-state"),
            "state_file",
        ),
    ] {
        let out = run(&h, event("ObjectCreated:Put", &key, Some(10), t(9))).await;
        assert_eq!(actions(&out), ["ignored"], "{key}");
        assert_eq!(out["outcomes"][0]["detail"], why, "{key}");
    }
    let fixture_event = fixture("checkpoints/s3-shared-state-file.json");
    assert_eq!(actions(&run(&h, fixture_event).await), ["ignored"]);

    // Found by the soak: a created event handled after Flink deleted the object (reordered)
    // used to fail on NoSuchKey; the object is gone, so the event is ignored.
    let subsumed = checkpoint(&h, JOB, 9, 9).await;
    s3(&h.sdk)
        .delete_object()
        .bucket(BUCKET)
        .key(format!("flink/checkpoints/{JOB}/chk-9/_metadata"))
        .send()
        .await
        .unwrap();
    let out = run(&h, subsumed).await;
    assert_eq!(actions(&out), ["ignored"]);
    assert_eq!(out["outcomes"][0]["detail"], "object_gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoints_lineage_pins_and_a_prune_that_keeps_what_must_stay() {
    let h = harness().await;
    let pipeline = "clickstream-sessionizer";
    assert!(
        run(
            &h,
            json!({"command": "register-job", "pipeline": pipeline, "job_id": JOB})
        )
        .await["registered"]
            .is_object()
    );
    // Job A: checkpoints 1..3 (1 and 2 subsumed by Flink), shared state, an orphaned chk-0.
    for (id, minute) in [(1, 1), (2, 2), (3, 3)] {
        let e = checkpoint(&h, JOB, id, minute).await;
        run(&h, e).await;
    }
    for id in [1, 2] {
        run(
            &h,
            event(
                "ObjectRemoved:Delete",
                &format!("flink/checkpoints/{JOB}/chk-{id}/_metadata"),
                None,
                t(5),
            ),
        )
        .await;
    }
    put(
        &h,
        &format!("flink/checkpoints/{JOB}/shared/8f14e45f-ceea-467e"),
        vec![7; 128],
    )
    .await;
    put(
        &h,
        &format!("flink/checkpoints/{JOB}/chk-0/1a2b-state"),
        vec![7; 16],
    )
    .await;
    // Three savepoints of job A; the oldest is pinned.
    let mut savepoints = Vec::new();
    for (i, suffix) in ["00000000000a", "00000000000b", "00000000000c"]
        .iter()
        .enumerate()
    {
        let key = format!("flink/savepoints/savepoint-a1b2c3-{suffix}/_metadata");
        let size = put(&h, &key, metadata(10 + i as u64)).await;
        put(
            &h,
            &format!("flink/savepoints/savepoint-a1b2c3-{suffix}/op-state"),
            vec![3; 32],
        )
        .await;
        let out = run(
            &h,
            event("ObjectCreated:Put", &key, Some(size), t(10 + i as i64)),
        )
        .await;
        assert!(actions(&out)[0].starts_with("recorded"), "{out}");
        savepoints.push(format!(
            "s3://{BUCKET}/flink/savepoints/savepoint-a1b2c3-{suffix}/"
        ));
    }
    let sp = latest(&h, json!({"pipeline": pipeline, "prefer": "savepoint"})).await;
    assert_eq!(sp["location"], savepoints[2]);
    assert_eq!(
        sp["job_id"], JOB,
        "the savepoint's 6-digit job prefix resolved to the registered job"
    );
    assert_eq!(
        sp["checkpoint_id"], 12,
        "savepoint id read from the metadata header"
    );
    assert_eq!(
        run(&h, json!({"command": "pin", "location": savepoints[0]})).await["pinned"],
        true
    );
    let err = h
        .service
        .handle(
            json!({"command": "pin", "location": "s3://elsewhere/x/"}),
            t(0),
            &mut Metrics::with_sink("s", "c", |_: &str| {}),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is not in"), "{err}");

    // Job B was restored from job A's chk-2 in LEGACY mode: A's checkpoints must stay.
    run(&h, json!({"command": "register-job", "pipeline": pipeline, "job_id": JOB2,
                   "restored_from": format!("s3://{BUCKET}/flink/checkpoints/{JOB}/chk-2/"), "restore_mode": "LEGACY"}))
    .await;
    let dry = run(&h, json!({"command": "prune", "pipeline": pipeline})).await;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["prune"], json!([savepoints[1]]), "{dry}");
    assert_eq!(dry["orphaned_directories"][0]["checkpoint_id"], 0);
    let kept: Vec<(String, String)> = dry["decisions"]
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
        .collect();
    assert!(kept.contains(&(
        format!("s3://{BUCKET}/flink/checkpoints/{JOB}/chk-2/"),
        "restore_source".into()
    )));
    assert!(kept.contains(&(
        format!("s3://{BUCKET}/flink/checkpoints/{JOB}/chk-1/"),
        "legacy_restore_dependency".into()
    )));
    assert!(kept.contains(&(savepoints[0].clone(), "pinned".into())));
    assert!(kept.contains(&(savepoints[2].clone(), "latest_restorable".into())));
    let before = CheckpointBucket::new(s3(&h.sdk), BUCKET)
        .list("flink/")
        .await
        .unwrap();

    let done = run(
        &h,
        json!({"command": "prune", "pipeline": pipeline, "dry_run": false}),
    )
    .await;
    assert!(done["deleted_objects"].as_u64().unwrap() >= 3, "{done}");
    let after = CheckpointBucket::new(s3(&h.sdk), BUCKET)
        .list("flink/")
        .await
        .unwrap();
    assert!(
        !after
            .iter()
            .any(|k| k.contains("savepoint-a1b2c3-00000000000b/")),
        "the pruned savepoint is gone"
    );
    assert!(
        !after.iter().any(|k| k.contains("/chk-0/")),
        "the orphan is gone"
    );
    for k in before.iter().filter(|k| {
        k.contains("/shared/")
            || k.contains("savepoint-a1b2c3-00000000000a")
            || k.contains("savepoint-a1b2c3-00000000000c")
            || k.contains("/chk-3/")
    }) {
        assert!(after.contains(k), "{k} must survive the prune");
    }
    let list = run(
        &h,
        json!({"command": "list", "pipeline": pipeline, "limit": 50}),
    )
    .await;
    let pruned: Vec<&str> = list["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "pruned")
        .map(|p| p["location"].as_str().unwrap())
        .collect();
    assert_eq!(pruned, [savepoints[1].as_str()]);
    // The latest restorable point is still the newest savepoint, and still restorable.
    assert_eq!(
        latest(&h, json!({"pipeline": pipeline})).await["location"],
        savepoints[2]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ops_fixture_runs_against_the_book() {
    let h = harness().await;
    for name in [
        "ops-register-job.json",
        "ops-list.json",
        "ops-latest.json",
        "ops-latest-savepoint.json",
        "ops-prune-dry-run.json",
    ] {
        let v = fixture(&format!("checkpoints/{name}"));
        let mut m = Metrics::with_sink("s", "c", |_: &str| {});
        h.service
            .handle(v, t(0), &mut m)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // Pinning a savepoint that is not in the book is a clear error, not a silent no-op.
    let mut m = Metrics::with_sink("s", "c", |_: &str| {});
    let err = h
        .service
        .handle(fixture("checkpoints/ops-pin.json"), t(0), &mut m)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not in the book"), "{err}");
}

/// A queue a default-bus rule sends the health events to; its URL.
async fn health_queue(sdk: &SdkConfig) -> String {
    let url = aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name("health")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let events = aws_sdk_eventbridge::Client::new(sdk);
    events
        .put_rule()
        .name("checkpoint-health")
        .event_pattern(
            json!({"source": [HEALTH_SOURCE], "detail-type": [HEALTH_DETAIL_TYPE]}).to_string(),
        )
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("checkpoint-health")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("health")
                .arn("arn:aws:sqs:us-east-1:123456789012:health")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_lists_the_pipelines_from_the_index_and_puts_one_event_per_judged_pipeline_on_the_bus()
 {
    let h = harness().await;
    let queue = health_queue(&h.sdk).await;
    for (pipeline, job) in [("clicks", JOB), ("views", JOB2)] {
        run(
            &h,
            json!({"command": "register-job", "pipeline": pipeline, "job_id": job}),
        )
        .await;
    }
    // clicks checkpointed 20 minutes before the evaluation; views never did.
    let done = checkpoint(&h, JOB, 7, 9_980).await;
    run(&h, done).await;
    let answer = run(&h, fixture("checkpoints/ops-health.json")).await;
    let judged: Vec<(String, String)> = answer["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let name = r["pipeline"].as_str().unwrap().to_string();
            (name, r["verdict"]["state"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        judged,
        [
            ("clicks".into(), "late".into()),
            ("views".into(), "unknown".into())
        ]
    );
    let events: Vec<Value> = drain_queue(&h.sdk, &queue)
        .await
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(
        (e["source"].as_str(), e["detail-type"].as_str()),
        (Some(HEALTH_SOURCE), Some(HEALTH_DETAIL_TYPE))
    );
    let d = &e["detail"];
    assert_eq!(
        (d["pipeline"].as_str(), d["state"].as_str()),
        (Some("clicks"), Some("late"))
    );
    assert_eq!(d["age_seconds"], 1200);
    assert_eq!(
        d["last_good"]["location"],
        format!("s3://{BUCKET}/flink/checkpoints/{JOB}/chk-7/")
    );
    assert_eq!(d["last_good"]["checkpoint_id"], 7);
    // The one-pipeline fixture reports without sending.
    let one = run(&h, fixture("checkpoints/ops-health-one-pipeline.json")).await;
    assert_eq!(one["events_sent"], 0);
    assert!(drain_queue(&h.sdk, &queue).await.is_empty());
}
