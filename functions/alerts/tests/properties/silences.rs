//! Silences through the ops commands and the service (in-memory fakes): a `create-silence`
//! request is a silence ending in the future and within 90 days, or is refused naming what is
//! wrong; a silence mutes exactly the alerts it matches (resource prefix, or fingerprint in
//! any case), and only until it ends.

use alerts::config::AlertsConfig;
use alerts::service::{AlertsError, AlertsService, InvocationContext};
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};
use streamops_shared::{EnvReader, Metrics};

use crate::support::{FakeBook, FakePublisher, FakeQueue, FakeStore};

fn service() -> AlertsService<FakeStore, FakePublisher, FakeQueue, FakeBook> {
    let vars = [
        (
            "ALERTS_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:streamops-alerts",
        ),
        ("ALERTS_TABLE_NAME", "alerts-state"),
    ];
    let map = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    AlertsService {
        config: AlertsConfig::read(EnvReader::from_map(map)).unwrap(),
        store: FakeStore::default(),
        publisher: FakePublisher::default(),
        queue: FakeQueue::default(),
        book: FakeBook::default(),
    }
}

fn t0() -> DateTime<Utc> {
    "2026-11-23T10:00:20Z".parse().unwrap()
}

fn handle(
    svc: &AlertsService<FakeStore, FakePublisher, FakeQueue, FakeBook>,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<Value, AlertsError> {
    let ctx = InvocationContext {
        request_id: format!("req-{}", now.timestamp_millis()),
        now,
        claim_until: now + Duration::seconds(30),
    };
    let mut metrics = Metrics::with_sink("streamops", "alerts", |_| {});
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(svc.handle(payload, &ctx, &mut metrics))
}

/// The iterator-age alarm, renamed, at a state time of its own.
fn alarm(name: &str, i: usize) -> Value {
    let mut e = streamops_test_support::fixture("alerts/alarm-iterator-age-alarm.json");
    e["id"] = json!(format!("delivery-{i}"));
    e["detail"]["alarmName"] = json!(name);
    e
}

fn decision(out: &Value) -> (String, Option<String>) {
    let a = &out["alerts"][0];
    (
        a["decision"].as_str().unwrap().into(),
        a["reason"].as_str().map(str::to_string),
    )
}

proptest! {
    #[test]
    fn a_prefix_silence_mutes_exactly_the_alarms_it_matches_until_it_ends(
        prefix in "[a-z]{1,3}-?[a-z]{0,2}",
        names in prop::collection::btree_set("[a-z]{1,3}-?[a-z]{0,4}", 1..6),
        minutes in 1i64..600,
        after in prop::collection::vec(any::<bool>(), 6),
    ) {
        let svc = service();
        let created = handle(&svc, json!({"command": "create-silence", "alarm_name_prefix": prefix,
            "duration_minutes": minutes}), t0()).unwrap();
        let ends_at: DateTime<Utc> = created["silence"]["ends_at"].as_str().unwrap().parse().unwrap();
        prop_assert_eq!(ends_at, t0() + Duration::minutes(minutes));
        for (i, name) in names.iter().enumerate() {
            // Before the end, or after it.
            let at = if after[i] { ends_at + Duration::seconds(1) } else { ends_at - Duration::seconds(1) };
            let out = handle(&svc, alarm(name, i), at).unwrap();
            let silenced = name.starts_with(&prefix) && !after[i];
            let want = if silenced { ("suppressed".to_string(), Some("silenced".to_string())) } else { ("published".to_string(), None) };
            prop_assert_eq!(decision(&out), want, "{} under {}", name, prefix);
        }
    }

    #[test]
    fn a_fingerprint_silence_mutes_that_alert_whatever_the_case_it_was_given_in(
        name in "[a-z-]{1,12}", upper in prop::collection::vec(any::<bool>(), 32),
    ) {
        let payload = alarm(&name, 0);
        let fp = alerts::normalize::normalize(&payload, t0(), &Default::default())[0].fingerprint.clone();
        let given: String = fp.chars().zip(&upper).map(|(c, u)| if *u { c.to_ascii_uppercase() } else { c }).collect();
        let svc = service();
        handle(&svc, json!({"command": "create-silence", "fingerprint": format!(" {given} "), "duration_minutes": 5}), t0()).unwrap();
        let out = handle(&svc, payload, t0()).unwrap();
        prop_assert_eq!(decision(&out), ("suppressed".to_string(), Some("silenced".to_string())));
        let other = handle(&svc, alarm(&format!("{name}-other"), 1), t0()).unwrap();
        prop_assert_eq!(decision(&other).0, "published");
    }

    #[test]
    fn a_create_silence_request_is_a_silence_or_refused_in_words(
        fingerprint in prop::option::of(prop_oneof!["[0-9a-f]{32}", "[0-9a-zA-Z]{0,40}", Just("  ".to_string())]),
        prefix in prop::option::of(prop_oneof!["[a-z-]{1,10}", Just(" ".to_string())]),
        until_minutes in prop::option::of(-100i64..200_000),
        duration in prop::option::of(prop_oneof![-5i64..200_000, Just(i64::MAX), Just(i64::MIN)]),
    ) {
        let mut req = json!({"command": "create-silence"});
        if let Some(f) = &fingerprint { req["fingerprint"] = json!(f); }
        if let Some(p) = &prefix { req["alarm_name_prefix"] = json!(p); }
        if let Some(m) = until_minutes { req["until"] = json!((t0() + Duration::minutes(m)).to_rfc3339()); }
        if let Some(d) = duration { req["duration_minutes"] = json!(d); }
        match handle(&service(), req, t0()) {
            Ok(out) => {
                let s = &out["silence"];
                let ends: DateTime<Utc> = s["ends_at"].as_str().unwrap().parse().unwrap();
                prop_assert!(ends > t0() && ends - t0() <= Duration::days(90), "{ends}");
                prop_assert!(s["fingerprint"].is_string() || s["alarm_name_prefix"].is_string());
            }
            Err(AlertsError::BadCommand(e)) => {
                let words = ["needs", "32-character hex", "either", "positive", "not in the future", "at most 90 days"];
                prop_assert!(words.iter().any(|w| e.contains(w)), "{e}");
            }
            Err(other) => return Err(proptest::test_runner::TestCaseError::fail(format!("{other}"))),
        }
    }
}
