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
    /// A value in a registry format (`ENRICH_VALUE_FORMAT`) whose wire header is not one: too
    /// short, a wrong version or magic byte, an unknown compression, zlib that does not inflate.
    BadWireHeader,
    /// The header names a schema the registry does not have (or whose definition is not a
    /// usable schema of the format's kind: Avro, or .proto text). The message names the
    /// schema id.
    UnknownSchema,
    /// The Avro body does not decode with the schema its header names (truncated, trailing
    /// bytes, a bad union index), or holds a value JSON cannot carry (a NaN float).
    UndecodableAvro,
    /// The Protobuf message does not decode with the message type its framing names
    /// (truncated, a wrong wire type, invalid UTF-8 in a string, a damaged message index), or
    /// holds a well-known type JSON cannot carry (a Timestamp past year 9999).
    UndecodableProtobuf,
    /// Avro: the record decodes with its writer schema, but that schema does not resolve to
    /// the configured reader schema by Avro's resolution rules. Protobuf: the message index
    /// names no message of the schema.
    SchemaMismatch,
    /// A JSON Schema format: the body is JSON, but its writer's JSON Schema rejects it. The
    /// message names the schema id, the first failing JSON pointer and what the schema wants
    /// there (never the value).
    SchemaViolation,
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
            PoisonReason::BadWireHeader => "bad_wire_header",
            PoisonReason::UnknownSchema => "unknown_schema",
            PoisonReason::UndecodableAvro => "undecodable_avro",
            PoisonReason::UndecodableProtobuf => "undecodable_protobuf",
            PoisonReason::SchemaMismatch => "schema_mismatch",
            PoisonReason::SchemaViolation => "schema_violation",
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
