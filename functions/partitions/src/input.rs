//! The payloads the function accepts, parsed with the `aws_lambda_events` types:
//! - an SQS batch (S3 → SQS → Lambda, the recommended wiring for bursts) whose bodies are S3
//!   notifications, `s3:TestEvent`s, SNS envelopes of either, or EventBridge S3 events;
//! - a direct S3 notification (S3 → Lambda);
//! - an EventBridge "Object Created" event (S3 → EventBridge → Lambda).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::keys::SkipReason;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Sqs,
    S3,
    EventBridge,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Sqs => "sqs",
            Source::S3 => "s3",
            Source::EventBridge => "eventbridge",
        }
    }
}

/// One created object, key still form-URL-encoded as the event carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    pub bucket: String,
    pub raw_key: String,
    pub size: Option<i64>,
    pub event_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Object(ObjectEvent),
    Skipped(SkipReason),
}

/// One unit of failure reporting: an SQS message (`id` = its messageId), or the whole event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: Option<String>,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub source: Source,
    pub messages: Vec<Message>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error(
        "payload is not an SQS batch, an S3 notification, an EventBridge S3 event or an ops command ({0})"
    )]
    Unrecognized(String),
    #[error("malformed {what}: {error}")]
    Malformed { what: &'static str, error: String },
}

/// The `detail` of an EventBridge S3 "Object Created" event. `aws_lambda_events` types the
/// envelope ([`EventBridgeEvent`]) but not this S3-specific detail, so only the fields used are here.
#[derive(Debug, Clone, Deserialize)]
pub struct S3ObjectCreatedDetail {
    pub bucket: DetailBucket,
    pub object: DetailObject,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DetailBucket {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DetailObject {
    pub key: String,
    #[serde(default)]
    pub size: Option<i64>,
}

pub fn parse_payload(payload: Value) -> Result<Batch, InputError> {
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        let source = records
            .first()
            .and_then(|r| r.get("eventSource").or_else(|| r.get("EventSource")))
            .and_then(Value::as_str)
            .unwrap_or("");
        return match source {
            "aws:sqs" => {
                let event: SqsEvent =
                    serde_json::from_value(payload).map_err(|e| InputError::Malformed {
                        what: "SQS event",
                        error: e.to_string(),
                    })?;
                Ok(Batch {
                    source: Source::Sqs,
                    messages: event
                        .records
                        .into_iter()
                        .map(|m| Message {
                            id: m.message_id,
                            items: m.body.as_deref().map(parse_body).unwrap_or_else(|| {
                                vec![Item::Skipped(SkipReason::UnparseableMessage)]
                            }),
                        })
                        .collect(),
                })
            }
            "aws:s3" => Ok(Batch {
                source: Source::S3,
                messages: vec![Message {
                    id: None,
                    items: parse_s3_event(payload)?,
                }],
            }),
            "" if records.is_empty() => Ok(Batch {
                source: Source::S3,
                messages: Vec::new(),
            }),
            other => Err(InputError::Unrecognized(format!("Records from {other:?}"))),
        };
    }
    if payload.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Batch {
            source: Source::S3,
            messages: vec![Message {
                id: None,
                items: vec![Item::Skipped(SkipReason::TestEvent)],
            }],
        });
    }
    if payload.get("detail-type").is_some() {
        return Ok(Batch {
            source: Source::EventBridge,
            messages: vec![Message {
                id: None,
                items: vec![parse_eventbridge(payload)?],
            }],
        });
    }
    let keys: Vec<&str> = payload
        .as_object()
        .map(|o| o.keys().map(String::as_str).take(5).collect())
        .unwrap_or_default();
    Err(InputError::Unrecognized(format!("top-level keys {keys:?}")))
}

/// S3 always sends `userIdentity` and `requestParameters`, which the `aws_lambda_events` type
/// requires; S3-compatible stores (moto among them) leave them out. Neither is used here, so a
/// record without them is completed with empty objects rather than rejected.
fn complete_s3_records(mut v: Value) -> Value {
    if let Some(records) = v.get_mut("Records").and_then(Value::as_array_mut) {
        for r in records.iter_mut().filter_map(Value::as_object_mut) {
            for field in ["userIdentity", "requestParameters"] {
                r.entry(field)
                    .or_insert_with(|| Value::Object(Default::default()));
            }
        }
    }
    v
}

fn parse_s3_event(v: Value) -> Result<Vec<Item>, InputError> {
    let event: S3Event =
        serde_json::from_value(complete_s3_records(v)).map_err(|e| InputError::Malformed {
            what: "S3 event",
            error: e.to_string(),
        })?;
    Ok(event
        .records
        .into_iter()
        .map(|r| {
            let created = r
                .event_name
                .as_deref()
                .is_some_and(|n| n.starts_with("ObjectCreated:"));
            match (created, r.s3.bucket.name, r.s3.object.key) {
                (true, Some(bucket), Some(raw_key)) => Item::Object(ObjectEvent {
                    bucket,
                    raw_key,
                    size: r.s3.object.size,
                    event_time: r.event_time,
                }),
                (true, _, _) => Item::Skipped(SkipReason::UnrecognizedMessage),
                (false, _, _) => Item::Skipped(SkipReason::NotObjectCreated),
            }
        })
        .collect())
}

fn parse_eventbridge(v: Value) -> Result<Item, InputError> {
    let event: EventBridgeEvent<Value> =
        serde_json::from_value(v).map_err(|e| InputError::Malformed {
            what: "EventBridge event",
            error: e.to_string(),
        })?;
    if event.source != "aws.s3" || event.detail_type != "Object Created" {
        return Ok(Item::Skipped(SkipReason::NotObjectCreated));
    }
    let detail: S3ObjectCreatedDetail =
        serde_json::from_value(event.detail).map_err(|e| InputError::Malformed {
            what: "EventBridge Object Created detail",
            error: e.to_string(),
        })?;
    Ok(Item::Object(ObjectEvent {
        bucket: detail.bucket.name,
        raw_key: detail.object.key,
        size: detail.object.size,
        event_time: event.time.unwrap_or_else(Utc::now),
    }))
}

/// One SQS body. A body that cannot be understood is skipped with a reason rather than
/// failed: redelivering it would fail the same way.
fn parse_body(body: &str) -> Vec<Item> {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return vec![Item::Skipped(SkipReason::UnparseableMessage)];
    };
    parse_notification(v, 0)
}

fn parse_notification(v: Value, depth: u8) -> Vec<Item> {
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return vec![Item::Skipped(SkipReason::TestEvent)];
    }
    // S3 → SNS → SQS: the notification is the SNS envelope's Message (a JSON string).
    if depth == 0 && v.get("Type").and_then(Value::as_str) == Some("Notification") {
        return match v
            .get("Message")
            .and_then(Value::as_str)
            .map(serde_json::from_str::<Value>)
        {
            Some(Ok(inner)) => parse_notification(inner, 1),
            _ => vec![Item::Skipped(SkipReason::UnparseableMessage)],
        };
    }
    if v.get("Records").is_some() {
        return parse_s3_event(v).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "queue message is not a valid S3 notification");
            vec![Item::Skipped(SkipReason::UnrecognizedMessage)]
        });
    }
    if v.get("detail-type").is_some() {
        return vec![parse_eventbridge(v).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "queue message is not a valid EventBridge S3 event");
            Item::Skipped(SkipReason::UnrecognizedMessage)
        })];
    }
    vec![Item::Skipped(SkipReason::UnrecognizedMessage)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        streamops_test_support::fixture(&format!("partitions/{name}"))
    }

    fn objects(b: &Batch) -> Vec<&ObjectEvent> {
        b.messages
            .iter()
            .flat_map(|m| &m.items)
            .filter_map(|i| match i {
                Item::Object(o) => Some(o),
                Item::Skipped(_) => None,
            })
            .collect()
    }

    #[test]
    fn direct_s3_event() {
        let b = parse_payload(fixture("s3-object-created.json")).unwrap();
        assert_eq!(b.source, Source::S3);
        let o = objects(&b);
        assert_eq!(o.len(), 2);
        assert_eq!(
            o[0].raw_key,
            "enriched/dt%3D2026-11-23/hour%3D10/streamops-enriched-1-2026-11-23-10-05-00-6f1c.gz"
        );
        assert_eq!(o[0].size, Some(52311));
    }

    #[test]
    fn sqs_batch_with_test_event_sns_envelope_and_eventbridge_bodies() {
        let b = parse_payload(fixture("sqs-s3-notifications.json")).unwrap();
        assert_eq!(b.source, Source::Sqs);
        assert_eq!(b.messages.len(), 4);
        assert_eq!(
            b.messages[0].items,
            vec![Item::Skipped(SkipReason::TestEvent)]
        );
        assert_eq!(
            b.messages[0].id.as_deref(),
            Some("0d0f8c9e-0000-4000-8000-000000000001")
        );
        assert!(matches!(b.messages[1].items[0], Item::Object(_)));
        assert!(matches!(b.messages[2].items[0], Item::Object(_)));
        assert!(matches!(b.messages[3].items[0], Item::Object(_)));
    }

    #[test]
    fn notifications_without_user_identity_are_accepted() {
        // As moto (and other S3-compatible stores) send them: no userIdentity, no requestParameters.
        let body = json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-24T12:28:39.123Z", "eventName": "ObjectCreated:Put",
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "c", "bucket": {"name": "b", "arn": "arn:aws:s3:::b"},
                   "object": {"key": "enriched/dt%3D2026-11-24/hour%3D12/a+b.gz", "size": 20, "eTag": "e"}}}]});
        let b = parse_payload(json!({"Records": [{"messageId": "m", "eventSource": "aws:sqs", "body": body.to_string()}]})).unwrap();
        match &b.messages[0].items[0] {
            Item::Object(o) => assert_eq!(o.raw_key, "enriched/dt%3D2026-11-24/hour%3D12/a+b.gz"),
            other => panic!("{other:?}"),
        }
        let direct = parse_payload(body).unwrap();
        assert!(matches!(direct.messages[0].items[0], Item::Object(_)));
    }

    #[test]
    fn eventbridge_object_created() {
        let b = parse_payload(fixture("eventbridge-object-created.json")).unwrap();
        assert_eq!(b.source, Source::EventBridge);
        let o = objects(&b);
        assert_eq!(o[0].bucket, "streamops-data-123456789012-us-east-1");
        assert_eq!(o[0].event_time.to_rfc3339(), "2026-11-23T10:06:00+00:00");
    }

    #[test]
    fn odd_bodies_are_skipped_with_reasons_and_unknown_payloads_are_errors() {
        let b = parse_payload(json!({"Records": [
            {"messageId": "a", "eventSource": "aws:sqs", "body": "not json"},
            {"messageId": "b", "eventSource": "aws:sqs", "body": "{\"hello\": 1}"},
            {"messageId": "c", "eventSource": "aws:sqs", "body": "{\"Type\": \"Notification\", \"Message\": \"{\\\"Event\\\": \\\"s3:TestEvent\\\"}\"}"}
        ]}))
        .unwrap();
        let reasons: Vec<_> = b.messages.iter().map(|m| m.items.clone()).collect();
        assert_eq!(
            reasons,
            vec![
                vec![Item::Skipped(SkipReason::UnparseableMessage)],
                vec![Item::Skipped(SkipReason::UnrecognizedMessage)],
                vec![Item::Skipped(SkipReason::TestEvent)],
            ]
        );
        let e = parse_payload(json!({"foo": 1})).unwrap_err();
        assert!(e.to_string().contains("top-level keys [\"foo\"]"), "{e}");
        let e = parse_payload(json!({"Records": [{"eventSource": "aws:kinesis"}]})).unwrap_err();
        assert!(e.to_string().contains("aws:kinesis"), "{e}");
        let removed = parse_payload(json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete", "eventTime": "2026-11-23T10:00:00Z",
            "userIdentity": {}, "requestParameters": {}, "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]})).unwrap();
        assert_eq!(
            removed.messages[0].items,
            vec![Item::Skipped(SkipReason::NotObjectCreated)]
        );
    }
}
