//! In-memory fakes of every port of the partitions service, with scripted faults: call N of an
//! operation fails with a retryable or permanent [`AwsCallError`], or takes effect and then loses
//! its response; a concurrent writer puts its own registry mark just before ours; a query runs its
//! DDL and is still "running" at the deadline. Each fake is a cheap clone sharing its state, so a
//! test keeps one to inspect after handing the other to the service.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use partitions::{InvocationContext, PartitionsConfig, PartitionsError, PartitionsService};
use serde_json::{Value, json};
use streamops_shared::{EnvReader, Metrics};
use streamops_test_support::batch_item_failures;

mod fakes;
mod maintenance;
pub use fakes::*;
pub use maintenance::*;

pub const BUCKET: &str = "streamops-data-123456789012-us-east-1";

// ------------------------------------------------------------------ fault script

#[allow(unused_imports)] // each test binary uses part of the support
pub use streamops_test_support::faults::{Fault, Script};

// ------------------------------------------------------------------ the service over the fakes

pub type Service =
    PartitionsService<FakeRegistry, FakeAthena, FakeGlue, FakeData, FakeEvents, FakeFollowUps>;

/// Clones of the service's fakes, to script and inspect.
#[derive(Clone, Default)]
pub struct Fakes {
    pub registry: FakeRegistry,
    pub athena: FakeAthena,
    pub glue: FakeGlue,
    pub data: FakeData,
    pub events: FakeEvents,
    pub follow_ups: FakeFollowUps,
}

/// Two tables in the data bucket, as deployed (Hive layout) and the Firehose default layout.
pub fn config(mode: &str) -> PartitionsConfig {
    config_of(
        mode,
        json!([
            {"bucket": BUCKET, "prefix": "enriched/", "database": "streamops", "table": "enriched_events",
             "layout": "hive", "error_prefix": "firehose-errors/"},
            {"bucket": BUCKET, "prefix": "firehose/", "database": "streamops", "table": "firehose_events", "layout": "firehose"}
        ]),
    )
}

/// The configuration with these tables.
pub fn config_of(mode: &str, tables: Value) -> PartitionsConfig {
    config_with_env(mode, tables, &[])
}

/// [`config_of`] with more variables.
pub fn config_with_env(mode: &str, tables: Value, extra: &[(&str, &str)]) -> PartitionsConfig {
    let vars: HashMap<String, String> = [
        ("PARTITIONS_TABLES", tables.to_string()),
        ("PARTITIONS_REGISTRY_TABLE", "registry".to_string()),
        ("PARTITIONS_MODE", mode.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    .collect();
    PartitionsConfig::read(EnvReader::from_map(vars)).unwrap()
}

pub fn service(mode: &str) -> (Service, Fakes) {
    service_over(config(mode))
}

/// The service over fresh fakes with this configuration.
pub fn service_over(config: PartitionsConfig) -> (Service, Fakes) {
    let fakes = Fakes::default();
    let service = PartitionsService {
        config,
        registry: fakes.registry.clone(),
        athena: fakes.athena.clone(),
        glue: fakes.glue.clone(),
        data: fakes.data.clone(),
        events: fakes.events.clone(),
        follow_ups: fakes.follow_ups.clone(),
    };
    (service, fakes)
}

pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
        .unwrap()
        .to_utc()
}

pub fn ctx_at(request_id: &str, now: DateTime<Utc>) -> InvocationContext {
    InvocationContext {
        request_id: request_id.into(),
        now,
        deadline: Instant::now() + Duration::from_secs(120),
    }
}

/// One invocation: the answer and the EMF documents it flushed.
pub async fn invoke_at(
    service: &Service,
    payload: Value,
    request_id: &str,
    now: DateTime<Utc>,
) -> (Result<Value, PartitionsError>, Vec<String>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let mut metrics = Metrics::with_sink("streamops", "partitions", move |l| {
        sink.lock().unwrap().push(l.to_string())
    });
    let out = service
        .handle(payload, &ctx_at(request_id, now), &mut metrics)
        .await;
    metrics.flush();
    let lines = lines.lock().unwrap().clone();
    (out, lines)
}

pub async fn invoke(
    service: &Service,
    payload: Value,
    request_id: &str,
) -> Result<Value, PartitionsError> {
    invoke_at(service, payload, request_id, now()).await.0
}

/// The sum of metric `name` over EMF documents.
pub fn metric(lines: &[String], name: &str) -> f64 {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|d| d[name].as_f64())
        .sum()
}

/// A created-object record as S3 sends it (key form-URL-encoded).
pub fn s3_record(key: &str) -> Value {
    json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T11:59:00Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": BUCKET},
               "object": {"key": key.replace('=', "%3D"), "size": 100}}})
}

/// A removal record (`ObjectRemoved:Delete`, `LifecycleExpiration:Delete`, ...): no size.
pub fn s3_removal(key: &str, event_name: &str) -> Value {
    json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T11:59:30Z", "eventName": event_name,
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": BUCKET},
               "object": {"key": key.replace('=', "%3D")}}})
}

/// An SQS batch: each message (id, records) carries one S3 notification of those records.
pub fn sqs_records(messages: &[(&str, Vec<Value>)]) -> Value {
    json!({"Records": messages.iter().map(|(id, records)| json!({
        "messageId": id, "eventSource": "aws:sqs", "receiptHandle": "rh",
        "body": json!({"Records": records}).to_string(),
    })).collect::<Vec<_>>()})
}

pub fn s3_event(keys: &[&str]) -> Value {
    json!({"Records": keys.iter().map(|k| s3_record(k)).collect::<Vec<_>>()})
}

/// An SQS batch: each message (id, keys) carries one S3 notification.
pub fn sqs_batch(messages: &[(&str, Vec<String>)]) -> Value {
    json!({"Records": messages.iter().map(|(id, keys)| json!({
        "messageId": id, "eventSource": "aws:sqs", "receiptHandle": "rh",
        "body": json!({"Records": keys.iter().map(|k| s3_record(k)).collect::<Vec<_>>()}).to_string(),
    })).collect::<Vec<_>>()})
}

/// The message ids an SQS answer reports as failed.
pub fn failures(answer: &Value) -> BTreeSet<String> {
    batch_item_failures(answer).into_iter().collect()
}

/// A data object of the Hive table at `dt`, `hour`.
pub fn hive_key(dt: &str, hour: u32, name: &str) -> String {
    format!("enriched/dt={dt}/hour={hour:02}/{name}")
}

/// Its registry key.
pub fn hive_partition(dt: &str, hour: u32) -> String {
    format!("streamops.enriched_events/dt={dt}/hour={hour:02}")
}

pub fn firehose_key(dt: &str, hour: u32, name: &str) -> String {
    format!("firehose/{}/{hour:02}/{name}", dt.replace('-', "/"))
}

pub fn firehose_partition(dt: &str, hour: u32) -> String {
    format!("streamops.firehose_events/dt={dt}/hour={hour:02}")
}

/// How many `PARTITION (` clauses a statement has.
pub fn clauses(sql: &str) -> usize {
    sql.matches("PARTITION (").count()
}
