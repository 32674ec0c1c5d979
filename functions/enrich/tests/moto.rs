//! enrich against a real moto server (Kinesis, DynamoDB, S3), with PutRecords failures injected
//! by an SDK interceptor: the chosen entries are removed from the request before it is sent
//! (so moto never stores them) and reported back as throttled in the response, exactly what a
//! partially failed PutRecords looks like.
//!
//! The accounting checked: every input record is in exactly one of enriched stream, quarantine,
//! reported failures; re-delivering from the lowest reported failure (as Lambda does) completes
//! the batch with no loss and no duplicate.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kinesis::operation::put_records::PutRecordsOutput;
use aws_sdk_kinesis::types::{PutRecordsResultEntry, ShardIteratorType};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextMut, Output,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;

use enrich::adapters::{EnrichedStream, LedgerStore, QuarantineStore, ReferenceTable};
use enrich::pipeline::Enricher;
use enrich::quarantine::parse_ndjson;
use enrich::reference::ReferenceCache;
use enrich::service::{EnrichError, EnrichService, InvocationContext};
use enrich::spec::{DEFAULT_SPEC, EnrichmentSpec};
use serde_json::{Value, json};
use streamops_shared::{EnvReader, Metrics};
use streamops_test_support::{MotoServer, create_table, fixture};

const OUTPUT: &str = "streamops-enriched";
const LEDGER: &str = "streamops-enrich-ledger";
const REFERENCE: &str = "streamops-reference";
const BUCKET: &str = "streamops-quarantine";
const KEY: &[u8] = b"test-hmac-key-0123456789abcdef";

/// Fails, on every PutRecords call, the entries whose input `event_id` is in `fail`.
#[derive(Debug, Clone, Default)]
struct PutRecordsFaults {
    fail: Arc<Mutex<HashSet<String>>>,
    /// Request positions removed from the call in flight.
    removed: Arc<Mutex<Vec<usize>>>,
    injected: Arc<Mutex<usize>>,
}

impl PutRecordsFaults {
    fn set(&self, ids: &[&str]) {
        *self.fail.lock().unwrap() = ids.iter().map(|s| s.to_string()).collect();
    }
}

impl Intercept for PutRecordsFaults {
    fn name(&self) -> &'static str {
        "PutRecordsFaults"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let Some(body) = request.body().bytes() else {
            return Ok(());
        };
        let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
            return Ok(());
        };
        let Some(entries) = v.get("Records").and_then(Value::as_array).cloned() else {
            return Ok(());
        };
        let fail = self.fail.lock().unwrap().clone();
        let mut removed = Vec::new();
        let mut kept = Vec::new();
        for (i, e) in entries.into_iter().enumerate() {
            let data = STANDARD
                .decode(e["Data"].as_str().unwrap_or_default())
                .unwrap_or_default();
            let id = serde_json::from_slice::<Value>(&data)
                .ok()
                .and_then(|d| d["event_id"].as_str().map(str::to_string));
            if id.is_some_and(|id| fail.contains(&id)) {
                removed.push(i);
            } else {
                kept.push(e);
            }
        }
        *self.injected.lock().unwrap() += removed.len();
        *self.removed.lock().unwrap() = removed;
        v["Records"] = Value::Array(kept);
        let bytes = serde_json::to_vec(&v)?;
        request
            .headers_mut()
            .insert("content-length", bytes.len().to_string());
        *request.body_mut() = SdkBody::from(bytes);
        Ok(())
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let removed = std::mem::take(&mut *self.removed.lock().unwrap());
        if removed.is_empty() {
            return Ok(());
        }
        let Some(Ok(output)) = context.output_or_error_mut() else {
            return Ok(());
        };
        let Some(real) = output.downcast_ref::<PutRecordsOutput>() else {
            return Ok(());
        };
        let mut answered = real.records().to_vec().into_iter();
        let total = answered.len() + removed.len();
        let mut records = Vec::with_capacity(total);
        for i in 0..total {
            if removed.contains(&i) {
                records.push(
                    PutRecordsResultEntry::builder()
                        .error_code("ProvisionedThroughputExceededException")
                        .error_message("Rate exceeded for shard (injected by the test)")
                        .build(),
                );
            } else {
                records.push(answered.next().expect("moto answered every kept entry"));
            }
        }
        let rewritten = PutRecordsOutput::builder()
            .failed_record_count(real.failed_record_count().unwrap_or(0) + removed.len() as i32)
            .set_records(Some(records))
            .build()?;
        *output = Output::erase(rewritten);
        Ok(())
    }
}

struct Harness {
    _moto: MotoServer,
    sdk: SdkConfig,
    faults: PutRecordsFaults,
}

async fn harness() -> Harness {
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
    s3(&sdk)
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    Harness {
        _moto: moto,
        sdk,
        faults: PutRecordsFaults::default(),
    }
}

fn s3(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    streamops_shared::aws::s3_client(sdk, true)
}

fn service(h: &Harness, spec: EnrichmentSpec, msk_mode: &str) -> EnrichService {
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
        reference,
        cache: Mutex::new(ReferenceCache::new(Duration::from_secs(300), 1000)),
        stream: EnrichedStream::new(aws_sdk_kinesis::Client::from_conf(kinesis_conf), OUTPUT),
        ledger: LedgerStore::new(ddb, LEDGER, 86_400),
        quarantine: QuarantineStore::new(s3(&h.sdk), BUCKET, "quarantine/"),
        config,
    }
}

fn default_spec() -> EnrichmentSpec {
    EnrichmentSpec::parse(DEFAULT_SPEC, "test").unwrap()
}

fn ctx(deadline_ms: u64) -> InvocationContext {
    InvocationContext {
        request_id: format!("req-{}", fastrand::u32(..)),
        now: Utc::now(),
        deadline: tokio::time::Instant::now() + Duration::from_millis(deadline_ms),
    }
}

/// Every enriched record in the output stream, in no particular order.
async fn read_output(sdk: &SdkConfig) -> Vec<Value> {
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
async fn read_quarantine(
    sdk: &SdkConfig,
) -> BTreeMap<String, Vec<enrich::quarantine::QuarantineEntry>> {
    read_bucket(sdk, BUCKET).await
}

/// Every quarantine entry in `bucket`, by object.
async fn read_bucket(
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

/// The fixture batch plus `extra` generated good records on the same shard.
fn kinesis_batch(extra: usize) -> Value {
    let mut ev = fixture("enrich/kinesis-mixed-batch.json");
    let records = ev["Records"].as_array_mut().unwrap();
    let template = records[0].clone();
    let last: u128 = records.last().unwrap()["kinesis"]["sequenceNumber"]
        .as_str()
        .unwrap()[30..]
        .parse()
        .unwrap();
    let prefix = records[0]["kinesis"]["sequenceNumber"].as_str().unwrap()[..30].to_string();
    for i in 0..extra {
        let mut r = template.clone();
        let seq = format!("{prefix}{:026}", last + 1000 * (i as u128 + 1));
        let body = json!({"event_id": format!("gen-{i:04}"), "event_type": "click", "user_id": format!("user-{}", i % 5),
                          "product_id": if i % 2 == 0 { "p-200" } else { "p-404" }, "email": format!("g{i}@example.com"),
                          "ts": 1_795_425_400_000i64 + i as i64});
        r["kinesis"]["sequenceNumber"] = json!(seq);
        r["eventID"] = json!(format!("shardId-000000000000:{seq}"));
        r["kinesis"]["data"] = json!(STANDARD.encode(body.to_string()));
        records.push(r);
    }
    ev
}

fn seq_of(r: &Value) -> String {
    r["kinesis"]["sequenceNumber"].as_str().unwrap().to_string()
}

fn failures(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_batch_every_record_accounted_for_and_redelivery_adds_no_duplicate() {
    let h = harness().await;
    let svc = service(&h, default_spec(), "fail-batch");
    let event = kinesis_batch(40);
    let inputs: Vec<Value> = event["Records"].as_array().unwrap().clone();
    let all_seqs: BTreeSet<String> = inputs.iter().map(seq_of).collect();
    // Persistent throttling for a few entries, including the first good record.
    h.faults
        .set(&["evt-0001", "gen-0003", "gen-0017", "gen-0031"]);
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    let response = svc
        .handle(&event.to_string(), &ctx(1500), &mut m)
        .await
        .unwrap();
    assert!(*h.faults.injected.lock().unwrap() >= 4);

    let failed: BTreeSet<String> = failures(&response).into_iter().collect();
    assert_eq!(failed.len(), 4, "{response}");
    let delivered: Vec<Value> = read_output(&h.sdk).await;
    let delivered_seqs: BTreeSet<String> = delivered
        .iter()
        .map(|o| {
            o["_ingest"]["sequence_number"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        delivered_seqs.len(),
        delivered.len(),
        "no duplicate in the first attempt"
    );
    let quarantine = read_quarantine(&h.sdk).await;
    assert_eq!(quarantine.len(), 1, "one quarantine object per batch");
    let quarantined: BTreeSet<String> = quarantine
        .values()
        .flatten()
        .map(|e| e.origin.position.clone())
        .collect();
    let reasons: BTreeSet<&str> = quarantine
        .values()
        .flatten()
        .map(|e| e.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        BTreeSet::from([
            "invalid_json",
            "not_an_object",
            "missing_field",
            "wrong_type",
            "invalid_event_time",
            "invalid_utf8",
            "invalid_base64"
        ])
    );
    // Exactly one place each.
    assert!(
        delivered_seqs.is_disjoint(&quarantined)
            && delivered_seqs.is_disjoint(&failed)
            && quarantined.is_disjoint(&failed)
    );
    let union: BTreeSet<String> = delivered_seqs
        .iter()
        .chain(&quarantined)
        .chain(&failed)
        .cloned()
        .collect();
    assert_eq!(union, all_seqs);

    // The enrichment itself, on the stream: reference join, PII, derived fields.
    let by_id: BTreeMap<&str, &Value> = delivered
        .iter()
        .map(|o| (o["event_id"].as_str().unwrap(), o))
        .collect();
    let e2 = by_id["evt-0002"];
    assert_eq!(e2["_ingest"]["reference"], "missing");
    let g0 = by_id["gen-0000"];
    assert_eq!(
        g0["product"],
        json!({"category": "games", "brand": "globex", "price_band": 3})
    );
    assert_eq!(g0["_ingest"]["reference"], "found");
    assert_eq!(g0["email"].as_str().unwrap().len(), 64);
    assert_eq!(by_id["evt-0003"]["_ingest"]["reference"], "no_key");
    assert_eq!(by_id["evt-0003"]["dt"], "2026-11-23");

    // Lambda re-delivers from the lowest reported sequence number; the fault has cleared.
    h.faults.set(&[]);
    let lowest = failed
        .iter()
        .min_by(|a, b| enrich::origin::cmp_position(a, b))
        .unwrap()
        .clone();
    let mut retry = event.clone();
    retry["Records"] = Value::Array(
        inputs
            .iter()
            .filter(|r| {
                enrich::origin::cmp_position(&seq_of(r), &lowest) != std::cmp::Ordering::Less
            })
            .cloned()
            .collect(),
    );
    let response = svc
        .handle(&retry.to_string(), &ctx(5000), &mut m)
        .await
        .unwrap();
    assert!(failures(&response).is_empty(), "{response}");
    let after = read_output(&h.sdk).await;
    let ids: Vec<&str> = after
        .iter()
        .map(|o| o["_event_id"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(
        ids.len(),
        unique.len(),
        "a redelivered batch writes nothing twice"
    );
    let seqs: BTreeSet<String> = after
        .iter()
        .map(|o| {
            o["_ingest"]["sequence_number"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(seqs, all_seqs.difference(&quarantined).cloned().collect());
    assert_eq!(
        read_quarantine(&h.sdk).await.len(),
        1,
        "poison after the failure point is not quarantined twice"
    );

    // A third delivery of the same records (e.g. a replayed shard) is skipped entirely.
    let response = svc
        .handle(&retry.to_string(), &ctx(5000), &mut m)
        .await
        .unwrap();
    assert!(failures(&response).is_empty());
    assert_eq!(read_output(&h.sdk).await.len(), after.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msk_batch_with_several_partitions_fail_batch_then_complete() {
    let h = harness().await;
    let svc = service(&h, default_spec(), "fail-batch");
    let event = fixture("enrich/msk-multi-partition-batch.json");
    let mut all = BTreeSet::new();
    for (lane, recs) in event["records"].as_object().unwrap() {
        for r in recs.as_array().unwrap() {
            all.insert(format!("{lane}@{}", r["offset"]));
        }
    }
    h.faults.set(&["evt-0022", "evt-0031"]);
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    let err = svc
        .handle(&event.to_string(), &ctx(800), &mut m)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EnrichError::BatchIncomplete {
                failed: 2,
                total: 7,
                ..
            }
        ),
        "{err}"
    );

    let first = read_output(&h.sdk).await;
    let key = |o: &Value| {
        format!(
            "{}-{}@{}",
            o["_ingest"]["topic"].as_str().unwrap(),
            o["_ingest"]["partition"].as_str().unwrap(),
            o["_ingest"]["offset"].as_str().unwrap()
        )
    };
    let delivered: BTreeSet<String> = first.iter().map(key).collect();
    let quarantine = read_quarantine(&h.sdk).await;
    let quarantined: BTreeSet<String> = quarantine
        .values()
        .flatten()
        .map(|e| {
            format!(
                "{}-{}@{}",
                e.origin.stream, e.origin.shard, e.origin.position
            )
        })
        .collect();
    assert_eq!(
        quarantined,
        BTreeSet::from([
            "clickstream-0@101".to_string(),
            "clickstream-1@8".to_string()
        ])
    );
    let failed = BTreeSet::from([
        "clickstream-0@102".to_string(),
        "clickstream-1@9".to_string(),
    ]);
    assert!(delivered.is_disjoint(&quarantined) && delivered.is_disjoint(&failed));
    let union: BTreeSet<String> = delivered
        .iter()
        .chain(&quarantined)
        .chain(&failed)
        .cloned()
        .collect();
    assert_eq!(union, all);
    let poison = quarantine
        .values()
        .flatten()
        .find(|e| e.origin.position == "101")
        .unwrap();
    assert_eq!(poison.reason.as_str(), "invalid_json");
    assert_eq!(
        STANDARD
            .decode(poison.data_base64.as_deref().unwrap())
            .unwrap(),
        b"oops",
        "original bytes kept"
    );

    // Lambda retries the whole batch: only the two failed records are written now.
    h.faults.set(&[]);
    svc.handle(&event.to_string(), &ctx(5000), &mut m)
        .await
        .unwrap();
    let after = read_output(&h.sdk).await;
    let keys: Vec<String> = after.iter().map(key).collect();
    let unique: BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(keys.len(), unique.len(), "no duplicate after the retry");
    assert_eq!(unique, all.difference(&quarantined).cloned().collect());
    assert_eq!(read_quarantine(&h.sdk).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msk_partial_mode_reports_topic_partition_and_offset() {
    let h = harness().await;
    let svc = service(&h, default_spec(), "partial");
    h.faults.set(&["evt-0040"]);
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    let response = svc
        .handle(
            &fixture("enrich/msk-multi-partition-batch.json").to_string(),
            &ctx(600),
            &mut m,
        )
        .await
        .unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": {"partition": "clickstream-2", "offset": 55}}]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_after_a_spec_fix_delivers_the_repaired_and_keeps_the_rest() {
    let h = harness().await;
    let svc = service(&h, default_spec(), "fail-batch");
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    svc.handle(
        &fixture("enrich/kinesis-mixed-batch.json").to_string(),
        &ctx(5000),
        &mut m,
    )
    .await
    .unwrap();
    let (key, entries) = read_quarantine(&h.sdk).await.into_iter().next().unwrap();
    assert_eq!(entries.len(), 7);
    let before = read_output(&h.sdk).await.len();

    // The fix: user_id and event_type are no longer required or typed; partition by event_id.
    let relaxed = EnrichmentSpec::parse(
        r#"{"name": "clickstream-v2", "fields": [{"name": "event_id", "type": "string"}],
            "event_time": {"field": "ts", "formats": ["rfc3339", "epoch_millis", "epoch_seconds"]},
            "partition_key": "event_id", "pii": [{"field": "email", "action": "hmac"}]}"#,
        "relaxed",
    )
    .unwrap();
    let fixed = service(&h, relaxed, "fail-batch");
    let dry = fixed
        .handle(
            &json!({"command": "replay", "key": key, "dry_run": true}).to_string(),
            &ctx(5000),
            &mut m,
        )
        .await
        .unwrap();
    assert_eq!(
        dry["summary"],
        json!({"deliver": 2, "quarantine": 5}),
        "{dry}"
    );
    assert_eq!(
        read_output(&h.sdk).await.len(),
        before,
        "a dry run writes nothing"
    );

    let result = fixed
        .handle(
            &json!({"command": "replay", "key": key}).to_string(),
            &ctx(5000),
            &mut m,
        )
        .await
        .unwrap();
    assert_eq!(result["delivered"], 2, "{result}");
    assert_eq!(result["remaining_in_object"], 5);
    let out = read_output(&h.sdk).await;
    assert_eq!(out.len(), before + 2);
    let replayed: Vec<&Value> = out
        .iter()
        .filter(|o| o["_ingest"]["spec"] == "clickstream-v2")
        .collect();
    let ids: BTreeSet<&str> = replayed
        .iter()
        .map(|o| o["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from(["evt-0005", "evt-0006"]));
    let left = &read_quarantine(&h.sdk).await[&key];
    assert_eq!(left.len(), 5);
    assert!(left.iter().all(|e| e.replays == 1));
}

/// A replay from another bucket (e.g. the retained quarantine bucket of an earlier stack) reads,
/// rewrites and deletes there: what stays poison goes back into the object it came from, and the
/// configured quarantine bucket is not touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_a_custom_bucket_rewrites_that_bucket_and_leaves_the_configured_one_alone() {
    const ARCHIVE: &str = "streamops-quarantine-archive";
    let h = harness().await;
    let c = s3(&h.sdk);
    c.create_bucket().bucket(ARCHIVE).send().await.unwrap();
    let svc = service(&h, default_spec(), "fail-batch");
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    svc.handle(
        &fixture("enrich/kinesis-mixed-batch.json").to_string(),
        &ctx(5000),
        &mut m,
    )
    .await
    .unwrap();
    // Move the quarantine object to the archive bucket, under the same key.
    let (key, entries) = read_quarantine(&h.sdk).await.into_iter().next().unwrap();
    assert_eq!(entries.len(), 7);
    let body = enrich::quarantine::render_ndjson(&entries);
    c.put_object()
        .bucket(ARCHIVE)
        .key(&key)
        .body(body.into())
        .send()
        .await
        .unwrap();
    c.delete_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();

    // Nothing was fixed: every record stays poison, so the object is rewritten, not deleted.
    let result = svc
        .handle(
            &json!({"command": "replay", "bucket": ARCHIVE, "key": key}).to_string(),
            &ctx(5000),
            &mut m,
        )
        .await
        .unwrap();
    assert_eq!(
        result["object"],
        format!("s3://{ARCHIVE}/{key}"),
        "{result}"
    );
    assert_eq!(result["delivered"], 0, "{result}");
    assert_eq!(result["remaining_in_object"], 7, "{result}");
    let archive = read_bucket(&h.sdk, ARCHIVE).await;
    assert!(
        archive[&key].iter().all(|e| e.replays == 1),
        "the archived object itself was rewritten (replays counted): {archive:?}"
    );
    assert!(
        read_quarantine(&h.sdk).await.is_empty(),
        "nothing is written into the configured quarantine bucket"
    );

    // A fix that repairs two of them: those are delivered once, and the object keeps the rest.
    let relaxed = EnrichmentSpec::parse(
        r#"{"name": "clickstream-v2", "fields": [{"name": "event_id", "type": "string"}],
            "event_time": {"field": "ts", "formats": ["rfc3339", "epoch_millis", "epoch_seconds"]},
            "partition_key": "event_id", "pii": [{"field": "email", "action": "hmac"}]}"#,
        "relaxed",
    )
    .unwrap();
    let fixed = service(&h, relaxed, "fail-batch");
    let before = read_output(&h.sdk).await.len();
    for _ in 0..2 {
        fixed
            .handle(
                &json!({"command": "replay", "bucket": ARCHIVE, "key": key}).to_string(),
                &ctx(5000),
                &mut m,
            )
            .await
            .unwrap();
    }
    assert_eq!(
        read_output(&h.sdk).await.len(),
        before + 2,
        "a second replay of the same object delivers nothing again"
    );
    assert_eq!(read_bucket(&h.sdk, ARCHIVE).await[&key].len(), 5);
    assert!(read_quarantine(&h.sdk).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_writes_nothing_and_explains_each_record() {
    let h = harness().await;
    let svc = service(&h, default_spec(), "fail-batch");
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    let out = svc
        .handle(
            &fixture("enrich/ops-dry-run-records.json").to_string(),
            &ctx(5000),
            &mut m,
        )
        .await
        .unwrap();
    let decisions: Vec<&str> = out["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, vec!["deliver", "quarantine", "quarantine"]);
    assert_eq!(out["records"][0]["output"]["product"]["category"], "books");
    assert_eq!(out["records"][1]["reason"], "invalid_event_time");
    assert_eq!(out["records"][2]["reason"], "invalid_json");
    assert!(read_output(&h.sdk).await.is_empty());
    assert!(read_quarantine(&h.sdk).await.is_empty());
    let err = svc
        .handle(r#"{"command": "explode"}"#, &ctx(1000), &mut m)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown command") && err.contains("replay"),
        "{err}"
    );
}

/// Issue 14: a fractional Kafka timestamp in the middle of a batch is quarantined alone (it
/// used to panic and fail the whole batch); `-1` (no timestamp) is delivered without an
/// arrival time; arrival times are exact to the millisecond.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msk_timestamps_fractional_quarantined_none_accepted_exact_arrival() {
    let h = harness().await;
    let svc = service(&h, default_spec(), "fail-batch");
    let event = fixture("enrich/msk-timestamp-edge-cases.json");
    let mut m = Metrics::with_sink("streamops", "enrich", |_: &str| {});
    svc.handle(&event.to_string(), &ctx(5000), &mut m)
        .await
        .unwrap();
    let out = read_output(&h.sdk).await;
    let by_offset = |o: &str| {
        out.iter()
            .find(|r| r["_ingest"]["offset"] == o)
            .unwrap_or_else(|| panic!("offset {o} not delivered: {out:?}"))
    };
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(
        by_offset("200")["_ingest"]["arrival_time"],
        "2026-11-23T09:15:35.987Z"
    );
    assert_eq!(by_offset("202")["_ingest"].get("arrival_time"), None);
    assert_eq!(
        by_offset("203")["_ingest"]["arrival_time"],
        "2026-11-23T09:15:36.001Z"
    );
    let quarantine: Vec<_> = read_quarantine(&h.sdk)
        .await
        .into_values()
        .flatten()
        .collect();
    assert_eq!(quarantine.len(), 1);
    assert_eq!(quarantine[0].origin.position, "201");
    assert_eq!(quarantine[0].reason.as_str(), "malformed_record");
}
