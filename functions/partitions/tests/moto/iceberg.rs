//! Iceberg tables on moto: their objects register nothing; `maintain` puts OPTIMIZE then VACUUM
//! into the workgroup in order, each with the table's database, and follows each query's
//! lifecycle (polled to SUCCEEDED; past its runtime bound, stopped: moto then holds it
//! CANCELLED; at the invocation's deadline, left as it is, the table's VACUUM not started and
//! its lease kept in the registry, so the next run starts nothing until the bound has passed and
//! then stops it);
//! a failed or stopped query reaches a queue through an EventBridge rule as alerts' rule takes
//! it. moto records the statements without running them: compaction itself is not shown.

use std::time::Duration;

use crate::events::*;
use crate::harness::*;
use chrono::Utc;
use serde_json::{Value, json};

/// The deployed Hive table beside two Iceberg ones.
fn tables() -> String {
    json!([
        {"bucket": BUCKET, "prefix": "enriched/", "database": "streamops", "table": "enriched_events",
         "layout": "hive", "error_prefix": "firehose-errors/"},
        {"format": "iceberg", "bucket": BUCKET, "prefix": "iceberg/enriched/", "database": "streamops",
         "table": "enriched_iceberg", "optimize_where": {"column": "event_day", "last_days": 7}},
        {"format": "iceberg", "bucket": BUCKET, "prefix": "iceberg/audit/", "database": "streamops",
         "table": "audit_iceberg", "optimize": false}
    ])
    .to_string()
}

async fn iceberg_harness() -> Harness {
    harness_with("athena", &[("PARTITIONS_TABLES", &tables())], None).await
}

/// What moto holds of each query of the workgroup, oldest first: text, state, database.
async fn executions(h: &Harness) -> Vec<(String, String, String)> {
    let athena = aws_sdk_athena::Client::new(&h.sdk);
    let ids = athena
        .list_query_executions()
        .work_group(WORKGROUP)
        .send()
        .await
        .unwrap()
        .query_execution_ids
        .unwrap_or_default();
    let mut out = Vec::new();
    for id in ids {
        let q = athena
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .unwrap()
            .query_execution
            .unwrap();
        let state = q.status.and_then(|s| s.state).unwrap();
        let database = q.query_execution_context.and_then(|c| c.database).unwrap();
        out.push((q.query.unwrap(), state.as_str().to_string(), database));
    }
    out
}

/// A queue the partitions maintenance events reach through a rule on the default bus.
async fn alert_queue(h: &Harness) -> String {
    let sqs = aws_sdk_sqs::Client::new(&h.sdk);
    let url = sqs
        .create_queue()
        .queue_name("maintenance-alerts")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let events = aws_sdk_eventbridge::Client::new(&h.sdk);
    events
        .put_rule()
        .name("iceberg-maintenance")
        .event_pattern(
            json!({"source": [partitions::EVENT_SOURCE], "detail-type": [partitions::MAINTENANCE_DETAIL_TYPE]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("iceberg-maintenance")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("alerts")
                .arn("arn:aws:sqs:us-east-1:123456789012:maintenance-alerts")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    url
}

fn optimize_sql() -> String {
    let start = (Utc::now() - chrono::Days::new(7)).format("%Y-%m-%d");
    format!(
        "OPTIMIZE \"streamops\".\"enriched_iceberg\" REWRITE DATA USING BIN_PACK WHERE \"event_day\" >= DATE '{start}'"
    )
}

const VACUUM: &str = "VACUUM \"streamops\".\"enriched_iceberg\"";

fn maintain(table: &str) -> Value {
    json!({"command": "maintain", "table": table, "dry_run": false})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iceberg_objects_register_nothing_and_maintain_runs_optimize_then_vacuum() {
    let h = iceberg_harness().await;
    let key = "iceberg/enriched/data/event_day=2026-11-23/00000-0-a.parquet";
    h.put_object(key).await;
    let resp = h
        .handle(sqs_batch(&[key.to_string()], Utc::now()), "req-objects")
        .await
        .unwrap();
    assert!(failures(&resp).is_empty(), "{resp}");
    assert!(h.queries().await.is_empty(), "an Iceberg object ran DDL");
    assert_eq!(h.metric("ObjectsSkipped", Some("iceberg_table")), 1.0);

    let plan = h
        .handle(json!({"command": "maintain"}), "req-dry")
        .await
        .unwrap();
    assert_eq!(plan["tables"][0]["statements"][0]["sql"], optimize_sql());
    assert!(h.queries().await.is_empty(), "a dry run started queries");

    let resp = h
        .handle(maintain("enriched_iceberg"), "req-maintain")
        .await
        .unwrap();
    assert_eq!(resp["failures"], 0, "{resp}");
    let queries = resp["tables"][0]["queries"].as_array().unwrap();
    assert_eq!(
        executions(&h).await,
        vec![
            (
                optimize_sql(),
                "SUCCEEDED".to_string(),
                "streamops".to_string()
            ),
            (
                VACUUM.to_string(),
                "SUCCEEDED".to_string(),
                "streamops".to_string()
            ),
        ]
    );
    for q in queries {
        assert_eq!(q["outcome"], "succeeded", "{q}");
        assert!(q["query_execution_id"].as_str().unwrap().len() > 8);
    }
    assert_eq!(h.metric("IcebergMaintenanceRuns", None), 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_past_their_runtime_bound_are_stopped_and_alerted_through_eventbridge() {
    let mut h = iceberg_harness().await;
    let queue = alert_queue(&h).await;
    // Below the configured minimum of 60 s, so the test takes seconds.
    h.service.config.tables.iceberg[0].max_runtime = Duration::from_secs(1);
    h.faults.script.lock().unwrap().extend(["RUNNING"; 400]);
    let resp = h
        .handle(maintain("enriched_iceberg"), "req-stop")
        .await
        .unwrap();
    h.faults.script.lock().unwrap().clear();
    let queries = resp["tables"][0]["queries"].as_array().unwrap();
    for q in queries {
        assert_eq!(q["outcome"], "stopped", "{q}");
        assert_eq!(q["reason"], "ran past its max_runtime_seconds (1)");
    }
    // StopQueryExecution reached moto: both queries are CANCELLED there.
    let states: Vec<(String, String)> = executions(&h)
        .await
        .into_iter()
        .map(|(sql, state, _)| (sql, state))
        .collect();
    assert_eq!(
        states,
        vec![
            (optimize_sql(), "CANCELLED".to_string()),
            (VACUUM.to_string(), "CANCELLED".to_string())
        ]
    );
    let bodies = streamops_test_support::drain_queue(&h.sdk, &queue).await;
    let mut details: Vec<Value> = bodies
        .iter()
        .map(|b| serde_json::from_str::<Value>(b).unwrap())
        .inspect(|e| {
            assert_eq!(e["source"], "streamops.partitions");
            assert_eq!(e["detail-type"], "Iceberg Maintenance");
        })
        .map(|e| e["detail"].clone())
        .collect();
    details.sort_by_key(|d| d["operation"].to_string());
    assert_eq!(details.len(), 2, "{bodies:?}");
    assert_eq!(details[0]["operation"], "optimize");
    assert_eq!(details[0]["outcome"], "stopped");
    assert_eq!(details[0]["table"], "streamops.enriched_iceberg");
    assert_eq!(details[0]["function"], "partitions");
    assert_eq!(
        details[0]["query_execution_id"],
        queries[0]["query_execution_id"]
    );
    assert_eq!(h.metric("IcebergMaintenanceFailures", None), 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_optimize_is_alerted_and_vacuum_still_reaches_athena() {
    let h = iceberg_harness().await;
    let queue = alert_queue(&h).await;
    // The first poll of OPTIMIZE answers FAILED; VACUUM's polls are moto's own.
    h.faults.script.lock().unwrap().push_back("FAILED");
    let resp = h
        .handle(maintain("enriched_iceberg"), "req-fail")
        .await
        .unwrap();
    let queries = resp["tables"][0]["queries"].as_array().unwrap();
    assert_eq!(queries[0]["outcome"], "failed", "{resp}");
    assert!(queries[0]["reason"].as_str().unwrap().contains("injected"));
    assert_eq!(queries[1]["outcome"], "succeeded");
    let texts: Vec<String> = executions(&h).await.into_iter().map(|e| e.0).collect();
    assert_eq!(texts, vec![optimize_sql(), VACUUM.to_string()]);
    let bodies = streamops_test_support::drain_queue(&h.sdk, &queue).await;
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let detail = &serde_json::from_str::<Value>(&bodies[0]).unwrap()["detail"];
    assert_eq!(
        (detail["operation"].as_str(), detail["outcome"].as_str()),
        (Some("optimize"), Some("failed"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_deadline_the_query_is_left_holding_the_lease_until_the_next_run_past_its_bound() {
    let h = iceberg_harness().await;
    h.faults.script.lock().unwrap().extend(["RUNNING"; 2000]);
    // 14 s left: 11 s of budget after the reserve, inside the 1,800 s runtime bound.
    let resp = h
        .handle_within(
            maintain("enriched_iceberg"),
            "req-deadline",
            Duration::from_secs(14),
        )
        .await
        .unwrap();
    h.faults.script.lock().unwrap().clear();
    let queries = resp["tables"][0]["queries"].as_array().unwrap();
    assert_eq!(queries[0]["outcome"], "left_running", "{resp}");
    assert_eq!(
        resp["left_running"],
        json!([queries[0]["query_execution_id"]])
    );
    assert_eq!(queries[1]["outcome"], "skipped");
    // Not stopped (moto's query ran to SUCCEEDED on its own), and nothing after it started.
    let states: Vec<(String, String)> = executions(&h)
        .await
        .into_iter()
        .map(|(sql, state, _)| (sql, state))
        .collect();
    assert_eq!(states, vec![(optimize_sql(), "SUCCEEDED".to_string())]);
    assert_eq!(h.metric("IcebergMaintenanceLeftRunning", None), 1.0);

    // The query holds the table's lease in the registry: the next run starts nothing.
    let left_id = queries[0]["query_execution_id"]
        .as_str()
        .unwrap()
        .to_string();
    let lease = lease_item(&h).await.expect("the lease is kept");
    assert_eq!(lease["query_execution_id"].as_s().unwrap(), &left_id);
    assert_eq!(lease["operation"].as_s().unwrap(), "optimize");
    let held = h
        .handle(maintain("enriched_iceberg"), "req-next")
        .await
        .unwrap();
    assert_eq!(
        held["tables"][0]["queries"][0]["outcome"], "skipped",
        "{held}"
    );
    assert_eq!(executions(&h).await.len(), 1);

    // Past its bound (the lease expired), the next run stops it if it still runs, then maintains.
    expire_lease(&h).await;
    h.faults.script.lock().unwrap().push_back("RUNNING");
    let resp = h
        .handle(maintain("enriched_iceberg"), "req-after")
        .await
        .unwrap();
    let queries = resp["tables"][0]["queries"].as_array().unwrap();
    assert_eq!(
        queries[0]["query_execution_id"].as_str(),
        Some(left_id.as_str())
    );
    assert_eq!(queries[0]["outcome"], "stopped", "{resp}");
    assert_eq!(
        (
            queries[1]["outcome"].as_str(),
            queries[2]["outcome"].as_str()
        ),
        (Some("succeeded"), Some("succeeded"))
    );
    let states: Vec<String> = executions(&h).await.into_iter().map(|e| e.1).collect();
    assert_eq!(states, vec!["CANCELLED", "SUCCEEDED", "SUCCEEDED"]);
    assert!(lease_item(&h).await.is_none(), "released");
}

const LEASE_KEY: &str = "#maintenance/streamops.enriched_iceberg";

async fn lease_item(
    h: &Harness,
) -> Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    aws_sdk_dynamodb::Client::new(&h.sdk)
        .get_item()
        .table_name(REGISTRY)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(LEASE_KEY.into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

async fn expire_lease(h: &Harness) {
    aws_sdk_dynamodb::Client::new(&h.sdk)
        .update_item()
        .table_name(REGISTRY)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(LEASE_KEY.into()),
        )
        // Past its bound: started long enough ago, and the lease expired.
        .update_expression("SET expires_at = :past, started_at = :past")
        .expression_attribute_values(
            ":past",
            aws_sdk_dynamodb::types::AttributeValue::N("1".into()),
        )
        .send()
        .await
        .unwrap();
}
