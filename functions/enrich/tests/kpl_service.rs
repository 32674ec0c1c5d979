//! KPL aggregates through the service over the fakes (`support`): an aggregated batch with
//! poison user records, a corrupt aggregate and PutRecords entries refused inside aggregates.
//! Lambda is told the Kinesis records (each once) whose user records did not land; on the
//! redelivery the ledger skips the user records already written or quarantined, so every user
//! record ends exactly once in the enriched stream or the quarantine.

mod support;

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use enrich::input::kpl::encode_aggregate;
use enrich::poison::PoisonReason;
use enrich::quarantine::parse_ndjson;
use serde_json::{Value, json};
use streamops_test_support::batch_item_failures;
use streamops_test_support::fixture;
use support::*;

/// Every quarantine entry: (sequence number, sub-sequence number, reason).
fn quarantine_entries(f: &Fixture) -> Vec<(String, Option<u32>, PoisonReason)> {
    f.quarantine
        .objects()
        .values()
        .flat_map(|body| parse_ndjson(body).unwrap())
        .map(|e| (e.origin.position, e.origin.sub_sequence, e.reason))
        .collect()
}

fn seq(event: &Value, i: usize) -> String {
    seq_of(&event["Records"][i])
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The producer's fixture: aggregate 0 (evt-kpl-0001, 0002, a poison one, 0004), a plain
/// record (0005), an aggregate split in two by the producer (0010..0012 and 0013, 0014), and a
/// damaged aggregate.
#[tokio::test]
async fn the_producers_batch_with_refused_user_records_ends_exactly_once_across_the_retry() {
    let f = fakes("fail-batch");
    let event = fixture("enrich/kinesis-kpl-aggregated.json");
    // Two user records of aggregate 0 and one of the first split part refused for good.
    f.stream
        .reject(&["evt-kpl-0002", "evt-kpl-0004", "evt-kpl-0011"], ALWAYS);
    let response = f.handle(&event, 400).await.unwrap();
    let named = batch_item_failures(&response);
    assert_eq!(
        named,
        [seq(&event, 0), seq(&event, 2)],
        "each Kinesis record once, by its sequence number: {response}"
    );
    let first = f.stream.written_ids();
    assert_eq!(
        unique(&first),
        ids(&[
            "evt-kpl-0001",
            "evt-kpl-0005",
            "evt-kpl-0010",
            "evt-kpl-0012",
            "evt-kpl-0013",
            "evt-kpl-0014"
        ])
    );
    let poison = vec![
        (seq(&event, 0), Some(2), PoisonReason::InvalidJson),
        (seq(&event, 4), None, PoisonReason::CorruptAggregate),
    ];
    assert_eq!(quarantine_entries(&f), poison);

    // Lambda redelivers from the lowest failure: aggregate 0 and everything after it.
    f.stream.clear_rejections();
    let failed: BTreeSet<String> = named.into_iter().collect();
    let retry = redelivery(&event, &failed);
    assert_eq!(retry["Records"].as_array().unwrap().len(), 5);
    let response = f.handle(&retry, 5000).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let written = f.stream.written_ids();
    assert_eq!(
        written.len(),
        unique(&written).len(),
        "nothing written twice"
    );
    assert_eq!(
        unique(&written),
        ids(&[
            "evt-kpl-0001",
            "evt-kpl-0002",
            "evt-kpl-0004",
            "evt-kpl-0005",
            "evt-kpl-0010",
            "evt-kpl-0011",
            "evt-kpl-0012",
            "evt-kpl-0013",
            "evt-kpl-0014"
        ])
    );
    assert_eq!(quarantine_entries(&f), poison, "nothing quarantined twice");
    // What the retry wrote carries the user records' coordinates and ids of their own.
    let out: Vec<Value> = f
        .stream
        .written()
        .iter()
        .map(|r| serde_json::from_slice(&r.data).unwrap())
        .collect();
    let retried: Vec<(&str, u64)> = out[first.len()..]
        .iter()
        .map(|v| {
            (
                v["_ingest"]["sequence_number"].as_str().unwrap(),
                v["_ingest"]["sub_sequence_number"].as_u64().unwrap(),
            )
        })
        .collect();
    let (s0, s2) = (seq(&event, 0), seq(&event, 2));
    assert_eq!(
        retried,
        [(s0.as_str(), 1), (s0.as_str(), 3), (s2.as_str(), 1)]
    );
    let event_ids: BTreeSet<&str> = out
        .iter()
        .map(|v| v["_event_id"].as_str().unwrap())
        .collect();
    assert_eq!(event_ids.len(), 9);
    let plain = out
        .iter()
        .find(|v| v["event_id"] == "evt-kpl-0005")
        .unwrap();
    assert!(plain["_ingest"].get("sub_sequence_number").is_none());
    // A third delivery writes nothing at all.
    f.handle(&retry, 5000).await.unwrap();
    assert_eq!(f.stream.written().len(), written.len());
}

/// Many generated aggregates of 12 user records each (every 9th one poison), user records
/// refused across aggregate boundaries: the same accounting at a larger size.
#[tokio::test]
async fn generated_aggregates_with_refusals_end_exactly_once_across_the_retry() {
    let f = fakes("fail-batch");
    let mut event = fixture("enrich/kinesis-kpl-aggregated.json");
    let template = event["Records"][0].clone();
    let base: u128 = 49_656_734_289_010_347_629_181_453_817_302_211u128;
    let mut records = Vec::new();
    let (mut good, mut poison) = (BTreeSet::new(), 0usize);
    for a in 0..30usize {
        let users: Vec<(String, Vec<u8>)> = (0..12)
            .map(|u| {
                let n = a * 12 + u;
                let data = if n % 9 == 4 {
                    poison += 1;
                    b"{\"event_id\": ".to_vec()
                } else {
                    good.insert(format!("gen-{n:04}"));
                    json!({"event_id": format!("gen-{n:04}"), "event_type": "click",
                           "user_id": format!("user-{}", n % 7), "product_id": "p-200",
                           "ts": 1_795_425_400_000i64 + n as i64})
                    .to_string()
                    .into_bytes()
                };
                (format!("user-{}", n % 7), data)
            })
            .collect();
        let pairs: Vec<(&str, &[u8])> = users.iter().map(|(k, d)| (k.as_str(), &d[..])).collect();
        let seq = format!("{}{:024}", base, 1000 * (a as u128 + 1));
        let mut r = template.clone();
        r["kinesis"]["sequenceNumber"] = json!(seq);
        r["eventID"] = json!(format!("shardId-000000000002:{seq}"));
        r["kinesis"]["data"] = json!(STANDARD.encode(encode_aggregate(&pairs)));
        records.push(r);
    }
    event["Records"] = Value::Array(records);
    // Good user records refused for good, two of them in one aggregate (24 and 25).
    let refused: Vec<usize> = (0..360)
        .step_by(31)
        .chain([24, 25])
        .filter(|n| n % 9 != 4)
        .collect();
    let names: Vec<String> = refused.iter().map(|n| format!("gen-{n:04}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    f.stream.reject(&names, ALWAYS);
    let answer = f.handle(&event, 400).await.unwrap();
    let aggregates: BTreeSet<String> = refused.iter().map(|n| seq(&event, n / 12)).collect();
    assert_eq!(
        batch_item_failures(&answer),
        aggregates.iter().cloned().collect::<Vec<_>>(),
        "each aggregate with a refused user record, once"
    );
    let failed = failures(&answer);
    f.stream.clear_rejections();
    let response = f.handle(&redelivery(&event, &failed), 5000).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let written = f.stream.written_ids();
    assert_eq!(
        written.len(),
        unique(&written).len(),
        "nothing written twice"
    );
    assert_eq!(unique(&written), good);
    let quarantined = quarantine_entries(&f);
    assert_eq!(quarantined.len(), poison, "each poison user record once");
    assert!(
        quarantined
            .iter()
            .all(|(_, sub, reason)| sub.is_some() && *reason == PoisonReason::InvalidJson)
    );
}
