//! checkpoints: Flink checkpoint and savepoint objects in S3 become a book in DynamoDB (latest
//! restorable point per job and pipeline, history, lineage, pins) with safe retention.

pub mod book;
pub mod config;
pub mod flink_rest;
pub mod layout;
pub mod objects;
pub mod ops;
pub mod service;
pub mod store;
