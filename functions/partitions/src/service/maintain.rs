//! The `maintain` command: each Iceberg table's OPTIMIZE then VACUUM through Athena, one query
//! at a time per table (a lease in the registry, across runs too) and at most
//! `maintenance_concurrency` across tables. A query is waited for until its table's
//! `max_runtime_seconds` (then stopped) or the invocation's budget (then left running, its
//! lease kept, and a follow-up scheduled that looks at it again: [`crate::follow_up`]); every
//! outcome but a success, and a query left running without a follow-up, is sent to alerts.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use serde_json::{Value, json};
use streamops_shared::Metrics;

use super::maintain_report::{TableRun, answer, record_metrics};
use super::{InvocationContext, PartitionsError, PartitionsService, RESERVE};
use crate::follow_up::{self, FollowUp, FollowUpSetting};
use crate::iceberg::IcebergTable;
use crate::maintenance::{
    Bound, MIN_START_BUDGET, MaintenanceStatement, QueryOutcome, goes_on_after, may_start,
    statements, wait_until,
};
use crate::ops::MaintainPlan;
use crate::ports::{
    EventPublisher, FollowUpScheduler, LeaseOutcome, LeftQuery, MaintenanceLeases,
    MaintenanceQueries, QueryResult,
};

/// How a table's run begins, from its lease.
enum Start {
    Open,
    /// An earlier run left this query: looked at first.
    PickUp(LeftQuery),
    /// Another run holds the table (not alerted: it is that run's business).
    Skip(String),
    /// The lease could not be taken (alerted).
    Fail(String),
    /// A follow-up found the lease released or taken by another run since.
    NothingToFollow,
}

impl<R, A, G, D, N, S> PartitionsService<R, A, G, D, N, S>
where
    R: MaintenanceLeases,
    A: MaintenanceQueries,
    N: EventPublisher,
    S: FollowUpScheduler,
{
    pub(super) async fn maintain(
        &self,
        plan: MaintainPlan<'_>,
        ctx: &InvocationContext,
        metrics: &mut Metrics,
    ) -> Result<Value, PartitionsError> {
        if plan.dry_run {
            return Ok(dry_run(&plan, ctx, &self.config.follow_up));
        }
        let budget = Budget {
            end: Instant::now() + ctx.remaining().saturating_sub(RESERVE),
            began: Instant::now(),
            began_at: ctx.now,
        };
        let follows = plan.follow_up.as_deref();
        let runs: Vec<TableRun> = stream::iter(
            plan.tables
                .iter()
                .map(|t| self.maintain_table(t, follows, ctx, &budget)),
        )
        .buffered(self.config.maintenance_concurrency)
        .collect()
        .await;
        record_metrics(&runs, metrics);
        let alert_errors = self.send_alerts(&runs, ctx).await;
        let answer = answer(&runs, alert_errors.len());
        self.record_runs(&runs, &answer, ctx.now).await;
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
    /// running is looked at first ([`Self::settle_left`]); a follow-up (`follows`, the lease
    /// token of the run it follows) then runs only the statements after that query's.
    async fn maintain_table<'t>(
        &self,
        table: &'t IcebergTable,
        follows: Option<&str>,
        ctx: &InvocationContext,
        budget: &Budget,
    ) -> TableRun<'t> {
        let now_s = ctx.now.timestamp();
        let start = self.start(table, follows, ctx, now_s).await;
        let ours = matches!(start, Start::Open | Start::PickUp(_));
        let mut run = TableRun::new(table);
        let mut gate = match start {
            Start::Open => Gate::Open,
            Start::PickUp(left) => {
                let (started_at, after) = (left.started_at, left.operation);
                let settled = self.settle_left(table, left, now_s, budget.end).await;
                let gate = Gate::after(&settled.1);
                run.picked_up = Some(started_at);
                run.queries.push(settled);
                run.only_after = follows.map(|_| after);
                gate
            }
            Start::Skip(reason) => Gate::Skip(reason),
            Start::Fail(reason) => Gate::Fail(reason),
            Start::NothingToFollow => {
                run.note = Some(
                    "nothing to follow: the lease was released or taken by another run since"
                        .into(),
                );
                return run;
            }
        };
        let remaining = statements(table, ctx.now)
            .into_iter()
            .filter(|s| run.only_after.is_none_or(|after| s.operation > after));
        for statement in remaining {
            let outcome = match &gate {
                Gate::Open => self.run_one(table, &statement, ctx, budget.end).await,
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
            tracing::info!(table = %table.id(), operation = statement.operation.as_str(), outcome = outcome.as_str(), query_execution_id = outcome.query_execution_id().unwrap_or(""), "maintenance query");
            run.queries.push((statement, outcome));
        }
        if ours {
            run.follow_up = self.hand_back(&run, &ctx.request_id, now_s, budget).await;
        }
        run
    }

    /// Takes the table's lease: a new run's own, or (a follow-up) the lease of the run it
    /// follows.
    async fn start(
        &self,
        table: &IcebergTable,
        follows: Option<&str>,
        ctx: &InvocationContext,
        now_s: i64,
    ) -> Start {
        let id = table.id();
        let expires_at = now_s + ctx.remaining().as_secs() as i64 + LEASE_MARGIN_SECONDS;
        let token = &ctx.request_id;
        let lease = match follows {
            None => self
                .registry
                .acquire_lease(&id, token, expires_at, now_s)
                .await
                .map(Some),
            Some(from) => self
                .registry
                .take_over_lease(&id, from, token, expires_at)
                .await
                .map(|left| left.map(|left| LeaseOutcome::Acquired { left: Some(left) })),
        };
        match lease {
            Ok(Some(LeaseOutcome::Acquired { left: None })) => Start::Open,
            Ok(Some(LeaseOutcome::Acquired { left: Some(left) })) => Start::PickUp(left),
            Ok(Some(LeaseOutcome::Held { left })) => Start::Skip(held_by(left.as_ref())),
            Ok(None) => Start::NothingToFollow,
            Err(e) => Start::Fail(format!("its maintenance lease could not be taken: {e}")),
        }
    }

    /// A query an earlier run left running: waited for until its runtime bound (or this
    /// invocation's budget, whichever is first), then stopped if it still runs at its bound.
    async fn settle_left(
        &self,
        table: &IcebergTable,
        left: LeftQuery,
        now_s: i64,
        budget_end: Instant,
    ) -> (MaintenanceStatement, QueryOutcome) {
        let to_bound = Duration::from_secs((left.bound_at(table) - now_s).max(0) as u64);
        let (until, bound) = wait_until(Instant::now(), to_bound, budget_end);
        let before = Duration::from_secs((now_s - left.started_at).max(0) as u64);
        let outcome = self
            .follow(table, left.query_execution_id, until, bound, before, LEFT)
            .await;
        let statement = MaintenanceStatement {
            operation: left.operation,
            sql: left.sql,
        };
        (statement, outcome)
    }

    /// Releases the table's lease, or keeps it for a query that may still run (until that
    /// query's runtime bound, counted from the run's start, `now_s`: a little early, never
    /// late; a picked-up query keeps its own start) and schedules the follow-up that looks at
    /// it then, or sooner.
    async fn hand_back(
        &self,
        run: &TableRun<'_>,
        token: &str,
        now_s: i64,
        budget: &Budget,
    ) -> FollowUp {
        let table = run.table;
        let id = table.id();
        let still = run
            .queries
            .iter()
            .enumerate()
            .rev()
            .find(|(_, (_, o))| may_still_run(o));
        let Some((i, (statement, outcome))) = still else {
            if let Err(e) = self.registry.release_lease(&id, token).await {
                // The lease expires on its own a minute after this invocation's deadline.
                tracing::error!(table = %id, error = %e, "maintenance lease not released");
            }
            return FollowUp::None;
        };
        let started_at = match (i, run.picked_up) {
            (0, Some(started_at)) => started_at,
            _ => now_s,
        };
        let left = LeftQuery {
            query_execution_id: outcome.query_execution_id().unwrap_or("").to_string(),
            operation: statement.operation,
            sql: statement.sql.clone(),
            started_at,
        };
        let bound_at = epoch(left.bound_at(table));
        let (follow_up, due) = self
            .schedule_follow_up(&id, token, budget.now(), bound_at)
            .await;
        // Kept at least until the follow-up is due, so no new run takes the table first.
        let until =
            due.map_or(bound_at, |due| due.max(bound_at)).timestamp() + LEASE_MARGIN_SECONDS;
        if let Err(e) = self.registry.hold_lease(&id, token, &left, until).await {
            tracing::error!(table = %id, error = %e, "maintenance lease not kept for the query left running");
        }
        follow_up
    }

    /// The follow-up of a table whose query may still run, and when it is due (if one is
    /// scheduled).
    async fn schedule_follow_up(
        &self,
        table: &str,
        token: &str,
        now: DateTime<Utc>,
        bound_at: DateTime<Utc>,
    ) -> (FollowUp, Option<DateTime<Utc>>) {
        let Some(config) = self.config.follow_up.config() else {
            let reason = self.config.follow_up.off_reason().unwrap_or_default();
            return (FollowUp::Off { reason }, None);
        };
        let at = follow_up::due_at(now, bound_at, config.every());
        let schedule = follow_up::schedule_name(&config.name_prefix, table, token);
        let input = follow_up::command(table, token);
        match self.follow_ups.schedule_once(&schedule, at, &input).await {
            Ok(()) => {
                tracing::info!(table, schedule = %schedule, at = %at, "maintenance follow-up scheduled");
                (FollowUp::Scheduled { schedule, at }, Some(at))
            }
            Err(e) => {
                tracing::error!(table, error = %e, "maintenance follow-up not scheduled");
                let reason = format!("{e}; the next scheduled run looks at the query");
                (FollowUp::Failed { reason }, None)
            }
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
        self.follow(table, query_execution_id, until, bound, Duration::ZERO, OWN)
            .await
    }

    /// Waits for a running query until `until`, which is its runtime bound or the budget's end
    /// (`bound` says which): its end, left running at the budget's end, or stopped at its
    /// bound (and when polling it failed). `before`: how long it ran before this wait.
    async fn follow(
        &self,
        table: &IcebergTable,
        query_execution_id: String,
        until: Instant,
        bound: Bound,
        before: Duration,
        whose: Whose,
    ) -> QueryOutcome {
        let waiting = Instant::now();
        let waited = self.athena.wait(&query_execution_id, until).await;
        let seconds = (before + waiting.elapsed()).as_secs_f64();
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
                "{} its max_runtime_seconds ({})",
                whose.ran_past,
                table.max_runtime.as_secs()
            ),
            // Not followable any more: stopped, so no second query of the table runs beside it.
            (Err(e), _) => format!("{}: {e}", whose.polling_failed),
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

    /// Keeps each table's part of the answer for `status`; a failure is logged only (the run
    /// itself is done).
    async fn record_runs(&self, runs: &[TableRun<'_>], answer: &Value, at: DateTime<Utc>) {
        let tables = answer["tables"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (run, part) in runs.iter().zip(tables) {
            if run.queries.is_empty() {
                continue;
            }
            if let Err(e) = self.registry.record_run(&run.table.id(), at, part).await {
                tracing::warn!(table = %run.table.id(), error = %e, "maintenance run not recorded for status");
            }
        }
    }
}

/// Whose query a stop reason names: this run's, or one an earlier run left running.
#[derive(Clone, Copy)]
struct Whose {
    ran_past: &'static str,
    polling_failed: &'static str,
}
const OWN: Whose = Whose {
    ran_past: "ran past",
    polling_failed: "polling it failed",
};
const LEFT: Whose = Whose {
    ran_past: "left running by an earlier run past",
    polling_failed: "left running by an earlier run; polling it failed",
};

/// The run's time: its budget's end, and the wall clock from the invocation's start (so a test's
/// invocation time holds throughout).
struct Budget {
    end: Instant,
    began: Instant,
    began_at: DateTime<Utc>,
}

impl Budget {
    fn now(&self) -> DateTime<Utc> {
        self.began_at + chrono::Duration::from_std(self.began.elapsed()).unwrap_or_default()
    }
}

/// A lease outlives the invocation's deadline by this much before it counts as abandoned.
const LEASE_MARGIN_SECONDS: i64 = 60;

impl LeftQuery {
    /// When the query reaches its runtime bound (epoch seconds).
    fn bound_at(&self, table: &IcebergTable) -> i64 {
        self.started_at + table.max_runtime.as_secs() as i64
    }
}

fn epoch(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

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

/// The statements each table would run, and whether a query left running would be followed up.
fn dry_run(plan: &MaintainPlan<'_>, ctx: &InvocationContext, follow_up: &FollowUpSetting) -> Value {
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
    let follow_ups = match follow_up {
        FollowUpSetting::On(c) => json!({"state": "on", "every_seconds": c.every_seconds}),
        off => json!({"state": "off", "reason": off.off_reason()}),
    };
    json!({"command": "maintain", "dry_run": true, "tables": tables, "follow_ups": follow_ups})
}
