//! The `backfill` command: the partitions of a time range (times every combination of the named
//! keys' values), registered chunk by chunk (ADD IF NOT EXISTS, or Glue), recorded in the
//! registry, resumable. It does not consult the registry: it repairs whatever is missing.

use std::time::Instant;

use serde_json::{Value, json};
use streamops_shared::Metrics;

use super::{InvocationContext, PartitionsError, PartitionsService, RESERVE};
use crate::config::Mode;
use crate::named_keys::KeyValues;
use crate::ops::{BackfillPlan, MAX_CHUNK_SIZE};
use crate::periods::{Chunk, format_cursor};
use crate::ports::{
    DataListing, DdlRunner, EntryResult, PartitionCatalog, QueryResult, RegistryStore,
};
use crate::sql::{Statement, render_statements};
use crate::table::PartitionSpec;

/// What a backfill did so far.
#[derive(Debug, Default)]
struct Progress {
    chunks: usize,
    periods_done: usize,
    without_data: usize,
    planned: usize,
    statements: usize,
    max_bytes: usize,
    queries_run: u64,
    created: usize,
    existing: usize,
    sample: Option<String>,
}

/// One chunk of a backfill: its periods, and the key values each period is registered with.
struct ChunkOf<'a> {
    plan: &'a BackfillPlan<'a>,
    chunk: &'a Chunk,
    keys: &'a [KeyValues],
}

fn bad(field: &str, e: String) -> PartitionsError {
    PartitionsError::BadCommand(format!("backfill `{field}`: {e}"))
}

impl<R, A, G, D, N, S> PartitionsService<R, A, G, D, N, S>
where
    R: RegistryStore,
    A: DdlRunner,
    G: PartitionCatalog,
    D: DataListing,
{
    pub(super) async fn backfill(
        &self,
        plan: BackfillPlan<'_>,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Value, PartitionsError> {
        let started = Instant::now();
        let keys = self
            .resolve_keys(plan.table, &plan.keys, "backfill")
            .await?;
        // A chunk registers each period for every combination: at most MAX_CHUNK_SIZE
        // partitions, so many combinations make chunks of fewer periods.
        let periods_per_chunk = plan
            .chunk_size
            .min((MAX_CHUNK_SIZE / keys.combinations.len().max(1)).max(1));
        let mut progress = Progress::default();
        let mut cursor = plan.cursor;
        let done = loop {
            let chunk_started = Instant::now();
            let chunk = plan
                .range
                .chunk(cursor, periods_per_chunk)
                .map_err(|e| bad("resume_from", e))?;
            let on = ChunkOf {
                plan: &plan,
                chunk: &chunk,
                keys: &keys.combinations,
            };
            self.backfill_chunk(on, ctx, metrics, &mut progress).await?;
            cursor = chunk.next;
            if cursor.is_none() {
                break true;
            }
            if plan.max_chunks.is_some_and(|m| progress.chunks >= m) {
                break false;
            }
            // Stop while another chunk like this one still fits.
            if ctx.remaining() < RESERVE * 2 + chunk_started.elapsed() {
                break false;
            }
        };
        let resume_from = if done {
            None
        } else {
            cursor.map(format_cursor)
        };
        let table = plan.table;
        let p = &progress;
        tracing::info!(table = %table.id(), chunks = p.chunks, periods_done = p.periods_done, planned = p.planned, done,
            resume_from = resume_from.as_deref().unwrap_or(""), elapsed_ms = started.elapsed().as_millis() as u64,
            "backfill finished this invocation");
        let range = &plan.range;
        Ok(json!({
            "command": "backfill",
            "table": table.id(),
            "mode": self.config.mode.as_str(),
            "dry_run": plan.dry_run,
            "granularity": range.granularity,
            "range": {"from": format_cursor(range.start), "to": format_cursor(range.end), "periods": range.len()},
            "keys": keys.to_json(),
            "periods_per_chunk": periods_per_chunk,
            "chunks": p.chunks,
            "periods_done": p.periods_done,
            "periods_without_data": p.without_data,
            "partitions": p.planned,
            "partitions_registered": p.created,
            "partitions_already_present": p.existing,
            "statements": p.statements,
            "largest_statement_bytes": p.max_bytes,
            "queries_run": p.queries_run,
            "done": done,
            "resume_from": resume_from,
            "sample_statement": p.sample,
        }))
    }

    async fn backfill_chunk(
        &self,
        on: ChunkOf<'_>,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
        progress: &mut Progress,
    ) -> Result<(), PartitionsError> {
        let (plan, chunk) = (on.plan, on.chunk);
        let specs = self.chunk_specs(&on, progress).await?;
        let rendered = render_statements(&specs, self.config.max_statement_bytes)
            .map_err(|e| PartitionsError::BadCommand(e.to_string()))?;
        if progress.sample.is_none() {
            progress.sample = rendered.first().map(|s| truncate(&s.sql, 2_000));
        }
        progress.planned += specs.len();
        if !plan.dry_run && !specs.is_empty() {
            let refs: Vec<&PartitionSpec> = specs.iter().collect();
            let resume_hint = format_cursor(chunk.periods[0]);
            match self.config.mode {
                Mode::Athena => {
                    self.backfill_athena(plan, &rendered, &resume_hint, ctx, metrics, progress)
                        .await?;
                    progress.created += specs.len();
                }
                Mode::Glue => {
                    self.backfill_glue(plan, &refs, &resume_hint, ctx, progress)
                        .await?
                }
            }
            let now_s = ctx.now.timestamp();
            let expires_at = now_s + self.config.registry_ttl.as_secs() as i64;
            self.registry
                .record_registered(&refs, &ctx.request_id, expires_at, now_s)
                .await?;
            metrics.count("PartitionsRegistered", specs.len() as u64);
        }
        progress.statements += rendered.len();
        let largest = rendered.iter().map(|s| s.sql.len()).max().unwrap_or(0);
        progress.max_bytes = progress.max_bytes.max(largest);
        progress.chunks += 1;
        progress.periods_done += chunk.periods.len();
        tracing::info!(table = %plan.table.id(), chunk = progress.chunks, periods = chunk.periods.len(), partitions = specs.len(),
            statements = rendered.len(), dry_run = plan.dry_run,
            next = chunk.next.map(format_cursor).unwrap_or_default().as_str(), "backfill chunk done");
        Ok(())
    }

    /// The chunk's partitions, period by period and key values by key values; with
    /// `confirm_data`, only those whose directory holds an object.
    async fn chunk_specs(
        &self,
        on: &ChunkOf<'_>,
        progress: &mut Progress,
    ) -> Result<Vec<PartitionSpec>, PartitionsError> {
        let table = on.plan.table;
        let pairs = on
            .chunk
            .periods
            .iter()
            .flat_map(|p| on.keys.iter().map(move |k| (*p, k)));
        let mut specs = Vec::with_capacity(on.chunk.periods.len() * on.keys.len());
        for (period, keys) in pairs {
            let spec = table
                .spec_at(period, keys)
                .map_err(PartitionsError::BadCommand)?;
            if on.plan.confirm_data
                && !self
                    .data
                    .has_objects(&table.bucket, spec.location_key_prefix())
                    .await?
            {
                progress.without_data += 1;
                continue;
            }
            specs.push(spec);
        }
        Ok(specs)
    }

    async fn backfill_athena(
        &self,
        plan: &BackfillPlan<'_>,
        rendered: &[Statement],
        resume_hint: &str,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
        progress: &mut Progress,
    ) -> Result<(), PartitionsError> {
        let table = plan.table;
        for (n, st) in rendered.iter().enumerate() {
            let idempotency = format!("{}#backfill#{}#{n}", ctx.request_id, resume_hint);
            let report = self
                .athena
                .run(
                    &st.sql,
                    &table.database,
                    &idempotency,
                    self.query_deadline(ctx),
                )
                .await?;
            progress.queries_run += 1;
            metrics.count("QueriesRun", 1);
            if report.result != QueryResult::Succeeded {
                metrics.count("QueriesFailed", 1);
                return Err(PartitionsError::Registration(format!(
                    "backfill of {} stopped: query {} {:?}; {} partitions registered before it; rerun with \"resume_from\": \"{resume_hint}\"",
                    table.id(),
                    report.query_id,
                    report.result,
                    progress.created
                )));
            }
        }
        Ok(())
    }

    async fn backfill_glue(
        &self,
        plan: &BackfillPlan<'_>,
        refs: &[&PartitionSpec],
        resume_hint: &str,
        ctx: &InvocationContext,
        progress: &mut Progress,
    ) -> Result<(), PartitionsError> {
        let table = plan.table;
        let entries = self
            .glue
            .create_partitions(
                &table.database,
                &table.table,
                refs,
                self.query_deadline(ctx),
            )
            .await?;
        for e in entries {
            match e {
                EntryResult::Created => progress.created += 1,
                EntryResult::AlreadyExists => progress.existing += 1,
                EntryResult::Failed { code, message } => {
                    return Err(PartitionsError::Registration(format!(
                        "backfill of {} stopped: BatchCreatePartition {code}: {message}; rerun with \"resume_from\": \"{resume_hint}\"",
                        table.id()
                    )));
                }
            }
        }
        Ok(())
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
