//! What a `maintain` run did, told three ways: the answer, the metrics and the alerts.

use serde::Serialize;
use serde_json::{Value, json};
use streamops_shared::{Metrics, Unit};

use super::{InvocationContext, PartitionsService};
use crate::follow_up::FollowUp;
use crate::iceberg::IcebergTable;
use crate::maintenance::{MaintenanceEvent, MaintenanceStatement, Operation, QueryOutcome};
use crate::ports::EventPublisher;

/// One table's queries, in order, with how each ended, and what comes next.
pub(super) struct TableRun<'t> {
    pub(super) table: &'t IcebergTable,
    pub(super) queries: Vec<(MaintenanceStatement, QueryOutcome)>,
    /// The first query is one an earlier run started (and counted in its metrics), at this
    /// time (epoch seconds).
    pub(super) picked_up: Option<i64>,
    /// A follow-up runs only the statements after this one (the picked-up query's).
    pub(super) only_after: Option<Operation>,
    pub(super) follow_up: FollowUp,
    pub(super) note: Option<String>,
}

impl<'t> TableRun<'t> {
    pub(super) fn new(table: &'t IcebergTable) -> Self {
        Self {
            table,
            queries: Vec::new(),
            picked_up: None,
            only_after: None,
            follow_up: FollowUp::None,
            note: None,
        }
    }

    /// Whether an outcome is alerted: as [`QueryOutcome::alerts`] says, but a query left
    /// running is not when a follow-up will look at it (the follow-up alerts how it ends).
    fn alerts(&self, outcome: &QueryOutcome) -> bool {
        match outcome {
            QueryOutcome::LeftRunning { .. } => {
                !matches!(self.follow_up, FollowUp::Scheduled { .. })
            }
            other => other.alerts(),
        }
    }
}

impl<R, A, G, D, N, S> PartitionsService<R, A, G, D, N, S>
where
    N: EventPublisher,
{
    /// One event per outcome worth a look; the errors of the ones that could not be sent.
    pub(super) async fn send_alerts(
        &self,
        runs: &[TableRun<'_>],
        ctx: &InvocationContext,
    ) -> Vec<streamops_shared::AwsCallError> {
        let mut errors = Vec::new();
        for run in runs {
            for (statement, outcome) in run.queries.iter().filter(|(_, o)| run.alerts(o)) {
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
                    follow_up: matches!(outcome, QueryOutcome::LeftRunning { .. })
                        .then(|| run.follow_up.clone()),
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

/// `IcebergMaintenanceRuns` and `IcebergMaintenanceDuration` per query started (a query an
/// earlier run left, picked up here, was counted by that run), `IcebergMaintenanceFailures` per
/// query that failed, was stopped or did not start, `IcebergMaintenanceLeftRunning` per query
/// left at the deadline.
pub(super) fn record_metrics(runs: &[TableRun<'_>], metrics: &mut Metrics) {
    for run in runs {
        for (i, (_, outcome)) in run.queries.iter().enumerate() {
            let started_here = !(i == 0 && run.picked_up.is_some());
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
        match run.follow_up {
            FollowUp::Scheduled { .. } => metrics.count("IcebergMaintenanceFollowUps", 1),
            FollowUp::Failed { .. } => metrics.count("IcebergMaintenanceFollowUpFailures", 1),
            FollowUp::None | FollowUp::Off { .. } => {}
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

pub(super) fn answer(runs: &[TableRun<'_>], alerts_not_sent: usize) -> Value {
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
            let mut table =
                json!({"table": r.table.id(), "queries": queries, "follow_up": r.follow_up});
            if let Some(note) = &r.note {
                table["note"] = json!(note);
            }
            table
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
