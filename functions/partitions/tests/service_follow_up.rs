//! Follow-ups of Iceberg maintenance over in-memory fakes (no moto): a query still running when
//! its run ends gets a one-time schedule (no alert), the follow-up the schedule sends waits for
//! it and runs the table's next statement, or stops it at its runtime bound and alerts; a
//! retried or stale follow-up does nothing twice; a schedule that cannot be created leaves the
//! alert and the lease to the bound; `status` shows the table's maintenance throughout.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use partitions::{InvocationContext, Operation, PartitionsError};
use serde_json::{Value, json};
use streamops_shared::Metrics;
use support::*;

const TABLE: &str = "streamops.enriched_iceberg";
const OPTIMIZE: &str = "OPTIMIZE \"streamops\".\"enriched_iceberg\" REWRITE DATA USING BIN_PACK";
const VACUUM: &str = "VACUUM \"streamops\".\"enriched_iceberg\"";
const FOLLOW_UP: &str = r#"{"target_arn":"arn:aws:lambda:us-east-1:123456789012:function:s-partitions","role_arn":"arn:aws:iam::123456789012:role/s-maintenance","name_prefix":"s-mfu-","every_seconds":300}"#;

/// One Iceberg table with a 600 s runtime bound, follow-ups on.
fn follow_up_service() -> (Service, Fakes) {
    service_over(config_with_env(
        "athena",
        json!([{"format": "iceberg", "bucket": BUCKET, "prefix": "iceberg/events/",
                "database": "streamops", "table": "enriched_iceberg", "max_runtime_seconds": 600}]),
        &[("PARTITIONS_MAINTENANCE_FOLLOW_UP", FOLLOW_UP)],
    ))
}

/// One invocation at `now() + at_seconds` with 60 s left: the answer and its EMF documents.
async fn run_at(
    service: &Service,
    command: Value,
    request_id: &str,
    at_seconds: i64,
) -> (Result<Value, PartitionsError>, Vec<String>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let mut metrics = Metrics::with_sink("streamops", "partitions", move |l| {
        sink.lock().unwrap().push(l.to_string())
    });
    let ctx = InvocationContext {
        request_id: request_id.into(),
        now: later(at_seconds),
        deadline: Instant::now() + Duration::from_secs(60),
    };
    let out = service.handle(command, &ctx, &mut metrics).await;
    metrics.flush();
    let lines = lines.lock().unwrap().clone();
    (out, lines)
}

fn later(seconds: i64) -> DateTime<Utc> {
    now() + chrono::Duration::seconds(seconds)
}

fn maintain() -> Value {
    json!({"command": "maintain", "table": "enriched_iceberg", "dry_run": false})
}

fn status() -> Value {
    json!({"command": "status", "table": "enriched_iceberg"})
}

#[tokio::test]
async fn a_query_left_running_gets_a_follow_up_instead_of_an_alert() {
    let (service, fakes) = follow_up_service();
    fakes.athena.maintenance.script_runs(&[Run::Forever]);
    let (answer, lines) = run_at(&service, maintain(), "req-1", 0).await;
    let answer = answer.unwrap();
    assert_eq!(answer["left_running"], json!(["mq-1"]));
    let scheduled = fakes.follow_ups.scheduled();
    assert_eq!(scheduled.len(), 1);
    let s = &scheduled[0];
    assert!(
        s.name.starts_with("s-mfu-") && s.name.len() == 18,
        "{}",
        s.name
    );
    // Every 300 s, before the 600 s bound.
    assert_eq!(s.at, later(300));
    assert_eq!(
        s.input,
        json!({"command": "maintain", "table": TABLE, "dry_run": false, "follow_up": "req-1"})
    );
    assert_eq!(
        answer["tables"][0]["follow_up"],
        json!({"state": "scheduled", "schedule": s.name, "at": "2026-11-23T12:05:00Z"})
    );
    assert!(
        fakes.events.sent().is_empty(),
        "the follow-up alerts how it ends"
    );
    assert_eq!(metric(&lines, "IcebergMaintenanceLeftRunning"), 1.0);
    assert_eq!(metric(&lines, "IcebergMaintenanceFollowUps"), 1.0);
    let lease = fakes.registry.leases.get(TABLE).unwrap();
    assert_eq!(lease.token, "req-1");
    assert_eq!(lease.expires_at, later(600 + 60).timestamp());
    assert_eq!(lease.left.unwrap().operation, Operation::Optimize);
    // VACUUM waits for the OPTIMIZE: one query per table.
    assert_eq!(fakes.athena.maintenance.started(), vec![OPTIMIZE]);

    let (st, _) = run_at(&service, status(), "req-s", 10).await;
    let st = st.unwrap();
    assert_eq!(st["lease"]["state"], "query_left_running");
    assert_eq!(st["lease"]["query"]["query_execution_id"], "mq-1");
    assert_eq!(
        st["lease"]["query"]["runtime_bound_at"],
        "2026-11-23T12:10:00+00:00"
    );
    assert_eq!(
        st["last_run"]["tables"][0]["queries"][0]["outcome"],
        "left_running"
    );
}

#[tokio::test]
async fn a_follow_up_waits_for_the_query_then_runs_only_what_comes_after_it() {
    let (service, fakes) = follow_up_service();
    // Still running at the first run's end, done at the follow-up's first look.
    fakes
        .athena
        .maintenance
        .script_runs(&[Run::SucceedAfter(1)]);
    run_at(&service, maintain(), "req-1", 0).await.0.unwrap();
    let input = fakes.follow_ups.scheduled()[0].input.clone();

    let (answer, lines) = run_at(&service, input, "req-f1", 300).await;
    let answer = answer.unwrap();
    let queries = answer["tables"][0]["queries"].as_array().unwrap();
    let outcomes: Vec<(&str, &str)> = queries
        .iter()
        .map(|q| {
            (
                q["operation"].as_str().unwrap(),
                q["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![("optimize", "succeeded"), ("vacuum", "succeeded")]
    );
    assert_eq!(queries[0]["query_execution_id"], "mq-1");
    assert_eq!(
        fakes.athena.maintenance.started(),
        vec![OPTIMIZE, VACUUM],
        "the OPTIMIZE is not started again"
    );
    assert_eq!(answer["tables"][0]["follow_up"], json!({"state": "none"}));
    assert_eq!(fakes.registry.leases.get(TABLE), None, "released");
    assert!(fakes.events.sent().is_empty());
    // The picked-up query was counted by the run that started it.
    assert_eq!(metric(&lines, "IcebergMaintenanceRuns"), 1.0);

    let (st, _) = run_at(&service, status(), "req-s", 400).await;
    let st = st.unwrap();
    assert_eq!(st["lease"], json!({"state": "free"}));
    assert_eq!(st["last_run"]["at"], "2026-11-23T12:05:00+00:00");
    assert_eq!(
        st["last_run"]["tables"][0]["queries"][1]["outcome"],
        "succeeded"
    );
}

#[tokio::test]
async fn at_its_bound_a_follow_up_stops_the_query_alerts_and_vacuum_runs() {
    let (service, fakes) = follow_up_service();
    fakes.athena.maintenance.script_runs(&[Run::Forever]);
    run_at(&service, maintain(), "req-1", 0).await.0.unwrap();
    let first = fakes.follow_ups.scheduled()[0].input.clone();

    // Still running at 300 s: left again, the next look at the bound (600 s).
    let (second, _) = run_at(&service, first, "req-f1", 300).await;
    let second = second.unwrap();
    assert_eq!(second["tables"][0]["queries"][0]["outcome"], "left_running");
    let scheduled = fakes.follow_ups.scheduled();
    assert_eq!(scheduled.len(), 2);
    assert_eq!(scheduled[1].at, later(600));
    assert_eq!(scheduled[1].input["follow_up"], "req-f1");
    let lease = fakes.registry.leases.get(TABLE).unwrap();
    assert_eq!(lease.token, "req-f1");
    assert_eq!(
        lease.left.as_ref().unwrap().started_at,
        now().timestamp(),
        "the query keeps its own start"
    );
    assert!(fakes.events.sent().is_empty());

    let (third, lines) = run_at(&service, scheduled[1].input.clone(), "req-f2", 600).await;
    let third = third.unwrap();
    let queries = third["tables"][0]["queries"].as_array().unwrap();
    assert_eq!(queries[0]["outcome"], "stopped");
    assert_eq!(
        queries[0]["reason"],
        "left running by an earlier run past its max_runtime_seconds (600)"
    );
    // From the query's own start, not the follow-up's.
    let seconds = queries[0]["seconds"].as_f64().unwrap();
    assert!((600.0..601.0).contains(&seconds), "{seconds}");
    assert_eq!(fakes.athena.maintenance.stopped(), vec!["mq-1"]);
    assert_eq!(queries[1]["operation"], "vacuum");
    assert_eq!(queries[1]["outcome"], "succeeded");
    let sent = fakes.events.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].outcome.as_str(), "stopped");
    assert_eq!(sent[0].event_id, format!("req-f2/{TABLE}/optimize"));
    assert_eq!(metric(&lines, "IcebergMaintenanceFailures"), 1.0);
    assert_eq!(fakes.registry.leases.get(TABLE), None);
}

#[tokio::test]
async fn a_retried_follow_up_is_the_same_run_and_a_stale_one_finds_nothing() {
    let (service, fakes) = follow_up_service();
    fakes.athena.maintenance.script_runs(&[Run::Forever]);
    run_at(&service, maintain(), "req-1", 0).await.0.unwrap();
    let input = fakes.follow_ups.scheduled()[0].input.clone();
    // The follow-up's answer is lost after it took the lease over; Lambda retries it.
    run_at(&service, input.clone(), "req-f1", 300)
        .await
        .0
        .unwrap();
    let (retry, _) = run_at(&service, input.clone(), "req-f1", 310).await;
    let retry = retry.unwrap();
    assert_eq!(retry["tables"][0]["queries"][0]["outcome"], "left_running");
    assert_eq!(
        fakes.follow_ups.scheduled().len(),
        2,
        "the retry asks for the same schedule, not a third"
    );
    assert_eq!(fakes.athena.maintenance.started(), vec![OPTIMIZE]);

    // The first run's follow-up delivered again after the table moved on: nothing to follow.
    let before = fakes.registry.leases.last_run(TABLE);
    let (stale, _) = run_at(&service, input, "req-f9", 320).await;
    let stale = stale.unwrap();
    assert_eq!(stale["tables"][0]["queries"], json!([]));
    assert!(
        stale["tables"][0]["note"]
            .as_str()
            .unwrap()
            .starts_with("nothing to follow"),
        "{stale}"
    );
    assert_eq!(fakes.registry.leases.get(TABLE).unwrap().token, "req-f1");
    assert_eq!(
        fakes.registry.leases.last_run(TABLE),
        before,
        "status keeps the run that did something"
    );
    assert_eq!(fakes.athena.maintenance.started(), vec![OPTIMIZE]);
}

#[tokio::test]
async fn a_follow_up_that_cannot_be_scheduled_leaves_the_alert_and_the_lease_to_the_bound() {
    let (service, fakes) = follow_up_service();
    fakes.athena.maintenance.script_runs(&[Run::Forever]);
    fakes
        .follow_ups
        .script
        .fail("CreateSchedule", 1, Fault::Denied);
    let (answer, lines) = run_at(&service, maintain(), "req-1", 0).await;
    let answer = answer.unwrap();
    let follow_up = &answer["tables"][0]["follow_up"];
    assert_eq!(follow_up["state"], "failed");
    assert!(
        follow_up["reason"]
            .as_str()
            .unwrap()
            .ends_with("the next scheduled run looks at the query"),
        "{follow_up}"
    );
    let sent = fakes.events.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].outcome.as_str(), "left_running");
    assert!(matches!(
        sent[0].follow_up,
        Some(partitions::FollowUp::Failed { .. })
    ));
    assert_eq!(metric(&lines, "IcebergMaintenanceFollowUpFailures"), 1.0);
    let lease = fakes.registry.leases.get(TABLE).unwrap();
    assert_eq!(lease.expires_at, later(600 + 60).timestamp());
}

#[tokio::test]
async fn without_follow_ups_a_query_left_running_is_alerted_saying_why() {
    let (service, fakes) = service_over(config_of(
        "athena",
        json!([{"format": "iceberg", "bucket": BUCKET, "prefix": "iceberg/events/",
                "database": "streamops", "table": "enriched_iceberg", "max_runtime_seconds": 600}]),
    ));
    fakes.athena.maintenance.script_runs(&[Run::Forever]);
    let (plan, _) = run_at(&service, json!({"command": "maintain"}), "req-0", 0).await;
    let follow_ups = &plan.unwrap()["follow_ups"];
    assert_eq!(follow_ups["state"], "off");
    assert!(
        follow_ups["reason"]
            .as_str()
            .unwrap()
            .contains("not configured")
    );
    let (answer, _) = run_at(&service, maintain(), "req-1", 0).await;
    let answer = answer.unwrap();
    assert_eq!(answer["tables"][0]["follow_up"]["state"], "off");
    let sent = fakes.events.sent();
    assert_eq!(sent.len(), 1);
    assert!(matches!(
        &sent[0].follow_up,
        Some(partitions::FollowUp::Off { reason }) if reason.contains("PARTITIONS_MAINTENANCE_FOLLOW_UP")
    ));
    assert!(fakes.follow_ups.scheduled().is_empty());
    let (st, _) = run_at(&service, status(), "req-s", 700).await;
    // Past the bound and the margin: the lease is the next run's to take.
    assert_eq!(st.unwrap()["lease"]["state"], "abandoned");
}

#[tokio::test]
async fn a_follow_up_never_takes_the_lease_of_a_run_still_going() {
    let (service, fakes) = follow_up_service();
    // A run holds the table and has left no query (it is still running its statements).
    fakes.registry.leases.put(
        TABLE,
        Lease {
            token: "req-live".into(),
            expires_at: later(120).timestamp(),
            left: None,
        },
    );
    let follow_up =
        json!({"command": "maintain", "table": TABLE, "dry_run": false, "follow_up": "req-live"});
    let (answer, _) = run_at(&service, follow_up, "req-f1", 10).await;
    let answer = answer.unwrap();
    assert!(
        answer["tables"][0]["note"]
            .as_str()
            .unwrap()
            .starts_with("nothing to follow"),
        "{answer}"
    );
    assert_eq!(fakes.registry.leases.get(TABLE).unwrap().token, "req-live");
    assert!(fakes.athena.maintenance.started().is_empty());
}
