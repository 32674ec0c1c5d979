//! Registration through Athena: bursts registered with one statement per table, a failed,
//! re-queued or throttled query, a key carrying SQL, a partition another invocation is
//! registering, and every sample input shape.

use crate::events::*;
use crate::harness::*;
use chrono::Utc;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use streamops_test_support::fixture;

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_1000_objects_over_3_hours_registers_3_partitions_with_one_statement_and_a_second_burst_runs_no_query()
 {
    let h = harness("athena").await;
    let event = sqs_batch(
        &burst_keys("firehose/", 1000),
        Utc::now() - chrono::Duration::seconds(30),
    );

    let resp = h.handle(event.clone(), "req-burst-1").await.unwrap();
    assert!(failures(&resp).is_empty(), "{resp}");
    let queries = h.queries().await;
    assert_eq!(queries.len(), 1, "{queries:#?}");
    assert_eq!(
        queries[0],
        format!(
            "ALTER TABLE `streamops`.`firehose_events` ADD IF NOT EXISTS\n\
             PARTITION (`dt` = '2026-11-23', `hour` = '10') LOCATION 's3://{BUCKET}/firehose/2026/11/23/10/'\n\
             PARTITION (`dt` = '2026-11-23', `hour` = '11') LOCATION 's3://{BUCKET}/firehose/2026/11/23/11/'\n\
             PARTITION (`dt` = '2026-11-23', `hour` = '12') LOCATION 's3://{BUCKET}/firehose/2026/11/23/12/'"
        )
    );
    for hour in ["10", "11", "12"] {
        let key = format!("streamops.firehose_events/dt=2026-11-23/hour={hour}");
        assert_eq!(
            h.registry_state(&key).await.as_deref(),
            Some("registered"),
            "{key}"
        );
    }
    assert_eq!(h.metric("PartitionsRegistered", None), 3.0);
    assert_eq!(h.metric("QueriesRun", None), 1.0);
    assert_eq!(h.metric("ObjectsReceived", None), 1000.0);
    assert_eq!(
        h.metric("RegistrationLag", None),
        3.0,
        "one lag observation per registered partition"
    );

    // The same burst again (a redelivery, or more objects in the same hours): no query at all.
    let resp = h.handle(event, "req-burst-2").await.unwrap();
    assert!(failures(&resp).is_empty(), "{resp}");
    assert_eq!(h.queries().await.len(), 1, "the second burst ran a query");
    assert_eq!(h.metric("PartitionsAlreadyPresent", None), 3.0);
    assert_eq!(h.metric("PartitionsRegistered", None), 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_statement_per_table_for_a_burst_over_three_layouts() {
    let h = harness("athena").await;
    let mut keys = burst_keys("firehose/", 600);
    keys.extend((0..200).map(|i| format!("flink/2026-11-23--{:02}/part-5c1e-{i}", 10 + i % 3)));
    keys.extend((0..200).map(|i| {
        format!(
            "enriched/dt%3D2026-11-23/hour%3D{:02}/part+{i}.json",
            10 + i % 3
        )
    }));
    let resp = h
        .handle(sqs_batch(&keys, Utc::now()), "req-tables")
        .await
        .unwrap();
    assert!(failures(&resp).is_empty(), "{resp}");
    let queries = h.queries().await;
    assert_eq!(queries.len(), 3, "{queries:#?}");
    let mut tables: Vec<&str> = queries
        .iter()
        .map(|q| q.split_whitespace().nth(2).unwrap())
        .collect();
    tables.sort();
    assert_eq!(
        tables,
        vec![
            "`streamops`.`enriched_events`",
            "`streamops`.`firehose_events`",
            "`streamops`.`flink_events`"
        ]
    );
    for q in &queries {
        assert_eq!(partition_clauses(q), 3, "{q}");
    }
    let hive = queries
        .iter()
        .find(|q| q.contains("enriched_events"))
        .unwrap();
    assert!(
        hive.contains(&format!(
            "LOCATION 's3://{BUCKET}/enriched/dt=2026-11-23/hour=10/'"
        )),
        "{hive}"
    );
    let flink = queries.iter().find(|q| q.contains("flink_events")).unwrap();
    assert!(
        flink.contains(&format!("LOCATION 's3://{BUCKET}/flink/2026-11-23--11/'")),
        "{flink}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_query_releases_its_marks_reports_the_messages_and_the_retry_registers() {
    let h = harness("athena").await;
    let keys = vec![
        "firehose/2026/11/23/10/a.gz".to_string(),
        "firehose/2026/11/23/10/b.gz".to_string(),
        "firehose/2026/11/23/11/c.gz".to_string(),
        "firehose/2026/11/23/11/_SUCCESS".to_string(),
    ];
    let mut event = sqs_batch(&keys, Utc::now());
    // A test event in the same batch is skipped, never failed.
    event["Records"].as_array_mut().unwrap().push(sqs_message(
        "m-test",
        &json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}),
    ));

    h.faults.fail_queries.store(true, Ordering::SeqCst);
    let resp = h.handle(event.clone(), "req-fail").await.unwrap();
    assert_eq!(
        failures(&resp),
        BTreeSet::from(["m-0".to_string(), "m-1".to_string(), "m-2".to_string()])
    );
    for hour in ["10", "11"] {
        let key = format!("streamops.firehose_events/dt=2026-11-23/hour={hour}");
        assert_eq!(
            h.registry_state(&key).await,
            None,
            "mark for {key} was not released"
        );
    }
    assert_eq!(h.metric("QueriesFailed", None), 1.0);
    assert_eq!(h.metric("PartitionsFailed", None), 2.0);
    assert_eq!(h.metric("ObjectsSkipped", Some("test_event")), 1.0);
    assert_eq!(h.metric("ObjectsSkipped", Some("success_marker")), 1.0);

    // Direct S3 invocations fail the invocation instead (Lambda retries the event).
    let direct = json!({"Records": [s3_record("firehose/2026/11/23/12/d.gz", 10, Utc::now())]});
    let err = h
        .handle(direct.clone(), "req-fail-direct")
        .await
        .unwrap_err();
    assert!(
        err.contains("1 of 1 partitions not registered") && err.contains("failed_user"),
        "{err}"
    );

    // The fault clears; SQS redelivers the failed messages and they register.
    h.faults.fail_queries.store(false, Ordering::SeqCst);
    let resp = h.handle(event, "req-retry").await.unwrap();
    assert!(failures(&resp).is_empty(), "{resp}");
    let queries = h.queries().await;
    assert_eq!(
        queries.len(),
        3,
        "failed, failed direct, retry: {queries:#?}"
    );
    assert_eq!(partition_clauses(&queries[2]), 2);
    assert_eq!(
        h.registry_state("streamops.firehose_events/dt=2026-11-23/hour=11")
            .await
            .as_deref(),
        Some("registered")
    );
    h.handle(direct, "req-retry-direct").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_injection_through_a_key_is_rejected_and_never_reaches_athena() {
    let h = harness("athena").await;
    // Keys as S3 sends them: form-URL-encoded (' is %27, ; is %3B, space is +, = is %3D).
    let attacks = [
        "firehose/2026/11/23/10%27%29+LOCATION+%27s3%3A%2F%2Fevil%2F%27%3B+DROP+TABLE+enriched_events%3B+--/x.gz",
        "enriched/dt%3D2026-11-23%27+OR+%271%27%3D%271/hour%3D10/x.json",
        "enriched/dt%3D2026-11-23/hour%3D10%5C%27%29%3B+DROP+DATABASE+streamops%3B--/x.json",
        "flink/2026-11-23--10%60%3B+DROP+TABLE+flink_events/part-0",
        "firehose/2026/11/23/1%27/x.gz",
    ];
    let mut keys: Vec<String> = attacks.iter().map(|s| s.to_string()).collect();
    keys.push("enriched/dt%3D2026-11-23/hour%3D10/legit.gz".into());
    let resp = h
        .handle(sqs_batch(&keys, Utc::now()), "req-inject")
        .await
        .unwrap();
    // Poison is skipped (a retry cannot fix it), not reported for redelivery.
    assert!(failures(&resp).is_empty(), "{resp}");
    assert_eq!(
        h.metric("ObjectsSkipped", Some("invalid_key")),
        attacks.len() as f64
    );
    let queries = h.queries().await;
    assert_eq!(queries.len(), 1);
    assert_eq!(
        queries[0],
        format!(
            "ALTER TABLE `streamops`.`enriched_events` ADD IF NOT EXISTS\n\
             PARTITION (`dt` = '2026-11-23', `hour` = '10') LOCATION 's3://{BUCKET}/enriched/dt=2026-11-23/hour=10/'"
        )
    );
    for q in &queries {
        for bad in ["DROP", "evil", "OR '1'", ";", "--"] {
            assert!(!q.contains(bad), "{bad:?} reached Athena: {q}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeued_and_throttled_queries_still_register() {
    let h = harness("athena").await;
    h.faults.throttle_starts.store(2, Ordering::SeqCst);
    h.faults
        .script
        .lock()
        .unwrap()
        .extend(["QUEUED", "RUNNING", "QUEUED", "RUNNING"]);
    let resp = h
        .handle(
            json!({"Records": [s3_record("firehose/2026/11/23/10/a.gz", 10, Utc::now())]}),
            "req-requeue",
        )
        .await
        .unwrap();
    assert_eq!(resp["registered"], 1, "{resp}");
    assert_eq!(h.faults.throttled.load(Ordering::SeqCst), 2);
    assert!(
        h.faults.script.lock().unwrap().is_empty(),
        "the scripted states were not all polled"
    );
    assert_eq!(
        h.queries().await.len(),
        1,
        "a throttled start must not run twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_another_invocation_is_registering_is_retried_later() {
    let h = harness("athena").await;
    let ddb = aws_sdk_dynamodb::Client::new(&h.sdk);
    use aws_sdk_dynamodb::types::AttributeValue;
    ddb.put_item()
        .table_name(REGISTRY)
        .item(
            "pk",
            AttributeValue::S("streamops.firehose_events/dt=2026-11-23/hour=10".into()),
        )
        .item("state", AttributeValue::S("pending".into()))
        .item("token", AttributeValue::S("someone-else".into()))
        .item(
            "expires_at",
            AttributeValue::N((Utc::now().timestamp() + 300).to_string()),
        )
        .send()
        .await
        .unwrap();
    let keys = vec![
        "firehose/2026/11/23/10/a.gz".to_string(),
        "firehose/2026/11/23/11/b.gz".to_string(),
    ];
    let resp = h
        .handle(sqs_batch(&keys, Utc::now()), "req-inflight")
        .await
        .unwrap();
    assert_eq!(
        failures(&resp),
        BTreeSet::from(["m-0".to_string()]),
        "{resp}"
    );
    let queries = h.queries().await;
    assert_eq!(queries.len(), 1);
    assert!(queries[0].contains("`hour` = '11'") && !queries[0].contains("`hour` = '10'"));
    // The other invocation's claim is left alone.
    assert_eq!(
        h.registry_state("streamops.firehose_events/dt=2026-11-23/hour=10")
            .await
            .as_deref(),
        Some("pending")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_events_register_through_every_input_shape() {
    let h = harness("athena").await;
    let direct = h
        .handle(fixture("partitions/s3-object-created.json"), "req-direct")
        .await
        .unwrap();
    assert_eq!(direct["registered"], 2, "{direct}");
    let eb = h
        .handle(
            fixture("partitions/eventbridge-object-created.json"),
            "req-eb",
        )
        .await
        .unwrap();
    assert_eq!(
        (eb["registered"].as_u64(), eb["already_present"].as_u64()),
        (Some(0), Some(1)),
        "{eb}"
    );
    let sqs = h
        .handle(fixture("partitions/sqs-s3-notifications.json"), "req-sqs")
        .await
        .unwrap();
    assert!(failures(&sqs).is_empty(), "{sqs}");
    assert_eq!(
        h.queries().await.len(),
        1,
        "hours 10 and 11 were registered by the first event"
    );
    assert_eq!(h.metric("ObjectsSkipped", Some("test_event")), 1.0);
    let err = h
        .handle(json!({"hello": "world"}), "req-unknown")
        .await
        .unwrap_err();
    assert!(
        err.contains("not an SQS batch, an S3 notification"),
        "{err}"
    );
    let err = h
        .handle(json!({"command": "repair"}), "req-unknown")
        .await
        .unwrap_err();
    assert!(err.contains("invalid ops command \"repair\""), "{err}");
}
