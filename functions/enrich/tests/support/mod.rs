//! In-memory fakes of the enrich ports, with scripted faults: what Kinesis, DynamoDB, S3 and
//! Secrets Manager do to the service, without moto. The ledger keeps the conditional-write
//! contract (a save lands only at the version it was read at); faults are queued per
//! operation and consumed by its next calls.

#![allow(dead_code)] // each test binary uses a part

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use enrich::ports::{
    EnrichedRecord, EntryError, LaneLedger, Ledger, OutputStream, Quarantine, ReferenceSource,
    SecretSource, SecretValue,
};
use serde_json::{Map, Value};
use streamops_shared::{AwsCallError, ErrorClass};

/// What an injected fault does to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Refused before anything happened (`ThrottlingException`, retryable).
    Throttled,
    /// A 5xx: nothing happened (`InternalServerError`, retryable).
    ServerError,
    /// The call took effect on the server, but its answer was lost (a timeout, retryable).
    TimeoutAfterApplying,
}

impl Fault {
    pub fn error(self, operation: &'static str) -> AwsCallError {
        let (code, message) = match self {
            Fault::Throttled => (Some("ThrottlingException"), "Rate exceeded (injected)"),
            Fault::ServerError => (Some("InternalServerError"), "500 (injected)"),
            Fault::TimeoutAfterApplying => (None, "timed out waiting for the answer (injected)"),
        };
        AwsCallError {
            operation,
            resource: "fake".into(),
            class: ErrorClass::Retryable,
            code: code.map(str::to_string),
            message: message.into(),
        }
    }

    fn applies_first(self) -> bool {
        self == Fault::TimeoutAfterApplying
    }
}

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
    /// Call number (1-based) to the fault it gets.
    call_faults: HashMap<usize, Fault>,
    /// Entries (by input event id) refused as throttled, with how many more times.
    rejected: HashMap<String, usize>,
    /// Answer this many results fewer than entries sent on the next call.
    short_answer: usize,
    calls: usize,
}

/// The enriched stream, in memory.
#[derive(Clone, Default)]
pub struct FakeStream {
    inner: Arc<Mutex<StreamState>>,
}

impl FakeStream {
    /// The `n`th PutRecords call from now on (1 = the next) fails as a whole with `fault`.
    pub fn fail_call(&self, n: usize, fault: Fault) {
        let mut s = self.inner.lock().unwrap();
        let at = s.calls + n;
        s.call_faults.insert(at, fault);
    }

    /// Entries with these input event ids are answered
    /// `ProvisionedThroughputExceededException` the next `times` times they are sent.
    pub fn reject(&self, event_ids: &[&str], times: usize) {
        let mut s = self.inner.lock().unwrap();
        for id in event_ids {
            s.rejected.insert(id.to_string(), times);
        }
    }

    pub fn clear_rejections(&self) {
        self.inner.lock().unwrap().rejected.clear();
    }

    /// The next call answers `missing` results fewer than it was sent (its tail unanswered).
    pub fn answer_short(&self, missing: usize) {
        self.inner.lock().unwrap().short_answer = missing;
    }

    /// Everything the stream holds, in write order.
    pub fn written(&self) -> Vec<EnrichedRecord> {
        self.inner.lock().unwrap().written.clone()
    }

    pub fn written_ids(&self) -> Vec<String> {
        self.written().iter().map(event_id_of).collect()
    }

    pub fn calls(&self) -> usize {
        self.inner.lock().unwrap().calls
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
        let mut guard = self.inner.lock().unwrap();
        let s = &mut *guard;
        s.calls += 1;
        let fault = s.call_faults.remove(&s.calls);
        if let Some(f) = fault.filter(|f| !f.applies_first()) {
            return Err(f.error("PutRecords"));
        }
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
        match fault {
            Some(f) => Err(f.error("PutRecords")),
            None => Ok(results),
        }
    }
}

#[derive(Default)]
struct LedgerState {
    lanes: HashMap<String, LaneLedger>,
    save_faults: VecDeque<Fault>,
    load_faults: VecDeque<Fault>,
    /// Lanes another invocation writes just before our next save of them.
    races: HashSet<String>,
    saves: usize,
}

/// The ledger table, in memory.
#[derive(Clone, Default)]
pub struct FakeLedger {
    inner: Arc<Mutex<LedgerState>>,
}

impl FakeLedger {
    pub fn fail_next_save(&self, fault: Fault) {
        self.inner.lock().unwrap().save_faults.push_back(fault);
    }

    pub fn fail_next_load(&self, fault: Fault) {
        self.inner.lock().unwrap().load_faults.push_back(fault);
    }

    /// Another invocation writes this lane's (empty) ledger between our read and our next
    /// save: the version moves on under us.
    pub fn concurrent_save_before_next_save(&self, lane: &str) {
        self.inner.lock().unwrap().races.insert(lane.to_string());
    }

    pub fn lane(&self, lane: &str) -> Option<LaneLedger> {
        self.inner.lock().unwrap().lanes.get(lane).cloned()
    }

    pub fn saves(&self) -> usize {
        self.inner.lock().unwrap().saves
    }
}

impl Ledger for FakeLedger {
    async fn load(&self, lanes: &[String]) -> Result<HashMap<String, LaneLedger>, AwsCallError> {
        let mut s = self.inner.lock().unwrap();
        if let Some(f) = s.load_faults.pop_front() {
            return Err(f.error("GetItem"));
        }
        Ok(lanes
            .iter()
            .map(|l| (l.clone(), s.lanes.get(l).cloned().unwrap_or_default()))
            .collect())
    }

    async fn save(
        &self,
        lane: &str,
        ledger: &LaneLedger,
        _now: DateTime<Utc>,
    ) -> Result<(), AwsCallError> {
        let mut s = self.inner.lock().unwrap();
        s.saves += 1;
        let fault = s.save_faults.pop_front();
        if let Some(f) = fault.filter(|f| !f.applies_first()) {
            return Err(f.error("PutItem (ledger)"));
        }
        if s.races.remove(lane) {
            let theirs = s.lanes.entry(lane.to_string()).or_default();
            theirs.version = Some(theirs.version.map_or(1, |v| v + 1));
        }
        let stored = s.lanes.get(lane).and_then(|l| l.version);
        if stored != ledger.version {
            return Err(AwsCallError {
                operation: "PutItem (ledger)",
                resource: lane.to_string(),
                class: ErrorClass::Permanent,
                code: Some("ConditionalCheckFailedException".into()),
                message: "another invocation updated this lane's ledger concurrently".into(),
            });
        }
        let mut next = ledger.clone();
        next.version = Some(stored.map_or(1, |v| v + 1));
        s.lanes.insert(lane.to_string(), next);
        match fault {
            Some(f) => Err(f.error("PutItem (ledger)")),
            None => Ok(()),
        }
    }
}

#[derive(Default)]
struct ReferenceState {
    items: HashMap<String, Map<String, Value>>,
    faults: VecDeque<Fault>,
    fetched_keys: Vec<String>,
}

/// The reference table, in memory.
#[derive(Clone, Default)]
pub struct FakeReference {
    inner: Arc<Mutex<ReferenceState>>,
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

    pub fn fail_next_fetch(&self, fault: Fault) {
        self.inner.lock().unwrap().faults.push_back(fault);
    }

    pub fn fetched_keys(&self) -> Vec<String> {
        self.inner.lock().unwrap().fetched_keys.clone()
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
        let mut s = self.inner.lock().unwrap();
        if let Some(f) = s.faults.pop_front() {
            return Err(f.error("BatchGetItem"));
        }
        s.fetched_keys.extend(keys.iter().cloned());
        Ok(keys
            .iter()
            .filter_map(|k| s.items.get(k).map(|v| (k.clone(), v.clone())))
            .collect())
    }
}

#[derive(Default)]
struct QuarantineState {
    objects: BTreeMap<(String, String), Vec<u8>>,
    put_faults: VecDeque<Fault>,
}

/// The quarantine bucket, in memory.
#[derive(Clone)]
pub struct FakeQuarantine {
    bucket: String,
    inner: Arc<Mutex<QuarantineState>>,
}

impl Default for FakeQuarantine {
    fn default() -> Self {
        Self {
            bucket: "fake-quarantine".into(),
            inner: Arc::default(),
        }
    }
}

impl FakeQuarantine {
    pub fn fail_next_put(&self, fault: Fault) {
        self.inner.lock().unwrap().put_faults.push_back(fault);
    }

    /// Every object in the configured bucket: key to its NDJSON body.
    pub fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        self.objects_in(&self.bucket)
    }

    pub fn objects_in(&self, bucket: &str) -> BTreeMap<String, Vec<u8>> {
        let s = self.inner.lock().unwrap();
        s.objects
            .iter()
            .filter(|((b, _), _)| b == bucket)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Moves an object to another bucket, as an operator might before a replay.
    pub fn move_to(&self, bucket: &str, key: &str) {
        let mut s = self.inner.lock().unwrap();
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
        let mut s = self.inner.lock().unwrap();
        let fault = s.put_faults.pop_front();
        if let Some(f) = fault.filter(|f| !f.applies_first()) {
            return Err(f.error("PutObject"));
        }
        s.objects
            .insert((bucket.to_string(), key.to_string()), body);
        match fault {
            Some(f) => Err(f.error("PutObject")),
            None => Ok(()),
        }
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, AwsCallError> {
        let s = self.inner.lock().unwrap();
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
        let mut s = self.inner.lock().unwrap();
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
        self.asked.lock().unwrap().insert(secret_id.to_string());
        self.value.clone().map_err(|f| f.error("GetSecretValue"))
    }
}
