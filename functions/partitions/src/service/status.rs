//! The `status` command: the registered partitions of a range (from the Glue catalog) and the
//! gaps, periods (and key values) whose directory holds data but which have no partition; for
//! an Iceberg table, its maintenance (lease, query left running, latest run).

use serde_json::{Value, json};

use super::{InvocationContext, PartitionsError, PartitionsService};
use crate::iceberg::IcebergTable;
use crate::ops::{STATUS_MAX_PERIODS, StatusPlan};
use crate::periods::format_cursor;
use crate::ports::{
    DataListing, DdlRunner, LeftQuery, MaintenanceLeases, PartitionCatalog, RegistryStore,
};
use crate::table::PartitionSpec;

impl<R, A, G, D, N, S> PartitionsService<R, A, G, D, N, S>
where
    R: RegistryStore,
    A: DdlRunner,
    G: PartitionCatalog,
    D: DataListing,
{
    pub(super) async fn status(&self, plan: StatusPlan<'_>) -> Result<Value, PartitionsError> {
        let (table, range) = (plan.table, plan.range);
        let keys = self.resolve_keys(table, &plan.keys, "status").await?;
        let checked = range.len() as usize * keys.combinations.len();
        if checked > STATUS_MAX_PERIODS as usize {
            return Err(PartitionsError::BadCommand(format!(
                "status `keys`: {} periods times {} combinations of key values is {checked} partitions; status checks at most {STATUS_MAX_PERIODS}",
                range.len(),
                keys.combinations.len()
            )));
        }
        let registered_values = self
            .glue
            .partition_values(&table.database, &table.table)
            .await?;
        let mut registered = Vec::new();
        let mut gaps = Vec::new();
        let mut empty = 0usize;
        let pairs = range
            .periods()
            .flat_map(|p| keys.combinations.iter().map(move |k| (p, k)));
        for (period, key_values) in pairs {
            let spec = table
                .spec_at(period, key_values)
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
            "keys": keys.to_json(),
            "registered_count": registered.len(),
            "registered": registered,
            "gap_count": gaps.len(),
            "gaps": gaps,
            "periods_without_data": empty,
        }))
    }
}

/// `dt=2026-11-23/hour=10`.
fn partition_name(spec: &PartitionSpec) -> String {
    spec.values
        .iter()
        .map(|(c, v)| format!("{c}={v}"))
        .collect::<Vec<_>>()
        .join("/")
}

impl<R, A, G, D, N, S> PartitionsService<R, A, G, D, N, S>
where
    R: MaintenanceLeases,
{
    /// `status` of an Iceberg table: whether a run holds it (and the query it keeps, with its
    /// runtime bound), and how its latest run ended.
    pub(super) async fn maintenance_status(
        &self,
        table: &IcebergTable,
        ctx: &InvocationContext,
    ) -> Result<Value, PartitionsError> {
        let state = self.registry.maintenance_state(&table.id()).await?;
        let now = ctx.now.timestamp();
        let lease = match &state.lease {
            None => json!({"state": "free"}),
            Some(l) if l.expires_at < now => json!({
                "state": "abandoned",
                "run": l.token,
                "query": l.left.as_ref().map(|q| left_json(q, table)),
                "note": "the next run takes it, and stops the query if it still runs",
            }),
            Some(l) => json!({
                "state": if l.left.is_some() { "query_left_running" } else { "running" },
                "run": l.token,
                "until": epoch_text(l.expires_at),
                "query": l.left.as_ref().map(|q| left_json(q, table)),
            }),
        };
        let last_run = state
            .last_run
            .map(|(at, run)| json!({"at": at.to_rfc3339(), "tables": [run]}));
        Ok(json!({
            "command": "status",
            "table": table.id(),
            "format": "iceberg",
            "max_runtime_seconds": table.max_runtime.as_secs(),
            "lease": lease,
            "last_run": last_run,
        }))
    }
}

fn left_json(q: &LeftQuery, table: &IcebergTable) -> Value {
    json!({
        "query_execution_id": q.query_execution_id,
        "operation": q.operation,
        "started_at": epoch_text(q.started_at),
        "runtime_bound_at": epoch_text(q.started_at + table.max_runtime.as_secs() as i64),
    })
}

fn epoch_text(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .to_rfc3339()
}
