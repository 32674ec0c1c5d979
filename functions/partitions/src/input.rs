//! The payloads the function accepts, parsed once by [`streamops_shared::object_event`] (direct
//! S3 notifications; SQS batches whose bodies are S3 notifications, `s3:TestEvent`s, SNS envelopes
//! of either, or EventBridge S3 events; SNS deliveries; EventBridge "Object Created" events) and
//! mapped here to what registration needs: created objects, and every other record as a
//! [`SkipReason`].

use serde_json::Value;
use streamops_shared::object_event::{self, Item as EventItem, ParseError, Skip};

use crate::keys::SkipReason;

pub use streamops_shared::object_event::{Envelope as Source, ObjectEvent};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An object created: its partition is registered.
    Object(ObjectEvent),
    /// An object removed (a delete, a delete marker, S3 Lifecycle expiring it): its partition is
    /// dropped once its directory holds nothing.
    Removed(ObjectEvent),
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
        "payload is not an SQS batch, an S3 notification, an EventBridge S3 event, an SNS delivery or an ops command ({0})"
    )]
    Unrecognized(String),
    #[error("malformed {what}: {error}")]
    Malformed { what: &'static str, error: String },
}

impl From<ParseError> for InputError {
    fn from(e: ParseError) -> Self {
        match e {
            ParseError::UnknownShape(keys) => {
                let keys: Vec<&str> = keys.iter().map(String::as_str).take(5).collect();
                InputError::Unrecognized(format!("top-level keys {keys:?}"))
            }
            e @ ParseError::UnknownRecords(_) => InputError::Unrecognized(e.to_string()),
            ParseError::Malformed { what, error } => InputError::Malformed { what, error },
        }
    }
}

pub fn parse_payload(payload: Value) -> Result<Batch, InputError> {
    let batch = object_event::parse(payload)?;
    Ok(Batch {
        source: batch.envelope,
        messages: batch
            .messages
            .into_iter()
            .map(|m| Message {
                id: m.id,
                items: m.items.into_iter().map(item).collect(),
            })
            .collect(),
    })
}

/// Created and removed objects; everything else is a counted skip.
fn item(i: EventItem) -> Item {
    match i {
        EventItem::Object(o) if o.is_created() => Item::Object(o),
        EventItem::Object(o) => Item::Removed(o),
        EventItem::Skipped(skip) => Item::Skipped(match skip {
            Skip::TestEvent => SkipReason::TestEvent,
            Skip::NotAnObjectChange => SkipReason::NotObjectCreated,
            Skip::UnparseableMessage => SkipReason::UnparseableMessage,
            Skip::UnrecognizedMessage => SkipReason::UnrecognizedMessage,
            Skip::UndecodableKey {
                bucket,
                raw_key,
                error,
            } => {
                tracing::warn!(bucket = %bucket, raw_key = %raw_key, error = %error, reason = "undecodable_key", "object skipped");
                SkipReason::UndecodableKey
            }
        }),
    }
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
                Item::Removed(_) | Item::Skipped(_) => None,
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
        assert!(
            matches!(&removed.messages[0].items[..], [Item::Removed(o)] if o.key == "k"),
            "{removed:?}"
        );
        // The example: a delete and an S3 Lifecycle expiration, both removals.
        let b = parse_payload(fixture("s3-object-removed.json")).unwrap();
        let keys: Vec<&str> = b.messages[0]
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Removed(o) => Some(o.key.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            keys,
            [
                "enriched/dt=2026-11-23/hour=10/streamops-enriched-1-2026-11-23-10-05-00-6f1c.gz",
                "enriched/dt=2026-11-23/hour=11/streamops-enriched-1-2026-11-23-11-00-00-9a2b.gz"
            ]
        );
    }
}
