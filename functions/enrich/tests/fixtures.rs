//! Every file in events/enrich/ is a valid input of this function: a Kinesis or Kafka event
//! whose records all decode with coordinates, or an ops command that parses. And every file
//! has an expected outcome in [`CORPUS`]: per record, its verdict before the reference join
//! (valid, or poison with its reason) and its arrival time to the millisecond, so a new fixture
//! cannot be added untested.
//!
//! Shapes: the sample events of the Lambda developer guide ("Using AWS Lambda with Amazon
//! Kinesis": `kinesis-docs-sample.json`; "Using Lambda with Amazon MSK": `msk-docs-sample.json`;
//! "Using Lambda with self-managed Apache Kafka": `self-managed-kafka-docs-sample.json`), with
//! the same members and value kinds; `msk-timestamp-edge-cases.json` has the timestamps Kafka
//! can carry (CREATE_TIME, LOG_APPEND_TIME, -1 for none) and a fractional one between good
//! records. `kinesis-kpl-aggregated.json` is made by a real KPL-format producer
//! (aws-kinesis-agg, tests/support/kpl_fixture.py); `kinesis-avro-glue.json` and
//! `msk-avro-glue.json` by fastavro and aws-glue-schema-registry (tests/support/avro_fixture.py);
//! `kinesis-protobuf-glue.json` and `msk-protobuf-confluent.json` by protoc, the protobuf
//! package, aws-glue-schema-registry and confluent-kafka (tests/support/protobuf_fixture.py).

use apache_avro::Schema;
use enrich::input::{Invocation, parse_invocation};
use enrich::ops::parse_command;
use enrich::pipeline::Enricher;
use enrich::poison::PoisonReason;
use enrich::spec::{DEFAULT_SPEC, EnrichmentSpec};
use enrich::values::cache::{Known, RegistrySchema, judge};
use enrich::values::{
    Decoded, SchemaId, SchemaKind, ValueFormat, decode, decode_protobuf, frame, unknown_schema,
};
use streamops_test_support::event_files;

#[test]
fn every_enrich_event_file_parses_as_enrich_input() {
    let files = event_files("enrich");
    for (path, v) in &files {
        match parse_invocation(&v.to_string()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        {
            Invocation::Stream(batch) => {
                assert!(!batch.records.is_empty(), "{}", path.display());
                for r in &batch.records {
                    assert!(
                        enrich::origin::is_position(&r.origin.position),
                        "{}: {:?}",
                        path.display(),
                        r.origin
                    );
                }
            }
            Invocation::Command(v) => {
                parse_command(&v).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
    }
    assert!(
        files.len() >= 5,
        "only {} files in events/enrich",
        files.len()
    );
}

/// One record's fate before the reference join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Valid,
    Poison(PoisonReason),
}

enum Outcome {
    Command,
    /// Per record in batch order: verdict and arrival (epoch ms; `None`: no arrival time).
    Stream(&'static [(Verdict, Option<i64>)]),
}

use PoisonReason::*;
use Verdict::*;

const K: i64 = 1_795_425_335_000;

#[rustfmt::skip]
static CORPUS: &[(&str, Outcome)] = &[
    ("kinesis-docs-sample.json", Outcome::Stream(&[
        (Valid, Some(1_545_084_650_987)),
        (Poison(InvalidJson), Some(1_545_084_711_166)),
    ])),
    ("kinesis-mixed-batch.json", Outcome::Stream(&[
        (Valid, Some(K + 500)), (Valid, Some(K + 510)), (Valid, Some(K + 520)),
        (Poison(InvalidJson), Some(K + 530)), (Poison(NotAnObject), Some(K + 540)),
        (Poison(MissingField), Some(K + 550)), (Poison(WrongType), Some(K + 560)),
        (Poison(InvalidEventTime), Some(K + 570)), (Poison(InvalidUtf8), Some(K + 580)),
        (Poison(InvalidBase64), Some(K + 590)),
        (Valid, Some(K + 600)),
    ])),
    // One input record per user record of an aggregate (see tests/kpl.rs), each with the
    // arrival of its Kinesis record; the damaged aggregate is one record, quarantined whole.
    ("kinesis-kpl-aggregated.json", Outcome::Stream(&[
        (Valid, Some(K + 1000)), (Valid, Some(K + 1000)), (Poison(InvalidJson), Some(K + 1000)),
        (Valid, Some(K + 1000)),
        (Valid, Some(K + 1010)),
        (Valid, Some(K + 1020)), (Valid, Some(K + 1020)), (Valid, Some(K + 1020)),
        (Valid, Some(K + 1030)), (Valid, Some(K + 1030)),
        (Poison(CorruptAggregate), Some(K + 1040)),
    ])),
    // Glue-framed Avro from fastavro and aws-glue-schema-registry (tests/support/avro_fixture.py),
    // decoded with events/enrich/avro/registry.json and the v2 reader schema first.
    ("kinesis-avro-glue.json", Outcome::Stream(&[
        (Valid, Some(K + 1000)), (Valid, Some(K + 1010)), (Valid, Some(K + 1020)),
        (Valid, Some(K + 1030)), (Valid, Some(K + 1040)),
        (Poison(BadWireHeader), Some(K + 1050)), (Poison(UnknownSchema), Some(K + 1060)),
        (Poison(UndecodableAvro), Some(K + 1070)), (Poison(SchemaMismatch), Some(K + 1080)),
        (Valid, Some(K + 1090)),
    ])),
    ("msk-avro-glue.json", Outcome::Stream(&[
        (Valid, Some(K + 1000)), (Valid, Some(K + 1001)), (Valid, Some(K + 1002)),
        (Valid, Some(K + 1003)), (Valid, Some(K + 1004)),
        (Poison(BadWireHeader), Some(K + 1005)), (Poison(UnknownSchema), Some(K + 1006)),
        (Poison(UndecodableAvro), Some(K + 1007)), (Poison(SchemaMismatch), Some(K + 1008)),
        (Valid, Some(K + 1009)),
    ])),
    // Protobuf from protoc, the protobuf package, aws-glue-schema-registry's codec and
    // confluent-kafka's serializer (tests/support/protobuf_fixture.py), decoded with
    // events/enrich/protobuf/registry.json.
    ("kinesis-protobuf-glue.json", Outcome::Stream(&[
        (Valid, Some(K + 1000)), (Valid, Some(K + 1010)), (Valid, Some(K + 1020)),
        (Valid, Some(K + 1030)), (Valid, Some(K + 1040)),
        (Poison(BadWireHeader), Some(K + 1050)), (Poison(UnknownSchema), Some(K + 1060)),
        (Poison(UnknownSchema), Some(K + 1070)), (Poison(UndecodableProtobuf), Some(K + 1080)),
        (Poison(SchemaMismatch), Some(K + 1090)),
        (Valid, Some(K + 1100)),
    ])),
    ("msk-protobuf-confluent.json", Outcome::Stream(&[
        (Valid, Some(K + 1000)), (Valid, Some(K + 1001)), (Valid, Some(K + 1002)),
        (Valid, Some(K + 1003)),
        (Poison(UnknownSchema), Some(K + 1004)), (Poison(UndecodableProtobuf), Some(K + 1005)),
    ])),
    ("msk-docs-sample.json", Outcome::Stream(&[
        (Poison(InvalidJson), Some(1_545_084_650_987)),
        (Valid, Some(1_545_084_650_988)),
    ])),
    ("msk-multi-partition-batch.json", Outcome::Stream(&[
        (Valid, Some(K + 100)), (Poison(InvalidJson), Some(K + 101)), (Valid, Some(K + 102)),
        (Valid, Some(K + 7)), (Poison(EmptyRecord), Some(K + 8)), (Valid, Some(K + 9)),
        (Valid, Some(K + 55)),
    ])),
    ("msk-timestamp-edge-cases.json", Outcome::Stream(&[
        (Valid, Some(K + 987)),
        (Poison(MalformedRecord), None),
        (Valid, None),
        (Valid, Some(K + 1001)),
    ])),
    ("ops-columns.json", Outcome::Command),
    ("ops-dry-run-records.json", Outcome::Command),
    ("ops-replay-dry-run.json", Outcome::Command),
    ("ops-replay.json", Outcome::Command),
    ("self-managed-kafka-docs-sample.json", Outcome::Stream(&[(Valid, Some(1_545_084_650_987))])),
];

#[test]
fn every_corpus_file_has_its_expected_outcome() {
    let spec = EnrichmentSpec::parse(DEFAULT_SPEC, "specs/clickstream.json").unwrap();
    let enricher = Enricher::new(spec, Some(b"corpus-hmac-key-0123456789")).unwrap();
    let files = event_files("enrich");
    for (path, v) in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (_, outcome) = CORPUS
            .iter()
            .find(|(f, _)| *f == name)
            .unwrap_or_else(|| panic!("events/enrich/{name} has no expected outcome in CORPUS"));
        let got = parse_invocation(&v.to_string()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (want, batch) = match (outcome, got) {
            (Outcome::Command, Invocation::Command(_)) => continue,
            (Outcome::Stream(want), Invocation::Stream(batch)) => (want, batch),
            (_, other) => panic!("{name}: unexpected {other:?}"),
        };
        let decoded = if name.ends_with("-avro-glue.json") {
            avro_decoded(&batch.records)
        } else if name.ends_with("-protobuf-glue.json") {
            protobuf_decoded(&batch.records, ValueFormat::ProtobufGlue)
        } else if name.ends_with("-protobuf-confluent.json") {
            protobuf_decoded(&batch.records, ValueFormat::ProtobufConfluent)
        } else {
            Vec::new()
        };
        let verdicts: Vec<(Verdict, Option<i64>)> = enricher
            .prepare_batch(&batch.records, &decoded, |_| false)
            .iter()
            .zip(&batch.records)
            .map(|(p, r)| {
                let verdict = match p {
                    Ok(_) => Valid,
                    Err(poison) => Poison(poison.reason),
                };
                (verdict, r.origin.arrival.map(|t| t.timestamp_millis()))
            })
            .collect();
        assert_eq!(verdicts, want.to_vec(), "{name}");
    }
    for (f, _) in CORPUS {
        assert!(
            files.iter().any(|(p, _)| p.ends_with(f)),
            "CORPUS names {f}, which is not in events/enrich"
        );
    }
}

/// The Avro fixtures' values as the service decodes them: each header's schema from the
/// committed registry, read as the v2 reader schema.
fn avro_decoded(records: &[enrich::input::InputRecord]) -> Vec<Decoded> {
    let root = streamops_test_support::repo_root().join("events/enrich/avro");
    let text = |file: &str| std::fs::read_to_string(root.join(file)).unwrap();
    let reader = Schema::parse_str(&text("click-v2.avsc")).unwrap();
    let registry: serde_json::Value = serde_json::from_str(&text("registry.json")).unwrap();
    let schema_of = |id: SchemaId| {
        registry.as_array().unwrap().iter().find_map(|v| {
            (v["schemaVersionId"].as_str() == Some(&id.to_string()))
                .then(|| Schema::parse_str(v["definition"].as_str().unwrap()).unwrap())
        })
    };
    records
        .iter()
        .map(|r| match frame(ValueFormat::AvroGlue, r.bytes()) {
            Err(poison) => Decoded::Poison(poison),
            Ok(None) => Decoded::AsDelivered,
            Ok(Some(f)) => match schema_of(f.schema) {
                Some(writer) => decode(Some(f.schema), &writer, Some(&reader), &f.body),
                None => unknown_schema(f.schema, "not in the schema registry"),
            },
        })
        .collect()
}

/// The Protobuf fixtures' values as the service decodes them: each header's schema from the
/// committed registries, judged as the service judges a registry's answer.
fn protobuf_decoded(records: &[enrich::input::InputRecord], format: ValueFormat) -> Vec<Decoded> {
    let registry: serde_json::Value =
        streamops_test_support::fixture("enrich/protobuf/registry.json");
    let answer = |id: SchemaId| -> Option<RegistrySchema> {
        let (list, key, format_key, definition) = match id {
            SchemaId::Glue(_) => ("glue", "schemaVersionId", "dataFormat", "definition"),
            SchemaId::Confluent(_) => ("confluent", "id", "schemaType", "schema"),
        };
        registry[list].as_array().unwrap().iter().find_map(|v| {
            let named = match (&v[key], id) {
                (serde_json::Value::String(s), _) => *s == id.to_string(),
                (other, SchemaId::Confluent(n)) => other.as_u64() == Some(u64::from(n)),
                _ => false,
            };
            named.then(|| RegistrySchema {
                data_format: v[format_key].as_str().unwrap().into(),
                definition: v[definition].as_str().unwrap().into(),
            })
        })
    };
    let framing = format.registry().unwrap();
    records
        .iter()
        .map(|r| match frame(format, r.bytes()) {
            Err(poison) => Decoded::Poison(poison),
            Ok(None) => Decoded::AsDelivered,
            Ok(Some(f)) => match judge(answer(f.schema), SchemaKind::Protobuf) {
                Known::Proto(schema) => decode_protobuf(f.schema, &schema, framing, &f.body),
                Known::Unusable(why) => unknown_schema(f.schema, &why),
                Known::Schema(_) | Known::Json(_) => panic!("another kind judged as Protobuf"),
            },
        })
        .collect()
}
