//! scaler: CloudWatch alarm state changes scale Kinesis shards, EMR instance groups and fleets,
//! and Flink job parallelism within bounds and cooldowns, at most once per alarm transition,
//! with an audit trail; decisions worth a look go to the alerts function as EventBridge events.
//!
//! The service (`service`, ops commands in `commands`) is generic over the outside systems'
//! ports (`ports`), implemented with the AWS SDK and HTTP in `adapters`. What it decides is
//! pure: the policies and the decision (`policy`), the Flink rescale state machine
//! (`rescale`) and the restart times measured from it (`restart`), the classification of what
//! the services report (`observe`), sizing (`sizing`), the audit entries (`audit`) and the
//! notifications (`notify`).

pub mod adapters;
mod alarm;
pub mod audit;
mod commands;
pub mod config;
pub mod flink;
mod measure;
pub mod metric;
pub mod notify;
mod observe;
pub mod ops;
pub mod policy;
pub mod ports;
pub mod rescale;
pub mod restart;
pub mod service;
mod sizing;
mod targets;
