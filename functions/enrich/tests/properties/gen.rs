//! Generators: clickstream events as the shipped spec reads them, each with the verdict it
//! must get (valid, with its exact event time, or poison with its reason), and the ways a
//! payload goes wrong (bad UTF-8, bad JSON, not an object, a missing or mistyped field, a bad
//! event time, an empty partition key). The record envelopes are in `envelope.rs`.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use enrich::poison::PoisonReason;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// A value planted in every generated event: no poison message may repeat it.
pub const SECRET: &str = "s3cr3t-v4lue";

/// The fields the shipped spec (specs/clickstream.json) names; extra members avoid them.
pub const SPEC_FIELDS: &[&str] = &[
    "event_id",
    "event_type",
    "user_id",
    "product_id",
    "email",
    "ip",
    "properties",
    "ts",
    "phone",
    "product",
];

/// Any text: every char, control characters, quotes and backslashes included.
pub fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9@._+-]{0,12}".prop_map(String::from),
        1 => prop::collection::vec(any::<char>(), 0..max).prop_map(String::from_iter),
        1 => prop::sample::select(vec!["\"", "\\", "\u{0}", "\n\t", "ünï", "\u{202E}x", "🚨"])
            .prop_map(String::from),
    ]
}

/// Any JSON value, nested a little.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e15f64..1e15).prop_map(Value::from),
        text(8).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(6), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An event time as the spec's formats allow it, and the epoch milliseconds it means; `None`
/// where the time is not usable (out of range, not a time).
#[derive(Debug, Clone)]
pub struct EventTime {
    pub value: Value,
    pub millis: Option<i64>,
}

/// Latest instant the pipeline writes: 9999-12-31T23:59:59.999Z.
pub const MAX_MILLIS: i64 = 253_402_300_799_999;

fn rfc3339_time() -> impl Strategy<Value = EventTime> {
    // Local times across the whole four-digit range, any offset: near the ends the instant
    // itself falls outside years 0 to 9999.
    // Within a day of either end a third of the time.
    let day = 86_400_000i64;
    let local = prop_oneof![
        4 => -62_167_219_200_000i64..=MAX_MILLIS,
        1 => -62_167_219_200_000i64..-62_167_219_200_000 + day,
        1 => MAX_MILLIS - day..=MAX_MILLIS,
    ];
    (local, -14 * 60..=14 * 60i32, 0..3usize).prop_map(|(local_ms, offset_min, digits)| {
        let offset = FixedOffset::east_opt(offset_min * 60).expect("within a day");
        let local = DateTime::from_timestamp_millis(local_ms).expect("in range");
        let at = local.naive_utc().and_local_timezone(offset).unwrap();
        let format = [
            SecondsFormat::Secs,
            SecondsFormat::Millis,
            SecondsFormat::Micros,
        ][digits];
        let truncated = match format {
            SecondsFormat::Secs => at.timestamp_millis().div_euclid(1000) * 1000,
            _ => at.timestamp_millis(),
        };
        let millis = Some(truncated).filter(|m| (-62_167_219_200_000..=MAX_MILLIS).contains(m));
        EventTime {
            value: Value::String(at.to_rfc3339_opts(format, offset_min == 0)),
            millis,
        }
    })
}

/// Epoch seconds below 1e11 (integers, or with up to 3 decimals) and milliseconds above it,
/// as numbers or numeric strings.
fn epoch_time() -> impl Strategy<Value = EventTime> {
    prop_oneof![
        (0i64..100_000_000_000).prop_map(|s| EventTime {
            value: json!(s),
            millis: Some(s * 1000).filter(|m| *m <= MAX_MILLIS),
        }),
        (0i64..4_000_000_000, 1..1000i64).prop_map(|(s, ms)| EventTime {
            value: serde_json::from_str(&format!("{s}.{ms:03}")).unwrap(),
            millis: Some(s * 1000 + ms),
        }),
        (100_000_000_000i64..=MAX_MILLIS, any::<bool>()).prop_map(|(ms, as_text)| EventTime {
            value: if as_text {
                json!(ms.to_string())
            } else {
                json!(ms)
            },
            millis: Some(ms),
        }),
    ]
}

/// A time the spec cannot read.
fn bad_time() -> impl Strategy<Value = EventTime> {
    prop::sample::select(vec![
        json!("yesterday"),
        json!(true),
        json!(null),
        json!(-5),
        json!(-0.5),
        json!("2026-13-01T00:00:00Z"),
        json!("2026-11-23 10:00"),
        json!(1e300),
        json!(""),
        json!({"at": 1}),
        json!([1795425330]),
        json!(SECRET),
    ])
    .prop_map(|value| EventTime {
        value,
        millis: None,
    })
}

pub fn event_time() -> impl Strategy<Value = EventTime> {
    prop_oneof![3 => rfc3339_time(), 3 => epoch_time(), 1 => bad_time()]
}

/// A valid clickstream event (its event time may still be unusable: see `millis`).
#[derive(Debug, Clone)]
pub struct Event {
    pub body: Map<String, Value>,
    pub time: EventTime,
}

fn optional<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop::option::weighted(0.7, s)
}

pub fn event() -> impl Strategy<Value = Event> {
    (
        (
            text(10),
            text(10),
            text(300).prop_filter("a key", |s| !s.is_empty()),
        ),
        (optional(text(10)), optional(text(24)), optional(text(20))),
        (optional(json_value()), optional(json_value()), event_time()),
        prop::collection::btree_map(
            text(8).prop_filter("not a spec field", |k| !SPEC_FIELDS.contains(&k.as_str())),
            json_value(),
            0..4,
        ),
    )
        .prop_map(
            |((id, kind, user), (product, email, ip), (props, phone, time), extra)| {
                let mut body = Map::new();
                body.insert("event_id".into(), json!(id));
                body.insert("event_type".into(), json!(kind));
                body.insert("user_id".into(), json!(user));
                let mut put = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        body.insert(k.into(), v);
                    }
                };
                put("product_id", product.map(Value::from));
                put("email", email.map(|e| json!(format!("{e}{SECRET}"))));
                put("ip", ip.map(Value::from));
                put("properties", props.map(|p| json!({"nested": p})));
                put("phone", phone);
                body.insert("ts".into(), time.value.clone());
                body.extend(extra);
                Event { body, time }
            },
        )
}

/// How a payload goes wrong; `None` leaves the event as it is.
#[derive(Debug, Clone)]
pub enum Fault {
    None,
    Empty,
    InvalidUtf8(usize),
    Truncated(usize),
    TrailingJunk,
    NotAnObject(Value),
    Missing(&'static str),
    Null(&'static str),
    WrongType(&'static str, Value),
    EmptyPartitionKey,
}

pub fn fault() -> impl Strategy<Value = Fault> {
    let required = prop::sample::select(vec!["event_id", "event_type", "user_id"]);
    let typed = prop::sample::select(vec![
        "event_id",
        "event_type",
        "user_id",
        "product_id",
        "email",
        "ip",
        "properties",
    ]);
    let not_string = prop_oneof![
        any::<i32>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(json!([SECRET])),
        Just(json!({"v": SECRET})),
    ];
    prop_oneof![
        12 => Just(Fault::None),
        1 => Just(Fault::Empty),
        1 => any::<usize>().prop_map(Fault::InvalidUtf8),
        1 => any::<usize>().prop_map(Fault::Truncated),
        1 => Just(Fault::TrailingJunk),
        1 => prop_oneof![
            Just(json!([1, 2])),
            Just(json!(7)),
            Just(json!(SECRET)),
            Just(json!(null)),
            Just(json!(true))
        ]
        .prop_map(Fault::NotAnObject),
        1 => required.clone().prop_map(Fault::Missing),
        1 => required.prop_map(Fault::Null),
        1 => (typed, not_string).prop_map(|(f, v)| Fault::WrongType(f, v)),
        1 => Just(Fault::EmptyPartitionKey),
    ]
}

/// How an object is written: compact, pretty, or with a first, overridden copy of a member
/// and a key spelled with an escape.
#[derive(Debug, Clone, Copy)]
pub enum Layout {
    Compact,
    Pretty,
    Duplicated,
}

pub fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![
        3 => Just(Layout::Compact),
        1 => Just(Layout::Pretty),
        1 => Just(Layout::Duplicated)
    ]
}

pub fn write(body: &Map<String, Value>, layout: Layout) -> String {
    let v = Value::Object(body.clone());
    match layout {
        Layout::Compact => v.to_string(),
        Layout::Pretty => serde_json::to_string_pretty(&v).unwrap(),
        Layout::Duplicated if body.contains_key("user_id") => {
            let text = v.to_string();
            // A first `user_id` the last one overrides, and `event_type` spelled with an escape.
            let text = text.replacen('{', "{\"user_id\":[\"overridden\"],", 1);
            text.replacen("\"event_type\":", "\"ev\\u0065nt_type\":", 1)
        }
        Layout::Duplicated => v.to_string(),
    }
}

/// A record payload and the verdict the shipped spec gives it.
#[derive(Clone)]
pub struct Payload {
    pub bytes: Vec<u8>,
    /// `None`: valid (and then `event` says what it holds).
    pub expect: Option<PoisonReason>,
    pub event: Option<Event>,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("bytes", &String::from_utf8_lossy(&self.bytes))
            .field("expect", &self.expect)
            .finish()
    }
}

pub fn payload() -> impl Strategy<Value = Payload> {
    (event(), fault(), layout()).prop_map(|(e, f, l)| build(e, f, l))
}

fn build(mut e: Event, fault: Fault, layout: Layout) -> Payload {
    use PoisonReason::*;
    let time_reason = e.time.millis.is_none().then_some(InvalidEventTime);
    let (bytes, expect) = match fault {
        Fault::None => (write(&e.body, layout).into_bytes(), time_reason),
        Fault::Empty => (Vec::new(), Some(EmptyRecord)),
        Fault::InvalidUtf8(at) => {
            let mut b = write(&e.body, layout).into_bytes();
            b.insert(at % (b.len() + 1), 0xff);
            (b, Some(InvalidUtf8))
        }
        Fault::Truncated(at) => {
            let text = write(&e.body, layout);
            let mut cut = 1 + at % (text.len() - 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            (text.as_bytes()[..cut.max(1)].to_vec(), Some(InvalidJson))
        }
        Fault::TrailingJunk => (
            format!("{} x", write(&e.body, layout)).into_bytes(),
            Some(InvalidJson),
        ),
        Fault::NotAnObject(v) => (v.to_string().into_bytes(), Some(NotAnObject)),
        Fault::Missing(f) => {
            e.body.remove(f);
            (write(&e.body, layout).into_bytes(), Some(MissingField))
        }
        Fault::Null(f) => {
            e.body.insert(f.into(), Value::Null);
            (write(&e.body, layout).into_bytes(), Some(MissingField))
        }
        Fault::WrongType(f, v) => {
            // `properties` is an object field: an object would be of its type.
            let v = if f == "properties" && v.is_object() {
                json!([v])
            } else {
                v
            };
            e.body.insert(f.into(), v);
            (write(&e.body, layout).into_bytes(), Some(WrongType))
        }
        Fault::EmptyPartitionKey => {
            e.body.insert("user_id".into(), json!(""));
            (
                write(&e.body, layout).into_bytes(),
                time_reason.or(Some(MissingPartitionKey)),
            )
        }
    };
    let event = expect.is_none().then_some(e);
    Payload {
        bytes,
        expect,
        event,
    }
}

/// `2026-11-23T09:15:30.250Z`, as the pipeline writes event times.
pub fn stamp(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}
