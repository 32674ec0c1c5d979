//! EMR targets: a task group grown and shrunk slowly (pause, explain), instance fleets and
//! EMR managed scaling, a waiting scale-in ended by OK, YARN-guided node termination.

use crate::harness::*;
use serde_json::{Value, json};
use streamops_shared::Metrics;
use streamops_test_support::fixture;

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
