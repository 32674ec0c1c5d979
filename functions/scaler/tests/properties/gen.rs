//! Generators: target policies of every kind by the rules of `SCALER_POLICIES` (as JSON, the
//! way the variable holds them), what a target's service reports, its load and what the
//! scaler remembers about it.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use scaler::policy::{
    Alignment, LoadSample, Memo, Observed, PendingScaleIn, ScaleUpRecord, TargetState,
};
use serde_json::{Value, json};

pub fn now() -> DateTime<Utc> {
    "2026-11-24T12:00:00Z".parse().unwrap()
}

/// A number with two decimals (one JSON writes and reads back exactly).
fn decimal(lo: u32, hi: u32) -> impl Strategy<Value = f64> {
    (lo * 100..=hi * 100).prop_map(|c| c as f64 / 100.0)
}

fn sizing(load: bool) -> BoxedStrategy<Value> {
    let simple = prop_oneof![
        (1u32..20).prop_map(|s| json!({"step": s})),
        decimal(1, 10)
            .prop_filter("above 1", |f| *f > 1.0)
            .prop_map(|f| json!({"factor": f})),
    ];
    if !load {
        return simple.boxed();
    }
    let proportional = (decimal(0, 1).prop_filter("in (0, 1]", |u| *u > 0.0), 1u32..1000, 0u32..300)
        .prop_map(|(u, c, r)| json!({"proportional": {"target_utilisation": u, "catch_up_seconds": c, "restart_seconds": r}}));
    prop_oneof![simple, proportional].boxed()
}

fn kind() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-z-]{1,12}".prop_map(|s| json!({"kind": "kinesis_stream", "stream": s})),
        (any::<bool>(), decimal(1, 100), 0i32..3600).prop_map(|(core, pct, t)| json!({
            "kind": "emr_instance_group", "cluster_id": "j-1", "instance_group_id": "ig-1",
            "allow_core": core, "hdfs_max_utilisation_percent": pct, "decommission_timeout_seconds": t})),
        prop::sample::select(vec!["on_demand", "spot"]).prop_map(|m| json!({
            "kind": "emr_instance_fleet", "cluster_id": "j-1", "instance_fleet_id": "if-1", "market": m})),
        (prop::sample::select(vec!["adaptive", "savepoint"]), 1i64..3600).prop_map(|(mode, t)| json!({
            "kind": "flink_job", "rest_url": "http://127.0.0.1:8081", "job_name": "j", "mode": mode,
            "jar_id": "jar-1", "savepoint_timeout_seconds": t})),
    ]
}

fn metric() -> impl Strategy<Value = Value> {
    (
        "[A-Za-z/]{1,10}",
        "[A-Za-z.]{1,12}",
        prop::sample::select(vec![1, 60, 300]),
    )
        .prop_map(|(ns, name, period)| json!({"namespace": ns, "name": name, "period": period}))
}

/// Seconds for a cooldown or a delay: none, minutes, hours, and up to the ten years allowed.
fn seconds() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => 0i64..7200,
        1 => Just(0i64),
        1 => 7200i64..100_000_000,
        1 => 100_000_000i64..=315_360_000,
    ]
}

/// One target policy as JSON, by the rules (1 <= min <= max, sizings valid, load given to a
/// proportional sizing).
pub fn target() -> impl Strategy<Value = Value> {
    (
        (kind(), 1u32..50, 0u32..50, any::<bool>()),
        (seconds(), seconds(), seconds()),
        (decimal(0, 1000), decimal(0, 1), any::<bool>()),
        (metric(), metric(), prop::option::of(metric())),
    )
        .prop_flat_map(|((kind, min, extra, load), cooldowns, limits, metrics)| {
            (
                Just((kind, min, extra, load, cooldowns, limits, metrics)),
                sizing(load),
                sizing(load),
            )
        })
        .prop_map(
            |(
                (
                    kind,
                    min,
                    extra,
                    load,
                    (out_s, in_s, delay),
                    (backlog, eff, respect),
                    (m_in, m_out, lag),
                ),
                out,
                inn,
            )| {
                let mut t = kind;
                let o = t.as_object_mut().unwrap();
                o.insert("id".into(), json!("t"));
                o.insert("min".into(), json!(min));
                o.insert("max".into(), json!(min + extra));
                o.insert("scale_out".into(), out);
                o.insert("scale_in".into(), inn);
                o.insert("scale_out_cooldown_seconds".into(), json!(out_s));
                o.insert("scale_in_cooldown_seconds".into(), json!(in_s));
                o.insert("scale_in_delay_seconds".into(), json!(delay));
                o.insert("scale_in_max_backlog_seconds".into(), json!(backlog));
                o.insert("min_effectiveness".into(), json!(eff));
                o.insert("respect_other_autoscalers".into(), json!(respect));
                if load {
                    o.insert(
                        "load".into(),
                        json!({"input_rate": m_in, "processing_rate": m_out, "lag_ms": lag}),
                    );
                }
                t
            },
        )
}

/// A size as a service reports one: small mostly, now and then anything.
pub fn size() -> impl Strategy<Value = u32> {
    prop_oneof![8 => 0u32..64, 1 => 0u32..100_000, 1 => any::<u32>()]
}

pub fn observed() -> impl Strategy<Value = Observed> {
    let alignment = prop_oneof![
        Just(Alignment::None),
        (1u32..1024).prop_map(|m| Alignment::KeyGroups { max_parallelism: m }),
        (1u32..64, 1u32..1024).prop_map(|(s, m)| Alignment::Shards {
            shards: s,
            max_parallelism: m
        }),
        size().prop_map(|c| Alignment::QuarterSteps { current: c }),
    ];
    prop_oneof![
        8 => (size(), alignment, prop::option::of(size()), prop::option::of(-10.0f64..150.0)).prop_map(
            |(size, alignment, max_size, hdfs_percent)| Observed::Ready { size, alignment, max_size, hdfs_percent }),
        1 => Just(Observed::Busy { detail: "UPDATING".into() }),
        1 => Just(Observed::Unsupported { detail: "on-demand".into() }),
        1 => Just(Observed::OwnedElsewhere { detail: "managed scaling".into() }),
    ]
}

pub fn load() -> impl Strategy<Value = Option<LoadSample>> {
    let rate = prop_oneof![4 => 0.0f64..100_000.0, 1 => Just(0.0), 1 => 0.0f64..1e12];
    prop::option::of(
        (
            rate.clone(),
            rate.clone(),
            prop::option::of(0.0f64..1.5),
            rate,
        )
            .prop_map(|(i, p, b, backlog)| LoadSample {
                input_rate: i,
                processing_rate: p,
                busy_ratio: b,
                backlog_records: backlog,
            }),
    )
}

/// What the scaler remembers: a last action (minutes ago), a pause, Kinesis calls, a waiting
/// scale-in, a scale-up record, a block.
pub fn state() -> impl Strategy<Value = TargetState> {
    (
        (
            prop::option::of(0i64..100_000),
            any::<bool>(),
            prop::collection::vec(0i64..3000, 0..12),
        ),
        prop::option::of((0i64..10_000, size())),
        prop::option::of((size(), size(), 0.0f64..10_000.0, 0.0f64..20_000.0)),
        prop::option::weighted(0.1, "[a-z ]{1,20}"),
    )
        .prop_map(|((last, paused, calls), pending, up, blocked)| {
            let ago = |m: i64| now() - Duration::minutes(m);
            TargetState {
                last_action_at: last.map(ago),
                paused: paused && last.is_some_and(|m| m % 7 == 0),
                kinesis_calls: calls.into_iter().map(ago).collect(),
                memo: Memo {
                    pending_scale_in: pending.map(|(m, h)| PendingScaleIn {
                        since: ago(m),
                        highest: h,
                    }),
                    last_scale_up: up.map(|(from, to, before, expected)| ScaleUpRecord {
                        at: ago(30),
                        from,
                        to,
                        rate_before: before,
                        expected_rate: expected,
                        checked: false,
                    }),
                    blocked_scale_up: blocked,
                    ..Default::default()
                },
                ..Default::default()
            }
        })
}

/// Any JSON value, nested a little.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "[a-z0-9_ -]{0,12}".prop_map(Value::from),
        Just(json!("2026-11-23T10:00:13.250+0000")),
        Just(json!("ALARM")),
        Just(json!("OK")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

pub use streamops_test_support::generate::{Mutation, mutation};

/// `v` with the mutations applied (members removed, replaced, retyped, strings cut or spliced).
pub fn mutate(v: Value, mutations: &[Mutation]) -> Value {
    streamops_test_support::generate::mutate(&v, mutations)
}
