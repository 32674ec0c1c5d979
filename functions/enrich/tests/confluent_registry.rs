//! The Confluent registry adapter against a stub server on 127.0.0.1 that answers as Confluent
//! Schema Registry's REST API does (`GET /schemas/ids/{id}`: `{"schema": ...}` with no
//! `schemaType` for Avro, `{"schemaType": "PROTOBUF", ...}`, 404 `{"error_code": 40403}`,
//! 401 without the right basic-auth credentials), and a Confluent-framed batch through the
//! service with it: the producer fixture's fastavro bodies behind the magic byte and a 4-byte id.

mod support;

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use enrich::adapters::{ConfluentRegistry, credentials};
use enrich::poison::PoisonReason;
use enrich::ports::{SchemaId, SchemaRegistry, SecretValue};
use enrich::quarantine::parse_ndjson;
use enrich::service::EnrichService;
use enrich::values::{ValueConfig, ValueFormat};
use serde_json::{Value, json};
use streamops_shared::{ErrorClass, Metrics};
use streamops_test_support::{fixture, repo_root};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const AUTH: &str = "streamops:s3cret";

/// A stub registry: schema 1 is the fixture's v1 Avro schema, 2 a Protobuf one; the paths it
/// was asked, in order.
async fn stub_registry() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let v1 = std::fs::read_to_string(repo_root().join("events/enrich/avro/click-v1.avsc")).unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let n = conn.read(&mut buf).await.unwrap();
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            seen.lock().unwrap().push(path.clone());
            let authorized =
                head.contains(&format!("Authorization: Basic {}", STANDARD.encode(AUTH)));
            let (status, body) = match (authorized, path.as_str()) {
                (false, _) => (
                    "401 Unauthorized",
                    json!({"error_code": 401, "message": "Unauthorized"}),
                ),
                (true, "/schemas/ids/1") => ("200 OK", json!({"schema": v1.trim()})),
                (true, "/schemas/ids/2") => (
                    "200 OK",
                    json!({"schemaType": "PROTOBUF", "schema": "syntax = \"proto3\";\nmessage Click { string user_id = 1; }\n"}),
                ),
                (true, p) => {
                    let id = p.rsplit('/').next().unwrap_or("");
                    (
                        "404 Not Found",
                        json!({"error_code": 40403, "message": format!("Schema {id} not found")}),
                    )
                }
            };
            let body = body.to_string();
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(response.as_bytes()).await.unwrap();
        }
    });
    (url, asked)
}

#[tokio::test]
async fn the_adapter_reads_schemas_by_id_and_tells_unknown_ids_from_failures() {
    let (url, asked) = stub_registry().await;
    let registry = ConfluentRegistry::new(&url, Some(AUTH));
    let v1 = registry
        .schema(SchemaId::Confluent(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v1.data_format, "AVRO");
    assert!(v1.definition.contains("\"Click\""));
    let proto = registry
        .schema(SchemaId::Confluent(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(proto.data_format, "PROTOBUF");
    assert!(
        registry
            .schema(SchemaId::Confluent(7))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        *asked.lock().unwrap(),
        ["/schemas/ids/1", "/schemas/ids/2", "/schemas/ids/7"]
    );
    // Wrong or no credentials: refused, not "unknown".
    for creds in [Some("streamops:wrong"), None] {
        let err = ConfluentRegistry::new(&url, creds)
            .schema(SchemaId::Confluent(1))
            .await
            .unwrap_err();
        assert_eq!(err.class, ErrorClass::Permanent);
        assert!(err.message.contains("HTTP 401"), "{}", err.message);
    }
    // Nothing listens there: retryable.
    let err = ConfluentRegistry::new("http://127.0.0.1:9", None)
        .schema(SchemaId::Confluent(1))
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Retryable);
    assert_eq!(err.operation, "GetSchemaById");
}

#[test]
fn credentials_come_as_user_password_or_a_key_value_secret() {
    let text = |s: &str| SecretValue::Text(s.into());
    assert_eq!(credentials(&text("u:p:w")).unwrap(), "u:p:w");
    assert_eq!(
        credentials(&text(r#"{"username":"u","password":"p"}"#)).unwrap(),
        "u:p"
    );
    assert!(credentials(&text("no-colon")).is_err());
    assert!(credentials(&text(r#"{"username":"u"}"#)).is_err());
    assert!(credentials(&SecretValue::Binary(vec![1])).is_err());
}

/// The fixture's uncompressed v1 Glue values (records 0, 1, 2, 9) re-framed for Confluent as
/// schema 1, then one naming schema 7 (unknown) and one with magic byte 1.
fn confluent_event() -> Value {
    let mut event = fixture("enrich/kinesis-avro-glue.json");
    let records = event["Records"].as_array_mut().unwrap();
    let frames: [(usize, u8, u32); 6] = [
        (0, 0, 1),
        (1, 0, 1),
        (2, 0, 1),
        (9, 0, 1),
        (0, 0, 7),
        (1, 1, 1),
    ];
    let keep: Vec<Value> = frames
        .iter()
        .enumerate()
        .map(|(n, &(i, magic, id))| {
            let mut r = records[i].clone();
            let glue = STANDARD
                .decode(r["kinesis"]["data"].as_str().unwrap())
                .unwrap();
            let mut value = vec![magic];
            value.extend_from_slice(&id.to_be_bytes());
            value.extend_from_slice(&glue[18..]);
            let seq = format!("{}{n}", r["kinesis"]["sequenceNumber"].as_str().unwrap());
            r["kinesis"]["sequenceNumber"] = seq.clone().into();
            r["eventID"] = format!("shardId-000000000003:{seq}").into();
            r["kinesis"]["data"] = STANDARD.encode(&value).into();
            r
        })
        .collect();
    *records = keep;
    event
}

#[tokio::test]
async fn a_confluent_framed_batch_through_the_service_every_record_once() {
    let (url, asked) = stub_registry().await;
    let f = fakes("fail-batch");
    let mut config = config("fail-batch", None);
    config.values = ValueConfig {
        format: ValueFormat::AvroConfluent,
        registry_url: Some(url.clone()),
        ..ValueConfig::default()
    };
    let service = EnrichService::new(
        config,
        Some(KEY),
        f.stream.clone(),
        f.ledger.clone(),
        Some(f.reference.clone()),
        f.quarantine.clone(),
    )
    .unwrap()
    .with_registry(ConfluentRegistry::new(&url, Some(AUTH)));
    let event = confluent_event();
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    let response = service
        .handle(&event.to_string(), &ctx(30_000), &mut m)
        .await
        .unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let ids: Vec<String> = f.stream.written().iter().map(event_id_of).collect();
    assert_eq!(
        ids,
        [
            "evt-avro-0001",
            "evt-avro-0002",
            "evt-avro-0003",
            "evt-avro-0010"
        ]
    );
    let mut reasons: Vec<(PoisonReason, String)> = f
        .quarantine
        .objects()
        .values()
        .flat_map(|body| parse_ndjson(body).unwrap())
        .map(|e| (e.reason, e.message))
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(reasons[0].0, PoisonReason::BadWireHeader);
    assert_eq!(reasons[1].0, PoisonReason::UnknownSchema);
    assert!(reasons[1].1.starts_with("schema 7:"), "{}", reasons[1].1);
    // One call per id the batch names.
    assert_eq!(*asked.lock().unwrap(), ["/schemas/ids/1", "/schemas/ids/7"]);
}
