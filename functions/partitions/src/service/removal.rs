//! Partitions whose data is gone. An object removal (a delete, a delete marker, S3 Lifecycle
//! expiring it) names a partition; once the partition's directory holds no object the partition
//! is dropped from the catalog, as a Glue crawler would, so planning and `status` stop counting
//! an empty prefix.
//!
//! Per table of the batch:
//! 1. each named partition's directory is listed (one key): data left means the partition stays;
//! 2. for the empty ones the registry mark is forgotten first, so that an object landing from
//!    now on claims and registers the partition afresh;
//! 3. they are dropped: `ALTER TABLE ... DROP IF EXISTS PARTITION (...)` (Athena) or Glue
//!    `BatchDeletePartition`, an absent partition counting as dropped;
//! 4. each directory is listed again: an object that landed meanwhile, and whose creation was
//!    handled before the drop (it found the mark and stopped, or registered the partition the
//!    drop then removed), would leave data without a partition, so those are registered again.
//!
//! A failure at any step reports the messages that named the partition; the redelivery starts
//! again at step 1.

use std::collections::BTreeMap;

use streamops_shared::Metrics;

use super::catalog::StatementsOf;
use super::registration::{Pending, Report};
use super::{InvocationContext, PartitionsService};
use crate::config::Mode;
use crate::ports::{DataListing, DdlRunner, PartitionCatalog, RegistryStore};
use crate::sql::render_drop_statements;
use crate::table::PartitionSpec;

impl<R, A, G, D, N, S> PartitionsService<R, A, G, D, N, S>
where
    R: RegistryStore,
    A: DdlRunner,
    G: PartitionCatalog,
    D: DataListing,
{
    /// Steps 1 to 4 for the partitions the batch's removals named.
    pub(super) async fn drop_emptied(
        &self,
        removed: BTreeMap<String, Pending>,
        ctx: &InvocationContext,
        report: &mut Report,
        metrics: &mut Metrics,
    ) {
        let mut by_table: BTreeMap<String, Vec<&Pending>> = BTreeMap::new();
        for p in removed.values() {
            by_table.entry(p.spec.table_id()).or_default().push(p);
        }
        for (table_id, partitions) in by_table {
            let empty = self.empty_ones(partitions, report, metrics).await;
            if empty.is_empty() {
                continue;
            }
            let dropped = self
                .forget_and_drop(&table_id, &empty, ctx, report, metrics)
                .await;
            self.register_refilled(&table_id, dropped, ctx, report, metrics)
                .await;
        }
    }

    /// Whether each partition's directory holds an object, `registry_concurrency` at a time.
    async fn listed<'p>(
        &self,
        partitions: &[&'p Pending],
    ) -> Vec<(&'p Pending, Result<bool, String>)> {
        let lists = partitions.iter().map(|p| async move {
            let (bucket, prefix) = (p.spec.location_bucket(), p.spec.location_key_prefix());
            let listed = self.data.has_objects(bucket, prefix).await;
            (*p, listed.map_err(|e| e.to_string()))
        });
        self.bounded(lists).await
    }

    /// Step 1: the partitions whose directory is empty; the others are kept or failed.
    async fn empty_ones<'p>(
        &self,
        partitions: Vec<&'p Pending>,
        report: &mut Report,
        metrics: &mut Metrics,
    ) -> Vec<&'p Pending> {
        let mut empty = Vec::new();
        for (p, listed) in self.listed(&partitions).await {
            match listed {
                Ok(false) => empty.push(p),
                Ok(true) => report.kept(p, "its directory still holds data", metrics),
                Err(e) => report.failed(p, e, metrics),
            }
        }
        empty
    }

    /// Steps 2 and 3: the registry marks forgotten, then the partitions dropped; returns the
    /// ones dropped (the others are reported failed).
    async fn forget_and_drop<'p>(
        &self,
        table_id: &str,
        empty: &[&'p Pending],
        ctx: &InvocationContext,
        report: &mut Report,
        metrics: &mut Metrics,
    ) -> Vec<&'p Pending> {
        let specs: Vec<&PartitionSpec> = empty.iter().map(|p| &p.spec).collect();
        let queries = &mut report.summary.queries_run;
        let results = self
            .forget_then_drop(table_id, &specs, ctx, queries, metrics)
            .await;
        let mut dropped = Vec::new();
        for (p, result) in empty.iter().zip(results) {
            match result {
                Ok(()) => dropped.push(*p),
                Err(reason) => report.failed(p, reason, metrics),
            }
        }
        dropped
    }

    /// The marks of `specs` forgotten (`registry_concurrency` at a time), then those forgotten
    /// dropped; one result per spec, in order (also the `prune` command's).
    pub(super) async fn forget_then_drop(
        &self,
        table_id: &str,
        specs: &[&PartitionSpec],
        ctx: &InvocationContext,
        queries_run: &mut u64,
        metrics: &mut Metrics,
    ) -> Vec<Result<(), String>> {
        let forgotten = self
            .bounded(specs.iter().map(|s| self.registry.forget(s)))
            .await;
        let mut results: Vec<Result<(), String>> = forgotten
            .into_iter()
            .map(|f| f.map_err(|e| e.to_string()))
            .collect();
        let ready: Vec<usize> = (0..specs.len()).filter(|&i| results[i].is_ok()).collect();
        let to_drop: Vec<&PartitionSpec> = ready.iter().map(|&i| specs[i]).collect();
        let dropped = self
            .drop_table(table_id, &to_drop, ctx, queries_run, metrics)
            .await;
        for (i, result) in ready.into_iter().zip(dropped) {
            if let Err(reason) = &result {
                tracing::error!(partition = %specs[i].registry_key(), error = %reason, "partition not dropped");
            }
            results[i] = result;
        }
        results
    }

    /// Step 3 the configured way: one result per spec, in order.
    async fn drop_table(
        &self,
        table_id: &str,
        specs: &[&PartitionSpec],
        ctx: &InvocationContext,
        queries_run: &mut u64,
        metrics: &mut Metrics,
    ) -> Vec<Result<(), String>> {
        let Some(first) = specs.first() else {
            return Vec::new();
        };
        if self.config.mode == Mode::Glue {
            let deadline = self.query_deadline(ctx);
            return match self
                .glue
                .delete_partitions(&first.database, &first.table, specs, deadline)
                .await
            {
                Ok(results) => results,
                Err(e) => vec![Err(e.to_string()); specs.len()],
            };
        }
        let owned: Vec<PartitionSpec> = specs.iter().map(|s| (*s).clone()).collect();
        let statements = match render_drop_statements(&owned, self.config.max_statement_bytes) {
            Ok(s) => s,
            Err(e) => return vec![Err(e.to_string()); specs.len()],
        };
        let on = StatementsOf {
            table_id,
            database: &first.database,
            tag: "#drop",
        };
        self.run_statements(on, &statements, specs.len(), ctx, queries_run, metrics)
            .await
            .into_iter()
            .map(|r| r.map(|_| ()))
            .collect()
    }

    /// Step 4: a dropped partition whose directory filled again is registered again (and its
    /// mark recorded); the others are reported dropped.
    async fn register_refilled(
        &self,
        table_id: &str,
        dropped: Vec<&Pending>,
        ctx: &InvocationContext,
        report: &mut Report,
        metrics: &mut Metrics,
    ) {
        let mut refilled = Vec::new();
        for (p, listed) in self.listed(&dropped).await {
            match listed {
                Ok(false) => report.dropped(p, metrics),
                Ok(true) => refilled.push(p),
                // Dropped, and unknown whether data landed: the redelivery lists it again.
                Err(e) => report.failed(p, e, metrics),
            }
        }
        if refilled.is_empty() {
            return;
        }
        let specs: Vec<&PartitionSpec> = refilled.iter().map(|p| &p.spec).collect();
        let results = self
            .register_table(table_id, &specs, ctx, metrics, &mut report.summary)
            .await;
        let now_s = ctx.now.timestamp();
        let ttl_expiry = now_s + self.config.registry_ttl.as_secs() as i64;
        let again: Vec<&PartitionSpec> = specs
            .iter()
            .zip(&results)
            .filter(|(_, r)| r.is_ok())
            .map(|(s, _)| *s)
            .collect();
        if let Err(e) = self
            .registry
            .record_registered(&again, &ctx.request_id, ttl_expiry, now_s)
            .await
        {
            // Registered all the same; a later object re-runs an idempotent ADD.
            tracing::warn!(table = table_id, error = %e, "partitions registered again but their marks were not recorded");
        }
        for (p, result) in refilled.into_iter().zip(results) {
            match result {
                Ok(_) => report.kept(
                    p,
                    "new data landed while it was dropped: registered again",
                    metrics,
                ),
                Err(reason) => report.failed(p, reason, metrics),
            }
        }
    }
}
