//! Step 4 of registration: one table's claimed partitions into the catalog, through Athena DDL
//! (`ALTER TABLE ... ADD IF NOT EXISTS`, split under the statement limit) or Glue
//! `BatchCreatePartition`.

use streamops_shared::{AwsCallError, Metrics};

use super::summary::Summary;
use super::{InvocationContext, PartitionsService};
use crate::config::Mode;
use crate::ports::{
    DataListing, DdlRunner, EntryResult, PartitionCatalog, QueryReport, QueryResult, RegistryStore,
};
use crate::sql::{Statement, render_statements};
use crate::table::PartitionSpec;

/// Per partition of a table registration: `Ok(true)` created, `Ok(false)` already in the
/// catalog (Glue `AlreadyExistsException`), `Err(reason)` not registered.
pub(super) type Registered = Vec<Result<bool, String>>;

/// Whose statements [`PartitionsService::run_statements`] runs: the table, its database, and
/// what tells the statements' request tokens apart from another kind's (`""` for ADD,
/// `"#drop"` for DROP).
pub(super) struct StatementsOf<'a> {
    pub(super) table_id: &'a str,
    pub(super) database: &'a str,
    pub(super) tag: &'a str,
}

impl<R, A, G, D, N, S> PartitionsService<R, A, G, D, N, S>
where
    R: RegistryStore,
    A: DdlRunner,
    G: PartitionCatalog,
    D: DataListing,
{
    /// Registers one table's partitions the configured way; one result per spec, in order.
    pub(super) async fn register_table(
        &self,
        table_id: &str,
        specs: &[&PartitionSpec],
        ctx: &InvocationContext,
        metrics: &mut Metrics,
        summary: &mut Summary,
    ) -> Registered {
        match self.config.mode {
            Mode::Athena => {
                self.register_athena(table_id, specs, ctx, metrics, summary)
                    .await
            }
            Mode::Glue => self.register_glue(table_id, specs, ctx).await,
        }
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
        let on = StatementsOf {
            table_id,
            database: &specs[0].database,
            tag: "",
        };
        let queries = &mut summary.queries_run;
        self.run_statements(on, &statements, specs.len(), ctx, queries, metrics)
            .await
    }

    /// Runs one table's `statements` one after another; one result per partition (`count` of
    /// them), in order: `Ok(true)` the statement naming it succeeded, `Err(reason)` it did not.
    pub(super) async fn run_statements(
        &self,
        on: StatementsOf<'_>,
        statements: &[Statement],
        count: usize,
        ctx: &InvocationContext,
        queries_run: &mut u64,
        metrics: &mut Metrics,
    ) -> Registered {
        let mut results: Registered = vec![Err("not attempted".into()); count];
        for (n, statement) in statements.iter().enumerate() {
            // The start's client request token: a retried start never runs twice.
            let idempotency = format!("{}#{}{}#{n}", ctx.request_id, on.table_id, on.tag);
            let deadline = self.query_deadline(ctx);
            let outcome = self
                .athena
                .run(&statement.sql, on.database, &idempotency, deadline)
                .await;
            *queries_run += 1;
            metrics.count("QueriesRun", 1);
            let result = statement_result(on.table_id, statement, outcome);
            if result.is_err() {
                metrics.count("QueriesFailed", 1);
            }
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
        let created = self
            .glue
            .create_partitions(database, table, specs, self.query_deadline(ctx))
            .await;
        match created {
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
}

/// What one statement's run means for its partitions: `Ok(true)` added, `Err(reason)` not.
pub(super) fn statement_result(
    table_id: &str,
    statement: &Statement,
    outcome: Result<QueryReport, AwsCallError>,
) -> Result<bool, String> {
    let report = match outcome {
        Ok(report) => report,
        Err(e) => {
            tracing::error!(table = table_id, error = %e, "partition DDL could not run; releasing claims");
            return Err(e.to_string());
        }
    };
    let text = match &report.result {
        QueryResult::Succeeded => {
            tracing::info!(table = table_id, query_id = %report.query_id, partitions = statement.partitions.len(),
                bytes = statement.sql.len(), polls = report.stats.polls, requeued = report.stats.requeued,
                start_retries = report.start_retries, "partitions added");
            return Ok(true);
        }
        other @ QueryResult::Failed { state, reason, .. } => format!(
            "query {} {state} ({}): {reason}",
            report.query_id,
            other.classification()
        ),
        other @ QueryResult::TimedOut { last_state } => format!(
            "query {} still {last_state} at the deadline ({})",
            report.query_id,
            other.classification()
        ),
    };
    tracing::error!(table = table_id, query_id = %report.query_id, classification = report.result.classification(),
        partitions = statement.partitions.len(), error = %text, "partition DDL did not succeed; releasing claims");
    Err(text)
}
