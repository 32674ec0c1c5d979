//! Partitions whose data is gone, over in-memory fakes: a removal whose directory is empty drops
//! the partition (Glue and Athena) and forgets its mark, one whose directory still holds data
//! keeps it, an object landing while the partition is dropped gets it registered again, and a
//! failure reports the message for the redelivery.

mod support;

use serde_json::Value;
use support::*;

const DT: &str = "2026-11-23";

/// Registers hour 10 from two objects, through the service.
async fn registered_hour(mode: &str) -> (Service, Fakes, [String; 2]) {
    let (service, fakes) = service(mode);
    let keys = [hive_key(DT, 10, "a.gz"), hive_key(DT, 10, "b.gz")];
    for k in &keys {
        fakes.data.put(BUCKET, k);
    }
    let out = invoke(&service, sqs_batch(&[("m1", keys.to_vec())]), "req-1").await;
    assert!(failures(&out.unwrap()).is_empty());
    assert_eq!(
        fakes.registry.mark(&hive_partition(DT, 10)).unwrap().state,
        MarkState::Registered
    );
    (service, fakes, keys)
}

fn removal(id: &str, key: &str, event: &str) -> Value {
    sqs_records(&[(id, vec![s3_removal(key, event)])])
}

#[tokio::test]
async fn the_last_object_removed_drops_the_partition_in_glue_and_forgets_its_mark() {
    let (service, fakes, keys) = registered_hour("glue").await;
    assert_eq!(
        fakes.glue.partitions("streamops", "enriched_events").len(),
        1
    );

    // One of two objects removed: data remains, the partition stays.
    fakes.data.remove(BUCKET, &keys[0]);
    let (out, metrics) = invoke_at(
        &service,
        removal("m2", &keys[0], "ObjectRemoved:Delete"),
        "req-2",
        now(),
    )
    .await;
    assert!(failures(&out.unwrap()).is_empty());
    assert_eq!(metric(&metrics, "PartitionsKept"), 1.0);
    assert_eq!(
        fakes.glue.partitions("streamops", "enriched_events").len(),
        1
    );
    assert!(fakes.registry.mark(&hive_partition(DT, 10)).is_some());

    // The last one expires by S3 Lifecycle: dropped, and the mark is gone.
    fakes.data.remove(BUCKET, &keys[1]);
    let (out, metrics) = invoke_at(
        &service,
        removal("m3", &keys[1], "LifecycleExpiration:Delete"),
        "req-3",
        now(),
    )
    .await;
    assert!(failures(&out.unwrap()).is_empty());
    assert_eq!(metric(&metrics, "PartitionsDropped"), 1.0);
    assert!(
        fakes
            .glue
            .partitions("streamops", "enriched_events")
            .is_empty()
    );
    assert!(fakes.registry.mark(&hive_partition(DT, 10)).is_none());

    // A new object there registers the hour again (its mark was forgotten).
    let again = hive_key(DT, 10, "c.gz");
    fakes.data.put(BUCKET, &again);
    let out = invoke(&service, sqs_batch(&[("m4", vec![again])]), "req-4").await;
    assert!(failures(&out.unwrap()).is_empty());
    assert_eq!(
        fakes.glue.partitions("streamops", "enriched_events").len(),
        1
    );
}

#[tokio::test]
async fn athena_drops_the_emptied_hours_in_one_statement_naming_only_their_values() {
    let (service, fakes) = service("athena");
    let keys: Vec<String> = (10..13).map(|h| hive_key(DT, h, "a.gz")).collect();
    for k in &keys {
        fakes.data.put(BUCKET, k);
    }
    invoke(&service, sqs_batch(&[("m1", keys.clone())]), "req-1")
        .await
        .unwrap();
    // Hours 10 and 11 emptied (a delete marker in a versioned bucket, a delete); 12 keeps data.
    fakes.data.remove(BUCKET, &keys[0]);
    fakes.data.remove(BUCKET, &keys[1]);
    let batch = sqs_records(&[
        (
            "m2",
            vec![s3_removal(&keys[0], "ObjectRemoved:DeleteMarkerCreated")],
        ),
        ("m3", vec![s3_removal(&keys[1], "ObjectRemoved:Delete")]),
        (
            "m4",
            vec![s3_removal(
                &hive_key(DT, 12, "gone.gz"),
                "ObjectRemoved:Delete",
            )],
        ),
    ]);
    let answer = invoke(&service, batch, "req-2").await.unwrap();
    assert!(failures(&answer).is_empty(), "{answer}");
    let statements = fakes.athena.statements();
    assert_eq!(statements.len(), 2, "{statements:#?}");
    assert_eq!(
        statements[1],
        "ALTER TABLE `streamops`.`enriched_events` DROP IF EXISTS\n\
         PARTITION (`dt` = '2026-11-23', `hour` = '10'),\n\
         PARTITION (`dt` = '2026-11-23', `hour` = '11')"
    );
    let marks = fakes.registry.marks();
    assert_eq!(
        marks.keys().cloned().collect::<Vec<_>>(),
        vec![hive_partition(DT, 12)]
    );
}

#[tokio::test]
async fn an_object_landing_while_the_partition_is_dropped_gets_it_registered_again() {
    let (service, fakes, keys) = registered_hour("glue").await;
    for k in &keys {
        fakes.data.remove(BUCKET, k);
    }
    // Listing 1 (is it empty?) finds nothing; a new object lands before listing 2 (after the
    // drop), as Firehose writes the hour's next file.
    let late = hive_key(DT, 10, "late.gz");
    let before = fakes.data.script.calls("ListObjectsV2");
    fakes.data.put_before_listing(before + 2, BUCKET, &late);
    let (out, metrics) = invoke_at(
        &service,
        removal("m2", &keys[1], "ObjectRemoved:Delete"),
        "req-2",
        now(),
    )
    .await;
    assert!(failures(&out.unwrap()).is_empty());
    assert_eq!(metric(&metrics, "PartitionsDropped"), 0.0);
    assert_eq!(metric(&metrics, "PartitionsKept"), 1.0);
    assert_eq!(
        fakes.glue.partitions("streamops", "enriched_events").len(),
        1,
        "registered again"
    );
    let mark = fakes.registry.mark(&hive_partition(DT, 10)).unwrap();
    assert_eq!(mark.state, MarkState::Registered);
}

#[tokio::test]
async fn a_failed_listing_or_drop_reports_the_message_and_the_redelivery_drops() {
    let (service, fakes, keys) = registered_hour("glue").await;
    for k in &keys {
        fakes.data.remove(BUCKET, k);
    }
    let event = removal("m2", &keys[1], "ObjectRemoved:Delete");
    fakes
        .data
        .script
        .fail_next("ListObjectsV2", Fault::Throttled);
    let answer = invoke(&service, event.clone(), "req-2").await.unwrap();
    assert_eq!(failures(&answer), ["m2".to_string()].into());
    assert_eq!(
        fakes.glue.partitions("streamops", "enriched_events").len(),
        1
    );

    fakes
        .glue
        .script
        .fail_next("BatchDeletePartition", Fault::ServerError);
    let answer = invoke(&service, event.clone(), "req-3").await.unwrap();
    assert_eq!(failures(&answer), ["m2".to_string()].into());
    assert_eq!(
        fakes.glue.partitions("streamops", "enriched_events").len(),
        1
    );

    let answer = invoke(&service, event, "req-4").await.unwrap();
    assert!(failures(&answer).is_empty(), "{answer}");
    assert!(
        fakes
            .glue
            .partitions("streamops", "enriched_events")
            .is_empty()
    );
    assert!(fakes.registry.mark(&hive_partition(DT, 10)).is_none());
}

#[tokio::test]
async fn a_batch_that_adds_and_removes_in_one_directory_ends_with_what_is_there() {
    let (service, fakes) = service("glue");
    let (kept, gone) = (hive_key(DT, 14, "kept.gz"), hive_key(DT, 15, "gone.gz"));
    fakes.data.put(BUCKET, &kept);
    // Hour 14: created and another object removed, data left. Hour 15: created then removed.
    let batch = sqs_records(&[
        ("m1", vec![s3_record(&kept), s3_record(&gone)]),
        (
            "m2",
            vec![
                s3_removal(&hive_key(DT, 14, "old.gz"), "ObjectRemoved:Delete"),
                s3_removal(&gone, "ObjectRemoved:Delete"),
            ],
        ),
    ]);
    let answer = invoke(&service, batch, "req-1").await.unwrap();
    assert!(failures(&answer).is_empty(), "{answer}");
    let left: Vec<Vec<String>> = fakes
        .glue
        .partitions("streamops", "enriched_events")
        .into_keys()
        .collect();
    assert_eq!(left, vec![vec![DT.to_string(), "14".to_string()]]);
}

#[tokio::test]
async fn prune_lists_then_drops_the_registered_hours_of_its_range_and_nothing_else() {
    let (service, fakes) = service("glue");
    let keys: Vec<String> = (8..12).map(|h| hive_key(DT, h, "a.gz")).collect();
    invoke(&service, sqs_batch(&[("m1", keys)]), "req-1")
        .await
        .unwrap();
    let prune = |dry_run: bool| {
        serde_json::json!({"command": "prune", "table": "enriched_events",
                           "from": "2026-11-23T00", "to": "2026-11-23T10", "dry_run": dry_run})
    };
    let plan = invoke(&service, prune(true), "req-2").await.unwrap();
    assert_eq!(plan["partitions"], 2, "{plan}");
    assert_eq!(
        plan["listed"][0],
        format!("s3://{BUCKET}/enriched/dt={DT}/hour=08/")
    );
    assert_eq!(
        fakes.glue.partitions("streamops", "enriched_events").len(),
        4,
        "a dry run drops nothing"
    );

    let done = invoke(&service, prune(false), "req-3").await.unwrap();
    assert_eq!(done["dropped"], 2, "{done}");
    let left: Vec<Vec<String>> = fakes
        .glue
        .partitions("streamops", "enriched_events")
        .into_keys()
        .collect();
    assert_eq!(
        left,
        vec![
            vec![DT.to_string(), "10".into()],
            vec![DT.to_string(), "11".into()]
        ]
    );
    assert!(fakes.registry.mark(&hive_partition(DT, 8)).is_none());
    assert!(fakes.registry.mark(&hive_partition(DT, 10)).is_some());

    // A failed drop fails the command retryably, naming the partition; running it again finishes.
    let (service, fakes) = support::service("glue");
    invoke(
        &service,
        sqs_batch(&[("m1", vec![hive_key(DT, 8, "a.gz")])]),
        "req-1",
    )
    .await
    .unwrap();
    fakes
        .glue
        .script
        .fail_next("BatchDeletePartition", Fault::Throttled);
    let err = invoke(&service, prune(false), "req-2").await.unwrap_err();
    assert!(err.to_string().contains("dt=2026-11-23/hour=08"), "{err}");
    let done = invoke(&service, prune(false), "req-3").await.unwrap();
    assert_eq!(done["dropped"], 1, "{done}");
}
