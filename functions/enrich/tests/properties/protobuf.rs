//! Registry-framed Protobuf values: any bytes behind a Glue or Confluent header, and the
//! producers' real values (events/enrich/kinesis-protobuf-glue.json) damaged at random (cut
//! short, a byte changed, bytes appended). Framing and decoding never panic: a value decodes to
//! a JSON object or gets a poison reason of the Protobuf formats.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use enrich::poison::PoisonReason;
use enrich::values::protobuf::ProtoSchema;
use enrich::values::{Decoded, ValueFormat, decode_protobuf, frame};
use proptest::prelude::*;
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

/// `value` framed as `format` says, decoded with `schema` whatever id its header names.
fn run(format: ValueFormat, value: &[u8], schema: &ProtoSchema) -> Decoded {
    match frame(format, value) {
        Err(p) => Decoded::Poison(p),
        Ok(None) => Decoded::AsDelivered,
        Ok(Some(f)) => decode_protobuf(f.schema, schema, format.registry().unwrap(), &f.body),
    }
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
            well_formed(&run(ValueFormat::ProtobufGlue, value, &v2))?;
        }
        for value in [&body, &confluent] {
            well_formed(&run(ValueFormat::ProtobufConfluent, value, &v2))?;
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
            well_formed(&run(ValueFormat::ProtobufGlue, &value, s))?;
        }
    }
}
