//! Iceberg maintenance, pure: the statements a table gets (`OPTIMIZE ... REWRITE DATA USING
//! BIN_PACK [WHERE ...]`, then `VACUUM`), how long a query is waited for (its runtime bound or
//! the invocation's budget, whichever comes first), what one query's end means, and whether the
//! table's next statement runs after it.

use std::time::{Duration, Instant};

use chrono::{DateTime, Days, Utc};
use serde::Serialize;

use crate::follow_up::FollowUp;
use crate::iceberg::{IcebergTable, TimeWindow, WindowType};
use crate::sql::{escape_literal, quote_sql_ident};

/// A query is not started with less than this left of the invocation's budget: it would be
/// left running at once, holding the table for nobody.
pub const MIN_START_BUDGET: Duration = Duration::from_secs(10);

/// Which maintenance statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Compaction: small files rewritten into fewer, larger ones.
    Optimize,
    /// Snapshot expiry and orphan-file removal, by the table's own retention properties.
    Vacuum,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Optimize => "optimize",
            Operation::Vacuum => "vacuum",
        }
    }
}

/// One statement of one table's maintenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaintenanceStatement {
    pub operation: Operation,
    pub sql: String,
}

/// `"db"."table"`: both names were validated at config load, and quoted all the same.
fn qualified(table: &IcebergTable) -> String {
    format!(
        "{}.{}",
        quote_sql_ident(&table.database),
        quote_sql_ident(&table.table)
    )
}

/// `"column" >= DATE '2026-11-16'` for a run on 2026-11-23 with `last_days` 7: the start is
/// computed here, from the run's time, so the statement says exactly what it compacts. The
/// column was validated at config load; its type only decides how the start is written.
pub fn window_predicate(w: &TimeWindow, now: DateTime<Utc>) -> String {
    let start = now
        .date_naive()
        .checked_sub_days(Days::new(u64::from(w.last_days)))
        .unwrap_or(chrono::NaiveDate::MIN)
        .format("%Y-%m-%d")
        .to_string();
    let literal = match w.kind {
        WindowType::Date => format!("DATE {}", escape_literal(&start)),
        WindowType::Timestamp => {
            format!("TIMESTAMP {}", escape_literal(&format!("{start} 00:00:00")))
        }
        WindowType::String => escape_literal(&start),
    };
    format!("{} >= {literal}", quote_sql_ident(&w.column))
}

/// The table's statements in the order they run: OPTIMIZE (if on) then VACUUM (if on). A
/// window's start is computed from `now`.
pub fn statements(table: &IcebergTable, now: DateTime<Utc>) -> Vec<MaintenanceStatement> {
    let mut out = Vec::with_capacity(2);
    if let Some(window) = &table.optimize {
        let mut sql = format!("OPTIMIZE {} REWRITE DATA USING BIN_PACK", qualified(table));
        if let Some(w) = window {
            sql.push_str(" WHERE ");
            sql.push_str(&window_predicate(w, now));
        }
        out.push(MaintenanceStatement {
            operation: Operation::Optimize,
            sql,
        });
    }
    if table.vacuum {
        out.push(MaintenanceStatement {
            operation: Operation::Vacuum,
            sql: format!("VACUUM {}", qualified(table)),
        });
    }
    out
}

/// What ends the wait for a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The table's `max_runtime_seconds`: the query is stopped.
    Runtime,
    /// The invocation's budget: the query is left running and reported with its id.
    Deadline,
}

/// How long to wait for a query started at `started`: until its runtime bound, unless the
/// invocation's budget (`budget_end`) ends first.
pub fn wait_until(
    started: Instant,
    max_runtime: Duration,
    budget_end: Instant,
) -> (Instant, Bound) {
    let runtime_end = started + max_runtime;
    if runtime_end <= budget_end {
        (runtime_end, Bound::Runtime)
    } else {
        (budget_end, Bound::Deadline)
    }
}

/// Whether a query may be started with the budget left.
pub fn may_start(now: Instant, budget_end: Instant) -> bool {
    budget_end.saturating_duration_since(now) >= MIN_START_BUDGET
}

/// How one maintenance query ended, as the answer, the metrics and the alert tell it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum QueryOutcome {
    Succeeded {
        query_execution_id: String,
        seconds: f64,
    },
    /// FAILED or CANCELLED by Athena (or someone else), with Athena's reason.
    Failed {
        query_execution_id: String,
        state: String,
        reason: String,
        seconds: f64,
    },
    /// Still running at its runtime bound (or no longer followable: polling it failed):
    /// stopped (`StopQueryExecution`). `stop_error` when the stop itself failed (the query may
    /// still be running).
    Stopped {
        query_execution_id: String,
        seconds: f64,
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        stop_error: Option<String>,
    },
    /// Still running when the invocation's budget ran out: left running (Athena finishes it
    /// or fails it), reported by id so `aws athena get-query-execution` can follow it.
    LeftRunning {
        query_execution_id: String,
        seconds: f64,
    },
    /// `StartQueryExecution` failed: nothing runs, so the table's next statement is tried.
    StartFailed { reason: String },
    /// Never started: the invocation's budget was too short to start it.
    NotStarted { reason: String },
    /// An earlier query of the table did not end well enough to go on (see [`goes_on_after`]).
    Skipped { reason: String },
}

impl QueryOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            QueryOutcome::Succeeded { .. } => "succeeded",
            QueryOutcome::Failed { .. } => "failed",
            QueryOutcome::Stopped { .. } => "stopped",
            QueryOutcome::LeftRunning { .. } => "left_running",
            QueryOutcome::StartFailed { .. } => "start_failed",
            QueryOutcome::NotStarted { .. } => "not_started",
            QueryOutcome::Skipped { .. } => "skipped",
        }
    }

    /// Whether it is worth an alert: everything but a success and a skip (the skip's cause is
    /// alerted on its own).
    pub fn alerts(&self) -> bool {
        !matches!(
            self,
            QueryOutcome::Succeeded { .. } | QueryOutcome::Skipped { .. }
        )
    }

    pub fn query_execution_id(&self) -> Option<&str> {
        match self {
            QueryOutcome::Succeeded {
                query_execution_id, ..
            }
            | QueryOutcome::Failed {
                query_execution_id, ..
            }
            | QueryOutcome::Stopped {
                query_execution_id, ..
            }
            | QueryOutcome::LeftRunning {
                query_execution_id, ..
            } => Some(query_execution_id),
            QueryOutcome::StartFailed { .. }
            | QueryOutcome::NotStarted { .. }
            | QueryOutcome::Skipped { .. } => None,
        }
    }

    pub fn seconds(&self) -> Option<f64> {
        match self {
            QueryOutcome::Succeeded { seconds, .. }
            | QueryOutcome::Failed { seconds, .. }
            | QueryOutcome::Stopped { seconds, .. }
            | QueryOutcome::LeftRunning { seconds, .. } => Some(*seconds),
            QueryOutcome::StartFailed { .. }
            | QueryOutcome::NotStarted { .. }
            | QueryOutcome::Skipped { .. } => None,
        }
    }
}

/// The detail of the event alerts reads (source `streamops.partitions`, detail-type `Iceberg
/// Maintenance`, put by [`crate::events`]): one maintenance query of one table that did not
/// succeed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaintenanceEvent {
    /// The run (request id), the table and the operation: the same for a resent event.
    pub event_id: String,
    /// The partitions function that ran it (the alerts rule takes its own stack's only).
    pub function: String,
    /// `database.table`.
    pub table: String,
    pub operation: Operation,
    /// `failed`, `stopped`, `left_running`, `start_failed` or `not_started`, with its fields.
    #[serde(flatten)]
    pub outcome: QueryOutcome,
    pub max_runtime_seconds: u64,
    /// For a query left running: why no follow-up looks at it (one that does is not alerted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<FollowUp>,
    pub at: DateTime<Utc>,
}

/// Whether the table's next statement runs after this one ended so. VACUUM does not depend on
/// OPTIMIZE (a failed or stopped OPTIMIZE commits nothing, Iceberg commits are atomic), so it
/// still runs after one, and after a start that failed (nothing runs); not after a query left
/// running (one query per table at a time) nor when there was no budget to start one.
pub fn goes_on_after(outcome: &QueryOutcome) -> Result<(), String> {
    match outcome {
        QueryOutcome::Succeeded { .. }
        | QueryOutcome::Failed { .. }
        | QueryOutcome::StartFailed { .. }
        | QueryOutcome::Stopped {
            stop_error: None, ..
        } => Ok(()),
        QueryOutcome::Stopped {
            query_execution_id,
            stop_error: Some(_),
            ..
        }
        | QueryOutcome::LeftRunning {
            query_execution_id, ..
        } => Err(format!(
            "query {query_execution_id} of the table may still be running"
        )),
        QueryOutcome::NotStarted { reason } | QueryOutcome::Skipped { reason } => {
            Err(reason.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iceberg::{TimeWindow, WindowType};

    fn table() -> IcebergTable {
        IcebergTable {
            bucket: "b-1".into(),
            prefix: "ice/".into(),
            database: "stream-ops".into(),
            table: "events".into(),
            optimize: Some(Some(TimeWindow {
                column: "event_day".into(),
                kind: WindowType::Date,
                last_days: 3,
            })),
            vacuum: true,
            max_runtime: Duration::from_secs(600),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T00:10:00Z")
            .unwrap()
            .to_utc()
    }

    #[test]
    fn optimize_then_vacuum_with_quoted_names_and_a_literal_window() {
        let s = statements(&table(), now());
        assert_eq!(
            s,
            vec![
                MaintenanceStatement {
                    operation: Operation::Optimize,
                    sql: "OPTIMIZE \"stream-ops\".\"events\" REWRITE DATA USING BIN_PACK WHERE \"event_day\" >= DATE '2026-11-20'".into(),
                },
                MaintenanceStatement {
                    operation: Operation::Vacuum,
                    sql: "VACUUM \"stream-ops\".\"events\"".into(),
                },
            ]
        );
        let whole = IcebergTable {
            optimize: Some(None),
            vacuum: false,
            ..table()
        };
        assert_eq!(
            statements(&whole, now())[0].sql,
            "OPTIMIZE \"stream-ops\".\"events\" REWRITE DATA USING BIN_PACK"
        );
        let vacuum_only = IcebergTable {
            optimize: None,
            ..table()
        };
        let ops: Vec<_> = statements(&vacuum_only, now())
            .iter()
            .map(|s| s.operation)
            .collect();
        assert_eq!(ops, vec![Operation::Vacuum]);
    }

    #[test]
    fn a_windows_start_is_a_literal_of_its_columns_type() {
        let w = |kind| TimeWindow {
            column: "event_day".into(),
            kind,
            last_days: 7,
        };
        let at = DateTime::parse_from_rfc3339("2026-11-23T23:30:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            window_predicate(&w(WindowType::Date), at),
            "\"event_day\" >= DATE '2026-11-16'"
        );
        assert_eq!(
            window_predicate(&w(WindowType::Timestamp), at),
            "\"event_day\" >= TIMESTAMP '2026-11-16 00:00:00'"
        );
        assert_eq!(
            window_predicate(&w(WindowType::String), at),
            "\"event_day\" >= '2026-11-16'"
        );
        // Across a year and a leap day.
        let jan = DateTime::parse_from_rfc3339("2028-03-01T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            window_predicate(&w(WindowType::Date), jan),
            "\"event_day\" >= DATE '2028-02-23'"
        );
    }

    #[test]
    fn a_quote_in_a_name_cannot_end_the_identifier() {
        // Config load refuses such names; the quoting is the second line of defence.
        let hostile = IcebergTable {
            table: "x\".\"y\"; DROP TABLE z; --".into(),
            optimize: None,
            ..table()
        };
        assert_eq!(
            statements(&hostile, now())[0].sql,
            "VACUUM \"stream-ops\".\"x\"\".\"\"y\"\"; DROP TABLE z; --\""
        );
    }

    #[test]
    fn the_wait_ends_at_the_runtime_bound_or_the_budget_whichever_is_first() {
        let t0 = Instant::now();
        let min = Duration::from_secs(60);
        assert_eq!(
            wait_until(t0, min, t0 + Duration::from_secs(100)),
            (t0 + min, Bound::Runtime)
        );
        assert_eq!(
            wait_until(t0, min, t0 + Duration::from_secs(30)),
            (t0 + Duration::from_secs(30), Bound::Deadline)
        );
        assert_eq!(wait_until(t0, min, t0 + min), (t0 + min, Bound::Runtime));
        assert!(may_start(t0, t0 + MIN_START_BUDGET));
        assert!(!may_start(t0, t0 + Duration::from_secs(9)));
        assert!(!may_start(t0 + Duration::from_secs(5), t0));
    }

    #[test]
    fn vacuum_follows_a_failed_or_stopped_optimize_but_not_one_left_running() {
        let id = || "q-1".to_string();
        let ok = [
            QueryOutcome::Succeeded {
                query_execution_id: id(),
                seconds: 1.0,
            },
            QueryOutcome::Failed {
                query_execution_id: id(),
                state: "FAILED".into(),
                reason: "ICEBERG_COMMIT_ERROR".into(),
                seconds: 1.0,
            },
            QueryOutcome::Stopped {
                query_execution_id: id(),
                seconds: 600.0,
                reason: "ran past 600 s".into(),
                stop_error: None,
            },
        ];
        for o in &ok {
            assert_eq!(goes_on_after(o), Ok(()), "{o:?}");
        }
        let left = QueryOutcome::LeftRunning {
            query_execution_id: id(),
            seconds: 100.0,
        };
        assert_eq!(
            goes_on_after(&left),
            Err("query q-1 of the table may still be running".into())
        );
        let stop_failed = QueryOutcome::Stopped {
            query_execution_id: id(),
            seconds: 600.0,
            reason: "ran past 600 s".into(),
            stop_error: Some("throttled".into()),
        };
        assert!(goes_on_after(&stop_failed).is_err());
        let not_started = QueryOutcome::NotStarted {
            reason: "no time".into(),
        };
        assert_eq!(goes_on_after(&not_started), Err("no time".into()));
        let start_failed = QueryOutcome::StartFailed {
            reason: "AccessDenied".into(),
        };
        assert_eq!(goes_on_after(&start_failed), Ok(()));
        assert!(start_failed.alerts());
        assert!(left.alerts() && stop_failed.alerts() && not_started.alerts());
        assert!(!ok[0].alerts() && ok[1].alerts());
    }
}
