use checkpoints::config::CheckpointsConfig;
use checkpoints::objects::CheckpointBucket;
use checkpoints::service::CheckpointsService;
use checkpoints::store::Book;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use streamops_shared::{METRICS_NAMESPACE, Metrics, aws, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init_logging();
    let config = CheckpointsConfig::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "checkpoints cannot start"))?;
    let sdk = aws::load_sdk_config().await;
    let service = CheckpointsService {
        book: Book::new(aws::dynamodb_client(&sdk), &config.table),
        bucket: CheckpointBucket::new(
            aws::s3_client(&sdk, config.s3_force_path_style),
            &config.bucket,
        ),
        config,
    };
    let service = &service;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let mut metrics = Metrics::new(METRICS_NAMESPACE, "checkpoints");
        let result = service
            .handle(event.payload, chrono::Utc::now(), &mut metrics)
            .await;
        metrics.flush();
        result.map_err(Error::from)
    }))
    .await
}
