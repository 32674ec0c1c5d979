//! The `maintain` command: each Iceberg table's OPTIMIZE then VACUUM through Athena, one query
//! at a time per table (a lease in the registry, across runs too) and at most
//! `maintenance_concurrency` across tables. A query is waited
//! for until its table's `max_runtime_seconds` (then stopped) or the invocation's budget (then
//! left running and reported by id); every outcome but a success is sent to alerts.

use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};
use streamops_shared::{Metrics, Unit};

use super::{InvocationContext, PartitionsError, PartitionsService, RESERVE};
use crate::iceberg::IcebergTable;
use crate::maintenance::{
    Bound, MIN_START_BUDGET, MaintenanceEvent, MaintenanceStatement, Operation, QueryOutcome,
    goes_on_after, may_start, statements, wait_until,
};
use crate::ops::MaintainPlan;
use crate::ports::{
    EventPublisher, LeaseOutcome, LeftQuery, MaintenanceLeases, MaintenanceQueries, QueryResult,
};

/// One table's queries, in order, with how each ended.
struct TableRun<'t> {
    table: &'t IcebergTable,
    queries: Vec<(MaintenanceStatement, QueryOutcome)>,
    /// The first query is one an earlier run started (and counted in its metrics).
    picked_up: bool,
}

impl<R, A, G, D, N> PartitionsService<R, A, G, D, N>
where
    R: MaintenanceLeases,
    A: MaintenanceQueries,
    N: EventPublisher,
{
    pub(super) async fn maintain(
        &self,
        plan: MaintainPlan<'_>,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Value, PartitionsError> {
        if plan.dry_run {
            return Ok(dry_run(&plan, ctx));
        }
        let budget_end = Instant::now() + ctx.remaining().saturating_sub(RESERVE);
        let runs: Vec<TableRun> = stream::iter(
            plan.tables
                .iter()
                .map(|t| self.maintain_table(t, ctx, budget_end)),
        )
        .buffered(self.config.maintenance_concurrency)
        .collect()
        .await;
        record_metrics(&runs, metrics);
        let alert_errors = self.send_alerts(&runs, ctx).await;
        let answer = answer(&runs, alert_errors.len());
        tracing::info!(answer = %answer, "iceberg maintenance done");
        match alert_errors.into_iter().next() {
            // The failure destination then raises it; a retry keeps the request id, so its
            // starts are the same queries (idempotent tokens), not new ones.
            Some(e) => Err(PartitionsError::Aws(e)),
            None => Ok(answer),
        }
    }

    /// The table's statements, one after the other, under the table's lease; a statement after
    /// one that must not be followed ([`goes_on_after`]) is skipped. A query an earlier run left
    /// running is looked at first ([`Self::settle_left`]).
    async fn maintain_table<'t>(
        &self,
        table: &'t IcebergTable,
        ctx: &InvocationContext,
        budget_end: Instant,
    ) -> TableRun<'t> {
        let id = table.id();
        let now_s = ctx.now.timestamp();
        let expires_at = now_s + ctx.remaining().as_secs() as i64 + LEASE_MARGIN_SECONDS;
        let lease = self
            .registry
            .acquire_lease(&id, &ctx.request_id, expires_at, now_s)
            .await;
        let mut queries = Vec::new();
        let ours = matches!(lease, Ok(LeaseOutcome::Acquired { .. }));
        let picked_up = matches!(lease, Ok(LeaseOutcome::Acquired { left: Some(_) }));
        let mut gate = match lease {
            Ok(LeaseOutcome::Acquired { left: None }) => Gate::Open,
            Ok(LeaseOutcome::Acquired { left: Some(left) }) => {
                let settled = self.settle_left(table, left, now_s).await;
                let gate = Gate::after(&settled.1);
                queries.push(settled);
                gate
            }
            Ok(LeaseOutcome::Held { left }) => Gate::Skip(held_by(left.as_ref())),
            Err(e) => Gate::Fail(format!("its maintenance lease could not be taken: {e}")),
        };
        for statement in statements(table, ctx.now) {
            let outcome = match &gate {
                Gate::Open => self.run_one(table, &statement, ctx, budget_end).await,
                Gate::Skip(reason) => QueryOutcome::Skipped {
                    reason: reason.clone(),
                },
                Gate::Fail(reason) => QueryOutcome::NotStarted {
                    reason: reason.clone(),
                },
            };
            if matches!(gate, Gate::Open) {
                gate = Gate::after(&outcome);
            }
            tracing::info!(table = %id, operation = statement.operation.as_str(), outcome = outcome.as_str(), query_execution_id = outcome.query_execution_id().unwrap_or(""), "maintenance query");
            queries.push((statement, outcome));
        }
        if ours {
            self.hand_back(table, &queries, &ctx.request_id, now_s)
                .await;
        }
        TableRun {
            table,
            picked_up,
            queries,
        }
    }

    /// A query an earlier run left running, under a lease that has expired (so past its
    /// runtime bound): its end if it has one, else stopped now.
    async fn settle_left(
        &self,
        table: &IcebergTable,
        left: LeftQuery,
        now_s: i64,
    ) -> (MaintenanceStatement, QueryOutcome) {
        let seconds = (now_s - left.started_at).max(0) as f64;
        let query_execution_id = left.query_execution_id.clone();
        let outcome = match self.athena.wait(&query_execution_id, Instant::now()).await {
            Ok((QueryResult::Succeeded, _)) => QueryOutcome::Succeeded {
                query_execution_id,
                seconds,
            },
            Ok((QueryResult::Failed { state, reason, .. }, _)) => QueryOutcome::Failed {
                query_execution_id,
                state,
                reason,
                seconds,
            },
            still_running_or_unknown => {
                let reason = match still_running_or_unknown {
                    Err(e) => format!("left running by an earlier run; polling it failed: {e}"),
                    Ok(_) => format!(
                        "left running by an earlier run past its max_runtime_seconds ({})",
                        table.max_runtime.as_secs()
                    ),
                };
                let stop_error = self.athena.stop(&query_execution_id).await.err();
                QueryOutcome::Stopped {
                    query_execution_id,
                    seconds,
                    reason,
                    stop_error: stop_error.map(|e| e.to_string()),
                }
            }
        };
        let statement = MaintenanceStatement {
            operation: left.operation,
            sql: left.sql,
        };
        (statement, outcome)
    }

    /// Releases the table's lease, or keeps it for a query that may still run until that
    /// query's runtime bound (counted from the run's start, `now_s`: a little early, never
    /// late), when the next run looks at it.
    async fn hand_back(
        &self,
        table: &IcebergTable,
        queries: &[(MaintenanceStatement, QueryOutcome)],
        token: &str,
        now_s: i64,
    ) {
        let id = table.id();
        let still = queries.iter().rev().find(|(_, o)| may_still_run(o));
        let result = match still {
            Some((statement, outcome)) => {
                let started_at = now_s;
                let left = LeftQuery {
                    query_execution_id: outcome.query_execution_id().unwrap_or("").to_string(),
                    operation: statement.operation,
                    sql: statement.sql.clone(),
                    started_at,
                };
                let until = started_at + table.max_runtime.as_secs() as i64 + LEASE_MARGIN_SECONDS;
                self.registry.hold_lease(&id, token, &left, until).await
            }
            None => self.registry.release_lease(&id, token).await,
        };
        if let Err(e) = result {
            // The lease expires on its own a minute after this invocation's deadline.
            tracing::error!(table = %id, error = %e, "maintenance lease not handed back");
        }
    }

    /// Starts one statement and follows it to its end, its runtime bound or the budget's end.
    async fn run_one(
        &self,
        table: &IcebergTable,
        statement: &MaintenanceStatement,
        ctx: &InvocationContext,
        budget_end: Instant,
    ) -> QueryOutcome {
        if !may_start(Instant::now(), budget_end) {
            return QueryOutcome::NotStarted {
                reason: format!(
                    "less than {} s of the invocation was left to start it",
                    MIN_START_BUDGET.as_secs()
                ),
            };
        }
        let idempotency = format!(
            "{}/{}/{}",
            ctx.request_id,
            table.id(),
            statement.operation.as_str()
        );
        let started = Instant::now();
        let query_execution_id = match self
            .athena
            .start(&statement.sql, &table.database, &idempotency, budget_end)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                return QueryOutcome::StartFailed {
                    reason: e.to_string(),
                };
            }
        };
        let (until, bound) = wait_until(started, table.max_runtime, budget_end);
        let waited = self.athena.wait(&query_execution_id, until).await;
        let seconds = started.elapsed().as_secs_f64();
        let why_stop = match (waited, bound) {
            (Ok((QueryResult::Succeeded, _)), _) => {
                return QueryOutcome::Succeeded {
                    query_execution_id,
                    seconds,
                };
            }
            (Ok((QueryResult::Failed { state, reason, .. }, _)), _) => {
                return QueryOutcome::Failed {
                    query_execution_id,
                    state,
                    reason,
                    seconds,
                };
            }
            (Ok((QueryResult::TimedOut { .. }, _)), Bound::Deadline) => {
                return QueryOutcome::LeftRunning {
                    query_execution_id,
                    seconds,
                };
            }
            (Ok((QueryResult::TimedOut { .. }, _)), Bound::Runtime) => format!(
                "ran past its max_runtime_seconds ({})",
                table.max_runtime.as_secs()
            ),
            // Not followable any more: stopped, so no second query of the table runs beside it.
            (Err(e), _) => format!("polling it failed: {e}"),
        };
        let stop_error = self
            .athena
            .stop(&query_execution_id)
            .await
            .err()
            .map(|e| e.to_string());
        QueryOutcome::Stopped {
            query_execution_id,
            seconds,
            reason: why_stop,
            stop_error,
        }
    }

    /// One event per outcome worth a look; the errors of the ones that could not be sent.
    async fn send_alerts(
        &self,
        runs: &[TableRun<'_>],
        ctx: &InvocationContext,
    ) -> Vec<streamops_shared::AwsCallError> {
        let mut errors = Vec::new();
        for run in runs {
            for (statement, outcome) in run.queries.iter().filter(|(_, o)| o.alerts()) {
                let event = MaintenanceEvent {
                    event_id: format!(
                        "{}/{}/{}",
                        ctx.request_id,
                        run.table.id(),
                        statement.operation.as_str()
                    ),
                    function: self.config.function_name.clone(),
                    table: run.table.id(),
                    operation: statement.operation,
                    outcome: outcome.clone(),
                    max_runtime_seconds: run.table.max_runtime.as_secs(),
                    at: ctx.now,
                };
                if let Err(e) = self.events.publish(&event).await {
                    tracing::error!(table = %run.table.id(), error = %e, "maintenance alert not sent");
                    errors.push(e);
                }
            }
        }
        errors
    }
}

/// A lease outlives the invocation's deadline by this much before it counts as abandoned.
const LEASE_MARGIN_SECONDS: i64 = 60;

/// Whether the table's next statement runs.
enum Gate {
    Open,
    /// Skipped, with the reason (not alerted: the reason is alerted on its own, or is another
    /// run's business).
    Skip(String),
    /// Not started, alerted: the lease could not be taken.
    Fail(String),
}

impl Gate {
    fn after(outcome: &QueryOutcome) -> Self {
        match goes_on_after(outcome) {
            Ok(()) => Gate::Open,
            Err(reason) => Gate::Skip(reason),
        }
    }
}

fn held_by(left: Option<&LeftQuery>) -> String {
    match left {
        Some(q) => format!(
            "another maintain run holds the table: query {} ({}) may still be running",
            q.query_execution_id,
            q.operation.as_str()
        ),
        None => "another maintain run holds the table".into(),
    }
}

/// A query that may still be running once this run ends: left at the deadline, or one whose
/// stop failed.
fn may_still_run(outcome: &QueryOutcome) -> bool {
    matches!(
        outcome,
        QueryOutcome::LeftRunning { .. }
            | QueryOutcome::Stopped {
                stop_error: Some(_),
                ..
            }
    )
}

fn dry_run(plan: &MaintainPlan<'_>, ctx: &InvocationContext) -> Value {
    let tables: Vec<Value> = plan
        .tables
        .iter()
        .map(|t| {
            json!({
                "table": t.id(),
                "max_runtime_seconds": t.max_runtime.as_secs(),
                "statements": statements(t, ctx.now),
            })
        })
        .collect();
    json!({"command": "maintain", "dry_run": true, "tables": tables})
}

/// `IcebergMaintenanceRuns` and `IcebergMaintenanceDuration` per query started (a query an
/// earlier run left, picked up here, was counted by that run), `IcebergMaintenanceFailures` per
/// query that failed, was stopped or did not start, `IcebergMaintenanceLeftRunning` per query
/// left at the deadline.
fn record_metrics(runs: &[TableRun<'_>], metrics: &mut Metrics) {
    for run in runs {
        for (i, (_, outcome)) in run.queries.iter().enumerate() {
            let started_here = !(i == 0 && run.picked_up);
            if let Some(seconds) = outcome.seconds().filter(|_| started_here) {
                metrics.count("IcebergMaintenanceRuns", 1);
                metrics.record("IcebergMaintenanceDuration", Unit::Seconds, seconds);
            }
            match outcome {
                QueryOutcome::Failed { .. }
                | QueryOutcome::Stopped { .. }
                | QueryOutcome::StartFailed { .. }
                | QueryOutcome::NotStarted { .. } => metrics.count("IcebergMaintenanceFailures", 1),
                QueryOutcome::LeftRunning { .. } => {
                    metrics.count("IcebergMaintenanceLeftRunning", 1)
                }
                QueryOutcome::Succeeded { .. } | QueryOutcome::Skipped { .. } => {}
            }
        }
    }
}

/// One query as the answer lists it: the statement and how it ended.
#[derive(Serialize)]
struct QueryAnswer<'a> {
    operation: Operation,
    sql: &'a str,
    #[serde(flatten)]
    outcome: &'a QueryOutcome,
}

fn answer(runs: &[TableRun<'_>], alerts_not_sent: usize) -> Value {
    let tables: Vec<Value> = runs
        .iter()
        .map(|r| {
            let queries: Vec<QueryAnswer> = r
                .queries
                .iter()
                .map(|(s, outcome)| QueryAnswer {
                    operation: s.operation,
                    sql: &s.sql,
                    outcome,
                })
                .collect();
            json!({"table": r.table.id(), "queries": queries})
        })
        .collect();
    let left_running: Vec<&str> = runs
        .iter()
        .flat_map(|r| &r.queries)
        .filter(|(_, o)| matches!(o, QueryOutcome::LeftRunning { .. }))
        .filter_map(|(_, o)| o.query_execution_id())
        .collect();
    let failures = runs
        .iter()
        .flat_map(|r| &r.queries)
        .filter(|(_, o)| o.alerts() && !matches!(o, QueryOutcome::LeftRunning { .. }))
        .count();
    json!({
        "command": "maintain",
        "dry_run": false,
        "tables": tables,
        "failures": failures,
        "left_running": left_running,
        "alerts_not_sent": alerts_not_sent,
    })
}
