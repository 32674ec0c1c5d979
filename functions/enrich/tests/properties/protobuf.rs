//! Registry-framed Protobuf values: any bytes behind a Glue or Confluent header, the producers'
//! real values (events/enrich/kinesis-protobuf-glue.json) damaged at random (cut short, a byte
//! changed, bytes appended), and generated Click messages. Framing and decoding never panic: a
//! value decodes to a JSON object or gets a poison reason of the Protobuf formats; and the fast
//! path (straight from the bytes) says exactly what the `DynamicMessage` path says, output and
//! errors alike.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use enrich::poison::PoisonReason;
use enrich::values::protobuf::{self, ProtoSchema, glue_message, with_dynamic_message};
use enrich::values::{Decoded, ValueFormat, decode_protobuf, frame};
use proptest::prelude::*;
use prost_reflect::prost::Message;
use prost_reflect::{DynamicMessage, MapKey, Value as Proto};
use serde_json::Value;

fn schema(file: &str) -> ProtoSchema {
    let path = streamops_test_support::repo_root()
        .join("events/enrich/protobuf")
        .join(file);
    ProtoSchema::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The fixture's Glue values (header included), in order.
fn glue_values() -> Vec<Vec<u8>> {
    let event = streamops_test_support::fixture("enrich/kinesis-protobuf-glue.json");
    event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            STANDARD
                .decode(r["kinesis"]["data"].as_str().unwrap())
                .unwrap()
        })
        .collect()
}

/// `value` framed as `format` says, decoded with `schema` whatever id its header names; for
/// Glue values the two paths are held to each other.
fn run(format: ValueFormat, value: &[u8], schema: &ProtoSchema) -> Result<Decoded, TestCaseError> {
    Ok(match frame(format, value) {
        Err(p) => Decoded::Poison(p),
        Ok(None) => Decoded::AsDelivered,
        Ok(Some(f)) => {
            if let Ok((message, rest)) = glue_message(schema, &f.body) {
                let (fast, reference) = (
                    protobuf::to_json(&message, rest),
                    with_dynamic_message(&message, rest),
                );
                prop_assert_eq!(&fast, &reference);
            }
            decode_protobuf(f.schema, schema, format.registry().unwrap(), &f.body)
        }
    })
}

fn well_formed(d: &Decoded) -> Result<(), TestCaseError> {
    match d {
        Decoded::Json(json) => {
            let v: Value =
                serde_json::from_slice(json).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(v.is_object());
        }
        Decoded::Poison(p) => prop_assert!(
            matches!(
                p.reason,
                PoisonReason::BadWireHeader
                    | PoisonReason::UndecodableProtobuf
                    | PoisonReason::SchemaMismatch
            ),
            "{p:?}"
        ),
        Decoded::AsDelivered => prop_assert!(false, "a framed value is never read as delivered"),
    }
    Ok(())
}

proptest! {
    #[test]
    fn any_bytes_behind_either_header_decode_or_get_a_reason(
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let v2 = schema("click-v2.proto");
        let glue = [&[3u8, 0][..], &[7; 16], &body].concat();
        let confluent = [&[0u8, 0, 0, 0, 1][..], &body].concat();
        for value in [&body, &glue] {
            well_formed(&run(ValueFormat::ProtobufGlue, value, &v2)?)?;
        }
        for value in [&body, &confluent] {
            well_formed(&run(ValueFormat::ProtobufConfluent, value, &v2)?)?;
        }
    }

    #[test]
    fn damaged_real_values_decode_or_get_a_reason(
        which in 0..11usize,
        cut in 0..64usize,
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        tail in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let (v1, v2) = (schema("click-v1.proto"), schema("click-v2.proto"));
        let mut value = glue_values().swap_remove(which);
        let i = at.index(value.len());
        value[i] = byte;
        value.truncate(value.len().saturating_sub(cut));
        value.extend_from_slice(&tail);
        for s in [&v1, &v2] {
            well_formed(&run(ValueFormat::ProtobufGlue, &value, s)?)?;
        }
    }
}

#[derive(Debug, Clone)]
struct Click {
    user: String,
    kind: i32,
    product: Option<String>,
    seq: i64,
    properties: Vec<(String, String)>,
    geo: Option<(String, f64)>,
    trace: Vec<u8>,
}

fn click() -> impl Strategy<Value = Click> {
    (
        ".{0,12}",
        -1..4i32,
        proptest::option::of("[a-z0-9-]{0,8}"),
        any::<i64>(),
        proptest::collection::vec(("[a-z\"\\\\é]{0,5}", ".{0,8}"), 0..4),
        proptest::option::of(("[A-Z]{0,2}", any::<f64>())),
        proptest::collection::vec(any::<u8>(), 0..6),
    )
        .prop_map(|(user, kind, product, seq, properties, geo, trace)| Click {
            user,
            kind,
            product,
            seq,
            properties,
            geo,
            trace,
        })
}

/// `c` as a v2 Click message's bytes.
fn encoded(schema: &ProtoSchema, c: &Click) -> Vec<u8> {
    let desc = schema.message("streamops.Click").unwrap();
    let mut m = DynamicMessage::new(desc.clone());
    m.set_field_by_name("user_id", Proto::String(c.user.clone()));
    m.set_field_by_name("event_type", Proto::EnumNumber(c.kind));
    if let Some(p) = &c.product {
        m.set_field_by_name("product_id", Proto::String(p.clone()));
    }
    m.set_field_by_name("session_seq", Proto::I64(c.seq));
    let map = c
        .properties
        .iter()
        .map(|(k, v)| (MapKey::String(k.clone()), Proto::String(v.clone())))
        .collect();
    m.set_field_by_name("properties", Proto::Map(map));
    if let Some((country, lat)) = &c.geo {
        let geo_desc = schema.message("streamops.Click.Geo").unwrap();
        let mut geo = DynamicMessage::new(geo_desc);
        geo.set_field_by_name("country", Proto::String(country.clone()));
        geo.set_field_by_name("lat", Proto::F64(*lat));
        m.set_field_by_name("geo", Proto::Message(geo));
    }
    m.set_field_by_name("trace", Proto::Bytes(c.trace.clone().into()));
    m.encode_to_vec()
}

proptest! {
    #[test]
    fn generated_messages_decode_alike_on_both_paths(c in click(), cut in 0..4usize) {
        let (v1, v2) = (schema("click-v1.proto"), schema("click-v2.proto"));
        let bytes = encoded(&v2, &c);
        let short = &bytes[..bytes.len().saturating_sub(cut)];
        for s in [&v1, &v2] {
            let desc = s.message("streamops.Click").unwrap();
            for b in [&bytes[..], short] {
                prop_assert_eq!(protobuf::to_json(&desc, b), with_dynamic_message(&desc, b));
            }
            let json = protobuf::to_json(&desc, &bytes).unwrap();
            let v: Value = serde_json::from_slice(&json).unwrap();
            prop_assert_eq!(v["session_seq"].as_i64(), Some(c.seq));
            prop_assert_eq!(v["user_id"].as_str(), Some(c.user.as_str()));
        }
    }
}
