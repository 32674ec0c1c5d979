//! Ops commands, alarm events and metrics: a command parses or is refused naming what is
//! wrong; `scale` by hand goes to the asked size within the policy's bounds; an alarm on a
//! Kinesis target ends in an UpdateShardCount call Kinesis takes (half to double, within the
//! shard quota and the bounds); any alarm payload is alarms or an error in words; a load sample
//! and a metric check read what they say.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use scaler::metric::{LoadMetrics, MetricCheck, MetricRef, query_window};
use scaler::ops::{ScalerCommand, parse_command};
use scaler::ports::ShardQuota;
use scaler::service::parse_alarms;
use serde_json::{Value, json};

use crate::r#gen::{json_value, mutate, mutation};
use crate::support::{World, metrics};

static FIXTURES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    streamops_test_support::event_files("scaler")
        .into_iter()
        .map(|(_, v)| v)
        .collect()
});

const COMMANDS: [&str; 6] = ["status", "scale", "pause", "resume", "explain", "tick"];

fn t0() -> DateTime<Utc> {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

fn run(
    world: &World,
    policies: &Value,
    payload: Value,
) -> Result<Value, scaler::service::ScalerError> {
    let svc = world.service(policies);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let until = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        svc.handle(payload, t0(), until, &mut metrics()).await
    })
}

fn kinesis_policy(min: u32, max: u32, scale_out: Value, scale_in: Value) -> Value {
    json!({"targets": [{"id": "raw", "kind": "kinesis_stream", "stream": "raw", "min": min, "max": max,
        "scale_out": scale_out, "scale_in": scale_in, "scale_in_delay_seconds": 0}],
        "rules": [{"alarm": "up", "target": "raw", "direction": "out"},
                  {"alarm": "down", "target": "raw", "direction": "in"}]})
}

/// The raw stream's alarm under another name, taken at its word (no metric to re-read).
fn alarm(name: &str) -> Value {
    let mut e = streamops_test_support::fixture("scaler/alarm-raw-iterator-age.json");
    e["detail"]["alarmName"] = json!(name);
    e["detail"]["configuration"] = json!({"metrics": []});
    e
}

fn sizing() -> impl Strategy<Value = Value> {
    prop_oneof![
        (1u32..40).prop_map(|s| json!({"step": s})),
        (11u32..100).prop_map(|f| json!({"factor": f as f64 / 10.0}))
    ]
}

proptest! {
    #[test]
    fn a_command_parses_or_is_refused_naming_what_is_wrong(
        name in prop_oneof![prop::sample::select(COMMANDS.to_vec()).prop_map(String::from), "[a-z-]{0,10}"],
        args in prop::collection::btree_map("[a-z_]{1,8}", json_value(), 0..3),
    ) {
        let mut payload = json!({"command": name});
        for (k, v) in &args {
            payload[k] = v.clone();
        }
        match parse_command(&payload).expect("a payload with `command` is a command") {
            Ok(cmd) => {
                prop_assert!(COMMANDS.contains(&name.as_str()), "{name} parsed as {cmd:?}");
                if let ScalerCommand::Scale { size, .. } = cmd {
                    prop_assert_eq!(Some(&json!(size)), args.get("size"));
                }
            }
            Err(e) if COMMANDS.contains(&name.as_str()) => prop_assert!(e.starts_with(&format!("invalid {name} command: ")), "{e}"),
            Err(e) => prop_assert!(e.contains("unknown command") && e.contains(&COMMANDS.join(", ")), "{e}"),
        }
    }

    #[test]
    fn scale_by_hand_goes_to_the_asked_size_within_the_bounds(
        shards in 1i32..64, min in 1u32..20, extra in 0u32..40, size in any::<u32>(), dry_run in any::<bool>(),
    ) {
        let world = World::default();
        world.kinesis.stream("raw", shards);
        let policies = kinesis_policy(min, min + extra, json!({"step": 1}), json!({"step": 1}));
        let out = run(&world, &policies, json!({"command": "scale", "target": "raw", "size": size,
            "reason": "generated", "dry_run": dry_run})).unwrap();
        let want = size.clamp(min, min + extra);
        let updates = world.kinesis.updates();
        if want == shards as u32 {
            prop_assert_eq!(out["decision"]["decision"].as_str(), Some("skip"), "{}", out);
            prop_assert!(updates.is_empty());
        } else {
            prop_assert_eq!(out["decision"]["to"].as_u64(), Some(u64::from(want)), "{}", out);
            let calls: Vec<(String, u32)> = if dry_run { vec![] } else { vec![("raw".into(), want)] };
            prop_assert_eq!(updates, calls);
        }
    }

    #[test]
    fn an_alarm_on_a_stream_ends_in_a_call_kinesis_takes(
        shards in 1i32..200, (limit, open) in (0i32..600, 0i32..600), min in 1u32..50, extra in 0u32..300,
        out in sizing(), inn in sizing(), up in any::<bool>(),
    ) {
        let world = World::default();
        world.kinesis.stream("raw", shards);
        world.kinesis.data.lock().unwrap().quota = Some(ShardQuota { limit, open });
        let (min, max) = (min, min + extra);
        let result = run(&world, &kinesis_policy(min, max, out, inn), alarm(if up { "up" } else { "down" }));
        prop_assert!(result.is_ok(), "{:?}", result.err());
        let s = shards as u32;
        let headroom = (limit - open).max(0) as u32;
        for (_, to) in world.kinesis.updates() {
            prop_assert!(to >= s.div_ceil(2) && to <= 2 * s, "UpdateShardCount {s} -> {to}");
            if up {
                prop_assert!(to > s && to <= max && to <= s + headroom, "scale-out {s} -> {to} (max {max}, headroom {headroom})");
            } else {
                prop_assert!(to < s && to >= min, "scale-in {s} -> {to} (min {min})");
            }
        }
    }

    #[test]
    fn any_alarm_payload_is_alarms_or_an_error_in_words(
        i in 0..FIXTURES.len(), ms in prop::collection::vec(mutation(), 0..4),
    ) {
        let v = mutate(FIXTURES[i].clone(), &ms);
        if v.get("command").is_some() {
            return Ok(());
        }
        match parse_alarms(&v) {
            Ok(alarms) => {
                // None only for an SNS event without records.
                let records = v.get("Records").and_then(Value::as_array).map(Vec::len);
                prop_assert!(!alarms.is_empty() || records == Some(0), "no alarm in {v}");
                prop_assert!(alarms.iter().all(|a| !a.name.is_empty()));
            }
            Err(e) => prop_assert!(!e.trim().is_empty()),
        }
    }

    #[test]
    fn a_load_sample_reads_what_its_metrics_say(
        values in prop::collection::vec(prop::option::of(0.0f64..1e6), 0..6),
        busy in any::<bool>(), lag in any::<bool>(), backlog in any::<bool>(),
    ) {
        let m = |name: &str| MetricRef { namespace: "n".into(), name: name.into(), dimensions: Default::default(),
            stat: "Sum".into(), period: 60, scale: 1.0 };
        let load = LoadMetrics { input_rate: m("in"), processing_rate: m("out"),
            busy_ratio: busy.then(|| m("busy")), lag_ms: lag.then(|| m("lag")), backlog_records: backlog.then(|| m("backlog")) };
        let n = load.metrics().len();
        prop_assert_eq!(n, 2 + busy as usize + lag as usize + backlog as usize);
        let sample = load.sample(&values);
        let at = |i: usize| values.get(i).copied().flatten();
        match (at(0), at(1)) {
            (Some(input), Some(processing)) => {
                let s = sample.expect("both rates are there");
                prop_assert_eq!((s.input_rate, s.processing_rate), (input, processing));
                let mut next = 2;
                let mut take = |on: bool| on.then(|| { next += 1; at(next - 1) }).flatten();
                prop_assert_eq!(s.busy_ratio, take(busy));
                let lag_ms = take(lag);
                let direct = take(backlog);
                let want = direct.or(lag_ms.map(|l| l / 1000.0 * input)).unwrap_or(0.0);
                prop_assert!((s.backlog_records - want).abs() <= want.abs() * 1e-9);
            }
            _ => prop_assert!(sample.is_none()),
        }
    }

    #[test]
    fn a_metric_check_has_recovered_exactly_when_it_no_longer_breaches(
        threshold in -1e6f64..1e6, above in any::<bool>(), latest in prop::option::of(-1e6f64..1e6), period in 1i32..86_400,
    ) {
        let c = MetricCheck { namespace: "AWS/Kinesis".into(), name: "m".into(), dimensions: vec![], period,
            stat: "Maximum".into(), threshold, breach_above: above };
        prop_assert_eq!(c.recovered(latest).is_some(), !c.still_breaching(latest));
        if latest.is_none() {
            prop_assert!(c.still_breaching(None), "no datapoint leaves the alarm's word standing");
        }
        let metric = c.metric();
        let (start, end) = query_window(&[&metric], t0());
        prop_assert!(start < t0() && t0() < end && t0() - start == Duration::seconds(3 * i64::from(period)));
    }
}
