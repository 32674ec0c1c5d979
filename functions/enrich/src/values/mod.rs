//! Value formats: how a record's value bytes become the JSON document the pipeline validates
//! and enriches. `json` (the default) is the value as delivered; the Avro formats decode an
//! Avro body written with a schema from the AWS Glue Schema Registry (`avro-glue`), a
//! Confluent Schema Registry (`avro-confluent`) or shipped in configuration (`avro`). Pure: the service resolves schema ids through the registry port
//! ([`crate::ports::SchemaRegistry`]) and the cache ([`cache`]) and hands the schemas in.
//!
//! - `wire.rs`: the registries' wire headers;
//! - `avro.rs`: an Avro body to JSON text (`direct.rs`: the fast path, straight from the bytes);
//! - `cache.rs`: schemas kept across invocations, negative results too;
//! - `config.rs`: `ENRICH_VALUE_FORMAT` and the schema files.

use std::sync::Arc;

use apache_avro::Schema;

pub mod avro;
pub mod cache;
mod config;
mod direct;
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
}

impl ValueFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueFormat::Json => "json",
            ValueFormat::AvroGlue => "avro-glue",
            ValueFormat::AvroConfluent => "avro-confluent",
            ValueFormat::Avro => "avro",
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
    let framed = match format {
        ValueFormat::Json | ValueFormat::Avro => return Ok(None),
        ValueFormat::AvroGlue => wire::glue(value),
        ValueFormat::AvroConfluent => wire::confluent(value),
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

/// The poison of a value whose schema the registry does not have (or that does not parse).
pub fn unknown_schema(id: SchemaId, why: &str) -> Decoded {
    Decoded::Poison(Poison::new(
        PoisonReason::UnknownSchema,
        format!("schema {id}: {why}"),
    ))
}
