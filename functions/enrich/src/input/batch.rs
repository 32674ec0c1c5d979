//! What a parsed invocation is made of: input records with their origin and payload (or the
//! poison verdict decoding reached), batches, and the errors of a payload that is no batch.

use serde_json::Value;

use crate::origin::{RecordOrigin, SourceKind};
use crate::poison::Poison;

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
    /// Kafka headers as delivered, kept for the quarantine (see [`crate::input::kafka_headers_json`]); turned
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
