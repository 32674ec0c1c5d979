//! Issue 14: real AWS event shapes that were misread. Each test names the defect it guards and
//! uses only the crate's long-standing public API (normalize, decide, render), so it runs
//! against the code before the fix too (where it fails). Issue 16: what the generated-input
//! tests (tests/properties) found, at the end.

use alerts::dedup::{Decision, decide};
use alerts::model::{Alert, AlertKind, Severity, fingerprint};
use alerts::normalize::{NormalizeOptions, normalize};
use alerts::render::{MessageFormat, render};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use streamops_test_support::fixture;

fn now() -> DateTime<Utc> {
    "2026-11-23T14:00:00Z".parse().unwrap()
}

fn one(v: &Value) -> Alert {
    let mut a = normalize(v, now(), &NormalizeOptions::default());
    assert_eq!(a.len(), 1);
    a.remove(0)
}

fn file(name: &str) -> Alert {
    one(&fixture(&format!("alerts/{name}")))
}

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:streamops-alarms";
const WINDOW: i64 = 3_600_000;

/// Defect 1: `"AlarmDescription": null` (an alarm without a description).
#[test]
fn sns_alarm_with_null_description_is_an_alarm_keyed_by_its_name() {
    let a = file("sns-alarm-null-description.json");
    assert_eq!(
        (a.kind, a.severity),
        (AlertKind::MetricAlarm, Severity::Critical)
    );
    assert_eq!(a.resource, "streamops-enriched-write-throttles");
    assert_ne!(a.resource, TOPIC);
    assert_eq!(
        a.fingerprint,
        fingerprint(
            Some("123456789012"),
            Some("us-east-1"),
            "aws.cloudwatch",
            "streamops-enriched-write-throttles"
        )
    );
}

/// Defect 1: no `AlarmArn`: still the alarm, in the region of its `Region` name.
#[test]
fn sns_alarm_without_arn_is_an_alarm_in_its_region() {
    let a = file("sns-alarm-no-arn.json");
    assert_eq!(a.kind, AlertKind::MetricAlarm);
    assert_eq!(a.resource, "streamops-enrich-errors");
    assert_eq!(a.region.as_deref(), Some("us-east-1"));
}

/// Defect 1: anomaly detection (no `Trigger.Threshold`) back to OK is a resolved notice.
#[test]
fn sns_anomaly_alarm_without_threshold_returning_to_ok_is_resolved() {
    let alarm = file("sns-alarm-anomaly-alarm.json");
    assert_eq!(
        (alarm.kind, alarm.severity),
        (AlertKind::MetricAlarm, Severity::Critical)
    );
    let ok = file("sns-alarm-anomaly-ok.json");
    assert_eq!((ok.severity, ok.state.as_str()), (Severity::Resolved, "OK"));
    assert_eq!(ok.fingerprint, alarm.fingerprint);
}

/// Defect 1: two different alarms notified on one topic inside the dedup window are two alerts.
#[test]
fn two_sns_alarms_on_one_topic_do_not_dedupe() {
    let first = file("sns-alarm-null-description.json");
    let second = file("sns-alarm-no-arn.json");
    // Dedup state is kept per fingerprint: different ones never judge each other as repeats.
    assert_ne!(first.fingerprint, second.fingerprint);
    assert_ne!(first.resource, second.resource);
}

/// Defect 3: CloudWatch suppressed the actions of this composite transition: no page.
#[test]
fn suppressed_composite_transition_is_not_published() {
    let a = file("alarm-composite-suppressed.json");
    assert_eq!(a.kind, AlertKind::CompositeAlarm);
    assert_ne!(
        decide(None, &a, now().timestamp_millis(), WINDOW),
        Decision::Publish
    );
    // The same transition without the suppression would page.
    let mut v = fixture("alerts/alarm-composite-suppressed.json");
    let state = v["detail"]["state"].as_object_mut().unwrap();
    state.remove("actionsSuppressedBy");
    state.remove("actionsSuppressedReason");
    assert_eq!(
        decide(None, &one(&v), now().timestamp_millis(), WINDOW),
        Decision::Publish
    );
}

/// Defect 4: unreadable payloads get a fingerprint of their own content.
#[test]
fn malformed_payloads_of_one_kind_do_not_share_a_fingerprint() {
    let broken = |name: &str| {
        let mut v = fixture("alerts/alarm-iterator-age-alarm.json");
        v["detail"]["alarmName"] = json!(name);
        v["detail"]["state"]["value"] = json!(42);
        v["id"] = json!(format!("id-{name}"));
        one(&v)
    };
    let (a, b) = (broken("alarm-a"), broken("alarm-b"));
    assert_eq!(
        (a.state.as_str(), b.state.as_str()),
        ("MALFORMED", "MALFORMED")
    );
    assert_ne!(a.fingerprint, b.fingerprint);
    assert!(a.resource.contains("alarm-a"), "{}", a.resource);
    // A bare alarm message, then a bare Lambda destination record: neither is an event.
    let sns = fixture("alerts/sns-alarm-notification.json");
    let message: Value =
        serde_json::from_str(sns["Records"][0]["Sns"]["Message"].as_str().unwrap()).unwrap();
    let bare_alarm = one(&message);
    let bare_failure = one(&fixture("alerts/lambda-destination-failure.json")["detail"]);
    assert_eq!(bare_alarm.state, "MALFORMED");
    assert_eq!(bare_failure.state, "MALFORMED");
    assert_ne!(bare_alarm.fingerprint, bare_failure.fingerprint);
    // The same payload again is the same thing.
    assert_eq!(one(&message).fingerprint, bare_alarm.fingerprint);
}

/// Defect 5: an instance group's or scaling policy's change is not the cluster's.
#[test]
fn emr_instance_group_and_policy_events_have_their_own_resource() {
    let cluster = file("emr-cluster-terminated-with-errors.json");
    let group = file("emr-instance-group-resized.json");
    let policy = file("emr-autoscaling-policy-failed.json");
    assert_eq!(group.resource, "j-2AXXXXXXGAPLF/ig-3KXXXXXXTASK1");
    assert_ne!(group.fingerprint, cluster.fingerprint);
    assert_ne!(policy.fingerprint, cluster.fingerprint);
    assert_ne!(policy.fingerprint, group.fingerprint);
    let facts: Vec<&str> = group.details.iter().map(|(k, _)| k.as_str()).collect();
    for k in ["requested instances", "running instances", "reason"] {
        assert!(facts.contains(&k), "{facts:?}");
    }
    assert_eq!(group.state, "RUNNING");
    assert_eq!(
        file("emr-instance-group-arrested.json").severity,
        Severity::Warning
    );
    assert_eq!(policy.state, "FAILED");
}

/// Defect 6: a CloudWatch alarm invoking the function directly (the alarm-action payload).
#[test]
fn lambda_alarm_action_is_an_alarm_that_dedupes_with_its_twins() {
    let direct = file("lambda-action-metric-alarm.json");
    let eb = file("alarm-iterator-age-alarm.json");
    assert_eq!(
        (direct.kind, direct.severity),
        (AlertKind::MetricAlarm, Severity::Critical)
    );
    assert_eq!(direct.fingerprint, eb.fingerprint);
    assert_eq!(direct.time, eb.time);
    let composite = file("lambda-action-composite-alarm.json");
    assert_eq!(composite.kind, AlertKind::CompositeAlarm);
    assert_eq!(
        composite.fingerprint,
        file("alarm-composite-alarm.json").fingerprint
    );
}

/// Defect 7: an anomaly-detection alarm's datapoints and band are in the details.
#[test]
fn anomaly_eventbridge_alarm_keeps_datapoints_and_band() {
    let a = file("alarm-anomaly-band-alarm.json");
    let text = render(&a, MessageFormat::Text).body;
    assert!(
        text.contains("  recent datapoints: 1630.0, 1204.0\n"),
        "{text}"
    );
    assert!(
        text.contains("  band: lower [40517.3, 41022.7], upper [76845.9, 77310.2]"),
        "{text}"
    );
}

/// Defect 10: alarm names are cleaned in the body, not only the subject.
#[test]
fn alarm_names_in_bodies_lose_line_breaks_and_bidi_overrides() {
    let mut v = fixture("alerts/alarm-iterator-age-alarm.json");
    v["detail"]["alarmName"] = json!("raw-lag\r\nSeverity: resolved\u{202E}kcab\u{2066}");
    let a = one(&v);
    for format in [MessageFormat::Text, MessageFormat::Chatbot] {
        let body = render(&a, format).body;
        for c in ['\r', '\u{202E}', '\u{2066}'] {
            assert!(!body.contains(c), "{format:?}: {body:?}");
        }
        assert!(!body.contains("\nSeverity: resolved"), "{format:?}: {body}");
    }
}

// Issue 16: defects the generated-input tests (tests/properties) found, each with the minimal
// input they shrank to.

/// Found by `any_payload_becomes_alerts_that_render_within_sns_limits` (and
/// `any_alert_renders_within_sns_limits`): an event with `"source": ""` (or only white space)
/// rendered a `source` message attribute with an empty value, which SNS refuses, so the alert
/// could never be published. The attribute says `unknown` instead.
#[test]
fn an_empty_source_still_gives_a_source_attribute_sns_accepts() {
    let event = json!({"account": "123456789012", "detail": null,
        "detail-type": "EMR Auto Scaling Policy State Change", "id": "e-1", "region": null,
        "resources": [], "source": "", "time": "2026-11-23T10:00:13Z", "version": "0"});
    let a = one(&event);
    for format in [
        MessageFormat::Text,
        MessageFormat::Json,
        MessageFormat::Chatbot,
    ] {
        let m = render(&a, format);
        for (name, value) in &m.attributes {
            assert!(!value.is_empty(), "{format:?}: attribute {name} is empty");
        }
        assert!(m.attributes.contains(&("source", "unknown".to_string())));
    }
    let mut spaced = a.clone();
    spaced.source = " \t ".into();
    assert!(
        render(&spaced, MessageFormat::Text)
            .attributes
            .contains(&("source", "unknown".to_string()))
    );
}

/// Found by `any_payload_becomes_alerts_that_render_within_sns_limits` (and
/// `any_alert_renders_within_sns_limits`): an event whose first resource is as long as an event
/// may be became an alert whose title, resource and summary all hold it; the JSON and Chatbot
/// formats shortened only the summary and the details, so the message stayed over SNS's
/// 256 KB (262150 bytes here) and could not be published. The long one-line fields are cut too.
#[test]
fn an_alert_about_a_very_long_resource_fits_in_one_sns_message_in_every_format() {
    let event = json!({"account": "123456789012", "detail": ["2026-11-23T10:00:13.250+0000", 10_000_000_000_000_000i64],
        "detail-type": "", "id": "e-1", "region": null, "resources": ["a".repeat(250_000)],
        "source": "aws.cloudwatch", "time": "2026-11-23T10:00:13Z", "version": "0"});
    let a = one(&event);
    for format in [
        MessageFormat::Text,
        MessageFormat::Json,
        MessageFormat::Chatbot,
        MessageFormat::PagerDuty,
    ] {
        let m = render(&a, format);
        assert!(
            m.size() <= alerts::render::MAX_PUBLISH_BYTES,
            "{format:?}: {} bytes",
            m.size()
        );
        if format != MessageFormat::Text {
            serde_json::from_str::<Value>(&m.body).unwrap();
        }
    }
}
