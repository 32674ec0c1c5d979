//! The pure core of enrich: bytes in, an enriched event (or the poison verdict) out. No AWS here.
//!
//! Two phases, so reference data can be fetched for a chunk of records in between:
//! [`Enricher::prepare`] decodes and validates, [`Enricher::finish`] adds the derived fields, the
//! `_ingest` metadata and the reference join, protects PII and encodes the output record.
//!
//! Speed: a record's top-level members are borrowed from its text as unparsed JSON
//! ([`RawValue`]); types are checked on the first byte, and only the members a rule reads are
//! decoded (a string field's text, a nested path's branch). The output is written member by
//! member, copying untouched values verbatim. This is what makes the per-record cost small; see
//! the README's Performance section.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::input::{InputRecord, json_kind};
use crate::origin::{Poison, PoisonReason, RecordOrigin, SourceKind};
use crate::spec::{EnrichmentSpec, FieldType, PiiAction, TimeFormat};

/// Kinesis accepts at most 1 MiB per record, data and partition key together.
pub const MAX_OUTPUT_RECORD_BYTES: usize = 1024 * 1024;
/// Kinesis partition keys are 1 to 256 Unicode characters.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;
/// Epoch values at or above this are read as milliseconds when both units are accepted
/// (1e11 seconds is the year 5138; 1e11 milliseconds is March 1973).
const MILLIS_THRESHOLD: f64 = 1e11;

/// A member name, borrowed from the record text unless it contained escapes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(transparent)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

/// A record's top-level members in key order, each with its value's JSON text (borrowed from
/// the record unless the parser had to copy it). A duplicated name keeps its last value, as a
/// JSON object read into a map would.
#[derive(Debug, Clone, Default)]
struct Members<'a>(Vec<(Key<'a>, Cow<'a, str>)>);

impl<'a> Members<'a> {
    /// One validating SIMD pass over the record (sonic-rs); the values are not decoded.
    fn parse(text: &'a str) -> Result<Self, sonic_rs::Error> {
        let mut members = sonic_rs::from_str::<Members<'a>>(text)?;
        // A stable sort keeps duplicates in input order; the last one wins.
        members.0.sort_by(|a, b| a.0.cmp(&b.0));
        members.0.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
        Ok(members)
    }

    fn index(&self, name: &str) -> Option<usize> {
        // Events have a handful of members: comparing lengths first rejects almost every
        // non-match without touching the text, cheaper than bisecting with string compares.
        if self.0.len() <= 16 {
            self.0
                .iter()
                .position(|(k, _)| k.0.len() == name.len() && k.0 == name)
        } else {
            self.0
                .binary_search_by(|(k, _)| k.0.as_ref().cmp(name))
                .ok()
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.index(name).map(|i| self.0[i].1.as_ref())
    }

    /// A top-level member's JSON text as a slice of the record itself, when the parser did not
    /// have to copy it: what lives as long as the record does.
    fn get_in_record(&self, name: &str) -> Option<&'a str> {
        match self.0[self.index(name)?].1 {
            Cow::Borrowed(text) => Some(text),
            Cow::Owned(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    let value: sonic_rs::LazyValue<'de> = map.next_value()?;
                    out.push((key, value.as_raw_cow()));
                }
                Ok(Members(out))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// A value found at a field path: JSON text for a top-level member, parsed for a nested one.
#[derive(Debug, Clone, Copy)]
enum Found<'p> {
    Raw(&'p str),
    Parsed(&'p Value),
}

impl<'p> Found<'p> {
    fn kind(self) -> &'static str {
        match self {
            Found::Parsed(v) => json_kind(v),
            Found::Raw(r) => match r.as_bytes().first() {
                Some(b'"') => "string",
                Some(b'{') => "object",
                Some(b'[') => "array",
                Some(b't' | b'f') => "boolean",
                Some(b'n') => "null",
                _ => "number",
            },
        }
    }

    fn matches(self, t: FieldType) -> bool {
        match self {
            Found::Parsed(v) => t.matches(v),
            Found::Raw(r) => match t {
                FieldType::Integer => {
                    self.kind() == "number" && !r.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
                }
                other => self.kind() == other.as_str(),
            },
        }
    }

    /// The string's value (unescaped), for a JSON string.
    fn text(self) -> Option<Cow<'p, str>> {
        match self {
            Found::Parsed(Value::String(s)) => Some(Cow::Borrowed(s)),
            Found::Parsed(_) => None,
            Found::Raw(t) => {
                if !t.starts_with('"') {
                    None
                } else if !t.contains('\\') {
                    Some(Cow::Borrowed(&t[1..t.len() - 1]))
                } else {
                    serde_json::from_str::<String>(t).ok().map(Cow::Owned)
                }
            }
        }
    }

    /// The JSON text of a number.
    fn number(self) -> Option<Cow<'p, str>> {
        match self {
            Found::Parsed(Value::Number(n)) => Some(Cow::Owned(n.to_string())),
            Found::Parsed(_) => None,
            Found::Raw(r) => (self.kind() == "number").then_some(Cow::Borrowed(r)),
        }
    }

    /// A string's value or a number's text: what keys and PII rules operate on.
    fn scalar(self) -> Option<Cow<'p, str>> {
        self.text().or_else(|| self.number())
    }

    /// Any value as text: strings unescaped, everything else its JSON.
    fn as_text(self) -> Cow<'p, str> {
        match (self.text(), self) {
            (Some(t), _) => t,
            (None, Found::Raw(r)) => Cow::Borrowed(r),
            (None, Found::Parsed(v)) => Cow::Owned(v.to_string()),
        }
    }
}

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

/// Appends `s` as a JSON string. Most keys and values need no escaping; checking for that is
/// cheaper than the general escaper, which is the fallback.
fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    if !needs_escape(s) {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        serde_json::to_writer(buf, s).expect("writing to a Vec");
    }
}

fn needs_escape(s: &str) -> bool {
    // A fold, not `any`: no early exit, so the check vectorises.
    s.bytes().fold(false, |acc, b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

/// Writes a JSON object member by member.
struct ObjectWriter {
    buf: Vec<u8>,
    first: bool,
}

impl ObjectWriter {
    fn new(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity);
        buf.push(b'{');
        Self { buf, first: true }
    }

    fn key(&mut self, k: &str) -> &mut Vec<u8> {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        push_json_str(&mut self.buf, k);
        self.buf.push(b':');
        &mut self.buf
    }

    /// A member whose key and text value need no escaping by construction (our own field
    /// names, timestamps, hex): the per-record tail is written without checking every byte.
    fn plain(&mut self, k: &str, v: &str) {
        debug_assert!(!needs_escape(k) && !needs_escape(v), "{k:?}: {v:?}");
        self.buf.reserve(k.len() + v.len() + 6);
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        self.buf.push(b'"');
        self.buf.extend_from_slice(k.as_bytes());
        self.buf.extend_from_slice(b"\":\"");
        self.buf.extend_from_slice(v.as_bytes());
        self.buf.push(b'"');
    }

    /// A string member, written without the serializer when nothing needs escaping.
    fn str(&mut self, k: &str, v: &str) {
        let buf = self.key(k);
        push_json_str(buf, v);
    }

    fn raw(&mut self, k: &str, raw: &str) {
        self.key(k).extend_from_slice(raw.as_bytes());
    }

    fn value<T: serde::Serialize + ?Sized>(&mut self, k: &str, v: &T) {
        let buf = self.key(k);
        serde_json::to_writer(buf, v).expect("writing to a Vec");
    }

    fn close(mut self) -> Vec<u8> {
        self.buf.push(b'}');
        self.buf
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
    /// Keyed once at cold start; cloned per value (cheaper than re-keying).
    hmac: Option<Hmac<Sha256>>,
    /// The top-level members nested paths of the spec read into, parsed for every record
    /// (worked out once here, not per record).
    nested_heads: Vec<String>,
}

impl Enricher {
    /// `pii_key` is required when the spec has an `hmac` rule.
    pub fn new(spec: EnrichmentSpec, pii_key: Option<&[u8]>) -> Result<Self, String> {
        let hmac = match pii_key {
            Some(k) if k.len() < 16 => {
                return Err(format!(
                    "the PII HMAC key must be at least 16 bytes, got {}",
                    k.len()
                ));
            }
            Some(k) => Some(Hmac::<Sha256>::new_from_slice(k).map_err(|e| e.to_string())?),
            None if spec.needs_hmac_key() => {
                return Err(format!(
                    "enrichment spec {} has an hmac PII rule but no key was configured",
                    spec.name
                ));
            }
            None => None,
        };
        let mut nested_heads: Vec<String> = spec_paths(&spec)
            .filter_map(|path| path.split_once('.').map(|(head, _)| head.to_string()))
            .collect();
        nested_heads.sort();
        nested_heads.dedup();
        Ok(Self {
            spec,
            hmac,
            nested_heads,
        })
    }

    pub fn spec(&self) -> &EnrichmentSpec {
        &self.spec
    }

    /// Phase one for a batch: skipped, poison, or prepared (waiting for reference data).
    pub fn prepare_batch<'a>(
        &self,
        records: &'a [InputRecord],
        skip: impl Fn(&InputRecord) -> bool,
    ) -> Vec<Result<Option<Prepared<'a>>, Poison>> {
        records
            .iter()
            .map(|r| {
                if skip(r) {
                    Ok(None)
                } else if let Some(p) = &r.poison {
                    Err(p.clone())
                } else {
                    self.prepare(r.bytes()).map(Some)
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

    /// Decodes and validates one payload.
    pub fn prepare<'a>(&self, bytes: &'a [u8]) -> Result<Prepared<'a>, Poison> {
        if bytes.is_empty() {
            return Err(Poison::new(
                PoisonReason::EmptyRecord,
                "record payload is empty",
            ));
        }
        if bytes.len() > self.spec.max_record_bytes {
            return Err(Poison::new(
                PoisonReason::Oversize,
                format!(
                    "record is {} bytes, the spec allows {}",
                    bytes.len(),
                    self.spec.max_record_bytes
                ),
            ));
        }
        // SIMD validation (simdutf8), with the std error (valid_up_to) on failure.
        let text = simdutf8::compat::from_utf8(bytes).map_err(|e| {
            Poison::new(
                PoisonReason::InvalidUtf8,
                format!("invalid UTF-8 at byte {}", e.valid_up_to()),
            )
        })?;
        let invalid_json = |e: serde_json::Error| {
            Poison::new(
                PoisonReason::InvalidJson,
                format!(
                    "invalid JSON at line {} column {}: {}",
                    e.line(),
                    e.column(),
                    category(&e)
                ),
            )
        };
        if !text.trim_start().starts_with('{') {
            let value: Value = serde_json::from_str(text).map_err(invalid_json)?;
            return Err(Poison::new(
                PoisonReason::NotAnObject,
                format!("record is a JSON {}, expected an object", json_kind(&value)),
            ));
        }
        let members = match Members::parse(text) {
            Ok(m) => m,
            // The rare bad record: serde_json names the place and kind of the error the way
            // every other message of ours does. Should it accept what sonic-rs refused, say so.
            Err(e) => {
                return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                    Err(e) => invalid_json(e),
                    Ok(_) => Poison::new(
                        PoisonReason::InvalidJson,
                        // Not `e`'s Display: it quotes the input around the error.
                        format!("invalid JSON at line {} column {}", e.line(), e.column()),
                    ),
                });
            }
        };
        let mut prepared = Prepared {
            members,
            parsed: BTreeMap::new(),
            text_len: text.len(),
            event_time: DateTime::<Utc>::UNIX_EPOCH,
            reference_key: None,
        };
        // Parse the branches nested paths read (validation, event time, keys, PII).
        for head in &self.nested_heads {
            if let Some(raw) = prepared.members.get(head) {
                let v: Value = serde_json::from_str(raw).map_err(invalid_json)?;
                prepared.parsed.insert(head.clone(), v);
            }
        }
        for field in &self.spec.fields {
            match prepared.find(&field.name) {
                None if field.required => return Err(missing(&field.name)),
                Some(f) if f.kind() == "null" && field.required => {
                    return Err(missing(&field.name));
                }
                Some(f) if f.kind() != "null" && !f.matches(field.kind) => {
                    return Err(Poison::new(
                        PoisonReason::WrongType,
                        format!(
                            "field {:?} is a {}, expected {}",
                            field.name,
                            f.kind(),
                            field.kind.as_str()
                        ),
                    ));
                }
                _ => {}
            }
        }
        prepared.event_time = self.event_time(&prepared)?;
        match prepared
            .find(&self.spec.partition_key)
            .and_then(|f| f.scalar().map(|s| s.is_empty()))
        {
            Some(false) => {}
            _ => {
                return Err(Poison::new(
                    PoisonReason::MissingPartitionKey,
                    format!(
                        "partition key field {:?} is missing, empty or not a string or number",
                        self.spec.partition_key
                    ),
                ));
            }
        }
        prepared.reference_key = self.spec.reference.as_ref().and_then(|r| {
            // A top-level key is borrowed from the record (no copy per record).
            let top_level = !r.key_field.contains('.');
            let in_record = top_level
                .then(|| prepared.members.get_in_record(&r.key_field))
                .flatten();
            let key = match in_record {
                Some(raw) => Found::Raw(raw).scalar(),
                None => prepared
                    .find(&r.key_field)
                    .and_then(|f| f.scalar())
                    .map(|k| Cow::Owned(k.into_owned())),
            };
            key.filter(|k| !k.is_empty())
        });
        Ok(prepared)
    }

    fn event_time(&self, prepared: &Prepared<'_>) -> Result<DateTime<Utc>, Poison> {
        let spec = &self.spec.event_time;
        let invalid = |what: String| Poison::new(PoisonReason::InvalidEventTime, what);
        let Some(value) = prepared.find(&spec.field) else {
            return Err(invalid(format!(
                "event time field {:?} is missing",
                spec.field
            )));
        };
        let allows = |f: TimeFormat| spec.formats.contains(&f);
        let epoch = match (value.number(), value.text()) {
            (Some(n), _) => n.parse::<f64>().ok(),
            (None, Some(s))
                if !allows(TimeFormat::Rfc3339)
                    || s.bytes().all(|b| b.is_ascii_digit() || b == b'.') =>
            {
                s.parse::<f64>().ok()
            }
            (None, Some(s)) => {
                return DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| {
                        invalid(format!(
                            "event time field {:?} is not RFC 3339 ({e})",
                            spec.field
                        ))
                    });
            }
            (None, None) => {
                return Err(invalid(format!(
                    "event time field {:?} is a {}",
                    spec.field,
                    value.kind()
                )));
            }
        };
        let Some(epoch) = epoch.filter(|e| e.is_finite() && *e >= 0.0) else {
            return Err(invalid(format!(
                "event time field {:?} is not a non-negative epoch number",
                spec.field
            )));
        };
        let millis = match (
            allows(TimeFormat::EpochSeconds),
            allows(TimeFormat::EpochMillis),
        ) {
            (true, true) if epoch >= MILLIS_THRESHOLD => epoch,
            (true, _) => epoch * 1000.0,
            (false, true) => epoch,
            (false, false) => {
                return Err(invalid(format!(
                    "event time field {:?} is a number; the spec accepts only RFC 3339",
                    spec.field
                )));
            }
        };
        DateTime::<Utc>::from_timestamp_millis(millis.round() as i64)
            .filter(|t| t.timestamp() < 253_402_300_800) // before year 10000
            .ok_or_else(|| invalid(format!("event time field {:?} is out of range", spec.field)))
    }

    /// Adds derived fields, metadata and reference data; protects PII; encodes.
    pub fn finish(
        &self,
        mut prepared: Prepared<'_>,
        origin: &RecordOrigin,
        reference: ReferenceJoin<'_>,
        batch: &BatchContext,
    ) -> Result<EnrichedRecord, Poison> {
        // Rules on nested paths change the parsed branch; top-level ones are applied below,
        // while the member is written.
        for rule in &self.spec.pii {
            if let Some((head, rest)) = rule.field.split_once('.')
                && let Some(Value::Object(branch)) = prepared.parsed.get_mut(head)
            {
                self.protect(branch, rest, rule.action);
            }
        }
        let partition_key = match self.key_view(&prepared, &self.spec.partition_key) {
            Some(k) => truncate_chars(k.into_owned(), MAX_PARTITION_KEY_CHARS),
            None => String::new(),
        };
        let target = match (&self.spec.reference, reference) {
            (Some(spec), ReferenceJoin::Found(attrs)) => Some((spec.target.as_str(), attrs)),
            _ => None,
        };
        let mut w = ObjectWriter::new(prepared.text_len + 640);
        for (key, raw) in &prepared.members.0 {
            let k: &str = &key.0;
            if is_reserved(k) || target.as_ref().is_some_and(|(t, _)| *t == k) {
                continue; // the pipeline writes these
            }
            match self.top_level_pii(k) {
                Some(PiiAction::Drop) => {}
                Some(action) if raw.as_ref() != "null" => {
                    let text = Found::Raw(raw).as_text();
                    match action {
                        PiiAction::Hmac => self.write_hmac_hex(w.key(k), &text),
                        _ => w.str(k, &mask(&text)),
                    }
                }
                _ => match prepared.parsed.get(k) {
                    Some(v) => w.value(k, v),
                    None => w.raw(k, raw),
                },
            }
        }
        let stamp = Rfc3339Millis::new(prepared.event_time);
        let stamp = stamp.as_str();
        w.plain("event_time", stamp);
        w.value("event_time_ms", &prepared.event_time.timestamp_millis());
        // `YYYY-MM-DD` and `HH` are slices of the stamp: no second formatting pass.
        w.plain("dt", &stamp[..10]);
        w.plain("hour", &stamp[11..13]);
        w.plain("_event_id", origin.event_id_hex().as_str());
        if let (Some((name, attrs)), Some(spec)) = (&target, &self.spec.reference) {
            // Only the spec's attributes, written straight from the cached item (no copy).
            let buf = std::mem::take(w.key(name));
            let mut picked = ObjectWriter { buf, first: true };
            picked.buf.push(b'{');
            for a in &spec.attributes {
                if let Some(v) = attrs.get(a) {
                    picked.value(a, v);
                }
            }
            w.buf = picked.close();
        }
        let (stream_key, shard_key, position_key) = match origin.source {
            SourceKind::Kinesis => ("stream", "shard", "sequence_number"),
            SourceKind::Msk => ("topic", "partition", "offset"),
        };
        let ingest = w.key("_ingest");
        let mut inner = ObjectWriter {
            buf: std::mem::take(ingest),
            first: true,
        };
        inner.buf.push(b'{');
        inner.plain("source", origin.source.as_str());
        inner.str(stream_key, &origin.stream);
        inner.str(shard_key, &origin.shard);
        inner.str(position_key, &origin.position);
        if let Some(arrival) = origin.arrival {
            inner.plain("arrival_time", Rfc3339Millis::new(arrival).as_str());
        }
        inner.plain("processed_at", &batch.processed_at);
        inner.str("spec", &self.spec.name);
        inner.plain("reference", reference.status());
        w.buf = inner.close();
        let mut data = w.close();
        data.push(b'\n');
        if data.len() + partition_key.len() > MAX_OUTPUT_RECORD_BYTES {
            return Err(Poison::new(
                PoisonReason::OutputOversize,
                format!(
                    "enriched record is {} bytes, Kinesis accepts {}",
                    data.len() + partition_key.len(),
                    MAX_OUTPUT_RECORD_BYTES
                ),
            ));
        }
        Ok(EnrichedRecord {
            partition_key,
            data,
        })
    }

    /// Applies a PII rule inside a parsed branch (`path` is relative to it).
    fn protect(&self, object: &mut Map<String, Value>, path: &str, action: PiiAction) {
        let (parent, leaf) = match path.rsplit_once('.') {
            Some((parent, leaf)) => match lookup_mut(object, parent) {
                Some(Value::Object(m)) => (m, leaf),
                _ => return,
            },
            None => (object, path),
        };
        match action {
            PiiAction::Drop => {
                parent.remove(leaf);
            }
            PiiAction::Hmac | PiiAction::Mask => {
                let Some(v) = parent.get_mut(leaf) else {
                    return;
                };
                if v.is_null() {
                    return;
                }
                let text = match &mut *v {
                    Value::String(s) => std::mem::take(s),
                    other => other.to_string(),
                };
                *v = Value::String(match action {
                    PiiAction::Hmac => self.hmac_hex(&text),
                    _ => mask(&text),
                });
            }
        }
    }

    fn hmac_hex(&self, text: &str) -> String {
        let mut out = Vec::with_capacity(64);
        push_hex_lower(&mut out, &self.hmac_digest(text));
        String::from_utf8(out).expect("hex digits are ASCII")
    }

    /// The keyed hash of `text` as a quoted JSON string of 64 hex digits.
    fn write_hmac_hex(&self, out: &mut Vec<u8>, text: &str) {
        out.push(b'"');
        push_hex_lower(out, &self.hmac_digest(text));
        out.push(b'"');
    }

    fn hmac_digest(&self, text: &str) -> [u8; 32] {
        let mut mac = self
            .hmac
            .clone()
            .expect("Enricher::new requires a key for hmac rules");
        mac.update(text.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The PII action on a top-level member, if a rule names it (the last rule wins, as the
    /// spec's order says).
    fn top_level_pii(&self, member: &str) -> Option<PiiAction> {
        self.spec
            .pii
            .iter()
            .rev()
            .find(|r| r.field == member)
            .map(|r| r.action)
    }

    /// The value of a key field (partition key) as written to the output, after PII rules.
    fn key_view<'p>(&self, prepared: &'p Prepared<'_>, path: &str) -> Option<Cow<'p, str>> {
        let found = prepared.find(path)?;
        if !path.contains('.') {
            match self.top_level_pii(path) {
                Some(PiiAction::Drop) => return None,
                Some(PiiAction::Hmac) if found.kind() != "null" => {
                    return Some(Cow::Owned(self.hmac_hex(&found.as_text())));
                }
                Some(PiiAction::Mask) if found.kind() != "null" => {
                    return Some(Cow::Owned(mask(&found.as_text())));
                }
                _ => {}
            }
        }
        found.scalar()
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

/// Appends `bytes` as lowercase hex (without going through an iterator of chars).
pub fn push_hex_lower(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    out.resize(start + 2 * bytes.len(), 0);
    hex_lower_into(&mut out[start..], bytes);
}

/// Writes `bytes` as lowercase hex into `out`, which holds exactly two digits per byte.
pub fn hex_lower_into(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[(b >> 4) as usize];
        pair[1] = DIGITS[(b & 0x0f) as usize];
    }
}

/// `RESERVED_FIELDS` as a match: checked for every member of every record.
fn is_reserved(k: &str) -> bool {
    matches!(
        k,
        "event_time" | "event_time_ms" | "dt" | "hour" | "_event_id" | "_ingest"
    )
}

fn missing(field: &str) -> Poison {
    Poison::new(
        PoisonReason::MissingField,
        format!("required field {field:?} is missing or null"),
    )
}

/// `2026-11-23T09:15:30.250Z` for years 0..=9999: hand-formatted because strftime-style
/// formatting dominated the per-record cost in the benchmark.
pub fn rfc3339_millis(t: DateTime<Utc>) -> String {
    Rfc3339Millis::new(t).as_str().to_string()
}

/// [`rfc3339_millis`] on the stack, for the per-record path.
pub struct Rfc3339Millis([u8; 24]);

impl Rfc3339Millis {
    pub fn new(t: DateTime<Utc>) -> Self {
        use chrono::{Datelike, Timelike};
        let mut b = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, value: u32, width: usize| {
            let mut v = value;
            for i in (0..width).rev() {
                b[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, t.year().clamp(0, 9999) as u32, 4);
        put(5, t.month(), 2);
        put(8, t.day(), 2);
        put(11, t.hour(), 2);
        put(14, t.minute(), 2);
        put(17, t.second(), 2);
        put(20, t.timestamp_subsec_millis().min(999), 3);
        Self(b)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII digits and separators")
    }
}

/// Keeps the last four characters of values longer than eight, stars everything else, so
/// support staff can match a value a user reads out without the log holding it.
pub fn mask(text: &str) -> String {
    let n = text.chars().count();
    let keep = if n > 8 { 4 } else { 0 };
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        out.push(if i < n - keep { '*' } else { c });
    }
    out
}

fn truncate_chars(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        s
    } else {
        s.chars().take(max).collect()
    }
}

/// Which kind of JSON error, without echoing input text.
fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "data error",
        serde_json::error::Category::Eof => "unexpected end of input",
    }
}

/// Follows a dotted path through nested objects.
pub fn lookup<'a>(object: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut current = object.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

fn lookup_mut<'a>(object: &'a mut Map<String, Value>, path: &str) -> Option<&'a mut Value> {
    let mut parts = path.split('.');
    let mut current = object.get_mut(parts.next()?)?;
    for part in parts {
        current = current.as_object_mut()?.get_mut(part)?;
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn hand_formatted_timestamps_match_chrono() {
        for ms in [
            0i64,
            1_795_425_330_250,
            951_782_400_999,
            253_402_300_799_999,
        ] {
            let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap();
            assert_eq!(
                rfc3339_millis(t),
                t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            );
        }
    }

    #[test]
    fn json_strings_and_hex_are_written_correctly() {
        for s in [
            "plain",
            "quo\"te",
            "back\\slash",
            "tab\there",
            "ünïcødé",
            "",
        ] {
            let mut buf = Vec::new();
            push_json_str(&mut buf, s);
            assert_eq!(serde_json::from_slice::<String>(&buf).unwrap(), s);
        }
        let mut hex = b"0x".to_vec();
        push_hex_lower(&mut hex, &[0x00, 0x9f, 0xff]);
        assert_eq!(hex, b"0x009fff");
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
