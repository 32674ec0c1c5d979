//! S3 object events in every envelope (direct, SQS, SNS, SNS through SQS, EventBridge, EventBridge
//! through SQS) and form-URL-encoded keys: generated objects written into the real fixtures read
//! back with their decoded keys, every SQS message is reported with items or a skip reason
//! whatever its body, and junk is an error that says what it saw — never a panic.

use chrono::{DateTime, SecondsFormat, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};
use streamops_shared::object_event::{
    Batch, Change, Envelope, Item, ParseError, Skip, SourceKind, parse,
};
use streamops_shared::s3key::{KeyDecodeError, decode_key};
use streamops_test_support::fixture;
use streamops_test_support::generate::{
    form_encode, json_value, json_value_with, mutate, mutations, nasty, text,
};

/// One object as the generator sees it.
#[derive(Debug, Clone)]
struct Object {
    bucket: String,
    /// Decoded.
    key: String,
    escape_more: Vec<bool>,
    lower_hex: bool,
    /// 0: created, 1: removed, 2: neither (restore, tagging...).
    change: u8,
    size: Option<i64>,
    etag: Option<String>,
    sequencer: Option<String>,
    time: DateTime<Utc>,
}

impl Object {
    fn raw_key(&self) -> String {
        form_encode(&self.key, &self.escape_more, self.lower_hex)
    }

    fn s3_event_name(&self) -> &'static str {
        [
            "ObjectCreated:Put",
            "ObjectRemoved:Delete",
            "ObjectRestore:Completed",
        ][self.change as usize]
    }

    fn eventbridge_detail_type(&self) -> &'static str {
        [
            "Object Created",
            "Object Deleted",
            "Object Restore Completed",
        ][self.change as usize]
    }
}

/// Keys: path-like words, any text (control characters included: those are undecodable).
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(prop_oneof!["[A-Za-z0-9=._-]{1,12}", nasty()], 1..6)
            .prop_map(|parts| parts.join("/")),
        text().prop_filter("not empty", |s| !s.is_empty()),
    ]
}

prop_compose! {
    fn object()(
        bucket in "[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]",
        key in key(),
        escape_more in prop::collection::vec(any::<bool>(), 0..8),
        lower_hex in any::<bool>(),
        change in 0u8..3,
        size in prop::option::of(0i64..=i64::MAX),
        etag in prop::option::of("[0-9a-f]{32}"),
        sequencer in prop::option::of("[0-9A-F]{16,18}"),
        ms in 0i64..4_102_444_800_000,
    ) -> Object {
        let time = DateTime::from_timestamp_millis(ms).expect("in range");
        Object { bucket, key, escape_more, lower_hex, change, size, etag, sequencer, time }
    }
}

fn set_or_remove(target: &mut Value, field: &str, value: Option<Value>) {
    let o = target.as_object_mut().expect("object");
    match value {
        Some(v) => o.insert(field.to_string(), v),
        None => o.remove(field),
    };
}

/// An S3 notification record: the partitions fixture's, rewritten for `o`.
fn s3_record(o: &Object) -> Value {
    let mut r = fixture("partitions/s3-object-created.json")["Records"][0].clone();
    r["eventName"] = json!(o.s3_event_name());
    r["eventTime"] = json!(o.time.to_rfc3339_opts(SecondsFormat::Millis, true));
    r["s3"]["bucket"]["name"] = json!(o.bucket);
    r["s3"]["bucket"]["arn"] = json!(format!("arn:aws:s3:::{}", o.bucket));
    let object = &mut r["s3"]["object"];
    object["key"] = json!(o.raw_key());
    set_or_remove(object, "size", o.size.map(Value::from));
    set_or_remove(object, "eTag", o.etag.clone().map(Value::from));
    set_or_remove(object, "sequencer", o.sequencer.clone().map(Value::from));
    r
}

fn eventbridge_event(o: &Object) -> Value {
    let mut e = fixture("partitions/eventbridge-object-created.json");
    e["detail-type"] = json!(o.eventbridge_detail_type());
    e["time"] = json!(o.time.to_rfc3339_opts(SecondsFormat::Secs, true));
    e["detail"]["bucket"]["name"] = json!(o.bucket);
    let object = &mut e["detail"]["object"];
    object["key"] = json!(o.raw_key());
    set_or_remove(object, "size", o.size.map(Value::from));
    set_or_remove(object, "etag", o.etag.clone().map(Value::from));
    set_or_remove(object, "sequencer", o.sequencer.clone().map(Value::from));
    e
}

fn sqs_record(id: &str, body: String) -> Value {
    let mut r = fixture("partitions/sqs-s3-notifications.json")["Records"][1].clone();
    r["messageId"] = json!(id);
    r["body"] = json!(body);
    r
}

/// The SNS envelope of a notification delivered to SQS (raw delivery off).
fn sns_in_sqs(message: String) -> String {
    let body = fixture("partitions/sqs-s3-notifications.json")["Records"][2]["body"].clone();
    let mut envelope: Value = serde_json::from_str(body.as_str().unwrap()).unwrap();
    envelope["Message"] = json!(message);
    envelope.to_string()
}

/// An SNS record of an SNS → Lambda delivery.
fn sns_record(id: &str, message: String) -> Value {
    let mut r = fixture("alerts/sns-alarm-notification.json")["Records"][0].clone();
    r["Sns"]["MessageId"] = json!(id);
    r["Sns"]["Message"] = json!(message);
    r
}

fn notification(o: &Object) -> String {
    json!({"Records": [s3_record(o)]}).to_string()
}

/// The envelopes, and the source kind their objects read as.
const WAYS: &[(&str, Envelope, SourceKind)] = &[
    ("s3", Envelope::S3, SourceKind::S3),
    ("sns", Envelope::Sns, SourceKind::Sns),
    ("sqs", Envelope::Sqs, SourceKind::S3),
    ("sqs-sns", Envelope::Sqs, SourceKind::Sns),
    (
        "eventbridge",
        Envelope::EventBridge,
        SourceKind::EventBridge,
    ),
    ("sqs-eventbridge", Envelope::Sqs, SourceKind::EventBridge),
];

/// The payload delivering `objects` the given way (EventBridge alone carries one).
fn deliver(way: &str, objects: &[Object]) -> Value {
    let ids = |i: usize| format!("m-{i}");
    match way {
        "s3" => json!({"Records": objects.iter().map(s3_record).collect::<Vec<_>>()}),
        "sns" => json!({"Records": objects.iter().enumerate()
            .map(|(i, o)| sns_record(&ids(i), notification(o))).collect::<Vec<_>>()}),
        "sqs" => json!({"Records": objects.iter().enumerate()
            .map(|(i, o)| sqs_record(&ids(i), notification(o))).collect::<Vec<_>>()}),
        "sqs-sns" => json!({"Records": objects.iter().enumerate()
            .map(|(i, o)| sqs_record(&ids(i), sns_in_sqs(notification(o)))).collect::<Vec<_>>()}),
        "eventbridge" => eventbridge_event(&objects[0]),
        _ => json!({"Records": objects.iter().enumerate()
            .map(|(i, o)| sqs_record(&ids(i), eventbridge_event(o).to_string())).collect::<Vec<_>>()}),
    }
}

/// What `o` must read as.
fn expected(o: &Object, source: SourceKind) -> Item {
    let (change, event_name) = match (o.change, source) {
        (2, _) => return Item::Skipped(Skip::NotAnObjectChange),
        (c, SourceKind::EventBridge) => (c, o.eventbridge_detail_type()),
        (c, _) => (c, o.s3_event_name()),
    };
    if o.key.chars().any(char::is_control) {
        return Item::Skipped(Skip::UndecodableKey {
            bucket: o.bucket.clone(),
            raw_key: o.raw_key(),
            error: KeyDecodeError::ControlCharacter,
        });
    }
    let time = match source {
        // EventBridge's `time` has whole seconds.
        SourceKind::EventBridge => DateTime::from_timestamp(o.time.timestamp(), 0).unwrap(),
        _ => o.time,
    };
    Item::Object(streamops_shared::object_event::ObjectEvent {
        change: if change == 0 {
            Change::Created
        } else {
            Change::Removed
        },
        bucket: o.bucket.clone(),
        key: o.key.clone(),
        raw_key: o.raw_key(),
        size: o.size,
        etag: o.etag.clone(),
        sequencer: o.sequencer.clone(),
        event_time: time,
        event_name: event_name.to_string(),
        source,
    })
}

/// Every SQS message of `payload` is reported, in order, under its id.
fn assert_every_message_reported(payload: &Value, batch: &Batch) {
    let records = payload["Records"].as_array().expect("records");
    assert_eq!(batch.messages.len(), records.len());
    for (m, r) in batch.messages.iter().zip(records) {
        assert_eq!(m.id.as_deref(), r["messageId"].as_str());
        let empty_notification = r["body"].as_str().is_some_and(is_empty_notification);
        // A body is always accounted for: objects, or a skip with its reason.
        assert!(!m.items.is_empty() || empty_notification, "{r}");
    }
}

/// `{"Records": []}`, bare or in an SNS envelope: a notification of nothing, read as no items.
fn is_empty_notification(body: &str) -> bool {
    let Ok(b) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    if b["Type"] == "Notification" {
        return b["Message"].as_str().is_some_and(is_empty_notification);
    }
    b["Records"].as_array().is_some_and(Vec::is_empty)
}

/// What any successful read must hold: decoded keys without control characters that the raw key
/// decodes to.
fn assert_items_sound(batch: &Batch) {
    for item in batch.messages.iter().flat_map(|m| &m.items) {
        match item {
            Item::Object(o) => {
                assert!(!o.key.chars().any(char::is_control), "{o:?}");
                assert_eq!(decode_key(&o.raw_key).as_deref(), Ok(o.key.as_str()));
            }
            Item::Skipped(Skip::UndecodableKey { raw_key, error, .. }) => {
                assert_eq!(decode_key(raw_key).as_ref(), Err(error));
            }
            Item::Skipped(s) => assert!(!s.as_str().is_empty()),
        }
    }
}

fn object_fixtures() -> impl Strategy<Value = &'static str> {
    prop::sample::select(
        &[
            "partitions/s3-object-created.json",
            "partitions/eventbridge-object-created.json",
            "partitions/sqs-s3-notifications.json",
            "checkpoints/s3-checkpoint-completed.json",
            "checkpoints/s3-checkpoint-subsumed.json",
            "checkpoints/eventbridge-savepoint-created.json",
        ][..],
    )
}

/// An SQS body: a mutated notification of any shape, JSON junk, or text.
fn sqs_body() -> impl Strategy<Value = String> {
    let bodies: Vec<String> = fixture("partitions/sqs-s3-notifications.json")["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"].as_str().unwrap().to_string())
        .collect();
    prop_oneof![
        (prop::sample::select(bodies), mutations(2)).prop_map(|(body, edits)| {
            let doc: Value = serde_json::from_str(&body).unwrap();
            mutate(&doc, &edits).to_string()
        }),
        json_value_with(&["Records", "Type", "Message", "Event", "detail-type", "s3"])
            .prop_map(|v| v.to_string()),
        text(),
    ]
}

proptest! {
    #[test]
    fn objects_read_back_through_every_envelope(
        way in 0..WAYS.len(),
        objects in prop::collection::vec(object(), 1..5),
    ) {
        let (name, envelope, source) = WAYS[way];
        let payload = deliver(name, &objects);
        let batch = parse(payload.clone()).unwrap();
        prop_assert_eq!(batch.envelope, envelope);
        let delivered = if name == "eventbridge" { &objects[..1] } else { &objects[..] };
        let want: Vec<Item> = delivered.iter().map(|o| expected(o, source)).collect();
        if envelope == Envelope::Sqs {
            assert_every_message_reported(&payload, &batch);
        }
        let got: Vec<Item> = batch.into_items().collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn every_sqs_message_is_reported_whatever_its_body(
        bodies in prop::collection::vec(sqs_body(), 1..6),
    ) {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| sqs_record(&format!("id-{i}"), b.clone()))
            .collect();
        let payload = json!({"Records": records});
        let batch = parse(payload.clone()).unwrap();
        prop_assert_eq!(batch.envelope, Envelope::Sqs);
        assert_every_message_reported(&payload, &batch);
        assert_items_sound(&batch);
    }

    #[test]
    fn edited_fixtures_read_as_objects_and_skips_or_fail_clearly(
        file in object_fixtures(),
        edits in mutations(3),
    ) {
        let payload = mutate(&fixture(file), &edits);
        match parse(payload.clone()) {
            Ok(batch) => {
                if batch.envelope == Envelope::Sqs {
                    assert_every_message_reported(&payload, &batch);
                }
                assert_items_sound(&batch);
            }
            Err(e) => assert_error_says_what_it_saw(&payload, &e),
        }
    }

    #[test]
    fn junk_is_an_error_that_says_what_it_saw(payload in json_value()) {
        match parse(payload.clone()) {
            Ok(batch) => assert_items_sound(&batch),
            Err(e) => assert_error_says_what_it_saw(&payload, &e),
        }
    }

    #[test]
    fn form_encoded_keys_decode_to_themselves(
        key in any::<String>(),
        escape_more in prop::collection::vec(any::<bool>(), 0..16),
        lower in any::<bool>(),
    ) {
        let raw = form_encode(&key, &escape_more, lower);
        let decoded = decode_key(&raw);
        if key.chars().any(char::is_control) {
            prop_assert_eq!(decoded, Err(KeyDecodeError::ControlCharacter));
        } else {
            prop_assert_eq!(decoded, Ok(key));
        }
    }

    #[test]
    fn any_raw_key_decodes_cleanly_or_says_why(raw in prop_oneof![text(), any::<String>()]) {
        match decode_key(&raw) {
            Ok(key) => {
                prop_assert!(!key.chars().any(char::is_control), "{:?}", key);
                if !raw.contains('%') {
                    // Nothing to unescape: only `+` changes.
                    prop_assert_eq!(key, raw.replace('+', " "));
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

fn assert_error_says_what_it_saw(payload: &Value, e: &ParseError) {
    assert!(!e.to_string().is_empty());
    match e {
        ParseError::UnknownShape(keys) => {
            let seen: Vec<String> = payload
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            assert_eq!(keys, &seen);
        }
        ParseError::UnknownRecords(source) => {
            let first = &payload["Records"][0];
            // `eventSource` when present (whatever its type), else `EventSource`.
            let named = first
                .get("eventSource")
                .or(first.get("EventSource"))
                .and_then(Value::as_str)
                .unwrap_or("");
            assert_eq!(source, named);
        }
        ParseError::Malformed { what, error } => {
            assert!(!what.is_empty() && !error.is_empty(), "{e}");
        }
    }
}
