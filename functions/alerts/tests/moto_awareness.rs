//! Contract tests of suite awareness's adapters on a real moto server: the activities in the
//! state table (a later start or end under a key is never replaced by an older one) and the
//! checkpoints book read by the layout `streamops_shared::book_keys` owns; then the handler
//! end to end: an alarm after a resize and a checkpoint failure, as SNS delivers it.

mod support;

use support::moto_harness::{BOOK_TABLE, harness, harness_with};
use support::{at, scaler_decision};

use alerts::book::BookReader;
use alerts::context::RestorePoint;
use alerts::context::change_of;
use alerts::normalize::normalize;
use alerts::ports::{ActivityStore, RestorePoints};
use serde_json::{Value, json};
use streamops_shared::book_keys::{self, LATEST, POINT_STATUS, pointer_attr as ptr};
use streamops_shared::dynamo::{n, s};
use streamops_test_support::fixture;

const JOB: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const CHK: &str =
    "s3://streamops-checkpoints/flink/checkpoints/a1b2c3d4e5f60718293a4b5c6d7e8f90/chk-41";

/// The pipeline's latest pointer and its point, as the checkpoints function writes them.
async fn book_a_point(sdk: &aws_config::SdkConfig, pipeline: &str, status: &str) {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let point_sk = book_keys::checkpoint_sk(41);
    let mut pointer = book_keys::key(book_keys::pipeline_pk(pipeline), LATEST.into());
    pointer.insert(ptr::LOCATION.into(), s(CHK));
    pointer.insert(ptr::KIND.into(), s("checkpoint"));
    pointer.insert(ptr::JOB_ID.into(), s(JOB));
    pointer.insert(ptr::POINT_SK.into(), s(point_sk.clone()));
    pointer.insert(ptr::COMPLETED_AT.into(), s("2026-11-27T08:56:01+00:00"));
    pointer.insert(ptr::CHECKPOINT_ID.into(), n(41));
    let mut point = book_keys::key(book_keys::job_pk(JOB), point_sk);
    point.insert(POINT_STATUS.into(), s(status));
    for item in [pointer, point] {
        ddb.put_item()
            .table_name(BOOK_TABLE)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_book_reader_names_the_latest_point_and_what_became_of_it() {
    let h = harness().await;
    let reader = BookReader::new(
        aws_sdk_dynamodb::Client::new(&h.sdk),
        Some(BOOK_TABLE.into()),
    );
    assert_eq!(reader.latest_point("clicks").await.unwrap(), None);
    book_a_point(&h.sdk, "clicks", "restorable").await;
    let point = reader.latest_point("clicks").await.unwrap().unwrap();
    assert_eq!(
        point,
        RestorePoint {
            location: CHK.into(),
            kind: "checkpoint".into(),
            job_id: JOB.into(),
            checkpoint_id: Some(41),
            completed_at: Some(at("2026-11-27T08:56:01Z")),
            status: Some("restorable".into()),
        }
    );
    book_a_point(&h.sdk, "clicks", "claimed").await;
    let claimed = reader.latest_point("clicks").await.unwrap().unwrap();
    assert!(
        claimed.annotation().contains("marked claimed"),
        "{}",
        claimed.annotation()
    );
    // No book configured: no point, and no call.
    let none = BookReader::new(aws_sdk_dynamodb::Client::new(&h.sdk), None);
    assert_eq!(none.latest_point("clicks").await.unwrap(), None);
}

fn activity_of(event: &Value) -> alerts::context::Activity {
    let alert = normalize(event, at("2026-11-23T10:00:00Z"), &Default::default()).remove(0);
    change_of(&alert, &event["detail"]).unwrap()
}

#[tokio::test]
async fn the_state_table_keeps_the_latest_start_or_end_of_each_activity() {
    let h = harness().await;
    let store = &h.service.store;
    let start = activity_of(&scaler_decision("scaled", "d1", "2026-11-23T10:00:00Z"));
    store.record_activity(&start).await.unwrap();
    store.record_activity(&start).await.unwrap(); // a redelivery
    assert_eq!(store.list_activities().await.unwrap(), vec![start.clone()]);
    let older = activity_of(&scaler_decision("scaled", "d0", "2026-11-23T09:58:00Z"));
    store.record_activity(&older).await.unwrap();
    assert_eq!(store.list_activities().await.unwrap(), vec![start.clone()]);
    let end = activity_of(&scaler_decision("rescaled", "d2", "2026-11-23T10:03:00Z"));
    store.record_activity(&end).await.unwrap();
    store.record_activity(&start).await.unwrap(); // the start, late
    let stored = store.list_activities().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].ended, "{stored:?}");
}

#[tokio::test]
async fn an_alarm_on_a_resized_stream_after_a_checkpoint_failure_says_both_through_sns() {
    let h = harness_with(&[(
        "ALERTS_RESOURCE_LABELS",
        r#"{"streamops-": {"pipeline": "clicks"}}"#,
    )])
    .await;
    book_a_point(&h.sdk, "clicks", "restorable").await;
    let mut scaled = scaler_decision("scaled", "d1", "2026-11-27T09:00:00Z");
    scaled["detail"]["settles_by"] = json!("2026-11-27T09:05:00Z");
    h.handle(scaled, at("2026-11-27T09:00:01Z")).await.unwrap();
    h.handle(
        fixture("alerts/checkpoint-health-failing.json"),
        at("2026-11-27T09:00:02Z"),
    )
    .await
    .unwrap();
    h.received().await;
    let mut alarm = fixture("alerts/alarm-iterator-age-alarm.json");
    alarm["detail"]["state"]["timestamp"] = json!("2026-11-27T09:01:00.000+0000");
    alarm["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] =
        json!({"StreamName": "streamops-raw"});
    h.handle(alarm, at("2026-11-27T09:01:01Z")).await.unwrap();
    let msgs = h.received().await;
    assert_eq!(msgs.len(), 1, "{msgs:#?}");
    let body = msgs[0]["Message"].as_str().unwrap();
    assert!(
        body.contains("the scaler is resizing raw-stream 2 -> 4 since 09:00:00Z"),
        "{body}"
    );
    assert!(
        body.contains("checkpoints of pipeline clicks are failing"),
        "{body}"
    );
    assert!(
        body.contains(&format!("{CHK} (checkpoint 41 of job {JOB}")),
        "{body}"
    );
}
