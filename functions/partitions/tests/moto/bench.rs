//! A benchmark, not a timed test (`make bench-partitions` runs it; `make test` skips it): one
//! SQS batch naming 5,000 distinct hours, registered through Athena on moto, with the registry
//! writes one at a time (the baseline, `PARTITIONS_REGISTRY_CONCURRENCY=1`) and 32 in flight
//! (the default), interleaved in the same run; once on moto directly (loopback: moto's own
//! speed is the limit) and once with 5 ms added to every DynamoDB answer (the fault proxy), as
//! a real DynamoDB's round trip from Lambda adds. Prints wall time, DynamoDB requests and
//! statements per run; asserts what must hold whatever the timing: every hour registered, one
//! DynamoDB claim and one confirm per hour, no statement over 262,144 bytes and as few as that
//! limit allows.

use crate::events::sqs_batch;
use crate::harness::{MAX_STATEMENT, harness_with};
use chrono::{Duration, TimeZone, Utc};
use std::time::Instant;

const HOURS: usize = 5_000;

fn keys() -> Vec<String> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    (0..HOURS)
        .map(|i| {
            let t = start + Duration::hours(i as i64);
            format!(
                "enriched/dt={}/hour={}/part-{i:05}.json.gz",
                t.format("%Y-%m-%d"),
                t.format("%H")
            )
        })
        .collect()
}

struct Run {
    concurrency: &'static str,
    latency_ms: u64,
    seconds: f64,
    ddb_calls: usize,
    statements: usize,
}

async fn one_run(concurrency: &'static str, latency_ms: u64) -> Run {
    let latency = (latency_ms > 0).then(|| std::time::Duration::from_millis(latency_ms));
    let h = harness_with(
        "athena",
        &[
            ("PARTITIONS_REGISTRY_CONCURRENCY", concurrency),
            ("PARTITIONS_QUERY_TIMEOUT_SECONDS", "120"),
        ],
        latency,
    )
    .await;
    let batch = sqs_batch(&keys(), Utc::now());
    let started = Instant::now();
    let resp = h.handle(batch, "bench").await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(resp["batchItemFailures"], serde_json::json!([]), "{resp}");
    assert_eq!(h.metric("PartitionsRegistered", None), HOURS as f64);
    let calls = h.ddb_calls.by_operation();
    assert_eq!(
        calls.get("PutItem"),
        Some(&HOURS),
        "one claim per hour: {calls:?}"
    );
    assert_eq!(
        calls.get("UpdateItem"),
        Some(&HOURS),
        "one confirm per hour: {calls:?}"
    );
    let queries = h.queries().await;
    let bytes: usize = queries.iter().map(String::len).sum();
    assert!(queries.iter().all(|q| q.len() <= MAX_STATEMENT));
    assert!(
        queries.len() <= bytes.div_ceil(MAX_STATEMENT) + 1,
        "{} statements for {bytes} bytes",
        queries.len()
    );
    Run {
        concurrency,
        latency_ms,
        seconds,
        ddb_calls: h.ddb_calls.total(),
        statements: queries.len(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: make bench-partitions"]
async fn bench_one_batch_naming_5000_distinct_hours() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        for latency_ms in [0, 5] {
            for concurrency in ["1", "32"] {
                runs.push(one_run(concurrency, latency_ms).await);
            }
        }
    }
    println!(
        "| added DynamoDB latency | registry concurrency | wall time | DynamoDB requests | statements |"
    );
    println!("|---|---|---|---|---|");
    for r in &runs {
        println!(
            "| {} ms | {} | {:.2} s | {} | {} |",
            r.latency_ms, r.concurrency, r.seconds, r.ddb_calls, r.statements
        );
    }
    for latency_ms in [0, 5] {
        for c in ["1", "32"] {
            let t: Vec<f64> = runs
                .iter()
                .filter(|r| r.concurrency == c && r.latency_ms == latency_ms)
                .map(|r| r.seconds)
                .collect();
            let lo = t.iter().copied().fold(f64::MAX, f64::min);
            let hi = t.iter().copied().fold(0.0, f64::max);
            println!(
                "+{latency_ms} ms, concurrency {c}: {lo:.2} to {hi:.2} s over {} runs",
                t.len()
            );
        }
    }
}
