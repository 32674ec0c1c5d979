//! The partitions service's orchestration over in-memory fakes of its ports (no moto): batches,
//! backfill and status, including faults moto cannot produce — throttling in the middle of a
//! batch, a claim taken by a concurrent writer, a query whose DDL ran but which was still running
//! at the deadline, calls that took effect but whose response was lost.

mod support;

use serde_json::json;
use streamops_shared::ErrorClass;
use streamops_shared::harness::Classified;
use support::*;

// ------------------------------------------------------------------ event batches

#[tokio::test]
async fn one_statement_per_table_per_batch_when_nothing_fails() {
    let (service, fakes) = service("athena");
    let mut messages = Vec::new();
    for i in 0..6u32 {
        let hour = 10 + i % 3;
        messages.push((
            format!("m{i}"),
            vec![
                hive_key("2026-11-23", hour, &format!("a-{i}.gz")),
                firehose_key("2026-11-23", hour, &format!("b-{i}.gz")),
                hive_key("2026-11-23", hour, &format!("c-{i}.gz")),
            ],
        ));
    }
    let messages: Vec<(&str, Vec<String>)> = messages
        .iter()
        .map(|(id, k)| (id.as_str(), k.clone()))
        .collect();
    let (out, metrics) = invoke_at(&service, sqs_batch(&messages), "req-1", now()).await;
    let answer = out.unwrap();
    assert!(failures(&answer).is_empty(), "{answer}");
    let statements = fakes.athena.statements();
    assert_eq!(
        statements.len(),
        2,
        "one statement per table: {statements:#?}"
    );
    for sql in &statements {
        assert_eq!(clauses(sql), 3, "{sql}");
        assert!(sql.contains("ADD IF NOT EXISTS"), "{sql}");
    }
    assert!(statements[0].starts_with("ALTER TABLE `streamops`.`enriched_events`"));
    assert!(statements[1].starts_with("ALTER TABLE `streamops`.`firehose_events`"));
    let marks = fakes.registry.marks();
    assert_eq!(marks.len(), 6);
    assert!(marks.values().all(|m| m.state == MarkState::Registered));
    assert_eq!(metric(&metrics, "ObjectsReceived"), 18.0);
    assert_eq!(metric(&metrics, "PartitionsRegistered"), 6.0);
    assert_eq!(metric(&metrics, "QueriesRun"), 2.0);

    // The same batch again: every partition is already registered, no statement runs.
    let (out, metrics) = invoke_at(&service, sqs_batch(&messages), "req-2", now()).await;
    assert!(failures(&out.unwrap()).is_empty());
    assert_eq!(fakes.athena.statements().len(), 2);
    assert_eq!(metric(&metrics, "PartitionsAlreadyPresent"), 6.0);
}

#[tokio::test]
async fn a_direct_event_answers_its_summary_with_outcomes_and_skips() {
    let (service, fakes) = service("athena");
    fakes.registry.put(
        &hive_partition("2026-11-23", 9),
        Mark::registered("earlier", i64::MAX),
    );
    let event = s3_event(&[
        &hive_key("2026-11-23", 9, "x.gz"),
        &hive_key("2026-11-23", 10, "y.gz"),
        "enriched/dt=2026-11-23/hour=10/_SUCCESS",
        "other/thing.json",
    ]);
    let answer = invoke(&service, event, "req-1").await.unwrap();
    assert_eq!(answer["source"], "s3");
    assert_eq!(
        (answer["objects"].as_u64(), answer["partitions"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(
        answer["skipped"],
        json!({"success_marker": 1, "no_matching_table": 1})
    );
    assert_eq!(
        (
            answer["registered"].as_u64(),
            answer["already_present"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let outcomes: Vec<(&str, &str)> = answer["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["partition"].as_str().unwrap(),
                o["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(outcomes.contains(&(hive_partition("2026-11-23", 9).as_str(), "already_present")));
    assert!(outcomes.contains(&(hive_partition("2026-11-23", 10).as_str(), "registered")));
}

#[tokio::test]
async fn throttling_mid_batch_reports_exactly_the_messages_of_the_failed_partition() {
    let (service, fakes) = service("athena");
    let k = |hour: u32, n: &str| hive_key("2026-11-23", hour, n);
    // Claims run in registry-key order: hour 10, 11, 12, 13. The second is throttled.
    fakes
        .registry
        .script
        .fail("PutItem (claim)", 2, Fault::Throttled);
    let messages = [
        ("m0", vec![k(10, "a")]),
        ("m1", vec![k(11, "b")]),
        ("m2", vec![k(12, "c"), k(13, "d")]),
        ("m3", vec![k(13, "e"), k(11, "f")]),
        ("m4", vec![k(10, "g")]),
    ];
    let (out, metrics) = invoke_at(&service, sqs_batch(&messages), "req-1", now()).await;
    let answer = out.unwrap();
    assert_eq!(
        failures(&answer),
        ["m1", "m3"].map(String::from).into(),
        "exactly the messages naming hour 11"
    );
    let statements = fakes.athena.statements();
    assert_eq!(statements.len(), 1);
    assert_eq!(
        clauses(&statements[0]),
        3,
        "hours 10, 12 and 13 in one statement"
    );
    assert!(!statements[0].contains("hour` = '11'"));
    assert_eq!(fakes.registry.mark(&hive_partition("2026-11-23", 11)), None);
    assert_eq!(metric(&metrics, "PartitionsFailed"), 1.0);

    // The redelivered messages register hour 11 alone.
    let redelivered = [messages[1].clone(), messages[3].clone()];
    let answer = invoke(&service, sqs_batch(&redelivered), "req-2")
        .await
        .unwrap();
    assert!(failures(&answer).is_empty(), "{answer}");
    let statements = fakes.athena.statements();
    assert_eq!(statements.len(), 2);
    assert_eq!(clauses(&statements[1]), 1);
    assert!(statements[1].contains("hour` = '11'"));
    assert_eq!(
        fakes.athena.catalog().values().max(),
        Some(&1),
        "every partition added once"
    );
}

#[tokio::test]
async fn a_table_whose_ddl_is_throttled_fails_alone_and_its_claims_are_released() {
    let (service, fakes) = service("athena");
    // The first statement (enriched_events) is still throttled when the runner gives up.
    fakes
        .athena
        .script
        .fail("StartQueryExecution", 1, Fault::Throttled);
    let messages = [
        (
            "hive",
            vec![
                hive_key("2026-11-23", 10, "a"),
                hive_key("2026-11-23", 11, "b"),
            ],
        ),
        ("firehose", vec![firehose_key("2026-11-23", 10, "c")]),
    ];
    let answer = invoke(&service, sqs_batch(&messages), "req-1")
        .await
        .unwrap();
    assert_eq!(failures(&answer), ["hive".to_string()].into());
    assert_eq!(
        fakes.registry.mark(&hive_partition("2026-11-23", 10)),
        None,
        "released"
    );
    assert_eq!(
        fakes.registry.mark(&hive_partition("2026-11-23", 11)),
        None,
        "released"
    );
    assert_eq!(
        fakes
            .registry
            .mark(&firehose_partition("2026-11-23", 10))
            .map(|m| m.state),
        Some(MarkState::Registered)
    );
    let answer = invoke(&service, sqs_batch(&messages[..1]), "req-2")
        .await
        .unwrap();
    assert!(failures(&answer).is_empty(), "{answer}");
    assert_eq!(fakes.registry.marks().len(), 3);
}

#[tokio::test]
async fn a_claim_taken_by_a_concurrent_writer_is_not_registered_twice() {
    let (service, fakes) = service("athena");
    let taken = hive_partition("2026-11-23", 11);
    let expiry = now().timestamp() + 600;
    fakes
        .registry
        .concurrent_claim(&taken, Mark::pending("other-invocation", expiry));
    let messages = [
        ("m0", vec![hive_key("2026-11-23", 10, "a")]),
        ("m1", vec![hive_key("2026-11-23", 11, "b")]),
    ];
    let answer = invoke(&service, sqs_batch(&messages), "req-1")
        .await
        .unwrap();
    assert_eq!(
        failures(&answer),
        ["m1".to_string()].into(),
        "in flight elsewhere: retried later"
    );
    let statements = fakes.athena.statements();
    assert_eq!(statements.len(), 1);
    assert!(!statements[0].contains("hour` = '11'"), "{}", statements[0]);
    assert_eq!(
        fakes.registry.mark(&taken),
        Some(Mark::pending("other-invocation", expiry)),
        "the other writer's claim is left alone"
    );

    // The other writer finishes; the redelivered message finds its mark and runs nothing.
    fakes
        .registry
        .put(&taken, Mark::registered("other-invocation", i64::MAX));
    let answer = invoke(&service, sqs_batch(&messages[1..]), "req-2")
        .await
        .unwrap();
    assert!(failures(&answer).is_empty(), "{answer}");
    assert_eq!(fakes.athena.statements().len(), 1);

    // A partition somebody registered between our batch's arrival and our claim: already present.
    let late = hive_partition("2026-11-23", 12);
    fakes
        .registry
        .concurrent_claim(&late, Mark::registered("other-invocation", i64::MAX));
    let answer = invoke(
        &service,
        s3_event(&[&hive_key("2026-11-23", 12, "c")]),
        "req-3",
    )
    .await
    .unwrap();
    assert_eq!(answer["already_present"], 1);
    assert_eq!(fakes.athena.statements().len(), 1);
}

#[tokio::test]
async fn a_claim_taken_over_before_confirm_keeps_the_new_owner_and_adds_the_partition_once() {
    let (service, fakes) = service("athena");
    let key = hive_partition("2026-11-23", 10);
    // Our claim expires while the DDL runs and another invocation takes the partition over.
    fakes
        .registry
        .takeover_before_confirm(&key, Mark::pending("successor", i64::MAX));
    let answer = invoke(
        &service,
        s3_event(&[&hive_key("2026-11-23", 10, "a")]),
        "req-1",
    )
    .await
    .unwrap();
    assert_eq!(answer["registered"], 1);
    assert_eq!(
        fakes.registry.mark(&key),
        Some(Mark::pending("successor", i64::MAX)),
        "our confirm does not overwrite the successor's claim"
    );
    assert_eq!(fakes.athena.catalog().len(), 1);
}

#[tokio::test]
async fn an_athena_timeout_after_the_ddl_ran_makes_the_retry_idempotent() {
    let (service, fakes) = service("athena");
    fakes
        .athena
        .script_queries(&[QueryScript::TimeOutAfterRunning]);
    let event = s3_event(&[
        &hive_key("2026-11-23", 10, "a"),
        &hive_key("2026-11-23", 11, "b"),
    ]);
    let err = invoke(&service, event.clone(), "req-1").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert_eq!(err.kind(), "Registration");
    let text = err.to_string();
    assert!(
        text.contains("2 of 2 partitions not registered")
            && text.contains("still RUNNING at the deadline"),
        "{text}"
    );
    assert!(
        fakes.registry.marks().is_empty(),
        "claims released for the retry"
    );
    assert_eq!(fakes.athena.catalog().len(), 2, "the DDL did run");

    // Lambda retries the event: the same ADD IF NOT EXISTS again, harmless.
    let answer = invoke(&service, event, "req-2").await.unwrap();
    assert_eq!(answer["registered"], 2);
    let statements = fakes.athena.statements();
    assert_eq!(statements.len(), 2);
    assert_eq!(
        statements[0], statements[1],
        "the retry runs the same statement"
    );
    assert!(statements[1].contains("ADD IF NOT EXISTS"));
    assert_ne!(
        fakes.athena.executed()[0].idempotency,
        fakes.athena.executed()[1].idempotency,
        "a new invocation is a new query, not a replay of the old token"
    );
    assert!(
        fakes
            .registry
            .marks()
            .values()
            .all(|m| m.state == MarkState::Registered)
    );
}

#[tokio::test]
async fn a_lost_start_response_and_a_lost_confirm_response_register_each_partition_once() {
    let (service, fakes) = service("athena");
    // The query started and ran, but its StartQueryExecution answer was lost.
    fakes
        .athena
        .script
        .fail("StartQueryExecution", 1, Fault::LostResponse);
    let event = s3_event(&[&hive_key("2026-11-23", 10, "a")]);
    let err = invoke(&service, event.clone(), "req-1").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert!(fakes.registry.marks().is_empty());
    // The retry's confirm takes effect but its answer is lost: the partition counts as registered.
    fakes
        .registry
        .script
        .fail("UpdateItem (confirm)", 1, Fault::LostResponse);
    let answer = invoke(&service, event.clone(), "req-2").await.unwrap();
    assert_eq!(answer["registered"], 1);
    assert_eq!(
        fakes
            .registry
            .mark(&hive_partition("2026-11-23", 10))
            .map(|m| m.state),
        Some(MarkState::Registered)
    );
    assert_eq!(
        fakes.athena.catalog().len(),
        1,
        "one partition in the catalog"
    );
    assert_eq!(
        fakes.athena.statements().len(),
        2,
        "the lost start and the retry"
    );
    // And the next object of that hour runs nothing.
    let answer = invoke(&service, event, "req-3").await.unwrap();
    assert_eq!(answer["already_present"], 1);
    assert_eq!(fakes.athena.statements().len(), 2);
}

#[tokio::test]
async fn a_lost_claim_response_holds_the_partition_until_the_claim_expires() {
    let (service, fakes) = service("athena");
    fakes
        .registry
        .script
        .fail("PutItem (claim)", 1, Fault::LostResponse);
    let messages = [("m0", vec![hive_key("2026-11-23", 10, "a")])];
    let answer = invoke(&service, sqs_batch(&messages), "req-1")
        .await
        .unwrap();
    assert_eq!(failures(&answer), ["m0".to_string()].into());
    assert!(fakes.athena.statements().is_empty());
    // Redelivered after the visibility timeout: our own orphaned claim is in flight.
    let answer = invoke(&service, sqs_batch(&messages), "req-2")
        .await
        .unwrap();
    assert_eq!(failures(&answer), ["m0".to_string()].into());
    // Once the claim has expired, the next delivery registers it.
    let later = now() + chrono::Duration::minutes(10);
    let (out, _) = invoke_at(&service, sqs_batch(&messages), "req-3", later).await;
    assert!(failures(&out.unwrap()).is_empty());
    assert_eq!(fakes.athena.statements().len(), 1);
}

#[tokio::test]
async fn a_failed_query_reports_its_messages_and_a_failed_release_still_fails_them() {
    let (service, fakes) = service("athena");
    fakes.athena.script_queries(&[QueryScript::Fail]);
    fakes
        .registry
        .script
        .fail("DeleteItem (release)", 1, Fault::Throttled);
    let messages = [
        ("m0", vec![hive_key("2026-11-23", 10, "a")]),
        ("m1", vec![hive_key("2026-11-23", 11, "b")]),
    ];
    let (out, metrics) = invoke_at(&service, sqs_batch(&messages), "req-1", now()).await;
    assert_eq!(
        failures(&out.unwrap()),
        ["m0", "m1"].map(String::from).into()
    );
    assert_eq!(metric(&metrics, "QueriesFailed"), 1.0);
    // Hour 10's release was throttled: its claim stays until it expires; hour 11's is gone.
    assert_eq!(
        fakes
            .registry
            .mark(&hive_partition("2026-11-23", 10))
            .map(|m| m.state),
        Some(MarkState::Pending)
    );
    assert_eq!(fakes.registry.mark(&hive_partition("2026-11-23", 11)), None);
}

#[tokio::test]
async fn glue_mode_fails_only_the_entries_that_failed() {
    let (service, fakes) = service("glue");
    fakes.glue.add(
        "streamops",
        "enriched_events",
        &["2026-11-23", "10"],
        "s3://elsewhere/",
    );
    fakes
        .glue
        .fail_entry(&["2026-11-23", "11"], "InternalServiceException");
    let messages = [
        ("m0", vec![hive_key("2026-11-23", 10, "a")]),
        ("m1", vec![hive_key("2026-11-23", 11, "b")]),
        ("m2", vec![hive_key("2026-11-23", 12, "c")]),
    ];
    let answer = invoke(&service, sqs_batch(&messages), "req-1")
        .await
        .unwrap();
    assert_eq!(failures(&answer), ["m1".to_string()].into());
    assert_eq!(
        fakes.glue.batches(),
        [3],
        "one BatchCreatePartition for the table"
    );
    assert!(fakes.athena.statements().is_empty());
    let p = fakes.glue.partitions("streamops", "enriched_events");
    assert_eq!(p.len(), 2);
    assert_eq!(
        p[&vec!["2026-11-23".to_string(), "12".to_string()]],
        format!("s3://{BUCKET}/enriched/dt=2026-11-23/hour=12/")
    );
    assert_eq!(
        fakes
            .registry
            .mark(&hive_partition("2026-11-23", 10))
            .map(|m| m.state),
        Some(MarkState::Registered),
        "already in the catalog counts as registered"
    );
    assert_eq!(fakes.registry.mark(&hive_partition("2026-11-23", 11)), None);

    // A call that fails as a whole fails every partition of the table.
    fakes
        .glue
        .script
        .fail("BatchCreatePartition", 2, Fault::Denied);
    let err = invoke(
        &service,
        s3_event(&[&hive_key("2026-11-23", 13, "d")]),
        "req-2",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("AccessDeniedException"), "{err}");
}

#[tokio::test]
async fn bad_payloads_and_commands_are_permanent() {
    let (service, _) = service("athena");
    for (payload, kind, text) in [
        (json!({"foo": 1}), "BadInput", "top-level keys [\"foo\"]"),
        (
            json!({"Records": [{"eventSource": "aws:kinesis"}]}),
            "BadInput",
            "aws:kinesis",
        ),
        (
            json!({"command": "repair"}),
            "BadCommand",
            "invalid ops command \"repair\"",
        ),
        (
            json!({"command": "backfill", "table": "nope", "from": "2026-11-01", "to": "2026-11-02"}),
            "BadCommand",
            "no table \"nope\" is configured",
        ),
    ] {
        let err = invoke(&service, payload, "req").await.unwrap_err();
        assert_eq!(
            (err.class(), err.kind()),
            (ErrorClass::Permanent, kind),
            "{err}"
        );
        assert!(err.to_string().contains(text), "{err}");
    }
}
