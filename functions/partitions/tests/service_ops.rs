//! The partitions ops commands over in-memory fakes of the ports (no moto): backfill (dry run,
//! chunks, resume, confirm_data) and status (registered partitions and gaps), under scripted
//! faults: a query failing mid-backfill, a throttled registry write, Glue entry failures.

mod support;

use serde_json::{Value, json};
use streamops_shared::ErrorClass;
use streamops_shared::harness::Classified;
use support::*;

// ------------------------------------------------------------------ backfill

fn backfill(extra: Value) -> Value {
    let mut cmd = json!({"command": "backfill", "table": "streamops.enriched_events",
        "from": "2026-11-01T00", "to": "2026-11-02T06"});
    cmd.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    cmd
}

#[tokio::test]
async fn backfill_is_a_dry_run_by_default_and_resumes_where_it_stopped() {
    let (service, fakes) = service("athena");
    let plan = invoke(&service, backfill(json!({})), "req-0")
        .await
        .unwrap();
    assert_eq!(
        (plan["dry_run"].as_bool(), plan["partitions"].as_u64()),
        (Some(true), Some(30))
    );
    assert_eq!(plan["queries_run"], 0);
    assert!(
        plan["sample_statement"]
            .as_str()
            .unwrap()
            .contains("ADD IF NOT EXISTS")
    );
    assert!(fakes.athena.statements().is_empty() && fakes.registry.marks().is_empty());

    let first = invoke(
        &service,
        backfill(json!({"dry_run": false, "chunk_size": 10, "max_chunks": 2})),
        "req-1",
    )
    .await
    .unwrap();
    assert_eq!(first["done"], false);
    assert_eq!(first["resume_from"], "2026-11-01T20:00:00Z");
    assert_eq!(
        (
            first["chunks"].as_u64(),
            first["partitions_registered"].as_u64()
        ),
        (Some(2), Some(20))
    );
    let rest = invoke(
        &service,
        backfill(json!({"dry_run": false, "chunk_size": 10, "resume_from": first["resume_from"]})),
        "req-2",
    )
    .await
    .unwrap();
    assert_eq!(
        (rest["done"].as_bool(), rest["resume_from"].clone()),
        (Some(true), Value::Null)
    );
    assert_eq!(rest["partitions_registered"], 10);
    let catalog = fakes.athena.catalog();
    assert_eq!(catalog.len(), 30);
    assert!(catalog.values().all(|&n| n == 1), "every hour exactly once");
    assert_eq!(
        fakes.athena.statements().len(),
        3,
        "one statement per chunk"
    );
    assert_eq!(fakes.registry.marks().len(), 30);
}

#[tokio::test]
async fn backfill_with_confirm_data_registers_only_hours_with_objects() {
    let (service, fakes) = service("glue");
    fakes
        .data
        .put(BUCKET, &hive_key("2026-11-01", 3, "part-0.gz"));
    fakes
        .data
        .put(BUCKET, &hive_key("2026-11-01", 7, "part-0.gz"));
    fakes.glue.add(
        "streamops",
        "enriched_events",
        &["2026-11-01", "07"],
        "s3://x/",
    );
    let out = invoke(
        &service,
        backfill(json!({"dry_run": false, "confirm_data": true})),
        "req-1",
    )
    .await
    .unwrap();
    assert_eq!(out["periods_without_data"], 28);
    assert_eq!(
        (
            out["partitions_registered"].as_u64(),
            out["partitions_already_present"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(fakes.data.script.calls("ListObjectsV2"), 30);
    assert_eq!(
        fakes.glue.partitions("streamops", "enriched_events").len(),
        2
    );
}

#[tokio::test]
async fn a_failed_backfill_query_stops_with_the_point_to_resume_from() {
    let (service, fakes) = service("athena");
    fakes
        .athena
        .script_queries(&[QueryScript::Succeed, QueryScript::Fail]);
    let err = invoke(
        &service,
        backfill(json!({"dry_run": false, "chunk_size": 10})),
        "req-1",
    )
    .await
    .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable);
    let text = err.to_string();
    assert!(
        text.contains("10 partitions registered before it")
            && text.contains("rerun with \"resume_from\": \"2026-11-01T10:00:00Z\""),
        "{text}"
    );
    assert_eq!(
        fakes.registry.marks().len(),
        10,
        "only the chunk that succeeded is recorded"
    );

    // The registry write of a chunk is throttled: a retryable error, and the rerun is idempotent.
    fakes
        .registry
        .script
        .fail("BatchWriteItem", 2, Fault::Throttled);
    let err = invoke(
        &service,
        backfill(json!({"dry_run": false, "chunk_size": 10, "resume_from": "2026-11-01T10"})),
        "req-2",
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.class(), err.kind()),
        (ErrorClass::Retryable, "AwsCall")
    );
    let done = invoke(
        &service,
        backfill(json!({"dry_run": false, "chunk_size": 10, "resume_from": "2026-11-01T10"})),
        "req-3",
    )
    .await
    .unwrap();
    assert_eq!(done["done"], true);
    assert_eq!(fakes.registry.marks().len(), 30);
    assert_eq!(fakes.athena.catalog().len(), 30);
}

#[tokio::test]
async fn a_glue_backfill_entry_failure_stops_the_backfill() {
    let (service, fakes) = service("glue");
    fakes.glue.fail_entry(
        &["2026-11-01", "04"],
        "ResourceNumberLimitExceededException",
    );
    let err = invoke(
        &service,
        backfill(json!({"dry_run": false, "chunk_size": 10})),
        "req-1",
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("BatchCreatePartition ResourceNumberLimitExceededException")
            && text.contains("\"resume_from\": \"2026-11-01T00:00:00Z\""),
        "{text}"
    );
    assert!(
        fakes.registry.marks().is_empty(),
        "a failed chunk is not recorded"
    );
}

// ------------------------------------------------------------------ status

#[tokio::test]
async fn status_shows_registered_partitions_and_gaps() {
    let (service, fakes) = service("glue");
    fakes.glue.add(
        "streamops",
        "enriched_events",
        &["2026-11-01", "01"],
        "s3://x/",
    );
    fakes.data.put(BUCKET, &hive_key("2026-11-01", 1, "a.gz"));
    fakes.data.put(BUCKET, &hive_key("2026-11-01", 2, "b.gz"));
    let status = json!({"command": "status", "table": "enriched_events", "from": "2026-11-01T00", "to": "2026-11-01T04"});
    let out = invoke(&service, status.clone(), "req-1").await.unwrap();
    assert_eq!(out["registered"], json!(["dt=2026-11-01/hour=01"]));
    assert_eq!(
        out["gaps"],
        json!([{"partition": "dt=2026-11-01/hour=02", "location": format!("s3://{BUCKET}/enriched/dt=2026-11-01/hour=02/")}])
    );
    assert_eq!(out["periods_without_data"], 2);
    assert_eq!(
        fakes.data.script.calls("ListObjectsV2"),
        3,
        "registered periods are not listed"
    );

    fakes.glue.script.fail("GetPartitions", 2, Fault::Denied);
    let err = invoke(&service, status.clone(), "req-2").await.unwrap_err();
    assert_eq!(
        (err.class(), err.kind()),
        (ErrorClass::Permanent, "AwsCall")
    );
    fakes.data.script.fail("ListObjectsV2", 4, Fault::Throttled);
    let err = invoke(&service, status, "req-3").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable);
}
