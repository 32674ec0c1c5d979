//! What Lambda hands the function: a Kinesis batch, an MSK (or self-managed Kafka) batch, or an
//! ops command. Records are deserialized one by one into the aws_lambda_events types so that a
//! single malformed record (bad base64, a missing field) becomes poison for that record, not a
//! failure of the whole batch.
//!
//! Three paths, fastest first: `one_pass.rs` reads a well-formed batch in one SIMD pass; a
//! Kinesis batch with a record the types refuse is read record by record (`decode.rs`); the
//! probe of the top-level members tells a command, a Kafka batch with a bad record, and
//! anything else apart.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

mod batch;
mod decode;
mod headers;
pub mod kpl;
mod one_pass;

pub use batch::{InputError, InputRecord, Invocation, KafkaHeaders, Original, StreamBatch};
pub use headers::{kafka_headers_from_json, kafka_headers_json};

use crate::encoding::json_kind;
use crate::origin::{LaneNames, SourceKind};
use decode::{is_kafka_source, kafka_record, kinesis_record};

/// The common case, a Kinesis batch, in one pass over the payload.
#[derive(Deserialize)]
struct KinesisProbe<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<&'a RawValue>,
    #[serde(default)]
    command: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "Records", borrow, default)]
    upper_records: Option<&'a RawValue>,
    #[serde(rename = "records", borrow, default)]
    lower_records: Option<&'a RawValue>,
    #[serde(rename = "eventSource", default)]
    event_source: Option<String>,
    #[serde(default)]
    command: Option<&'a RawValue>,
}

/// Classifies and decodes a payload. Lanes and records keep their delivered order; Kafka lanes
/// (topic-partitions) are sorted by name so results are deterministic.
pub fn parse_invocation(json: &str) -> Result<Invocation, InputError> {
    not_an_object(json)?;
    if let Some(batch) = one_pass::one_pass(json) {
        return Ok(Invocation::Stream(batch));
    }
    parse_record_by_record(json)
}

/// The one-pass path alone: the batch when it takes the payload, `None` where it leaves it
/// to the record-by-record path. For the tests that hold the two paths to each other.
#[doc(hidden)]
pub fn parse_one_pass(json: &str) -> Option<StreamBatch> {
    one_pass::one_pass(json)
}

/// [`parse_invocation`] without the one-pass path: what a payload the one-pass path declines
/// comes to (and what any payload would come to, had it declined it).
#[doc(hidden)]
pub fn parse_record_by_record(json: &str) -> Result<Invocation, InputError> {
    not_an_object(json)?;
    if let Ok(k) = serde_json::from_str::<KinesisProbe>(json)
        && k.command.is_none()
    {
        return kinesis_batch(k.records).map(Invocation::Stream);
    }
    by_probe(json)
}

/// serde would happily read a struct from a JSON array; only objects are events.
fn not_an_object(json: &str) -> Result<(), InputError> {
    if json.trim_start().starts_with('{') {
        return Ok(());
    }
    Err(match serde_json::from_str::<Value>(json) {
        Ok(v) => InputError::Unrecognized(describe_keys(&v)),
        Err(e) => InputError::NotJson(e.to_string()),
    })
}

/// The record-by-record path for whatever the faster ones did not take.
fn by_probe(json: &str) -> Result<Invocation, InputError> {
    let probe: Probe = serde_json::from_str(json).map_err(|e| {
        // A payload that is valid JSON but not an object is unrecognized, not "not JSON".
        match serde_json::from_str::<Value>(json) {
            Ok(v) => InputError::Unrecognized(describe_keys(&v)),
            Err(_) => InputError::NotJson(e.to_string()),
        }
    })?;
    if probe.command.is_some() {
        let v: Value =
            serde_json::from_str(json).map_err(|e| InputError::NotJson(e.to_string()))?;
        return Ok(Invocation::Command(v));
    }
    if let Some(records) = probe.upper_records {
        let records: Vec<&RawValue> = serde_json::from_str(records.get()).map_err(|e| {
            InputError::Unrecognized(format!("Records (not a list of records: {e})"))
        })?;
        return kinesis_batch(records).map(Invocation::Stream);
    }
    if let Some(lanes) = probe.lower_records {
        let lanes: BTreeMap<String, Vec<&RawValue>> =
            serde_json::from_str(lanes.get()).map_err(|e| {
                InputError::Unrecognized(format!(
                    "records (not a map of topic-partition to records: {e})"
                ))
            })?;
        if is_kafka_source(probe.event_source.as_deref()) {
            return Ok(Invocation::Stream(kafka_batch(lanes)));
        }
    }
    let v: Value = serde_json::from_str(json).map_err(|e| InputError::NotJson(e.to_string()))?;
    Err(InputError::Unrecognized(describe_keys(&v)))
}

/// Kinesis records one by one: a record the type refuses is poison for itself alone.
fn kinesis_batch(records: Vec<&RawValue>) -> Result<StreamBatch, InputError> {
    let mut out = Vec::with_capacity(records.len());
    let mut names = LaneNames::default();
    for raw in records {
        kinesis_record(raw, &mut names, &mut out)?;
    }
    Ok(StreamBatch {
        source: SourceKind::Kinesis,
        records: out,
    })
}

/// Kafka records one by one, lanes in name order.
fn kafka_batch(lanes: BTreeMap<String, Vec<&RawValue>>) -> StreamBatch {
    let mut out = Vec::new();
    let mut names = LaneNames::default();
    for (lane, records) in lanes {
        for raw in records {
            out.push(kafka_record(&lane, raw, &mut names));
        }
    }
    StreamBatch {
        source: SourceKind::Msk,
        records: out,
    }
}

fn describe_keys(v: &Value) -> String {
    match v {
        Value::Object(m) if m.is_empty() => "none (empty object)".into(),
        Value::Object(m) => m.keys().take(8).cloned().collect::<Vec<_>>().join(", "),
        other => format!("none (a JSON {})", json_kind(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::decode::topic_from_lane;
    use super::*;
    use crate::poison::PoisonReason;

    fn kinesis_event(data: &str, seq: &str) -> String {
        serde_json::json!({"Records": [{
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "u1", "sequenceNumber": seq,
                        "data": data, "approximateArrivalTimestamp": 1763892000.123},
            "eventSource": "aws:kinesis", "eventVersion": "1.0",
            "eventID": format!("shardId-000000000001:{seq}"), "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::123456789012:role/r", "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/streamops-raw"
        }]})
        .to_string()
    }

    fn stream(inv: Invocation) -> StreamBatch {
        match inv {
            Invocation::Stream(b) => b,
            other => panic!("expected a stream batch, got {other:?}"),
        }
    }

    #[test]
    fn arrays_are_not_batches_on_either_path() {
        // serde and sonic-rs both read a struct from an array: `[[]]` would be an empty
        // Kinesis batch. Found by the junk property test.
        for json in ["[[]]", " [[], null]", "[{\"Records\": []}]"] {
            assert!(one_pass::one_pass(json).is_none(), "{json}");
            assert!(matches!(
                parse_record_by_record(json),
                Err(InputError::Unrecognized(_))
            ));
        }
    }

    #[test]
    fn kinesis_record_coordinates() {
        let b = stream(parse_invocation(&kinesis_event("eyJhIjoxfQ==", "4959")).unwrap());
        assert_eq!(b.source, SourceKind::Kinesis);
        let r = &b.records[0];
        assert_eq!(&*r.origin.stream, "streamops-raw");
        assert_eq!(&*r.origin.shard, "shardId-000000000001");
        assert_eq!(r.origin.position, "4959");
        assert_eq!(r.bytes(), br#"{"a":1}"#);
        assert_eq!(r.origin.arrival.unwrap().timestamp_millis(), 1763892000123);
        assert!(r.poison.is_none());
    }

    #[test]
    fn the_one_pass_path_and_the_per_record_path_agree() {
        let ev = kinesis_event(
            "eyJhIjoxfQ==",
            "49590338271490256608559692538361571095921575989136588898",
        );
        let fast = stream(parse_invocation(&ev).unwrap());
        let v: serde_json::Value = serde_json::from_str(&ev).unwrap();
        let raw = serde_json::value::to_raw_value(&v["Records"][0]).unwrap();
        let mut slow = Vec::new();
        kinesis_record(&raw, &mut LaneNames::default(), &mut slow).unwrap();
        assert_eq!(fast.records[0].origin, slow[0].origin);
        assert_eq!(fast.records[0].original, slow[0].original);
        // One bad record sends the batch down the per-record path; the good one is still decoded.
        let mut v2 = v.clone();
        let mut bad = v["Records"][0].clone();
        bad["kinesis"]["data"] = serde_json::json!("%%%");
        v2["Records"].as_array_mut().unwrap().push(bad);
        let mixed = stream(parse_invocation(&v2.to_string()).unwrap());
        assert!(mixed.records[0].poison.is_none());
        assert_eq!(mixed.records[0].origin, fast.records[0].origin);
        assert_eq!(
            mixed.records[1].poison.as_ref().unwrap().reason,
            PoisonReason::InvalidBase64
        );
    }

    #[test]
    fn arrival_times_are_exact_on_both_paths() {
        // aws_lambda_events alone reads .5 as 5 ms and .98 as 98 ms (see crate::arrival).
        for (arrival, millis) in [(".5", 500), (".98", 980), (".05", 50), (".123", 123)] {
            let ev = kinesis_event("eyJhIjoxfQ==", "7")
                .replace("1763892000.123", &format!("1763892000{arrival}"));
            let fast = stream(parse_invocation(&ev).unwrap());
            // A second, bad record sends the batch down the per-record path.
            let mut v: serde_json::Value = serde_json::from_str(&ev).unwrap();
            let mut bad = v["Records"][0].clone();
            bad["kinesis"]["data"] = serde_json::json!("%%%");
            v["Records"].as_array_mut().unwrap().push(bad);
            let slow = stream(parse_invocation(&v.to_string()).unwrap());
            for r in [&fast.records[0], &slow.records[0], &slow.records[1]] {
                let at = r.origin.arrival.unwrap();
                assert_eq!(
                    at.timestamp_millis(),
                    1_763_892_000_000 + millis,
                    "{arrival}"
                );
            }
        }
    }

    #[test]
    fn bad_base64_is_poison_for_that_record_only() {
        let b = stream(parse_invocation(&kinesis_event("not base64!!", "7")).unwrap());
        let r = &b.records[0];
        assert_eq!(
            r.poison.as_ref().unwrap().reason,
            PoisonReason::InvalidBase64
        );
        assert_eq!(r.origin.position, "7");
        assert_eq!(r.original, Original::Undecoded("not base64!!".into()));
    }

    #[test]
    fn kafka_lanes_topics_with_dashes_and_tombstones() {
        let ev = serde_json::json!({
            "eventSource": "aws:kafka",
            "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/c/abc",
            "records": {
                "click-events-1": [
                    {"topic": "click-events", "partition": 1, "offset": 15, "timestamp": 1763892000000i64,
                     "timestampType": "CREATE_TIME", "key": "dTE=", "value": "eyJhIjoxfQ==",
                     "headers": [{"trace": [97, 98]}]},
                    {"topic": "click-events", "partition": 1, "offset": 16, "timestamp": 1763892000000i64,
                     "timestampType": "CREATE_TIME", "key": null, "value": null, "headers": []}
                ]
            }
        });
        let b = stream(parse_invocation(&ev.to_string()).unwrap());
        assert_eq!(b.source, SourceKind::Msk);
        assert_eq!(&*b.records[0].origin.stream, "click-events");
        assert_eq!(&*b.records[0].origin.shard, "1");
        let json = kafka_headers_json(&b.records[0].headers).unwrap();
        assert_eq!(json["trace"], "ab");
        assert_eq!(kafka_headers_from_json(Some(&json)), b.records[0].headers);
        let binary = vec![std::collections::HashMap::from([(
            "bin".to_string(),
            vec![-1i8, 0],
        )])];
        let json = kafka_headers_json(&binary).unwrap();
        assert_eq!(json["bin"], "base64:/wA=");
        assert_eq!(kafka_headers_from_json(Some(&json)), binary);
        assert_eq!(
            b.records[1].poison.as_ref().unwrap().reason,
            PoisonReason::EmptyRecord
        );
        assert_eq!(topic_from_lane("a-b-c-12"), "a-b-c");
    }

    #[test]
    fn kafka_one_pass_and_per_record_paths_agree_and_lanes_are_in_name_order() {
        let rec = |partition: i64, offset: i64, value: &str| {
            serde_json::json!({"topic": "t", "partition": partition, "offset": offset,
                "timestamp": 1763892000000i64, "timestampType": "CREATE_TIME", "key": "dTE=",
                "value": value, "headers": []})
        };
        // Lanes out of name order in the payload.
        let mut ev = serde_json::json!({"eventSource": "aws:kafka", "records": {
            "t-2": [rec(2, 7, "eyJhIjoxfQ=="), rec(2, 8, "eyJhIjoyfQ==")],
            "t-0": [rec(0, 3, "eyJhIjozfQ==")],
        }});
        let fast = stream(parse_invocation(&ev.to_string()).unwrap());
        let order: Vec<(&str, &str)> = fast
            .records
            .iter()
            .map(|r| (&*r.origin.shard, r.origin.position.as_str()))
            .collect();
        assert_eq!(order, [("0", "3"), ("2", "7"), ("2", "8")]);
        // A record the type rejects (no offset) sends the batch down the per-record path.
        let mut broken = rec(2, 9, "eyJhIjo0fQ==");
        broken.as_object_mut().unwrap().remove("offset");
        ev["records"]["t-2"].as_array_mut().unwrap().push(broken);
        let slow = stream(parse_invocation(&ev.to_string()).unwrap());
        for (f, s) in fast.records.iter().zip(&slow.records) {
            assert_eq!(f.origin, s.origin);
            assert_eq!(f.original, s.original);
        }
        assert_eq!(
            slow.records[3].poison.as_ref().unwrap().reason,
            PoisonReason::MalformedRecord
        );
        assert_eq!(fast.records[0].bytes(), br#"{"a":3}"#);
        // A value that is not base64 is poison for that record, on the one-pass path too.
        let ev = serde_json::json!({"eventSource": "aws:kafka", "records": {
            "t-0": [rec(0, 1, "%%%="), rec(0, 2, "eyJhIjoxfQ==")]}});
        let b = stream(parse_invocation(&ev.to_string()).unwrap());
        let poison = b.records[0].poison.as_ref().unwrap();
        assert_eq!(poison.reason, PoisonReason::InvalidBase64);
        assert!(
            poison.message.contains("Invalid symbol"),
            "{}",
            poison.message
        );
        assert_eq!(b.records[0].original, Original::Undecoded("%%%=".into()));
        assert_eq!(b.records[1].bytes(), br#"{"a":1}"#);
    }

    #[test]
    fn unrecognized_payloads_say_what_they_saw() {
        assert!(matches!(
            parse_invocation("{\"x\":1"),
            Err(InputError::NotJson(_))
        ));
        let e = parse_invocation("[1,2]").unwrap_err().to_string();
        assert!(e.contains("a JSON array"), "{e}");
        let e = parse_invocation(r#"{"detail-type":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("detail-type"), "{e}");
        assert!(matches!(
            parse_invocation(r#"{"command":"dry-run"}"#),
            Ok(Invocation::Command(_))
        ));
    }

    fn kafka_rec(offset: i64, timestamp: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"topic": "clickstream", "partition": 0, "offset": offset,
            "timestamp": timestamp, "timestampType": "CREATE_TIME", "key": "dTE=",
            "value": "eyJhIjoxfQ==", "headers": []})
    }

    /// Both paths: the one-pass path as delivered, and the record-by-record path (a second
    /// lane with a record the schema rejects sends the batch there).
    fn both_paths(records: Vec<serde_json::Value>) -> (StreamBatch, StreamBatch) {
        let ev =
            serde_json::json!({"eventSource": "aws:kafka", "records": {"clickstream-0": records}});
        let fast = stream(parse_invocation(&ev.to_string()).unwrap());
        let mut slow = ev.clone();
        let mut broken = kafka_rec(1, serde_json::json!(1));
        broken.as_object_mut().unwrap().remove("partition");
        slow["records"]["zz-9"] = serde_json::json!([broken]);
        let slow = stream(parse_invocation(&slow.to_string()).unwrap());
        assert_eq!(slow.records.len(), fast.records.len() + 1);
        (fast, slow)
    }

    #[test]
    fn a_fractional_kafka_timestamp_is_poison_for_that_record_not_a_panic() {
        let (fast, slow) = both_paths(vec![
            kafka_rec(10, serde_json::json!(1545084650987i64)),
            kafka_rec(11, serde_json::json!(1545084650987.5)),
            kafka_rec(12, serde_json::json!(1545084650988i64)),
        ]);
        for b in [&fast, &slow] {
            assert!(b.records[0].poison.is_none());
            assert!(b.records[2].poison.is_none());
            let p = b.records[1]
                .poison
                .as_ref()
                .expect("the fractional one is poison");
            assert_eq!(p.reason, PoisonReason::MalformedRecord);
            assert!(
                p.message.contains("timestamp 1545084650987.5"),
                "{}",
                p.message
            );
            assert_eq!(
                b.records[1].bytes(),
                br#"{"a":1}"#,
                "the bytes are kept for the quarantine"
            );
        }
        for (f, s) in fast.records.iter().zip(&slow.records) {
            assert_eq!(f.origin, s.origin);
            assert_eq!(f.poison, s.poison);
        }
    }

    #[test]
    fn kafka_no_timestamp_is_accepted_without_an_arrival_time() {
        let (fast, slow) = both_paths(vec![kafka_rec(10, serde_json::json!(-1))]);
        for b in [&fast, &slow] {
            assert!(b.records[0].poison.is_none(), "{:?}", b.records[0].poison);
            assert_eq!(b.records[0].origin.arrival, None);
        }
    }

    #[test]
    fn kafka_arrival_times_are_exact_on_both_paths() {
        // The float reading of aws_lambda_events puts about half of these 1 ms early.
        let stamps: Vec<i64> = (0..200).map(|i| 1_545_084_650_900 + i).collect();
        let (fast, slow) = both_paths(
            stamps
                .iter()
                .enumerate()
                .map(|(i, t)| kafka_rec(i as i64, serde_json::json!(t)))
                .collect(),
        );
        for b in [&fast, &slow] {
            for (r, t) in b.records.iter().zip(&stamps) {
                assert_eq!(r.origin.arrival.unwrap().timestamp_millis(), *t);
            }
        }
    }
}
