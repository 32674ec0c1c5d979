//! The AWS adapters of the [`ports`](crate::ports): what `main.rs` builds. Each file talks to
//! one service through its SDK client and nothing else.

mod glue_registry;
mod kinesis;
mod ledger;
mod quarantine;
mod reference;
mod secrets;

pub use glue_registry::GlueSchemaRegistry;
pub use kinesis::EnrichedStream;
pub use ledger::LedgerStore;
pub use quarantine::QuarantineStore;
pub use reference::{ReferenceTable, attribute_to_json};
pub use secrets::SecretsManager;
