//! In-memory fakes of every port of the checkpoints service, with scripted faults: call N of an
//! operation fails with a retryable or permanent [`AwsCallError`], or takes effect and then loses
//! its response; a concurrent writer pins a point (or changes its status) just before a prune
//! marks it. Each fake is a cheap clone sharing its state, so a test keeps one to inspect.

#![allow(dead_code)]

use std::collections::HashMap;

use checkpoints::{CheckpointsConfig, CheckpointsError, CheckpointsService, METADATA_MAGIC};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use streamops_shared::{EnvReader, Metrics};

mod book_table;
mod fakes;
#[allow(unused_imports)] // the moto tests use it
pub use book_table::create_book;
pub use fakes::*;

pub const BUCKET: &str = "streamops-checkpoints-123456789012-us-east-1";
pub const JOB: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
pub const JOB2: &str = "ffeedd00112233445566778899aabbcc";

// ------------------------------------------------------------------ fault script

#[allow(unused_imports)] // each test binary uses part of the support
pub use streamops_test_support::faults::{Fault, Script};

// ------------------------------------------------------------------ the service over the fakes

pub type Service = CheckpointsService<FakeBook, FakeBucket, FakeFlink, FakeNotifier>;

#[derive(Clone, Default)]
pub struct Fakes {
    pub book: FakeBook,
    pub bucket: FakeBucket,
    pub flink: FakeFlink,
    pub notifier: FakeNotifier,
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
        notifier: fakes.notifier.clone(),
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
