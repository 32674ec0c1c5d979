//! enrich: Kinesis and MSK records in, validated and enriched events out to the enriched stream,
//! poison quarantined with its reason, retryable failures reported back to Lambda. Nothing lost.

pub mod arrival;
pub mod config;
pub mod emit;
pub mod input;
pub mod kafka;
pub mod ledger;
pub mod memory;
pub mod ops;
pub mod origin;
pub mod pipeline;
pub mod quarantine;
pub mod reference;
pub mod secrets;
pub mod service;
pub mod spec;
