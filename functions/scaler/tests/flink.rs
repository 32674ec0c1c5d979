//! The scaler's Flink path against a real Flink 2.3 session cluster on this machine (started by
//! `scripts/flink/local_flink.py --serve` from the apache-flink-libraries jars and JDK 17):
//! an in-place rescale with the adaptive scheduler, and a stop-with-savepoint and resubmit with
//! the default scheduler; and the failure paths: a savepoint Flink cannot write (the job keeps
//! running), a savepoint that times out (reported, then resumed by the schedule), and a
//! resubmission that fails (rolled back to the old parallelism from the same savepoint). The
//! last two put a fault-injecting HTTP proxy between the scaler and the real JobManager.
//! The tests fail, never skip, when Java or the jars are missing.

// The master-only EMR cluster the moto tests use too.
#[path = "moto/clusters.rs"]
mod clusters;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use chrono::Utc;
use scaler::adapters::{AwsPorts, FlinkRest};
use scaler::config::ScalerConfig;
use scaler::flink::{FlinkJobView, flink_job};
use scaler::service::ScalerService;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use streamops_shared::{EnvReader, Metrics};
use streamops_test_support::{MotoServer, create_table, fixture, repo_root};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

async fn service(moto: &MotoServer, target: Value) -> ScalerService<AwsPorts> {
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
    let config = ScalerConfig::read(env).unwrap();
    ScalerService {
        ports: scaler::adapters::aws(&sdk, &config),
        config,
    }
}

fn until(secs: u64) -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(secs)
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
    let out = svc
        .handle(lag_alarm(), Utc::now(), until(120), &mut m)
        .await
        .unwrap();
    assert_eq!(
        (
            out["decisions"][0]["from"].clone(),
            out["decisions"][0]["to"].clone()
        ),
        (json!(1), json!(2)),
        "{out}"
    );
    let (job_id, parallelism) = running(&rest).await;
    assert_eq!(parallelism, 2);
    assert_eq!(
        job_id,
        flink.info["job"].as_str().unwrap(),
        "in place: the same job"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_scheduler_rescales_by_savepoint_and_resubmit() {
    let flink = Flink::start(false);
    let rest = flink.info["rest"].as_str().unwrap().to_string();
    let moto = MotoServer::start();
    let svc = service(&moto, savepoint_target(&rest, &flink, json!({}))).await;
    let mut m = Metrics::with_sink("s", "scaler", |_: &str| {});
    let out = svc
        .handle(lag_alarm(), Utc::now(), until(120), &mut m)
        .await
        .unwrap();
    assert_eq!(out["decisions"][0]["to"], 2, "{out}");
    let (job_id, parallelism) = running(&rest).await;
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

/// What the proxy does to requests on their way to the JobManager.
#[derive(Default)]
struct Faults {
    /// Answer every savepoint status poll with IN_PROGRESS.
    hold_savepoints: bool,
    /// Fail `POST /jars/:id/run` asking for this parallelism with HTTP 500.
    fail_run_at: Option<u32>,
}

/// A loopback HTTP proxy to `upstream` that injects `Faults`; returns its base URL.
async fn fault_proxy(upstream: &str, faults: Arc<Mutex<Faults>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream.trim_start_matches("http://").to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let upstream = upstream.clone();
            let faults = faults.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 8192];
                // Head, then as much body as Content-Length says.
                let (head_end, length) = loop {
                    let n = client.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    req.extend_from_slice(&buf[..n]);
                    if let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&req[..i]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, length);
                    }
                };
                while req.len() < head_end + length {
                    let n = client.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    req.extend_from_slice(&buf[..n]);
                }
                let head = String::from_utf8_lossy(&req[..head_end]).to_string();
                let body: Value = serde_json::from_slice(&req[head_end..]).unwrap_or(Value::Null);
                let line = head.lines().next().unwrap_or_default().to_string();
                let injected = {
                    let f = faults.lock().unwrap();
                    if f.hold_savepoints
                        && line.starts_with("GET ")
                        && line.contains("/savepoints/")
                    {
                        Some((200, json!({"status": {"id": "IN_PROGRESS"}})))
                    } else if line.starts_with("POST ")
                        && line.contains("/run ")
                        && f.fail_run_at.is_some()
                        && body["parallelism"].as_u64() == f.fail_run_at.map(u64::from)
                    {
                        Some((
                            500,
                            json!({"errors": ["injected: the JobManager refused the job"]}),
                        ))
                    } else {
                        None
                    }
                };
                if let Some((status, v)) = injected {
                    let text = v.to_string();
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = client.write_all(resp.as_bytes()).await;
                    return;
                }
                let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = up.write_all(&req).await;
                let mut resp = Vec::new();
                let _ = up.read_to_end(&mut resp).await;
                let _ = client.write_all(&resp).await;
            });
        }
    });
    url
}

fn savepoint_target(rest: &str, flink: &Flink, extra: Value) -> Value {
    let mut t = json!({"id": "flink", "kind": "flink_job", "rest_url": rest, "job_name": flink.info["name"],
        "mode": "savepoint", "jar_id": flink.info["jar"], "entry_class": flink.info["entry_class"],
        "pipeline": "counting", "min": 1, "max": 3, "scale_out_cooldown_seconds": 0});
    t.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    t
}

async fn running(rest: &str) -> (String, u32) {
    match flink_job(&FlinkRest, rest, "streamops-counting-job")
        .await
        .unwrap()
    {
        FlinkJobView::Running {
            job_id,
            parallelism,
            ..
        } => (job_id, parallelism),
        other => panic!("the job is not running: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_savepoint_flink_cannot_write_leaves_the_job_running() {
    let flink = Flink::start(false);
    let rest = flink.info["rest"].as_str().unwrap().to_string();
    let moto = MotoServer::start();
    // /proc refuses new directories: a real savepoint failure.
    let svc = service(
        &moto,
        savepoint_target(
            &rest,
            &flink,
            json!({"savepoint_dir": "file:///proc/streamops-denied/savepoints"}),
        ),
    )
    .await;
    let mut m = Metrics::with_sink("s", "scaler", |_: &str| {});
    let out = svc
        .handle(lag_alarm(), Utc::now(), until(120), &mut m)
        .await
        .unwrap();
    let d = out["decisions"].as_array().unwrap();
    assert_eq!(d[0]["decision"], "act", "{out}");
    assert_eq!(d[1]["decision"], "failed", "{out}");
    assert!(
        d[1]["error"].as_str().unwrap().contains("keeps running"),
        "{out}"
    );
    let (job, parallelism) = running(&rest).await;
    assert_eq!(
        (job.as_str(), parallelism),
        (flink.info["job"].as_str().unwrap(), 1)
    );
    let status = svc
        .handle(json!({"command": "status"}), Utc::now(), until(30), &mut m)
        .await
        .unwrap();
    assert_eq!(status["targets"][0]["rescale_in_progress"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_resubmit_rolls_back_and_a_slow_savepoint_resumes_on_the_next_invocation() {
    let flink = Flink::start(false);
    let real = flink.info["rest"].as_str().unwrap().to_string();
    let faults = Arc::new(Mutex::new(Faults {
        fail_run_at: Some(2),
        ..Default::default()
    }));
    let rest = fault_proxy(&real, faults.clone()).await;
    let moto = MotoServer::start();
    let svc = service(
        &moto,
        savepoint_target(&rest, &flink, json!({"savepoint_timeout_seconds": 3})),
    )
    .await;
    let mut m = Metrics::with_sink("s", "scaler", |_: &str| {});

    // 1. The JobManager refuses the job at parallelism 2: back to 1 from the same savepoint.
    let out = svc
        .handle(lag_alarm(), Utc::now(), until(120), &mut m)
        .await
        .unwrap();
    let d = out["decisions"].as_array().unwrap();
    assert_eq!(d[0]["decision"], "act", "{out}");
    assert_eq!(d[1]["decision"], "failed", "{out}");
    let error = d[1]["error"].as_str().unwrap();
    assert!(
        error.contains("injected") && error.contains("old parallelism 1"),
        "{error}"
    );
    let (rolled_back, parallelism) = running(&real).await;
    assert_eq!(parallelism, 1);
    assert_ne!(
        rolled_back,
        flink.info["job"].as_str().unwrap(),
        "resubmitted"
    );

    // 2. The savepoint takes longer than its timeout: reported, the invocation ends, and the
    //    state machine keeps the trigger.
    {
        let mut f = faults.lock().unwrap();
        f.fail_run_at = None;
        f.hold_savepoints = true;
    }
    let mut again = lag_alarm();
    again["detail"]["state"]["timestamp"] = json!("2026-11-23T11:00:00.000+0000");
    let out = svc
        .handle(again, Utc::now(), until(6), &mut m)
        .await
        .unwrap();
    let d = out["decisions"].as_array().unwrap();
    assert_eq!(d[0]["decision"], "act", "{out}");
    assert_eq!(d[1]["decision"], "failed", "{out}");
    assert!(
        d[1]["error"]
            .as_str()
            .unwrap()
            .contains("not complete after 3 s"),
        "{out}"
    );
    let status = svc
        .handle(json!({"command": "status"}), Utc::now(), until(30), &mut m)
        .await
        .unwrap();
    assert_eq!(
        status["targets"][0]["rescale_in_progress"]["phase"]["phase"], "stopping",
        "{status}"
    );

    // 3. The schedule's next pass sees the savepoint complete and finishes the rescale.
    faults.lock().unwrap().hold_savepoints = false;
    let tick = svc
        .handle(json!({"command": "tick"}), Utc::now(), until(120), &mut m)
        .await
        .unwrap();
    let rescaled = tick["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["decision"] == "rescaled")
        .unwrap_or_else(|| panic!("{tick}"));
    assert_eq!(rescaled["parallelism"], 2);
    let (job, parallelism) = running(&real).await;
    assert_eq!(parallelism, 2);
    assert_eq!(rescaled["job_id"], job.as_str());
    assert!(
        rescaled["savepoint"]
            .as_str()
            .unwrap()
            .contains("savepoint-")
    );
}

/// Stands in for EMR's step runner (moto records steps but runs nothing): every
/// `streamops-rescale-*` step added to `cluster` is executed as the `flink run -s <savepoint>
/// -p <n> -c <class> <jar>` it asks for, against the real JobManager's uploaded jar.
fn run_emr_steps(sdk: aws_config::SdkConfig, cluster: String, rest: String, jar_id: String) {
    tokio::spawn(async move {
        let emr = aws_sdk_emr::Client::new(&sdk);
        let mut done = std::collections::HashSet::new();
        loop {
            let steps = emr.list_steps().cluster_id(&cluster).send().await.unwrap();
            for step in steps.steps() {
                let name = step.name().unwrap_or_default().to_string();
                if !name.starts_with("streamops-rescale-") || !done.insert(name) {
                    continue;
                }
                let args = step.config().unwrap().args();
                let after = |flag: &str| {
                    args.iter()
                        .position(|a| a == flag)
                        .map(|i| args[i + 1].clone())
                };
                assert_eq!(&args[..3], ["flink", "run", "-d"], "{args:?}");
                assert_eq!(args.last().unwrap(), "s3://artifacts/counting-job.jar");
                let body = json!({"savepointPath": after("-s").unwrap(),
                    "parallelism": after("-p").unwrap().parse::<u32>().unwrap(),
                    "entryClass": after("-c").unwrap()});
                scaler::adapters::flink_rest::call(
                    &rest,
                    "POST",
                    &format!("/jars/{jar_id}/run"),
                    Some(&body),
                )
                .await
                .unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoint_mode_resubmits_through_an_emr_step() {
    let flink = Flink::start(false);
    let rest = flink.info["rest"].as_str().unwrap().to_string();
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let cluster = clusters::master_only_cluster(&sdk, "flink").await;
    let target = json!({"id": "flink", "kind": "flink_job", "rest_url": rest, "job_name": flink.info["name"],
        "mode": "savepoint", "entry_class": flink.info["entry_class"], "pipeline": "counting",
        "emr_step": {"cluster_id": cluster, "jar": "s3://artifacts/counting-job.jar"},
        "min": 1, "max": 3});
    let svc = service(&moto, target).await;
    run_emr_steps(
        sdk.clone(),
        cluster.clone(),
        rest.clone(),
        flink.info["jar"].as_str().unwrap().to_string(),
    );
    let mut m = Metrics::with_sink("s", "scaler", |_: &str| {});
    let out = svc
        .handle(lag_alarm(), Utc::now(), until(120), &mut m)
        .await
        .unwrap();
    let d = out["decisions"].as_array().unwrap();
    assert_eq!(d[1]["decision"], "rescaled", "{out}");
    let (job, parallelism) = running(&rest).await;
    assert_eq!(
        (d[1]["job_id"].as_str().unwrap(), parallelism),
        (job.as_str(), 2)
    );
    // One step, named after the rescale's trigger, asking for parallelism 2.
    let steps = aws_sdk_emr::Client::new(&sdk)
        .list_steps()
        .cluster_id(&cluster)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = steps.steps().iter().filter_map(|s| s.name()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("streamops-rescale-") && names[0].ends_with("-p2"));
}
