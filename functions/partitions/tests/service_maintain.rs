//! Iceberg tables over in-memory fakes (no moto): their objects acknowledged and never
//! registered, and the `maintain` command: OPTIMIZE then VACUUM per table, a failed OPTIMIZE
//! alerted with VACUUM still run, a query past its runtime bound stopped, the invocation's
//! deadline leaving a query running (reported by id, the table's VACUUM not started), the
//! concurrency bounds, and alerts that cannot be sent.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use partitions::{InvocationContext, Operation, PartitionsError, QueryOutcome};
use serde_json::{Value, json};
use streamops_shared::Metrics;
use support::*;

/// A Hive table beside three Iceberg tables: one compacting its last 7 days, one whole, one
/// with VACUUM only.
fn iceberg_service() -> (Service, Fakes) {
    service_over(config_of(
        "athena",
        json!([
            {"bucket": BUCKET, "prefix": "enriched/", "database": "streamops", "table": "enriched_events", "layout": "hive"},
            {"format": "iceberg", "bucket": BUCKET, "prefix": "iceberg/events/", "database": "streamops",
             "table": "enriched_iceberg", "optimize_where": {"column": "event_day", "last_days": 7},
             "max_runtime_seconds": 600},
            {"format": "iceberg", "bucket": BUCKET, "prefix": "iceberg/logs/", "database": "streamops", "table": "logs_iceberg"},
            {"format": "iceberg", "bucket": BUCKET, "prefix": "iceberg/audit/", "database": "streamops",
             "table": "audit_iceberg", "optimize": false}
        ]),
    ))
}

/// One invocation with `seconds` left before its deadline: the answer and its EMF documents.
async fn maintain_within(
    service: &Service,
    command: Value,
    seconds: u64,
) -> (Result<Value, PartitionsError>, Vec<String>) {
    maintain_as(service, command, seconds, "req-m").await
}

/// [`maintain_within`] as the invocation `request_id`.
async fn maintain_as(
    service: &Service,
    command: Value,
    seconds: u64,
    request_id: &str,
) -> (Result<Value, PartitionsError>, Vec<String>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let mut metrics = Metrics::with_sink("streamops", "partitions", move |l| {
        sink.lock().unwrap().push(l.to_string())
    });
    let ctx = InvocationContext {
        request_id: request_id.into(),
        now: now(),
        deadline: Instant::now() + Duration::from_secs(seconds),
    };
    let out = service.handle(command, &ctx, &mut metrics).await;
    metrics.flush();
    let lines = lines.lock().unwrap().clone();
    (out, lines)
}

fn run_one(table: &str) -> Value {
    json!({"command": "maintain", "table": table, "dry_run": false})
}

const OPTIMIZE_WINDOW: &str = "OPTIMIZE \"streamops\".\"enriched_iceberg\" REWRITE DATA USING BIN_PACK WHERE \"event_day\" >= DATE '2026-11-16'";
const VACUUM_EVENTS: &str = "VACUUM \"streamops\".\"enriched_iceberg\"";

#[tokio::test]
async fn objects_of_an_iceberg_table_are_acknowledged_and_never_registered() {
    let (service, fakes) = iceberg_service();
    let answer = invoke(
        &service,
        s3_event(&[
            "iceberg/events/data/event_day=2026-11-23/00000-1-a.parquet",
            "iceberg/events/metadata/00001-b.metadata.json",
            &hive_key("2026-11-23", 10, "a.gz"),
        ]),
        "req-1",
    )
    .await
    .unwrap();
    assert_eq!(answer["objects"], 3);
    assert_eq!(answer["skipped"]["iceberg_table"], 2);
    assert_eq!(answer["registered"], 1, "{answer}");
    assert_eq!(
        fakes.registry.marks().keys().collect::<Vec<_>>(),
        vec![&hive_partition("2026-11-23", 10)]
    );
    let ddl = fakes.athena.statements();
    assert_eq!(ddl.len(), 1);
    assert!(!ddl[0].contains("iceberg"), "{ddl:?}");
    assert!(fakes.athena.maintenance.started().is_empty());
}

#[tokio::test]
async fn a_dry_run_shows_every_tables_statements_and_runs_nothing() {
    let (service, fakes) = iceberg_service();
    let answer = invoke(&service, json!({"command": "maintain"}), "req-1")
        .await
        .unwrap();
    assert_eq!(answer["dry_run"], true);
    let tables = answer["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 3);
    assert_eq!(tables[0]["table"], "streamops.enriched_iceberg");
    assert_eq!(tables[0]["max_runtime_seconds"], 600);
    assert_eq!(
        tables[0]["statements"],
        json!([{"operation": "optimize", "sql": OPTIMIZE_WINDOW},
               {"operation": "vacuum", "sql": VACUUM_EVENTS}])
    );
    assert_eq!(
        tables[2]["statements"],
        json!([{"operation": "vacuum", "sql": "VACUUM \"streamops\".\"audit_iceberg\""}])
    );
    assert!(fakes.athena.maintenance.calls().is_empty() && fakes.events.sent().is_empty());
}

#[tokio::test]
async fn optimize_then_vacuum_succeed_in_order_with_metrics_and_no_alert() {
    let (service, fakes) = iceberg_service();
    let (answer, lines) = maintain_within(&service, run_one("enriched_iceberg"), 120).await;
    let answer = answer.unwrap();
    let m = &fakes.athena.maintenance;
    assert_eq!(m.started(), vec![OPTIMIZE_WINDOW, VACUUM_EVENTS]);
    match &m.calls()[0] {
        Call::Start {
            database,
            idempotency,
            ..
        } => {
            assert_eq!(database, "streamops");
            assert_eq!(idempotency, "req-m/streamops.enriched_iceberg/optimize");
        }
        other => panic!("{other:?}"),
    }
    let queries = answer["tables"][0]["queries"].as_array().unwrap();
    assert_eq!(queries[0]["outcome"], "succeeded");
    assert_eq!(queries[0]["query_execution_id"], "mq-1");
    assert_eq!(queries[1]["operation"], "vacuum");
    assert_eq!(
        (answer["failures"].as_u64(), answer["left_running"].clone()),
        (Some(0), json!([]))
    );
    assert!(fakes.events.sent().is_empty());
    assert_eq!(
        fakes.registry.leases.get("streamops.enriched_iceberg"),
        None,
        "released"
    );
    assert_eq!(metric(&lines, "IcebergMaintenanceRuns"), 2.0);
    assert_eq!(metric(&lines, "IcebergMaintenanceFailures"), 0.0);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("IcebergMaintenanceDuration"))
    );
}

#[tokio::test]
async fn a_failed_optimize_is_alerted_and_vacuum_still_runs() {
    let (service, fakes) = iceberg_service();
    fakes
        .athena
        .maintenance
        .script_runs(&[Run::Fail("ICEBERG_COMMIT_ERROR: conflicting commit")]);
    let (answer, lines) = maintain_within(&service, run_one("enriched_iceberg"), 120).await;
    let answer = answer.unwrap();
    assert_eq!(
        fakes.athena.maintenance.started(),
        vec![OPTIMIZE_WINDOW, VACUUM_EVENTS]
    );
    let sent = fakes.events.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].table, "streamops.enriched_iceberg");
    assert_eq!(sent[0].operation, Operation::Optimize);
    assert_eq!(sent[0].function, "partitions");
    assert_eq!(
        sent[0].event_id,
        "req-m/streamops.enriched_iceberg/optimize"
    );
    assert!(matches!(
        &sent[0].outcome,
        QueryOutcome::Failed { reason, state, .. } if reason.starts_with("ICEBERG_COMMIT_ERROR") && state == "FAILED"
    ));
    assert_eq!(answer["failures"], 1);
    assert_eq!(answer["tables"][0]["queries"][1]["outcome"], "succeeded");
    assert_eq!(metric(&lines, "IcebergMaintenanceFailures"), 1.0);
    assert_eq!(metric(&lines, "IcebergMaintenanceRuns"), 2.0);
}

#[tokio::test]
async fn a_query_past_its_runtime_bound_is_stopped_and_alerted() {
    let (service, fakes) = iceberg_service();
    // 120 s left, 600 s allowed: the deadline would come first. 900 s left: the bound does.
    fakes.athena.maintenance.script_runs(&[Run::Forever]);
    let (answer, _) = maintain_within(&service, run_one("enriched_iceberg"), 900).await;
    let answer = answer.unwrap();
    let m = &fakes.athena.maintenance;
    assert_eq!(m.stopped(), vec!["mq-1"]);
    let optimize = &answer["tables"][0]["queries"][0];
    assert_eq!(optimize["outcome"], "stopped");
    assert_eq!(optimize["reason"], "ran past its max_runtime_seconds (600)");
    // A stopped OPTIMIZE committed nothing: VACUUM runs after it.
    assert_eq!(m.started(), vec![OPTIMIZE_WINDOW, VACUUM_EVENTS]);
    let sent = fakes.events.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].max_runtime_seconds, 600);
    assert!(matches!(
        &sent[0].outcome,
        QueryOutcome::Stopped {
            stop_error: None,
            ..
        }
    ));
}

#[tokio::test]
async fn a_stop_that_fails_holds_the_table_back_from_vacuum() {
    let (service, fakes) = iceberg_service();
    let m = &fakes.athena.maintenance;
    m.script_runs(&[Run::Forever]);
    m.script.fail("StopQueryExecution", 1, Fault::Denied);
    let (answer, _) = maintain_within(&service, run_one("enriched_iceberg"), 900).await;
    let answer = answer.unwrap();
    assert_eq!(m.started(), vec![OPTIMIZE_WINDOW]);
    let queries = &answer["tables"][0]["queries"];
    assert!(
        queries[0]["stop_error"]
            .as_str()
            .unwrap()
            .contains("StopQueryExecution")
    );
    assert_eq!(queries[1]["outcome"], "skipped");
    assert_eq!(
        queries[1]["reason"],
        "query mq-1 of the table may still be running"
    );
}

#[tokio::test]
async fn at_the_deadline_a_query_is_left_running_reported_by_id_and_vacuum_waits() {
    let (service, fakes) = iceberg_service();
    let m = &fakes.athena.maintenance;
    m.script_runs(&[Run::Forever]);
    let (answer, lines) = maintain_within(&service, run_one("enriched_iceberg"), 60).await;
    let answer = answer.unwrap();
    assert!(
        m.stopped().is_empty(),
        "a query inside its bound is not stopped"
    );
    assert_eq!(m.started(), vec![OPTIMIZE_WINDOW]);
    assert_eq!(answer["left_running"], json!(["mq-1"]));
    assert_eq!(answer["tables"][0]["queries"][0]["outcome"], "left_running");
    assert_eq!(answer["tables"][0]["queries"][1]["outcome"], "skipped");
    let sent = fakes.events.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].outcome.as_str(), "left_running");
    assert_eq!(metric(&lines, "IcebergMaintenanceLeftRunning"), 1.0);
    assert_eq!(metric(&lines, "IcebergMaintenanceFailures"), 0.0);
}

#[tokio::test]
async fn with_too_little_time_left_nothing_starts_and_that_is_alerted() {
    let (service, fakes) = iceberg_service();
    let (answer, lines) = maintain_within(&service, run_one("audit_iceberg"), 8).await;
    let answer = answer.unwrap();
    assert!(fakes.athena.maintenance.started().is_empty());
    let q = &answer["tables"][0]["queries"][0];
    assert_eq!(q["outcome"], "not_started");
    assert!(
        q["reason"].as_str().unwrap().starts_with("less than 10 s"),
        "{q}"
    );
    assert_eq!(fakes.events.sent().len(), 1);
    assert_eq!(metric(&lines, "IcebergMaintenanceFailures"), 1.0);
}

#[tokio::test]
async fn a_start_that_fails_is_alerted_and_the_next_statement_tried() {
    let (service, fakes) = iceberg_service();
    let m = &fakes.athena.maintenance;
    m.script.fail("StartQueryExecution", 1, Fault::Denied);
    let (answer, _) = maintain_within(&service, run_one("enriched_iceberg"), 120).await;
    let answer = answer.unwrap();
    let queries = &answer["tables"][0]["queries"];
    assert_eq!(queries[0]["outcome"], "start_failed");
    // Nothing started, nothing holds the table: VACUUM is tried.
    assert_eq!(m.started(), vec![VACUUM_EVENTS]);
    assert_eq!(fakes.events.sent().len(), 1);
}

#[tokio::test]
async fn tables_run_at_most_the_configured_number_at_once_each_one_query_at_a_time() {
    for (bound, want) in [("1", 1), ("2", 2)] {
        let mut config = iceberg_service().0.config;
        config.maintenance_concurrency = bound.parse().unwrap();
        let (service, fakes) = service_over(config);
        let (answer, _) = maintain_within(
            &service,
            json!({"command": "maintain", "dry_run": false}),
            120,
        )
        .await;
        assert_eq!(answer.unwrap()["failures"], 0);
        let m = &fakes.athena.maintenance;
        assert_eq!(m.started().len(), 5, "2 + 2 + 1 statements");
        assert_eq!(m.max_in_flight(), (want, 1), "bound {bound}");
    }
}

#[tokio::test]
async fn an_alert_that_cannot_be_sent_fails_the_invocation_after_the_run() {
    let (service, fakes) = iceberg_service();
    fakes.athena.maintenance.script_runs(&[Run::Fail("boom")]);
    fakes.events.script.fail("PutEvents", 1, Fault::Denied);
    let (answer, _) = maintain_within(&service, run_one("enriched_iceberg"), 120).await;
    let e = answer.unwrap_err();
    assert!(e.to_string().contains("PutEvents"), "{e}");
    // The run itself went to its end.
    assert_eq!(fakes.athena.maintenance.started().len(), 2);
}

#[tokio::test]
async fn a_query_left_running_holds_the_table_so_the_next_run_starts_nothing() {
    let (service, fakes) = iceberg_service();
    fakes.athena.maintenance.script_runs(&[Run::Forever]);
    let (first, _) = maintain_within(&service, run_one("enriched_iceberg"), 60).await;
    assert_eq!(first.unwrap()["left_running"], json!(["mq-1"]));
    let lease = fakes
        .registry
        .leases
        .get("streamops.enriched_iceberg")
        .unwrap();
    let left = lease.left.clone().unwrap();
    assert_eq!(
        (left.query_execution_id.as_str(), left.operation),
        ("mq-1", Operation::Optimize)
    );
    assert_eq!(left.sql, OPTIMIZE_WINDOW);
    // Held until the query's runtime bound (600 s) from the run, and a minute.
    assert_eq!(lease.expires_at, now().timestamp() + 600 + 60);

    let (second, _) = maintain_as(&service, run_one("enriched_iceberg"), 120, "req-next").await;
    let second = second.unwrap();
    for q in second["tables"][0]["queries"].as_array().unwrap() {
        assert_eq!(q["outcome"], "skipped");
        assert_eq!(
            q["reason"],
            "another maintain run holds the table: query mq-1 (optimize) may still be running"
        );
    }
    assert_eq!(
        fakes.athena.maintenance.started().len(),
        1,
        "nothing new started"
    );
    assert_eq!(
        fakes.events.sent().len(),
        1,
        "only the first run's left_running"
    );
    assert_eq!(
        fakes.registry.leases.get("streamops.enriched_iceberg"),
        Some(lease),
        "still the first run's"
    );
}

#[tokio::test]
async fn past_its_bound_a_left_query_is_stopped_by_the_next_run_which_then_maintains() {
    let (service, fakes) = iceberg_service();
    let m = &fakes.athena.maintenance;
    m.script_runs(&[Run::Forever]);
    let (first, _) = maintain_within(&service, run_one("enriched_iceberg"), 60).await;
    assert_eq!(first.unwrap()["left_running"], json!(["mq-1"]));
    // The bound has passed (the query started over 600 s ago) and the lease has expired.
    let mut lease = fakes
        .registry
        .leases
        .get("streamops.enriched_iceberg")
        .unwrap();
    lease.expires_at = now().timestamp() - 1;
    if let Some(left) = lease.left.as_mut() {
        left.started_at = now().timestamp() - 601;
    }
    fakes
        .registry
        .leases
        .put("streamops.enriched_iceberg", lease);

    let (second, lines) = maintain_as(&service, run_one("enriched_iceberg"), 120, "req-next").await;
    let second = second.unwrap();
    let queries = second["tables"][0]["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 3, "{second}");
    // The stopped one was the first run's: this run started two, and one failed (the stop).
    assert_eq!(metric(&lines, "IcebergMaintenanceRuns"), 2.0);
    assert_eq!(metric(&lines, "IcebergMaintenanceFailures"), 1.0);
    assert_eq!(queries[0]["query_execution_id"], "mq-1");
    assert_eq!(queries[0]["outcome"], "stopped");
    assert_eq!(
        queries[0]["reason"],
        "left running by an earlier run past its max_runtime_seconds (600)"
    );
    assert_eq!(m.stopped(), vec!["mq-1"]);
    assert_eq!(
        (
            queries[1]["outcome"].as_str(),
            queries[2]["outcome"].as_str()
        ),
        (Some("succeeded"), Some("succeeded"))
    );
    assert_eq!(
        m.started(),
        vec![OPTIMIZE_WINDOW, OPTIMIZE_WINDOW, VACUUM_EVENTS]
    );
    assert_eq!(
        m.max_in_flight().1,
        1,
        "the new OPTIMIZE started after the old one was stopped"
    );
    let sent = fakes.events.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].outcome.as_str(), "stopped");
    assert_eq!(
        fakes.registry.leases.get("streamops.enriched_iceberg"),
        None
    );
}

#[tokio::test]
async fn a_lease_that_cannot_be_taken_starts_nothing_and_is_alerted() {
    let (service, fakes) = iceberg_service();
    fakes
        .registry
        .leases
        .script
        .fail("PutItem (lease)", 1, Fault::Denied);
    let (answer, lines) = maintain_within(&service, run_one("enriched_iceberg"), 120).await;
    let answer = answer.unwrap();
    for q in answer["tables"][0]["queries"].as_array().unwrap() {
        assert_eq!(q["outcome"], "not_started");
        assert!(
            q["reason"]
                .as_str()
                .unwrap()
                .starts_with("its maintenance lease could not be taken"),
            "{q}"
        );
    }
    assert!(fakes.athena.maintenance.started().is_empty());
    assert_eq!(fakes.events.sent().len(), 2);
    assert_eq!(metric(&lines, "IcebergMaintenanceFailures"), 2.0);
}
