//! The scaler's Flink path against a real Flink 2.3 session cluster on this machine (started by
//! `scripts/flink/local_flink.py --serve` from the apache-flink-libraries jars and JDK 17):
//! an in-place rescale with the adaptive scheduler, and a stop-with-savepoint and resubmit with
//! the default scheduler. The test fails, never skips, when Java or the jars are missing.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use chrono::Utc;
use scaler::config::ScalerConfig;
use scaler::service::ScalerService;
use scaler::state::ScalerStore;
use scaler::targets::{FlinkJobView, Targets, flink_job};
use serde_json::{Value, json};
use streamops_shared::{EnvReader, Metrics};
use streamops_test_support::{MotoServer, create_table, fixture, repo_root};

struct Flink {
    child: Child,
    info: Value,
}

impl Flink {
    fn start(adaptive: bool) -> Self {
        let python = repo_root().join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} missing: run `make setup`",
            python.display()
        );
        let mut cmd = Command::new(python);
        cmd.args(["-m", "scripts.flink.local_flink", "--serve"])
            .current_dir(repo_root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if adaptive {
            cmd.arg("--adaptive");
        }
        let mut child = cmd.spawn().expect("start the local Flink harness");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let info: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("Flink harness did not start ({e}): {line:?}"));
        Flink { child, info }
    }
}

impl Drop for Flink {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // EOF: the harness stops the cluster and cleans up
        let _ = self.child.wait();
    }
}

async fn service(moto: &MotoServer, target: Value) -> ScalerService {
    let sdk = moto.sdk_config().await;
    create_table(&sdk, "scaler", Some("sk")).await;
    create_table(&sdk, "checkpoints", Some("sk")).await;
    let policies = json!({
        "targets": [target],
        "rules": [{"alarm": "streamops-flink-lag", "target": "flink", "direction": "out"}]
    });
    let env = EnvReader::from_map(
        [
            ("SCALER_TABLE", "scaler".to_string()),
            ("SCALER_POLICIES", policies.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    );
    ScalerService {
        config: ScalerConfig::read(env).unwrap(),
        store: ScalerStore::new(aws_sdk_dynamodb::Client::new(&sdk), "scaler"),
        targets: Targets {
            kinesis: aws_sdk_kinesis::Client::new(&sdk),
            emr: aws_sdk_emr::Client::new(&sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
        },
        notifier: None,
    }
}

fn lag_alarm() -> Value {
    let mut e = fixture("scaler/alarm-raw-iterator-age.json");
    e["detail"]["alarmName"] = json!("streamops-flink-lag");
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_scheduler_rescales_in_place() {
    let flink = Flink::start(true);
    let rest = flink.info["rest"].as_str().unwrap().to_string();
    let moto = MotoServer::start();
    let svc = service(
        &moto,
        json!({"id": "flink", "kind": "flink_job", "rest_url": rest, "job_name": flink.info["name"],
                                    "mode": "adaptive", "min": 1, "max": 3}),
    )
    .await;
    let mut m = Metrics::with_sink("s", "scaler", |_: &str| {});
    let out = svc.handle(lag_alarm(), Utc::now(), &mut m).await.unwrap();
    assert_eq!(
        (
            out["decisions"][0]["from"].clone(),
            out["decisions"][0]["to"].clone()
        ),
        (json!(1), json!(2)),
        "{out}"
    );
    match flink_job(&rest, "streamops-counting-job").await.unwrap() {
        FlinkJobView::Running {
            job_id,
            parallelism,
            ..
        } => {
            assert_eq!(parallelism, 2);
            assert_eq!(
                job_id,
                flink.info["job"].as_str().unwrap(),
                "in place: the same job"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_scheduler_rescales_by_savepoint_and_resubmit() {
    let flink = Flink::start(false);
    let rest = flink.info["rest"].as_str().unwrap().to_string();
    let moto = MotoServer::start();
    let svc = service(&moto, json!({"id": "flink", "kind": "flink_job", "rest_url": rest, "job_name": flink.info["name"],
                                    "mode": "savepoint", "jar_id": flink.info["jar"], "entry_class": flink.info["entry_class"], "pipeline": "counting",
                                    "min": 1, "max": 3})).await;
    let mut m = Metrics::with_sink("s", "scaler", |_: &str| {});
    let out = svc.handle(lag_alarm(), Utc::now(), &mut m).await.unwrap();
    assert_eq!(out["decisions"][0]["to"], 2, "{out}");
    let FlinkJobView::Running {
        job_id,
        parallelism,
        ..
    } = flink_job(&rest, "streamops-counting-job").await.unwrap()
    else {
        panic!("no running job after the rescale");
    };
    assert_eq!(parallelism, 2);
    assert_ne!(
        job_id,
        flink.info["job"].as_str().unwrap(),
        "a new job, resubmitted"
    );
    let checkpoints =
        streamops_shared::http::get_json(&rest, &format!("/jobs/{job_id}/checkpoints"))
            .await
            .unwrap();
    let restored = checkpoints["latest"]["restored"]["external_path"]
        .as_str()
        .unwrap_or_default();
    assert!(
        restored.contains("savepoint-"),
        "restored from the savepoint: {checkpoints}"
    );
}
