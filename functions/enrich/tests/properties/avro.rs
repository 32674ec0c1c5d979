//! Registry-framed Avro values: any bytes, and real records (the fixture's v1 schema, random
//! field values) framed with random headers and damaged at random (cut short, a byte changed,
//! bytes appended, the header's version or compression byte changed). Framing and decoding never
//! panic: a value decodes to a JSON object or gets a poison reason of the value formats, and a
//! sound record decodes to exactly what was written, read as the writer's schema or resolved to
//! the v2 reader schema.

use apache_avro::Schema;
use apache_avro::types::{Record, Value as Avro};
use enrich::poison::PoisonReason;
use enrich::values::{Decoded, ValueFormat, avro, decode, frame};
use proptest::prelude::*;
use serde_json::Value;

fn schema(file: &str) -> Schema {
    let path = streamops_test_support::repo_root()
        .join("events/enrich/avro")
        .join(file);
    Schema::parse_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const SYMBOLS: [&str; 3] = ["page_view", "add_to_cart", "search"];

#[derive(Debug, Clone)]
struct Click {
    user: String,
    kind: usize,
    product: Option<String>,
    ts: i64,
    properties: Vec<(String, String)>,
}

fn click() -> impl Strategy<Value = Click> {
    (
        ".{0,12}",
        0..3usize,
        proptest::option::of("[a-z0-9-]{0,8}"),
        any::<i64>(),
        proptest::collection::vec(("[a-z\"\\\\é]{0,5}", ".{0,8}"), 0..4),
    )
        .prop_map(|(user, kind, product, ts, properties)| Click {
            user,
            kind,
            product,
            ts,
            properties,
        })
}

fn body(writer: &Schema, c: &Click) -> Vec<u8> {
    let mut r = Record::new(writer).unwrap();
    r.put("event_id", "evt-prop");
    r.put(
        "event_type",
        Avro::Enum(c.kind as u32, SYMBOLS[c.kind].into()),
    );
    r.put("user_id", c.user.as_str());
    let union = |v: &Option<String>| match v {
        Some(s) => Avro::Union(1, Box::new(Avro::String(s.clone()))),
        None => Avro::Union(0, Box::new(Avro::Null)),
    };
    r.put("product_id", union(&c.product));
    r.put("email", union(&None));
    r.put("ip", union(&None));
    r.put("ts", Avro::TimestampMillis(c.ts));
    let map = c
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), Avro::String(v.clone())))
        .collect();
    r.put("properties", Avro::Map(map));
    apache_avro::to_avro_datum(writer, r).unwrap()
}

/// A Glue header (version byte, compression byte, an id) before `body`, zlib'd when byte 5.
fn glue(version: u8, compression: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![version, compression];
    out.extend_from_slice(&[7u8; 16]);
    match compression {
        5 => out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec_zlib(body, 6)),
        _ => out.extend_from_slice(body),
    }
    out
}

#[derive(Debug, Clone)]
enum Damage {
    None,
    Cut(usize),
    Flip(usize, u8),
    Append(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        2 => Just(Damage::None),
        1 => any::<usize>().prop_map(Damage::Cut),
        1 => (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Damage::Flip(i, x)),
        1 => proptest::collection::vec(any::<u8>(), 1..8).prop_map(Damage::Append),
    ]
}

fn apply(mut bytes: Vec<u8>, d: &Damage) -> Vec<u8> {
    match d {
        Damage::None => {}
        Damage::Cut(n) if !bytes.is_empty() => bytes.truncate(n % bytes.len()),
        Damage::Flip(i, x) if !bytes.is_empty() => {
            let i = i % bytes.len();
            bytes[i] ^= x;
        }
        Damage::Append(extra) => bytes.extend_from_slice(extra),
        _ => {}
    }
    bytes
}

/// Frame and decode as the service does, with `writer` for whatever id the header names; the
/// fast path and the crate's path agree on every body (the same JSON, or both refuse it).
fn run(value: &[u8], writer: &Schema, reader: Option<&Schema>) -> Result<Decoded, TestCaseError> {
    Ok(match frame(ValueFormat::AvroGlue, value) {
        Err(p) => Decoded::Poison(p),
        Ok(None) => unreachable!("avro-glue always frames"),
        Ok(Some(f)) => {
            let fast = avro::to_json(writer, reader, &f.body);
            let crate_path = avro::with_the_crate(writer, reader, &f.body);
            prop_assert_eq!(
                fast.as_ref().ok(),
                crate_path.as_ref().ok(),
                "{:?} vs {:?}",
                fast,
                crate_path
            );
            decode(Some(f.schema), writer, reader, &f.body)
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
                    | PoisonReason::UndecodableAvro
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
    fn any_bytes_decode_or_get_a_reason(value in proptest::collection::vec(any::<u8>(), 0..64)) {
        let (v1, v2) = (schema("click-v1.avsc"), schema("click-v2.avsc"));
        for bytes in [value.clone(), glue(3, 0, &value)] {
            well_formed(&run(&bytes, &v1, None)?)?;
            well_formed(&run(&bytes, &v1, Some(&v2))?)?;
        }
    }

    #[test]
    fn framed_records_decode_to_what_was_written_or_get_a_reason(
        c in click(),
        version in prop_oneof![4 => Just(3u8), 1 => any::<u8>()],
        compression in prop_oneof![2 => Just(0u8), 2 => Just(5u8), 1 => any::<u8>()],
        d in damage(),
    ) {
        let (v1, v2) = (schema("click-v1.avsc"), schema("click-v2.avsc"));
        let value = apply(glue(version, compression, &body(&v1, &c)), &d);
        for reader in [None, Some(&v2)] {
            let got = run(&value, &v1, reader)?;
            well_formed(&got)?;
            if matches!(d, Damage::None) && version == 3 && matches!(compression, 0 | 5) {
                let Decoded::Json(json) = got else {
                    return Err(TestCaseError::fail(format!("a sound record did not decode: {got:?}")));
                };
                let v: Value = serde_json::from_slice(&json).unwrap();
                prop_assert_eq!(&v["user_id"], &Value::from(c.user.clone()));
                prop_assert_eq!(&v["event_type"], SYMBOLS[c.kind]);
                prop_assert_eq!(&v["ts"], &Value::from(c.ts));
                prop_assert_eq!(&v["product_id"], &c.product.clone().map_or(Value::Null, Value::from));
                prop_assert_eq!(v["properties"].as_object().unwrap().len(),
                    c.properties.iter().map(|(k, _)| k).collect::<std::collections::BTreeSet<_>>().len());
                if reader.is_some() {
                    prop_assert_eq!(&v["channel"], "web");
                }
            }
        }
    }
}
