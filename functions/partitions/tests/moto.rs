//! The partitions handler against a real moto server: DynamoDB for the registry, Athena for the
//! DDL (moto records every query's text), Glue for the catalog, S3 for the data bucket.
//!
//! Faults moto cannot produce (a FAILED query, a query re-queued after RUNNING, a throttled
//! start) are injected by an SDK interceptor on the Athena client that rewrites moto's answers.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_glue::types::{Column, SerDeInfo, StorageDescriptor, TableInput};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use chrono::{DateTime, Utc};
use partitions::{
    AthenaRunner, DataBucket, GlueCatalog, InvocationContext, PartitionsConfig, PartitionsService,
    PollPolicy, Registry,
};
use serde_json::{Value, json};
use streamops_shared::{EnvReader, Metrics};
use streamops_test_support::{MotoServer, create_table, fixture};

const BUCKET: &str = "streamops-data-123456789012-us-east-1";
const REGISTRY: &str = "streamops-partitions-registry";
const WORKGROUP: &str = "streamops-partitions";
const MAX_STATEMENT: usize = 262_144;

// ------------------------------------------------------------------ fault injection

/// Rewrites Athena answers: scripted GetQueryExecution states, FAILED queries, throttled starts.
#[derive(Debug, Clone, Default)]
struct Faults {
    /// States returned by the next GetQueryExecution calls, in order (then moto's own answer).
    script: Arc<Mutex<VecDeque<&'static str>>>,
    /// Every GetQueryExecution answers FAILED while set.
    fail_queries: Arc<AtomicBool>,
    /// The next N StartQueryExecution calls answer TooManyRequestsException (and never reach moto).
    throttle_starts: Arc<AtomicUsize>,
    /// StartQueryExecution calls answered with throttling so far.
    throttled: Arc<AtomicUsize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Throttled(bool);

impl aws_smithy_types::config_bag::Storable for Throttled {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

fn operation(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map(|m| m.name().to_string())
        .unwrap_or_default()
}

impl Intercept for Faults {
    fn name(&self) -> &'static str {
        "AthenaFaults"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if operation(cfg) != "StartQueryExecution" {
            return Ok(());
        }
        // Decided per attempt: the SDK's own retry of a throttled attempt goes through here again.
        let throttle = self
            .throttle_starts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        cfg.interceptor_state().store_put(Throttled(throttle));
        if throttle {
            // Send a harmless read instead (same body, which ListWorkGroups ignores), so moto does
            // not record a query that "was throttled".
            context
                .request_mut()
                .headers_mut()
                .insert("x-amz-target", "AmazonAthena.ListWorkGroups");
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = operation(cfg);
        if op == "StartQueryExecution" && cfg.load::<Throttled>() == Some(&Throttled(true)) {
            self.throttled.fetch_add(1, Ordering::SeqCst);
            let mut resp = Response::new(
                StatusCode::try_from(400u16).unwrap(),
                SdkBody::from(
                    r#"{"__type":"TooManyRequestsException","Message":"You have exceeded the limit for the number of queries you can run concurrently."}"#,
                ),
            );
            resp.headers_mut()
                .insert("content-type", "application/x-amz-json-1.1");
            *context.response_mut() = resp;
            return Ok(());
        }
        if op != "GetQueryExecution" {
            return Ok(());
        }
        let scripted = self.script.lock().unwrap().pop_front();
        let state = match scripted {
            Some(s) => s,
            None if self.fail_queries.load(Ordering::SeqCst) => "FAILED",
            None => return Ok(()),
        };
        let mut status = json!({"State": state, "SubmissionDateTime": 1795428000.0});
        if state == "FAILED" {
            status["StateChangeReason"] = json!(
                "FAILED: Execution Error, return code 1 from org.apache.hadoop.hive.ql.exec.DDLTask (injected)"
            );
            status["AthenaError"] = json!({"ErrorCategory": 2, "ErrorType": 1006, "Retryable": false, "ErrorMessage": "injected failure"});
        }
        let body = json!({"QueryExecution": {"QueryExecutionId": "injected", "Status": status}});
        let mut resp = Response::new(
            StatusCode::try_from(200u16).unwrap(),
            SdkBody::from(body.to_string()),
        );
        resp.headers_mut()
            .insert("content-type", "application/x-amz-json-1.1");
        *context.response_mut() = resp;
        Ok(())
    }
}

// ------------------------------------------------------------------ harness

struct Harness {
    _moto: MotoServer,
    sdk: SdkConfig,
    faults: Faults,
    service: PartitionsService,
    metrics: Arc<Mutex<Vec<String>>>,
}

fn tables_json() -> String {
    json!([
        // As deployed: Firehose dynamic partitioning writes enriched/dt=YYYY-MM-DD/hour=HH/.
        {"bucket": BUCKET, "prefix": "enriched/", "database": "streamops", "table": "enriched_events",
         "layout": "hive", "error_prefix": "firehose-errors/"},
        {"bucket": BUCKET, "prefix": "firehose/", "database": "streamops", "table": "firehose_events", "layout": "firehose"},
        {"bucket": BUCKET, "prefix": "flink/", "database": "streamops", "table": "flink_events", "layout": "flink"}
    ])
    .to_string()
}

fn config(mode: &str) -> PartitionsConfig {
    let vars: HashMap<String, String> = [
        ("PARTITIONS_TABLES", tables_json()),
        ("PARTITIONS_REGISTRY_TABLE", REGISTRY.to_string()),
        ("PARTITIONS_MODE", mode.to_string()),
        ("PARTITIONS_ATHENA_WORKGROUP", WORKGROUP.to_string()),
        (
            "PARTITIONS_ATHENA_OUTPUT_LOCATION",
            format!("s3://{BUCKET}/athena-results/"),
        ),
        ("PARTITIONS_QUERY_TIMEOUT_SECONDS", "20".to_string()),
        ("S3_FORCE_PATH_STYLE", "true".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    PartitionsConfig::read(EnvReader::from_map(vars)).unwrap()
}

async fn create_glue_table(glue: &aws_sdk_glue::Client, name: &str, prefix: &str) {
    let col = |n: &str, t: &str| Column::builder().name(n).r#type(t).build().unwrap();
    glue.create_table()
        .database_name("streamops")
        .table_input(
            TableInput::builder()
                .name(name)
                .table_type("EXTERNAL_TABLE")
                .partition_keys(col("dt", "string"))
                .partition_keys(col("hour", "string"))
                .storage_descriptor(
                    StorageDescriptor::builder()
                        .columns(col("event_id", "string"))
                        .columns(col("payload", "string"))
                        .location(format!("s3://{BUCKET}/{prefix}"))
                        .input_format("org.apache.hadoop.mapred.TextInputFormat")
                        .output_format("org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat")
                        .serde_info(
                            SerDeInfo::builder()
                                .serialization_library("org.openx.data.jsonserde.JsonSerDe")
                                .build(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

async fn harness(mode: &str) -> Harness {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    create_table(&sdk, REGISTRY, None).await;
    let s3 = streamops_shared::aws::s3_client(&sdk, true);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let glue = aws_sdk_glue::Client::new(&sdk);
    glue.create_database()
        .database_input(
            aws_sdk_glue::types::DatabaseInput::builder()
                .name("streamops")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    create_glue_table(&glue, "enriched_events", "enriched/").await;
    create_glue_table(&glue, "firehose_events", "firehose/").await;
    create_glue_table(&glue, "flink_events", "flink/").await;
    let athena_plain = aws_sdk_athena::Client::new(&sdk);
    athena_plain
        .create_work_group()
        .name(WORKGROUP)
        .send()
        .await
        .unwrap();

    let faults = Faults::default();
    let athena = aws_sdk_athena::Client::from_conf(
        aws_sdk_athena::config::Builder::from(&sdk)
            .interceptor(faults.clone())
            .build(),
    );
    let policy = PollPolicy {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(40),
    };
    let config = config(mode);
    let service = PartitionsService {
        registry: Registry::new(ddb, REGISTRY),
        athena: AthenaRunner::new(athena, WORKGROUP, config.output_location.clone(), policy),
        glue: GlueCatalog::new(glue, policy),
        data: DataBucket::new(s3),
        config,
    };
    Harness {
        _moto: moto,
        sdk,
        faults,
        service,
        metrics: Arc::new(Mutex::new(Vec::new())),
    }
}

fn ctx(request_id: &str) -> InvocationContext {
    InvocationContext {
        request_id: request_id.into(),
        now: Utc::now(),
        deadline: Instant::now() + Duration::from_secs(120),
    }
}

impl Harness {
    async fn handle(&self, payload: Value, request_id: &str) -> Result<Value, String> {
        let sink = self.metrics.clone();
        let mut metrics = Metrics::with_sink("streamops", "partitions", move |l| {
            sink.lock().unwrap().push(l.to_string())
        });
        let out = self
            .service
            .handle(payload, &ctx(request_id), &mut metrics)
            .await;
        metrics.flush();
        out.map_err(|e| e.to_string())
    }

    /// Every query moto recorded in the workgroup, oldest first.
    async fn queries(&self) -> Vec<String> {
        let athena = aws_sdk_athena::Client::new(&self.sdk);
        let ids = athena
            .list_query_executions()
            .work_group(WORKGROUP)
            .send()
            .await
            .unwrap()
            .query_execution_ids
            .unwrap_or_default();
        let mut out = Vec::new();
        for id in ids {
            let q = athena
                .get_query_execution()
                .query_execution_id(id)
                .send()
                .await
                .unwrap();
            out.push(q.query_execution.unwrap().query.unwrap());
        }
        out
    }

    /// Sum of one metric over the EMF documents flushed so far (optionally for one dimension value).
    fn metric(&self, name: &str, reason: Option<&str>) -> f64 {
        self.metrics
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|d| reason.is_none_or(|r| d["reason"] == r))
            .filter_map(|d| match &d[name] {
                Value::Number(n) => n.as_f64(),
                Value::Array(a) => Some(a.len() as f64),
                _ => None,
            })
            .sum()
    }

    async fn registry_state(&self, key: &str) -> Option<String> {
        let ddb = aws_sdk_dynamodb::Client::new(&self.sdk);
        let item = ddb
            .get_item()
            .table_name(REGISTRY)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(key.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item?;
        item.get("state").and_then(|v| v.as_s().ok()).cloned()
    }

    async fn put_object(&self, key: &str) {
        streamops_shared::aws::s3_client(&self.sdk, true)
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(
                b"{\"event_id\":\"e1\"}\n",
            ))
            .send()
            .await
            .unwrap();
    }
}

// ------------------------------------------------------------------ events

fn s3_record(key: &str, size: i64, time: DateTime<Utc>) -> Value {
    json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": time.to_rfc3339(), "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAEXAMPLE:firehose"},
        "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "partitions",
               "bucket": {"name": BUCKET, "ownerIdentity": {"principalId": "O"}, "arn": format!("arn:aws:s3:::{BUCKET}")},
               "object": {"key": key, "size": size, "eTag": "e", "sequencer": "0062E99A88DC407460"}}
    })
}

fn sqs_message(id: &str, body: &Value) -> Value {
    json!({
        "messageId": id, "receiptHandle": format!("rh-{id}"), "body": body.to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795428000000", "SenderId": "S3", "ApproximateFirstReceiveTimestamp": "1795428000000"},
        "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:streamops-partitions-events", "awsRegion": "us-east-1"
    })
}

/// An SQS batch: one S3 notification (one record) per message, message ids `m-<n>`.
fn sqs_batch(keys: &[String], time: DateTime<Utc>) -> Value {
    let records: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            sqs_message(
                &format!("m-{i}"),
                &json!({"Records": [s3_record(k, 1024, time)]}),
            )
        })
        .collect();
    json!({ "Records": records })
}

/// 1,000 Firehose objects spread over three hours of 2026-11-23 (10, 11, 12).
fn burst_keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let hour = 10 + i % 3;
            format!("{prefix}2026/11/23/{hour:02}/streamops-enriched-1-2026-11-23-{hour:02}-{:02}-00-{i:04}.gz", i % 60)
        })
        .collect()
}

fn failures(resp: &Value) -> BTreeSet<String> {
    resp["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("no batchItemFailures in {resp}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect()
}

fn partition_clauses(sql: &str) -> usize {
    sql.matches("\nPARTITION (").count()
}

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_1000_objects_over_3_hours_registers_3_partitions_with_one_statement_and_a_second_burst_runs_no_query()
 {
    let h = harness("athena").await;
    let event = sqs_batch(
        &burst_keys("firehose/", 1000),
        Utc::now() - chrono::Duration::seconds(30),
    );

    let resp = h.handle(event.clone(), "req-burst-1").await.unwrap();
    assert!(failures(&resp).is_empty(), "{resp}");
    let queries = h.queries().await;
    assert_eq!(queries.len(), 1, "{queries:#?}");
    assert_eq!(
        queries[0],
        format!(
            "ALTER TABLE `streamops`.`firehose_events` ADD IF NOT EXISTS\n\
             PARTITION (`dt` = '2026-11-23', `hour` = '10') LOCATION 's3://{BUCKET}/firehose/2026/11/23/10/'\n\
             PARTITION (`dt` = '2026-11-23', `hour` = '11') LOCATION 's3://{BUCKET}/firehose/2026/11/23/11/'\n\
             PARTITION (`dt` = '2026-11-23', `hour` = '12') LOCATION 's3://{BUCKET}/firehose/2026/11/23/12/'"
        )
    );
    for hour in ["10", "11", "12"] {
        let key = format!("streamops.firehose_events/dt=2026-11-23/hour={hour}");
        assert_eq!(
            h.registry_state(&key).await.as_deref(),
            Some("registered"),
            "{key}"
        );
    }
    assert_eq!(h.metric("PartitionsRegistered", None), 3.0);
    assert_eq!(h.metric("QueriesRun", None), 1.0);
    assert_eq!(h.metric("ObjectsReceived", None), 1000.0);
    assert_eq!(
        h.metric("RegistrationLag", None),
        3.0,
        "one lag observation per registered partition"
    );

    // The same burst again (a redelivery, or more objects in the same hours): no query at all.
    let resp = h.handle(event, "req-burst-2").await.unwrap();
    assert!(failures(&resp).is_empty(), "{resp}");
    assert_eq!(h.queries().await.len(), 1, "the second burst ran a query");
    assert_eq!(h.metric("PartitionsAlreadyPresent", None), 3.0);
    assert_eq!(h.metric("PartitionsRegistered", None), 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_statement_per_table_for_a_burst_over_three_layouts() {
    let h = harness("athena").await;
    let mut keys = burst_keys("firehose/", 600);
    keys.extend((0..200).map(|i| format!("flink/2026-11-23--{:02}/part-5c1e-{i}", 10 + i % 3)));
    keys.extend((0..200).map(|i| {
        format!(
            "enriched/dt%3D2026-11-23/hour%3D{:02}/part+{i}.json",
            10 + i % 3
        )
    }));
    let resp = h
        .handle(sqs_batch(&keys, Utc::now()), "req-tables")
        .await
        .unwrap();
    assert!(failures(&resp).is_empty(), "{resp}");
    let queries = h.queries().await;
    assert_eq!(queries.len(), 3, "{queries:#?}");
    let mut tables: Vec<&str> = queries
        .iter()
        .map(|q| q.split_whitespace().nth(2).unwrap())
        .collect();
    tables.sort();
    assert_eq!(
        tables,
        vec![
            "`streamops`.`enriched_events`",
            "`streamops`.`firehose_events`",
            "`streamops`.`flink_events`"
        ]
    );
    for q in &queries {
        assert_eq!(partition_clauses(q), 3, "{q}");
    }
    let hive = queries
        .iter()
        .find(|q| q.contains("enriched_events"))
        .unwrap();
    assert!(
        hive.contains(&format!(
            "LOCATION 's3://{BUCKET}/enriched/dt=2026-11-23/hour=10/'"
        )),
        "{hive}"
    );
    let flink = queries.iter().find(|q| q.contains("flink_events")).unwrap();
    assert!(
        flink.contains(&format!("LOCATION 's3://{BUCKET}/flink/2026-11-23--11/'")),
        "{flink}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_query_releases_its_marks_reports_the_messages_and_the_retry_registers() {
    let h = harness("athena").await;
    let keys = vec![
        "firehose/2026/11/23/10/a.gz".to_string(),
        "firehose/2026/11/23/10/b.gz".to_string(),
        "firehose/2026/11/23/11/c.gz".to_string(),
        "firehose/2026/11/23/11/_SUCCESS".to_string(),
    ];
    let mut event = sqs_batch(&keys, Utc::now());
    // A test event in the same batch is skipped, never failed.
    event["Records"].as_array_mut().unwrap().push(sqs_message(
        "m-test",
        &json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}),
    ));

    h.faults.fail_queries.store(true, Ordering::SeqCst);
    let resp = h.handle(event.clone(), "req-fail").await.unwrap();
    assert_eq!(
        failures(&resp),
        BTreeSet::from(["m-0".to_string(), "m-1".to_string(), "m-2".to_string()])
    );
    for hour in ["10", "11"] {
        let key = format!("streamops.firehose_events/dt=2026-11-23/hour={hour}");
        assert_eq!(
            h.registry_state(&key).await,
            None,
            "mark for {key} was not released"
        );
    }
    assert_eq!(h.metric("QueriesFailed", None), 1.0);
    assert_eq!(h.metric("PartitionsFailed", None), 2.0);
    assert_eq!(h.metric("ObjectsSkipped", Some("test_event")), 1.0);
    assert_eq!(h.metric("ObjectsSkipped", Some("success_marker")), 1.0);

    // Direct S3 invocations fail the invocation instead (Lambda retries the event).
    let direct = json!({"Records": [s3_record("firehose/2026/11/23/12/d.gz", 10, Utc::now())]});
    let err = h
        .handle(direct.clone(), "req-fail-direct")
        .await
        .unwrap_err();
    assert!(
        err.contains("1 of 1 partitions not registered") && err.contains("failed_user"),
        "{err}"
    );

    // The fault clears; SQS redelivers the failed messages and they register.
    h.faults.fail_queries.store(false, Ordering::SeqCst);
    let resp = h.handle(event, "req-retry").await.unwrap();
    assert!(failures(&resp).is_empty(), "{resp}");
    let queries = h.queries().await;
    assert_eq!(
        queries.len(),
        3,
        "failed, failed direct, retry: {queries:#?}"
    );
    assert_eq!(partition_clauses(&queries[2]), 2);
    assert_eq!(
        h.registry_state("streamops.firehose_events/dt=2026-11-23/hour=11")
            .await
            .as_deref(),
        Some("registered")
    );
    h.handle(direct, "req-retry-direct").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_injection_through_a_key_is_rejected_and_never_reaches_athena() {
    let h = harness("athena").await;
    // Keys as S3 sends them: form-URL-encoded (' is %27, ; is %3B, space is +, = is %3D).
    let attacks = [
        "firehose/2026/11/23/10%27%29+LOCATION+%27s3%3A%2F%2Fevil%2F%27%3B+DROP+TABLE+enriched_events%3B+--/x.gz",
        "enriched/dt%3D2026-11-23%27+OR+%271%27%3D%271/hour%3D10/x.json",
        "enriched/dt%3D2026-11-23/hour%3D10%5C%27%29%3B+DROP+DATABASE+streamops%3B--/x.json",
        "flink/2026-11-23--10%60%3B+DROP+TABLE+flink_events/part-0",
        "firehose/2026/11/23/1%27/x.gz",
    ];
    let mut keys: Vec<String> = attacks.iter().map(|s| s.to_string()).collect();
    keys.push("enriched/dt%3D2026-11-23/hour%3D10/legit.gz".into());
    let resp = h
        .handle(sqs_batch(&keys, Utc::now()), "req-inject")
        .await
        .unwrap();
    // Poison is skipped (a retry cannot fix it), not reported for redelivery.
    assert!(failures(&resp).is_empty(), "{resp}");
    assert_eq!(
        h.metric("ObjectsSkipped", Some("invalid_key")),
        attacks.len() as f64
    );
    let queries = h.queries().await;
    assert_eq!(queries.len(), 1);
    assert_eq!(
        queries[0],
        format!(
            "ALTER TABLE `streamops`.`enriched_events` ADD IF NOT EXISTS\n\
             PARTITION (`dt` = '2026-11-23', `hour` = '10') LOCATION 's3://{BUCKET}/enriched/dt=2026-11-23/hour=10/'"
        )
    );
    for q in &queries {
        for bad in ["DROP", "evil", "OR '1'", ";", "--"] {
            assert!(!q.contains(bad), "{bad:?} reached Athena: {q}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20000_partition_backfill_produces_statements_under_the_size_limit() {
    let h = harness("athena").await;
    let started = Instant::now();
    let resp = h
        .handle(
            json!({"command": "backfill", "table": "streamops.enriched_events", "from": "2024-01-01T00",
                   "to": "2026-04-13T08", "dry_run": false, "chunk_size": 20000}),
            "req-backfill-20k",
        )
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(resp["range"]["periods"], 20_000, "{resp}");
    assert_eq!(resp["partitions_registered"], 20_000);
    assert_eq!(resp["done"], true);
    assert_eq!(resp["resume_from"], Value::Null);
    let queries = h.queries().await;
    assert_eq!(resp["statements"].as_u64().unwrap() as usize, queries.len());
    assert!(queries.len() >= 8, "{} statements", queries.len());
    let mut locations = BTreeSet::new();
    for q in &queries {
        assert!(q.len() <= MAX_STATEMENT, "statement of {} bytes", q.len());
        assert!(q.starts_with(
            "ALTER TABLE `streamops`.`enriched_events` ADD IF NOT EXISTS\nPARTITION ("
        ));
        for clause in q.split("\nPARTITION (").skip(1) {
            locations.insert(clause.split("LOCATION ").nth(1).unwrap().to_string());
        }
    }
    assert_eq!(locations.len(), 20_000, "every hour exactly once");
    assert!(resp["largest_statement_bytes"].as_u64().unwrap() as usize <= MAX_STATEMENT);
    assert_eq!(
        h.registry_state("streamops.enriched_events/dt=2026-04-13/hour=07")
            .await
            .as_deref(),
        Some("registered")
    );
    eprintln!(
        "20,000-partition backfill: {} statements, largest {} bytes, {:.1}s against moto",
        queries.len(),
        resp["largest_statement_bytes"],
        elapsed.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_is_a_dry_run_by_default_confirms_data_and_resumes_in_chunks() {
    let h = harness("athena").await;
    for hour in ["01", "05", "06", "23"] {
        h.put_object(&format!("enriched/dt=2026-11-22/hour={hour}/part-0.gz"))
            .await;
    }
    let dry = h
        .handle(fixture("partitions/ops-backfill.json"), "req-dry")
        .await
        .unwrap();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["partitions"], 4, "{dry}");
    assert_eq!(dry["periods_without_data"], 20);
    assert_eq!(dry["queries_run"], 0);
    assert!(
        dry["sample_statement"]
            .as_str()
            .unwrap()
            .contains("hour` = '05'"),
        "{dry}"
    );
    assert!(h.queries().await.is_empty());

    // For real, ten hours per chunk, one chunk per call: three calls cover the day.
    let mut cursor = Value::Null;
    let mut calls = 0;
    loop {
        let mut cmd = json!({"command": "backfill", "table": "enriched_events", "from": "2026-11-22", "to": "2026-11-23",
                             "confirm_data": true, "dry_run": false, "chunk_size": 10, "max_chunks": 1});
        if !cursor.is_null() {
            cmd["resume_from"] = cursor.clone();
        }
        let resp = h.handle(cmd, &format!("req-chunk-{calls}")).await.unwrap();
        calls += 1;
        cursor = resp["resume_from"].clone();
        if resp["done"] == true {
            assert!(cursor.is_null());
            break;
        }
        assert!(calls < 5, "did not finish: {resp}");
    }
    assert_eq!(calls, 3);
    let queries = h.queries().await;
    // Chunk 1 (00-09) holds 01, 05, 06; chunk 2 (10-19) nothing; chunk 3 (20-23) holds 23.
    assert_eq!(
        queries
            .iter()
            .map(|q| partition_clauses(q))
            .collect::<Vec<_>>(),
        vec![3, 1]
    );

    let err = h
        .handle(json!({"command": "backfill", "table": "nope", "from": "2026-11-22", "to": "2026-11-23"}), "req-bad")
        .await
        .unwrap_err();
    assert!(err.contains("no table \"nope\" is configured (configured: streamops.enriched_events, streamops.firehose_events, streamops.flink_events"), "{err}");
    let err = h
        .handle(json!({"command": "backfill", "table": "enriched_events", "from": "2026-11-22", "to": "2026-11-23", "granularity": "day"}), "req-bad")
        .await
        .unwrap_err();
    assert!(err.contains("partitioned by hour"), "{err}");
    let err = h
        .handle(json!({"command": "backfill", "table": "enriched_events", "from": "2026-11-23", "to": "2026-11-22"}), "req-bad")
        .await
        .unwrap_err();
    assert!(err.contains("must be after"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glue_mode_creates_partitions_100_per_call_and_status_shows_registered_and_gaps() {
    let h = harness("glue").await;
    let glue = aws_sdk_glue::Client::new(&h.sdk);
    // One partition already in the catalog (created by hand): BatchCreatePartition reports it per entry.
    glue.create_partition()
        .database_name("streamops")
        .table_name("firehose_events")
        .partition_input(
            aws_sdk_glue::types::PartitionInput::builder()
                .values("2026-11-20")
                .values("00")
                .storage_descriptor(
                    StorageDescriptor::builder()
                        .location(format!("s3://{BUCKET}/firehose/2026/11/20/00/"))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    // 250 hours from 2026-11-20T00: three BatchCreatePartition calls.
    let start = chrono::NaiveDate::from_ymd_opt(2026, 11, 20)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let keys: Vec<String> = (0..250)
        .map(|h| {
            (start + chrono::Duration::hours(h))
                .format("firehose/%Y/%m/%d/%H/part-0.gz")
                .to_string()
        })
        .collect();
    let resp = h
        .handle(sqs_batch(&keys, Utc::now()), "req-glue")
        .await
        .unwrap();
    assert!(failures(&resp).is_empty(), "{resp}");
    assert!(h.queries().await.is_empty(), "glue mode ran Athena DDL");
    assert_eq!(h.metric("PartitionsRegistered", None), 249.0);
    assert_eq!(h.metric("PartitionsAlreadyPresent", None), 1.0);
    let parts = glue
        .get_partitions()
        .database_name("streamops")
        .table_name("firehose_events")
        .send()
        .await
        .unwrap()
        .partitions
        .unwrap();
    assert_eq!(parts.len(), 250);
    let p = parts
        .iter()
        .find(|p| p.values.as_deref() == Some(&["2026-11-21".to_string(), "13".to_string()][..]))
        .unwrap();
    let sd = p.storage_descriptor.as_ref().unwrap();
    assert_eq!(
        sd.location.as_deref(),
        Some(&*format!("s3://{BUCKET}/firehose/2026/11/21/13/"))
    );
    assert_eq!(
        sd.serde_info
            .as_ref()
            .unwrap()
            .serialization_library
            .as_deref(),
        Some("org.openx.data.jsonserde.JsonSerDe")
    );

    // Status over a day that is half registered: data without a partition shows as gaps.
    for hour in ["02", "03", "17"] {
        h.put_object(&format!("firehose/2026/12/01/{hour}/part-0.gz"))
            .await;
    }
    let status = h
        .handle(json!({"command": "status", "table": "streamops.firehose_events", "from": "2026-11-30T12", "to": "2026-12-01T18"}), "req-status")
        .await
        .unwrap();
    // Registered: 2026-11-20T00 + 250 hours runs to 2026-11-30T09, so 11-30T12.. is not registered.
    assert_eq!(status["registered_count"], 0, "{status}");
    assert_eq!(status["gap_count"], 3);
    assert_eq!(status["gaps"][0]["partition"], "dt=2026-12-01/hour=02");
    assert_eq!(
        status["gaps"][0]["location"],
        format!("s3://{BUCKET}/firehose/2026/12/01/02/")
    );
    assert_eq!(status["periods_without_data"], 27);
    let status = h
        .handle(json!({"command": "status", "table": "firehose_events", "from": "2026-11-30T00", "to": "2026-11-30T12"}), "req-status-2")
        .await
        .unwrap();
    assert_eq!(status["registered_count"], 10, "{status}");
    assert_eq!(status["registered"][9], "dt=2026-11-30/hour=09");
    assert_eq!(status["gap_count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeued_and_throttled_queries_still_register() {
    let h = harness("athena").await;
    h.faults.throttle_starts.store(2, Ordering::SeqCst);
    h.faults
        .script
        .lock()
        .unwrap()
        .extend(["QUEUED", "RUNNING", "QUEUED", "RUNNING"]);
    let resp = h
        .handle(
            json!({"Records": [s3_record("firehose/2026/11/23/10/a.gz", 10, Utc::now())]}),
            "req-requeue",
        )
        .await
        .unwrap();
    assert_eq!(resp["registered"], 1, "{resp}");
    assert_eq!(h.faults.throttled.load(Ordering::SeqCst), 2);
    assert!(
        h.faults.script.lock().unwrap().is_empty(),
        "the scripted states were not all polled"
    );
    assert_eq!(
        h.queries().await.len(),
        1,
        "a throttled start must not run twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_another_invocation_is_registering_is_retried_later() {
    let h = harness("athena").await;
    let ddb = aws_sdk_dynamodb::Client::new(&h.sdk);
    use aws_sdk_dynamodb::types::AttributeValue;
    ddb.put_item()
        .table_name(REGISTRY)
        .item(
            "pk",
            AttributeValue::S("streamops.firehose_events/dt=2026-11-23/hour=10".into()),
        )
        .item("state", AttributeValue::S("pending".into()))
        .item("token", AttributeValue::S("someone-else".into()))
        .item(
            "expires_at",
            AttributeValue::N((Utc::now().timestamp() + 300).to_string()),
        )
        .send()
        .await
        .unwrap();
    let keys = vec![
        "firehose/2026/11/23/10/a.gz".to_string(),
        "firehose/2026/11/23/11/b.gz".to_string(),
    ];
    let resp = h
        .handle(sqs_batch(&keys, Utc::now()), "req-inflight")
        .await
        .unwrap();
    assert_eq!(
        failures(&resp),
        BTreeSet::from(["m-0".to_string()]),
        "{resp}"
    );
    let queries = h.queries().await;
    assert_eq!(queries.len(), 1);
    assert!(queries[0].contains("`hour` = '11'") && !queries[0].contains("`hour` = '10'"));
    // The other invocation's claim is left alone.
    assert_eq!(
        h.registry_state("streamops.firehose_events/dt=2026-11-23/hour=10")
            .await
            .as_deref(),
        Some("pending")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_events_register_through_every_input_shape() {
    let h = harness("athena").await;
    let direct = h
        .handle(fixture("partitions/s3-object-created.json"), "req-direct")
        .await
        .unwrap();
    assert_eq!(direct["registered"], 2, "{direct}");
    let eb = h
        .handle(
            fixture("partitions/eventbridge-object-created.json"),
            "req-eb",
        )
        .await
        .unwrap();
    assert_eq!(
        (eb["registered"].as_u64(), eb["already_present"].as_u64()),
        (Some(0), Some(1)),
        "{eb}"
    );
    let sqs = h
        .handle(fixture("partitions/sqs-s3-notifications.json"), "req-sqs")
        .await
        .unwrap();
    assert!(failures(&sqs).is_empty(), "{sqs}");
    assert_eq!(
        h.queries().await.len(),
        1,
        "hours 10 and 11 were registered by the first event"
    );
    assert_eq!(h.metric("ObjectsSkipped", Some("test_event")), 1.0);
    let err = h
        .handle(json!({"hello": "world"}), "req-unknown")
        .await
        .unwrap_err();
    assert!(
        err.contains("not an SQS batch, an S3 notification"),
        "{err}"
    );
    let err = h
        .handle(json!({"command": "repair"}), "req-unknown")
        .await
        .unwrap_err();
    assert!(err.contains("invalid ops command \"repair\""), "{err}");
}
