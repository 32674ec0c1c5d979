//! The moto stack every enrich moto test runs on (the enriched stream, the ledger and reference
//! tables, the quarantine bucket), the service over it with PutRecords faults injected, and
//! readers of what it wrote.

use crate::faults::PutRecordsFaults;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kinesis::types::ShardIteratorType;
use chrono::Utc;
use enrich::adapters::{EnrichedStream, LedgerStore, QuarantineStore, ReferenceTable};
use enrich::pipeline::Enricher;
use enrich::quarantine::parse_ndjson;
use enrich::reference::ReferenceCache;
use enrich::service::{EnrichService, InvocationContext};
use enrich::spec::{DEFAULT_SPEC, EnrichmentSpec};
use enrich::values::cache::SchemaCache;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use streamops_shared::EnvReader;
use streamops_test_support::batch_item_failures;
use streamops_test_support::{MotoServer, create_bucket, create_table};

pub const OUTPUT: &str = "streamops-enriched";

pub const LEDGER: &str = "streamops-enrich-ledger";

pub const REFERENCE: &str = "streamops-reference";

pub const BUCKET: &str = "streamops-quarantine";

pub const KEY: &[u8] = b"test-hmac-key-0123456789abcdef";

pub struct Harness {
    pub _moto: MotoServer,
    pub sdk: SdkConfig,
    pub faults: PutRecordsFaults,
}

pub async fn harness() -> Harness {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    create_table(&sdk, LEDGER, None).await;
    create_table(&sdk, REFERENCE, None).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    for (pk, category, brand) in [("p-100", "books", "acme"), ("p-200", "games", "globex")] {
        ddb.put_item()
            .table_name(REFERENCE)
            .item("pk", AttributeValue::S(pk.into()))
            .item("category", AttributeValue::S(category.into()))
            .item("brand", AttributeValue::S(brand.into()))
            .item("price_band", AttributeValue::N("3".into()))
            .item("internal_cost", AttributeValue::N("12".into()))
            .send()
            .await
            .unwrap();
    }
    aws_sdk_kinesis::Client::new(&sdk)
        .create_stream()
        .stream_name(OUTPUT)
        .shard_count(2)
        .send()
        .await
        .unwrap();
    create_bucket(&sdk, BUCKET).await;
    Harness {
        _moto: moto,
        sdk,
        faults: PutRecordsFaults::default(),
    }
}

pub fn s3(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    streamops_shared::aws::s3_client(sdk, true)
}

pub fn service(h: &Harness, spec: EnrichmentSpec, msk_mode: &str) -> EnrichService {
    let env = EnvReader::from_map(
        [
            ("ENRICH_OUTPUT_STREAM", OUTPUT),
            ("ENRICH_QUARANTINE_BUCKET", BUCKET),
            ("ENRICH_LEDGER_TABLE", LEDGER),
            ("ENRICH_REFERENCE_TABLE", REFERENCE),
            ("ENRICH_PII_KEY_SECRET_ARN", "unused-here"),
            ("ENRICH_MSK_FAILURE_MODE", msk_mode),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    );
    let mut config = enrich::config::EnrichConfig::read(env, |_| Err("no files".into())).unwrap();
    config.spec = spec.clone();
    let kinesis_conf = aws_sdk_kinesis::config::Builder::from(&h.sdk)
        .interceptor(h.faults.clone())
        .build();
    let ddb = aws_sdk_dynamodb::Client::new(&h.sdk);
    let reference = spec
        .reference
        .as_ref()
        .map(|r| ReferenceTable::new(ddb.clone(), REFERENCE, &r.table_key, &r.attributes));
    EnrichService {
        enricher: Enricher::new(spec, Some(KEY)).unwrap(),
        pending_key: None,
        reference,
        cache: Mutex::new(ReferenceCache::new(Duration::from_secs(300), 1000)),
        stream: EnrichedStream::new(aws_sdk_kinesis::Client::from_conf(kinesis_conf), OUTPUT),
        ledger: LedgerStore::new(ddb, LEDGER, 86_400),
        quarantine: QuarantineStore::new(s3(&h.sdk), BUCKET, "quarantine/"),
        registry: None,
        schemas: Mutex::new(SchemaCache::new(Duration::from_secs(300), 1000)),
        config,
    }
}

pub fn default_spec() -> EnrichmentSpec {
    EnrichmentSpec::parse(DEFAULT_SPEC, "test").unwrap()
}

pub fn ctx(deadline_ms: u64) -> InvocationContext {
    InvocationContext {
        request_id: format!("req-{}", fastrand::u32(..)),
        now: Utc::now(),
        deadline: tokio::time::Instant::now() + Duration::from_millis(deadline_ms),
    }
}

/// Every enriched record in the output stream, in no particular order.
pub async fn read_output(sdk: &SdkConfig) -> Vec<Value> {
    let k = aws_sdk_kinesis::Client::new(sdk);
    let shards = k.list_shards().stream_name(OUTPUT).send().await.unwrap();
    let mut out = Vec::new();
    for shard in shards.shards() {
        let it = k
            .get_shard_iterator()
            .stream_name(OUTPUT)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap();
        let recs = k
            .get_records()
            .shard_iterator(it.shard_iterator().unwrap())
            .limit(10_000)
            .send()
            .await
            .unwrap();
        for r in recs.records() {
            let data = r.data().as_ref();
            assert_eq!(data.last(), Some(&b'\n'), "records are newline-terminated");
            out.push(serde_json::from_slice(data).unwrap());
        }
    }
    out
}

/// Every quarantine entry, by object.
pub async fn read_quarantine(
    sdk: &SdkConfig,
) -> BTreeMap<String, Vec<enrich::quarantine::QuarantineEntry>> {
    read_bucket(sdk, BUCKET).await
}

/// Every quarantine entry in `bucket`, by object.
pub async fn read_bucket(
    sdk: &SdkConfig,
    bucket: &str,
) -> BTreeMap<String, Vec<enrich::quarantine::QuarantineEntry>> {
    let c = s3(sdk);
    let list = c.list_objects_v2().bucket(bucket).send().await.unwrap();
    let mut out = BTreeMap::new();
    for o in list.contents() {
        let key = o.key().unwrap().to_string();
        let body = c
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        out.insert(key, parse_ndjson(&body).unwrap());
    }
    out
}

pub fn failures(response: &Value) -> Vec<String> {
    batch_item_failures(response)
}
