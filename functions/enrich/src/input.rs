//! What Lambda hands the function: a Kinesis batch, an MSK (or self-managed Kafka) batch, or an
//! ops command. Records are deserialized one by one into the aws_lambda_events types so that a
//! single malformed record (bad base64, a missing field) becomes poison for that record, not a
//! failure of the whole batch.

use std::cell::Cell;
use std::collections::BTreeMap;

use aws_lambda_events::kinesis::KinesisEventRecord;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde::de::DeserializeSeed;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::arrival::{ArrivalSeed, from_epoch_seconds};
use crate::kafka::{KafkaTimestamp, KafkaWire};
use crate::origin::{LaneNames, Poison, PoisonReason, RecordOrigin, SourceKind, is_position};

/// The bytes of a record as delivered, kept for the quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Original {
    /// Decoded payload bytes.
    Bytes(Vec<u8>),
    /// The payload text exactly as delivered, when it could not be decoded (e.g. bad base64).
    Undecoded(String),
}

/// Kafka record headers as aws_lambda_events has them: name to signed bytes.
pub type KafkaHeaders = Vec<std::collections::HashMap<String, Vec<i8>>>;

/// One input record: where it came from and its payload, or why its payload is unusable.
#[derive(Debug, Clone)]
pub struct InputRecord {
    pub origin: RecordOrigin,
    pub original: Original,
    /// Set when decoding already proved the record poison.
    pub poison: Option<Poison>,
    /// Kafka headers as delivered, kept for the quarantine (see [`kafka_headers_json`]); turned
    /// into JSON only for a record that is quarantined.
    pub headers: KafkaHeaders,
}

impl InputRecord {
    pub fn bytes(&self) -> &[u8] {
        match &self.original {
            Original::Bytes(b) => b,
            Original::Undecoded(_) => &[],
        }
    }
}

#[derive(Debug)]
pub struct StreamBatch {
    pub source: SourceKind,
    pub records: Vec<InputRecord>,
}

#[derive(Debug)]
pub enum Invocation {
    Stream(StreamBatch),
    Command(Value),
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("payload is not JSON: {0}")]
    NotJson(String),
    #[error(
        "payload is neither a Kinesis event (`Records` with eventSource aws:kinesis), a Kafka event (`records` keyed by topic-partition) nor an ops command (`command`); keys seen: {0}"
    )]
    Unrecognized(String),
    #[error("Kinesis event has a record from event source {0:?}; enrich only reads aws:kinesis")]
    ForeignRecord(String),
}

/// The common case, a Kinesis batch, in one pass over the payload.
#[derive(Deserialize)]
struct KinesisProbe<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<&'a RawValue>,
    #[serde(default)]
    command: Option<&'a RawValue>,
}

/// The common cases, a well-formed Kinesis or Kafka batch, in one SIMD pass (sonic-rs into the
/// aws_lambda_events types); anything else takes the record-by-record path.
#[derive(Deserialize)]
struct StreamBatchFast {
    #[serde(rename = "Records", default)]
    kinesis: Option<KinesisRecords>,
    #[serde(rename = "records", default)]
    kafka: Option<KafkaLanes>,
    #[serde(rename = "eventSource", default)]
    event_source: Option<String>,
    #[serde(default)]
    command: Option<serde::de::IgnoredAny>,
}

/// Each Kinesis record is turned into an [`InputRecord`] as soon as it is read, so the batch is
/// never held twice (aws_lambda_events records and ours).
struct KinesisRecords(Vec<InputRecord>);

impl<'de> Deserialize<'de> for KinesisRecords {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = KinesisRecords;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of Kinesis records")
            }
            fn visit_seq<S: serde::de::SeqAccess<'de>>(
                self,
                mut seq: S,
            ) -> Result<Self::Value, S::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                let mut names = LaneNames::default();
                loop {
                    let arrival = Cell::new(None);
                    let Some(rec) =
                        seq.next_element_seed(ArrivalSeed::<KinesisEventRecord>::new(&arrival))?
                    else {
                        break;
                    };
                    // A foreign record fails this fast path; the record-by-record path below
                    // reports it properly.
                    let input = from_kinesis(rec, arrival.get(), &mut names)
                        .map_err(serde::de::Error::custom)?;
                    out.push(input);
                }
                Ok(KinesisRecords(out))
            }
        }
        deserializer.deserialize_seq(Visit)
    }
}

/// Topic-partition lanes, each record turned into an [`InputRecord`] as it is read; lanes in
/// name order (as the record-by-record path has them).
struct KafkaLanes(Vec<InputRecord>);

impl<'de> Deserialize<'de> for KafkaLanes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Lane<'n> {
            name: &'n str,
            names: &'n mut LaneNames,
        }
        impl<'de> DeserializeSeed<'de> for Lane<'_> {
            type Value = Vec<InputRecord>;
            fn deserialize<D: serde::Deserializer<'de>>(
                self,
                deserializer: D,
            ) -> Result<Self::Value, D::Error> {
                deserializer.deserialize_seq(self)
            }
        }
        impl<'de> serde::de::Visitor<'de> for Lane<'_> {
            type Value = Vec<InputRecord>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of Kafka records")
            }
            fn visit_seq<S: serde::de::SeqAccess<'de>>(
                self,
                mut seq: S,
            ) -> Result<Self::Value, S::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(rec) = seq.next_element::<KafkaWire>()? {
                    out.push(from_kafka(self.name, rec, self.names));
                }
                Ok(out)
            }
        }
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = KafkaLanes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of topic-partition to Kafka records")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut names = LaneNames::default();
                let mut lanes: Vec<(String, Vec<InputRecord>)> = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    let records = map.next_value_seed(Lane {
                        name: &name,
                        names: &mut names,
                    })?;
                    lanes.push((name, records));
                }
                lanes.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(KafkaLanes(
                    lanes.into_iter().flat_map(|(_, records)| records).collect(),
                ))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "Records", borrow, default)]
    upper_records: Option<&'a RawValue>,
    #[serde(rename = "records", borrow, default)]
    lower_records: Option<&'a RawValue>,
    #[serde(rename = "eventSource", default)]
    event_source: Option<String>,
    #[serde(default)]
    command: Option<&'a RawValue>,
}

/// Classifies and decodes a payload. Lanes and records keep their delivered order; Kafka lanes
/// (topic-partitions) are sorted by name so results are deterministic.
pub fn parse_invocation(json: &str) -> Result<Invocation, InputError> {
    if !json.trim_start().starts_with('{') {
        // serde would happily read a struct from a JSON array; only objects are events.
        return Err(match serde_json::from_str::<Value>(json) {
            Ok(v) => InputError::Unrecognized(describe_keys(&v)),
            Err(e) => InputError::NotJson(e.to_string()),
        });
    }
    if let Ok(batch) = sonic_rs::from_str::<StreamBatchFast>(json)
        && batch.command.is_none()
    {
        match (batch.kinesis, batch.kafka) {
            (Some(records), None) => {
                return Ok(Invocation::Stream(StreamBatch {
                    source: SourceKind::Kinesis,
                    records: records.0,
                }));
            }
            (None, Some(lanes)) if is_kafka_source(batch.event_source.as_deref()) => {
                return Ok(Invocation::Stream(StreamBatch {
                    source: SourceKind::Msk,
                    records: lanes.0,
                }));
            }
            // Neither, both, or a foreign source: the paths below say what it is.
            _ => {}
        }
    }
    if let Ok(k) = serde_json::from_str::<KinesisProbe>(json)
        && k.command.is_none()
    {
        let mut out = Vec::with_capacity(k.records.len());
        let mut names = LaneNames::default();
        for raw in k.records {
            out.push(kinesis_record(raw, &mut names)?);
        }
        return Ok(Invocation::Stream(StreamBatch {
            source: SourceKind::Kinesis,
            records: out,
        }));
    }
    let probe: Probe = serde_json::from_str(json).map_err(|e| {
        // A payload that is valid JSON but not an object is unrecognized, not "not JSON".
        match serde_json::from_str::<Value>(json) {
            Ok(v) => InputError::Unrecognized(describe_keys(&v)),
            Err(_) => InputError::NotJson(e.to_string()),
        }
    })?;
    if probe.command.is_some() {
        let v: Value =
            serde_json::from_str(json).map_err(|e| InputError::NotJson(e.to_string()))?;
        return Ok(Invocation::Command(v));
    }
    if let Some(records) = probe.upper_records {
        let records: Vec<&RawValue> = serde_json::from_str(records.get()).map_err(|e| {
            InputError::Unrecognized(format!("Records (not a list of records: {e})"))
        })?;
        let mut out = Vec::with_capacity(records.len());
        let mut names = LaneNames::default();
        for raw in records {
            out.push(kinesis_record(raw, &mut names)?);
        }
        return Ok(Invocation::Stream(StreamBatch {
            source: SourceKind::Kinesis,
            records: out,
        }));
    }
    if let Some(lanes) = probe.lower_records {
        let lanes: BTreeMap<String, Vec<&RawValue>> =
            serde_json::from_str(lanes.get()).map_err(|e| {
                InputError::Unrecognized(format!(
                    "records (not a map of topic-partition to records: {e})"
                ))
            })?;
        if is_kafka_source(probe.event_source.as_deref()) {
            let mut out = Vec::new();
            let mut names = LaneNames::default();
            for (lane, records) in lanes {
                for raw in records {
                    out.push(kafka_record(&lane, raw, &mut names));
                }
            }
            return Ok(Invocation::Stream(StreamBatch {
                source: SourceKind::Msk,
                records: out,
            }));
        }
    }
    let v: Value = serde_json::from_str(json).map_err(|e| InputError::NotJson(e.to_string()))?;
    Err(InputError::Unrecognized(describe_keys(&v)))
}

fn is_kafka_source(event_source: Option<&str>) -> bool {
    matches!(event_source, Some("aws:kafka" | "SelfManagedKafka") | None)
}

fn describe_keys(v: &Value) -> String {
    match v {
        Value::Object(m) if m.is_empty() => "none (empty object)".into(),
        Value::Object(m) => m.keys().take(8).cloned().collect::<Vec<_>>().join(", "),
        other => format!("none (a JSON {})", json_kind(other)),
    }
}

pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn kinesis_record(raw: &RawValue, names: &mut LaneNames) -> Result<InputRecord, InputError> {
    let arrival = Cell::new(None);
    let read = ArrivalSeed::<KinesisEventRecord>::new(&arrival)
        .deserialize(&mut serde_json::Deserializer::from_str(raw.get()));
    match read {
        Ok(rec) => from_kinesis(rec, arrival.get(), names),
        Err(e) => {
            // Recover the coordinates by hand so the record can still be quarantined and reported.
            let v: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            let k = &v["kinesis"];
            let data = k["data"].as_str();
            let reason = match data {
                Some(d) if STANDARD.decode(d).is_err() => PoisonReason::InvalidBase64,
                _ => PoisonReason::MalformedRecord,
            };
            let origin = RecordOrigin {
                source: SourceKind::Kinesis,
                stream: names.get(stream_from_arn(v["eventSourceARN"].as_str())),
                shard: names.get(shard_from_event_id(v["eventID"].as_str())),
                position: k["sequenceNumber"].as_str().unwrap_or_default().to_string(),
                arrival: k["approximateArrivalTimestamp"]
                    .as_f64()
                    .and_then(from_epoch_seconds),
                key: k["partitionKey"].as_str().map(str::to_string),
            };
            let message = match reason {
                PoisonReason::InvalidBase64 => "kinesis.data is not valid base64".to_string(),
                _ => format!("Kinesis record does not match the event schema: {e}"),
            };
            Ok(InputRecord {
                origin,
                original: Original::Undecoded(data.unwrap_or_default().to_string()),
                poison: Some(Poison::new(reason, message)),
                headers: Vec::new(),
            })
        }
    }
}

/// `arrival_seconds` is the arrival timestamp as [`ArrivalSeed`] noted it: exact, where the
/// type's own reading is not (see [`crate::arrival`]).
fn from_kinesis(
    rec: KinesisEventRecord,
    arrival_seconds: Option<f64>,
    names: &mut LaneNames,
) -> Result<InputRecord, InputError> {
    if let Some(src) = rec.event_source.as_deref()
        && src != "aws:kinesis"
    {
        return Err(InputError::ForeignRecord(src.to_string()));
    }
    let origin = RecordOrigin {
        source: SourceKind::Kinesis,
        stream: names.get(stream_from_arn(rec.event_source_arn.as_deref())),
        shard: names.get(shard_from_event_id(rec.event_id.as_deref())),
        position: rec.kinesis.sequence_number,
        arrival: arrival_seconds
            .and_then(from_epoch_seconds)
            .or(Some(*rec.kinesis.approximate_arrival_timestamp)),
        key: Some(rec.kinesis.partition_key),
    };
    let poison = (!is_position(&origin.position)).then(|| {
        Poison::new(
            PoisonReason::MalformedRecord,
            "kinesis.sequenceNumber is missing or not a decimal number",
        )
    });
    Ok(InputRecord {
        origin,
        original: Original::Bytes(rec.kinesis.data.0),
        poison,
        headers: Vec::new(),
    })
}

/// `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME` to `NAME`.
fn stream_from_arn(arn: Option<&str>) -> &str {
    arn.and_then(|a| a.rsplit_once(":stream/").map(|(_, n)| n))
        .unwrap_or("unknown-stream")
}

/// `shardId-000000000000:SEQUENCE` to `shardId-000000000000`.
fn shard_from_event_id(id: Option<&str>) -> &str {
    id.and_then(|id| id.split_once(':').map(|(s, _)| s))
        .unwrap_or("unknown-shard")
}

fn from_kafka(lane: &str, rec: KafkaWire, names: &mut LaneNames) -> InputRecord {
    let origin = RecordOrigin {
        source: SourceKind::Msk,
        stream: match rec.topic.as_deref() {
            Some(topic) => names.get(topic),
            None => names.get(&topic_from_lane(lane)),
        },
        shard: names.get(&rec.partition.to_string()),
        position: rec.offset.to_string(),
        arrival: rec.timestamp.arrival(),
        key: rec.key,
    };
    let (original, poison) = match rec.value.as_deref() {
        None => (
            Original::Bytes(Vec::new()),
            Some(Poison::new(
                PoisonReason::EmptyRecord,
                "Kafka record has no value (a tombstone)",
            )),
        ),
        // SIMD decoding (the value is our own to decode, unlike Kinesis `data`); the base64
        // crate judges and words a failure.
        Some(text) => match base64_simd::STANDARD
            .decode_to_vec(text)
            .or_else(|_| STANDARD.decode(text))
        {
            Ok(bytes) => (Original::Bytes(bytes), None),
            Err(e) => (
                Original::Undecoded(text.to_string()),
                Some(Poison::new(
                    PoisonReason::InvalidBase64,
                    format!("Kafka value is not valid base64: {e}"),
                )),
            ),
        },
    };
    let poison = poison
        .or_else(|| {
            (rec.offset < 0)
                .then(|| Poison::new(PoisonReason::MalformedRecord, "Kafka offset is negative"))
        })
        .or_else(|| match &rec.timestamp {
            KafkaTimestamp::Invalid(seen) => Some(Poison::new(
                PoisonReason::MalformedRecord,
                format!("Kafka timestamp {seen} is not epoch milliseconds (a whole number, or -1 for none)"),
            )),
            KafkaTimestamp::At(_) | KafkaTimestamp::None => None,
        });
    InputRecord {
        origin,
        original,
        poison,
        headers: rec.headers,
    }
}

fn kafka_record(lane: &str, raw: &RawValue, names: &mut LaneNames) -> InputRecord {
    match serde_json::from_str::<KafkaWire>(raw.get()) {
        Ok(rec) => from_kafka(lane, rec, names),
        Err(e) => {
            let v: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            let origin = RecordOrigin {
                source: SourceKind::Msk,
                stream: match v["topic"].as_str() {
                    Some(topic) => names.get(topic),
                    None => names.get(&topic_from_lane(lane)),
                },
                shard: names.get(
                    &v["partition"]
                        .as_i64()
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| partition_from_lane(lane)),
                ),
                position: v["offset"]
                    .as_i64()
                    .map(|o| o.to_string())
                    .unwrap_or_default(),
                arrival: KafkaTimestamp::from_value(&v["timestamp"]).arrival(),
                key: v["key"].as_str().map(str::to_string),
            };
            InputRecord {
                origin,
                original: Original::Undecoded(v["value"].as_str().unwrap_or_default().to_string()),
                poison: Some(Poison::new(
                    PoisonReason::MalformedRecord,
                    format!("Kafka record does not match the event schema: {e}"),
                )),
                headers: Vec::new(),
            }
        }
    }
}

/// Lambda keys Kafka records by `<topic>-<partition>`; topics may contain dashes.
fn topic_from_lane(lane: &str) -> String {
    lane.rsplit_once('-')
        .map(|(t, _)| t.to_string())
        .unwrap_or_else(|| lane.to_string())
}

fn partition_from_lane(lane: &str) -> String {
    lane.rsplit_once('-')
        .map(|(_, p)| p.to_string())
        .unwrap_or_default()
}

/// Kafka headers arrive as lists of signed bytes; in the quarantine they are kept readable
/// where they are text (`base64:` and the bytes where they are not).
pub fn kafka_headers_json(headers: &KafkaHeaders) -> Option<Value> {
    if headers.is_empty() {
        return None;
    }
    let mut out = serde_json::Map::new();
    for h in headers {
        for (name, bytes) in h {
            let raw: Vec<u8> = bytes.iter().map(|b| *b as u8).collect();
            let v = match String::from_utf8(raw) {
                Ok(text) => Value::String(text),
                Err(e) => Value::String(format!("base64:{}", STANDARD.encode(e.as_bytes()))),
            };
            out.insert(name.clone(), v);
        }
    }
    Some(Value::Object(out))
}

/// The inverse of [`kafka_headers_json`], for records replayed from the quarantine.
pub fn kafka_headers_from_json(headers: Option<&Value>) -> KafkaHeaders {
    let Some(Value::Object(map)) = headers else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(name, v)| {
            let text = v.as_str()?;
            let bytes = match text.strip_prefix("base64:") {
                Some(b64) => STANDARD.decode(b64).ok()?,
                None => text.as_bytes().to_vec(),
            };
            let signed = bytes.into_iter().map(|b| b as i8).collect();
            Some(std::collections::HashMap::from([(name.clone(), signed)]))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinesis_event(data: &str, seq: &str) -> String {
        serde_json::json!({"Records": [{
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "u1", "sequenceNumber": seq,
                        "data": data, "approximateArrivalTimestamp": 1763892000.123},
            "eventSource": "aws:kinesis", "eventVersion": "1.0",
            "eventID": format!("shardId-000000000001:{seq}"), "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::123456789012:role/r", "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/streamops-raw"
        }]})
        .to_string()
    }

    fn stream(inv: Invocation) -> StreamBatch {
        match inv {
            Invocation::Stream(b) => b,
            other => panic!("expected a stream batch, got {other:?}"),
        }
    }

    #[test]
    fn kinesis_record_coordinates() {
        let b = stream(parse_invocation(&kinesis_event("eyJhIjoxfQ==", "4959")).unwrap());
        assert_eq!(b.source, SourceKind::Kinesis);
        let r = &b.records[0];
        assert_eq!(&*r.origin.stream, "streamops-raw");
        assert_eq!(&*r.origin.shard, "shardId-000000000001");
        assert_eq!(r.origin.position, "4959");
        assert_eq!(r.bytes(), br#"{"a":1}"#);
        assert_eq!(r.origin.arrival.unwrap().timestamp_millis(), 1763892000123);
        assert!(r.poison.is_none());
    }

    #[test]
    fn the_one_pass_path_and_the_per_record_path_agree() {
        let ev = kinesis_event(
            "eyJhIjoxfQ==",
            "49590338271490256608559692538361571095921575989136588898",
        );
        let fast = stream(parse_invocation(&ev).unwrap());
        let v: serde_json::Value = serde_json::from_str(&ev).unwrap();
        let raw = serde_json::value::to_raw_value(&v["Records"][0]).unwrap();
        let slow = kinesis_record(&raw, &mut LaneNames::default()).unwrap();
        assert_eq!(fast.records[0].origin, slow.origin);
        assert_eq!(fast.records[0].original, slow.original);
        // One bad record sends the batch down the per-record path; the good one is still decoded.
        let mut v2 = v.clone();
        let mut bad = v["Records"][0].clone();
        bad["kinesis"]["data"] = serde_json::json!("%%%");
        v2["Records"].as_array_mut().unwrap().push(bad);
        let mixed = stream(parse_invocation(&v2.to_string()).unwrap());
        assert!(mixed.records[0].poison.is_none());
        assert_eq!(mixed.records[0].origin, fast.records[0].origin);
        assert_eq!(
            mixed.records[1].poison.as_ref().unwrap().reason,
            PoisonReason::InvalidBase64
        );
    }

    #[test]
    fn arrival_times_are_exact_on_both_paths() {
        // aws_lambda_events alone reads .5 as 5 ms and .98 as 98 ms (see crate::arrival).
        for (arrival, millis) in [(".5", 500), (".98", 980), (".05", 50), (".123", 123)] {
            let ev = kinesis_event("eyJhIjoxfQ==", "7")
                .replace("1763892000.123", &format!("1763892000{arrival}"));
            let fast = stream(parse_invocation(&ev).unwrap());
            // A second, bad record sends the batch down the per-record path.
            let mut v: serde_json::Value = serde_json::from_str(&ev).unwrap();
            let mut bad = v["Records"][0].clone();
            bad["kinesis"]["data"] = serde_json::json!("%%%");
            v["Records"].as_array_mut().unwrap().push(bad);
            let slow = stream(parse_invocation(&v.to_string()).unwrap());
            for r in [&fast.records[0], &slow.records[0], &slow.records[1]] {
                let at = r.origin.arrival.unwrap();
                assert_eq!(
                    at.timestamp_millis(),
                    1_763_892_000_000 + millis,
                    "{arrival}"
                );
            }
        }
    }

    #[test]
    fn bad_base64_is_poison_for_that_record_only() {
        let b = stream(parse_invocation(&kinesis_event("not base64!!", "7")).unwrap());
        let r = &b.records[0];
        assert_eq!(
            r.poison.as_ref().unwrap().reason,
            PoisonReason::InvalidBase64
        );
        assert_eq!(r.origin.position, "7");
        assert_eq!(r.original, Original::Undecoded("not base64!!".into()));
    }

    #[test]
    fn kafka_lanes_topics_with_dashes_and_tombstones() {
        let ev = serde_json::json!({
            "eventSource": "aws:kafka",
            "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/c/abc",
            "records": {
                "click-events-1": [
                    {"topic": "click-events", "partition": 1, "offset": 15, "timestamp": 1763892000000i64,
                     "timestampType": "CREATE_TIME", "key": "dTE=", "value": "eyJhIjoxfQ==",
                     "headers": [{"trace": [97, 98]}]},
                    {"topic": "click-events", "partition": 1, "offset": 16, "timestamp": 1763892000000i64,
                     "timestampType": "CREATE_TIME", "key": null, "value": null, "headers": []}
                ]
            }
        });
        let b = stream(parse_invocation(&ev.to_string()).unwrap());
        assert_eq!(b.source, SourceKind::Msk);
        assert_eq!(&*b.records[0].origin.stream, "click-events");
        assert_eq!(&*b.records[0].origin.shard, "1");
        let json = kafka_headers_json(&b.records[0].headers).unwrap();
        assert_eq!(json["trace"], "ab");
        assert_eq!(kafka_headers_from_json(Some(&json)), b.records[0].headers);
        let binary = vec![std::collections::HashMap::from([(
            "bin".to_string(),
            vec![-1i8, 0],
        )])];
        let json = kafka_headers_json(&binary).unwrap();
        assert_eq!(json["bin"], "base64:/wA=");
        assert_eq!(kafka_headers_from_json(Some(&json)), binary);
        assert_eq!(
            b.records[1].poison.as_ref().unwrap().reason,
            PoisonReason::EmptyRecord
        );
        assert_eq!(topic_from_lane("a-b-c-12"), "a-b-c");
    }

    #[test]
    fn kafka_one_pass_and_per_record_paths_agree_and_lanes_are_in_name_order() {
        let rec = |partition: i64, offset: i64, value: &str| {
            serde_json::json!({"topic": "t", "partition": partition, "offset": offset,
                "timestamp": 1763892000000i64, "timestampType": "CREATE_TIME", "key": "dTE=",
                "value": value, "headers": []})
        };
        // Lanes out of name order in the payload.
        let mut ev = serde_json::json!({"eventSource": "aws:kafka", "records": {
            "t-2": [rec(2, 7, "eyJhIjoxfQ=="), rec(2, 8, "eyJhIjoyfQ==")],
            "t-0": [rec(0, 3, "eyJhIjozfQ==")],
        }});
        let fast = stream(parse_invocation(&ev.to_string()).unwrap());
        let order: Vec<(&str, &str)> = fast
            .records
            .iter()
            .map(|r| (&*r.origin.shard, r.origin.position.as_str()))
            .collect();
        assert_eq!(order, [("0", "3"), ("2", "7"), ("2", "8")]);
        // A record the type rejects (no offset) sends the batch down the per-record path.
        let mut broken = rec(2, 9, "eyJhIjo0fQ==");
        broken.as_object_mut().unwrap().remove("offset");
        ev["records"]["t-2"].as_array_mut().unwrap().push(broken);
        let slow = stream(parse_invocation(&ev.to_string()).unwrap());
        for (f, s) in fast.records.iter().zip(&slow.records) {
            assert_eq!(f.origin, s.origin);
            assert_eq!(f.original, s.original);
        }
        assert_eq!(
            slow.records[3].poison.as_ref().unwrap().reason,
            PoisonReason::MalformedRecord
        );
        assert_eq!(fast.records[0].bytes(), br#"{"a":3}"#);
        // A value that is not base64 is poison for that record, on the one-pass path too.
        let ev = serde_json::json!({"eventSource": "aws:kafka", "records": {
            "t-0": [rec(0, 1, "%%%="), rec(0, 2, "eyJhIjoxfQ==")]}});
        let b = stream(parse_invocation(&ev.to_string()).unwrap());
        let poison = b.records[0].poison.as_ref().unwrap();
        assert_eq!(poison.reason, PoisonReason::InvalidBase64);
        assert!(
            poison.message.contains("Invalid symbol"),
            "{}",
            poison.message
        );
        assert_eq!(b.records[0].original, Original::Undecoded("%%%=".into()));
        assert_eq!(b.records[1].bytes(), br#"{"a":1}"#);
    }

    #[test]
    fn unrecognized_payloads_say_what_they_saw() {
        assert!(matches!(
            parse_invocation("{\"x\":1"),
            Err(InputError::NotJson(_))
        ));
        let e = parse_invocation("[1,2]").unwrap_err().to_string();
        assert!(e.contains("a JSON array"), "{e}");
        let e = parse_invocation(r#"{"detail-type":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("detail-type"), "{e}");
        assert!(matches!(
            parse_invocation(r#"{"command":"dry-run"}"#),
            Ok(Invocation::Command(_))
        ));
    }

    fn kafka_rec(offset: i64, timestamp: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"topic": "clickstream", "partition": 0, "offset": offset,
            "timestamp": timestamp, "timestampType": "CREATE_TIME", "key": "dTE=",
            "value": "eyJhIjoxfQ==", "headers": []})
    }

    /// Both paths: the one-pass path as delivered, and the record-by-record path (a second
    /// lane with a record the schema rejects sends the batch there).
    fn both_paths(records: Vec<serde_json::Value>) -> (StreamBatch, StreamBatch) {
        let ev =
            serde_json::json!({"eventSource": "aws:kafka", "records": {"clickstream-0": records}});
        let fast = stream(parse_invocation(&ev.to_string()).unwrap());
        let mut slow = ev.clone();
        let mut broken = kafka_rec(1, serde_json::json!(1));
        broken.as_object_mut().unwrap().remove("partition");
        slow["records"]["zz-9"] = serde_json::json!([broken]);
        let slow = stream(parse_invocation(&slow.to_string()).unwrap());
        assert_eq!(slow.records.len(), fast.records.len() + 1);
        (fast, slow)
    }

    #[test]
    fn a_fractional_kafka_timestamp_is_poison_for_that_record_not_a_panic() {
        let (fast, slow) = both_paths(vec![
            kafka_rec(10, serde_json::json!(1545084650987i64)),
            kafka_rec(11, serde_json::json!(1545084650987.5)),
            kafka_rec(12, serde_json::json!(1545084650988i64)),
        ]);
        for b in [&fast, &slow] {
            assert!(b.records[0].poison.is_none());
            assert!(b.records[2].poison.is_none());
            let p = b.records[1]
                .poison
                .as_ref()
                .expect("the fractional one is poison");
            assert_eq!(p.reason, PoisonReason::MalformedRecord);
            assert!(
                p.message.contains("timestamp 1545084650987.5"),
                "{}",
                p.message
            );
            assert_eq!(
                b.records[1].bytes(),
                br#"{"a":1}"#,
                "the bytes are kept for the quarantine"
            );
        }
        for (f, s) in fast.records.iter().zip(&slow.records) {
            assert_eq!(f.origin, s.origin);
            assert_eq!(f.poison, s.poison);
        }
    }

    #[test]
    fn kafka_no_timestamp_is_accepted_without_an_arrival_time() {
        let (fast, slow) = both_paths(vec![kafka_rec(10, serde_json::json!(-1))]);
        for b in [&fast, &slow] {
            assert!(b.records[0].poison.is_none(), "{:?}", b.records[0].poison);
            assert_eq!(b.records[0].origin.arrival, None);
        }
    }

    #[test]
    fn kafka_arrival_times_are_exact_on_both_paths() {
        // The float reading of aws_lambda_events puts about half of these 1 ms early.
        let stamps: Vec<i64> = (0..200).map(|i| 1_545_084_650_900 + i).collect();
        let (fast, slow) = both_paths(
            stamps
                .iter()
                .enumerate()
                .map(|(i, t)| kafka_rec(i as i64, serde_json::json!(t)))
                .collect(),
        );
        for b in [&fast, &slow] {
            for (r, t) in b.records.iter().zip(&stamps) {
                assert_eq!(r.origin.arrival.unwrap().timestamp_millis(), *t);
            }
        }
    }
}
