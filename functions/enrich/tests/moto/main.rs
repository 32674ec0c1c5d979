//! enrich against a real moto server (Kinesis, DynamoDB, S3), with PutRecords failures injected
//! by an SDK interceptor (`faults`).
//!
//! The accounting checked: every input record is in exactly one of enriched stream, quarantine,
//! reported failures; re-delivering from the lowest reported failure (as Lambda does) completes
//! the batch with no loss and no duplicate. One test binary: the stack in `harness`, the tests
//! by input in `kinesis`, `kpl` (KPL aggregates), `avro` and `protobuf` (Glue-framed Avro and
//! Protobuf through the Glue Schema Registry on moto), `msk` and `replay` (the ops commands).

// The event builders the fake-backed service tests use too.
mod avro;
#[path = "../support/events.rs"]
mod events;
mod faults;
mod glue_registry;
mod harness;
mod kinesis;
mod kpl;
mod msk;
mod protobuf;
mod replay;
