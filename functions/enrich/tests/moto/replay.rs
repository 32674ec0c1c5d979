//! The ops commands over the quarantine: replay after a spec fix, replay from a custom bucket,
//! the dry run.

use crate::events::relaxed_spec;
use crate::harness::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use streamops_shared::Metrics;
use streamops_test_support::fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_after_a_spec_fix_delivers_the_repaired_and_keeps_the_rest() {
    let h = harness().await;
    let svc = service(&h, default_spec(), "fail-batch");
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    svc.handle(
        &fixture("enrich/kinesis-mixed-batch.json").to_string(),
        &ctx(5000),
        &mut m,
    )
    .await
    .unwrap();
    let (key, entries) = read_quarantine(&h.sdk).await.into_iter().next().unwrap();
    assert_eq!(entries.len(), 7);
    let before = read_output(&h.sdk).await.len();

    // The fix: user_id and event_type are no longer required or typed; partition by event_id.
    let relaxed = relaxed_spec();
    let fixed = service(&h, relaxed, "fail-batch");
    let dry = fixed
        .handle(
            &json!({"command": "replay", "key": key, "dry_run": true}).to_string(),
            &ctx(5000),
            &mut m,
        )
        .await
        .unwrap();
    assert_eq!(
        dry["summary"],
        json!({"deliver": 2, "quarantine": 5}),
        "{dry}"
    );
    assert_eq!(
        read_output(&h.sdk).await.len(),
        before,
        "a dry run writes nothing"
    );

    let result = fixed
        .handle(
            &json!({"command": "replay", "key": key}).to_string(),
            &ctx(5000),
            &mut m,
        )
        .await
        .unwrap();
    assert_eq!(result["delivered"], 2, "{result}");
    assert_eq!(result["remaining_in_object"], 5);
    let out = read_output(&h.sdk).await;
    assert_eq!(out.len(), before + 2);
    let replayed: Vec<&Value> = out
        .iter()
        .filter(|o| o["_ingest"]["spec"] == "clickstream-v2")
        .collect();
    let ids: BTreeSet<&str> = replayed
        .iter()
        .map(|o| o["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from(["evt-0005", "evt-0006"]));
    let left = &read_quarantine(&h.sdk).await[&key];
    assert_eq!(left.len(), 5);
    assert!(left.iter().all(|e| e.replays == 1));
}

/// A replay from another bucket (e.g. the retained quarantine bucket of an earlier stack) reads,
/// rewrites and deletes there: what stays poison goes back into the object it came from, and the
/// configured quarantine bucket is not touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_a_custom_bucket_rewrites_that_bucket_and_leaves_the_configured_one_alone() {
    const ARCHIVE: &str = "streamops-quarantine-archive";
    let h = harness().await;
    let c = s3(&h.sdk);
    streamops_test_support::create_bucket(&h.sdk, ARCHIVE).await;
    let svc = service(&h, default_spec(), "fail-batch");
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    svc.handle(
        &fixture("enrich/kinesis-mixed-batch.json").to_string(),
        &ctx(5000),
        &mut m,
    )
    .await
    .unwrap();
    // Move the quarantine object to the archive bucket, under the same key.
    let (key, entries) = read_quarantine(&h.sdk).await.into_iter().next().unwrap();
    assert_eq!(entries.len(), 7);
    let body = enrich::quarantine::render_ndjson(&entries);
    c.put_object()
        .bucket(ARCHIVE)
        .key(&key)
        .body(body.into())
        .send()
        .await
        .unwrap();
    c.delete_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();

    // Nothing was fixed: every record stays poison, so the object is rewritten, not deleted.
    let result = svc
        .handle(
            &json!({"command": "replay", "bucket": ARCHIVE, "key": key}).to_string(),
            &ctx(5000),
            &mut m,
        )
        .await
        .unwrap();
    assert_eq!(
        result["object"],
        format!("s3://{ARCHIVE}/{key}"),
        "{result}"
    );
    assert_eq!(result["delivered"], 0, "{result}");
    assert_eq!(result["remaining_in_object"], 7, "{result}");
    let archive = read_bucket(&h.sdk, ARCHIVE).await;
    assert!(
        archive[&key].iter().all(|e| e.replays == 1),
        "the archived object itself was rewritten (replays counted): {archive:?}"
    );
    assert!(
        read_quarantine(&h.sdk).await.is_empty(),
        "nothing is written into the configured quarantine bucket"
    );

    // A fix that repairs two of them: those are delivered once, and the object keeps the rest.
    let relaxed = relaxed_spec();
    let fixed = service(&h, relaxed, "fail-batch");
    let before = read_output(&h.sdk).await.len();
    for _ in 0..2 {
        fixed
            .handle(
                &json!({"command": "replay", "bucket": ARCHIVE, "key": key}).to_string(),
                &ctx(5000),
                &mut m,
            )
            .await
            .unwrap();
    }
    assert_eq!(
        read_output(&h.sdk).await.len(),
        before + 2,
        "a second replay of the same object delivers nothing again"
    );
    assert_eq!(read_bucket(&h.sdk, ARCHIVE).await[&key].len(), 5);
    assert!(read_quarantine(&h.sdk).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_writes_nothing_and_explains_each_record() {
    let h = harness().await;
    let svc = service(&h, default_spec(), "fail-batch");
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    let out = svc
        .handle(
            &fixture("enrich/ops-dry-run-records.json").to_string(),
            &ctx(5000),
            &mut m,
        )
        .await
        .unwrap();
    let decisions: Vec<&str> = out["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, vec!["deliver", "quarantine", "quarantine"]);
    assert_eq!(out["records"][0]["output"]["product"]["category"], "books");
    assert_eq!(out["records"][1]["reason"], "invalid_event_time");
    assert_eq!(out["records"][2]["reason"], "invalid_json");
    assert!(read_output(&h.sdk).await.is_empty());
    assert!(read_quarantine(&h.sdk).await.is_empty());
    let err = svc
        .handle(r#"{"command": "explode"}"#, &ctx(1000), &mut m)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown command") && err.contains("replay"),
        "{err}"
    );
}
