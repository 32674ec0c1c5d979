//! The partitions handler against a real moto server: DynamoDB for the registry, Athena for the
//! DDL (moto records every query's text), Glue for the catalog, S3 for the data bucket.
//!
//! Faults moto cannot produce are injected by an SDK interceptor on the Athena client
//! (`faults`). One test binary: the stack in `harness`, the events in `events`, the tests in
//! `register` (registration through Athena), `removal` (drops in Glue mode), `ops` (backfills,
//! Glue mode, status) and `keys` (tables with named keys, Glue mode).

mod bench;
mod events;
mod faults;
mod follow_up;
mod harness;
mod iceberg;
mod keys;
mod ops;
mod register;
mod removal;
