//! Record envelopes in the shapes of events/enrich: Kinesis records (as
//! `kinesis-mixed-batch.json` has them) and MSK / self-managed Kafka records (as
//! `msk-multi-partition-batch.json`), each with a fault of its own or none, and what the input
//! layer must make of it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use enrich::poison::PoisonReason;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::r#gen::{Payload, payload};

/// What an envelope fault does to a Kinesis record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KinesisFault {
    None,
    /// `data` is not base64: poison for that record, and the one-pass path declines the batch.
    BadBase64,
    /// No `data`, or `data` not a string: the record does not match the schema.
    NoData,
    DataNumber,
    /// No `approximateArrivalTimestamp`: does not match the schema either.
    NoArrival,
    /// No sequence number, or one that is not decimal: decoded, but poison.
    NoSequence,
    SequenceNotDecimal,
    /// Members the schema does not name: ignored.
    Unknown,
}

/// How the arrival timestamp is written: Kinesis writes the shortest decimal of epoch
/// seconds with milliseconds; a string holding one is read too.
#[derive(Debug, Clone, Copy)]
pub enum ArrivalForm {
    Number,
    Text,
}

#[derive(Debug, Clone)]
pub struct KinesisRecord {
    pub payload: Payload,
    pub sequence: String,
    pub partition_key: String,
    pub shard: u8,
    /// Epoch milliseconds.
    pub arrival: i64,
    pub arrival_form: ArrivalForm,
    pub fault: KinesisFault,
}

pub fn kinesis_fault() -> impl Strategy<Value = KinesisFault> {
    use KinesisFault::*;
    prop_oneof![
        20 => Just(None),
        2 => Just(BadBase64),
        1 => Just(NoData),
        1 => Just(DataNumber),
        1 => Just(NoArrival),
        1 => Just(NoSequence),
        1 => Just(SequenceNotDecimal),
        2 => Just(Unknown),
    ]
}

pub fn kinesis_record() -> impl Strategy<Value = KinesisRecord> {
    (
        payload(),
        "[1-9][0-9]{0,55}",
        crate::r#gen::text(20),
        0u8..3,
        (1_500_000_000_000i64..2_000_000_000_000, any::<bool>()),
        kinesis_fault(),
    )
        .prop_map(
            |(payload, sequence, partition_key, shard, (arrival, text), fault)| KinesisRecord {
                payload,
                sequence,
                partition_key,
                shard,
                arrival,
                arrival_form: if text {
                    ArrivalForm::Text
                } else {
                    ArrivalForm::Number
                },
                fault,
            },
        )
}

/// Epoch seconds with milliseconds, the shortest decimal (`1795425335.5`, `1795425335`).
pub fn seconds_text(millis: i64) -> String {
    let (s, ms) = (millis.div_euclid(1000), millis.rem_euclid(1000));
    if ms == 0 {
        return s.to_string();
    }
    format!("{s}.{ms:03}").trim_end_matches('0').to_string()
}

pub const STREAM: &str = "streamops-raw";

pub fn shard_id(shard: u8) -> String {
    format!("shardId-{shard:012}")
}

impl KinesisRecord {
    pub fn data(&self) -> String {
        match self.fault {
            KinesisFault::BadBase64 => format!("%{}!", STANDARD.encode(&self.payload.bytes)),
            _ => STANDARD.encode(&self.payload.bytes),
        }
    }

    pub fn to_json(&self) -> Value {
        let seconds = seconds_text(self.arrival);
        let arrival: Value = match self.arrival_form {
            ArrivalForm::Number => serde_json::from_str(&seconds).unwrap(),
            ArrivalForm::Text => Value::String(seconds),
        };
        let mut kinesis = json!({"kinesisSchemaVersion": "1.0", "partitionKey": self.partition_key,
            "sequenceNumber": self.sequence, "data": self.data(), "approximateArrivalTimestamp": arrival});
        let k = kinesis.as_object_mut().unwrap();
        match self.fault {
            KinesisFault::NoData => drop(k.remove("data")),
            KinesisFault::DataNumber => drop(k.insert("data".into(), json!(42))),
            KinesisFault::NoArrival => drop(k.remove("approximateArrivalTimestamp")),
            KinesisFault::NoSequence => drop(k.remove("sequenceNumber")),
            KinesisFault::SequenceNotDecimal => {
                drop(k.insert("sequenceNumber".into(), json!("49x")))
            }
            KinesisFault::Unknown => drop(k.insert("encryptionType".into(), json!("KMS"))),
            KinesisFault::None | KinesisFault::BadBase64 => {}
        }
        let mut record = json!({"kinesis": kinesis, "eventSource": "aws:kinesis", "eventVersion": "1.0",
            "eventID": format!("{}:{}", shard_id(self.shard), self.sequence),
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::123456789012:role/streamops-enrich",
            "awsRegion": "us-east-1",
            "eventSourceARN": format!("arn:aws:kinesis:us-east-1:123456789012:stream/{STREAM}")});
        if self.fault == KinesisFault::Unknown {
            record["somethingNew"] = json!({"nested": [1, 2]});
        }
        record
    }

    /// Whether the record's envelope is one the aws_lambda_events type refuses (which sends
    /// the batch down the record-by-record path).
    pub fn refused_by_the_type(&self) -> bool {
        use KinesisFault::*;
        matches!(self.fault, BadBase64 | NoData | DataNumber | NoArrival)
    }

    /// The poison the input layer gives the record, before the payload is looked at.
    pub fn envelope_poison(&self) -> Option<PoisonReason> {
        use KinesisFault::*;
        match self.fault {
            BadBase64 => Some(PoisonReason::InvalidBase64),
            NoData | DataNumber | NoArrival | NoSequence | SequenceNotDecimal => {
                Some(PoisonReason::MalformedRecord)
            }
            None | Unknown => Option::None,
        }
    }
}

pub fn kinesis_event(records: &[KinesisRecord]) -> Value {
    json!({"Records": records.iter().map(KinesisRecord::to_json).collect::<Vec<_>>()})
}

/// A Kafka record timestamp, and the arrival it gives (`None`: none; `Err`: poison).
#[derive(Debug, Clone)]
pub struct KafkaTime {
    pub value: Value,
    pub arrival: Result<Option<i64>, ()>,
}

pub fn kafka_time() -> impl Strategy<Value = KafkaTime> {
    prop_oneof![
        8 => (0i64..4_000_000_000_000).prop_map(|ms| KafkaTime { value: json!(ms), arrival: Ok(Some(ms)) }),
        1 => (0i64..4_000_000_000_000).prop_map(|ms| KafkaTime { value: json!(ms.to_string()), arrival: Ok(Some(ms)) }),
        1 => (0i64..4_000_000_000).prop_map(|s| KafkaTime { value: json!(s as f64 * 1000.0), arrival: Ok(Some(s * 1000)) }),
        1 => Just(KafkaTime { value: json!(-1), arrival: Ok(None) }),
        1 => (1i64..4_000_000_000_000).prop_map(|ms| KafkaTime { value: json!(ms as f64 + 0.5), arrival: Err(()) }),
        1 => prop::sample::select(vec![json!(-5), json!("soon"), json!(null), json!(true), json!(-2)])
            .prop_map(|value| KafkaTime { value, arrival: Err(()) }),
    ]
}

/// What an envelope fault does to a Kafka record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KafkaFault {
    None,
    /// A tombstone (`value` null): poison (empty), not a schema error.
    Tombstone,
    BadBase64,
    NegativeOffset,
    /// Schema errors: the record-by-record path reports them.
    NoPartition,
    NoOffset,
    OffsetText,
    NoHeaders,
    HeaderNotBytes,
    /// No `topic`: the lane names it.
    NoTopic,
}

pub fn kafka_fault() -> impl Strategy<Value = KafkaFault> {
    use KafkaFault::*;
    prop_oneof![
        20 => Just(None),
        2 => Just(Tombstone),
        2 => Just(BadBase64),
        1 => Just(NegativeOffset),
        1 => Just(NoPartition),
        1 => Just(NoOffset),
        1 => Just(OffsetText),
        1 => Just(NoHeaders),
        1 => Just(HeaderNotBytes),
        2 => Just(NoTopic),
    ]
}

#[derive(Debug, Clone)]
pub struct KafkaRecord {
    pub payload: Payload,
    pub topic: String,
    pub partition: i64,
    pub offset: i64,
    pub time: KafkaTime,
    pub key: Option<String>,
    pub headers: Vec<(String, Vec<i8>)>,
    pub fault: KafkaFault,
}

pub fn kafka_record() -> impl Strategy<Value = KafkaRecord> {
    (
        payload(),
        (
            prop::sample::select(vec!["clickstream", "click-events", "a-b-c"]),
            0i64..4,
        ),
        (0i64..1_000_000_000_000, kafka_time()),
        prop::option::of("[A-Za-z0-9+/]{4}"),
        prop::collection::vec(
            ("[a-z-]{1,8}", prop::collection::vec(any::<i8>(), 0..6)),
            0..3,
        ),
        kafka_fault(),
    )
        .prop_map(
            |(payload, (topic, partition), (offset, time), key, headers, fault)| KafkaRecord {
                payload,
                topic: topic.to_string(),
                partition,
                offset,
                time,
                key,
                headers,
                fault,
            },
        )
}

impl KafkaRecord {
    pub fn lane(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    pub fn to_json(&self) -> Value {
        use KafkaFault::*;
        let value = match self.fault {
            Tombstone => Value::Null,
            BadBase64 => json!(format!("*{}", STANDARD.encode(&self.payload.bytes))),
            _ => json!(STANDARD.encode(&self.payload.bytes)),
        };
        let headers: Vec<Value> = self.headers.iter().map(|(k, v)| json!({ k: v })).collect();
        let offset = if self.fault == NegativeOffset {
            -self.offset - 1
        } else {
            self.offset
        };
        let mut r = json!({"topic": self.topic, "partition": self.partition, "offset": offset,
            "timestamp": self.time.value, "timestampType": "CREATE_TIME", "key": self.key,
            "value": value, "headers": headers});
        let o = r.as_object_mut().unwrap();
        match self.fault {
            NoPartition => drop(o.remove("partition")),
            NoOffset => drop(o.remove("offset")),
            OffsetText => drop(o.insert("offset".into(), json!(offset.to_string()))),
            NoHeaders => drop(o.remove("headers")),
            HeaderNotBytes => drop(o.insert("headers".into(), json!([{"h": "text"}]))),
            NoTopic => drop(o.remove("topic")),
            None | Tombstone | BadBase64 | NegativeOffset => {}
        }
        r
    }

    pub fn schema_error(&self) -> bool {
        use KafkaFault::*;
        matches!(
            self.fault,
            NoPartition | NoOffset | OffsetText | NoHeaders | HeaderNotBytes
        )
    }

    /// The poison the input layer gives the record, before the payload is looked at.
    pub fn envelope_poison(&self) -> Option<PoisonReason> {
        use KafkaFault::*;
        match self.fault {
            _ if self.schema_error() => Some(PoisonReason::MalformedRecord),
            Tombstone => Some(PoisonReason::EmptyRecord),
            BadBase64 => Some(PoisonReason::InvalidBase64),
            NegativeOffset => Some(PoisonReason::MalformedRecord),
            _ if self.time.arrival.is_err() => Some(PoisonReason::MalformedRecord),
            _ => Option::None,
        }
    }
}

/// A Kafka event: records grouped by lane (in generated order within a lane).
pub fn kafka_event(records: &[KafkaRecord], source: &str) -> Value {
    let mut lanes = serde_json::Map::new();
    for r in records {
        let lane = lanes.entry(r.lane()).or_insert_with(|| json!([]));
        lane.as_array_mut().unwrap().push(r.to_json());
    }
    json!({"eventSource": source,
        "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/streamops-msk/5a6b7c8d",
        "bootstrapServers": "b-1.streamops-msk.abc123.c2.kafka.us-east-1.amazonaws.com:9098",
        "records": lanes})
}

/// The records of a Kafka event in the order the input layer delivers them: lanes by name.
pub fn kafka_order(records: &[KafkaRecord]) -> Vec<&KafkaRecord> {
    let mut ordered: Vec<&KafkaRecord> = records.iter().collect();
    ordered.sort_by_key(|r| r.lane());
    ordered
}
