//! MSK batches: several partitions under fail-batch then complete, partial mode's
//! topic/partition/offset answers, Kafka timestamp edge cases.

use crate::harness::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use enrich::service::EnrichError;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use streamops_shared::Metrics;
use streamops_test_support::fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msk_batch_with_several_partitions_fail_batch_then_complete() {
    let h = harness().await;
    let svc = service(&h, default_spec(), "fail-batch");
    let event = fixture("enrich/msk-multi-partition-batch.json");
    let mut all = BTreeSet::new();
    for (lane, recs) in event["records"].as_object().unwrap() {
        for r in recs.as_array().unwrap() {
            all.insert(format!("{lane}@{}", r["offset"]));
        }
    }
    h.faults.set(&["evt-0022", "evt-0031"]);
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    let err = svc
        .handle(&event.to_string(), &ctx(800), &mut m)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EnrichError::BatchIncomplete {
                failed: 2,
                total: 7,
                ..
            }
        ),
        "{err}"
    );

    let first = read_output(&h.sdk).await;
    let key = |o: &Value| {
        format!(
            "{}-{}@{}",
            o["_ingest"]["topic"].as_str().unwrap(),
            o["_ingest"]["partition"].as_str().unwrap(),
            o["_ingest"]["offset"].as_str().unwrap()
        )
    };
    let delivered: BTreeSet<String> = first.iter().map(key).collect();
    let quarantine = read_quarantine(&h.sdk).await;
    let quarantined: BTreeSet<String> = quarantine
        .values()
        .flatten()
        .map(|e| {
            format!(
                "{}-{}@{}",
                e.origin.stream, e.origin.shard, e.origin.position
            )
        })
        .collect();
    assert_eq!(
        quarantined,
        BTreeSet::from([
            "clickstream-0@101".to_string(),
            "clickstream-1@8".to_string()
        ])
    );
    let failed = BTreeSet::from([
        "clickstream-0@102".to_string(),
        "clickstream-1@9".to_string(),
    ]);
    assert!(delivered.is_disjoint(&quarantined) && delivered.is_disjoint(&failed));
    let union: BTreeSet<String> = delivered
        .iter()
        .chain(&quarantined)
        .chain(&failed)
        .cloned()
        .collect();
    assert_eq!(union, all);
    let poison = quarantine
        .values()
        .flatten()
        .find(|e| e.origin.position == "101")
        .unwrap();
    assert_eq!(poison.reason.as_str(), "invalid_json");
    assert_eq!(
        STANDARD
            .decode(poison.data_base64.as_deref().unwrap())
            .unwrap(),
        b"oops",
        "original bytes kept"
    );

    // Lambda retries the whole batch: only the two failed records are written now.
    h.faults.set(&[]);
    svc.handle(&event.to_string(), &ctx(5000), &mut m)
        .await
        .unwrap();
    let after = read_output(&h.sdk).await;
    let keys: Vec<String> = after.iter().map(key).collect();
    let unique: BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(keys.len(), unique.len(), "no duplicate after the retry");
    assert_eq!(unique, all.difference(&quarantined).cloned().collect());
    assert_eq!(read_quarantine(&h.sdk).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msk_partial_mode_reports_topic_partition_and_offset() {
    let h = harness().await;
    let svc = service(&h, default_spec(), "partial");
    h.faults.set(&["evt-0040"]);
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    let response = svc
        .handle(
            &fixture("enrich/msk-multi-partition-batch.json").to_string(),
            &ctx(600),
            &mut m,
        )
        .await
        .unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": {"partition": "clickstream-2", "offset": 55}}]})
    );
}

/// Issue 14: a fractional Kafka timestamp in the middle of a batch is quarantined alone (it
/// used to panic and fail the whole batch); `-1` (no timestamp) is delivered without an
/// arrival time; arrival times are exact to the millisecond.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msk_timestamps_fractional_quarantined_none_accepted_exact_arrival() {
    let h = harness().await;
    let svc = service(&h, default_spec(), "fail-batch");
    let event = fixture("enrich/msk-timestamp-edge-cases.json");
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    svc.handle(&event.to_string(), &ctx(5000), &mut m)
        .await
        .unwrap();
    let out = read_output(&h.sdk).await;
    let by_offset = |o: &str| {
        out.iter()
            .find(|r| r["_ingest"]["offset"] == o)
            .unwrap_or_else(|| panic!("offset {o} not delivered: {out:?}"))
    };
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(
        by_offset("200")["_ingest"]["arrival_time"],
        "2026-11-23T09:15:35.987Z"
    );
    assert_eq!(by_offset("202")["_ingest"].get("arrival_time"), None);
    assert_eq!(
        by_offset("203")["_ingest"]["arrival_time"],
        "2026-11-23T09:15:36.001Z"
    );
    let quarantine: Vec<_> = read_quarantine(&h.sdk)
        .await
        .into_values()
        .flatten()
        .collect();
    assert_eq!(quarantine.len(), 1);
    assert_eq!(quarantine[0].origin.position, "201");
    assert_eq!(quarantine[0].reason.as_str(), "malformed_record");
}
