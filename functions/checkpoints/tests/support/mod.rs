//! In-memory fakes of every port of the checkpoints service, with scripted faults: call N of an
//! operation fails with a retryable or permanent [`AwsCallError`], or takes effect and then loses
//! its response; a concurrent writer pins a point (or changes its status) just before a prune
//! marks it. Each fake is a cheap clone sharing its state, so a test keeps one to inspect.

#![allow(dead_code)]

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use checkpoints::{
    BookStore, CheckpointObjects, CheckpointRecord, CheckpointsConfig, CheckpointsError,
    CheckpointsService, FlinkRest, HEADER_BYTES, JobLineage, LatestPointer, ListedObject,
    METADATA_MAGIC, PointId, PointStatus, Scope, is_protected,
};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use streamops_shared::dynamo::WriteOutcome;
use streamops_shared::{AwsCallError, EnvReader, ErrorClass, Metrics};

pub const BUCKET: &str = "streamops-checkpoints-123456789012-us-east-1";
pub const JOB: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
pub const JOB2: &str = "ffeedd00112233445566778899aabbcc";

// ------------------------------------------------------------------ fault script

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fails before taking effect with a retryable error (throttling).
    Throttled,
    /// Fails before taking effect with a permanent error (access denied).
    Denied,
    /// Takes effect on the server, then the response is lost: the caller sees a retryable error.
    LostResponse,
}

/// Scripted faults by operation name and call number (1-based), and a count of every call.
#[derive(Clone, Default)]
pub struct Script {
    inner: Arc<Mutex<ScriptState>>,
}

#[derive(Default)]
struct ScriptState {
    calls: HashMap<&'static str, usize>,
    faults: Vec<(&'static str, usize, Fault)>,
}

impl Script {
    pub fn fail(&self, operation: &'static str, nth: usize, fault: Fault) {
        self.inner
            .lock()
            .unwrap()
            .faults
            .push((operation, nth, fault));
    }

    /// Every further call of `operation` fails.
    pub fn fail_from(&self, operation: &'static str, from: usize, fault: Fault) {
        for n in from..from + 1000 {
            self.fail(operation, n, fault);
        }
    }

    pub fn calls(&self, operation: &str) -> usize {
        self.inner
            .lock()
            .unwrap()
            .calls
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    fn next(&self, operation: &'static str) -> Option<Fault> {
        let mut s = self.inner.lock().unwrap();
        let n = {
            let c = s.calls.entry(operation).or_default();
            *c += 1;
            *c
        };
        s.faults
            .iter()
            .find(|(op, nth, _)| *op == operation && *nth == n)
            .map(|(_, _, f)| *f)
    }
}

pub fn aws_error(operation: &'static str, fault: Fault) -> AwsCallError {
    let (class, code) = match fault {
        Fault::Throttled => (ErrorClass::Retryable, "ThrottlingException"),
        Fault::Denied => (ErrorClass::Permanent, "AccessDeniedException"),
        Fault::LostResponse => (ErrorClass::Retryable, "RequestTimeout"),
    };
    AwsCallError {
        operation,
        resource: "fake".into(),
        class,
        code: Some(code.into()),
        message: "injected".into(),
    }
}

fn scripted<T>(
    script: &Script,
    operation: &'static str,
    apply: impl FnOnce() -> T,
) -> Result<T, AwsCallError> {
    match script.next(operation) {
        None => Ok(apply()),
        Some(Fault::LostResponse) => {
            apply();
            Err(aws_error(operation, Fault::LostResponse))
        }
        Some(f) => Err(aws_error(operation, f)),
    }
}

// ------------------------------------------------------------------ the book

/// What a concurrent writer does to a point just before a prune marks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interference {
    Pin,
    Status(PointStatus),
}

#[derive(Clone, Default)]
pub struct FakeBook {
    state: Arc<Mutex<BookState>>,
    pub script: Script,
}

#[derive(Default)]
struct BookState {
    points: BTreeMap<PointId, CheckpointRecord>,
    latest: HashMap<Scope, (i64, LatestPointer)>,
    lineage: BTreeMap<String, BTreeMap<String, JobLineage>>,
    owners: HashMap<String, String>,
    prefixes: BTreeMap<String, BTreeSet<String>>,
    before_mark: HashMap<String, Interference>,
}

impl FakeBook {
    pub fn points(&self) -> Vec<CheckpointRecord> {
        self.state
            .lock()
            .unwrap()
            .points
            .values()
            .cloned()
            .collect()
    }

    /// The point whose location is `location`.
    pub fn at(&self, location: &str) -> Option<CheckpointRecord> {
        self.points().into_iter().find(|p| p.location == location)
    }

    pub fn latest_of(&self, scope: &Scope) -> Option<String> {
        self.state
            .lock()
            .unwrap()
            .latest
            .get(scope)
            .map(|(_, p)| p.location.clone())
    }

    /// Just before a prune marks the point at `location`, somebody else changes it.
    pub fn interfere_before_mark(&self, location: &str, what: Interference) {
        self.state
            .lock()
            .unwrap()
            .before_mark
            .insert(location.into(), what);
    }
}

fn prefix6(job: &str) -> String {
    job.chars().take(6).collect()
}

impl BookStore for FakeBook {
    async fn record(&self, r: &CheckpointRecord) -> Result<WriteOutcome, AwsCallError> {
        let mut s = self.state.lock().unwrap();
        scripted(&self.script, "PutItem (record)", || {
            match s.points.entry(r.id()) {
                Entry::Occupied(_) => WriteOutcome::ConditionFailed,
                Entry::Vacant(v) => {
                    v.insert(r.clone());
                    WriteOutcome::Written
                }
            }
        })
    }

    async fn advance_latest(
        &self,
        of: &Scope,
        r: &CheckpointRecord,
    ) -> Result<WriteOutcome, AwsCallError> {
        let mut s = self.state.lock().unwrap();
        scripted(&self.script, "PutItem (latest)", || {
            if s.latest.get(of).is_some_and(|(o, _)| *o >= r.order()) {
                return WriteOutcome::ConditionFailed;
            }
            let pointer = LatestPointer {
                location: r.location.clone(),
                point: r.id(),
            };
            s.latest.insert(of.clone(), (r.order(), pointer));
            WriteOutcome::Written
        })
    }

    async fn latest(&self, of: &Scope) -> Result<Option<LatestPointer>, AwsCallError> {
        let s = self.state.lock().unwrap();
        scripted(&self.script, "GetItem (latest)", || {
            s.latest.get(of).map(|(_, p)| p.clone())
        })
    }

    async fn point(&self, id: &PointId) -> Result<Option<CheckpointRecord>, AwsCallError> {
        let s = self.state.lock().unwrap();
        scripted(&self.script, "GetItem (point)", || {
            s.points.get(id).cloned()
        })
    }

    async fn points(&self, job: &str) -> Result<Vec<CheckpointRecord>, AwsCallError> {
        let s = self.state.lock().unwrap();
        scripted(&self.script, "Query (points)", || {
            s.points
                .values()
                .filter(|p| p.job_id == job)
                .cloned()
                .collect()
        })
    }

    async fn set_status(
        &self,
        id: &PointId,
        from: PointStatus,
        to: PointStatus,
    ) -> Result<bool, AwsCallError> {
        let mut s = self.state.lock().unwrap();
        scripted(&self.script, "UpdateItem (status)", || {
            match s.points.get_mut(id).filter(|p| p.status == from) {
                Some(p) => {
                    p.status = to;
                    true
                }
                None => false,
            }
        })
    }

    async fn mark_pruning(&self, id: &PointId, from: PointStatus) -> Result<bool, AwsCallError> {
        let mut guard = self.state.lock().unwrap();
        let s = &mut *guard;
        if let Some(p) = s.points.get_mut(id)
            && let Some(what) = s.before_mark.remove(&p.location)
        {
            match what {
                Interference::Pin => p.pinned = true,
                Interference::Status(st) => p.status = st,
            }
        }
        scripted(&self.script, "UpdateItem (prune)", || {
            match s
                .points
                .get_mut(id)
                .filter(|p| p.status == from && !p.pinned)
            {
                Some(p) => {
                    p.status = PointStatus::Pruning;
                    true
                }
                None => false,
            }
        })
    }

    async fn set_pinned(&self, id: &PointId, pinned: bool) -> Result<bool, AwsCallError> {
        let mut s = self.state.lock().unwrap();
        scripted(&self.script, "UpdateItem (pin)", || {
            match s.points.get_mut(id) {
                Some(p) => {
                    p.pinned = pinned;
                    true
                }
                None => false,
            }
        })
    }

    async fn register_job(&self, j: &JobLineage) -> Result<(), AwsCallError> {
        let mut s = self.state.lock().unwrap();
        scripted(&self.script, "PutItem (lineage)", || {
            s.lineage
                .entry(j.pipeline.clone())
                .or_default()
                .insert(j.job_id.clone(), j.clone());
            s.owners.insert(j.job_id.clone(), j.pipeline.clone());
            s.prefixes
                .entry(prefix6(&j.job_id))
                .or_default()
                .insert(j.job_id.clone());
        })
    }

    async fn index_job(&self, job: &str) -> Result<(), AwsCallError> {
        let mut s = self.state.lock().unwrap();
        scripted(&self.script, "PutItem (job index)", || {
            s.prefixes
                .entry(prefix6(job))
                .or_default()
                .insert(job.to_string());
        })
    }

    async fn jobs_with_prefix(&self, prefix: &str) -> Result<Vec<String>, AwsCallError> {
        let s = self.state.lock().unwrap();
        scripted(&self.script, "Query (job prefix)", || {
            s.prefixes
                .get(prefix)
                .map(|j| j.iter().cloned().collect())
                .unwrap_or_default()
        })
    }

    async fn pipeline_of(&self, job: &str) -> Result<Option<String>, AwsCallError> {
        let s = self.state.lock().unwrap();
        scripted(&self.script, "GetItem (pipeline)", || {
            s.owners.get(job).cloned()
        })
    }

    async fn lineage(&self, pipeline: &str) -> Result<Vec<JobLineage>, AwsCallError> {
        let s = self.state.lock().unwrap();
        scripted(&self.script, "Query (lineage)", || {
            s.lineage
                .get(pipeline)
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default()
        })
    }
}

// ------------------------------------------------------------------ the bucket

#[derive(Clone, Default)]
pub struct FakeBucket {
    state: Arc<Mutex<BucketState>>,
    pub script: Script,
}

#[derive(Default)]
struct BucketState {
    objects: BTreeMap<String, (Vec<u8>, DateTime<Utc>)>,
    deleted: Vec<String>,
}

impl FakeBucket {
    pub fn put(&self, key: &str, body: Vec<u8>, at: DateTime<Utc>) -> i64 {
        let len = body.len() as i64;
        self.state
            .lock()
            .unwrap()
            .objects
            .insert(key.into(), (body, at));
        len
    }

    pub fn keys(&self) -> Vec<String> {
        self.state.lock().unwrap().objects.keys().cloned().collect()
    }

    pub fn deleted(&self) -> Vec<String> {
        self.state.lock().unwrap().deleted.clone()
    }
}

impl CheckpointObjects for FakeBucket {
    fn name(&self) -> &str {
        BUCKET
    }

    async fn head_bytes(&self, key: &str) -> Result<Vec<u8>, AwsCallError> {
        let s = self.state.lock().unwrap();
        scripted(&self.script, "GetObject", || {
            s.objects.get(key).map(|(b, _)| {
                let mut b = b.clone();
                b.truncate(HEADER_BYTES);
                b
            })
        })?
        .ok_or_else(|| aws_error("GetObject", Fault::Denied))
    }

    async fn list_objects(&self, prefix: &str) -> Result<Vec<ListedObject>, AwsCallError> {
        let s = self.state.lock().unwrap();
        scripted(&self.script, "ListObjectsV2", || {
            s.objects
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, (b, at))| ListedObject {
                    key: k.clone(),
                    size: b.len() as i64,
                    etag: Some(format!("etag-{}", b.len())),
                    last_modified: *at,
                })
                .collect()
        })
    }

    async fn delete_dir(&self, dir: &str) -> Result<usize, AwsCallError> {
        assert!(
            dir.ends_with('/') && !is_protected(dir),
            "refusing to delete {dir:?}"
        );
        let mut guard = self.state.lock().unwrap();
        let s = &mut *guard;
        scripted(&self.script, "DeleteObjects", || {
            let keys: Vec<String> = s
                .objects
                .keys()
                .filter(|k| k.starts_with(dir) && !is_protected(k))
                .cloned()
                .collect();
            for k in &keys {
                s.objects.remove(k);
                s.deleted.push(k.clone());
            }
            keys.len()
        })
    }
}

// ------------------------------------------------------------------ Flink

#[derive(Clone)]
pub struct FakeFlink {
    answer: Arc<Mutex<Result<Value, String>>>,
    pub asked: Arc<Mutex<Vec<(String, String)>>>,
}

impl Default for FakeFlink {
    fn default() -> Self {
        Self {
            answer: Arc::new(Mutex::new(Err("connect 127.0.0.1:8081: refused".into()))),
            asked: Arc::default(),
        }
    }
}

impl FakeFlink {
    pub fn answer(&self, a: Result<Value, String>) {
        *self.answer.lock().unwrap() = a;
    }
}

impl FlinkRest for FakeFlink {
    async fn job_checkpoints(&self, endpoint: &str, job: &str) -> Result<Value, String> {
        self.asked
            .lock()
            .unwrap()
            .push((endpoint.into(), job.into()));
        self.answer.lock().unwrap().clone()
    }
}

// ------------------------------------------------------------------ the service over the fakes

pub type Service = CheckpointsService<FakeBook, FakeBucket, FakeFlink>;

#[derive(Clone, Default)]
pub struct Fakes {
    pub book: FakeBook,
    pub bucket: FakeBucket,
    pub flink: FakeFlink,
}

pub fn config(extra: &[(&str, &str)]) -> CheckpointsConfig {
    let mut vars: HashMap<String, String> = [
        ("CHECKPOINTS_TABLE", "book"),
        ("CHECKPOINTS_BUCKET", BUCKET),
        (
            "CHECKPOINTS_RETENTION",
            r#"{"default": {"keep_savepoints": 1, "min_age_hours": 1}}"#,
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    CheckpointsConfig::read(EnvReader::from_map(vars)).unwrap()
}

pub fn service_with(extra: &[(&str, &str)]) -> (Service, Fakes) {
    let fakes = Fakes::default();
    let service = CheckpointsService {
        config: config(extra),
        book: fakes.book.clone(),
        bucket: fakes.bucket.clone(),
        flink: fakes.flink.clone(),
    };
    (service, fakes)
}

pub fn service() -> (Service, Fakes) {
    service_with(&[])
}

/// `2026-11-20T10:00Z` plus `minutes`.
pub fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
        .unwrap()
        .to_utc()
        + Duration::minutes(minutes)
}

/// When commands run: a week after the points.
pub fn now() -> DateTime<Utc> {
    t(10_000)
}

pub async fn call(service: &Service, payload: Value) -> Result<Value, CheckpointsError> {
    let mut m = Metrics::with_sink("streamops", "checkpoints", |_: &str| {});
    service.handle(payload, now(), &mut m).await
}

pub async fn run(service: &Service, payload: Value) -> Value {
    call(service, payload.clone())
        .await
        .unwrap_or_else(|e| panic!("{payload}: {e}"))
}

pub fn actions(v: &Value) -> Vec<String> {
    v["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["action"].as_str().unwrap().to_string())
        .collect()
}

/// A `_metadata` body as Flink writes it: magic, format version, checkpoint id.
pub fn metadata(id: u64) -> Vec<u8> {
    let mut b = METADATA_MAGIC.to_be_bytes().to_vec();
    b.extend(4u32.to_be_bytes());
    b.extend(id.to_be_bytes());
    b.extend(b"operator-state-handles...");
    b
}

/// One S3 record (key form-URL-encoded as S3 sends it).
pub fn record(name: &str, bucket: &str, key: &str, size: Option<i64>, at: DateTime<Utc>) -> Value {
    let mut object = json!({"key": key.replace(' ', "+").replace('=', "%3D"), "eTag": "e"});
    if let Some(s) = size {
        object["size"] = json!(s);
    }
    json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": at.to_rfc3339(), "eventName": name,
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket}, "object": object}})
}

pub fn event(name: &str, key: &str, size: Option<i64>, at: DateTime<Utc>) -> Value {
    json!({"Records": [record(name, BUCKET, key, size, at)]})
}

pub fn checkpoint_dir(job: &str, id: u64) -> String {
    format!("flink/checkpoints/{job}/chk-{id}/")
}

pub fn location(dir: &str) -> String {
    format!("s3://{BUCKET}/{dir}")
}

/// Writes a completed checkpoint (a state file and `_metadata`) and returns its created event.
pub fn checkpoint(fakes: &Fakes, job: &str, id: u64, minute: i64) -> Value {
    let dir = checkpoint_dir(job, id);
    fakes
        .bucket
        .put(&format!("{dir}0b3e-state"), vec![1; 64], t(minute));
    let key = format!("{dir}_metadata");
    let size = fakes.bucket.put(&key, metadata(id), t(minute));
    event("ObjectCreated:Put", &key, Some(size), t(minute))
}

pub fn savepoint_dir(suffix: &str) -> String {
    format!("flink/savepoints/savepoint-a1b2c3-{suffix}/")
}

/// Writes a savepoint of JOB with checkpoint id `id` and returns its created event.
pub fn savepoint(fakes: &Fakes, suffix: &str, id: u64, minute: i64) -> Value {
    let dir = savepoint_dir(suffix);
    fakes
        .bucket
        .put(&format!("{dir}op-state"), vec![3; 32], t(minute));
    let key = format!("{dir}_metadata");
    let size = fakes.bucket.put(&key, metadata(id), t(minute));
    event("ObjectCreated:Put", &key, Some(size), t(minute))
}

pub fn removed(key: &str, minute: i64) -> Value {
    event("ObjectRemoved:Delete", key, None, t(minute))
}
