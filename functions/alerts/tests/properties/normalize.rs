//! Normalizing whatever arrives: every payload becomes at least one alert (an SNS event one
//! per record), deterministically; a payload that is not what it claims to be becomes a
//! malformed-input warning that names the parse error and carries a digest of the payload;
//! every alert renders within SNS's limits.

use alerts::model::{AlertKind, Severity};
use alerts::normalize::{NormalizeOptions, normalize};
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

use crate::r#gen::payload;
use crate::render::check_all_formats;

fn now() -> DateTime<Utc> {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn options(detail_max_bytes: usize) -> NormalizeOptions {
    NormalizeOptions {
        runbooks: [
            ("*".to_string(), "https://runbooks.example.com/".to_string()),
            (
                "streamops-".to_string(),
                "https://runbooks.example.com/streamops".to_string(),
            ),
        ]
        .into(),
        detail_max_bytes,
        resource_labels: Default::default(),
    }
}

fn sns_records(payload: &Value) -> Option<usize> {
    let records = payload.get("Records")?.as_array()?;
    let sns = records.first()?.get("EventSource")? == "aws:sns";
    (sns && serde_json::from_value::<aws_lambda_events::sns::SnsEvent>(payload.clone()).is_ok())
        .then_some(records.len())
}

fn check_alert(a: &alerts::model::Alert, max: usize) -> Result<(), TestCaseError> {
    prop_assert!(a.fingerprint.len() == 32 && a.fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
    if a.state == "MALFORMED" {
        prop_assert_eq!(a.severity, Severity::Warning);
        prop_assert_eq!(a.kind, AlertKind::Generic);
        let detail = |k: &str| {
            a.details
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        prop_assert!(
            detail("error").is_some_and(|e| !e.is_empty()),
            "{:?}",
            a.details
        );
        prop_assert!(detail("payload digest").is_some_and(|d| d.len() == 16));
        prop_assert!(detail("payload").is_some_and(|p| p.len() <= max));
    }
    check_all_formats(a)
}

proptest! {
    #[test]
    fn any_payload_becomes_alerts_that_render_within_sns_limits(
        payload in payload(),
        max in prop::sample::select(vec![256usize, 4096, 65_536]),
    ) {
        let alerts = normalize(&payload, now(), &options(max));
        prop_assert!(!alerts.is_empty(), "nothing came of {payload}");
        if let Some(n) = sns_records(&payload) {
            prop_assert_eq!(alerts.len(), n, "one alert per SNS record");
        }
        for a in &alerts {
            check_alert(a, max)?;
        }
        // Deterministic: a redelivery is the same alert, with the same identity.
        prop_assert_eq!(&normalize(&payload, now(), &options(max)), &alerts);
    }
}
