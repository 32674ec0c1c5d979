//! Phase two: the output record. Input members are copied verbatim (PII rules applied as they
//! are written, fields the pipeline writes left out), then the derived fields, the reference
//! attributes and the `_ingest` metadata; one newline-terminated JSON object.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::members::Found;
use super::pii::mask;
use super::{
    BatchContext, EnrichedRecord, Enricher, MAX_OUTPUT_RECORD_BYTES, MAX_PARTITION_KEY_CHARS,
    Prepared, ReferenceJoin,
};
use crate::encoding::{ObjectWriter, Rfc3339Millis};
use crate::origin::{RecordOrigin, SourceKind};
use crate::poison::{Poison, PoisonReason};
use crate::spec::PiiAction;

impl Enricher {
    /// Adds derived fields, metadata and reference data; protects PII; encodes.
    pub fn finish(
        &self,
        mut prepared: Prepared<'_>,
        origin: &RecordOrigin,
        reference: ReferenceJoin<'_>,
        batch: &BatchContext,
    ) -> Result<EnrichedRecord, Poison> {
        self.protect_nested(&mut prepared.parsed);
        let partition_key = match self.key_view(&prepared, &self.spec.partition_key) {
            Some(k) => truncate_chars(k.into_owned(), MAX_PARTITION_KEY_CHARS),
            None => String::new(),
        };
        let target = match (&self.spec.reference, reference) {
            (Some(spec), ReferenceJoin::Found(attrs)) => Some((spec.target.as_str(), attrs)),
            _ => None,
        };
        let mut w = ObjectWriter::new(prepared.text_len + 640);
        self.write_members(&mut w, &prepared, target.map(|(name, _)| name));
        write_derived(&mut w, prepared.event_time, origin);
        if let (Some((name, attrs)), Some(spec)) = (target, &self.spec.reference) {
            write_reference(&mut w, name, attrs, &spec.attributes);
        }
        self.write_ingest(&mut w, origin, reference, batch);
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

    /// The input members, verbatim unless a PII rule names them; the members the pipeline
    /// writes itself (and the reference target) are left out.
    fn write_members(&self, w: &mut ObjectWriter, prepared: &Prepared<'_>, target: Option<&str>) {
        for (key, raw) in &prepared.members.0 {
            let k: &str = &key.0;
            if is_reserved(k) || target == Some(k) {
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
    }

    /// `_ingest`: where the record came from, when, and what the pipeline did.
    fn write_ingest(
        &self,
        w: &mut ObjectWriter,
        origin: &RecordOrigin,
        reference: ReferenceJoin<'_>,
        batch: &BatchContext,
    ) {
        let (stream_key, shard_key, position_key) = match origin.source {
            SourceKind::Kinesis => ("stream", "shard", "sequence_number"),
            SourceKind::Msk => ("topic", "partition", "offset"),
        };
        let mut inner = w.object("_ingest");
        inner.plain("source", origin.source.as_str());
        inner.str(stream_key, &origin.stream);
        inner.str(shard_key, &origin.shard);
        inner.str(position_key, &origin.position);
        if let Some(sub) = origin.sub_sequence {
            // A KPL user record: with the sequence number, what the KCL would call it.
            inner.value("sub_sequence_number", &sub);
        }
        if let Some(arrival) = origin.arrival {
            inner.plain("arrival_time", Rfc3339Millis::new(arrival).as_str());
        }
        inner.plain("processed_at", &batch.processed_at);
        inner.str("spec", &self.spec.name);
        inner.plain("reference", reference.status());
        inner.close_into(w);
    }
}

/// `event_time`, `event_time_ms`, `dt`, `hour` and `_event_id`.
fn write_derived(w: &mut ObjectWriter, event_time: DateTime<Utc>, origin: &RecordOrigin) {
    let stamp = Rfc3339Millis::new(event_time);
    let stamp = stamp.as_str();
    w.plain("event_time", stamp);
    w.value("event_time_ms", &event_time.timestamp_millis());
    // `YYYY-MM-DD` and `HH` are slices of the stamp: no second formatting pass.
    w.plain("dt", &stamp[..10]);
    w.plain("hour", &stamp[11..13]);
    w.plain("_event_id", origin.event_id_hex().as_str());
}

/// Only the spec's attributes, written straight from the cached item (no copy).
fn write_reference(
    w: &mut ObjectWriter,
    name: &str,
    attrs: &Map<String, Value>,
    attributes: &[String],
) {
    let mut picked = w.object(name);
    for a in attributes {
        if let Some(v) = attrs.get(a) {
            picked.value(a, v);
        }
    }
    picked.close_into(w);
}

/// `RESERVED_FIELDS` as a match: checked for every member of every record.
pub(super) fn is_reserved(k: &str) -> bool {
    matches!(
        k,
        "event_time" | "event_time_ms" | "dt" | "hour" | "_event_id" | "_ingest"
    )
}

fn truncate_chars(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        s
    } else {
        s.chars().take(max).collect()
    }
}
