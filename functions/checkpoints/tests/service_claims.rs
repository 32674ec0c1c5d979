//! CLAIM restores over in-memory fakes of the ports: job 2 retained three incremental
//! checkpoints; job 3 restored from the newest in CLAIM mode, so its Flink deletes the shared
//! files job 2's checkpoints reference once it subsumes that checkpoint. None of job 2's
//! checkpoints may be offered for restore after the claim; its savepoints (self-contained) may.

mod support;

use serde_json::{Value, json};
use support::*;

const JOB3: &str = "0123456789abcdef0123456789abcdef";

async fn claimed_world(restore_mode: &str) -> (Service, Fakes, String) {
    let (service, fakes) = service();
    run(
        &service,
        json!({"command": "register-job", "pipeline": "clicks", "job_id": JOB}),
    )
    .await;
    run(&service, savepoint(&fakes, "00000000000a", 1, 1)).await;
    for id in 1..=3 {
        run(&service, checkpoint(&fakes, JOB, id, 10 + id as i64)).await;
    }
    let newest = location(&checkpoint_dir(JOB, 3));
    run(
        &service,
        json!({"command": "register-job", "pipeline": "clicks", "job_id": JOB3,
               "restored_from": newest.trim_end_matches('/'), "restore_mode": restore_mode}),
    )
    .await;
    (service, fakes, newest)
}

fn statuses(list: &Value) -> Vec<(String, String)> {
    list["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["location"].as_str().unwrap().to_string(),
                p["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn after_a_claim_restore_the_old_jobs_checkpoints_are_not_offered() {
    let (service, _fakes, newest) = claimed_world("CLAIM").await;
    let latest = run(&service, json!({"command": "latest", "job_id": JOB})).await;
    assert_eq!(
        latest["location"],
        location(&savepoint_dir("00000000000a")),
        "the savepoint, not a checkpoint sharing the claimed state: {latest}"
    );
    let checkpoint = run(
        &service,
        json!({"command": "latest", "job_id": JOB, "prefer": "checkpoint"}),
    )
    .await;
    assert_ne!(checkpoint["kind"], "checkpoint", "{checkpoint}");
    let list = run(&service, json!({"command": "list", "job_id": JOB})).await;
    for id in 1..=3 {
        let here = location(&checkpoint_dir(JOB, id));
        assert!(
            statuses(&list).contains(&(here, "claimed".into())),
            "chk-{id}: {list}"
        );
    }
    assert!(
        list["claimed"]
            .as_array()
            .unwrap()
            .contains(&json!({"location": newest, "claimed_by": JOB3}))
    );
    let plan = run(
        &service,
        json!({"command": "prune", "pipeline": "clicks", "dry_run": true}),
    )
    .await;
    let planned = plan["prune"].as_array().unwrap();
    assert!(
        planned.iter().all(|l| !l.as_str().unwrap().contains(JOB)),
        "the claimed files are the claiming job's to delete: {plan}"
    );
}

#[tokio::test]
async fn a_no_claim_restore_leaves_the_old_job_its_checkpoints() {
    let (service, _fakes, newest) = claimed_world("NO_CLAIM").await;
    let latest = run(&service, json!({"command": "latest", "job_id": JOB})).await;
    assert_eq!(latest["location"], newest);
    let list = run(&service, json!({"command": "list", "job_id": JOB})).await;
    assert!(
        statuses(&list).iter().all(|(_, s)| s == "restorable"),
        "{list}"
    );
    assert_eq!(list["claimed"], json!([]));
}

#[tokio::test]
async fn each_read_command_reads_the_lineage_and_each_jobs_points_once() {
    let (service, fakes, _) = claimed_world("CLAIM").await;
    let lineage_reads = || fakes.book.script.calls("Query (lineage)");
    let point_reads = || fakes.book.script.calls("Query (points)");
    for command in [
        json!({"command": "list", "pipeline": "clicks"}),
        json!({"command": "latest", "pipeline": "clicks"}),
        json!({"command": "list", "job_id": JOB}),
    ] {
        let (lineage, points) = (lineage_reads(), point_reads());
        run(&service, command.clone()).await;
        assert_eq!(lineage_reads() - lineage, 1, "{command}");
        // The pipeline's two jobs, or the one job.
        let jobs = if command.get("pipeline").is_some() {
            2
        } else {
            1
        };
        assert_eq!(point_reads() - points, jobs, "{command}");
    }
}
