//! The producer fixtures' Glue schema versions on moto, for the Avro and Protobuf tests:
//! registered in order (a schema's first version creates it, later ones are its next
//! versions), and a fixture event's schema version ids swapped for the ones moto gave.

use aws_sdk_glue::types::{Compatibility, DataFormat, RegistryId, SchemaId as GlueSchemaId};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use enrich::ports::SchemaId;
use enrich::values::wire::parse_uuid;
use serde_json::Value;
use std::collections::HashMap;

/// One schema version of a fixture.
pub struct FixtureVersion<'a> {
    pub schema: &'a str,
    pub format: DataFormat,
    pub definition: &'a str,
    /// The id the fixture's framing names.
    pub fixture_id: &'a str,
}

/// Creates `registry` and registers `versions` in order: fixture id to moto's id.
pub async fn register_versions(
    glue: &aws_sdk_glue::Client,
    registry: &str,
    versions: &[FixtureVersion<'_>],
) -> HashMap<String, String> {
    glue.create_registry()
        .registry_name(registry)
        .send()
        .await
        .unwrap();
    let mut ids = HashMap::new();
    for v in versions {
        let created = glue
            .create_schema()
            .registry_id(RegistryId::builder().registry_name(registry).build())
            .schema_name(v.schema)
            .data_format(v.format.clone())
            .compatibility(Compatibility::Backward)
            .schema_definition(v.definition)
            .send()
            .await;
        let moto_id = match created {
            Ok(out) => out.schema_version_id().unwrap().to_string(),
            // The schema exists: this is its next version.
            Err(_) => glue
                .register_schema_version()
                .schema_id(
                    GlueSchemaId::builder()
                        .registry_name(registry)
                        .schema_name(v.schema)
                        .build(),
                )
                .schema_definition(v.definition)
                .send()
                .await
                .unwrap()
                .schema_version_id()
                .unwrap()
                .to_string(),
        };
        ids.insert(v.fixture_id.to_string(), moto_id);
    }
    ids
}

/// The fixture's event with each value's schema version id swapped for moto's.
pub fn repointed(event: &Value, ids: &HashMap<String, String>) -> Value {
    let mut event = event.clone();
    for r in event["Records"].as_array_mut().unwrap() {
        let mut value = STANDARD
            .decode(r["kinesis"]["data"].as_str().unwrap())
            .unwrap();
        if value.len() >= 18 && value[0] == 3 {
            let id = SchemaId::Glue(value[2..18].try_into().unwrap()).to_string();
            if let Some(moto_id) = ids.get(&id) {
                value[2..18].copy_from_slice(&parse_uuid(moto_id).unwrap());
            }
        }
        r["kinesis"]["data"] = STANDARD.encode(&value).into();
    }
    event
}
