//! The one-pass path: a well-formed Kinesis or Kafka batch read in one SIMD pass (sonic-rs)
//! straight into [`InputRecord`]s, each record through the aws_lambda_events type (Kinesis) or
//! [`KafkaWire`] (Kafka) exactly as the record-by-record path reads it. Anything this path
//! refuses takes the record-by-record path, which says what is wrong with which record.

use std::cell::Cell;

use aws_lambda_events::kinesis::KinesisEventRecord;
use serde::Deserialize;
use serde::de::DeserializeSeed;

use super::batch::{InputRecord, StreamBatch};
use super::decode::{from_kafka, from_kinesis, is_kafka_source};
use crate::arrival::ArrivalSeed;
use crate::kafka::KafkaWire;
use crate::origin::{LaneNames, SourceKind};

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
                    from_kinesis(rec, arrival.get(), &mut names, &mut out)
                        .map_err(serde::de::Error::custom)?;
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
                    // A lane named twice keeps its last records, as a map read by the
                    // record-by-record path keeps the last value of a key.
                    match lanes.iter_mut().find(|(seen, _)| *seen == name) {
                        Some(lane) => lane.1 = records,
                        None => lanes.push((name, records)),
                    }
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

/// The batch, when the payload is a well-formed Kinesis or Kafka batch (and no command).
pub(super) fn one_pass(json: &str) -> Option<StreamBatch> {
    // sonic-rs, like serde, reads a struct from a JSON array (`[[]]` would be a batch with no
    // records); only objects are events.
    if !json.trim_start().starts_with('{') {
        return None;
    }
    let batch = sonic_rs::from_str::<StreamBatchFast>(json)
        .ok()
        .filter(|b| b.command.is_none())?;
    match (batch.kinesis, batch.kafka) {
        (Some(records), None) => Some(StreamBatch {
            source: SourceKind::Kinesis,
            records: records.0,
        }),
        (None, Some(lanes)) if is_kafka_source(batch.event_source.as_deref()) => {
            Some(StreamBatch {
                source: SourceKind::Msk,
                records: lanes.0,
            })
        }
        // Neither, both, or a foreign source: the other paths say what it is.
        _ => None,
    }
}
