//! scaler: CloudWatch alarm state changes scale Kinesis shards, EMR instance groups and fleets,
//! and Flink job parallelism within bounds and cooldowns, at most once per alarm transition,
//! with an audit trail.

pub mod alarm;
pub mod config;
pub mod flink;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod policy;
pub mod rescale;
pub mod service;
pub mod sizing;
pub mod state;
pub mod targets;
