//! The AWS Glue Schema Registry: a schema version's definition by its id (GetSchemaVersion,
//! the one call; IAM `glue:GetSchemaVersion`).

use aws_sdk_glue::Client;
use aws_sdk_glue::operation::get_schema_version::GetSchemaVersionError;
use streamops_shared::AwsCallError;

use crate::ports::{RegistrySchema, SchemaId, SchemaRegistry};

pub struct GlueSchemaRegistry {
    client: Client,
}

impl GlueSchemaRegistry {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl SchemaRegistry for GlueSchemaRegistry {
    fn name(&self) -> &str {
        "glue-schema-registry"
    }

    async fn schema(&self, id: SchemaId) -> Result<Option<RegistrySchema>, AwsCallError> {
        let version_id = id.to_string();
        let out = match self
            .client
            .get_schema_version()
            .schema_version_id(&version_id)
            .send()
            .await
        {
            Ok(out) => out,
            // The id is not registered (or was deleted): an answer, not a failure.
            Err(e)
                if e.as_service_error()
                    .is_some_and(GetSchemaVersionError::is_entity_not_found_exception) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(AwsCallError::from_sdk("GetSchemaVersion", version_id, &e)),
        };
        Ok(out.schema_definition().map(|definition| RegistrySchema {
            data_format: out
                .data_format()
                .map(|f| f.as_str().to_string())
                .unwrap_or_default(),
            definition: definition.to_string(),
        }))
    }
}
