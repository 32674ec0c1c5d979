// The runtime loop, the harness and the service nest their futures deeply.
#![recursion_limit = "256"]

use checkpoints::{
    Book, CheckpointBucket, CheckpointsConfig, CheckpointsService, EventBridgeHealth, FlinkHttp,
};
use lambda_runtime::Error;
use serde_json::Value;
use streamops_shared::harness::{self, Invocation};
use streamops_shared::{aws, logging};

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
        flink: FlinkHttp,
        // Built on first use: only the health command sends events.
        notifier: EventBridgeHealth {
            client: aws::LazyClient::new(&sdk, aws_sdk_eventbridge::Client::new),
        },
        config,
    };
    let service = &service;
    harness::run(
        "checkpoints",
        move |payload: Value, mut inv: Invocation| async move {
            let (now, deadline) = (inv.now, inv.deadline);
            let result = service
                .handle_until(payload, now, deadline, &mut inv.metrics)
                .await;
            (result, inv.metrics)
        },
    )
    .await
}
