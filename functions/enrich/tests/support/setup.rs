//! The service tests' set-up: the service over fresh fakes (two reference items), one
//! invocation, and the readers of its answer (failures, the redelivery Lambda would send).

use super::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use enrich::config::EnrichConfig;
use enrich::quarantine::parse_ndjson;
use enrich::service::{EnrichError, EnrichService, InvocationContext};
use enrich::spec::EnrichmentSpec;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;
use streamops_shared::{EnvReader, Metrics};
use streamops_test_support::batch_item_failures;

pub const KEY: &[u8] = b"test-hmac-key-0123456789abcdef";

pub const ALWAYS: usize = usize::MAX;

pub type Service = EnrichService<FakeStream, FakeLedger, FakeReference, FakeQuarantine>;

pub struct Fixture {
    pub service: Service,
    pub stream: FakeStream,
    pub ledger: FakeLedger,
    pub reference: FakeReference,
    pub quarantine: FakeQuarantine,
}

pub fn config(msk_mode: &str, spec: Option<EnrichmentSpec>) -> EnrichConfig {
    let env = EnvReader::from_map(
        [
            ("ENRICH_OUTPUT_STREAM", "streamops-enriched"),
            ("ENRICH_QUARANTINE_BUCKET", "fake-quarantine"),
            ("ENRICH_LEDGER_TABLE", "streamops-enrich-ledger"),
            ("ENRICH_REFERENCE_TABLE", "streamops-reference"),
            ("ENRICH_PII_KEY_SECRET_ARN", "unused-here"),
            ("ENRICH_MSK_FAILURE_MODE", msk_mode),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    );
    let mut config = EnrichConfig::read(env, |_| Err("no files".into())).unwrap();
    if let Some(spec) = spec {
        config.spec = spec;
    }
    config
}

pub fn fakes(msk_mode: &str) -> Fixture {
    let reference = FakeReference::with_items(&[
        (
            "p-100",
            json!({"category": "books", "brand": "acme", "price_band": 3, "internal_cost": 12}),
        ),
        (
            "p-200",
            json!({"category": "games", "brand": "globex", "price_band": 3}),
        ),
    ]);
    let (stream, ledger, quarantine) = Default::default();
    with_fakes(msk_mode, None, stream, ledger, reference, quarantine)
}

pub fn with_fakes(
    msk_mode: &str,
    spec: Option<EnrichmentSpec>,
    stream: FakeStream,
    ledger: FakeLedger,
    reference: FakeReference,
    quarantine: FakeQuarantine,
) -> Fixture {
    let service = EnrichService::new(
        config(msk_mode, spec),
        Some(KEY),
        stream.clone(),
        ledger.clone(),
        Some(reference.clone()),
        quarantine.clone(),
    )
    .unwrap();
    Fixture {
        service,
        stream,
        ledger,
        reference,
        quarantine,
    }
}

pub fn ctx(deadline_ms: u64) -> InvocationContext {
    InvocationContext {
        request_id: format!("req-{}", fastrand::u32(..)),
        now: Utc::now(),
        deadline: tokio::time::Instant::now() + Duration::from_millis(deadline_ms),
    }
}

impl Fixture {
    pub async fn handle(&self, event: &Value, deadline_ms: u64) -> Result<Value, EnrichError> {
        let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
        self.service
            .handle(&event.to_string(), &ctx(deadline_ms), &mut m)
            .await
    }

    /// Every quarantine entry's position, over all objects.
    pub fn quarantined(&self) -> Vec<String> {
        self.quarantine
            .objects()
            .values()
            .flat_map(|body| parse_ndjson(body).unwrap())
            .map(|e| e.origin.position)
            .collect()
    }
}

/// Input event id (where the payload is readable JSON with one) to sequence number.
pub fn seqs_by_event_id(event: &Value) -> HashMap<String, String> {
    event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| {
            let data = STANDARD.decode(r["kinesis"]["data"].as_str()?).ok()?;
            let v: Value = serde_json::from_slice(&data).ok()?;
            Some((v["event_id"].as_str()?.to_string(), seq_of(r)))
        })
        .collect()
}

pub fn failures(response: &Value) -> BTreeSet<String> {
    batch_item_failures(response).into_iter().collect()
}

pub fn unique(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

/// The four good records of the fixture, and `extra` generated ones.
pub fn good_ids(extra: usize) -> BTreeSet<String> {
    ["evt-0001", "evt-0002", "evt-0003", "evt-0011"]
        .into_iter()
        .map(str::to_string)
        .chain((0..extra).map(|i| format!("gen-{i:04}")))
        .collect()
}
