//! The fast path of [`super::protobuf`]: a proto3 message written to JSON text straight from
//! its bytes, walking the descriptor, with no `DynamicMessage` in between (no map, string or
//! list allocated per field). Output identical to the `DynamicMessage` path (a property test
//! holds the two to each other, on sound and damaged messages). Anything this path does not
//! take on (proto2 and editions files, a message field sent twice, which merges, a wire type
//! that does not fit, damaged bytes) hands the record back to that path, which gives the
//! answer, error included.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Syntax};

use super::protobuf::{write_float, write_message, write_str};

/// Deeper nesting than this goes to the `DynamicMessage` path (prost's own recursion limit).
const MAX_DEPTH: usize = 100;

/// `bytes` as JSON text, or `None`: the `DynamicMessage` path decides.
pub(super) fn to_json(desc: &MessageDescriptor, bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() * 2 + 16);
    message(desc, bytes, &mut out, 0)?;
    Some(out)
}

/// One field occurrence on the wire: its number, wire type and payload (a varint's value, or
/// the fixed or length-delimited bytes).
#[derive(Clone, Copy)]
struct Occurrence<'a> {
    number: u32,
    wire: u8,
    varint: u64,
    bytes: &'a [u8],
}

/// A varint as prost reads one: at most 10 bytes, the tenth at most 1 (no bits past 64).
fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..70).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        if shift == 63 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> Option<&'a [u8]> {
    let end = pos.checked_add(n).filter(|e| *e <= buf.len())?;
    let out = &buf[*pos..end];
    *pos = end;
    Some(out)
}

/// Every field occurrence of a message's bytes, in order.
fn scan(bytes: &[u8]) -> Option<Vec<Occurrence<'_>>> {
    let mut out = Vec::with_capacity(16);
    each_occurrence(bytes, |o| out.push(o))?;
    Some(out)
}

/// Calls `f` with each field occurrence of a message's bytes, in order; `None` when the bytes
/// are not a sound message.
fn each_occurrence<'a>(bytes: &'a [u8], mut f: impl FnMut(Occurrence<'a>)) -> Option<()> {
    let mut pos = 0;
    while pos < bytes.len() {
        let key = varint(bytes, &mut pos)?;
        let (number, wire) = (u32::try_from(key >> 3).ok()?, (key & 7) as u8);
        // 0 and numbers past 2^29 - 1 are not field numbers: the other path's error.
        if number == 0 || number > 536_870_911 {
            return None;
        }
        let mut o = Occurrence {
            number,
            wire,
            varint: 0,
            bytes: &[],
        };
        match wire {
            0 => o.varint = varint(bytes, &mut pos)?,
            1 => o.bytes = take(bytes, &mut pos, 8)?,
            2 => {
                let n = usize::try_from(varint(bytes, &mut pos)?).ok()?;
                o.bytes = take(bytes, &mut pos, n)?;
            }
            5 => o.bytes = take(bytes, &mut pos, 4)?,
            // Groups (3, 4) are proto2's; 6 and 7 are not wire types.
            _ => return None,
        }
        f(o);
    }
    Some(())
}

fn message(desc: &MessageDescriptor, bytes: &[u8], out: &mut Vec<u8>, depth: usize) -> Option<()> {
    if depth > MAX_DEPTH || desc.parent_file().syntax() != Syntax::Proto3 {
        return None;
    }
    if desc.full_name().starts_with("google.protobuf.") {
        // The well-known types' JSON forms are the other path's (they are small).
        let m = DynamicMessage::decode(desc.clone(), bytes).ok()?;
        // No JSON form (a Timestamp out of range): the other path says so.
        write_message(&m, out).ok()?;
        return Some(());
    }
    let occurrences = scan(bytes)?;
    out.push(b'{');
    let mut first = true;
    for field in desc.fields() {
        let number = field.number();
        let mut of_field = occurrences.iter().filter(|o| o.number == number).peekable();
        if field.supports_presence() && of_field.peek().is_none() {
            continue;
        }
        if let Some(oneof) = field.containing_oneof() {
            // Two members of one oneof sent: the last clears the others, the other path's.
            let others = oneof.fields().filter(|f| f.number() != number);
            if others
                .into_iter()
                .any(|f| occurrences.iter().any(|o| o.number == f.number()))
            {
                return None;
            }
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, field.name());
        out.push(b':');
        if field.is_map() {
            map(&field, of_field, out, depth)?;
        } else if field.is_list() {
            out.push(b'[');
            let mut n = 0;
            for o in of_field {
                list_items(&field.kind(), o, out, &mut n, depth)?;
            }
            out.push(b']');
        } else {
            let mut last = None;
            let mut count = 0;
            for o in of_field {
                last = Some(*o);
                count += 1;
            }
            match (last, field.kind()) {
                // A message sent twice is merged: the other path's.
                (Some(_), Kind::Message(_)) if count > 1 => return None,
                (Some(o), kind) => single(&kind, o, out, depth)?,
                (None, kind) => default(&kind, out),
            }
        }
    }
    out.push(b'}');
    Some(())
}

/// A repeated field's items in one occurrence: one item, or a packed run of numbers.
fn list_items(
    kind: &Kind,
    o: &Occurrence<'_>,
    out: &mut Vec<u8>,
    n: &mut usize,
    depth: usize,
) -> Option<()> {
    let packed = o.wire == 2 && wire_of(kind) != 2;
    if !packed {
        if *n > 0 {
            out.push(b',');
        }
        *n += 1;
        return single(kind, *o, out, depth);
    }
    let (buf, mut pos) = (o.bytes, 0);
    while pos < buf.len() {
        let mut item = Occurrence {
            number: o.number,
            wire: wire_of(kind),
            varint: 0,
            bytes: &[],
        };
        match item.wire {
            0 => item.varint = varint(buf, &mut pos)?,
            1 => item.bytes = take(buf, &mut pos, 8)?,
            _ => item.bytes = take(buf, &mut pos, 4)?,
        }
        if *n > 0 {
            out.push(b',');
        }
        *n += 1;
        single(kind, item, out, depth)?;
    }
    Some(())
}

/// The wire type a kind is written with.
fn wire_of(kind: &Kind) -> u8 {
    match kind {
        Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => 1,
        Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => 5,
        Kind::String | Kind::Bytes | Kind::Message(_) => 2,
        _ => 0,
    }
}

fn single(kind: &Kind, o: Occurrence<'_>, out: &mut Vec<u8>, depth: usize) -> Option<()> {
    if o.wire != wire_of(kind) {
        return None;
    }
    let fixed = |b: &[u8]| -> u64 {
        let mut v = [0u8; 8];
        v[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(v)
    };
    let v = o.varint;
    match kind {
        Kind::Double => {
            let f = f64::from_bits(fixed(o.bytes));
            write_float(out, f.is_finite(), &f, f);
        }
        Kind::Float => {
            let f = f32::from_bits(fixed(o.bytes) as u32);
            write_float(out, f.is_finite(), &f, f64::from(f));
        }
        Kind::Int32 => number(out, v as i32),
        Kind::Int64 => number(out, v as i64),
        Kind::Uint32 => number(out, v as u32),
        Kind::Uint64 => number(out, v),
        Kind::Sint32 => number(out, ((v as u32) >> 1) as i32 ^ -((v & 1) as i32)),
        Kind::Sint64 => number(out, (v >> 1) as i64 ^ -((v & 1) as i64)),
        Kind::Fixed32 => number(out, fixed(o.bytes) as u32),
        Kind::Fixed64 => number(out, fixed(o.bytes)),
        Kind::Sfixed32 => number(out, fixed(o.bytes) as u32 as i32),
        Kind::Sfixed64 => number(out, fixed(o.bytes) as i64),
        Kind::Bool => out.extend_from_slice(if v != 0 { b"true" } else { b"false" }),
        Kind::String => write_str(out, simdutf8::basic::from_utf8(o.bytes).ok()?),
        Kind::Bytes => write_str(out, &STANDARD.encode(o.bytes)),
        Kind::Enum(e) => {
            let n = v as i32;
            if e.full_name() == "google.protobuf.NullValue" {
                out.extend_from_slice(b"null");
            } else {
                match e.get_value(n) {
                    Some(value) => write_str(out, value.name()),
                    None => number(out, n),
                }
            }
        }
        Kind::Message(m) => message(m, o.bytes, out, depth + 1)?,
    }
    Some(())
}

/// A field without presence that was not sent: its default.
fn default(kind: &Kind, out: &mut Vec<u8>) {
    match kind {
        Kind::Double | Kind::Float => out.extend_from_slice(b"0.0"),
        Kind::Bool => out.extend_from_slice(b"false"),
        Kind::String | Kind::Bytes => out.extend_from_slice(b"\"\""),
        Kind::Enum(e) => {
            let value = e.default_value();
            if e.full_name() == "google.protobuf.NullValue" {
                out.extend_from_slice(b"null");
            } else {
                write_str(out, value.name());
            }
        }
        // Messages have presence: never written by default.
        Kind::Message(_) => out.extend_from_slice(b"{}"),
        _ => out.push(b'0'),
    }
}

/// A map field: its entries (key 1, value 2, either may be missing), keys sorted as text, the
/// last of duplicate keys kept; as the other path writes a map.
fn map<'a>(
    field: &FieldDescriptor,
    entries: impl Iterator<Item = &'a Occurrence<'a>>,
    out: &mut Vec<u8>,
    depth: usize,
) -> Option<()> {
    let Kind::Message(entry) = field.kind() else {
        return None;
    };
    let (key_kind, value_kind) = (
        entry.map_entry_key_field().kind(),
        entry.map_entry_value_field().kind(),
    );
    out.push(b'{');
    let start = out.len();
    // Each entry's key text and its `"key":value` range in `out`.
    let mut members: Vec<(Cow<'a, str>, usize, usize)> = Vec::new();
    for e in entries {
        if e.wire != 2 {
            return None;
        }
        // The entry's last key, last value and how many values (a map entry is small: read
        // in place, nothing collected).
        let (mut key_at, mut value_at, mut values) = (None, None, 0);
        each_occurrence(e.bytes, |o| match o.number {
            1 => key_at = Some(o),
            2 => {
                value_at = Some(o);
                values += 1;
            }
            _ => {}
        })?;
        let key: Cow<'a, str> = match (key_at, &key_kind) {
            (Some(k), Kind::String) if k.wire == 2 => {
                Cow::Borrowed(simdutf8::basic::from_utf8(k.bytes).ok()?)
            }
            (Some(k), kind) => {
                let mut text = Vec::new();
                single(kind, k, &mut text, depth)?;
                Cow::Owned(String::from_utf8(text).ok()?)
            }
            (None, Kind::String) => Cow::Borrowed(""),
            (None, Kind::Bool) => Cow::Borrowed("false"),
            (None, _) => Cow::Borrowed("0"),
        };
        if !members.is_empty() {
            out.push(b',');
        }
        let from = out.len();
        write_str(out, &key);
        out.push(b':');
        match (value_at, &value_kind) {
            // A message value sent twice is merged: the other path's.
            (Some(_), Kind::Message(_)) if values > 1 => return None,
            (Some(v), kind) => single(kind, v, out, depth)?,
            (None, Kind::Message(m)) => message(m, &[], out, depth + 1)?,
            (None, kind) => default(kind, out),
        }
        members.push((key, from, out.len()));
    }
    if members.windows(2).any(|w| w[0].0 >= w[1].0) {
        let written = out.split_off(start);
        // Stable: among equal keys the last read stays last, and is the one kept.
        members.sort_by(|a, b| a.0.cmp(&b.0));
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
    Some(())
}

fn number(out: &mut Vec<u8>, v: impl serde::Serialize) {
    serde_json::to_writer(&mut *out, &v).expect("an integer serializes");
}

#[cfg(test)]
mod tests {
    use super::super::protobuf::{ProtoSchema, to_json as dispatch, with_dynamic_message};
    use super::*;

    const SCHEMA: &str = r#"syntax = "proto3"; package t;
        message Inner { string s = 1; int32 n = 2; }
        message M {
          map<string, int32> counts = 1;
          repeated sint32 packed = 2;
          oneof pick { string a = 3; int32 b = 4; }
          Inner inner = 5;
          map<int64, Inner> by_id = 6;
          string last = 7;
        }"#;

    fn desc() -> MessageDescriptor {
        ProtoSchema::parse(SCHEMA).unwrap().message("t.M").unwrap()
    }

    /// A map<string, int32> entry of field 1.
    fn entry(key: &str, value: u8) -> Vec<u8> {
        let mut e = vec![0x0a, key.len() as u8];
        e.extend_from_slice(key.as_bytes());
        e.extend_from_slice(&[0x10, value]);
        [vec![0x0a, e.len() as u8], e].concat()
    }

    #[test]
    fn maps_sort_keep_the_last_duplicate_and_packed_lists_read_as_the_other_path() {
        let d = desc();
        // Keys b, a, b (the last b wins); sint32 [-1, 1] packed; a string sent twice.
        let bytes = [
            entry("b", 1),
            entry("a", 2),
            entry("b", 3),
            vec![0x12, 2, 1, 2],
            vec![0x3a, 1, b'x', 0x3a, 1, b'y'],
        ]
        .concat();
        let fast = to_json(&d, &bytes).expect("the fast path takes it");
        assert_eq!(
            std::str::from_utf8(&fast).unwrap(),
            r#"{"counts":{"a":2,"b":3},"packed":[-1,1],"by_id":{},"last":"y"}"#
        );
        assert_eq!(Ok(fast), with_dynamic_message(&d, &bytes));
    }

    #[test]
    fn merges_and_oneof_overrides_go_to_the_other_path_with_the_same_answer() {
        let d = desc();
        let cases: [Vec<u8>; 4] = [
            // Both members of the oneof: the last clears the first.
            vec![0x1a, 1, b'x', 0x20, 5],
            // The message field twice: merged.
            vec![0x2a, 3, 0x0a, 1, b'x', 0x2a, 2, 0x10, 7],
            // A string field sent as a varint.
            vec![0x3a - 2, 1],
            // A map entry whose message value is missing, keyed by a number.
            vec![0x32, 2, 0x08, 0x03],
        ];
        for bytes in &cases {
            assert_eq!(
                dispatch(&d, bytes),
                with_dynamic_message(&d, bytes),
                "{bytes:?}"
            );
        }
        assert!(to_json(&d, &cases[0]).is_none() && to_json(&d, &cases[1]).is_none());
        assert_eq!(
            to_json(&d, &cases[3]).map(String::from_utf8),
            Some(Ok(
                r#"{"counts":{},"packed":[],"by_id":{"3":{"s":"","n":0}},"last":""}"#.into()
            ))
        );
    }
}
