use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use partitions::athena::AthenaRunner;
use partitions::config::PartitionsConfig;
use partitions::glue::GlueCatalog;
use partitions::poll::PollPolicy;
use partitions::registry::Registry;
use partitions::s3data::DataBucket;
use partitions::service::{InvocationContext, PartitionsService};
use serde_json::Value;
use streamops_shared::{METRICS_NAMESPACE, Metrics, aws, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init_logging();
    let config = PartitionsConfig::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "partitions cannot start"))?;
    let sdk = aws::load_sdk_config().await;
    let policy = PollPolicy::default();
    let service = PartitionsService {
        registry: Registry::new(aws::dynamodb_client(&sdk), &config.registry_table),
        athena: AthenaRunner::new(
            aws_sdk_athena::Client::new(&sdk),
            &config.workgroup,
            config.output_location.clone(),
            policy,
        ),
        glue: GlueCatalog::new(aws_sdk_glue::Client::new(&sdk), policy),
        data: DataBucket::new(aws::s3_client(&sdk, config.s3_force_path_style)),
        config,
    };
    tracing::info!(
        tables = service.config.tables.tables.len(),
        mode = service.config.mode.as_str(),
        "partitions ready"
    );
    let service = &service;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now = chrono::Utc::now();
        let deadline_ms = event.context.deadline;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let ctx = InvocationContext {
            request_id: event.context.request_id.clone(),
            now,
            deadline: Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms)),
        };
        let mut metrics = Metrics::new(METRICS_NAMESPACE, "partitions");
        let result = service.handle(event.payload, &ctx, &mut metrics).await;
        metrics.flush();
        result.map_err(Error::from)
    }))
    .await
}
