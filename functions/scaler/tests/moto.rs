//! The scaler against moto: a real Kinesis stream resharded, a real EMR task group resized,
//! an instance fleet resized (moto extended with the fleet and managed-scaling actions:
//! scripts/stack/moto_ext.py), redelivered alarms, cooldowns, the scale-in delay window and the
//! schedule that ends it, bounds, pauses, on-demand streams, EMR managed scaling, proportional
//! sizing from CloudWatch metrics, leases and concurrent invocations.

use aws_config::SdkConfig;
use aws_sdk_emr::types::{InstanceGroupConfig, InstanceRoleType, JobFlowInstancesConfig};
use chrono::{DateTime, Duration, Utc};
use scaler::adapters::AwsPorts;
use scaler::config::ScalerConfig;
use scaler::service::ScalerService;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use streamops_shared::{EnvReader, Metrics};
use streamops_test_support::{MotoServer, create_table, fixture};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TABLE: &str = "streamops-scaler";

struct Harness {
    _moto: MotoServer,
    /// What the stub YARN ResourceManager answers to `/ws/v1/cluster/nodes`.
    yarn_nodes: Arc<Mutex<Value>>,
    task: String,
    sdk: SdkConfig,
    service: ScalerService<AwsPorts>,
    cluster: String,
    fleet_cluster: String,
    fleet: String,
    /// An SQS queue a default-bus rule sends the scaler's events to (as the template's rule
    /// sends them to the alerts function): what on-call would be told about.
    subscriber: String,
}

async fn emr_cluster(sdk: &SdkConfig) -> (String, String) {
    let emr = aws_sdk_emr::Client::new(sdk);
    let group = |name: &str, role: InstanceRoleType, n: i32| {
        InstanceGroupConfig::builder()
            .name(name)
            .instance_role(role)
            .instance_type("m5.xlarge")
            .instance_count(n)
            .build()
    };
    let cluster = emr
        .run_job_flow()
        .name("flink")
        .release_label("emr-7.5.0")
        .job_flow_role("EMR_EC2_DefaultRole")
        .service_role("EMR_DefaultRole")
        .instances(
            JobFlowInstancesConfig::builder()
                .instance_groups(group("master", InstanceRoleType::Master, 1))
                .instance_groups(group("core", InstanceRoleType::Core, 2))
                .instance_groups(group("task", InstanceRoleType::Task, 2))
                .keep_job_flow_alive_when_no_steps(true)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .job_flow_id()
        .unwrap()
        .to_string();
    let groups = emr
        .list_instance_groups()
        .cluster_id(&cluster)
        .send()
        .await
        .unwrap();
    let task = groups
        .instance_groups()
        .iter()
        .find(|g| g.name() == Some("task"))
        .unwrap()
        .id()
        .unwrap()
        .to_string();
    (cluster, task)
}

/// A cluster with a spot task fleet (AddInstanceFleet: the moto extension's fleets).
async fn emr_fleet_cluster(sdk: &SdkConfig) -> (String, String) {
    use aws_sdk_emr::types::{InstanceFleetConfig, InstanceFleetType, InstanceTypeConfig};
    let emr = aws_sdk_emr::Client::new(sdk);
    let cluster = emr
        .run_job_flow()
        .name("flink-fleets")
        .release_label("emr-7.5.0")
        .job_flow_role("EMR_EC2_DefaultRole")
        .service_role("EMR_DefaultRole")
        .instances(
            JobFlowInstancesConfig::builder()
                .master_instance_type("m5.xlarge")
                .instance_count(1)
                .keep_job_flow_alive_when_no_steps(true)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .job_flow_id()
        .unwrap()
        .to_string();
    let fleet = emr
        .add_instance_fleet()
        .cluster_id(&cluster)
        .instance_fleet(
            InstanceFleetConfig::builder()
                .instance_fleet_type(InstanceFleetType::Task)
                .target_spot_capacity(4)
                .instance_type_configs(
                    InstanceTypeConfig::builder()
                        .instance_type("m5.xlarge")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .instance_fleet_id()
        .unwrap()
        .to_string();
    (cluster, fleet)
}

/// A stand-in for the YARN ResourceManager's REST API (YARN cannot run here): answers
/// `GET /ws/v1/cluster/nodes` with what the test put in `nodes`.
async fn yarn_stub(nodes: Arc<Mutex<Value>>) -> String {
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
async fn create_streams(sdk: &SdkConfig) {
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
async fn oncall_queue(sdk: &SdkConfig) -> String {
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

async fn harness() -> Harness {
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

fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .to_utc()
        + Duration::minutes(minutes)
}

async fn run(h: &Harness, payload: Value, minute: i64) -> Value {
    let mut m = Metrics::with_sink("streamops", "scaler", |_: &str| {});
    h.service
        .handle(payload, t(minute), until(), &mut m)
        .await
        .unwrap()
}

fn until() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(60)
}

fn decisions(v: &Value) -> Vec<(String, String)> {
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

async fn shards(h: &Harness) -> i32 {
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

fn alarm(name: &str, state_time: &str) -> Value {
    let mut e = fixture("scaler/alarm-raw-iterator-age.json");
    e["detail"]["alarmName"] = json!(name);
    e["detail"]["state"]["timestamp"] = json!(state_time);
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_reshards_once_per_alarm_transition_and_respects_cooldown_and_on_demand() {
    let h = harness().await;
    let out = run(&h, fixture("scaler/alarm-raw-iterator-age.json"), 0).await;
    assert_eq!(
        decisions(&out),
        [
            ("raw-stream".into(), "act".into()),
            ("on-demand".into(), "unsupported".into())
        ],
        "{out}"
    );
    assert_eq!(out["decisions"][0]["to"], 4);
    assert_eq!(shards(&h).await, 4);
    // Redelivered: no second action.
    let again = run(&h, fixture("scaler/alarm-raw-iterator-age.json"), 1).await;
    assert_eq!(
        decisions(&again)[0],
        ("raw-stream".into(), "duplicate".into())
    );
    assert_eq!(shards(&h).await, 4);
    // A new transition inside the cooldown: skipped.
    let soon = run(
        &h,
        alarm("streamops-raw-iterator-age", "2026-11-23T10:03:00.000+0000"),
        3,
    )
    .await;
    assert_eq!(
        decisions(&soon)[0],
        ("raw-stream".into(), "cooldown".into())
    );
    // After the cooldown: 4 -> 6 (max).
    let later = run(
        &h,
        alarm("streamops-raw-iterator-age", "2026-11-23T10:20:00.000+0000"),
        20,
    )
    .await;
    assert_eq!(later["decisions"][0]["to"], 6, "{later}");
    assert_eq!(shards(&h).await, 6);
    let at_max = run(
        &h,
        alarm("streamops-raw-iterator-age", "2026-11-23T10:40:00.000+0000"),
        40,
    )
    .await;
    assert_eq!(
        decisions(&at_max)[0],
        ("raw-stream".into(), "at_bound".into())
    );
    // OK never acts.
    let ok = run(&h, fixture("scaler/alarm-raw-iterator-age-ok.json"), 41).await;
    assert_eq!(decisions(&ok)[0], ("raw-stream".into(), "not_alarm".into()));
    // The audit trail has every decision, newest first; status shows it.
    let status = run(&h, json!({"command": "status"}), 42).await;
    let raw = &status["targets"][0];
    assert_eq!(raw["observed"]["observed"], "ready");
    assert_eq!(raw["observed"]["size"], 6);
    assert_eq!(raw["recent_decisions"].as_array().unwrap().len(), 5);
    assert_eq!(raw["recent_decisions"][0]["reason"], "not_alarm");

    // On-call is told of the two actions, the cooldown, the bound and the unsupported stream;
    // not of the duplicate or the OK: their events on the default bus, as a rule delivers them.
    let mut told = told(&h).await;
    told.sort();
    assert_eq!(
        told,
        [
            "on-demand: blocked (unsupported), warning",
            "on-demand: blocked (unsupported), warning",
            "on-demand: blocked (unsupported), warning",
            "on-demand: blocked (unsupported), warning",
            "raw-stream: blocked (at_bound), warning",
            "raw-stream: blocked (cooldown), warning",
            "raw-stream: scaled 2 -> 4, info",
            "raw-stream: scaled 4 -> 6, info",
        ],
        "{told:?}"
    );
}

/// What on-call is told: the scaler's decision events a default-bus rule delivered to the
/// queue, one line each.
async fn told(h: &Harness) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(&h.sdk);
    let mut told = Vec::new();
    for _ in 0..5 {
        let got = sqs
            .receive_message()
            .queue_url(&h.subscriber)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            let event: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            assert_eq!(
                (event["source"].as_str(), event["detail-type"].as_str()),
                (Some("streamops.scaler"), Some("Scaling Decision")),
                "{event}"
            );
            told.push(told_of(&event["detail"]));
        }
    }
    told
}

/// One decision event's detail in a line: target, outcome, sizes or cause, severity.
fn told_of(d: &Value) -> String {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emr_task_group_grows_and_shrinks_slowly_pause_and_explain() {
    let h = harness().await;
    let out = run(&h, fixture("scaler/alarm-emr-memory-low.json"), 0).await;
    assert_eq!(out["decisions"][0]["from"], 2);
    assert_eq!(out["decisions"][0]["to"], 4);
    let emr = aws_sdk_emr::Client::new(&h.sdk);
    let requested = || async {
        let g = emr
            .list_instance_groups()
            .cluster_id(&h.cluster)
            .send()
            .await
            .unwrap();
        g.instance_groups()
            .iter()
            .find(|g| g.name() == Some("task"))
            .unwrap()
            .requested_instance_count()
            .unwrap()
    };
    assert_eq!(requested().await, 4);
    // Scale-in inside the stabilisation window after a change is blocked.
    let idle = run(&h, fixture("scaler/alarm-emr-memory-idle.json"), 30).await;
    assert_eq!(decisions(&idle)[0], ("emr-task".into(), "cooldown".into()));
    let mut later = fixture("scaler/alarm-emr-memory-idle.json");
    later["detail"]["state"]["timestamp"] = json!("2026-11-23T12:30:00.000+0000");
    // Past the cooldown, the scale-in is first recommended: it waits its delay (1 h).
    let first = run(&h, later, 150).await;
    assert_eq!(
        decisions(&first)[0],
        ("emr-task".into(), "stabilising".into()),
        "{first}"
    );
    assert_eq!(requested().await, 4);
    // The schedule re-evaluates the open decision: still inside the delay, then due.
    let early = run(&h, json!({"command": "tick"}), 180).await;
    assert_eq!(
        decisions(&early),
        [("emr-task".into(), "stabilising".into())],
        "{early}"
    );
    let shrink = run(&h, json!({"command": "tick"}), 211).await;
    assert_eq!(
        (
            shrink["decisions"][0]["from"].clone(),
            shrink["decisions"][0]["to"].clone()
        ),
        (json!(4), json!(3)),
        "{shrink}"
    );
    assert_eq!(requested().await, 3);
    // Paused targets are not touched; explain shows it without claiming the event.
    run(&h, json!({"command": "pause", "target": "emr-task"}), 151).await;
    let mut next = fixture("scaler/alarm-emr-memory-low.json");
    next["detail"]["state"]["timestamp"] = json!("2026-11-23T13:00:00.000+0000");
    let explained = run(
        &h,
        json!({"command": "explain", "event": next.clone()}),
        180,
    )
    .await;
    assert_eq!(explained["decisions"][0]["reason"], "paused");
    let live = run(&h, next.clone(), 181).await;
    assert_eq!(
        live["decisions"][0]["reason"], "paused",
        "explain did not claim the event"
    );
    run(&h, json!({"command": "resume", "target": "emr-task"}), 182).await;
    // A manual scale obeys bounds, ignores cooldowns, and a dry run changes nothing.
    let dry = run(&h, json!({"command": "scale", "target": "emr-task", "size": 9, "reason": "test", "dry_run": true}), 183).await;
    assert_eq!(dry["decision"]["to"], 5);
    assert_eq!(requested().await, 3);
    let real = run(
        &h,
        json!({"command": "scale", "target": "emr-task", "size": 9, "reason": "test"}),
        184,
    )
    .await;
    assert_eq!(real["decision"]["to"], 5);
    assert_eq!(requested().await, 5);
    let mut m = Metrics::with_sink("s", "c", |_: &str| {});
    let err = h
        .service
        .handle(
            json!({"command": "pause", "target": "nope"}),
            t(0),
            until(),
            &mut m,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown target") && err.contains("raw-stream"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_act_once() {
    let h = harness().await;
    // Two different transitions of the same alarm at the same moment (each passes its claim):
    // the state's conditional write lets exactly one of them act.
    let a = alarm("streamops-raw-iterator-age", "2026-11-23T10:00:00.000+0000");
    let b = alarm("streamops-raw-iterator-age", "2026-11-23T10:00:01.000+0000");
    let (ra, rb) = tokio::join!(run(&h, a, 0), run(&h, b, 0));
    let reasons: Vec<String> = [&ra, &rb]
        .iter()
        .map(|r| decisions(r)[0].1.clone())
        .collect();
    assert_eq!(
        reasons.iter().filter(|r| *r == "act").count(),
        1,
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r == "concurrent" || r == "cooldown"),
        "{reasons:?}"
    );
    assert_eq!(shards(&h).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_whose_metric_has_recovered_does_not_scale() {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let h = harness().await;
    let cw = aws_sdk_cloudwatch::Client::new(&h.sdk);
    let put = |value: f64, at: DateTime<Utc>| {
        MetricDatum::builder()
            .metric_name("GetRecords.IteratorAgeMilliseconds")
            .dimensions(
                Dimension::builder()
                    .name("StreamName")
                    .value("streamops-raw")
                    .build(),
            )
            .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                at.timestamp(),
            ))
            .value(value)
            .build()
    };
    // The lag is gone by the time the event is handled: 1 s of iterator age, threshold 60 s.
    cw.put_metric_data()
        .namespace("AWS/Kinesis")
        .metric_data(put(1000.0, t(0) - Duration::seconds(30)))
        .send()
        .await
        .unwrap();
    let out = run(&h, fixture("scaler/alarm-raw-iterator-age.json"), 0).await;
    assert_eq!(
        decisions(&out)[0],
        ("raw-stream".into(), "recovered".into()),
        "{out}"
    );
    assert_eq!(shards(&h).await, 2);
    // Still lagging: it acts.
    cw.put_metric_data()
        .namespace("AWS/Kinesis")
        .metric_data(put(240000.0, t(5) - Duration::seconds(10)))
        .send()
        .await
        .unwrap();
    let out = run(
        &h,
        alarm("streamops-raw-iterator-age", "2026-11-23T10:05:00.000+0000"),
        5,
    )
    .await;
    assert_eq!(
        decisions(&out)[0],
        ("raw-stream".into(), "act".into()),
        "{out}"
    );
}

fn named_alarm(name: &str, state_time: &str) -> Value {
    let mut e = alarm(name, state_time);
    // No single metric to re-read: taken at its word.
    e["detail"]["configuration"] = json!({"metrics": []});
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_fleets_resize_unless_emr_managed_scaling_owns_the_cluster() {
    use aws_sdk_emr::types::{ComputeLimits, ComputeLimitsUnitType, ManagedScalingPolicy};
    let h = harness().await;
    let emr = aws_sdk_emr::Client::new(&h.sdk);
    emr.put_managed_scaling_policy()
        .cluster_id(&h.fleet_cluster)
        .managed_scaling_policy(
            ManagedScalingPolicy::builder()
                .compute_limits(
                    ComputeLimits::builder()
                        .unit_type(ComputeLimitsUnitType::InstanceFleetUnits)
                        .minimum_capacity_units(2)
                        .maximum_capacity_units(20)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = run(
        &h,
        named_alarm("streamops-fleet-pending", "2026-11-23T10:00:00.000+0000"),
        0,
    )
    .await;
    assert_eq!(
        decisions(&out),
        [("fleet".into(), "owned_elsewhere".into())],
        "{out}"
    );
    assert!(
        out["decisions"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("managed scaling")
    );
    emr.remove_managed_scaling_policy()
        .cluster_id(&h.fleet_cluster)
        .send()
        .await
        .unwrap();
    let out = run(
        &h,
        named_alarm("streamops-fleet-pending", "2026-11-23T10:01:00.000+0000"),
        1,
    )
    .await;
    assert_eq!(decisions(&out), [("fleet".into(), "act".into())], "{out}");
    let fleets = emr
        .list_instance_fleets()
        .cluster_id(&h.fleet_cluster)
        .send()
        .await
        .unwrap();
    let f = fleets
        .instance_fleets()
        .iter()
        .find(|f| f.id() == Some(h.fleet.as_str()))
        .unwrap();
    assert_eq!(f.target_spot_capacity(), Some(8));
    assert_eq!(f.target_on_demand_capacity(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lease_makes_a_concurrent_invocation_skip() {
    let h = harness().await;
    let ddb = aws_sdk_dynamodb::Client::new(&h.sdk);
    use aws_sdk_dynamodb::types::AttributeValue as A;
    ddb.put_item()
        .table_name(TABLE)
        .item("pk", A::S("LEASE#raw-stream".into()))
        .item("sk", A::S("LEASE".into()))
        .item("owner", A::S("invocation-7".into()))
        .item("expires_at", A::N((t(10)).timestamp().to_string()))
        .send()
        .await
        .unwrap();
    let out = run(&h, fixture("scaler/alarm-raw-iterator-age.json"), 0).await;
    assert_eq!(
        decisions(&out)[0],
        ("raw-stream".into(), "concurrent".into())
    );
    assert!(
        out["decisions"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("invocation-7"),
        "{out}"
    );
    assert_eq!(shards(&h).await, 2);
    // An expired lease is taken over (its holder died).
    let out = run(
        &h,
        alarm("streamops-raw-iterator-age", "2026-11-23T10:11:00.000+0000"),
        11,
    )
    .await;
    assert_eq!(
        decisions(&out)[0],
        ("raw-stream".into(), "act".into()),
        "{out}"
    );
    assert_eq!(shards(&h).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proportional_sizing_reads_the_load_from_cloudwatch() {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let h = harness().await;
    let cw = aws_sdk_cloudwatch::Client::new(&h.sdk);
    // One datapoint half a minute before `minute`.
    let put = |ns: &str, name: &str, dim: (&str, &str), value: f64, minute: i64| {
        cw.put_metric_data()
            .namespace(ns)
            .metric_data(
                MetricDatum::builder()
                    .metric_name(name)
                    .dimensions(Dimension::builder().name(dim.0).value(dim.1).build())
                    .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                        (t(minute) - Duration::seconds(30)).timestamp(),
                    ))
                    .value(value)
                    .build(),
            )
            .send()
    };
    let stream = ("StreamName", "streamops-enriched");
    let consumer = ("Function", "consumer");
    // 60,000 records a minute in (1,000/s), 48,000 processed (800/s) by 4 shards' consumers,
    // 30 s behind: backlog 30,000 records.
    put("AWS/Kinesis", "IncomingRecords", stream, 60_000.0, 0)
        .await
        .unwrap();
    put(
        "AWS/Kinesis",
        "GetRecords.IteratorAgeMilliseconds",
        stream,
        30_000.0,
        0,
    )
    .await
    .unwrap();
    put("streamops", "RecordsOut", consumer, 48_000.0, 0)
        .await
        .unwrap();
    let out = run(
        &h,
        named_alarm("streamops-enriched-lag", "2026-11-23T10:00:00.000+0000"),
        0,
    )
    .await;
    // Capacity 30,000/300 + 1,000/0.5 = 2,100/s; 4 x 2,100 / 800 = 10.5 -> 11, which the
    // quarter-step alignment of 4 shards takes to 12, and UpdateShardCount caps at double: 8.
    let d = &out["decisions"][0];
    assert_eq!(
        (d["from"].clone(), d["to"].clone()),
        (json!(4), json!(8)),
        "{out}"
    );
    let reason = d["reason"].as_str().unwrap();
    assert!(
        reason.contains("11 needed") && reason.contains("half to double"),
        "{reason}"
    );

    // Ten minutes later the stream has twice the shards, but the consumers still process
    // 800/s with the backlog waiting: the schedule's effectiveness check blocks scale-ups.
    put("AWS/Kinesis", "IncomingRecords", stream, 60_000.0, 10)
        .await
        .unwrap();
    put(
        "AWS/Kinesis",
        "GetRecords.IteratorAgeMilliseconds",
        stream,
        45_000.0,
        10,
    )
    .await
    .unwrap();
    put("streamops", "RecordsOut", consumer, 49_000.0, 10)
        .await
        .unwrap();
    let tick = run(&h, json!({"command": "tick"}), 10).await;
    assert_eq!(
        decisions(&tick),
        [("enriched".into(), "ineffective".into())],
        "{tick}"
    );
    let again = run(
        &h,
        named_alarm("streamops-enriched-lag", "2026-11-23T10:11:00.000+0000"),
        11,
    )
    .await;
    assert_eq!(
        decisions(&again),
        [("enriched".into(), "ineffective".into())],
        "blocked: {again}"
    );
    // `resume` lifts the block.
    run(&h, json!({"command": "resume", "target": "enriched"}), 12).await;
    let status = run(&h, json!({"command": "status"}), 12).await;
    let enriched = status["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "enriched")
        .unwrap();
    assert_eq!(enriched["scale_ups_blocked"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ok_transition_ends_a_waiting_scale_in() {
    let h = harness().await;
    let idle = run(&h, fixture("scaler/alarm-emr-memory-idle.json"), 0).await;
    assert_eq!(
        decisions(&idle)[0],
        ("emr-task".into(), "stabilising".into())
    );
    let mut ok = fixture("scaler/alarm-emr-memory-idle.json");
    ok["detail"]["state"]["value"] = json!("OK");
    ok["detail"]["state"]["timestamp"] = json!("2026-11-23T10:20:00.000+0000");
    let out = run(&h, ok, 20).await;
    assert!(
        out["decisions"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("ends its pending decision"),
        "{out}"
    );
    // Nothing left for the schedule, even after the delay.
    let tick = run(&h, json!({"command": "tick"}), 90).await;
    assert_eq!(tick["decisions"], json!([]), "{tick}");
    let status = run(&h, json!({"command": "status"}), 91).await;
    let task = status["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "emr-task")
        .unwrap();
    assert_eq!(task["pending_scale_in"], Value::Null);
    assert_eq!(task["observed"]["size"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sns_delivered_alarm_scales_and_its_eventbridge_twin_is_a_duplicate() {
    let h = harness().await;
    let out = run(&h, fixture("scaler/sns-alarm-raw-iterator-age.json"), 0).await;
    assert_eq!(
        decisions(&out)[0],
        ("raw-stream".into(), "act".into()),
        "{out}"
    );
    assert_eq!(shards(&h).await, 4);
    let twin = run(&h, fixture("scaler/alarm-raw-iterator-age.json"), 1).await;
    assert_eq!(
        decisions(&twin)[0],
        ("raw-stream".into(), "duplicate".into()),
        "{twin}"
    );
    assert_eq!(shards(&h).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_in_terminates_the_nodes_yarn_reports_empty() {
    let h = harness().await;
    let emr = aws_sdk_emr::Client::new(&h.sdk);
    let instances = emr
        .list_instances()
        .cluster_id(&h.cluster)
        .instance_group_id(&h.task)
        .send()
        .await
        .unwrap();
    let nodes: Vec<(String, String)> = instances
        .instances()
        .iter()
        .map(|i| {
            (
                i.ec2_instance_id().unwrap().to_string(),
                i.private_dns_name().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(nodes.len(), 2);
    // The first node still runs TaskManagers; the second is empty.
    *h.yarn_nodes.lock().unwrap() = json!({"nodes": {"node": [
        {"nodeHostName": nodes[0].1, "state": "RUNNING", "numContainers": 3},
        {"nodeHostName": nodes[1].1, "state": "RUNNING", "numContainers": 0}]}});
    let out = run(
        &h,
        named_alarm("streamops-yarn-idle", "2026-11-23T10:00:00.000+0000"),
        0,
    )
    .await;
    let d = out["decisions"].as_array().unwrap();
    assert_eq!(
        (d[0]["from"].clone(), d[0]["to"].clone()),
        (json!(2), json!(1)),
        "{out}"
    );
    assert_eq!(d[1]["decision"], "shrink_plan", "{out}");
    assert_eq!(d[1]["instances_to_terminate"], json!([nodes[1].0]), "{out}");
}

/// An SNS alarm message rewritten: `edit` changes the decoded message.
fn sns_message(file: &str, edit: impl FnOnce(&mut Value)) -> Value {
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

/// Issue 14: the SNS shapes CloudWatch really sends (description null, no alarm ARN, anomaly
/// detection without a threshold) scale, and an OK delivered that way ends the open decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_sns_shapes_scale_and_an_ok_through_sns_ends_the_open_decision() {
    let h = harness().await;
    let anomaly = sns_message(
        "scaler/sns-alarm-emr-containers-pending-anomaly.json",
        |m| {
            m["AlarmName"] = json!("streamops-raw-iterator-age");
        },
    );
    let out = run(&h, anomaly, 0).await;
    assert_eq!(
        decisions(&out)[0],
        ("raw-stream".into(), "act".into()),
        "{out}"
    );
    assert_eq!(shards(&h).await, 4);
    // A scale-in waiting for its delay, then its OK through SNS, no description, no ARN.
    let idle = run(&h, fixture("scaler/alarm-emr-memory-idle.json"), 1).await;
    assert_eq!(
        decisions(&idle)[0],
        ("emr-task".into(), "stabilising".into())
    );
    let ok = sns_message("scaler/sns-alarm-raw-iterator-age-ok-no-arn.json", |m| {
        m["AlarmName"] = json!("streamops-emr-memory-idle");
        m["AlarmDescription"] = Value::Null;
        m["StateChangeTime"] = json!("2026-11-23T10:20:00.000+0000");
    });
    let out = run(&h, ok, 20).await;
    assert!(
        out["decisions"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("ends its pending decision"),
        "{out}"
    );
    let tick = run(&h, json!({"command": "tick"}), 90).await;
    assert_eq!(tick["decisions"], json!([]), "{tick}");
}

/// Issue 14: CloudWatch suppressed the transition's actions: no scaling, no claim, so the
/// same state once the actions do run (the wait period ended) scales.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_whose_actions_cloudwatch_suppressed_does_not_scale() {
    let h = harness().await;
    let mut suppressed = fixture("scaler/alarm-raw-iterator-age.json");
    suppressed["detail"]["state"]["actionsSuppressedBy"] = json!("WaitPeriod");
    suppressed["detail"]["state"]["actionsSuppressedReason"] =
        json!("Actions suppressed by WaitPeriod");
    let out = run(&h, suppressed, 0).await;
    assert_eq!(
        decisions(&out)[0],
        ("raw-stream".into(), "actions_suppressed".into()),
        "{out}"
    );
    assert_eq!(shards(&h).await, 2);
    let runs = alarm("streamops-raw-iterator-age", "2026-11-23T10:02:00.000+0000");
    let out = run(&h, runs, 2).await;
    assert_eq!(
        decisions(&out)[0],
        ("raw-stream".into(), "act".into()),
        "{out}"
    );
    assert_eq!(shards(&h).await, 4);
}
