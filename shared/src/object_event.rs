//! S3 object events, parsed in one place whatever way they came:
//! - a direct S3 notification (S3 → Lambda: `Records[].eventSource = "aws:s3"`);
//! - an SQS batch (S3 → SQS → Lambda) whose bodies are S3 notifications, `s3:TestEvent`s, SNS
//!   envelopes of either (S3 → SNS → SQS), or EventBridge S3 events (EventBridge → SQS);
//! - an SNS delivery (S3 → SNS → Lambda: `Records[].EventSource = "aws:sns"`);
//! - an EventBridge `Object Created` / `Object Deleted` event (source `aws.s3`);
//! - a bare `s3:TestEvent`.
//!
//! Keys are decoded here from S3's form-URL encoding ([`crate::s3key`]). A message that cannot be
//! understood, a test event, an event that is no object creation or removal and an undecodable key
//! are [`Skip`]s (each message is still reported, so a caller can count them); only a payload that
//! is none of the shapes above, or whose envelope does not parse, is an error.

use std::fmt;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::s3key::{KeyDecodeError, decode_key};

/// What happened to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// `ObjectCreated:*` or EventBridge `Object Created`.
    Created,
    /// `ObjectRemoved:*` or EventBridge `Object Deleted`.
    Removed,
}

/// The notification format that carried an object event (beneath any SQS wrapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// An S3 event notification (`Records[].s3`).
    S3,
    /// An S3 event notification inside an SNS envelope.
    Sns,
    /// An EventBridge S3 event (`detail.bucket`, `detail.object`).
    EventBridge,
}

/// One object created or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    pub change: Change,
    pub bucket: String,
    /// Decoded (`+` → space, then `%XX`).
    pub key: String,
    /// As the event carried it (form-URL-encoded).
    pub raw_key: String,
    pub size: Option<i64>,
    pub etag: Option<String>,
    /// S3's per-key ordering token (hex, compare at equal length).
    pub sequencer: Option<String>,
    /// The record's `eventTime` (the EventBridge event's `time`; now if it has none).
    pub event_time: DateTime<Utc>,
    /// `ObjectCreated:Put`, `ObjectRemoved:Delete`, `Object Created`, ...
    pub event_name: String,
    pub source: SourceKind,
}

impl ObjectEvent {
    pub fn is_created(&self) -> bool {
        self.change == Change::Created
    }
}

/// Why a message (or a record in it) carries no object event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The `s3:TestEvent` S3 sends when a notification configuration is saved.
    TestEvent,
    /// An S3 event that is neither an object creation nor a removal (restore, tagging, ACL, ...),
    /// or an EventBridge event that is not an S3 `Object Created` / `Object Deleted`.
    NotAnObjectChange,
    /// A queue message (or SNS message) whose body is not JSON.
    UnparseableMessage,
    /// JSON, but no S3, SNS-wrapped S3 or EventBridge S3 event (or one without bucket or key).
    UnrecognizedMessage,
    /// The key is not valid after decoding (bad UTF-8, control characters).
    UndecodableKey {
        bucket: String,
        raw_key: String,
        error: KeyDecodeError,
    },
}

impl Skip {
    pub fn as_str(&self) -> &'static str {
        match self {
            Skip::TestEvent => "test_event",
            Skip::NotAnObjectChange => "not_an_object_change",
            Skip::UnparseableMessage => "unparseable_message",
            Skip::UnrecognizedMessage => "unrecognized_message",
            Skip::UndecodableKey { .. } => "undecodable_key",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Object(ObjectEvent),
    Skipped(Skip),
}

/// One unit of failure reporting: an SQS message (`id` = its messageId), an SNS record, or the
/// whole event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: Option<String>,
    pub items: Vec<Item>,
}

/// How the invocation's payload arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Envelope {
    /// A direct S3 notification (or a bare `s3:TestEvent`).
    S3,
    /// An SQS batch: failures can be reported per message (`batchItemFailures`).
    Sqs,
    /// An SNS delivery.
    Sns,
    /// An EventBridge event.
    EventBridge,
}

impl Envelope {
    pub fn as_str(self) -> &'static str {
        match self {
            Envelope::S3 => "s3",
            Envelope::Sqs => "sqs",
            Envelope::Sns => "sns",
            Envelope::EventBridge => "eventbridge",
        }
    }
}

impl fmt::Display for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub envelope: Envelope,
    pub messages: Vec<Message>,
}

impl Batch {
    /// Every item of every message, in order.
    pub fn into_items(self) -> impl Iterator<Item = Item> {
        self.messages.into_iter().flat_map(|m| m.items)
    }
}

/// A payload that is none of the accepted shapes, or whose envelope does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// `Records` from a service that is not S3, SQS or SNS (`aws:kinesis`, ...).
    #[error("Records from {0:?}")]
    UnknownRecords(String),
    /// No `Records`, no `detail-type`, no `Event`: the payload's top-level keys.
    #[error("top-level keys {0:?}")]
    UnknownShape(Vec<String>),
    #[error("malformed {what}: {error}")]
    Malformed { what: &'static str, error: String },
}

/// Parses an invocation payload into the object events it carries.
pub fn parse(payload: Value) -> Result<Batch, ParseError> {
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        let first = records.first();
        let source = first
            .and_then(|r| r.get("eventSource").or_else(|| r.get("EventSource")))
            .and_then(Value::as_str)
            .unwrap_or("");
        let looks_s3 = first.is_some_and(|r| r.get("s3").is_some());
        return match source {
            "aws:sqs" => parse_sqs(payload),
            "aws:sns" => Ok(parse_sns(records)),
            "aws:s3" => direct(Envelope::S3, s3_items(payload, SourceKind::S3)?),
            "" if records.is_empty() => Ok(Batch {
                envelope: Envelope::S3,
                messages: Vec::new(),
            }),
            // Some relays leave eventSource out of S3 records.
            "" if looks_s3 => direct(Envelope::S3, s3_items(payload, SourceKind::S3)?),
            other => Err(ParseError::UnknownRecords(other.to_string())),
        };
    }
    if is_test_event(&payload) {
        return direct(Envelope::S3, vec![Item::Skipped(Skip::TestEvent)]);
    }
    if payload.get("detail-type").is_some() {
        return direct(Envelope::EventBridge, vec![eventbridge_item(payload)?]);
    }
    let keys = payload
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    Err(ParseError::UnknownShape(keys))
}

fn direct(envelope: Envelope, items: Vec<Item>) -> Result<Batch, ParseError> {
    Ok(Batch {
        envelope,
        messages: vec![Message { id: None, items }],
    })
}

fn is_test_event(v: &Value) -> bool {
    v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent")
}

/// Serde reads a struct from a JSON array too, field by field in declaration order: a record
/// `["m-1", ...]` would read as a message whose id is `m-1`. Records are objects or an error.
fn records_are_objects(v: &Value, what: &'static str) -> Result<(), ParseError> {
    let records = v.get("Records").and_then(Value::as_array);
    match records.and_then(|r| r.iter().position(|r| !r.is_object())) {
        Some(i) => Err(ParseError::Malformed {
            what,
            error: format!("record #{} is not a JSON object", i + 1),
        }),
        None => Ok(()),
    }
}

fn parse_sqs(payload: Value) -> Result<Batch, ParseError> {
    records_are_objects(&payload, "SQS event")?;
    let event: SqsEvent = serde_json::from_value(payload).map_err(|e| ParseError::Malformed {
        what: "SQS event",
        error: e.to_string(),
    })?;
    Ok(Batch {
        envelope: Envelope::Sqs,
        messages: event
            .records
            .into_iter()
            .map(|m| Message {
                id: m.message_id,
                items: match m.body.as_deref() {
                    Some(body) => parse_body(body, SourceKind::S3),
                    None => vec![Item::Skipped(Skip::UnparseableMessage)],
                },
            })
            .collect(),
    })
}

/// S3 → SNS → Lambda: each record's `Sns.Message` is the notification, as a JSON string.
fn parse_sns(records: &[Value]) -> Batch {
    Batch {
        envelope: Envelope::Sns,
        messages: records
            .iter()
            .map(|r| Message {
                id: r["Sns"]["MessageId"].as_str().map(str::to_string),
                items: match r["Sns"]["Message"].as_str() {
                    Some(body) => parse_body(body, SourceKind::Sns),
                    None => vec![Item::Skipped(Skip::UnparseableMessage)],
                },
            })
            .collect(),
    }
}

/// One queue or SNS message body. A body that cannot be understood is skipped with a reason
/// rather than failed: redelivering it would fail the same way.
fn parse_body(body: &str, source: SourceKind) -> Vec<Item> {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => parse_notification(v, source),
        Err(_) => vec![Item::Skipped(Skip::UnparseableMessage)],
    }
}

fn parse_notification(v: Value, source: SourceKind) -> Vec<Item> {
    if is_test_event(&v) {
        return vec![Item::Skipped(Skip::TestEvent)];
    }
    // S3 → SNS → SQS: the notification is the SNS envelope's Message (a JSON string). One level only.
    if source == SourceKind::S3 && v.get("Type").and_then(Value::as_str) == Some("Notification") {
        return match v["Message"].as_str() {
            Some(inner) => parse_body(inner, SourceKind::Sns),
            None => vec![Item::Skipped(Skip::UnparseableMessage)],
        };
    }
    if v.get("Records").is_some() {
        return s3_items(v, source).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "message is not a valid S3 notification");
            vec![Item::Skipped(Skip::UnrecognizedMessage)]
        });
    }
    if v.get("detail-type").is_some() {
        return vec![eventbridge_item(v).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "message is not a valid EventBridge S3 event");
            Item::Skipped(Skip::UnrecognizedMessage)
        })];
    }
    vec![Item::Skipped(Skip::UnrecognizedMessage)]
}

/// S3 always sends `userIdentity`, `requestParameters` and `responseElements`, which the
/// `aws_lambda_events` type requires; S3-compatible stores (moto among them) and some relays
/// leave them out or send `null`. None is used here, so a record without them is completed with
/// empty objects rather than rejected.
fn complete_s3_records(mut v: Value) -> Value {
    if let Some(records) = v.get_mut("Records").and_then(Value::as_array_mut) {
        for r in records.iter_mut().filter_map(Value::as_object_mut) {
            for field in ["userIdentity", "requestParameters", "responseElements"] {
                let entry = r.entry(field).or_insert(Value::Null);
                if entry.is_null() {
                    *entry = Value::Object(Default::default());
                }
            }
        }
    }
    v
}

fn s3_items(v: Value, source: SourceKind) -> Result<Vec<Item>, ParseError> {
    records_are_objects(&v, "S3 event")?;
    let event: S3Event =
        serde_json::from_value(complete_s3_records(v)).map_err(|e| ParseError::Malformed {
            what: "S3 event",
            error: e.to_string(),
        })?;
    Ok(event
        .records
        .into_iter()
        .map(|r| {
            let name = r.event_name.unwrap_or_default();
            let change = if name.starts_with("ObjectCreated:") {
                Change::Created
            } else if name.starts_with("ObjectRemoved:") || name.starts_with("LifecycleExpiration:")
            {
                // S3 Lifecycle expiring an object (`LifecycleExpiration:Delete`, or
                // `:DeleteMarkerCreated` in a versioned bucket) removes it as a delete does.
                Change::Removed
            } else {
                return Item::Skipped(Skip::NotAnObjectChange);
            };
            let (Some(bucket), Some(raw_key)) = (r.s3.bucket.name, r.s3.object.key) else {
                return Item::Skipped(Skip::UnrecognizedMessage);
            };
            object(Fields {
                change,
                bucket,
                raw_key,
                size: r.s3.object.size,
                etag: r.s3.object.e_tag,
                sequencer: r.s3.object.sequencer,
                event_time: r.event_time,
                event_name: name,
                source,
            })
        })
        .collect())
}

/// The `detail` of an EventBridge S3 object event. `aws_lambda_events` types the envelope
/// ([`EventBridgeEvent`]) but not this S3-specific detail, so only the fields used are here.
#[derive(Debug, Clone, Deserialize)]
struct Detail {
    bucket: DetailBucket,
    object: DetailObject,
}

#[derive(Debug, Clone, Deserialize)]
struct DetailBucket {
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
struct DetailObject {
    key: String,
    #[serde(default)]
    size: Option<i64>,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    sequencer: Option<String>,
}

fn eventbridge_item(v: Value) -> Result<Item, ParseError> {
    let event: EventBridgeEvent<Value> =
        serde_json::from_value(v).map_err(|e| ParseError::Malformed {
            what: "EventBridge event",
            error: e.to_string(),
        })?;
    let change = match (event.source.as_str(), event.detail_type.as_str()) {
        ("aws.s3", "Object Created") => Change::Created,
        ("aws.s3", "Object Deleted") => Change::Removed,
        _ => return Ok(Item::Skipped(Skip::NotAnObjectChange)),
    };
    let detail: Detail =
        serde_json::from_value(event.detail).map_err(|e| ParseError::Malformed {
            what: "EventBridge S3 object detail",
            error: e.to_string(),
        })?;
    Ok(object(Fields {
        change,
        bucket: detail.bucket.name,
        raw_key: detail.object.key,
        size: detail.object.size,
        etag: detail.object.etag,
        sequencer: detail.object.sequencer,
        event_time: event.time.unwrap_or_else(Utc::now),
        event_name: event.detail_type,
        source: SourceKind::EventBridge,
    }))
}

struct Fields {
    change: Change,
    bucket: String,
    raw_key: String,
    size: Option<i64>,
    etag: Option<String>,
    sequencer: Option<String>,
    event_time: DateTime<Utc>,
    event_name: String,
    source: SourceKind,
}

fn object(f: Fields) -> Item {
    match decode_key(&f.raw_key) {
        Ok(key) => Item::Object(ObjectEvent {
            change: f.change,
            bucket: f.bucket,
            key,
            raw_key: f.raw_key,
            size: f.size,
            etag: f.etag,
            sequencer: f.sequencer,
            event_time: f.event_time,
            event_name: f.event_name,
            source: f.source,
        }),
        Err(error) => Item::Skipped(Skip::UndecodableKey {
            bucket: f.bucket,
            raw_key: f.raw_key,
            error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    fn s3_record(name: &str, key: &str) -> Value {
        json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-24T10:00:00.000Z", "eventName": name,
            "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "b", "arn": "arn:aws:s3:::b"},
                   "object": {"key": key, "size": 10, "eTag": "e", "sequencer": "0A"}}})
    }

    // Moved from checkpoints' service tests.
    #[test]
    fn s3_eventbridge_and_unknown_payloads() {
        let s3 = json!({"Records": [s3_record("ObjectCreated:Put",
            "flink/savepoints/savepoint-a1b2c3-0123456789ab/my+dir%3Dx/_metadata")]});
        let b = parse(s3).unwrap();
        let e = objects(&b);
        assert_eq!(
            e[0].key,
            "flink/savepoints/savepoint-a1b2c3-0123456789ab/my dir=x/_metadata"
        );
        assert_eq!(e[0].change, Change::Created);
        assert_eq!(
            (e[0].etag.as_deref(), e[0].sequencer.as_deref()),
            (Some("e"), Some("0A"))
        );
        let eb = json!({"version": "0", "id": "1", "detail-type": "Object Deleted", "source": "aws.s3", "account": "1",
            "time": "2026-11-24T10:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {"bucket": {"name": "b"}, "object": {"key": "k", "size": 3}}});
        let b = parse(eb).unwrap();
        assert_eq!(b.envelope, Envelope::EventBridge);
        assert_eq!(objects(&b)[0].change, Change::Removed);
        assert_eq!(objects(&b)[0].source, SourceKind::EventBridge);
        for name in [
            "ObjectRemoved:DeleteMarkerCreated",
            "LifecycleExpiration:Delete",
            "LifecycleExpiration:DeleteMarkerCreated",
        ] {
            let b = parse(json!({"Records": [s3_record(name, "enriched/x.gz")]})).unwrap();
            assert_eq!(objects(&b)[0].change, Change::Removed, "{name}");
        }
        let e = parse(json!({"hello": 1})).unwrap_err();
        assert!(e.to_string().contains("hello"), "{e}");
    }

    #[test]
    fn records_without_identity_fields_or_event_source_are_s3_notifications() {
        let mut r = s3_record("ObjectCreated:Put", "a+b.gz");
        r["responseElements"] = Value::Null;
        let b = parse(json!({"Records": [r.clone()]})).unwrap();
        assert_eq!(objects(&b)[0].key, "a b.gz");
        assert_eq!(objects(&b)[0].raw_key, "a+b.gz");
        r.as_object_mut().unwrap().remove("eventSource");
        let b = parse(json!({"Records": [r]})).unwrap();
        assert_eq!((b.envelope, objects(&b).len()), (Envelope::S3, 1));
        let empty = parse(json!({"Records": []})).unwrap();
        assert_eq!((empty.envelope, empty.messages.len()), (Envelope::S3, 0));
    }

    #[test]
    fn sqs_bodies_of_every_shape() {
        let sns = json!({"Type": "Notification", "MessageId": "n",
            "Message": json!({"Records": [s3_record("ObjectRemoved:Delete", "x/y")]}).to_string()});
        let sns_test = json!({"Type": "Notification", "Message": "{\"Event\": \"s3:TestEvent\"}"});
        let eb = json!({"version": "0", "id": "1", "detail-type": "Object Created", "source": "aws.s3",
            "account": "1", "time": "2026-11-24T10:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {"bucket": {"name": "b"}, "object": {"key": "k%2B1", "size": 3, "etag": "t"}}});
        let bodies = [
            json!({"Records": [s3_record("ObjectCreated:Copy", "k")]}).to_string(),
            sns.to_string(),
            sns_test.to_string(),
            eb.to_string(),
            json!({"Event": "s3:TestEvent"}).to_string(),
            "not json".to_string(),
            "{\"hello\": 1}".to_string(),
            json!({"Records": [s3_record("ObjectRestore:Completed", "k")]}).to_string(),
            json!({"Records": [s3_record("ObjectCreated:Put", "bad%FF")]}).to_string(),
            json!({"Records": [{"eventTime": 3}]}).to_string(),
        ];
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(
                |(i, b)| json!({"messageId": format!("m{i}"), "eventSource": "aws:sqs", "body": b}),
            )
            .collect();
        let b = parse(json!({"Records": records})).unwrap();
        assert_eq!(b.envelope, Envelope::Sqs);
        assert_eq!(b.messages[3].id.as_deref(), Some("m3"));
        let first = |i: usize| b.messages[i].items[0].clone();
        let Item::Object(o) = first(0) else { panic!() };
        assert_eq!((o.change, o.source), (Change::Created, SourceKind::S3));
        let Item::Object(o) = first(1) else { panic!() };
        assert_eq!(
            (o.change, o.source, o.key.as_str()),
            (Change::Removed, SourceKind::Sns, "x/y")
        );
        assert_eq!(first(2), Item::Skipped(Skip::TestEvent));
        let Item::Object(o) = first(3) else { panic!() };
        assert_eq!((o.key.as_str(), o.etag.as_deref()), ("k+1", Some("t")));
        assert_eq!(o.event_time.to_rfc3339(), "2026-11-24T10:00:00+00:00");
        assert_eq!(first(4), Item::Skipped(Skip::TestEvent));
        assert_eq!(first(5), Item::Skipped(Skip::UnparseableMessage));
        assert_eq!(first(6), Item::Skipped(Skip::UnrecognizedMessage));
        assert_eq!(first(7), Item::Skipped(Skip::NotAnObjectChange));
        assert_eq!(
            first(8),
            Item::Skipped(Skip::UndecodableKey {
                bucket: "b".into(),
                raw_key: "bad%FF".into(),
                error: KeyDecodeError::NotUtf8
            })
        );
        assert_eq!(first(9), Item::Skipped(Skip::UnrecognizedMessage));
    }

    #[test]
    fn sns_deliveries_unwrap_their_message() {
        let msg = json!({"Records": [s3_record("ObjectCreated:Put", "dt%3D1/a")]}).to_string();
        let b = parse(json!({"Records": [
            {"EventSource": "aws:sns", "Sns": {"MessageId": "s1", "Type": "Notification", "Message": msg}},
            {"EventSource": "aws:sns", "Sns": {"MessageId": "s2", "Message": "{\"Event\": \"s3:TestEvent\"}"}},
            {"EventSource": "aws:sns", "Sns": {"MessageId": "s3", "Message": "<xml/>"}}
        ]}))
        .unwrap();
        assert_eq!(b.envelope, Envelope::Sns);
        let Item::Object(o) = &b.messages[0].items[0] else {
            panic!()
        };
        assert_eq!((o.key.as_str(), o.source), ("dt=1/a", SourceKind::Sns));
        assert_eq!(b.messages[1].items, vec![Item::Skipped(Skip::TestEvent)]);
        assert_eq!(
            b.messages[2].items,
            vec![Item::Skipped(Skip::UnparseableMessage)]
        );
        assert_eq!(b.messages[2].id.as_deref(), Some("s3"));
    }

    #[test]
    fn eventbridge_events_other_than_object_changes_are_skipped_and_bad_envelopes_are_errors() {
        let other = json!({"version": "0", "id": "1", "detail-type": "Object Restore Completed", "source": "aws.s3",
            "account": "1", "time": "2026-11-24T10:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
        assert_eq!(
            parse(other).unwrap().messages[0].items,
            vec![Item::Skipped(Skip::NotAnObjectChange)]
        );
        let no_key = json!({"version": "0", "id": "1", "detail-type": "Object Created", "source": "aws.s3",
            "account": "1", "time": "2026-11-24T10:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {"bucket": {"name": "b"}, "object": {}}});
        let e = parse(no_key).unwrap_err();
        assert!(matches!(e, ParseError::Malformed { .. }), "{e}");
        assert_eq!(
            parse(json!({"Event": "s3:TestEvent"})).unwrap().messages[0].items,
            vec![Item::Skipped(Skip::TestEvent)]
        );
        let e = parse(json!({"Records": [{"eventSource": "aws:kinesis"}]})).unwrap_err();
        assert_eq!(e, ParseError::UnknownRecords("aws:kinesis".into()));
        let e =
            parse(json!({"Records": [{"eventSource": "aws:s3", "eventName": "x"}]})).unwrap_err();
        assert!(e.to_string().starts_with("malformed S3 event"), "{e}");
    }

    #[test]
    fn the_sample_sqs_batch_parses() {
        let b = parse(streamops_test_support::fixture(
            "partitions/sqs-s3-notifications.json",
        ))
        .unwrap();
        assert_eq!(b.envelope, Envelope::Sqs);
        assert_eq!(b.messages[0].items, vec![Item::Skipped(Skip::TestEvent)]);
        assert_eq!(objects(&b).len(), 3);
        assert_eq!(objects(&b)[1].source, SourceKind::Sns);
    }
}
