//! The moto stack every scaler moto test runs on: a Kinesis stream of 2 shards, an on-demand
//! stream and the enriched stream, an EMR cluster with a task group, a cluster with a spot task
//! fleet, a stub YARN ResourceManager, the state table and an on-call queue; the service over
//! them with the policies the tests drive, and readers of what it did.

use crate::clusters::{emr_cluster, emr_fleet_cluster};
use aws_config::SdkConfig;
use chrono::{DateTime, Duration, Utc};
use scaler::adapters::AwsPorts;
use scaler::config::ScalerConfig;
use scaler::service::ScalerService;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use streamops_shared::{EnvReader, Metrics};
use streamops_test_support::{MotoServer, create_table, drain_queue, fixture};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const TABLE: &str = "streamops-scaler";

pub struct Harness {
    pub _moto: MotoServer,
    /// What the stub YARN ResourceManager answers to `/ws/v1/cluster/nodes`.
    pub yarn_nodes: Arc<Mutex<Value>>,
    pub task: String,
    pub sdk: SdkConfig,
    pub service: ScalerService<AwsPorts>,
    pub cluster: String,
    pub fleet_cluster: String,
    pub fleet: String,
    /// An SQS queue a default-bus rule sends the scaler's events to (as the template's rule
    /// sends them to the alerts function): what on-call would be told about.
    pub subscriber: String,
}

/// A stand-in for the YARN ResourceManager's REST API (YARN cannot run here): answers
/// `GET /ws/v1/cluster/nodes` with what the test put in `nodes`.
pub async fn yarn_stub(nodes: Arc<Mutex<Value>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut c, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf).await;
            let body = nodes.lock().unwrap().to_string();
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = c.write_all(resp.as_bytes()).await;
        }
    });
    url
}

/// The raw stream (2 shards), an on-demand stream and the enriched stream (4 shards).
pub async fn create_streams(sdk: &SdkConfig) {
    let kinesis = aws_sdk_kinesis::Client::new(sdk);
    kinesis
        .create_stream()
        .stream_name("streamops-raw")
        .shard_count(2)
        .send()
        .await
        .unwrap();
    kinesis
        .create_stream()
        .stream_name("on-demand")
        .stream_mode_details(
            aws_sdk_kinesis::types::StreamModeDetails::builder()
                .stream_mode(aws_sdk_kinesis::types::StreamMode::OnDemand)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    kinesis
        .create_stream()
        .stream_name("streamops-enriched")
        .shard_count(4)
        .send()
        .await
        .unwrap();
}

/// A queue a default-bus rule sends the scaler's decision events to (as the template's rule
/// sends them to the alerts function); its URL.
pub async fn oncall_queue(sdk: &SdkConfig) -> String {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let subscriber = sqs
        .create_queue()
        .queue_name("oncall")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let queue_arn = "arn:aws:sqs:us-east-1:123456789012:oncall";
    let events = aws_sdk_eventbridge::Client::new(sdk);
    events
        .put_rule()
        .name("scaling-decisions")
        .event_pattern(
            json!({"source": [scaler::notify::SOURCE], "detail-type": [scaler::notify::DETAIL_TYPE]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("scaling-decisions")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("oncall")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    subscriber
}

pub async fn harness() -> Harness {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    create_table(&sdk, TABLE, Some("sk")).await;
    create_streams(&sdk).await;
    let (cluster, task) = emr_cluster(&sdk).await;
    let (fleet_cluster, fleet) = emr_fleet_cluster(&sdk).await;
    let yarn_nodes = Arc::new(Mutex::new(json!({"nodes": {"node": []}})));
    let yarn_rm = yarn_stub(yarn_nodes.clone()).await;
    let policies = json!({
        "targets": [
            {"id": "raw-stream", "kind": "kinesis_stream", "stream": "streamops-raw", "min": 1, "max": 6,
             "scale_out_cooldown_seconds": 300, "scale_in_cooldown_seconds": 3600},
            {"id": "on-demand", "kind": "kinesis_stream", "stream": "on-demand", "min": 1, "max": 6},
            {"id": "emr-task", "kind": "emr_instance_group", "cluster_id": cluster, "instance_group_id": task, "min": 1, "max": 5,
             "scale_out": {"step": 2}},
            {"id": "emr-task-yarn", "kind": "emr_instance_group", "cluster_id": cluster, "instance_group_id": task, "min": 1, "max": 5,
             "yarn_rm_url": yarn_rm, "scale_in_delay_seconds": 0, "scale_in_cooldown_seconds": 0},
            {"id": "fleet", "kind": "emr_instance_fleet", "cluster_id": fleet_cluster, "instance_fleet_id": fleet, "market": "spot",
             "min": 2, "max": 12, "scale_out": {"step": 4}},
            {"id": "enriched", "kind": "kinesis_stream", "stream": "streamops-enriched", "min": 1, "max": 64,
             "scale_out": {"proportional": {"target_utilisation": 0.5, "catch_up_seconds": 300, "restart_seconds": 0}},
             "load": {
                "input_rate": {"namespace": "AWS/Kinesis", "name": "IncomingRecords", "dimensions": {"StreamName": "streamops-enriched"}, "stat": "Sum", "scale": 0.016666666666666666},
                "processing_rate": {"namespace": "streamops", "name": "RecordsOut", "dimensions": {"Function": "consumer"}, "stat": "Sum", "scale": 0.016666666666666666},
                "lag_ms": {"namespace": "AWS/Kinesis", "name": "GetRecords.IteratorAgeMilliseconds", "dimensions": {"StreamName": "streamops-enriched"}, "stat": "Maximum"}}}
        ],
        "rules": [
            {"alarm": "streamops-raw-iterator-age", "target": "raw-stream", "direction": "out"},
            {"alarm": "streamops-raw-iterator-age", "target": "on-demand", "direction": "out"},
            {"alarm": "streamops-emr-memory-low", "target": "emr-task", "direction": "out"},
            {"alarm": "streamops-emr-memory-idle", "target": "emr-task", "direction": "in"},
            {"alarm": "streamops-fleet-pending", "target": "fleet", "direction": "out"},
            {"alarm": "streamops-yarn-idle", "target": "emr-task-yarn", "direction": "in"},
            {"alarm": "streamops-enriched-lag", "target": "enriched", "direction": "out"}
        ]
    });
    let env = EnvReader::from_map(
        [
            ("SCALER_TABLE", TABLE.to_string()),
            ("SCALER_POLICIES", policies.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    );
    let subscriber = oncall_queue(&sdk).await;
    let config = ScalerConfig::read(env).unwrap();
    let service = ScalerService {
        ports: scaler::adapters::aws(&sdk, &config),
        config,
    };
    Harness {
        _moto: moto,
        sdk,
        service,
        yarn_nodes,
        task: task.clone(),
        cluster,
        fleet_cluster,
        fleet,
        subscriber,
    }
}

pub fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .to_utc()
        + Duration::minutes(minutes)
}

pub async fn run(h: &Harness, payload: Value, minute: i64) -> Value {
    let mut m = Metrics::with_sink("streamops", "scaler", |_: &str| {});
    h.service
        .handle(payload, t(minute), until(), &mut m)
        .await
        .unwrap()
}

pub fn until() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(60)
}

pub fn decisions(v: &Value) -> Vec<(String, String)> {
    v["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["target"].as_str().unwrap().to_string(),
                d["reason"]
                    .as_str()
                    .filter(|_| d["decision"] == "skip" || d["decision"] == "defer")
                    .unwrap_or("act")
                    .to_string(),
            )
        })
        .collect()
}

pub async fn shards(h: &Harness) -> i32 {
    aws_sdk_kinesis::Client::new(&h.sdk)
        .describe_stream_summary()
        .stream_name("streamops-raw")
        .send()
        .await
        .unwrap()
        .stream_description_summary()
        .unwrap()
        .open_shard_count()
}

pub fn alarm(name: &str, state_time: &str) -> Value {
    let mut e = fixture("scaler/alarm-raw-iterator-age.json");
    e["detail"]["alarmName"] = json!(name);
    e["detail"]["state"]["timestamp"] = json!(state_time);
    e
}

/// What on-call is told: the scaler's decision events a default-bus rule delivered to the
/// queue, one line each.
pub async fn told(h: &Harness) -> Vec<String> {
    let mut told = Vec::new();
    for body in drain_queue(&h.sdk, &h.subscriber).await {
        let event: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (event["source"].as_str(), event["detail-type"].as_str()),
            (Some("streamops.scaler"), Some("Scaling Decision")),
            "{event}"
        );
        told.push(told_of(&event["detail"]));
    }
    told
}

/// One decision event's detail in a line: target, outcome, sizes or cause, severity.
pub fn told_of(d: &Value) -> String {
    let what = match (d["from"].as_u64(), d["to"].as_u64(), d["cause"].as_str()) {
        (Some(from), Some(to), _) => format!("{from} -> {to}"),
        (_, _, Some(cause)) => format!("({cause})"),
        _ => String::new(),
    };
    format!(
        "{}: {} {what}, {}",
        d["target"].as_str().unwrap(),
        d["outcome"].as_str().unwrap(),
        d["severity"].as_str().unwrap()
    )
}

pub fn named_alarm(name: &str, state_time: &str) -> Value {
    let mut e = alarm(name, state_time);
    // No single metric to re-read: taken at its word.
    e["detail"]["configuration"] = json!({"metrics": []});
    e
}

/// An SNS alarm message rewritten: `edit` changes the decoded message.
pub fn sns_message(file: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut e = fixture(file);
    let text = e["Records"][0]["Sns"]["Message"]
        .as_str()
        .unwrap()
        .to_string();
    let mut message: Value = serde_json::from_str(&text).unwrap();
    edit(&mut message);
    e["Records"][0]["Sns"]["Message"] = json!(message.to_string());
    e
}
