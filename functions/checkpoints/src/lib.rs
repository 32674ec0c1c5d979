//! checkpoints: Flink checkpoint and savepoint objects in S3 become a book in DynamoDB (latest
//! restorable point per job and pipeline, history, lineage, pins) with safe retention.
//!
//! Pure core: [`layout`] (which Flink object a key is, the metadata header), [`book`] (records,
//! the retention plan), [`claims`] (ownership after CLAIM restores), [`health`] (checkpoint
//! age, failures, verdict) and [`health_event`] (the event alerts reads), [`savepoint`] (the
//! savepoints it takes: job, claim, trigger, event), [`input`] (event
//! shapes, parsed by `streamops_shared::object_event`), [`ops`] (command parsing and checking),
//! [`config`]. Ports: [`ports`]; their adapters: [`store`] (DynamoDB), [`objects`] (S3),
//! [`flink_rest`] (the JobManager), [`eventbridge`] (health events). [`service`] orchestrates
//! them per invocation.

mod book;
mod claims;
mod config;
mod eventbridge;
mod flink_rest;
mod health;
mod health_event;
mod input;
mod layout;
mod objects;
mod ops;
mod ports;
mod savepoint;
mod service;
mod store;

pub use book::{
    CheckpointRecord, JobLineage, KeepReason, PointId, PointStatus, RestoreMode, RetentionPolicy,
    Scope, plan_retention, point_directory,
};
pub use claims::claimed_points;
pub use config::{CheckpointsConfig, HealthConfig};
pub use eventbridge::EventBridgeHealth;
pub use flink_rest::{FlinkHttp, flink_stats};
pub use health::{
    Evidence, FlinkStats, GoodPoint, HealthPolicy, HealthReport, IntervalFrom, Source, Verdict,
    evaluate,
};
pub use health_event::{
    DETAIL_TYPE as HEALTH_DETAIL_TYPE, HealthEvent, HealthState, SOURCE as HEALTH_SOURCE,
};
pub use input::parse_events;
pub use layout::{
    FlinkObject, HEADER_BYTES, Locations, METADATA_MAGIC, MetadataVerdict, PointKind, check_header,
};
pub use objects::CheckpointBucket;
pub use ops::{COMMANDS, CheckpointsCommand, Command, parse as check_command, parse_command};
pub use ports::{
    BookStore, CheckpointObjects, FlinkRest, HealthNotifier, LatestPointer, ListedObject,
    is_protected,
};
pub use savepoint::{
    ClaimState, DETAIL_TYPE as SAVEPOINT_DETAIL_TYPE, Failure, SavepointClaim, SavepointEvent,
    SavepointFormat, SavepointTrigger, TriggerKind,
};
pub use service::{Action, CheckpointsError, CheckpointsService, DEFAULT_BUDGET, Outcome};
pub use store::Book;
