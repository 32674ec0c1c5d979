//! partitions: S3 object-created events in, Athena/Glue partitions registered once.
//!
//! Pure core: [`keys`] (decoding, skip rules), [`layout`] (key templates), [`table`] (table
//! configuration, partition specs, value validation), [`sql`] (DDL rendering and splitting),
//! [`poll`] (backoff, deadlines, query states), [`backfill`] (ranges and chunks), [`input`]
//! (event shapes), [`ops`] (command parsing). Adapters: [`registry`] (DynamoDB), [`athena`],
//! [`glue`], [`s3data`]. [`service`] wires them per invocation.

pub mod athena;
pub mod backfill;
pub mod config;
pub mod glue;
pub mod input;
pub mod keys;
pub mod layout;
pub mod ops;
pub mod poll;
pub mod registry;
pub mod s3data;
pub mod service;
pub mod sql;
pub mod table;
