//! The book's savepoint items against a real moto server (DynamoDB, with S3 for the bucket):
//! the claim of a schedule slot taken once (and again once expired), its state rewritten, the
//! trigger noted by directory and copied onto the point whichever books it first; then the
//! whole `savepoint` command over the moto book and bucket, with Flink's recorded answers.

use checkpoints::{
    Book, BookStore, CheckpointBucket, CheckpointsService, ClaimState, PointId, PointKind,
    SavepointClaim, SavepointTrigger, TriggerKind,
};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use streamops_shared::Metrics;
use streamops_shared::dynamo::WriteOutcome;
use streamops_test_support::{MotoServer, create_bucket, fixture};

mod support;
use support::{BUCKET, FakeFlink, FakeNotifier, JOB, config, create_book, metadata};

const TABLE: &str = "streamops-checkpoints";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn claim(slot: &str, requested_at: DateTime<Utc>) -> SavepointClaim {
    SavepointClaim {
        pipeline: "clicks".into(),
        slot: slot.into(),
        job_id: JOB.into(),
        trigger: SavepointTrigger {
            kind: TriggerKind::Scheduled,
            trigger_id: "5a7e0c1d2b3f40516273849a0b1c2d3e".into(),
            requested_by: "arn:aws:scheduler:us-east-1:123456789012:schedule/default/s".into(),
            requested_at,
        },
        state: ClaimState::Triggered { posted: false },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_is_claimed_once_its_state_moves_and_the_trigger_reaches_the_point() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    create_book(&sdk, TABLE).await;
    let book = Book::new(aws_sdk_dynamodb::Client::new(&sdk), TABLE);
    let now = at("2026-11-27T00:40:00Z");
    let mut c = claim("scheduled-2026-11-27T00:40:00+00:00", now);
    assert_eq!(
        book.claim_savepoint(&c).await.unwrap(),
        WriteOutcome::Written
    );
    let mut other = c.clone();
    other.job_id = "ffeedd00112233445566778899aabbcc".into();
    assert_eq!(
        book.claim_savepoint(&other).await.unwrap(),
        WriteOutcome::ConditionFailed
    );
    assert_eq!(
        book.savepoint_claim("clicks", &c.slot).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        book.savepoint_claim("clicks", "scheduled-other")
            .await
            .unwrap(),
        None
    );
    for state in [
        ClaimState::Triggered { posted: true },
        ClaimState::Completed {
            location: "s3://b/flink/savepoints/savepoint-a1b2c3-0123456789ab".into(),
        },
        ClaimState::Failed {
            reason: "Flink failed the savepoint: IO-problem".into(),
        },
    ] {
        c.state = state;
        book.update_claim(&c).await.unwrap();
        assert_eq!(
            book.savepoint_claim("clicks", &c.slot).await.unwrap(),
            Some(c.clone())
        );
    }
    // Past its 30 days the claim counts as absent (DynamoDB deletes expired items lazily).
    let late = claim(&c.slot, now + Duration::days(31));
    assert_eq!(
        book.claim_savepoint(&late).await.unwrap(),
        WriteOutcome::Written
    );

    let dir = "flink/savepoints/savepoint-a1b2c3-0123456789ab/";
    let id = PointId::new(JOB, PointKind::Savepoint, None, dir);
    assert_eq!(book.trigger_of(dir).await.unwrap(), None);
    book.note_trigger(dir, &c.trigger).await.unwrap();
    assert_eq!(book.trigger_of(dir).await.unwrap(), Some(c.trigger.clone()));
    assert!(
        !book.set_trigger(&id, &c.trigger).await.unwrap(),
        "no point yet: nothing created"
    );
    assert!(book.point(&id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_savepoint_command_books_its_point_with_the_trigger_in_the_moto_book() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    create_book(&sdk, TABLE).await;
    create_bucket(&sdk, BUCKET).await;
    let s3 = streamops_shared::aws::s3_client(&sdk, true);
    let flink = FakeFlink::default();
    let notifier = FakeNotifier::default();
    let service = CheckpointsService {
        config: config(&[("CHECKPOINTS_FLINK_REST_URL", "http://127.0.0.1:1")]),
        book: Book::new(aws_sdk_dynamodb::Client::new(&sdk), TABLE),
        bucket: CheckpointBucket::new(s3.clone(), BUCKET),
        flink: flink.clone(),
        notifier,
    };
    let mut m = Metrics::with_sink("streamops", "checkpoints", |_: &str| {});
    let now = at("2026-11-27T00:40:02Z");
    let register = json!({"command": "register-job", "pipeline": "clicks", "job_id": JOB});
    service.handle(register, now, &mut m).await.unwrap();
    let dir = "flink/savepoints/savepoint-a1b2c3-00000000ab12/";
    s3.put_object()
        .bucket(BUCKET)
        .key(format!("{dir}_metadata"))
        .body(metadata(42).into())
        .send()
        .await
        .unwrap();
    flink.jobs(&[(JOB, "clicks", "RUNNING")]);
    let mut done = fixture("checkpoints/flink/savepoint-completed.json");
    done["operation"]["location"] = json!(format!("s3a://{BUCKET}/{}", dir.trim_end_matches('/')));
    flink.statuses(vec![
        Ok(fixture("checkpoints/flink/savepoint-in-progress.json")),
        Ok(done),
    ]);
    let cmd = json!({"command": "savepoint", "pipeline": "clicks", "dry_run": false,
                     "schedule_time": "2026-11-27T00:40:00Z", "requested_by": "schedule"});
    let out = service.handle(cmd.clone(), now, &mut m).await.unwrap();
    assert_eq!(out["outcome"], "completed", "{out}");
    assert_eq!(out["booked"]["action"], "recorded_latest", "{out}");
    let again = service.handle(cmd, now, &mut m).await.unwrap();
    assert_eq!(again["outcome"], "already_completed");
    assert_eq!(flink.triggered().len(), 1);
    let list = json!({"command": "list", "pipeline": "clicks"});
    let points = service.handle(list, now, &mut m).await.unwrap();
    let p = &points["points"][0];
    assert_eq!(p["location"], format!("s3://{BUCKET}/{dir}"));
    assert_eq!(
        (p["checkpoint_id"].as_u64(), p["trigger"]["kind"].as_str()),
        (Some(42), Some("scheduled"))
    );
    assert_eq!(p["trigger"]["requested_by"], "schedule");
    assert_eq!(p["trigger"]["trigger_id"], out["trigger"]["trigger_id"]);
    let latest = json!({"command": "latest", "pipeline": "clicks", "prefer": "savepoint"});
    let l = service.handle(latest, now, &mut m).await.unwrap();
    assert_eq!(l["location"], p["location"]);
}
