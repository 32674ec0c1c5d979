//! Tables with named keys on moto, in Glue mode (moto's Athena records DDL without applying it,
//! so only Glue shows what was registered): an object under `source=web/dt=…/hour=…/` registers
//! the partition with its values, a hostile value registers nothing, and backfills over two
//! sources (enumerated) and over tenants (a delimited listing of moto's S3) register each. The
//! listing adapter's contract (pages, the limit) and one Athena statement's text close it.

use crate::events::*;
use crate::harness::*;
use chrono::Utc;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn keyed_tables() -> String {
    json!([
        {"bucket": BUCKET, "prefix": "events/", "database": "streamops", "table": "by_source",
         "layout": "source={source}/dt={yyyy}-{MM}-{dd}/hour={HH}/",
         "keys": {"source": {"values": ["web", "app"]}},
         "columns": [{"name": "source", "value": "{source}"}, {"name": "dt", "value": "{yyyy}-{MM}-{dd}"},
                     {"name": "hour", "value": "{HH}"}]},
        {"bucket": BUCKET, "prefix": "tenants/", "database": "streamops", "table": "by_tenant",
         "layout": "tenant={tenant}/dt={yyyy}-{MM}-{dd}/hour={HH}/",
         "keys": {"tenant": {"pattern": "a-z0-9_-", "max_len": 32}},
         "columns": [{"name": "tenant", "value": "{tenant}"}, {"name": "dt", "value": "{yyyy}-{MM}-{dd}"},
                     {"name": "hour", "value": "{HH}"}]}
    ])
    .to_string()
}

async fn keyed_harness() -> Harness {
    let tables = keyed_tables();
    let h = harness_with("glue", &[("PARTITIONS_TABLES", &tables)], None).await;
    let glue = aws_sdk_glue::Client::new(&h.sdk);
    create_glue_table_keyed(&glue, "by_source", "events/", &["source", "dt", "hour"]).await;
    create_glue_table_keyed(&glue, "by_tenant", "tenants/", &["tenant", "dt", "hour"]).await;
    h
}

/// The table's partitions in moto's Glue: values → location.
async fn partitions(h: &Harness, table: &str) -> BTreeMap<Vec<String>, String> {
    let parts = aws_sdk_glue::Client::new(&h.sdk)
        .get_partitions()
        .database_name("streamops")
        .table_name(table)
        .send()
        .await
        .unwrap()
        .partitions
        .unwrap_or_default();
    parts
        .into_iter()
        .map(|p| {
            let location = p.storage_descriptor.and_then(|sd| sd.location);
            (p.values.unwrap_or_default(), location.unwrap_or_default())
        })
        .collect()
}

fn values(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_under_a_source_registers_its_partition_and_a_hostile_one_nothing() {
    let h = keyed_harness().await;
    let keys = vec![
        "events/source=web/dt=2026-11-23/hour=10/part-0.gz".to_string(),
        "events/source=we'b/dt=2026-11-23/hour=10/part-0.gz".to_string(),
        "events/source=web--/dt=2026-11-23/hour=10/part-0.gz".to_string(),
        "events/source=../dt=2026-11-23/hour=10/part-0.gz".to_string(),
        "tenants/tenant=acme');DROP/dt=2026-11-23/hour=10/x.gz".to_string(),
    ];
    let resp = h
        .handle(sqs_batch(&keys, Utc::now()), "req-k1")
        .await
        .unwrap();
    // Poison is skipped, not retried: no message fails.
    assert!(failures(&resp).is_empty(), "{resp}");
    assert_eq!(
        h.metric("ObjectsSkipped", Some("invalid_key")),
        4.0,
        "{resp}"
    );
    assert_eq!(h.metric("PartitionsRegistered", None), 1.0);
    let parts = partitions(&h, "by_source").await;
    assert_eq!(parts.len(), 1, "{parts:?}");
    assert_eq!(
        parts[&values(&["web", "2026-11-23", "10"])],
        format!("s3://{BUCKET}/events/source=web/dt=2026-11-23/hour=10/")
    );
    assert!(partitions(&h, "by_tenant").await.is_empty());
    assert_eq!(
        h.registry_state("streamops.by_source/source=web/dt=2026-11-23/hour=10")
            .await
            .as_deref(),
        Some("registered")
    );
    assert_eq!(
        h.registry_state("streamops.by_source/source=we'b/dt=2026-11-23/hour=10")
            .await,
        None
    );
    assert!(h.queries().await.is_empty(), "glue mode ran Athena DDL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_hostile_values_only_registers_nothing() {
    let h = keyed_harness().await;
    let keys: Vec<String> = ["we\"b", "web;", "wеb", "mobile", "Web", "a\\b"]
        .iter()
        .map(|v| format!("events/source={v}/dt=2026-11-23/hour=10/part-0.gz"))
        .collect();
    let resp = h
        .handle(sqs_batch(&keys, Utc::now()), "req-k2")
        .await
        .unwrap();
    assert!(failures(&resp).is_empty(), "{resp}");
    assert_eq!(
        resp["registered"],
        Value::Null,
        "a batch answers with item failures only"
    );
    assert_eq!(h.metric("ObjectsSkipped", Some("invalid_key")), 6.0);
    assert_eq!(h.metric("PartitionsRegistered", None), 0.0);
    assert!(partitions(&h, "by_source").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_over_two_sources_registers_both() {
    let h = keyed_harness().await;
    let resp = h
        .handle(
            json!({"command": "backfill", "table": "streamops.by_source", "from": "2026-11-23T10",
                   "to": "2026-11-23T12", "dry_run": false}),
            "req-kb",
        )
        .await
        .unwrap();
    assert_eq!(resp["partitions_registered"], 4, "{resp}");
    assert_eq!(resp["keys"]["values"]["source"], json!(["app", "web"]));
    let parts = partitions(&h, "by_source").await;
    for source in ["web", "app"] {
        for hour in ["10", "11"] {
            assert_eq!(
                parts[&values(&[source, "2026-11-23", hour])],
                format!("s3://{BUCKET}/events/source={source}/dt=2026-11-23/hour={hour}/")
            );
        }
    }
    // Status sees them, per source.
    let status = h
        .handle(
            json!({"command": "status", "table": "by_source", "from": "2026-11-23T10", "to": "2026-11-23T12",
                   "keys": {"source": ["app"]}}),
            "req-ks",
        )
        .await
        .unwrap();
    assert_eq!(
        status["registered"],
        json!([
            "source=app/dt=2026-11-23/hour=10",
            "source=app/dt=2026-11-23/hour=11"
        ]),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_over_listed_tenants_takes_the_directories_that_pass_the_rule() {
    let h = keyed_harness().await;
    for key in [
        "tenants/tenant=acme/dt=2026-11-23/hour=10/x.gz",
        "tenants/tenant=globex/dt=2026-11-23/hour=10/x.gz",
        "tenants/tenant=we'b/dt=2026-11-23/hour=10/x.gz",
        "tenants/tenant=a..b/dt=2026-11-23/hour=10/x.gz",
        "tenants/stray.json",
    ] {
        h.put_object(key).await;
    }
    let resp = h
        .handle(
            json!({"command": "backfill", "table": "by_tenant", "from": "2026-11-23T10",
                   "to": "2026-11-23T11", "dry_run": false}),
            "req-kt",
        )
        .await
        .unwrap();
    assert_eq!(
        resp["keys"]["values"]["tenant"],
        json!(["acme", "globex"]),
        "{resp}"
    );
    assert_eq!(
        resp["keys"]["refused"].as_array().unwrap().len(),
        2,
        "{resp}"
    );
    assert_eq!(resp["partitions_registered"], 2);
    let parts = partitions(&h, "by_tenant").await;
    assert_eq!(
        parts.keys().cloned().collect::<Vec<_>>(),
        vec![
            values(&["acme", "2026-11-23", "10"]),
            values(&["globex", "2026-11-23", "10"])
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_pages_through_moto_and_stops_past_the_limit() {
    let h = keyed_harness().await;
    let s3 = streamops_shared::aws::s3_client(&h.sdk, true);
    // 1,001 tenants: one page of 1,000 directories, then a second page.
    let puts = (0..1_001).map(|i| {
        let s3 = s3.clone();
        async move {
            s3.put_object()
                .bucket(BUCKET)
                .key(format!("tenants/tenant=t{i:04}/dt=2026-11-23/hour=10/x.gz"))
                .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
                .send()
                .await
                .unwrap();
        }
    });
    futures_util::stream::iter(puts)
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let err = h
        .handle(
            json!({"command": "backfill", "table": "by_tenant", "from": "2026-11-23T10", "to": "2026-11-23T11"}),
            "req-kp",
        )
        .await
        .unwrap_err();
    assert!(
        err.contains("more than 1000 directories under s3://") && err.contains("tenants/tenant="),
        "{err}"
    );
    // One fewer fits: the second page's directory is found too.
    s3.delete_object()
        .bucket(BUCKET)
        .key("tenants/tenant=t0000/dt=2026-11-23/hour=10/x.gz")
        .send()
        .await
        .unwrap();
    let plan = h
        .handle(
            json!({"command": "backfill", "table": "by_tenant", "from": "2026-11-23T10", "to": "2026-11-23T11"}),
            "req-kp2",
        )
        .await
        .unwrap();
    assert_eq!(
        plan["keys"]["combinations"], 1_000,
        "{}",
        plan["keys"]["combinations"]
    );
    let tenants = plan["keys"]["values"]["tenant"].as_array().unwrap();
    assert_eq!(tenants.first().unwrap(), "t0001");
    assert_eq!(tenants.last().unwrap(), "t1000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_athena_mode_the_statement_names_the_source_quoted() {
    let tables = keyed_tables();
    let h = harness_with("athena", &[("PARTITIONS_TABLES", &tables)], None).await;
    let keys = vec![
        "events/source=app/dt=2026-11-23/hour=10/part-0.gz".to_string(),
        "events/source=app'--/dt=2026-11-23/hour=10/part-0.gz".to_string(),
    ];
    let resp = h
        .handle(sqs_batch(&keys, Utc::now()), "req-ka")
        .await
        .unwrap();
    assert!(failures(&resp).is_empty(), "{resp}");
    let queries = h.queries().await;
    assert_eq!(queries.len(), 1, "{queries:?}");
    assert_eq!(
        queries[0],
        format!(
            "ALTER TABLE `streamops`.`by_source` ADD IF NOT EXISTS\nPARTITION (`source` = 'app', `dt` = '2026-11-23', `hour` = '10') LOCATION 's3://{BUCKET}/events/source=app/dt=2026-11-23/hour=10/'"
        )
    );
}
