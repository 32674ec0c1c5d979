//! The input layer on generated Kinesis and Kafka batches with random poison: the one-pass
//! path reads exactly what the record-by-record path reads (same records, same order, same
//! poison), takes every batch whose records the types accept, and both read each record as
//! aws_lambda_events (Kinesis) or the Kafka schema (MSK) has it.

use aws_lambda_events::kinesis::KinesisEventRecord;
use enrich::input::{
    InputRecord, Invocation, Original, StreamBatch, parse_invocation, parse_one_pass,
    parse_record_by_record,
};
use enrich::origin::{SourceKind, is_position};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

use crate::envelope::*;

pub fn stream(inv: Result<Invocation, enrich::input::InputError>) -> StreamBatch {
    match inv {
        Ok(Invocation::Stream(b)) => b,
        other => panic!("expected a stream batch, got {other:?}"),
    }
}

/// Two readings of one batch record for record: coordinates, payload, poison and headers.
pub fn same_records(a: &[InputRecord], b: &[InputRecord]) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        prop_assert_eq!(&x.origin, &y.origin, "record {}", i);
        prop_assert_eq!(&x.original, &y.original, "record {}", i);
        prop_assert_eq!(&x.poison, &y.poison, "record {}", i);
        prop_assert_eq!(&x.headers, &y.headers, "record {}", i);
    }
    Ok(())
}

/// Both paths of a payload: whatever the one-pass path takes, the record-by-record path
/// reads the same; and `parse_invocation` is the one or the other.
pub fn paths_agree(json: &str) -> Result<Option<StreamBatch>, TestCaseError> {
    let slow = parse_record_by_record(json);
    let via = parse_invocation(json);
    let Some(fast) = parse_one_pass(json) else {
        prop_assert_eq!(format!("{slow:?}"), format!("{via:?}"));
        return Ok(None);
    };
    let Ok(Invocation::Stream(slow)) = slow else {
        return Err(TestCaseError::fail(format!(
            "the one-pass path took a batch the record-by-record path reads as {slow:?}"
        )));
    };
    prop_assert_eq!(fast.source, slow.source);
    same_records(&fast.records, &slow.records)?;
    same_records(&fast.records, &stream(via).records)?;
    Ok(Some(fast))
}

pub fn kinesis_reference(r: &KinesisRecord, got: &InputRecord) -> Result<(), TestCaseError> {
    let v = r.to_json();
    match serde_json::from_value::<KinesisEventRecord>(v.clone()) {
        Ok(typed) => {
            prop_assert!(!r.refused_by_the_type(), "{:?}", r.fault);
            prop_assert_eq!(
                &got.original,
                &Original::Bytes(typed.kinesis.data.0.clone())
            );
            prop_assert_eq!(&got.origin.position, &typed.kinesis.sequence_number);
            prop_assert_eq!(got.origin.key.as_ref(), Some(&typed.kinesis.partition_key));
        }
        Err(_) => {
            prop_assert!(r.refused_by_the_type(), "{:?}", r.fault);
            let data = v["kinesis"]["data"].as_str().unwrap_or_default();
            prop_assert_eq!(&got.original, &Original::Undecoded(data.to_string()));
            prop_assert_eq!(&got.origin.position, &r.sequence);
            prop_assert_eq!(got.origin.key.as_ref(), Some(&r.partition_key));
        }
    }
    prop_assert_eq!(got.origin.source, SourceKind::Kinesis);
    prop_assert_eq!(&*got.origin.stream, STREAM);
    prop_assert_eq!(got.origin.shard.to_string(), shard_id(r.shard));
    let arrival = got.origin.arrival.map(|t| t.timestamp_millis());
    let want = (r.fault != KinesisFault::NoArrival).then_some(r.arrival);
    prop_assert_eq!(arrival, want, "arrival {}", seconds_text(r.arrival));
    prop_assert_eq!(got.poison.as_ref().map(|p| p.reason), r.envelope_poison());
    if let Some(p) = &got.poison {
        prop_assert!(!p.message.is_empty());
    }
    Ok(())
}

fn kafka_reference(r: &KafkaRecord, got: &InputRecord) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.origin.source, SourceKind::Msk);
    prop_assert_eq!(&*got.origin.stream, r.topic.as_str());
    prop_assert_eq!(got.origin.shard.to_string(), r.partition.to_string());
    let position = match r.fault {
        KafkaFault::NoOffset | KafkaFault::OffsetText => String::new(),
        KafkaFault::NegativeOffset => (-r.offset - 1).to_string(),
        _ => r.offset.to_string(),
    };
    prop_assert_eq!(&got.origin.position, &position);
    prop_assert_eq!(&got.origin.key, &r.key);
    let arrival = got.origin.arrival.map(|t| t.timestamp_millis());
    prop_assert_eq!(
        arrival,
        r.time.arrival.ok().flatten(),
        "timestamp {}",
        r.time.value
    );
    prop_assert_eq!(got.poison.as_ref().map(|p| p.reason), r.envelope_poison());
    let headers: Vec<_> = r
        .headers
        .iter()
        .map(|(k, v)| std::collections::HashMap::from([(k.clone(), v.clone())]))
        .collect();
    if r.schema_error() {
        prop_assert!(got.headers.is_empty());
    } else {
        prop_assert_eq!(&got.headers, &headers);
    }
    if r.envelope_poison().is_none() {
        prop_assert_eq!(got.bytes(), &r.payload.bytes[..]);
    }
    Ok(())
}

proptest! {
    #[test]
    fn kinesis_paths_agree_and_the_one_pass_path_takes_what_the_types_accept(
        records in prop::collection::vec(kinesis_record(), 1..10)
    ) {
        let json = kinesis_event(&records).to_string();
        let fast = paths_agree(&json)?;
        let refused = records.iter().any(KinesisRecord::refused_by_the_type);
        prop_assert_eq!(fast.is_none(), refused, "one-pass took the batch: {}", fast.is_some());
    }

    #[test]
    fn kinesis_records_read_as_aws_lambda_events_reads_them(
        records in prop::collection::vec(kinesis_record(), 1..10)
    ) {
        let b = stream(parse_invocation(&kinesis_event(&records).to_string()));
        prop_assert_eq!(b.source, SourceKind::Kinesis);
        prop_assert_eq!(b.records.len(), records.len());
        for (r, got) in records.iter().zip(&b.records) {
            kinesis_reference(r, got)?;
        }
    }

    #[test]
    fn kafka_paths_agree_and_records_read_as_the_schema_says(
        records in prop::collection::vec(kafka_record(), 1..10),
        source in prop::sample::select(vec!["aws:kafka", "SelfManagedKafka"]),
    ) {
        let json = kafka_event(&records, source).to_string();
        let fast = paths_agree(&json)?;
        let refused = records.iter().any(KafkaRecord::schema_error);
        prop_assert_eq!(fast.is_none(), refused, "one-pass took the batch: {}", fast.is_some());
        let b = stream(parse_invocation(&json));
        prop_assert_eq!(b.source, SourceKind::Msk);
        prop_assert_eq!(b.records.len(), records.len());
        for (r, got) in kafka_order(&records).into_iter().zip(&b.records) {
            kafka_reference(r, got)?;
        }
    }

    #[test]
    fn a_kafka_lane_named_twice_reads_the_same_on_both_paths(
        first in prop::collection::vec(kafka_record(), 1..4),
        second in prop::collection::vec(kafka_record(), 1..4),
    ) {
        // Lambda never sends one, but a payload may hold a lane twice: a map keeps the last.
        let lane = |rs: &[KafkaRecord]| {
            Value::Array(rs.iter().map(KafkaRecord::to_json).collect()).to_string()
        };
        let json = format!(
            r#"{{"eventSource":"aws:kafka","records":{{"t-0":{},"t-0":{}}}}}"#,
            lane(&first),
            lane(&second)
        );
        paths_agree(&json)?;
    }
}

/// Every record of a batch has its coordinates, or is poison that says why not.
pub fn accounted_for(b: &StreamBatch) -> Result<(), TestCaseError> {
    for r in &b.records {
        match &r.poison {
            None => prop_assert!(is_position(&r.origin.position), "{:?}", r.origin),
            Some(p) => prop_assert!(!p.message.is_empty()),
        }
    }
    Ok(())
}
