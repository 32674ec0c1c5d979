//! Input events built from the `events/enrich` fixtures, for the fake-backed and the moto tests.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use enrich::spec::EnrichmentSpec;
use serde_json::{Value, json};
use streamops_test_support::fixture;

/// The fixture batch plus `extra` generated good records (`gen-NNNN`) on the same shard.
pub fn kinesis_batch(extra: usize) -> Value {
    let mut ev = fixture("enrich/kinesis-mixed-batch.json");
    let records = ev["Records"].as_array_mut().unwrap();
    let template = records[0].clone();
    let last: u128 = records.last().unwrap()["kinesis"]["sequenceNumber"]
        .as_str()
        .unwrap()[30..]
        .parse()
        .unwrap();
    let prefix = records[0]["kinesis"]["sequenceNumber"].as_str().unwrap()[..30].to_string();
    for i in 0..extra {
        let mut r = template.clone();
        let seq = format!("{prefix}{:026}", last + 1000 * (i as u128 + 1));
        let body = json!({"event_id": format!("gen-{i:04}"), "event_type": "click", "user_id": format!("user-{}", i % 5),
                          "product_id": if i % 2 == 0 { "p-200" } else { "p-404" }, "email": format!("g{i}@example.com"),
                          "ts": 1_795_425_400_000i64 + i as i64});
        r["kinesis"]["sequenceNumber"] = json!(seq);
        r["eventID"] = json!(format!("shardId-000000000000:{seq}"));
        r["kinesis"]["data"] = json!(STANDARD.encode(body.to_string()));
        records.push(r);
    }
    ev
}

/// A Kinesis record's sequence number.
pub fn seq_of(r: &Value) -> String {
    r["kinesis"]["sequenceNumber"].as_str().unwrap().to_string()
}

/// What Lambda re-delivers after a partial failure: the records from the lowest reported one.
pub fn redelivery(event: &Value, failed: &BTreeSet<String>) -> Value {
    let lowest = failed
        .iter()
        .min_by(|a, b| enrich::origin::cmp_position(a, b))
        .unwrap()
        .clone();
    let mut retry = event.clone();
    retry["Records"] = Value::Array(
        event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                enrich::origin::cmp_position(&seq_of(r), &lowest) != std::cmp::Ordering::Less
            })
            .cloned()
            .collect(),
    );
    retry
}

/// The spec fix the replay tests make: `user_id` and `event_type` no longer required or typed,
/// partitioned by `event_id`.
pub fn relaxed_spec() -> EnrichmentSpec {
    EnrichmentSpec::parse(
        r#"{"name": "clickstream-v2", "fields": [{"name": "event_id", "type": "string"}],
            "event_time": {"field": "ts", "formats": ["rfc3339", "epoch_millis", "epoch_seconds"]},
            "partition_key": "event_id", "pii": [{"field": "email", "action": "hmac"}]}"#,
        "relaxed",
    )
    .unwrap()
}

#[allow(dead_code)] // the fake-backed format tests use it, the moto binary does not
/// `event`'s Kinesis records as a later batch of new records on `shard`: each sequence number
/// extended (the ledger sees records it has not met), the data the same.
pub fn as_new_records(event: &Value, shard: &str) -> Value {
    let mut next = event.clone();
    for r in next["Records"].as_array_mut().unwrap() {
        let seq = format!("{}7", r["kinesis"]["sequenceNumber"].as_str().unwrap());
        r["eventID"] = format!("{shard}:{seq}").into();
        r["kinesis"]["sequenceNumber"] = seq.into();
    }
    next
}
