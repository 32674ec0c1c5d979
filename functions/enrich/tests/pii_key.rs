//! The PII key of an on-demand cold start, read by the first invocation rather than at init
//! (`enrich::secrets`): nothing is read before the first event, the first batch waits for the
//! read it began, its pseudonyms are those of a key read at init, and a read that fails or gives
//! an unusable key fails the batch before anything is written, with the class Lambda needs, and
//! the next batch reads again. Fakes only.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use enrich::secrets::{DeferredKey, KeyError};
use enrich::service::{EnrichError, EnrichService};
use serde_json::Value;
use streamops_shared::harness::Failure;
use support::*;

/// A key read that answers `answers[n]` on its n-th call (the last one after that), counting
/// calls, after `delay`.
fn key_read(
    answers: Vec<Result<Vec<u8>, KeyError>>,
    delay: Duration,
) -> (DeferredKey, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let pending = DeferredKey::new(move || {
        let n = counted.fetch_add(1, Ordering::SeqCst);
        let answer = answers[n.min(answers.len() - 1)].clone();
        async move {
            tokio::time::sleep(delay).await;
            answer
        }
    });
    (pending, calls)
}

fn pending_fixture(pending: DeferredKey) -> Fixture {
    let f = fakes("fail-batch");
    let service = EnrichService::with_pending_key(
        config("fail-batch", None),
        pending,
        f.stream.clone(),
        f.ledger.clone(),
        Some(f.reference.clone()),
        f.quarantine.clone(),
    );
    Fixture { service, ..f }
}

/// Each written record's hashed email, by event id.
fn pseudonyms(f: &Fixture) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = f
        .stream
        .written()
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.data).unwrap();
            (event_id_of(r), v["email"].clone())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn read_failure() -> KeyError {
    KeyError::Read(Fault::ServerError.aws_error("GetSecretValue"))
}

#[tokio::test]
async fn the_first_invocation_begins_the_read_and_its_batch_waits_for_it() {
    let (pending, calls) = key_read(vec![Ok(KEY.to_vec())], Duration::from_millis(30));
    let lazy = pending_fixture(pending);
    tokio::task::yield_now().await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "no call before the first event"
    );
    let event = kinesis_batch(20);
    let response = lazy.handle(&event, 5000).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let got = pseudonyms(&lazy);
    lazy.handle(&kinesis_batch(3), 5000).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "read once per sandbox");

    let eager = fakes("fail-batch");
    eager.handle(&event, 5000).await.unwrap();
    let want = pseudonyms(&eager);
    assert_eq!(got.len(), 20 + 4, "every good record written");
    assert!(
        got.iter()
            .all(|(_, email)| email.as_str().is_some_and(|h| h.len() == 64))
    );
    assert_eq!(got, want, "the same key, the same pseudonyms");
}

#[tokio::test]
async fn a_failed_read_fails_the_batch_retryably_before_any_write_and_the_next_reads_again() {
    let (pending, calls) = key_read(vec![Err(read_failure()), Ok(KEY.to_vec())], Duration::ZERO);
    let f = pending_fixture(pending);
    let event = kinesis_batch(5);
    let err = f.handle(&event, 5000).await.unwrap_err();
    assert!(
        matches!(err, EnrichError::PiiKey(KeyError::Read(_))),
        "{err}"
    );
    assert_eq!(Failure::of(&err).error_type, "Retryable.PiiKeyUnavailable");
    assert!(err.to_string().contains("GetSecretValue"), "{err}");
    assert_eq!(f.stream.calls(), 0);
    assert!(f.quarantine.objects().is_empty());
    assert_eq!(f.ledger.saves(), 0);

    let response = f.handle(&event, 5000).await.unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(f.stream.written().len(), 5 + 4);
}

#[tokio::test]
async fn an_unusable_key_is_a_permanent_failure_named_as_such() {
    for answer in [
        Ok(b"too-short".to_vec()),
        Err(KeyError::Unusable(
            "secret k has neither a string nor a binary value".into(),
        )),
    ] {
        let (pending, _) = key_read(vec![answer], Duration::ZERO);
        let f = pending_fixture(pending);
        let err = f.handle(&kinesis_batch(1), 5000).await.unwrap_err();
        assert_eq!(
            Failure::of(&err).error_type,
            "Permanent.PiiKeyUnusable",
            "{err}"
        );
        assert_eq!(f.stream.calls(), 0);
    }
}
