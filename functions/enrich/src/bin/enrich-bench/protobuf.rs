//! The Protobuf batch: the bench's records as Protobuf messages framed as the Glue Schema
//! Registry's serializer frames them (its header, uncompressed, then the message index and the
//! message), in a Kinesis batch; decoded as the service does with the compiled schema cached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use enrich::values::SchemaId;
use enrich::values::ValueFormat;
use enrich::values::cache::{Known, SchemaCache};
use enrich::values::protobuf::ProtoSchema;
use prost_reflect::DynamicMessage;
use prost_reflect::prost::Message;

use super::avro::decode_batch;
use super::{Args, Format, generated_event_with, record};

/// The bench record's shape as a .proto schema: messages where the JSON has fixed members,
/// maps where it has open ones.
const SCHEMA: &str = r#"syntax = "proto3";
package bench;

message Cart {
  int32 items = 1;
  int64 value_cents = 2;
  string currency = 3;
}

message Click {
  enum Kind {
    page_view = 0;
    add_to_cart = 1;
    search = 2;
    click = 3;
  }
  string event_id = 1;
  Kind event_type = 2;
  string user_id = 3;
  optional string product_id = 4;
  optional string email = 5;
  optional string ip = 6;
  int64 ts = 7;
  Properties properties = 8;
}

message Properties {
  string path = 1;
  string referrer = 2;
  string user_agent = 3;
  string session_id = 4;
  map<string, int32> viewport = 5;
  repeated string experiments = 6;
  Cart cart = 7;
  repeated string tags = 8;
  string locale = 9;
  string page_title = 10;
  map<string, string> campaign = 11;
  map<string, int64> timings_ms = 12;
  map<string, bool> consent = 13;
}
"#;

const SCHEMA_VERSION: [u8; 16] = *b"bench-proto-v001";

/// Record `i` as a Glue-framed Protobuf value.
fn framed_record(schema: &ProtoSchema, i: usize) -> Vec<u8> {
    let click = schema.message("bench.Click").expect("the bench message");
    let message = DynamicMessage::deserialize(click.clone(), record(i))
        .expect("the bench record fits its schema");
    let index = schema.glue_index("bench.Click").expect("indexed");
    let mut out = vec![3u8, 0];
    out.extend_from_slice(&SCHEMA_VERSION);
    prost_reflect::prost::encoding::encode_varint(index as u64, &mut out);
    out.extend_from_slice(&message.encode_to_vec());
    out
}

/// The bench's records as Glue-framed Protobuf, decoded with the compiled schema cached.
pub(super) fn batch(args: &Args) -> Format {
    let schema = ProtoSchema::parse(SCHEMA).expect("the bench schema");
    let event = generated_event_with(args.records, |i| framed_record(&schema, i));
    let mut cache = SchemaCache::new(Duration::from_secs(300), 1000);
    cache.insert(
        SchemaId::Glue(SCHEMA_VERSION),
        Known::Proto(Arc::new(schema)),
        Instant::now(),
    );
    Format {
        name: "Protobuf",
        title: "Glue-framed Protobuf Kinesis batch",
        event,
        decode: Box::new(move |records| decode_batch(&cache, ValueFormat::ProtobufGlue, records)),
    }
}
