//! The service over the fakes with a schema registry and a value format: what the Avro and
//! Protobuf service tests share (the fixture, one invocation, the quarantine's entries, the
//! producer fixture's expected documents).

use enrich::quarantine::{QuarantineEntry, parse_ndjson};
use enrich::service::{EnrichError, EnrichService};
use enrich::values::ValueConfig;
use serde_json::Value;
use streamops_shared::Metrics;

use super::{
    FakeLedger, FakeQuarantine, FakeReference, FakeRegistry, FakeStream, KEY, config, ctx, fakes,
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
