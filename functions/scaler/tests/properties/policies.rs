//! `SCALER_POLICIES`: policies by the rules parse and round-trip through their JSON, and map an
//! alarm to each of its targets once, in layer order; a policy that breaks a rule, or a mutated
//! one, is refused naming the target (or the rule) and the problem; the configuration names the
//! variable.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use scaler::config::ScalerConfig;
use scaler::policy::{Direction, Policies};
use serde_json::{Value, json};
use streamops_shared::EnvReader;

use crate::r#gen::target;

/// Policies by the rules: targets with distinct ids, rules naming them by alarm or prefix.
fn policies() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(target(), 1..4),
        prop::collection::vec((0usize..4, "[a-c]{1,3}", any::<bool>(), any::<bool>()), 0..6),
    )
        .prop_map(|(mut targets, rules)| {
            for (i, t) in targets.iter_mut().enumerate() {
                t["id"] = json!(format!("t{i}"));
            }
            let n = targets.len();
            let rules: Vec<Value> = rules
                .into_iter()
                .map(|(i, alarm, prefix, out)| {
                    let key = if prefix { "alarm_prefix" } else { "alarm" };
                    json!({key: alarm, "target": format!("t{}", i % n), "direction": if out { "out" } else { "in" }})
                })
                .collect();
            json!({"targets": targets, "rules": rules})
        })
}

fn parse(v: &Value) -> Result<Policies, TestCaseError> {
    Policies::parse(&v.to_string()).map_err(|e| TestCaseError::fail(format!("{e}: {v}")))
}

proptest! {
    #[test]
    fn policies_by_the_rules_parse_and_round_trip(v in policies()) {
        let p = parse(&v)?;
        let again = parse(&serde_json::to_value(&p).unwrap())?;
        prop_assert_eq!(again, p);
    }

    #[test]
    fn an_alarm_moves_each_of_its_targets_once_in_layer_order(v in policies(), alarm in "[a-c]{0,4}") {
        let p = parse(&v)?;
        let rules = p.rules_for(&alarm);
        let mut seen = BTreeSet::new();
        for r in &rules {
            prop_assert!(r.matches(&alarm));
            prop_assert!(seen.insert(r.target.clone()), "target {} twice", r.target);
            let first = p.rules.iter().find(|x| x.target == r.target && x.matches(&alarm));
            prop_assert_eq!(first, Some(*r), "the first matching rule wins");
        }
        let key = |r: &&scaler::policy::AlarmRule| {
            let layer = p.target(&r.target).unwrap().kind.layer() as i16;
            if r.direction == Direction::Out { layer } else { -layer }
        };
        prop_assert!(rules.windows(2).all(|w| key(&w[0]) <= key(&w[1])), "not in layer order");
        let expected: BTreeSet<String> = p.rules.iter().filter(|r| r.matches(&alarm)).map(|r| r.target.clone()).collect();
        prop_assert_eq!(seen, expected);
    }

    #[test]
    fn a_target_that_breaks_a_rule_is_refused_naming_it(t in target(), broken in broken()) {
        let (patch, words) = broken;
        let mut t = t;
        for (k, v) in patch.as_object().unwrap() {
            t[k] = v.clone();
        }
        let e = Policies::parse(&json!({"targets": [t], "rules": []}).to_string()).err();
        prop_assert!(e.as_ref().is_some_and(|e| e.contains("target") && e.contains(words)), "{:?} for {}", e, t);
    }

    #[test]
    fn mutated_policies_parse_or_are_refused_in_words(v in policies(), ms in prop::collection::vec(crate::r#gen::mutation(), 1..4)) {
        let v = crate::r#gen::mutate(v, &ms);
        match Policies::parse(&v.to_string()) {
            Ok(p) => prop_assert!(p.validate().is_ok()),
            Err(e) => prop_assert!(
                ["scaling policies", "target", "rule"].iter().any(|w| e.contains(w)) && e.len() > 20,
                "{e}"
            ),
        }
        let env = EnvReader::from_map(HashMap::from([
            ("SCALER_TABLE".to_string(), "scaler".to_string()),
            ("SCALER_POLICIES".to_string(), v.to_string()),
        ]));
        if let Err(e) = ScalerConfig::read(env) {
            prop_assert!(e.to_string().contains("SCALER_POLICIES"), "{e}");
        }
    }
}

/// A member that breaks a rule, and what the error must say.
fn broken() -> impl Strategy<Value = (Value, &'static str)> {
    prop::sample::select(vec![
        (json!({"min": 0}), "min"),
        (json!({"min": 5, "max": 4}), "min"),
        (json!({"scale_out": {"step": 0}}), "step"),
        (json!({"scale_in": {"factor": 1.0}}), "factor"),
        (json!({"scale_out": {"factor": 11}}), "factor"),
        (
            json!({"scale_out": {"proportional": {}}, "load": null}),
            "load",
        ),
        (
            json!({"scale_out": {"proportional": {"target_utilisation": 0}}}),
            "target_utilisation",
        ),
        (json!({"scale_out_cooldown_seconds": -1}), "negative"),
        (json!({"scale_in_delay_seconds": -5}), "negative"),
        (json!({"scale_in_cooldown_seconds": i64::MAX}), "ten years"),
        (json!({"min_effectiveness": 1.5}), "min_effectiveness"),
        (json!({"maximum": 9}), "unknown field `maximum`"),
        (
            json!({"kind": "flink_job", "rest_url": "ftp://x", "job_name": "j", "mode": "adaptive"}),
            "rest_url",
        ),
        (
            json!({"kind": "flink_job", "rest_url": "http://127.0.0.1:8081", "job_name": "j", "mode": "savepoint", "jar_id": ""}),
            "jar_id",
        ),
        (
            json!({"kind": "emr_instance_group", "cluster_id": "j", "instance_group_id": "g", "hdfs_max_utilisation_percent": 0}),
            "hdfs_max_utilisation_percent",
        ),
    ])
}
