//! An Avro binary body to the JSON document the pipeline validates and enriches. Pure.
//!
//! Decoding is the `apache-avro` crate's (the Apache project's Rust implementation, with the
//! specification's schema resolution); the JSON text is written here, straight from its value,
//! with no intermediate `serde_json::Value`. The mapping is the plain one a JSON consumer
//! wants, not Avro's own JSON encoding: a union is its branch's value (no `{"type": v}`
//! wrapper), an enum its symbol, bytes and fixed base64, map keys sorted (so output is
//! deterministic), logical types their underlying number (so `timestamp-millis` works with
//! the spec's epoch event-time formats), a UUID its string.

use std::io::Write;

use apache_avro::Schema;
use apache_avro::types::Value as Avro;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::direct::{self, Stop};
use super::wire::MAX_INFLATED_BYTES;

/// Why a body did not become a JSON document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvroError {
    /// The body does not decode with the writer schema (or has bytes left over).
    #[error("{0}")]
    Undecodable(String),
    /// The writer schema does not resolve to the reader schema.
    #[error("{0}")]
    Mismatch(String),
}

/// `body`, written with `writer`, read as `reader` (the writer's own schema when `None`), as
/// JSON text.
pub fn to_json(
    writer: &Schema,
    reader: Option<&Schema>,
    body: &[u8],
) -> Result<Vec<u8>, AvroError> {
    // A length or item count read from a damaged body is checked against this before the
    // crate allocates (its default allows 512 MB): no legitimate value is larger than the
    // largest body enrich accepts. Set once per process; later calls only read it.
    apache_avro::util::max_allocation_bytes(MAX_INFLATED_BYTES);
    if reader.is_none() {
        match direct::to_json(writer, body) {
            Ok(json) => return Ok(json),
            Err(Stop::Bad(e)) => return Err(e),
            Err(Stop::Unsupported) => {}
        }
    }
    with_the_crate(writer, reader, body)
}

/// [`to_json`] through the crate's reader (a `Value` tree, then resolution to `reader`): the
/// path for reader schemas and the schema parts the fast path leaves alone.
#[doc(hidden)]
pub fn with_the_crate(
    writer: &Schema,
    reader: Option<&Schema>,
    body: &[u8],
) -> Result<Vec<u8>, AvroError> {
    let mut rest = body;
    let value = apache_avro::from_avro_datum(writer, &mut rest, None)
        .map_err(|e| AvroError::Undecodable(format!("Avro body does not decode: {e}")))?;
    if !rest.is_empty() {
        // A body the schema accounts for only in part is not what the producer wrote.
        return Err(AvroError::Undecodable(format!(
            "Avro body has {} byte(s) left after the value",
            rest.len()
        )));
    }
    let value = match reader {
        Some(reader) => value.resolve(reader).map_err(|e| {
            AvroError::Mismatch(format!(
                "writer schema does not resolve to the reader schema: {e}"
            ))
        })?,
        None => value,
    };
    let mut out = Vec::with_capacity(body.len() * 2 + 16);
    write_json(&value, &mut out)?;
    Ok(out)
}

fn write_json(v: &Avro, out: &mut Vec<u8>) -> Result<(), AvroError> {
    match v {
        Avro::Null => out.extend_from_slice(b"null"),
        Avro::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Avro::Int(i) | Avro::Date(i) | Avro::TimeMillis(i) => write_display(out, i),
        Avro::Long(i)
        | Avro::TimeMicros(i)
        | Avro::TimestampMillis(i)
        | Avro::TimestampMicros(i)
        | Avro::TimestampNanos(i)
        | Avro::LocalTimestampMillis(i)
        | Avro::LocalTimestampMicros(i)
        | Avro::LocalTimestampNanos(i) => write_display(out, i),
        Avro::Float(f) => write_float(out, f.is_finite(), f)?,
        Avro::Double(f) => write_float(out, f.is_finite(), f)?,
        Avro::Bytes(b) | Avro::Fixed(_, b) => write_str(out, &STANDARD.encode(b)),
        Avro::Decimal(d) => {
            // The unscaled two's-complement bytes: the scale is in the schema, not the value.
            let bytes = Vec::<u8>::try_from(d)
                .map_err(|e| AvroError::Undecodable(format!("decimal: {e}")))?;
            write_str(out, &STANDARD.encode(bytes));
        }
        Avro::BigDecimal(d) => write_str(out, &d.to_string()),
        Avro::String(s) | Avro::Enum(_, s) => write_str(out, s),
        Avro::Uuid(u) => write_str(out, &u.to_string()),
        Avro::Union(_, inner) => write_json(inner, out)?,
        Avro::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(item, out)?;
            }
            out.push(b']');
        }
        Avro::Map(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            write_object(out, entries.into_iter().map(|(k, v)| (k.as_str(), v)))?;
        }
        Avro::Record(fields) => write_object(out, fields.iter().map(|(k, v)| (k.as_str(), v)))?,
        Avro::Duration(d) => {
            let (months, days, millis): (u32, u32, u32) =
                (d.months().into(), d.days().into(), d.millis().into());
            write!(
                out,
                r#"{{"months":{months},"days":{days},"millis":{millis}}}"#
            )
            .expect("writing to a Vec cannot fail");
        }
    }
    Ok(())
}

fn write_object<'v>(
    out: &mut Vec<u8>,
    members: impl Iterator<Item = (&'v str, &'v Avro)>,
) -> Result<(), AvroError> {
    out.push(b'{');
    for (i, (name, value)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, name);
        out.push(b':');
        write_json(value, out)?;
    }
    out.push(b'}');
    Ok(())
}

fn write_display(out: &mut Vec<u8>, n: impl std::fmt::Display) {
    write!(out, "{n}").expect("writing to a Vec cannot fail");
}

/// serde_json's float form (the shortest that reads back, f32 as f32); JSON has no NaN or
/// infinity, so such a value cannot be carried.
pub(super) fn write_float<F: serde::Serialize>(
    out: &mut Vec<u8>,
    finite: bool,
    f: &F,
) -> Result<(), AvroError> {
    if !finite {
        return Err(AvroError::Undecodable(
            "a float that is NaN or infinite has no JSON form".into(),
        ));
    }
    serde_json::to_writer(&mut *out, f).expect("a finite float serializes");
    Ok(())
}

pub(super) fn write_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("a string serializes");
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::to_avro_datum;
    use apache_avro::types::Record;

    const V1: &str = r#"{"type":"record","name":"Click","namespace":"streamops","fields":[
        {"name":"user_id","type":"string"},
        {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"page","type":["null","string"],"default":null},
        {"name":"tags","type":{"type":"map","values":"int"}},
        {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["VIEW","BUY"]}},
        {"name":"raw","type":"bytes"},
        {"name":"score","type":"float"}]}"#;

    fn v1_body(score: f32) -> Vec<u8> {
        let schema = Schema::parse_str(V1).unwrap();
        let mut r = Record::new(&schema).unwrap();
        r.put("user_id", "u-1 \"quoted\"");
        r.put("ts", Avro::TimestampMillis(1_763_892_000_123));
        r.put(
            "page",
            Avro::Union(1, Box::new(Avro::String("/home".into()))),
        );
        r.put(
            "tags",
            Avro::Map(
                [
                    ("b".to_string(), Avro::Int(2)),
                    ("a".to_string(), Avro::Int(1)),
                ]
                .into(),
            ),
        );
        r.put("kind", Avro::Enum(1, "BUY".into()));
        r.put("raw", Avro::Bytes(vec![0xff, 0]));
        r.put("score", Avro::Float(score));
        to_avro_datum(&schema, r).unwrap()
    }

    #[test]
    fn a_record_becomes_the_plain_json_document() {
        let schema = Schema::parse_str(V1).unwrap();
        let json = to_json(&schema, None, &v1_body(0.1)).unwrap();
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"user_id":"u-1 \"quoted\"","ts":1763892000123,"page":"/home","tags":{"a":1,"b":2},"kind":"BUY","raw":"/wA=","score":0.1}"#
        );
    }

    #[test]
    fn an_older_compatible_writer_resolves_to_the_reader_schema() {
        // v2 adds a field with a default and drops none: a v1 record reads as v2.
        let v2 = V1.replace(
            r#"{"name":"score","type":"float"}]"#,
            r#"{"name":"score","type":"double"},{"name":"country","type":"string","default":"zz"}]"#,
        );
        let (writer, reader) = (
            Schema::parse_str(V1).unwrap(),
            Schema::parse_str(&v2).unwrap(),
        );
        let json = to_json(&writer, Some(&reader), &v1_body(0.5)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["country"], "zz");
        assert_eq!(v["score"], 0.5);
        // A reader that needs a field the writer lacks, with no default, is a mismatch.
        let v3 = V1.replace(
            r#"{"name":"score","type":"float"}]"#,
            r#"{"name":"score","type":"float"},{"name":"must","type":"int"}]"#,
        );
        let err = to_json(
            &writer,
            Some(&Schema::parse_str(&v3).unwrap()),
            &v1_body(0.5),
        );
        assert!(matches!(err, Err(AvroError::Mismatch(_))), "{err:?}");
    }

    #[test]
    fn truncated_trailing_and_unrepresentable_bodies_are_undecodable() {
        let schema = Schema::parse_str(V1).unwrap();
        let body = v1_body(1.0);
        for bad in [
            &body[..body.len() - 2],
            &[body.as_slice(), &[0]].concat()[..],
            &[],
        ] {
            assert!(matches!(
                to_json(&schema, None, bad),
                Err(AvroError::Undecodable(_))
            ));
        }
        let err = to_json(&schema, None, &v1_body(f32::NAN)).unwrap_err();
        assert!(err.to_string().contains("NaN"), "{err}");
    }
}
