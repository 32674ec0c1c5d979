//! The events the tests send: S3 notifications for data objects, wrapped in SQS batches.

use crate::harness::BUCKET;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use streamops_test_support::batch_item_failures;

// ------------------------------------------------------------------ events

pub fn s3_record(key: &str, size: i64, time: DateTime<Utc>) -> Value {
    json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": time.to_rfc3339(), "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAEXAMPLE:firehose"},
        "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "partitions",
               "bucket": {"name": BUCKET, "ownerIdentity": {"principalId": "O"}, "arn": format!("arn:aws:s3:::{BUCKET}")},
               "object": {"key": key, "size": size, "eTag": "e", "sequencer": "0062E99A88DC407460"}}
    })
}

pub fn sqs_message(id: &str, body: &Value) -> Value {
    json!({
        "messageId": id, "receiptHandle": format!("rh-{id}"), "body": body.to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795428000000", "SenderId": "S3", "ApproximateFirstReceiveTimestamp": "1795428000000"},
        "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:streamops-partitions-events", "awsRegion": "us-east-1"
    })
}

/// An SQS batch: one S3 notification (one record) per message, message ids `m-<n>`.
pub fn sqs_batch(keys: &[String], time: DateTime<Utc>) -> Value {
    let records: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            sqs_message(
                &format!("m-{i}"),
                &json!({"Records": [s3_record(k, 1024, time)]}),
            )
        })
        .collect();
    json!({ "Records": records })
}

/// 1,000 Firehose objects spread over three hours of 2026-11-23 (10, 11, 12).
pub fn burst_keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let hour = 10 + i % 3;
            format!("{prefix}2026/11/23/{hour:02}/streamops-enriched-1-2026-11-23-{hour:02}-{:02}-00-{i:04}.gz", i % 60)
        })
        .collect()
}

pub fn failures(resp: &Value) -> BTreeSet<String> {
    batch_item_failures(resp).into_iter().collect()
}

pub fn partition_clauses(sql: &str) -> usize {
    sql.matches("\nPARTITION (").count()
}
