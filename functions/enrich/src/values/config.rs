//! `ENRICH_VALUE_FORMAT` and the Avro, Protobuf and JSON Schema files, read at cold start; every
//! problem is reported naming its variable.

use std::sync::Arc;

use apache_avro::Schema;
use streamops_shared::EnvReader;

use super::jsonschema::JsonSchema;
use super::protobuf::{FixedMessage, ProtoSchema};
use super::{Registry, ValueConfig, ValueFormat};

const FORMATS: &str = "json, avro-glue, avro-confluent, avro, protobuf-glue, protobuf-confluent, \
     protobuf, jsonschema-glue, jsonschema-confluent or jsonschema";

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
        Some("avro-confluent") => ValueFormat::AvroConfluent,
        Some("protobuf-glue") => ValueFormat::ProtobufGlue,
        Some("protobuf-confluent") => ValueFormat::ProtobufConfluent,
        Some("protobuf") => ValueFormat::Protobuf,
        Some("jsonschema-glue") => ValueFormat::JsonSchemaGlue,
        Some("jsonschema-confluent") => ValueFormat::JsonSchemaConfluent,
        Some("jsonschema") => ValueFormat::JsonSchema,
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
    let fixed_message = fixed_message(r, format, read_file);
    let fixed_json_schema = json_schema_file(r, format, read_file);
    let registry_url = registry_url(r, format);
    ValueConfig {
        format,
        fixed_schema,
        reader_schema,
        fixed_message,
        fixed_json_schema,
        cache_ttl: r.seconds_or("ENRICH_SCHEMA_CACHE_SECONDS", defaults.cache_ttl),
        cache_max_entries: r.parsed_or(
            "ENRICH_SCHEMA_CACHE_MAX_ENTRIES",
            "a number of cache entries",
            defaults.cache_max_entries,
        ),
        registry_url,
        registry_auth_secret: r.optional("ENRICH_SCHEMA_REGISTRY_AUTH_SECRET_ARN"),
    }
}

/// `ENRICH_PROTOBUF_SCHEMA_PATH` (a .proto file) and `ENRICH_PROTOBUF_MESSAGE` (the full name
/// of the values' message type): required for `protobuf`, read whenever set.
fn fixed_message(
    r: &mut EnvReader,
    format: ValueFormat,
    read_file: &impl Fn(&str) -> Result<String, String>,
) -> Option<std::sync::Arc<FixedMessage>> {
    const SCHEMA: &str = "ENRICH_PROTOBUF_SCHEMA_PATH";
    const MESSAGE: &str = "ENRICH_PROTOBUF_MESSAGE";
    let (path, name) = if format == ValueFormat::Protobuf {
        (
            r.required(
                SCHEMA,
                "a .proto file (ENRICH_VALUE_FORMAT=protobuf needs one)",
            ),
            r.required(MESSAGE, "the values' message type, package.Message"),
        )
    } else {
        (r.optional(SCHEMA)?, r.optional(MESSAGE)?)
    };
    if path.is_empty() || name.is_empty() {
        return None;
    }
    let schema = read_file(&path)
        .map_err(|e| format!("cannot read {path}: {e}"))
        .and_then(|text| ProtoSchema::parse(&text).map_err(|e| format!("{path}: {e}")));
    let schema = match schema {
        Ok(schema) => schema,
        Err(e) => {
            r.invalid(SCHEMA, "a .proto file", &path, Some(e));
            return None;
        }
    };
    match FixedMessage::new(&schema, &name) {
        Ok(message) => Some(std::sync::Arc::new(message)),
        Err(e) => {
            r.invalid(MESSAGE, "a message type of the schema", &name, Some(e));
            None
        }
    }
}

/// `ENRICH_JSON_SCHEMA_PATH`: the JSON Schema of `jsonschema` values, required for it, read
/// (and compiled) whenever set.
fn json_schema_file(
    r: &mut EnvReader,
    format: ValueFormat,
    read_file: &impl Fn(&str) -> Result<String, String>,
) -> Option<Arc<JsonSchema>> {
    const NAME: &str = "ENRICH_JSON_SCHEMA_PATH";
    let path = if format == ValueFormat::JsonSchema {
        r.required(
            NAME,
            "a JSON Schema file (ENRICH_VALUE_FORMAT=jsonschema needs one)",
        )
    } else {
        r.optional(NAME)?
    };
    if path.is_empty() {
        return None;
    }
    let compiled = read_file(&path)
        .map_err(|e| format!("cannot read {path}: {e}"))
        .and_then(|text| JsonSchema::compile(&text).map_err(|e| format!("{path}: {e}")));
    match compiled {
        Ok(schema) => Some(Arc::new(schema)),
        Err(e) => {
            r.invalid(NAME, "a JSON Schema file", &path, Some(e));
            None
        }
    }
}

/// `ENRICH_SCHEMA_REGISTRY_URL`: required for the Confluent formats, plain `http://host:port`.
fn registry_url(r: &mut EnvReader, format: ValueFormat) -> Option<String> {
    const EXPECTED: &str =
        "http://host:port of a Confluent Schema Registry (the -confluent formats need one)";
    if format.registry() != Some(Registry::Confluent) {
        return r.optional("ENRICH_SCHEMA_REGISTRY_URL");
    }
    let url = r.required("ENRICH_SCHEMA_REGISTRY_URL", EXPECTED);
    if url.is_empty() {
        return None;
    }
    match streamops_shared::http::parse_endpoint(&url) {
        Ok(_) => Some(url),
        Err(e) => {
            r.invalid("ENRICH_SCHEMA_REGISTRY_URL", EXPECTED, &url, Some(e));
            None
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
    const PROTO: &str = "syntax = \"proto3\"; package p; message M { string a = 1; }";

    fn read(vars: &[(&str, &str)]) -> Result<ValueConfig, String> {
        let env = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let mut r = EnvReader::from_map(env.collect());
        let files = |path: &str| match path {
            "r.avsc" => Ok(SCHEMA.to_string()),
            "bad.avsc" => Ok("{\"type\":\"record\"}".to_string()),
            "m.proto" => Ok(PROTO.to_string()),
            "bad.proto" => Ok("message {".to_string()),
            "click.schema.json" => Ok(r#"{"type":"object","required":["a"]}"#.to_string()),
            "bad.schema.json" => Ok(r#"{"type":"object","required":"a"}"#.to_string()),
            other => Err(format!("{other}: no such file")),
        };
        let config = read_value_config(&mut r, &files);
        r.finish(config).map_err(|e| e.to_string())
    }

    #[test]
    fn json_is_the_default_and_the_avro_formats_read_their_schemas() {
        let c = read(&[]).unwrap();
        assert_eq!(c.format, ValueFormat::Json);
        assert!(c.fixed_schema.is_none() && c.reader_schema.is_none());
        let c = read(&[
            ("ENRICH_VALUE_FORMAT", "avro-glue"),
            ("ENRICH_AVRO_READER_SCHEMA_PATH", "r.avsc"),
            ("ENRICH_SCHEMA_CACHE_SECONDS", "60"),
        ])
        .unwrap();
        assert_eq!(c.format, ValueFormat::AvroGlue);
        assert!(c.reader_schema.is_some());
        assert_eq!(c.cache_ttl.as_secs(), 60);
        let c = read(&[
            ("ENRICH_VALUE_FORMAT", "avro"),
            ("ENRICH_AVRO_SCHEMA_PATH", "r.avsc"),
        ]);
        assert!(c.unwrap().fixed_schema.is_some());
        let c = read(&[
            ("ENRICH_VALUE_FORMAT", "protobuf"),
            ("ENRICH_PROTOBUF_SCHEMA_PATH", "m.proto"),
            ("ENRICH_PROTOBUF_MESSAGE", "p.M"),
        ])
        .unwrap();
        assert_eq!(c.format, ValueFormat::Protobuf);
        assert_eq!(c.fixed_message.unwrap().name(), "p.M");
        let c = read(&[
            ("ENRICH_VALUE_FORMAT", "protobuf-confluent"),
            ("ENRICH_SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081"),
        ]);
        assert_eq!(c.unwrap().format, ValueFormat::ProtobufConfluent);
        assert_eq!(
            read(&[("ENRICH_VALUE_FORMAT", "protobuf-glue")])
                .unwrap()
                .format,
            ValueFormat::ProtobufGlue
        );
    }

    #[test]
    fn the_json_schema_formats_read_their_schema_file_or_registry() {
        let c = read(&[
            ("ENRICH_VALUE_FORMAT", "jsonschema"),
            ("ENRICH_JSON_SCHEMA_PATH", "click.schema.json"),
        ])
        .unwrap();
        assert_eq!(c.format, ValueFormat::JsonSchema);
        let schema = c.fixed_json_schema.unwrap();
        assert!(schema.check(br#"{"a":1}"#).is_ok() && schema.check(b"{}").is_err());
        let c = read(&[("ENRICH_VALUE_FORMAT", "jsonschema-glue")]).unwrap();
        assert_eq!(c.format, ValueFormat::JsonSchemaGlue);
        assert!(c.fixed_json_schema.is_none());
        let c = read(&[
            ("ENRICH_VALUE_FORMAT", "jsonschema-confluent"),
            ("ENRICH_SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081"),
        ]);
        assert_eq!(c.unwrap().format, ValueFormat::JsonSchemaConfluent);
    }

    #[test]
    fn an_unknown_format_lists_the_accepted_ones() {
        let err = read(&[("ENRICH_VALUE_FORMAT", "jsonschema-avro")]).unwrap_err();
        for format in [
            "json,",
            "avro-glue",
            "protobuf",
            "jsonschema-glue",
            "jsonschema-confluent",
        ] {
            assert!(err.contains(format), "{err}");
        }
    }

    #[test]
    fn problems_name_their_variable() {
        let cases: [(&[(&str, &str)], &str); 14] = [
            (
                &[("ENRICH_VALUE_FORMAT", "jsonschema")],
                "ENRICH_JSON_SCHEMA_PATH",
            ),
            (
                &[
                    ("ENRICH_VALUE_FORMAT", "jsonschema"),
                    ("ENRICH_JSON_SCHEMA_PATH", "missing.schema.json"),
                ],
                "ENRICH_JSON_SCHEMA_PATH",
            ),
            (
                &[
                    ("ENRICH_VALUE_FORMAT", "jsonschema"),
                    ("ENRICH_JSON_SCHEMA_PATH", "bad.schema.json"),
                ],
                "not a valid JSON Schema",
            ),
            (
                &[("ENRICH_VALUE_FORMAT", "jsonschema-confluent")],
                "ENRICH_SCHEMA_REGISTRY_URL",
            ),
            (&[("ENRICH_VALUE_FORMAT", "thrift")], "ENRICH_VALUE_FORMAT"),
            (
                &[("ENRICH_VALUE_FORMAT", "protobuf")],
                "ENRICH_PROTOBUF_SCHEMA_PATH",
            ),
            (
                &[
                    ("ENRICH_VALUE_FORMAT", "protobuf"),
                    ("ENRICH_PROTOBUF_SCHEMA_PATH", "bad.proto"),
                    ("ENRICH_PROTOBUF_MESSAGE", "p.M"),
                ],
                "ENRICH_PROTOBUF_SCHEMA_PATH",
            ),
            (
                &[
                    ("ENRICH_VALUE_FORMAT", "protobuf"),
                    ("ENRICH_PROTOBUF_SCHEMA_PATH", "m.proto"),
                    ("ENRICH_PROTOBUF_MESSAGE", "p.Nope"),
                ],
                "ENRICH_PROTOBUF_MESSAGE",
            ),
            (
                &[("ENRICH_VALUE_FORMAT", "protobuf-confluent")],
                "ENRICH_SCHEMA_REGISTRY_URL",
            ),
            (
                &[("ENRICH_VALUE_FORMAT", "avro-confluent")],
                "ENRICH_SCHEMA_REGISTRY_URL",
            ),
            (
                &[
                    ("ENRICH_VALUE_FORMAT", "avro-confluent"),
                    ("ENRICH_SCHEMA_REGISTRY_URL", "https://sr:8081"),
                ],
                "TLS endpoints are not supported",
            ),
            (
                &[("ENRICH_VALUE_FORMAT", "avro")],
                "ENRICH_AVRO_SCHEMA_PATH",
            ),
            (
                &[
                    ("ENRICH_VALUE_FORMAT", "avro"),
                    ("ENRICH_AVRO_SCHEMA_PATH", "bad.avsc"),
                ],
                "ENRICH_AVRO_SCHEMA_PATH",
            ),
            (
                &[("ENRICH_AVRO_READER_SCHEMA_PATH", "missing.avsc")],
                "ENRICH_AVRO_READER_SCHEMA_PATH",
            ),
        ];
        for (vars, named) in cases {
            let err = read(vars).unwrap_err();
            assert!(err.contains(named), "{vars:?}: {err}");
        }
    }
}
