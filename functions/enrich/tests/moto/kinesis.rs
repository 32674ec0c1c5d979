//! A Kinesis batch: every input record accounted for, and a redelivery from the lowest reported
//! failure that adds no duplicate.

use crate::events::*;
use crate::harness::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use streamops_shared::Metrics;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_batch_every_record_accounted_for_and_redelivery_adds_no_duplicate() {
    let h = harness().await;
    let svc = service(&h, default_spec(), "fail-batch");
    let event = kinesis_batch(40);
    let inputs: Vec<Value> = event["Records"].as_array().unwrap().clone();
    let all_seqs: BTreeSet<String> = inputs.iter().map(seq_of).collect();
    // Persistent throttling for a few entries, including the first good record.
    h.faults
        .set(&["evt-0001", "gen-0003", "gen-0017", "gen-0031"]);
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    let response = svc
        .handle(&event.to_string(), &ctx(1500), &mut m)
        .await
        .unwrap();
    assert!(*h.faults.injected.lock().unwrap() >= 4);

    let failed: BTreeSet<String> = failures(&response).into_iter().collect();
    assert_eq!(failed.len(), 4, "{response}");
    let delivered: Vec<Value> = read_output(&h.sdk).await;
    let delivered_seqs: BTreeSet<String> = delivered
        .iter()
        .map(|o| {
            o["_ingest"]["sequence_number"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        delivered_seqs.len(),
        delivered.len(),
        "no duplicate in the first attempt"
    );
    let quarantine = read_quarantine(&h.sdk).await;
    assert_eq!(quarantine.len(), 1, "one quarantine object per batch");
    let quarantined: BTreeSet<String> = quarantine
        .values()
        .flatten()
        .map(|e| e.origin.position.clone())
        .collect();
    let reasons: BTreeSet<&str> = quarantine
        .values()
        .flatten()
        .map(|e| e.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        BTreeSet::from([
            "invalid_json",
            "not_an_object",
            "missing_field",
            "wrong_type",
            "invalid_event_time",
            "invalid_utf8",
            "invalid_base64"
        ])
    );
    // Exactly one place each.
    assert!(
        delivered_seqs.is_disjoint(&quarantined)
            && delivered_seqs.is_disjoint(&failed)
            && quarantined.is_disjoint(&failed)
    );
    let union: BTreeSet<String> = delivered_seqs
        .iter()
        .chain(&quarantined)
        .chain(&failed)
        .cloned()
        .collect();
    assert_eq!(union, all_seqs);

    // The enrichment itself, on the stream: reference join, PII, derived fields.
    let by_id: BTreeMap<&str, &Value> = delivered
        .iter()
        .map(|o| (o["event_id"].as_str().unwrap(), o))
        .collect();
    let e2 = by_id["evt-0002"];
    assert_eq!(e2["_ingest"]["reference"], "missing");
    let g0 = by_id["gen-0000"];
    assert_eq!(
        g0["product"],
        json!({"category": "games", "brand": "globex", "price_band": 3})
    );
    assert_eq!(g0["_ingest"]["reference"], "found");
    assert_eq!(g0["email"].as_str().unwrap().len(), 64);
    assert_eq!(by_id["evt-0003"]["_ingest"]["reference"], "no_key");
    assert_eq!(by_id["evt-0003"]["dt"], "2026-11-23");

    // Lambda re-delivers from the lowest reported sequence number; the fault has cleared.
    h.faults.set(&[]);
    let retry = redelivery(&event, &failed);
    let response = svc
        .handle(&retry.to_string(), &ctx(5000), &mut m)
        .await
        .unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let after = read_output(&h.sdk).await;
    let ids: Vec<&str> = after
        .iter()
        .map(|o| o["_event_id"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(
        ids.len(),
        unique.len(),
        "a redelivered batch writes nothing twice"
    );
    let seqs: BTreeSet<String> = after
        .iter()
        .map(|o| {
            o["_ingest"]["sequence_number"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(seqs, all_seqs.difference(&quarantined).cloned().collect());
    assert_eq!(
        read_quarantine(&h.sdk).await.len(),
        1,
        "poison after the failure point is not quarantined twice"
    );

    // A third delivery of the same records (e.g. a replayed shard) is skipped entirely.
    let response = svc
        .handle(&retry.to_string(), &ctx(5000), &mut m)
        .await
        .unwrap();
    assert!(failures(&response).is_empty());
    assert_eq!(read_output(&h.sdk).await.len(), after.len());
}
