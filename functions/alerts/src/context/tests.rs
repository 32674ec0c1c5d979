use super::*;
use crate::normalize::{NormalizeOptions, normalize};
use serde_json::{Value, json};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../events/alerts/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn alert_of(event: &Value) -> Alert {
    let now = at("2026-11-23T10:01:00Z");
    normalize(event, now, &NormalizeOptions::default())
        .pop()
        .unwrap()
}

fn scaled() -> (Alert, Value) {
    let event = fixture("scaler-decision-scaled.json");
    (alert_of(&event), event["detail"].clone())
}

fn lag_alarm(stream: &str) -> Alert {
    let mut event = fixture("alarm-iterator-age-alarm.json");
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] =
        json!({ "StreamName": stream });
    alert_of(&event)
}

#[test]
fn a_started_resize_begins_an_activity_tied_by_the_stream() {
    let (alert, detail) = scaled();
    let Some(a) = change_of(&alert, &detail).filter(|a| !a.ended) else {
        panic!("no activity from {detail}");
    };
    assert_eq!(a.key, "scaling/raw-stream");
    assert_eq!(
        a.labels.get("stream").map(String::as_str),
        Some("streamops-raw")
    );
    assert_eq!(a.settles_by, Some(at("2026-11-23T10:05:00Z")));
    assert!(a.in_effect(at("2026-11-23T10:03:00Z")));
    // Past its settle time and grace, it no longer concerns anything.
    assert!(!a.in_effect(at("2026-11-23T10:10:01Z")));
    assert!(a.concerns(&lag_alarm("streamops-raw")));
    assert!(!a.concerns(&lag_alarm("another-stream")));
    // Its own notification is not annotated with itself.
    assert!(!a.concerns(&alert));
    let (name, line) = a.annotation();
    assert_eq!(name, "scaler");
    assert_eq!(
        line,
        "the scaler is resizing raw-stream 2 -> 4 since 10:00:00Z, expected to settle by 10:05:00Z"
    );
}

#[test]
fn a_finished_failed_or_stranded_rescale_ends_it_and_other_outcomes_change_nothing() {
    let (alert, detail) = scaled();
    for outcome in ["rescaled", "failed", "stranded"] {
        let mut d = detail.clone();
        d["outcome"] = json!(outcome);
        let end = change_of(&alert, &d).unwrap();
        assert!(end.ended, "{outcome}");
        assert_eq!(
            (end.key.as_str(), end.since),
            ("scaling/raw-stream", alert.time)
        );
        assert!(!end.in_effect(alert.time), "an end marker is not in effect");
    }
    for outcome in ["blocked", "deferred", "ineffective"] {
        let mut d = detail.clone();
        d["outcome"] = json!(outcome);
        assert_eq!(change_of(&alert, &d), None, "{outcome}");
    }
    // Not a suite event: nothing.
    assert_eq!(change_of(&lag_alarm("s"), &detail), None);
}

#[test]
fn checkpoint_health_begins_and_ends_a_failure_that_ties_by_pipeline_or_checkpoint_metric() {
    let failing = alert_of(&fixture("checkpoint-health-failing.json"));
    let Some(a) = change_of(&failing, &Value::Null).filter(|a| !a.ended) else {
        panic!("no activity");
    };
    assert_eq!(a.kind, ActivityKind::CheckpointFailure);
    assert_eq!(a.key, format!("checkpoints/{}", failing.resource));
    let mut pipeline_alarm = lag_alarm("s");
    pipeline_alarm
        .labels
        .insert("pipeline".into(), failing.resource.clone());
    assert!(a.concerns(&pipeline_alarm));
    // An alarm on a checkpoint metric with no pipeline of its own (the stack's aggregate age).
    let mut age = lag_alarm("s");
    age.labels
        .insert("metric".into(), "CheckpointAgeSeconds".into());
    assert!(a.concerns(&age));
    assert!(!a.concerns(&lag_alarm("s")));
    let healthy = alert_of(&fixture("checkpoint-health-healthy.json"));
    assert!(change_of(&healthy, &Value::Null).is_some_and(|a| a.ended));
}

#[test]
fn a_hold_takes_problems_no_more_urgent_than_configured_until_the_action_settles() {
    let (alert, detail) = scaled();
    let Some(a) = change_of(&alert, &detail).filter(|a| !a.ended) else {
        panic!("no activity");
    };
    let activities = vec![a];
    let now = at("2026-11-23T10:02:00Z");
    let mut lag = lag_alarm("streamops-raw");
    lag.severity = Severity::Warning;
    assert!(holding(&lag, &activities, Some(Severity::Warning), now).is_some());
    assert!(holding(&lag, &activities, None, now).is_none(), "off");
    lag.severity = Severity::Critical;
    assert!(holding(&lag, &activities, Some(Severity::Warning), now).is_none());
    assert!(holding(&lag, &activities, Some(Severity::Critical), now).is_some());
    // A recovery is never held, nor anything after the settle time.
    lag.severity = Severity::Resolved;
    assert!(holding(&lag, &activities, Some(Severity::Critical), now).is_none());
    lag.severity = Severity::Warning;
    let later = at("2026-11-23T10:05:30Z");
    assert!(holding(&lag, &activities, Some(Severity::Warning), later).is_none());
}

#[test]
fn the_hold_setting_is_read_and_a_bad_one_names_what_is_accepted() {
    assert_eq!(parse_hold(""), Ok(None));
    assert_eq!(parse_hold("off"), Ok(None));
    assert_eq!(parse_hold("error"), Ok(Some(Severity::Error)));
    let err = parse_hold("always").unwrap_err();
    assert!(err.contains("off, warning, error or critical"), "{err}");
}
