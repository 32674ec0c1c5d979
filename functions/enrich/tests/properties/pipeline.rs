//! The pipeline on generated batches: every record ends enriched, poison with the reason its
//! generator meant (and a message that repeats no value), or failed for a retry; the same on
//! the one-pass and the record-by-record path. An enriched record is valid JSON within
//! Kinesis' limits, its derived fields agree with its event time, its PII is protected
//! (HMAC-SHA256 under the key, deterministic; masked; dropped) and the rest is as it came.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use enrich::input::{InputRecord, parse_one_pass, parse_record_by_record};
use enrich::pipeline::{BatchContext, Enricher, Lookup, MAX_OUTPUT_RECORD_BYTES, Stage};
use enrich::poison::PoisonReason;
use enrich::spec::{DEFAULT_SPEC, EnrichmentSpec};
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::envelope::*;
use crate::r#gen::{Event, Layout, SECRET, payload, stamp, write};
use crate::input::stream;

pub const KEY: &[u8] = b"property-hmac-key-0123456789";

pub fn enricher() -> Enricher {
    let spec = EnrichmentSpec::parse(DEFAULT_SPEC, "specs/clickstream.json").unwrap();
    Enricher::new(spec, Some(KEY)).unwrap()
}

pub fn now() -> DateTime<Utc> {
    "2026-11-23T10:20:00.125Z".parse().unwrap()
}

/// Reference data for product ids that start with `p`; the rest are not in the table.
fn lookup(key: &str) -> Lookup {
    if key.starts_with('p') {
        let attrs: Map<String, Value> = serde_json::from_value(
            json!({"category": "books", "brand": key, "price_band": 2, "internal": true}),
        )
        .unwrap();
        Lookup::Found(Arc::new(attrs))
    } else {
        Lookup::Missing
    }
}

pub fn run(e: &Enricher, records: &[InputRecord]) -> Vec<Stage> {
    let prepared = e.prepare_batch(records, &[], |_| false);
    let batch = BatchContext::new(now());
    e.finish_batch(records, prepared, lookup, &batch).collect()
}

fn hmac_hex(text: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY).unwrap();
    mac.update(text.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn masked(text: &str) -> String {
    let n = text.chars().count();
    let keep = if n > 8 { 4 } else { 0 };
    text.chars()
        .enumerate()
        .map(|(i, c)| if i < n - keep { '*' } else { c })
        .collect()
}

/// The output member for an input member, as the spec's rules and the reference join have it.
fn expected_member(k: &str, v: &Value) -> Option<Value> {
    match (k, v) {
        ("phone", _) => None,
        (_, Value::Null) => Some(Value::Null),
        ("email", Value::String(s)) => Some(json!(hmac_hex(s))),
        ("ip", Value::String(s)) => Some(json!(masked(s))),
        _ => Some(v.clone()),
    }
}

fn check_derived(out: &Value, millis: i64, r: &InputRecord) -> Result<(), TestCaseError> {
    let at = stamp(millis);
    prop_assert_eq!(&out["event_time_ms"], &json!(millis));
    prop_assert_eq!(out["event_time"].as_str(), Some(at.as_str()));
    prop_assert_eq!(out["dt"].as_str(), Some(&at[..10]));
    prop_assert_eq!(out["hour"].as_str(), Some(&at[11..13]));
    prop_assert_eq!(&out["_event_id"], &json!(r.origin.event_id()));
    let ingest = &out["_ingest"];
    prop_assert_eq!(ingest["source"].as_str(), Some(r.origin.source.as_str()));
    prop_assert_eq!(ingest["spec"].as_str(), Some("clickstream-v1"));
    prop_assert_eq!(
        ingest["processed_at"].as_str(),
        Some("2026-11-23T10:20:00.125Z")
    );
    match r.origin.arrival {
        Some(t) => prop_assert_eq!(&ingest["arrival_time"], &json!(stamp(t.timestamp_millis()))),
        None => prop_assert!(ingest.get("arrival_time").is_none()),
    }
    Ok(())
}

/// An enriched record against the event it came from.
pub fn check_enriched(
    e: &enrich::pipeline::EnrichedRecord,
    payload: &crate::r#gen::Payload,
    r: &InputRecord,
) -> Result<(), TestCaseError> {
    // The event as a JSON reader has it (serde_json's float parsing, the last duplicate).
    let event = Event {
        body: serde_json::from_slice(&payload.bytes).unwrap(),
        time: payload.event.as_ref().unwrap().time.clone(),
    };
    prop_assert_eq!(e.data.last(), Some(&b'\n'));
    prop_assert!(e.data.len() + e.partition_key.len() <= MAX_OUTPUT_RECORD_BYTES);
    let out: Value = serde_json::from_slice(&e.data)
        .map_err(|err| TestCaseError::fail(format!("output is not JSON: {err}")))?;
    let user = event.body["user_id"].as_str().unwrap();
    prop_assert_eq!(
        &e.partition_key,
        &user.chars().take(256).collect::<String>()
    );
    check_derived(&out, event.time.millis.unwrap(), r)?;
    let o = out.as_object().unwrap();
    let reserved = [
        "event_time",
        "event_time_ms",
        "dt",
        "hour",
        "_event_id",
        "_ingest",
    ];
    let joined = event
        .body
        .get("product_id")
        .and_then(Value::as_str)
        .is_some_and(|p| p.starts_with('p'));
    for (k, v) in &event.body {
        if reserved.contains(&k.as_str()) {
            continue;
        }
        prop_assert_eq!(o.get(k).cloned(), expected_member(k, v), "member {:?}", k);
    }
    let status = match event.body.get("product_id").and_then(Value::as_str) {
        Some("") => "no_key",
        Some(_) if joined => "found",
        Some(_) => "missing",
        None => "no_key",
    };
    prop_assert_eq!(out["_ingest"]["reference"].as_str(), Some(status));
    if joined {
        let p = &event.body["product_id"];
        prop_assert_eq!(
            &out["product"],
            &json!({"category": "books", "brand": p, "price_band": 2})
        );
    }
    let text = String::from_utf8_lossy(&e.data);
    prop_assert!(!text.contains(SECRET), "raw PII in the output: {}", text);
    Ok(())
}

/// The verdict a record must get: its envelope's poison, else its payload's.
fn check_stage(
    stage: &Stage,
    r: &InputRecord,
    envelope: Option<PoisonReason>,
    payload: &crate::r#gen::Payload,
) -> Result<(), TestCaseError> {
    match (stage, envelope.or(payload.expect)) {
        (Stage::Poison(p), Some(want)) => {
            prop_assert_eq!(p.reason, want, "{}", p.message);
            prop_assert!(!p.message.is_empty());
            prop_assert!(!p.message.contains(SECRET), "{}", p.message);
        }
        (Stage::Enriched(e), None) => check_enriched(e, payload, r)?,
        (other, want) => {
            return Err(TestCaseError::fail(format!(
                "expected {want:?}, got {other:?}"
            )));
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn every_kinesis_record_is_enriched_or_poison_with_its_reason_on_both_paths(
        records in prop::collection::vec(kinesis_record(), 1..8)
    ) {
        let e = enricher();
        let json = kinesis_event(&records).to_string();
        let slow = stream(parse_record_by_record(&json));
        let stages = run(&e, &slow.records);
        prop_assert_eq!(stages.len(), records.len());
        for ((r, got), stage) in records.iter().zip(&slow.records).zip(&stages) {
            check_stage(stage, got, r.envelope_poison(), &r.payload)?;
        }
        if let Some(fast) = parse_one_pass(&json) {
            let again = run(&e, &fast.records);
            prop_assert_eq!(format!("{again:?}"), format!("{stages:?}"));
        }
    }

    #[test]
    fn every_kafka_record_is_enriched_or_poison_with_its_reason(
        records in prop::collection::vec(kafka_record(), 1..8)
    ) {
        let e = enricher();
        let json = kafka_event(&records, "aws:kafka").to_string();
        let b = stream(parse_record_by_record(&json));
        let stages = run(&e, &b.records);
        for ((r, got), stage) in kafka_order(&records).into_iter().zip(&b.records).zip(&stages) {
            check_stage(stage, got, r.envelope_poison(), &r.payload)?;
        }
        if let Some(fast) = parse_one_pass(&json) {
            prop_assert_eq!(format!("{:?}", run(&e, &fast.records)), format!("{stages:?}"));
        }
    }

    #[test]
    fn layout_does_not_change_the_output(p in payload(), layout in crate::r#gen::layout()) {
        // The same event written compactly and otherwise: the same verdict, the same output.
        let Some(event) = p.event else { return Ok(()) };
        let e = enricher();
        let record = |text: String| InputRecord {
            origin: dry_run_origin(),
            original: enrich::input::Original::Bytes(text.into_bytes()),
            poison: None,
            headers: Vec::new(),
        };
        let records = [record(write(&event.body, Layout::Compact)), record(write(&event.body, layout))];
        let stages = run(&e, &records);
        let (Stage::Enriched(a), Stage::Enriched(b)) = (&stages[0], &stages[1]) else {
            return Err(TestCaseError::fail(format!("{stages:?}")));
        };
        prop_assert_eq!(&a.partition_key, &b.partition_key);
        let parse = |d: &[u8]| serde_json::from_slice::<Value>(d).unwrap();
        prop_assert_eq!(parse(&a.data), parse(&b.data));
    }

    #[test]
    fn pseudonyms_are_deterministic_and_keyed(email in crate::r#gen::text(30), other in crate::r#gen::text(30)) {
        // Two enrichers with the same key agree; another key, or another value, does not.
        let event = |e: &str| json!({"event_id": "e", "event_type": "t", "user_id": "u",
            "email": e, "ts": 1_795_425_330_250i64}).to_string().into_bytes();
        let out = |enricher: &Enricher, e: &str| {
            let r = InputRecord { origin: dry_run_origin(), original: enrich::input::Original::Bytes(event(e)), poison: None, headers: Vec::new() };
            match &run(enricher, &[r])[0] {
                Stage::Enriched(x) => serde_json::from_slice::<Value>(&x.data).unwrap()["email"].clone(),
                other => panic!("{other:?}"),
            }
        };
        let spec = EnrichmentSpec::parse(DEFAULT_SPEC, "x").unwrap();
        let rekeyed = Enricher::new(spec, Some(b"another-key-0123456789")).unwrap();
        let a = out(&enricher(), &email);
        prop_assert_eq!(&a, &out(&enricher(), &email));
        prop_assert_eq!(&a, &json!(hmac_hex(&email)));
        prop_assert_ne!(&a, &out(&rekeyed, &email));
        if other != email {
            prop_assert_ne!(&a, &out(&enricher(), &other));
        }
    }
}

pub fn dry_run_origin() -> enrich::origin::RecordOrigin {
    enrich::origin::RecordOrigin {
        source: enrich::origin::SourceKind::Kinesis,
        stream: "dry-run".into(),
        shard: "dry-run".into(),
        position: "0".into(),
        arrival: None,
        key: None,
        sub_sequence: None,
    }
}
