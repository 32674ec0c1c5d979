//! Writing JSON and text by hand on the per-record path: JSON strings and objects member by
//! member, lowercase hex, RFC 3339 timestamps with milliseconds, and the name of a value's
//! JSON kind. Each is a measured replacement for a general routine (the serializer, `hex`,
//! chrono's formatter) that dominated the per-record cost in the benchmark. No I/O, no AWS.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Appends `s` as a JSON string. Most keys and values need no escaping; checking for that is
/// cheaper than the general escaper, which is the fallback.
pub(crate) fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    if !needs_escape(s) {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        // A str into a Vec: neither the value nor the writer can fail.
        serde_json::to_writer(buf, s).expect("writing to a Vec");
    }
}

pub(crate) fn needs_escape(s: &str) -> bool {
    // A fold, not `any`: no early exit, so the check vectorises.
    s.bytes().fold(false, |acc, b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

/// Writes a JSON object member by member.
pub(crate) struct ObjectWriter {
    buf: Vec<u8>,
    first: bool,
}

impl ObjectWriter {
    pub(crate) fn new(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity);
        buf.push(b'{');
        Self { buf, first: true }
    }

    pub(crate) fn key(&mut self, k: &str) -> &mut Vec<u8> {
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
    pub(crate) fn plain(&mut self, k: &str, v: &str) {
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
    pub(crate) fn str(&mut self, k: &str, v: &str) {
        let buf = self.key(k);
        push_json_str(buf, v);
    }

    pub(crate) fn raw(&mut self, k: &str, raw: &str) {
        self.key(k).extend_from_slice(raw.as_bytes());
    }

    pub(crate) fn value<T: serde::Serialize + ?Sized>(&mut self, k: &str, v: &T) {
        let buf = self.key(k);
        // Writing to a Vec cannot fail, and the values written here (numbers, strings, JSON
        // values) have no map with non-string keys, serde_json's only serialization error.
        serde_json::to_writer(buf, v).expect("writing to a Vec");
    }

    /// Starts an object member `k`: the returned writer takes over the buffer until it is
    /// handed back with [`ObjectWriter::close_into`].
    pub(crate) fn object(&mut self, k: &str) -> ObjectWriter {
        let mut buf = std::mem::take(self.key(k));
        buf.push(b'{');
        ObjectWriter { buf, first: true }
    }

    /// Closes a member object started with [`ObjectWriter::object`] and gives the buffer back.
    pub(crate) fn close_into(self, outer: &mut ObjectWriter) {
        outer.buf = self.close();
    }

    pub(crate) fn close(mut self) -> Vec<u8> {
        self.buf.push(b'}');
        self.buf
    }
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
        // Built from ASCII digits and separators only (see `new`).
        std::str::from_utf8(&self.0).expect("ASCII digits and separators")
    }
}

/// The JSON kind of a value, as poison messages name it.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
