//! The producer's KPL batch (events/enrich/kinesis-kpl-aggregated.json, made by aws-kinesis-agg)
//! on moto: user records refused by PutRecords inside aggregates, a poison user record and a
//! damaged aggregate. Every user record ends exactly once in the enriched stream or the
//! quarantine across Lambda's redelivery, with the ledger in DynamoDB holding user records as
//! `SEQUENCE.SUB`.

use crate::events::*;
use crate::harness::*;
use serde_json::Value;
use std::collections::BTreeSet;
use streamops_shared::Metrics;
use streamops_test_support::fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpl_batch_every_user_record_once_across_the_redelivery() {
    let h = harness().await;
    let svc = service(&h, default_spec(), "fail-batch");
    let event = fixture("enrich/kinesis-kpl-aggregated.json");
    let seq = |i: usize| seq_of(&event["Records"][i]);
    h.faults
        .set(&["evt-kpl-0002", "evt-kpl-0004", "evt-kpl-0011"]);
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    let response = svc
        .handle(&event.to_string(), &ctx(1500), &mut m)
        .await
        .unwrap();
    assert_eq!(failures(&response), [seq(0), seq(2)], "{response}");
    let place = |o: &Value| {
        (
            o["_ingest"]["sequence_number"]
                .as_str()
                .unwrap()
                .to_string(),
            o["_ingest"]["sub_sequence_number"].as_u64(),
        )
    };
    let first: BTreeSet<_> = read_output(&h.sdk).await.iter().map(place).collect();
    assert_eq!(first.len(), 6);

    h.faults.set(&[]);
    let failed: BTreeSet<String> = failures(&response).into_iter().collect();
    let retry = redelivery(&event, &failed);
    let response = svc
        .handle(&retry.to_string(), &ctx(5000), &mut m)
        .await
        .unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let out = read_output(&h.sdk).await;
    let delivered: Vec<_> = out.iter().map(place).collect();
    let unique: BTreeSet<_> = delivered.iter().cloned().collect();
    assert_eq!(delivered.len(), unique.len(), "nothing written twice");
    let quarantined: BTreeSet<(String, Option<u64>, String)> = read_quarantine(&h.sdk)
        .await
        .values()
        .flatten()
        .map(|e| {
            (
                e.origin.position.clone(),
                e.origin.sub_sequence.map(u64::from),
                e.reason.as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(
        quarantined,
        BTreeSet::from([
            (seq(0), Some(2), "invalid_json".to_string()),
            (seq(4), None, "corrupt_aggregate".to_string()),
        ])
    );
    // Every user record the producer made, exactly once, in one place or the other.
    let mut all: BTreeSet<(String, Option<u64>)> = unique;
    for (s, sub, _) in &quarantined {
        assert!(
            all.insert((s.clone(), *sub)),
            "{s}.{sub:?} delivered and quarantined"
        );
    }
    let want: BTreeSet<(String, Option<u64>)> = [(0, 4), (1, 0), (2, 3), (3, 2), (4, 0)]
        .into_iter()
        .flat_map(|(i, users)| {
            let s = seq(i);
            let subs: Vec<Option<u64>> = match users {
                0 => vec![None],
                n => (0..n).map(Some).collect(),
            };
            subs.into_iter().map(move |sub| (s.clone(), sub))
        })
        .collect();
    assert_eq!(all, want);
    // A third delivery writes nothing.
    svc.handle(&retry.to_string(), &ctx(5000), &mut m)
        .await
        .unwrap();
    assert_eq!(read_output(&h.sdk).await.len(), out.len());
}
