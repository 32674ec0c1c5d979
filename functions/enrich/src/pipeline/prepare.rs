//! Phase one: decode and validate a record's payload against the spec, and find its event time,
//! partition key and reference key.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::members::{Found, Members};
use super::{Enricher, Prepared};
use crate::encoding::json_kind;
use crate::poison::{Poison, PoisonReason};
use crate::spec::TimeFormat;

/// Epoch values at or above this are read as milliseconds when both units are accepted
/// (1e11 seconds is the year 5138; 1e11 milliseconds is March 1973).
const MILLIS_THRESHOLD: f64 = 1e11;
/// Event times are written as `YYYY-MM-DDTHH:MM:SS.mmmZ`: from 0000-01-01T00:00:00Z to before
/// 10000-01-01T00:00:00Z (epoch seconds).
const FIRST_SECOND: i64 = -62_167_219_200;
const END_SECOND: i64 = 253_402_300_800;

impl Enricher {
    /// Decodes and validates one payload.
    pub fn prepare<'a>(&self, bytes: &'a [u8]) -> Result<Prepared<'a>, Poison> {
        let text = self.checked_text(bytes)?;
        let mut prepared = Prepared {
            members: object_members(text)?,
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
        self.check_fields(&prepared)?;
        prepared.event_time = self.event_time(&prepared)?;
        self.check_partition_key(&prepared)?;
        prepared.reference_key = self.reference_key(&prepared);
        Ok(prepared)
    }

    /// The payload as text: not empty, within the spec's size, valid UTF-8.
    fn checked_text<'a>(&self, bytes: &'a [u8]) -> Result<&'a str, Poison> {
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
        simdutf8::compat::from_utf8(bytes).map_err(|e| {
            Poison::new(
                PoisonReason::InvalidUtf8,
                format!("invalid UTF-8 at byte {}", e.valid_up_to()),
            )
        })
    }

    /// Required fields present and not null, every present field of its type.
    fn check_fields(&self, prepared: &Prepared<'_>) -> Result<(), Poison> {
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
        Ok(())
    }

    fn check_partition_key(&self, prepared: &Prepared<'_>) -> Result<(), Poison> {
        match prepared
            .find(&self.spec.partition_key)
            .and_then(|f| f.scalar().map(|s| s.is_empty()))
        {
            Some(false) => Ok(()),
            _ => Err(Poison::new(
                PoisonReason::MissingPartitionKey,
                format!(
                    "partition key field {:?} is missing, empty or not a string or number",
                    self.spec.partition_key
                ),
            )),
        }
    }

    /// The value to look up in the reference table, if the spec joins one and the event has it.
    fn reference_key<'a>(&self, prepared: &Prepared<'a>) -> Option<Cow<'a, str>> {
        let r = self.spec.reference.as_ref()?;
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
                let t = DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| {
                        invalid(format!(
                            "event time field {:?} is not RFC 3339 ({e})",
                            spec.field
                        ))
                    })?;
                // Its offset can take a four-digit local time to year -1 or 10000 in UTC,
                // which `event_time` and `dt` cannot write.
                return Some(t)
                    .filter(|t| (FIRST_SECOND..END_SECOND).contains(&t.timestamp()))
                    .ok_or_else(|| {
                        invalid(format!(
                            "event time field {:?} is out of range (years 0 to 9999 in UTC)",
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
            .filter(|t| t.timestamp() < END_SECOND)
            .ok_or_else(|| invalid(format!("event time field {:?} is out of range", spec.field)))
    }
}

/// The record's top-level members, when it is a JSON object.
fn object_members(text: &str) -> Result<Members<'_>, Poison> {
    if !text.trim_start().starts_with('{') {
        let value: Value = serde_json::from_str(text).map_err(invalid_json)?;
        return Err(Poison::new(
            PoisonReason::NotAnObject,
            format!("record is a JSON {}, expected an object", json_kind(&value)),
        ));
    }
    Members::parse(text).map_err(|e| {
        // The rare bad record: serde_json names the place and kind of the error the way every
        // other message of ours does. Should it accept what sonic-rs refused, say so.
        match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Err(e) => invalid_json(e),
            Ok(_) => Poison::new(
                PoisonReason::InvalidJson,
                // Not `e`'s Display: it quotes the input around the error.
                format!("invalid JSON at line {} column {}", e.line(), e.column()),
            ),
        }
    })
}

fn invalid_json(e: serde_json::Error) -> Poison {
    Poison::new(
        PoisonReason::InvalidJson,
        format!(
            "invalid JSON at line {} column {}: {}",
            e.line(),
            e.column(),
            category(&e)
        ),
    )
}

fn missing(field: &str) -> Poison {
    Poison::new(
        PoisonReason::MissingField,
        format!("required field {field:?} is missing or null"),
    )
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
