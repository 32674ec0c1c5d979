//! The `prune` command: every registered partition of a range dropped in one go, a retention
//! applied by hand (the partitions whose data went before removals were listened to, or a
//! retention shorter than the bucket's). Partitions are read from the Glue catalog (what Athena
//! and EMR plan with); their data is not looked at: a retention drops what is older, whatever
//! is left in S3. A dry run (the default) lists what would be dropped.

use serde_json::{Value, json};
use streamops_shared::Metrics;

use super::{InvocationContext, PartitionsError, PartitionsService};
use crate::ops::PrunePlan;
use crate::periods::format_cursor;
use crate::ports::{DataListing, DdlRunner, PartitionCatalog, RegistryStore};
use crate::table::PartitionSpec;

/// Partitions named in the answer (all are counted).
const MAX_LISTED: usize = 100;

impl<R, A, G, D, N, S> PartitionsService<R, A, G, D, N, S>
where
    R: RegistryStore,
    A: DdlRunner,
    G: PartitionCatalog,
    D: DataListing,
{
    pub(super) async fn prune(
        &self,
        plan: PrunePlan<'_>,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Value, PartitionsError> {
        let table = plan.table;
        let keys = self.resolve_keys(table, &plan.keys, "prune").await?;
        let registered = self
            .glue
            .partition_values(&table.database, &table.table)
            .await?;
        let mut doomed: Vec<PartitionSpec> = Vec::new();
        let pairs = plan
            .range
            .periods()
            .flat_map(|p| keys.combinations.iter().map(move |k| (p, k)));
        for (period, key_values) in pairs {
            let spec = table
                .spec_at(period, key_values)
                .map_err(PartitionsError::BadCommand)?;
            if registered.contains(&spec.value_list()) {
                doomed.push(spec);
            }
        }
        let mut answer = json!({
            "command": "prune",
            "table": table.id(),
            "range": {"from": format_cursor(plan.range.start), "to": format_cursor(plan.range.end), "periods": plan.range.len()},
            "dry_run": plan.dry_run,
            "keys": keys.to_json(),
            "partitions": doomed.len(),
            "listed": doomed.iter().take(MAX_LISTED).map(|s| s.location.clone()).collect::<Vec<_>>(),
        });
        if plan.dry_run || doomed.is_empty() {
            return Ok(answer);
        }
        let (dropped, failed) = self.drop_all(&table.id(), &doomed, ctx, metrics).await;
        answer["dropped"] = json!(dropped);
        answer["failed"] = json!(failed);
        if failed.is_empty() {
            Ok(answer)
        } else {
            // Dropping is idempotent: running the same prune again finishes the job.
            Err(PartitionsError::Registration(format!(
                "prune dropped {dropped} of {} partitions of {}; not dropped: {}",
                doomed.len(),
                table.id(),
                failed.join("; ")
            )))
        }
    }

    /// Forgets the marks and drops `doomed`: how many were dropped, and why the others were not.
    async fn drop_all(
        &self,
        table_id: &str,
        doomed: &[PartitionSpec],
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> (usize, Vec<String>) {
        let specs: Vec<&PartitionSpec> = doomed.iter().collect();
        let mut queries = 0;
        let results = self
            .forget_then_drop(table_id, &specs, ctx, &mut queries, metrics)
            .await;
        let mut failed = Vec::new();
        for (spec, result) in doomed.iter().zip(results) {
            match result {
                Ok(()) => metrics.count("PartitionsDropped", 1),
                Err(e) => failed.push(format!("{} ({e})", spec.registry_key())),
            }
        }
        let dropped = doomed.len() - failed.len();
        tracing::info!(
            table = table_id,
            dropped,
            failed = failed.len(),
            queries,
            "prune done"
        );
        (dropped, failed)
    }
}
