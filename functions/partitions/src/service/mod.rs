//! The handler: route a payload to an ops command or to registration, and answer.
//!
//! The service is generic over its ports ([`crate::ports`]): the SDK adapters in production, the
//! in-memory fakes in `tests/service.rs`. Its parts: [`registration`] (one event batch),
//! [`removal`] (partitions whose directory emptied),
//! [`catalog`] (one table's partitions through Athena DDL or Glue), [`backfill`], [`status`] and
//! [`prune`] and [`maintain`] (the ops commands, parsed and checked in [`crate::ops`]; maintain runs
//! Iceberg tables' OPTIMIZE and VACUUM), [`summary`] (what a batch did).

mod backfill;
mod catalog;
mod keys;
mod maintain;
mod maintain_report;
mod prune;
mod registration;
mod removal;
mod status;
mod summary;

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use chrono::{DateTime, Utc};
use serde_json::Value;
use streamops_shared::harness::Classified;
use streamops_shared::{AwsCallError, ErrorClass, Metrics};

use crate::athena::AthenaRunner;
use crate::config::PartitionsConfig;
use crate::events::EventBridgeEvents;
use crate::glue::GlueCatalog;
use crate::input::{InputError, Source, parse_payload};
use crate::ops::{self, Command};
use crate::ports::{
    DataListing, DdlRunner, EventPublisher, FollowUpScheduler, MaintenanceLeases,
    MaintenanceQueries, PartitionCatalog, RegistryStore,
};
use crate::registry::Registry;
use crate::s3data::DataBucket;
use crate::scheduler::SchedulerFollowUps;

pub use summary::{Outcome, PartitionOutcome, Summary};

/// Time kept back at the end of an invocation to release claims and answer.
pub const RESERVE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum PartitionsError {
    #[error("{0}")]
    Input(#[from] InputError),
    #[error("{0}")]
    BadCommand(String),
    #[error("{0}")]
    Aws(#[from] AwsCallError),
    #[error("{0}")]
    Registration(String),
}

impl Classified for PartitionsError {
    fn class(&self) -> ErrorClass {
        match self {
            PartitionsError::Aws(e) => e.class,
            PartitionsError::Input(_) | PartitionsError::BadCommand(_) => ErrorClass::Permanent,
            // Partitions left unregistered: the redelivery or the rerun registers them.
            PartitionsError::Registration(_) => ErrorClass::Retryable,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            PartitionsError::Aws(_) => "AwsCall",
            PartitionsError::Input(_) => "BadInput",
            PartitionsError::BadCommand(_) => "BadCommand",
            PartitionsError::Registration(_) => "Registration",
        }
    }
}

/// The function, over its ports: the registry, the DDL (and maintenance query) runner, the
/// catalog, the data bucket, the events alerts reads and the follow-up schedules.
pub struct PartitionsService<
    R = Registry,
    A = AthenaRunner,
    G = GlueCatalog,
    D = DataBucket,
    N = EventBridgeEvents,
    S = SchedulerFollowUps,
> {
    pub config: PartitionsConfig,
    pub registry: R,
    pub athena: A,
    pub glue: G,
    pub data: D,
    pub events: N,
    /// One-time schedules that look again at a maintenance query left running.
    pub follow_ups: S,
}

/// Per-invocation facts from the runtime.
pub struct InvocationContext {
    pub request_id: String,
    pub now: DateTime<Utc>,
    /// When the invocation must have answered.
    pub deadline: Instant,
}

impl InvocationContext {
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

impl<R, A, G, D, N, S> PartitionsService<R, A, G, D, N, S>
where
    R: RegistryStore + MaintenanceLeases,
    A: DdlRunner + MaintenanceQueries,
    G: PartitionCatalog,
    D: DataListing,
    N: EventPublisher,
    S: FollowUpScheduler,
{
    pub async fn handle(
        &self,
        payload: Value,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Value, PartitionsError> {
        if let Some(command) = ops::parse(&payload, &self.config.tables) {
            return match command.map_err(PartitionsError::BadCommand)? {
                Command::Backfill(plan) => self.backfill(plan, ctx, metrics).await,
                Command::Status(plan) => self.status(plan).await,
                Command::Prune(plan) => self.prune(plan, ctx, metrics).await,
                Command::Maintain(plan) => self.maintain(plan, ctx, metrics).await,
                Command::MaintenanceStatus(table) => self.maintenance_status(table, ctx).await,
            };
        }
        let batch = parse_payload(payload)?;
        let source = batch.source;
        let message_ids: Vec<Option<String>> =
            batch.messages.iter().map(|m| m.id.clone()).collect();
        let (summary, failed) = self.register_batch(batch, ctx, metrics).await;
        summary.log();
        match source {
            Source::Sqs => {
                let mut response = SqsBatchResponse::default();
                for id in failed.iter().filter_map(|&i| message_ids.get(i)?.as_ref()) {
                    let mut f = BatchItemFailure::default();
                    f.item_identifier = id.clone();
                    response.batch_item_failures.push(f);
                }
                // A list of strings: serializing cannot fail.
                Ok(serde_json::to_value(response).expect("serializable"))
            }
            Source::S3 | Source::Sns | Source::EventBridge => match summary.not_registered() {
                Some(what) => Err(PartitionsError::Registration(what)),
                // Strings, numbers and maps keyed by strings or unit enums: cannot fail.
                None => Ok(serde_json::to_value(&summary).expect("serializable")),
            },
        }
    }
}

impl<R, A, G, D, N, S> PartitionsService<R, A, G, D, N, S> {
    /// Runs `calls` with at most `registry_concurrency` in flight; their results in order.
    async fn bounded<T>(&self, calls: impl IntoIterator<Item = impl Future<Output = T>>) -> Vec<T> {
        stream::iter(calls)
            .buffered(self.config.registry_concurrency)
            .collect()
            .await
    }

    /// How long one query (or Glue call) may take: the configured timeout, within the
    /// invocation's remaining time less [`RESERVE`].
    fn query_deadline(&self, ctx: &InvocationContext) -> Instant {
        crate::poll::deadline(
            Instant::now(),
            ctx.remaining(),
            RESERVE,
            self.config.query_timeout,
        )
    }
}
