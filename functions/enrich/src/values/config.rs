//! `ENRICH_VALUE_FORMAT` and the Avro schema files, read at cold start; every problem is
//! reported naming its variable.

use std::sync::Arc;

use apache_avro::Schema;
use streamops_shared::EnvReader;

use super::{ValueConfig, ValueFormat};

const FORMATS: &str = "json, avro-glue or avro";

/// The value configuration; problems are noted on `r` (and the default returned).
pub fn read_value_config(
    r: &mut EnvReader,
    read_file: &impl Fn(&str) -> Result<String, String>,
) -> ValueConfig {
    let defaults = ValueConfig::default();
    let format = match r.optional("ENRICH_VALUE_FORMAT").as_deref() {
        None | Some("") | Some("json") => ValueFormat::Json,
        Some("avro-glue") => ValueFormat::AvroGlue,
        Some("avro") => ValueFormat::Avro,
        Some("avro-confluent") => {
            // The header parser exists (values::wire::confluent); the registry client does not yet.
            let why = "the Confluent registry client is not built yet".to_string();
            r.invalid("ENRICH_VALUE_FORMAT", FORMATS, "avro-confluent", Some(why));
            ValueFormat::Json
        }
        Some(other) => {
            r.invalid("ENRICH_VALUE_FORMAT", FORMATS, other, None);
            ValueFormat::Json
        }
    };
    let fixed_schema = schema_file(r, "ENRICH_AVRO_SCHEMA_PATH", read_file);
    if format == ValueFormat::Avro && r.optional("ENRICH_AVRO_SCHEMA_PATH").is_none() {
        // Noted as missing, naming the variable and why it is needed.
        r.required(
            "ENRICH_AVRO_SCHEMA_PATH",
            "an Avro schema file (ENRICH_VALUE_FORMAT=avro needs one)",
        );
    }
    let reader_schema = schema_file(r, "ENRICH_AVRO_READER_SCHEMA_PATH", read_file);
    ValueConfig {
        format,
        fixed_schema,
        reader_schema,
        cache_ttl: r.seconds_or("ENRICH_SCHEMA_CACHE_SECONDS", defaults.cache_ttl),
        cache_max_entries: r.parsed_or(
            "ENRICH_SCHEMA_CACHE_MAX_ENTRIES",
            "a number of cache entries",
            defaults.cache_max_entries,
        ),
    }
}

/// An Avro schema file named by `name`, parsed; `None` when unset or (noted) invalid.
fn schema_file(
    r: &mut EnvReader,
    name: &str,
    read_file: &impl Fn(&str) -> Result<String, String>,
) -> Option<Arc<Schema>> {
    let path = r.optional(name)?;
    let parsed = read_file(&path)
        .map_err(|e| format!("cannot read {path}: {e}"))
        .and_then(|text| Schema::parse_str(&text).map_err(|e| format!("{path}: {e}")));
    match parsed {
        Ok(schema) => Some(Arc::new(schema)),
        Err(e) => {
            r.invalid(name, "an Avro schema file", &path, Some(e));
            None
        }
    }
}
