//! The moto stack every partitions moto test runs on (the registry table, the Athena workgroup,
//! the Glue tables, the data bucket), the service over it with Athena faults injected, and
//! readers of what it did.

use crate::faults::{Faults, operation};
use aws_config::SdkConfig;
use aws_sdk_glue::types::{Column, SerDeInfo, StorageDescriptor, TableInput};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use chrono::Utc;
use partitions::{
    AthenaRunner, DataBucket, EventBridgeEvents, GlueCatalog, InvocationContext, PartitionsConfig,
    PartitionsService, PollPolicy, Registry, SchedulerFollowUps,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use streamops_shared::{EnvReader, Metrics};
use streamops_test_support::fault_proxy::FaultProxy;
use streamops_test_support::{MotoServer, create_bucket, create_table};

pub const BUCKET: &str = "streamops-data-123456789012-us-east-1";

pub const REGISTRY: &str = "streamops-partitions-registry";

pub const WORKGROUP: &str = "streamops-partitions";

pub const MAX_STATEMENT: usize = 262_144;

// ------------------------------------------------------------------ harness

pub struct Harness {
    /// Dropped before moto: it forwards to it.
    pub _proxy: Option<FaultProxy>,
    pub _moto: MotoServer,
    pub sdk: SdkConfig,
    pub faults: Faults,
    pub service: PartitionsService,
    pub metrics: Arc<Mutex<Vec<String>>>,
    /// The service's DynamoDB requests (attempts), by operation.
    pub ddb_calls: DynamoCalls,
}

/// Counts the DynamoDB requests the service sends, by operation (each attempt once).
#[derive(Debug, Clone, Default)]
pub struct DynamoCalls(Arc<Mutex<BTreeMap<String, usize>>>);

impl DynamoCalls {
    pub fn total(&self) -> usize {
        self.0.lock().unwrap().values().sum()
    }

    pub fn by_operation(&self) -> BTreeMap<String, usize> {
        self.0.lock().unwrap().clone()
    }
}

impl Intercept for DynamoCalls {
    fn name(&self) -> &'static str {
        "DynamoCalls"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        *self.0.lock().unwrap().entry(operation(cfg)).or_default() += 1;
        Ok(())
    }
}

pub fn tables_json() -> String {
    json!([
        // As deployed: Firehose dynamic partitioning writes enriched/dt=YYYY-MM-DD/hour=HH/.
        {"bucket": BUCKET, "prefix": "enriched/", "database": "streamops", "table": "enriched_events",
         "layout": "hive", "error_prefix": "firehose-errors/"},
        {"bucket": BUCKET, "prefix": "firehose/", "database": "streamops", "table": "firehose_events", "layout": "firehose"},
        {"bucket": BUCKET, "prefix": "flink/", "database": "streamops", "table": "flink_events", "layout": "flink"}
    ])
    .to_string()
}

/// The stack's configuration with some variables added or replaced.
pub fn config_with(mode: &str, extra: &[(&str, &str)]) -> PartitionsConfig {
    let mut vars: HashMap<String, String> = [
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
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    PartitionsConfig::read(EnvReader::from_map(vars)).unwrap()
}

pub async fn create_glue_table(glue: &aws_sdk_glue::Client, name: &str, prefix: &str) {
    create_glue_table_keyed(glue, name, prefix, &["dt", "hour"]).await
}

/// A Glue table partitioned by `partition_keys` (strings), in that order.
pub async fn create_glue_table_keyed(
    glue: &aws_sdk_glue::Client,
    name: &str,
    prefix: &str,
    partition_keys: &[&str],
) {
    let col = |n: &str, t: &str| Column::builder().name(n).r#type(t).build().unwrap();
    let keys = partition_keys.iter().map(|k| col(k, "string")).collect();
    glue.create_table()
        .database_name("streamops")
        .table_input(
            TableInput::builder()
                .name(name)
                .table_type("EXTERNAL_TABLE")
                .set_partition_keys(Some(keys))
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

pub async fn harness(mode: &str) -> Harness {
    harness_with(mode, &[], None).await
}

/// The stack, with some configuration variables added or replaced, and optionally every
/// DynamoDB request of the service's registry answered `latency` late (through the fault
/// proxy's `slow` rule: the round trip to a real DynamoDB, which moto on loopback does not have).
pub async fn harness_with(
    mode: &str,
    extra: &[(&str, &str)],
    latency: Option<Duration>,
) -> Harness {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let ddb_calls = DynamoCalls::default();
    let mut ddb_config =
        aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(ddb_calls.clone());
    let proxy = latency.map(|delay| {
        let proxy = FaultProxy::start(&moto);
        proxy.set_rules(
            json!([{"service": "dynamodb", "operation": "*", "fault": "slow",
                                "rate": 1.0, "delay_s": delay.as_secs_f64()}]),
        );
        proxy
    });
    if let Some(p) = &proxy {
        ddb_config = ddb_config.endpoint_url(p.endpoint());
    }
    let ddb = aws_sdk_dynamodb::Client::from_conf(ddb_config.build());
    create_table(&sdk, REGISTRY, None).await;
    let s3 = streamops_shared::aws::s3_client(&sdk, true);
    create_bucket(&sdk, BUCKET).await;
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
    let config = config_with(mode, extra);
    let service = PartitionsService {
        registry: Registry::new(ddb, REGISTRY),
        athena: AthenaRunner::new(athena, WORKGROUP, config.output_location.clone(), policy),
        glue: GlueCatalog::new(glue, policy),
        data: DataBucket::new(s3),
        events: EventBridgeEvents {
            client: aws_sdk_eventbridge::Client::new(&sdk).into(),
        },
        follow_ups: SchedulerFollowUps::new(
            aws_sdk_scheduler::Client::new(&sdk).into(),
            config.follow_up.config().cloned(),
        ),
        config,
    };
    Harness {
        _proxy: proxy,
        _moto: moto,
        sdk,
        faults,
        service,
        metrics: Arc::new(Mutex::new(Vec::new())),
        ddb_calls,
    }
}

pub fn ctx(request_id: &str) -> InvocationContext {
    InvocationContext {
        request_id: request_id.into(),
        now: Utc::now(),
        deadline: Instant::now() + Duration::from_secs(120),
    }
}

impl Harness {
    pub async fn handle(&self, payload: Value, request_id: &str) -> Result<Value, String> {
        self.handle_within(payload, request_id, Duration::from_secs(120))
            .await
    }

    /// One invocation with `left` before its deadline.
    pub async fn handle_within(
        &self,
        payload: Value,
        request_id: &str,
        left: Duration,
    ) -> Result<Value, String> {
        let sink = self.metrics.clone();
        let mut metrics = Metrics::with_sink("streamops", "partitions", move |l| {
            sink.lock().unwrap().push(l.to_string())
        });
        let mut ctx = ctx(request_id);
        ctx.deadline = Instant::now() + left;
        let out = self.service.handle(payload, &ctx, &mut metrics).await;
        metrics.flush();
        out.map_err(|e| e.to_string())
    }

    /// Every query moto recorded in the workgroup, oldest first.
    pub async fn queries(&self) -> Vec<String> {
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
    pub fn metric(&self, name: &str, reason: Option<&str>) -> f64 {
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

    pub async fn registry_state(&self, key: &str) -> Option<String> {
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

    pub async fn put_object(&self, key: &str) {
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
