//! The enrich service over in-memory fakes of its ports (`support`): `handle_batch` under the
//! faults Kinesis, DynamoDB and S3 produce — partial PutRecords failures, throttling mid-batch,
//! a ledger write lost or landed-but-timed-out, a failed quarantine write, a failed reference
//! lookup — MSK's fail-batch and partial modes, replay, and the PII key loader. No moto: these
//! run with a bare `cargo test`.

mod support;

use enrich::ports::SecretValue;
use enrich::quarantine::parse_ndjson;
use enrich::secrets::load_hmac_key;
use enrich::service::EnrichError;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use streamops_shared::harness::Failure;
use streamops_test_support::fixture;
use support::*;

/// Entries PutRecords keeps refusing: exactly those records are reported, by sequence number;
/// every other record is delivered or quarantined, once.
#[tokio::test]
async fn partial_put_records_failure_reports_exactly_those_records() {
    let f = fakes("fail-batch");
    let event = kinesis_batch(40);
    let stuck = ["evt-0001", "gen-0003", "gen-0017", "gen-0031"];
    f.stream.reject(&stuck, ALWAYS);
    let response = f.handle(&event, 400).await.unwrap();
    let seqs = seqs_by_event_id(&event);
    let expected: BTreeSet<String> = stuck.iter().map(|id| seqs[*id].clone()).collect();
    assert_eq!(failures(&response), expected, "{response}");
    let written = f.stream.written_ids();
    assert_eq!(written.len(), unique(&written).len(), "no duplicate");
    let mut want = good_ids(40);
    for id in stuck {
        want.remove(id);
    }
    assert_eq!(unique(&written), want);
    assert_eq!(f.quarantine.objects().len(), 1, "one object per batch");
    assert_eq!(f.quarantined().len(), 7);
    assert!(f.stream.calls() > 1, "the refused entries were retried");
}

/// A whole PutRecords call throttled in the middle of a batch (the second of two chunks): that
/// chunk is retried, nothing is reported, nothing written twice, and a clean batch writes no
/// ledger.
#[tokio::test]
async fn throttled_call_mid_batch_is_retried_and_nothing_is_reported() {
    let f = fakes("fail-batch");
    let event = kinesis_batch(600);
    f.stream.script.fail("PutRecords", 2, Fault::Throttled);
    let response = f.handle(&event, 5000).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    assert_eq!(f.stream.calls(), 3, "500 + 104 entries, the 104 again");
    let written = f.stream.written_ids();
    assert_eq!(written.len(), 604);
    assert_eq!(unique(&written), good_ids(600));
    assert_eq!(f.ledger.saves(), 0);
}

/// A PutRecords call that landed but whose answer timed out is retried whole: its records are
/// in the stream twice (at-least-once, documented in docs/enrich.md), each copy with the same
/// `_event_id`; nothing is reported or lost.
#[tokio::test]
async fn put_records_timeout_after_it_landed_is_at_least_once_with_one_event_id() {
    let f = fakes("fail-batch");
    let event = kinesis_batch(3);
    f.stream.script.fail("PutRecords", 1, Fault::LostResponse);
    let response = f.handle(&event, 5000).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let written = f.stream.written();
    assert_eq!(written.len(), 2 * 7);
    let ids: Vec<String> = written.iter().map(event_id_of).collect();
    assert_eq!(unique(&ids), good_ids(3));
    let copies: BTreeSet<Vec<u8>> = written.iter().map(|r| r.data.clone()).collect();
    assert_eq!(
        copies.len(),
        7,
        "the copies are identical, `_event_id` included"
    );
}

/// Entries throttled once inside a call are retried alone and land: nothing is reported.
#[tokio::test]
async fn entries_throttled_once_are_retried_alone() {
    let f = fakes("fail-batch");
    let event = kinesis_batch(10);
    f.stream.reject(&["evt-0002", "gen-0005"], 1);
    let response = f.handle(&event, 5000).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    assert_eq!(f.stream.calls(), 2);
    let written = f.stream.written_ids();
    assert_eq!(written.len(), 14);
    assert_eq!(unique(&written), good_ids(10));
    assert_eq!(
        &written[12..],
        ["evt-0002", "gen-0005"],
        "only those resent"
    );
}

/// Lambda re-delivers from the lowest failure: the ledger skips what the first attempt
/// delivered or quarantined, so the retry completes the batch and writes nothing twice; a
/// third delivery writes nothing at all.
#[tokio::test]
async fn redelivery_after_a_partial_failure_writes_nothing_twice() {
    let f = fakes("fail-batch");
    let event = kinesis_batch(40);
    f.stream
        .reject(&["gen-0003", "gen-0017", "gen-0031"], ALWAYS);
    let failed = failures(&f.handle(&event, 400).await.unwrap());
    assert_eq!(failed.len(), 3);
    f.stream.clear_rejections();
    let retry = redelivery(&event, &failed);
    let response = f.handle(&retry, 5000).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let written = f.stream.written_ids();
    assert_eq!(
        written.len(),
        unique(&written).len(),
        "nothing written twice"
    );
    assert_eq!(unique(&written), good_ids(40));
    f.handle(&retry, 5000).await.unwrap();
    assert_eq!(f.stream.written().len(), written.len());
    assert_eq!(f.quarantine.objects().len(), 1);
}

/// The ledger write landed but its answer was lost: the invocation still answers (output is
/// written), and the redelivery skips what was delivered, because the ledger is there.
#[tokio::test]
async fn ledger_write_that_landed_but_timed_out_still_skips_on_redelivery() {
    let f = fakes("fail-batch");
    let event = kinesis_batch(20);
    f.stream.reject(&["gen-0002"], ALWAYS);
    f.ledger
        .script
        .fail_next("PutItem (ledger)", Fault::LostResponse);
    let failed = failures(&f.handle(&event, 400).await.unwrap());
    assert_eq!(failed.len(), 1);
    assert!(
        f.ledger
            .lane("kinesis#streamops-raw#shardId-000000000000")
            .is_some()
    );
    f.stream.clear_rejections();
    let response = f.handle(&redelivery(&event, &failed), 5000).await.unwrap();
    assert!(failures(&response).is_empty());
    let written = f.stream.written_ids();
    assert_eq!(
        written.len(),
        unique(&written).len(),
        "nothing written twice"
    );
    assert_eq!(unique(&written), good_ids(20));
}

/// The ledger write failed outright: the redelivery cannot tell what was delivered and writes
/// it again — the documented at-least-once case — every copy with the same `_event_id`.
#[tokio::test]
async fn lost_ledger_write_makes_the_redelivery_at_least_once_with_stable_event_ids() {
    let f = fakes("fail-batch");
    let event = kinesis_batch(20);
    f.stream.reject(&["gen-0002"], ALWAYS);
    f.ledger
        .script
        .fail_next("PutItem (ledger)", Fault::ServerError);
    let failed = failures(&f.handle(&event, 400).await.unwrap());
    assert_eq!(failed.len(), 1);
    assert!(
        f.ledger
            .lane("kinesis#streamops-raw#shardId-000000000000")
            .is_none()
    );
    f.stream.clear_rejections();
    f.handle(&redelivery(&event, &failed), 5000).await.unwrap();
    let written = f.stream.written();
    let ids: Vec<String> = written.iter().map(event_id_of).collect();
    assert_eq!(unique(&ids), good_ids(20), "nothing lost");
    assert!(ids.len() > unique(&ids).len(), "some records twice");
    let mut stable: HashMap<String, BTreeSet<String>> = HashMap::new();
    for r in &written {
        let v: Value = serde_json::from_slice(&r.data).unwrap();
        stable
            .entry(event_id_of(r))
            .or_default()
            .insert(v["_event_id"].as_str().unwrap().to_string());
    }
    assert!(stable.values().all(|s| s.len() == 1), "{stable:?}");
}

/// A concurrent ledger writer (ParallelizationFactor above 1) is detected: our write is
/// refused and logged, theirs is not overwritten; the answer to Lambda is unchanged.
#[tokio::test]
async fn a_concurrent_ledger_writer_is_not_overwritten() {
    let f = fakes("fail-batch");
    let event = kinesis_batch(5);
    f.stream.reject(&["gen-0001"], ALWAYS);
    let lane = "kinesis#streamops-raw#shardId-000000000000";
    f.ledger.concurrent_save_before_next_save(lane);
    let response = f.handle(&event, 300).await.unwrap();
    assert_eq!(failures(&response).len(), 1);
    let theirs = f.ledger.lane(lane).unwrap();
    assert_eq!(theirs.version, Some(1));
    assert!(
        theirs.pending.is_empty() && theirs.high_water.is_none(),
        "{theirs:?}"
    );
}

/// The ledger cannot be read: nothing has been written, so the invocation fails (retryable)
/// and Lambda retries the batch.
#[tokio::test]
async fn unreadable_ledger_fails_the_invocation_before_any_write() {
    let f = fakes("fail-batch");
    f.ledger.script.fail_next("GetItem", Fault::Throttled);
    let err = f.handle(&kinesis_batch(3), 5000).await.unwrap_err();
    assert_eq!(Failure::of(&err).error_type, "Retryable.AwsCall");
    assert_eq!(f.stream.calls(), 0);
    assert!(f.quarantine.objects().is_empty());
}

/// The quarantine write fails: the poison records are reported for retry instead (nothing
/// lost), the good ones are delivered; the redelivery quarantines them, once, and writes no
/// good record twice.
#[tokio::test]
async fn failed_quarantine_write_reports_the_poison_and_the_retry_quarantines_it() {
    let f = fakes("fail-batch");
    let event = kinesis_batch(0);
    f.quarantine
        .script
        .fail_next("PutObject", Fault::ServerError);
    let failed = failures(&f.handle(&event, 5000).await.unwrap());
    assert_eq!(failed.len(), 7, "the seven poison records");
    assert!(f.quarantine.objects().is_empty());
    assert_eq!(unique(&f.stream.written_ids()), good_ids(0));
    let response = f.handle(&redelivery(&event, &failed), 5000).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let quarantined = f.quarantined();
    assert_eq!(unique(&quarantined), failed);
    assert_eq!(quarantined.len(), 7, "each once");
    let written = f.stream.written_ids();
    assert_eq!(written.len(), 4, "no good record twice");
}

/// Found by the enrich soak: S3 stored the quarantine object but its answer was lost (every
/// attempt). The object is read back: our bytes are there, so the poison counts as
/// quarantined, is not retried, and never lands in a second object.
#[tokio::test]
async fn a_quarantine_write_whose_answer_was_lost_is_not_written_twice() {
    let f = fakes("fail-batch");
    let event = kinesis_batch(0);
    f.quarantine
        .script
        .fail_next("PutObject", Fault::LostResponse);
    let response = f.handle(&event, 5000).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    assert_eq!(f.quarantine.objects().len(), 1);
    assert_eq!(f.quarantined().len(), 7, "each poison record once");
}

/// The reference lookup fails: exactly the records that need it are reported (a record
/// without a key goes through); the retry joins the data.
#[tokio::test]
async fn failed_reference_lookup_fails_only_the_records_needing_it() {
    let f = fakes("fail-batch");
    let event = kinesis_batch(0);
    f.reference
        .script
        .fail_next("BatchGetItem", Fault::ServerError);
    let failed = failures(&f.handle(&event, 5000).await.unwrap());
    let seqs = seqs_by_event_id(&event);
    let needing: BTreeSet<String> = ["evt-0001", "evt-0002", "evt-0011"]
        .iter()
        .map(|id| seqs[*id].clone())
        .collect();
    assert_eq!(failed, needing);
    assert_eq!(f.stream.written_ids(), ["evt-0003"]);
    f.handle(&redelivery(&event, &failed), 5000).await.unwrap();
    let written = f.stream.written();
    assert_eq!(written.len(), 4);
    let first: Value = serde_json::from_slice(&written[1].data).unwrap();
    assert_eq!(first["event_id"], "evt-0001");
    assert_eq!(first["_ingest"]["reference"], "found");
    assert_eq!(first["product"]["category"], "books");
}

/// A panic while the reference cache is locked (a bug met by one invocation) poisons its
/// mutex; the next invocation in the sandbox still enriches, the cache emptied and refilled.
#[tokio::test]
async fn a_panic_holding_the_reference_cache_does_not_fail_the_next_invocation() {
    let f = fakes("fail-batch");
    f.service.cache().insert(
        "p-100".into(),
        Some(Default::default()),
        std::time::Instant::now(),
    );
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _held = f.service.cache.lock().unwrap();
        panic!("a bug met while the reference cache is held");
    }));
    assert!(panicked.is_err() && f.service.cache.is_poisoned());
    let event = kinesis_batch(0);
    let response = f.handle(&event, 5000).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    assert!(!f.service.cache.is_poisoned());
    assert!(
        f.reference.fetched_keys().contains(&"p-100".to_string()),
        "the emptied cache fetched p-100 again"
    );
    let written = f.stream.written();
    let first: Value = serde_json::from_slice(&written[0].data).unwrap();
    assert_eq!(first["product"]["category"], "books");
}

/// Past the deadline nothing is attempted: every good record is reported, none written.
#[tokio::test]
async fn past_the_deadline_every_good_record_is_reported_unwritten() {
    let f = fakes("fail-batch");
    let event = kinesis_batch(3);
    let failed = failures(&f.handle(&event, 0).await.unwrap());
    let seqs = seqs_by_event_id(&event);
    let good: BTreeSet<String> = good_ids(3).iter().map(|id| seqs[id].clone()).collect();
    assert_eq!(failed, good);
    assert_eq!(f.stream.calls(), 0);
}

/// A PutRecords answer with fewer results than entries: the unanswered tail is taken as
/// failed and retried, never as written.
#[tokio::test]
async fn an_unanswered_tail_is_retried_not_taken_as_written() {
    let f = fakes("fail-batch");
    let event = kinesis_batch(2);
    f.stream.answer_short(1);
    let response = f.handle(&event, 5000).await.unwrap();
    assert!(failures(&response).is_empty());
    assert_eq!(f.stream.calls(), 2);
    assert_eq!(unique(&f.stream.written_ids()), good_ids(2));
}

/// MSK in fail-batch mode: the invocation fails so Lambda retries the whole batch; the retry
/// writes only the records that failed.
#[tokio::test]
async fn msk_fail_batch_fails_the_invocation_and_the_retry_writes_only_the_rest() {
    let f = fakes("fail-batch");
    let event = fixture("enrich/msk-multi-partition-batch.json");
    f.stream.reject(&["evt-0022", "evt-0031"], ALWAYS);
    let err = f.handle(&event, 400).await.unwrap_err();
    assert!(
        matches!(
            err,
            EnrichError::BatchIncomplete {
                failed: 2,
                total: 7,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(Failure::of(&err).error_type, "Retryable.BatchIncomplete");
    assert_eq!(f.quarantined().len(), 2);
    f.stream.clear_rejections();
    f.handle(&event, 5000).await.unwrap();
    let written = f.stream.written_ids();
    assert_eq!(
        written.len(),
        unique(&written).len(),
        "no duplicate after the retry"
    );
    assert_eq!(
        unique(&written),
        ["evt-0020", "evt-0022", "evt-0030", "evt-0031", "evt-0040"]
            .into_iter()
            .map(str::to_string)
            .collect()
    );
    assert_eq!(f.quarantine.objects().len(), 1);
}

/// MSK in partial mode: the failed record by topic-partition and offset.
#[tokio::test]
async fn msk_partial_reports_topic_partition_and_offset() {
    let f = fakes("partial");
    f.stream.reject(&["evt-0040"], ALWAYS);
    let response = f
        .handle(&fixture("enrich/msk-multi-partition-batch.json"), 300)
        .await
        .unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": {"partition": "clickstream-2", "offset": 55}}]})
    );
}

/// Replay after a spec fix: a dry run first (nothing written), then the repaired records are
/// delivered and the object keeps the rest, counted; a record the stream refuses during the
/// replay stays in the object with why.
#[tokio::test]
async fn replay_delivers_the_repaired_and_keeps_the_rest() {
    let f = fakes("fail-batch");
    f.handle(&kinesis_batch(0), 5000).await.unwrap();
    let (key, _) = f.quarantine.objects().into_iter().next().unwrap();
    let before = f.stream.written().len();
    let relaxed = relaxed_spec();
    let fixed = with_fakes(
        "fail-batch",
        Some(relaxed),
        f.stream.clone(),
        f.ledger.clone(),
        f.reference.clone(),
        f.quarantine.clone(),
    );
    let dry = fixed
        .handle(
            &json!({"command": "replay", "key": key, "dry_run": true}),
            5000,
        )
        .await
        .unwrap();
    assert_eq!(
        dry["summary"],
        json!({"deliver": 2, "quarantine": 5}),
        "{dry}"
    );
    assert_eq!(f.stream.written().len(), before, "a dry run writes nothing");
    f.stream.reject(&["evt-0006"], ALWAYS);
    let result = fixed
        .handle(&json!({"command": "replay", "key": key}), 300)
        .await
        .unwrap();
    assert_eq!(result["delivered"], 1, "{result}");
    assert_eq!(result["failed"], 1);
    assert_eq!(result["remaining_in_object"], 6);
    assert_eq!(&f.stream.written_ids()[before..], ["evt-0005"]);
    let left = parse_ndjson(&f.quarantine.objects()[&key]).unwrap();
    assert_eq!(left.len(), 6);
    assert_eq!(left.iter().filter(|e| e.replays == 1).count(), 5);
    assert!(
        left.iter()
            .any(|e| e.message.starts_with("replay could not write it")),
        "{left:?}"
    );
}

/// A replay from a custom bucket reads, rewrites and deletes the object there, never in the
/// configured quarantine bucket (a second replay of the original must not deliver again).
#[tokio::test]
async fn replay_from_a_custom_bucket_rewrites_that_bucket() {
    let f = fakes("fail-batch");
    f.handle(&kinesis_batch(0), 5000).await.unwrap();
    let (key, _) = f.quarantine.objects().into_iter().next().unwrap();
    f.quarantine.move_to("archive", &key);
    let out = f
        .handle(
            &json!({"command": "replay", "bucket": "archive", "key": key}),
            5000,
        )
        .await
        .unwrap();
    assert_eq!(out["remaining_in_object"], 7, "{out}");
    assert!(
        f.quarantine.objects().is_empty(),
        "nothing in the configured bucket"
    );
    let left = parse_ndjson(&f.quarantine.objects_in("archive")[&key]).unwrap();
    assert_eq!(left.len(), 7);
    assert!(left.iter().all(|e| e.replays == 1));
}

/// The PII key at init: `base64:` text decoded, other text as UTF-8, binary as is; a secret
/// with neither or a failed read is an error naming the secret.
#[tokio::test]
async fn the_pii_key_is_read_from_its_secret() {
    let secret = |value| FakeSecrets {
        value,
        asked: Default::default(),
    };
    let b64 = secret(Ok(SecretValue::Text("base64:AAEC".into())));
    assert_eq!(load_hmac_key(&b64, "k").await.unwrap(), vec![0, 1, 2]);
    assert!(b64.asked.lock().unwrap().contains("k"));
    let text = secret(Ok(SecretValue::Text("plain-key".into())));
    assert_eq!(load_hmac_key(&text, "k").await.unwrap(), b"plain-key");
    let bin = secret(Ok(SecretValue::Binary(vec![9; 32])));
    assert_eq!(load_hmac_key(&bin, "k").await.unwrap(), vec![9; 32]);
    let empty = secret(Ok(SecretValue::Empty));
    let e = load_hmac_key(&empty, "arn:k").await.unwrap_err();
    assert!(
        e.contains("arn:k has neither a string nor a binary value"),
        "{e}"
    );
    let bad = secret(Ok(SecretValue::Text("base64:%%".into())));
    let e = load_hmac_key(&bad, "k").await.unwrap_err();
    assert!(e.starts_with("secret k: base64: prefix but invalid"), "{e}");
    let down = secret(Err(Fault::ServerError));
    let e = load_hmac_key(&down, "k").await.unwrap_err();
    assert!(
        e.contains("GetSecretValue") && e.contains("retryable"),
        "{e}"
    );
}

#[tokio::test]
async fn columns_answers_the_deployed_specs_table_columns_and_writes_nothing() {
    let f = fakes("fail-batch");
    let out = f
        .handle(
            &streamops_test_support::fixture("enrich/ops-columns.json"),
            5000,
        )
        .await
        .unwrap();
    assert_eq!(out["spec"], "clickstream-v1");
    assert_eq!(out["partition_keys"], json!(["dt", "hour"]));
    let names: Vec<&str> = out["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        names.starts_with(&["event_id", "event_type", "user_id"]),
        "{names:?}"
    );
    assert!(
        !names.contains(&"phone"),
        "a dropped PII field is no column"
    );
    assert_eq!(names.last(), Some(&"_ingest"));
    assert!(f.stream.written().is_empty());
}
