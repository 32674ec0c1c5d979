use lambda_runtime::Error;
use scaler::config::ScalerConfig;
use scaler::service::ScalerService;
use scaler::state::ScalerStore;
use scaler::targets::Targets;
use serde_json::Value;
use streamops_shared::harness::{self, Invocation};
use streamops_shared::{aws, logging};

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
    harness::run(
        "scaler",
        move |payload: Value, mut inv: Invocation| async move {
            // Leave 5 s to record where a long Flink rescale got to.
            let until = inv.deadline_less(std::time::Duration::from_secs(5));
            let result = service
                .handle(payload, inv.now, until, &mut inv.metrics)
                .await;
            (result, inv.metrics)
        },
    )
    .await
}
