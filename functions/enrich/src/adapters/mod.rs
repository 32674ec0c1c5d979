//! The AWS adapters of the [`ports`](crate::ports): what `main.rs` builds. Each file talks to
//! one service through its SDK client and nothing else (the Confluent registry: its REST API).

use crate::ports::{RegistrySchema, SchemaId, SchemaRegistry};
use streamops_shared::AwsCallError;

mod confluent_registry;
mod glue_registry;
mod kinesis;
mod ledger;
mod quarantine;
mod reference;
mod secrets;

pub use confluent_registry::{ConfluentRegistry, credentials};
pub use glue_registry::GlueSchemaRegistry;
pub use kinesis::EnrichedStream;
pub use ledger::LedgerStore;
pub use quarantine::QuarantineStore;
pub use reference::{ReferenceTable, attribute_to_json};
pub use secrets::SecretsManager;

/// The schema registry the value format names, one type for the service either way.
pub enum RegistryClient {
    Glue(GlueSchemaRegistry),
    Confluent(ConfluentRegistry),
}

impl SchemaRegistry for RegistryClient {
    fn name(&self) -> &str {
        match self {
            RegistryClient::Glue(r) => r.name(),
            RegistryClient::Confluent(r) => r.name(),
        }
    }

    async fn schema(&self, id: SchemaId) -> Result<Option<RegistrySchema>, AwsCallError> {
        match self {
            RegistryClient::Glue(r) => r.schema(id).await,
            RegistryClient::Confluent(r) => r.schema(id).await,
        }
    }
}
