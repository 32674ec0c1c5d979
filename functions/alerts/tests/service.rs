//! The alerts service over in-memory fakes of its ports (`support`): the publish and claim
//! protocol under the faults DynamoDB and SNS produce — a claim lost to a concurrent
//! delivery, throttling, 5xx, a timeout after a call that took effect — plus silences and
//! resolved notices. No moto: these run with a bare `cargo test`.

mod support;

use alerts::dedup::{Claim, StoredState};
use alerts::service::AlertsError;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use streamops_shared::harness::Failure;
use streamops_test_support::fixture;
use support::{Fault, Fixture, StoreOp, at, config};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:streamops-alerts";

fn fakes() -> Fixture {
    fakes_with(&[])
}

fn fakes_with(extra: &[(&str, &str)]) -> Fixture {
    let mut vars = vec![("ALERTS_DEDUP_WINDOW_SECONDS", "3600")];
    vars.extend_from_slice(extra);
    Fixture::new(config(TOPIC, &vars))
}

impl Fixture {
    async fn handle(&self, payload: &Value, now: DateTime<Utc>) -> Result<Value, AlertsError> {
        self.handle_as("req", payload, now).await
    }
}

fn decision(out: &Value) -> (&str, Option<&str>) {
    let a = &out["alerts"][0];
    (a["decision"].as_str().unwrap(), a["reason"].as_str())
}

fn fingerprint_of(out: &Value) -> String {
    out["alerts"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string()
}

const ALARM: &str = "alerts/alarm-iterator-age-alarm.json";
const OK: &str = "alerts/alarm-iterator-age-ok.json";
const T0: &str = "2026-11-23T10:00:20Z";
const SUBJECT: &str = "CRITICAL: ALARM streamops-raw-iterator-age (us-east-1)";

#[tokio::test]
async fn first_delivery_publishes_releases_its_claim_and_the_redelivery_is_suppressed() {
    let f = fakes();
    let out = f.handle(&fixture(ALARM), at(T0)).await.unwrap();
    assert_eq!(decision(&out), ("published", None));
    assert_eq!(out["alerts"][0]["message_id"], "msg-1");
    let record = f.store.record(&fingerprint_of(&out)).unwrap();
    assert_eq!(
        record.claim, None,
        "the claim is released after the publish"
    );
    assert_eq!(record.version, 2, "claim written (1), released (2)");
    assert!(record.problem_notified);
    let again = f
        .handle(&fixture(ALARM), at(T0) + Duration::seconds(5))
        .await
        .unwrap();
    assert_eq!(decision(&again), ("suppressed", Some("redelivered")));
    assert_eq!(f.subjects(), [SUBJECT]);
}

/// Two deliveries of one transition (EventBridge and SNS) race: the EventBridge one reads,
/// then stalls before its claim is written; the SNS one claims and publishes meanwhile. The
/// stalled write fails its version condition, the re-read sees the published state, and
/// nothing is published twice.
#[tokio::test]
async fn claim_lost_to_a_concurrent_delivery_publishes_once() {
    let f = fakes();
    let gate = f.store.hold_next(StoreOp::WriteState);
    let (alarm, via_sns) = (
        fixture(ALARM),
        fixture("alerts/sns-alarm-notification.json"),
    );
    let slow = f.handle(&alarm, at(T0));
    let other = async {
        gate.reached().await;
        let out = f.handle(&via_sns, at(T0)).await.unwrap();
        gate.open();
        out
    };
    let (slow, other) = tokio::join!(slow, other);
    assert_eq!(decision(&other), ("published", None));
    assert_eq!(
        decision(&slow.unwrap()),
        ("suppressed", Some("repeat-within-window"))
    );
    assert_eq!(f.subjects(), [SUBJECT]);
    assert_eq!(f.topic.attempts(), 1);
}

/// A claim by another delivery that has not expired: this one fails retryably without
/// publishing; once the claim has expired (its invocation died) the retry publishes.
#[tokio::test]
async fn a_live_claim_by_another_delivery_fails_this_one_retryably_without_publishing() {
    let f = fakes();
    let out = f
        .handle(&fixture("alerts/alarm-composite-alarm.json"), at(T0))
        .await
        .unwrap();
    let fp = fingerprint_of(&out);
    let mut claimed = f.store.record(&fp).unwrap();
    claimed.event_id = "another-delivery".into();
    claimed.state = "OK".into();
    claimed.claim = Some(Claim {
        event_id: "another-delivery".into(),
        expires_at_ms: (at(T0) + Duration::minutes(20)).timestamp_millis(),
        before: None,
    });
    f.store.put_record(&fp, claimed);
    let mut later = fixture("alerts/alarm-composite-alarm.json");
    later["id"] = json!("composite-again");
    later["detail"]["state"]["timestamp"] = json!("2026-11-23T10:10:00.000+0000");
    let err = f
        .handle(&later, at(T0) + Duration::minutes(10))
        .await
        .unwrap_err();
    assert_eq!(Failure::of(&err).error_type, "Retryable.AlertContended");
    assert!(
        err.to_string().contains("another delivery is publishing"),
        "{err}"
    );
    assert_eq!(f.topic.attempts(), 1, "only the first alert was published");
    let retry = f
        .handle(&later, at(T0) + Duration::minutes(30))
        .await
        .unwrap();
    assert_eq!(decision(&retry), ("published", None));
    assert_eq!(f.topic.delivered().len(), 2);
}

/// SNS answers 5xx: the claim is rolled back (no record, as before), the invocation fails
/// retryably, and the retry publishes exactly once.
#[tokio::test]
async fn sns_failure_rolls_back_the_claim_and_the_retry_publishes() {
    let f = fakes();
    f.topic.script.fail_next("Publish", Fault::ServerError);
    let err = f.handle(&fixture(ALARM), at(T0)).await.unwrap_err();
    assert_eq!(Failure::of(&err).error_type, "Retryable.AwsCall");
    assert!(err.to_string().contains("Publish"), "{err}");
    assert!(f.topic.delivered().is_empty());
    assert_eq!(f.store.calls(StoreOp::RollBackClaim), 1);
    let fp = {
        let ok = f
            .handle(&fixture(ALARM), at(T0) + Duration::seconds(60))
            .await;
        fingerprint_of(&ok.unwrap())
    };
    assert_eq!(f.subjects(), [SUBJECT]);
    let again = f
        .handle(&fixture(ALARM), at(T0) + Duration::seconds(61))
        .await
        .unwrap();
    assert_eq!(decision(&again), ("suppressed", Some("redelivered")));
    assert_eq!(f.store.record(&fp).unwrap().claim, None);
}

/// With a record already there (the ALARM was notified), a throttled publish of the OK puts
/// the ALARM record back, so the retry is judged against it and sends the resolved notice.
#[tokio::test]
async fn throttled_resolved_notice_restores_the_previous_record_and_the_retry_sends_it() {
    let f = fakes();
    let out = f.handle(&fixture(ALARM), at(T0)).await.unwrap();
    let fp = fingerprint_of(&out);
    let before = f.store.record(&fp).unwrap();
    f.topic.script.fail_next("Publish", Fault::Throttled);
    let resolved_at = at("2026-11-23T10:25:20Z");
    f.handle(&fixture(OK), resolved_at).await.unwrap_err();
    let restored = f.store.record(&fp).unwrap();
    assert_eq!(
        StoredState {
            version: before.version,
            ..restored.clone()
        },
        before,
        "the previous record is back"
    );
    assert_eq!(restored.version, before.version + 2);
    let retry = f
        .handle(&fixture(OK), resolved_at + Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(decision(&retry), ("published", None));
    assert_eq!(retry["alerts"][0]["severity"], "resolved");
    let subjects = f.subjects();
    assert_eq!(subjects.len(), 2);
    assert!(
        subjects[1].starts_with("RESOLVED: OK streamops-raw-iterator-age"),
        "{subjects:?}"
    );
}

/// SNS took the message but the answer timed out: the claim is rolled back as for any
/// failed publish, and the retry publishes again. Delivery to the topic is at-least-once
/// (documented in docs/alerts.md); both copies carry the same fingerprint attribute.
#[tokio::test]
async fn timeout_after_the_publish_is_at_least_once_with_one_fingerprint() {
    let f = fakes();
    f.topic.script.fail_next("Publish", Fault::LostResponse);
    let err = f.handle(&fixture(ALARM), at(T0)).await.unwrap_err();
    assert_eq!(Failure::of(&err).error_type, "Retryable.AwsCall");
    assert_eq!(f.topic.delivered().len(), 1, "SNS did take it");
    let retry = f
        .handle(&fixture(ALARM), at(T0) + Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(decision(&retry), ("published", None));
    let copies = f.topic.delivered();
    assert_eq!(copies.len(), 2);
    let fingerprint = |m: &alerts::ports::SnsMessage| {
        m.attributes
            .iter()
            .find(|(k, _)| *k == "fingerprint")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(fingerprint(&copies[0]), fingerprint(&copies[1]));
    assert_eq!(fingerprint(&copies[0]), Some(fingerprint_of(&retry)));
    // A third delivery of the same event is a redelivery: no third copy.
    let third = f
        .handle(&fixture(ALARM), at(T0) + Duration::seconds(90))
        .await
        .unwrap();
    assert_eq!(decision(&third), ("suppressed", Some("redelivered")));
    assert_eq!(f.topic.delivered().len(), 2);
}

/// The claim landed in DynamoDB but its answer was lost: the invocation fails before
/// publishing. The event's retry while the claim still holds backs off (retryably: were it
/// taken for a redelivery and answered with success, nothing would retry it, and the alert
/// would be lost); once the claim has expired the retry publishes, once.
#[tokio::test]
async fn claim_written_but_its_answer_lost_publishes_once_after_the_claim_expires() {
    let f = fakes();
    f.store
        .script
        .fail_next(StoreOp::WriteState.name(), Fault::LostResponse);
    let err = f.handle(&fixture(ALARM), at(T0)).await.unwrap_err();
    assert_eq!(Failure::of(&err).error_type, "Retryable.AwsCall");
    assert_eq!(f.topic.attempts(), 0);
    let early = f
        .handle(&fixture(ALARM), at(T0) + Duration::seconds(10))
        .await
        .unwrap_err();
    assert_eq!(Failure::of(&early).error_type, "Retryable.AlertContended");
    assert_eq!(f.topic.attempts(), 0);
    let retry = f
        .handle(&fixture(ALARM), at(T0) + Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(decision(&retry), ("published", None));
    assert_eq!(f.subjects(), [SUBJECT]);
}

/// Published, then the claim release failed (its answer lost after it landed, or refused):
/// the alert is out, so the invocation succeeds and Lambda has nothing to retry; a twin
/// delivery (SNS) later finds the claim released (a failed release is retried) and sends
/// nothing. Exactly one message.
#[tokio::test]
async fn a_failed_claim_release_after_the_publish_does_not_publish_twice() {
    for fault in [Fault::LostResponse, Fault::Throttled, Fault::ServerError] {
        let f = fakes();
        f.store
            .script
            .fail_next(StoreOp::ReleaseClaim.name(), fault);
        let first = f.handle(&fixture(ALARM), at(T0)).await.unwrap();
        assert_eq!(decision(&first), ("published", None), "{fault:?}");
        let twin = f
            .handle(
                &fixture("alerts/sns-alarm-notification.json"),
                at(T0) + Duration::seconds(90),
            )
            .await
            .unwrap();
        assert_eq!(
            decision(&twin),
            ("suppressed", Some("repeat-within-window")),
            "{fault:?}"
        );
        assert_eq!(f.subjects(), [SUBJECT], "{fault:?}");
    }
}

/// The soak's crash row (docs/reliability.md): the resolved notice's EventBridge delivery
/// claims the record and dies before it publishes (here SNS fails and so does the roll-back,
/// which leaves the claim as a kill would). Its own retry while the claim holds backs off; the
/// SNS twin of the same transition, after the claim expired, is judged against the record
/// before the claim and sends the notice; the first delivery's last retry is then a repeat.
/// Judged against the claimed record, the twin was a repeat and the notice was lost.
#[tokio::test]
async fn a_claim_abandoned_before_its_publish_leaves_the_transition_to_its_twin() {
    let f = fakes();
    f.handle(&fixture(ALARM), at(T0)).await.unwrap();
    f.topic.script.fail_next("Publish", Fault::ServerError);
    f.store
        .script
        .fail_next(StoreOp::RollBackClaim.name(), Fault::ServerError);
    let resolved_at = at("2026-11-23T10:25:20Z");
    f.handle(&fixture(OK), resolved_at).await.unwrap_err();
    let held = f
        .handle(&fixture(OK), resolved_at + Duration::seconds(5))
        .await
        .unwrap_err();
    assert_eq!(Failure::of(&held).error_type, "Retryable.AlertContended");
    let mut twin = fixture(OK);
    twin["id"] = json!("ok-via-another-lane");
    let out = f
        .handle(&twin, resolved_at + Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(decision(&out), ("published", None));
    assert_eq!(out["alerts"][0]["severity"], "resolved");
    let last = f
        .handle(&fixture(OK), resolved_at + Duration::seconds(120))
        .await
        .unwrap();
    assert_eq!(
        decision(&last),
        ("suppressed", Some("repeat-within-window"))
    );
    let subjects = f.subjects();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(subjects[1].starts_with("RESOLVED: OK"), "{subjects:?}");
}

/// DynamoDB throttles the claim write: nothing is published, the invocation fails retryably,
/// and the retry publishes.
#[tokio::test]
async fn throttled_claim_write_publishes_nothing_and_the_retry_publishes() {
    let f = fakes();
    f.store
        .script
        .fail_next(StoreOp::WriteState.name(), Fault::Throttled);
    let err = f.handle(&fixture(ALARM), at(T0)).await.unwrap_err();
    assert_eq!(Failure::of(&err).error_type, "Retryable.AwsCall");
    assert!(err.to_string().contains("ThrottlingException"), "{err}");
    assert_eq!(f.topic.attempts(), 0);
    let retry = f
        .handle(&fixture(ALARM), at(T0) + Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(decision(&retry), ("published", None));
    assert_eq!(f.subjects(), [SUBJECT]);
}

/// A record whose version keeps moving under every write (five in a row) gives up
/// retryably without publishing.
#[tokio::test]
async fn a_record_that_keeps_changing_fails_retryably_after_five_conflicts() {
    let f = fakes();
    for i in 0..5 {
        f.store.concurrent_write_before_next_write(StoredState {
            state: "INSUFFICIENT_DATA".into(),
            state_time_ms: 0,
            event_id: format!("writer-{i}"),
            published_at_ms: None,
            problem_notified: false,
            claim: None,
            version: 0,
        });
    }
    let err = f.handle(&fixture(ALARM), at(T0)).await.unwrap_err();
    assert_eq!(Failure::of(&err).error_type, "Retryable.AlertContended");
    assert!(err.to_string().contains("5 times in a row"), "{err}");
    assert_eq!(f.store.calls(StoreOp::WriteState), 5);
    assert_eq!(f.topic.attempts(), 0);
}

/// Silences (through the ops commands): a matching alert is recorded, not sent, and names
/// the silence; its OK is then no recovery; other alarms pass; after removal the alarm is
/// sent again.
#[tokio::test]
async fn silences_mute_matching_alerts_until_removed() {
    let f = fakes();
    let now = at(T0);
    let created = f
        .handle(
            &json!({"command": "create-silence", "alarm_name_prefix": "streamops-raw-", "duration_minutes": 60}),
            now,
        )
        .await
        .unwrap();
    let id = created["silence"]["id"].as_str().unwrap().to_string();
    let listed = f
        .handle(&json!({"command": "list-silences"}), now)
        .await
        .unwrap();
    assert_eq!(listed["silences"][0]["id"], id.as_str());
    let out = f.handle(&fixture(ALARM), now).await.unwrap();
    assert_eq!(decision(&out), ("suppressed", Some("silenced")));
    assert_eq!(out["alerts"][0]["silence_id"], id.as_str());
    let ok = f
        .handle(&fixture(OK), at("2026-11-23T10:25:20Z"))
        .await
        .unwrap();
    assert_eq!(decision(&ok), ("suppressed", Some("not-a-recovery")));
    let other = f
        .handle(&fixture("alerts/alarm-composite-alarm.json"), now)
        .await
        .unwrap();
    assert_eq!(decision(&other), ("published", None));
    f.handle(&json!({"command": "remove-silence", "id": id}), now)
        .await
        .unwrap();
    let err = f
        .handle(&json!({"command": "remove-silence", "id": id}), now)
        .await
        .unwrap_err();
    assert_eq!(Failure::of(&err).error_type, "Permanent.BadCommand");
    let mut again = fixture(ALARM);
    again["id"] = json!("alarm-after-the-silence");
    again["detail"]["state"]["timestamp"] = json!("2026-11-23T10:30:00.000+0000");
    let out = f.handle(&again, at("2026-11-23T10:30:05Z")).await.unwrap();
    assert_eq!(decision(&out), ("published", None));
    assert_eq!(f.topic.delivered().len(), 2);
}

/// A silence by label matchers mutes the alerts with those labels, and only those.
#[tokio::test]
async fn a_matcher_silence_mutes_by_labels() {
    let f = fakes();
    let now = at(T0);
    let silence = json!({"command": "create-silence", "duration_minutes": 60,
        "matchers": {"namespace": "AWS/Kinesis", "severity": ["critical", "warning"]}});
    let created = f.handle(&silence, now).await.unwrap();
    assert_eq!(
        created["silence"]["matchers"]["labels"]["namespace"],
        json!(["AWS/Kinesis"])
    );
    let out = f.handle(&fixture(ALARM), now).await.unwrap();
    assert_eq!(decision(&out), ("suppressed", Some("silenced")));
    let emr = f
        .handle(&fixture("alerts/alarm-emr-yarn-memory-alarm.json"), now)
        .await
        .unwrap();
    assert_eq!(decision(&emr), ("published", None), "another namespace");
    let bad =
        json!({"command": "create-silence", "duration_minutes": 60, "matchers": {"kind": "emr"}});
    let err = f.handle(&bad, now).await.unwrap_err();
    assert!(
        err.to_string().contains("matchers: kind: unknown kind"),
        "{err}"
    );
}

/// A silence lookup that fails (throttled) fails the alert retryably before any claim.
#[tokio::test]
async fn a_failed_silence_lookup_claims_nothing() {
    let f = fakes();
    f.store
        .script
        .fail_next(StoreOp::ListSilences.name(), Fault::Throttled);
    let err = f.handle(&fixture(ALARM), at(T0)).await.unwrap_err();
    assert_eq!(Failure::of(&err).error_type, "Retryable.AwsCall");
    assert_eq!(f.store.calls(StoreOp::WriteState), 0);
    let retry = f.handle(&fixture(ALARM), at(T0)).await.unwrap();
    assert_eq!(decision(&retry), ("published", None));
}

/// Resolved notices: an OK after a notified ALARM is sent once (severity `resolved`); a new
/// alarm's first OK is not; below the minimum severity the state is recorded, so the later
/// OK of an unheard problem is no recovery either.
#[tokio::test]
async fn resolved_notices_follow_what_was_notified() {
    let f = fakes();
    f.handle(&fixture(ALARM), at(T0)).await.unwrap();
    let resolved = f
        .handle(&fixture(OK), at("2026-11-23T10:25:20Z"))
        .await
        .unwrap();
    assert_eq!(decision(&resolved), ("published", None));
    assert_eq!(resolved["alerts"][0]["severity"], "resolved");
    let again = f
        .handle(&fixture(OK), at("2026-11-23T10:25:30Z"))
        .await
        .unwrap();
    assert_eq!(decision(&again), ("suppressed", Some("redelivered")));
    let first_ok = f
        .handle(
            &fixture("alerts/alarm-new-alarm-initial-ok.json"),
            at("2026-11-23T10:25:20Z"),
        )
        .await
        .unwrap();
    assert_eq!(decision(&first_ok), ("suppressed", Some("not-a-recovery")));
    let attributes = &f.topic.delivered()[1].attributes;
    assert!(attributes.contains(&("severity", "resolved".to_string())));
    assert_eq!(f.topic.delivered().len(), 2);

    let strict = fakes_with(&[("ALERTS_MIN_SEVERITY", "critical")]);
    let warning = strict
        .handle(&fixture("alerts/alarm-insufficient-data.json"), at(T0))
        .await
        .unwrap();
    assert_eq!(
        decision(&warning),
        ("suppressed", Some("below-minimum-severity"))
    );
    assert!(strict.store.record(&fingerprint_of(&warning)).is_some());
    assert!(strict.topic.delivered().is_empty());
}

/// Found by the soak (tests/reliability/soak/alerts.py, reordered deliveries): ALARM, then
/// ALARM again later (a repeat), then the OK between the two arriving last. The repeat is the
/// newest news, so that OK is stale: it must not be sent as resolved while the alarm fires.
#[tokio::test]
async fn a_transition_older_than_a_later_repeat_is_out_of_order() {
    let f = fakes();
    f.handle(&fixture(ALARM), at(T0)).await.unwrap();
    let mut later = fixture(ALARM);
    later["id"] = json!("a-later-report-of-alarm");
    later["detail"]["state"]["timestamp"] = json!("2026-11-23T10:40:13.250+0000");
    let repeat = f.handle(&later, at("2026-11-23T10:40:20Z")).await.unwrap();
    assert_eq!(
        decision(&repeat),
        ("suppressed", Some("repeat-within-window"))
    );
    let stale_ok = f
        .handle(&fixture(OK), at("2026-11-23T10:41:00Z"))
        .await
        .unwrap();
    assert_eq!(decision(&stale_ok), ("suppressed", Some("out-of-order")));
    assert_eq!(f.subjects(), vec![SUBJECT.to_string()]);
    // A twin of the repeat (same state time) changes nothing more.
    let writes = f.store.calls(StoreOp::WriteState);
    let twin = f.handle(&later, at("2026-11-23T10:41:10Z")).await.unwrap();
    assert_eq!(decision(&twin), ("suppressed", Some("redelivered")));
    assert_eq!(f.store.calls(StoreOp::WriteState), writes);
}

/// `send-test-alert` goes straight to the topic: no state read or written.
#[tokio::test]
async fn test_alert_touches_no_state() {
    let f = fakes();
    let out = f
        .handle(&fixture("alerts/ops-send-test-alert.json"), at(T0))
        .await
        .unwrap();
    assert_eq!(out["message_id"], "msg-1");
    assert_eq!(f.store.calls(StoreOp::LoadState), 0);
    assert_eq!(f.store.calls(StoreOp::WriteState), 0);
    assert_eq!(f.topic.delivered().len(), 1);
}
