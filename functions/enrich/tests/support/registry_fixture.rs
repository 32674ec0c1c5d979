//! The service over the fakes with a schema registry and a value format: what the Avro and
//! Protobuf service tests share (the fixture, one invocation, the quarantine's entries, the
//! producer fixture's expected documents and the check that each record ended as it says).

use enrich::quarantine::{QuarantineEntry, parse_ndjson};
use enrich::service::{EnrichError, EnrichService};
use enrich::values::ValueConfig;
use serde_json::Value;
use streamops_shared::Metrics;

use super::{
    FakeLedger, FakeQuarantine, FakeReference, FakeRegistry, FakeStream, KEY, config, ctx, fakes,
    seq_of,
};

pub type RegistryService =
    EnrichService<FakeStream, FakeLedger, FakeReference, FakeQuarantine, FakeRegistry>;

pub struct RegistryFixture {
    pub service: RegistryService,
    pub stream: FakeStream,
    pub quarantine: FakeQuarantine,
    pub registry: FakeRegistry,
}

/// The service with `values` (its format and schemas) reading schemas from `registry`.
pub fn registry_fixture(
    msk_mode: &str,
    values: ValueConfig,
    registry: FakeRegistry,
) -> RegistryFixture {
    let plain = fakes(msk_mode);
    let mut config = config(msk_mode, None);
    config.values = values;
    let service = EnrichService::new(
        config,
        Some(KEY),
        plain.stream.clone(),
        plain.ledger.clone(),
        Some(plain.reference.clone()),
        plain.quarantine.clone(),
    )
    .unwrap()
    .with_registry(registry.clone());
    RegistryFixture {
        service,
        stream: plain.stream,
        quarantine: plain.quarantine,
        registry,
    }
}

impl RegistryFixture {
    pub async fn handle(&self, event: &Value) -> Result<Value, EnrichError> {
        let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
        self.service
            .handle(&event.to_string(), &ctx(30_000), &mut m)
            .await
    }

    pub fn entries(&self) -> Vec<QuarantineEntry> {
        self.quarantine
            .objects()
            .values()
            .flat_map(|body| parse_ndjson(body).unwrap())
            .collect()
    }
}

/// What a producer fixture (`events/enrich/<file>`, one JSON document a line) says each record
/// is, in order.
pub fn expected_jsonl(file: &str) -> Vec<Value> {
    let path = streamops_test_support::repo_root()
        .join("events/enrich")
        .join(file);
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Which fields of a producer's document a delivered record is compared on.
pub enum Compared<'a> {
    /// These fields.
    Fields(&'a [&'a str]),
    /// Every field of the document but these (the protected ones).
    AllBut(&'a [&'a str]),
}

/// The positions of a Kinesis event's records, in order.
pub fn kinesis_positions(event: &Value) -> Vec<String> {
    event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(seq_of)
        .collect()
}

impl RegistryFixture {
    /// Each record ended once as the producer fixture says: delivered records carry its
    /// document (the `compared` fields; the email protected), quarantined ones its reason and,
    /// when it names one, the schema id; the value as delivered is kept.
    pub fn assert_matches_the_producer(
        &self,
        positions: &[String],
        want: &[Value],
        compared: Compared<'_>,
    ) {
        assert_eq!(positions.len(), want.len());
        let written: Vec<Value> = self
            .stream
            .written()
            .iter()
            .map(|r| serde_json::from_slice(&r.data).unwrap())
            .collect();
        let entries = self.entries();
        assert_eq!(
            written.len() + entries.len(),
            want.len(),
            "each record once"
        );
        let mut delivered = written.iter();
        for (position, w) in positions.iter().zip(want) {
            if let Some(doc) = w.get("decodes") {
                let got = delivered.next().expect("a delivered record");
                let fields: Vec<&str> = match &compared {
                    Compared::Fields(f) => f.to_vec(),
                    Compared::AllBut(skip) => doc
                        .as_object()
                        .unwrap()
                        .keys()
                        .map(String::as_str)
                        .filter(|k| !skip.contains(k))
                        .collect(),
                };
                for field in fields {
                    assert_eq!(got[field], doc[field], "{field} of {position}");
                }
                assert_ne!(got["email"], doc["email"], "email is protected");
            } else {
                let reason = w["poison"].as_str().unwrap();
                let entry = entries
                    .iter()
                    .find(|e| &e.origin.position == position)
                    .unwrap_or_else(|| panic!("{position} ({reason}) not quarantined"));
                assert_eq!(
                    entry.reason.as_str(),
                    reason,
                    "{position}: {}",
                    entry.message
                );
                if let Some(schema) = w.get("schema") {
                    let id = schema.as_str().unwrap();
                    assert!(entry.message.contains(id), "{}", entry.message);
                }
                assert!(
                    entry.data_base64.is_some(),
                    "the value as delivered is kept"
                );
            }
        }
    }
}
