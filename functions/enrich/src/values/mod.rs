//! Value formats: how a record's value bytes become the JSON document the pipeline validates
//! and enriches. `json` (the default) is the value as delivered; the Avro and Protobuf formats
//! decode a body written with a schema from the AWS Glue Schema Registry (`avro-glue`,
//! `protobuf-glue`), a Confluent Schema Registry (`avro-confluent`, `protobuf-confluent`) or
//! shipped in configuration (`avro`, `protobuf`); the JSON Schema formats (`jsonschema-glue`,
//! `jsonschema-confluent`, `jsonschema`) strip the same headers and validate the JSON body
//! against its writer's JSON Schema. Pure: the service resolves schema ids
//! through the registry port ([`crate::ports::SchemaRegistry`]) and the cache ([`cache`]) and
//! hands the schemas in.
//!
//! - `wire.rs`: the registries' wire headers;
//! - `avro.rs`: an Avro body to JSON text (`direct.rs`: the fast path, straight from the bytes);
//! - `protobuf.rs`: .proto schemas, the message a body names, a message to JSON text
//!   (`protodirect.rs`: the fast path, straight from the bytes);
//! - `jsonschema.rs`: a JSON body checked against a compiled JSON Schema;
//! - `cache.rs`: schemas kept across invocations, negative results too;
//! - `config.rs`: `ENRICH_VALUE_FORMAT` and the schema files.

use std::sync::Arc;

use apache_avro::Schema;

pub mod avro;
pub mod cache;
mod config;
mod direct;
pub mod jsonschema;
pub mod protobuf;
mod protodirect;
pub mod wire;

pub use config::read_value_config;
pub use wire::SchemaId;

use crate::poison::{Poison, PoisonReason};
use avro::AvroError;
use wire::Framed;

/// `ENRICH_VALUE_FORMAT`: one setting for every source of the function (its Kinesis stream or
/// all its Kafka topics; an event source mapping's records are of one kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFormat {
    /// JSON as delivered (today's behaviour).
    Json,
    /// Glue Schema Registry framed Avro, the writer schema fetched by its version id.
    AvroGlue,
    /// Confluent wire-format Avro, the writer schema fetched by its id from
    /// `ENRICH_SCHEMA_REGISTRY_URL`.
    AvroConfluent,
    /// Unframed Avro written with the schema in `ENRICH_AVRO_SCHEMA_PATH`.
    Avro,
    /// Glue Schema Registry framed Protobuf: the header, then Glue's message index and the
    /// message.
    ProtobufGlue,
    /// Confluent wire-format Protobuf: the header, then Confluent's message indexes and the
    /// message.
    ProtobufConfluent,
    /// A bare Protobuf message of type `ENRICH_PROTOBUF_MESSAGE` in the .proto file
    /// `ENRICH_PROTOBUF_SCHEMA_PATH`.
    Protobuf,
    /// Glue Schema Registry framed JSON (Glue's DataFormat `JSON`): the header, then the JSON
    /// document, validated against the writer's JSON Schema.
    JsonSchemaGlue,
    /// Confluent wire-format JSON (schemaType `JSON`): the header, then the JSON document,
    /// validated against the writer's JSON Schema.
    JsonSchemaConfluent,
    /// Unframed JSON validated against the JSON Schema in `ENRICH_JSON_SCHEMA_PATH`.
    JsonSchema,
}

/// The registry a format's headers name schemas in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registry {
    Glue,
    Confluent,
}

/// The schema language of a format's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    Avro,
    Protobuf,
    JsonSchema,
}

impl ValueFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueFormat::Json => "json",
            ValueFormat::AvroGlue => "avro-glue",
            ValueFormat::AvroConfluent => "avro-confluent",
            ValueFormat::Avro => "avro",
            ValueFormat::ProtobufGlue => "protobuf-glue",
            ValueFormat::ProtobufConfluent => "protobuf-confluent",
            ValueFormat::Protobuf => "protobuf",
            ValueFormat::JsonSchemaGlue => "jsonschema-glue",
            ValueFormat::JsonSchemaConfluent => "jsonschema-confluent",
            ValueFormat::JsonSchema => "jsonschema",
        }
    }

    /// The registry the values' headers name their schemas in; `None`: no header.
    pub fn registry(self) -> Option<Registry> {
        match self {
            ValueFormat::AvroGlue | ValueFormat::ProtobufGlue | ValueFormat::JsonSchemaGlue => {
                Some(Registry::Glue)
            }
            ValueFormat::AvroConfluent
            | ValueFormat::ProtobufConfluent
            | ValueFormat::JsonSchemaConfluent => Some(Registry::Confluent),
            ValueFormat::Json
            | ValueFormat::Avro
            | ValueFormat::Protobuf
            | ValueFormat::JsonSchema => None,
        }
    }

    /// The schema language the values are written in; `None` for JSON.
    pub fn schema_kind(self) -> Option<SchemaKind> {
        match self {
            ValueFormat::Json => None,
            ValueFormat::AvroGlue | ValueFormat::AvroConfluent | ValueFormat::Avro => {
                Some(SchemaKind::Avro)
            }
            ValueFormat::ProtobufGlue | ValueFormat::ProtobufConfluent | ValueFormat::Protobuf => {
                Some(SchemaKind::Protobuf)
            }
            ValueFormat::JsonSchemaGlue
            | ValueFormat::JsonSchemaConfluent
            | ValueFormat::JsonSchema => Some(SchemaKind::JsonSchema),
        }
    }
}

/// A value format and its schemas, as configured.
#[derive(Debug, Clone)]
pub struct ValueConfig {
    pub format: ValueFormat,
    /// `ENRICH_AVRO_SCHEMA_PATH`: the writer schema of `avro` values.
    pub fixed_schema: Option<Arc<Schema>>,
    /// `ENRICH_AVRO_READER_SCHEMA_PATH`: the schema values are read as (resolved from their
    /// writer's schema by Avro's rules, so older compatible writers decode); the writer's own
    /// schema when unset.
    pub reader_schema: Option<Arc<Schema>>,
    /// `ENRICH_PROTOBUF_SCHEMA_PATH` and `ENRICH_PROTOBUF_MESSAGE`: the message type of
    /// `protobuf` values.
    pub fixed_message: Option<Arc<protobuf::FixedMessage>>,
    /// `ENRICH_JSON_SCHEMA_PATH`: the JSON Schema of `jsonschema` values, compiled.
    pub fixed_json_schema: Option<Arc<jsonschema::JsonSchema>>,
    /// `ENRICH_SCHEMA_CACHE_SECONDS` (default 300) and `ENRICH_SCHEMA_CACHE_MAX_ENTRIES`
    /// (default 1000): registry answers kept across invocations.
    pub cache_ttl: std::time::Duration,
    pub cache_max_entries: usize,
    /// `ENRICH_SCHEMA_REGISTRY_URL` (`http://host:port`) and
    /// `ENRICH_SCHEMA_REGISTRY_AUTH_SECRET_ARN` (optional basic auth): the Confluent registry.
    pub registry_url: Option<String>,
    pub registry_auth_secret: Option<String>,
}

impl Default for ValueConfig {
    fn default() -> Self {
        Self {
            format: ValueFormat::Json,
            fixed_schema: None,
            reader_schema: None,
            fixed_message: None,
            fixed_json_schema: None,
            cache_ttl: std::time::Duration::from_secs(300),
            cache_max_entries: 1000,
            registry_url: None,
            registry_auth_secret: None,
        }
    }
}

/// What a value became before the pipeline reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Read as delivered (JSON values; records already poison or skipped).
    AsDelivered,
    /// The JSON document decoded from the value.
    Json(Vec<u8>),
    Poison(Poison),
}

/// A registry-framed value's header: the schema it names and its body, or why it has none.
pub fn frame(format: ValueFormat, value: &[u8]) -> Result<Option<Framed<'_>>, Poison> {
    let framed = match format.registry() {
        None => return Ok(None),
        Some(Registry::Glue) => wire::glue(value),
        Some(Registry::Confluent) => wire::confluent(value),
    };
    framed.map(Some).map_err(|e| {
        Poison::new(
            PoisonReason::BadWireHeader,
            format!("{} wire header: {e}", format.as_str()),
        )
    })
}

/// A body decoded with its writer schema (`schema` names it in poison messages) and read as
/// `reader` (the writer's own schema when `None`).
pub fn decode(
    schema: Option<SchemaId>,
    writer: &Schema,
    reader: Option<&Schema>,
    body: &[u8],
) -> Decoded {
    let named = |message: String| match schema {
        Some(id) => format!("schema {id}: {message}"),
        None => format!("configured schema: {message}"),
    };
    match avro::to_json(writer, reader, body) {
        Ok(json) => Decoded::Json(json),
        Err(AvroError::Undecodable(m)) => {
            Decoded::Poison(Poison::new(PoisonReason::UndecodableAvro, named(m)))
        }
        Err(AvroError::Mismatch(m)) => {
            Decoded::Poison(Poison::new(PoisonReason::SchemaMismatch, named(m)))
        }
    }
}

/// A registry-framed Protobuf body decoded: the message its framing names (Glue's index or
/// Confluent's indexes) in the schema of `id`.
pub fn decode_protobuf(
    id: SchemaId,
    schema: &protobuf::ProtoSchema,
    registry: Registry,
    body: &[u8],
) -> Decoded {
    let decoded = match registry {
        Registry::Glue => protobuf::glue_message(schema, body),
        Registry::Confluent => protobuf::confluent_message(schema, body),
    }
    .and_then(|(message, rest)| protobuf::to_json(&message, rest));
    protobuf_outcome(decoded, |m| format!("schema {id}: {m}"))
}

/// A bare Protobuf message of the configured type.
pub fn decode_fixed_protobuf(fixed: &protobuf::FixedMessage, body: &[u8]) -> Decoded {
    let named = |message: String| format!("configured message {}: {message}", fixed.name());
    protobuf_outcome(protobuf::to_json(fixed.descriptor(), body), named)
}

fn protobuf_outcome(
    decoded: Result<Vec<u8>, protobuf::ProtoError>,
    named: impl Fn(String) -> String,
) -> Decoded {
    match decoded {
        Ok(json) => Decoded::Json(json),
        Err(protobuf::ProtoError::Undecodable(m)) => {
            Decoded::Poison(Poison::new(PoisonReason::UndecodableProtobuf, named(m)))
        }
        Err(protobuf::ProtoError::Mismatch(m)) => {
            Decoded::Poison(Poison::new(PoisonReason::SchemaMismatch, named(m)))
        }
    }
}

/// A JSON body checked against its writer's JSON Schema (`schema` names it in poison
/// messages; `None`: the configured schema): passed through as the document when valid.
pub fn decode_json_schema(
    schema: Option<SchemaId>,
    json_schema: &jsonschema::JsonSchema,
    body: &[u8],
) -> Decoded {
    let named = |message: String| match schema {
        Some(id) => format!("schema {id}: {message}"),
        None => format!("configured JSON Schema: {message}"),
    };
    match json_schema.check(body) {
        Ok(()) => Decoded::Json(body.to_vec()),
        Err(jsonschema::JsonSchemaError::NotJson(m)) => {
            Decoded::Poison(Poison::new(PoisonReason::InvalidJson, named(m)))
        }
        Err(jsonschema::JsonSchemaError::Violation(m)) => {
            Decoded::Poison(Poison::new(PoisonReason::SchemaViolation, named(m)))
        }
    }
}

/// The poison of a value whose schema the registry does not have (or that does not parse).
pub fn unknown_schema(id: SchemaId, why: &str) -> Decoded {
    Decoded::Poison(Poison::new(
        PoisonReason::UnknownSchema,
        format!("schema {id}: {why}"),
    ))
}
