//! scaler: CloudWatch alarm state changes scale Kinesis shards and EMR instance groups within
//! bounds and cooldowns, at most once per alarm transition, with an audit trail.

pub mod config;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod policy;
pub mod service;
pub mod state;
pub mod targets;
