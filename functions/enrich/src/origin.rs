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
    /// Kinesis sequence number (decimal, up to 128 bits) or Kafka offset: what Lambda
    /// checkpoints and `batchItemFailures` names. A user record of a KPL aggregate has the
    /// aggregate's sequence number here and its index in [`RecordOrigin::sub_sequence`].
    pub position: String,
    /// The index of a KPL user record in its aggregate (the KCL's sub-sequence number);
    /// `None` for a plain record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_sequence: Option<u32>,
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

    /// The record's key in the ledger: the position, and for a KPL user record
    /// `position.sub_sequence`, so each user record of an aggregate is remembered on its own
    /// (see [`cmp_position`] for how the two forms order).
    pub fn ledger_position(&self) -> std::borrow::Cow<'_, str> {
        match self.sub_sequence {
            None => std::borrow::Cow::Borrowed(&self.position),
            Some(sub) => std::borrow::Cow::Owned(format!("{}.{sub}", self.position)),
        }
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
        // Only user records of an aggregate hash a sub-sequence number: plain records keep the
        // ids they always had.
        if let Some(sub) = self.sub_sequence {
            h.update(sub.to_string().as_bytes());
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

/// Orders two positions numerically. Kinesis sequence numbers have up to 56 digits (beyond
/// u128), so they are compared as digit strings: fewer significant digits is smaller. A ledger
/// position of a KPL user record, `SEQUENCE.SUB`, orders by sequence number, then sub-sequence
/// number, and after the bare `SEQUENCE` (which never occurs with it: a Kinesis record is
/// either plain or an aggregate).
pub fn cmp_position(a: &str, b: &str) -> Ordering {
    let (a, a_sub) = split_sub(a);
    let (b, b_sub) = split_sub(b);
    cmp_digits(a, b).then_with(|| match (a_sub, b_sub) {
        (Some(x), Some(y)) => cmp_digits(x, y),
        (x, y) => x.is_some().cmp(&y.is_some()),
    })
}

fn split_sub(p: &str) -> (&str, Option<&str>) {
    match p.split_once('.') {
        Some((seq, sub)) => (seq, Some(sub)),
        None => (p, None),
    }
}

fn cmp_digits(a: &str, b: &str) -> Ordering {
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
            sub_sequence: None,
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

    #[test]
    fn user_records_of_an_aggregate_order_after_their_sequence_number_and_by_index() {
        let seq = "49590338271490256608559692538361571095921575989136588898";
        let next = "49590338271490256608559692538361571095921575989136588899";
        assert_eq!(cmp_position(seq, &format!("{seq}.0")), Ordering::Less);
        assert_eq!(
            cmp_position(&format!("{seq}.9"), &format!("{seq}.10")),
            Ordering::Less
        );
        assert_eq!(cmp_position(&format!("{seq}.4000"), next), Ordering::Less);
        assert_eq!(
            cmp_position(&format!("{seq}.3"), &format!("{seq}.3")),
            Ordering::Equal
        );
        let mut user = origin(seq);
        user.sub_sequence = Some(3);
        assert_eq!(user.ledger_position(), format!("{seq}.3"));
        assert_eq!(origin(seq).ledger_position(), seq);
        // Distinct ids per user record, and the plain record's id is what it always was.
        assert_ne!(user.event_id(), origin(seq).event_id());
        user.sub_sequence = Some(4);
        let four = user.event_id();
        user.sub_sequence = Some(3);
        assert_ne!(user.event_id(), four);
    }
}
