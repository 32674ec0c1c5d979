//! The poison verdict: why a record can never be enriched. Poison is quarantined once, never
//! retried.

use serde::{Deserialize, Serialize};

/// Why a record can never be enriched. Poison is quarantined once, never retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoisonReason {
    MalformedRecord,
    InvalidBase64,
    EmptyRecord,
    InvalidUtf8,
    InvalidJson,
    NotAnObject,
    Oversize,
    MissingField,
    WrongType,
    InvalidEventTime,
    MissingPartitionKey,
    OutputOversize,
    /// A KPL aggregate that is not sound (bad MD5, truncated protobuf, an index out of range):
    /// quarantined whole, as the Kinesis record it is, since none of its user records can be
    /// trusted.
    CorruptAggregate,
}

impl PoisonReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PoisonReason::MalformedRecord => "malformed_record",
            PoisonReason::InvalidBase64 => "invalid_base64",
            PoisonReason::EmptyRecord => "empty_record",
            PoisonReason::InvalidUtf8 => "invalid_utf8",
            PoisonReason::InvalidJson => "invalid_json",
            PoisonReason::NotAnObject => "not_an_object",
            PoisonReason::Oversize => "oversize",
            PoisonReason::MissingField => "missing_field",
            PoisonReason::WrongType => "wrong_type",
            PoisonReason::InvalidEventTime => "invalid_event_time",
            PoisonReason::MissingPartitionKey => "missing_partition_key",
            PoisonReason::OutputOversize => "output_oversize",
            PoisonReason::CorruptAggregate => "corrupt_aggregate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Poison {
    pub reason: PoisonReason,
    /// Precise and safe to log: names fields and positions, never field values.
    pub message: String,
}

impl Poison {
    pub fn new(reason: PoisonReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}
