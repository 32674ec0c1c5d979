//! Tables with named keys over in-memory fakes: objects under `source=…/` register one partition
//! per source and hour, hostile values are refused before anything is claimed or sent, and
//! backfill, status and prune walk the keys' values (enumerated, named by the command, or
//! listed), and a removal drops only its own source's partition.

mod support;

use serde_json::{Value, json};
use support::*;

/// `events/`: sources enumerated; `tenants/`: tenants by a class, found by listing.
fn keyed_tables() -> Value {
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
}

fn keyed(mode: &str) -> (Service, Fakes) {
    service_over(config_of(mode, keyed_tables()))
}

fn values(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn each_source_is_its_own_partition_with_its_values() {
    let (service, fakes) = keyed("glue");
    let keys = [
        "events/source=web/dt=2026-11-23/hour=10/part-0.gz",
        "events/source=web/dt=2026-11-23/hour=10/part-1.gz",
        "events/source=app/dt=2026-11-23/hour=10/part-0.gz",
    ];
    let answer = invoke(&service, s3_event(&keys), "req-1").await.unwrap();
    assert_eq!(answer["registered"], 2, "{answer}");
    let parts = fakes.glue.partitions("streamops", "by_source");
    assert_eq!(
        parts
            .get(&values(&["web", "2026-11-23", "10"]))
            .map(String::as_str),
        Some(&*format!(
            "s3://{BUCKET}/events/source=web/dt=2026-11-23/hour=10/"
        ))
    );
    assert!(parts.contains_key(&values(&["app", "2026-11-23", "10"])));
    let marks = fakes.registry.marks();
    assert!(marks.contains_key("streamops.by_source/source=web/dt=2026-11-23/hour=10"));
    assert!(marks.contains_key("streamops.by_source/source=app/dt=2026-11-23/hour=10"));
}

#[tokio::test]
async fn hostile_values_are_refused_before_any_claim_or_statement() {
    for mode in ["athena", "glue"] {
        let (service, fakes) = keyed(mode);
        let keys: Vec<String> = [
            "we'b", "web\\", "..", "web--", "web;", "mobile", "wеb", "", "web%00",
        ]
        .iter()
        .map(|v| format!("events/source={v}/dt=2026-11-23/hour=10/part-0.gz"))
        .chain([
            format!(
                "tenants/tenant={}/dt=2026-11-23/hour=10/x.gz",
                "t".repeat(33)
            ),
            "tenants/tenant=acme'); DROP TABLE x; --/dt=2026-11-23/hour=10/x.gz".to_string(),
        ])
        .collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let (answer, lines) = invoke_at(&service, s3_event(&refs), "req-h", now()).await;
        let answer = answer.unwrap();
        assert_eq!(answer["registered"], 0, "{answer}");
        // `%00` decodes to NUL: refused as undecodable before the layout is looked at.
        assert_eq!(
            answer["skipped"],
            json!({"invalid_key": 10, "undecodable_key": 1})
        );
        assert_eq!(
            metric(&lines, "ObjectsSkipped"),
            keys.len() as f64,
            "{mode}"
        );
        assert!(fakes.registry.marks().is_empty(), "{mode}: nothing claimed");
        assert!(fakes.athena.statements().is_empty(), "{mode}: no SQL");
        assert!(fakes.glue.partitions("streamops", "by_source").is_empty());
        assert!(fakes.glue.partitions("streamops", "by_tenant").is_empty());
    }
}

#[tokio::test]
async fn backfill_walks_the_enumerated_sources_hour_by_hour() {
    let (service, fakes) = keyed("glue");
    let cmd = json!({"command": "backfill", "table": "by_source", "from": "2026-11-23T10",
                     "to": "2026-11-23T13", "dry_run": false});
    let answer = invoke(&service, cmd, "req-b").await.unwrap();
    assert_eq!(answer["partitions_registered"], 6, "{answer}");
    assert_eq!(answer["keys"]["values"]["source"], json!(["app", "web"]));
    assert_eq!(answer["keys"]["combinations"], 2);
    let parts = fakes.glue.partitions("streamops", "by_source");
    for source in ["web", "app"] {
        for hour in ["10", "11", "12"] {
            assert!(
                parts.contains_key(&values(&[source, "2026-11-23", hour])),
                "{source} {hour}"
            );
        }
    }
    // A command may narrow the sources; a value outside the rule is refused whole.
    let cmd = json!({"command": "backfill", "table": "by_source", "from": "2026-11-24T00",
                     "to": "2026-11-24T01", "keys": {"source": ["app"]}});
    let plan = invoke(&service, cmd, "req-n").await.unwrap();
    assert_eq!(plan["partitions"], 1, "{plan}");
    // A chunk holds at most 50,000 partitions: two sources, at most 25,000 hours a chunk.
    let cmd = json!({"command": "backfill", "table": "by_source", "from": "2020-01-01",
                     "to": "2026-01-01", "chunk_size": 50000, "max_chunks": 1});
    let plan = invoke(&service, cmd, "req-c").await.unwrap();
    assert_eq!(
        plan["periods_per_chunk"], 25_000,
        "{}",
        plan["periods_per_chunk"]
    );
    assert_eq!(
        (plan["periods_done"].as_u64(), plan["partitions"].as_u64()),
        (Some(25_000), Some(50_000))
    );
    assert_eq!(plan["resume_from"], "2022-11-07T16:00:00Z");
    let bad = json!({"command": "backfill", "table": "by_source", "from": "2026-11-24T00",
                     "to": "2026-11-24T01", "keys": {"source": ["app", "we'b"]}, "dry_run": false});
    let e = invoke(&service, bad, "req-bad")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("backfill `keys`: key `source`: \"we'b\""),
        "{e}"
    );
    assert_eq!(fakes.glue.partitions("streamops", "by_source").len(), 6);
}

#[tokio::test]
async fn backfill_lists_a_pattern_keys_directories_and_refuses_hostile_ones() {
    let (service, fakes) = keyed("athena");
    for key in [
        "tenants/tenant=acme/dt=2026-11-23/hour=10/x.gz",
        "tenants/tenant=globex/dt=2026-11-23/hour=11/x.gz",
        "tenants/tenant=we'b/dt=2026-11-23/hour=10/x.gz",
        "tenants/tenant=..x/dt=2026-11-23/hour=10/x.gz",
    ] {
        fakes.data.put(BUCKET, key);
    }
    let cmd = json!({"command": "backfill", "table": "by_tenant", "from": "2026-11-23T10",
                     "to": "2026-11-23T12", "dry_run": false});
    let answer = invoke(&service, cmd, "req-l").await.unwrap();
    assert_eq!(
        answer["keys"]["values"]["tenant"],
        json!(["acme", "globex"]),
        "{answer}"
    );
    let refused = answer["keys"]["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 2, "{answer}");
    assert!(
        refused[0]
            .as_str()
            .unwrap()
            .contains("tenant=..x/: key `tenant`"),
        "{answer}"
    );
    assert_eq!(answer["partitions_registered"], 4);
    let sql = fakes.athena.statements().join("\n");
    assert!(sql.contains("`tenant` = 'globex'"), "{sql}");
    assert!(!sql.contains("we'b") && !sql.contains("..x"), "{sql}");
    // A listing that fails fails the command (retryable), nothing half done.
    let (service, fakes) = keyed("athena");
    fakes
        .data
        .put(BUCKET, "tenants/tenant=acme/dt=2026-11-23/hour=10/x.gz");
    fakes.data.script.fail("ListObjectsV2", 1, Fault::Throttled);
    let cmd = json!({"command": "backfill", "table": "by_tenant", "from": "2026-11-23T10",
                     "to": "2026-11-23T12", "dry_run": false});
    assert!(invoke(&service, cmd, "req-f").await.is_err());
    assert!(fakes.athena.statements().is_empty());
}

#[tokio::test]
async fn status_reports_each_source_registered_or_a_gap() {
    let (service, fakes) = keyed("glue");
    fakes.glue.add(
        "streamops",
        "by_source",
        &["web", "2026-11-23", "10"],
        &format!("s3://{BUCKET}/events/source=web/dt=2026-11-23/hour=10/"),
    );
    fakes
        .data
        .put(BUCKET, "events/source=app/dt=2026-11-23/hour=10/x.gz");
    let cmd = json!({"command": "status", "table": "by_source", "from": "2026-11-23T10", "to": "2026-11-23T12"});
    let status = invoke(&service, cmd, "req-s").await.unwrap();
    assert_eq!(
        status["registered"],
        json!(["source=web/dt=2026-11-23/hour=10"]),
        "{status}"
    );
    assert_eq!(
        status["gaps"][0]["partition"],
        "source=app/dt=2026-11-23/hour=10"
    );
    assert_eq!(status["gap_count"], 1);
    assert_eq!(status["periods_without_data"], 2);
    // 1,001 hours of two sources is more than status checks.
    let cmd = json!({"command": "status", "table": "by_source", "from": "2026-01-01T00", "to": "2026-02-11T17"});
    let e = invoke(&service, cmd, "req-big")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("status checks at most 2000"), "{e}");
}

#[tokio::test]
async fn prune_drops_every_source_of_the_range() {
    let (service, fakes) = keyed("glue");
    for source in ["web", "app"] {
        fakes.glue.add(
            "streamops",
            "by_source",
            &[source, "2026-11-01", "00"],
            &format!("s3://{BUCKET}/events/source={source}/dt=2026-11-01/hour=00/"),
        );
    }
    let cmd = json!({"command": "prune", "table": "by_source", "from": "2026-11-01", "to": "2026-11-02", "dry_run": false});
    let answer = invoke(&service, cmd, "req-p").await.unwrap();
    assert_eq!(answer["partitions"], 2, "{answer}");
    assert_eq!(answer["dropped"], 2);
    assert!(fakes.glue.partitions("streamops", "by_source").is_empty());
}

#[tokio::test]
async fn removing_one_sources_data_drops_that_sources_partition_only() {
    let (service, fakes) = keyed("glue");
    let web = "events/source=web/dt=2026-11-23/hour=10/part-0.gz";
    let app = "events/source=app/dt=2026-11-23/hour=10/part-0.gz";
    for key in [web, app] {
        fakes.data.put(BUCKET, key);
    }
    invoke(&service, s3_event(&[web, app]), "req-1")
        .await
        .unwrap();
    assert_eq!(fakes.glue.partitions("streamops", "by_source").len(), 2);
    fakes.data.remove(BUCKET, web);
    let removal = sqs_records(&[("m-r", vec![s3_removal(web, "ObjectRemoved:Delete")])]);
    let out = invoke(&service, removal, "req-2").await.unwrap();
    assert!(failures(&out).is_empty(), "{out}");
    let left = fakes.glue.partitions("streamops", "by_source");
    assert_eq!(
        left.keys().cloned().collect::<Vec<_>>(),
        vec![values(&["app", "2026-11-23", "10"])]
    );
    assert!(
        fakes
            .registry
            .mark("streamops.by_source/source=web/dt=2026-11-23/hour=10")
            .is_none()
    );
    assert!(
        fakes
            .registry
            .mark("streamops.by_source/source=app/dt=2026-11-23/hour=10")
            .is_some()
    );
}
