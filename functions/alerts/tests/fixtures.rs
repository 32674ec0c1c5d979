//! Every file in events/alerts/ is a valid input of this function: an ops command that parses,
//! or an event that normalizes into well-formed (not "malformed") alerts. And every file has
//! an expected outcome in [`CORPUS`] (kind, severity, state, resource, dedup identity, what the
//! first delivery leads to), so a new fixture cannot be added untested.
//!
//! The shapes follow the AWS documentation: CloudWatch user guide "Alarm events and
//! EventBridge" (`alarm-*.json`: metric, composite, anomaly detection, metric math, actions
//! suppressed by `WaitPeriod`), "Using Amazon SNS notifications" / the SNS alarm message format
//! (`sns-alarm-*.json`, `sns-composite-alarm.json`: `AlarmDescription` null, no
//! `Trigger.Threshold` but `ThresholdMetricId` and `Trigger.Metrics`, no `AlarmArn`, metric
//! math), "Invoke a Lambda function from an alarm" (`lambda-action-*.json`, the alarm-action
//! payload, including the documented composite example whose previous state had its actions
//! suppressed), Amazon EMR management guide "Amazon EMR events" (`emr-*.json`: cluster, step,
//! instance group and automatic scaling policy state changes), Lambda developer guide
//! "Asynchronous invocation destinations" (`lambda-destination-failure.json`); and the scaler's
//! own "Scaling Decision" events (`scaler-decision-*.json`, functions/scaler/src/notify.rs) and
//! the checkpoints function's "Checkpoint Health" events (`checkpoint-health-*.json`,
//! functions/checkpoints/src/health_event.rs);
//! partitions' "Iceberg Maintenance" events (`partitions-maintenance-*.json`,
//! functions/partitions/src/events.rs); the checkpoints function's "Savepoint" events
//! (`savepoint-*.json`, functions/checkpoints/src/savepoint.rs).

use alerts::dedup::{Decision, SuppressReason, decide};
use alerts::group::parse_flush_event;
use alerts::model::{AlertKind, Severity};
use alerts::normalize::{NormalizeOptions, normalize};
use alerts::ops::parse_command;
use chrono::{DateTime, Utc};
use streamops_test_support::{event_files, fixture};

#[test]
fn every_alerts_event_file_parses_as_alerts_input() {
    let mut checked = 0;
    for (path, value) in event_files("alerts") {
        if let Some(records) = parse_flush_event(&value) {
            for r in records {
                r.request
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            checked += 1;
            continue;
        }
        match parse_command(&value) {
            Some(cmd) => {
                cmd.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            None => {
                let alerts = normalize(&value, chrono::Utc::now(), &NormalizeOptions::default());
                assert!(!alerts.is_empty(), "{}", path.display());
                for a in alerts {
                    assert_ne!(a.state, "MALFORMED", "{}: {}", path.display(), a.summary);
                }
            }
        }
        checked += 1;
    }
    assert!(checked >= 13, "only {checked} files in events/alerts");
}

/// What one corpus file must lead to.
enum Outcome {
    Command,
    /// A message of the group flush queue (SQS), asking for flush `n` of a group.
    GroupFlush(u64),
    Alert(Expect),
}

struct Expect {
    kind: AlertKind,
    severity: Severity,
    state: &'static str,
    resource: &'static str,
    /// Files with the same identity must share the fingerprint, all others must not.
    identity: &'static str,
    /// The dedup decision for this alert when nothing is recorded yet.
    first: Decision,
}

const PUBLISH: Decision = Decision::Publish;
const SUPPRESSED: Decision = Decision::Suppress(SuppressReason::ActionsSuppressed);
const NOT_A_RECOVERY: Decision = Decision::Suppress(SuppressReason::NotARecovery);

const fn alert(
    kind: AlertKind,
    severity: Severity,
    state: &'static str,
    resource: &'static str,
    identity: &'static str,
    first: Decision,
) -> Outcome {
    Outcome::Alert(Expect {
        kind,
        severity,
        state,
        resource,
        identity,
        first,
    })
}

use AlertKind::*;
use Severity::*;

const RAW_AGE: &str = "streamops-raw-iterator-age";
const DEGRADED: &str = "streamops-pipeline-degraded";
const ANOMALY: &str = "streamops-raw-incoming-anomaly";
const ERROR_RATE: &str = "streamops-enrich-error-rate";
const GROUP: &str = "j-2AXXXXXXGAPLF/ig-3KXXXXXXTASK1";
const POLICY: &str = "j-2AXXXXXXGAPLF/ig-3KXXXXXXTASK1/autoscaling-policy";
const ICEBERG: &str = "streamops.enriched_iceberg";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:streamops-alarms";

#[rustfmt::skip]
static CORPUS: &[(&str, Outcome)] = &[
    ("alarm-anomaly-band-alarm.json", alert(MetricAlarm, Critical, "ALARM", ANOMALY, ANOMALY, PUBLISH)),
    ("alarm-composite-alarm.json", alert(CompositeAlarm, Critical, "ALARM", DEGRADED, DEGRADED, PUBLISH)),
    ("alarm-composite-suppressed.json", alert(CompositeAlarm, Critical, "ALARM", DEGRADED, DEGRADED, SUPPRESSED)),
    ("alarm-emr-yarn-memory-alarm.json", alert(MetricAlarm, Critical, "ALARM", "streamops-emr-yarn-memory", "yarn memory", PUBLISH)),
    ("alarm-insufficient-data.json", alert(MetricAlarm, Warning, "INSUFFICIENT_DATA", RAW_AGE, RAW_AGE, PUBLISH)),
    ("alarm-iterator-age-alarm.json", alert(MetricAlarm, Critical, "ALARM", RAW_AGE, RAW_AGE, PUBLISH)),
    ("alarm-iterator-age-ok.json", alert(MetricAlarm, Resolved, "OK", RAW_AGE, RAW_AGE, PUBLISH)),
    ("alarm-metric-math-alarm.json", alert(MetricAlarm, Critical, "ALARM", ERROR_RATE, ERROR_RATE, PUBLISH)),
    ("alarm-new-alarm-initial-ok.json", alert(MetricAlarm, Resolved, "OK", "streamops-enriched-write-throttles", "streamops-enriched-write-throttles", NOT_A_RECOVERY)),
    ("checkpoint-health-failing.json", alert(CheckpointHealth, Critical, "FAILING", "clicks", "checkpoints clicks", PUBLISH)),
    ("checkpoint-health-healthy.json", alert(CheckpointHealth, Resolved, "OK", "clicks", "checkpoints clicks", NOT_A_RECOVERY)),
    ("checkpoint-health-late.json", alert(CheckpointHealth, Warning, "LATE", "clicks", "checkpoints clicks", PUBLISH)),
    ("emr-autoscaling-policy-attached.json", alert(EmrAutoScalingPolicy, Info, "ATTACHED", POLICY, POLICY, PUBLISH)),
    ("emr-autoscaling-policy-failed.json", alert(EmrAutoScalingPolicy, Error, "FAILED", POLICY, POLICY, PUBLISH)),
    ("emr-cluster-terminated-with-errors.json", alert(EmrCluster, Critical, "TERMINATED_WITH_ERRORS", "j-2AXXXXXXGAPLF", "cluster", PUBLISH)),
    ("emr-instance-group-arrested.json", alert(EmrInstanceGroup, Warning, "ARRESTED", GROUP, GROUP, PUBLISH)),
    ("emr-instance-group-resized.json", alert(EmrInstanceGroup, Info, "RUNNING", GROUP, GROUP, PUBLISH)),
    ("emr-step-failed.json", alert(EmrStep, Critical, "FAILED", "j-2AXXXXXXGAPLF/s-1K8QZ5YV2H2MN", "step", PUBLISH)),
    ("generic-event.json", alert(Generic, Warning, "FAILED", "streamops-compaction", "glue", PUBLISH)),
    ("lambda-action-composite-alarm.json", alert(CompositeAlarm, Critical, "ALARM", DEGRADED, DEGRADED, PUBLISH)),
    ("lambda-action-metric-alarm.json", alert(MetricAlarm, Critical, "ALARM", RAW_AGE, RAW_AGE, PUBLISH)),
    ("lambda-destination-failure.json", alert(FunctionFailure, Error, "FAILURE", "streamops-enrich", "function", PUBLISH)),
    ("ops-create-silence.json", Outcome::Command),
    ("ops-create-silence-until-resolved.json", Outcome::Command),
    ("ops-create-silence-matchers.json", Outcome::Command),
    ("ops-create-silence-regex.json", Outcome::Command),
    ("ops-inhibitions.json", Outcome::Command),
    ("ops-list-silences.json", Outcome::Command),
    ("ops-mute-windows.json", Outcome::Command),
    ("ops-remove-silence.json", Outcome::Command),
    ("ops-send-test-alert.json", Outcome::Command),
    ("ops-explain.json", Outcome::Command),
    ("ops-groups.json", Outcome::Command),
    ("ops-activities.json", Outcome::Command),
    ("sqs-group-flush.json", Outcome::GroupFlush(1)),
    ("partitions-maintenance-failed.json", alert(Generic, Error, "OPTIMIZE FAILED", ICEBERG, "optimize of the iceberg table", PUBLISH)),
    ("partitions-maintenance-stopped.json", alert(Generic, Warning, "VACUUM STOPPED", ICEBERG, "vacuum of the iceberg table", PUBLISH)),
    ("partitions-maintenance-left-running.json", alert(Generic, Warning, "OPTIMIZE LEFT_RUNNING", ICEBERG, "optimize of the iceberg table", PUBLISH)),
    ("savepoint-failed.json", alert(Generic, Error, "FAILED", "clicks", "savepoints clicks", PUBLISH)),
    ("savepoint-job-not-running.json", alert(Generic, Warning, "NOT_TAKEN", "clicks", "savepoints clicks", PUBLISH)),
    ("scaler-decision-blocked.json", alert(Generic, Warning, "BLOCKED cooldown", "raw-stream", "scaler raw-stream", PUBLISH)),
    ("scaler-decision-scaled.json", alert(Generic, Info, "SCALED 2->4", "raw-stream", "scaler raw-stream", PUBLISH)),
    ("scaler-decision-stranded.json", alert(Generic, Critical, "STRANDED 1->2", "flink-job", "scaler flink-job", PUBLISH)),
    ("sns-alarm-anomaly-alarm.json", alert(MetricAlarm, Critical, "ALARM", ANOMALY, ANOMALY, PUBLISH)),
    ("sns-alarm-anomaly-ok.json", alert(MetricAlarm, Resolved, "OK", ANOMALY, ANOMALY, PUBLISH)),
    ("sns-alarm-metric-math.json", alert(MetricAlarm, Critical, "ALARM", ERROR_RATE, ERROR_RATE, PUBLISH)),
    ("sns-alarm-no-arn.json", alert(MetricAlarm, Critical, "ALARM", "streamops-enrich-errors", "streamops-enrich-errors", PUBLISH)),
    ("sns-alarm-notification.json", alert(MetricAlarm, Critical, "ALARM", RAW_AGE, RAW_AGE, PUBLISH)),
    ("sns-alarm-null-description.json", alert(MetricAlarm, Critical, "ALARM", "streamops-enriched-write-throttles", "streamops-enriched-write-throttles", PUBLISH)),
    ("sns-composite-alarm.json", alert(CompositeAlarm, Critical, "ALARM", DEGRADED, DEGRADED, PUBLISH)),
    ("sns-plain-notification.json", alert(Generic, Warning, "NOTIFICATION", TOPIC, "maintenance notice", PUBLISH)),
];

fn now() -> DateTime<Utc> {
    "2026-11-23T14:00:00Z".parse().unwrap()
}

#[test]
fn every_corpus_file_has_its_expected_outcome() {
    let files = event_files("alerts");
    let names: Vec<String> = files
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for name in &names {
        assert!(
            CORPUS.iter().any(|(f, _)| f == name),
            "events/alerts/{name} has no expected outcome in CORPUS"
        );
    }
    for (f, _) in CORPUS {
        assert!(
            names.iter().any(|n| n == f),
            "CORPUS names {f}, which is not in events/alerts"
        );
    }
    let mut seen: Vec<(&str, &str, String)> = Vec::new();
    for ((path, value), name) in files.iter().zip(&names) {
        let (_, outcome) = CORPUS.iter().find(|(f, _)| f == name).unwrap();
        let file = path.display();
        let want = match outcome {
            Outcome::Command => {
                assert!(parse_command(value).is_some(), "{file}: not an ops command");
                continue;
            }
            Outcome::GroupFlush(n) => {
                let records =
                    parse_flush_event(value).unwrap_or_else(|| panic!("{file}: not a flush event"));
                let Ok(alerts::group::QueuedWork::Flush(request)) = &records[0].request else {
                    panic!("{file}: not a group flush");
                };
                assert_eq!(request.flush, *n, "{file}");
                continue;
            }
            Outcome::Alert(e) => e,
        };
        assert!(
            parse_command(value).is_none(),
            "{file}: read as an ops command"
        );
        let alerts = normalize(value, now(), &NormalizeOptions::default());
        assert_eq!(alerts.len(), 1, "{file}");
        let a = &alerts[0];
        let got = (a.kind, a.severity, a.state.as_str(), a.resource.as_str());
        assert_eq!(
            got,
            (want.kind, want.severity, want.state, want.resource),
            "{file}: {}",
            a.summary
        );
        let first = decide(None, a, now().timestamp_millis(), 3_600_000);
        assert_eq!(first, want.first, "{file}: first delivery");
        seen.push((name, want.identity, a.fingerprint.clone()));
    }
    // Same identity, same fingerprint (twins dedupe); different identity, different one.
    for (i, (f1, id1, fp1)) in seen.iter().enumerate() {
        for (f2, id2, fp2) in &seen[i + 1..] {
            assert_eq!(
                id1 == id2,
                fp1 == fp2,
                "{f1} and {f2}: identities {id1}/{id2}"
            );
        }
    }
}

fn one(name: &str) -> alerts::model::Alert {
    let mut a = normalize(
        &fixture(&format!("alerts/{name}")),
        now(),
        &NormalizeOptions::default(),
    );
    assert_eq!(a.len(), 1, "{name}");
    a.remove(0)
}

fn detail<'a>(a: &'a alerts::model::Alert, key: &str) -> Option<&'a str> {
    a.details
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The three deliveries of one transition: one fingerprint, one time, one state.
#[test]
fn twins_of_one_transition_agree_on_fingerprint_time_and_state() {
    let eb = one("alarm-iterator-age-alarm.json");
    for twin in [
        "sns-alarm-notification.json",
        "lambda-action-metric-alarm.json",
    ] {
        let t = one(twin);
        assert_eq!(
            (&t.fingerprint, t.time, &t.state, &t.previous_state),
            (&eb.fingerprint, eb.time, &eb.state, &eb.previous_state),
            "{twin}"
        );
        assert_eq!(detail(&t, "threshold"), Some("60000.0"), "{twin}");
        assert_ne!(t.event_id, eb.event_id, "{twin}");
    }
}

/// Anomaly detection keeps its datapoints and band, both ways it arrives.
#[test]
fn anomaly_alarms_keep_datapoints_and_band() {
    let eb = one("alarm-anomaly-band-alarm.json");
    assert_eq!(detail(&eb, "recent datapoints"), Some("1630.0, 1204.0"));
    assert_eq!(
        detail(&eb, "band"),
        Some("lower [40517.3, 41022.7], upper [76845.9, 77310.2]")
    );
    assert!(
        detail(&eb, "anomaly detection")
            .unwrap()
            .contains("ANOMALY_DETECTION_BAND(m1, 2)")
    );
    assert_eq!(detail(&eb, "threshold"), None);
    let sns = one("sns-alarm-anomaly-alarm.json");
    assert_eq!(
        detail(&sns, "band"),
        Some("lower [41022.7, 40517.3], upper [77310.2, 76845.9]")
    );
    assert!(
        detail(&sns, "recent datapoints")
            .unwrap()
            .starts_with("1204.0 (23/11/26 10:35:00)")
    );
    assert_eq!(
        detail(&sns, "comparison"),
        Some("LessThanLowerOrGreaterThanUpperThreshold")
    );
    assert!(detail(&sns, "anomaly detection").is_some());
}

/// Metric math: the expression and each metric it uses.
#[test]
fn metric_math_alarms_list_their_expression_and_metrics() {
    for f in ["alarm-metric-math-alarm.json", "sns-alarm-metric-math.json"] {
        let a = one(f);
        let exprs: Vec<&str> = a
            .details
            .iter()
            .filter(|(k, _)| k == "expression")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(
            exprs,
            ["e1 = 100 * errors / invocations (Error rate (%))"],
            "{f}"
        );
        let metrics = a.details.iter().filter(|(k, _)| k == "metric").count();
        assert_eq!(metrics, 2, "{f}: {:?}", a.details);
        assert_eq!(detail(&a, "threshold"), Some("5.0"), "{f}");
    }
}

/// The labels inhibition rules match on: an EMR event's cluster, an alarm's metric and the
/// cluster its `JobFlowId` dimension names, and the operator's labels by resource prefix
/// (which never override what the input says).
#[test]
fn alerts_carry_the_labels_inhibition_matches_on() {
    let label = |a: &alerts::model::Alert, k: &str| a.label(k).map(str::to_string);
    let emr = one("emr-cluster-terminated-with-errors.json");
    assert_eq!(
        label(&emr, "cluster_id").as_deref(),
        Some("j-2AXXXXXXGAPLF")
    );
    assert_eq!(label(&emr, "kind").as_deref(), Some("emr-cluster"));
    let step = one("emr-step-failed.json");
    assert_eq!(
        label(&step, "cluster_id").as_deref(),
        Some("j-2AXXXXXXGAPLF")
    );
    let yarn = one("alarm-emr-yarn-memory-alarm.json");
    assert_eq!(
        label(&yarn, "cluster_id").as_deref(),
        Some("j-2AXXXXXXGAPLF")
    );
    assert_eq!(
        label(&yarn, "namespace").as_deref(),
        Some("AWS/ElasticMapReduce")
    );
    assert_eq!(
        label(&yarn, "metric").as_deref(),
        Some("YARNMemoryAvailablePercentage")
    );
    let age = one("alarm-iterator-age-alarm.json");
    assert_eq!(
        label(&age, "cluster_id"),
        None,
        "a stream's alarm names no cluster"
    );
    let opts = NormalizeOptions {
        resource_labels: [
            (
                "streamops-".to_string(),
                [
                    ("cluster_id".to_string(), "j-CONFIGURED".to_string()),
                    ("pipeline".to_string(), String::new()),
                ]
                .into(),
            ),
            (
                "streamops-raw-".to_string(),
                [("cluster_id".to_string(), "j-RAW".to_string())].into(),
            ),
        ]
        .into(),
        ..Default::default()
    };
    let labelled =
        |name: &str| normalize(&fixture(&format!("alerts/{name}")), now(), &opts).remove(0);
    let age = labelled("alarm-iterator-age-alarm.json");
    assert_eq!(
        label(&age, "cluster_id").as_deref(),
        Some("j-RAW"),
        "the longest prefix wins"
    );
    assert_eq!(label(&age, "pipeline"), None, "an empty value is no label");
    let yarn = labelled("alarm-emr-yarn-memory-alarm.json");
    assert_eq!(
        label(&yarn, "cluster_id").as_deref(),
        Some("j-2AXXXXXXGAPLF"),
        "the dimension wins"
    );
}
