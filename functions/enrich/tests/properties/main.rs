//! Generated-input (property) tests of enrich (issue 16): every parser of outside input never
//! panics, gives bad input a clear error or a quarantine reason, and round-trips where there is
//! a round trip. Plain unit tests: a bare `cargo test` runs them, 256 cases a property unless
//! `PROPTEST_CASES` says otherwise. Shrunk failures are kept in `tests/proptest-regressions/`
//! (replayed first on every run) and as named tests in `tests/regressions.rs`.
//!
//! - `input`: the one-pass path against the record-by-record path, and both against
//!   aws_lambda_events' reading, on generated Kinesis and Kafka batches with random poison.
//! - `kpl`: KPL aggregates (random user records, random corruption) mixed with plain records.
//! - `junk`: the events/enrich files mutated, any JSON, any text.
//! - `pipeline`: validate, enrich, protect PII; every record delivered or quarantined.
//! - `avro`: registry-framed Avro values, any bytes and damaged real records.
//! - `protobuf`: registry-framed Protobuf values, any bytes and the producers' values damaged.
//! - `spec`: the enrichment spec JSON; `commands`: ops commands, quarantine entries, config.

mod avro;
mod commands;
mod envelope;
mod r#gen;
mod input;
mod junk;
mod kpl;
mod pipeline;
mod protobuf;
mod spec;
