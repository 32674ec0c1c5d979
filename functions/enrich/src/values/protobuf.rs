//! Protobuf values: a schema's .proto text compiled at runtime, the message a body names (by
//! Glue's or Confluent's message index), and a message to the JSON document the pipeline reads.
//! Pure.
//!
//! Compiling is `protox`'s (a protobuf compiler in Rust, no `protoc`), decoding
//! `prost-reflect`'s (`DynamicMessage` on the compiled descriptors); the JSON text is written
//! here. The mapping is proto3's JSON mapping with the choices a JSON consumer of the spec
//! wants: the .proto field names (`user_id`, not `userId`), every field without presence
//! written even when it holds its default (so a required string that is empty is still there),
//! fields with presence (`optional`, messages, oneofs) only when set, enums by name (an
//! unknown number as the number), 64-bit integers as JSON numbers (all 64 bits: the text is
//! the integer, never a float), bytes base64, map keys sorted (so output is deterministic), NaN
//! and infinities as proto3's strings; the well-known types (`google.protobuf.Timestamp` an
//! RFC 3339 string, Duration, wrappers, Struct, ...) as proto3 maps them, by `prost-reflect`.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FileDescriptor, Kind, MapKey, MessageDescriptor,
    ReflectMessage, SerializeOptions, Value,
};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

/// The name the schema's text is compiled under (a registry's definition has none).
const FILE_NAME: &str = "schema.proto";
/// More nesting than this in a Confluent index array is not a schema's: damaged bytes.
const MAX_INDEXES: u64 = 64;

/// Why a body did not become a JSON document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// The message bytes do not decode with the message type (truncated, a wrong wire type,
    /// invalid UTF-8 in a string), or the index in front of them is damaged.
    #[error("{0}")]
    Undecodable(String),
    /// The framing names a message the schema does not have.
    #[error("{0}")]
    Mismatch(String),
}

/// A compiled .proto schema, as a registry holds one.
#[derive(Debug, Clone)]
pub struct ProtoSchema {
    file: FileDescriptor,
    /// Every message type of the file, nested ones and map entries too, sorted by full name:
    /// the list Glue's message index points into.
    glue_order: Vec<MessageDescriptor>,
}

impl ProtoSchema {
    /// `text`, a .proto file; imports of Google's well-known types resolve, others do not
    /// (neither registry's references are followed).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut resolver = ChainFileResolver::new();
        resolver.add(OneFile(text.to_string()));
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true);
        compiler.open_file(FILE_NAME).map_err(|e| e.to_string())?;
        let pool: DescriptorPool = compiler.descriptor_pool();
        let file = pool
            .get_file_by_name(FILE_NAME)
            .ok_or_else(|| "the compiled schema has no file".to_string())?;
        let mut glue_order = Vec::new();
        let mut queue: std::collections::VecDeque<_> = file.messages().collect();
        while let Some(m) = queue.pop_front() {
            queue.extend(m.child_messages());
            glue_order.push(m);
        }
        glue_order.sort_by(|a, b| a.full_name().cmp(b.full_name()));
        Ok(Self { file, glue_order })
    }

    /// The index Glue's serializer writes for the message type `full_name`.
    pub fn glue_index(&self, full_name: &str) -> Option<usize> {
        self.glue_order
            .iter()
            .position(|m| m.full_name() == full_name)
    }

    /// The message type named `full_name` (`package.Message`), if the schema has it.
    pub fn message(&self, full_name: &str) -> Option<MessageDescriptor> {
        self.file.parent_pool().get_message_by_name(full_name)
    }
}

/// The resolver of the one file a schema is.
struct OneFile(String);

impl FileResolver for OneFile {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == FILE_NAME {
            File::from_source(name, &self.0)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

/// The message type of bare `protobuf` values, from configuration.
#[derive(Debug, Clone)]
pub struct FixedMessage {
    message: MessageDescriptor,
}

impl FixedMessage {
    pub fn new(schema: &ProtoSchema, full_name: &str) -> Result<Self, String> {
        let message = schema.message(full_name).ok_or_else(|| {
            let names: Vec<_> = schema.glue_order.iter().map(|m| m.full_name()).collect();
            format!(
                "the schema has no message {full_name} (it has {})",
                names.join(", ")
            )
        })?;
        Ok(Self { message })
    }

    pub fn name(&self) -> &str {
        self.message.full_name()
    }

    pub fn descriptor(&self) -> &MessageDescriptor {
        &self.message
    }
}

/// Glue's body: the message index (an unsigned varint into [`ProtoSchema::glue_order`]), then
/// the message. Returns the message type and the message bytes.
pub fn glue_message<'b>(
    schema: &ProtoSchema,
    body: &'b [u8],
) -> Result<(MessageDescriptor, &'b [u8]), ProtoError> {
    let mut r = Varints { buf: body, pos: 0 };
    let index = r.next("Glue message index")?;
    let message = usize::try_from(index)
        .ok()
        .and_then(|i| schema.glue_order.get(i))
        .ok_or_else(|| {
            ProtoError::Mismatch(format!(
                "message index {index} names no message (the schema has {})",
                schema.glue_order.len()
            ))
        })?;
    Ok((message.clone(), &body[r.pos..]))
}

/// Confluent's body: the message indexes (a zig-zag varint count, then as many zig-zag varint
/// indexes: the top-level message, then nested ones; a lone `0` is `[0]`, the first message),
/// then the message.
pub fn confluent_message<'b>(
    schema: &ProtoSchema,
    body: &'b [u8],
) -> Result<(MessageDescriptor, &'b [u8]), ProtoError> {
    let mut r = Varints { buf: body, pos: 0 };
    let count = zigzag(r.next("Confluent message index count")?);
    let path: Vec<i64> = match count {
        0 => vec![0],
        n if n < 0 || n as u64 > MAX_INDEXES => {
            return Err(ProtoError::Undecodable(format!(
                "Confluent message index count {n} is out of range"
            )));
        }
        n => (0..n)
            .map(|_| r.next("Confluent message index").map(zigzag))
            .collect::<Result<_, _>>()?,
    };
    let mismatch = || {
        ProtoError::Mismatch(format!(
            "message indexes {path:?} name no message of the schema"
        ))
    };
    let index = |i: i64| usize::try_from(i).map_err(|_| mismatch());
    let mut message = schema
        .file
        .messages()
        .nth(index(path[0])?)
        .ok_or_else(mismatch)?;
    for &i in &path[1..] {
        let child = message.child_messages().nth(index(i)?);
        message = child.ok_or_else(mismatch)?;
    }
    Ok((message, &body[r.pos..]))
}

fn zigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

struct Varints<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Varints<'_> {
    fn next(&mut self, what: &str) -> Result<u64, ProtoError> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(ProtoError::Undecodable(format!(
                    "the value ends inside the {what}"
                )));
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ProtoError::Undecodable(format!(
            "the {what} is longer than 10 bytes"
        )))
    }
}

/// `bytes`, a message of type `message`, as JSON text: straight from the bytes
/// (`protodirect.rs`) when that path takes the message, else through a `DynamicMessage`.
pub fn to_json(message: &MessageDescriptor, bytes: &[u8]) -> Result<Vec<u8>, ProtoError> {
    match super::protodirect::to_json(message, bytes) {
        Some(json) => Ok(json),
        None => with_dynamic_message(message, bytes),
    }
}

/// [`to_json`] through prost-reflect's `DynamicMessage`: the path for what the fast path leaves
/// alone, and the reference it is tested against.
#[doc(hidden)]
pub fn with_dynamic_message(
    message: &MessageDescriptor,
    bytes: &[u8],
) -> Result<Vec<u8>, ProtoError> {
    let decoded = DynamicMessage::decode(message.clone(), bytes).map_err(|e| {
        ProtoError::Undecodable(format!("{} does not decode: {e}", message.full_name()))
    })?;
    let mut out = Vec::with_capacity(bytes.len() * 2 + 16);
    write_message(&decoded, &mut out)?;
    Ok(out)
}

/// A message as JSON text; a well-known type's value that has no JSON form (a Timestamp out of
/// RFC 3339's range, a Duration's nanos past a second) is undecodable.
pub(super) fn write_message(m: &DynamicMessage, out: &mut Vec<u8>) -> Result<(), ProtoError> {
    let desc = m.descriptor();
    if desc.full_name().starts_with("google.protobuf.") {
        // The well-known types have their own JSON forms (a Timestamp is an RFC 3339 string).
        let options = SerializeOptions::new()
            .stringify_64_bit_integers(false)
            .use_proto_field_name(true)
            .skip_default_fields(false);
        let mut ser = serde_json::Serializer::new(&mut *out);
        return m.serialize_with_options(&mut ser, &options).map_err(|e| {
            ProtoError::Undecodable(format!("{} has no JSON form: {e}", desc.full_name()))
        });
    }
    out.push(b'{');
    let mut first = true;
    for field in desc.fields() {
        if field.supports_presence() && !m.has_field(&field) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, field.name());
        out.push(b':');
        write_value(&m.get_field(&field), &field.kind(), out)?;
    }
    out.push(b'}');
    Ok(())
}

fn write_value(v: &Value, kind: &Kind, out: &mut Vec<u8>) -> Result<(), ProtoError> {
    match v {
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::I32(n) => write_display(out, n),
        Value::I64(n) => write_display(out, n),
        Value::U32(n) => write_display(out, n),
        Value::U64(n) => write_display(out, n),
        Value::F32(f) => write_float(out, f.is_finite(), f, f64::from(*f)),
        Value::F64(f) => write_float(out, f.is_finite(), f, *f),
        Value::String(s) => write_str(out, s),
        Value::Bytes(b) => write_str(out, &STANDARD.encode(b)),
        Value::EnumNumber(n) => match kind {
            Kind::Enum(e) if e.full_name() == "google.protobuf.NullValue" => {
                out.extend_from_slice(b"null")
            }
            Kind::Enum(e) => match e.get_value(*n) {
                Some(value) => write_str(out, value.name()),
                None => write_display(out, n),
            },
            _ => write_display(out, n),
        },
        Value::Message(m) => write_message(m, out)?,
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, kind, out)?;
            }
            out.push(b']');
        }
        Value::Map(map) => {
            let value_kind = match kind {
                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                other => other.clone(),
            };
            let mut entries: Vec<(String, &Value)> =
                map.iter().map(|(k, v)| (key_text(k), v)).collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            out.push(b'{');
            for (i, (key, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, key);
                out.push(b':');
                write_value(value, &value_kind, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn key_text(k: &MapKey) -> String {
    match k {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

/// serde_json's shortest form for a finite float; proto3's "NaN", "Infinity", "-Infinity"
/// strings otherwise.
pub(super) fn write_float<F: serde::Serialize>(out: &mut Vec<u8>, finite: bool, f: &F, wide: f64) {
    if finite {
        serde_json::to_writer(&mut *out, f).expect("a finite float serializes");
    } else if wide.is_nan() {
        write_str(out, "NaN");
    } else if wide > 0.0 {
        write_str(out, "Infinity");
    } else {
        write_str(out, "-Infinity");
    }
}

fn write_display(out: &mut Vec<u8>, n: impl std::fmt::Display) {
    write!(out, "{n}").expect("writing to a Vec cannot fail");
}

pub(super) fn write_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("a string serializes");
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::prost::Message;

    /// The example of Glue's MessageIndexFinder: B = 0, B.A = 1, B.A.D = 2, B.C = 3.
    const NESTED: &str = "syntax = \"proto3\"; package p;
        message B { message C {} message A { message D {} } }";

    const KINDS: &str = r#"syntax = "proto3"; package k;
        import "google/protobuf/timestamp.proto";
        message All {
          enum Color { RED = 0; GREEN = 1; }
          int64 big = 1;
          uint64 huge = 2;
          Color color = 3;
          bytes raw = 4;
          map<int32, string> by_number = 5;
          double ratio = 6;
          optional string maybe = 7;
          string plain = 8;
          repeated float floats = 9;
          google.protobuf.Timestamp at = 10;
          oneof choice { string text = 11; int32 number = 12; }
          All child = 13;
        }"#;

    fn schema(text: &str) -> ProtoSchema {
        ProtoSchema::parse(text).unwrap()
    }

    fn message(schema: &ProtoSchema, name: &str) -> MessageDescriptor {
        schema.message(name).unwrap()
    }

    #[test]
    fn glue_indexes_every_message_by_full_name_and_confluent_by_declaration_path() {
        let s = schema(NESTED);
        for (i, name) in ["p.B", "p.B.A", "p.B.A.D", "p.B.C"].iter().enumerate() {
            assert_eq!(s.glue_index(name), Some(i), "{name}");
            let value = [i as u8, 7];
            let (m, rest) = glue_message(&s, &value).unwrap();
            assert_eq!((m.full_name(), rest), (*name, &[7u8][..]));
        }
        // Confluent: B is [0] (a lone 0 byte, or the array [0]); B.A is [0, 1]: two zig-zag
        // indexes (0 and 2 on the wire) after the count 2 (4 on the wire).
        let cases: [(&[u8], &str); 4] = [
            (&[0], "p.B"),
            (&[2, 0], "p.B"),
            (&[4, 0, 2], "p.B.A"),
            (&[6, 0, 2, 0], "p.B.A.D"),
        ];
        for (header, name) in cases {
            let value = [header, &[9]].concat();
            let (m, rest) = confluent_message(&s, &value).unwrap();
            assert_eq!(m.full_name(), name);
            assert_eq!(rest, &[9]);
        }
    }

    #[test]
    fn indexes_naming_no_message_are_a_mismatch_damaged_ones_undecodable() {
        let s = schema(NESTED);
        assert!(matches!(
            glue_message(&s, &[4]),
            Err(ProtoError::Mismatch(_))
        ));
        assert!(matches!(
            glue_message(&s, &[0x80]),
            Err(ProtoError::Undecodable(_))
        ));
        assert!(matches!(
            glue_message(&s, &[]),
            Err(ProtoError::Undecodable(_))
        ));
        for mismatch in [&[2u8, 2][..], &[4, 0, 6], &[2, 1]] {
            let got = confluent_message(&s, mismatch);
            assert!(matches!(got, Err(ProtoError::Mismatch(_))), "{mismatch:?}");
        }
        for damaged in [&[4u8, 0][..], &[1], &[0xff; 11]] {
            let got = confluent_message(&s, damaged);
            assert!(
                matches!(got, Err(ProtoError::Undecodable(_))),
                "{damaged:?}"
            );
        }
    }

    #[test]
    fn schemas_that_do_not_compile_or_import_unknown_files_are_refused() {
        assert!(ProtoSchema::parse("message {").is_err());
        let import = "syntax = \"proto3\"; import \"other.proto\"; message M { Other o = 1; }";
        let err = ProtoSchema::parse(import).unwrap_err();
        assert!(err.contains("other.proto"), "{err}");
        assert!(FixedMessage::new(&schema(NESTED), "p.Nope").is_err());
    }

    fn encoded(set: impl FnOnce(&mut DynamicMessage)) -> (MessageDescriptor, Vec<u8>) {
        let s = schema(KINDS);
        let desc = message(&s, "k.All");
        let mut m = DynamicMessage::new(desc.clone());
        set(&mut m);
        (desc, m.encode_to_vec())
    }

    fn json_of(desc: &MessageDescriptor, bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(&to_json(desc, bytes).unwrap()).unwrap()
    }

    #[test]
    fn a_message_becomes_the_documented_json() {
        let (desc, bytes) = encoded(|m| {
            m.set_field_by_name("big", Value::I64(i64::MAX));
            m.set_field_by_name("huge", Value::U64(u64::MAX));
            m.set_field_by_name("color", Value::EnumNumber(1));
            m.set_field_by_name("raw", Value::Bytes(vec![0xff, 0].into()));
            let map = [(MapKey::I32(10), "ten"), (MapKey::I32(2), "two")]
                .into_iter()
                .map(|(k, v)| (k, Value::String(v.into())))
                .collect();
            m.set_field_by_name("by_number", Value::Map(map));
            m.set_field_by_name("ratio", Value::F64(f64::NAN));
            m.set_field_by_name("floats", Value::List(vec![Value::F32(0.1)]));
            let mut at = DynamicMessage::new(
                m.descriptor()
                    .get_field(10)
                    .unwrap()
                    .kind()
                    .as_message()
                    .unwrap()
                    .clone(),
            );
            at.set_field_by_name("seconds", Value::I64(1_795_425_301));
            at.set_field_by_name("nanos", Value::I32(123_000_000));
            m.set_field_by_name("at", Value::Message(at));
            m.set_field_by_name("number", Value::I32(0));
        });
        let text = String::from_utf8(to_json(&desc, &bytes).unwrap()).unwrap();
        // 64-bit integers are their own text; map keys sorted as text; the oneof member set to
        // its default is written (it has presence), the unset optional and message are not.
        assert_eq!(
            text,
            r#"{"big":9223372036854775807,"huge":18446744073709551615,"color":"GREEN","raw":"/wA=","by_number":{"10":"ten","2":"two"},"ratio":"NaN","plain":"","floats":[0.1],"at":"2026-11-23T09:15:01.123Z","number":0}"#
        );
    }

    #[test]
    fn unknown_enum_numbers_stay_numbers_and_nested_messages_nest() {
        let (desc, bytes) = encoded(|m| {
            m.set_field_by_name("color", Value::EnumNumber(7));
            let mut child = DynamicMessage::new(m.descriptor());
            child.set_field_by_name("maybe", Value::String("x".into()));
            m.set_field_by_name("child", Value::Message(child));
        });
        let v = json_of(&desc, &bytes);
        assert_eq!(v["color"], 7);
        assert_eq!(v["child"]["maybe"], "x");
        assert_eq!(v["child"]["big"], 0);
        assert!(v.get("maybe").is_none());
    }

    #[test]
    fn a_timestamp_out_of_rfc_3339s_range_is_undecodable_not_a_panic() {
        // Field 10 (at) holding seconds = i64::MAX: a sound message with no JSON form.
        let mut bytes = vec![0x52, 10, 0x08];
        bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        let (desc, _) = encoded(|_| {});
        let err = to_json(&desc, &bytes).unwrap_err();
        assert_eq!(Err(err.clone()), with_dynamic_message(&desc, &bytes));
        assert!(err.to_string().contains("no JSON form"), "{err}");
    }

    #[test]
    fn truncated_and_mistyped_messages_are_undecodable() {
        let (desc, bytes) = encoded(|m| {
            m.set_field_by_name("plain", Value::String("hello".into()));
        });
        let cut = &bytes[..bytes.len() - 2];
        assert!(matches!(
            to_json(&desc, cut),
            Err(ProtoError::Undecodable(_))
        ));
        // Field 8 (a string) sent as a varint: the wire type does not fit the schema.
        assert!(matches!(
            to_json(&desc, &[0x40, 1]),
            Err(ProtoError::Undecodable(_))
        ));
        // Invalid UTF-8 in a string.
        assert!(matches!(
            to_json(&desc, &[0x42, 1, 0xff]),
            Err(ProtoError::Undecodable(_))
        ));
    }
}
