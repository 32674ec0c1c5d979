//! The outside systems enrich talks to, one small trait each: the enriched stream (one
//! PutRecords call), the delivery ledger, the reference table, the quarantine bucket, and the
//! secret holding the PII key (read once at init), and the schema registry of Avro values. The AWS adapters are in
//! [`crate::adapters`]; the tests' in-memory fakes (`tests/support`) script their faults.
//!
//! Methods return `Send` futures (written `fn .. -> impl Future + Send`, implemented with
//! `async fn`), so a service built on any adapter can run on a multi-threaded runtime. Retries
//! that are part of the delivery guarantees (only the failed PutRecords entries, with
//! backoff, until the deadline) live in the core ([`crate::emit`]), above the port.

use std::collections::HashMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use streamops_shared::AwsCallError;

pub use crate::ledger::LaneLedger;
pub use crate::pipeline::EnrichedRecord;
pub use crate::values::SchemaId;
pub use crate::values::cache::RegistrySchema;

/// Why one PutRecords entry was not written (`ProvisionedThroughputExceededException`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    pub code: String,
    pub message: String,
}

/// The enriched stream.
pub trait OutputStream {
    /// The stream's name, for logs.
    fn name(&self) -> &str;

    /// One PutRecords call with `records` (within the API's limits: the caller chunks). On
    /// success, one result per record in order: written, or why not.
    fn put_records(
        &self,
        records: &[&EnrichedRecord],
    ) -> impl Future<Output = Result<Vec<Result<(), EntryError>>, AwsCallError>> + Send;
}

/// The delivery ledger: per lane (shard or topic-partition), what a previous attempt handled.
pub trait Ledger {
    /// The ledgers of `lanes`; a lane with none yet gets the default (empty) ledger.
    fn load(
        &self,
        lanes: &[String],
    ) -> impl Future<Output = Result<HashMap<String, LaneLedger>, AwsCallError>> + Send;

    /// Writes a lane's new ledger, conditional on the version it was read at (a concurrent
    /// writer is an error, not overwritten).
    fn save(
        &self,
        lane: &str,
        ledger: &LaneLedger,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;
}

/// The reference table.
pub trait ReferenceSource {
    /// The table's name, for logs.
    fn table(&self) -> &str;

    /// The items for `keys` (any number); keys absent from the result are not in the table.
    fn fetch(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Map<String, Value>>, AwsCallError>> + Send;
}

/// The quarantine bucket.
pub trait Quarantine {
    /// The bucket new quarantine objects go to (and replay reads from by default).
    fn bucket(&self) -> &str;
    /// The key prefix of new quarantine objects.
    fn prefix(&self) -> &str;

    /// Writes `body` at `bucket/key`: new objects go to [`Quarantine::bucket`]; a replay
    /// rewrites the object it read, in the bucket it read it from.
    fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Vec<u8>, AwsCallError>> + Send;

    fn delete(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;
}

/// A secret's value as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretValue {
    Text(String),
    Binary(Vec<u8>),
    /// Neither a string nor a binary value.
    Empty,
}

/// Where the PII key is kept (read once at cold start).
pub trait SecretSource {
    fn secret_value(
        &self,
        secret_id: &str,
    ) -> impl Future<Output = Result<SecretValue, AwsCallError>> + Send;
}

/// A schema registry (Glue Schema Registry): schema definitions by id. Called through
/// [`crate::values::cache::SchemaCache`], once per id and TTL, never per record.
pub trait SchemaRegistry {
    /// The registry, for logs.
    fn name(&self) -> &str;

    /// The definition of schema `id`; `None` when the registry has no such id (poison for the
    /// records naming it). An error is the registry unreachable or refusing: retryable, the
    /// batch is retried, nothing quarantined.
    fn schema(
        &self,
        id: SchemaId,
    ) -> impl Future<Output = Result<Option<RegistrySchema>, AwsCallError>> + Send;
}
