//! The enrichment spec (`ENRICH_SPEC_PATH`): a spec built by its rules parses, and any
//! object through it is enriched or poison whose message names the field; the partition key
//! is what the output holds at its path; PII rules hold. A spec that breaks a rule is refused
//! with an error naming the member.

use std::sync::Arc;

use enrich::input::{InputRecord, Original};
use enrich::pipeline::{BatchContext, Enricher, Lookup, Stage};
use enrich::poison::PoisonReason;
use enrich::spec::{DEFAULT_SPEC, EnrichmentSpec, PiiAction};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};

use crate::r#gen::json_value;
use crate::junk::{mutate, mutation};
use crate::pipeline::{KEY, dry_run_origin, now};

const SEGMENTS: &[&str] = &["a", "b", "user", "id", "meta", "n"];
const TYPES: &[&str] = &["string", "number", "integer", "boolean", "object", "array"];
const FORMATS: &[&str] = &["rfc3339", "epoch_seconds", "epoch_millis"];
const ACTIONS: &[&str] = &["hmac", "mask", "drop"];

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(SEGMENTS), 1..3).prop_map(|s| s.join("."))
}

/// A spec by the rules: distinct field names and PII fields, the event time not under a PII
/// rule of its own, the partition key not dropped by one.
pub fn valid_spec() -> impl Strategy<Value = Value> {
    (
        prop::collection::btree_map(path(), (prop::sample::select(TYPES), any::<bool>()), 0..4),
        (path(), prop::sample::subsequence(FORMATS, 1..=3), path()),
        prop::option::of((path(), prop::collection::btree_set("[a-c]", 1..3), "[p-r]{1,3}")),
        prop::collection::btree_map(path(), prop::sample::select(ACTIONS), 0..3),
        prop::option::weighted(0.2, prop::sample::select(ACTIONS)),
    )
        .prop_map(|(fields, (ts, formats, pk), reference, mut pii, on_key)| {
            // Now and then a rule on the partition key itself.
            if let Some(action) = on_key.filter(|a| *a != "drop") {
                pii.insert(pk.clone(), action);
            }
            let fields: Vec<Value> = fields
                .into_iter()
                .map(|(name, (kind, required))| json!({"name": name, "type": kind, "required": required}))
                .collect();
            let pii: Vec<Value> = pii
                .into_iter()
                .filter(|(f, a)| *f != ts && !(*a == "drop" && *f == pk))
                .filter(|(f, _)| !pk.starts_with(&format!("{f}.")))
                .map(|(f, a)| json!({"field": f, "action": a}))
                .collect();
            let mut spec = json!({"name": "generated", "fields": fields,
                "event_time": {"field": ts, "formats": formats}, "partition_key": pk, "pii": pii});
            if let Some((key_field, attributes, target)) = reference {
                spec["reference"] = json!({"key_field": key_field, "attributes": attributes, "target": target});
            }
            spec
        })
}

/// A value at `path` of `v`, when every step is an object.
fn at<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .try_fold(v, |cur, part| cur.as_object()?.get(part))
}

/// Every path a spec names.
fn paths_of(spec: &Value) -> Vec<String> {
    let mut out = vec![
        spec["event_time"]["field"].clone(),
        spec["partition_key"].clone(),
    ];
    for f in spec["fields"].as_array().into_iter().flatten() {
        out.push(f["name"].clone());
    }
    for r in spec["pii"].as_array().into_iter().flatten() {
        out.push(r["field"].clone());
    }
    out.push(spec["reference"]["key_field"].clone());
    out.into_iter()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect()
}

/// A spec and objects for it: values at its own paths and at others.
fn spec_and_objects() -> impl Strategy<Value = (Value, Vec<Value>)> {
    valid_spec().prop_flat_map(|spec| {
        let paths = paths_of(&spec);
        let path = prop_oneof![3 => prop::sample::select(paths), 1 => path()];
        (Just(spec), prop::collection::vec(object_for(path), 1..6))
    })
}

/// An object that holds something at some paths (and so at their heads).
fn object_for(path: impl Strategy<Value = String>) -> impl Strategy<Value = Value> {
    let value = prop_oneof![
        json_value(),
        (0i64..4_000_000_000_000).prop_map(Value::from),
        Just(json!("2026-11-23T10:15:30.250Z")),
        "[a-z0-9]{1,5}".prop_map(Value::from),
    ];
    prop::collection::vec((path, value), 0..8).prop_map(|sets| {
        let mut v = json!({});
        for (p, val) in sets {
            let mut cur = &mut v;
            let parts: Vec<&str> = p.split('.').collect();
            for (i, part) in parts.iter().enumerate() {
                let Some(o) = cur.as_object_mut() else { break };
                if i + 1 == parts.len() {
                    o.insert(part.to_string(), val.clone());
                    break;
                }
                cur = o.entry(part.to_string()).or_insert_with(|| json!({}));
            }
        }
        v
    })
}

/// The text a key field's value gives (a string's value, a number's JSON).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn check_poison(p: &enrich::poison::Poison, spec: &EnrichmentSpec) -> Result<(), TestCaseError> {
    let named = |f: &str| p.message.contains(&format!("{f:?}"));
    match p.reason {
        PoisonReason::MissingField | PoisonReason::WrongType => {
            prop_assert!(spec.fields.iter().any(|f| named(&f.name)), "{}", p.message);
        }
        PoisonReason::InvalidEventTime => {
            prop_assert!(named(&spec.event_time.field), "{}", p.message)
        }
        PoisonReason::MissingPartitionKey => {
            prop_assert!(named(&spec.partition_key), "{}", p.message)
        }
        other => return Err(TestCaseError::fail(format!("{other:?}: {}", p.message))),
    }
    Ok(())
}

fn check_output(
    e: &enrich::pipeline::EnrichedRecord,
    input: &Value,
    spec: &EnrichmentSpec,
) -> Result<(), TestCaseError> {
    let out: Value =
        serde_json::from_slice(&e.data).map_err(|x| TestCaseError::fail(x.to_string()))?;
    let held = at(&out, &spec.partition_key).and_then(scalar);
    prop_assert_eq!(
        Some(e.partition_key.clone()),
        held.map(|k| k.chars().take(256).collect()),
        "the partition key is what the output holds at {}",
        spec.partition_key
    );
    prop_assert!(!e.partition_key.is_empty());
    for rule in &spec.pii {
        let raw = at(input, &rule.field).filter(|v| !v.is_null());
        let written = at(&out, &rule.field);
        let (Some(raw), Some(written)) = (raw, written) else {
            prop_assert!(
                rule.action != PiiAction::Drop || written.is_none(),
                "{} kept",
                rule.field
            );
            continue;
        };
        let text = raw
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| raw.to_string());
        let w = written.as_str().unwrap_or_default();
        match rule.action {
            PiiAction::Drop => return Err(TestCaseError::fail(format!("{} kept", rule.field))),
            PiiAction::Hmac => prop_assert!(
                w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()),
                "{} not hashed: {}",
                rule.field,
                written
            ),
            PiiAction::Mask => {
                let n = text.chars().count();
                let keep = if n > 8 { 4 } else { 0 };
                let want: String = text
                    .chars()
                    .enumerate()
                    .map(|(i, c)| if i < n - keep { '*' } else { c })
                    .collect();
                prop_assert_eq!(w, want.as_str(), "{} not masked", rule.field);
            }
        }
    }
    for f in &spec.fields {
        if let Some(v) = at(input, &f.name).filter(|v| !v.is_null()) {
            let ok = enrich::spec::FieldType::matches(f.kind, v);
            prop_assert!(
                ok,
                "{} is a {} but passed as {}",
                f.name,
                v,
                f.kind.as_str()
            );
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn a_spec_by_the_rules_parses_and_enriches_any_object_as_it_promises(
        (spec, objects) in spec_and_objects(),
    ) {
        let spec = EnrichmentSpec::parse(&spec.to_string(), "generated")
            .map_err(|e| TestCaseError::fail(format!("{e}: {spec}")))?;
        let e = Enricher::new(spec.clone(), Some(KEY)).map_err(TestCaseError::fail)?;
        let records: Vec<InputRecord> = objects
            .iter()
            .map(|o| InputRecord { origin: dry_run_origin(), original: Original::Bytes(o.to_string().into_bytes()), poison: None, headers: Vec::new() })
            .collect();
        let prepared = e.prepare_batch(&records, &[], |_| false);
        let batch = BatchContext::new(now());
        let attrs: Arc<Map<String, Value>> = Arc::new(serde_json::from_value(json!({"a": 1, "b": [2]})).unwrap());
        let stages: Vec<Stage> = e.finish_batch(&records, prepared, |_| Lookup::Found(attrs.clone()), &batch).collect();
        for (stage, input) in stages.iter().zip(&objects) {
            match stage {
                Stage::Poison(p) => check_poison(p, &spec)?,
                Stage::Enriched(out) => check_output(out, input, &spec)?,
                other => return Err(TestCaseError::fail(format!("{other:?}"))),
            }
        }
    }

    #[test]
    fn a_mutated_spec_parses_or_is_refused_in_words(ms in prop::collection::vec(mutation(), 1..4)) {
        let spec = mutate(serde_json::from_str(DEFAULT_SPEC).unwrap(), &ms);
        match EnrichmentSpec::parse(&spec.to_string(), "mutated.json") {
            Ok(s) => prop_assert!(s.validate().is_ok()),
            Err(e) => {
                prop_assert!(e.starts_with("enrichment spec mutated.json: "), "{e}");
                prop_assert!(e.len() > "enrichment spec mutated.json: ".len());
            }
        }
    }

    #[test]
    fn a_spec_that_breaks_a_rule_is_refused_naming_the_member(
        spec in valid_spec(),
        broken in broken_rule(),
    ) {
        let (patch, named) = broken;
        let mut spec = spec;
        for (k, v) in patch.as_object().unwrap() {
            spec[k] = v.clone();
        }
        let e = EnrichmentSpec::parse(&spec.to_string(), "x").err();
        prop_assert!(e.as_ref().is_some_and(|e| e.contains(named)), "{:?} for {}", e, spec);
    }
}

/// A member that breaks a rule, and what the error must name.
fn broken_rule() -> impl Strategy<Value = (Value, &'static str)> {
    prop::sample::select(vec![
        (json!({"name": " "}), "`name`"),
        (json!({"max_record_bytes": 0}), "max_record_bytes"),
        (json!({"max_record_bytes": 2_000_000}), "max_record_bytes"),
        (
            json!({"fields": [{"name": "a..b", "type": "string"}]}),
            "fields[].name",
        ),
        (
            json!({"fields": [{"name": "dt", "type": "string"}]}),
            "fields[].name",
        ),
        (
            json!({"fields": [{"name": "a", "type": "string"}, {"name": "a", "type": "number"}]}),
            "declared twice",
        ),
        (
            json!({"fields": [{"name": "a", "type": "text"}]}),
            "unknown variant",
        ),
        (
            json!({"event_time": {"field": "", "formats": ["rfc3339"]}}),
            "event_time.field",
        ),
        (
            json!({"event_time": {"field": "ts", "formats": []}}),
            "event_time.formats",
        ),
        (json!({"partition_key": "_ingest.x"}), "partition_key"),
        (
            json!({"reference": {"key_field": "k", "attributes": [], "target": "t"}}),
            "reference.attributes",
        ),
        (
            json!({"reference": {"key_field": "k", "attributes": ["a"], "target": "dt"}}),
            "reference.target",
        ),
        (
            json!({"reference": {"key_field": ".k", "attributes": ["a"], "target": "t"}}),
            "reference.key_field",
        ),
        (
            json!({"pii": [{"field": "x.", "action": "hmac"}]}),
            "pii[].field",
        ),
        (
            json!({"pii": [{"field": "e", "action": "hmac"}, {"field": "e", "action": "mask"}]}),
            "two rules",
        ),
        (
            json!({"pii": [{"field": "e", "action": "encrypt"}]}),
            "unknown variant",
        ),
        (json!({"surprise": true}), "unknown field `surprise`"),
        (
            json!({"partition_key": "zz.id", "pii": [{"field": "zz", "action": "hmac"}]}),
            "partition key \"zz.id\"",
        ),
    ])
}
