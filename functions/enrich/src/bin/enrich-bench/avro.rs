//! The Avro batch: the bench's records as Avro bodies framed by the Glue Schema Registry's
//! header (no compression, the serializer's default), in a Kinesis batch; decoded as the service
//! does (frame every value, look each id up in the warm schema cache, decode to JSON) and then
//! through the same pipeline, in alternation with the JSON batch of the same records.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apache_avro::Schema;
use enrich::input::InputRecord;
use enrich::values::cache::{Known, SchemaCache};
use enrich::values::wire::Framed;
use enrich::values::{
    Decoded, Registry, SchemaId, ValueFormat, decode, decode_json_schema, decode_protobuf, frame,
    unknown_schema,
};

use super::{Args, Format, generated_event_with, record};

/// The bench record's shape as an Avro schema: nested records where the JSON has fixed
/// members, maps where it has open ones.
const SCHEMA: &str = r#"{"type": "record", "name": "Click", "namespace": "bench", "fields": [
  {"name": "event_id", "type": "string"},
  {"name": "event_type", "type": {"type": "enum", "name": "Kind", "symbols": ["page_view", "add_to_cart", "search", "click"]}},
  {"name": "user_id", "type": "string"},
  {"name": "product_id", "type": ["null", "string"]},
  {"name": "email", "type": ["null", "string"]},
  {"name": "ip", "type": ["null", "string"]},
  {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
  {"name": "properties", "type": {"type": "record", "name": "Properties", "fields": [
    {"name": "path", "type": "string"}, {"name": "referrer", "type": "string"},
    {"name": "user_agent", "type": "string"}, {"name": "session_id", "type": "string"},
    {"name": "viewport", "type": {"type": "map", "values": "int"}},
    {"name": "experiments", "type": {"type": "array", "items": "string"}},
    {"name": "cart", "type": {"type": "record", "name": "Cart", "fields": [
      {"name": "items", "type": "int"}, {"name": "value_cents", "type": "long"}, {"name": "currency", "type": "string"}]}},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "locale", "type": "string"}, {"name": "page_title", "type": "string"},
    {"name": "campaign", "type": {"type": "map", "values": "string"}},
    {"name": "timings_ms", "type": {"type": "map", "values": "long"}},
    {"name": "consent", "type": {"type": "map", "values": "boolean"}}]}}]}"#;

const SCHEMA_VERSION: [u8; 16] = *b"bench-schema-v01";

/// Record `i` as a Glue-framed Avro value.
fn framed_record(schema: &Schema, i: usize) -> Vec<u8> {
    let value = apache_avro::to_value(record(i))
        .and_then(|v| v.resolve(schema))
        .expect("the bench record fits its schema");
    let mut out = vec![3u8, 0];
    out.extend_from_slice(&SCHEMA_VERSION);
    out.extend_from_slice(&apache_avro::to_avro_datum(schema, value).expect("encodes"));
    out
}

/// What the service's decode_values does once the registry answers are cached (Avro or
/// Protobuf, as `format` says).
pub(super) fn decode_batch(
    cache: &SchemaCache,
    format: ValueFormat,
    records: &[InputRecord],
) -> Vec<Decoded> {
    let framed: Vec<Result<Option<Framed<'_>>, _>> =
        records.iter().map(|r| frame(format, r.bytes())).collect();
    let now = Instant::now();
    let ids: BTreeSet<SchemaId> = framed
        .iter()
        .filter_map(|f| f.as_ref().ok().and_then(|f| f.as_ref()).map(|f| f.schema))
        .collect();
    let schemas: HashMap<SchemaId, Known> = ids
        .into_iter()
        .map(|id| (id, cache.get(&id, now).expect("warm cache").clone()))
        .collect();
    framed
        .into_iter()
        .map(|f| match f {
            Err(p) => Decoded::Poison(p),
            Ok(None) => Decoded::AsDelivered,
            Ok(Some(Framed { schema, body })) => match &schemas[&schema] {
                Known::Schema(writer) => decode(Some(schema), writer, None, &body),
                Known::Proto(p) => decode_protobuf(schema, p, Registry::Glue, &body),
                Known::Json(j) => decode_json_schema(Some(schema), j, &body),
                Known::Unusable(why) => unknown_schema(schema, why),
            },
        })
        .collect()
}

/// The bench's records as Glue-framed Avro, decoded with the writer schema cached.
pub(super) fn batch(args: &Args) -> Format {
    let schema = Schema::parse_str(SCHEMA).expect("the bench schema");
    let event = generated_event_with(args.records, |i| framed_record(&schema, i));
    let mut cache = SchemaCache::new(Duration::from_secs(300), 1000);
    cache.insert(
        SchemaId::Glue(SCHEMA_VERSION),
        Known::Schema(Arc::new(schema)),
        Instant::now(),
    );
    Format {
        name: "Avro",
        title: "Glue-framed Avro Kinesis batch",
        event,
        decode: Box::new(move |records| decode_batch(&cache, ValueFormat::AvroGlue, records)),
    }
}
