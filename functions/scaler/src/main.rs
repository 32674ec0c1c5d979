// The handler's nested futures (harness, service, ports) go past the default layout depth.
#![recursion_limit = "256"]

use lambda_runtime::Error;
use scaler::config::ScalerConfig;
use scaler::service::ScalerService;
use serde_json::Value;
use streamops_shared::harness::{self, Invocation};
use streamops_shared::{aws, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init_logging();
    let config = ScalerConfig::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "scaler cannot start"))?;
    let sdk = aws::load_sdk_config().await;
    let service = ScalerService {
        ports: scaler::adapters::aws(&sdk, &config),
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
