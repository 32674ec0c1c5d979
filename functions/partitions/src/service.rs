//! The handler: route a payload to an ops command or to registration, and report what happened.
//!
//! Registration of one batch:
//! 1. every object is decoded, skip rules applied (each skip counted by reason), and mapped to
//!    its table's partition; invalid keys are poison and never reach SQL;
//! 2. the batch collapses to distinct partitions, each remembering the messages that named it;
//! 3. each partition is claimed in the DynamoDB registry; already registered ones stop here;
//! 4. the claimed ones are registered per table: one `ALTER TABLE ... ADD IF NOT EXISTS` with
//!    many `PARTITION` clauses (split under the statement limit), or Glue `BatchCreatePartition`;
//! 5. successes are confirmed in the registry; failures release their claims, and the messages
//!    that named them are reported (`batchItemFailures` for SQS; a failed invocation otherwise).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use streamops_shared::ErrorClass;
use streamops_shared::harness::Classified;
use streamops_shared::{AwsCallError, Metrics, Unit};

use crate::athena::{AthenaRunner, QueryResult};
use crate::backfill::{PeriodRange, format_cursor, parse_time};
use crate::config::{Mode, PartitionsConfig};
use crate::glue::{EntryResult, GlueCatalog};
use crate::input::{Batch, InputError, Item, Source, parse_payload};
use crate::keys::{SkipReason, decode_key};
use crate::ops::{
    BackfillRequest, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, PartitionsCommand, StatusRequest,
    parse_command,
};
use crate::registry::{ClaimOutcome, Registry};
use crate::s3data::DataBucket;
use crate::sql::render_statements;
use crate::table::{KeyOutcome, PartitionSpec, TableDef};

/// Time kept back at the end of an invocation to release claims and answer.
pub const RESERVE: Duration = Duration::from_secs(3);
/// A claim outlives the invocation's deadline by this much before it counts as abandoned.
const CLAIM_MARGIN_SECONDS: i64 = 60;
/// The most periods one `status` command checks (each missing one costs a one-key listing).
pub const STATUS_MAX_PERIODS: i64 = 2_000;
/// Per-partition outcomes listed in a response (all are counted).
const MAX_LISTED: usize = 100;

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

pub struct PartitionsService {
    pub config: PartitionsConfig,
    pub registry: Registry,
    pub athena: AthenaRunner,
    pub glue: GlueCatalog,
    pub data: DataBucket,
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

#[derive(Debug, Clone, Serialize)]
pub struct PartitionOutcome {
    pub partition: String,
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What one event batch did; returned for direct and EventBridge invocations, logged for SQS.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub source: &'static str,
    pub objects: u64,
    pub skipped: BTreeMap<&'static str, u64>,
    pub partitions: u64,
    pub registered: u64,
    pub already_present: u64,
    pub in_flight: u64,
    pub failed: u64,
    pub queries_run: u64,
    pub outcomes: Vec<PartitionOutcome>,
}

struct Pending {
    spec: PartitionSpec,
    first_event: DateTime<Utc>,
    messages: BTreeSet<usize>,
}

/// Per partition of a table registration: `Ok(true)` created, `Ok(false)` already in the
/// catalog (Glue `AlreadyExistsException`), `Err(reason)` not registered.
type Registered = Vec<Result<bool, String>>;

impl PartitionsService {
    pub async fn handle(
        &self,
        payload: Value,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Value, PartitionsError> {
        if let Some(command) = parse_command(&payload) {
            let command = command.map_err(PartitionsError::BadCommand)?;
            return match command {
                PartitionsCommand::Backfill(req) => self.backfill(req, ctx, metrics).await,
                PartitionsCommand::Status(req) => self.status(req).await,
            };
        }
        let batch = parse_payload(payload)?;
        let source = batch.source;
        let message_ids: Vec<Option<String>> =
            batch.messages.iter().map(|m| m.id.clone()).collect();
        let (summary, failed) = self.register_batch(batch, ctx, metrics).await;
        tracing::info!(
            source = source.as_str(),
            objects = summary.objects,
            partitions = summary.partitions,
            registered = summary.registered,
            already_present = summary.already_present,
            in_flight = summary.in_flight,
            failed = summary.failed,
            queries_run = summary.queries_run,
            skipped = %serde_json::to_string(&summary.skipped).unwrap_or_default(),
            "batch processed"
        );
        match source {
            Source::Sqs => {
                let mut response = SqsBatchResponse::default();
                for i in failed {
                    if let Some(Some(id)) = message_ids.get(i) {
                        let mut f = BatchItemFailure::default();
                        f.item_identifier = id.clone();
                        response.batch_item_failures.push(f);
                    }
                }
                Ok(serde_json::to_value(response).expect("serializable"))
            }
            Source::S3 | Source::EventBridge => {
                if summary.failed > 0 || summary.in_flight > 0 {
                    let what: Vec<String> = summary
                        .outcomes
                        .iter()
                        .filter(|o| o.outcome == "failed" || o.outcome == "in_flight")
                        .map(|o| {
                            format!(
                                "{} ({}{})",
                                o.partition,
                                o.outcome,
                                o.detail
                                    .as_deref()
                                    .map(|d| format!(": {d}"))
                                    .unwrap_or_default()
                            )
                        })
                        .collect();
                    return Err(PartitionsError::Registration(format!(
                        "{} of {} partitions not registered; the event will be retried: {}",
                        summary.failed + summary.in_flight,
                        summary.partitions,
                        what.join("; ")
                    )));
                }
                Ok(serde_json::to_value(&summary).expect("serializable"))
            }
        }
    }

    fn skip(summary: &mut Summary, metrics: &mut Metrics, reason: SkipReason) {
        *summary.skipped.entry(reason.as_str()).or_default() += 1;
        metrics.count_by("ObjectsSkipped", "reason", reason.as_str(), 1);
    }

    /// Registers a batch; returns the summary and the indexes of the messages that failed.
    pub async fn register_batch(
        &self,
        batch: Batch,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> (Summary, BTreeSet<usize>) {
        let mut summary = Summary {
            source: batch.source.as_str(),
            ..Summary::default()
        };
        let mut pending: BTreeMap<String, Pending> = BTreeMap::new();
        for (mi, message) in batch.messages.into_iter().enumerate() {
            for item in message.items {
                let object = match item {
                    Item::Skipped(reason) => {
                        tracing::info!(
                            message_id = message.id.as_deref().unwrap_or(""),
                            reason = reason.as_str(),
                            "message skipped"
                        );
                        Self::skip(&mut summary, metrics, reason);
                        continue;
                    }
                    Item::Object(o) => o,
                };
                summary.objects += 1;
                let key = match decode_key(&object.raw_key) {
                    Ok(k) => k,
                    Err(e) => {
                        tracing::warn!(bucket = %object.bucket, raw_key = %object.raw_key, error = %e, reason = "undecodable_key", "object skipped");
                        Self::skip(&mut summary, metrics, SkipReason::UndecodableKey);
                        continue;
                    }
                };
                match self
                    .config
                    .tables
                    .classify(&object.bucket, &key, object.size)
                {
                    KeyOutcome::Skip(reason, detail) => {
                        if reason == SkipReason::InvalidKey {
                            tracing::warn!(bucket = %object.bucket, key = %key, reason = reason.as_str(), detail = detail.as_deref().unwrap_or(""), "object rejected as poison: its key is not a valid partition path");
                        } else {
                            tracing::debug!(bucket = %object.bucket, key = %key, reason = reason.as_str(), "object skipped");
                        }
                        Self::skip(&mut summary, metrics, reason);
                    }
                    KeyOutcome::Partition(spec) => {
                        let entry = pending
                            .entry(spec.registry_key())
                            .or_insert_with(|| Pending {
                                spec: *spec,
                                first_event: object.event_time,
                                messages: BTreeSet::new(),
                            });
                        entry.first_event = entry.first_event.min(object.event_time);
                        entry.messages.insert(mi);
                    }
                }
            }
        }
        metrics.count("ObjectsReceived", summary.objects);
        summary.partitions = pending.len() as u64;

        let mut failed_messages = BTreeSet::new();
        let now_s = ctx.now.timestamp();
        let claim_expires_at = now_s + ctx.remaining().as_secs() as i64 + CLAIM_MARGIN_SECONDS;
        let mut by_table: BTreeMap<String, Vec<&Pending>> = BTreeMap::new();
        for p in pending.values() {
            by_table.entry(p.spec.table_id()).or_default().push(p);
        }
        for (table_id, partitions) in by_table {
            let mut claimed: Vec<&Pending> = Vec::new();
            for p in partitions {
                match self
                    .registry
                    .claim(&p.spec, &ctx.request_id, claim_expires_at, now_s)
                    .await
                {
                    Ok(ClaimOutcome::Claimed) => claimed.push(p),
                    Ok(ClaimOutcome::AlreadyRegistered) => {
                        summary.already_present += 1;
                        metrics.count("PartitionsAlreadyPresent", 1);
                        push_outcome(&mut summary, &p.spec, "already_present", None);
                    }
                    Ok(ClaimOutcome::InFlight) => {
                        // Another invocation is registering it right now; its result is unknown,
                        // so these messages come back later and find the registered mark.
                        summary.in_flight += 1;
                        failed_messages.extend(&p.messages);
                        push_outcome(
                            &mut summary,
                            &p.spec,
                            "in_flight",
                            Some("another invocation holds the claim".into()),
                        );
                    }
                    Err(e) => {
                        tracing::error!(partition = %p.spec.registry_key(), error = %e, "registry claim failed");
                        summary.failed += 1;
                        metrics.count("PartitionsFailed", 1);
                        failed_messages.extend(&p.messages);
                        push_outcome(&mut summary, &p.spec, "failed", Some(e.to_string()));
                    }
                }
            }
            if claimed.is_empty() {
                continue;
            }
            let specs: Vec<&PartitionSpec> = claimed.iter().map(|p| &p.spec).collect();
            let results = match self.config.mode {
                Mode::Athena => {
                    self.register_athena(&table_id, &specs, ctx, metrics, &mut summary)
                        .await
                }
                Mode::Glue => self.register_glue(&table_id, &specs, ctx).await,
            };
            let ttl_expiry = now_s + self.config.registry_ttl.as_secs() as i64;
            for (p, result) in claimed.iter().zip(results) {
                match result {
                    Ok(created) => {
                        if let Err(e) = self
                            .registry
                            .confirm(&p.spec, &ctx.request_id, ttl_expiry, now_s)
                            .await
                        {
                            // Registered all the same; the claim expires and a later object re-runs an idempotent ADD.
                            tracing::warn!(partition = %p.spec.registry_key(), error = %e, "partition registered but its registry mark was not confirmed");
                        }
                        if created {
                            summary.registered += 1;
                            metrics.count("PartitionsRegistered", 1);
                            let lag_ms = (ctx.now - p.first_event).num_milliseconds().max(0);
                            metrics.record("RegistrationLag", Unit::Milliseconds, lag_ms as f64);
                            tracing::info!(partition = %p.spec.registry_key(), location = %p.spec.location, lag_ms, "partition registered");
                            push_outcome(&mut summary, &p.spec, "registered", None);
                        } else {
                            summary.already_present += 1;
                            metrics.count("PartitionsAlreadyPresent", 1);
                            push_outcome(
                                &mut summary,
                                &p.spec,
                                "already_present",
                                Some("already in the catalog".into()),
                            );
                        }
                    }
                    Err(reason) => {
                        summary.failed += 1;
                        metrics.count("PartitionsFailed", 1);
                        failed_messages.extend(&p.messages);
                        if let Err(e) = self.registry.release(&p.spec, &ctx.request_id).await {
                            tracing::error!(partition = %p.spec.registry_key(), error = %e, "could not release the registry claim; it expires after the invocation deadline");
                        }
                        push_outcome(&mut summary, &p.spec, "failed", Some(reason));
                    }
                }
            }
        }
        (summary, failed_messages)
    }

    fn query_deadline(&self, ctx: &InvocationContext) -> Instant {
        crate::poll::deadline(
            Instant::now(),
            ctx.remaining(),
            RESERVE,
            self.config.query_timeout,
        )
    }

    async fn register_athena(
        &self,
        table_id: &str,
        specs: &[&PartitionSpec],
        ctx: &InvocationContext,
        metrics: &mut Metrics,
        summary: &mut Summary,
    ) -> Registered {
        let owned: Vec<PartitionSpec> = specs.iter().map(|s| (*s).clone()).collect();
        let statements = match render_statements(&owned, self.config.max_statement_bytes) {
            Ok(s) => s,
            Err(e) => return vec![Err(e.to_string()); specs.len()],
        };
        let mut results: Registered = vec![Err("not attempted".into()); specs.len()];
        for (n, statement) in statements.iter().enumerate() {
            let database = &specs[0].database;
            let idempotency = format!("{}#{table_id}#{n}", ctx.request_id);
            let outcome = self
                .athena
                .run(
                    &statement.sql,
                    database,
                    &idempotency,
                    self.query_deadline(ctx),
                )
                .await;
            summary.queries_run += 1;
            metrics.count("QueriesRun", 1);
            let result: Result<bool, String> = match outcome {
                Ok(report) => match &report.result {
                    QueryResult::Succeeded => {
                        tracing::info!(table = table_id, query_id = %report.query_id, partitions = statement.partitions.len(),
                            bytes = statement.sql.len(), polls = report.stats.polls, requeued = report.stats.requeued,
                            start_retries = report.start_retries, "partitions added");
                        Ok(true)
                    }
                    other => {
                        metrics.count("QueriesFailed", 1);
                        let text = match other {
                            QueryResult::Failed { state, reason, .. } => format!(
                                "query {} {state} ({}): {reason}",
                                report.query_id,
                                other.classification()
                            ),
                            QueryResult::TimedOut { last_state } => format!(
                                "query {} still {last_state} at the deadline ({})",
                                report.query_id,
                                other.classification()
                            ),
                            QueryResult::Succeeded => unreachable!(),
                        };
                        tracing::error!(table = table_id, query_id = %report.query_id, classification = other.classification(),
                            partitions = statement.partitions.len(), error = %text, "partition DDL did not succeed; releasing claims");
                        Err(text)
                    }
                },
                Err(e) => {
                    metrics.count("QueriesFailed", 1);
                    tracing::error!(table = table_id, error = %e, "partition DDL could not run; releasing claims");
                    Err(e.to_string())
                }
            };
            for &i in &statement.partitions {
                results[i] = result.clone();
            }
        }
        results
    }

    async fn register_glue(
        &self,
        table_id: &str,
        specs: &[&PartitionSpec],
        ctx: &InvocationContext,
    ) -> Registered {
        let (database, table) = (&specs[0].database, &specs[0].table);
        let sd = match self.glue.storage_descriptor(database, table).await {
            Ok(sd) => sd,
            Err(e) => return vec![Err(e.to_string()); specs.len()],
        };
        match self.glue.batch_create(specs, &sd, self.query_deadline(ctx)).await {
            Ok(entries) => entries
                .into_iter()
                .map(|e| match e {
                    EntryResult::Created => Ok(true),
                    EntryResult::AlreadyExists => Ok(false),
                    EntryResult::Failed { code, message } => {
                        tracing::error!(table = table_id, code = %code, error = %message, "BatchCreatePartition entry failed");
                        Err(format!("{code}: {message}"))
                    }
                })
                .collect(),
            Err(e) => vec![Err(e.to_string()); specs.len()],
        }
    }

    fn find_table(&self, name: &str) -> Result<&TableDef, PartitionsError> {
        self.config.tables.find(name).ok_or_else(|| {
            let known: Vec<String> = self.config.tables.tables.iter().map(TableDef::id).collect();
            PartitionsError::BadCommand(format!(
                "no table {name:?} is configured (configured: {})",
                known.join(", ")
            ))
        })
    }

    async fn backfill(
        &self,
        req: BackfillRequest,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Value, PartitionsError> {
        let table = self.find_table(&req.table)?;
        let granularity = req.granularity.unwrap_or(table.granularity);
        if granularity != table.granularity {
            return Err(PartitionsError::BadCommand(format!(
                "table {} is partitioned by {} (layout {:?}); granularity {} does not fit",
                table.id(),
                table.granularity,
                table.layout.source(),
                granularity
            )));
        }
        let chunk_size = req.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE);
        if chunk_size == 0 || chunk_size > MAX_CHUNK_SIZE {
            return Err(PartitionsError::BadCommand(format!(
                "chunk_size must be between 1 and {MAX_CHUNK_SIZE}"
            )));
        }
        let bad = |field: &str, e: String| {
            PartitionsError::BadCommand(format!("backfill `{field}`: {e}"))
        };
        let from = parse_time(&req.from).map_err(|e| bad("from", e))?;
        let to = parse_time(&req.to).map_err(|e| bad("to", e))?;
        let range = PeriodRange::new(from, to, granularity).map_err(|e| bad("to", e))?;
        let mut cursor = match &req.resume_from {
            Some(c) => Some(parse_time(c).map_err(|e| bad("resume_from", e))?),
            None => None,
        };
        let started = Instant::now();
        let (mut chunks, mut periods_done, mut without_data, mut planned) =
            (0usize, 0usize, 0usize, 0usize);
        let (mut statements, mut max_bytes, mut queries_run, mut created, mut existing) =
            (0usize, 0usize, 0u64, 0usize, 0usize);
        let mut sample: Option<String> = None;
        let mut done = false;
        loop {
            let chunk_started = Instant::now();
            let chunk = range
                .chunk(cursor, chunk_size)
                .map_err(|e| bad("resume_from", e))?;
            let mut specs = Vec::with_capacity(chunk.periods.len());
            for &period in &chunk.periods {
                specs.push(
                    table
                        .spec_for(period)
                        .map_err(PartitionsError::BadCommand)?,
                );
            }
            if req.confirm_data {
                let mut with_data = Vec::with_capacity(specs.len());
                for spec in specs {
                    if self
                        .data
                        .has_objects(&table.bucket, spec.location_key_prefix())
                        .await?
                    {
                        with_data.push(spec);
                    } else {
                        without_data += 1;
                    }
                }
                specs = with_data;
            }
            let rendered = render_statements(&specs, self.config.max_statement_bytes)
                .map_err(|e| PartitionsError::BadCommand(e.to_string()))?;
            if sample.is_none() {
                sample = rendered.first().map(|s| truncate(&s.sql, 2_000));
            }
            planned += specs.len();
            if !req.dry_run && !specs.is_empty() {
                let refs: Vec<&PartitionSpec> = specs.iter().collect();
                let resume_hint = format_cursor(chunk.periods[0]);
                match self.config.mode {
                    Mode::Athena => {
                        for (n, st) in rendered.iter().enumerate() {
                            let idempotency =
                                format!("{}#backfill#{}#{n}", ctx.request_id, resume_hint);
                            let report = self
                                .athena
                                .run(
                                    &st.sql,
                                    &table.database,
                                    &idempotency,
                                    self.query_deadline(ctx),
                                )
                                .await?;
                            queries_run += 1;
                            metrics.count("QueriesRun", 1);
                            if report.result != QueryResult::Succeeded {
                                metrics.count("QueriesFailed", 1);
                                return Err(PartitionsError::Registration(format!(
                                    "backfill of {} stopped: query {} {:?}; {} partitions registered before it; rerun with \"resume_from\": \"{resume_hint}\"",
                                    table.id(),
                                    report.query_id,
                                    report.result,
                                    created
                                )));
                            }
                        }
                        created += specs.len();
                    }
                    Mode::Glue => {
                        let sd = self
                            .glue
                            .storage_descriptor(&table.database, &table.table)
                            .await?;
                        let entries = self
                            .glue
                            .batch_create(&refs, &sd, self.query_deadline(ctx))
                            .await?;
                        for e in entries {
                            match e {
                                EntryResult::Created => created += 1,
                                EntryResult::AlreadyExists => existing += 1,
                                EntryResult::Failed { code, message } => {
                                    return Err(PartitionsError::Registration(format!(
                                        "backfill of {} stopped: BatchCreatePartition {code}: {message}; rerun with \"resume_from\": \"{resume_hint}\"",
                                        table.id()
                                    )));
                                }
                            }
                        }
                    }
                }
                let now_s = ctx.now.timestamp();
                self.registry
                    .record_registered(
                        &refs,
                        &ctx.request_id,
                        now_s + self.config.registry_ttl.as_secs() as i64,
                        now_s,
                    )
                    .await?;
                metrics.count("PartitionsRegistered", specs.len() as u64);
            }
            statements += rendered.len();
            max_bytes = max_bytes.max(rendered.iter().map(|s| s.sql.len()).max().unwrap_or(0));
            chunks += 1;
            periods_done += chunk.periods.len();
            tracing::info!(table = %table.id(), chunk = chunks, periods = chunk.periods.len(), partitions = specs.len(),
                statements = rendered.len(), dry_run = req.dry_run,
                next = chunk.next.map(format_cursor).unwrap_or_default().as_str(), "backfill chunk done");
            cursor = chunk.next;
            if cursor.is_none() {
                done = true;
                break;
            }
            if req.max_chunks.is_some_and(|m| chunks >= m) {
                break;
            }
            // Stop while another chunk like this one still fits.
            if ctx.remaining() < RESERVE * 2 + chunk_started.elapsed() {
                break;
            }
        }
        let resume_from = if done {
            None
        } else {
            cursor.map(format_cursor)
        };
        tracing::info!(table = %table.id(), chunks, periods_done, planned, done, resume_from = resume_from.as_deref().unwrap_or(""),
            elapsed_ms = started.elapsed().as_millis() as u64, "backfill finished this invocation");
        Ok(json!({
            "command": "backfill",
            "table": table.id(),
            "mode": self.config.mode.as_str(),
            "dry_run": req.dry_run,
            "granularity": granularity,
            "range": {"from": format_cursor(range.start), "to": format_cursor(range.end), "periods": range.len()},
            "chunks": chunks,
            "periods_done": periods_done,
            "periods_without_data": without_data,
            "partitions": planned,
            "partitions_registered": created,
            "partitions_already_present": existing,
            "statements": statements,
            "largest_statement_bytes": max_bytes,
            "queries_run": queries_run,
            "done": done,
            "resume_from": resume_from,
            "sample_statement": sample,
        }))
    }

    async fn status(&self, req: StatusRequest) -> Result<Value, PartitionsError> {
        let table = self.find_table(&req.table)?;
        let bad =
            |field: &str, e: String| PartitionsError::BadCommand(format!("status `{field}`: {e}"));
        let from = parse_time(&req.from).map_err(|e| bad("from", e))?;
        let to = parse_time(&req.to).map_err(|e| bad("to", e))?;
        let range = PeriodRange::new(from, to, table.granularity).map_err(|e| bad("to", e))?;
        if range.len() > STATUS_MAX_PERIODS {
            return Err(bad(
                "to",
                format!(
                    "the range spans {} {}s; status checks at most {STATUS_MAX_PERIODS}",
                    range.len(),
                    table.granularity
                ),
            ));
        }
        let registered_values = self
            .glue
            .partition_values(&table.database, &table.table)
            .await?;
        let mut registered = Vec::new();
        let mut gaps = Vec::new();
        let mut empty = 0usize;
        for period in range.periods() {
            let spec = table
                .spec_for(period)
                .map_err(PartitionsError::BadCommand)?;
            let name = partition_name(&spec);
            if registered_values.contains(&spec.value_list()) {
                registered.push(name);
            } else if self
                .data
                .has_objects(&table.bucket, spec.location_key_prefix())
                .await?
            {
                gaps.push(json!({"partition": name, "location": spec.location}));
            } else {
                empty += 1;
            }
        }
        Ok(json!({
            "command": "status",
            "table": table.id(),
            "range": {"from": format_cursor(range.start), "to": format_cursor(range.end), "periods": range.len()},
            "registered_count": registered.len(),
            "registered": registered,
            "gap_count": gaps.len(),
            "gaps": gaps,
            "periods_without_data": empty,
        }))
    }
}

fn partition_name(spec: &PartitionSpec) -> String {
    spec.values
        .iter()
        .map(|(c, v)| format!("{c}={v}"))
        .collect::<Vec<_>>()
        .join("/")
}

fn push_outcome(
    summary: &mut Summary,
    spec: &PartitionSpec,
    outcome: &'static str,
    detail: Option<String>,
) {
    if summary.outcomes.len() < MAX_LISTED {
        summary.outcomes.push(PartitionOutcome {
            partition: spec.registry_key(),
            outcome,
            detail,
        });
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..end], s.len())
}
