//! The service tests' world: the policies (a raw stream, an EMR task group, a Flink job), the
//! fakes set up for them, the alarms the tests send, and one invocation's answer in words.

use super::*;
use chrono::{DateTime, Duration, Utc};
use scaler::service::{ScalerError, ScalerService};
use serde_json::{Value, json};
use streamops_shared::Metrics;
use streamops_test_support::fixture;

pub const RAW_AGE: &str = "streamops-raw-iterator-age";

pub const FLINK_LAG: &str = "streamops-flink-lag";

pub fn policies(flink: Value) -> Value {
    json!({
        "targets": [
            {"id": "raw-stream", "kind": "kinesis_stream", "stream": "raw", "min": 1, "max": 8,
             "scale_out_cooldown_seconds": 300, "scale_in_cooldown_seconds": 3600},
            {"id": "emr-task", "kind": "emr_instance_group", "cluster_id": "j-1", "instance_group_id": "ig-task",
             "min": 1, "max": 6, "scale_out": {"step": 2}, "yarn_rm_url": "http://127.0.0.1:8088",
             "scale_in_delay_seconds": 0, "scale_in_cooldown_seconds": 0},
            flink
        ],
        "rules": [
            {"alarm": RAW_AGE, "target": "raw-stream", "direction": "out"},
            {"alarm": "streamops-emr-memory-idle", "target": "emr-task", "direction": "in"},
            {"alarm": FLINK_LAG, "target": "flink-job", "direction": "out"}
        ]
    })
}

pub fn savepoint_job(extra: Value) -> Value {
    let mut t = json!({"id": "flink-job", "kind": "flink_job", "rest_url": "http://127.0.0.1:8081",
        "job_name": "counting", "mode": "savepoint", "jar_id": "jar-1", "pipeline": "counting",
        "min": 1, "max": 4, "scale_out_cooldown_seconds": 0, "savepoint_timeout_seconds": 60});
    t.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    t
}

/// A world with the raw stream (2 shards), an EMR cluster with a task group of 2, and a Flink
/// job `counting` at parallelism 1; and the service over it.
pub fn world(flink: Value) -> (World, ScalerService<FakePorts>) {
    let w = World::default();
    w.kinesis.stream("raw", 2);
    let instance = |id: &str| scaler::ports::InstanceView {
        ec2_id: id.into(),
        private_dns: format!("ip-{id}.ec2.internal"),
        running: true,
    };
    w.emr.cluster(
        "j-1",
        FakeCluster {
            state: "WAITING".into(),
            groups: vec![task_group("ig-task", 2)],
            instances: [(
                "ig-task".to_string(),
                vec![instance("i-1"), instance("i-2")],
            )]
            .into(),
            ..Default::default()
        },
    );
    w.flink.job("old", "counting", 1);
    let svc = w.service(&policies(flink));
    (w, svc)
}

pub fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .to_utc()
        + Duration::minutes(minutes)
}

pub fn until(secs: u64) -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(secs)
}

/// The raw stream's alarm (with its metric to re-read), at `state_time`.
pub fn alarm(name: &str, state_time: &str) -> Value {
    let mut e = fixture("scaler/alarm-raw-iterator-age.json");
    e["detail"]["alarmName"] = json!(name);
    e["detail"]["state"]["timestamp"] = json!(state_time);
    e
}

/// An alarm with no single metric to re-read: taken at its word.
pub fn at_its_word(name: &str, state_time: &str) -> Value {
    let mut e = alarm(name, state_time);
    e["detail"]["configuration"] = json!({"metrics": []});
    e
}

pub async fn attempt(
    svc: &ScalerService<FakePorts>,
    payload: Value,
    minute: i64,
    m: &mut Metrics,
) -> Result<Value, ScalerError> {
    svc.handle(payload, t(minute), until(3), m).await
}

pub async fn run(svc: &ScalerService<FakePorts>, payload: Value, minute: i64) -> Value {
    attempt(svc, payload, minute, &mut metrics())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// What each decision of a response says, in a word or two (`act`, `skip duplicate`, ...).
pub fn said(out: &Value) -> Vec<String> {
    out["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(words)
        .collect()
}

pub fn tick() -> Value {
    json!({"command": "tick"})
}
