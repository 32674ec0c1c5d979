//! The pure core of enrich: bytes in, an enriched event (or the poison verdict) out. No AWS here.
//!
//! Two phases, so reference data can be fetched for a chunk of records in between:
//! [`Enricher::prepare`] decodes and validates (`prepare.rs`), [`Enricher::finish`] adds the
//! derived fields, the `_ingest` metadata and the reference join, protects PII (`pii.rs`) and
//! encodes the output record (`finish.rs`).
//!
//! Speed: a record's top-level members are borrowed from its text as unparsed JSON
//! ([`RawValue`](serde_json::value::RawValue)); types are checked on the first byte, and only the members a rule reads are
//! decoded (a string field's text, a nested path's branch). The output is written member by
//! member, copying untouched values verbatim. This is what makes the per-record cost small; see
//! the README's Performance section.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

mod finish;
mod members;
mod pii;
mod prepare;

use crate::encoding::rfc3339_millis;
use crate::input::InputRecord;
use crate::poison::Poison;
use crate::spec::EnrichmentSpec;
use crate::values::Decoded;
use members::{Found, Members};

/// Kinesis accepts at most 1 MiB per record, data and partition key together.
pub const MAX_OUTPUT_RECORD_BYTES: usize = 1024 * 1024;
/// Kinesis partition keys are 1 to 256 Unicode characters.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

/// A record that passed validation, waiting for its reference data.
#[derive(Debug, Clone)]
pub struct Prepared<'a> {
    members: Members<'a>,
    /// Top-level members a nested path needed, parsed (and possibly modified by PII rules).
    parsed: BTreeMap<String, Value>,
    text_len: usize,
    pub event_time: DateTime<Utc>,
    /// The value to look up in the reference table, if the spec joins one and the event has it.
    pub reference_key: Option<Cow<'a, str>>,
}

impl<'a> Prepared<'a> {
    fn find(&self, path: &str) -> Option<Found<'_>> {
        // A byte loop, not `split_once`: paths are short and mostly top-level.
        match path.bytes().position(|b| b == b'.') {
            None => self.members.get(path).map(Found::Raw),
            Some(dot) => {
                let (head, rest) = (&path[..dot], &path[dot + 1..]);
                let mut current = self.parsed.get(head)?;
                for part in rest.split('.') {
                    current = current.as_object()?.get(part)?;
                }
                Some(Found::Parsed(current))
            }
        }
    }
}

/// The outcome of the reference lookup for one record.
#[derive(Debug, Clone, Copy)]
pub enum ReferenceJoin<'a> {
    /// The spec joins no reference data.
    NotConfigured,
    /// The event has no value in the key field.
    NoKey,
    Found(&'a Map<String, Value>),
    /// Looked up, not in the table: recorded as such, not a failure.
    Missing,
}

impl ReferenceJoin<'_> {
    pub fn status(&self) -> &'static str {
        match self {
            ReferenceJoin::NotConfigured => "not_configured",
            ReferenceJoin::NoKey => "no_key",
            ReferenceJoin::Found(_) => "found",
            ReferenceJoin::Missing => "missing",
        }
    }
}

/// A record after the pipeline, before any write.
#[derive(Debug, Clone)]
pub enum Stage {
    /// A previous attempt already delivered or quarantined it.
    Skipped,
    Poison(Poison),
    Enriched(EnrichedRecord),
    /// Could not be enriched now for a retryable reason (e.g. the reference lookup failed).
    Failed {
        code: String,
        message: String,
    },
}

/// The reference lookup result for a key, as the caller's cache sees it.
#[derive(Debug, Clone)]
pub enum Lookup {
    Found(std::sync::Arc<Map<String, Value>>),
    Missing,
    /// Not loaded: the lookup failed with (code, message).
    Unavailable(String, String),
}

/// A record ready for PutRecords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrichedRecord {
    pub partition_key: String,
    /// Newline-terminated JSON, so objects concatenated by Firehose stay line-delimited.
    pub data: Vec<u8>,
}

/// Per-batch facts every record shares, computed once.
pub struct BatchContext {
    pub processed_at: String,
}

impl BatchContext {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            processed_at: rfc3339_millis(now),
        }
    }
}

pub struct Enricher {
    spec: EnrichmentSpec,
    // (no Debug: the keyed HMAC state must never be printed)
    /// Keyed once per sandbox (at init, or when a key read at init arrives: see
    /// [`Enricher::awaiting_key`]); cloned per value (cheaper than re-keying).
    hmac: OnceLock<Hmac<Sha256>>,
    /// The top-level members nested paths of the spec read into, parsed for every record
    /// (worked out once here, not per record).
    nested_heads: Vec<String>,
}

impl Enricher {
    /// `pii_key` is required when the spec has an `hmac` rule.
    pub fn new(spec: EnrichmentSpec, pii_key: Option<&[u8]>) -> Result<Self, String> {
        let enricher = Self::awaiting_key(spec);
        match pii_key {
            Some(k) => enricher.set_key(k)?,
            None if enricher.spec.needs_hmac_key() => {
                return Err(format!(
                    "enrichment spec {} has an hmac PII rule but no key was configured",
                    enricher.spec.name
                ));
            }
            None => {}
        }
        Ok(enricher)
    }

    /// An enricher whose key (if its spec needs one) is given later with [`Enricher::set_key`],
    /// before any record is finished.
    pub fn awaiting_key(spec: EnrichmentSpec) -> Self {
        let mut nested_heads: Vec<String> = spec_paths(&spec)
            .filter_map(|path| path.split_once('.').map(|(head, _)| head.to_string()))
            .collect();
        nested_heads.sort();
        nested_heads.dedup();
        Self {
            spec,
            hmac: OnceLock::new(),
            nested_heads,
        }
    }

    /// Keys the HMAC rules. A second call keeps the first key (one key per sandbox).
    pub fn set_key(&self, key: &[u8]) -> Result<(), String> {
        if key.len() < 16 {
            return Err(format!(
                "the PII HMAC key must be at least 16 bytes, got {}",
                key.len()
            ));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|e| e.to_string())?;
        let _ = self.hmac.set(mac);
        Ok(())
    }

    /// Whether records cannot be finished yet: the spec hashes PII and no key is set.
    pub fn awaits_key(&self) -> bool {
        self.spec.needs_hmac_key() && self.hmac.get().is_none()
    }

    pub fn spec(&self) -> &EnrichmentSpec {
        &self.spec
    }

    /// Phase one for a batch: skipped, poison, or prepared (waiting for reference data).
    /// `decoded` is what the value format made of each record ([`crate::values`]), in order;
    /// empty (or short) where values are read as delivered.
    pub fn prepare_batch<'a>(
        &self,
        records: &'a [InputRecord],
        decoded: &'a [Decoded],
        skip: impl Fn(&InputRecord) -> bool,
    ) -> Vec<Result<Option<Prepared<'a>>, Poison>> {
        records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                if skip(r) {
                    Ok(None)
                } else if let Some(p) = &r.poison {
                    Err(p.clone())
                } else {
                    match decoded.get(i) {
                        None | Some(Decoded::AsDelivered) => self.prepare(r.bytes()).map(Some),
                        Some(Decoded::Json(json)) => self.prepare(json).map(Some),
                        Some(Decoded::Poison(p)) => Err(p.clone()),
                    }
                }
            })
            .collect()
    }

    /// Phase two for a batch: join reference data through `lookup` and finish each record.
    /// An iterator, so the caller's list of stages grows in place (no list per chunk).
    pub fn finish_batch<'s>(
        &'s self,
        records: &'s [InputRecord],
        prepared: Vec<Result<Option<Prepared<'s>>, Poison>>,
        lookup: impl Fn(&str) -> Lookup + 's,
        batch: &'s BatchContext,
    ) -> impl Iterator<Item = Stage> + 's {
        records.iter().zip(prepared).map(move |(r, p)| match p {
            Ok(None) => Stage::Skipped,
            Err(poison) => Stage::Poison(poison),
            Ok(Some(p)) => {
                let found;
                let join = match (&self.spec.reference, &p.reference_key) {
                    (None, _) => ReferenceJoin::NotConfigured,
                    (Some(_), None) => ReferenceJoin::NoKey,
                    (Some(_), Some(key)) => match lookup(key) {
                        Lookup::Found(attrs) => {
                            found = attrs;
                            ReferenceJoin::Found(&found)
                        }
                        Lookup::Missing => ReferenceJoin::Missing,
                        Lookup::Unavailable(code, message) => {
                            return Stage::Failed { code, message };
                        }
                    },
                };
                match self.finish(p, &r.origin, join, batch) {
                    Ok(e) => Stage::Enriched(e),
                    Err(poison) => Stage::Poison(poison),
                }
            }
        })
    }
}

/// Every field path the spec reads.
fn spec_paths(spec: &EnrichmentSpec) -> impl Iterator<Item = &str> {
    spec.fields
        .iter()
        .map(|f| f.name.as_str())
        .chain([spec.event_time.field.as_str(), spec.partition_key.as_str()])
        .chain(spec.reference.iter().map(|r| r.key_field.as_str()))
        .chain(spec.pii.iter().map(|p| p.field.as_str()))
}

#[cfg(test)]
mod tests {
    use super::finish::is_reserved;
    use super::pii::mask;
    use super::*;
    use crate::origin::{RecordOrigin, SourceKind};
    use crate::poison::PoisonReason;
    use crate::spec::{DEFAULT_SPEC, RESERVED_FIELDS};
    use serde_json::json;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn enricher() -> Enricher {
        Enricher::new(
            EnrichmentSpec::parse(DEFAULT_SPEC, "test").unwrap(),
            Some(KEY),
        )
        .unwrap()
    }

    fn origin() -> RecordOrigin {
        RecordOrigin {
            source: SourceKind::Kinesis,
            stream: "streamops-raw".into(),
            shard: "shardId-000000000000".into(),
            position: "49590338271490256608559692538361571095921575989136588898".into(),
            arrival: DateTime::<Utc>::from_timestamp_millis(1_795_428_000_500),
            key: Some("u1".into()),
            sub_sequence: None,
        }
    }

    fn good() -> Value {
        json!({"event_id": "e1", "event_type": "page_view", "user_id": "u-42", "product_id": "p-1",
               "email": "ada@example.com", "ip": "203.0.113.77", "phone": "+44 20 7946 0000",
               "ts": "2026-11-23T10:15:30.250+01:00"})
    }

    fn run(v: &Value, reference: ReferenceJoin<'_>) -> Result<Value, Poison> {
        let e = enricher();
        let text = v.to_string();
        let p = e.prepare(text.as_bytes())?;
        let batch = BatchContext::new(
            DateTime::parse_from_rfc3339("2026-11-23T09:20:00Z")
                .unwrap()
                .into(),
        );
        let out = e.finish(p, &origin(), reference, &batch)?;
        assert_eq!(*out.data.last().unwrap(), b'\n');
        Ok(serde_json::from_slice(&out.data).unwrap())
    }

    #[test]
    fn enriches_a_good_record() {
        let attrs: Map<String, Value> =
            serde_json::from_value(json!({"category": "books", "brand": "acme", "secret": 1}))
                .unwrap();
        let out = run(&good(), ReferenceJoin::Found(&attrs)).unwrap();
        assert_eq!(out["event_time"], "2026-11-23T09:15:30.250Z");
        assert_eq!(out["event_time_ms"], 1_795_425_330_250i64);
        assert_eq!(out["dt"], "2026-11-23");
        assert_eq!(out["hour"], "09");
        assert_eq!(
            out["product"],
            json!({"category": "books", "brand": "acme"})
        );
        assert_eq!(out["_ingest"]["source"], "kinesis");
        assert_eq!(out["_ingest"]["sequence_number"], origin().position);
        assert_eq!(out["_ingest"]["arrival_time"], "2026-11-23T10:00:00.500Z");
        assert_eq!(out["_ingest"]["processed_at"], "2026-11-23T09:20:00.000Z");
        assert_eq!(out["_ingest"]["reference"], "found");
        assert_eq!(out["_event_id"], origin().event_id());
        // PII: hmac is deterministic hex, mask keeps the tail, drop removes.
        let email = out["email"].as_str().unwrap();
        assert_eq!(email.len(), 64);
        assert_ne!(email, "ada@example.com");
        assert_eq!(out["ip"], "********3.77");
        assert!(out.get("phone").is_none());
        let again = run(&good(), ReferenceJoin::Missing).unwrap();
        assert_eq!(again["email"], out["email"]);
        assert_eq!(again["_ingest"]["reference"], "missing");
        assert!(again.get("product").is_none());
    }

    #[test]
    fn raw_pii_never_reaches_output() {
        let out = run(&good(), ReferenceJoin::Missing).unwrap().to_string();
        for raw in ["ada@example.com", "203.0.113.77", "7946"] {
            assert!(!out.contains(raw), "{raw} leaked");
        }
    }

    #[test]
    fn event_time_formats() {
        let at = |ts: Value| {
            let mut v = good();
            v["ts"] = ts;
            run(&v, ReferenceJoin::Missing).map(|o| o["event_time"].as_str().unwrap().to_string())
        };
        assert_eq!(
            at(json!(1_795_425_330)).unwrap(),
            "2026-11-23T09:15:30.000Z"
        );
        assert_eq!(
            at(json!(1_795_425_330_250i64)).unwrap(),
            "2026-11-23T09:15:30.250Z"
        );
        assert_eq!(
            at(json!(1_795_425_330.25)).unwrap(),
            "2026-11-23T09:15:30.250Z"
        );
        assert_eq!(
            at(json!("1795425330250")).unwrap(),
            "2026-11-23T09:15:30.250Z"
        );
        for bad in [
            json!("yesterday"),
            json!(true),
            json!(-5),
            json!("2026-13-01T00:00:00Z"),
        ] {
            assert_eq!(at(bad).unwrap_err().reason, PoisonReason::InvalidEventTime);
        }
    }

    #[test]
    fn poison_reasons_are_precise_and_never_echo_values() {
        let e = enricher();
        let reason = |bytes: &[u8]| e.prepare(bytes).unwrap_err();
        assert_eq!(reason(b"").reason, PoisonReason::EmptyRecord);
        assert_eq!(
            reason(&[0x7b, 0xff, 0x7d]).reason,
            PoisonReason::InvalidUtf8
        );
        let p = reason(b"{\"event_id\": \"secret-value");
        assert_eq!(p.reason, PoisonReason::InvalidJson);
        assert!(!p.message.contains("secret-value"), "{}", p.message);
        assert_eq!(reason(b"[1]").reason, PoisonReason::NotAnObject);
        let mut v = good();
        v.as_object_mut().unwrap().remove("user_id");
        let p = reason(v.to_string().as_bytes());
        assert_eq!(p.reason, PoisonReason::MissingField);
        assert!(p.message.contains("user_id"));
        let mut v = good();
        v["event_type"] = json!(7);
        let p = reason(v.to_string().as_bytes());
        assert_eq!(p.reason, PoisonReason::WrongType);
        assert!(p.message.contains("event_type") && p.message.contains("number"));
        let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(1024 * 1024));
        assert_eq!(reason(big.as_bytes()).reason, PoisonReason::Oversize);
        let mut v = good();
        v["user_id"] = json!("");
        assert_eq!(
            reason(v.to_string().as_bytes()).reason,
            PoisonReason::MissingPartitionKey
        );
    }

    #[test]
    fn reference_key_and_hmac_key_rules() {
        let e = enricher();
        let text = good().to_string();
        let p = e.prepare(text.as_bytes()).unwrap();
        assert_eq!(p.reference_key.as_deref(), Some("p-1"));
        let spec = EnrichmentSpec::parse(DEFAULT_SPEC, "test").unwrap();
        assert!(
            Enricher::new(spec.clone(), None)
                .err()
                .unwrap()
                .contains("no key")
        );
        assert!(
            Enricher::new(spec, Some(b"short"))
                .err()
                .unwrap()
                .contains("16 bytes")
        );
    }

    #[test]
    fn numbers_in_a_branch_a_rule_rewrites_keep_every_digit() {
        // Found by the spec property test: serde_json's default float parsing is not always
        // the nearest double, so a branch parsed to apply a rule wrote 461587199662646.44
        // back as a neighbour, and a masked object's text lost a character.
        let spec = EnrichmentSpec::parse(
            r#"{"name": "n", "event_time": {"field": "ts", "formats": ["epoch_millis"]},
                "partition_key": "id", "pii": [{"field": "user.email", "action": "hmac"},
                {"field": "user.card", "action": "mask"}]}"#,
            "n",
        )
        .unwrap();
        let e = Enricher::new(spec, Some(KEY)).unwrap();
        let numbers = [
            "461587199662646.44",
            "0.30000000000000004",
            "2.2250738585072014e-308",
        ];
        let text = format!(
            r#"{{"id": "r1", "ts": 1795425330250, "user": {{"email": "a@b.c", "score": {}, "tiny": {},
               "card": {{"n": {}}}, "v": {}}}}}"#,
            numbers[0], numbers[2], numbers[0], numbers[1]
        );
        let p = e.prepare(text.as_bytes()).unwrap();
        let out = e
            .finish(
                p,
                &origin(),
                ReferenceJoin::NotConfigured,
                &BatchContext::new(Utc::now()),
            )
            .unwrap();
        let v: Value = serde_json::from_slice(&out.data).unwrap();
        let written = |n: &Value| serde_json::to_string(n).unwrap();
        assert_eq!(written(&v["user"]["score"]), numbers[0]);
        assert_eq!(written(&v["user"]["v"]), numbers[1]);
        assert_eq!(v["user"]["tiny"].as_f64(), Some(2.2250738585072014e-308));
        let card = format!(r#"{{"n":{}}}"#, numbers[0]);
        assert_eq!(v["user"]["card"], super::pii::mask(&card));
    }

    #[test]
    fn nested_paths_escaped_keys_and_reserved_input_members() {
        let spec = EnrichmentSpec::parse(
            r#"{"name": "nested", "fields": [{"name": "user.id", "type": "string"}, {"name": "n", "type": "integer"}],
                "event_time": {"field": "meta.ts", "formats": ["epoch_millis"]}, "partition_key": "user.id",
                "pii": [{"field": "user.email", "action": "hmac"}, {"field": "user.phone", "action": "drop"}]}"#,
            "nested",
        )
        .unwrap();
        let e = Enricher::new(spec, Some(KEY)).unwrap();
        let text = r#"{"user": {"id": "u-7", "email": "a@b.c", "phone": "1"}, "meta": {"ts": 1795425330250},
                       "n": 3, "dt": "forged", "we\"ird": [1, {"x": null}]}"#;
        let p = e.prepare(text.as_bytes()).unwrap();
        let batch = BatchContext::new(Utc::now());
        let out = e
            .finish(p, &origin(), ReferenceJoin::NotConfigured, &batch)
            .unwrap();
        assert_eq!(out.partition_key, "u-7");
        let v: Value = serde_json::from_slice(&out.data).unwrap();
        assert_eq!(v["user"]["id"], "u-7");
        assert_eq!(v["user"]["email"].as_str().unwrap().len(), 64);
        assert!(v["user"].get("phone").is_none());
        assert_eq!(
            v["dt"], "2026-11-23",
            "an input member named like a derived field is replaced"
        );
        assert_eq!(v["we\"ird"], json!([1, {"x": null}]));
        assert_eq!(
            String::from_utf8_lossy(&out.data).matches("\"dt\"").count(),
            1
        );
        let bad = r#"{"user": {"id": 7}, "meta": {"ts": 1}, "n": 1.5}"#;
        assert_eq!(
            e.prepare(bad.as_bytes()).unwrap_err().reason,
            PoisonReason::WrongType
        );
        let bad = r#"{"user": {"id": "x"}, "meta": {"ts": 1}, "n": 1.5}"#;
        let p = e.prepare(bad.as_bytes()).unwrap_err();
        assert!(
            p.message.contains("\"n\"") && p.message.contains("integer"),
            "{}",
            p.message
        );
    }

    #[test]
    fn duplicate_members_keep_the_last_and_a_hashed_partition_key_is_the_output_value() {
        // The partition key field itself under a PII rule: the key is what the output holds.
        let spec = EnrichmentSpec::parse(
            r#"{"name": "pk-pii", "fields": [{"name": "user_id", "type": "string"}],
                "event_time": {"field": "ts", "formats": ["epoch_millis"]}, "partition_key": "user_id",
                "pii": [{"field": "user_id", "action": "hmac"}, {"field": "ip", "action": "mask"}]}"#,
            "pk-pii",
        )
        .unwrap();
        let e = Enricher::new(spec, Some(KEY)).unwrap();
        let text =
            r#"{"user_id": "first", "ts": 1795425330250, "ip": null, "user_id": "last", "z": 1}"#;
        let p = e.prepare(text.as_bytes()).unwrap();
        let out = e
            .finish(
                p,
                &origin(),
                ReferenceJoin::NotConfigured,
                &BatchContext::new(Utc::now()),
            )
            .unwrap();
        let v: Value = serde_json::from_slice(&out.data).unwrap();
        assert_eq!(
            v["user_id"],
            e.hmac_hex("last"),
            "the last duplicate wins, then is hashed"
        );
        assert_eq!(out.partition_key, e.hmac_hex("last"));
        assert_eq!(v["ip"], Value::Null, "a null is left as it is, not masked");
        let text = String::from_utf8_lossy(&out.data);
        assert_eq!(text.matches("\"user_id\"").count(), 1, "{text}");
        // Trailing bytes after the object and an unterminated member are invalid JSON.
        for bad in [
            r#"{"user_id": "u", "ts": 1} x"#,
            r#"{"user_id": "u", "ts": 1, "a": [1, }"#,
        ] {
            let p = e.prepare(bad.as_bytes()).unwrap_err();
            assert_eq!(p.reason, PoisonReason::InvalidJson, "{bad}");
            assert!(p.message.contains("line 1 column"), "{}", p.message);
        }
    }

    #[test]
    fn reserved_match_agrees_with_the_spec_list() {
        for f in RESERVED_FIELDS {
            assert!(is_reserved(f));
        }
        assert!(!is_reserved("dt2"));
    }

    #[test]
    fn mask_keeps_only_a_short_tail() {
        assert_eq!(mask("203.0.113.77"), "********3.77");
        assert_eq!(mask("1234"), "****");
        assert_eq!(mask("ünïcødé-über"), "********über");
    }
}
