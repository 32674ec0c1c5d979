//! enrich: Kinesis and MSK records in, validated and enriched events out to the enriched stream,
//! poison quarantined with its reason, retryable failures reported back to Lambda. Nothing lost.
//!
//! Pure core: [`input`] (what Lambda delivers, record by record), [`pipeline`] (decode,
//! validate, enrich, protect PII, encode), [`quarantine`] entries, the `ledger` of what an
//! attempt handled, the [`reference`](mod@reference) cache, [`emit`] (PutRecords chunks, retries, deadline).
//! [`ports`]: the outside systems as traits; [`adapters`]: their AWS implementations.
//! [`values`]: value formats (Avro through a schema registry) to the JSON the pipeline reads.
//! [`service`] runs a batch over any adapters; [`ops`] carries out the ops commands.

pub mod adapters;
mod arrival;
pub mod columns;
pub mod config;
pub mod emit;
mod encoding;
mod handler;
pub mod input;
mod kafka;
mod ledger;
pub mod memory;
pub mod ops;
pub mod origin;
pub mod pipeline;
pub mod poison;
pub mod ports;
pub mod quarantine;
pub mod reference;
pub mod secrets;
pub mod service;
pub mod spec;
pub mod values;
