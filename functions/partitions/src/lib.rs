//! partitions: S3 object-created events in, Athena/Glue partitions registered once.
//!
//! Pure core: [`keys`] (skip rules), [`layout`] (key templates), [`columns`], [`table`] and
//! [`table_config`] (tables, partition specs, value validation), [`sql`] (DDL rendering and
//! splitting), [`poll`] (backoff, deadlines, query states), [`periods`] (ranges and chunks),
//! [`input`] (event shapes, parsed by `streamops_shared::object_event`), [`ops`] (command parsing
//! and checking). Ports: [`ports`]; their SDK adapters: [`registry`] (DynamoDB), [`athena`],
//! [`glue`], [`s3data`], [`events`] (EventBridge), [`scheduler`] (follow-up schedules).
//! [`service`] orchestrates them per invocation.

mod athena;
mod columns;
mod config;
mod events;
mod follow_up;
mod glue;
mod iceberg;
mod input;
mod key_plan;
mod keys;
mod layout;
mod leases;
mod maintenance;
mod named_keys;
mod names;
mod ops;
mod periods;
mod poll;
mod ports;
mod registry;
mod s3data;
mod scheduler;
mod service;
mod sql;
mod table;
mod table_config;

pub use athena::AthenaRunner;
pub use config::{Mode, PartitionsConfig};
pub use events::{
    DETAIL_TYPE as MAINTENANCE_DETAIL_TYPE, EventBridgeEvents, SOURCE as EVENT_SOURCE,
};
pub use follow_up::{FollowUp, FollowUpConfig, FollowUpSetting};
pub use glue::GlueCatalog;
pub use iceberg::{IcebergTable, TimeWindow, WindowType};
pub use input::{Batch, InputError, Item, Message, ObjectEvent, Source, parse_payload};
pub use keys::{SkipReason, decode_key};
pub use maintenance::{MaintenanceEvent, MaintenanceStatement, Operation, QueryOutcome};
pub use ops::{PartitionsCommand, parse_command};
pub use poll::{PollPolicy, PollStats};
pub use ports::{
    ClaimOutcome, DataListing, DdlRunner, EntryResult, EventPublisher, FollowUpScheduler,
    LeaseOutcome, LeaseView, LeftQuery, MaintenanceLeases, MaintenanceQueries, MaintenanceState,
    PartitionCatalog, QueryReport, QueryResult, RegistryStore,
};
pub use registry::Registry;
pub use s3data::DataBucket;
pub use scheduler::SchedulerFollowUps;
pub use service::{
    InvocationContext, Outcome, PartitionOutcome, PartitionsError, PartitionsService, Summary,
};
pub use table::{KeyOutcome, PartitionSpec, TableDef, Tables};

// The pure cores' entry points, public for the generated-input tests (`tests/properties/`):
// SQL rendering, ranges and times of the ops commands, and the checked ops commands.
pub use layout::Granularity;
pub use ops::{
    BackfillPlan, COMMANDS, Command as CheckedCommand, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE,
    STATUS_MAX_PERIODS, StatusPlan, parse as check_command,
};
pub use periods::{Chunk, MAX_PERIODS, PeriodRange, format_cursor, parse_time};
pub use sql::{
    MAX_STATEMENT_BYTES, Statement, StatementTooLarge, escape_literal, quote_ident,
    render_statements,
};
