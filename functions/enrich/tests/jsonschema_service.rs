//! JSON Schema values through the service over the fakes (`support`): a Glue-framed Kinesis
//! batch whose JSON bodies are checked against their writer's JSON Schema, with poison mixed in
//! (a document the schema rejects, an unknown schema id, no header, a body that is not JSON),
//! an older schema version's records valid by their own schema, the registry unreachable (the
//! batch retried, nothing quarantined), and a fixed schema from configuration. The documents
//! are the Avro producer fixture's (events/enrich/avro-glue.expected.jsonl): valid events of
//! the shipped spec.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use enrich::poison::PoisonReason;
use enrich::ports::{RegistrySchema, SchemaId};
use enrich::values::jsonschema::JsonSchema;
use enrich::values::wire::parse_uuid;
use enrich::values::{ValueConfig, ValueFormat};
use serde_json::{Value, json};
use streamops_shared::ErrorClass;
use streamops_shared::harness::Classified;
use streamops_test_support::fixture;
use support::*;

const V1_ID: &str = "5b0c1d2e-3f40-4a51-8b62-7c8d9e0f1a21";
const V2_ID: &str = "6c1d2e3f-4051-4b62-8c73-8d9e0f1a2b32";
const UNKNOWN_ID: &str = "00000000-0000-4000-8000-0000000beef0";

/// v1: the click's required fields; v2 (a later version) also requires `channel`.
fn v1() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "required": ["event_id", "event_type", "user_id", "ts"],
        "properties": {
            "event_id": {"type": "string"},
            "event_type": {"enum": ["page_view", "add_to_cart", "search"]},
            "user_id": {"type": "string"},
            "ts": {"type": "integer"},
            "properties": {"type": "object", "additionalProperties": {"type": "string"}}
        }
    })
}

fn v2() -> Value {
    let mut s = v1();
    s["required"].as_array_mut().unwrap().push("channel".into());
    s["properties"]["channel"] = json!({"type": "string"});
    s
}

fn glue_id(id: &str) -> SchemaId {
    SchemaId::Glue(parse_uuid(id).unwrap())
}

fn registry() -> FakeRegistry {
    let json_schema = |s: Value| RegistrySchema {
        data_format: "JSON".into(),
        definition: s.to_string(),
    };
    FakeRegistry::with_schemas(HashMap::from([
        (glue_id(V1_ID), json_schema(v1())),
        (glue_id(V2_ID), json_schema(v2())),
    ]))
}

/// The Glue serializer's framing: version 3, compression 0 or 5 (zlib), the version id.
fn glue(id: &str, body: &[u8], zlib: bool) -> Vec<u8> {
    let mut out = vec![3, if zlib { 5 } else { 0 }];
    out.extend_from_slice(&parse_uuid(id).unwrap());
    if zlib {
        out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec_zlib(body, 6));
    } else {
        out.extend_from_slice(body);
    }
    out
}

/// The producer fixture's valid documents (each with `channel`, as Avro v2 reads them).
fn documents() -> Vec<Value> {
    let lines = std::fs::read_to_string(
        streamops_test_support::repo_root().join("events/enrich/avro-glue.expected.jsonl"),
    )
    .unwrap();
    lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|w| w.get("decodes").cloned())
        .collect()
}

/// (value, what it must become: `Ok(event_id)` delivered or `Err(reason)` quarantined).
fn values() -> Vec<(Vec<u8>, Result<String, PoisonReason>)> {
    let docs = documents();
    let without_channel = |d: &Value| {
        let mut d = d.clone();
        d.as_object_mut().unwrap().remove("channel");
        d
    };
    let body = |d: &Value| serde_json::to_vec(d).unwrap();
    let id = |d: &Value| Ok(d["event_id"].as_str().unwrap().to_string());
    let mut late_ts = docs[2].clone();
    late_ts["ts"] = "soon".into();
    vec![
        // An older version's record, valid by its own schema (v1 does not know `channel`).
        (
            glue(V1_ID, &body(&without_channel(&docs[0])), false),
            id(&docs[0]),
        ),
        (glue(V2_ID, &body(&docs[1]), true), id(&docs[1])),
        (
            glue(V1_ID, &body(&late_ts), false),
            Err(PoisonReason::SchemaViolation),
        ),
        // v2 requires the field v1 records lack.
        (
            glue(V2_ID, &body(&without_channel(&docs[3])), false),
            Err(PoisonReason::SchemaViolation),
        ),
        (
            glue(UNKNOWN_ID, &body(&docs[4]), false),
            Err(PoisonReason::UnknownSchema),
        ),
        // Plain JSON: no Glue header, never read as JSON by this format.
        (body(&docs[4]), Err(PoisonReason::BadWireHeader)),
        (
            glue(V1_ID, b"{\"event_id\":", false),
            Err(PoisonReason::InvalidJson),
        ),
        (glue(V2_ID, &body(&docs[4]), false), id(&docs[4])),
    ]
}

/// The Avro Kinesis fixture's records, their data replaced by `values`.
fn event(values: &[(Vec<u8>, Result<String, PoisonReason>)]) -> Value {
    let mut event = fixture("enrich/kinesis-avro-glue.json");
    let records = event["Records"].as_array_mut().unwrap();
    records.truncate(values.len());
    for (r, (value, _)) in records.iter_mut().zip(values) {
        r["kinesis"]["data"] = STANDARD.encode(value).into();
    }
    event
}

fn fixture_with(values: ValueConfig) -> RegistryFixture {
    registry_fixture("fail-batch", values, registry())
}

fn glue_format() -> ValueConfig {
    ValueConfig {
        format: ValueFormat::JsonSchemaGlue,
        ..ValueConfig::default()
    }
}

/// Each record ended once as `values` says; poison messages name the schema and, for a
/// violation, the failing pointer.
fn assert_outcomes(
    f: &RegistryFixture,
    event: &Value,
    want: &[(Vec<u8>, Result<String, PoisonReason>)],
) {
    let delivered: Vec<String> = f.stream.written().iter().map(event_id_of).collect();
    let wanted: Vec<String> = want.iter().filter_map(|(_, w)| w.clone().ok()).collect();
    assert_eq!(delivered, wanted);
    let entries = f.entries();
    let positions = kinesis_positions(event);
    let poison: Vec<_> = positions
        .iter()
        .zip(want)
        .filter(|(_, (_, w))| w.is_err())
        .collect();
    assert_eq!(entries.len(), poison.len(), "each record once");
    for (position, (_, w)) in poison {
        let e = entries
            .iter()
            .find(|e| &e.origin.position == position)
            .unwrap();
        assert_eq!(Err(e.reason), *w, "{position}: {}", e.message);
        assert!(e.data_base64.is_some(), "the value as delivered is kept");
    }
}

#[tokio::test]
async fn a_glue_framed_batch_validates_each_record_against_its_writers_schema() {
    let f = fixture_with(glue_format());
    let want = values();
    let event = event(&want);
    let response = f.handle(&event).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    assert_outcomes(&f, &event, &want);
    // v1, v2 and the unknown id: one registry call each.
    assert_eq!(f.registry.calls().len(), 3);
    let entries = f.entries();
    let message = |reason: PoisonReason, id: &str| {
        entries
            .iter()
            .filter(|e| e.reason == reason && e.message.contains(id))
            .map(|e| e.message.clone())
            .next()
            .unwrap_or_else(|| panic!("no {reason:?} naming {id}"))
    };
    let m = message(PoisonReason::SchemaViolation, V1_ID);
    assert!(m.contains("at /ts:") && !m.contains("soon"), "{m}");
    let m = message(PoisonReason::SchemaViolation, V2_ID);
    assert!(m.contains("at /:") && m.contains("channel"), "{m}");
    let m = message(PoisonReason::UnknownSchema, UNKNOWN_ID);
    assert!(m.contains("not in the schema registry"), "{m}");
}

#[tokio::test]
async fn an_unreachable_registry_fails_the_batch_retryably_and_the_retry_lands_everything_once() {
    let f = fixture_with(glue_format());
    let want = values();
    let event = event(&want);
    f.registry.unreachable(1);
    let err = f.handle(&event).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert_eq!(err.kind(), "SchemaRegistryUnavailable");
    assert!(f.stream.written().is_empty() && f.entries().is_empty());
    f.handle(&event).await.unwrap();
    assert_outcomes(&f, &event, &want);
}

#[tokio::test]
async fn a_schema_of_another_kind_is_an_unknown_schema_and_compiled_schemas_are_cached() {
    let avro = RegistrySchema {
        data_format: "AVRO".into(),
        definition: r#"{"type":"record","name":"R","fields":[]}"#.into(),
    };
    let mut schemas = HashMap::from([(glue_id(UNKNOWN_ID), avro)]);
    schemas.insert(
        glue_id(V1_ID),
        RegistrySchema {
            data_format: "JSON".into(),
            definition: v1().to_string(),
        },
    );
    let f = registry_fixture(
        "fail-batch",
        glue_format(),
        FakeRegistry::with_schemas(schemas),
    );
    let docs = documents();
    let want = vec![
        (
            glue(UNKNOWN_ID, &serde_json::to_vec(&docs[0]).unwrap(), false),
            Err(PoisonReason::UnknownSchema),
        ),
        (
            glue(V1_ID, &serde_json::to_vec(&docs[1]).unwrap(), false),
            Ok(docs[1]["event_id"].as_str().unwrap().to_string()),
        ),
    ];
    let first = event(&want);
    f.handle(&first).await.unwrap();
    assert_outcomes(&f, &first, &want);
    let m = &f.entries()[0].message;
    assert!(
        m.contains("is a AVRO schema; this value format decodes JSON"),
        "{m}"
    );
    // The next invocation names the same ids: no registry call (a negative entry included).
    let next = as_new_records(&first, "shardId-000000000003");
    f.handle(&next).await.unwrap();
    assert_eq!(f.registry.calls().len(), 2);
}

#[tokio::test]
async fn bare_json_with_the_configured_schema_needs_no_registry() {
    let values = ValueConfig {
        format: ValueFormat::JsonSchema,
        fixed_json_schema: Some(Arc::new(JsonSchema::compile(&v2().to_string()).unwrap())),
        ..ValueConfig::default()
    };
    let f = fixture_with(values);
    let docs = documents();
    let mut bad = docs[1].clone();
    bad["properties"] = json!({"path": 7});
    let want = vec![
        (
            serde_json::to_vec(&docs[0]).unwrap(),
            Ok(docs[0]["event_id"].as_str().unwrap().to_string()),
        ),
        (
            serde_json::to_vec(&bad).unwrap(),
            Err(PoisonReason::SchemaViolation),
        ),
    ];
    let event = event(&want);
    f.handle(&event).await.unwrap();
    assert_outcomes(&f, &event, &want);
    let m = &f.entries()[0].message;
    assert!(
        m.starts_with("configured JSON Schema: fails its JSON Schema at /properties/path:"),
        "{m}"
    );
    assert!(f.registry.calls().is_empty());
}
