//! Avro values through the service over the fakes (`support`), with the real producers'
//! fixtures (tests/support/avro_fixture.py: fastavro bodies, aws-glue-schema-registry framing):
//! Glue-framed Kinesis and MSK batches with poison mixed in (no header, an unknown schema id, a
//! truncated body, a schema that does not resolve to the reader schema), an older writer schema
//! resolved to the reader schema, the registry unreachable (the batch retried, nothing
//! quarantined) and schemas cached across invocations. Every record ends exactly once.

mod support;

use std::sync::Arc;

use apache_avro::Schema;
use enrich::poison::PoisonReason;
use enrich::quarantine::{QuarantineEntry, parse_ndjson};
use enrich::values::{ValueConfig, ValueFormat};
use serde_json::Value;
use streamops_shared::harness::Classified;
use streamops_shared::{ErrorClass, Metrics};
use streamops_test_support::fixture;
use support::*;

fn reader_schema() -> Arc<Schema> {
    let path = streamops_test_support::repo_root().join("events/enrich/avro/click-v2.avsc");
    Arc::new(Schema::parse_str(&std::fs::read_to_string(path).unwrap()).unwrap())
}

fn avro_fixture(msk_mode: &str) -> RegistryFixture {
    let values = ValueConfig {
        format: ValueFormat::AvroGlue,
        reader_schema: Some(reader_schema()),
        ..ValueConfig::default()
    };
    registry_fixture(msk_mode, values, FakeRegistry::from_fixture())
}

/// What the producer fixture says each record is, in order.
fn expected() -> Vec<Value> {
    expected_jsonl("avro-glue.expected.jsonl")
}

/// Delivered records are the documents fastavro reads back, compared on these fields (the
/// PII fields are protected).
const COMPARED: Compared<'static> = Compared::Fields(&[
    "event_id",
    "event_type",
    "user_id",
    "product_id",
    "channel",
    "properties",
]);

#[tokio::test]
async fn a_glue_framed_kinesis_batch_decodes_resolves_and_quarantines_its_poison() {
    let f = avro_fixture("fail-batch");
    let event = fixture("enrich/kinesis-avro-glue.json");
    let response = f.handle(&event).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    f.assert_matches_the_producer(&kinesis_positions(&event), &expected(), COMPARED);
    // v1, v2, the legacy schema and the unknown id: one registry call each, whatever the
    // number of records naming them.
    assert_eq!(f.registry.calls().len(), 4);
}

#[tokio::test]
async fn a_glue_framed_msk_batch_is_accounted_the_same() {
    let f = avro_fixture("fail-batch");
    let event = fixture("enrich/msk-avro-glue.json");
    f.handle(&event).await.unwrap();
    let positions: Vec<String> = event["records"]["clicks-avro-0"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["offset"].to_string())
        .collect();
    f.assert_matches_the_producer(&positions, &expected(), COMPARED);
}

#[tokio::test]
async fn an_unreachable_registry_fails_the_batch_retryably_and_the_retry_lands_everything_once() {
    let f = avro_fixture("fail-batch");
    let event = fixture("enrich/kinesis-avro-glue.json");
    f.registry.unreachable(1);
    let err = f.handle(&event).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert_eq!(err.kind(), "SchemaRegistryUnavailable");
    assert!(
        f.stream.written().is_empty() && f.entries().is_empty(),
        "nothing written, nothing quarantined"
    );
    // Lambda retries the batch: the registry is back.
    f.handle(&event).await.unwrap();
    f.assert_matches_the_producer(&kinesis_positions(&event), &expected(), COMPARED);
}

#[tokio::test]
async fn schemas_and_unknown_ids_are_cached_across_invocations() {
    let f = avro_fixture("fail-batch");
    let event = fixture("enrich/kinesis-avro-glue.json");
    f.handle(&event).await.unwrap();
    let after_first = f.registry.calls().len();
    // A new batch naming the same schemas: no more registry calls, the unknown id included
    // (a negative entry).
    let next = as_new_records(&event, "shardId-000000000003");
    f.handle(&next).await.unwrap();
    assert_eq!(f.registry.calls().len(), after_first);
    let unknown = f
        .entries()
        .iter()
        .filter(|e| e.reason == PoisonReason::UnknownSchema)
        .count();
    assert_eq!(unknown, 2, "the unknown id's record in each new batch");
}

#[tokio::test]
async fn bare_avro_with_the_configured_schema_needs_no_registry() {
    let f = avro_fixture("fail-batch");
    let mut service = f.service;
    let writer = std::fs::read_to_string(
        streamops_test_support::repo_root().join("events/enrich/avro/click-v1.avsc"),
    )
    .unwrap();
    service.config.values = ValueConfig {
        format: ValueFormat::Avro,
        fixed_schema: Some(Arc::new(Schema::parse_str(&writer).unwrap())),
        ..ValueConfig::default()
    };
    // The producer's uncompressed v1 values (records 0, 1, 2 and 9) with their Glue header cut
    // off, and one of them cut short as well.
    let mut event = fixture("enrich/kinesis-avro-glue.json");
    let records = event["Records"].as_array_mut().unwrap();
    let keep: Vec<Value> = [0, 1, 2, 9, 0]
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            let mut r = records[i].clone();
            let value = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                r["kinesis"]["data"].as_str().unwrap(),
            )
            .unwrap();
            let body = match n {
                4 => &value[18..value.len() - 5],
                _ => &value[18..],
            };
            let seq = format!("{}{n}", r["kinesis"]["sequenceNumber"].as_str().unwrap());
            r["kinesis"]["sequenceNumber"] = seq.clone().into();
            r["eventID"] = format!("shardId-000000000003:{seq}").into();
            r["kinesis"]["data"] =
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, body).into();
            r
        })
        .collect();
    *records = keep;
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    let response = service
        .handle(&event.to_string(), &ctx(30_000), &mut m)
        .await
        .unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let ids: Vec<String> = f.stream.written().iter().map(event_id_of).collect();
    assert_eq!(
        ids,
        [
            "evt-avro-0001",
            "evt-avro-0002",
            "evt-avro-0003",
            "evt-avro-0010"
        ]
    );
    let entries: Vec<QuarantineEntry> = f
        .quarantine
        .objects()
        .values()
        .flat_map(|body| parse_ndjson(body).unwrap())
        .collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].reason, PoisonReason::UndecodableAvro);
    assert!(
        entries[0].message.starts_with("configured schema:"),
        "{}",
        entries[0].message
    );
    assert!(
        f.registry.calls().is_empty(),
        "no registry for a configured schema"
    );
}
