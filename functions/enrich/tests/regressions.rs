//! Issue 14: Kafka record timestamps as MSK delivers them. Written against `parse_invocation`
//! (the crate's long-standing API), so they run against the code before the fix too (where
//! they fail: a panic, a rejected `-1`, an arrival 1 ms early). Issue 16: what the
//! generated-input tests (tests/properties) found, below.

use enrich::input::{Invocation, StreamBatch, parse_invocation};
use enrich::poison::PoisonReason;
use serde_json::{Value, json};
use streamops_test_support::fixture;

fn batch(v: &Value) -> StreamBatch {
    match parse_invocation(&v.to_string()).unwrap() {
        Invocation::Stream(b) => b,
        other => panic!("{other:?}"),
    }
}

/// Defect 8: a timestamp that is not an integer, in the middle of a batch.
#[test]
fn a_fractional_kafka_timestamp_is_poison_for_that_record_only() {
    let b = batch(&fixture("enrich/msk-timestamp-edge-cases.json"));
    assert_eq!(b.records.len(), 4);
    let reason = |i: usize| b.records[i].poison.as_ref().map(|p| p.reason);
    assert_eq!(reason(0), None);
    assert_eq!(reason(1), Some(PoisonReason::MalformedRecord));
    assert_eq!(reason(2), None);
    assert_eq!(reason(3), None);
}

/// Defect 8: Kafka's "no timestamp" (`-1`) is accepted, without an arrival time.
#[test]
fn kafka_no_timestamp_is_accepted_without_an_arrival_time() {
    let b = batch(&fixture("enrich/msk-timestamp-edge-cases.json"));
    let r = &b.records[2];
    assert_eq!(r.origin.position, "202");
    assert!(r.poison.is_none(), "{:?}", r.poison);
    assert_eq!(r.origin.arrival, None);
}

/// Defect 9: MSK arrival times are exact (the float reading put about half 1 ms early), on the
/// one-pass path and on the record-by-record path alike.
#[test]
fn msk_arrival_times_are_exact_on_both_paths() {
    let sample = fixture("enrich/msk-docs-sample.json");
    let fast = batch(&sample);
    assert_eq!(
        fast.records[0].origin.arrival.unwrap().timestamp_millis(),
        1_545_084_650_987
    );
    let mut v = sample.clone();
    let lane = v["records"]["mytopic-0"].as_array_mut().unwrap();
    for (i, r) in lane.iter_mut().enumerate() {
        r["timestamp"] = json!(1_545_084_650_900i64 + i as i64);
    }
    let mut stamps: Vec<i64> = Vec::new();
    for i in 2..200 {
        let mut r = lane[1].clone();
        r["offset"] = json!(100 + i);
        r["timestamp"] = json!(1_545_084_650_900i64 + i);
        lane.push(r);
    }
    for i in 0..lane.len() as i64 {
        stamps.push(1_545_084_650_900 + i);
    }
    let fast = batch(&v);
    // A record without a partition sends the batch down the record-by-record path.
    let mut slow = v.clone();
    let mut broken = slow["records"]["mytopic-0"][0].clone();
    broken.as_object_mut().unwrap().remove("partition");
    slow["records"]["other-1"] = json!([broken]);
    let slow = batch(&slow);
    for b in [&fast, &slow] {
        for (r, t) in b.records.iter().zip(&stamps) {
            assert_eq!(r.origin.arrival.unwrap().timestamp_millis(), *t);
        }
    }
}

// Issue 16: defects the generated-input tests (tests/properties) found, each with the
// minimal input they shrank to.

fn shipped_enricher() -> enrich::pipeline::Enricher {
    let spec = enrich::spec::EnrichmentSpec::parse(enrich::spec::DEFAULT_SPEC, "shipped").unwrap();
    enrich::pipeline::Enricher::new(spec, Some(b"regression-hmac-key-0123")).unwrap()
}

/// Found by `every_kinesis_record_is_enriched_or_poison_with_its_reason_on_both_paths`: an
/// RFC 3339 time whose offset takes it into year 10000 in UTC was enriched with
/// `event_time` "9999-01-01T00:00:00.000Z" and `dt` "9999-01-01" beside an `event_time_ms`
/// of 253402300800000; it is an unusable event time, as the epoch formats already had it.
#[test]
fn an_rfc3339_time_beyond_year_9999_in_utc_is_an_invalid_event_time() {
    let e = shipped_enricher();
    for ts in ["9999-12-31T12:12:00-11:48", "0000-01-01T00:30:00+01:00"] {
        let text = format!(r#"{{"event_id":"","event_type":"","ts":"{ts}","user_id":"_"}}"#);
        let p = e.prepare(text.as_bytes()).unwrap_err();
        assert_eq!(p.reason, PoisonReason::InvalidEventTime, "{ts}");
        assert!(p.message.contains("out of range"), "{}", p.message);
    }
    // The ends themselves are fine.
    for ts in [
        "9999-12-31T23:59:59.999Z",
        "0000-01-01T00:00:00Z",
        "1969-07-20T20:17:40Z",
    ] {
        let text = format!(r#"{{"event_id":"","event_type":"","ts":"{ts}","user_id":"_"}}"#);
        assert!(e.prepare(text.as_bytes()).is_ok(), "{ts}");
    }
}

/// Found by `a_spec_by_the_rules_parses_and_enriches_any_object_as_it_promises`: a PII rule on
/// the branch that holds the partition key (here `meta` for the key `meta.user`) protected the
/// output, while the key, read from the event as it came, went to Kinesis in the clear (and
/// was not what the output held). Such a spec is refused, naming both.
#[test]
fn a_pii_rule_on_the_partition_keys_branch_is_refused() {
    for action in ["hmac", "mask", "drop"] {
        let spec = format!(
            r#"{{"name": "g", "event_time": {{"field": "a", "formats": ["epoch_millis"]}},
                "partition_key": "meta.user", "pii": [{{"field": "meta", "action": "{action}"}}]}}"#
        );
        let e = enrich::spec::EnrichmentSpec::parse(&spec, "g.json").unwrap_err();
        assert!(
            e.contains("\"meta\"") && e.contains("partition key \"meta.user\""),
            "{action}: {e}"
        );
    }
    // A rule on the key's own field is fine: the key is what the output holds.
    let spec = r#"{"name": "g", "event_time": {"field": "a", "formats": ["epoch_millis"]},
        "partition_key": "meta.user", "pii": [{"field": "meta.user", "action": "hmac"},
        {"field": "metadata", "action": "drop"}]}"#;
    assert!(enrich::spec::EnrichmentSpec::parse(spec, "g.json").is_ok());
}

/// Found by `kinesis_records_read_as_aws_lambda_events_reads_them`: a record whose arrival
/// timestamp is a numeric string (which the Kinesis type reads) lost its arrival time when
/// another member made it poison (here `data` not base64): the record-by-record salvage read
/// numbers only. The quarantine entry now has it either way.
#[test]
fn a_refused_kinesis_record_keeps_an_arrival_written_as_a_string() {
    let record = |data: &str| {
        json!({"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "", "sequenceNumber": "1",
            "data": data, "approximateArrivalTimestamp": "1500000000"},
            "eventSource": "aws:kinesis", "eventID": "shardId-000000000000:1",
            "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/streamops-raw"})
    };
    let b = batch(&json!({"Records": [record("e30="), record("%e30=!")]}));
    for r in &b.records {
        assert_eq!(
            r.origin.arrival.map(|t| t.timestamp_millis()),
            Some(1_500_000_000_000)
        );
    }
    assert_eq!(
        b.records[1].poison.as_ref().map(|p| p.reason),
        Some(PoisonReason::InvalidBase64)
    );
}

/// Found by `a_kafka_lane_named_twice_reads_the_same_on_both_paths`: with a topic-partition
/// key twice in `records`, the one-pass path delivered both lanes' records and the
/// record-by-record path (a map) only the last: the same payload read two ways. Both keep the
/// last now.
#[test]
fn a_kafka_lane_named_twice_keeps_its_last_records_on_both_paths() {
    let rec = |offset: i64| {
        json!({"topic": "t", "partition": 0, "offset": offset, "timestamp": 1, "timestampType": "CREATE_TIME",
            "key": null, "value": "e30=", "headers": []})
    };
    let lane = |offset: i64| json!([rec(offset)]).to_string();
    let json = format!(
        r#"{{"eventSource":"aws:kafka","records":{{"t-0":{},"t-0":{}}}}}"#,
        lane(1),
        lane(2)
    );
    for b in [
        enrich::input::parse_one_pass(&json).unwrap(),
        match enrich::input::parse_record_by_record(&json).unwrap() {
            Invocation::Stream(b) => b,
            other => panic!("{other:?}"),
        },
    ] {
        let offsets: Vec<&str> = b
            .records
            .iter()
            .map(|r| r.origin.position.as_str())
            .collect();
        assert_eq!(offsets, ["2"]);
    }
}

/// Found by `kafka_headers_survive_their_json` and
/// `a_quarantined_record_comes_back_as_it_was_delivered`: the quarantine kept Kafka headers as
/// one JSON object, so a replayed record got them back in name order (`b` then `a` came back
/// `a`, `b`), a repeated name once, and a text header that starts with `base64:` decoded as
/// base64 (or dropped when it did not decode).
#[test]
fn kafka_headers_come_back_from_the_quarantine_as_delivered() {
    use enrich::input::{kafka_headers_from_json, kafka_headers_json};
    use std::collections::HashMap;
    let h = |name: &str, text: &str| {
        HashMap::from([(name.to_string(), text.bytes().map(|b| b as i8).collect())])
    };
    for headers in [
        vec![h("b", ""), h("a", "")],
        vec![h("trace", "1"), h("trace", "2")],
        vec![h("note", "base64:AAAA")],
        vec![h("note", "base64:!!")],
    ] {
        let json = kafka_headers_json(&headers);
        assert_eq!(kafka_headers_from_json(json.as_ref()), headers, "{json:?}");
    }
    // Distinct names in name order stay one readable object, as entries already written are.
    let json = kafka_headers_json(&vec![h("a", "x"), h("b", "y")]).unwrap();
    assert_eq!(json, json!({"a": "x", "b": "y"}));
}

/// Protobuf fast path (found by tests/properties/protobuf.rs): a 10-byte varint whose tenth
/// byte carries bits past 64 was read by the fast path and refused by prost; both refuse it.
#[test]
fn a_protobuf_varint_past_64_bits_is_undecodable_on_both_paths() {
    use enrich::values::protobuf::{ProtoSchema, to_json, with_dynamic_message};
    let text = "syntax = \"proto3\"; package r; message M { int64 n = 1; }";
    let desc = ProtoSchema::parse(text).unwrap().message("r.M").unwrap();
    let mut bytes = vec![0x08];
    bytes.extend_from_slice(&[0x80; 9]);
    bytes.push(0x02);
    assert!(with_dynamic_message(&desc, &bytes).is_err());
    assert_eq!(to_json(&desc, &bytes), with_dynamic_message(&desc, &bytes));
    // The tenth byte at 1 is the top bit: a number both read.
    *bytes.last_mut().unwrap() = 0x01;
    let json = to_json(&desc, &bytes).unwrap();
    assert_eq!(json, br#"{"n":-9223372036854775808}"#);
}
