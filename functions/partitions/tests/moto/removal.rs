//! Dropping partitions whose data is gone, on moto in Glue mode (moto's Athena records DDL
//! without applying it, so only Glue shows a partition leave the catalog): the adapters' contract
//! for the one-key listing, the registry mark's deletion and `BatchDeletePartition`.

use crate::events::*;
use crate::harness::*;
use chrono::Utc;
use serde_json::json;

fn removal_batch(keys: &[&str], event_name: &str) -> serde_json::Value {
    let records: Vec<serde_json::Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut r = s3_record(k, 0, Utc::now());
            r["eventName"] = json!(event_name);
            r["s3"]["object"].as_object_mut().unwrap().remove("size");
            sqs_message(&format!("r-{i}"), &json!({"Records": [r]}))
        })
        .collect();
    json!({ "Records": records })
}

async fn glue_values(h: &Harness) -> Vec<Vec<String>> {
    let glue = aws_sdk_glue::Client::new(&h.sdk);
    let parts = glue
        .get_partitions()
        .database_name("streamops")
        .table_name("firehose_events")
        .send()
        .await
        .unwrap();
    let mut values: Vec<Vec<String>> = parts
        .partitions()
        .iter()
        .map(|p| p.values().to_vec())
        .collect();
    values.sort();
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hour_whose_objects_are_all_removed_leaves_the_glue_catalog_and_the_registry() {
    let h = harness("glue").await;
    let keys = [
        "firehose/2026/11/23/10/part-0.gz",
        "firehose/2026/11/23/10/part-1.gz",
        "firehose/2026/11/23/11/part-0.gz",
    ];
    for k in keys {
        h.put_object(k).await;
    }
    let owned: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    let resp = h
        .handle(sqs_batch(&owned, Utc::now()), "req-1")
        .await
        .unwrap();
    assert!(failures(&resp).is_empty(), "{resp}");
    assert_eq!(glue_values(&h).await.len(), 2);

    // Hour 10 loses both objects (one deleted, one expired by S3 Lifecycle); hour 11 nothing.
    let s3 = streamops_shared::aws::s3_client(&h.sdk, true);
    for k in &keys[..2] {
        s3.delete_object()
            .bucket(BUCKET)
            .key(*k)
            .send()
            .await
            .unwrap();
    }
    let mut batch = removal_batch(&keys[..1], "ObjectRemoved:Delete");
    let expired = removal_batch(&keys[1..2], "LifecycleExpiration:Delete");
    batch["Records"]
        .as_array_mut()
        .unwrap()
        .push(expired["Records"][0].clone());
    let resp = h.handle(batch, "req-2").await.unwrap();
    assert!(failures(&resp).is_empty(), "{resp}");
    assert_eq!(h.metric("PartitionsDropped", None), 1.0);
    assert_eq!(
        glue_values(&h).await,
        vec![vec!["2026-11-23".to_string(), "11".to_string()]]
    );
    assert_eq!(
        h.registry_state("streamops.firehose_events/dt=2026-11-23/hour=10")
            .await,
        None
    );
    assert_eq!(
        h.registry_state("streamops.firehose_events/dt=2026-11-23/hour=11")
            .await
            .as_deref(),
        Some("registered")
    );

    // The same removal redelivered: the partition is already gone, nothing fails.
    let again = removal_batch(&keys[..1], "ObjectRemoved:Delete");
    let resp = h.handle(again, "req-3").await.unwrap();
    assert!(failures(&resp).is_empty(), "{resp}");
    assert_eq!(h.metric("PartitionsDropped", None), 2.0);
    assert!(h.queries().await.is_empty(), "glue mode ran Athena DDL");
}
