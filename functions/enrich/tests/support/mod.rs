//! In-memory fakes of the enrich ports, with scripted faults: what Kinesis, DynamoDB, S3 and
//! Secrets Manager (and a schema registry) do to the service, without moto. The ledger keeps the conditional-write
//! contract (a save lands only at the version it was read at); whole-call faults come from the
//! shared fault script (`streamops_test_support::faults`), one per fake, by AWS operation name.

#![allow(dead_code)] // each test binary uses a part

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use enrich::ports::{
    EnrichedRecord, EntryError, LaneLedger, Ledger, OutputStream, Quarantine, ReferenceSource,
    RegistrySchema, SchemaId, SchemaRegistry, SecretSource, SecretValue,
};
use enrich::values::wire::parse_uuid;
use serde_json::{Map, Value};
use streamops_shared::{AwsCallError, ErrorClass};
use streamops_test_support::faults::lock;

pub use streamops_test_support::faults::{Fault, Interleave, Script};

mod events;
mod registry_fixture;
mod setup;
pub use events::*;
#[allow(unused_imports)] // the Avro and Protobuf tests use it
pub use registry_fixture::*;
pub use setup::*;

/// The input `event_id` an enriched record carries (how the tests name records).
pub fn event_id_of(record: &EnrichedRecord) -> String {
    serde_json::from_slice::<Value>(&record.data)
        .ok()
        .and_then(|v| v["event_id"].as_str().map(str::to_string))
        .unwrap_or_default()
}

#[derive(Default)]
struct StreamState {
    written: Vec<EnrichedRecord>,
    /// Entries (by input event id) refused as throttled, with how many more times.
    rejected: HashMap<String, usize>,
    /// Answer this many results fewer than entries sent on the next call.
    short_answer: usize,
}

/// The enriched stream, in memory. Whole `PutRecords` calls fail by the script; entries are
/// refused one by one by [`FakeStream::reject`].
#[derive(Clone, Default)]
pub struct FakeStream {
    inner: Arc<Mutex<StreamState>>,
    pub script: Script,
}

impl FakeStream {
    /// Entries with these input event ids are answered
    /// `ProvisionedThroughputExceededException` the next `times` times they are sent.
    pub fn reject(&self, event_ids: &[&str], times: usize) {
        let mut s = lock(&self.inner);
        for id in event_ids {
            s.rejected.insert(id.to_string(), times);
        }
    }

    pub fn clear_rejections(&self) {
        lock(&self.inner).rejected.clear();
    }

    /// The next call answers `missing` results fewer than it was sent (its tail unanswered).
    pub fn answer_short(&self, missing: usize) {
        lock(&self.inner).short_answer = missing;
    }

    /// Everything the stream holds, in write order.
    pub fn written(&self) -> Vec<EnrichedRecord> {
        lock(&self.inner).written.clone()
    }

    pub fn written_ids(&self) -> Vec<String> {
        self.written().iter().map(event_id_of).collect()
    }

    pub fn calls(&self) -> usize {
        self.script.calls("PutRecords")
    }
}

impl OutputStream for FakeStream {
    fn name(&self) -> &str {
        "fake-enriched"
    }

    async fn put_records(
        &self,
        records: &[&EnrichedRecord],
    ) -> Result<Vec<Result<(), EntryError>>, AwsCallError> {
        self.script.call("PutRecords", || {
            let mut guard = lock(&self.inner);
            let s = &mut *guard;
            let mut results = Vec::with_capacity(records.len());
            for r in records {
                let id = event_id_of(r);
                match s.rejected.get_mut(&id).filter(|left| **left > 0) {
                    Some(left) => {
                        *left -= 1;
                        results.push(Err(EntryError {
                            code: "ProvisionedThroughputExceededException".into(),
                            message: "Rate exceeded for shard (injected)".into(),
                        }));
                    }
                    None => {
                        s.written.push((*r).clone());
                        results.push(Ok(()));
                    }
                }
            }
            let short = std::mem::take(&mut s.short_answer);
            results.truncate(results.len().saturating_sub(short));
            results
        })
    }
}

/// The ledger table, in memory: `GetItem` loads, `PutItem (ledger)` saves, both scripted.
#[derive(Clone, Default)]
pub struct FakeLedger {
    lanes: Arc<Mutex<HashMap<String, LaneLedger>>>,
    pub script: Script,
    /// Another invocation's saves, run just before one of ours is judged.
    pub interleave: Interleave<HashMap<String, LaneLedger>>,
}

impl FakeLedger {
    /// Another invocation writes this lane's (empty) ledger between our read and our next
    /// save: the version moves on under us.
    pub fn concurrent_save_before_next_save(&self, lane: &str) {
        let lane = lane.to_string();
        self.interleave.before_next(SAVE, move |lanes, _| {
            let theirs = lanes.entry(lane).or_default();
            theirs.version = Some(theirs.version.map_or(1, |v| v + 1));
        });
    }

    pub fn lane(&self, lane: &str) -> Option<LaneLedger> {
        lock(&self.lanes).get(lane).cloned()
    }

    pub fn saves(&self) -> usize {
        self.script.calls(SAVE)
    }
}

const SAVE: &str = "PutItem (ledger)";

impl Ledger for FakeLedger {
    async fn load(&self, lanes: &[String]) -> Result<HashMap<String, LaneLedger>, AwsCallError> {
        self.script.call("GetItem", || {
            let stored = lock(&self.lanes);
            lanes
                .iter()
                .map(|l| (l.clone(), stored.get(l).cloned().unwrap_or_default()))
                .collect()
        })
    }

    async fn save(
        &self,
        lane: &str,
        ledger: &LaneLedger,
        _now: DateTime<Utc>,
    ) -> Result<(), AwsCallError> {
        self.script.call(SAVE, || {
            let mut lanes = lock(&self.lanes);
            self.interleave.run(SAVE, &mut lanes, lane);
            let stored = lanes.get(lane).and_then(|l| l.version);
            if stored != ledger.version {
                return Err(AwsCallError {
                    operation: SAVE,
                    resource: lane.to_string(),
                    class: ErrorClass::Permanent,
                    code: Some("ConditionalCheckFailedException".into()),
                    message: "another invocation updated this lane's ledger concurrently".into(),
                });
            }
            let mut next = ledger.clone();
            next.version = Some(stored.map_or(1, |v| v + 1));
            lanes.insert(lane.to_string(), next);
            Ok(())
        })?
    }
}

#[derive(Default)]
struct ReferenceState {
    items: HashMap<String, Map<String, Value>>,
    fetched_keys: Vec<String>,
}

/// The reference table, in memory (`BatchGetItem` scripted).
#[derive(Clone, Default)]
pub struct FakeReference {
    inner: Arc<Mutex<ReferenceState>>,
    pub script: Script,
}

impl FakeReference {
    pub fn with_items(items: &[(&str, Value)]) -> Self {
        let r = Self::default();
        {
            let mut s = r.inner.lock().unwrap();
            for (k, v) in items {
                s.items
                    .insert(k.to_string(), v.as_object().cloned().unwrap_or_default());
            }
        }
        r
    }

    pub fn fetched_keys(&self) -> Vec<String> {
        lock(&self.inner).fetched_keys.clone()
    }
}

impl ReferenceSource for FakeReference {
    fn table(&self) -> &str {
        "fake-reference"
    }

    async fn fetch(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, Map<String, Value>>, AwsCallError> {
        self.script.call("BatchGetItem", || {
            let mut s = lock(&self.inner);
            s.fetched_keys.extend(keys.iter().cloned());
            keys.iter()
                .filter_map(|k| s.items.get(k).map(|v| (k.clone(), v.clone())))
                .collect()
        })
    }
}

#[derive(Default)]
struct QuarantineState {
    objects: BTreeMap<(String, String), Vec<u8>>,
}

/// The quarantine bucket, in memory (`PutObject` scripted).
#[derive(Clone)]
pub struct FakeQuarantine {
    bucket: String,
    inner: Arc<Mutex<QuarantineState>>,
    pub script: Script,
}

impl Default for FakeQuarantine {
    fn default() -> Self {
        Self {
            bucket: "fake-quarantine".into(),
            inner: Arc::default(),
            script: Script::default(),
        }
    }
}

impl FakeQuarantine {
    /// Every object in the configured bucket: key to its NDJSON body.
    pub fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        self.objects_in(&self.bucket)
    }

    pub fn objects_in(&self, bucket: &str) -> BTreeMap<String, Vec<u8>> {
        let s = lock(&self.inner);
        s.objects
            .iter()
            .filter(|((b, _), _)| b == bucket)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Moves an object to another bucket, as an operator might before a replay.
    pub fn move_to(&self, bucket: &str, key: &str) {
        let mut s = lock(&self.inner);
        let body = s
            .objects
            .remove(&(self.bucket.clone(), key.to_string()))
            .expect("the object exists");
        s.objects
            .insert((bucket.to_string(), key.to_string()), body);
    }
}

impl Quarantine for FakeQuarantine {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    fn prefix(&self) -> &str {
        "quarantine/"
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), AwsCallError> {
        self.script.call("PutObject", || {
            lock(&self.inner)
                .objects
                .insert((bucket.to_string(), key.to_string()), body);
        })
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, AwsCallError> {
        let s = lock(&self.inner);
        s.objects
            .get(&(bucket.to_string(), key.to_string()))
            .cloned()
            .ok_or_else(|| AwsCallError {
                operation: "GetObject",
                resource: format!("s3://{bucket}/{key}"),
                class: ErrorClass::Permanent,
                code: Some("NoSuchKey".into()),
                message: "The specified key does not exist.".into(),
            })
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), AwsCallError> {
        let mut s = lock(&self.inner);
        s.objects.remove(&(bucket.to_string(), key.to_string()));
        Ok(())
    }
}

/// Secrets Manager, holding one secret (or failing).
pub struct FakeSecrets {
    pub value: Result<SecretValue, Fault>,
    pub asked: Mutex<HashSet<String>>,
}

impl SecretSource for FakeSecrets {
    async fn secret_value(&self, secret_id: &str) -> Result<SecretValue, AwsCallError> {
        lock(&self.asked).insert(secret_id.to_string());
        self.value
            .clone()
            .map_err(|f| f.aws_error("GetSecretValue"))
    }
}

/// A schema registry holding the producer fixtures' schema versions
/// (events/enrich/avro/registry.json, events/enrich/protobuf/registry.json), counting its calls; `unreachable(n)` fails the next
/// `n` calls as a registry that cannot be reached would (retryable).
#[derive(Clone, Default)]
pub struct FakeRegistry {
    schemas: Arc<HashMap<SchemaId, RegistrySchema>>,
    fail_next: Arc<Mutex<usize>>,
    calls: Arc<Mutex<Vec<SchemaId>>>,
}

impl FakeRegistry {
    /// The fixture's registry.
    pub fn from_fixture() -> Self {
        let versions = streamops_test_support::fixture("enrich/avro/registry.json");
        let schemas = versions
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let id = parse_uuid(v["schemaVersionId"].as_str().unwrap()).unwrap();
                let schema = RegistrySchema {
                    data_format: v["dataFormat"].as_str().unwrap().into(),
                    definition: v["definition"].as_str().unwrap().into(),
                };
                (SchemaId::Glue(id), schema)
            })
            .collect();
        Self {
            schemas: Arc::new(schemas),
            ..Default::default()
        }
    }

    /// The Protobuf fixture's registries: its Glue versions (one an Avro schema) and its
    /// Confluent ids, in one fake (a format's headers name ids of one kind only).
    pub fn from_protobuf_fixture() -> Self {
        let registry = streamops_test_support::fixture("enrich/protobuf/registry.json");
        let glue = registry["glue"].as_array().unwrap().iter().map(|v| {
            let id = parse_uuid(v["schemaVersionId"].as_str().unwrap()).unwrap();
            let schema = RegistrySchema {
                data_format: v["dataFormat"].as_str().unwrap().into(),
                definition: v["definition"].as_str().unwrap().into(),
            };
            (SchemaId::Glue(id), schema)
        });
        let confluent = registry["confluent"].as_array().unwrap().iter().map(|v| {
            let schema = RegistrySchema {
                data_format: v["schemaType"].as_str().unwrap().into(),
                definition: v["schema"].as_str().unwrap().into(),
            };
            (
                SchemaId::Confluent(v["id"].as_u64().unwrap() as u32),
                schema,
            )
        });
        Self {
            schemas: Arc::new(glue.chain(confluent).collect()),
            ..Default::default()
        }
    }

    /// A registry holding exactly `schemas`.
    pub fn with_schemas(schemas: HashMap<SchemaId, RegistrySchema>) -> Self {
        Self {
            schemas: Arc::new(schemas),
            ..Default::default()
        }
    }

    pub fn unreachable(&self, calls: usize) {
        *lock(&self.fail_next) = calls;
    }

    /// The ids asked for, in order, failed calls included.
    pub fn calls(&self) -> Vec<SchemaId> {
        lock(&self.calls).clone()
    }
}

impl SchemaRegistry for FakeRegistry {
    fn name(&self) -> &str {
        "fake-registry"
    }

    async fn schema(&self, id: SchemaId) -> Result<Option<RegistrySchema>, AwsCallError> {
        lock(&self.calls).push(id);
        let mut fail = lock(&self.fail_next);
        if *fail > 0 {
            *fail -= 1;
            return Err(AwsCallError {
                operation: "GetSchemaVersion",
                resource: id.to_string(),
                class: ErrorClass::Retryable,
                code: None,
                message: "dispatch failure: connection refused".into(),
            });
        }
        Ok(self.schemas.get(&id).cloned())
    }
}
