//! Protobuf through the Glue Schema Registry on moto (which takes `DataFormat` PROTOBUF and
//! stores the .proto text as given; it does not check Protobuf compatibility): the adapter's
//! contract for a Protobuf version (its definition and data format as registered), and the
//! producer's Glue-framed Protobuf batch (events/enrich/kinesis-protobuf-glue.json) through the
//! service with the real adapter: every record once, in the enriched stream or the quarantine
//! with its reason. The fixture's ids are re-pointed at moto's, as in `avro.rs`.

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
use streamops_shared::Metrics;
use streamops_test_support::{fixture, repo_root};

const REGISTRY: &str = "streamops-proto";

/// Registers the fixture's Glue versions on moto (two Protobuf versions of one schema, the
/// Avro one on its own): fixture id to moto's id.
async fn register(glue: &aws_sdk_glue::Client) -> HashMap<String, String> {
    let registry = fixture("enrich/protobuf/registry.json");
    let versions: Vec<FixtureVersion> = registry["glue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let (schema, format) = match v["dataFormat"].as_str().unwrap() {
                "PROTOBUF" => ("clicks-proto", DataFormat::Protobuf),
                _ => ("clicks-avro", DataFormat::Avro),
            };
            FixtureVersion {
                schema,
                format,
                definition: v["definition"].as_str().unwrap(),
                fixture_id: v["schemaVersionId"].as_str().unwrap(),
            }
        })
        .collect();
    register_versions(glue, REGISTRY, &versions).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_glue_adapter_reads_protobuf_versions_as_registered() {
    let h = harness().await;
    let glue = aws_sdk_glue::Client::new(&h.sdk);
    let ids = register(&glue).await;
    let adapter = GlueSchemaRegistry::new(glue);
    let registry = fixture("enrich/protobuf/registry.json");
    for v in registry["glue"].as_array().unwrap() {
        let moto_id = &ids[v["schemaVersionId"].as_str().unwrap()];
        let got = adapter
            .schema(SchemaId::Glue(parse_uuid(moto_id).unwrap()))
            .await
            .unwrap()
            .expect("registered");
        assert_eq!(got.definition, v["definition"].as_str().unwrap());
        assert_eq!(got.data_format, v["dataFormat"].as_str().unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producers_protobuf_batch_through_the_glue_registry_on_moto_every_record_once() {
    let h = harness().await;
    let glue = aws_sdk_glue::Client::new(&h.sdk);
    let ids = register(&glue).await;
    let mut svc = service(&h, default_spec(), "fail-batch");
    svc.config.values = ValueConfig {
        format: ValueFormat::ProtobufGlue,
        ..ValueConfig::default()
    };
    let svc = svc.with_registry(GlueSchemaRegistry::new(glue));
    let event = repointed(&fixture("enrich/kinesis-protobuf-glue.json"), &ids);
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    let response = svc
        .handle(&event.to_string(), &ctx(10_000), &mut m)
        .await
        .unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let expected: Vec<Value> =
        std::fs::read_to_string(repo_root().join("events/enrich/protobuf-glue.expected.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let out = read_output(&h.sdk).await;
    let delivered: HashMap<String, &Value> = out
        .iter()
        .map(|o| {
            let seq = o["_ingest"]["sequence_number"].as_str().unwrap();
            (seq.to_string(), o)
        })
        .collect();
    let quarantined: HashMap<String, String> = read_quarantine(&h.sdk)
        .await
        .into_values()
        .flatten()
        .map(|e| (e.origin.position.clone(), e.reason.as_str().to_string()))
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
                for field in ["event_id", "ts", "session_seq", "properties", "trace"] {
                    assert_eq!(got[field], doc[field], "{field} of {seq}");
                }
                assert!(got["product"]["category"].is_string(), "joined: {got}");
            }
            None => assert_eq!(quarantined[&seq], want["poison"].as_str().unwrap(), "{seq}"),
        }
    }
}
