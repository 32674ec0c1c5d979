use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use scaler::config::ScalerConfig;
use scaler::service::ScalerService;
use scaler::state::ScalerStore;
use scaler::targets::Targets;
use serde_json::Value;
use streamops_shared::{METRICS_NAMESPACE, Metrics, aws, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init_logging();
    let config = ScalerConfig::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "scaler cannot start"))?;
    let sdk = aws::load_sdk_config().await;
    let notifier = config
        .alerts_topic_arn
        .as_deref()
        .map(|arn| scaler::notify::DecisionNotifier::new(aws_sdk_sns::Client::new(&sdk), arn));
    let service = ScalerService {
        notifier,
        store: ScalerStore::new(aws::dynamodb_client(&sdk), &config.table),
        targets: Targets {
            kinesis: aws_sdk_kinesis::Client::new(&sdk),
            emr: aws_sdk_emr::Client::new(&sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
        },
        config,
    };
    let service = &service;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let mut metrics = Metrics::new(METRICS_NAMESPACE, "scaler");
        let now = chrono::Utc::now();
        // Leave 5 s to record where a long Flink rescale got to.
        let left =
            streamops_shared::invocation::time_left(event.context.deadline, now.timestamp_millis())
                .saturating_sub(std::time::Duration::from_secs(5));
        let until = tokio::time::Instant::now() + left;
        let result = service
            .handle(event.payload, now, until, &mut metrics)
            .await;
        metrics.flush();
        result.map_err(Error::from)
    }))
    .await
}
