//! The KPL fixture, made by a real producer (aws-kinesis-agg, tests/support/kpl_fixture.py),
//! reads back as exactly the user records the producer was given: per Kinesis record, its user
//! records in order with their partition keys, data and sub-sequence numbers (0, 1, ...), all
//! under the Kinesis record's sequence number; the plain record as it is; the damaged aggregate
//! as one record quarantined whole. On both input paths.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use enrich::input::{
    InputRecord, Invocation, Original, StreamBatch, parse_invocation, parse_one_pass,
    parse_record_by_record,
};
use enrich::poison::PoisonReason;
use serde_json::Value;
use streamops_test_support::repo_root;

fn fixture() -> (String, Vec<Value>) {
    let dir = repo_root().join("events").join("enrich");
    let event = std::fs::read_to_string(dir.join("kinesis-kpl-aggregated.json")).unwrap();
    let users = std::fs::read_to_string(dir.join("kinesis-kpl-aggregated.users.jsonl")).unwrap();
    let users = users
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (event, users)
}

fn stream(inv: Invocation) -> StreamBatch {
    match inv {
        Invocation::Stream(b) => b,
        other => panic!("expected a stream batch, got {other:?}"),
    }
}

/// Checks `records` against the producer's list, Kinesis record by Kinesis record.
fn matches_the_producer(records: &[InputRecord], expected: &[Value], event: &Value) {
    let mut at = 0;
    for (k, want) in expected.iter().enumerate() {
        let seq = want["sequenceNumber"].as_str().unwrap();
        let delivered = &event["Records"][k]["kinesis"];
        match want["kind"].as_str().unwrap() {
            "aggregate" => {
                for (sub, user) in want["users"].as_array().unwrap().iter().enumerate() {
                    let got = &records[at];
                    at += 1;
                    assert_eq!(got.origin.position, seq);
                    assert_eq!(got.origin.sub_sequence, Some(sub as u32), "{seq}");
                    assert_eq!(
                        got.origin.key.as_deref(),
                        user["partitionKey"].as_str(),
                        "{seq}.{sub}"
                    );
                    let data = STANDARD.decode(user["data"].as_str().unwrap()).unwrap();
                    assert_eq!(got.original, Original::Bytes(data), "{seq}.{sub}");
                    assert!(got.poison.is_none(), "{seq}.{sub}: {:?}", got.poison);
                }
            }
            "plain" => {
                let got = &records[at];
                at += 1;
                assert_eq!(
                    (got.origin.position.as_str(), got.origin.sub_sequence),
                    (seq, None)
                );
                let data = STANDARD
                    .decode(delivered["data"].as_str().unwrap())
                    .unwrap();
                assert_eq!(got.original, Original::Bytes(data));
                assert_eq!(
                    got.origin.key.as_deref(),
                    delivered["partitionKey"].as_str()
                );
            }
            "corrupt" => {
                let got = &records[at];
                at += 1;
                assert_eq!(
                    (got.origin.position.as_str(), got.origin.sub_sequence),
                    (seq, None)
                );
                let poison = got
                    .poison
                    .as_ref()
                    .expect("the damaged aggregate is poison");
                assert_eq!(poison.reason, PoisonReason::CorruptAggregate);
                assert!(poison.message.contains("MD5"), "{}", poison.message);
                // Quarantined whole: the aggregate's bytes as delivered, for a replay.
                let data = STANDARD
                    .decode(delivered["data"].as_str().unwrap())
                    .unwrap();
                assert_eq!(got.original, Original::Bytes(data));
            }
            other => panic!("unknown kind {other}"),
        }
    }
    assert_eq!(at, records.len(), "records beyond what the producer made");
}

#[test]
fn the_producers_aggregates_read_back_as_its_user_records_on_both_paths() {
    let (event, expected) = fixture();
    let v: Value = serde_json::from_str(&event).unwrap();
    let fast = parse_one_pass(&event).expect("a well-formed batch takes the one-pass path");
    let slow = stream(parse_record_by_record(&event).unwrap());
    let via = stream(parse_invocation(&event).unwrap());
    for batch in [&fast, &slow, &via] {
        matches_the_producer(&batch.records, &expected, &v);
    }
    let users: usize = expected
        .iter()
        .map(|w| w["users"].as_array().map_or(1, Vec::len))
        .sum();
    assert_eq!(fast.records.len(), users);
    // Every user record has an event id of its own.
    let mut ids: Vec<String> = fast.records.iter().map(|r| r.origin.event_id()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), users);
}
