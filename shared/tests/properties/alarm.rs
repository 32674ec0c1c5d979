//! Alarm state changes in their three deliveries (EventBridge, SNS message, Lambda alarm action):
//! generated transitions rendered into the real fixtures read back field for field, the three
//! deliveries of one transition agree, and edited fixtures or junk either read or fail naming a
//! field of the delivery — never a panic.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};
use streamops_shared::alarm::{
    ALARM_DETAIL_TYPE, AlarmKind, AlarmParseError, AlarmState, AlarmTransition, SnsContext,
    SuppressedBy, arn_region_account, parse_time, region_code,
};
use streamops_test_support::fixture;
use streamops_test_support::generate::{json_value, mutate, mutations, text};

/// Region display names as SNS messages spell them, with their codes.
const REGIONS: &[(&str, &str)] = &[
    ("US East (N. Virginia)", "us-east-1"),
    ("US West (Oregon)", "us-west-2"),
    ("EU (Ireland)", "eu-west-1"),
    ("Europe (Frankfurt)", "eu-central-1"),
    ("Asia Pacific (Tokyo)", "ap-northeast-1"),
    ("South America (Sao Paulo)", "sa-east-1"),
    ("AWS GovCloud (US-West)", "us-gov-west-1"),
];

/// One alarm transition, as the generator sees it.
#[derive(Debug, Clone)]
struct Alarm {
    name: String,
    state: AlarmState,
    previous: Option<AlarmState>,
    reason: String,
    time: DateTime<Utc>,
    /// How the time is written: see [`write_time`].
    time_format: (u8, i32),
    description: Option<String>,
    composite: bool,
    suppressed: Option<String>,
    account: String,
    region: usize,
    with_arn: bool,
}

impl Alarm {
    fn region_code(&self) -> &'static str {
        REGIONS[self.region].1
    }

    fn arn(&self) -> String {
        format!(
            "arn:aws:cloudwatch:{}:{}:alarm:{}",
            self.region_code(),
            self.account,
            self.name
        )
    }

    fn time_text(&self) -> String {
        write_time(self.time, self.time_format)
    }
}

fn state() -> impl Strategy<Value = AlarmState> {
    prop_oneof![
        Just(AlarmState::Ok),
        Just(AlarmState::Alarm),
        Just(AlarmState::InsufficientData)
    ]
}

/// Instants between 1990 and 2100 at millisecond precision (what CloudWatch writes).
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (631_152_000_000i64..4_102_444_800_000)
        .prop_map(|ms| DateTime::from_timestamp_millis(ms).expect("in range"))
}

/// Every spelling of a time CloudWatch and EventBridge use: `+0000` without a colon, RFC 3339 with
/// `Z`, a numeric offset with or without a colon, a space for the `T`.
fn write_time(t: DateTime<Utc>, (format, offset_minutes): (u8, i32)) -> String {
    let zone = FixedOffset::east_opt(offset_minutes * 60).expect("within a day");
    let local = t.with_timezone(&zone);
    match format % 5 {
        0 => t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
        1 => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        2 => local.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string(),
        3 => local.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string(),
        _ => t.format("%Y-%m-%d %H:%M:%S%.3fZ").to_string(),
    }
}

fn time_format() -> impl Strategy<Value = (u8, i32)> {
    (any::<u8>(), -14 * 60..=14 * 60)
}

/// Alarm names: anything CloudWatch allows that is not blank, including quotes, colons and
/// multi-byte text.
fn alarm_name() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z0-9_.-]{1,40}", text()].prop_filter("not blank", |s| !s.trim().is_empty())
}

prop_compose! {
    fn alarm()(
        name in alarm_name(),
        state in state(),
        previous in prop::option::of(state()),
        reason in text(),
        time in instant(),
        time_format in time_format(),
        description in prop::option::of(text().prop_filter("not blank", |s| !s.trim().is_empty())),
        composite in any::<bool>(),
        suppressed in prop::option::of(prop::sample::select(&["WaitPeriod", "ExtensionPeriod", "Alarm", "Other"][..])),
        account in "[0-9]{12}",
        region in 0..REGIONS.len(),
        with_arn in any::<bool>(),
    ) -> Alarm {
        Alarm {
            name, state, previous, reason, time, time_format, description, composite,
            suppressed: suppressed.map(str::to_string), account, region, with_arn,
        }
    }
}

/// CloudWatch's alarm data (EventBridge `detail`, Lambda `alarmData`) written over a fixture's.
fn write_alarm_data(data: &mut Value, a: &Alarm) {
    data["alarmName"] = json!(a.name);
    data["state"]["value"] = json!(a.state.as_str());
    data["state"]["reason"] = json!(a.reason);
    data["state"]["timestamp"] = json!(a.time_text());
    let state = data["state"].as_object_mut().expect("fixture state");
    state.remove("actionsSuppressedBy");
    state.remove("actionsSuppressedReason");
    if let Some(by) = &a.suppressed {
        state.insert("actionsSuppressedBy".into(), json!(by));
        state.insert(
            "actionsSuppressedReason".into(),
            json!(format!("Actions suppressed by {by}")),
        );
    }
    match a.previous {
        Some(p) => data["previousState"]["value"] = json!(p.as_str()),
        None => {
            data.as_object_mut()
                .expect("object")
                .remove("previousState");
        }
    }
    let config = data["configuration"]
        .as_object_mut()
        .expect("configuration");
    config.insert("description".into(), json!(a.description));
    if a.composite {
        config.insert("alarmRule".into(), json!("ALARM(\"child\")"));
        config.remove("metrics");
    } else {
        config.remove("alarmRule");
    }
}

fn eventbridge(a: &Alarm) -> Value {
    let mut e = fixture("alerts/alarm-iterator-age-alarm.json");
    e["account"] = json!(a.account);
    e["region"] = json!(a.region_code());
    e["resources"] = if a.with_arn {
        json!([a.arn()])
    } else {
        json!([])
    };
    write_alarm_data(&mut e["detail"], a);
    e
}

fn lambda_action(a: &Alarm) -> Value {
    let mut e = fixture("alerts/lambda-action-metric-alarm.json");
    e["accountId"] = json!(a.account);
    e["region"] = json!(a.region_code());
    let o = e.as_object_mut().expect("object");
    o.remove("alarmArn");
    if a.with_arn {
        o.insert("alarmArn".into(), json!(a.arn()));
    }
    write_alarm_data(&mut e["alarmData"], a);
    e
}

/// The `Message` of the SNS fixture, rewritten for `a`.
fn sns_message(a: &Alarm) -> String {
    let record = fixture("alerts/sns-alarm-notification.json");
    let mut m: Value =
        serde_json::from_str(record["Records"][0]["Sns"]["Message"].as_str().unwrap())
            .expect("fixture message");
    m["AlarmName"] = json!(a.name);
    m["NewStateValue"] = json!(a.state.as_str());
    m["NewStateReason"] = json!(a.reason);
    m["StateChangeTime"] = json!(a.time_text());
    m["AlarmDescription"] = json!(a.description);
    m["AWSAccountId"] = json!(a.account);
    m["Region"] = json!(REGIONS[a.region].0);
    m["OldStateValue"] = json!(a.previous.map(AlarmState::as_str));
    let o = m.as_object_mut().expect("object");
    o.remove("AlarmArn");
    if a.with_arn {
        o.insert("AlarmArn".into(), json!(a.arn()));
    }
    if a.composite {
        o.remove("Trigger");
        o.insert("AlarmRule".into(), json!("ALARM(\"child\")"));
    }
    m.to_string()
}

/// What every delivery must read the same way.
fn assert_reads_as(t: &AlarmTransition, a: &Alarm) {
    assert_eq!(t.name, a.name);
    assert_eq!(t.state, a.state);
    assert_eq!(t.state_time, a.time, "from {:?}", a.time_text());
    assert_eq!(t.description, a.description);
    let kind = if a.composite {
        AlarmKind::Composite
    } else {
        AlarmKind::Metric
    };
    assert_eq!(t.kind, kind);
    assert_eq!(t.account.as_deref(), Some(a.account.as_str()));
    assert_eq!(t.region.as_deref(), Some(a.region_code()));
    assert_eq!(t.arn, a.with_arn.then(|| a.arn()));
    // The identity of the transition renders to a key that reads back to the same instant.
    assert_eq!(parse_time(&t.state_time_key()), Some(a.time));
}

/// The field vocabulary each delivery's errors may name.
fn assert_names_a_field(e: &AlarmParseError, allowed: &[&str]) {
    assert!(!e.problem.trim().is_empty(), "{e:?}");
    assert!(
        allowed
            .iter()
            .any(|f| e.field == *f || e.field.starts_with(&format!("{f}."))),
        "{e:?} names no field of {allowed:?}"
    );
    assert!(e.to_string().starts_with(&format!("{}: ", e.field)), "{e}");
}

const EB_FIELDS: &[&str] = &["detail-type", "detail"];
const LAMBDA_FIELDS: &[&str] = &["source", "alarmData"];
const SNS_FIELDS: &[&str] = &["Message", "AlarmName", "NewStateValue", "StateChangeTime"];

fn eventbridge_fixtures() -> impl Strategy<Value = &'static str> {
    prop::sample::select(
        &[
            "alerts/alarm-anomaly-band-alarm.json",
            "alerts/alarm-composite-alarm.json",
            "alerts/alarm-composite-suppressed.json",
            "alerts/alarm-insufficient-data.json",
            "alerts/alarm-iterator-age-ok.json",
            "alerts/alarm-metric-math-alarm.json",
            "alerts/alarm-new-alarm-initial-ok.json",
        ][..],
    )
}

fn sns_fixtures() -> impl Strategy<Value = &'static str> {
    prop::sample::select(
        &[
            "alerts/sns-alarm-anomaly-alarm.json",
            "alerts/sns-alarm-metric-math.json",
            "alerts/sns-alarm-no-arn.json",
            "alerts/sns-alarm-null-description.json",
            "alerts/sns-composite-alarm.json",
        ][..],
    )
}

/// What a successful read of an edited document must still agree with.
fn assert_consistent(t: &AlarmTransition, data: &Value, name_key: &str) {
    assert_eq!(Some(t.name.as_str()), data[name_key].as_str());
    assert!(!t.name.trim().is_empty());
    if let Some(m) = t.single_metric() {
        assert_eq!(t.metrics.len(), 1);
        assert!(m.metric.expression.is_none() && !t.is_anomaly_detection());
    }
    for metric in &t.metrics {
        let _ = metric.describe();
    }
}

proptest! {
    #[test]
    fn eventbridge_alarms_read_back_field_for_field(a in alarm()) {
        let t = AlarmTransition::from_eventbridge(&eventbridge(&a)).unwrap();
        assert_reads_as(&t, &a);
        prop_assert_eq!(t.previous_state, a.previous);
        prop_assert_eq!(&t.reason, &a.reason);
        prop_assert_eq!(t.suppressed.map(|s| s.by), a.suppressed.clone().map(SuppressedBy::from));
    }

    #[test]
    fn the_three_deliveries_of_one_transition_agree(a in alarm()) {
        let eb = AlarmTransition::from_eventbridge(&eventbridge(&a)).unwrap();
        let lambda = AlarmTransition::from_lambda_action(&lambda_action(&a)).unwrap();
        let sns = AlarmTransition::from_sns_message(&sns_message(&a), &SnsContext::default()).unwrap();
        for t in [&eb, &lambda, &sns] {
            assert_reads_as(t, &a);
        }
        prop_assert_eq!(lambda.previous_state, a.previous);
        prop_assert_eq!(sns.previous_state, a.previous);
        prop_assert_eq!((eb.state_time_key(), lambda.state_time_key()), (sns.state_time_key(), sns.state_time_key()));
    }

    #[test]
    fn edited_eventbridge_alarms_read_or_name_the_field(
        file in eventbridge_fixtures(),
        edits in mutations(3),
    ) {
        let event = mutate(&fixture(file), &edits);
        match AlarmTransition::from_eventbridge(&event) {
            Ok(t) => {
                prop_assert_eq!(event["detail-type"].as_str(), Some(ALARM_DETAIL_TYPE));
                assert_consistent(&t, &event["detail"], "alarmName");
                prop_assert_eq!(Some(t.state.as_str()), event["detail"]["state"]["value"].as_str());
            }
            Err(e) => {
                assert_names_a_field(&e, EB_FIELDS);
                prop_assert_eq!(e.alarm_name.as_deref(), event["detail"]["alarmName"].as_str());
            }
        }
    }

    #[test]
    fn edited_lambda_actions_read_or_name_the_field(
        composite in any::<bool>(),
        edits in mutations(3),
    ) {
        let file = if composite { "alerts/lambda-action-composite-alarm.json" } else { "alerts/lambda-action-metric-alarm.json" };
        let payload = mutate(&fixture(file), &edits);
        match AlarmTransition::from_lambda_action(&payload) {
            Ok(t) => {
                prop_assert_eq!(payload["source"].as_str(), Some("aws.cloudwatch"));
                assert_consistent(&t, &payload["alarmData"], "alarmName");
            }
            Err(e) => assert_names_a_field(&e, LAMBDA_FIELDS),
        }
    }

    #[test]
    fn edited_sns_messages_read_or_name_the_field(
        file in sns_fixtures(),
        edits in mutations(3),
        fallback in prop::option::of(instant()),
    ) {
        let record = fixture(file);
        let message: Value = serde_json::from_str(record["Records"][0]["Sns"]["Message"].as_str().unwrap()).unwrap();
        let message = mutate(&message, &edits);
        let ctx = SnsContext { topic_arn: Some("arn:aws:sns:eu-west-1:210987654321:alarms"), fallback_time: fallback };
        match AlarmTransition::from_sns_message(&message.to_string(), &ctx) {
            Ok(t) => {
                assert_consistent(&t, &message, "AlarmName");
                // Region and account always resolve: the topic's ARN is the last resort.
                prop_assert!(t.region.is_some() && t.account.is_some(), "{:?}", t);
            }
            Err(e) => {
                assert_names_a_field(&e, SNS_FIELDS);
                if e.field == "StateChangeTime" {
                    prop_assert!(fallback.is_none(), "a fallback time was given: {:?}", e);
                }
            }
        }
    }

    #[test]
    fn junk_is_no_alarm_and_says_why(doc in json_value(), message in text()) {
        for (result, fields) in [
            (AlarmTransition::from_eventbridge(&doc), EB_FIELDS),
            (AlarmTransition::from_lambda_action(&doc), LAMBDA_FIELDS),
            (AlarmTransition::from_sns_message(&doc.to_string(), &SnsContext::default()), SNS_FIELDS),
            (AlarmTransition::from_sns_message(&message, &SnsContext::default()), SNS_FIELDS),
        ] {
            match result {
                Ok(t) => prop_assert!(!t.name.trim().is_empty()),
                Err(e) => assert_names_a_field(&e, fields),
            }
        }
    }

    #[test]
    fn times_read_in_every_spelling(t in instant(), format in time_format(), junk in text()) {
        prop_assert_eq!(parse_time(&write_time(t, format)), Some(t));
        // Whatever junk reads as renders to a time that reads back the same.
        if let Some(read) = parse_time(&junk) {
            use chrono::Datelike;
            if (0..=9999).contains(&read.year()) {
                prop_assert_eq!(parse_time(&read.to_rfc3339()), Some(read));
            }
        }
    }

    #[test]
    fn region_names_and_arns(
        region in 0..REGIONS.len(),
        upper in any::<bool>(),
        account in "[0-9]{12}",
        resource in "[ -~]{0,30}",
        junk in text(),
    ) {
        let (display, code) = REGIONS[region];
        let spelled = if upper { display.to_uppercase() } else { display.to_string() };
        prop_assert_eq!(region_code(&spelled), Some(code));
        prop_assert_eq!(region_code(code), Some(code));
        // A code is what any name maps to, and a code maps to itself.
        if let Some(c) = region_code(&junk) {
            prop_assert_eq!(region_code(c), Some(c));
        }
        let arn = format!("arn:aws:cloudwatch:{code}:{account}:alarm:{resource}");
        prop_assert_eq!(arn_region_account(&arn), (Some(code.to_string()), Some(account)));
        let no_region = format!("arn:aws:s3:::{resource}");
        prop_assert_eq!(arn_region_account(&no_region), (None, None));
    }
}
