//! Generators: the events/alerts files mutated at random places, SNS events carrying alarm
//! messages (mutated too) or anything else, any JSON, and alerts with any field values.

use std::sync::LazyLock;

use alerts::model::{Alert, AlertKind, Severity};
use proptest::prelude::*;
use serde_json::{Value, json};

pub static FIXTURES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    streamops_test_support::event_files("alerts")
        .into_iter()
        .map(|(_, v)| v)
        .collect()
});

/// Any text: every char, control characters, bidirectional overrides and long runs included.
pub fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9 ._:/-]{0,16}".prop_map(String::from),
        2 => prop::collection::vec(any::<char>(), 0..max).prop_map(String::from_iter),
        1 => prop::sample::select(vec!["", " ", "\n", "\r\n\t", "\u{202E}", "ünï", "🚨", "\u{7f}", "\u{0}"])
            .prop_map(String::from),
    ]
}

pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        text(12).prop_map(Value::from),
        Just(json!("2026-11-23T10:00:13.250+0000")),
        Just(json!("ALARM")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(6), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

pub use streamops_test_support::generate::{Mutation, mutation};

/// `v` with the mutations applied (members removed, replaced, retyped, strings cut or spliced).
pub fn mutate(v: Value, mutations: &[Mutation]) -> Value {
    streamops_test_support::generate::mutate(&v, mutations)
}

/// An SNS event whose records carry a fixture's alarm message (mutated) or any text.
fn sns_event() -> impl Strategy<Value = Value> {
    let sns: Vec<Value> = FIXTURES
        .iter()
        .filter(|v| v["Records"][0]["EventSource"] == "aws:sns")
        .cloned()
        .collect();
    let message = prop_oneof![
        3 => (prop::sample::select(sns.clone()), prop::collection::vec(mutation(), 0..3)).prop_map(|(f, ms)| {
            let text = f["Records"][0]["Sns"]["Message"].as_str().unwrap().to_string();
            match serde_json::from_str::<Value>(&text) {
                Ok(m) => mutate(m, &ms).to_string(),
                Err(_) => text, // a plain notification
            }
        }),
        1 => text(40),
        1 => json_value().prop_map(|v| v.to_string()),
    ];
    (
        prop::sample::select(sns),
        prop::collection::vec((message, prop::option::of(text(120))), 1..4),
    )
        .prop_map(|(f, messages)| {
            let template = f["Records"][0].clone();
            let records: Vec<Value> = messages
                .into_iter()
                .enumerate()
                .map(|(i, (m, subject))| {
                    let mut r = template.clone();
                    r["Sns"]["Message"] = json!(m);
                    r["Sns"]["MessageId"] = json!(format!("msg-{i}"));
                    r["Sns"]["Subject"] = json!(subject);
                    r
                })
                .collect();
            json!({"Records": records})
        })
}

/// An EventBridge event of a known detail type or any, from any source, about anything.
fn eventbridge_event() -> impl Strategy<Value = Value> {
    let detail_types = FIXTURES
        .iter()
        .filter_map(|v| v["detail-type"].as_str().map(str::to_string))
        .collect::<Vec<_>>();
    let sources = vec![
        "aws.cloudwatch",
        "aws.emr",
        "aws.lambda",
        "lambda",
        "streamops.scaler",
        "aws.glue",
    ];
    (
        prop_oneof![prop::sample::select(detail_types), text(30)],
        prop_oneof![
            prop::sample::select(sources).prop_map(String::from),
            text(20)
        ],
        prop::collection::vec(long_text(), 0..2),
        json_value(),
        prop::option::of(text(12)),
    )
        .prop_map(|(detail_type, source, resources, detail, region)| {
            json!({"version": "0", "id": "e-1", "detail-type": detail_type, "source": source,
                "account": "123456789012", "time": "2026-11-23T10:00:13Z", "region": region,
                "resources": resources, "detail": detail})
        })
}

/// A payload: a mutated events/alerts file, an SNS event, an EventBridge event, or any JSON.
pub fn payload() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (0..FIXTURES.len(), prop::collection::vec(mutation(), 0..4))
            .prop_map(|(i, ms)| mutate(FIXTURES[i].clone(), &ms)),
        3 => sns_event(),
        2 => eventbridge_event(),
        1 => json_value(),
    ]
}

/// A string of any length up to 300 KB (beyond what one SNS message holds).
pub fn long_text() -> impl Strategy<Value = String> {
    prop_oneof![
        24 => text(40),
        1 => (text(4), 0..70_000usize).prop_map(|(s, n)| s.repeat(n.max(1))),
        1 => (0..300_000usize).prop_map(|n| "é".repeat(n / 2)),
    ]
}

fn severity() -> impl Strategy<Value = Severity> {
    prop::sample::select(vec![
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Info,
        Severity::Resolved,
    ])
}

/// An alert with any values, long ones included.
pub fn alert() -> impl Strategy<Value = Alert> {
    (
        (severity(), long_text(), long_text(), text(30), long_text()),
        (
            long_text(),
            prop::option::of(text(20)),
            prop::option::of(text(12)),
            long_text(),
        ),
        (
            prop::option::of(text(12)),
            text(40),
            prop::option::of(long_text()),
        ),
        prop::collection::vec((text(20), long_text()), 0..4),
    )
        .prop_map(
            |(
                (severity, title, summary, source, detail_type),
                (resource, region, account, state),
                (previous_state, event_id, runbook),
                details,
            )| Alert {
                kind: AlertKind::Generic,
                severity,
                title,
                summary,
                source,
                detail_type,
                resource,
                region,
                account,
                time: "2026-11-23T10:00:13.250Z".parse().unwrap(),
                state,
                previous_state,
                event_id,
                console_url: None,
                runbook_url: runbook,
                details,
                fingerprint: "0123456789abcdef0123456789abcdef".into(),
                suppressed_by: None,
                labels: Default::default(),
            },
        )
}
