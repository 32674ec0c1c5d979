//! Every file in events/scaler/ is a valid input: an ops command that parses, or an alarm state
//! change that reads as one. And every file has an expected outcome in [`CORPUS`]: the alarm,
//! its state, what the scaler does with it (decide, skip as actions-suppressed, end an open
//! decision), whether it carries a metric check to re-read, and which files are deliveries of
//! the same transition (the same claim key), so a new fixture cannot be added untested.
//!
//! The shapes follow the CloudWatch user guide: "Alarm events and EventBridge" (`alarm-*.json`:
//! metric, anomaly detection, metric math over several metrics, a composite alarm whose actions
//! the suppressor alarm suppressed), the SNS alarm message format (`sns-alarm-*.json`:
//! `AlarmDescription` null, no `AlarmArn`, anomaly detection without `Threshold`, metric math)
//! and "Invoke a Lambda function from an alarm" (`lambda-action-*.json`).

use scaler::ops::parse_command;
use scaler::service::{Disposition, parse_alarms};
use streamops_shared::alarm::{AlarmState, SuppressedBy};
use streamops_test_support::event_files;

#[test]
fn every_scaler_event_file_parses_as_scaler_input() {
    let files = event_files("scaler");
    for (path, v) in &files {
        match parse_command(v) {
            Some(cmd) => {
                cmd.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            None => {
                parse_alarms(v).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
    }
    assert!(
        files.len() >= 11,
        "only {} files in events/scaler",
        files.len()
    );
}

enum Outcome {
    Command,
    Alarm(Expect),
}

struct Expect {
    name: &'static str,
    state: AlarmState,
    disposition: Disposition,
    /// A single-metric alarm with a fixed threshold: re-read before acting.
    check: bool,
    /// Files with the same transition must have the same claim key, all others must not.
    transition: &'static str,
}

fn alarm(
    name: &'static str,
    state: AlarmState,
    disposition: Disposition,
    check: bool,
    transition: &'static str,
) -> Outcome {
    Outcome::Alarm(Expect {
        name,
        state,
        disposition,
        check,
        transition,
    })
}

#[rustfmt::skip]
fn corpus() -> Vec<(&'static str, Outcome)> {
    use AlarmState::*;
    use Disposition::*;
    let suppressed = ActionsSuppressed;
    vec![
        ("alarm-composite-suppressed-by-alarm.json", alarm("streamops-raw-pressure", Alarm, suppressed(SuppressedBy::Alarm), false, "pressure@11:20")),
        ("alarm-emr-containers-pending-anomaly.json", alarm("streamops-emr-containers-pending", Alarm, Decide, false, "pending@10:50")),
        ("alarm-emr-memory-idle.json", alarm("streamops-emr-memory-idle", Alarm, Decide, true, "idle")),
        ("alarm-emr-memory-low.json", alarm("streamops-emr-memory-low", Alarm, Decide, true, "low")),
        ("alarm-flink-lag-metric-math.json", alarm("streamops-flink-lag", Alarm, Decide, false, "lag@10:55")),
        ("alarm-raw-iterator-age-ok.json", alarm("streamops-raw-iterator-age", Ok, EndsOpenDecision, true, "age-ok@11:05")),
        ("alarm-raw-iterator-age.json", alarm("streamops-raw-iterator-age", Alarm, Decide, true, "age@10:00")),
        ("lambda-action-composite-extension-period.json", alarm("streamops-raw-pressure", Alarm, suppressed(SuppressedBy::ExtensionPeriod), false, "pressure@11:48")),
        ("lambda-action-raw-iterator-age.json", alarm("streamops-raw-iterator-age", Alarm, Decide, true, "age@10:00")),
        ("ops-explain.json", Outcome::Command),
        ("ops-pause.json", Outcome::Command),
        ("ops-resume.json", Outcome::Command),
        ("ops-scale.json", Outcome::Command),
        ("ops-status.json", Outcome::Command),
        ("ops-tick.json", Outcome::Command),
        ("sns-alarm-emr-containers-pending-anomaly.json", alarm("streamops-emr-containers-pending", Alarm, Decide, false, "pending@10:50")),
        ("sns-alarm-flink-lag-metric-math.json", alarm("streamops-flink-lag", Alarm, Decide, false, "lag@10:55")),
        ("sns-alarm-raw-iterator-age-ok-no-arn.json", alarm("streamops-raw-iterator-age", Ok, EndsOpenDecision, true, "age-ok@11:05")),
        ("sns-alarm-raw-iterator-age.json", alarm("streamops-raw-iterator-age", Alarm, Decide, true, "age@10:00")),
        ("sns-alarm-raw-write-throttled-null-description.json", alarm("streamops-raw-write-throttled", Alarm, Decide, true, "throttled")),
    ]
}

#[test]
fn every_corpus_file_has_its_expected_outcome() {
    let corpus = corpus();
    let files = event_files("scaler");
    let mut keys: Vec<(String, &str, (String, String))> = Vec::new();
    for (path, v) in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (_, outcome) = corpus.iter().find(|(f, _)| *f == name).unwrap_or_else(|| {
            panic!("events/scaler/{name} has no expected outcome in the corpus")
        });
        let want = match outcome {
            Outcome::Command => {
                assert!(parse_command(v).is_some(), "{name}: not an ops command");
                continue;
            }
            Outcome::Alarm(e) => e,
        };
        assert!(parse_command(v).is_none(), "{name}: read as an ops command");
        let alarms = parse_alarms(v).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(alarms.len(), 1, "{name}");
        let a = &alarms[0];
        assert_eq!(
            (a.name.as_str(), a.state, a.disposition(), a.check.is_some()),
            (want.name, want.state, want.disposition.clone(), want.check),
            "{name}"
        );
        keys.push((
            name,
            want.transition,
            (a.name.clone(), a.state_time.clone()),
        ));
    }
    for (f, _) in &corpus {
        assert!(
            keys.iter().any(|(n, ..)| n == f) || f.starts_with("ops-"),
            "{f} is not in events/scaler"
        );
    }
    for (i, (f1, t1, k1)) in keys.iter().enumerate() {
        for (f2, t2, k2) in &keys[i + 1..] {
            assert_eq!(
                t1 == t2,
                k1 == k2,
                "{f1} and {f2}: claim keys {k1:?} / {k2:?}"
            );
        }
    }
}
