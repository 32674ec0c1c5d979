//! Follow-ups on moto: a query left at the deadline gets one EventBridge Scheduler one-time
//! schedule, as Scheduler holds it (expression, zone, target, role, input, deleted after it
//! ran), asked for again as a no-op; the command it carries takes the lease over in DynamoDB,
//! finds the query ended, runs VACUUM and releases the table; `status` reads the kept run back.
//! moto does not fire schedules: the test sends the schedule's input as Scheduler would.

use std::time::Duration;

use crate::harness::*;
use partitions::{FollowUpScheduler, SchedulerFollowUps};
use serde_json::{Value, json};

const FOLLOW_UP: &str = r#"{"target_arn":"arn:aws:lambda:us-east-1:123456789012:function:s-partitions","role_arn":"arn:aws:iam::123456789012:role/s-maintenance","name_prefix":"s-mfu-","dead_letter_arn":"arn:aws:sqs:us-east-1:123456789012:s-dlq","every_seconds":300}"#;

fn tables() -> String {
    json!([{"format": "iceberg", "bucket": BUCKET, "prefix": "iceberg/enriched/",
            "database": "streamops", "table": "enriched_iceberg", "max_runtime_seconds": 1800}])
    .to_string()
}

fn maintain() -> Value {
    json!({"command": "maintain", "table": "enriched_iceberg", "dry_run": false})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_left_query_gets_one_schedule_whose_command_takes_the_lease_over_and_finishes_the_table()
{
    let h = harness_with(
        "athena",
        &[
            ("PARTITIONS_TABLES", &tables()),
            ("PARTITIONS_MAINTENANCE_FOLLOW_UP", FOLLOW_UP),
        ],
        None,
    )
    .await;
    h.faults.script.lock().unwrap().extend(["RUNNING"; 2000]);
    let first = h
        .handle_within(maintain(), "req-deadline", Duration::from_secs(14))
        .await
        .unwrap();
    h.faults.script.lock().unwrap().clear();
    let follow_up = &first["tables"][0]["follow_up"];
    assert_eq!(follow_up["state"], "scheduled", "{first}");
    let name = follow_up["schedule"].as_str().unwrap().to_string();

    let scheduler = aws_sdk_scheduler::Client::new(&h.sdk);
    let s = scheduler.get_schedule().name(&name).send().await.unwrap();
    let expression = s.schedule_expression().unwrap();
    let at = follow_up["at"].as_str().unwrap();
    assert_eq!(expression, format!("at({})", &at[..19]));
    assert_eq!(s.schedule_expression_timezone(), Some("UTC"));
    assert_eq!(
        s.action_after_completion().map(|a| a.as_str()),
        Some("DELETE")
    );
    let target = s.target().unwrap();
    assert_eq!(
        target.arn(),
        "arn:aws:lambda:us-east-1:123456789012:function:s-partitions"
    );
    assert_eq!(
        target.role_arn(),
        "arn:aws:iam::123456789012:role/s-maintenance"
    );
    assert_eq!(
        target.dead_letter_config().and_then(|d| d.arn()),
        Some("arn:aws:sqs:us-east-1:123456789012:s-dlq")
    );
    let input: Value = serde_json::from_str(target.input().unwrap()).unwrap();
    assert_eq!(
        input,
        json!({"command": "maintain", "table": "streamops.enriched_iceberg", "dry_run": false,
               "follow_up": "req-deadline"})
    );

    // Asked for again (a retried run): Scheduler's conflict is the adapter's success.
    let again = SchedulerFollowUps::new(
        aws_sdk_scheduler::Client::new(&h.sdk).into(),
        partitions::FollowUpConfig::parse(FOLLOW_UP).ok(),
    );
    let at_time = chrono::DateTime::parse_from_rfc3339(at).unwrap().to_utc();
    again.schedule_once(&name, at_time, &input).await.unwrap();
    let listed = scheduler.list_schedules().send().await.unwrap();
    assert_eq!(listed.schedules().len(), 1);

    // Scheduler sends the input: moto's query has ended, so VACUUM runs and the table is free.
    let resp = h.handle(input, "req-follow-up").await.unwrap();
    let queries = resp["tables"][0]["queries"].as_array().unwrap();
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
        vec![("optimize", "succeeded"), ("vacuum", "succeeded")],
        "{resp}"
    );
    assert_eq!(
        queries[0]["query_execution_id"],
        first["tables"][0]["queries"][0]["query_execution_id"]
    );
    let status = h
        .handle(
            json!({"command": "status", "table": "enriched_iceberg"}),
            "req-status",
        )
        .await
        .unwrap();
    assert_eq!(status["lease"], json!({"state": "free"}), "{status}");
    assert_eq!(
        status["last_run"]["tables"][0]["queries"][1]["outcome"],
        "succeeded"
    );
    // A follow-up delivered again finds nothing to follow and changes nothing.
    let stale = h
        .handle(
            json!({"command": "maintain", "table": "enriched_iceberg", "dry_run": false,
                   "follow_up": "req-deadline"}),
            "req-late",
        )
        .await
        .unwrap();
    assert_eq!(stale["tables"][0]["queries"], json!([]));
    let after = h
        .handle(
            json!({"command": "status", "table": "enriched_iceberg"}),
            "req-status-2",
        )
        .await
        .unwrap();
    assert_eq!(after["last_run"], status["last_run"]);
}
