//! The fast path of [`super::avro`]: an Avro body written straight to JSON text while it is
//! read, walking the writer schema, with no `apache_avro::types::Value` tree in between (and no
//! per-record set-up: the crate's reader builds its table of named types for every datum). Used
//! when values are read as their writer's schema; output identical to the crate's path (a
//! property test holds the two to each other, on sound and damaged bodies). A schema part this
//! path does not cover (named-type references, decimal, uuid, duration) hands the record back
//! to the crate's path.

use super::avro::{AvroError, write_float, write_str};
use super::wire::MAX_INFLATED_BYTES;
use apache_avro::Schema;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Why the fast path stopped.
pub(super) enum Stop {
    /// The body does not decode (as the crate would also say).
    Bad(AvroError),
    /// A schema part this path leaves to the crate.
    Unsupported,
}

fn bad(message: impl Into<String>) -> Stop {
    Stop::Bad(AvroError::Undecodable(format!(
        "Avro body does not decode: {}",
        message.into()
    )))
}

/// `body` as JSON text, read as `schema`.
pub(super) fn to_json(schema: &Schema, body: &[u8]) -> Result<Vec<u8>, Stop> {
    let mut r = Reader { buf: body, pos: 0 };
    let mut out = Vec::with_capacity(body.len() * 2 + 16);
    r.value(schema, &mut out)?;
    if r.pos != body.len() {
        return Err(Stop::Bad(AvroError::Undecodable(format!(
            "Avro body has {} byte(s) left after the value",
            body.len() - r.pos
        ))));
    }
    Ok(out)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A zigzag varint of at most 10 bytes.
    fn long(&mut self) -> Result<i64, Stop> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(bad("the value ends inside a number"));
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok((v >> 1) as i64 ^ -((v & 1) as i64));
            }
        }
        Err(bad("a number is longer than 10 bytes"))
    }

    fn int(&mut self) -> Result<i32, Stop> {
        let v = self.long()?;
        i32::try_from(v).map_err(|_| bad(format!("int {v} is out of range")))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let Some(end) = end else {
            return Err(bad(format!("{n} bytes claimed where fewer are left")));
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// A length (of bytes or a string), or an item count; as the crate limits them.
    fn len(&mut self) -> Result<usize, Stop> {
        let n = self.long()?;
        match usize::try_from(n) {
            Ok(n) if n <= MAX_INFLATED_BYTES => Ok(n),
            _ => Err(bad(format!("length {n} is negative or too large"))),
        }
    }

    fn text(&mut self) -> Result<&'a str, Stop> {
        let n = self.len()?;
        let bytes = self.take(n)?;
        simdutf8::basic::from_utf8(bytes).map_err(|_| bad("a string is not UTF-8"))
    }

    /// The next block's item count (0: the end); a negative count is followed by the block's
    /// size in bytes, which is skipped.
    fn block(&mut self) -> Result<usize, Stop> {
        let n = self.long()?;
        if n < 0 {
            self.long()?;
        }
        let count = n.unsigned_abs();
        match usize::try_from(count) {
            Ok(c) if c <= MAX_INFLATED_BYTES => Ok(c),
            _ => Err(bad(format!("block of {count} items is too large"))),
        }
    }

    fn value(&mut self, schema: &Schema, out: &mut Vec<u8>) -> Result<(), Stop> {
        match schema {
            Schema::Null => out.extend_from_slice(b"null"),
            Schema::Boolean => match self.take(1)?[0] {
                0 => out.extend_from_slice(b"false"),
                1 => out.extend_from_slice(b"true"),
                b => return Err(bad(format!("boolean byte {b}"))),
            },
            Schema::Int | Schema::Date | Schema::TimeMillis => {
                let v = self.int()?;
                write_number(out, v.into());
            }
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => {
                let v = self.long()?;
                write_number(out, v);
            }
            Schema::Float => {
                let b = self.take(4)?;
                let f = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                write_float(out, f.is_finite(), &f).map_err(Stop::Bad)?;
            }
            Schema::Double => {
                let b = self.take(8)?;
                let f = f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                write_float(out, f.is_finite(), &f).map_err(Stop::Bad)?;
            }
            Schema::Bytes => {
                let n = self.len()?;
                let b = self.take(n)?;
                write_str(out, &STANDARD.encode(b));
            }
            Schema::Fixed(f) => {
                let b = self.take(f.size)?;
                write_str(out, &STANDARD.encode(b));
            }
            Schema::String => {
                let s = self.text()?;
                write_str(out, s);
            }
            Schema::Enum(e) => {
                let symbol = self.index(&e.symbols, "enum")?;
                write_str(out, symbol);
            }
            Schema::Union(u) => {
                let branch = self.index(u.variants(), "union")?;
                self.value(branch, out)?;
            }
            Schema::Array(a) => self.array(&a.items, out)?,
            Schema::Map(m) => self.map(&m.types, out)?,
            Schema::Record(rec) => {
                out.push(b'{');
                for (i, field) in rec.fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(out, &field.name);
                    out.push(b':');
                    self.value(&field.schema, out)?;
                }
                out.push(b'}');
            }
            Schema::Decimal(_)
            | Schema::BigDecimal
            | Schema::Uuid
            | Schema::Duration
            | Schema::Ref { .. } => return Err(Stop::Unsupported),
        }
        Ok(())
    }

    /// The entry of `of` a zigzag index names (an enum's symbol, a union's branch).
    fn index<'s, T>(&mut self, of: &'s [T], what: &str) -> Result<&'s T, Stop> {
        let i = self.long()?;
        usize::try_from(i)
            .ok()
            .and_then(|i| of.get(i))
            .ok_or_else(|| bad(format!("{what} index {i} is out of range")))
    }

    fn array(&mut self, items: &Schema, out: &mut Vec<u8>) -> Result<(), Stop> {
        out.push(b'[');
        let mut first = true;
        loop {
            let n = self.block()?;
            if n == 0 {
                break;
            }
            for _ in 0..n {
                if !first {
                    out.push(b',');
                }
                first = false;
                self.value(items, out)?;
            }
        }
        out.push(b']');
        Ok(())
    }

    /// Members sorted by key, the last of duplicates kept: as the crate's path writes a map.
    /// Written in the order read; re-ordered only when the keys are not already strictly
    /// increasing (producers' maps mostly are not: hash order).
    fn map(&mut self, values: &Schema, out: &mut Vec<u8>) -> Result<(), Stop> {
        out.push(b'{');
        let start = out.len();
        // Each member's key and its `"key":value` range in `out`.
        let mut members: Vec<(&'a str, usize, usize)> = Vec::new();
        let mut ordered = true;
        loop {
            let n = self.block()?;
            if n == 0 {
                break;
            }
            members.reserve(n.min(64));
            for _ in 0..n {
                let key = self.text()?;
                if !members.is_empty() {
                    out.push(b',');
                }
                ordered &= members.last().is_none_or(|last| last.0 < key);
                let from = out.len();
                write_str(out, key);
                out.push(b':');
                self.value(values, out)?;
                members.push((key, from, out.len()));
            }
        }
        if !ordered {
            let written = out.split_off(start);
            // Stable: among equal keys the last read stays last, and is the one kept.
            members.sort_by(|a, b| a.0.cmp(b.0));
            let mut first = true;
            for (i, (key, from, to)) in members.iter().enumerate() {
                if members.get(i + 1).is_some_and(|next| next.0 == *key) {
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(&written[from - start..to - start]);
            }
        }
        out.push(b'}');
        Ok(())
    }
}

/// serde_json's integer writer (itoa), faster than `fmt`.
fn write_number(out: &mut Vec<u8>, v: i64) {
    serde_json::to_writer(&mut *out, &v).expect("an integer serializes");
}

#[cfg(test)]
mod tests {
    use super::super::avro::{to_json as dispatch, with_the_crate};
    use super::*;

    #[test]
    fn schema_parts_left_to_the_crate_still_decode_through_it() {
        let schema = Schema::parse_str(
            r#"{"type":"record","name":"R","fields":[
                {"name":"id","type":{"type":"string","logicalType":"uuid"}},
                {"name":"n","type":"int"}]}"#,
        )
        .unwrap();
        let mut body = vec![72];
        body.extend_from_slice(b"5b8a1f32-0c2e-4f5e-9a7b-3c1d2e4f6a7b");
        body.push(4);
        assert!(matches!(to_json(&schema, &body), Err(Stop::Unsupported)));
        let json = dispatch(&schema, None, &body).unwrap();
        assert_eq!(json, with_the_crate(&schema, None, &body).unwrap());
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"id":"5b8a1f32-0c2e-4f5e-9a7b-3c1d2e4f6a7b","n":2}"#
        );
    }

    #[test]
    fn maps_are_sorted_with_the_last_duplicate_kept_and_negative_blocks_read() {
        let schema = Schema::parse_str(r#"{"type":"map","values":"int"}"#).unwrap();
        // A block of -3 items (its byte size follows), keys b, a, b; then the end.
        let body = [5, 18, 2, b'b', 2, 2, b'a', 4, 2, b'b', 6, 0];
        let json = to_json(&schema, &body).ok().unwrap();
        assert_eq!(std::str::from_utf8(&json).unwrap(), r#"{"a":2,"b":3}"#);
        assert_eq!(json, with_the_crate(&schema, None, &body).unwrap());
    }
}
