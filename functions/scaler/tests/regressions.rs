//! Issue 14: the SNS alarm shapes CloudWatch really sends, and error messages that name the
//! field. Written against `parse_alarms` (the crate's long-standing API), so they run against
//! the code before the fix too (where they fail).

use scaler::service::parse_alarms;
use serde_json::{Value, json};
use streamops_test_support::fixture;

fn one(v: &Value) -> scaler::service::AlarmChange {
    let mut a = parse_alarms(v).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.len(), 1);
    a.remove(0)
}

/// Defect 2: `"AlarmDescription": null` used to fail with `invalid type: null`.
#[test]
fn sns_alarm_with_null_description_parses_with_its_metric_check() {
    let a = one(&fixture(
        "scaler/sns-alarm-raw-write-throttled-null-description.json",
    ));
    assert_eq!(
        (a.name.as_str(), a.state.to_string().as_str()),
        ("streamops-raw-write-throttled", "ALARM")
    );
    let check = a.check.expect("a single metric with a threshold");
    assert_eq!(
        (check.stat.as_str(), check.threshold, check.breach_above),
        ("Sum", 0.0, true)
    );
}

/// Defect 2: anomaly detection has no `Trigger.Threshold` (`missing field Threshold`).
#[test]
fn sns_anomaly_alarm_without_threshold_parses_and_is_taken_at_its_word() {
    let a = one(&fixture(
        "scaler/sns-alarm-emr-containers-pending-anomaly.json",
    ));
    assert_eq!(a.state.to_string(), "ALARM");
    assert!(a.check.is_none(), "no fixed threshold to re-read against");
    let eb = one(&fixture("scaler/alarm-emr-containers-pending-anomaly.json"));
    assert_eq!((&a.name, &a.state_time), (&eb.name, &eb.state_time));
}

/// Defect 2: no `AlarmArn` (`missing field AlarmArn`): an OK delivered that way must still be
/// read, with the same claim key as its EventBridge twin, to end the open decision.
#[test]
fn sns_ok_without_alarm_arn_parses_with_the_eventbridge_claim_key() {
    let sns = one(&fixture("scaler/sns-alarm-raw-iterator-age-ok-no-arn.json"));
    let eb = one(&fixture("scaler/alarm-raw-iterator-age-ok.json"));
    assert_eq!(sns.state.to_string(), "OK");
    assert_eq!((&sns.name, &sns.state_time), (&eb.name, &eb.state_time));
}

/// Defect 2: metric math (`Trigger.Metrics` with an expression).
#[test]
fn sns_metric_math_alarm_parses_without_a_check() {
    let a = one(&fixture("scaler/sns-alarm-flink-lag-metric-math.json"));
    assert!(a.check.is_none());
    let eb = one(&fixture("scaler/alarm-flink-lag-metric-math.json"));
    assert_eq!((&a.name, &a.state_time), (&eb.name, &eb.state_time));
    assert!(eb.check.is_none());
}

/// Defect 10: an error for a bad state timestamp names the field.
#[test]
fn a_bad_timestamp_error_names_the_field() {
    let mut v = fixture("scaler/alarm-raw-iterator-age.json");
    v["detail"]["state"]["timestamp"] = json!("Monday 23 November, 2026 10:00:13 UTC");
    let e = parse_alarms(&v).unwrap_err();
    assert!(e.contains("state.timestamp"), "{e}");
}

// Issue 16: defects the generated-input tests (tests/properties) found, each with the minimal
// input they shrank to.

fn kinesis_target(extra: Value) -> Value {
    let mut t = json!({"id": "t", "kind": "kinesis_stream", "stream": "s", "min": 1, "max": 1});
    t.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    t
}

/// Found by `a_decision_keeps_every_guarantee_the_policy_states` (and
/// `a_waiting_scale_in_never_lowers_its_target`): `"scale_in_cooldown_seconds":
/// 2891685170613708426` parsed, and the first decision after an action panicked
/// (`TimeDelta::seconds out of bounds`) adding it to the last action's time. Cooldowns, delays
/// and the savepoint timeout are refused past ten years.
#[test]
fn a_cooldown_beyond_any_date_is_refused_not_a_panic_later() {
    use scaler::policy::Policies;
    for (key, value) in [
        ("scale_in_cooldown_seconds", 2_891_685_170_613_708_426i64),
        ("scale_out_cooldown_seconds", i64::MAX),
        ("scale_in_delay_seconds", 315_360_001),
    ] {
        let p = json!({"targets": [kinesis_target(json!({key: value}))], "rules": []});
        let e = Policies::parse(&p.to_string()).unwrap_err();
        assert!(
            e.contains("target t") && e.contains("ten years"),
            "{key}: {e}"
        );
    }
    let flink = json!({"id": "t", "kind": "flink_job", "rest_url": "http://127.0.0.1:8081", "job_name": "j",
        "mode": "adaptive", "min": 1, "max": 2, "savepoint_timeout_seconds": i64::MAX});
    let e = Policies::parse(&json!({"targets": [flink], "rules": []}).to_string()).unwrap_err();
    assert!(e.contains("savepoint_timeout_seconds"), "{e}");
    let ok = json!({"targets": [kinesis_target(json!({"scale_in_cooldown_seconds": 315_360_000}))], "rules": []});
    assert!(Policies::parse(&ok.to_string()).is_ok());
}

/// Found by `an_alarm_on_a_stream_ends_in_a_call_kinesis_takes` (the service over fakes; also
/// `a_decision_keeps_every_guarantee_the_policy_states`): a stream of 99 shards under a policy
/// with max 1 (resharded by hand, or the policy lowered) was sent UpdateShardCount 99 -> 1,
/// which Kinesis refuses (at least half per call), past the 40% scale-in floor too: the
/// policy's bounds were applied after the step limits and overrode them. Likewise 3 -> 10
/// (more than double) under min 10, and 1 -> 2 on a stream with no shard quota left. The
/// bounds are now approached within the limits of one step.
#[test]
fn a_target_outside_its_bounds_gets_there_in_steps_its_service_takes() {
    use chrono::{DateTime, Utc};
    use scaler::policy::{Alignment, Direction, Observed, ScalingDecision, TargetState, decide};
    let now: DateTime<Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
    let policy = |min: u32, max: u32| {
        serde_json::from_value::<scaler::policy::TargetPolicy>(kinesis_target(
            json!({"min": min, "max": max,
            "scale_in": {"step": 1}, "scale_out": {"step": 1}, "scale_in_delay_seconds": 0}),
        ))
        .unwrap()
    };
    let stream = |size: u32, max_size: u32| Observed::Ready {
        size,
        alignment: Alignment::QuarterSteps { current: size },
        max_size: Some(max_size),
        hdfs_percent: None,
    };
    let run = |p, o, d| decide(&p, &mut TargetState::default(), &o, d, None, "x", now);
    let to = |d: ScalingDecision| match d {
        ScalingDecision::Act { to, .. } => Some(to),
        _ => None,
    };
    assert_eq!(
        to(run(policy(1, 1), stream(99, 10_000), Direction::In)),
        Some(50)
    );
    assert_eq!(
        to(run(policy(10, 20), stream(3, 10_000), Direction::Out)),
        Some(6)
    );
    assert_eq!(to(run(policy(2, 4), stream(1, 1), Direction::Out)), None);
    // Inside the bounds nothing changes: 8 shards, step 1, quarter steps: 10.
    assert_eq!(
        to(run(policy(1, 100), stream(8, 10_000), Direction::Out)),
        Some(10)
    );
}

/// Found by `a_target_that_breaks_a_rule_is_refused_naming_it`: a Flink target with
/// `"rest_url": "ftp://x"` was refused with `target t: endpoint "ftp://x" must start with
/// http://`, naming the value but not the member (`yarn_rm_url` errors named theirs).
#[test]
fn a_bad_rest_url_is_refused_naming_the_member() {
    let flink = json!({"id": "t", "kind": "flink_job", "rest_url": "ftp://x", "job_name": "j",
        "mode": "adaptive", "min": 1, "max": 2});
    let e = scaler::policy::Policies::parse(&json!({"targets": [flink], "rules": []}).to_string())
        .unwrap_err();
    assert!(e.contains("target t: rest_url: "), "{e}");
}

/// Found by `a_decision_keeps_every_guarantee_the_policy_states`: quarter-step alignment of a
/// stream of 2^29 shards or more multiplied the shard count by up to 8 in u32 (a panic in a
/// debug build, a wrapped size otherwise). Only a hypothetical stream is that large; the
/// arithmetic is in u64 now.
#[test]
fn quarter_steps_of_a_huge_stream_do_not_overflow() {
    use chrono::{DateTime, Utc};
    use scaler::policy::{Alignment, Direction, Observed, TargetState, decide};
    let now: DateTime<Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
    let p: scaler::policy::TargetPolicy = serde_json::from_value(kinesis_target(json!({
        "scale_out": {"step": 1}, "scale_out_cooldown_seconds": 0})))
    .unwrap();
    let huge = Observed::Ready {
        size: 0,
        alignment: Alignment::QuarterSteps {
            current: 536_870_912,
        },
        max_size: None,
        hdfs_percent: None,
    };
    decide(
        &p,
        &mut TargetState::default(),
        &huge,
        Direction::Out,
        None,
        "x",
        now,
    );
}

/// Found by `a_decision_keeps_every_guarantee_the_policy_states`: a scale-out with load from
/// a task group at 0 instances recorded its expected rate as the current rate times 1/0
/// (NaN or infinite), which serde_json writes as `null`; the stored memo then no longer read
/// back (`invalid type: null, expected f64`) and the store's reader replaced the whole memo
/// (open decision, blocks, a rescale in progress) with an empty one. From 0 nothing is
/// recorded; the memo reads back.
#[test]
fn a_scale_out_from_zero_leaves_a_memo_that_reads_back() {
    use chrono::{DateTime, Utc};
    use scaler::policy::{
        Direction, LoadSample, Memo, Observed, ScalingDecision, TargetState, decide,
    };
    let now: DateTime<Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
    let p: scaler::policy::TargetPolicy = serde_json::from_value(json!({"id": "t", "kind": "emr_instance_group",
        "cluster_id": "j-1", "instance_group_id": "ig-1", "min": 1, "max": 1, "scale_out": {"step": 1},
        "min_effectiveness": 0.0})).unwrap();
    for rate in [0.0, 500.0] {
        let load = LoadSample {
            input_rate: rate,
            processing_rate: rate,
            busy_ratio: None,
            backlog_records: 0.0,
        };
        let mut state = TargetState::default();
        let d = decide(
            &p,
            &mut state,
            &Observed::ready(0),
            Direction::Out,
            Some(&load),
            "x",
            now,
        );
        assert!(
            matches!(d, ScalingDecision::Act { from: 0, to: 1, .. }),
            "{d:?}"
        );
        let text = serde_json::to_string(&state.memo).unwrap();
        let back: Memo = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(back, state.memo);
    }
}
