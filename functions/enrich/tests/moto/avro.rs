//! The Glue Schema Registry on moto: the adapter's contract (GetSchemaVersion by version id: a
//! registered version's definition and data format, an unknown id as `None`, an unreachable
//! endpoint as an error), and the producer's Glue-framed Avro batch
//! (events/enrich/kinesis-avro-glue.json) through the service with the real adapter: every record
//! once, in the enriched stream or the quarantine with its reason.
//!
//! moto gives schema versions ids of its own, so the fixture's values are re-pointed at them:
//! each value's 16 id bytes (bytes 2..18 of the header) swapped for the id moto gave the same
//! schema; the body and the rest of the header stay the producer's.

use crate::events::seq_of;
use crate::glue_registry::{FixtureVersion, register_versions, repointed};
use crate::harness::*;
use aws_sdk_glue::types::DataFormat;
use enrich::adapters::GlueSchemaRegistry;
use enrich::ports::{SchemaId, SchemaRegistry};
use enrich::values::wire::parse_uuid;
use enrich::values::{ValueConfig, ValueFormat};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use streamops_shared::Metrics;
use streamops_test_support::{fixture, repo_root};

const REGISTRY: &str = "streamops";

/// Registers the fixture's schema versions on moto: fixture id to moto's id.
async fn register(glue: &aws_sdk_glue::Client) -> HashMap<String, String> {
    let versions = fixture("enrich/avro/registry.json");
    let versions = versions.as_array().unwrap();
    // v1 then v2 of one schema (v2 adds a field with a default: backward compatible), and the
    // legacy schema on its own.
    let versions: Vec<FixtureVersion> = [
        ("clicks", &versions[0]),
        ("clicks", &versions[1]),
        ("clicks-legacy", &versions[2]),
    ]
    .into_iter()
    .map(|(schema, v)| FixtureVersion {
        schema,
        format: DataFormat::Avro,
        definition: v["definition"].as_str().unwrap(),
        fixture_id: v["schemaVersionId"].as_str().unwrap(),
    })
    .collect();
    register_versions(glue, REGISTRY, &versions).await
}

fn glue_id(text: &str) -> SchemaId {
    SchemaId::Glue(parse_uuid(text).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_glue_adapter_reads_registered_versions_and_knows_unknown_ids() {
    let h = harness().await;
    let glue = aws_sdk_glue::Client::new(&h.sdk);
    let ids = register(&glue).await;
    let versions = fixture("enrich/avro/registry.json");
    let adapter = GlueSchemaRegistry::new(glue);
    for v in versions.as_array().unwrap() {
        let moto_id = &ids[v["schemaVersionId"].as_str().unwrap()];
        let got = adapter
            .schema(glue_id(moto_id))
            .await
            .unwrap()
            .expect("registered");
        assert_eq!(got.definition, v["definition"].as_str().unwrap());
        assert_eq!(got.data_format, "AVRO");
    }
    let unknown = adapter
        .schema(glue_id("00000000-0000-4000-8000-00000000dead"))
        .await;
    assert!(matches!(unknown, Ok(None)), "{unknown:?}");
    // Nothing listens there: an error (the batch is retried), not an answer.
    let closed = streamops_test_support::sdk_config_for("http://127.0.0.1:9").await;
    let down = GlueSchemaRegistry::new(aws_sdk_glue::Client::new(&closed));
    let err = down
        .schema(glue_id(&ids.values().next().unwrap().clone()))
        .await
        .unwrap_err();
    assert_eq!(err.operation, "GetSchemaVersion");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producers_avro_batch_through_the_glue_registry_on_moto_every_record_once() {
    let h = harness().await;
    let glue = aws_sdk_glue::Client::new(&h.sdk);
    let ids = register(&glue).await;
    let mut svc = service(&h, default_spec(), "fail-batch");
    let reader =
        std::fs::read_to_string(repo_root().join("events/enrich/avro/click-v2.avsc")).unwrap();
    svc.config.values = ValueConfig {
        format: ValueFormat::AvroGlue,
        reader_schema: Some(Arc::new(apache_avro::Schema::parse_str(&reader).unwrap())),
        ..ValueConfig::default()
    };
    let svc = svc.with_registry(GlueSchemaRegistry::new(glue));
    let event = repointed(&fixture("enrich/kinesis-avro-glue.json"), &ids);
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    let response = svc
        .handle(&event.to_string(), &ctx(10_000), &mut m)
        .await
        .unwrap();
    assert!(failures(&response).is_empty(), "{response}");

    let expected: Vec<Value> =
        std::fs::read_to_string(repo_root().join("events/enrich/avro-glue.expected.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let out = read_output(&h.sdk).await;
    let delivered: HashMap<String, &Value> = out
        .iter()
        .map(|o| {
            (
                o["_ingest"]["sequence_number"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                o,
            )
        })
        .collect();
    let quarantined: HashMap<String, Value> = read_quarantine(&h.sdk)
        .await
        .into_values()
        .flatten()
        .map(|e| {
            (
                e.origin.position.clone(),
                serde_json::json!({"reason": e.reason.as_str(), "message": e.message}),
            )
        })
        .collect();
    let records = event["Records"].as_array().unwrap();
    assert_eq!(
        delivered.len() + quarantined.len(),
        records.len(),
        "each record once"
    );
    for (r, want) in records.iter().zip(&expected) {
        let seq = seq_of(r);
        match want.get("decodes") {
            Some(doc) => {
                let got = delivered
                    .get(&seq)
                    .unwrap_or_else(|| panic!("{seq} not delivered"));
                assert_eq!(got["event_id"], doc["event_id"]);
                assert_eq!(got["channel"], doc["channel"]);
                assert!(got["product"]["category"].is_string(), "joined: {got}");
            }
            None => {
                let q = &quarantined[&seq];
                assert_eq!(q["reason"], want["poison"], "{q}");
            }
        }
    }
}
