//! Inhibition and the incident lifecycle over the in-memory fakes (`support`): an outage whose
//! root cause mutes its symptoms, redelivered and reordered; resolved notices through
//! silences; silences that end when their alert resolves.

mod support;

use alerts::service::AlertsError;
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};
use streamops_shared::harness::Failure;
use streamops_test_support::fixture;
use support::{Fault, Fixture, StoreOp, at, config};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:streamops-alerts";
const CLUSTER: &str = "j-2AXXXXXXGAPLF";

/// The template's default rules (template.yaml, `ALERTS_INHIBIT_RULES`) for a stack named
/// `streamops`, and its labels tying the stack's alarms to the cluster (`EmrClusterId`).
const RULES: &str = r#"[
  {"name": "emr-cluster-failed",
   "source": {"kind": "emr-cluster", "state": "TERMINATED_WITH_ERRORS"},
   "target": {"kind": ["metric-alarm", "composite-alarm"], "namespace": "AWS/ElasticMapReduce"},
   "equal": ["account", "region", "cluster_id"], "max_minutes": 360},
  {"name": "emr-cluster-failed-lag",
   "source": {"kind": "emr-cluster", "state": "TERMINATED_WITH_ERRORS"},
   "target": {"kind": ["metric-alarm", "composite-alarm"],
              "metric": ["GetRecords.IteratorAgeMilliseconds", "records-lag-max"], "resource_prefix": "streamops-"},
   "equal": ["account", "region", "cluster_id"], "max_minutes": 360}]"#;
const LABELS: &str = r#"{"streamops-": {"cluster_id": "j-2AXXXXXXGAPLF"}}"#;

fn fakes(extra: &[(&str, &str)]) -> Fixture {
    let mut vars = vec![
        ("ALERTS_INHIBIT_RULES", RULES),
        ("ALERTS_RESOURCE_LABELS", LABELS),
    ];
    vars.extend_from_slice(extra);
    Fixture::new(config(TOPIC, &vars))
}

impl Fixture {
    async fn handle(&self, payload: &Value, now: DateTime<Utc>) -> Result<Value, AlertsError> {
        let request_id = format!("req-{}", now.timestamp_millis());
        self.handle_as(&request_id, payload, now).await
    }
}

fn outcome(out: &Value) -> (String, Option<String>) {
    let a = &out["alerts"][0];
    (
        a["decision"].as_str().unwrap().to_string(),
        a["reason"].as_str().map(str::to_string),
    )
}

/// An EventBridge alarm state change of `name` to `state` at `time`, from the iterator-age
/// fixtures; `cluster` puts a `JobFlowId` dimension on its metric (an EMR alarm).
fn alarm(name: &str, state: &str, time: &str, cluster: Option<&str>) -> Value {
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
    let metric = &mut v["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"];
    if let Some(c) = cluster {
        metric["namespace"] = json!("AWS/ElasticMapReduce");
        metric["name"] = json!("YARNMemoryAvailablePercentage");
        metric["dimensions"] = json!({ "JobFlowId": c });
    } else if name.ends_with("flink-lag") {
        metric["namespace"] = json!("streamops/flink");
        metric["name"] = json!("records-lag-max");
        metric["dimensions"] = json!({ "JobName": "sessionizer" });
    }
    v
}

/// The 20 symptoms of the cluster's loss: the Flink lag and stream iterator age (tied to the
/// cluster by `ALERTS_RESOURCE_LABELS`) and 18 EMR alarms on the cluster (its `JobFlowId`),
/// within a minute.
fn symptoms(state: &str, minute: &str) -> Vec<Value> {
    let mut out = vec![
        alarm("streamops-flink-lag", state, &format!("{minute}:02Z"), None),
        alarm(
            "streamops-raw-iterator-age",
            state,
            &format!("{minute}:04Z"),
            None,
        ),
    ];
    for i in 0..18 {
        let name = format!("streamops-emr-symptom-{i:02}");
        let time = format!("{minute}:{:02}Z", 6 + i * 3);
        out.push(alarm(&name, state, &time, Some(CLUSTER)));
    }
    out
}

/// A fixed-seed shuffle (xorshift, Fisher-Yates): reproducible without a dependency.
fn shuffled<T: Clone>(items: &[T], mut seed: u64) -> Vec<T> {
    let mut out = items.to_vec();
    for i in (1..out.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    out
}

const ROOT_SUBJECT: &str =
    "CRITICAL: EMR cluster j-2AXXXXXXGAPLF (streamops-flink) TERMINATED_WITH_ERRORS (us-east-1)";

/// One EMR termination, then 20 related alarms within a minute: one notification (the root
/// cause), the 20 recorded as inhibited and counted; when they recover, no resolved notice
/// for any of them (they were never heard). The same events redelivered, reordered and
/// duplicated change nothing. An EMR termination is terminal: EMR sends no recovery for it,
/// so the root cause has no resolved notice either (see the alarm-rooted test below).
#[tokio::test]
async fn an_outage_pages_once_for_its_root_cause_and_mutes_its_symptoms() {
    let f = fakes(&[]);
    let root = fixture("alerts/emr-cluster-terminated-with-errors.json");
    let t = at("2026-11-23T10:05:50Z");
    let out = f.handle(&root, t).await.unwrap();
    assert_eq!(outcome(&out), ("published".into(), None));
    let root_fp = out["alerts"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let storm = shuffled(&symptoms("ALARM", "2026-11-23T10:06"), 17);
    for (i, event) in storm.iter().enumerate() {
        let out = f
            .handle(event, t + Duration::seconds(i as i64 + 12))
            .await
            .unwrap();
        assert_eq!(
            outcome(&out),
            ("suppressed".into(), Some("inhibited".into())),
            "{event}"
        );
        assert_eq!(out["alerts"][0]["inhibited_by"], root_fp.as_str());
        let rule = out["alerts"][0]["inhibit_rule"].as_str().unwrap();
        assert!(rule.starts_with("emr-cluster-failed"), "{rule}");
    }
    assert_eq!(f.subjects(), [ROOT_SUBJECT]);
    assert_eq!(
        f.counted("AlertsInhibited", "emr-cluster-failed"),
        18,
        "the EMR alarms"
    );
    assert_eq!(
        f.counted("AlertsInhibited", "emr-cluster-failed-lag"),
        2,
        "lag, iterator age"
    );
    assert_eq!(f.counted("AlertsSuppressed", "inhibited"), 20);

    let listed = f
        .handle(&json!({"command": "inhibitions"}), t + Duration::minutes(2))
        .await
        .unwrap();
    let active = listed["inhibitions"].as_array().unwrap();
    assert_eq!(active.len(), 2, "the root cause, under each rule: {listed}");
    let mut muted = 0;
    for inhibition in active {
        assert_eq!(inhibition["source_fingerprint"], root_fp.as_str());
        assert_eq!(inhibition["firing"], true);
        muted += inhibition["muted_count"].as_u64().unwrap();
    }
    assert_eq!(muted, 20);

    let recovery = shuffled(&symptoms("OK", "2026-11-23T10:40"), 5);
    let later = at("2026-11-23T10:41:00Z");
    for (i, event) in recovery.iter().enumerate() {
        let out = f
            .handle(event, later + Duration::seconds(i as i64))
            .await
            .unwrap();
        assert_eq!(
            outcome(&out),
            ("suppressed".into(), Some("not-a-recovery".into()))
        );
    }
    // Everything again, reordered, some twice: nothing new is sent.
    let mut again: Vec<Value> = std::iter::once(root.clone())
        .chain(storm.clone())
        .chain(recovery.clone())
        .collect();
    again.extend(storm.iter().step_by(4).cloned());
    for (i, event) in shuffled(&again, 99).iter().enumerate() {
        f.handle(
            event,
            later + Duration::minutes(5) + Duration::seconds(i as i64),
        )
        .await
        .unwrap();
    }
    assert_eq!(
        f.subjects(),
        [ROOT_SUBJECT],
        "one notification for the whole outage"
    );
}

/// The same storm with an alarm as the root cause (a rule whose source is the composite
/// "pipeline degraded" alarm): one notification, and when everything recovers a single
/// resolved notice, the root cause's.
#[tokio::test]
async fn an_alarm_rooted_outage_resolves_once_for_its_root_cause() {
    let rules = r#"[{"name": "pipeline-degraded",
        "source": {"resource": "streamops-pipeline-degraded"},
        "target": {"resource_prefix": ["streamops-flink-lag", "streamops-raw-iterator-age", "streamops-emr-"]},
        "equal": ["account", "region"]}]"#;
    let f = fakes(&[("ALERTS_INHIBIT_RULES", rules)]);
    let t = at("2026-11-23T10:05:50Z");
    let root = alarm(
        "streamops-pipeline-degraded",
        "ALARM",
        "2026-11-23T10:05:40Z",
        None,
    );
    f.handle(&root, t).await.unwrap();
    let storm = symptoms("ALARM", "2026-11-23T10:06");
    for (i, event) in shuffled(&storm, 3).iter().enumerate() {
        let out = f
            .handle(event, t + Duration::seconds(i as i64 + 12))
            .await
            .unwrap();
        assert_eq!(outcome(&out).1.as_deref(), Some("inhibited"));
    }
    let later = at("2026-11-23T10:41:00Z");
    let root_ok = alarm(
        "streamops-pipeline-degraded",
        "OK",
        "2026-11-23T10:40:50Z",
        None,
    );
    let mut recovery = symptoms("OK", "2026-11-23T10:40");
    recovery.push(root_ok.clone());
    for (i, event) in shuffled(&recovery, 11).iter().enumerate() {
        f.handle(event, later + Duration::seconds(i as i64))
            .await
            .unwrap();
    }
    let mut again: Vec<Value> = std::iter::once(root).chain(storm).chain(recovery).collect();
    again.push(root_ok);
    for (i, event) in shuffled(&again, 42).iter().enumerate() {
        f.handle(
            event,
            later + Duration::minutes(3) + Duration::seconds(i as i64),
        )
        .await
        .unwrap();
    }
    assert_eq!(
        f.subjects(),
        [
            "CRITICAL: ALARM streamops-pipeline-degraded (us-east-1)",
            "RESOLVED: OK streamops-pipeline-degraded (us-east-1)",
        ]
    );
}

/// A symptom that fires after its source resolved, or past the rule's bound, is sent; one on
/// another cluster is never muted; a problem sent before the source fired still has its
/// resolved notice delivered while the source fires.
#[tokio::test]
async fn inhibition_holds_only_while_its_source_fires_on_the_same_cluster() {
    let f = fakes(&[]);
    let t = at("2026-11-23T10:05:00Z");
    let early = alarm(
        "streamops-emr-memory-low",
        "ALARM",
        "2026-11-23T10:04:00Z",
        Some(CLUSTER),
    );
    assert_eq!(outcome(&f.handle(&early, t).await.unwrap()).0, "published");
    f.handle(
        &fixture("alerts/emr-cluster-terminated-with-errors.json"),
        t + Duration::seconds(50),
    )
    .await
    .unwrap();
    let other = alarm(
        "streamops-emr-containers-pending",
        "ALARM",
        "2026-11-23T10:06:10Z",
        Some("j-OTHER"),
    );
    let out = f.handle(&other, t + Duration::seconds(70)).await.unwrap();
    assert_eq!(outcome(&out).0, "published", "another cluster: {out}");
    let early_ok = alarm(
        "streamops-emr-memory-low",
        "OK",
        "2026-11-23T10:07:00Z",
        Some(CLUSTER),
    );
    let out = f.handle(&early_ok, t + Duration::minutes(2)).await.unwrap();
    assert_eq!(outcome(&out).0, "published", "its problem was heard: {out}");
    // Past the rule's six hours the terminated cluster mutes nothing.
    let late = alarm("streamops-flink-lag", "ALARM", "2026-11-23T16:10:00Z", None);
    let out = f.handle(&late, at("2026-11-23T16:10:05Z")).await.unwrap();
    assert_eq!(outcome(&out).0, "published", "{out}");
    assert_eq!(f.subjects().len(), 5, "{:?}", f.subjects());
}

/// The complaint about Alertmanager: a problem that paged, then a silence, then its recovery
/// is swallowed and the incident stays open. Here the resolved notice is delivered unless the
/// silence says `notify_resolved: false`; a problem first seen while silenced stays unheard.
#[tokio::test]
async fn a_resolved_notice_passes_a_silence_that_began_after_its_problem_was_sent() {
    for (notify_resolved, delivered) in [(None, true), (Some(true), true), (Some(false), false)] {
        let f = fakes(&[]);
        let t = at("2026-11-23T10:00:20Z");
        f.handle(
            &alarm(
                "streamops-enrich-errors",
                "ALARM",
                "2026-11-23T10:00:13Z",
                None,
            ),
            t,
        )
        .await
        .unwrap();
        let mut silence = json!({"command": "create-silence", "alarm_name_prefix": "streamops-", "duration_minutes": 120});
        if let Some(n) = notify_resolved {
            silence["notify_resolved"] = json!(n);
        }
        f.handle(&silence, t + Duration::minutes(1)).await.unwrap();
        // Another alarm fires while silenced: muted, and so is its recovery.
        let other = alarm(
            "streamops-enrich-throttles",
            "ALARM",
            "2026-11-23T10:02:00Z",
            None,
        );
        let out = f.handle(&other, t + Duration::minutes(2)).await.unwrap();
        assert_eq!(outcome(&out).1.as_deref(), Some("silenced"));
        let ok = alarm(
            "streamops-enrich-errors",
            "OK",
            "2026-11-23T10:20:00Z",
            None,
        );
        let out = f.handle(&ok, t + Duration::minutes(20)).await.unwrap();
        let other_ok = alarm(
            "streamops-enrich-throttles",
            "OK",
            "2026-11-23T10:21:00Z",
            None,
        );
        let quiet = f
            .handle(&other_ok, t + Duration::minutes(21))
            .await
            .unwrap();
        assert_eq!(outcome(&quiet).1.as_deref(), Some("not-a-recovery"));
        let mut want = vec!["CRITICAL: ALARM streamops-enrich-errors (us-east-1)".to_string()];
        if delivered {
            assert_eq!(
                outcome(&out),
                ("published".into(), None),
                "{notify_resolved:?}"
            );
            want.push("RESOLVED: OK streamops-enrich-errors (us-east-1)".into());
        } else {
            assert_eq!(outcome(&out).1.as_deref(), Some("silenced"));
        }
        assert_eq!(f.subjects(), want, "{notify_resolved:?}");
    }
}

/// "Silence until resolved": the silence of one alarm mutes it, and its recovery ends the
/// silence (the recovery of an unheard problem is not sent); the alarm's next problem pages.
/// A stale recovery (older than the recorded problem) ends nothing.
#[tokio::test]
async fn a_silence_until_resolved_ends_when_its_alert_resolves() {
    let f = fakes(&[]);
    let t = at("2026-11-23T10:00:20Z");
    let created = f
        .handle(&fixture("alerts/ops-create-silence-until-resolved.json"), t)
        .await
        .unwrap();
    assert_eq!(created["silence"]["until_resolved"], true);
    let name = created["silence"]["alarm_name"]
        .as_str()
        .unwrap()
        .to_string();
    let fire = alarm(&name, "ALARM", "2026-11-23T10:01:00Z", None);
    let out = f.handle(&fire, t + Duration::minutes(1)).await.unwrap();
    assert_eq!(outcome(&out).1.as_deref(), Some("silenced"));
    let stale = alarm(&name, "OK", "2026-11-23T09:59:00Z", None);
    f.handle(&stale, t + Duration::minutes(2)).await.unwrap();
    assert_eq!(f.store.silences().len(), 1, "a stale recovery ends nothing");
    let ok = alarm(&name, "OK", "2026-11-23T10:30:00Z", None);
    let out = f.handle(&ok, t + Duration::minutes(30)).await.unwrap();
    assert_eq!(outcome(&out).1.as_deref(), Some("not-a-recovery"));
    assert!(f.store.silences().is_empty(), "ended by the resolution");
    // Redelivered: still nothing sent, nothing to end.
    f.handle(&ok, t + Duration::minutes(31)).await.unwrap();
    let again = alarm(&name, "ALARM", "2026-11-23T11:00:00Z", None);
    let out = f.handle(&again, t + Duration::minutes(60)).await.unwrap();
    assert_eq!(outcome(&out), ("published".into(), None));
    assert_eq!(
        f.subjects(),
        [format!("CRITICAL: ALARM {name} (us-east-1)")]
    );
}

/// DynamoDB throttles the source's inhibitor write: the invocation fails retryably before the
/// source's state is recorded or anything is sent, and the retry pages once; a lookup of
/// firing sources that fails leaves the target unsent and unrecorded until its retry.
#[tokio::test]
async fn a_failed_inhibitor_write_or_lookup_fails_retryably_and_the_retry_settles_once() {
    let f = fakes(&[]);
    let t = at("2026-11-23T10:05:50Z");
    let root = fixture("alerts/emr-cluster-terminated-with-errors.json");
    f.store
        .script
        .fail_next(StoreOp::PutInhibitor.name(), Fault::Throttled);
    let err = f.handle(&root, t).await.unwrap_err();
    assert_eq!(Failure::of(&err).error_type, "Retryable.AwsCall");
    assert!(f.subjects().is_empty());
    let out = f.handle(&root, t + Duration::minutes(1)).await.unwrap();
    assert_eq!(outcome(&out), ("published".into(), None));
    let lag = alarm("streamops-flink-lag", "ALARM", "2026-11-23T10:06:30Z", None);
    f.store
        .script
        .fail_next(StoreOp::ListInhibitors.name(), Fault::ServerError);
    let err = f.handle(&lag, t + Duration::minutes(2)).await.unwrap_err();
    assert_eq!(Failure::of(&err).error_type, "Retryable.AwsCall");
    let out = f.handle(&lag, t + Duration::minutes(3)).await.unwrap();
    assert_eq!(outcome(&out).1.as_deref(), Some("inhibited"));
    assert_eq!(f.subjects(), [ROOT_SUBJECT]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever the order of the symptoms after their root cause, and whatever is redelivered
    /// afterwards (any order, any repeats, recoveries included), the outage is one message and
    /// its 20 symptoms are inhibited.
    #[test]
    fn any_order_of_symptoms_and_redeliveries_is_one_message(
        storm_seed in 1u64..u64::MAX,
        replay_seed in 1u64..u64::MAX,
        repeats in proptest::collection::vec(0usize..40, 0..12),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let f = fakes(&[]);
            let t = at("2026-11-23T10:05:50Z");
            let root = fixture("alerts/emr-cluster-terminated-with-errors.json");
            f.handle(&root, t).await.unwrap();
            let storm = shuffled(&symptoms("ALARM", "2026-11-23T10:06"), storm_seed);
            let mut inhibited = 0;
            for (i, event) in storm.iter().enumerate() {
                let out = f.handle(event, t + Duration::seconds(i as i64 + 12)).await.unwrap();
                inhibited += usize::from(outcome(&out).1.as_deref() == Some("inhibited"));
            }
            let recovery = symptoms("OK", "2026-11-23T10:40");
            let everything: Vec<Value> = storm.iter().chain(&recovery).cloned().collect();
            let mut replay = everything.clone();
            replay.extend(repeats.iter().map(|i| everything[i % everything.len()].clone()));
            let later = at("2026-11-23T10:41:00Z");
            for (i, event) in shuffled(&replay, replay_seed).iter().enumerate() {
                f.handle(event, later + Duration::seconds(i as i64)).await.unwrap();
            }
            assert_eq!(inhibited, 20);
            assert_eq!(f.subjects(), [ROOT_SUBJECT]);
        });
    }
}
