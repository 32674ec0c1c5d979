//! Protobuf values through the service over the fakes (`support`), with the real producers'
//! fixtures (tests/support/protobuf_fixture.py: protoc and the protobuf package write the
//! messages, aws-glue-schema-registry's codec and confluent-kafka's serializer frame them): a
//! Glue-framed Kinesis batch and a Confluent-framed MSK batch with poison mixed in (no header,
//! an unknown id, an Avro schema's id, a truncated message, an index naming no message), v1
//! messages decoded with the v1 schema their header names next to v2 ones, the registry
//! unreachable (the batch retried, nothing quarantined), compiled schemas cached across
//! invocations, and bare messages with the configured schema. Every record ends exactly once.

mod support;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use enrich::poison::PoisonReason;
use enrich::quarantine::{QuarantineEntry, parse_ndjson};
use enrich::values::protobuf::{FixedMessage, ProtoSchema};
use enrich::values::{ValueConfig, ValueFormat};
use serde_json::Value;
use streamops_shared::harness::Classified;
use streamops_shared::{ErrorClass, Metrics};
use streamops_test_support::{fixture, repo_root};
use support::*;

fn proto_fixture(format: ValueFormat) -> RegistryFixture {
    let values = ValueConfig {
        format,
        ..ValueConfig::default()
    };
    registry_fixture("fail-batch", values, FakeRegistry::from_protobuf_fixture())
}

/// Delivered records carry the documents the protobuf package maps the messages to, compared
/// without the PII fields (64-bit integers exact).
const PROTECTED: Compared<'static> = Compared::AllBut(&["email", "ip"]);

fn expected(file: &str) -> Vec<Value> {
    expected_jsonl(file)
}

fn kafka_positions(event: &Value) -> Vec<String> {
    event["records"]["clicks-protobuf-0"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["offset"].to_string())
        .collect()
}

#[tokio::test]
async fn a_glue_framed_kinesis_batch_decodes_each_version_and_quarantines_its_poison() {
    let f = proto_fixture(ValueFormat::ProtobufGlue);
    let event = fixture("enrich/kinesis-protobuf-glue.json");
    let response = f.handle(&event).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let want = expected("protobuf-glue.expected.jsonl");
    f.assert_matches_the_producer(&kinesis_positions(&event), &want, PROTECTED);
    // v1, v2, the unknown id and the Avro schema: one registry call each.
    assert_eq!(f.registry.calls().len(), 4);
    let written = f.stream.written();
    let first: Value = serde_json::from_slice(&written[0].data).unwrap();
    // 2^53 + 8 is not a double: the integer's text is kept, not rounded through a float.
    assert_eq!(first["session_seq"].as_u64(), Some(9_007_199_254_741_000));
    assert_eq!(first["ts"], "2026-11-23T09:15:01.123Z");
}

#[tokio::test]
async fn a_confluent_framed_msk_batch_decodes_by_message_indexes() {
    let f = proto_fixture(ValueFormat::ProtobufConfluent);
    let event = fixture("enrich/msk-protobuf-confluent.json");
    let response = f.handle(&event).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let want = expected("protobuf-confluent.expected.jsonl");
    f.assert_matches_the_producer(&kafka_positions(&event), &want, PROTECTED);
    assert_eq!(f.registry.calls().len(), 3, "ids 1, 2 and the unknown 999");
}

#[tokio::test]
async fn an_unreachable_registry_fails_the_batch_retryably_and_the_retry_lands_everything_once() {
    let f = proto_fixture(ValueFormat::ProtobufGlue);
    let event = fixture("enrich/kinesis-protobuf-glue.json");
    f.registry.unreachable(1);
    let err = f.handle(&event).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert_eq!(err.kind(), "SchemaRegistryUnavailable");
    assert!(f.stream.written().is_empty() && f.entries().is_empty());
    f.handle(&event).await.unwrap();
    let want = expected("protobuf-glue.expected.jsonl");
    f.assert_matches_the_producer(&kinesis_positions(&event), &want, PROTECTED);
}

#[tokio::test]
async fn compiled_schemas_and_unknown_ids_are_cached_across_invocations() {
    let f = proto_fixture(ValueFormat::ProtobufGlue);
    let event = fixture("enrich/kinesis-protobuf-glue.json");
    f.handle(&event).await.unwrap();
    let after_first = f.registry.calls().len();
    let next = as_new_records(&event, "shardId-000000000004");
    f.handle(&next).await.unwrap();
    assert_eq!(f.registry.calls().len(), after_first);
    let unknown = f
        .entries()
        .iter()
        .filter(|e| e.reason == PoisonReason::UnknownSchema)
        .count();
    assert_eq!(
        unknown, 4,
        "the unknown id's and the Avro id's record in each batch"
    );
}

/// The fixture's uncompressed Glue values `which`, their 18-byte header and 1-byte message
/// index cut off (bare messages), the last one also cut short.
fn bare_messages(which: &[usize]) -> Value {
    let mut event = fixture("enrich/kinesis-protobuf-glue.json");
    let records = event["Records"].as_array_mut().unwrap();
    let keep: Vec<Value> = which
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            let mut r = records[i].clone();
            let value = STANDARD
                .decode(r["kinesis"]["data"].as_str().unwrap())
                .unwrap();
            let body = match n + 1 == which.len() {
                true => &value[19..value.len() - 5],
                false => &value[19..],
            };
            let seq = format!("{}{n}", r["kinesis"]["sequenceNumber"].as_str().unwrap());
            r["kinesis"]["sequenceNumber"] = seq.clone().into();
            r["eventID"] = format!("shardId-000000000004:{seq}").into();
            r["kinesis"]["data"] = STANDARD.encode(body).into();
            r
        })
        .collect();
    *records = keep;
    event
}

#[tokio::test]
async fn bare_messages_decode_with_the_configured_schema_older_ones_by_field_number() {
    let f = proto_fixture(ValueFormat::ProtobufGlue);
    let mut service = f.service;
    let text =
        std::fs::read_to_string(repo_root().join("events/enrich/protobuf/click-v2.proto")).unwrap();
    let schema = ProtoSchema::parse(&text).unwrap();
    service.config.values = ValueConfig {
        format: ValueFormat::Protobuf,
        fixed_message: Some(Arc::new(
            FixedMessage::new(&schema, "streamops.Click").unwrap(),
        )),
        ..ValueConfig::default()
    };
    // v1 messages (0, 1, 2) and a v2 one (10) read as v2: the field v2 added takes its
    // default; the last is cut short.
    let event = bare_messages(&[0, 1, 2, 10, 0]);
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    let response = service
        .handle(&event.to_string(), &ctx(30_000), &mut m)
        .await
        .unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let written: Vec<Value> = f
        .stream
        .written()
        .iter()
        .map(|r| serde_json::from_slice(&r.data).unwrap())
        .collect();
    let ids: Vec<&str> = written
        .iter()
        .map(|d| d["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "evt-proto-0001",
            "evt-proto-0002",
            "evt-proto-0003",
            "evt-proto-0011"
        ]
    );
    let channels: Vec<&str> = written
        .iter()
        .map(|d| d["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, ["", "", "", "web"]);
    let entries: Vec<QuarantineEntry> = f
        .quarantine
        .objects()
        .values()
        .flat_map(|body| parse_ndjson(body).unwrap())
        .collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].reason, PoisonReason::UndecodableProtobuf);
    assert!(
        entries[0]
            .message
            .starts_with("configured message streamops.Click:"),
        "{}",
        entries[0].message
    );
    assert!(
        f.registry.calls().is_empty(),
        "no registry for a configured schema"
    );
}
