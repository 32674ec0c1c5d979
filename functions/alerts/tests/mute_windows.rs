//! Mute windows over the in-memory fakes (`support`): a nightly maintenance window in Berlin
//! mutes the stack's alarms (recorded, counted as `mute_window:<name>`, listed by
//! `mute-windows`), judged by each alert's own time; a problem sent before the window still
//! has its resolution delivered unless the window says otherwise; alerts its matchers do not
//! take, and alerts after it, are sent.

mod support;

use serde_json::{Value, json};
use streamops_test_support::fixture;
use support::{Fixture, at, config};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:streamops-alerts";

/// 02:00 to 04:00 in Berlin: 01:00 to 03:00 UTC in November (CET).
fn windows(notify_resolved: bool) -> String {
    format!(
        r#"[{{"name": "nightly-maintenance", "cron": "cron(0 2 * * ? *)", "duration": "2h",
            "time_zone": "Europe/Berlin", "matchers": {{"resource_prefix": "streamops-"}},
            "notify_resolved": {notify_resolved}}}]"#
    )
}

fn fakes(notify_resolved: bool) -> Fixture {
    let windows = windows(notify_resolved);
    Fixture::new(config(TOPIC, &[("ALERTS_MUTE_WINDOWS", &windows)]))
}

impl Fixture {
    async fn handle(&self, payload: &Value, now: &str) -> Value {
        let now = at(now);
        let request_id = format!("req-{}", now.timestamp_millis());
        self.handle_as(&request_id, payload, now).await.unwrap()
    }
}

/// An EventBridge alarm state change of `name` to `state` at `time`.
fn alarm(name: &str, state: &str, time: &str) -> Value {
    let mut v = fixture(match state {
        "OK" => "alerts/alarm-iterator-age-ok.json",
        _ => "alerts/alarm-iterator-age-alarm.json",
    });
    v["id"] = json!(format!("{name}@{state}@{time}"));
    v["time"] = json!(time);
    v["resources"] = json!([format!(
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"
    )]);
    v["detail"]["alarmName"] = json!(name);
    v["detail"]["state"]["timestamp"] = json!(time.replace('Z', ".000+0000"));
    v
}

fn decision(out: &Value) -> (&str, Option<&str>) {
    let a = &out["alerts"][0];
    (a["decision"].as_str().unwrap(), a["reason"].as_str())
}

const AGE: &str = "streamops-raw-iterator-age";

#[tokio::test]
async fn an_alarm_during_the_window_is_recorded_counted_and_listed_not_sent() {
    let f = fakes(true);
    let out = f
        .handle(
            &alarm(AGE, "ALARM", "2026-11-23T01:30:00Z"),
            "2026-11-23T01:30:02Z",
        )
        .await;
    assert_eq!(decision(&out), ("suppressed", Some("mute-window")));
    assert_eq!(out["alerts"][0]["mute_window"], "nightly-maintenance");
    assert_eq!(out["alerts"][0]["mute_window_ends"], "2026-11-23T03:00:00Z");
    assert!(f.subjects().is_empty());
    assert_eq!(
        f.counted("AlertsSuppressed", "mute_window:nightly-maintenance"),
        1
    );

    let listed = f
        .handle(&json!({"command": "mute-windows"}), "2026-11-23T02:00:00Z")
        .await;
    let w = &listed["mute_windows"][0];
    assert_eq!(w["window"]["name"], "nightly-maintenance");
    assert_eq!(w["window"]["time_zone"], "Europe/Berlin");
    assert_eq!(
        w["window"]["matchers"]["resource_prefix"],
        json!(["streamops-"])
    );
    assert_eq!(w["active"]["started"], "2026-11-23T01:00:00Z");
    assert_eq!(w["active"]["ends"], "2026-11-23T03:00:00Z");
    assert_eq!(w["next_start"], "2026-11-24T01:00:00Z");
    assert_eq!(
        (w["muted_now"].as_u64(), w["muted_count"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(w["muted"][0]["resource"], AGE);
    assert_eq!(w["muted"][0]["rule"], "mute_window:nightly-maintenance");
    let silences = f
        .handle(&json!({"command": "list-silences"}), "2026-11-23T02:00:00Z")
        .await;
    assert_eq!(
        silences["mute_windows"][0]["active"]["ends"],
        "2026-11-23T03:00:00Z"
    );

    // Its recovery was never heard of, so it is none; the alarm firing again after the
    // window pages.
    let out = f
        .handle(
            &alarm(AGE, "OK", "2026-11-23T02:30:00Z"),
            "2026-11-23T02:30:01Z",
        )
        .await;
    assert_eq!(decision(&out), ("suppressed", Some("not-a-recovery")));
    let out = f
        .handle(
            &alarm(AGE, "ALARM", "2026-11-23T03:10:00Z"),
            "2026-11-23T03:10:01Z",
        )
        .await;
    assert_eq!(decision(&out), ("published", None));
    assert_eq!(f.subjects().len(), 1);
    let after = f
        .handle(&json!({"command": "mute-windows"}), "2026-11-23T03:20:00Z")
        .await;
    let w = &after["mute_windows"][0];
    assert!(w["active"].is_null());
    assert_eq!(
        (w["muted_now"].as_u64(), w["muted_count"].as_u64()),
        (Some(0), Some(1))
    );
}

#[tokio::test]
async fn an_alert_is_judged_by_its_own_time_and_the_matchers() {
    let f = fakes(true);
    // Changed state at 02:59 UTC, delivered (or retried) after the window ended: muted.
    let late = f
        .handle(
            &alarm(AGE, "ALARM", "2026-11-23T02:59:00Z"),
            "2026-11-23T03:05:00Z",
        )
        .await;
    assert_eq!(decision(&late), ("suppressed", Some("mute-window")));
    // Changed state before the window, delivered during it: sent.
    let early = f
        .handle(
            &alarm("streamops-flink-lag", "ALARM", "2026-11-23T00:59:00Z"),
            "2026-11-23T01:01:00Z",
        )
        .await;
    assert_eq!(decision(&early), ("published", None));
    // Not under the window's matchers: sent during it.
    let other = f
        .handle(
            &alarm("billing-errors", "ALARM", "2026-11-23T01:30:00Z"),
            "2026-11-23T01:30:01Z",
        )
        .await;
    assert_eq!(decision(&other), ("published", None));
    assert_eq!(f.subjects().len(), 2);
}

#[tokio::test]
async fn a_problem_sent_before_the_window_has_its_resolution_delivered_unless_the_window_says_not()
{
    for notify_resolved in [true, false] {
        let f = fakes(notify_resolved);
        let fired = f
            .handle(
                &alarm(AGE, "ALARM", "2026-11-23T00:30:00Z"),
                "2026-11-23T00:30:01Z",
            )
            .await;
        assert_eq!(decision(&fired), ("published", None));
        let ok = f
            .handle(
                &alarm(AGE, "OK", "2026-11-23T01:30:00Z"),
                "2026-11-23T01:30:01Z",
            )
            .await;
        if notify_resolved {
            assert_eq!(decision(&ok), ("published", None), "the incident closes");
            assert!(
                f.subjects()[1].starts_with("RESOLVED"),
                "{:?}",
                f.subjects()
            );
        } else {
            assert_eq!(decision(&ok), ("suppressed", Some("mute-window")));
            assert_eq!(f.subjects().len(), 1);
        }
    }
}
