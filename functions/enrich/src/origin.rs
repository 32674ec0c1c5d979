//! Where a record came from: its source, stream or topic, shard or partition, position and
//! arrival; the lane (shard or topic-partition) it belongs to; its stable event id.

use std::cmp::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Kinesis,
    Msk,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Kinesis => "kinesis",
            SourceKind::Msk => "msk",
        }
    }
}

/// The coordinates of one input record: enough to find it again, order it within its shard or
/// partition, report it to Lambda and derive its stable event id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordOrigin {
    pub source: SourceKind,
    /// Kinesis stream name or Kafka topic (shared by the records of a batch, see [`LaneNames`]).
    pub stream: Arc<str>,
    /// Kinesis shard id, or the Kafka partition number as a string.
    pub shard: Arc<str>,
    /// Kinesis sequence number (decimal, up to 128 bits) or Kafka offset.
    pub position: String,
    /// Approximate arrival (Kinesis) or record timestamp (Kafka).
    pub arrival: Option<DateTime<Utc>>,
    /// Kinesis partition key or Kafka key (base64 as delivered), for the quarantine record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl RecordOrigin {
    /// The ledger key of this record's shard or topic-partition.
    pub fn lane(&self) -> String {
        format!("{}#{}#{}", self.source.as_str(), self.stream, self.shard)
    }

    /// Stable across retries and replays: the same input record always gets the same id, so a
    /// duplicate that at-least-once delivery lets through is identifiable downstream.
    pub fn event_id(&self) -> String {
        self.event_id_hex().as_str().to_string()
    }

    /// [`RecordOrigin::event_id`] without an allocation, for the per-record path.
    pub fn event_id_hex(&self) -> EventIdHex {
        let mut h = Sha256::new();
        for part in [
            self.source.as_str(),
            &self.stream,
            &self.shard,
            &self.position,
        ] {
            h.update(part.as_bytes());
            h.update([0x1f]);
        }
        let mut out = [0u8; 32];
        crate::encoding::hex_lower_into(&mut out, &h.finalize()[..16]);
        EventIdHex(out)
    }
}

/// An event id: 32 lowercase hex digits.
pub struct EventIdHex([u8; 32]);

impl EventIdHex {
    pub fn as_str(&self) -> &str {
        // Filled by hex_lower_into: 0-9a-f only.
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

/// The stream and shard names of a batch, held once and shared by its records: a batch comes
/// from one stream and a few shards, and a string per record and name was measurable.
#[derive(Debug, Default)]
pub struct LaneNames(Vec<Arc<str>>);

impl LaneNames {
    /// The shared copy of `name`. A batch has a handful of names; a few more are looked at
    /// linearly and the oldest are let go.
    pub fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(known) = self.0.iter().find(|n| &***n == name) {
            return known.clone();
        }
        if self.0.len() == 16 {
            self.0.remove(0);
        }
        let shared: Arc<str> = name.into();
        self.0.push(shared.clone());
        shared
    }
}

/// Orders two decimal positions numerically. Kinesis sequence numbers have up to 56 digits
/// (beyond u128), so they are compared as digit strings: fewer significant digits is smaller.
pub fn cmp_position(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// True for a non-empty string of ASCII digits (what Kinesis and Kafka positions are).
pub fn is_position(p: &str) -> bool {
    !p.is_empty() && p.len() <= 128 && p.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(position: &str) -> RecordOrigin {
        RecordOrigin {
            source: SourceKind::Kinesis,
            stream: "raw".into(),
            shard: "shardId-000000000000".into(),
            position: position.into(),
            arrival: None,
            key: None,
        }
    }

    #[test]
    fn event_id_is_stable_and_distinct() {
        assert_eq!(origin("1").event_id(), origin("1").event_id());
        assert_ne!(origin("1").event_id(), origin("2").event_id());
        assert_eq!(origin("1").event_id().len(), 32);
    }

    #[test]
    fn sequence_numbers_beyond_u128_order_numerically() {
        let a = "49590338271490256608559692538361571095921575989136588898";
        let b = "49590338271490256608559692540925702759324208523137515618";
        assert_eq!(cmp_position(a, b), Ordering::Less);
        assert_eq!(cmp_position(b, a), Ordering::Greater);
        assert_eq!(cmp_position("9", "10"), Ordering::Less);
        assert_eq!(cmp_position("007", "7"), Ordering::Equal);
        assert!(is_position(a) && !is_position("") && !is_position("12a"));
    }
}
