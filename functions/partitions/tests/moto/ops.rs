//! Backfills (statements under Athena's size limit, the dry run, chunks resumed) and Glue mode
//! (100 partitions a call, status with what is registered and the gaps).

use crate::events::*;
use crate::harness::*;
use aws_sdk_glue::types::StorageDescriptor;
use chrono::Utc;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Instant;
use streamops_test_support::fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20000_partition_backfill_produces_statements_under_the_size_limit() {
    let h = harness("athena").await;
    let started = Instant::now();
    let resp = h
        .handle(
            json!({"command": "backfill", "table": "streamops.enriched_events", "from": "2024-01-01T00",
                   "to": "2026-04-13T08", "dry_run": false, "chunk_size": 20000}),
            "req-backfill-20k",
        )
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(resp["range"]["periods"], 20_000, "{resp}");
    assert_eq!(resp["partitions_registered"], 20_000);
    assert_eq!(resp["done"], true);
    assert_eq!(resp["resume_from"], Value::Null);
    let queries = h.queries().await;
    assert_eq!(resp["statements"].as_u64().unwrap() as usize, queries.len());
    assert!(queries.len() >= 8, "{} statements", queries.len());
    let mut locations = BTreeSet::new();
    for q in &queries {
        assert!(q.len() <= MAX_STATEMENT, "statement of {} bytes", q.len());
        assert!(q.starts_with(
            "ALTER TABLE `streamops`.`enriched_events` ADD IF NOT EXISTS\nPARTITION ("
        ));
        for clause in q.split("\nPARTITION (").skip(1) {
            locations.insert(clause.split("LOCATION ").nth(1).unwrap().to_string());
        }
    }
    assert_eq!(locations.len(), 20_000, "every hour exactly once");
    assert!(resp["largest_statement_bytes"].as_u64().unwrap() as usize <= MAX_STATEMENT);
    assert_eq!(
        h.registry_state("streamops.enriched_events/dt=2026-04-13/hour=07")
            .await
            .as_deref(),
        Some("registered")
    );
    eprintln!(
        "20,000-partition backfill: {} statements, largest {} bytes, {:.1}s against moto",
        queries.len(),
        resp["largest_statement_bytes"],
        elapsed.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_is_a_dry_run_by_default_confirms_data_and_resumes_in_chunks() {
    let h = harness("athena").await;
    for hour in ["01", "05", "06", "23"] {
        h.put_object(&format!("enriched/dt=2026-11-22/hour={hour}/part-0.gz"))
            .await;
    }
    let dry = h
        .handle(fixture("partitions/ops-backfill.json"), "req-dry")
        .await
        .unwrap();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["partitions"], 4, "{dry}");
    assert_eq!(dry["periods_without_data"], 20);
    assert_eq!(dry["queries_run"], 0);
    assert!(
        dry["sample_statement"]
            .as_str()
            .unwrap()
            .contains("hour` = '05'"),
        "{dry}"
    );
    assert!(h.queries().await.is_empty());

    // For real, ten hours per chunk, one chunk per call: three calls cover the day.
    let mut cursor = Value::Null;
    let mut calls = 0;
    loop {
        let mut cmd = json!({"command": "backfill", "table": "enriched_events", "from": "2026-11-22", "to": "2026-11-23",
                             "confirm_data": true, "dry_run": false, "chunk_size": 10, "max_chunks": 1});
        if !cursor.is_null() {
            cmd["resume_from"] = cursor.clone();
        }
        let resp = h.handle(cmd, &format!("req-chunk-{calls}")).await.unwrap();
        calls += 1;
        cursor = resp["resume_from"].clone();
        if resp["done"] == true {
            assert!(cursor.is_null());
            break;
        }
        assert!(calls < 5, "did not finish: {resp}");
    }
    assert_eq!(calls, 3);
    let queries = h.queries().await;
    // Chunk 1 (00-09) holds 01, 05, 06; chunk 2 (10-19) nothing; chunk 3 (20-23) holds 23.
    assert_eq!(
        queries
            .iter()
            .map(|q| partition_clauses(q))
            .collect::<Vec<_>>(),
        vec![3, 1]
    );

    let err = h
        .handle(json!({"command": "backfill", "table": "nope", "from": "2026-11-22", "to": "2026-11-23"}), "req-bad")
        .await
        .unwrap_err();
    assert!(err.contains("no table \"nope\" is configured (configured: streamops.enriched_events, streamops.firehose_events, streamops.flink_events"), "{err}");
    let err = h
        .handle(json!({"command": "backfill", "table": "enriched_events", "from": "2026-11-22", "to": "2026-11-23", "granularity": "day"}), "req-bad")
        .await
        .unwrap_err();
    assert!(err.contains("partitioned by hour"), "{err}");
    let err = h
        .handle(json!({"command": "backfill", "table": "enriched_events", "from": "2026-11-23", "to": "2026-11-22"}), "req-bad")
        .await
        .unwrap_err();
    assert!(err.contains("must be after"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glue_mode_creates_partitions_100_per_call_and_status_shows_registered_and_gaps() {
    let h = harness("glue").await;
    let glue = aws_sdk_glue::Client::new(&h.sdk);
    // One partition already in the catalog (created by hand): BatchCreatePartition reports it per entry.
    glue.create_partition()
        .database_name("streamops")
        .table_name("firehose_events")
        .partition_input(
            aws_sdk_glue::types::PartitionInput::builder()
                .values("2026-11-20")
                .values("00")
                .storage_descriptor(
                    StorageDescriptor::builder()
                        .location(format!("s3://{BUCKET}/firehose/2026/11/20/00/"))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    // 250 hours from 2026-11-20T00: three BatchCreatePartition calls.
    let start = chrono::NaiveDate::from_ymd_opt(2026, 11, 20)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let keys: Vec<String> = (0..250)
        .map(|h| {
            (start + chrono::Duration::hours(h))
                .format("firehose/%Y/%m/%d/%H/part-0.gz")
                .to_string()
        })
        .collect();
    let resp = h
        .handle(sqs_batch(&keys, Utc::now()), "req-glue")
        .await
        .unwrap();
    assert!(failures(&resp).is_empty(), "{resp}");
    assert!(h.queries().await.is_empty(), "glue mode ran Athena DDL");
    assert_eq!(h.metric("PartitionsRegistered", None), 249.0);
    assert_eq!(h.metric("PartitionsAlreadyPresent", None), 1.0);
    let parts = glue
        .get_partitions()
        .database_name("streamops")
        .table_name("firehose_events")
        .send()
        .await
        .unwrap()
        .partitions
        .unwrap();
    assert_eq!(parts.len(), 250);
    let p = parts
        .iter()
        .find(|p| p.values.as_deref() == Some(&["2026-11-21".to_string(), "13".to_string()][..]))
        .unwrap();
    let sd = p.storage_descriptor.as_ref().unwrap();
    assert_eq!(
        sd.location.as_deref(),
        Some(&*format!("s3://{BUCKET}/firehose/2026/11/21/13/"))
    );
    assert_eq!(
        sd.serde_info
            .as_ref()
            .unwrap()
            .serialization_library
            .as_deref(),
        Some("org.openx.data.jsonserde.JsonSerDe")
    );

    // Status over a day that is half registered: data without a partition shows as gaps.
    for hour in ["02", "03", "17"] {
        h.put_object(&format!("firehose/2026/12/01/{hour}/part-0.gz"))
            .await;
    }
    let status = h
        .handle(json!({"command": "status", "table": "streamops.firehose_events", "from": "2026-11-30T12", "to": "2026-12-01T18"}), "req-status")
        .await
        .unwrap();
    // Registered: 2026-11-20T00 + 250 hours runs to 2026-11-30T09, so 11-30T12.. is not registered.
    assert_eq!(status["registered_count"], 0, "{status}");
    assert_eq!(status["gap_count"], 3);
    assert_eq!(status["gaps"][0]["partition"], "dt=2026-12-01/hour=02");
    assert_eq!(
        status["gaps"][0]["location"],
        format!("s3://{BUCKET}/firehose/2026/12/01/02/")
    );
    assert_eq!(status["periods_without_data"], 27);
    let status = h
        .handle(json!({"command": "status", "table": "firehose_events", "from": "2026-11-30T00", "to": "2026-11-30T12"}), "req-status-2")
        .await
        .unwrap();
    assert_eq!(status["registered_count"], 10, "{status}");
    assert_eq!(status["registered"][9], "dt=2026-11-30/hour=09");
    assert_eq!(status["gap_count"], 0);
}
