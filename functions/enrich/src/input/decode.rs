//! Decoding one record: a Kinesis record (aws_lambda_events' type, with the exact arrival
//! time) or a Kafka record ([`KafkaWire`]) to an [`InputRecord`]; a record that does not match
//! its schema still gets its coordinates, recovered by hand, and is poison for itself alone.

use std::cell::Cell;

use aws_lambda_events::kinesis::KinesisEventRecord;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::DeserializeSeed;
use serde_json::Value;
use serde_json::value::RawValue;

use super::batch::{InputError, InputRecord, Original};
use super::kpl::{self, Framing};
use crate::arrival::{ArrivalSeed, from_epoch_seconds};
use crate::kafka::{KafkaTimestamp, KafkaWire};
use crate::origin::{LaneNames, RecordOrigin, SourceKind, is_position};
use crate::poison::{Poison, PoisonReason};

/// The `eventSource` of a Kafka batch (MSK, self-managed Kafka, or none given).
pub(super) fn is_kafka_source(event_source: Option<&str>) -> bool {
    matches!(event_source, Some("aws:kafka" | "SelfManagedKafka") | None)
}

/// One Kinesis record into `out`: one input record, or one per user record of a KPL aggregate.
pub(super) fn kinesis_record(
    raw: &RawValue,
    names: &mut LaneNames,
    out: &mut Vec<InputRecord>,
) -> Result<(), InputError> {
    let arrival = Cell::new(None);
    let read = ArrivalSeed::<KinesisEventRecord>::new(&arrival)
        .deserialize(&mut serde_json::Deserializer::from_str(raw.get()));
    match read {
        Ok(rec) => from_kinesis(rec, arrival.get(), names, out),
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
                arrival: epoch_seconds(&k["approximateArrivalTimestamp"])
                    .and_then(from_epoch_seconds),
                key: k["partitionKey"].as_str().map(str::to_string),
                sub_sequence: None,
            };
            let message = match reason {
                PoisonReason::InvalidBase64 => "kinesis.data is not valid base64".to_string(),
                _ => format!("Kinesis record does not match the event schema: {e}"),
            };
            out.push(InputRecord {
                origin,
                original: Original::Undecoded(data.unwrap_or_default().to_string()),
                poison: Some(Poison::new(reason, message)),
                headers: Vec::new(),
            });
            Ok(())
        }
    }
}

/// `arrival_seconds` is the arrival timestamp as [`ArrivalSeed`] noted it: exact, where the
/// type's own reading is not (see [`crate::arrival`]). Both input paths come through here, so
/// they de-aggregate KPL records identically.
pub(super) fn from_kinesis(
    rec: KinesisEventRecord,
    arrival_seconds: Option<f64>,
    names: &mut LaneNames,
    out: &mut Vec<InputRecord>,
) -> Result<(), InputError> {
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
        sub_sequence: None,
    };
    let data = rec.kinesis.data.0;
    if !is_position(&origin.position) {
        // Without a sequence number no user record could be named or remembered: the
        // Kinesis record is poison as it stands, aggregate or not.
        out.push(InputRecord {
            origin,
            original: Original::Bytes(data),
            poison: Some(Poison::new(
                PoisonReason::MalformedRecord,
                "kinesis.sequenceNumber is missing or not a decimal number",
            )),
            headers: Vec::new(),
        });
        return Ok(());
    }
    push_framed(origin, data, out);
    Ok(())
}

/// A Kinesis record's payload into `out`: as it is (plain), one input record per user record
/// (a sound KPL aggregate), or the whole record as `corrupt_aggregate` poison.
fn push_framed(origin: RecordOrigin, data: Vec<u8>, out: &mut Vec<InputRecord>) {
    match kpl::framing(&data) {
        Framing::Plain => out.push(InputRecord {
            origin,
            original: Original::Bytes(data),
            poison: None,
            headers: Vec::new(),
        }),
        Framing::Aggregate(users) => {
            out.reserve(users.len());
            for (index, user) in users.iter().enumerate() {
                out.push(InputRecord {
                    origin: RecordOrigin {
                        key: Some(user.partition_key.to_string()),
                        // The KPL caps an aggregate at 1 MB, far below u32 records.
                        sub_sequence: Some(index as u32),
                        ..origin.clone()
                    },
                    original: Original::Bytes(user.data.to_vec()),
                    poison: None,
                    headers: Vec::new(),
                });
            }
        }
        Framing::Corrupt(why) => {
            let poison = Poison::new(
                PoisonReason::CorruptAggregate,
                format!("KPL aggregate is corrupt: {why}"),
            );
            out.push(InputRecord {
                origin,
                original: Original::Bytes(data),
                poison: Some(poison),
                headers: Vec::new(),
            });
        }
    }
}

/// The arrival timestamp of a record the type refused, read as the type reads it: a number
/// or a string holding one (see [`ArrivalSeed`]).
fn epoch_seconds(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        other => other.as_f64(),
    }
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

pub(super) fn from_kafka(lane: &str, rec: KafkaWire, names: &mut LaneNames) -> InputRecord {
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
        sub_sequence: None,
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

pub(super) fn kafka_record(lane: &str, raw: &RawValue, names: &mut LaneNames) -> InputRecord {
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
                sub_sequence: None,
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
pub(super) fn topic_from_lane(lane: &str) -> String {
    lane.rsplit_once('-')
        .map(|(t, _)| t.to_string())
        .unwrap_or_else(|| lane.to_string())
}

fn partition_from_lane(lane: &str) -> String {
    lane.rsplit_once('-')
        .map(|(_, p)| p.to_string())
        .unwrap_or_default()
}
